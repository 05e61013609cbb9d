/* Every record on the device, grouped by case and ordered by date. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-int.h"
#include "homeward/mem.h"

static int add_one(void *ud, const hw_record *r, bool pending, bool held)
{
  hw_cli_db *db = ud;
  hw_cli_rec *grown;
  int rc;

  if ((db->n & (db->n - 1)) == 0) { /* grow at powers of two */
    grown = hw_realloc(db->recs, (db->n ? 2 * db->n : 1) * sizeof *grown);
    if (!grown)
      return HW_ENOMEM;
    db->recs = grown;
  }
  if ((rc = hw_record_clone(&db->recs[db->n].r, r)) != 0)
    return rc;
  db->recs[db->n].pending = pending;
  db->recs[db->n].held = held;
  db->n++;
  return 0;
}

/* Case, then date (undated last), then record id. */
static int by_case_date(const void *pa, const void *pb)
{
  const hw_cli_rec *a = pa, *b = pb;
  hw_date da, dbb;
  bool ha, hb;
  int c = hw_id_cmp(&a->r->case_id, &b->r->case_id);

  if (c)
    return c;
  ha = hw_cli_record_date(a->r, &da);
  hb = hw_cli_record_date(b->r, &dbb);
  if (ha != hb)
    return ha ? -1 : 1;
  if (ha && (c = hw_date_cmp(&da, &dbb)) != 0)
    return c;
  return hw_id_cmp(&a->r->id, &b->r->id);
}

void hw_cli_db_free(hw_cli_db *db)
{
  for (size_t i = 0; i < db->n; i++)
    hw_record_free(db->recs[i].r);
  for (size_t i = 0; i < db->n_cases; i++)
    hw_free(db->cases[i].states);
  hw_free(db->recs);
  hw_free(db->cases);
  memset(db, 0, sizeof *db);
}

int hw_cli_db_load(hw_client *c, hw_cli_db *db)
{
  hw_id_list late = {0};
  int rc;

  memset(db, 0, sizeof *db);
  if ((rc = hw_client_list(c, add_one, db)) != 0 || (rc = hw_client_late_edited(c, &late)) != 0)
    goto fail;
  if (db->n == 0) {
    hw_free(late.v);
    return 0;
  }
  qsort(db->recs, db->n, sizeof *db->recs, by_case_date);
  rc = HW_ENOMEM;
  if (!(db->cases = hw_calloc(db->n, sizeof *db->cases)))
    goto fail;
  for (size_t i = 0; i < db->n;) {
    hw_cli_case *k = &db->cases[db->n_cases++];
    k->id = db->recs[i].r->case_id;
    k->first = i;
    while (i < db->n && !hw_id_cmp(&db->recs[i].r->case_id, &k->id))
      i++;
    k->n = i - k->first;
    for (size_t j = 0; j < late.n && !k->late_edit; j++)
      k->late_edit = !hw_id_cmp(&late.v[j], &k->id);
    if (!(k->states = hw_calloc(k->n, sizeof *k->states)))
      goto fail;
    for (size_t j = 0; j < k->n; j++) {
      const hw_cli_rec *x = &db->recs[k->first + j];
      hw_void_status vs = {0};
      k->states[j] = x->r;
      k->pending |= x->pending;
      k->held |= x->held;
      k->conflict |= hw_cli_rec_conflict(x->r);
      if (x->r->kind.len == 5 && !memcmp(x->r->kind.p, "child", 5) &&
          !(hw_record_void_status(x->r, &vs) == HW_OK && vs.voided) && !k->child)
        k->child = x->r;
    }
  }
  hw_free(late.v);
  return 0;
fail:
  hw_free(late.v);
  hw_cli_db_free(db);
  fprintf(stderr, "homeward: cannot read the store: %s\n", hw_cli_strerror(rc));
  return rc;
}

/* Whether `text` (hex digits, any case) begins the 12 digits the lists
 * show (the id's end), ends the id, or begins it. */
static bool id_names(const hw_id *id, const char *text)
{
  char hex[HW_ID_HEX_LEN + 1];
  const char *shown = HW_CLI_SHORT(hex);
  size_t n = strlen(text);
  bool head = true, tail = true, part = n <= HW_CLI_SHORT_DIGITS;

  hw_id_to_hex(id, hex);
  if (n == 0 || n > HW_ID_HEX_LEN)
    return false;
  for (size_t i = 0; i < n; i++) {
    char ch = text[i] >= 'A' && text[i] <= 'F' ? (char)(text[i] - 'A' + 'a') : text[i];
    head = head && ch == hex[i];
    tail = tail && ch == hex[HW_ID_HEX_LEN - n + i];
    part = part && ch == shown[i];
  }
  return head || tail || part;
}

#define PREFIX_MIN 6

int hw_cli_unknown_id(const char *text, bool is_case)
{
  if (is_case)
    fprintf(stderr, "homeward: no case %s on this device (see: homeward case list)\n", text);
  else
    fprintf(stderr, "homeward: no record %s on this device (see: homeward list)\n", text);
  return HW_CLI_FAIL;
}

const hw_cli_case *hw_cli_db_case(const hw_cli_db *db, const char *text)
{
  const hw_cli_case *found = NULL;

  if (strlen(text) < PREFIX_MIN) {
    fprintf(stderr, "homeward: give at least %d digits of the case id\n", PREFIX_MIN);
    return NULL;
  }
  for (size_t i = 0; i < db->n_cases; i++) {
    if (!id_names(&db->cases[i].id, text))
      continue;
    if (found) {
      fprintf(stderr,
              "homeward: %s names more than one case: give more of the digits the list shows\n",
              text);
      return NULL;
    }
    found = &db->cases[i];
  }
  if (!found)
    hw_cli_unknown_id(text, true);
  return found;
}

const hw_cli_rec *hw_cli_db_record(const hw_cli_db *db, const char *text)
{
  const hw_cli_rec *found = NULL;

  if (strlen(text) < PREFIX_MIN) {
    fprintf(stderr, "homeward: give at least %d digits of the record id\n", PREFIX_MIN);
    return NULL;
  }
  for (size_t i = 0; i < db->n; i++) {
    if (!id_names(&db->recs[i].r->id, text))
      continue;
    if (found) {
      fprintf(stderr,
              "homeward: %s names more than one record: give more of the digits the list shows\n",
              text);
      return NULL;
    }
    found = &db->recs[i];
  }
  if (!found)
    hw_cli_unknown_id(text, false);
  return found;
}

void hw_cli_case_name(const hw_cli_case *k, char *out, size_t cap)
{
  char given[256], family[256];

  if (!k->child) {
    snprintf(out, cap, "(no child profile)");
    return;
  }
  hw_cli_field_text(k->child, "given_name", given, sizeof given);
  hw_cli_field_text(k->child, "family_name", family, sizeof family);
  snprintf(out, cap, "%s%s%s", given, family[0] ? " " : "", family);
}
