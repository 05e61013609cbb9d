/* Guided prompts: the form's aim, each question's help and allowed values,
 * every answer checked at the prompt, ending with the decision. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "answers-int.h"
#include "homeward/mem.h"
#include "homeward/value.h"

#define LINE_MAX_BYTES 4096

/* A state with one write (voided: null), so validating one answer against it
 * is not taken for creating the record (which wants every required field). */
static hw_record *check_base(const hw_form *form)
{
  static const uint8_t null_value[] = {0xf6};
  hw_field_value fv = {{(const uint8_t *)HW_FIELD_VOIDED, strlen(HW_FIELD_VOIDED)},
                       {null_value, 1}};
  hw_write w = {.wall_ms = 0,
                .author = {(const uint8_t *)"prompt", 6},
                .schema_version = form->schema_version,
                .n_fields = 1,
                .fields = &fv};
  hw_record *empty = NULL, *base = NULL;
  hw_id id;

  hw_id_random(&id);
  hw_id_random(&w.dot.replica);
  w.dot.counter = 1;
  if (hw_record_new(&empty, &id, &id, form->kind, strlen(form->kind), form->schema_version) ||
      hw_record_write(&base, empty, &w))
    base = NULL;
  hw_record_free(empty);
  return base;
}

static void show_question(const hw_form *form, size_t i)
{
  const hw_form_field *f = &form->fields[i];
  const char *kind = "";

  switch (f->type) {
  case HW_FT_BOOL:
    kind = "yes or no";
    break;
  case HW_FT_INT:
    kind = "a whole number";
    break;
  case HW_FT_DATE:
    kind = "a date like 2026-11-30";
    break;
  case HW_FT_ENUM:
    kind = "one of the values below";
    break;
  case HW_FT_ENUM_SET:
    kind = "one or more of the values below, separated by commas";
    break;
  case HW_FT_TEXT_LIST:
    kind = "one or more texts separated by ';'";
    break;
  case HW_FT_INT_LIST:
    kind = "whole numbers separated by commas, increasing";
    break;
  case HW_FT_TEXT:
    kind = "text";
    break;
  }
  printf("\n(%zu/%zu) %s%s\n  %s\n  answer: %s", i + 1, form->n_fields, f->name,
         f->required      ? " (required)"
         : f->required_if ? ""
                          : " (optional: Enter to skip)",
         f->help, kind);
  if (f->type == HW_FT_INT)
    printf(" from %lld to %lld", (long long)f->min, (long long)f->max);
  if (f->required_if)
    printf(" (needed when %s; Enter to skip otherwise)", f->required_if);
  printf("\n");
  if (f->values) {
    printf("  values (a name, its start, or its number):");
    for (size_t v = 0; f->values[v]; v++)
      printf(" %zu %s%s", v + 1, f->values[v], f->values[v + 1] ? "," : "");
    printf("\n");
  }
}

/* Read one line without its newline. false at end of input. A line longer
 * than the buffer is read to its end and given back empty with *too_long. */
static bool read_answer(char *line, size_t cap, bool *too_long)
{
  size_t n;

  *too_long = false;
  fflush(stdout);
  if (!fgets(line, (int)cap, stdin))
    return false;
  n = strlen(line);
  if (n == cap - 1 && line[n - 1] != '\n') {
    int ch;
    while ((ch = getchar()) != EOF && ch != '\n')
      ;
    *too_long = true;
    line[0] = '\0';
    return true;
  }
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = '\0';
  return true;
}

/* Check the answers given so far with question i's first: only an error about
 * question i counts here (the others are checked in their turn). */
static bool answer_ok(const hw_cli_answers *a, size_t i, const hw_record *base)
{
  hw_field_value fv[SETS_MAX];
  hw_cbor_wr w[SETS_MAX];
  hw_form_error err = {0};
  char why[256];
  size_t bad = 0;
  int n, rc;

  memset(w, 0, sizeof w);
  n = hw_cli_answers_encode(a, i, fv, w, &bad, why, sizeof why);
  if (n < 0) {
    hw_cli_wr_close_all(w);
    if (bad != i)
      return true; /* an earlier answer's problem is reported in its turn */
    printf("  not accepted: %s\n", why);
    return false;
  }
  rc = base ? hw_form_validate(a->form->kind, strlen(a->form->kind), a->form->schema_version, base,
                               fv, (size_t)n, &err)
            : HW_OK;
  hw_cli_wr_close_all(w);
  if (rc == HW_EVALIDATE && !strcmp(err.field, a->form->fields[i].name)) {
    printf("  not accepted: %s\n", err.msg);
    return false;
  }
  return true;
}

/* One question until it is answered well (or skipped where allowed). */
static int ask(hw_cli_answers *a, size_t i, const hw_record *base)
{
  const hw_form_field *f = &a->form->fields[i];
  char line[LINE_MAX_BYTES];
  bool too_long;

  show_question(a->form, i);
  for (;;) {
    if (a->text[i])
      printf("  now: %s (Enter keeps it, '-' clears it)\n", a->text[i]);
    printf("> ");
    if (!read_answer(line, sizeof line, &too_long))
      return HW_CLI_PROMPT_QUIT;
    if (too_long) {
      printf("  not accepted: longer than %d bytes\n", LINE_MAX_BYTES - 2);
      continue;
    }
    if (!strcmp(line, ".draft"))
      return HW_CLI_PROMPT_DRAFT;
    if (!strcmp(line, ".quit"))
      return HW_CLI_PROMPT_QUIT;
    if (!strcmp(line, "?")) {
      show_question(a->form, i);
      continue;
    }
    if (!line[0] && a->text[i])
      return HW_CLI_PROMPT_DONE;
    if (!line[0] || !strcmp(line, "-")) {
      if (f->required) {
        printf("  an answer is needed here (or .draft to keep the form for later)\n");
        continue;
      }
      if (hw_cli_answers_set(a, i, NULL))
        return HW_CLI_PROMPT_QUIT;
      return HW_CLI_PROMPT_DONE;
    }
    {
      char *before = a->text[i];
      a->text[i] = NULL;
      if (hw_cli_answers_set(a, i, line)) {
        a->text[i] = before;
        return HW_CLI_PROMPT_QUIT;
      }
      if (answer_ok(a, i, base)) {
        hw_free(before);
        return HW_CLI_PROMPT_DONE;
      }
      hw_free(a->text[i]);
      a->text[i] = before;
    }
  }
}

int hw_cli_prompt_form(hw_cli_answers *a, bool all, hw_cli_prompt_hook hook, void *ud)
{
  hw_record *base = check_base(a->form);
  int rc = HW_CLI_PROMPT_DONE;

  printf("%s\n%s\n", a->form->title, a->form->aim);
  printf("(type ? for help again, .draft to keep the form on this device for later, .quit to "
         "stop without saving)\n");
  for (size_t i = 0; i < a->form->n_fields && rc == HW_CLI_PROMPT_DONE; i++) {
    if (all || !a->text[i])
      rc = ask(a, i, base);
    if (rc == HW_CLI_PROMPT_DONE && hook)
      rc = hook(ud, a, i);
  }
  hw_record_free(base);
  return rc;
}

int hw_cli_prompt_one(hw_cli_answers *a, size_t i)
{
  hw_record *base = check_base(a->form);
  int rc = ask(a, i, base);
  hw_record_free(base);
  return rc;
}
