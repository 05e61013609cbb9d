/* Shared by the `homeward` command's files (client CLI). */
#ifndef HW_CLI_INT_H
#define HW_CLI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/client.h"
#include "homeward/stage.h"

#define SETS_MAX 64
#define ARGS_MAX 8

/* Exit codes (docs/worker-guide.md, "Exit codes"). */
enum {
  HW_CLI_OK = 0,
  HW_CLI_FAIL = 1,    /* refused: bad input, unknown case, wrong passphrase, ... */
  HW_CLI_USAGE = 2,   /* the command line itself is wrong */
  HW_CLI_OFFLINE = 3, /* sync did not finish (offline, refused, wrong server key) */
  HW_CLI_REVOKED = 4, /* this device was revoked */
};

typedef struct hw_cli_opts {
  const char *store, *case_id, *reason, *stage, *value, *place, *today_text, *resume, *output,
      *file;
  const char *sets[SETS_MAX]; /* FIELD=VALUE, a FIELD before the '=' (hw_cli_parse_args) */
  size_t n_sets;
  int passphrase_fd, new_passphrase_fd;
  int pick;   /* --pick N (1-based), 0 when not given */
  int age;    /* --age N, -1 when not given */
  int idle_s; /* shell: --idle SECONDS before it locks itself, 0: the default */
  bool due, unsynced, conflicts, force, draft, json, csv, yes;
  unsigned test_flags;
  const char *args[ARGS_MAX];
  size_t n_args;
  hw_date today;
} hw_cli_opts;

/* The device key's bytes, and the hex digits of it the server's `devices`
 * list shows (hw_client_device_key). */
#define HW_CLI_DEVICE_KEY_BYTES 32
#define HW_CLI_DEVICE_DIGITS 16

/* Print "homeward: msg" on stderr; returns HW_CLI_FAIL. */
int hw_cli_fail(const char *msg);
/* An error for the worker: hw_strerror, in plainer words where it helps. */
const char *hw_cli_strerror(int rc);
/* "2026-11-30 14:05 UTC" */
void hw_cli_when(int64_t ms, char *out, size_t cap);
/* The display value of a field as text ("" when absent). */
void hw_cli_field_text(const hw_record *r, const char *name, char *out, size_t cap);
/* The record's date (its form's date field), false when it has none. */
bool hw_cli_record_date(const hw_record *r, hw_date *out);
/* Every field of a record: display value, who and when, other values. */
void hw_cli_print_fields(const hw_record *r, const char *indent);

/* ---- every record on the device, grouped by case ---- */

typedef struct hw_cli_rec {
  hw_record *r;
  bool pending, held;
} hw_cli_rec;

typedef struct hw_cli_case {
  hw_id id;
  size_t first, n;              /* db->recs[first .. first + n), in date order */
  const hw_record *child;       /* the child profile, or NULL */
  const hw_record **states;     /* the n states (for stage.h) */
  bool pending, conflict, held; /* some record is unsynced / disputed / held */
  bool late_edit;               /* marked LATE-EDIT at the last sync */
} hw_cli_case;

typedef struct hw_cli_db {
  hw_cli_rec *recs;
  size_t n;
  hw_cli_case *cases;
  size_t n_cases;
} hw_cli_db;

/* Load every record. Returns 0, or a HW_ error after saying on stderr why
 * the store could not be read (a damaged page: "altered or damaged"). */
int hw_cli_db_load(hw_client *c, hw_cli_db *db);
void hw_cli_db_free(hw_cli_db *db);
/* Ids begin with their creation time (hw_id_ordered): the lists show an id
 * by its last 12 hex digits, which are random, and take it back by its
 * end or its beginning. `hex` is a whole id's hex form. */
#define HW_CLI_SHORT_DIGITS 12
#define HW_CLI_SHORT(hex) ((hex) + HW_ID_HEX_LEN - HW_CLI_SHORT_DIGITS)
/* The case named by its id, or by at least 6 hex digits that only its id
 * has at the start of the 12 the lists show, at its end or at its start;
 * NULL after printing why. */
const hw_cli_case *hw_cli_db_case(const hw_cli_db *db, const char *text);
/* The record named the same way; NULL after printing why. */
const hw_cli_rec *hw_cli_db_record(const hw_cli_db *db, const char *text);
/* A write to `r` by this worker refused because she voided it herself (she
 * takes the void back first): says so, naming `text`, and returns true. */
bool hw_cli_own_void_refused(hw_client *c, const hw_record *r, const char *text);
/* "no record TEXT on this device" (or case), once for the worker whatever
 * the lookup that failed; returns HW_CLI_FAIL. */
int hw_cli_unknown_id(const char *text, bool is_case);
/* "Amina Uwase" from the child profile, "(no child profile)" without one. */
void hw_cli_case_name(const hw_cli_case *k, char *out, size_t cap);
bool hw_cli_rec_conflict(const hw_record *r);

/* A record or case named by its 32 digits or a unique part of it (as
 * hw_cli_db_case takes). 0 or an error (printed: the caller says nothing
 * more). Whole ids are not looked up: the caller's use of it says when
 * there is no such record (hw_cli_unknown_id). */
int hw_cli_parse_id(hw_client *c, const char *text, hw_id *out, bool is_case);

/* Parse argv[first..argc) into *o (defaults already set): -1 to go on, else
 * the exit code (after printing why, or the usage for --help). */
int hw_cli_parse_args(int argc, char **argv, int first, hw_cli_opts *o);
/* Run a command needing the open store (o->args[0] is the command). */
int hw_cli_run(hw_cli_opts *o, hw_client *c);
/* Check the command's words and required options before the store is
 * opened (a usage error never costs the passphrase): -1 to go on, else
 * HW_CLI_USAGE after saying what is wrong (the shell's wording with
 * `shell`). */
int hw_cli_check_command(const hw_cli_opts *o, bool shell);
/* `homeward shell`: commands typed one per line against the open store. */
int hw_cli_shell(const hw_cli_opts *base, hw_client *c);
int hw_cli_forms(void);
#define HW_CLI_SHELL_IDLE_S 600 /* the shell locks itself after this long idle */

/* ---- commands ---- */
int hw_cli_record_new(const hw_cli_opts *o, hw_client *c, const char *case_text);
int hw_cli_drafts(const hw_cli_opts *o, hw_client *c);
int hw_cli_export(const hw_cli_opts *o, hw_client *c);
int hw_cli_case_list(const hw_cli_opts *o, hw_client *c);
int hw_cli_case_show(const hw_cli_opts *o, hw_client *c);
int hw_cli_case_find(const hw_cli_opts *o, hw_client *c);
/* Before a new child profile: warn about likely duplicates of `given` and
 * `family`; returns the number printed (negative on error). */
int hw_cli_duplicates(hw_client *c, const char *given, const char *family, const hw_date *today);
int hw_cli_conflicts(const hw_cli_opts *o, hw_client *c);
int hw_cli_resolve(const hw_cli_opts *o, hw_client *c);
int hw_cli_status(const hw_cli_opts *o, hw_client *c);
int hw_cli_passwd(const hw_cli_opts *o, hw_client *c);
/* The new passphrase (--new-passphrase-fd, HOMEWARD_NEW_PASSPHRASE or the
 * terminal, twice), checked for weakness: hw_secure_free it. NULL when
 * none was given or it was refused (said on stderr). */
char *hw_cli_new_passphrase(const hw_cli_opts *o);
/* The usage as the shell takes commands (no init, shell, recover, --store). */
void hw_cli_usage_shell(void);
/* `homeward recover KEYFILE` (recover.c): no store is opened before it. */
int hw_cli_recover(const hw_cli_opts *o, const char *key_file);
/* After a sync that finished: keep its time for `homeward status`. */
void hw_cli_note_synced(hw_client *c);

/* The note (store setting) holding the last successful sync's time. */
#define HW_CLI_NOTE_LAST_SYNC "last_sync_ms"
/* Unsynced work older than this is warned about by `homeward status`. */
#define HW_CLI_STALE_DAYS 7

#endif
