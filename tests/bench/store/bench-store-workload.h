/* The store benchmark's workload, shared by bench-store (plain SQLite vs the
 * encrypting VFS) and bench-store-sqlcipher (plain vs SQLCipher, a separate
 * binary because SQLCipher replaces libsqlite3). Included once per program. */
#ifndef HW_BENCH_STORE_WORKLOAD_H
#define HW_BENCH_STORE_WORKLOAD_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Called right after each open (SQLCipher keys the connection here); `vfs`
 * is non-NULL for the encrypted side. */
static void (*bench_prepare_hook)(sqlite3 *db, const char *vfs);

static uint64_t bench_mix(uint64_t z)
{
  z += 0x9e3779b97f4a7c15u;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static void mkid_(uint8_t id[16], long i)
{
  uint64_t a = bench_mix((uint64_t)i), b = bench_mix(a);
  memcpy(id, &a, 8);
  memcpy(id + 8, &b, 8);
}

static const char *bench_name = "store";
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
  printf("{\"bench\": \"%s\", \"metric\": \"%s\", \"value\": %.4f, \"unit\": \"%s\"}\n", bench_name,
         metric, v, unit);
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
  /* "sqlcipher" names the SQLCipher side: its own default VFS, its own
   * reserve bytes. */
  bool sqlcipher = vfs && strcmp(vfs, "sqlcipher") == 0;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      sqlcipher ? NULL : vfs) != SQLITE_OK)
    die(db, "open");
  if (bench_prepare_hook)
    bench_prepare_hook(db, vfs);
  if (sqlite3_exec(db,
                   "PRAGMA locking_mode=EXCLUSIVE; PRAGMA temp_store=MEMORY;"
                   "PRAGMA page_size=4096;",
                   NULL, NULL, NULL) != SQLITE_OK)
    die(db, "pragmas");
#ifdef SQLITE_FCNTL_RESERVE_BYTES /* not in SQLCipher's SQLite 3.15 */
  if (fresh && vfs && !sqlcipher) {
    int n = 40; /* the encrypting VFS's nonce and tag */
    sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &n);
  }
#endif
  snprintf(sql, sizeof sql, "PRAGMA journal_mode=%s; PRAGMA synchronous=FULL;",
           wal ? "WAL" : "PERSIST");
  if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
    die(db, "journal");
  if (fresh && sqlite3_exec(db,
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
  mkid_(id, i);
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

/* One machine shared with others: a phase measured once can be off by a
 * third either way. RUNS rounds, plain and encrypted taken in turns, each
 * on a new connection; the medians. */
#define RUNS 5

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *t, int n)
{
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  return t[n / 2];
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

/* INSERT_RUNS rounds of `insert(per_txn)` into new databases, plain then
 * encrypted; the medians. The last round's databases stay for the phases
 * that read them. */
#define INSERT_RUNS 3

static void inserts_in_turns(const char *pp, const char *pe, const char *vfs, int wal,
                             long per_txn, double *plain, double *enc)
{
  double t[2][RUNS];
  for (int i = 0; i < INSERT_RUNS; i++)
    for (int k = 0; k < 2; k++) {
      sqlite3 *db;
      rm_db(k ? pe : pp);
      db = open_db(k ? pe : pp, k ? vfs : NULL, wal, 1);
      t[k][i] = insert(db, per_txn);
      sqlite3_close(db);
    }
  *plain = median(t[0], INSERT_RUNS);
  *enc = median(t[1], INSERT_RUNS);
}

static void in_turns(double (*phase)(sqlite3 *), const char *pp, const char *pe, const char *vfs,
                     int wal, double *plain, double *enc)
{
  double t[2][RUNS];
  for (int i = 0; i < RUNS; i++)
    for (int k = 0; k < 2; k++) {
      sqlite3 *db = open_db(k ? pe : pp, k ? vfs : NULL, wal, 0);
      t[k][i] = phase(db);
      sqlite3_close(db);
    }
  *plain = median(t[0], RUNS);
  *enc = median(t[1], RUNS);
}

#endif
