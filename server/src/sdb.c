/* The server's database: schema, prepared statements, transactions, the
 * meta table and the per-job cache (see sdb-int.h). The sdb*.c files are
 * the only ones in server/ that call SQLite. */
#include "sdb-priv.h"

#include <stdbool.h>
#include <string.h>

#include "homeward/checksum.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"

/* 2: coordinators' quarantine decisions; 3: each record's worker; 4: records
 * and history appended in rowid order; 5: lineage marks. */
#define SCHEMA_VERSION 5

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS srv_meta(key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;"
    /* A record's row is keyed by its sequence number, so every write
     * appends to the table's last page; keyed by its random id (schema 1
     * and 2, WITHOUT ROWID), each write of a ~1 KB state dirtied a page of
     * its own: 17 KB written per record pushed. The id index holds small
     * entries. (case_id) and (worker) index entries end with the rowid, seq:
     * they list a case's or a worker's records in sequence order. */
    "CREATE TABLE IF NOT EXISTS srv_records(seq INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE,"
    "  case_id BLOB NOT NULL, kind TEXT NOT NULL, state BLOB NOT NULL, worker TEXT);"
    "CREATE INDEX IF NOT EXISTS srv_records_case ON srv_records(case_id);"
    "CREATE TABLE IF NOT EXISTS srv_dots(replica BLOB NOT NULL, counter INTEGER NOT NULL,"
    "  record_id BLOB NOT NULL, digest BLOB NOT NULL, PRIMARY KEY(replica, counter))"
    "  WITHOUT ROWID;"
    /* Appended too; a write is known by its dot alone, which a replica
     * numbers in order, so its unique index grows at its end as well. */
    "CREATE TABLE IF NOT EXISTS srv_history(id INTEGER PRIMARY KEY, record_id BLOB NOT NULL,"
    "  replica BLOB NOT NULL, counter INTEGER NOT NULL, fields BLOB NOT NULL,"
    "  UNIQUE(replica, counter));"
    "CREATE TABLE IF NOT EXISTS srv_audit(seq INTEGER PRIMARY KEY, entry BLOB NOT NULL,"
    "  hash BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS srv_devices(key BLOB PRIMARY KEY, worker TEXT NOT NULL,"
    "  role TEXT NOT NULL, status TEXT NOT NULL, enrolled_ms INTEGER NOT NULL,"
    "  revoked_ms INTEGER) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS srv_replicas(replica BLOB PRIMARY KEY, device_key BLOB NOT NULL,"
    "  inherits BLOB, created_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS srv_replicas_device ON srv_replicas(device_key);"
    "CREATE TABLE IF NOT EXISTS srv_invitations(token_hash BLOB PRIMARY KEY, worker TEXT NOT NULL,"
    "  role TEXT NOT NULL, expires_ms INTEGER NOT NULL, used_by BLOB) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS srv_assign(case_id BLOB PRIMARY KEY, worker TEXT NOT NULL,"
    "  seq INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS srv_assign_worker ON srv_assign(worker);"
    "CREATE TABLE IF NOT EXISTS srv_assign_log(seq INTEGER PRIMARY KEY, case_id BLOB NOT NULL,"
    "  from_worker TEXT, to_worker TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS srv_assign_log_from ON srv_assign_log(from_worker, seq);"
    "CREATE INDEX IF NOT EXISTS srv_assign_log_to ON srv_assign_log(to_worker, seq);"
    "CREATE TABLE IF NOT EXISTS srv_held(case_id BLOB NOT NULL, worker TEXT NOT NULL,"
    "  PRIMARY KEY(case_id, worker)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS srv_region(coordinator TEXT NOT NULL, worker TEXT NOT NULL,"
    "  PRIMARY KEY(coordinator, worker)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS srv_wsum(worker TEXT PRIMARY KEY, sum BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS srv_flags(id INTEGER PRIMARY KEY, case_id BLOB NOT NULL,"
    "  worker TEXT NOT NULL, reason TEXT NOT NULL, time_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS srv_quarantine(id INTEGER PRIMARY KEY, record_id BLOB NOT NULL,"
    "  device_key BLOB, reason TEXT NOT NULL, state BLOB NOT NULL, received_ms INTEGER NOT NULL,"
    "  decided_ms INTEGER, decision TEXT);"
    "CREATE INDEX IF NOT EXISTS srv_quarantine_device ON srv_quarantine(device_key);"
    /* A coordinator's decision on a quarantined state (sdb-quarantine.c),
     * numbered in the record sequence so the device that holds it hears in
     * order. (srv_quarantine's decided_ms and decision were never used.) */
    "CREATE TABLE IF NOT EXISTS srv_quarantine_decided(qid INTEGER PRIMARY KEY,"
    "  seq INTEGER NOT NULL UNIQUE, decision TEXT NOT NULL, actor TEXT NOT NULL,"
    "  time_ms INTEGER NOT NULL);"
    /* Each record carries its case's worker (NULL: nobody holds the case),
     * so a pull reads the worker's changes after its cursor from one index
     * range instead of probing every case of the caseload and sorting all
     * their changes, at every batch (schema 1 and 2 did). Put with the
     * record (ST_REC_PUT) and moved with the case by hw_sdb_assign_set,
     * srv_assign's one writer.
     * (Not by a trigger: a trigger makes the assignment a statement that
     * needs a statement journal, and releasing one walks the in-memory
     * sub-journal of the job's savepoint from its start: that walk was a
     * fifth of the storage thread's time in a push of new cases.) */
    "CREATE INDEX IF NOT EXISTS srv_records_worker ON srv_records(worker);"
    /* Per replica, a lineage a hello matched (counter, digest): the next
     * hello folds the accepted dots after it only, not the replica's whole
     * history. A dot accepted at or below it drops it (hw_sdb_dot_put). */
    "CREATE TABLE IF NOT EXISTS srv_lineage_mark(replica BLOB PRIMARY KEY,"
    "  counter INTEGER NOT NULL, digest BLOB NOT NULL) WITHOUT ROWID;";

/* Schema 4 for a database made before it: the two tables rebuilt in their
 * new layout (their old indexes go with the old tables; the schema then
 * makes the new ones), each record given its case's worker. */
static const char rebuild_v4[] =
    /* Schema 3 as first built moved the worker by triggers naming the
     * table: they would stop its rename. */
    "DROP TRIGGER IF EXISTS srv_assign_worker_in;"
    "DROP TRIGGER IF EXISTS srv_assign_worker_up;"
    "DROP TRIGGER IF EXISTS srv_assign_worker_out;"
    "CREATE TABLE srv_records_v4(seq INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE,"
    "  case_id BLOB NOT NULL, kind TEXT NOT NULL, state BLOB NOT NULL, worker TEXT);"
    "INSERT INTO srv_records_v4(seq, id, case_id, kind, state, worker)"
    "  SELECT r.seq, r.id, r.case_id, r.kind, r.state,"
    "  (SELECT a.worker FROM srv_assign a WHERE a.case_id = r.case_id)"
    "  FROM srv_records r ORDER BY r.seq;"
    "DROP TABLE srv_records;"
    "ALTER TABLE srv_records_v4 RENAME TO srv_records;"
    "CREATE TABLE srv_history_v4(id INTEGER PRIMARY KEY, record_id BLOB NOT NULL,"
    "  replica BLOB NOT NULL, counter INTEGER NOT NULL, fields BLOB NOT NULL,"
    "  UNIQUE(replica, counter));"
    "INSERT INTO srv_history_v4(record_id, replica, counter, fields)"
    "  SELECT record_id, replica, counter, fields FROM srv_history;"
    "DROP TABLE srv_history;"
    "ALTER TABLE srv_history_v4 RENAME TO srv_history;";


static const char *const sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_SAVEPOINT] = "SAVEPOINT job",
    [ST_RELEASE] = "RELEASE job",
    [ST_ROLLBACK_TO] = "ROLLBACK TO job",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_META_GET] = "SELECT value FROM srv_meta WHERE key = ?1",
    [ST_META_PUT] = "INSERT INTO srv_meta(key, value) VALUES (?1, ?2)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [ST_REC_GET] = "SELECT state FROM srv_records WHERE id = ?1",
    /* A new state is a new row at the end (ST_REC_DEL takes the old one):
     * two single-row statements, neither needing a statement journal. */
    [ST_REC_DEL] = "DELETE FROM srv_records WHERE id = ?1",
    [ST_REC_PUT] = "INSERT INTO srv_records(id, case_id, kind, seq, state, worker)"
                   " VALUES (?1, ?2, ?3, ?4, ?5,"
                   " (SELECT worker FROM srv_assign WHERE case_id = ?2))",
    [ST_DOT_GET] = "SELECT record_id, digest FROM srv_dots WHERE replica = ?1 AND counter = ?2",
    [ST_DOT_PUT] = "INSERT INTO srv_dots(replica, counter, record_id, digest)"
                   " VALUES (?1, ?2, ?3, ?4)",
    [ST_DOTS_UPTO] = "SELECT counter, record_id, digest FROM srv_dots WHERE replica = ?1"
                     " AND counter > ?3 AND counter <= ?2 ORDER BY counter",
    [ST_MARK_GET] = "SELECT counter, digest FROM srv_lineage_mark WHERE replica = ?1",
    [ST_MARK_PUT] = "INSERT INTO srv_lineage_mark(replica, counter, digest) VALUES (?1, ?2, ?3)"
                    " ON CONFLICT(replica) DO UPDATE SET counter = excluded.counter,"
                    " digest = excluded.digest",
    [ST_MARK_DROP] = "DELETE FROM srv_lineage_mark WHERE replica = ?1 AND counter >= ?2",
    [ST_DOTS_AFTER] = "SELECT counter, record_id, digest FROM srv_dots WHERE replica = ?1"
                      " AND counter > ?2 ORDER BY counter LIMIT ?3",
    [ST_HIST_PUT] = "INSERT OR IGNORE INTO srv_history(record_id, replica, counter, fields)"
                  " VALUES (?1, ?2, ?3, ?4)",
    [ST_AUDIT_LAST] = "SELECT seq, hash FROM srv_audit ORDER BY seq DESC LIMIT 1",
    [ST_AUDIT_PUT] = "INSERT INTO srv_audit(seq, entry, hash) VALUES (?1, ?2, ?3)",
    [ST_AUDIT_ALL] = "SELECT seq, entry, hash FROM srv_audit ORDER BY seq",
    [ST_QUAR_PUT] = "INSERT INTO srv_quarantine(record_id, device_key, reason, state, received_ms)"
                    " VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_DEV_GET] = "SELECT worker, role, status FROM srv_devices WHERE key = ?1",
    [ST_DEV_PUT] = "INSERT INTO srv_devices(key, worker, role, status, enrolled_ms)"
                   " VALUES (?1, ?2, ?3, 'active', ?4)",
    [ST_DEV_STATUS] = "UPDATE srv_devices SET status = ?2, revoked_ms = ?3 WHERE key = ?1",
    [ST_REP_GET] = "SELECT device_key FROM srv_replicas WHERE replica = ?1",
    [ST_REP_PUT] = "INSERT INTO srv_replicas(replica, device_key, inherits, created_ms)"
                   " VALUES (?1, ?2, ?3, ?4)",
    [ST_REP_LIST] = "SELECT replica FROM srv_replicas WHERE device_key = ?1 ORDER BY created_ms",
    [ST_INV_PUT] = "INSERT INTO srv_invitations(token_hash, worker, role, expires_ms)"
                   " VALUES (?1, ?2, ?3, ?4)",
    [ST_INV_GET] = "SELECT worker, role, expires_ms, used_by FROM srv_invitations"
                   " WHERE token_hash = ?1",
    [ST_INV_USE] = "UPDATE srv_invitations SET used_by = ?2 WHERE token_hash = ?1",
    /* Void: expired at 0, so hw_sdb_invitation_use refuses it (the row
     * stays: the name was still invited, with its role). */
    [ST_INV_VOID] = "UPDATE srv_invitations SET expires_ms = 0"
                    " WHERE used_by IS NULL AND expires_ms > ?1",
    [ST_INV_VOID_WORKER] = "UPDATE srv_invitations SET expires_ms = 0"
                           " WHERE used_by IS NULL AND expires_ms > ?1 AND worker = ?2",
    [ST_INV_LIST] = "SELECT worker, role, expires_ms FROM srv_invitations"
                    " WHERE used_by IS NULL AND expires_ms > ?1 ORDER BY expires_ms, worker",
    [ST_REC_COUNT] = "SELECT count(*) FROM srv_records",
    [ST_ASSIGN_GET] = "SELECT worker FROM srv_assign WHERE case_id = ?1",
    [ST_REC_WORKER] = "UPDATE srv_records SET worker = ?2 WHERE case_id = ?1",
    [ST_ASSIGN_PUT] = "INSERT INTO srv_assign(case_id, worker, seq) VALUES (?1, ?2, ?3)"
                      " ON CONFLICT(case_id) DO UPDATE SET worker = excluded.worker,"
                      " seq = excluded.seq",
    [ST_ASSIGN_LOG] = "INSERT INTO srv_assign_log(seq, case_id, from_worker, to_worker)"
                      " VALUES (?1, ?2, ?3, ?4)",
    [ST_HELD_PUT] = "INSERT OR IGNORE INTO srv_held(case_id, worker) VALUES (?1, ?2)",
    /* A coordinator held a case before when a worker of her region did:
     * she saw it through them, and may have edited it offline. */
    [ST_HELD_GET] = "SELECT 1 FROM srv_held WHERE case_id = ?1 AND (worker = ?2 OR worker IN"
                    " (SELECT worker FROM srv_region WHERE coordinator = ?2)) LIMIT 1",
    [ST_REGION_PUT] = "INSERT OR IGNORE INTO srv_region(coordinator, worker) VALUES (?1, ?2)",
    [ST_REGION_LIST] = "SELECT worker FROM srv_region WHERE coordinator = ?1 ORDER BY worker",
    [ST_REGION_DEL] = "DELETE FROM srv_region WHERE coordinator = ?1 AND worker = ?2",
    /* A coordinator leaving a worker's region keeps having held (seen) the
     * cases the worker holds and held: her offline edits of them are late
     * edits. (srv_held lists former holders only.) */
    [ST_HELD_INHERIT] = "INSERT OR IGNORE INTO srv_held(case_id, worker)"
                        " SELECT case_id, ?1 FROM srv_held WHERE worker = ?2"
                        " UNION SELECT case_id, ?1 FROM srv_assign WHERE worker = ?2",
    [ST_WSUM_GET] = "SELECT sum FROM srv_wsum WHERE worker = ?1",
    [ST_WSUM_PUT] = "INSERT INTO srv_wsum(worker, sum) VALUES (?1, ?2)"
                    " ON CONFLICT(worker) DO UPDATE SET sum = excluded.sum",
    [ST_CASE_RECORDS] = "SELECT seq, case_id, state FROM srv_records WHERE case_id = ?1"
                        " ORDER BY seq",
    /* One range of the (worker) index, whose entries end with the seq; the
     * states are read for the rows returned only. */
    [ST_LOAD_AFTER] = "SELECT seq, case_id, state FROM srv_records INDEXED BY srv_records_worker"
                      " WHERE worker = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    /* The same range from the index alone (its entries end with the seq),
     * and a row's case and state by its seq: for a pull that passes over
     * rows it sends nothing of (this session's own writes after a push). */
    [ST_SEQS_AFTER] = "SELECT seq FROM srv_records INDEXED BY srv_records_worker"
                      " WHERE worker = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    [ST_REC_BY_SEQ] = "SELECT case_id, state FROM srv_records WHERE seq = ?1",
    /* Two ordered index ranges of at most ?3 rows each, merged: with an OR,
     * SQLite read every later event of the worker and sorted them all at each
     * pull batch (100k cases: a fifth of the storage thread in a pull). */
    [ST_EVENTS_AFTER] = "SELECT seq, case_id, from_worker, to_worker FROM ("
                        " SELECT * FROM (SELECT seq, case_id, from_worker, to_worker"
                        "  FROM srv_assign_log WHERE from_worker = ?1 AND seq > ?2"
                        "  ORDER BY seq LIMIT ?3)"
                        " UNION ALL"
                        " SELECT * FROM (SELECT seq, case_id, from_worker, to_worker"
                        "  FROM srv_assign_log WHERE to_worker = ?1 AND seq > ?2"
                        "  AND from_worker IS NOT ?1 ORDER BY seq LIMIT ?3))"
                        " ORDER BY seq LIMIT ?3",
    [ST_CASELOAD] = "SELECT a.case_id, (SELECT count(*) FROM srv_records r WHERE"
                    " r.case_id = a.case_id), (SELECT count(*) FROM srv_flags f WHERE"
                    " f.case_id = a.case_id) FROM srv_assign a WHERE a.worker = ?1"
                    " ORDER BY a.case_id",
    [ST_FLAG_PUT] = "INSERT INTO srv_flags(case_id, worker, reason, time_ms)"
                    " VALUES (?1, ?2, ?3, ?4)",
    [ST_FLAG_DEL] = "DELETE FROM srv_flags WHERE case_id = ?1",
    /* Flagged cases with their holder now (flags name the holder when
     * flagged), oldest mark first. */
    [ST_FLAG_LIST] = "SELECT f.case_id, a.worker, count(*), min(f.time_ms) FROM srv_flags f"
                     " LEFT JOIN srv_assign a ON a.case_id = f.case_id GROUP BY f.case_id"
                     " ORDER BY min(f.time_ms), f.case_id",
    /* A worker's flagged cases, for her devices (flags are few: a scan). */
    [ST_FLAGGED_OF] = "SELECT DISTINCT f.case_id FROM srv_flags f JOIN srv_assign a"
                      " ON a.case_id = f.case_id WHERE a.worker = ?1 ORDER BY f.case_id"
                      " LIMIT ?2",
    [ST_DEV_LIST] = "SELECT key, worker, role, status FROM srv_devices ORDER BY worker",
    /* Every case the server knows, for an administrator's short case id
     * (a command now and then: a walk of the case index). */
    [ST_CASE_IDS] = "SELECT case_id FROM srv_assign UNION SELECT case_id FROM srv_records",
    [ST_DEV_BY_PREFIX] = "SELECT key FROM srv_devices WHERE hex(key) LIKE ?1 || '%'",
    [ST_PERSON_ROLES] = "SELECT role FROM srv_devices WHERE worker = ?1"
                        " UNION SELECT role FROM srv_invitations WHERE worker = ?1",
    [ST_REC_AFTER] = "SELECT seq, case_id, state FROM srv_records WHERE seq > ?1 ORDER BY seq"
                     " LIMIT ?2",
};


int hw__sdb_from_sqlite(int rc)
{
  /* The encrypting VFS's answer to a page that failed authentication. */
  if (rc == SQLITE_IOERR_DATA)
    return HW_ETAMPER;
  switch (rc & 0xff) {
  case SQLITE_OK:
  case SQLITE_DONE:
  case SQLITE_ROW:
    return HW_OK;
  case SQLITE_NOMEM:
    return HW_ENOMEM;
  case SQLITE_FULL:
    return HW_ENOSPC;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return HW_EBUSY;
  case SQLITE_CONSTRAINT:
    return HW_EEXIST;
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    return HW_ECORRUPT;
  default:
    return HW_EIO;
  }
}

/* End a walk over a statement's rows: SQLITE_DONE is success, another
 * SQLite code is mapped, an HW_ code from the walk is kept; the statement
 * is reset and unbound for its next use. */
int hw__sdb_walk_end(sqlite3_stmt *st, int rc)
{
  rc = rc == SQLITE_DONE ? HW_OK : rc > 0 ? hw__sdb_from_sqlite(rc) : rc;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

sqlite3 *hw__sdb_sqlite(hw_sdb *s)
{
  return s->db;
}

int hw__sdb_rc(int rc)
{
  return hw__sdb_from_sqlite(rc);
}

void hw_sdb_close(hw_sdb *s)
{
  if (!s)
    return;
  for (int i = 0; i < ST_COUNT; i++)
    sqlite3_finalize(s->st[i]);
  hw_free(s);
}

/* The server's schema version lives in its own table: the database's
 * user_version belongs to the store. */
/* Whether srv_records exists in the layout of schema 1 or 2 (keyed by id,
 * seq an ordinary column). */
static bool records_old_layout(sqlite3 *db)
{
  sqlite3_stmt *q = NULL;
  bool old = false;

  if (sqlite3_prepare_v2(db,
                         "SELECT (SELECT count(*) FROM pragma_table_info('srv_records')),"
                         " (SELECT count(*) FROM pragma_table_info('srv_records')"
                         " WHERE name = 'seq' AND pk = 1)",
                         -1, &q, NULL) == SQLITE_OK &&
      sqlite3_step(q) == SQLITE_ROW)
    old = sqlite3_column_int(q, 0) > 0 && sqlite3_column_int(q, 1) == 0;
  sqlite3_finalize(q);
  return old;
}

static int schema_version(sqlite3 *db, int *version)
{
  sqlite3_stmt *v = NULL;
  int rc = sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS srv_schema(version INTEGER NOT NULL)", NULL,
                        NULL, NULL);

  *version = 0;
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(db, "SELECT max(version) FROM srv_schema", -1, &v, NULL);
  if (rc == SQLITE_OK && sqlite3_step(v) == SQLITE_ROW)
    *version = sqlite3_column_int(v, 0);
  sqlite3_finalize(v);
  return rc;
}

int hw_sdb_open(hw_sdb **out, sqlite3 *db)
{
  hw_sdb *s;
  int rc, version = 0;

  *out = NULL;
  if ((rc = schema_version(db, &version)) != SQLITE_OK)
    return hw__sdb_from_sqlite(rc);
  if (version > SCHEMA_VERSION)
    return HW_EVERSION;
  if (version < SCHEMA_VERSION) {
    rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK && records_old_layout(db))
      rc = sqlite3_exec(db, rebuild_v4, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
      rc = sqlite3_exec(db, schema, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
      rc = sqlite3_exec(db, "DELETE FROM srv_schema; INSERT INTO srv_schema VALUES (5)", NULL, NULL,
                        NULL);
    if (rc == SQLITE_OK)
      rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      return hw__sdb_from_sqlite(rc);
    }
  }
  s = hw_calloc(1, sizeof *s);
  if (!s)
    return HW_ENOMEM;
  s->db = db;
  for (int i = 0; i < ST_COUNT; i++) {
    rc = sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
    if (rc != SQLITE_OK) {
      hw_sdb_close(s);
      return hw__sdb_from_sqlite(rc);
    }
  }
  *out = s;
  return HW_OK;
}

/* Run a statement that returns no rows. */
int hw__sdb_exec_st(hw_sdb *s, int which)
{
  sqlite3_stmt *st = s->st[which];
  int rc = sqlite3_step(st);

  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_DONE ? HW_OK : hw__sdb_from_sqlite(rc == SQLITE_ROW ? SQLITE_MISUSE : rc);
}

static int op_begin(void *d)
{
  return hw__sdb_exec_st(d, ST_BEGIN);
}
static int op_savepoint(void *d)
{
  return hw__sdb_exec_st(d, ST_SAVEPOINT);
}
static int op_release(void *d)
{
  return hw__sdb_exec_st(d, ST_RELEASE);
}
static int op_rollback_to(void *d)
{
  /* ROLLBACK TO keeps the savepoint open: release it so the next job's
   * savepoint is not nested inside this one. */
  int rc = hw__sdb_exec_st(d, ST_ROLLBACK_TO);
  return rc ? rc : hw__sdb_exec_st(d, ST_RELEASE);
}
static int op_commit(void *d)
{
  return hw__sdb_exec_st(d, ST_COMMIT);
}
static void op_rollback(void *d)
{
  hw_sdb *s = d;
  if (!sqlite3_get_autocommit(s->db))
    (void)hw__sdb_exec_st(s, ST_ROLLBACK);
}

const hw_storage_ops hw_sdb_storage_ops = {op_begin,       op_savepoint, op_release,
                                           op_rollback_to, op_commit,    op_rollback, NULL};

/* Copy column `col` of the current row into a new hw_malloc buffer. */
int hw__sdb_take_blob(sqlite3_stmt *st, int col, uint8_t **out, size_t *len)
{
  const void *p = sqlite3_column_blob(st, col);
  int n = sqlite3_column_bytes(st, col);

  *out = hw_malloc(n > 0 ? (size_t)n : 1);
  if (!*out)
    return HW_ENOMEM;
  if (n > 0)
    memcpy(*out, p, (size_t)n);
  *len = (size_t)n;
  return HW_OK;
}

int hw__sdb_blob_exact(sqlite3_stmt *st, int col, void *out, size_t len)
{
  if (sqlite3_column_bytes(st, col) != (int)len)
    return HW_ECORRUPT;
  memcpy(out, sqlite3_column_blob(st, col), len);
  return HW_OK;
}

int hw_sdb_meta_get(hw_sdb *s, const char *key, uint8_t **val, size_t *len)
{
  sqlite3_stmt *st = s->st[ST_META_GET];
  int rc;

  *val = NULL;
  *len = 0;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    rc = hw__sdb_take_blob(st, 0, val, len);
  else
    rc = rc == SQLITE_DONE ? HW_ENOENT : hw__sdb_from_sqlite(rc);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

int hw_sdb_meta_put(hw_sdb *s, const char *key, const void *val, size_t len)
{
  sqlite3_stmt *st = s->st[ST_META_PUT];

  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, len ? val : "", (int)len, SQLITE_STATIC);
  return hw__sdb_exec_st(s, ST_META_PUT);
}

static void put_be64(uint8_t *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

int hw__sdb_load_cache(hw_sdb *s)
{
  uint8_t *val = NULL;
  size_t len;
  int rc;

  if (s->cache_ok)
    return HW_OK;
  s->seq = 0;
  rc = hw_sdb_meta_get(s, "seq", &val, &len);
  if (rc == HW_OK && len != 8)
    rc = HW_ECORRUPT;
  if (rc == HW_OK)
    s->seq = get_be64(val);
  hw_free(val);
  if (rc && rc != HW_ENOENT)
    return rc;
  if ((rc = hw__sdb_audit_last(s, &s->audit_seq, s->audit_head)) != 0)
    return rc;
  s->cache_ok = true;
  s->dirty = false;
  return HW_OK;
}

int hw__sdb_wsum_write(hw_sdb *s, wsum_slot *w)
{
  sqlite3_stmt *st = s->st[ST_WSUM_PUT];
  int rc;

  sqlite3_bind_text(st, 1, w->worker, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, w->sum, HW_HASH_BYTES, SQLITE_STATIC);
  if ((rc = hw__sdb_exec_st(s, ST_WSUM_PUT)) == 0)
    w->dirty = false;
  return rc;
}

int hw_sdb_flush(hw_sdb *s)
{
  uint8_t buf[8];
  int rc;

  for (unsigned i = 0; i < WSUM_SLOTS; i++)
    if (s->wsum[i].dirty && (rc = hw__sdb_wsum_write(s, &s->wsum[i])) != 0)
      return rc;
  if (!s->cache_ok || !s->dirty)
    return HW_OK;
  put_be64(buf, s->seq);
  if ((rc = hw_sdb_meta_put(s, "seq", buf, sizeof buf)) != 0)
    return rc;
  s->dirty = false;
  return HW_OK;
}

void hw_sdb_invalidate(hw_sdb *s)
{
  s->cache_ok = false;
  s->dirty = false;
  memset(s->wsum, 0, sizeof s->wsum);
}

int hw_sdb_next_seq(hw_sdb *s, uint64_t *out)
{
  int rc = hw__sdb_load_cache(s);

  *out = 0;
  if (rc)
    return rc;
  *out = ++s->seq;
  s->dirty = true;
  return HW_OK;
}

int hw_sdb_seq_current(hw_sdb *s, uint64_t *out)
{
  int rc = hw__sdb_load_cache(s);

  *out = rc ? 0 : s->seq;
  return rc;
}
