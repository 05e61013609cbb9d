/* The encrypting VFS's WAL frame cache (walcache.c), through raw connections
 * with a small page cache and frequent checkpoints:
 * - under the store's exclusive locking, checkpoints read the frames this
 *   connection wrote from memory, and across many WAL generations (frame
 *   indexes reused after every restart) every row read back is the one last
 *   written, before and after reopening, and the database checks whole;
 * - a WAL generation of more frames than SQLite's auto-checkpoint leaves (the
 *   server checkpoints only after a group commit) is checkpointed from
 *   memory too, without opening one sealed frame;
 * - with normal locking (shared memory: another connection may write the
 *   WAL), nothing is served from the cache and both connections read every
 *   row as last written by either. */
#include <sodium.h>
#include <sqlite3.h>

#include "store-int.h"
#include "store-test.h"

#define ROWS 1500
#define VLEN 900

static int gen_of[ROWS];

static void row_bytes(uint8_t b[VLEN], int k, int gen)
{
  st_row_bytes(b, VLEN, k, gen);
}

static sqlite3 *open_db(const char *path, hw__cvfs *v, bool exclusive, bool fresh)
{
  /* Small WAL generations: many restarts, frame indexes used again. */
  return st_raw_open(path, hw__cvfs_name(v), exclusive, fresh,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "PRAGMA wal_autocheckpoint=40;");
}

/* Rows [lo, hi) stepping by `step` at their next generation, in one
 * transaction. */
static void write_rows(sqlite3 *db, int lo, int hi, int step)
{
  sqlite3_stmt *s;
  uint8_t b[VLEN];

  CHECK_EQ(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
  CHECK_EQ(sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO t VALUES(?1, ?2)", -1, &s, NULL),
           SQLITE_OK);
  for (int k = lo; k < hi; k += step) {
    row_bytes(b, k, ++gen_of[k]);
    sqlite3_bind_int(s, 1, k);
    sqlite3_bind_blob(s, 2, b, VLEN, SQLITE_STATIC);
    CHECK_EQ(sqlite3_step(s), SQLITE_DONE);
    sqlite3_reset(s);
  }
  sqlite3_finalize(s);
  CHECK_EQ(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
}

/* Every row is the one last written. */
static void verify(sqlite3 *db)
{
  sqlite3_stmt *s;
  uint8_t b[VLEN];
  int n = 0;

  CHECK_EQ(sqlite3_prepare_v2(db, "SELECT k, v FROM t ORDER BY k", -1, &s, NULL), SQLITE_OK);
  while (sqlite3_step(s) == SQLITE_ROW) {
    int k = sqlite3_column_int(s, 0);
    CHECK(k >= 0 && k < ROWS && sqlite3_column_bytes(s, 1) == VLEN);
    row_bytes(b, k, gen_of[k]);
    CHECK(memcmp(sqlite3_column_blob(s, 1), b, VLEN) == 0);
    n++;
  }
  CHECK_EQ(sqlite3_errcode(db), SQLITE_DONE);
  sqlite3_finalize(s);
  CHECK_EQ(n, ROWS);
}

static void integrity_ok(sqlite3 *db)
{
  sqlite3_stmt *s;
  CHECK_EQ(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
  CHECK_EQ(sqlite3_step(s), SQLITE_ROW);
  CHECK(strcmp((const char *)sqlite3_column_text(s, 0), "ok") == 0);
  sqlite3_finalize(s);
}

static hw__cvfs *new_vfs(void)
{
  hw__cvfs *v;
  uint8_t key[HW__KEY], dbid[HW__DBID];
  randombytes_buf(key, sizeof key);
  randombytes_buf(dbid, sizeof dbid);
  CHECK_OK(hw__cvfs_new(&v, NULL, key, dbid));
  return v;
}

static void test_exclusive(const char *dir)
{
  char path[4200];
  hw__cvfs *v = new_vfs();
  sqlite3 *db;
  long served;

  memset(gen_of, 0, sizeof gen_of);
  snprintf(path, sizeof path, "%s/x.db", dir);
  db = open_db(path, v, true, true);
  write_rows(db, 0, ROWS, 1);
  for (int round = 0; round < 12; round++) {
    write_rows(db, round % 7, ROWS, 3 + round % 5);
    verify(db);
  }
  served = hw__cvfs_wal_served(v);
  CHECK(served > 0); /* the checkpoints read from memory */
  integrity_ok(db);
  CHECK_EQ(sqlite3_close(db), SQLITE_OK);
  /* A new connection: nothing in memory, every frame from the file. */
  db = open_db(path, v, true, false);
  verify(db);
  write_rows(db, 1, ROWS, 2);
  verify(db);
  integrity_ok(db);
  CHECK_EQ(sqlite3_close(db), SQLITE_OK);
  CHECK_EQ(hw__cvfs_tampered(v), 0);
  hw__cvfs_free(v);
}

#define LONG_ROWS 12000 /* ~3,000 pages of the table u */

/* Rows [lo, hi) of u, new, in transactions of 1,000. */
static void append_rows(sqlite3 *db, int lo, int hi)
{
  sqlite3_stmt *s;
  uint8_t b[VLEN];

  CHECK_EQ(sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS u(k INTEGER PRIMARY KEY, v BLOB)", NULL,
                        NULL, NULL),
           SQLITE_OK);
  CHECK_EQ(sqlite3_prepare_v2(db, "INSERT INTO u VALUES(?1, ?2)", -1, &s, NULL), SQLITE_OK);
  for (int k = lo; k < hi; k++) {
    if (k % 1000 == 0)
      CHECK_EQ(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    row_bytes(b, k, 1);
    sqlite3_bind_int(s, 1, k);
    sqlite3_bind_blob(s, 2, b, VLEN, SQLITE_STATIC);
    CHECK_EQ(sqlite3_step(s), SQLITE_DONE);
    sqlite3_reset(s);
    if (k % 1000 == 999 || k == hi - 1)
      CHECK_EQ(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  }
  sqlite3_finalize(s);
}

static void verify_appended(sqlite3 *db, int n)
{
  sqlite3_stmt *s;
  uint8_t b[VLEN];
  int k = 0;

  CHECK_EQ(sqlite3_prepare_v2(db, "SELECT k, v FROM u ORDER BY k", -1, &s, NULL), SQLITE_OK);
  while (sqlite3_step(s) == SQLITE_ROW) {
    row_bytes(b, k, 1);
    CHECK_EQ(sqlite3_column_int(s, 0), k);
    CHECK_EQ(sqlite3_column_bytes(s, 1), VLEN);
    CHECK(memcmp(sqlite3_column_blob(s, 1), b, VLEN) == 0);
    k++;
  }
  sqlite3_finalize(s);
  CHECK_EQ(k, n);
}

static void test_long_generation(const char *dir)
{
  char path[4200];
  hw__cvfs *v = new_vfs();
  sqlite3 *db;
  long opened0, opened1, sealed, ra, workers, served0;
  int frames = 0, copied = 0;

  memset(gen_of, 0, sizeof gen_of);
  snprintf(path, sizeof path, "%s/l.db", dir);
  db = open_db(path, v, true, true);
  CHECK_EQ(sqlite3_exec(db, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL), SQLITE_OK);
  /* New pages, as the server's appended tables take: each page's last
   * frame is an early one by the checkpoint. */
  append_rows(db, 0, LONG_ROWS);
  hw__cvfs_stats(v, &opened0, &sealed, &ra, &workers);
  served0 = hw__cvfs_wal_served(v);
  CHECK_EQ(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied),
           SQLITE_OK);
  hw__cvfs_stats(v, &opened1, &sealed, &ra, &workers);
  CHECK(frames > 3000);  /* well past the 1,024 frames the cache starts with */
  CHECK_EQ(copied, frames);
  CHECK_EQ(opened1, opened0);                     /* no frame decrypted again */
  CHECK(hw__cvfs_wal_served(v) - served0 >= LONG_ROWS / 4); /* each page's last frame */
  verify_appended(db, LONG_ROWS);
  integrity_ok(db);
  CHECK_EQ(sqlite3_close(db), SQLITE_OK);
  CHECK_EQ(hw__cvfs_tampered(v), 0);
  hw__cvfs_free(v);
}

static void test_shared(const char *dir)
{
  char path[4200];
  hw__cvfs *v = new_vfs();
  sqlite3 *a, *b;

  memset(gen_of, 0, sizeof gen_of);
  snprintf(path, sizeof path, "%s/s.db", dir);
  a = open_db(path, v, false, true);
  b = open_db(path, v, false, false);
  for (int round = 0; round < 10; round++) {
    write_rows(round % 2 ? a : b, round % 5, ROWS, round == 0 ? 1 : 2 + round % 4);
    verify(a);
    verify(b);
  }
  CHECK_EQ(hw__cvfs_wal_served(v), 0);
  integrity_ok(a);
  CHECK_EQ(sqlite3_close(b), SQLITE_OK);
  CHECK_EQ(sqlite3_close(a), SQLITE_OK);
  hw__cvfs_free(v);
}

int main(void)
{
  char *dir;

  CHECK_OK(hw_crypto_init());
  dir = st_tmpdir();
  test_exclusive(dir);
  test_long_generation(dir);
  test_shared(dir);
  st_rmdir(dir);
  free(dir);
  puts("WAL frame cache: ok");
  return 0;
}
