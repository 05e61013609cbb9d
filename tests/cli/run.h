/* Running the `homeward` command in tests: one call, its exit status and
 * its output. */
#ifndef HW_TEST_CLI_RUN_H
#define HW_TEST_CLI_RUN_H

#include <stdbool.h>
#include <stddef.h>

#define RUN_OUT_MAX 65536

typedef struct run_result {
  int status;            /* exit status, or 128 + signal */
  char out[RUN_OUT_MAX]; /* stdout */
  char err[RUN_OUT_MAX]; /* stderr */
} run_result;

/* The binary and the folder for output files; call once. */
void run_setup(const char *binary, const char *dir);

/* Run `homeward-test --test-fast-kdf --store STORE args...` (NULL-terminated) with
 * HOMEWARD_PASSPHRASE = pass (unset when NULL) and stdin from /dev/null. */
void run_hw(run_result *r, const char *store, const char *pass, const char *const *args);
/* The same without --store (HOMEWARD_STORE or ./homeward.db applies). */
void run_hw_default(run_result *r, const char *pass, const char *const *args);
/* The same with stdin from the file `in`. */
void run_hw_in(run_result *r, const char *store, const char *pass, const char *in,
               const char *const *args);

bool has(const char *text, const char *needle);
/* How many lines of `text` contain `needle`. */
size_t count_lines(const char *text, const char *needle);
/* The 32 hex digits after `label` in text ("" when absent) into out[33]. */
void id_after(const char *text, const char *label, char out[33]);

#endif
