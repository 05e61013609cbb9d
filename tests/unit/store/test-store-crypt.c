/* What the encrypting VFS guarantees, checked from outside:
 * - canaries written through every path (inserts, overflow pages, updates,
 *   index builds with sorter spills, temp tables, VACUUM, VACUUM INTO, WAL and
 *   rollback journals mid-transaction, a power cut mid-write, a backup) never
 *   appear in any file in the directory, which is also SQLite's temp dir;
 * - a bit flip anywhere in any page (body, nonce, tag, header area) or a
 *   swap of two pages is reported as HW_ETAMPER, never as data;
 * - the same random workload gives the same query results as plain SQLite;
 * - a forked child never seals a page with a nonce its parent also uses. */
#include <sodium.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include "store-int.h"
#include "store-test.h"

#define CANARY "CANARY-51f0c2"

static void canary_state(uint8_t *buf, size_t len, int i)
{
  for (size_t k = 0; k < len; k++)
    buf[k] = (uint8_t)('a' + (k * 7 + (size_t)i) % 26);
  for (size_t k = 0; k + 16 < len; k += 97)
    snprintf((char *)buf + k, 16, "%s", CANARY);
}

/* Record i of case cs written as an own write, its state of `len` bytes
 * made from `seed`; the store's error, if any. */
static int try_put_canary(hw_store *st, int i, int seed, size_t len, const hw_id *cs)
{
  uint8_t *buf = malloc(len), dig[HW_HASH_BYTES] = {0};
  hw_dot d;
  int rc;

  CHECK(buf != NULL);
  canary_state(buf, len, seed);
  if ((rc = hw_store_next_dot(st, &d)) == HW_OK) {
    hw_store_rec r = {.id = st_id((uint64_t)i),
                      .case_id = *cs,
                      .kind = {(const uint8_t *)"case-note", 9},
                      .vv = {1, &d},
                      .state = {buf, len}};
    rc = hw_store_put_write(st, &r, &d, dig);
  }
  free(buf);
  return rc;
}

static void put_canary(hw_store *st, int i, size_t len, const hw_id *cs)
{
  CHECK_OK(try_put_canary(st, i, i, len, cs));
}

static void scan_zero(const char *dir, const char *when)
{
  long hits = st_grep_dir(dir, CANARY);
  if (hits)
    fprintf(stderr, "%s: %ld canary hits\n", when, hits);
  CHECK_EQ(hits, 0);
}

/* A raw connection through the encrypting VFS, for SQL the store API does
 * not offer (index builds, temp tables, VACUUM INTO). */
static sqlite3 *raw_open(const char *path, const char *vfs, int wal, bool reserve)
{
  sqlite3 *db;
  int n = HW__RESERVE;
  char sql[256];

  CHECK_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs), SQLITE_OK);
  CHECK_EQ(sqlite3_exec(db,
                        "PRAGMA locking_mode=EXCLUSIVE; PRAGMA temp_store=MEMORY;"
                        "PRAGMA page_size=4096; PRAGMA cache_size=50;",
                        NULL, NULL, NULL),
           SQLITE_OK);
  if (reserve)
    CHECK_EQ(sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &n), SQLITE_OK);
  snprintf(sql, sizeof sql, "PRAGMA journal_mode=%s; PRAGMA synchronous=FULL;",
           wal ? "WAL" : "PERSIST");
  CHECK_EQ(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  return db;
}

static void test_canaries(int journal)
{
  char *dir = st_tmpdir(), path[1024], bpath[1100];
  hw_store *st;
  hw_store_opts o;
  hw_id cs = st_id(9000);

  /* Any temp file SQLite might make lands here, where it is scanned. */
  setenv("SQLITE_TMPDIR", dir, 1);
  setenv("TMPDIR", dir, 1);
  snprintf(path, sizeof path, "%s/c.db", dir);
  o = st_opts(path, "pw");
  o.journal = journal;
  o.base_vfs = HW_TESTVFS_NAME;
  st = st_open_ok(&o, NULL);

  /* Small inserts and overflow pages, then a long transaction that spills
   * the page cache into the journal or WAL: scanned while still open. */
  CHECK_OK(hw_store_begin(st));
  for (int i = 0; i < 50; i++)
    put_canary(st, i, 300, &cs);
  CHECK_OK(hw_store_commit(st));
  CHECK_OK(hw_store_begin(st));
  for (int i = 50; i < 400; i++)
    put_canary(st, i, 12000 + (size_t)i, &cs);
  scan_zero(dir, "mid-transaction");
  CHECK_OK(hw_store_commit(st));
  scan_zero(dir, "after commit");
  /* Updates in place and into overflow chains. */
  CHECK_OK(hw_store_begin(st));
  for (int i = 0; i < 100; i++)
    put_canary(st, i, 5000, &cs);
  CHECK_OK(hw_store_commit(st));
  CHECK_OK(hw_store_setting_set(st, "identity", CANARY CANARY, 2 * strlen(CANARY)));
  CHECK_OK(hw_store_vacuum(st));
  scan_zero(dir, "after vacuum");
  snprintf(bpath, sizeof bpath, "%s/backup.db", dir);
  CHECK_OK(hw_store_backup(st, bpath));
  scan_zero(dir, "after backup");

  /* A power cut in the middle of a big write (its pages reach the file in
   * runs of up to 31: a few dozen operations). */
  hw_testvfs_die_after(20);
  {
    int rc = hw_store_begin(st);
    for (int i = 400; rc == HW_OK && i < 600; i++)
      rc = try_put_canary(st, i, i, 9000, &cs);
    if (rc == HW_OK)
      rc = hw_store_commit(st);
    CHECK(rc != HW_OK);
    CHECK(hw_testvfs_dead());
  }
  hw_store_close(st);
  CHECK_OK(hw_testvfs_powercut(hw_test_seed()));
  scan_zero(dir, "after power cut");
  o.create = false;
  st = st_open_ok(&o, NULL);
  CHECK_OK(hw_store_check(st));
  hw_store_close(st);
  scan_zero(dir, "after recovery");
  CHECK_OK(hw_testvfs_forget());

  /* Raw SQL through a fresh encrypting VFS: index build with a sorter far
   * larger than the cache, temp tables, big sorts, VACUUM and VACUUM INTO. */
  {
    hw__cvfs *v;
    uint8_t key[32], dbid[16];
    char rpath[1100], sql[256];
    sqlite3 *db;

    randombytes_buf(key, sizeof key);
    randombytes_buf(dbid, sizeof dbid);
    CHECK_OK(hw__cvfs_new(&v, NULL, key, dbid));
    snprintf(rpath, sizeof rpath, "%s/raw.db", dir);
    db = raw_open(rpath, hw__cvfs_name(v), journal == HW_STORE_WAL, true);
    CHECK_EQ(sqlite3_exec(db,
                          "CREATE TABLE t(k INTEGER PRIMARY KEY, a TEXT, b BLOB);"
                          "BEGIN;"
                          "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c "
                          "WHERE i < 20000) INSERT INTO t SELECT i, '" CANARY
                          "' || hex(randomblob(40)), randomblob(100) FROM c;"
                          "COMMIT;"
                          "CREATE INDEX t_a ON t(a);"
                          "CREATE TEMP TABLE tt AS SELECT * FROM t;"
                          "SELECT count(*) FROM (SELECT a FROM t ORDER BY b, a);"
                          "UPDATE t SET a = a || '" CANARY "' WHERE k % 3 = 0;"
                          "DELETE FROM t WHERE k % 5 = 0;"
                          "VACUUM;",
                          NULL, NULL, NULL),
             SQLITE_OK);
    scan_zero(dir, "raw index build / vacuum");
    snprintf(sql, sizeof sql, "VACUUM INTO '%s/into.db'", dir);
    CHECK_EQ(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    scan_zero(dir, "raw vacuum into");
    /* The canaries are really in there (read back through the VFS). */
    {
      sqlite3_stmt *s;
      CHECK_EQ(
          sqlite3_prepare_v2(db, "SELECT count(*) FROM t WHERE a LIKE 'CANARY%'", -1, &s, NULL),
          SQLITE_OK);
      CHECK_EQ(sqlite3_step(s), SQLITE_ROW);
      CHECK_EQ(sqlite3_column_int(s, 0), 16000);
      sqlite3_finalize(s);
    }
    CHECK_EQ(sqlite3_close(db), SQLITE_OK);
    hw__cvfs_free(v);
  }

  /* Positive control: the scanner finds the canary in a plain database. */
  {
    char sub[1100], ppath[1200];
    sqlite3 *db;
    snprintf(sub, sizeof sub, "%s/plain", dir);
    CHECK(mkdir(sub, 0700) == 0);
    snprintf(ppath, sizeof ppath, "%s/p.db", sub);
    db = raw_open(ppath, NULL, 0, false);
    CHECK_EQ(sqlite3_exec(db, "CREATE TABLE t(a); INSERT INTO t VALUES('" CANARY "');", NULL, NULL,
                          NULL),
             SQLITE_OK);
    sqlite3_close(db);
    CHECK(st_grep_dir(sub, CANARY) > 0);
    st_rmdir(sub);
  }
  st_rmdir(dir);
  free(dir);
}

static void write_all(const char *path, const uint8_t *b, size_t len)
{
  FILE *f = fopen(path, "wb");
  CHECK(f && fwrite(b, 1, len, f) == len);
  fclose(f);
}

static int read_everything(hw_store *st)
{
  int rc = hw_store_check(st);
  uint64_t n;
  if (rc)
    return rc;
  rc = hw_store_count(st, &n);
  if (rc)
    return rc;
  for (uint64_t i = 0; i < 40; i++) {
    hw_store_rec *r;
    hw_id id = st_id(i);
    rc = hw_store_get(st, &id, &r);
    if (rc == HW_ENOENT)
      continue;
    if (rc)
      return rc;
    /* If a read succeeds, its bytes must be the ones written. */
    {
      uint8_t want[20000];
      CHECK(r->state.len <= sizeof want);
      canary_state(want, r->state.len, (int)i);
      CHECK(memcmp(want, r->state.p, r->state.len) == 0);
    }
    hw_store_rec_free(r);
  }
  return HW_OK;
}

/* Open the tampered store and read everything: it must say HW_ETAMPER. */
static int tampered_result(const hw_store_opts *o)
{
  hw_store *st = NULL;
  hw_store_info info;
  int rc = hw_store_open(&st, o, &info);
  if (rc)
    return rc;
  rc = read_everything(st);
  hw_store_close(st);
  return rc;
}

static void test_tamper(void)
{
  char *dir = st_tmpdir(), path[1024], jpath[1100];
  hw_store *st;
  hw_store_opts o;
  hw_id cs = st_id(1);
  uint8_t *orig;
  size_t len, npages;
  int checked = 0;
  hw_test_rng rng;

  hw_test_rng_init(&rng, hw_test_seed());
  snprintf(path, sizeof path, "%s/t.db", dir);
  snprintf(jpath, sizeof jpath, "%s-journal", path);
  o = st_opts(path, "pw");
  st = st_open_ok(&o, NULL);
  CHECK_OK(hw_store_begin(st));
  for (int i = 0; i < 40; i++)
    put_canary(st, i, (i % 4 == 0) ? 9000 : 400, &cs);
  CHECK_OK(hw_store_commit(st));
  CHECK_OK(hw_store_vacuum(st)); /* no free pages: every page is read below */
  hw_store_close(st);
  o.create = false;
  orig = st_read_file(path, &len);
  CHECK_EQ(len % HW__PAGE, 0);
  npages = len / HW__PAGE;
  CHECK(npages > 10);

  for (size_t pg = 0; pg < npages; pg++) {
    /* body, nonce, tag; page 1 also its SQLite header (encrypted) */
    size_t offs[4] = {
        16 + hw_test_rng_below(&rng, HW__USABLE - 16),
        HW__USABLE + hw_test_rng_below(&rng, HW__NONCE),
        HW__USABLE + HW__NONCE + hw_test_rng_below(&rng, HW__TAG),
        pg == 0 ? 16 + hw_test_rng_below(&rng, 84) : hw_test_rng_below(&rng, HW__USABLE),
    };
    for (int k = 0; k < 4; k++) {
      uint8_t *b = malloc(len);
      memcpy(b, orig, len);
      b[pg * HW__PAGE + offs[k]] ^= (uint8_t)(1u << hw_test_rng_below(&rng, 8));
      write_all(path, b, len);
      unlink(jpath);
      CHECK_ERR(tampered_result(&o), HW_ETAMPER);
      free(b);
      checked++;
    }
  }
  /* Page 1's clear prefix: magic and database id. */
  for (size_t off = 0; off < 16; off += 3) {
    uint8_t *b = malloc(len);
    memcpy(b, orig, len);
    b[off] ^= 0x10;
    write_all(path, b, len);
    unlink(jpath);
    CHECK_ERR(tampered_result(&o), off < 8 ? HW_EPROTO : HW_EKEYFILE);
    free(b);
  }
  /* Swap two pages, including page 1. */
  for (size_t a = 0; a + 1 < npages; a += 3) {
    size_t bpg = a + 1 + hw_test_rng_below(&rng, npages - a - 1);
    uint8_t *b = malloc(len);
    memcpy(b, orig, len);
    memcpy(b + a * HW__PAGE, orig + bpg * HW__PAGE, HW__PAGE);
    memcpy(b + bpg * HW__PAGE, orig + a * HW__PAGE, HW__PAGE);
    write_all(path, b, len);
    unlink(jpath);
    {
      int rc = tampered_result(&o);
      /* Page 1 moved elsewhere loses the clear prefix: not a store. */
      CHECK(rc == HW_ETAMPER || (a == 0 && rc == HW_EPROTO));
    }
    free(b);
  }
  /* Untouched, it reads fine. */
  write_all(path, orig, len);
  unlink(jpath);
  CHECK_OK(tampered_result(&o));
  printf("tamper: %d bit flips over %zu pages, all HW_ETAMPER\n", checked, npages);
  free(orig);
  st_rmdir(dir);
  free(dir);
}

/* Records 0..n-1 of case `cs` rewritten at generation `gen` in one
 * transaction; the first error, if any (a cut), rolled back. */
static int rewrite(hw_store *st, int n, int gen, const hw_id *cs)
{
  int rc = hw_store_begin(st);

  for (int i = 0; i < n && rc == HW_OK; i++)
    rc = try_put_canary(st, i, i + gen, 3000, cs);
  if (rc == HW_OK)
    rc = hw_store_commit(st);
  if (rc != HW_OK) {
    int r2 = hw_store_rollback(st); /* may fail too after a cut */
    (void)r2;
  }
  return rc;
}

/* A hot journal (power cut while the database was written, the journal
 * synced with its record count): untouched, opening rolls the store back; a
 * bit flipped in a counted record's page image is tampering, never a
 * partial rollback. (A record after the count that does not open is the
 * tail of a failed write: test-store-api's faults.) */
static void test_journal_tamper(void)
{
  char *dir = st_tmpdir(), path[1024], jpath[1100];
  hw_store *st;
  hw_store_opts o;
  hw_id cs = st_id(5);
  uint8_t *db = NULL, *jr = NULL;
  size_t dlen = 0, jlen = 0;

  CHECK_OK(hw_testvfs_register());
  snprintf(path, sizeof path, "%s/j.db", dir);
  snprintf(jpath, sizeof jpath, "%s-journal", path);
  o = st_opts(path, "pw");
  o.journal = HW_STORE_ROLLBACK;
  o.base_vfs = HW_TESTVFS_NAME;
  st = st_open_ok(&o, NULL);
  CHECK_OK(rewrite(st, 40, 0, &cs));
  hw_store_close(st);
  o.create = false;
  for (long k = 1; !jr && k < 3000; k++) {
    uint8_t *j;
    size_t n;
    st = st_open_ok(&o, NULL);
    hw_testvfs_die_after(k);
    (void)rewrite(st, 40, (int)k, &cs);
    hw_store_close(st);
    CHECK_OK(hw_testvfs_powercut((uint64_t)k));
    j = st_read_file(jpath, &n);
    /* A synced header: the magic and a record count. */
    if (j && n >= 512 + 4104 && j[0] == 0xd9 && j[1] == 0xd5 && (j[8] | j[9] | j[10] | j[11])) {
      jr = j;
      jlen = n;
      db = st_read_file(path, &dlen);
    } else {
      free(j);
    }
  }
  CHECK(jr != NULL && db != NULL);
  CHECK_OK(hw_testvfs_forget());
  o.base_vfs = NULL;
  jr[512 + 4 + 1000] ^= 0x10;
  write_all(path, db, dlen);
  write_all(jpath, jr, jlen);
  CHECK_ERR(tampered_result(&o), HW_ETAMPER);
  jr[512 + 4 + 1000] ^= 0x10;
  write_all(path, db, dlen);
  write_all(jpath, jr, jlen);
  CHECK_OK(tampered_result(&o));
  free(db);
  free(jr);
  st_rmdir(dir);
  free(dir);
}

static void be32_put(uint8_t *p, uint32_t x)
{
  p[0] = (uint8_t)(x >> 24), p[1] = (uint8_t)(x >> 16), p[2] = (uint8_t)(x >> 8), p[3] = (uint8_t)x;
}

/* A journal written by an attacker beside a closed store (found in a
 * review): a header with a small sector size puts its one record inside the
 * header's sector, with any page image and the checksum SQLite expects of an
 * all-zero page (the plaintext cksumInit). Read leniently, the rollback
 * would write a zeroed page into the store, sealed, and records would read
 * back wrong with no error; every page so targeted must be tampering. */
static void test_journal_forged(void)
{
  static const uint8_t magic[8] = {0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7};
  char *dir = st_tmpdir(), path[1024], jpath[1100];
  hw_store *st;
  hw_store_opts o;
  hw_id cs = st_id(1);
  uint8_t *orig, jr[32 + 4104];
  size_t len, npages;

  snprintf(path, sizeof path, "%s/f.db", dir);
  snprintf(jpath, sizeof jpath, "%s-journal", path);
  o = st_opts(path, "pw");
  o.journal = HW_STORE_ROLLBACK;
  st = st_open_ok(&o, NULL);
  CHECK_OK(hw_store_begin(st));
  for (int i = 0; i < 40; i++)
    put_canary(st, i, (i % 4 == 0) ? 9000 : 400, &cs);
  CHECK_OK(hw_store_commit(st));
  hw_store_close(st);
  o.create = false;
  orig = st_read_file(path, &len);
  npages = len / HW__PAGE;
  for (uint32_t pg = 2; pg <= npages; pg++) {
    memset(jr, 0, sizeof jr);
    memcpy(jr, magic, 8);
    be32_put(jr + 8, 1);                 /* one record */
    be32_put(jr + 12, 0x1234567);        /* checksum seed */
    be32_put(jr + 16, (uint32_t)npages); /* database size */
    be32_put(jr + 20, 32);               /* sector size */
    be32_put(jr + 24, HW__PAGE);
    be32_put(jr + 32, pg); /* the record: page number, image, checksum */
    be32_put(jr + 32 + 4 + HW__PAGE, 0x1234567);
    write_all(path, orig, len);
    write_all(jpath, jr, sizeof jr);
    CHECK_ERR(tampered_result(&o), HW_ETAMPER);
  }
  free(orig);
  st_rmdir(dir);
  free(dir);
}

/* A WAL copied while its store is open (frames not yet checkpointed): a bit
 * flipped in a frame followed by a later commit is tampering; the same flip
 * in the very last frame reads as a torn tail (docs/storage.md). */
static void test_wal_tamper(void)
{
  char *dir = st_tmpdir(), *cdir = st_tmpdir(), path[1024], cpath[1024], a[1100], b[1100];
  hw_store *st;
  hw_store_opts o;
  hw_id cs = st_id(3);
  uint8_t *wal;
  size_t wlen;
  const size_t fs = HW__WAL_FRAME_HDR + HW__PAGE;

  snprintf(path, sizeof path, "%s/w.db", dir);
  snprintf(cpath, sizeof cpath, "%s/w.db", cdir);
  o = st_opts(path, "pw");
  o.journal = HW_STORE_WAL;
  st = st_open_ok(&o, NULL);
  for (int t = 0; t < 4; t++) {
    CHECK_OK(hw_store_begin(st));
    put_canary(st, t, 500, &cs);
    CHECK_OK(hw_store_commit(st));
  }
  snprintf(a, sizeof a, "%s-wal", path);
  wal = st_read_file(a, &wlen);
  CHECK(wlen > HW__WAL_HDR + 4 * fs);
  {
    size_t dlen;
    uint8_t *db = st_read_file(path, &dlen);
    hw_store_close(st);
    o.path = cpath;
    o.create = false;
    for (int k = 0; k < 2; k++) {
      /* k = 0: the first frame; k = 1: the last frame. */
      size_t nframes = (wlen - HW__WAL_HDR) / fs;
      size_t at = HW__WAL_HDR + (k == 0 ? 0 : nframes - 1) * fs + HW__WAL_FRAME_HDR + 100;
      uint8_t *w = malloc(wlen);
      memcpy(w, wal, wlen);
      w[at] ^= 0x04;
      write_all(cpath, db, dlen);
      snprintf(b, sizeof b, "%s-wal", cpath);
      write_all(b, w, wlen);
      snprintf(a, sizeof a, "%s.hwkey", path);
      snprintf(b, sizeof b, "%s.hwkey", cpath);
      st_copy(a, b);
      {
        hw_store *c = NULL;
        hw_store_info info;
        int rc = hw_store_open(&c, &o, &info);
        if (rc == HW_OK)
          rc = hw_store_check(c);
        if (k == 0) {
          CHECK_ERR(rc, HW_ETAMPER);
        } else {
          CHECK_OK(rc);
        }
        hw_store_close(c);
      }
      free(w);
    }
    free(db);
  }
  free(wal);
  st_rmdir(dir);
  st_rmdir(cdir);
  free(dir);
  free(cdir);
}

/* ---- differential test against plain SQLite ---- */

static void hash_query(sqlite3 *db, const char *sql, uint8_t out[32])
{
  sqlite3_stmt *s;
  crypto_generichash_state h;
  int rc;

  crypto_generichash_init(&h, NULL, 0, 32);
  CHECK_EQ(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    for (int c = 0; c < sqlite3_column_count(s); c++) {
      const void *p = sqlite3_column_blob(s, c);
      int n = sqlite3_column_bytes(s, c);
      int t = sqlite3_column_type(s, c);
      crypto_generichash_update(&h, (const uint8_t *)&t, sizeof t);
      crypto_generichash_update(&h, (const uint8_t *)&n, sizeof n);
      if (n)
        crypto_generichash_update(&h, p, (size_t)n);
    }
  }
  CHECK_EQ(rc, SQLITE_DONE);
  sqlite3_finalize(s);
  crypto_generichash_final(&h, out, 32);
}

static void both(sqlite3 *a, sqlite3 *b, const char *sql)
{
  int ra = sqlite3_exec(a, sql, NULL, NULL, NULL), rb = sqlite3_exec(b, sql, NULL, NULL, NULL);
  if (ra != rb)
    fprintf(stderr, "differ on %s: %d vs %d\n", sql, ra, rb);
  CHECK_EQ(ra, rb);
}

static void test_differential(int wal)
{
  char *dir = st_tmpdir(), p1[1024], p2[1024], sql[512];
  hw__cvfs *v;
  uint8_t key[32], dbid[16];
  sqlite3 *enc, *plain;
  hw_test_rng rng;
  long steps = hw_test_scaled(3000);

  hw_test_rng_init(&rng, hw_test_seed());
  randombytes_buf(key, sizeof key);
  randombytes_buf(dbid, sizeof dbid);
  CHECK_OK(hw__cvfs_new(&v, NULL, key, dbid));
  /* Decryption runs ahead on a second thread (the default), as the store
   * has it. */
  CHECK(hw__cvfs_readahead(v));
  snprintf(p1, sizeof p1, "%s/enc.db", dir);
  snprintf(p2, sizeof p2, "%s/plain.db", dir);
  enc = raw_open(p1, hw__cvfs_name(v), wal, true);
  plain = raw_open(p2, NULL, wal, true);
  both(enc, plain,
       "CREATE TABLE t(k INTEGER PRIMARY KEY, a TEXT, b BLOB, n INTEGER);"
       "CREATE INDEX t_a ON t(a); CREATE INDEX t_n ON t(n, a);");
  for (long i = 0; i < steps; i++) {
    uint64_t op = hw_test_rng_below(&rng, 100), k = hw_test_rng_below(&rng, 2000);
    uint64_t sz = hw_test_rng_below(&rng, 8) == 0 ? hw_test_rng_below(&rng, 20000)
                                                  : hw_test_rng_below(&rng, 300);
    uint64_t seed = hw_test_rng_next(&rng) & 0xffffff;
    if (op < 40)
      snprintf(sql, sizeof sql,
               "INSERT OR REPLACE INTO t VALUES(%llu, 'v%llu', zeroblob(%llu) || x'%06llx', %llu)",
               (unsigned long long)k, (unsigned long long)seed, (unsigned long long)sz,
               (unsigned long long)seed, (unsigned long long)(seed % 97));
    else if (op < 55)
      snprintf(sql, sizeof sql, "DELETE FROM t WHERE k BETWEEN %llu AND %llu",
               (unsigned long long)k, (unsigned long long)(k + hw_test_rng_below(&rng, 20)));
    else if (op < 70)
      snprintf(sql, sizeof sql, "UPDATE t SET a = a || 'x', n = n + 1 WHERE n = %llu",
               (unsigned long long)(seed % 97));
    else if (op < 80)
      snprintf(sql, sizeof sql,
               "BEGIN; INSERT INTO t SELECT k + 100000, a, b, n FROM t WHERE "
               "k %% 50 = %llu; %s",
               (unsigned long long)(seed % 50),
               hw_test_rng_below(&rng, 2) ? "COMMIT;" : "ROLLBACK;");
    else if (op < 81)
      snprintf(sql, sizeof sql, "VACUUM");
    else if (op < 82)
      snprintf(sql, sizeof sql, "DELETE FROM t WHERE k >= 100000");
    else {
      uint8_t h1[32], h2[32];
      snprintf(sql, sizeof sql,
               "SELECT k, a, length(b), hex(substr(b, -3)), n FROM t WHERE n BETWEEN %llu AND %llu "
               "ORDER BY a, k",
               (unsigned long long)(seed % 97), (unsigned long long)(seed % 97 + 10));
      hash_query(enc, sql, h1);
      hash_query(plain, sql, h2);
      CHECK(memcmp(h1, h2, 32) == 0);
      continue;
    }
    both(enc, plain, sql);
  }
  {
    uint8_t h1[32], h2[32];
    const char *all = "SELECT * FROM t ORDER BY k";
    hash_query(enc, all, h1);
    hash_query(plain, all, h2);
    CHECK(memcmp(h1, h2, 32) == 0);
  }
  sqlite3_close(enc);
  sqlite3_close(plain);
  /* Reopened cold, the encrypted copy still answers the same. */
  enc = raw_open(p1, hw__cvfs_name(v), wal, false);
  plain = raw_open(p2, NULL, wal, false);
  {
    uint8_t h1[32], h2[32];
    const char *all = "SELECT * FROM t ORDER BY k";
    hash_query(enc, all, h1);
    hash_query(plain, all, h2);
    CHECK(memcmp(h1, h2, 32) == 0);
    hash_query(enc, "PRAGMA integrity_check", h1);
    hash_query(plain, "PRAGMA integrity_check", h2);
    CHECK(memcmp(h1, h2, 32) == 0);
  }
  sqlite3_close(enc);
  sqlite3_close(plain);
  hw__cvfs_free(v);
  st_rmdir(dir);
  free(dir);
}

/* Writes the VFS cannot classify fail closed; psow=0 and memory maps are
 * refused. Driven through the VFS methods directly. */
static void test_fail_closed(void)
{
  char *dir = st_tmpdir(), path[1024], uri[1200];
  hw__cvfs *v;
  uint8_t key[32] = {1}, dbid[16] = {2}, page[HW__PAGE];
  sqlite3_vfs *vfs;
  sqlite3_file *f;
  sqlite3_filename main_fn;
  sqlite3 *db;
  int out;

  CHECK_OK(hw__cvfs_new(&v, NULL, key, dbid));
  vfs = sqlite3_vfs_find(hw__cvfs_name(v));
  CHECK(vfs != NULL);
  f = calloc(1, (size_t)vfs->szOsFile);
  memset(page, 0, sizeof page);
  {
    static const struct {
      const char *suffix;
      int type;
      int amt;
      long long off;
    } bad[] = {
        {"", SQLITE_OPEN_MAIN_DB, 100, 0},               /* partial page */
        {"", SQLITE_OPEN_MAIN_DB, 4096, 512},            /* unaligned */
        {"", SQLITE_OPEN_MAIN_DB, 8192, 0},              /* two pages */
        {"-journal", SQLITE_OPEN_MAIN_JOURNAL, 600, 0},  /* not a header */
        {"-journal", SQLITE_OPEN_MAIN_JOURNAL, 4096, 8}, /* page at a bad offset */
        {"-journal", SQLITE_OPEN_MAIN_JOURNAL, 29, 4},   /* metadata too long */
        {"-wal", SQLITE_OPEN_WAL, 4096, 32},             /* page where a frame header goes */
        {"-wal", SQLITE_OPEN_WAL, 24, 40},               /* frame header misplaced */
        {"-wal", SQLITE_OPEN_WAL, 33, 0},                /* header too long */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      sqlite3_filename fn;
      snprintf(path, sizeof path, "%s/fc.db%s", dir, bad[i].suffix);
      /* xOpen must get a name SQLite made (it looks for URI parameters). */
      fn = sqlite3_create_filename(path, "", "", 0, NULL);
      CHECK(fn != NULL);
      CHECK_EQ(
          vfs->xOpen(vfs, fn, f, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | bad[i].type, &out),
          SQLITE_OK);
      {
        uint8_t *buf = calloc(1, (size_t)bad[i].amt);
        CHECK_EQ(f->pMethods->xWrite(f, buf, bad[i].amt, bad[i].off), SQLITE_IOERR_WRITE);
        free(buf);
      }
      {
        void *map = (void *)1;
        CHECK_EQ(f->pMethods->xFetch(f, 0, 4096, &map), SQLITE_OK);
        CHECK(map == NULL);
        int psow = 0;
        CHECK(f->pMethods->xFileControl(f, SQLITE_FCNTL_POWERSAFE_OVERWRITE, &psow) != SQLITE_OK);
      }
      f->pMethods->xClose(f);
      sqlite3_free_filename(fn); /* the open file may use it until closed */
    }
    /* A page whose reserved bytes are not zero, and a page 1 without the
     * fixed page size and reserve. */
    snprintf(path, sizeof path, "%s/fc.db", dir);
    main_fn = sqlite3_create_filename(path, "", "", 0, NULL);
    CHECK(main_fn != NULL);
    CHECK_EQ(vfs->xOpen(vfs, main_fn, f, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MAIN_DB, &out),
             SQLITE_OK);
    page[HW__PAGE - 1] = 1;
    CHECK_EQ(f->pMethods->xWrite(f, page, HW__PAGE, HW__PAGE), SQLITE_IOERR_WRITE);
    page[HW__PAGE - 1] = 0;
    memcpy(page, "SQLite format 3", 16);
    page[16] = 0x10;
    page[20] = 0; /* no reserve */
    CHECK_EQ(f->pMethods->xWrite(f, page, HW__PAGE, 0), SQLITE_IOERR_WRITE);
    /* Super-journals cannot even be opened. */
    f->pMethods->xClose(f);
    sqlite3_free_filename(main_fn);
    {
      sqlite3_filename fn;
      snprintf(path, sizeof path, "%s/fc.db-mj01", dir);
      fn = sqlite3_create_filename(path, "", "", 0, NULL);
      CHECK(vfs->xOpen(vfs, fn, f,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_SUPER_JOURNAL,
                       &out) != SQLITE_OK);
      sqlite3_free_filename(fn);
    }
  }
  free(f);
  /* psow=0 in a URI is refused. */
  snprintf(uri, sizeof uri, "file:%s/u.db?psow=0", dir);
  CHECK(sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                        hw__cvfs_name(v)) != SQLITE_OK ||
        sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL) != SQLITE_OK);
  sqlite3_close(db);
  hw__cvfs_free(v);
  st_rmdir(dir);
  free(dir);
}

/* The nonces in every page of a file, appended to *out (room for max). */
static size_t file_nonces(const char *path, uint8_t (*out)[HW__NONCE], size_t n, size_t max)
{
  FILE *f = fopen(path, "rb");
  uint8_t page[HW__PAGE];

  CHECK(f != NULL);
  while (fread(page, 1, sizeof page, f) == sizeof page) {
    CHECK(n < max);
    memcpy(out[n++], page + HW__USABLE, HW__NONCE);
  }
  fclose(f);
  return n;
}

/* The VFS draws nonces from a pool in bulk. A child forked with part of the
 * pool left must draw a pool of its own: the backups that parent and child
 * then make through the same store would otherwise seal their pages with the
 * same nonces under the same key, in the same order. */
static void test_nonces_after_fork(void)
{
  char *dir = st_tmpdir(), path[1024], mine[1100], theirs[1100];
  static uint8_t nonces[256][HW__NONCE];
  hw_id cs = st_id(1000);
  size_t n_mine, n;
  hw_store_opts o;
  hw_store *st;
  pid_t pid;
  int status;

  snprintf(path, sizeof path, "%s/f.db", dir);
  snprintf(mine, sizeof mine, "%s/parent.db", dir);
  snprintf(theirs, sizeof theirs, "%s/child.db", dir);
  o = st_opts(path, "pw");
  st = st_open_ok(&o, NULL);
  CHECK_OK(hw_store_begin(st));
  for (int i = 0; i < 20; i++)
    put_canary(st, i, 900, &cs);
  CHECK_OK(hw_store_commit(st));
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0)
    _exit(hw_store_backup(st, theirs) == HW_OK ? 0 : 1);
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK_OK(hw_store_backup(st, mine));
  hw_store_close(st);
  n_mine = file_nonces(mine, nonces, 0, 256);
  n = file_nonces(theirs, nonces, n_mine, 256);
  CHECK(n_mine >= 3 && n > n_mine);
  for (size_t i = 0; i < n_mine; i++)
    for (size_t j = n_mine; j < n; j++)
      CHECK(memcmp(nonces[i], nonces[j], HW__NONCE) != 0);
  st_rmdir(dir);
  free(dir);
}

int main(void)
{
  CHECK_OK(hw_crypto_init());
  test_canaries(HW_STORE_ROLLBACK);
  test_canaries(HW_STORE_WAL);
  test_tamper();
  test_journal_tamper();
  test_journal_forged();
  test_fail_closed();
  test_wal_tamper();
  test_differential(0);
  test_differential(1);
  test_nonces_after_fork();
  printf("store crypt: ok\n");
  return 0;
}
