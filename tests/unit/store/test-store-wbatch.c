/* Gathered writes (wbatch.c) and the helper threads that seal them
 * (pfor.c):
 * - the parallel loop runs every index exactly once, with and without
 *   helpers, many times over;
 * - a batch reaches the file below in the order queued, contiguous writes
 *   merged into runs of at most 128 KiB - 1 bytes, every page sealed exactly
 *   once, queued bytes readable before the flush; a failing write below
 *   returns its error and leaves nothing queued;
 * - through the encrypting VFS: a flush that fails inside a call whose error
 *   SQLite may ignore (a file control) is reported again by the next sync;
 * - with synchronous=NORMAL (test-only), a commit whose pages were spilled
 *   and changed again (SQLite then rewrites the WAL checksums after the
 *   commit frame) survives the process dying right after it (found in a
 *   review: the rewritten headers were still queued). */
#include <sodium.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "homeward/crypto.h"
#include "homeward/store-testvfs.h"
#include "homeward/pfor.h"
#include "store-int.h"
#include "store-test.h"
#include "wbatch-int.h"

/* ---- the parallel loop ---- */

#define LOOP_MAX 3000

static atomic_int hits[LOOP_MAX];

static void hit(void *ctx, size_t i)
{
  (void)ctx;
  atomic_fetch_add(&hits[i], 1);
}

static void test_pfor(void)
{
  hw_pfor *p = NULL;
  hw_test_rng rng;

  hw_test_rng_init(&rng, hw_test_seed());
  for (int round = 0; round < 400; round++) {
    size_t n = (size_t)hw_test_rng_below(&rng, LOOP_MAX);
    size_t min = round % 5 == 0 ? n + 1 : 2; /* some rounds run alone */
    for (size_t i = 0; i < LOOP_MAX; i++)
      atomic_store(&hits[i], 0);
    hw_pfor_run(&p, n, min, hit, NULL);
    for (size_t i = 0; i < LOOP_MAX; i++)
      CHECK_EQ(atomic_load(&hits[i]), i < n ? 1 : 0);
  }
  hw_pfor_free(&p);
  CHECK(p == NULL);
  hw_pfor_free(&p); /* twice: nothing */
}

/* ---- a batch over a recording file ---- */

typedef struct rec_file {
  sqlite3_file base;
  uint8_t img[1 << 21]; /* what was written, by offset */
  int calls, longest, fail_at; /* fail the call numbered fail_at (1-based) */
} rec_file;

static int rf_write(sqlite3_file *f, const void *p, int amt, sqlite3_int64 off)
{
  rec_file *r = (rec_file *)f;

  r->calls++;
  if (r->calls == r->fail_at)
    return SQLITE_FULL;
  CHECK(off >= 0 && off + amt <= (sqlite3_int64)sizeof r->img);
  memcpy(r->img + off, p, (size_t)amt);
  if (amt > r->longest)
    r->longest = amt;
  return SQLITE_OK;
}

static const sqlite3_io_methods rf_methods = {.iVersion = 1, .xWrite = rf_write};

static atomic_int sealed;

/* "Sealing" a page: flip every byte, so a page sealed twice or not at all
 * shows. */
static void flip(void *ctx, uint8_t *page, int kind, uint32_t pgno, uint64_t frame)
{
  (void)ctx;
  CHECK_EQ(kind, 7);
  CHECK_EQ(pgno, (uint32_t)frame);
  for (size_t i = 0; i < HW__PAGE; i++)
    page[i] ^= 0xff;
  atomic_fetch_add(&sealed, 1);
}

static void test_batch(void)
{
  static rec_file rf;
  static uint8_t want[1 << 21];
  hw_pfor *pool = NULL;
  hw__wb wb;
  uint8_t page[HW__PAGE], hdr[HW__WAL_FRAME_HDR], got[4], *copy;
  sqlite3_int64 off = 32;

  memset(&rf, 0, sizeof rf);
  rf.base.pMethods = &rf_methods;
  hw__wb_init(&wb, &rf.base, flip, NULL, &pool);
  CHECK_EQ(hw__wb_flush(&wb), SQLITE_OK); /* nothing queued: no call */
  CHECK_EQ(rf.calls, 0);
  /* 100 WAL-like frames (header + page), contiguous: more than one batch
   * holds, so the queue flushes itself on the way. */
  for (uint32_t k = 1; k <= 100; k++) {
    memset(hdr, (int)k, sizeof hdr);
    memset(page, (int)(k * 3), sizeof page);
    CHECK_EQ(hw__wb_write(&wb, hdr, sizeof hdr, off, 0, 0, 0, NULL), SQLITE_OK);
    memcpy(want + off, hdr, sizeof hdr);
    if (k == 100) {
      CHECK(hw__wb_peek(&wb, got, 4, off + 10));
      CHECK(memcmp(got, hdr, 4) == 0);
    }
    off += sizeof hdr;
    CHECK_EQ(hw__wb_write(&wb, page, sizeof page, off, 7, k, k, &copy), SQLITE_OK);
    CHECK(memcmp(copy, page, sizeof page) == 0);
    for (size_t i = 0; i < HW__PAGE; i++)
      want[off + (sqlite3_int64)i] = (uint8_t)(page[i] ^ 0xff);
    off += sizeof page;
  }
  /* A write elsewhere, then one back over frame 3's header. */
  memset(hdr, 0xab, sizeof hdr);
  CHECK_EQ(hw__wb_write(&wb, hdr, 8, 1 << 20, 0, 0, 0, NULL), SQLITE_OK);
  memcpy(want + (1 << 20), hdr, 8);
  CHECK_EQ(hw__wb_write(&wb, hdr, sizeof hdr, 32 + 2 * (HW__WAL_FRAME_HDR + HW__PAGE), 0, 0, 0,
                        NULL),
           SQLITE_OK);
  memcpy(want + 32 + 2 * (HW__WAL_FRAME_HDR + HW__PAGE), hdr, sizeof hdr);
  CHECK(!hw__wb_peek(&wb, got, 4, 5)); /* never queued */
  CHECK_EQ(hw__wb_flush(&wb), SQLITE_OK);
  CHECK(memcmp(rf.img, want, sizeof want) == 0);
  CHECK_EQ(atomic_load(&sealed), 100);
  CHECK(rf.longest <= 0x1ffff);
  /* 100 frames in runs of at most 31, plus the two lone writes. */
  CHECK(rf.calls <= 100 / 31 + 2 + 2 + 2);
  CHECK(!hw__wb_peek(&wb, got, 4, 32)); /* written: nothing queued */

  /* A write below fails: its error, nothing left queued, nothing sealed
   * twice on the next flush. */
  rf.fail_at = rf.calls + 1;
  CHECK_EQ(hw__wb_write(&wb, page, sizeof page, 0, 7, 1, 1, &copy), SQLITE_OK);
  CHECK_EQ(hw__wb_flush(&wb), SQLITE_FULL);
  CHECK_EQ(wb.n_ent, 0u);
  CHECK_EQ(hw__wb_flush(&wb), SQLITE_OK);
  CHECK_EQ(atomic_load(&sealed), 101);

  /* A retaining batch (a journal's) keeps what failed, sealed once, lets
   * reads see it, and writes it with the next flush. */
  wb.retain = true;
  memset(page, 0x5a, sizeof page);
  CHECK_EQ(hw__wb_write(&wb, hdr, 4, 8192, 0, 0, 0, NULL), SQLITE_OK);
  CHECK_EQ(hw__wb_write(&wb, page, sizeof page, 8196, 7, 2, 2, &copy), SQLITE_OK);
  rf.fail_at = rf.calls + 1;
  CHECK_EQ(hw__wb_flush(&wb), SQLITE_FULL);
  CHECK_EQ(wb.n_ent, 2u);
  CHECK_EQ(hw__wb_end(&wb), 8196 + HW__PAGE);
  {
    uint8_t rd[64];
    memset(rd, 0, sizeof rd);
    /* The file ends at 8192 here: the retained bytes cover the rest. */
    CHECK(hw__wb_patch(&wb, rd, sizeof rd, 8190, 8192));
    CHECK(memcmp(rd + 2, hdr, 4) == 0);
    CHECK_EQ(rd[6], (uint8_t)(0x5a ^ 0xff)); /* sealed, once */
    CHECK(!hw__wb_patch(&wb, rd, sizeof rd, 8196 + HW__PAGE - 8, 8192)); /* past them */
  }
  CHECK_EQ(hw__wb_flush(&wb), SQLITE_OK);
  CHECK_EQ(wb.n_ent, 0u);
  CHECK(memcmp(rf.img + 8192, hdr, 4) == 0);
  CHECK_EQ(rf.img[8196], (uint8_t)(0x5a ^ 0xff));
  CHECK_EQ(atomic_load(&sealed), 102);
  /* A truncate forgets what it cuts off, and cuts a write that crosses it. */
  CHECK_EQ(hw__wb_write(&wb, page, sizeof page, 20000, 7, 3, 3, &copy), SQLITE_OK);
  rf.fail_at = rf.calls + 1;
  CHECK_EQ(hw__wb_flush(&wb), SQLITE_FULL);
  hw__wb_cut(&wb, 21000);
  CHECK_EQ(hw__wb_end(&wb), 21000);
  hw__wb_cut(&wb, 20000);
  CHECK_EQ(wb.n_ent, 0u);
  hw__wb_free(&wb);
  hw_pfor_free(&pool);
}

/* ---- through the encrypting VFS ---- */

static void test_deferred_error(void)
{
  char *dir = st_tmpdir(), path[1024];
  uint8_t key[HW__KEY], dbid[HW__DBID], page[HW__PAGE] = {0};
  hw__cvfs *v;
  sqlite3_vfs *vfs;
  sqlite3_file *f;
  sqlite3_filename fn;
  sqlite3_int64 hint = 3 * HW__PAGE;
  int out;

  CHECK_OK(hw_testvfs_register());
  randombytes_buf(key, sizeof key);
  randombytes_buf(dbid, sizeof dbid);
  CHECK_OK(hw__cvfs_new(&v, HW_TESTVFS_NAME, key, dbid));
  vfs = sqlite3_vfs_find(hw__cvfs_name(v));
  CHECK(vfs != NULL);
  f = calloc(1, (size_t)vfs->szOsFile);
  CHECK(f != NULL);
  snprintf(path, sizeof path, "%s/d.db", dir);
  /* xOpen must get a name SQLite made (it looks for URI parameters after
   * the name's end), kept until the file is closed. */
  fn = sqlite3_create_filename(path, "", "", 0, NULL);
  CHECK(fn != NULL);
  CHECK_EQ(vfs->xOpen(vfs, fn, f, SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      &out),
           SQLITE_OK);
  /* Page 2, queued: nothing reaches the file until something flushes. */
  memset(page, 'q', HW__USABLE);
  CHECK_EQ(f->pMethods->xWrite(f, page, HW__PAGE, HW__PAGE), SQLITE_OK);
  /* The flush inside a size hint fails; SQLite may ignore that call's
   * error, so the next sync reports it, once. */
  hw_testvfs_fail_after(0, HW_EIO);
  (void)f->pMethods->xFileControl(f, SQLITE_FCNTL_SIZE_HINT, &hint);
  hw_testvfs_fail_after(-1, 0);
  CHECK(f->pMethods->xSync(f, SQLITE_SYNC_FULL) != SQLITE_OK);
  CHECK_EQ(f->pMethods->xSync(f, SQLITE_SYNC_FULL), SQLITE_OK);
  /* Written again, it reaches the file sealed: the clear bytes are not
   * there, and the page reads back. */
  CHECK_EQ(f->pMethods->xWrite(f, page, HW__PAGE, HW__PAGE), SQLITE_OK);
  CHECK_EQ(f->pMethods->xSync(f, SQLITE_SYNC_FULL), SQLITE_OK);
  {
    uint8_t back[HW__PAGE];
    FILE *raw = fopen(path, "rb");
    CHECK(raw != NULL);
    CHECK(fseek(raw, HW__PAGE, SEEK_SET) == 0);
    CHECK(fread(back, 1, HW__PAGE, raw) == HW__PAGE);
    fclose(raw);
    CHECK(memcmp(back, page, 64) != 0);
    CHECK_EQ(f->pMethods->xRead(f, back, HW__PAGE, HW__PAGE), SQLITE_OK);
    CHECK(memcmp(back, page, HW__PAGE) == 0);
  }
  CHECK_EQ(f->pMethods->xClose(f), SQLITE_OK);
  sqlite3_free_filename(fn);
  free(f);
  hw__cvfs_free(v);
  CHECK_OK(hw_testvfs_forget());
  st_rmdir(dir);
  free(dir);
}

static void test_normal_commit_survives(void)
{
  char *dir = st_tmpdir(), path[1024];
  hw_store_opts o;
  hw_store *st;
  uint64_t n = 0;
  pid_t pid;
  int status;

  snprintf(path, sizeof path, "%s/n.db", dir);
  o = st_opts(path, "pw");
  o.journal = HW_STORE_WAL;
  o.test_flags |= HW_STORE_TEST_SYNC_NORMAL;
  hw_store_close(st_open_ok(&o, NULL));
  o.create = false;
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    uint8_t buf[1500];
    st = st_open_ok(&o, NULL);
    /* A small cache: the transaction spills, then changes spilled pages. */
    CHECK_EQ(sqlite3_exec(hw_store_sqlite(st), "PRAGMA cache_size=10", NULL, NULL, NULL),
             SQLITE_OK);
    CHECK_OK(hw_store_begin(st));
    for (int pass = 0; pass < 2; pass++)
      for (uint64_t i = 0; i < 300; i++) {
        hw_store_rec r = {.id = st_id(i),
                          .case_id = st_id(7),
                          .kind = {(const uint8_t *)"note", 4},
                          .state = {buf, sizeof buf}};
        memset(buf, (int)(i + (uint64_t)pass), sizeof buf);
        CHECK_OK(hw_store_put(st, &r));
      }
    CHECK_OK(hw_store_commit(st)); /* reported committed */
    _exit(0);                      /* the process dies: no close */
  }
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  st = st_open_ok(&o, NULL);
  CHECK_OK(hw_store_count(st, &n));
  CHECK_EQ(n, 300u);
  CHECK_OK(hw_store_check(st));
  hw_store_close(st);
  st_rmdir(dir);
  free(dir);
}

int main(void)
{
  CHECK_OK(hw_crypto_init());
  test_pfor();
  test_batch();
  test_deferred_error();
  test_normal_commit_survives();
  printf("store wbatch: ok\n");
  return 0;
}
