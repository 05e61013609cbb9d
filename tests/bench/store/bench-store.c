/* Store benchmark (JSON lines): the same workload on plain SQLite and through
 * the encrypting VFS, same schema and pragmas (exclusive locking, memory temp
 * store, 4096-byte pages, synchronous=FULL, default cache), side by side in
 * one run, with the ratio as its own metric:
 *   100k records of ~1 KB inserted in transactions of 100 and in one
 *   transaction (rollback journal and WAL), a cold full scan on a new
 *   connection, 100k random point lookups.
 * Also the Argon2id unlock time at the production limits.
 * Usage: bench-store [records] [dir]   (defaults 100000, /tmp) */
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "homeward/crypto.h"
#include "homeward/store.h"
#include "store-int.h"

static long N = 100000;
static char dir[1024];

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void emit(const char *metric, double v, const char *unit)
{
  printf("{\"bench\": \"store\", \"metric\": \"%s\", \"value\": %.4f, \"unit\": \"%s\"}\n", metric,
         v, unit);
  fflush(stdout);
}

static void die(sqlite3 *db, const char *what)
{
  fprintf(stderr, "bench-store: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
  exit(1);
}

static sqlite3 *open_db(const char *path, const char *vfs, int wal, int fresh)
{
  sqlite3 *db;
  char sql[256];
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) != SQLITE_OK)
    die(db, "open");
  if (sqlite3_exec(db, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA temp_store=MEMORY;"
                       "PRAGMA page_size=4096;",
                   NULL, NULL, NULL) != SQLITE_OK)
    die(db, "pragmas");
  if (fresh && vfs) {
    int n = HW__RESERVE;
    sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &n);
  }
  snprintf(sql, sizeof sql, "PRAGMA journal_mode=%s; PRAGMA synchronous=FULL;",
           wal ? "WAL" : "PERSIST");
  if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
    die(db, "journal");
  if (fresh &&
      sqlite3_exec(db,
                   "CREATE TABLE records(id BLOB NOT NULL UNIQUE, case_id BLOB NOT NULL,"
                   " kind TEXT NOT NULL, vv BLOB NOT NULL, acked BLOB NOT NULL,"
                   " pending INTEGER NOT NULL, state BLOB NOT NULL);"
                   "CREATE INDEX records_case ON records(case_id);",
                   NULL, NULL, NULL) != SQLITE_OK)
    die(db, "schema");
  return db;
}

static void mkid(uint8_t id[16], long i)
{
  uint8_t k[8];
  for (int b = 0; b < 8; b++)
    k[b] = (uint8_t)((unsigned long)i >> (8 * b));
  crypto_generichash(id, 16, k, sizeof k, NULL, 0);
}

static double insert(sqlite3 *db, long per_txn)
{
  sqlite3_stmt *s;
  uint8_t id[16], cs[16], vv[24], state[1000];
  double t0 = now();

  if (sqlite3_prepare_v2(db, "INSERT INTO records VALUES(?1, ?2, 'followup', ?3, x'', 1, ?4)", -1,
                         &s, NULL) != SQLITE_OK)
    die(db, "prepare");
  memset(vv, 7, sizeof vv);
  for (long i = 0; i < N; i++) {
    if (i % per_txn == 0 && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
      die(db, "begin");
    mkid(id, i);
    mkid(cs, i / 10 + 1000000000L);
    for (size_t k = 0; k < sizeof state; k++)
      state[k] = (uint8_t)(i * 31 + (long)k * 7 + (long)(k >> 3));
    sqlite3_bind_blob(s, 1, id, 16, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, cs, 16, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, vv, 24, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, state, sizeof state, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE)
      die(db, "insert");
    sqlite3_reset(s);
    if ((i + 1) % per_txn == 0 || i + 1 == N)
      if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        die(db, "commit");
  }
  sqlite3_finalize(s);
  return now() - t0;
}

static double scan(sqlite3 *db)
{
  sqlite3_stmt *s;
  double t0 = now();
  long long total = 0;
  if (sqlite3_prepare_v2(db, "SELECT sum(length(state)) FROM records", -1, &s, NULL) != SQLITE_OK)
    die(db, "prepare");
  if (sqlite3_step(s) != SQLITE_ROW)
    die(db, "scan");
  total = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  if (total != (long long)N * 1000)
    die(db, "scan total");
  return now() - t0;
}

static double lookups(sqlite3 *db)
{
  sqlite3_stmt *s;
  uint8_t id[16];
  uint64_t x = 88172645463325252ull;
  double t0 = now();
  if (sqlite3_prepare_v2(db, "SELECT state FROM records WHERE id = ?1", -1, &s, NULL) != SQLITE_OK)
    die(db, "prepare");
  for (long i = 0; i < N; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    mkid(id, (long)(x % (uint64_t)N));
    sqlite3_bind_blob(s, 1, id, 16, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW || sqlite3_column_bytes(s, 0) != 1000)
      die(db, "lookup");
    sqlite3_reset(s);
  }
  sqlite3_finalize(s);
  return now() - t0;
}

static void rm_db(const char *p)
{
  char b[1200];
  unlink(p);
  snprintf(b, sizeof b, "%s-journal", p);
  unlink(b);
  snprintf(b, sizeof b, "%s-wal", p);
  unlink(b);
}

/* One metric measured on both sides; prints both and the ratio. */
static void pair(const char *name, double plain, double enc)
{
  char m[128];
  snprintf(m, sizeof m, "%s_plain", name);
  emit(m, plain, "s");
  snprintf(m, sizeof m, "%s_encrypted", name);
  emit(m, enc, "s");
  snprintf(m, sizeof m, "%s_ratio", name);
  emit(m, enc / plain, "ratio");
}

static hw__cvfs *V;

static void run_mode(const char *vfs, int wal)
{
  const char *mode = wal ? "wal" : "rollback";
  char pp[1100], pe[1100], name[128];
  double tp, te;
  sqlite3 *dp, *de;

  snprintf(pp, sizeof pp, "%s/bench-plain.db", dir);
  snprintf(pe, sizeof pe, "%s/bench-enc.db", dir);

  /* Transactions of 100. */
  rm_db(pp);
  rm_db(pe);
  dp = open_db(pp, NULL, wal, 1);
  tp = insert(dp, 100);
  sqlite3_close(dp);
  de = open_db(pe, vfs, wal, 1);
  te = insert(de, 100);
  sqlite3_close(de);
  snprintf(name, sizeof name, "insert_tx100_%s", mode);
  pair(name, tp, te);

  /* One transaction. */
  rm_db(pp);
  rm_db(pe);
  dp = open_db(pp, NULL, wal, 1);
  tp = insert(dp, N);
  sqlite3_close(dp);
  de = open_db(pe, vfs, wal, 1);
  te = insert(de, N);
  sqlite3_close(de);
  snprintf(name, sizeof name, "insert_tx1_%s", mode);
  pair(name, tp, te);

  /* Cold scan: a new connection, nothing in SQLite's cache; with and
   * without decryption running ahead on the second core. */
  {
    long o0, s0, r0, o1, s1, r1;
    double tn;
    hw__cvfs_set_readahead(V, false);
    de = open_db(pe, vfs, wal, 0);
    tn = scan(de);
    sqlite3_close(de);
    hw__cvfs_set_readahead(V, true);
    dp = open_db(pp, NULL, wal, 0);
    tp = scan(dp);
    sqlite3_close(dp);
    hw__cvfs_stats(V, &o0, &s0, &r0);
    de = open_db(pe, vfs, wal, 0);
    te = scan(de);
    sqlite3_close(de);
    hw__cvfs_stats(V, &o1, &s1, &r1);
    snprintf(name, sizeof name, "cold_scan_%s", mode);
    pair(name, tp, te);
    snprintf(name, sizeof name, "cold_scan_%s_no_readahead_encrypted", mode);
    emit(name, tn, "s");
    snprintf(name, sizeof name, "cold_scan_%s_no_readahead_ratio", mode);
    emit(name, tn / tp, "ratio");
    snprintf(name, sizeof name, "cold_scan_%s_pages_opened", mode);
    emit(name, (double)(o1 - o0), "count");
    snprintf(name, sizeof name, "cold_scan_%s_pages_from_readahead", mode);
    emit(name, (double)(r1 - r0), "count");
  }

  /* Random point lookups (default cache: most pages come from disk). */
  dp = open_db(pp, NULL, wal, 0);
  tp = lookups(dp);
  sqlite3_close(dp);
  de = open_db(pe, vfs, wal, 0);
  te = lookups(de);
  sqlite3_close(de);
  snprintf(name, sizeof name, "lookups_%s", mode);
  pair(name, tp, te);
  rm_db(pp);
  rm_db(pe);
}

static void unlock_time(void)
{
  char p[1100];
  hw_store_opts o = {.passphrase = (const uint8_t *)"a long passphrase", .passphrase_len = 17,
                     .create = true};
  hw_store *st;
  double t0;

  snprintf(p, sizeof p, "%s/bench-unlock.db", dir);
  rm_db(p);
  o.path = p;
  if (hw_store_open(&st, &o, NULL) != 0) {
    fprintf(stderr, "bench-store: create for unlock failed\n");
    exit(1);
  }
  hw_store_close(st);
  o.create = false;
  for (int i = 0; i < 3; i++) {
    t0 = now();
    if (hw_store_open(&st, &o, NULL) != 0) {
      fprintf(stderr, "bench-store: unlock failed\n");
      exit(1);
    }
    if (i == 2)
      emit("unlock_argon2id_moderate_s", now() - t0, "s");
    hw_store_close(st);
  }
  emit("argon2id_opslimit", HW_STORE_KDF_OPS, "count");
  emit("argon2id_memlimit_mib", (double)HW_STORE_KDF_MEM / (1024 * 1024), "MiB");
  rm_db(p);
  {
    char b[1200];
    snprintf(b, sizeof b, "%s.hwkey", p);
    unlink(b);
    snprintf(b, sizeof b, "%s.hwlocal", p);
    unlink(b);
  }
}

int main(int argc, char **argv)
{
  hw__cvfs *v;
  uint8_t key[32], dbid[16];

  if (argc > 1)
    N = atol(argv[1]);
  snprintf(dir, sizeof dir, "%s", argc > 2 ? argv[2] : "/tmp");
  if (hw_crypto_init() != 0 || N < 100)
    return 1;
  randombytes_buf(key, sizeof key);
  randombytes_buf(dbid, sizeof dbid);
  if (hw__cvfs_new(&v, NULL, key, dbid) != 0)
    return 1;
  V = v;
  emit("records", (double)N, "count");
  unlock_time();
  run_mode(hw__cvfs_name(v), 0);
  run_mode(hw__cvfs_name(v), 1);
  hw__cvfs_free(v);
  return 0;
}
