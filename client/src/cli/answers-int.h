/* A form being filled: the worker's answers as typed, per question of the
 * form, before they are recorded (guided prompts, --set, drafts). */
#ifndef HW_CLI_ANSWERS_INT_H
#define HW_CLI_ANSWERS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "cli-int.h"
#include "homeward/cbor.h"
#include "homeward/forms.h"

typedef struct hw_cli_answers {
  const hw_form *form;
  char *text[SETS_MAX]; /* per question of the form (hw_malloc), NULL: not answered */
  bool has_case;
  hw_id case_id;
} hw_cli_answers;

void hw_cli_answers_init(hw_cli_answers *a, const hw_form *form);
void hw_cli_answers_free(hw_cli_answers *a);
/* Set (or with NULL clear) the answer to question i. 0 or HW_ENOMEM. */
int hw_cli_answers_set(hw_cli_answers *a, size_t i, const char *text);
/* Take --set FIELD=VALUE options. 0, or -1 after printing why. */
int hw_cli_answers_from_sets(hw_cli_answers *a, const hw_cli_opts *o);
/* Take the answers of a JSON file: one object {"question": answer}, an
 * answer a string (as typed), an integer, true/false, or a list of these
 * (choices, numbers, texts). 0, or -1 after printing why. */
int hw_cli_answers_from_file(hw_cli_answers *a, const char *path);

/* The values of the given answers, question `first` (or SIZE_MAX for none)
 * placed first; w[] holds SETS_MAX writers, all closed with
 * hw_cli_wr_close_all whatever the result. Returns the number of values, or
 * -1 with the reason in why[] and the question in *bad. */
int hw_cli_answers_encode(const hw_cli_answers *a, size_t first, hw_field_value *fv, hw_cbor_wr *w,
                          size_t *bad, char *why, size_t why_len);
void hw_cli_wr_close_all(hw_cbor_wr *w);

/* Guided prompts on a terminal (prompts.c): every question not yet answered
 * (all of them when `all`), each answer checked at the prompt. */
enum { HW_CLI_PROMPT_DONE, HW_CLI_PROMPT_DRAFT, HW_CLI_PROMPT_QUIT };
typedef int (*hw_cli_prompt_hook)(void *ud, const hw_cli_answers *a, size_t i);
/* `hook` (may be NULL) runs after question i; it returns HW_CLI_PROMPT_DONE
 * to go on, or stops the form with another HW_CLI_PROMPT_ value. */
int hw_cli_prompt_form(hw_cli_answers *a, bool all, hw_cli_prompt_hook hook, void *ud);
/* Ask question i again (after the whole form was refused for it). */
int hw_cli_prompt_one(hw_cli_answers *a, size_t i);

/* Drafts (drafts.c), kept encrypted in the store until recorded. */
int hw_cli_draft_save(hw_client *c, const hw_cli_answers *a, char name[16]);
/* Load draft `name` into *a (initialised here). 0, HW_ENOENT, or an error. */
int hw_cli_draft_load(hw_client *c, const char *name, hw_cli_answers *a);
int hw_cli_draft_delete(hw_client *c, const char *name);

#endif
