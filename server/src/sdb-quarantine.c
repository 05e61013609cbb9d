/* Quarantined states and the coordinators' decisions on them (sdb-int.h).
 * Rare operations: statements are prepared per call. */
#include <stdio.h>
#include <string.h>

#include "homeward/checksum.h"
#include "homeward/mem.h"
#include "sdb-int.h"

static void copy_text(sqlite3_stmt *st, int col, char *out, size_t cap)
{
  const unsigned char *t = sqlite3_column_text(st, col);
  snprintf(out, cap, "%s", t ? (const char *)t : "");
}

#define Q_COLUMNS                                                                                  \
  "q.id, q.record_id, q.device_key, q.reason, q.received_ms, d.decision, d.actor, d.time_ms"

/* Fill `q` from a row of Q_COLUMNS. */
static int row(sqlite3_stmt *st, hw_sdb_quarantined *q)
{
  memset(q, 0, sizeof *q);
  q->id = sqlite3_column_int64(st, 0);
  if (sqlite3_column_bytes(st, 1) != HW_ID_BYTES)
    return HW_ECORRUPT;
  memcpy(q->record.b, sqlite3_column_blob(st, 1), HW_ID_BYTES);
  if (sqlite3_column_type(st, 2) == SQLITE_BLOB) {
    if (sqlite3_column_bytes(st, 2) != HW_DEVICE_KEY_BYTES)
      return HW_ECORRUPT;
    memcpy(q->device_key, sqlite3_column_blob(st, 2), HW_DEVICE_KEY_BYTES);
    q->has_device = true;
  }
  copy_text(st, 3, q->reason, sizeof q->reason);
  q->received_ms = sqlite3_column_int64(st, 4);
  copy_text(st, 5, q->decision, sizeof q->decision);
  copy_text(st, 6, q->decided_by, sizeof q->decided_by);
  q->decided_ms = sqlite3_column_int64(st, 7);
  return HW_OK;
}

int hw_sdb_quarantine_waiting(hw_sdb *s, const uint8_t *device_key, size_t key_len, size_t cap,
                              size_t *n)
{
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(hw__sdb_sqlite(s),
                              "SELECT count(*) FROM (SELECT 1 FROM srv_quarantine q"
                              " WHERE q.device_key = ?1 AND NOT EXISTS (SELECT 1 FROM"
                              " srv_quarantine_decided d WHERE d.qid = q.id) LIMIT ?2)",
                              -1, &st, NULL);

  *n = 0;
  if (rc != SQLITE_OK)
    return hw__sdb_rc(rc);
  sqlite3_bind_blob(st, 1, device_key, (int)key_len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)cap);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *n = (size_t)sqlite3_column_int64(st, 0);
    rc = HW_OK;
  } else {
    rc = hw__sdb_rc(rc);
  }
  sqlite3_finalize(st);
  return rc;
}

int hw_sdb_quarantine_get(hw_sdb *s, int64_t id, hw_sdb_quarantined *out)
{
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(hw__sdb_sqlite(s),
                              "SELECT " Q_COLUMNS ", q.state FROM srv_quarantine q"
                              " LEFT JOIN srv_quarantine_decided d ON d.qid = q.id WHERE q.id = ?1",
                              -1, &st, NULL);

  memset(out, 0, sizeof *out);
  if (rc != SQLITE_OK)
    return hw__sdb_rc(rc);
  sqlite3_bind_int64(st, 1, id);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    size_t n = (size_t)sqlite3_column_bytes(st, 8);
    rc = row(st, out);
    if (rc == HW_OK && !(out->state = hw_memdup(n ? sqlite3_column_blob(st, 8) : "", n ? n : 1)))
      rc = HW_ENOMEM;
    out->len = n;
  } else {
    rc = rc == SQLITE_DONE ? HW_ENOENT : hw__sdb_rc(rc);
  }
  sqlite3_finalize(st);
  if (rc) {
    hw_free(out->state);
    memset(out, 0, sizeof *out);
  }
  return rc;
}

int hw_sdb_quarantine_list(hw_sdb *s, int64_t after, bool waiting_only, size_t max,
                           hw_sdb_quarantine_cb cb, void *ud)
{
  sqlite3_stmt *st;
  hw_sdb_quarantined q;
  int rc = sqlite3_prepare_v2(hw__sdb_sqlite(s),
                              "SELECT " Q_COLUMNS " FROM srv_quarantine q"
                              " LEFT JOIN srv_quarantine_decided d ON d.qid = q.id"
                              " WHERE q.id > ?1 AND (?2 = 0 OR d.qid IS NULL)"
                              " ORDER BY q.id LIMIT ?3",
                              -1, &st, NULL);

  if (rc != SQLITE_OK)
    return hw__sdb_rc(rc);
  sqlite3_bind_int64(st, 1, after);
  sqlite3_bind_int(st, 2, waiting_only);
  sqlite3_bind_int64(st, 3, max > INT64_MAX ? INT64_MAX : (sqlite3_int64)max);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    if ((rc = row(st, &q)) != 0 || (rc = cb(&q, ud)) != 0)
      break;
  rc = rc == SQLITE_DONE ? HW_OK : rc > 0 ? hw__sdb_rc(rc) : rc;
  sqlite3_finalize(st);
  return rc;
}

int hw_sdb_quarantine_decide(hw_sdb *s, int64_t id, const char *decision, const char *actor,
                             int64_t now_ms, uint64_t seq)
{
  sqlite3_stmt *st;
  int rc;

  if (seq > INT64_MAX)
    return HW_ELIMIT;
  rc = sqlite3_prepare_v2(hw__sdb_sqlite(s),
                          "INSERT INTO srv_quarantine_decided(qid, seq, decision, actor, time_ms)"
                          " VALUES (?1, ?2, ?3, ?4, ?5)",
                          -1, &st, NULL);
  if (rc != SQLITE_OK)
    return hw__sdb_rc(rc);
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
  sqlite3_bind_text(st, 3, decision, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, actor, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, now_ms);
  rc = hw__sdb_rc(sqlite3_step(st));
  sqlite3_finalize(st);
  return rc;
}

int hw_sdb_decisions_after(hw_sdb *s, const uint8_t key[static HW_DEVICE_KEY_BYTES],
                           uint64_t after, size_t max, hw_sdb_decision_cb cb, void *ud)
{
  sqlite3_stmt *st;
  int rc;

  if (after > INT64_MAX)
    return HW_OK;
  rc = sqlite3_prepare_v2(hw__sdb_sqlite(s),
                          "SELECT d.seq, q.record_id, q.state FROM srv_quarantine q"
                          " JOIN srv_quarantine_decided d ON d.qid = q.id"
                          " WHERE q.device_key = ?1 AND d.seq > ?2 ORDER BY d.seq LIMIT ?3",
                          -1, &st, NULL);
  if (rc != SQLITE_OK)
    return hw__sdb_rc(rc);
  sqlite3_bind_blob(st, 1, key, HW_DEVICE_KEY_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    hw_id rec;
    uint8_t item[HW_HASH_BYTES];
    if (sqlite3_column_bytes(st, 1) != HW_ID_BYTES) {
      rc = HW_ECORRUPT;
      break;
    }
    memcpy(rec.b, sqlite3_column_blob(st, 1), HW_ID_BYTES);
    hw_checksum_item(item, &rec, sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2));
    if ((rc = cb((uint64_t)sqlite3_column_int64(st, 0), &rec, item, ud)) != 0)
      break;
  }
  rc = rc == SQLITE_DONE ? HW_OK : rc > 0 ? hw__sdb_rc(rc) : rc;
  sqlite3_finalize(st);
  return rc;
}
