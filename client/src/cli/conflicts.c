/* `homeward conflicts` and `homeward resolve RECORD FIELD (--pick N | --value V)`. */
#include <stdio.h>
#include <string.h>

#include "cli-int.h"
#include "homeward/cbor.h"
#include "homeward/forms.h"
#include "homeward/value.h"
#include "values-int.h"

static void show_pairs(const hw_record *r, const hw_field *f)
{
  char value[1024], at[40];

  for (uint32_t k = 0; k < f->n_pairs; k++) {
    const hw_write_meta *m = &r->writes[f->pairs[k].w];
    hw_cli_value_render(f->pairs[k].value.p, f->pairs[k].value.len, value, sizeof value);
    hw_cli_when(m->wall_ms, at, sizeof at);
    printf("    [%u] %-40s %.*s, %s\n", k + 1, value, (int)m->author.len, (const char *)m->author.p,
           at);
  }
}

/* Whether some void of the record never saw write `d`. */
static bool unseen_by_a_void(const hw_field *voided, const hw_dot *d)
{
  static hw_dot seen_buf[HW_VV_MAX];

  for (uint32_t k = 0; k < voided->n_pairs; k++) {
    hw_bytes reason;
    hw_vv seen;
    const hw_bytes *v = &voided->pairs[k].value;
    if (!hw_value_is_null(v->p, v->len) &&
        hw_value_get_void(v->p, v->len, &reason, seen_buf, &seen) == HW_OK &&
        !hw_vv_seen(&seen, d))
      return true;
  }
  return false;
}

/* Whether an edit (not a void) was written that some void never saw. */
static bool has_unseen_edit(const hw_record *r, const hw_field *voided)
{
  for (size_t f = 0; f < r->n_fields; f++)
    for (uint32_t i = 0; r->fields + f != voided && i < r->fields[f].n_pairs; i++)
      if (unseen_by_a_void(voided, &r->writes[r->fields[f].pairs[i].w].dot))
        return true;
  return false;
}

/* The answers written by edits some void of the record never saw (each once,
 * however many voids missed it): what taking the void back (unvoid) keeps. */
static void show_unseen_edits(const hw_record *r, const hw_field *voided)
{
  char value[1024], at[40];

  for (size_t f = 0; f < r->n_fields; f++) {
    const hw_field *fl = &r->fields[f];
    if (fl == voided)
      continue;
    for (uint32_t i = 0; i < fl->n_pairs; i++) {
      const hw_write_meta *m = &r->writes[fl->pairs[i].w];
      if (!unseen_by_a_void(voided, &m->dot))
        continue;
      hw_cli_value_render(fl->pairs[i].value.p, fl->pairs[i].value.len, value, sizeof value);
      hw_cli_when(m->wall_ms, at, sizeof at);
      printf("    edited meanwhile: %.*s = %s  (%.*s, %s)\n", (int)fl->name.len,
             (const char *)fl->name.p, value, (int)m->author.len, (const char *)m->author.p, at);
    }
  }
}

int hw_cli_conflicts(const hw_cli_opts *o, hw_client *c)
{
  hw_cli_db db;
  size_t n = 0;

  (void)o;
  if (hw_cli_db_load(c, &db))
    return HW_CLI_FAIL;
  for (size_t i = 0; i < db.n_cases; i++) {
    const hw_cli_case *k = &db.cases[i];
    char name[512], ch[HW_ID_HEX_LEN + 1];
    if (!k->conflict)
      continue;
    hw_cli_case_name(k, name, sizeof name);
    hw_id_to_hex(&k->id, ch);
    for (size_t j = 0; j < k->n; j++) {
      const hw_record *r = k->states[j];
      hw_void_status vs = {0};
      char rh[HW_ID_HEX_LEN + 1];
      if (!hw_cli_rec_conflict(r))
        continue;
      hw_id_to_hex(&r->id, rh);
      printf(k->child ? "%s%.*s record %s, case %s (%s)\n" : "%s%.*s record %s, case %s %s\n",
             n ? "\n" : "", (int)r->kind.len, (const char *)r->kind.p, rh, HW_CLI_SHORT(ch),
             name);
      for (size_t f = 0; f < r->n_fields; f++) {
        const hw_field *fl = &r->fields[f];
        if (fl->n_pairs < 2)
          continue;
        printf("  %.*s: %u values\n", (int)fl->name.len, (const char *)fl->name.p, fl->n_pairs);
        show_pairs(r, fl);
        /* Two voids that did not see each other: the record is void either
         * way; one more void, which sees both, settles their reasons. */
        if (fl->name.len == strlen(HW_FIELD_VOIDED) &&
            !memcmp(fl->name.p, HW_FIELD_VOIDED, fl->name.len))
          printf("    to settle: homeward void %s --reason TEXT  (one reason for both)\n",
                 HW_CLI_SHORT(rh));
        else
          printf("    to settle: homeward resolve %s %.*s --pick N  (or --value V)\n",
                 HW_CLI_SHORT(rh), (int)fl->name.len, (const char *)fl->name.p);
      }
      if (hw_record_void_status(r, &vs) == HW_OK && vs.disputed &&
          has_unseen_edit(r, hw_record_field(r, HW_FIELD_VOIDED, strlen(HW_FIELD_VOIDED)))) {
        /* (Voids that only missed each other are settled above.) */
        const hw_field *v = hw_record_field(r, HW_FIELD_VOIDED, strlen(HW_FIELD_VOIDED));
        printf("  voided while someone else was still editing it:\n");
        if (v) {
          show_pairs(r, v);
          show_unseen_edits(r, v);
        }
        printf("    to confirm the void: homeward void %s --reason TEXT\n", HW_CLI_SHORT(rh));
        printf("    to keep the edit instead: homeward unvoid %s\n", HW_CLI_SHORT(rh));
      }
      n++;
    }
  }
  if (n == 0)
    printf("no conflicts\n");
  hw_cli_db_free(&db);
  return HW_CLI_OK;
}

int hw_cli_resolve(const hw_cli_opts *o, hw_client *c)
{
  hw_cli_db db;
  const hw_cli_rec *x;
  const hw_field *f;
  const hw_form *form;
  hw_cbor_wr w = {0};
  hw_field_value fv;
  hw_form_error err = {0};
  int rc = HW_CLI_FAIL;

  if (o->n_args < 3 || (o->pick > 0) == (o->value != NULL))
    return fprintf(stderr, "homeward: resolve RECORD FIELD (--pick N | --value V)\n"), HW_CLI_USAGE;
  if (hw_cli_db_load(c, &db))
    return HW_CLI_FAIL;
  if (!(x = hw_cli_db_record(&db, o->args[1])))
    goto out;
  f = hw_record_field(x->r, o->args[2], strlen(o->args[2]));
  if (!f || f->n_pairs < 2) {
    fprintf(stderr, "homeward: %s of that record is not in conflict (see: homeward conflicts)\n",
            o->args[2]);
    goto out;
  }
  if (!strcmp(o->args[2], HW_FIELD_VOIDED)) {
    hw_cli_fail("a disputed void is settled with: homeward void RECORD --reason TEXT");
    goto out;
  }
  /* A resolution is a write: the same rule as for write. */
  if (hw_cli_own_void_refused(c, x->r, o->args[1]))
    goto out;
  fv.name = f->name;
  if (o->pick) {
    if ((uint32_t)o->pick > f->n_pairs) {
      fprintf(stderr, "homeward: --pick wants 1 to %u\n", f->n_pairs);
      goto out;
    }
    fv.value = f->pairs[o->pick - 1].value;
  } else {
    char why[256] = "";
    const hw_form_field *q;
    form = hw_form_find((const char *)x->r->kind.p, x->r->kind.len);
    q = form ? hw_form_field_find(form, o->args[2], strlen(o->args[2])) : NULL;
    if (!q) {
      hw_cli_fail("this device's forms do not know that question: use --pick");
      goto out;
    }
    hw_cbor_wr_init(&w, HW_VALUE_MAX);
    if (hw_cli_value_parse(q, o->value, &w, why, sizeof why) != HW_OK ||
        hw_cbor_wr_finish(&w) != HW_OK) {
      fprintf(stderr, "homeward: not recorded: %s\n", why[0] ? why : "value too long");
      goto out;
    }
    fv.value = (hw_bytes){w.buf, w.len};
  }
  if ((rc = hw_client_write(c, &x->r->id, &fv, 1, &err)) != 0) {
    fprintf(stderr, "homeward: not recorded: %s\n",
            rc == HW_EVALIDATE ? err.msg : hw_cli_strerror(rc));
    rc = HW_CLI_FAIL;
    goto out;
  }
  printf("resolved %s; the conflict clears everywhere once this device syncs\n", o->args[2]);
  rc = HW_CLI_OK;
out:
  hw_cbor_wr_close(&w);
  hw_cli_db_free(&db);
  return rc;
}
