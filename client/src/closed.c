/* Closed cases leave the device once synced (issue 8): a case whose stage
 * is closed, with nothing pending, no conflict and no disputed void, is
 * deleted from the store; the server keeps it. A child removed from family
 * care is not closed and stays.
 *
 * The server's caseload checksum still covers the case, so the device keeps
 * a tombstone per closed case ("closed.<case>": record id + checksum item
 * per record) and their XOR ("client.closed_sum"), which the device adds to
 * its own checksum. A record of the case that comes back in a pull (the case
 * was reopened) or a removal of the case retires its tombstones. */
#include "client-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "homeward/checksum.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"
#include "homeward/stage.h"

#define SET_CLOSED_SUM "client.closed_sum"
#define TOMB (HW_ID_BYTES + HW_HASH_BYTES) /* record id, checksum item */

static void closed_name(char out[48], const hw_id *case_id)
{
  char hex[HW_ID_HEX_LEN + 1];
  hw_id_to_hex(case_id, hex);
  snprintf(out, 48, "closed.%s", hex);
}

int hw__closed_sum(hw_client *c, uint8_t sum[static HW_HASH_BYTES])
{
  int rc = hw__setting_exact(c, SET_CLOSED_SUM, sum, HW_HASH_BYTES);
  if (rc == HW_ENOENT) {
    memset(sum, 0, HW_HASH_BYTES);
    rc = HW_OK;
  }
  return rc;
}

/* XOR `item` into the closed sum. */
static int sum_xor(hw_client *c, const uint8_t item[HW_HASH_BYTES])
{
  uint8_t sum[HW_HASH_BYTES];
  int rc = hw__closed_sum(c, sum);
  if (rc)
    return rc;
  hw_checksum_xor(sum, item);
  return hw_store_setting_set(c->st, SET_CLOSED_SUM, sum, sizeof sum);
}

/* Retire the tombstones of `case_id`: all of them (record NULL) or the one
 * of `record`. Inside the caller's transaction. */
int hw__closed_forget(hw_client *c, const hw_id *case_id, const hw_id *record)
{
  char name[48];
  uint8_t *v = NULL;
  size_t n = 0, out = 0;
  int rc;

  closed_name(name, case_id);
  rc = hw_store_setting_get(c->st, name, &v, &n);
  if (rc == HW_ENOENT)
    return HW_OK;
  if (rc == HW_OK && n % TOMB)
    rc = HW_ECORRUPT;
  for (size_t i = 0; i < n && !rc; i += TOMB) {
    if (record && memcmp(v + i, record->b, HW_ID_BYTES) != 0) {
      memmove(v + out, v + i, TOMB);
      out += TOMB;
      continue;
    }
    rc = sum_xor(c, v + i + HW_ID_BYTES);
  }
  if (!rc && out != n)
    rc = out ? hw_store_setting_set(c->st, name, v, out) : hw_store_setting_del(c->st, name);
  hw_free(v);
  return rc;
}

/* A restored server's recovery: it sends again every record the worker may
 * see, those of closed cases too, which the sweep then takes out again with
 * new tombstones. A record it lost gets none: its tombstone counted it in
 * the checksum for good (the sync said the two sides differ at every sync
 * after). Every tombstone goes, inside the caller's transaction. */
int hw__closed_reset(hw_client *c)
{
  int rc = hw_store_setting_del_prefix(c->st, "closed.");
  return rc ? rc : hw_store_setting_del(c->st, SET_CLOSED_SUM);
}

static int id_cmp(const void *a, const void *b)
{
  return hw_id_cmp(a, b);
}

typedef struct case_recs {
  hw_record **recs;
  size_t n, cap;
  bool keep;       /* something pending or in dispute: the case stays */
  uint8_t *tombs;  /* TOMB bytes per record */
} case_recs;

static int add_rec(void *ud, const hw_store_rec *r)
{
  case_recs *k = ud;
  hw_record *rec = NULL;
  hw_void_status vs;

  if (r->pending) {
    k->keep = true;
    return 0;
  }
  if (hw_record_decode(r->state.p, r->state.len, &rec, NULL) != HW_OK) {
    k->keep = true; /* unreadable here: leave it for a person to look at */
    return 0;
  }
  if (hw_record_n_conflicts(rec) > 0 || (hw_record_void_status(rec, &vs) == HW_OK && vs.disputed))
    k->keep = true;
  if (k->n == k->cap) {
    /* Two arrays of one capacity: it moves once both have grown. */
    size_t cap_recs = k->cap, cap_tombs = k->cap;
    int rc = hw_grow(&k->recs, &cap_recs, k->n + 1, sizeof *k->recs, 16);
    if (rc || (rc = hw_grow(&k->tombs, &cap_tombs, k->n + 1, TOMB, 16)) != 0) {
      hw_record_free(rec);
      return rc;
    }
    k->cap = cap_tombs;
  }
  memcpy(k->tombs + k->n * TOMB, r->id.b, HW_ID_BYTES);
  hw_checksum_item(k->tombs + k->n * TOMB + HW_ID_BYTES, &r->id, r->state.p, r->state.len);
  k->recs[k->n++] = rec;
  return 0;
}

/* If the case is closed and can go: tombstones, then delete, in one
 * transaction. *removed counts the records deleted. */
static int close_case(hw_client *c, const hw_id *case_id, uint64_t *removed)
{
  case_recs k = {0};
  hw_stage_info info;
  char name[48];
  uint64_t deleted = 0, kept = 0;
  int rc = hw_store_list_case(c->st, case_id, add_rec, &k);

  if (rc || k.keep || !k.n || k.n * TOMB > HW_STORE_SETTING_MAX)
    goto out;
  hw_case_stage((const hw_record *const *)k.recs, k.n, &info);
  if (info.stage != HW_STAGE_CLOSED)
    goto out;
  closed_name(name, case_id);
  if ((rc = hw_store_begin(c->st)) != 0)
    goto out;
  /* Earlier tombstones of the case (closed, reopened, closed again) go
   * first: every record is in the new set. */
  rc = hw__closed_forget(c, case_id, NULL);
  for (size_t i = 0; i < k.n && !rc; i++)
    rc = sum_xor(c, k.tombs + i * TOMB + HW_ID_BYTES);
  if (!rc)
    rc = hw_store_setting_set(c->st, name, k.tombs, k.n * TOMB);
  if (!rc)
    rc = hw_store_delete_case(c->st, case_id, &deleted, &kept);
  if (!rc && kept)
    rc = HW_EAGAIN; /* something became pending meanwhile: not now */
  if (rc) {
    int r2 = hw_store_rollback(c->st);
    (void)r2;
    rc = rc == HW_EAGAIN ? HW_OK : rc;
    goto out;
  }
  if ((rc = hw_store_commit(c->st)) == 0)
    *removed += deleted;
out:
  for (size_t i = 0; i < k.n; i++)
    hw_record_free(k.recs[i]);
  hw_free(k.recs);
  hw_free(k.tombs);
  return rc;
}

int hw__client_sweep_closed(hw_client *c, hw_id *cases, size_t n_cases, uint64_t *removed)
{
  size_t n = 0;
  int rc = HW_OK;

  *removed = 0;
  if (n_cases)
    qsort(cases, n_cases, sizeof *cases, id_cmp);
  for (size_t i = 0; i < n_cases; i++)
    if (n == 0 || hw_id_cmp(&cases[n - 1], &cases[i]) != 0)
      cases[n++] = cases[i];
  for (size_t i = 0; i < n && !rc; i++)
    rc = close_case(c, &cases[i], removed);
  return rc;
}
