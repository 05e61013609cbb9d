#define _GNU_SOURCE /* realpath */
/* The encrypted store (store.h, docs/storage.md): opening, creating and
 * checking it, its transactions and the helpers the store*.c files share.
 * Those files are the ones that run SQL; the pages themselves are sealed
 * by cryptvfs.c. */
#include "homeward/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include "store-int.h"
#include "store-priv.h"

#define SUBKEY_PAGES 1
/* The no-backup record: magic, store id, replica id, start number, (v2) a
 * pending start number, and a hash of it all (v1 had no pending number). */
#define LOCAL_MAGIC "HWLOCAL2"
#define LOCAL_BYTES (8 + HW__DBID + HW_ID_BYTES + 8 + 8 + 32)
#define LOCAL_V1_MAGIC "HWLOCAL1"
#define LOCAL_V1_BYTES (8 + HW__DBID + HW_ID_BYTES + 8 + 32)
/* 1: before item and marks; 2: items in an index; 3: their sum in hw.sum
 * (migrate.c) */
#define FORMAT 3


_Static_assert(HW_STORE_MARKS_UNKNOWN == 2147483648u, "HW__MARKS_UNKNOWN_SQL");

/* The columns row_rec reads, in its order. */
#define ROW_COLS "id, case_id, kind, vv, acked, pending, state, marks"

static const char *const sql_text[S_N] = {
    [S_PUT] = "INSERT INTO records(id, case_id, kind, vv, acked, pending, state, item, marks) "
              "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(id) DO UPDATE SET "
              "vv = excluded.vv, acked = excluded.acked, pending = excluded.pending, "
              "state = excluded.state, item = excluded.item, marks = excluded.marks",
    [S_GET] = "SELECT " ROW_COLS " FROM records WHERE id = ?1",
    [S_META] = "SELECT case_id, kind, vv, item FROM records WHERE id = ?1",
    [S_ACK] = "UPDATE records SET acked = ?2, pending = ?3 WHERE id = ?1",
    [S_LIST_CASE] = "SELECT " ROW_COLS " FROM records WHERE case_id = ?1 ORDER BY id",
    [S_LIST_PENDING] = "SELECT " ROW_COLS " FROM records WHERE pending = 1 ORDER BY id",
    [S_LIST_ALL] = "SELECT " ROW_COLS " FROM records ORDER BY id",
    [S_SET_GET] = "SELECT value FROM settings WHERE name = ?1",
    [S_SET_PUT] = "INSERT INTO settings(name, value) VALUES(?1, ?2)"
                  " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
    [S_SET_DEL] = "DELETE FROM settings WHERE name = ?1",
    [S_SET_DEL_RANGE] = "DELETE FROM settings WHERE name >= ?1 AND name < ?2",
    [S_OW_PUT] = "INSERT INTO own_writes(replica, counter, record, digest) VALUES(?1, ?2, ?3, ?4)",
    [S_OW_GET] = "SELECT record, digest FROM own_writes WHERE replica = ?1 AND counter = ?2",
    [S_OW_LIST] = "SELECT counter, record, digest FROM own_writes WHERE replica = ?1 AND "
                  "counter > ?2 ORDER BY counter",
    [S_COUNT] = "SELECT count(*) FROM records",
    [S_DEL_CASE] = "DELETE FROM records WHERE case_id = ?1 AND pending = 0",
    [S_COUNT_CASE] = "SELECT count(*) FROM records WHERE case_id = ?1",
    [S_DEL_ONE] = "DELETE FROM records WHERE id = ?1",
    [S_OW_DEL] = "DELETE FROM own_writes WHERE replica = ?1 AND counter = ?2",
    /* The items of the rows a case deletion takes (the sum loses them). */
    [S_DEL_CASE_ITEMS] = "SELECT item FROM records WHERE case_id = ?1 AND pending = 0",
    [S_MARKED] = "SELECT " ROW_COLS " FROM records INDEXED BY records_marked WHERE marks != 0",
    [S_SET_MARKS] = "UPDATE records SET marks = ?2 WHERE id = ?1",
    [S_VVS] = "SELECT vv, acked FROM records WHERE id = ?1",
    [S_FORGET_MARKS] = "UPDATE records SET marks = " HW__MARKS_UNKNOWN_SQL
                       " WHERE marks != " HW__MARKS_UNKNOWN_SQL,
};

static const char schema[] =
    "CREATE TABLE settings(name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE records(id BLOB NOT NULL UNIQUE, case_id BLOB NOT NULL, kind TEXT NOT NULL,"
    " vv BLOB NOT NULL, acked BLOB NOT NULL, pending INTEGER NOT NULL, state BLOB NOT NULL,"
    " item BLOB, marks INTEGER NOT NULL DEFAULT " HW__MARKS_UNKNOWN_SQL ");"
    "CREATE INDEX records_case ON records(case_id);"
    "CREATE INDEX records_pending ON records(pending) WHERE pending = 1;"
    HW__RECORDS_V2_INDEXES
    "CREATE TABLE own_writes(replica BLOB NOT NULL, counter INTEGER NOT NULL,"
    " record BLOB NOT NULL, digest BLOB NOT NULL, PRIMARY KEY(replica, counter)) WITHOUT ROWID;";


const char *hw_store_why_str(int why)
{
  static const char *const s[] = {
      [HW_STORE_WHY_NONE] = "no detail",
      [HW_STORE_WHY_PASSPHRASE] = "wrong passphrase or key file",
      [HW_STORE_WHY_KEYFILE_MISSING] = "key envelope missing beside the database",
      [HW_STORE_WHY_KEYFILE_DAMAGED] = "key envelope damaged",
      [HW_STORE_WHY_KEYFILE_OTHER_DB] = "key envelope belongs to another database",
      [HW_STORE_WHY_KEYFILE_LIMITS] = "key envelope asks for key-derivation limits over the caps",
      [HW_STORE_WHY_KDF_NOMEM] = "not enough memory to derive the key",
      [HW_STORE_WHY_DB_EMPTY] = "database file is empty",
      [HW_STORE_WHY_DB_TRUNCATED] = "database file is truncated or damaged",
      [HW_STORE_WHY_DB_PLAINTEXT] = "database file is plain (unencrypted) SQLite",
      [HW_STORE_WHY_DB_NOT_STORE] = "database file is not a Homeward store",
      [HW_STORE_WHY_TAMPERED] = "encrypted page failed authentication (tampered or damaged)",
      [HW_STORE_WHY_KEYFILE_MODE] = "key file is readable by group or others (want 0600)",
      [HW_STORE_WHY_NO_DB] = "no database at this path",
      [HW_STORE_WHY_KEYFILE_ABSENT] = "key file not found",
      [HW_STORE_WHY_KEYFILE_OWNER] = "key file is owned by another user",
      [HW_STORE_WHY_KEYFILE_FORMAT] = "key file is not 32 bytes or 64 hex digits",
  };
  if (why < 0 || (size_t)why >= sizeof s / sizeof s[0] || !s[why])
    return "unknown";
  return s[why];
}

/* ---- helpers ---- */

int hw__st_from_sqlite(hw_store *st, int rc)
{
  int prim = rc & 0xff;

  /* A page that failed authentication surfaces as an I/O error or as
   * corruption, depending on where SQLite met it: report it as tampering. */
  if (st && st->vfs && (prim == SQLITE_IOERR || prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB) &&
      hw__cvfs_tampered(st->vfs) > 0) {
    hw__cvfs_reset_tampered(st->vfs);
    return HW_ETAMPER;
  }
  switch (prim) {
  case SQLITE_OK:
  case SQLITE_DONE:
  case SQLITE_ROW:
    return HW_OK;
  case SQLITE_NOMEM:
    return HW_ENOMEM;
  case SQLITE_FULL:
    return HW_ENOSPC;
  case SQLITE_IOERR:
    if (rc == SQLITE_IOERR_NOMEM)
      return HW_ENOMEM;
    if (rc == SQLITE_IOERR_DATA)
      return HW_ETAMPER;
    return HW_EIO;
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    return HW_ECORRUPT;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return HW_EBUSY;
  case SQLITE_CANTOPEN:
    return HW_EIO;
  case SQLITE_READONLY: /* a read-only file system or file: not a bug of ours */
    return HW_EROFS;
  case SQLITE_CONSTRAINT:
    return HW_EEXIST;
  case SQLITE_TOOBIG:
    return HW_ELIMIT;
  default:
    return HW_EINTERNAL;
  }
}

char *hw__st_str_cat(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  char *s = hw_malloc(la + lb + 1);
  if (s) {
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
  }
  return s;
}

char *hw__st_abs_path(const char *p)
{
  char cwd[PATH_MAX];

  if (p[0] == '/')
    return hw__st_str_cat(p, "");
  if (!getcwd(cwd, sizeof cwd))
    return NULL;
  size_t n = strlen(cwd);
  if (n + 1 < sizeof cwd) {
    cwd[n] = '/';
    cwd[n + 1] = 0;
  }
  return hw__st_str_cat(cwd, p);
}

int hw__st_exec(hw_store *st, const char *sql)
{
  return hw__st_from_sqlite(st, sqlite3_exec(st->db, sql, NULL, NULL, NULL));
}

int hw__st_stmt(hw_store *st, int i, sqlite3_stmt **out)
{
  int rc;

  *out = NULL;
  if (!st->s[i]) {
    rc = sqlite3_prepare_v3(st->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &st->s[i], NULL);
    if (rc != SQLITE_OK)
      return hw__st_from_sqlite(st, rc);
  }
  sqlite3_reset(st->s[i]);
  sqlite3_clear_bindings(st->s[i]);
  *out = st->s[i];
  return HW_OK;
}

/* Step a statement that returns no row. */
int hw__st_step_done(hw_store *st, sqlite3_stmt *s)
{
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? HW_OK : hw__st_from_sqlite(st, rc);
}

void hw__st_put_be64(uint8_t *p, uint64_t x)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(x >> (56 - 8 * i));
}

uint64_t hw__st_get_be64(const uint8_t *p)
{
  uint64_t x = 0;
  for (int i = 0; i < 8; i++)
    x = x << 8 | p[i];
  return x;
}


void hw__st_vv_encode(const hw_vv *vv, uint8_t *out)
{
  for (size_t i = 0; i < vv->n; i++) {
    memcpy(out + i * VV_ENTRY, vv->e[i].replica.b, HW_ID_BYTES);
    hw__st_put_be64(out + i * VV_ENTRY + HW_ID_BYTES, vv->e[i].counter);
  }
}

int hw__st_vv_decode(const uint8_t *p, size_t n, hw_dot *dots, hw_vv *out)
{
  out->n = 0;
  out->e = dots;
  if (n % VV_ENTRY != 0 || n / VV_ENTRY > HW_VV_MAX)
    return HW_ECORRUPT;
  out->n = n / VV_ENTRY;
  for (size_t i = 0; i < out->n; i++) {
    memcpy(dots[i].replica.b, p + i * VV_ENTRY, HW_ID_BYTES);
    dots[i].counter = hw__st_get_be64(p + i * VV_ENTRY + HW_ID_BYTES);
  }
  return hw_vv_check(out) == HW_OK ? HW_OK : HW_ECORRUPT;
}

int hw__st_setting_get_raw(hw_store *st, const char *name, uint8_t *buf, size_t cap, size_t *len)
{
  sqlite3_stmt *s;
  int rc = hw__st_stmt(st, S_SET_GET, &s);

  *len = 0;
  if (rc)
    return rc;
  sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    size_t n = (size_t)sqlite3_column_bytes(s, 0);
    const void *v = sqlite3_column_blob(s, 0);
    if (n > cap || (n > 0 && !v)) {
      rc = n > cap ? HW_ECORRUPT : HW_ENOMEM;
    } else {
      if (n)
        memcpy(buf, v, n);
      *len = n;
      rc = HW_OK;
    }
  } else {
    rc = rc == SQLITE_DONE ? HW_ENOENT : hw__st_from_sqlite(st, rc);
  }
  sqlite3_reset(s);
  return rc;
}

int hw__st_setting_put_raw(hw_store *st, const char *name, const void *v, size_t n)
{
  sqlite3_stmt *s;
  int rc = hw__st_stmt(st, S_SET_PUT, &s);

  if (rc)
    return rc;
  sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_blob(s, 2, n ? v : "", (int)n, SQLITE_STATIC);
  return hw__st_step_done(st, s);
}

int hw__st_u64_get(hw_store *st, const char *name, uint64_t *out)
{
  uint8_t b[8];
  size_t n;
  int rc = hw__st_setting_get_raw(st, name, b, sizeof b, &n);

  *out = 0;
  if (rc)
    return rc;
  if (n != 8)
    return HW_ECORRUPT;
  *out = hw__st_get_be64(b);
  return HW_OK;
}

int hw__st_u64_put(hw_store *st, const char *name, uint64_t v)
{
  uint8_t b[8];
  hw__st_put_be64(b, v);
  return hw__st_setting_put_raw(st, name, b, sizeof b);
}

/* Reload the cached identity after a rollback. */
static int load_identity(hw_store *st)
{
  uint8_t b[HW_ID_BYTES];
  size_t n;
  int rc = hw__st_setting_get_raw(st, "hw.replica", b, sizeof b, &n);

  if (rc)
    return rc == HW_ENOENT ? HW_ECORRUPT : rc;
  if (n != HW_ID_BYTES)
    return HW_ECORRUPT;
  memcpy(st->replica.b, b, HW_ID_BYTES);
  rc = hw__st_u64_get(st, "hw.counter", &st->counter);
  if (rc == HW_OK)
    rc = hw__st_u64_get(st, "hw.start", &st->start);
  return rc == HW_ENOENT ? HW_ECORRUPT : rc;
}

/* ---- the no-backup record ---- */

/* The record for this store's replica at `start`, with `pending` the start
 * number an open is moving to (0: none). v1 (no pending) when `v1`. */
static size_t local_encode(const hw_store *st, uint64_t start, uint64_t pending, bool v1,
                           uint8_t out[LOCAL_BYTES])
{
  size_t n = v1 ? LOCAL_V1_BYTES : LOCAL_BYTES;
  memcpy(out, v1 ? LOCAL_V1_MAGIC : LOCAL_MAGIC, 8);
  memcpy(out + 8, st->env.dbid, HW__DBID);
  memcpy(out + 8 + HW__DBID, st->replica.b, HW_ID_BYTES);
  hw__st_put_be64(out + 8 + HW__DBID + HW_ID_BYTES, start);
  if (!v1)
    hw__st_put_be64(out + 16 + HW__DBID + HW_ID_BYTES, pending);
  crypto_generichash(out + n - 32, 32, out, n - 32, NULL, 0);
  return n;
}

/* Whether the no-backup record matches the store (architecture §3): its
 * replica id, and its start number or the one an interrupted open was
 * moving to (the store may hold either). */
static bool local_matches(const hw_store *st)
{
  uint8_t want[LOCAL_BYTES], got[LOCAL_BYTES + 1];
  uint64_t start, pending = 0;
  size_t n;
  bool v1;

  if (hw__fs_read(st->local_path, got, sizeof got, &n) != HW_OK ||
      (n != LOCAL_BYTES && n != LOCAL_V1_BYTES))
    return false;
  v1 = n == LOCAL_V1_BYTES;
  start = hw__st_get_be64(got + 8 + HW__DBID + HW_ID_BYTES);
  if (!v1)
    pending = hw__st_get_be64(got + 16 + HW__DBID + HW_ID_BYTES);
  if (local_encode(st, start, pending, v1, want) != n || sodium_memcmp(want, got, n) != 0)
    return false;
  return st->start == start || (pending && st->start == pending);
}

static int local_write(hw_store *st, uint64_t start, uint64_t pending)
{
  uint8_t b[LOCAL_BYTES];
  size_t n = local_encode(st, start, pending, false, b);
  return hw__fs_write_atomic(st->fs, st->local_path, b, n, false);
}

int hw__st_local_write(hw_store *st)
{
  return local_write(st, st->start, 0);
}

/* Defence 1's bump of the start number at each open, in an order no crash
 * or full disk between two steps can make read as a restore: the record
 * names the next number as pending, the store takes it, the record follows
 * (a failure there leaves the pending number, which matches). A store that
 * cannot take it (a full disk, a read-only file system or folder) opens
 * unbumped: it reads, and refuses new writes of its own (hw_store_next_dot,
 * with the same error), which are what the number guards. */
static int bump_start(hw_store *st)
{
  int rc = local_write(st, st->start, st->start + 1);

  if (rc == HW_OK)
    rc = hw__st_u64_put(st, "hw.start", st->start + 1);
  if (rc == HW_OK) {
    st->start++;
    (void)!local_write(st, st->start, 0);
  }
  if (rc == HW_ENOSPC || rc == HW_EROFS || rc == HW_EPERM) {
    st->unbumped = rc == HW_ENOSPC ? rc : HW_EROFS; /* (EPERM: a folder it may not write) */
    rc = HW_OK;
  }
  return rc;
}

/* ---- open ---- */

static void store_free(hw_store *st)
{
  if (!st)
    return;
  for (int i = 0; i < S_N; i++)
    sqlite3_finalize(st->s[i]);
  if (st->db)
    sqlite3_close_v2(st->db);
  hw__cvfs_free(st->vfs);
  if (st->dek)
    sodium_free(st->dek);
  hw_free(st->path);
  hw_free(st->env_path);
  hw_free(st->local_path);
  sodium_memzero(&st->env, sizeof st->env);
  hw_free(st);
}

void hw_store_close(hw_store *st)
{
  if (st && st->db && !sqlite3_get_autocommit(st->db))
    (void)hw__st_exec(st, "ROLLBACK");
  store_free(st);
}

int hw__st_kdf_limits(unsigned test_flags, hw__env *e)
{
  if (test_flags & HW_STORE_TEST_KDF_MIN) {
    e->opslimit = crypto_pwhash_OPSLIMIT_MIN;
    e->memlimit = crypto_pwhash_MEMLIMIT_MIN;
  } else {
    e->opslimit = HW_STORE_KDF_OPS;
    e->memlimit = HW_STORE_KDF_MEM;
  }
  return HW_OK;
}

/* The secret the envelope's KEK comes from: the passphrase, or the key
 * file's 32 bytes (checked for mode 0600). key[] is sodium_malloc'd. */
int hw__st_get_secret(hw_store *st, const hw_store_opts *o, uint8_t **secret, size_t *len,
                      hw_store_info *info)
{
  uint8_t raw[2 * HW__KEY + 2];
  size_t n;
  struct stat sb;
  int rc;

  *secret = NULL;
  *len = 0;
  if (!o->key_file) {
    *secret = sodium_malloc(o->passphrase_len ? o->passphrase_len : 1);
    if (!*secret)
      return HW_ENOMEM;
    memcpy(*secret, o->passphrase, o->passphrase_len);
    *len = o->passphrase_len;
    return HW_OK;
  }
  if (stat(o->key_file, &sb) != 0) {
    if (errno != ENOENT)
      return HW_EIO;
    info->why = HW_STORE_WHY_KEYFILE_ABSENT;
    return HW_ENOENT;
  }
  if ((sb.st_mode & 077) != 0 || !S_ISREG(sb.st_mode)) {
    info->why = HW_STORE_WHY_KEYFILE_MODE;
    return HW_EPERM;
  }
  /* Its owner could read or replace it: only the user opening the store. */
  if (sb.st_uid != geteuid()) {
    info->why = HW_STORE_WHY_KEYFILE_OWNER;
    return HW_EPERM;
  }
  if (st) {
    /* Server: a key file in the state directory itself defeats the purpose
     * against theft (architecture §5). Reported, not refused. */
    char kd[4096], dd[4096], *kr, *dr;
    char *kabs = hw__st_abs_path(o->key_file);
    if (!kabs)
      return HW_ENOMEM;
    hw__fs_dirname(kabs, kd, sizeof kd);
    hw__fs_dirname(st->path, dd, sizeof dd);
    hw_free(kabs);
    kr = realpath(kd, NULL);
    dr = realpath(dd, NULL);
    if (kr && dr && strcmp(kr, dr) == 0)
      info->flags |= HW_STORE_KEYFILE_BESIDE_DB;
    free(kr);
    free(dr);
  }
  rc = hw__fs_read(o->key_file, raw, sizeof raw, &n);
  if (rc == HW_ELIMIT)
    info->why = HW_STORE_WHY_KEYFILE_FORMAT;
  if (rc)
    return rc == HW_ELIMIT ? HW_EKEYFILE : rc;
  *secret = sodium_malloc(HW__KEY);
  if (!*secret) {
    sodium_memzero(raw, sizeof raw);
    return HW_ENOMEM;
  }
  rc = hw__keyfile_parse(raw, n, *secret);
  sodium_memzero(raw, sizeof raw);
  if (rc) {
    sodium_free(*secret);
    *secret = NULL;
    info->why = HW_STORE_WHY_KEYFILE_FORMAT;
    return rc;
  }
  *len = HW__KEY;
  return HW_OK;
}

/* Switch to `mode` (lower case, as SQLite names it) and check that SQLite
 * did: it declines some switches without an error, and a store left in
 * another mode than asked would go unnoticed (a WAL store opened by a
 * device is converted here). */
static int journal_mode(hw_store *st, sqlite3 *db, const char *mode)
{
  char sql[64];
  sqlite3_stmt *s;
  int rc;

  snprintf(sql, sizeof sql, "PRAGMA journal_mode=%s", mode);
  if ((rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL)) != SQLITE_OK)
    return hw__st_from_sqlite(st, rc);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    const unsigned char *got = sqlite3_column_text(s, 0);
    rc = got && strcmp((const char *)got, mode) == 0 ? SQLITE_OK : SQLITE_ERROR;
  }
  sqlite3_finalize(s);
  return rc == SQLITE_OK ? HW_OK : hw__st_from_sqlite(st, rc);
}

/* Per-connection settings, the same for the store and its backups: one
 * connection holds the file (no -shm: the WAL index stays in memory), temp
 * data in memory (security.md A.1), no memory mapping, FULL sync. */
int hw__st_conn_setup(hw_store *st, sqlite3 *db, bool fresh, int journal)
{
  char sql[256];
  int rc;

  rc = sqlite3_exec(db,
                    "PRAGMA locking_mode=EXCLUSIVE; PRAGMA temp_store=MEMORY; PRAGMA mmap_size=0;"
                    "PRAGMA trusted_schema=OFF; PRAGMA cell_size_check=ON;",
                    NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return hw__st_from_sqlite(st, rc);
  if (fresh) {
    int reserve = HW__RESERVE;
    rc = sqlite3_exec(db, "PRAGMA page_size=4096;", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
      return hw__st_from_sqlite(st, rc);
    rc = sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
    if (rc != SQLITE_OK)
      return hw__st_from_sqlite(st, rc);
  }
  if ((rc = journal_mode(st, db, journal == HW_STORE_WAL ? "wal" : "persist")) != HW_OK)
    return rc;
  snprintf(sql, sizeof sql, "PRAGMA synchronous=%s;",
           (st->test_flags & HW_STORE_TEST_SYNC_NORMAL) ? "NORMAL" : "FULL");
  rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK ? HW_OK : hw__st_from_sqlite(st, rc);
}

static void forget_sum(void *ud)
{
  ((hw_store *)ud)->sum_known = false;
  ((hw_store *)ud)->sum_dirty = false;
}

/* The sum folded in memory into the settings table (in the transaction). */
int hw__st_sum_write(hw_store *st)
{
  int rc;

  if (!st->sum_dirty)
    return HW_OK;
  if ((rc = hw__st_setting_put_raw(st, HW__SUM_SETTING, st->sum, sizeof st->sum)) == HW_OK)
    st->sum_dirty = false;
  return rc;
}

static int open_db(hw_store *st, bool fresh)
{
  int rc = sqlite3_open_v2(st->path, &st->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                           hw__cvfs_name(st->vfs));
  if (rc != SQLITE_OK)
    return hw__st_from_sqlite(st, rc);
  sqlite3_extended_result_codes(st->db, 1);
  /* Explicit and automatic rollbacks alike (SQLite calls it for both). */
  sqlite3_rollback_hook(st->db, forget_sum, st);
  return hw__st_conn_setup(st, st->db, fresh, st->journal);
}

static int make_vfs(hw_store *st, const char *base_vfs)
{
  uint8_t *pk = sodium_malloc(HW__KEY);
  int rc;

  if (!pk)
    return HW_ENOMEM;
  crypto_kdf_derive_from_key(pk, HW__KEY, SUBKEY_PAGES, SUBKEY_CTX, st->dek);
  rc = hw__cvfs_new(&st->vfs, base_vfs, pk, st->env.dbid);
  sodium_free(pk);
  return rc;
}

static int create_store(hw_store *st, const hw_store_opts *o, const uint8_t *secret,
                        size_t secret_len, hw_store_info *info)
{
  uint8_t env_bytes[HW__ENV_BYTES];
  uint8_t *kek = NULL;
  char dir[4096];
  int rc, h;

  memset(&st->env, 0, sizeof st->env);
  st->env.version = 1;
  st->env.kdf = o->key_file ? HW__KDF_KEYFILE : HW__KDF_ARGON2ID;
  if (st->env.kdf == HW__KDF_ARGON2ID)
    hw__st_kdf_limits(o->test_flags, &st->env);
  randombytes_buf(st->env.salt, sizeof st->env.salt);
  randombytes_buf(st->env.dbid, sizeof st->env.dbid);
  st->dek = sodium_malloc(HW__KEY);
  kek = sodium_malloc(HW__KEY);
  if (!st->dek || !kek) {
    rc = HW_ENOMEM;
    goto out;
  }
  crypto_kdf_keygen(st->dek);
  if (o->recovery_pk) {
    uint8_t m[HW__DBID + HW__KEY];
    st->env.flags |= HW__ENV_F_RECOVERY;
    memcpy(st->env.recovery_pk, o->recovery_pk, 32);
    memcpy(m, st->env.dbid, HW__DBID);
    memcpy(m + HW__DBID, st->dek, HW__KEY);
    rc = crypto_box_seal(st->env.sealed, m, sizeof m, o->recovery_pk);
    sodium_memzero(m, sizeof m);
    if (rc != 0) {
      rc = HW_EINVAL;
      goto out;
    }
  } else {
    info->flags |= HW_STORE_NO_RECOVERY;
  }
  rc = hw__env_kek(&st->env, secret, secret_len, kek);
  if (rc) {
    if (rc == HW_ENOMEM)
      info->why = HW_STORE_WHY_KDF_NOMEM;
    goto out;
  }
  hw__env_wrap(&st->env, kek, st->dek);
  hw__env_encode(&st->env, env_bytes);

  /* Envelope first, then the database file (mode 0600, so SQLite's journal
   * and WAL inherit it), then the schema, then the directory, then the
   * no-backup record. A crash part way leaves no store that opens. */
  rc = hw__fs_write_atomic(st->fs, st->env_path, env_bytes, sizeof env_bytes,
                           st->test_flags & HW_STORE_TEST_NO_DIRSYNC);
  if (rc)
    goto out;
  h = st->fs->create(st->path);
  if (h < 0) {
    rc = h;
    goto undo;
  }
  rc = st->fs->close(h);
  if (rc)
    goto undo;
  rc = make_vfs(st, o->base_vfs);
  if (rc)
    goto undo;
  rc = open_db(st, true);
  if (rc)
    goto undo;
  hw_id_random(&st->replica);
  st->counter = 0;
  st->start = 1;
  rc = hw__st_exec(st, "BEGIN");
  if (rc == HW_OK)
    rc = hw__st_exec(st, schema);
  if (rc == HW_OK)
    rc = hw__st_u64_put(st, "hw.format", FORMAT);
  if (rc == HW_OK)
    rc = hw__st_setting_put_raw(st, "hw.replica", st->replica.b, HW_ID_BYTES);
  if (rc == HW_OK)
    rc = hw__st_u64_put(st, "hw.counter", 0);
  if (rc == HW_OK)
    rc = hw__st_u64_put(st, "hw.start", 1);
  if (rc == HW_OK) {
    static const uint8_t zero[HW_HASH_BYTES];
    rc = hw__st_setting_put_raw(st, HW__SUM_SETTING, zero, sizeof zero);
  }
  if (rc == HW_OK)
    rc = hw__st_exec(st, "COMMIT");
  if (rc)
    goto undo;
  hw__fs_dirname(st->path, dir, sizeof dir);
  rc = (st->test_flags & HW_STORE_TEST_NO_DIRSYNC) ? HW_OK : st->fs->sync_dir(dir);
  if (rc == HW_OK)
    rc = hw__st_local_write(st);
  if (rc)
    goto undo;
  info->flags |= HW_STORE_CREATED;
  goto out;

undo:
  /* Leave nothing behind that could be mistaken for a store. */
  for (int i = 0; i < S_N; i++) {
    sqlite3_finalize(st->s[i]);
    st->s[i] = NULL;
  }
  if (st->db) {
    sqlite3_close_v2(st->db);
    st->db = NULL;
  }
  {
    char *j = hw__st_str_cat(st->path, "-journal"), *w = hw__st_str_cat(st->path, "-wal");
    if (j)
      unlink(j);
    if (w)
      unlink(w);
    hw_free(j);
    hw_free(w);
  }
  unlink(st->path);
  unlink(st->env_path);
  unlink(st->local_path);
out:
  if (kek)
    sodium_free(kek);
  sodium_memzero(env_bytes, sizeof env_bytes);
  return rc;
}

/* An older store is brought to this format in one transaction: a crash part
 * way leaves it as it was. */
static int migrate(hw_store *st, uint64_t from)
{
  int rc = hw__st_exec(st, "BEGIN IMMEDIATE");

  if (rc)
    return rc;
  rc = from == 1 ? hw__store_migrate_v2(st->db) : hw__store_migrate_v3(st->db);
  rc = rc == SQLITE_OK ? hw__st_u64_put(st, "hw.format", FORMAT) : hw__st_from_sqlite(st, rc);
  if (rc == HW_OK)
    rc = hw__st_exec(st, "COMMIT");
  if (rc) {
    int r2 = hw__st_exec(st, "ROLLBACK");
    (void)r2;
  }
  return rc;
}

static int open_existing(hw_store *st, const hw_store_opts *o, const uint8_t *secret,
                         size_t secret_len, hw_store_info *info, off_t db_size)
{
  uint8_t head[16], env_bytes[HW__ENV_BYTES + 1];
  uint8_t *kek = NULL;
  size_t n;
  int rc, fd, why = HW__ENV_DAMAGED;
  uint64_t fmt = 0, backup = 0;

  /* Check what can be checked before any key is derived or SQLite runs:
   * nothing is written on any of these paths. */
  if (db_size == 0) {
    info->why = HW_STORE_WHY_DB_EMPTY;
    return HW_ECORRUPT;
  }
  fd = open(st->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return HW_EIO;
  n = (size_t)read(fd, head, sizeof head);
  close(fd);
  if (n >= 16 && memcmp(head, "SQLite format 3", 16) == 0) {
    info->why = HW_STORE_WHY_DB_PLAINTEXT;
    return HW_EPROTO;
  }
  if (n < 16 || memcmp(head, HW__DB_MAGIC, 8) != 0) {
    info->why = HW_STORE_WHY_DB_NOT_STORE;
    return HW_EPROTO;
  }
  rc = hw__fs_read(st->env_path, env_bytes, sizeof env_bytes, &n);
  if (rc == HW_ENOENT) {
    info->why = HW_STORE_WHY_KEYFILE_MISSING;
    return HW_EKEYFILE;
  }
  if (rc && rc != HW_ELIMIT)
    return rc;
  rc = rc ? HW_EKEYFILE : hw__env_decode(&st->env, env_bytes, n, &why);
  if (rc) {
    info->why = why == HW__ENV_LIMITS ? HW_STORE_WHY_KEYFILE_LIMITS : HW_STORE_WHY_KEYFILE_DAMAGED;
    return HW_EKEYFILE;
  }
  if (memcmp(st->env.dbid, head + 8, 8) != 0) {
    info->why = HW_STORE_WHY_KEYFILE_OTHER_DB;
    return HW_EKEYFILE;
  }
  if (db_size < HW__PAGE) {
    info->why = HW_STORE_WHY_DB_TRUNCATED;
    return HW_ECORRUPT;
  }
  if ((st->env.kdf == HW__KDF_KEYFILE) != (o->key_file != NULL)) {
    info->why = HW_STORE_WHY_PASSPHRASE;
    return HW_EPASSPHRASE;
  }
  st->dek = sodium_malloc(HW__KEY);
  kek = sodium_malloc(HW__KEY);
  if (!st->dek || !kek) {
    rc = HW_ENOMEM;
    goto out;
  }
  rc = hw__env_kek(&st->env, secret, secret_len, kek);
  if (rc) {
    if (rc == HW_ENOMEM)
      info->why = HW_STORE_WHY_KDF_NOMEM;
    goto out;
  }
  rc = hw__env_unwrap(&st->env, kek, st->dek);
  if (rc) {
    info->why = HW_STORE_WHY_PASSPHRASE;
    goto out;
  }
  rc = make_vfs(st, o->base_vfs);
  if (rc)
    goto out;
  rc = open_db(st, false);
  if (rc == HW_OK)
    rc = hw__st_u64_get(st, "hw.format", &fmt);
  if (rc == HW_ENOENT)
    rc = HW_ECORRUPT;
  if (rc == HW_OK && (fmt == 1 || fmt == 2))
    rc = migrate(st, fmt);
  else if (rc == HW_OK && fmt != FORMAT)
    rc = HW_EVERSION;
  if (rc == HW_OK)
    rc = load_identity(st);
  if (rc == HW_OK) {
    rc = hw__st_u64_get(st, "hw.backup", &backup);
    if (rc == HW_ENOENT)
      rc = HW_OK;
  }
  if (rc) {
    if (rc == HW_ETAMPER)
      info->why = HW_STORE_WHY_TAMPERED;
    else if (rc == HW_ECORRUPT)
      info->why = HW_STORE_WHY_DB_TRUNCATED;
    goto out;
  }
  /* Architecture §3, defence 1: the no-backup record must match the store's
   * (replica id, start number). If not, the store was restored or copied:
   * say so before any write and change nothing until a new replica is taken. */
  if (backup || !local_matches(st)) {
    st->restored = true;
    info->flags |= HW_STORE_RESTORED;
    goto out;
  }
  rc = bump_start(st);
out:
  if (kek)
    sodium_free(kek);
  return rc;
}

int hw_store_open(hw_store **out, const hw_store_opts *o, hw_store_info *info)
{
  hw_store_info dummy;
  hw_store *st = NULL;
  uint8_t *secret = NULL;
  size_t secret_len = 0;
  struct stat sb;
  int rc;

  *out = NULL;
  if (!info)
    info = &dummy;
  memset(info, 0, sizeof *info);
  if (!o || !o->path || !o->path[0] || (!o->passphrase) == (!o->key_file) ||
      (o->journal != HW_STORE_ROLLBACK && o->journal != HW_STORE_WAL))
    return HW_EINVAL;
  if (hw_crypto_init() != HW_OK)
    return HW_EINTERNAL;
  if (o->base_vfs && strcmp(o->base_vfs, HW_TESTVFS_NAME) == 0 && hw_testvfs_register() != HW_OK)
    return HW_ENOMEM;
  st = hw_calloc(1, sizeof *st);
  if (!st)
    return HW_ENOMEM;
  st->test_flags = o->test_flags;
  st->journal = o->journal;
  st->fs =
      (o->base_vfs && strcmp(o->base_vfs, HW_TESTVFS_NAME) == 0) ? hw__fs_test() : hw__fs_posix();
  st->path = hw__st_abs_path(o->path);
  if (!st->path) {
    rc = HW_ENOMEM;
    goto fail;
  }
  st->env_path = hw__st_str_cat(st->path, ".hwkey");
  st->local_path = hw__st_str_cat(st->path, ".hwlocal");
  if (!st->env_path || !st->local_path) {
    rc = HW_ENOMEM;
    goto fail;
  }
  rc = hw__st_get_secret(st, o, &secret, &secret_len, info);
  if (rc)
    goto fail;
  if (stat(st->path, &sb) != 0) {
    if (errno != ENOENT) {
      rc = HW_EIO;
      goto fail;
    }
    if (!o->create) {
      info->why = HW_STORE_WHY_NO_DB;
      rc = HW_ENOENT;
      goto fail;
    }
    if (stat(st->env_path, &sb) == 0) {
      rc = HW_EEXIST; /* an envelope without its database: never overwrite it */
      goto fail;
    }
    rc = create_store(st, o, secret, secret_len, info);
  } else {
    rc = open_existing(st, o, secret, secret_len, info, sb.st_size);
  }
  if (rc)
    goto fail;
  sodium_free(secret);
  info->replica = st->replica;
  info->start = st->start;
  info->counter = st->counter;
  *out = st;
  return HW_OK;

fail:
  if (secret)
    sodium_free(secret);
  {
    unsigned keep = info->flags & HW_STORE_KEYFILE_BESIDE_DB;
    int why = info->why;
    memset(info, 0, sizeof *info);
    info->flags = keep;
    info->why = why;
  }
  store_free(st);
  return rc;
}

int hw_store_keyfile_create(const char *path)
{
  uint8_t key[HW__KEY];
  char hex[2 * HW__KEY + 2];
  int fd, rc = HW_OK;

  if (hw_crypto_init() != HW_OK)
    return HW_EINTERNAL;
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return errno == EEXIST ? HW_EEXIST : HW_EIO;
  randombytes_buf(key, sizeof key);
  sodium_bin2hex(hex, sizeof hex, key, sizeof key);
  hex[2 * HW__KEY] = '\n';
  if (write(fd, hex, 2 * HW__KEY + 1) != 2 * HW__KEY + 1 || fsync(fd) != 0)
    rc = HW_EIO;
  close(fd);
  sodium_memzero(key, sizeof key);
  sodium_memzero(hex, sizeof hex);
  if (rc)
    unlink(path);
  return rc;
}

/* ---- transactions ---- */

int hw_store_begin(hw_store *st)
{
  if (!sqlite3_get_autocommit(st->db))
    return HW_EINVAL;
  hw__cvfs_reset_tampered(st->vfs);
  return hw__st_exec(st, "BEGIN IMMEDIATE");
}

int hw_store_commit(hw_store *st)
{
  int rc;

  if (sqlite3_get_autocommit(st->db))
    return HW_EINVAL;
  if ((rc = hw__st_sum_write(st)) == HW_OK)
    rc = hw__st_exec(st, "COMMIT");
  if (rc) {
    /* A failed commit leaves nothing half-done: roll back what is left. */
    if (!sqlite3_get_autocommit(st->db))
      (void)hw__st_exec(st, "ROLLBACK");
    st->sp_depth = 0;
    (void)load_identity(st);
    return rc;
  }
  st->sp_depth = 0;
  return HW_OK;
}

int hw_store_rollback(hw_store *st)
{
  int rc;

  /* SQLite may already have rolled back after an I/O error: that is fine. */
  rc = sqlite3_get_autocommit(st->db) ? HW_OK : hw__st_exec(st, "ROLLBACK");
  st->sp_depth = 0;
  if (rc == HW_OK)
    rc = load_identity(st);
  return rc;
}

int hw_store_savepoint(hw_store *st)
{
  char sql[32];
  int rc;

  /* The savepoint's rollback restores the table: it must hold the sum now. */
  if ((rc = hw__st_sum_write(st)) != HW_OK)
    return rc;
  snprintf(sql, sizeof sql, "SAVEPOINT sp%d", st->sp_depth + 1);
  rc = hw__st_exec(st, sql);
  if (rc == HW_OK)
    st->sp_depth++;
  return rc;
}

int hw_store_savepoint_release(hw_store *st)
{
  char sql[32];
  int rc;

  if (st->sp_depth == 0)
    return HW_EINVAL;
  /* Releasing a savepoint that stands alone commits: the sum goes first. */
  if ((rc = hw__st_sum_write(st)) != HW_OK)
    return rc;
  snprintf(sql, sizeof sql, "RELEASE sp%d", st->sp_depth);
  rc = hw__st_exec(st, sql);
  if (rc == HW_OK)
    st->sp_depth--;
  return rc;
}

int hw_store_savepoint_rollback(hw_store *st)
{
  char sql[64];
  int rc;

  if (st->sp_depth == 0)
    return HW_EINVAL;
  snprintf(sql, sizeof sql, "ROLLBACK TO sp%d; RELEASE sp%d", st->sp_depth, st->sp_depth);
  st->sum_known = st->sum_dirty = false; /* the rollback hook does not see savepoints */
  rc = hw__st_exec(st, sql);
  if (rc == HW_OK) {
    st->sp_depth--;
    rc = load_identity(st);
  }
  return rc;
}
