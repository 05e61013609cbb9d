/* Records, their dots and history, lineage marks and the audit chain in the
 * server database (sdb-int.h). */
#include <string.h>

#include "homeward/checksum.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"
#include "sdb-priv.h"

int hw_sdb_record_get(hw_sdb *s, const hw_id *id, uint8_t **state, size_t *len)
{
  sqlite3_stmt *st = s->st[ST_REC_GET];
  int rc;

  *state = NULL;
  *len = 0;
  sqlite3_bind_blob(st, 1, id->b, HW_ID_BYTES, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    rc = hw__sdb_take_blob(st, 0, state, len);
  else
    rc = rc == SQLITE_DONE ? HW_ENOENT : hw__sdb_from_sqlite(rc);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

int hw_sdb_record_put(hw_sdb *s, const hw_id *id, const hw_id *case_id, const uint8_t *kind,
                      size_t kind_len, uint64_t seq, const uint8_t *state, size_t len)
{
  sqlite3_stmt *st = s->st[ST_REC_DEL];
  int rc;

  if (seq > INT64_MAX)
    return HW_ELIMIT;
  sqlite3_bind_blob(st, 1, id->b, HW_ID_BYTES, SQLITE_STATIC);
  if ((rc = hw__sdb_exec_st(s, ST_REC_DEL)) != 0)
    return rc;
  st = s->st[ST_REC_PUT];
  sqlite3_bind_blob(st, 1, id->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, (const char *)kind, (int)kind_len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, (sqlite3_int64)seq);
  sqlite3_bind_blob(st, 5, state, (int)len, SQLITE_STATIC);
  return hw__sdb_exec_st(s, ST_REC_PUT);
}

int hw_sdb_dot_get(hw_sdb *s, const hw_dot *d, hw_id *record, uint8_t digest[static HW_HASH_BYTES])
{
  sqlite3_stmt *st = s->st[ST_DOT_GET];
  int rc;

  memset(record, 0, sizeof *record);
  sqlite3_bind_blob(st, 1, d->replica.b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)d->counter);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    rc = hw__sdb_blob_exact(st, 0, record->b, HW_ID_BYTES);
    if (!rc)
      rc = hw__sdb_blob_exact(st, 1, digest, HW_HASH_BYTES);
  } else {
    rc = rc == SQLITE_DONE ? HW_ENOENT : hw__sdb_from_sqlite(rc);
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

int hw_sdb_dot_put(hw_sdb *s, const hw_dot *d, const hw_id *record,
                   const uint8_t digest[static HW_HASH_BYTES])
{
  sqlite3_stmt *st = s->st[ST_DOT_PUT];
  int rc;

  /* Counters are stored as SQLite integers (signed 64-bit). */
  if (d->counter > INT64_MAX)
    return HW_ELIMIT;
  sqlite3_bind_blob(st, 1, d->replica.b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)d->counter);
  sqlite3_bind_blob(st, 3, record->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, digest, HW_HASH_BYTES, SQLITE_STATIC);
  if ((rc = hw__sdb_exec_st(s, ST_DOT_PUT)) != 0)
    return rc;
  /* A lineage mark at or above this counter no longer folds every
   * accepted dot below it. */
  st = s->st[ST_MARK_DROP];
  sqlite3_bind_blob(st, 1, d->replica.b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)d->counter);
  return hw__sdb_exec_st(s, ST_MARK_DROP);
}

/* Read one dots row: counter, record id, digest. */
static int dot_row(sqlite3_stmt *st, uint64_t *counter, hw_id *record,
                   uint8_t digest[static HW_HASH_BYTES])
{
  sqlite3_int64 c = sqlite3_column_int64(st, 0);

  if (c <= 0)
    return HW_ECORRUPT;
  *counter = (uint64_t)c;
  if (hw__sdb_blob_exact(st, 1, record->b, HW_ID_BYTES) ||
      hw__sdb_blob_exact(st, 2, digest, HW_HASH_BYTES))
    return HW_ECORRUPT;
  return HW_OK;
}

/* The replica's lineage mark, if any at or below `upto`, as the start of
 * a fold. */
static int mark_start(hw_sdb *s, const hw_id *replica, uint64_t upto, hw_lineage *out)
{
  sqlite3_stmt *st = s->st[ST_MARK_GET];
  int rc;

  hw_lineage_init(out);
  sqlite3_bind_blob(st, 1, replica->b, HW_ID_BYTES, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    sqlite3_int64 c = sqlite3_column_int64(st, 0);
    uint8_t digest[HW_HASH_BYTES];
    rc = c > 0 && hw__sdb_blob_exact(st, 1, digest, HW_HASH_BYTES) == HW_OK ? HW_OK : HW_ECORRUPT;
    if (rc == HW_OK && (uint64_t)c <= upto) { /* one above upto is of no use here */
      out->counter = (uint64_t)c;
      memcpy(out->digest, digest, HW_HASH_BYTES);
    }
  } else {
    rc = rc == SQLITE_DONE ? HW_OK : hw__sdb_from_sqlite(rc);
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

int hw_sdb_lineage_mark(hw_sdb *s, const hw_id *replica, const hw_lineage *l)
{
  sqlite3_stmt *st = s->st[ST_MARK_PUT];

  if (l->counter == 0 || l->counter > INT64_MAX)
    return HW_OK; /* nothing folded: nothing to keep */
  sqlite3_bind_blob(st, 1, replica->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)l->counter);
  sqlite3_bind_blob(st, 3, l->digest, HW_HASH_BYTES, SQLITE_STATIC);
  return hw__sdb_exec_st(s, ST_MARK_PUT);
}

int hw_sdb_lineage_unmark(hw_sdb *s, const hw_id *replica)
{
  sqlite3_stmt *st = s->st[ST_MARK_DROP];

  sqlite3_bind_blob(st, 1, replica->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, 0);
  return hw__sdb_exec_st(s, ST_MARK_DROP);
}

int hw_sdb_lineage(hw_sdb *s, const hw_id *replica, uint64_t upto, bool from_mark,
                   hw_lineage *out)
{
  sqlite3_stmt *st = s->st[ST_DOTS_UPTO];
  int rc;

  hw_lineage_init(out);
  if (from_mark && (rc = mark_start(s, replica, upto, out)) != 0)
    return rc;
  sqlite3_bind_blob(st, 1, replica->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, upto > INT64_MAX ? INT64_MAX : (sqlite3_int64)upto);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)out->counter);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    uint64_t c;
    hw_id rec;
    uint8_t dg[HW_HASH_BYTES];
    if ((rc = dot_row(st, &c, &rec, dg)) != 0 || (rc = hw_lineage_add(out, c, &rec, dg)) != 0)
      break;
  }
  rc = rc == SQLITE_DONE  ? HW_OK
       : rc == HW_EINVAL ? HW_ECORRUPT
       : rc > 0          ? hw__sdb_from_sqlite(rc)
                         : rc;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

int hw_sdb_dots_after(hw_sdb *s, const hw_id *replica, uint64_t after, size_t max, hw_sdb_dot_cb cb,
                      void *ud, size_t *n_out, int *more)
{
  sqlite3_stmt *st = s->st[ST_DOTS_AFTER];
  size_t n = 0;
  int rc;

  *n_out = 0;
  *more = 0;
  if (after > INT64_MAX)
    return HW_OK;
  sqlite3_bind_blob(st, 1, replica->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)max + 1); /* one more tells whether others remain */
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    uint64_t c;
    hw_id rec;
    uint8_t dg[HW_HASH_BYTES];
    if (n == max) {
      *more = 1;
      continue;
    }
    if ((rc = dot_row(st, &c, &rec, dg)) != 0)
      break;
    cb(c, &rec, dg, ud);
    n++;
  }
  *n_out = n;
  return hw__sdb_walk_end(st, rc);
}

int hw__sdb_audit_last(hw_sdb *s, uint64_t *seq, uint8_t hash[static HW_HASH_BYTES])
{
  sqlite3_stmt *st = s->st[ST_AUDIT_LAST];
  int rc = sqlite3_step(st);

  *seq = 0;
  memset(hash, 0, HW_HASH_BYTES);
  if (rc == SQLITE_ROW) {
    *seq = (uint64_t)sqlite3_column_int64(st, 0);
    rc = hw__sdb_blob_exact(st, 1, hash, HW_HASH_BYTES);
  } else {
    rc = hw__sdb_from_sqlite(rc);
  }
  sqlite3_reset(st);
  return rc;
}

int hw_sdb_audit_head(hw_sdb *s, uint64_t *seq, uint8_t hash[static HW_HASH_BYTES])
{
  int rc = hw__sdb_load_cache(s);

  *seq = rc ? 0 : s->audit_seq;
  memcpy(hash, s->audit_head, HW_HASH_BYTES);
  if (rc)
    memset(hash, 0, HW_HASH_BYTES);
  return rc;
}

int hw_sdb_audit_append(hw_sdb *s, const uint8_t *entry, size_t len, uint64_t *seq_out,
                        uint8_t head[static HW_HASH_BYTES])
{
  sqlite3_stmt *st = s->st[ST_AUDIT_PUT];
  uint8_t prev[HW_HASH_BYTES];
  uint64_t seq;
  int rc;

  *seq_out = 0;
  if ((rc = hw_sdb_audit_head(s, &seq, prev)) != 0)
    return rc;
  seq++;
  hw_audit_chain_step(head, prev, seq, entry, len);
  sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
  sqlite3_bind_blob(st, 2, entry, (int)len, SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, head, HW_HASH_BYTES, SQLITE_STATIC);
  if ((rc = hw__sdb_exec_st(s, ST_AUDIT_PUT)) == 0) {
    *seq_out = seq;
    s->audit_seq = seq;
    memcpy(s->audit_head, head, HW_HASH_BYTES);
  }
  sqlite3_clear_bindings(st);
  return rc;
}

int hw_sdb_audit_verify(hw_sdb *s, uint64_t *n_checked, uint64_t *bad_seq)
{
  sqlite3_stmt *st = s->st[ST_AUDIT_ALL];
  uint8_t prev[HW_HASH_BYTES] = {0}, want[HW_HASH_BYTES], have[HW_HASH_BYTES];
  uint64_t expect = 1;
  int rc;

  *n_checked = 0;
  *bad_seq = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
    const void *e = sqlite3_column_blob(st, 1);
    int elen = sqlite3_column_bytes(st, 1);
    /* A missing entry (a gap) breaks the chain as surely as a changed one. */
    if (seq != expect || elen < 0 || hw__sdb_blob_exact(st, 2, have, HW_HASH_BYTES)) {
      *bad_seq = expect;
      rc = HW_ECORRUPT;
      break;
    }
    hw_audit_chain_step(want, prev, seq, e ? e : (const void *)"", (size_t)elen);
    if (hw_memcmp_ct(want, have, HW_HASH_BYTES) != 0) {
      *bad_seq = seq;
      rc = HW_ECORRUPT;
      break;
    }
    memcpy(prev, want, sizeof prev);
    expect++;
    (*n_checked)++;
  }
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? HW_OK : rc == HW_ECORRUPT ? rc : hw__sdb_from_sqlite(rc);
}

int hw_sdb_quarantine_put(hw_sdb *s, const hw_id *record, const uint8_t *device_key, size_t key_len,
                          const char *reason, const uint8_t *state, size_t len, int64_t now_ms,
                          int64_t *id_out)
{
  sqlite3_stmt *st = s->st[ST_QUAR_PUT];
  int rc;

  *id_out = 0;
  sqlite3_bind_blob(st, 1, record->b, HW_ID_BYTES, SQLITE_STATIC);
  if (device_key)
    sqlite3_bind_blob(st, 2, device_key, (int)key_len, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 2);
  sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, state, (int)len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, now_ms);
  rc = hw__sdb_exec_st(s, ST_QUAR_PUT);
  if (rc == 0)
    *id_out = sqlite3_last_insert_rowid(s->db);
  sqlite3_clear_bindings(st);
  return rc;
}

int hw_sdb_history_put(hw_sdb *s, const hw_id *record, const hw_dot *d, const uint8_t *fields,
                       size_t len)
{
  sqlite3_stmt *st = s->st[ST_HIST_PUT];

  if (d->counter > INT64_MAX)
    return HW_ELIMIT;
  sqlite3_bind_blob(st, 1, record->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, d->replica.b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)d->counter);
  sqlite3_bind_blob(st, 4, fields, (int)len, SQLITE_STATIC);
  return hw__sdb_exec_st(s, ST_HIST_PUT);
}

/* Copy a text column into `out` (NUL-terminated); HW_ECORRUPT if too long. */
int hw_sdb_records_after(hw_sdb *s, uint64_t after, size_t max, hw_sdb_record_cb cb, void *ud,
                         uint64_t *last_seq, int *more)
{
  sqlite3_stmt *st = s->st[ST_REC_AFTER];
  size_t n = 0;
  int rc;

  *last_seq = after;
  *more = 0;
  if (after > INT64_MAX)
    return HW_OK;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)max + 1);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    hw_id case_id;
    sqlite3_int64 seq = sqlite3_column_int64(st, 0);
    if (n == max) {
      *more = 1;
      continue;
    }
    if (seq <= 0 || hw__sdb_blob_exact(st, 1, case_id.b, HW_ID_BYTES)) {
      rc = HW_ECORRUPT;
      break;
    }
    *last_seq = (uint64_t)seq;
    n++;
    if ((rc = cb((uint64_t)seq, &case_id, sqlite3_column_blob(st, 2),
                 (size_t)sqlite3_column_bytes(st, 2), ud)) != 0)
      break;
  }
  return hw__sdb_walk_end(st, rc);
}

/* The caseload checksum: the XOR of BLAKE2b(record id || state) over every
 * stored record, so it changes in O(1) per record change and does not
 * depend on order. The device keeps the same over what it holds. */

int hw_sdb_audit_walk(hw_sdb *s, uint64_t after, size_t max, hw_sdb_audit_cb cb, void *ud)
{
  sqlite3_stmt *st = s->st[ST_AUDIT_ALL];
  size_t n = 0;
  int rc;

  while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max) {
    uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
    if (seq <= after)
      continue;
    n++;
    if ((rc = cb(seq, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), ud)) != 0)
      break;
  }
  rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? HW_OK : rc > 0 ? hw__sdb_from_sqlite(rc) : rc;
  sqlite3_reset(st);
  return rc;
}

int hw_sdb_records_count(hw_sdb *s, uint64_t *n)
{
  sqlite3_stmt *st = s->st[ST_REC_COUNT];
  int rc = sqlite3_step(st);

  *n = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
  rc = rc == SQLITE_ROW ? HW_OK : hw__sdb_from_sqlite(rc);
  sqlite3_reset(st);
  return rc;
}
