#define _GNU_SOURCE /* realpath */
/* The encrypted store (store.h, docs/storage.md). The one file that runs SQL;
 * the pages themselves are sealed by cryptvfs.c. */
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

#define SUBKEY_CTX "HWSTORE1"
#define SUBKEY_PAGES 1
#define LOCAL_MAGIC "HWLOCAL1"
#define LOCAL_BYTES (8 + HW__DBID + HW_ID_BYTES + 8 + 32)
/* 1: before item and marks; 2: items in an index; 3: their sum in hw.sum
 * (migrate.c) */
#define FORMAT 3

enum {
  S_PUT,
  S_GET,
  S_META,
  S_ACK,
  S_LIST_CASE,
  S_LIST_PENDING,
  S_LIST_ALL,
  S_SET_GET,
  S_SET_PUT,
  S_SET_DEL,
  S_SET_DEL_RANGE,
  S_OW_PUT,
  S_OW_GET,
  S_OW_LIST,
  S_COUNT,
  S_DEL_CASE,
  S_COUNT_CASE,
  S_DEL_ONE,
  S_OW_DEL,
  S_DEL_CASE_ITEMS,
  S_MARKED,
  S_SET_MARKS,
  S_FORGET_MARKS,
  S_VVS,
  S_N
};

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

struct hw_store {
  sqlite3 *db;
  hw__cvfs *vfs;
  const hw__fs *fs;
  char *path; /* absolute */
  char *env_path;
  char *local_path;
  uint8_t *dek; /* sodium_malloc'd data key */
  hw__env env;
  unsigned test_flags;
  int journal;
  hw_id replica;
  uint64_t counter;
  uint64_t start;
  bool restored;
  int sp_depth;
  sqlite3_stmt *s[S_N];
  /* The state sum as of the open transaction, when sum_known: puts and
   * deletes fold into it here and it reaches the settings table before the
   * transaction commits or a savepoint starts (sum_dirty until then).
   * Forgotten at every rollback (the rollback hook and savepoint rollbacks),
   * when the table holds the right value again. */
  uint8_t sum[HW_HASH_BYTES];
  bool sum_known, sum_dirty;
};

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

static int from_sqlite(hw_store *st, int rc)
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
  case SQLITE_CONSTRAINT:
    return HW_EEXIST;
  case SQLITE_TOOBIG:
    return HW_ELIMIT;
  default:
    return HW_EINTERNAL;
  }
}

static char *str_cat(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  char *s = hw_malloc(la + lb + 1);
  if (s) {
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
  }
  return s;
}

static char *abs_path(const char *p)
{
  char cwd[PATH_MAX];

  if (p[0] == '/')
    return str_cat(p, "");
  if (!getcwd(cwd, sizeof cwd))
    return NULL;
  size_t n = strlen(cwd);
  if (n + 1 < sizeof cwd) {
    cwd[n] = '/';
    cwd[n + 1] = 0;
  }
  return str_cat(cwd, p);
}

static int exec(hw_store *st, const char *sql)
{
  return from_sqlite(st, sqlite3_exec(st->db, sql, NULL, NULL, NULL));
}

static int stmt(hw_store *st, int i, sqlite3_stmt **out)
{
  int rc;

  *out = NULL;
  if (!st->s[i]) {
    rc = sqlite3_prepare_v3(st->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &st->s[i], NULL);
    if (rc != SQLITE_OK)
      return from_sqlite(st, rc);
  }
  sqlite3_reset(st->s[i]);
  sqlite3_clear_bindings(st->s[i]);
  *out = st->s[i];
  return HW_OK;
}

/* Step a statement that returns no row. */
static int step_done(hw_store *st, sqlite3_stmt *s)
{
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? HW_OK : from_sqlite(st, rc);
}

static void put_be64(uint8_t *p, uint64_t x)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(x >> (56 - 8 * i));
}

static uint64_t get_be64(const uint8_t *p)
{
  uint64_t x = 0;
  for (int i = 0; i < 8; i++)
    x = x << 8 | p[i];
  return x;
}

/* vv bytes: n x (replica id, counter big-endian), in canonical order. */
#define VV_ENTRY (HW_ID_BYTES + 8)

static void vv_encode(const hw_vv *vv, uint8_t *out)
{
  for (size_t i = 0; i < vv->n; i++) {
    memcpy(out + i * VV_ENTRY, vv->e[i].replica.b, HW_ID_BYTES);
    put_be64(out + i * VV_ENTRY + HW_ID_BYTES, vv->e[i].counter);
  }
}

static int vv_decode(const uint8_t *p, size_t n, hw_dot *dots, hw_vv *out)
{
  out->n = 0;
  out->e = dots;
  if (n % VV_ENTRY != 0 || n / VV_ENTRY > HW_VV_MAX)
    return HW_ECORRUPT;
  out->n = n / VV_ENTRY;
  for (size_t i = 0; i < out->n; i++) {
    memcpy(dots[i].replica.b, p + i * VV_ENTRY, HW_ID_BYTES);
    dots[i].counter = get_be64(p + i * VV_ENTRY + HW_ID_BYTES);
  }
  return hw_vv_check(out) == HW_OK ? HW_OK : HW_ECORRUPT;
}

static int setting_get_raw(hw_store *st, const char *name, uint8_t *buf, size_t cap, size_t *len)
{
  sqlite3_stmt *s;
  int rc = stmt(st, S_SET_GET, &s);

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
    rc = rc == SQLITE_DONE ? HW_ENOENT : from_sqlite(st, rc);
  }
  sqlite3_reset(s);
  return rc;
}

static int setting_put_raw(hw_store *st, const char *name, const void *v, size_t n)
{
  sqlite3_stmt *s;
  int rc = stmt(st, S_SET_PUT, &s);

  if (rc)
    return rc;
  sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_blob(s, 2, n ? v : "", (int)n, SQLITE_STATIC);
  return step_done(st, s);
}

static int u64_get(hw_store *st, const char *name, uint64_t *out)
{
  uint8_t b[8];
  size_t n;
  int rc = setting_get_raw(st, name, b, sizeof b, &n);

  *out = 0;
  if (rc)
    return rc;
  if (n != 8)
    return HW_ECORRUPT;
  *out = get_be64(b);
  return HW_OK;
}

static int u64_put(hw_store *st, const char *name, uint64_t v)
{
  uint8_t b[8];
  put_be64(b, v);
  return setting_put_raw(st, name, b, sizeof b);
}

/* Reload the cached identity after a rollback. */
static int load_identity(hw_store *st)
{
  uint8_t b[HW_ID_BYTES];
  size_t n;
  int rc = setting_get_raw(st, "hw.replica", b, sizeof b, &n);

  if (rc)
    return rc == HW_ENOENT ? HW_ECORRUPT : rc;
  if (n != HW_ID_BYTES)
    return HW_ECORRUPT;
  memcpy(st->replica.b, b, HW_ID_BYTES);
  rc = u64_get(st, "hw.counter", &st->counter);
  if (rc == HW_OK)
    rc = u64_get(st, "hw.start", &st->start);
  return rc == HW_ENOENT ? HW_ECORRUPT : rc;
}

/* ---- the no-backup record ---- */

static void local_encode(const hw_store *st, uint8_t out[LOCAL_BYTES])
{
  memcpy(out, LOCAL_MAGIC, 8);
  memcpy(out + 8, st->env.dbid, HW__DBID);
  memcpy(out + 8 + HW__DBID, st->replica.b, HW_ID_BYTES);
  put_be64(out + 8 + HW__DBID + HW_ID_BYTES, st->start);
  crypto_generichash(out + LOCAL_BYTES - 32, 32, out, LOCAL_BYTES - 32, NULL, 0);
}

/* Whether the no-backup record matches the store (architecture §3). */
static bool local_matches(const hw_store *st)
{
  uint8_t want[LOCAL_BYTES], got[LOCAL_BYTES + 1];
  size_t n;

  if (hw__fs_read(st->local_path, got, sizeof got, &n) != HW_OK || n != LOCAL_BYTES)
    return false;
  local_encode(st, want);
  return sodium_memcmp(want, got, LOCAL_BYTES) == 0;
}

static int local_write(hw_store *st)
{
  uint8_t b[LOCAL_BYTES];
  local_encode(st, b);
  return hw__fs_write_atomic(st->fs, st->local_path, b, sizeof b, false);
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
    (void)exec(st, "ROLLBACK");
  store_free(st);
}

static int kdf_limits(unsigned test_flags, hw__env *e)
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
static int get_secret(hw_store *st, const hw_store_opts *o, uint8_t **secret, size_t *len,
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
    char *kabs = abs_path(o->key_file);
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
    return from_sqlite(st, rc);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    const unsigned char *got = sqlite3_column_text(s, 0);
    rc = got && strcmp((const char *)got, mode) == 0 ? SQLITE_OK : SQLITE_ERROR;
  }
  sqlite3_finalize(s);
  return rc == SQLITE_OK ? HW_OK : from_sqlite(st, rc);
}

/* Per-connection settings, the same for the store and its backups: one
 * connection holds the file (no -shm: the WAL index stays in memory), temp
 * data in memory (security.md A.1), no memory mapping, FULL sync. */
static int conn_setup(hw_store *st, sqlite3 *db, bool fresh, int journal)
{
  char sql[256];
  int rc;

  rc = sqlite3_exec(db,
                    "PRAGMA locking_mode=EXCLUSIVE; PRAGMA temp_store=MEMORY; PRAGMA mmap_size=0;"
                    "PRAGMA trusted_schema=OFF; PRAGMA cell_size_check=ON;",
                    NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return from_sqlite(st, rc);
  if (fresh) {
    int reserve = HW__RESERVE;
    rc = sqlite3_exec(db, "PRAGMA page_size=4096;", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
      return from_sqlite(st, rc);
    rc = sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
    if (rc != SQLITE_OK)
      return from_sqlite(st, rc);
  }
  if ((rc = journal_mode(st, db, journal == HW_STORE_WAL ? "wal" : "persist")) != HW_OK)
    return rc;
  snprintf(sql, sizeof sql, "PRAGMA synchronous=%s;",
           (st->test_flags & HW_STORE_TEST_SYNC_NORMAL) ? "NORMAL" : "FULL");
  rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK ? HW_OK : from_sqlite(st, rc);
}

static void forget_sum(void *ud)
{
  ((hw_store *)ud)->sum_known = false;
  ((hw_store *)ud)->sum_dirty = false;
}

/* The sum folded in memory into the settings table (in the transaction). */
static int sum_write(hw_store *st)
{
  int rc;

  if (!st->sum_dirty)
    return HW_OK;
  if ((rc = setting_put_raw(st, HW__SUM_SETTING, st->sum, sizeof st->sum)) == HW_OK)
    st->sum_dirty = false;
  return rc;
}

static int open_db(hw_store *st, bool fresh)
{
  int rc = sqlite3_open_v2(st->path, &st->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                           hw__cvfs_name(st->vfs));
  if (rc != SQLITE_OK)
    return from_sqlite(st, rc);
  sqlite3_extended_result_codes(st->db, 1);
  /* Explicit and automatic rollbacks alike (SQLite calls it for both). */
  sqlite3_rollback_hook(st->db, forget_sum, st);
  return conn_setup(st, st->db, fresh, st->journal);
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
    kdf_limits(o->test_flags, &st->env);
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
  rc = exec(st, "BEGIN");
  if (rc == HW_OK)
    rc = exec(st, schema);
  if (rc == HW_OK)
    rc = u64_put(st, "hw.format", FORMAT);
  if (rc == HW_OK)
    rc = setting_put_raw(st, "hw.replica", st->replica.b, HW_ID_BYTES);
  if (rc == HW_OK)
    rc = u64_put(st, "hw.counter", 0);
  if (rc == HW_OK)
    rc = u64_put(st, "hw.start", 1);
  if (rc == HW_OK) {
    static const uint8_t zero[HW_HASH_BYTES];
    rc = setting_put_raw(st, HW__SUM_SETTING, zero, sizeof zero);
  }
  if (rc == HW_OK)
    rc = exec(st, "COMMIT");
  if (rc)
    goto undo;
  hw__fs_dirname(st->path, dir, sizeof dir);
  rc = (st->test_flags & HW_STORE_TEST_NO_DIRSYNC) ? HW_OK : st->fs->sync_dir(dir);
  if (rc == HW_OK)
    rc = local_write(st);
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
    char *j = str_cat(st->path, "-journal"), *w = str_cat(st->path, "-wal");
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
  int rc = exec(st, "BEGIN IMMEDIATE");

  if (rc)
    return rc;
  rc = from == 1 ? hw__store_migrate_v2(st->db) : hw__store_migrate_v3(st->db);
  rc = rc == SQLITE_OK ? u64_put(st, "hw.format", FORMAT) : from_sqlite(st, rc);
  if (rc == HW_OK)
    rc = exec(st, "COMMIT");
  if (rc) {
    int r2 = exec(st, "ROLLBACK");
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
    rc = u64_get(st, "hw.format", &fmt);
  if (rc == HW_ENOENT)
    rc = HW_ECORRUPT;
  if (rc == HW_OK && (fmt == 1 || fmt == 2))
    rc = migrate(st, fmt);
  else if (rc == HW_OK && fmt != FORMAT)
    rc = HW_EVERSION;
  if (rc == HW_OK)
    rc = load_identity(st);
  if (rc == HW_OK) {
    rc = u64_get(st, "hw.backup", &backup);
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
  st->start++;
  rc = u64_put(st, "hw.start", st->start);
  if (rc == HW_OK)
    rc = local_write(st);
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
  st->path = abs_path(o->path);
  if (!st->path) {
    rc = HW_ENOMEM;
    goto fail;
  }
  st->env_path = str_cat(st->path, ".hwkey");
  st->local_path = str_cat(st->path, ".hwlocal");
  if (!st->env_path || !st->local_path) {
    rc = HW_ENOMEM;
    goto fail;
  }
  rc = get_secret(st, o, &secret, &secret_len, info);
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

/* ---- keys ---- */

int hw_store_change_passphrase(hw_store *st, const uint8_t *pass, size_t pass_len)
{
  hw_store_opts to = {.passphrase = pass, .passphrase_len = pass_len};
  hw_store_info info;

  if (!pass || st->env.kdf != HW__KDF_ARGON2ID)
    return HW_EINVAL;
  return hw_store_rekey(st, &to, &info);
}

int hw_store_rekey(hw_store *st, const hw_store_opts *to, hw_store_info *info)
{
  hw__env e = st->env;
  uint8_t env_bytes[HW__ENV_BYTES];
  uint8_t *kek, *secret = NULL;
  size_t secret_len = 0;
  int rc;

  memset(info, 0, sizeof *info);
  if (!to || (!to->passphrase) == (!to->key_file) || !sqlite3_get_autocommit(st->db))
    return HW_EINVAL;
  if ((rc = get_secret(NULL, to, &secret, &secret_len, info)) != 0)
    return rc;
  kek = sodium_malloc(HW__KEY);
  if (!kek) {
    sodium_free(secret);
    return HW_ENOMEM;
  }
  e.kdf = to->key_file ? HW__KDF_KEYFILE : HW__KDF_ARGON2ID;
  e.opslimit = 0;
  e.memlimit = 0;
  if (e.kdf == HW__KDF_ARGON2ID)
    kdf_limits(st->test_flags, &e);
  randombytes_buf(e.salt, sizeof e.salt);
  rc = hw__env_kek(&e, secret, secret_len, kek);
  sodium_free(secret);
  if (rc == HW_OK) {
    hw__env_wrap(&e, kek, st->dek);
    hw__env_encode(&e, env_bytes);
    rc = hw__fs_write_atomic(st->fs, st->env_path, env_bytes, sizeof env_bytes,
                             st->test_flags & HW_STORE_TEST_NO_DIRSYNC);
    if (rc == HW_OK)
      st->env = e;
  }
  sodium_free(kek);
  sodium_memzero(&e, sizeof e);
  return rc;
}

int hw_store_recover(const hw_store_opts *o, const uint8_t pk[static HW_STORE_RECOVERY_PK_BYTES],
                     const uint8_t sk[static HW_STORE_RECOVERY_SK_BYTES])
{
  uint8_t buf[HW__ENV_BYTES + 1], m[HW__DBID + HW__KEY];
  char *path = NULL, *env_path = NULL;
  uint8_t *kek = NULL;
  hw__env e;
  size_t n;
  int rc, why;
  const hw__fs *fs;

  if (!o || !o->path || !o->passphrase)
    return HW_EINVAL;
  if (hw_crypto_init() != HW_OK)
    return HW_EINTERNAL;
  fs = (o->base_vfs && strcmp(o->base_vfs, HW_TESTVFS_NAME) == 0) ? hw__fs_test() : hw__fs_posix();
  path = abs_path(o->path);
  env_path = path ? str_cat(path, ".hwkey") : NULL;
  kek = sodium_malloc(HW__KEY);
  if (!path || !env_path || !kek) {
    rc = HW_ENOMEM;
    goto out;
  }
  rc = hw__fs_read(env_path, buf, sizeof buf, &n);
  if (rc)
    goto out;
  rc = hw__env_decode(&e, buf, n, &why);
  if (rc)
    goto out;
  if (!(e.flags & HW__ENV_F_RECOVERY) || sodium_memcmp(e.recovery_pk, pk, 32) != 0) {
    rc = HW_EKEYFILE;
    goto out;
  }
  if (crypto_box_seal_open(m, e.sealed, sizeof e.sealed, pk, sk) != 0) {
    rc = HW_EAUTH;
    goto out;
  }
  if (sodium_memcmp(m, e.dbid, HW__DBID) != 0) {
    rc = HW_EKEYFILE;
    goto out;
  }
  e.kdf = HW__KDF_ARGON2ID;
  kdf_limits(o->test_flags, &e);
  randombytes_buf(e.salt, sizeof e.salt);
  rc = hw__env_kek(&e, o->passphrase, o->passphrase_len, kek);
  if (rc)
    goto out;
  hw__env_wrap(&e, kek, m + HW__DBID);
  hw__env_encode(&e, buf);
  rc = hw__fs_write_atomic(fs, env_path, buf, HW__ENV_BYTES, false);
out:
  sodium_memzero(m, sizeof m);
  sodium_memzero(&e, sizeof e);
  if (kek)
    sodium_free(kek);
  hw_free(path);
  hw_free(env_path);
  return rc;
}

int hw_store_subkey(hw_store *st, uint64_t id, uint8_t out[static HW_STORE_KEY_BYTES])
{
  if (id < 16)
    return HW_EINVAL;
  crypto_kdf_derive_from_key(out, HW_STORE_KEY_BYTES, id, SUBKEY_CTX, st->dek);
  return HW_OK;
}

/* ---- transactions ---- */

int hw_store_begin(hw_store *st)
{
  if (!sqlite3_get_autocommit(st->db))
    return HW_EINVAL;
  hw__cvfs_reset_tampered(st->vfs);
  return exec(st, "BEGIN IMMEDIATE");
}

int hw_store_commit(hw_store *st)
{
  int rc;

  if (sqlite3_get_autocommit(st->db))
    return HW_EINVAL;
  if ((rc = sum_write(st)) == HW_OK)
    rc = exec(st, "COMMIT");
  if (rc) {
    /* A failed commit leaves nothing half-done: roll back what is left. */
    if (!sqlite3_get_autocommit(st->db))
      (void)exec(st, "ROLLBACK");
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
  rc = sqlite3_get_autocommit(st->db) ? HW_OK : exec(st, "ROLLBACK");
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
  if ((rc = sum_write(st)) != HW_OK)
    return rc;
  snprintf(sql, sizeof sql, "SAVEPOINT sp%d", st->sp_depth + 1);
  rc = exec(st, sql);
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
  if ((rc = sum_write(st)) != HW_OK)
    return rc;
  snprintf(sql, sizeof sql, "RELEASE sp%d", st->sp_depth);
  rc = exec(st, sql);
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
  rc = exec(st, sql);
  if (rc == HW_OK) {
    st->sp_depth--;
    rc = load_identity(st);
  }
  return rc;
}

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
  return *own ? exec(st, "BEGIN IMMEDIATE") : HW_OK;
}

static int sum_end(hw_store *st, bool own, int rc)
{
  if (!own)
    return rc;
  if (rc == HW_OK && (rc = sum_write(st)) == HW_OK && (rc = exec(st, "COMMIT")) == HW_OK)
    return HW_OK;
  /* A failed COMMIT may leave the transaction open: close it. */
  if (!sqlite3_get_autocommit(st->db)) {
    int r2 = exec(st, "ROLLBACK");
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
    rc = setting_get_raw(st, HW__SUM_SETTING, st->sum, sizeof st->sum, &n);
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
  rc = setting_get_raw(st, HW__SUM_SETTING, out, HW_HASH_BYTES, &n);

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
  int rc = stmt(st, S_META, &s);

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
    else if (r->kind.p &&
             (sqlite3_column_bytes(s, 0) != HW_ID_BYTES || !c || !k ||
              memcmp(c, r->case_id.b, HW_ID_BYTES) != 0 ||
              (size_t)sqlite3_column_bytes(s, 1) != r->kind.len ||
              memcmp(k, r->kind.p, r->kind.len) != 0))
      rc = HW_EDIVERGE;
    else
      rc = HW_OK;
    if (rc == HW_OK)
      memcpy(item, it, HW_HASH_BYTES);
  } else {
    rc = rc == SQLITE_DONE ? HW_OK : from_sqlite(st, rc);
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
  vv_encode(&r->vv, vv);
  vv_encode(&r->acked, acked);
  rc = stmt(st, S_PUT, &s);
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
  if ((rc = step_done(st, s)) != 0)
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
  rc = u64_get(st, "hw.counter", &c);
  if (rc)
    return rc == HW_ENOENT ? HW_ECORRUPT : rc;
  if (c >= (uint64_t)INT64_MAX)
    return HW_ELIMIT;
  rc = u64_put(st, "hw.counter", c + 1);
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
    rc = stmt(st, S_OW_PUT, &s);
  if (rc == HW_OK) {
    sqlite3_bind_blob(s, 1, dot->replica.b, HW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)dot->counter);
    sqlite3_bind_blob(s, 3, r->id.b, HW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, digest, HW_HASH_BYTES, SQLITE_STATIC);
    rc = step_done(st, s);
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
    return digest && sqlite3_errcode(st->db) == SQLITE_ERROR ? HW_ENOENT : from_sqlite(st, rc);
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
      rc = rc == SQLITE_ROW ? HW_ECORRUPT : rc == SQLITE_DONE ? HW_ENOENT : from_sqlite(st, rc);
    }
  } else {
    rc = rc == SQLITE_DONE ? HW_OK : from_sqlite(st, rc);
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
  if ((rc = exec(st, "CREATE TABLE IF NOT EXISTS replaced_writes(replica BLOB NOT NULL,"
                     " counter INTEGER NOT NULL, record BLOB NOT NULL, digest BLOB NOT NULL,"
                     " PRIMARY KEY(replica, counter)) WITHOUT ROWID")) != 0 ||
      (rc = replaced_step(st,
                          "INSERT OR REPLACE INTO replaced_writes SELECT replica, counter, record,"
                          " digest FROM own_writes WHERE replica = ?1 AND counter = ?2",
                          dot, NULL, NULL)) != 0)
    return rc;
  if ((rc = stmt(st, S_OW_DEL, &s)) != 0)
    return rc;
  sqlite3_bind_blob(s, 1, dot->replica.b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)dot->counter);
  return step_done(st, s);
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
  rc = vv_decode(sqlite3_column_blob(s, 3), (size_t)sqlite3_column_bytes(s, 3), d1, &r->vv);
  if (rc == HW_OK)
    rc = vv_decode(sqlite3_column_blob(s, 4), (size_t)sqlite3_column_bytes(s, 4), d2, &r->acked);
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
  rc = stmt(st, S_GET, &s);
  if (rc)
    return rc;
  d1 = hw_malloc(2 * HW_VV_MAX * sizeof *d1);
  if (!d1)
    return HW_ENOMEM;
  sqlite3_bind_blob(s, 1, id->b, HW_ID_BYTES, SQLITE_STATIC);
  rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) {
    rc = rc == SQLITE_DONE ? HW_ENOENT : from_sqlite(st, rc);
    goto out;
  }
  rc = row_rec(s, &r, d1, d1 + HW_VV_MAX);
  if (rc) {
    if (rc == HW_ENOMEM || sqlite3_errcode(st->db) != SQLITE_OK)
      rc = rc == HW_ENOMEM ? HW_ENOMEM : from_sqlite(st, sqlite3_errcode(st->db));
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
  int rc = stmt(st, S_VVS, &s);

  out->vv.n = out->acked.n = 0;
  out->vv.e = out->vv_dots;
  out->acked.e = out->acked_dots;
  if (rc)
    return rc;
  sqlite3_bind_blob(s, 1, id->b, HW_ID_BYTES, SQLITE_STATIC);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    rc = vv_decode(sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0), out->vv_dots,
                   &out->vv);
    if (rc == HW_OK)
      rc = vv_decode(sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1),
                     out->acked_dots, &out->acked);
  } else {
    rc = rc == SQLITE_DONE ? HW_ENOENT : from_sqlite(st, rc);
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
    rc = stmt(st, S_ACK, &s);
  if (rc == HW_OK) {
    vv_encode(acked, enc);
    sqlite3_bind_blob(s, 1, id->b, HW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, enc, (int)(acked->n * VV_ENTRY), SQLITE_STATIC);
    sqlite3_bind_int(s, 3, !hw_vv_covers(acked, &cur->vv));
    rc = step_done(st, s);
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
      rc = from_sqlite(st, rc);
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
  int rc = stmt(st, S_LIST_CASE, &s);
  if (rc)
    return rc;
  sqlite3_bind_blob(s, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  return walk(st, s, cb, ud);
}

/* Walk the rows of a statement that takes no parameters. */
static int list_rows(hw_store *st, int which, hw_store_rec_cb cb, void *ud)
{
  sqlite3_stmt *s;
  int rc = stmt(st, which, &s);
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
  int rc = stmt(st, S_SET_MARKS, &s);

  if (rc)
    return rc;
  sqlite3_bind_blob(s, 1, id->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)marks);
  if ((rc = step_done(st, s)) != 0)
    return rc;
  return sqlite3_changes(st->db) ? HW_OK : HW_ENOENT;
}

int hw_store_forget_marks(hw_store *st)
{
  sqlite3_stmt *s;
  int rc = stmt(st, S_FORGET_MARKS, &s);
  return rc ? rc : step_done(st, s);
}

int hw_store_count(hw_store *st, uint64_t *n)
{
  sqlite3_stmt *s;
  int rc = stmt(st, S_COUNT, &s);

  *n = 0;
  if (rc)
    return rc;
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    *n = (uint64_t)sqlite3_column_int64(s, 0);
    rc = HW_OK;
  } else {
    rc = from_sqlite(st, rc);
  }
  sqlite3_reset(s);
  return rc;
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
  int rc = stmt(st, S_DEL_CASE_ITEMS, &s);

  if (rc)
    return rc;
  sqlite3_bind_blob(s, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const void *it = sqlite3_column_blob(s, 0);
    if (sqlite3_column_bytes(s, 0) != HW_HASH_BYTES || !it)
      break;
    hw_checksum_xor(delta, it);
  }
  rc = rc == SQLITE_DONE ? HW_OK : rc == SQLITE_ROW ? HW_ECORRUPT : from_sqlite(st, rc);
  sqlite3_reset(s);
  if (rc || (rc = stmt(st, S_DEL_CASE, &s)) != 0)
    return rc;
  sqlite3_bind_blob(s, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  if ((rc = step_done(st, s)) != 0)
    return rc;
  *deleted = (uint64_t)sqlite3_changes(hw_store_sqlite(st));
  /* The sum loses the rows once they are gone. */
  if ((rc = sum_fold(st, delta)) != 0)
    return rc;
  if ((rc = stmt(st, S_COUNT_CASE, &s)) != 0)
    return rc;
  sqlite3_bind_blob(s, 1, case_id->b, HW_ID_BYTES, SQLITE_STATIC);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    *kept = (uint64_t)sqlite3_column_int64(s, 0);
    rc = HW_OK;
  } else {
    rc = from_sqlite(st, rc);
  }
  sqlite3_reset(s);
  return rc;
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
  if ((rc = stmt(st, S_DEL_ONE, &s)) != 0)
    return rc;
  sqlite3_bind_blob(s, 1, id->b, HW_ID_BYTES, SQLITE_STATIC);
  return (rc = step_done(st, s)) != 0 ? rc : sum_fold(st, item);
}

int hw_store_delete(hw_store *st, const hw_id *id)
{
  bool own;
  int rc = sum_begin(st, &own);
  return rc ? rc : sum_end(st, own, delete_one(st, id));
}

/* ---- settings ---- */

static int check_name(const char *name)
{
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > HW_STORE_SETTING_KEY_MAX || strncmp(name, "hw.", 3) == 0)
    return HW_EINVAL;
  return HW_OK;
}

int hw_store_setting_set(hw_store *st, const char *name, const void *v, size_t len)
{
  int rc = check_name(name);
  if (rc)
    return rc;
  if (len > HW_STORE_SETTING_MAX)
    return HW_ELIMIT;
  return setting_put_raw(st, name, v, len);
}

int hw_store_setting_get(hw_store *st, const char *name, uint8_t **v, size_t *len)
{
  sqlite3_stmt *s;
  int rc = check_name(name);

  *v = NULL;
  *len = 0;
  if (rc)
    return rc;
  rc = stmt(st, S_SET_GET, &s);
  if (rc)
    return rc;
  sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    size_t n = (size_t)sqlite3_column_bytes(s, 0);
    const void *p = sqlite3_column_blob(s, 0);
    *v = hw_malloc(n);
    if (!*v || (n && !p)) {
      hw_free(*v);
      *v = NULL;
      rc = HW_ENOMEM;
    } else {
      if (n)
        memcpy(*v, p, n);
      *len = n;
      rc = HW_OK;
    }
  } else {
    rc = rc == SQLITE_DONE ? HW_ENOENT : from_sqlite(st, rc);
  }
  sqlite3_reset(s);
  return rc;
}

int hw_store_setting_del(hw_store *st, const char *name)
{
  sqlite3_stmt *s;
  int rc = check_name(name);
  if (rc)
    return rc;
  rc = stmt(st, S_SET_DEL, &s);
  if (rc)
    return rc;
  sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
  return step_done(st, s);
}

int hw_store_setting_del_prefix(hw_store *st, const char *prefix)
{
  char end[HW_STORE_SETTING_KEY_MAX + 1];
  size_t n = prefix ? strlen(prefix) : 0;
  sqlite3_stmt *s;
  int rc = check_name(prefix);

  if (rc || (unsigned char)prefix[n - 1] == 0xff)
    return rc ? rc : HW_EINVAL;
  /* The names below the prefix's successor: the prefix's last byte plus one. */
  memcpy(end, prefix, n + 1);
  end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
  if ((rc = stmt(st, S_SET_DEL_RANGE, &s)) != 0)
    return rc;
  sqlite3_bind_text(s, 1, prefix, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, end, -1, SQLITE_STATIC);
  return step_done(st, s);
}

/* ---- replica identity ---- */

void hw_store_replica(const hw_store *st, hw_id *replica, uint64_t *counter)
{
  if (replica)
    *replica = st->replica;
  if (counter)
    *counter = st->counter;
}

int hw_store_new_replica(hw_store *st, hw_dot *inherits)
{
  uint8_t b[HW_ID_BYTES + 8];
  hw_id fresh;
  int rc;

  if (inherits)
    memset(inherits, 0, sizeof *inherits);
  if (!sqlite3_get_autocommit(st->db))
    return HW_EINVAL;
  hw_id_random(&fresh);
  memcpy(b, st->replica.b, HW_ID_BYTES);
  put_be64(b + HW_ID_BYTES, st->counter);
  rc = exec(st, "BEGIN IMMEDIATE");
  if (rc)
    return rc;
  rc = setting_put_raw(st, "hw.inherits", b, sizeof b);
  if (rc == HW_OK)
    rc = setting_put_raw(st, "hw.replica", fresh.b, HW_ID_BYTES);
  if (rc == HW_OK)
    rc = u64_put(st, "hw.counter", 0);
  if (rc == HW_OK)
    rc = u64_put(st, "hw.start", st->start + 1);
  if (rc == HW_OK) {
    sqlite3_stmt *s;
    rc = stmt(st, S_SET_DEL, &s);
    if (rc == HW_OK) {
      sqlite3_bind_text(s, 1, "hw.backup", -1, SQLITE_STATIC);
      rc = step_done(st, s);
    }
  }
  if (rc == HW_OK)
    rc = exec(st, "COMMIT");
  if (rc) {
    if (!sqlite3_get_autocommit(st->db))
      (void)exec(st, "ROLLBACK");
    return rc;
  }
  if (inherits) {
    inherits->replica = st->replica;
    inherits->counter = st->counter;
  }
  st->replica = fresh;
  st->counter = 0;
  st->start++;
  /* The store now holds the new identity durably; the no-backup record
   * follows. A crash in between reads as restored again: safe. */
  rc = local_write(st);
  if (rc)
    return rc;
  st->restored = false;
  return HW_OK;
}

int hw_store_inherits(hw_store *st, hw_dot *out)
{
  uint8_t b[HW_ID_BYTES + 8];
  size_t n;
  int rc = setting_get_raw(st, "hw.inherits", b, sizeof b, &n);

  memset(out, 0, sizeof *out);
  if (rc)
    return rc;
  if (n != sizeof b)
    return HW_ECORRUPT;
  memcpy(out->replica.b, b, HW_ID_BYTES);
  out->counter = get_be64(b + HW_ID_BYTES);
  return HW_OK;
}

/* ---- journal of own writes ---- */

int hw_store_journal_get(hw_store *st, const hw_dot *dot, hw_id *record,
                         uint8_t digest[static HW_HASH_BYTES])
{
  sqlite3_stmt *s;
  int rc = stmt(st, S_OW_GET, &s);

  memset(record, 0, sizeof *record);
  memset(digest, 0, HW_HASH_BYTES);
  if (rc)
    return rc;
  sqlite3_bind_blob(s, 1, dot->replica.b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)dot->counter);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    if (sqlite3_column_bytes(s, 0) != HW_ID_BYTES || sqlite3_column_bytes(s, 1) != HW_HASH_BYTES) {
      rc = HW_ECORRUPT;
    } else {
      memcpy(record->b, sqlite3_column_blob(s, 0), HW_ID_BYTES);
      memcpy(digest, sqlite3_column_blob(s, 1), HW_HASH_BYTES);
      rc = HW_OK;
    }
  } else {
    rc = rc == SQLITE_DONE ? HW_ENOENT : from_sqlite(st, rc);
  }
  sqlite3_reset(s);
  return rc;
}

int hw_store_journal_list(hw_store *st, const hw_id *replica, uint64_t after,
                          hw_store_journal_cb cb, void *ud)
{
  sqlite3_stmt *s;
  hw_dot d;
  hw_id rec;
  uint8_t dig[HW_HASH_BYTES];
  int rc = stmt(st, S_OW_LIST, &s);

  if (rc)
    return rc;
  if (after > (uint64_t)INT64_MAX)
    after = (uint64_t)INT64_MAX;
  sqlite3_bind_blob(s, 1, replica->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)after);
  d.replica = *replica;
  for (;;) {
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
      rc = HW_OK;
      break;
    }
    if (rc != SQLITE_ROW) {
      rc = from_sqlite(st, rc);
      break;
    }
    if (sqlite3_column_bytes(s, 1) != HW_ID_BYTES || sqlite3_column_bytes(s, 2) != HW_HASH_BYTES) {
      rc = HW_ECORRUPT;
      break;
    }
    d.counter = (uint64_t)sqlite3_column_int64(s, 0);
    memcpy(rec.b, sqlite3_column_blob(s, 1), HW_ID_BYTES);
    memcpy(dig, sqlite3_column_blob(s, 2), HW_HASH_BYTES);
    rc = cb(ud, &d, &rec, dig);
    if (rc)
      break;
  }
  sqlite3_reset(s);
  return rc;
}

/* ---- maintenance ---- */

int hw_store_check(hw_store *st)
{
  sqlite3_stmt *s = NULL;
  int rc;

  hw__cvfs_reset_tampered(st->vfs);
  rc = sqlite3_prepare_v2(st->db, "PRAGMA integrity_check", -1, &s, NULL);
  if (rc != SQLITE_OK)
    return from_sqlite(st, rc);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    const unsigned char *t = sqlite3_column_text(s, 0);
    rc = t && strcmp((const char *)t, "ok") == 0 ? HW_OK : HW_ECORRUPT;
  } else {
    rc = from_sqlite(st, rc);
    if (rc == HW_OK)
      rc = HW_ECORRUPT;
  }
  sqlite3_finalize(s);
  if (hw__cvfs_tampered(st->vfs) > 0)
    rc = HW_ETAMPER;
  return rc;
}

int hw_store_vacuum(hw_store *st)
{
  if (!sqlite3_get_autocommit(st->db))
    return HW_EINVAL;
  return exec(st, "VACUUM");
}

int hw_store_backup(hw_store *st, const char *dest)
{
  char *dpath = NULL, *denv = NULL, dir[4096];
  uint8_t env_bytes[HW__ENV_BYTES];
  sqlite3 *ddb = NULL;
  sqlite3_backup *b;
  struct stat sb;
  int rc, h;

  if (!dest || !sqlite3_get_autocommit(st->db))
    return HW_EINVAL;
  dpath = abs_path(dest);
  denv = dpath ? str_cat(dpath, ".hwkey") : NULL;
  if (!dpath || !denv) {
    rc = HW_ENOMEM;
    goto out;
  }
  if (stat(dpath, &sb) == 0 || stat(denv, &sb) == 0) {
    rc = HW_EEXIST;
    goto out;
  }
  h = st->fs->create(dpath);
  if (h < 0) {
    rc = h;
    goto out;
  }
  rc = st->fs->close(h);
  if (rc)
    goto undo;
  /* The copy goes through this store's encrypting VFS: same keys, never a
   * plaintext page on disk (security.md A.6). */
  rc = sqlite3_open_v2(dpath, &ddb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                       hw__cvfs_name(st->vfs));
  if (rc != SQLITE_OK) {
    rc = from_sqlite(st, rc);
    goto undo;
  }
  rc = conn_setup(st, ddb, true, HW_STORE_ROLLBACK);
  if (rc)
    goto undo;
  b = sqlite3_backup_init(ddb, "main", st->db, "main");
  if (!b) {
    rc = from_sqlite(st, sqlite3_errcode(ddb));
    if (rc == HW_OK)
      rc = HW_EINTERNAL;
    goto undo;
  }
  rc = sqlite3_backup_step(b, -1);
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    rc = from_sqlite(st, rc);
    goto undo;
  }
  /* Mark the copy: opening it reports HW_STORE_RESTORED even where a
   * matching no-backup record exists. */
  {
    uint8_t one[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    sqlite3_stmt *s = NULL;
    rc = sqlite3_prepare_v2(
        ddb, "INSERT OR REPLACE INTO settings(name, value) VALUES('hw.backup', ?1)", -1, &s, NULL);
    if (rc == SQLITE_OK) {
      sqlite3_bind_blob(s, 1, one, 8, SQLITE_STATIC);
      rc = sqlite3_step(s);
      rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_OK) {
      rc = from_sqlite(st, rc);
      goto undo;
    }
  }
  rc = sqlite3_close(ddb);
  ddb = NULL;
  if (rc != SQLITE_OK) {
    rc = from_sqlite(st, rc);
    goto undo;
  }
  hw__env_encode(&st->env, env_bytes);
  rc = hw__fs_write_atomic(st->fs, denv, env_bytes, sizeof env_bytes,
                           st->test_flags & HW_STORE_TEST_NO_DIRSYNC);
  if (rc == HW_OK) {
    hw__fs_dirname(dpath, dir, sizeof dir);
    rc = st->fs->sync_dir(dir);
  }
  if (rc == HW_OK)
    goto out;
undo:
  if (ddb)
    sqlite3_close_v2(ddb);
  {
    char *j = str_cat(dpath, "-journal");
    if (j)
      unlink(j);
    hw_free(j);
  }
  unlink(dpath);
  unlink(denv);
out:
  hw_free(dpath);
  hw_free(denv);
  return rc;
}

struct sqlite3 *hw_store_sqlite(hw_store *st)
{
  return st->db;
}
