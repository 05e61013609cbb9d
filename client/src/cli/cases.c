/* `homeward case list` and `homeward case show CASE`. */
#include <stdio.h>
#include <string.h>

#include "cli-int.h"
#include "homeward/forms.h"
#include "homeward/value.h"
#include "json-int.h"

static void date_text(const hw_date *d, char out[16])
{
  snprintf(out, 16, "%04d-%02d-%02d", (int)d->year, (int)d->month, (int)d->day);
}

int hw_cli_case_list(const hw_cli_opts *o, hw_client *c)
{
  hw_cli_db db;
  size_t shown = 0;
  json_t *list = o->json ? json_array() : NULL;

  /* --stage was checked with the command line (hw_cli_parse_args). */
  if (hw_cli_db_load(c, &db))
    return HW_CLI_FAIL;
  for (size_t i = 0; i < db.n_cases; i++) {
    const hw_cli_case *k = &db.cases[i];
    hw_stage_info si;
    hw_next_visit nv;
    char hex[HW_ID_HEX_LEN + 1], name[512], due[16], next[64] = "";

    hw_case_stage(k->states, k->n, &si);
    hw_case_next_visit(k->states, k->n, NULL, &o->today, &nv);
    if (o->stage && strcmp(o->stage, hw_stage_name(si.stage)))
      continue;
    if (o->due && !(nv.any && nv.window != HW_WINDOW_EARLY))
      continue;
    if (o->unsynced && !k->pending)
      continue;
    if (o->conflicts && !k->conflict)
      continue;
    if (list) {
      json_array_append_new(list, hw_cli_case_json(&db, k, &o->today, false));
      continue;
    }
    if (nv.any) {
      date_text(&nv.due, due);
      snprintf(next, sizeof next, "visit %s %s", due, hw_window_name(nv.window));
    }
    hw_id_to_hex(&k->id, hex);
    hw_cli_case_name(k, name, sizeof name);
    printf("%c%c %s  %-24s %-17s %s%s%s\n", k->conflict ? '!' : ' ', k->pending ? '*' : ' ',
           HW_CLI_SHORT(hex), name, hw_stage_name(si.stage), next,
           k->held ? " HELD for a coordinator" : "",
           k->late_edit ? " LATE-EDIT: a previous worker wrote in it" : "");
    shown++;
  }
  if (list) {
    hw_cli_db_free(&db);
    return hw_cli_json_print(list, stdout);
  }
  if (shown == 0)
    printf(db.n_cases ? "no case matches\n" : "no cases on this device yet\n");
  else
    printf("(%zu case%s; !: conflict, *: not yet synced)\n", shown, shown == 1 ? "" : "s");
  hw_cli_db_free(&db);
  return HW_CLI_OK;
}

static void show_profile(const hw_cli_case *k)
{
  static const char *const fields[] = {
      "aliases",   "sex",        "date_of_birth", "age_estimate_years",
      "languages", "found_date", "found_place",   "separation_cause",
      NULL};
  char name[512], v[1024];

  hw_cli_case_name(k, name, sizeof name);
  printf("Child: %s\n", name);
  if (!k->child)
    return;
  for (const char *const *f = fields; *f; f++) {
    hw_cli_field_text(k->child, *f, v, sizeof v);
    if (v[0])
      printf("  %-20s %s\n", *f, v);
  }
}

static void show_csi(const hw_cli_case *k)
{
  bool header = false;

  for (size_t i = 0; i < k->n; i++) {
    const hw_record *r = k->states[i];
    hw_void_status vs = {0};
    hw_csi csi;
    hw_date d;
    char dt[16] = "(no date)";

    if (r->kind.len != 8 || memcmp(r->kind.p, "followup", 8) ||
        (hw_record_void_status(r, &vs) == HW_OK && vs.voided))
      continue;
    if (!header) {
      printf("\nChild Status Index (1 very poor - 4 good; a score of 1 or 2 marked D = "
             "deprived, ? = disputed)\n  %-10s",
             "visit");
      for (size_t f = 0; f < HW_CSI_FACTORS; f++)
        printf(" %-5.5s", hw_csi_factor_at(f)->field + 4);
      printf("  deprived\n");
      header = true;
    }
    hw_csi_read(r, &csi);
    if (hw_cli_record_date(r, &d))
      date_text(&d, dt);
    printf("  %-10s", dt);
    for (size_t f = 0; f < HW_CSI_FACTORS; f++) {
      if (csi.known[f])
        printf(" %d%c%c  ", csi.score[f], csi.deprived[f] ? 'D' : ' ', csi.disputed[f] ? '?' : ' ');
      else
        printf(" -    ");
    }
    printf("  %zu\n", csi.n_deprived);
    for (size_t f = 0; f < HW_CSI_FACTORS; f++)
      if (csi.known[f] && csi.deprived[f])
        printf("  %-10s deprived: %s, %s\n", "", hw_csi_factor_at(f)->domain,
               hw_csi_factor_at(f)->factor);
  }
}

int hw_cli_case_show(const hw_cli_opts *o, hw_client *c)
{
  hw_cli_db db;
  const hw_cli_case *k;
  hw_stage_info si;
  hw_next_visit nv;
  char hex[HW_ID_HEX_LEN + 1], d[16];

  if (o->n_args < 3)
    return fprintf(stderr, "homeward: case show CASE\n"), HW_CLI_USAGE;
  if (hw_cli_db_load(c, &db))
    return HW_CLI_FAIL;
  if (!(k = hw_cli_db_case(&db, o->args[2]))) {
    hw_cli_db_free(&db);
    return HW_CLI_FAIL;
  }
  if (o->json) {
    int rc = hw_cli_json_print(hw_cli_case_json(&db, k, &o->today, true), stdout);
    hw_cli_db_free(&db);
    return rc;
  }
  hw_id_to_hex(&k->id, hex);
  printf("Case %s%s%s\n", hex, k->pending ? "   * not yet synced" : "",
         k->conflict ? "   ! conflicts: see homeward conflicts" : "");
  if (k->late_edit)
    printf("LATE-EDIT: the worker who looked after this case before wrote in it after it "
           "moved to you; their answers are below with their name. Your coordinator clears "
           "the mark once it is reviewed.\n");
  show_profile(k);
  hw_case_stage(k->states, k->n, &si);
  printf("Stage: %s", hw_stage_name(si.stage));
  if (si.decided_by) {
    date_text(&si.since, d);
    printf(" since %s (%.*s)", d, (int)si.decided_by->kind.len,
           (const char *)si.decided_by->kind.p);
  }
  printf("\n");
  hw_case_next_visit(k->states, k->n, NULL, &o->today, &nv);
  if (nv.any) {
    date_text(&nv.due, d);
    printf("Next follow-up visit: %s (%s); %zu visit%s done since placement\n", d,
           hw_window_name(nv.window), nv.visits_done, nv.visits_done == 1 ? "" : "s");
  }
  printf("\nForms, in date order:\n");
  for (size_t i = 0; i < k->n; i++) {
    const hw_cli_rec *x = &db.recs[k->first + i];
    const hw_form *form = hw_form_find((const char *)x->r->kind.p, x->r->kind.len);
    hw_void_status vs = {0};
    char rh[HW_ID_HEX_LEN + 1], decision[256], at[40];
    hw_date dt;

    hw_id_to_hex(&x->r->id, rh);
    if (hw_record_void_status(x->r, &vs) != HW_OK)
      memset(&vs, 0, sizeof vs);
    if (hw_cli_record_date(x->r, &dt))
      date_text(&dt, d);
    else
      snprintf(d, sizeof d, "(no date)");
    hw_cli_field_text(x->r, HW_FIELD_DECISION, decision, sizeof decision);
    hw_cli_when(x->r->n_writes ? x->r->writes[0].wall_ms : 0, at, sizeof at);
    printf("\n%c%c %s  %s  record %s%s%s\n", hw_cli_rec_conflict(x->r) ? '!' : ' ',
           x->pending ? '*' : ' ', d, form ? form->title : "(unknown form)", rh,
           vs.voided ? "  VOIDED" : "", x->held ? "  HELD for a coordinator" : "");
    if (decision[0])
      printf("   decision: %s\n", decision);
    hw_cli_print_fields(x->r, "     ");
  }
  show_csi(k);
  hw_cli_db_free(&db);
  return HW_CLI_OK;
}
