/* Caseloads in the server database: assignments, regions, caseload
 * checksums, a worker's changes after a cursor (sdb-int.h). */
#include <string.h>

#include "homeward/checksum.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"
#include "sdb-priv.h"

/* ---- caseloads ------------------------------------------------------------ */

int hw_sdb_assign_get(hw_sdb *s, const hw_id *case_id, char worker[static HW_WORKER_MAX])
{
  sqlite3_stmt *st = s->st[ST_ASSIGN_GET];
  int rc;

  worker[0] = '\0';
  sqlite3_bind_blob(st, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    rc = hw__sdb_text_col(st, 0, worker, HW_WORKER_MAX);
  else
    rc = rc == SQLITE_DONE ? HW_ENOENT : hw__sdb_from_sqlite(rc);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

static int wsum_read(hw_sdb *s, const char *worker, uint8_t out[static HW_HASH_BYTES])
{
  sqlite3_stmt *st = s->st[ST_WSUM_GET];
  int rc;

  memset(out, 0, HW_HASH_BYTES);
  sqlite3_bind_text(st, 1, worker, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    rc = hw__sdb_blob_exact(st, 0, out, HW_HASH_BYTES);
  else
    rc = rc == SQLITE_DONE ? HW_OK : hw__sdb_from_sqlite(rc);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

/* The worker's slot, read in when not there (a dirty one it takes over is
 * written first). */
static int wsum_slot_of(hw_sdb *s, const char *worker, wsum_slot **out)
{
  wsum_slot *w;
  int rc;

  *out = NULL;
  if (strlen(worker) >= HW_WORKER_MAX)
    return HW_EINVAL;
  for (unsigned i = 0; i < WSUM_SLOTS; i++)
    if (s->wsum[i].used && strcmp(s->wsum[i].worker, worker) == 0)
      return *out = &s->wsum[i], HW_OK;
  w = &s->wsum[s->wsum_next];
  if (w->used && w->dirty && (rc = hw__sdb_wsum_write(s, w)) != 0)
    return rc;
  memset(w, 0, sizeof *w);
  if ((rc = wsum_read(s, worker, w->sum)) != 0)
    return rc;
  snprintf(w->worker, sizeof w->worker, "%s", worker);
  w->used = true;
  s->wsum_next = (s->wsum_next + 1) % WSUM_SLOTS;
  *out = w;
  return HW_OK;
}

static int wsum_xor(hw_sdb *s, const char *worker, const uint8_t item[static HW_HASH_BYTES])
{
  wsum_slot *w;
  int rc = wsum_slot_of(s, worker, &w);

  if (rc)
    return rc;
  hw_checksum_xor(w->sum, item);
  w->dirty = true;
  return HW_OK;
}

int hw_sdb_wsum_get(hw_sdb *s, const char *worker, uint8_t out[static HW_HASH_BYTES])
{
  for (unsigned i = 0; i < WSUM_SLOTS; i++)
    if (s->wsum[i].used && strcmp(s->wsum[i].worker, worker) == 0) {
      memcpy(out, s->wsum[i].sum, HW_HASH_BYTES);
      return HW_OK;
    }
  return wsum_read(s, worker, out);
}

int hw_sdb_wsum_update(hw_sdb *s, const hw_id *case_id, const uint8_t delta[static HW_HASH_BYTES])
{
  char worker[HW_WORKER_MAX];
  int rc = hw_sdb_assign_get(s, case_id, worker);

  if (rc == HW_ENOENT)
    return HW_OK; /* nobody's caseload */
  return rc ? rc : wsum_xor(s, worker, delta);
}

/* Step a bound statement of (seq, case_id, state) rows, each to cb. */
static int walk_rows(sqlite3_stmt *st, hw_sdb_record_cb cb, void *ud)
{
  int rc;

  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    hw_id cid;
    if (hw__sdb_blob_exact(st, 1, cid.b, HW_ID_BYTES)) {
      rc = HW_ECORRUPT;
      break;
    }
    if ((rc = cb((uint64_t)sqlite3_column_int64(st, 0), &cid, sqlite3_column_blob(st, 2),
                 (size_t)sqlite3_column_bytes(st, 2), ud)) != 0)
      break;
  }
  return hw__sdb_walk_end(st, rc);
}

int hw_sdb_case_records(hw_sdb *s, const hw_id *case_id, hw_sdb_record_cb cb, void *ud)
{
  sqlite3_stmt *st = s->st[ST_CASE_RECORDS];

  sqlite3_bind_blob(st, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  return walk_rows(st, cb, ud);
}

typedef struct move_sum {
  hw_sdb *s;
  uint8_t sum[HW_HASH_BYTES];
  size_t n; /* records moved */
} move_sum;

static int add_item(uint64_t seq, const hw_id *case_id, const void *state, size_t len, void *ud)
{
  move_sum *m = ud;
  hw_record *r = NULL;
  uint8_t item[HW_HASH_BYTES];
  (void)seq, (void)case_id;
  /* the item needs the record id: decode the id from the state */
  if (hw_record_decode(state, len, &r, NULL) != HW_OK)
    return HW_ECORRUPT;
  hw_checksum_item(item, &r->id, state, len);
  hw_record_free(r);
  hw_checksum_xor(m->sum, item);
  m->n++;
  return HW_OK;
}

int hw_sdb_assign_set(hw_sdb *s, const hw_id *case_id, const char *to, uint64_t seq)
{
  char from[HW_WORKER_MAX];
  move_sum m = {s, {0}, 0};
  sqlite3_stmt *st;
  int rc = hw_sdb_assign_get(s, case_id, from), had = rc == HW_OK;

  if (rc && rc != HW_ENOENT)
    return rc;
  if (had && strcmp(from, to) == 0)
    return HW_EEXIST; /* already there: nothing to log */
  /* The case's records move from one worker's checksum to the other's. */
  if ((rc = hw_sdb_case_records(s, case_id, add_item, &m)) != 0)
    return rc;
  /* A case created on a device is assigned before its first record is
   * stored: nothing to move, no checksum row to rewrite. */
  if (m.n && ((had && (rc = wsum_xor(s, from, m.sum)) != 0) || (rc = wsum_xor(s, to, m.sum)) != 0))
    return rc;
  st = s->st[ST_ASSIGN_PUT];
  sqlite3_bind_blob(st, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
  if ((rc = hw__sdb_exec_st(s, ST_ASSIGN_PUT)) != 0)
    return rc;
  if (m.n) {
    st = s->st[ST_REC_WORKER];
    sqlite3_bind_blob(st, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
    if ((rc = hw__sdb_exec_st(s, ST_REC_WORKER)) != 0)
      return rc;
  }
  st = s->st[ST_ASSIGN_LOG];
  sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
  sqlite3_bind_blob(st, 2, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  if (had)
    sqlite3_bind_text(st, 3, from, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 3);
  sqlite3_bind_text(st, 4, to, -1, SQLITE_STATIC);
  if ((rc = hw__sdb_exec_st(s, ST_ASSIGN_LOG)) != 0)
    return rc;
  /* Whoever held it keeps the right to land late edits on it: the holder
   * it leaves is remembered (the current one is srv_assign's; a new case,
   * the common write, adds no row to this randomly keyed table). */
  if (!had)
    return HW_OK;
  st = s->st[ST_HELD_PUT];
  sqlite3_bind_blob(st, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
  return hw__sdb_exec_st(s, ST_HELD_PUT);
}

int hw_sdb_held_before(hw_sdb *s, const hw_id *case_id, const char *worker, bool *out)
{
  sqlite3_stmt *st = s->st[ST_HELD_GET];
  int rc;

  *out = false;
  sqlite3_bind_blob(st, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, worker, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *out = true;
  rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? HW_OK : hw__sdb_from_sqlite(rc);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

static int collect_case(const hw_id *case_id, uint64_t n_records, uint64_t n_flags, void *ud)
{
  (void)n_records, (void)n_flags;
  return hw_id_list_add(ud, case_id);
}

/* An event for each case `worker` holds, from `from` to `to`, each with a
 * number of the one sequence: a region's cases shown to or taken from its
 * coordinator's devices at their next pull, whatever their cursors. */
static int log_region_events(hw_sdb *s, const char *worker, const char *from, const char *to)
{
  hw_id_list l = {0};
  int rc = hw_sdb_caseload(s, worker, collect_case, &l);

  for (size_t i = 0; i < l.n && !rc; i++) {
    sqlite3_stmt *st = s->st[ST_ASSIGN_LOG];
    uint64_t seq;
    if ((rc = hw_sdb_next_seq(s, &seq)) != 0)
      break;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    sqlite3_bind_blob(st, 2, l.v[i].b, HW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, to, -1, SQLITE_STATIC);
    rc = hw__sdb_exec_st(s, ST_ASSIGN_LOG);
  }
  hw_free(l.v);
  return rc;
}

int hw_sdb_region_add(hw_sdb *s, const char *coordinator, const char *worker)
{
  sqlite3_stmt *st = s->st[ST_REGION_PUT];
  int rc;

  sqlite3_bind_text(st, 1, coordinator, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, worker, -1, SQLITE_STATIC);
  if ((rc = hw__sdb_exec_st(s, ST_REGION_PUT)) != 0)
    return rc;
  if (sqlite3_changes(s->db) == 0)
    return HW_EEXIST; /* in the region already */
  /* From no worker ("") to the coordinator: her devices' next pull answers
   * with each case whole. */
  return log_region_events(s, worker, "", coordinator);
}

int hw_sdb_region_remove(hw_sdb *s, const char *coordinator, const char *worker)
{
  sqlite3_stmt *st = s->st[ST_REGION_DEL];
  int rc;

  sqlite3_bind_text(st, 1, coordinator, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, worker, -1, SQLITE_STATIC);
  if ((rc = hw__sdb_exec_st(s, ST_REGION_DEL)) != 0)
    return rc;
  if (sqlite3_changes(s->db) == 0)
    return HW_ENOENT; /* not in the region */
  st = s->st[ST_HELD_INHERIT];
  sqlite3_bind_text(st, 1, coordinator, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, worker, -1, SQLITE_STATIC);
  if ((rc = hw__sdb_exec_st(s, ST_HELD_INHERIT)) != 0)
    return rc;
  /* From the coordinator to no worker (""): her devices' next pull removes
   * each case (after their own edits of it are pushed). */
  return log_region_events(s, worker, coordinator, "");
}

int hw_sdb_region(hw_sdb *s, const char *coordinator, char (*workers)[HW_WORKER_MAX], size_t cap,
                  size_t *n)
{
  sqlite3_stmt *st = s->st[ST_REGION_LIST];
  int rc;

  *n = 0;
  sqlite3_bind_text(st, 1, coordinator, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (*n == cap) {
      rc = HW_ELIMIT;
      break;
    }
    if ((rc = hw__sdb_text_col(st, 0, workers[*n], HW_WORKER_MAX)) != 0)
      break;
    (*n)++;
  }
  return hw__sdb_walk_end(st, rc);
}

/* One row of a seq walk: its case and state read by seq. */
static int load_one(hw_sdb *s, uint64_t seq, hw_sdb_record_cb cb, void *ud)
{
  sqlite3_stmt *st = s->st[ST_REC_BY_SEQ];
  hw_id cid;
  int rc;

  sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    rc = hw__sdb_blob_exact(st, 0, cid.b, HW_ID_BYTES)
             ? HW_ECORRUPT
             : cb(seq, &cid, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), ud);
  else
    rc = rc == SQLITE_DONE ? HW_ECORRUPT : hw__sdb_from_sqlite(rc); /* the index named it */
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

static int load_after_skipping(hw_sdb *s, const char *worker, uint64_t after, size_t max,
                               hw_sdb_seq_pred skip, hw_sdb_record_cb cb, void *ud)
{
  sqlite3_stmt *st = s->st[ST_SEQS_AFTER];
  int rc;

  sqlite3_bind_text(st, 1, worker, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
    if ((rc = skip(seq, ud) ? cb(seq, NULL, NULL, 0, ud) : load_one(s, seq, cb, ud)) != 0)
      break;
  }
  return hw__sdb_walk_end(st, rc);
}

int hw_sdb_load_after(hw_sdb *s, const char *worker, uint64_t after, size_t max,
                      hw_sdb_seq_pred skip, hw_sdb_record_cb cb, void *ud)
{
  sqlite3_stmt *st = s->st[ST_LOAD_AFTER];

  if (after > INT64_MAX)
    return HW_OK;
  if (skip)
    return load_after_skipping(s, worker, after, max, skip, cb, ud);
  sqlite3_bind_text(st, 1, worker, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
  return walk_rows(st, cb, ud);
}

int hw_sdb_events_after(hw_sdb *s, const char *worker, uint64_t after, size_t max,
                        hw_sdb_event_cb cb, void *ud)
{
  sqlite3_stmt *st = s->st[ST_EVENTS_AFTER];
  int rc;

  if (after > INT64_MAX)
    return HW_OK;
  sqlite3_bind_text(st, 1, worker, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    hw_id cid;
    const unsigned char *f = sqlite3_column_text(st, 2), *t = sqlite3_column_text(st, 3);
    if (hw__sdb_blob_exact(st, 1, cid.b, HW_ID_BYTES) || !t) {
      rc = HW_ECORRUPT;
      break;
    }
    if ((rc = cb((uint64_t)sqlite3_column_int64(st, 0), &cid, (const char *)f,
                 (const char *)t, ud)) != 0)
      break;
  }
  return hw__sdb_walk_end(st, rc);
}

int hw_sdb_caseload(hw_sdb *s, const char *worker, hw_sdb_case_cb cb, void *ud)
{
  sqlite3_stmt *st = s->st[ST_CASELOAD];
  int rc;

  sqlite3_bind_text(st, 1, worker, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    hw_id cid;
    if (hw__sdb_blob_exact(st, 0, cid.b, HW_ID_BYTES)) {
      rc = HW_ECORRUPT;
      break;
    }
    if ((rc = cb(&cid, (uint64_t)sqlite3_column_int64(st, 1),
                 (uint64_t)sqlite3_column_int64(st, 2), ud)) != 0)
      break;
  }
  return hw__sdb_walk_end(st, rc);
}

int hw_sdb_flag_put(hw_sdb *s, const hw_id *case_id, const char *worker, const char *reason,
                    int64_t now_ms)
{
  sqlite3_stmt *st = s->st[ST_FLAG_PUT];
  sqlite3_bind_blob(st, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, worker, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, now_ms);
  return hw__sdb_exec_st(s, ST_FLAG_PUT);
}

int hw_sdb_flag_clear(hw_sdb *s, const hw_id *case_id, uint64_t *n)
{
  sqlite3_stmt *st = s->st[ST_FLAG_DEL];
  int rc;

  sqlite3_bind_blob(st, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  if ((rc = hw__sdb_exec_st(s, ST_FLAG_DEL)) == 0)
    *n = (uint64_t)sqlite3_changes(s->db);
  return rc;
}

int hw_sdb_flagged_of(hw_sdb *s, const char *worker, size_t max, hw_id_list *out)
{
  sqlite3_stmt *st = s->st[ST_FLAGGED_OF];
  int rc;

  if (out->n >= max)
    return HW_OK;
  sqlite3_bind_text(st, 1, worker, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)(max - out->n));
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    hw_id cid;
    if (hw__sdb_blob_exact(st, 0, cid.b, HW_ID_BYTES)) {
      rc = HW_ECORRUPT;
      break;
    }
    if ((rc = hw_id_list_add(out, &cid)) != 0)
      break;
  }
  return hw__sdb_walk_end(st, rc);
}

int hw_sdb_flags(hw_sdb *s, hw_sdb_flag_cb cb, void *ud)
{
  sqlite3_stmt *st = s->st[ST_FLAG_LIST];
  int rc;

  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    hw_id cid;
    char holder[HW_WORKER_MAX] = "";
    if (hw__sdb_blob_exact(st, 0, cid.b, HW_ID_BYTES) ||
        (sqlite3_column_type(st, 1) != SQLITE_NULL &&
         hw__sdb_text_col(st, 1, holder, sizeof holder) != 0)) {
      rc = HW_ECORRUPT;
      break;
    }
    if ((rc = cb(&cid, holder, (uint64_t)sqlite3_column_int64(st, 2),
                 sqlite3_column_int64(st, 3), ud)) != 0)
      break;
  }
  return hw__sdb_walk_end(st, rc);
}

int hw__sdb_unique_end(sqlite3_stmt *st, int rc, int found)
{
  if (rc == SQLITE_DONE)
    rc = found ? HW_OK : HW_ENOENT;
  else if (rc > 0)
    rc = hw__sdb_from_sqlite(rc);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

/* Whether `digits` (lower-case hex, n of them) name the id whose hex is
 * `hex`: its start, its end, or the start of the 12 digits the devices'
 * lists show (the id's end: ids begin with their creation time). */
static bool case_digits_name(const char *hex, const char *digits, size_t n)
{
  const char *shown = hex + HW_ID_HEX_LEN - HW_CASE_SHOWN_DIGITS;
  return memcmp(hex, digits, n) == 0 || memcmp(hex + HW_ID_HEX_LEN - n, digits, n) == 0 ||
         (n <= HW_CASE_SHOWN_DIGITS && memcmp(shown, digits, n) == 0);
}

int hw_sdb_case_by_digits(hw_sdb *s, const char *digits, hw_id *out)
{
  sqlite3_stmt *st = s->st[ST_CASE_IDS];
  char lower[HW_ID_HEX_LEN + 1], hex[HW_ID_HEX_LEN + 1];
  size_t n = strlen(digits);
  int rc, found = 0;

  if (n < 6 || n > HW_ID_HEX_LEN)
    return HW_EINVAL;
  for (size_t i = 0; i <= n; i++) {
    char ch = digits[i];
    if (i < n && !strchr("0123456789abcdefABCDEF", ch))
      return HW_EINVAL;
    lower[i] = (char)(ch >= 'A' && ch <= 'F' ? ch + 32 : ch);
  }
  /* Each case once (the statement's UNION), however many ways it matches. */
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    hw_id id;
    if (hw__sdb_blob_exact(st, 0, id.b, HW_ID_BYTES)) {
      rc = HW_ECORRUPT;
      break;
    }
    hw_id_to_hex(&id, hex);
    if (!case_digits_name(hex, lower, n))
      continue;
    if (found++) {
      rc = HW_EEXIST;
      break;
    }
    *out = id;
  }
  return hw__sdb_unique_end(st, rc, found);
}
