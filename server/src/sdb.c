/* The server's database: schema and queries (see sdb-int.h). The one file in
 * server/ that calls SQLite. */
#include "sdb-int.h"

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

enum {
  ST_BEGIN,
  ST_SAVEPOINT,
  ST_RELEASE,
  ST_ROLLBACK_TO,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_META_GET,
  ST_META_PUT,
  ST_REC_GET,
  ST_REC_DEL,
  ST_REC_PUT,
  ST_DOT_GET,
  ST_DOT_PUT,
  ST_DOTS_UPTO,
  ST_MARK_GET,
  ST_MARK_PUT,
  ST_MARK_DROP,
  ST_DOTS_AFTER,
  ST_HIST_PUT,
  ST_AUDIT_LAST,
  ST_AUDIT_PUT,
  ST_AUDIT_ALL,
  ST_QUAR_PUT,
  ST_DEV_GET,
  ST_DEV_PUT,
  ST_DEV_STATUS,
  ST_REP_GET,
  ST_REP_PUT,
  ST_REP_LIST,
  ST_INV_PUT,
  ST_INV_GET,
  ST_INV_USE,
  ST_INV_VOID,
  ST_REC_AFTER,
  ST_REC_COUNT,
  ST_ASSIGN_GET,
  ST_REC_WORKER,
  ST_ASSIGN_PUT,
  ST_ASSIGN_LOG,
  ST_HELD_PUT,
  ST_HELD_GET,
  ST_REGION_PUT,
  ST_REGION_LIST,
  ST_WSUM_GET,
  ST_WSUM_PUT,
  ST_CASE_RECORDS,
  ST_LOAD_AFTER,
  ST_SEQS_AFTER,
  ST_REC_BY_SEQ,
  ST_EVENTS_AFTER,
  ST_CASELOAD,
  ST_FLAG_PUT,
  ST_DEV_LIST,
  ST_DEV_BY_PREFIX,
  ST_CASE_IDS,
  ST_PERSON_ROLES,
  ST_COUNT
};

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
    [ST_REC_COUNT] = "SELECT count(*) FROM srv_records",
    [ST_ASSIGN_GET] = "SELECT worker FROM srv_assign WHERE case_id = ?1",
    [ST_REC_WORKER] = "UPDATE srv_records SET worker = ?2 WHERE case_id = ?1",
    [ST_ASSIGN_PUT] = "INSERT INTO srv_assign(case_id, worker, seq) VALUES (?1, ?2, ?3)"
                      " ON CONFLICT(case_id) DO UPDATE SET worker = excluded.worker,"
                      " seq = excluded.seq",
    [ST_ASSIGN_LOG] = "INSERT INTO srv_assign_log(seq, case_id, from_worker, to_worker)"
                      " VALUES (?1, ?2, ?3, ?4)",
    [ST_HELD_PUT] = "INSERT OR IGNORE INTO srv_held(case_id, worker) VALUES (?1, ?2)",
    [ST_HELD_GET] = "SELECT 1 FROM srv_held WHERE case_id = ?1 AND worker = ?2",
    [ST_REGION_PUT] = "INSERT OR IGNORE INTO srv_region(coordinator, worker) VALUES (?1, ?2)",
    [ST_REGION_LIST] = "SELECT worker FROM srv_region WHERE coordinator = ?1 ORDER BY worker",
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

/* The sequence number, the caseload checksum and the audit head change with
 * every record: they are kept here and written once per job (hw_sdb_flush,
 * from the storage operations before a savepoint is released), and read
 * again after a rollback (hw_sdb_invalidate). */
/* Workers' caseload checksums the storage thread changed and has not
 * written yet: a push job changes its worker's at every record. */
#define WSUM_SLOTS 8

typedef struct wsum_slot {
  char worker[HW_WORKER_MAX];
  uint8_t sum[HW_HASH_BYTES];
  bool used, dirty;
} wsum_slot;

struct hw_sdb {
  sqlite3 *db;
  sqlite3_stmt *st[ST_COUNT];
  bool cache_ok, dirty;
  uint64_t seq;
  uint64_t audit_seq;
  uint8_t audit_head[HW_HASH_BYTES];
  wsum_slot wsum[WSUM_SLOTS];
  unsigned wsum_next; /* the slot a new worker takes next */
};

static int from_sqlite(int rc)
{
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
static int walk_end(sqlite3_stmt *st, int rc)
{
  rc = rc == SQLITE_DONE ? HW_OK : rc > 0 ? from_sqlite(rc) : rc;
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
  return from_sqlite(rc);
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
    return from_sqlite(rc);
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
      return from_sqlite(rc);
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
      return from_sqlite(rc);
    }
  }
  *out = s;
  return HW_OK;
}

/* Run a statement that returns no rows. */
static int exec_st(hw_sdb *s, int which)
{
  sqlite3_stmt *st = s->st[which];
  int rc = sqlite3_step(st);

  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_DONE ? HW_OK : from_sqlite(rc == SQLITE_ROW ? SQLITE_MISUSE : rc);
}

static int op_begin(void *d)
{
  return exec_st(d, ST_BEGIN);
}
static int op_savepoint(void *d)
{
  return exec_st(d, ST_SAVEPOINT);
}
static int op_release(void *d)
{
  return exec_st(d, ST_RELEASE);
}
static int op_rollback_to(void *d)
{
  /* ROLLBACK TO keeps the savepoint open: release it so the next job's
   * savepoint is not nested inside this one. */
  int rc = exec_st(d, ST_ROLLBACK_TO);
  return rc ? rc : exec_st(d, ST_RELEASE);
}
static int op_commit(void *d)
{
  return exec_st(d, ST_COMMIT);
}
static void op_rollback(void *d)
{
  hw_sdb *s = d;
  if (!sqlite3_get_autocommit(s->db))
    (void)exec_st(s, ST_ROLLBACK);
}

const hw_storage_ops hw_sdb_storage_ops = {op_begin,       op_savepoint, op_release,
                                           op_rollback_to, op_commit,    op_rollback, NULL};

/* Copy column `col` of the current row into a new hw_malloc buffer. */
static int take_blob(sqlite3_stmt *st, int col, uint8_t **out, size_t *len)
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

static int blob_exact(sqlite3_stmt *st, int col, void *out, size_t len)
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
    rc = take_blob(st, 0, val, len);
  else
    rc = rc == SQLITE_DONE ? HW_ENOENT : from_sqlite(rc);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

int hw_sdb_meta_put(hw_sdb *s, const char *key, const void *val, size_t len)
{
  sqlite3_stmt *st = s->st[ST_META_PUT];

  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, len ? val : "", (int)len, SQLITE_STATIC);
  return exec_st(s, ST_META_PUT);
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

static int audit_last(hw_sdb *s, uint64_t *seq, uint8_t hash[static HW_HASH_BYTES]);

static int load_cache(hw_sdb *s)
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
  if ((rc = audit_last(s, &s->audit_seq, s->audit_head)) != 0)
    return rc;
  s->cache_ok = true;
  s->dirty = false;
  return HW_OK;
}

static int wsum_write(hw_sdb *s, wsum_slot *w)
{
  sqlite3_stmt *st = s->st[ST_WSUM_PUT];
  int rc;

  sqlite3_bind_text(st, 1, w->worker, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, w->sum, HW_HASH_BYTES, SQLITE_STATIC);
  if ((rc = exec_st(s, ST_WSUM_PUT)) == 0)
    w->dirty = false;
  return rc;
}

int hw_sdb_flush(hw_sdb *s)
{
  uint8_t buf[8];
  int rc;

  for (unsigned i = 0; i < WSUM_SLOTS; i++)
    if (s->wsum[i].dirty && (rc = wsum_write(s, &s->wsum[i])) != 0)
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
  int rc = load_cache(s);

  *out = 0;
  if (rc)
    return rc;
  *out = ++s->seq;
  s->dirty = true;
  return HW_OK;
}

int hw_sdb_seq_current(hw_sdb *s, uint64_t *out)
{
  int rc = load_cache(s);

  *out = rc ? 0 : s->seq;
  return rc;
}

int hw_sdb_record_get(hw_sdb *s, const hw_id *id, uint8_t **state, size_t *len)
{
  sqlite3_stmt *st = s->st[ST_REC_GET];
  int rc;

  *state = NULL;
  *len = 0;
  sqlite3_bind_blob(st, 1, id->b, HW_ID_BYTES, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    rc = take_blob(st, 0, state, len);
  else
    rc = rc == SQLITE_DONE ? HW_ENOENT : from_sqlite(rc);
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
  if ((rc = exec_st(s, ST_REC_DEL)) != 0)
    return rc;
  st = s->st[ST_REC_PUT];
  sqlite3_bind_blob(st, 1, id->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, (const char *)kind, (int)kind_len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, (sqlite3_int64)seq);
  sqlite3_bind_blob(st, 5, state, (int)len, SQLITE_STATIC);
  return exec_st(s, ST_REC_PUT);
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
    rc = blob_exact(st, 0, record->b, HW_ID_BYTES);
    if (!rc)
      rc = blob_exact(st, 1, digest, HW_HASH_BYTES);
  } else {
    rc = rc == SQLITE_DONE ? HW_ENOENT : from_sqlite(rc);
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
  if ((rc = exec_st(s, ST_DOT_PUT)) != 0)
    return rc;
  /* A lineage mark at or above this counter no longer folds every
   * accepted dot below it. */
  st = s->st[ST_MARK_DROP];
  sqlite3_bind_blob(st, 1, d->replica.b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)d->counter);
  return exec_st(s, ST_MARK_DROP);
}

/* Read one dots row: counter, record id, digest. */
static int dot_row(sqlite3_stmt *st, uint64_t *counter, hw_id *record,
                   uint8_t digest[static HW_HASH_BYTES])
{
  sqlite3_int64 c = sqlite3_column_int64(st, 0);

  if (c <= 0)
    return HW_ECORRUPT;
  *counter = (uint64_t)c;
  if (blob_exact(st, 1, record->b, HW_ID_BYTES) || blob_exact(st, 2, digest, HW_HASH_BYTES))
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
    rc = c > 0 && blob_exact(st, 1, digest, HW_HASH_BYTES) == HW_OK ? HW_OK : HW_ECORRUPT;
    if (rc == HW_OK && (uint64_t)c <= upto) { /* one above upto is of no use here */
      out->counter = (uint64_t)c;
      memcpy(out->digest, digest, HW_HASH_BYTES);
    }
  } else {
    rc = rc == SQLITE_DONE ? HW_OK : from_sqlite(rc);
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
  return exec_st(s, ST_MARK_PUT);
}

int hw_sdb_lineage_unmark(hw_sdb *s, const hw_id *replica)
{
  sqlite3_stmt *st = s->st[ST_MARK_DROP];

  sqlite3_bind_blob(st, 1, replica->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, 0);
  return exec_st(s, ST_MARK_DROP);
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
  rc = rc == SQLITE_DONE ? HW_OK : rc == HW_EINVAL ? HW_ECORRUPT : rc > 0 ? from_sqlite(rc) : rc;
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
  return walk_end(st, rc);
}

static int audit_last(hw_sdb *s, uint64_t *seq, uint8_t hash[static HW_HASH_BYTES])
{
  sqlite3_stmt *st = s->st[ST_AUDIT_LAST];
  int rc = sqlite3_step(st);

  *seq = 0;
  memset(hash, 0, HW_HASH_BYTES);
  if (rc == SQLITE_ROW) {
    *seq = (uint64_t)sqlite3_column_int64(st, 0);
    rc = blob_exact(st, 1, hash, HW_HASH_BYTES);
  } else {
    rc = from_sqlite(rc);
  }
  sqlite3_reset(st);
  return rc;
}

int hw_sdb_audit_head(hw_sdb *s, uint64_t *seq, uint8_t hash[static HW_HASH_BYTES])
{
  int rc = load_cache(s);

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
  if ((rc = exec_st(s, ST_AUDIT_PUT)) == 0) {
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
    if (seq != expect || elen < 0 || blob_exact(st, 2, have, HW_HASH_BYTES)) {
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
  return rc == SQLITE_DONE ? HW_OK : rc == HW_ECORRUPT ? rc : from_sqlite(rc);
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
  rc = exec_st(s, ST_QUAR_PUT);
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
  return exec_st(s, ST_HIST_PUT);
}

/* Copy a text column into `out` (NUL-terminated); HW_ECORRUPT if too long. */
static int text_col(sqlite3_stmt *st, int col, char *out, size_t cap)
{
  const unsigned char *t = sqlite3_column_text(st, col);
  int n = sqlite3_column_bytes(st, col);

  if (!t || n < 0 || (size_t)n >= cap)
    return HW_ECORRUPT;
  memcpy(out, t, (size_t)n);
  out[n] = '\0';
  return HW_OK;
}

int hw_sdb_device_get(hw_sdb *s, const uint8_t key[static HW_DEVICE_KEY_BYTES], hw_sdb_device *out)
{
  sqlite3_stmt *st = s->st[ST_DEV_GET];
  int rc;

  memset(out, 0, sizeof *out);
  sqlite3_bind_blob(st, 1, key, HW_DEVICE_KEY_BYTES, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    rc = text_col(st, 0, out->worker, sizeof out->worker);
    if (!rc)
      rc = text_col(st, 1, out->role, sizeof out->role);
    if (!rc)
      rc = text_col(st, 2, out->status, sizeof out->status);
  } else {
    rc = rc == SQLITE_DONE ? HW_ENOENT : from_sqlite(rc);
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

int hw_sdb_device_put(hw_sdb *s, const uint8_t key[static HW_DEVICE_KEY_BYTES], const char *worker,
                      const char *role, int64_t now_ms)
{
  sqlite3_stmt *st = s->st[ST_DEV_PUT];

  sqlite3_bind_blob(st, 1, key, HW_DEVICE_KEY_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, worker, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, role, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, now_ms);
  return exec_st(s, ST_DEV_PUT);
}

int hw_sdb_device_set_status(hw_sdb *s, const uint8_t key[static HW_DEVICE_KEY_BYTES],
                             const char *status, int64_t now_ms)
{
  sqlite3_stmt *st = s->st[ST_DEV_STATUS];
  int rc;

  sqlite3_bind_blob(st, 1, key, HW_DEVICE_KEY_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, now_ms);
  rc = exec_st(s, ST_DEV_STATUS);
  if (rc == 0 && sqlite3_changes(s->db) == 0)
    rc = HW_ENOENT;
  return rc;
}

int hw_sdb_replica_bind(hw_sdb *s, const hw_id *replica,
                        const uint8_t key[static HW_DEVICE_KEY_BYTES], const hw_id *inherits,
                        int64_t now_ms)
{
  sqlite3_stmt *st = s->st[ST_REP_GET];
  int rc;

  sqlite3_bind_blob(st, 1, replica->b, HW_ID_BYTES, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    /* Bound on first use; another device's replica id is refused. */
    rc = sqlite3_column_bytes(st, 0) == HW_DEVICE_KEY_BYTES &&
                 hw_memcmp_ct(sqlite3_column_blob(st, 0), key, HW_DEVICE_KEY_BYTES) == 0
             ? HW_OK
             : HW_EPERM;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE)
    return from_sqlite(rc);
  st = s->st[ST_REP_PUT];
  sqlite3_bind_blob(st, 1, replica->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, key, HW_DEVICE_KEY_BYTES, SQLITE_STATIC);
  if (inherits)
    sqlite3_bind_blob(st, 3, inherits->b, HW_ID_BYTES, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 3);
  sqlite3_bind_int64(st, 4, now_ms);
  return exec_st(s, ST_REP_PUT);
}

int hw_sdb_replicas_of(hw_sdb *s, const uint8_t key[static HW_DEVICE_KEY_BYTES], hw_id *out,
                       size_t cap, size_t *n)
{
  sqlite3_stmt *st = s->st[ST_REP_LIST];
  int rc;

  *n = 0;
  sqlite3_bind_blob(st, 1, key, HW_DEVICE_KEY_BYTES, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (*n == cap) {
      rc = HW_ELIMIT;
      break;
    }
    if ((rc = blob_exact(st, 0, out[*n].b, HW_ID_BYTES)) != 0)
      break;
    (*n)++;
  }
  return walk_end(st, rc);
}

int hw_sdb_invitation_put(hw_sdb *s, const uint8_t token_hash[static HW_HASH_BYTES],
                          const char *worker, const char *role, int64_t expires_ms)
{
  sqlite3_stmt *st = s->st[ST_INV_PUT];

  sqlite3_bind_blob(st, 1, token_hash, HW_HASH_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, worker, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, role, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, expires_ms);
  return exec_st(s, ST_INV_PUT);
}

int hw_sdb_invitation_use(hw_sdb *s, const uint8_t token_hash[static HW_HASH_BYTES],
                          const uint8_t key[static HW_DEVICE_KEY_BYTES], int64_t now_ms,
                          hw_sdb_device *out)
{
  sqlite3_stmt *st = s->st[ST_INV_GET];
  int rc, used;

  memset(out, 0, sizeof *out);
  sqlite3_bind_blob(st, 1, token_hash, HW_HASH_BYTES, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    rc = rc == SQLITE_DONE ? HW_EAUTH : from_sqlite(rc);
    goto out;
  }
  if ((rc = text_col(st, 0, out->worker, sizeof out->worker)) != 0 ||
      (rc = text_col(st, 1, out->role, sizeof out->role)) != 0)
    goto out;
  if (sqlite3_column_int64(st, 2) <= now_ms) {
    rc = HW_EAUTH; /* expired */
    goto out;
  }
  used = sqlite3_column_type(st, 3) != SQLITE_NULL;
  if (used) {
    /* The reply to an enrolment may have been lost: the same device key may
     * repeat it until the token expires; any other key is refused. */
    rc = sqlite3_column_bytes(st, 3) == HW_DEVICE_KEY_BYTES &&
                 hw_memcmp_ct(sqlite3_column_blob(st, 3), key, HW_DEVICE_KEY_BYTES) == 0
             ? HW_OK
             : HW_EAUTH;
    goto out;
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  st = s->st[ST_INV_USE];
  sqlite3_bind_blob(st, 1, token_hash, HW_HASH_BYTES, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, key, HW_DEVICE_KEY_BYTES, SQLITE_STATIC);
  rc = exec_st(s, ST_INV_USE);
  if (rc == 0)
    snprintf(out->status, sizeof out->status, "new");
  return rc;
out:
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc)
    memset(out, 0, sizeof *out);
  return rc;
}

int hw_sdb_invitations_void(hw_sdb *s, int64_t now_ms, uint64_t *n)
{
  int rc;

  sqlite3_bind_int64(s->st[ST_INV_VOID], 1, now_ms);
  rc = exec_st(s, ST_INV_VOID);
  *n = rc ? 0 : (uint64_t)sqlite3_changes(s->db);
  return rc;
}

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
    if (seq <= 0 || blob_exact(st, 1, case_id.b, HW_ID_BYTES)) {
      rc = HW_ECORRUPT;
      break;
    }
    *last_seq = (uint64_t)seq;
    n++;
    if ((rc = cb((uint64_t)seq, &case_id, sqlite3_column_blob(st, 2),
                 (size_t)sqlite3_column_bytes(st, 2), ud)) != 0)
      break;
  }
  return walk_end(st, rc);
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
  rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? HW_OK : rc > 0 ? from_sqlite(rc) : rc;
  sqlite3_reset(st);
  return rc;
}

int hw_sdb_records_count(hw_sdb *s, uint64_t *n)
{
  sqlite3_stmt *st = s->st[ST_REC_COUNT];
  int rc = sqlite3_step(st);

  *n = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
  rc = rc == SQLITE_ROW ? HW_OK : from_sqlite(rc);
  sqlite3_reset(st);
  return rc;
}

/* ---- caseloads ------------------------------------------------------------ */

int hw_sdb_assign_get(hw_sdb *s, const hw_id *case_id, char worker[static HW_WORKER_MAX])
{
  sqlite3_stmt *st = s->st[ST_ASSIGN_GET];
  int rc;

  worker[0] = '\0';
  sqlite3_bind_blob(st, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    rc = text_col(st, 0, worker, HW_WORKER_MAX);
  else
    rc = rc == SQLITE_DONE ? HW_ENOENT : from_sqlite(rc);
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
    rc = blob_exact(st, 0, out, HW_HASH_BYTES);
  else
    rc = rc == SQLITE_DONE ? HW_OK : from_sqlite(rc);
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
  if (w->used && w->dirty && (rc = wsum_write(s, w)) != 0)
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

int hw_sdb_case_records(hw_sdb *s, const hw_id *case_id, hw_sdb_record_cb cb, void *ud)
{
  sqlite3_stmt *st = s->st[ST_CASE_RECORDS];
  int rc;

  sqlite3_bind_blob(st, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    hw_id cid;
    if (blob_exact(st, 1, cid.b, HW_ID_BYTES)) {
      rc = HW_ECORRUPT;
      break;
    }
    if ((rc = cb((uint64_t)sqlite3_column_int64(st, 0), &cid, sqlite3_column_blob(st, 2),
                 (size_t)sqlite3_column_bytes(st, 2), ud)) != 0)
      break;
  }
  return walk_end(st, rc);
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
  if ((rc = exec_st(s, ST_ASSIGN_PUT)) != 0)
    return rc;
  if (m.n) {
    st = s->st[ST_REC_WORKER];
    sqlite3_bind_blob(st, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
    if ((rc = exec_st(s, ST_REC_WORKER)) != 0)
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
  if ((rc = exec_st(s, ST_ASSIGN_LOG)) != 0)
    return rc;
  /* Whoever held it keeps the right to land late edits on it: the holder
   * it leaves is remembered (the current one is srv_assign's; a new case,
   * the common write, adds no row to this randomly keyed table). */
  if (!had)
    return HW_OK;
  st = s->st[ST_HELD_PUT];
  sqlite3_bind_blob(st, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
  return exec_st(s, ST_HELD_PUT);
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
  rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? HW_OK : from_sqlite(rc);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

static int collect_case(const hw_id *case_id, uint64_t n_records, uint64_t n_flags, void *ud)
{
  (void)n_records, (void)n_flags;
  return hw_id_list_add(ud, case_id);
}

int hw_sdb_region_add(hw_sdb *s, const char *coordinator, const char *worker)
{
  sqlite3_stmt *st = s->st[ST_REGION_PUT];
  hw_id_list l = {0};
  int rc;

  sqlite3_bind_text(st, 1, coordinator, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, worker, -1, SQLITE_STATIC);
  if ((rc = exec_st(s, ST_REGION_PUT)) != 0)
    return rc;
  if (sqlite3_changes(s->db) == 0)
    return HW_EEXIST; /* in the region already */
  /* Each of the worker's cases becomes visible to the coordinator's devices
   * now, whatever their cursors: an event from no worker ("") to the
   * coordinator in the one sequence, which their next pull answers with
   * the case whole. */
  if ((rc = hw_sdb_caseload(s, worker, collect_case, &l)) != 0)
    goto out;
  for (size_t i = 0; i < l.n && !rc; i++) {
    uint64_t seq;
    if ((rc = hw_sdb_next_seq(s, &seq)) != 0)
      break;
    st = s->st[ST_ASSIGN_LOG];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    sqlite3_bind_blob(st, 2, l.v[i].b, HW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, coordinator, -1, SQLITE_STATIC);
    rc = exec_st(s, ST_ASSIGN_LOG);
  }
out:
  hw_free(l.v);
  return rc;
}

int hw_sdb_person_roles(hw_sdb *s, const char *name, unsigned *roles)
{
  sqlite3_stmt *st = s->st[ST_PERSON_ROLES];
  int rc;

  *roles = 0;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *role = (const char *)sqlite3_column_text(st, 0);
    if (role && strcmp(role, "worker") == 0)
      *roles |= HW_SDB_ROLE_WORKER;
    else if (role && strcmp(role, "coordinator") == 0)
      *roles |= HW_SDB_ROLE_COORDINATOR;
  }
  return walk_end(st, rc);
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
    if ((rc = text_col(st, 0, workers[*n], HW_WORKER_MAX)) != 0)
      break;
    (*n)++;
  }
  return walk_end(st, rc);
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
    rc = blob_exact(st, 0, cid.b, HW_ID_BYTES)
             ? HW_ECORRUPT
             : cb(seq, &cid, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), ud);
  else
    rc = rc == SQLITE_DONE ? HW_ECORRUPT : from_sqlite(rc); /* the index named it */
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
  return walk_end(st, rc);
}

int hw_sdb_load_after(hw_sdb *s, const char *worker, uint64_t after, size_t max,
                      hw_sdb_seq_pred skip, hw_sdb_record_cb cb, void *ud)
{
  sqlite3_stmt *st = s->st[ST_LOAD_AFTER];
  int rc;

  if (after > INT64_MAX)
    return HW_OK;
  if (skip)
    return load_after_skipping(s, worker, after, max, skip, cb, ud);
  sqlite3_bind_text(st, 1, worker, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    hw_id cid;
    if (blob_exact(st, 1, cid.b, HW_ID_BYTES)) {
      rc = HW_ECORRUPT;
      break;
    }
    if ((rc = cb((uint64_t)sqlite3_column_int64(st, 0), &cid, sqlite3_column_blob(st, 2),
                 (size_t)sqlite3_column_bytes(st, 2), ud)) != 0)
      break;
  }
  return walk_end(st, rc);
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
    if (blob_exact(st, 1, cid.b, HW_ID_BYTES) || !t) {
      rc = HW_ECORRUPT;
      break;
    }
    if ((rc = cb((uint64_t)sqlite3_column_int64(st, 0), &cid, (const char *)f,
                 (const char *)t, ud)) != 0)
      break;
  }
  return walk_end(st, rc);
}

int hw_sdb_caseload(hw_sdb *s, const char *worker, hw_sdb_case_cb cb, void *ud)
{
  sqlite3_stmt *st = s->st[ST_CASELOAD];
  int rc;

  sqlite3_bind_text(st, 1, worker, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    hw_id cid;
    if (blob_exact(st, 0, cid.b, HW_ID_BYTES)) {
      rc = HW_ECORRUPT;
      break;
    }
    if ((rc = cb(&cid, (uint64_t)sqlite3_column_int64(st, 1),
                 (uint64_t)sqlite3_column_int64(st, 2), ud)) != 0)
      break;
  }
  return walk_end(st, rc);
}

int hw_sdb_flag_put(hw_sdb *s, const hw_id *case_id, const char *worker, const char *reason,
                    int64_t now_ms)
{
  sqlite3_stmt *st = s->st[ST_FLAG_PUT];
  sqlite3_bind_blob(st, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, worker, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, now_ms);
  return exec_st(s, ST_FLAG_PUT);
}

int hw_sdb_devices(hw_sdb *s, hw_sdb_device_cb cb, void *ud)
{
  sqlite3_stmt *st = s->st[ST_DEV_LIST];
  int rc;

  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    hw_sdb_device d = {0};
    uint8_t key[HW_DEVICE_KEY_BYTES];
    if (blob_exact(st, 0, key, sizeof key) || text_col(st, 1, d.worker, sizeof d.worker) ||
        text_col(st, 2, d.role, sizeof d.role) || text_col(st, 3, d.status, sizeof d.status)) {
      rc = HW_ECORRUPT;
      break;
    }
    if ((rc = cb(key, &d, ud)) != 0)
      break;
  }
  return walk_end(st, rc);
}

/* The end of a walk for one row: SQLITE_DONE with `found` rows is HW_OK
 * (one) or HW_ENOENT (none); any other rc stands (HW_EEXIST: several). */
static int unique_end(sqlite3_stmt *st, int rc, int found)
{
  if (rc == SQLITE_DONE)
    rc = found ? HW_OK : HW_ENOENT;
  else if (rc > 0)
    rc = from_sqlite(rc);
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
    if (blob_exact(st, 0, id.b, HW_ID_BYTES)) {
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
  return unique_end(st, rc, found);
}

int hw_sdb_device_by_prefix(hw_sdb *s, const char *hex_prefix,
                            uint8_t key[static HW_DEVICE_KEY_BYTES])
{
  sqlite3_stmt *st = s->st[ST_DEV_BY_PREFIX];
  char up[2 * HW_DEVICE_KEY_BYTES + 1];
  size_t n = strlen(hex_prefix);
  int rc, found = 0;

  if (n < 8 || n > 2 * HW_DEVICE_KEY_BYTES)
    return HW_EINVAL;
  /* Hex digits only: the prefix goes into a LIKE pattern, where % and _
   * would match other keys. */
  for (size_t i = 0; i < n; i++)
    if (!strchr("0123456789abcdefABCDEF", hex_prefix[i]))
      return HW_EINVAL;
  for (size_t i = 0; i <= n; i++)
    up[i] = (char)(hex_prefix[i] >= 'a' && hex_prefix[i] <= 'f' ? hex_prefix[i] - 32
                                                                 : hex_prefix[i]);
  sqlite3_bind_text(st, 1, up, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (found++ || blob_exact(st, 0, key, HW_DEVICE_KEY_BYTES)) {
      rc = found > 1 ? HW_EEXIST : HW_ECORRUPT; /* ambiguous prefix */
      break;
    }
  }
  return unique_end(st, rc, found);
}
