/* Record states in the store: put, get, list, acknowledge, delete, and the
 * state sum (store.h). */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "homeward/checksum.h"
#include "homeward/limits.h"
#include "homeward/mem.h"
#include "homeward/store-testvfs.h"
#include "store-priv.h"

/* ---- records ---- */

static int check_rec(const hw_store_rec *r)
{
  if (!r || r->kind.len == 0 || r->kind.len > HW_KIND_MAX || !r->kind.p)
    return HW_EINVAL;
  if (r->state.len > HW_RECORD_MAX)
    return HW_ELIMIT;
  if (r->vv.n > HW_VV_MAX || r->acked.n > HW_VV_MAX)
    return HW_ELIMIT;
  if (hw_vv_check(&r->vv) != HW_OK || hw_vv_check(&r->acked) != HW_OK)
    return HW_EPROTO;
  return HW_OK;
}

/* ---- the state sum (hw_store_sum) ---- */

/* The sum changes in the same transaction as the rows it covers: a call
 * made outside one gets its own. */
static int sum_begin(hw_store *st, bool *own)
{
  *own = sqlite3_get_autocommit(st->db) != 0;
  return *own ? hw__st_exec(st, "BEGIN IMMEDIATE") : HW_OK;
}

static int sum_end(hw_store *st, bool own, int rc)
{
  if (!own)
    return rc;
  if (rc == HW_OK && (rc = hw__st_sum_write(st)) == HW_OK &&
      (rc = hw__st_exec(st, "COMMIT")) == HW_OK)
    return HW_OK;
  /* A failed COMMIT may leave the transaction open: close it. */
  if (!sqlite3_get_autocommit(st->db)) {
    int r2 = hw__st_exec(st, "ROLLBACK");
    (void)r2;
  }
  return rc;
}

/* XOR `delta` into the stored sum. */
static int sum_fold(hw_store *st, const uint8_t delta[static HW_HASH_BYTES])
{
  size_t n;
  int rc;

  if (!st->sum_known) {
    rc = hw__st_setting_get_raw(st, HW__SUM_SETTING, st->sum, sizeof st->sum, &n);
    if (rc)
      return rc == HW_ENOENT ? HW_ECORRUPT : rc;
    if (n != HW_HASH_BYTES)
      return HW_ECORRUPT;
    st->sum_known = true;
  }
  /* Written before the commit (sum_write): one row write a transaction. */
  hw_checksum_xor(st->sum, delta);
  st->sum_dirty = true;
  return HW_OK;
}

int hw_store_sum(hw_store *st, uint8_t out[static HW_HASH_BYTES])
{
  size_t n;
  int rc;

  if (st->sum_known) {
    memcpy(out, st->sum, HW_HASH_BYTES);
    return HW_OK;
  }
  rc = hw__st_setting_get_raw(st, HW__SUM_SETTING, out, HW_HASH_BYTES, &n);

  if (rc == HW_OK && n != HW_HASH_BYTES)
    rc = HW_ECORRUPT;
  if (rc)
    memset(out, 0, HW_HASH_BYTES);
  return rc == HW_ENOENT ? HW_ECORRUPT : rc;
}

/* An existing row's item (`*found` false: no such row); with r->kind set,
 * HW_EDIVERGE when the row's case or kind differ from r's. */
static int row_item(hw_store *st, const hw_store_rec *r, bool *found, uint8_t item[HW_HASH_BYTES])
{
  sqlite3_stmt *s;
  int rc = hw__st_stmt(st, S_META, &s);

  *found = false;
  if (rc)
    return rc;
  sqlite3_bind_blob(s, 1, r->id.b, HW_ID_BYTES, SQLITE_STATIC);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    const void *c = sqlite3_column_blob(s, 0), *k = sqlite3_column_text(s, 1),
               *it = sqlite3_column_blob(s, 3);
    *found = true;
    if (sqlite3_column_bytes(s, 3) != HW_HASH_BYTES || !it)
      rc = HW_ECORRUPT;
    /* Architecture §2: id, kind and case never change. */
    else if (r->kind.p && (sqlite3_column_bytes(s, 0) != HW_ID_BYTES || !c || !k ||
                           memcmp(c, r->case_id.b, HW_ID_BYTES) != 0 ||
                           (size_t)sqlite3_column_bytes(s, 1) != r->kind.len ||
                           memcmp(k, r->kind.p, r->kind.len) != 0))
      rc = HW_EDIVERGE;
    else
      rc = HW_OK;
    if (rc == HW_OK)
      memcpy(item, it, HW_HASH_BYTES);
  } else {
    rc = rc == SQLITE_DONE ? HW_OK : hw__st_from_sqlite(st, rc);
  }
  sqlite3_reset(s);
  return rc;
}

static int put_row(hw_store *st, const hw_store_rec *r);

int hw_store_put(hw_store *st, const hw_store_rec *r)
{
  bool own;
  int rc = check_rec(r);

  if (rc || (rc = sum_begin(st, &own)) != 0)
    return rc;
  return sum_end(st, own, put_row(st, r));
}

static int put_row(hw_store *st, const hw_store_rec *r)
{
  uint8_t vv[HW_VV_MAX * VV_ENTRY], acked[HW_VV_MAX * VV_ENTRY], item[HW_HASH_BYTES],
      delta[HW_HASH_BYTES] = {0};
  sqlite3_stmt *s;
  bool found;
  int rc = row_item(st, r, &found, item);

  if (rc)
    return rc;
  if (found)
    hw_checksum_xor(delta, item);
  hw__st_vv_encode(&r->vv, vv);
  hw__st_vv_encode(&r->acked, acked);
  rc = hw__st_stmt(st, S_PUT, &s);
  if (rc)
    return rc;
  sqlite3_bind_blob(s, 1, r->id.b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_blob(s, 2, r->case_id.b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(s, 3, (const char *)r->kind.p, (int)r->kind.len, SQLITE_STATIC);
  sqlite3_bind_blob(s, 4, vv, (int)(r->vv.n * VV_ENTRY), SQLITE_STATIC);
  sqlite3_bind_blob(s, 5, acked, (int)(r->acked.n * VV_ENTRY), SQLITE_STATIC);
  sqlite3_bind_int(s, 6, !hw_vv_covers(&r->acked, &r->vv));
  sqlite3_bind_blob(s, 7, r->state.len ? (const void *)r->state.p : "", (int)r->state.len,
                    SQLITE_STATIC);
  if (r->item)
    memcpy(item, r->item, HW_HASH_BYTES);
  else
    hw_checksum_item(item, &r->id, r->state.p, r->state.len);
  sqlite3_bind_blob(s, 8, item, HW_HASH_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(s, 9, (sqlite3_int64)r->marks);
  if ((rc = hw__st_step_done(st, s)) != 0)
    return rc;
  hw_checksum_xor(delta, item);
  return sum_fold(st, delta);
}

int hw_store_next_dot(hw_store *st, hw_dot *out)
{
  uint64_t c;
  int rc;

  memset(out, 0, sizeof *out);
  if (sqlite3_get_autocommit(st->db))
    return HW_EINVAL; /* the bump must commit with the write */
  if (st->restored)
    return HW_EDOTREUSE;
  if (st->unbumped)
    return st->unbumped; /* full or read-only at open: reopen once it can be written */
  rc = hw__st_u64_get(st, "hw.counter", &c);
  if (rc)
    return rc == HW_ENOENT ? HW_ECORRUPT : rc;
  if (c >= (uint64_t)INT64_MAX)
    return HW_ELIMIT;
  rc = hw__st_u64_put(st, "hw.counter", c + 1);
  if (rc)
    return rc;
  st->counter = c + 1;
  out->replica = st->replica;
  out->counter = c + 1;
  return HW_OK;
}

int hw_store_put_write(hw_store *st, const hw_store_rec *r, const hw_dot *dot,
                       const uint8_t digest[static HW_HASH_BYTES])
{
  sqlite3_stmt *s = NULL;
  int rc;

  if (sqlite3_get_autocommit(st->db) || hw_id_cmp(&dot->replica, &st->replica) != 0 ||
      dot->counter != st->counter || dot->counter == 0)
    return HW_EINVAL;
  if (hw_vv_get(&r->vv, &dot->replica) != dot->counter)
    return HW_EINVAL;
  rc = hw_store_savepoint(st);
  if (rc)
    return rc;
  rc = hw_store_put(st, r);
  if (rc == HW_OK)
    rc = hw__st_stmt(st, S_OW_PUT, &s);
  if (rc == HW_OK) {
    sqlite3_bind_blob(s, 1, dot->replica.b, HW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)dot->counter);
    sqlite3_bind_blob(s, 3, r->id.b, HW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, digest, HW_HASH_BYTES, SQLITE_STATIC);
    rc = hw__st_step_done(st, s);
    if (rc == HW_EEXIST)
      rc = HW_EDOTREUSE;
  }
  if (rc) {
    uint64_t keep = st->counter;
    if (hw_store_savepoint_rollback(st) != HW_OK)
      keep = st->counter;
    st->counter = keep; /* the bump belongs to the outer transaction */
    return rc;
  }
  return hw_store_savepoint_release(st);
}

/* Forgotten journal entries (hw_store_journal_forget) live on in their own
 * table, made at the first one (stores made before it have none). Rare:
 * statements are prepared per call. */
static int replaced_step(hw_store *st, const char *sql, const hw_dot *dot, hw_id *record,
                         uint8_t *digest)
{
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);

  if (rc != SQLITE_OK) /* no table yet: nothing was ever forgotten */
    return digest && sqlite3_errcode(st->db) == SQLITE_ERROR ? HW_ENOENT
                                                             : hw__st_from_sqlite(st, rc);
  sqlite3_bind_blob(s, 1, dot->replica.b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)dot->counter);
  rc = sqlite3_step(s);
  if (digest) {
    if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 0) == HW_ID_BYTES &&
        sqlite3_column_bytes(s, 1) == HW_HASH_BYTES) {
      memcpy(record->b, sqlite3_column_blob(s, 0), HW_ID_BYTES);
      memcpy(digest, sqlite3_column_blob(s, 1), HW_HASH_BYTES);
      rc = HW_OK;
    } else {
      rc = rc == SQLITE_ROW    ? HW_ECORRUPT
           : rc == SQLITE_DONE ? HW_ENOENT
                               : hw__st_from_sqlite(st, rc);
    }
  } else {
    rc = rc == SQLITE_DONE ? HW_OK : hw__st_from_sqlite(st, rc);
  }
  sqlite3_finalize(s);
  return rc;
}

int hw_store_journal_forget(hw_store *st, const hw_dot *dot)
{
  sqlite3_stmt *s;
  int rc;

  if (sqlite3_get_autocommit(st->db) || dot->counter > INT64_MAX)
    return HW_EINVAL;
  if ((rc = hw__st_exec(st, "CREATE TABLE IF NOT EXISTS replaced_writes(replica BLOB NOT NULL,"
                            " counter INTEGER NOT NULL, record BLOB NOT NULL, digest BLOB NOT NULL,"
                            " PRIMARY KEY(replica, counter)) WITHOUT ROWID")) != 0 ||
      (rc = replaced_step(st,
                          "INSERT OR REPLACE INTO replaced_writes SELECT replica, counter, record,"
                          " digest FROM own_writes WHERE replica = ?1 AND counter = ?2",
                          dot, NULL, NULL)) != 0)
    return rc;
  if ((rc = hw__st_stmt(st, S_OW_DEL, &s)) != 0)
    return rc;
  sqlite3_bind_blob(s, 1, dot->replica.b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)dot->counter);
  return hw__st_step_done(st, s);
}

int hw_store_journal_replaced(hw_store *st, const hw_dot *dot, hw_id *record,
                              uint8_t digest[static HW_HASH_BYTES])
{
  if (dot->counter > INT64_MAX)
    return HW_ENOENT;
  return replaced_step(st,
                       "SELECT record, digest FROM replaced_writes WHERE replica = ?1 AND"
                       " counter = ?2",
                       dot, record, digest);
}

int hw_store_journal_restore(hw_store *st, const hw_dot *dot)
{
  int rc;

  if (sqlite3_get_autocommit(st->db) || dot->counter > INT64_MAX)
    return HW_EINVAL;
  if ((rc = replaced_step(st,
                          "INSERT OR IGNORE INTO own_writes SELECT replica, counter, record, digest"
                          " FROM replaced_writes WHERE replica = ?1 AND counter = ?2",
                          dot, NULL, NULL)) != 0)
    return rc;
  return replaced_step(st, "DELETE FROM replaced_writes WHERE replica = ?1 AND counter = ?2", dot,
                       NULL, NULL);
}

/* A row of records as a borrowed hw_store_rec (dots in caller storage). */
static int row_rec(sqlite3_stmt *s, hw_store_rec *r, hw_dot *d1, hw_dot *d2)
{
  const void *id = sqlite3_column_blob(s, 0), *cid = sqlite3_column_blob(s, 1);
  int rc;

  memset(r, 0, sizeof *r);
  if (sqlite3_column_bytes(s, 0) != HW_ID_BYTES || sqlite3_column_bytes(s, 1) != HW_ID_BYTES ||
      !id || !cid)
    return HW_ECORRUPT;
  memcpy(r->id.b, id, HW_ID_BYTES);
  memcpy(r->case_id.b, cid, HW_ID_BYTES);
  r->kind.p = sqlite3_column_text(s, 2);
  r->kind.len = (size_t)sqlite3_column_bytes(s, 2);
  rc = hw__st_vv_decode(sqlite3_column_blob(s, 3), (size_t)sqlite3_column_bytes(s, 3), d1, &r->vv);
  if (rc == HW_OK)
    rc = hw__st_vv_decode(sqlite3_column_blob(s, 4), (size_t)sqlite3_column_bytes(s, 4), d2,
                          &r->acked);
  if (rc)
    return rc;
  r->pending = sqlite3_column_int(s, 5) != 0;
  r->state.p = sqlite3_column_blob(s, 6);
  r->state.len = (size_t)sqlite3_column_bytes(s, 6);
  r->marks = (uint32_t)sqlite3_column_int64(s, 7);
  if (!r->kind.p || (r->state.len && !r->state.p))
    return HW_ENOMEM;
  return HW_OK;
}

void hw_store_rec_free(hw_store_rec *r)
{
  hw_free(r);
}

int hw_store_get(hw_store *st, const hw_id *id, hw_store_rec **out)
{
  hw_dot *d1 = NULL;
  hw_store_rec r, *c;
  sqlite3_stmt *s;
  uint8_t *p;
  int rc;

  *out = NULL;
  rc = hw__st_stmt(st, S_GET, &s);
  if (rc)
    return rc;
  d1 = hw_malloc(2 * HW_VV_MAX * sizeof *d1);
  if (!d1)
    return HW_ENOMEM;
  sqlite3_bind_blob(s, 1, id->b, HW_ID_BYTES, SQLITE_STATIC);
  rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) {
    rc = rc == SQLITE_DONE ? HW_ENOENT : hw__st_from_sqlite(st, rc);
    goto out;
  }
  rc = row_rec(s, &r, d1, d1 + HW_VV_MAX);
  if (rc) {
    if (rc == HW_ENOMEM || sqlite3_errcode(st->db) != SQLITE_OK)
      rc = rc == HW_ENOMEM ? HW_ENOMEM : hw__st_from_sqlite(st, sqlite3_errcode(st->db));
    goto out;
  }
  /* One block: the struct, the two vvs, the kind and the state. */
  c = hw_malloc(sizeof *c + (r.vv.n + r.acked.n) * sizeof(hw_dot) + r.kind.len + r.state.len + 1);
  if (!c) {
    rc = HW_ENOMEM;
    goto out;
  }
  *c = r;
  p = (uint8_t *)(c + 1);
  c->vv.e = (hw_dot *)(void *)p;
  memcpy(c->vv.e, r.vv.e, r.vv.n * sizeof(hw_dot));
  c->acked.e = c->vv.e + r.vv.n;
  memcpy(c->acked.e, r.acked.e, r.acked.n * sizeof(hw_dot));
  p = (uint8_t *)(c->acked.e + r.acked.n);
  memcpy(p, r.kind.p, r.kind.len);
  c->kind.p = p;
  p += r.kind.len;
  if (r.state.len)
    memcpy(p, r.state.p, r.state.len);
  c->state.p = p;
  *out = c;
  rc = HW_OK;
out:
  sqlite3_reset(s);
  hw_free(d1);
  return rc;
}

int hw_store_vvs(hw_store *st, const hw_id *id, hw_store_vvs_buf *out)
{
  sqlite3_stmt *s;
  int rc = hw__st_stmt(st, S_VVS, &s);

  out->vv.n = out->acked.n = 0;
  out->vv.e = out->vv_dots;
  out->acked.e = out->acked_dots;
  if (rc)
    return rc;
  sqlite3_bind_blob(s, 1, id->b, HW_ID_BYTES, SQLITE_STATIC);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    rc = hw__st_vv_decode(sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0),
                          out->vv_dots, &out->vv);
    if (rc == HW_OK)
      rc = hw__st_vv_decode(sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1),
                            out->acked_dots, &out->acked);
  } else {
    rc = rc == SQLITE_DONE ? HW_ENOENT : hw__st_from_sqlite(st, rc);
  }
  sqlite3_reset(s);
  return rc;
}

int hw_store_ack(hw_store *st, const hw_id *id, const hw_vv *acked)
{
  uint8_t enc[HW_VV_MAX * VV_ENTRY];
  hw_store_vvs_buf *cur;
  sqlite3_stmt *s = NULL;
  int rc;

  if (acked->n > HW_VV_MAX)
    return HW_ELIMIT;
  if (hw_vv_check(acked) != HW_OK)
    return HW_EPROTO;
  if (!(cur = hw_malloc(sizeof *cur)))
    return HW_ENOMEM;
  rc = hw_store_vvs(st, id, cur);
  if (rc == HW_OK)
    rc = hw__st_stmt(st, S_ACK, &s);
  if (rc == HW_OK) {
    hw__st_vv_encode(acked, enc);
    sqlite3_bind_blob(s, 1, id->b, HW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, enc, (int)(acked->n * VV_ENTRY), SQLITE_STATIC);
    sqlite3_bind_int(s, 3, !hw_vv_covers(acked, &cur->vv));
    rc = hw__st_step_done(st, s);
  }
  hw_free(cur);
  return rc;
}

static int walk(hw_store *st, sqlite3_stmt *s, hw_store_rec_cb cb, void *ud)
{
  hw_dot *d = hw_malloc(2 * HW_VV_MAX * sizeof *d);
  hw_store_rec r;
  int rc;

  if (!d) {
    sqlite3_reset(s);
    return HW_ENOMEM;
  }
  for (;;) {
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
      rc = HW_OK;
      break;
    }
    if (rc != SQLITE_ROW) {
      rc = hw__st_from_sqlite(st, rc);
      break;
    }
    rc = row_rec(s, &r, d, d + HW_VV_MAX);
    if (rc == HW_OK)
      rc = cb(ud, &r);
    if (rc)
      break;
  }
  sqlite3_reset(s);
  hw_free(d);
  return rc;
}

int hw_store_list_case(hw_store *st, const hw_id *case_id, hw_store_rec_cb cb, void *ud)
{
  sqlite3_stmt *s;
  int rc = hw__st_stmt(st, S_LIST_CASE, &s);
  if (rc)
    return rc;
  sqlite3_bind_blob(s, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  return walk(st, s, cb, ud);
}

/* Walk the rows of a statement that takes no parameters. */
static int list_rows(hw_store *st, int which, hw_store_rec_cb cb, void *ud)
{
  sqlite3_stmt *s;
  int rc = hw__st_stmt(st, which, &s);
  return rc ? rc : walk(st, s, cb, ud);
}

int hw_store_list_pending(hw_store *st, hw_store_rec_cb cb, void *ud)
{
  return list_rows(st, S_LIST_PENDING, cb, ud);
}

int hw_store_list_all(hw_store *st, hw_store_rec_cb cb, void *ud)
{
  return list_rows(st, S_LIST_ALL, cb, ud);
}

int hw_store_list_marked(hw_store *st, hw_store_rec_cb cb, void *ud)
{
  return list_rows(st, S_MARKED, cb, ud);
}

int hw_store_set_marks(hw_store *st, const hw_id *id, uint32_t marks)
{
  sqlite3_stmt *s;
  int rc = hw__st_stmt(st, S_SET_MARKS, &s);

  if (rc)
    return rc;
  sqlite3_bind_blob(s, 1, id->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)marks);
  if ((rc = hw__st_step_done(st, s)) != 0)
    return rc;
  return sqlite3_changes(st->db) ? HW_OK : HW_ENOENT;
}

int hw_store_forget_marks(hw_store *st)
{
  sqlite3_stmt *s;
  int rc = hw__st_stmt(st, S_FORGET_MARKS, &s);
  return rc ? rc : hw__st_step_done(st, s);
}

/* The one count a bound count(*) statement gives. */
static int count_of(hw_store *st, sqlite3_stmt *s, uint64_t *n)
{
  int rc = sqlite3_step(s);

  if (rc == SQLITE_ROW) {
    *n = (uint64_t)sqlite3_column_int64(s, 0);
    rc = HW_OK;
  } else {
    rc = hw__st_from_sqlite(st, rc);
  }
  sqlite3_reset(s);
  return rc;
}

int hw_store_count(hw_store *st, uint64_t *n)
{
  sqlite3_stmt *s;
  int rc = hw__st_stmt(st, S_COUNT, &s);

  *n = 0;
  return rc ? rc : count_of(st, s, n);
}

static int delete_case(hw_store *st, const hw_id *case_id, uint64_t *deleted, uint64_t *kept);

int hw_store_delete_case(hw_store *st, const hw_id *case_id, uint64_t *deleted, uint64_t *kept)
{
  bool own;
  int rc;

  *deleted = *kept = 0;
  if ((rc = sum_begin(st, &own)) != 0)
    return rc;
  return sum_end(st, own, delete_case(st, case_id, deleted, kept));
}

static int delete_case(hw_store *st, const hw_id *case_id, uint64_t *deleted, uint64_t *kept)
{
  uint8_t delta[HW_HASH_BYTES] = {0};
  sqlite3_stmt *s;
  int rc = hw__st_stmt(st, S_DEL_CASE_ITEMS, &s);

  if (rc)
    return rc;
  sqlite3_bind_blob(s, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const void *it = sqlite3_column_blob(s, 0);
    if (sqlite3_column_bytes(s, 0) != HW_HASH_BYTES || !it)
      break;
    hw_checksum_xor(delta, it);
  }
  rc = rc == SQLITE_DONE ? HW_OK : rc == SQLITE_ROW ? HW_ECORRUPT : hw__st_from_sqlite(st, rc);
  sqlite3_reset(s);
  if (rc || (rc = hw__st_stmt(st, S_DEL_CASE, &s)) != 0)
    return rc;
  sqlite3_bind_blob(s, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  if ((rc = hw__st_step_done(st, s)) != 0)
    return rc;
  *deleted = (uint64_t)sqlite3_changes(hw_store_sqlite(st));
  /* The sum loses the rows once they are gone. */
  if ((rc = sum_fold(st, delta)) != 0)
    return rc;
  if ((rc = hw__st_stmt(st, S_COUNT_CASE, &s)) != 0)
    return rc;
  sqlite3_bind_blob(s, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  return count_of(st, s, kept);
}

static int delete_one(hw_store *st, const hw_id *id)
{
  hw_store_rec key = {.id = *id}; /* no kind: the row's identity is not checked */
  uint8_t item[HW_HASH_BYTES];
  sqlite3_stmt *s;
  bool found;
  int rc = row_item(st, &key, &found, item);

  if (rc)
    return rc;
  if (!found)
    return HW_ENOENT;
  if ((rc = hw__st_stmt(st, S_DEL_ONE, &s)) != 0)
    return rc;
  sqlite3_bind_blob(s, 1, id->b, HW_ID_BYTES, SQLITE_STATIC);
  return (rc = hw__st_step_done(st, s)) != 0 ? rc : sum_fold(st, item);
}

int hw_store_delete(hw_store *st, const hw_id *id)
{
  bool own;
  int rc = sum_begin(st, &own);
  return rc ? rc : sum_end(st, own, delete_one(st, id));
}
