/* `homeward record KIND`: a new form, from --set options, guided prompts on a
 * terminal, or a draft (--resume); --draft keeps it on the device instead. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "answers-int.h"

#define RETRIES_MAX 20 /* whole-form refusals corrected at the prompt */

static const char *answer_of(const hw_cli_answers *a, const char *name)
{
  const hw_form_field *f = hw_form_field_find(a->form, name, strlen(name));
  return f ? a->text[f - a->form->fields] : NULL;
}

/* A new child profile: warn about likely duplicates first. 0 to go on. */
static int check_duplicates(const hw_cli_opts *o, hw_client *c, const hw_cli_answers *a)
{
  char answer[16] = "";
  int n = hw_cli_duplicates(c, answer_of(a, "given_name"), answer_of(a, "family_name"), &o->today);

  if (n < 0)
    return hw_cli_fail("cannot read the store");
  if (n == 0 || o->force)
    return 0;
  if (!isatty(STDIN_FILENO))
    return hw_cli_fail("not recorded: check the children above (homeward case show CASE); "
                       "if this is another child, run again with --force");
  fprintf(stderr, "is this another child? record a new case anyway [y/N]: ");
  if (!fgets(answer, sizeof answer, stdin) || (answer[0] != 'y' && answer[0] != 'Y'))
    return hw_cli_fail("not recorded");
  return 0;
}

typedef struct dup_hook {
  const hw_cli_opts *o;
  hw_client *c;
  bool checked;
} dup_hook;

/* Guided child profile: check for duplicates as soon as the names are in,
 * not after the whole form. */
static int early_duplicates(void *ud, const hw_cli_answers *a, size_t i)
{
  dup_hook *h = ud;

  if (h->checked || strcmp(a->form->fields[i].name, "family_name"))
    return HW_CLI_PROMPT_DONE;
  h->checked = true;
  return check_duplicates(h->o, h->c, a) ? HW_CLI_PROMPT_QUIT : HW_CLI_PROMPT_DONE;
}

static int keep_draft(hw_client *c, const hw_cli_answers *a, const char *resumed)
{
  char name[16] = "";
  int rc;

  if (resumed)
    snprintf(name, sizeof name, "%s", resumed);
  if ((rc = hw_cli_draft_save(c, a, name)) != 0) {
    fprintf(stderr, "homeward: the draft was not kept: %s\n", hw_cli_strerror(rc));
    return HW_CLI_FAIL;
  }
  printf("kept as draft %s on this device (not sent until recorded: homeward record --resume "
         "%s)\n",
         name, name);
  return HW_CLI_OK;
}

/* Record the answers. HW_EVALIDATE with *bad set to the question when a
 * question of the form is to blame. */
typedef struct case_probe {
  const hw_id *case_id;
  bool found;
} case_probe;

static int in_case(void *ud, const hw_record *r, bool pending, bool held)
{
  case_probe *p = ud;
  (void)pending, (void)held;
  p->found = hw_id_cmp(&r->case_id, p->case_id) == 0;
  return p->found; /* one is enough */
}

/* Whether the device holds a record of the case. */
static bool case_on_device(hw_client *c, const hw_id *case_id)
{
  case_probe p = {case_id, false};
  (void)!hw_client_list(c, in_case, &p);
  return p.found;
}

typedef struct child_probe {
  const hw_id *case_id;
  hw_id found;
  bool any;
} child_probe;

static int child_in_case(void *ud, const hw_record *r, bool pending, bool held)
{
  child_probe *p = ud;
  hw_void_status vs = {0};
  (void)pending, (void)held;
  if (hw_id_cmp(&r->case_id, p->case_id) || r->kind.len != 5 || memcmp(r->kind.p, "child", 5) ||
      (hw_record_void_status(r, &vs) == HW_OK && vs.voided))
    return 0;
  p->found = r->id;
  p->any = true;
  return 1; /* one is enough */
}

static int create(hw_client *c, const hw_cli_answers *a, hw_id *rec, hw_id *cas, size_t *bad)
{
  hw_field_value fv[SETS_MAX];
  hw_cbor_wr w[SETS_MAX];
  hw_form_error err = {0};
  char why[256];
  int n, rc;

  memset(w, 0, sizeof w);
  *bad = SIZE_MAX;
  n = hw_cli_answers_encode(a, SIZE_MAX, fv, w, bad, why, sizeof why);
  if (n < 0) {
    hw_cli_wr_close_all(w);
    fprintf(stderr, "homeward: not recorded: %s\n", why);
    return HW_EVALIDATE;
  }
  rc = hw_client_create_record(c, a->has_case ? &a->case_id : NULL, a->form->kind, fv, (size_t)n,
                               rec, cas, &err);
  hw_cli_wr_close_all(w);
  if (rc == HW_EVALIDATE || rc == HW_ENOENT) {
    const hw_form_field *f = hw_form_field_find(a->form, err.field, strlen(err.field));
    fprintf(stderr, "homeward: not recorded: %s\n", err.msg);
    if (f)
      *bad = (size_t)(f - a->form->fields);
    else if (a->form->one_of) /* "one of" rules name no single field: ask the first */
      *bad = (size_t)(hw_form_field_find(a->form, a->form->one_of[0], strlen(a->form->one_of[0])) -
                      a->form->fields);
  } else if (rc) {
    fprintf(stderr, "homeward: not recorded: %s\n", hw_cli_strerror(rc));
  }
  return rc;
}

/* Whether the answers make a valid new record, said as `create` would say
 * it: a broken value is reported before the duplicate check, which would
 * otherwise hide it behind "run again with --force". */
static bool answers_valid(const hw_cli_answers *a)
{
  hw_field_value fv[SETS_MAX];
  hw_cbor_wr w[SETS_MAX];
  hw_form_error err = {0};
  char why[256];
  size_t bad;
  int n;

  memset(w, 0, sizeof w);
  n = hw_cli_answers_encode(a, SIZE_MAX, fv, w, &bad, why, sizeof why);
  if (n >= 0 && hw_form_validate(a->form->kind, strlen(a->form->kind), a->form->schema_version,
                                 NULL, fv, (size_t)n, &err) != 0)
    snprintf(why, sizeof why, "%s", err.msg), n = -1;
  hw_cli_wr_close_all(w);
  if (n < 0)
    fprintf(stderr, "homeward: not recorded: %s\n", why);
  return n >= 0;
}

int hw_cli_record_new(const hw_cli_opts *o, hw_client *c, const char *case_text)
{
  hw_cli_answers a;
  const hw_form *form;
  const char *resumed = o->resume;
  bool guided = isatty(STDIN_FILENO) && o->n_sets == 0 && !o->file;
  hw_id rec, cas;
  size_t bad;
  int rc = HW_CLI_FAIL, prc = HW_CLI_PROMPT_DONE;
  dup_hook dup = {o, c, false};

  if (resumed) {
    if ((rc = hw_cli_draft_load(c, resumed, &a)) != 0)
      return fprintf(stderr, "homeward: no draft %s on this device (see: homeward drafts)\n",
                     resumed),
             HW_CLI_FAIL;
  } else {
    if (o->n_args < 2)
      return fprintf(stderr, "homeward: record KIND --set FIELD=VALUE ... (see: homeward forms)\n"),
             HW_CLI_USAGE;
    if (!(form = hw_form_find(o->args[1], strlen(o->args[1]))))
      return fprintf(stderr, "homeward: there is no form called %s (see: homeward forms)\n",
                     o->args[1]),
             HW_CLI_FAIL;
    hw_cli_answers_init(&a, form);
  }
  rc = HW_CLI_FAIL;
  if (case_text) {
    if (hw_cli_parse_id(c, case_text, &a.case_id, true))
      goto out;
    a.has_case = true;
  }
  /* A draft kept in a case that has left the device since (given to another
   * worker, or closed) is not recorded there: it would come back as a case
   * with nothing else in it, which the office's copy never matches. (A case
   * named in full with --case is the worker's own doing: the server holds
   * such a record for a coordinator when the case was never hers.) */
  if (resumed && a.has_case && !o->draft && !case_on_device(c, &a.case_id)) {
    fprintf(stderr,
            "homeward: not recorded: the case is no longer on this device (given to another "
            "worker, or closed); the draft is kept: tell your coordinator what it holds\n");
    goto out;
  }
  /* A case opens with the child's assessment; every other form belongs to
   * one (a draft may wait for its case until it is recorded). */
  if (!a.has_case && strcmp(a.form->kind, "child") != 0 && !o->draft) {
    fprintf(stderr,
            "homeward: not recorded: a %s belongs to a case: give --case CASE (see: homeward "
            "case list); a new case starts with the child form\n",
            a.form->kind);
    goto out;
  }
  /* A case has one child profile: a second one would make two children of
   * one case, and which the lists name would depend on their order. */
  if (a.has_case && !strcmp(a.form->kind, "child")) {
    child_probe cp = {&a.case_id, {{0}}, false};
    (void)!hw_client_list(c, child_in_case, &cp);
    if (cp.any) {
      char hex[HW_ID_HEX_LEN + 1];
      hw_id_to_hex(&cp.found, hex);
      fprintf(stderr,
              "homeward: not recorded: the case has a child profile already (record %s): "
              "change its answers with homeward write %s --set FIELD=VALUE\n",
              HW_CLI_SHORT(hex), HW_CLI_SHORT(hex));
      goto out;
    }
  }
  if ((o->file && hw_cli_answers_from_file(&a, o->file)) || hw_cli_answers_from_sets(&a, o))
    goto out;
  if (!guided && !o->draft && o->n_sets == 0 && !resumed && !o->file) {
    hw_cli_fail("record KIND --set FIELD=VALUE ... (or run it on a terminal to be guided)");
    rc = HW_CLI_USAGE;
    goto out;
  }
  if (guided) {
    bool child = !a.has_case && !strcmp(a.form->kind, "child");
    prc = hw_cli_prompt_form(&a, !resumed && o->n_sets == 0, child ? early_duplicates : NULL, &dup);
  }
  if (prc == HW_CLI_PROMPT_QUIT) {
    printf("\nstopped: nothing recorded%s\n", resumed ? " (the draft is kept)" : "");
    goto out;
  }
  if (prc == HW_CLI_PROMPT_DRAFT || o->draft) {
    rc = keep_draft(c, &a, resumed);
    goto out;
  }
  if (!a.has_case && !strcmp(a.form->kind, "child") && !dup.checked &&
      ((!guided && !answers_valid(&a)) || check_duplicates(o, c, &a)))
    goto out;
  for (int tries = 0;; tries++) {
    int crc = create(c, &a, &rec, &cas, &bad);
    if (crc == 0)
      break;
    if (crc != HW_EVALIDATE || !guided || bad == SIZE_MAX || tries == RETRIES_MAX)
      goto out;
    printf("\nplease correct this answer:");
    prc = hw_cli_prompt_one(&a, bad);
    if (prc == HW_CLI_PROMPT_DRAFT) {
      rc = keep_draft(c, &a, resumed);
      goto out;
    }
    if (prc == HW_CLI_PROMPT_QUIT)
      goto out;
  }
  {
    char rh[HW_ID_HEX_LEN + 1], ch[HW_ID_HEX_LEN + 1];
    hw_id_to_hex(&rec, rh);
    hw_id_to_hex(&cas, ch);
    printf("recorded %s %s in case %s (on this device until the next sync)\n", a.form->kind, rh,
           ch);
  }
  if (resumed && hw_cli_draft_delete(c, resumed) != 0)
    fprintf(stderr, "homeward: note: the draft %s could not be removed\n", resumed);
  rc = HW_CLI_OK;
out:
  hw_cli_answers_free(&a);
  return rc;
}
