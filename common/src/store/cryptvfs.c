/* The encrypting VFS shim (docs/storage.md "Pages"; security.md part A).
 *
 * Every page of the main database, every page image in the rollback journal
 * and every WAL frame's page is sealed with XChaCha20-Poly1305 under the page
 * key: a fresh random nonce per write, nonce and tag in the page's 40 reserved
 * bytes, the file kind, page number and (WAL) frame index in the associated
 * data. Temp files, sub-journals and sorter spills live in memory and never
 * reach disk. Memory-mapped reads are refused (xFetch returns NULL). Any write
 * that cannot be classified fails closed.
 *
 * Writes are gathered per file and their pages sealed on every core at once
 * when anything else touches the file (wbatch.c); reads of a forward scan
 * are opened ahead on the second core (readahead.c).
 *
 * A VFS instance belongs to one store; its connections are used by one thread
 * at a time (the store's contract). */
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../forkgen-int.h"
#include "homeward/mem.h"
#include "homeward/pfor.h"
#include "readahead-int.h"
#include "store-int.h"
#include "walcache-int.h"
#include "wbatch-int.h"

enum { K_DB = 1, K_JOURNAL = 2, K_WAL = 3, K_MEM = 4 };

#define POOL_NONCES 170
#define JOURNAL_HDR 512

struct hw__cvfs {
  sqlite3_vfs vfs; /* registered under name[]; pAppData = this */
  sqlite3_vfs *base;
  uint8_t *key; /* sodium_malloc'd page key */
  uint8_t dbid[HW__DBID];
  char name[64];
  atomic_long tampered;
  atomic_long opened, sealed, ra_served, ra_workers; /* statistics for the benchmark */
  atomic_long wal_served;                            /* frames read from the WAL cache */
  atomic_bool shared_mem; /* some file mapped shared memory: no WAL cache from now on */
  bool readahead;
  hw_pfor *helpers; /* seal a flush's pages beside the connection's thread */
  uint8_t pool[POOL_NONCES * HW__NONCE]; /* random nonces drawn in bulk */
  size_t pool_used;
  uint64_t pool_fork; /* refill after fork so no nonce is used twice */
};

typedef struct cfile {
  sqlite3_file base;
  hw__cvfs *v;
  int kind;
  /* memory files */
  uint8_t *mem;
  sqlite3_int64 mem_len;
  size_t mem_cap;
  /* last small metadata write (journal page number, WAL frame header) */
  sqlite3_int64 meta_off;
  uint32_t meta_pgno;
  bool meta_valid;
  bool meta_commit; /* the WAL frame header was a commit frame's */
  uint64_t wal_frames; /* frames of this WAL generation written (queued) so far */
  uint8_t buf[HW__WAL_FRAME_HDR + HW__PAGE];
  hw__ra ra;         /* read-ahead of the main database (readahead.c) */
  hw__walcache *wc;  /* a WAL's frames written in this generation (walcache.c) */
  hw__wb wb;         /* writes not yet in the file (wbatch.c) */
  int deferred;      /* a failed flush's error not reported yet */
  /* journal: whether this handle wrote its header at offset 0, and the end
   * of what it wrote since (the current transaction's records) */
  bool jr_own;
  sqlite3_int64 jr_end;
  sqlite3_file *real; /* the base VFS's file, right after this struct */
} cfile;

static const uint8_t sqlite_magic[16] = "SQLite format 3";
static const uint8_t journal_magic[8] = {0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7};

static void take_nonce(hw__cvfs *v, uint8_t n[HW__NONCE])
{
  uint64_t fork_gen = hw__fork_gen();

  if (v->pool_used + HW__NONCE > sizeof v->pool || v->pool_fork != fork_gen) {
    randombytes_buf(v->pool, sizeof v->pool);
    v->pool_used = 0;
    v->pool_fork = fork_gen;
  }
  memcpy(n, v->pool + v->pool_used, HW__NONCE);
  sodium_memzero(v->pool + v->pool_used, HW__NONCE);
  v->pool_used += HW__NONCE;
}

static void be32(uint8_t *p, uint32_t x)
{
  p[0] = (uint8_t)(x >> 24);
  p[1] = (uint8_t)(x >> 16);
  p[2] = (uint8_t)(x >> 8);
  p[3] = (uint8_t)x;
}

static uint32_t get_be32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Associated data: "HWP1", kind, page number, frame index, and for page 1 of
 * the main database its clear prefix (magic + database id). */
static size_t make_ad(uint8_t ad[40], int kind, uint32_t pgno, uint64_t frame,
                      const uint8_t *prefix)
{
  memcpy(ad, "HWP1", 4);
  ad[4] = (uint8_t)kind;
  be32(ad + 5, pgno);
  be32(ad + 9, (uint32_t)(frame >> 32));
  be32(ad + 13, (uint32_t)frame);
  if (!prefix)
    return 17;
  memcpy(ad + 17, prefix, 16);
  return 33;
}

static bool all_zero(const uint8_t *p, size_t n)
{
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++)
    acc |= p[i];
  return acc == 0;
}

/* Whether SQLite's page `in` may be sealed: fails closed when it is not
 * what the format expects. */
static int seal_check(const uint8_t *in, int kind, uint32_t pgno)
{
  /* The reserved bytes must come back exactly as SQLite wrote them (zero),
   * or WAL and journal checksums break after a crash (security.md A.2). */
  if (!all_zero(in + HW__USABLE, HW__RESERVE))
    return SQLITE_IOERR_WRITE;
  /* Page size and reserve must be the fixed ones before any write. */
  if (kind == K_DB && pgno == 1 &&
      (memcmp(in, sqlite_magic, 16) != 0 || in[16] != 0x10 || in[17] != 0x00 ||
       in[20] != HW__RESERVE))
    return SQLITE_IOERR_WRITE;
  return SQLITE_OK;
}

/* Seal a checked page in place, its nonce already in its reserved bytes
 * (hw__wb_seal_fn: runs on the helpers too, so it reads nothing the
 * connection's thread changes). */
static void seal_in_place(void *ctx, uint8_t *page, int kind, uint32_t pgno, uint64_t frame)
{
  hw__cvfs *v = ctx;
  uint8_t ad[40], prefix[16];
  size_t skip = 0, ad_len;

  if (kind == K_DB && pgno == 1) {
    memcpy(prefix, HW__DB_MAGIC, 8);
    memcpy(prefix + 8, v->dbid, 8);
    skip = 16;
  }
  ad_len = make_ad(ad, kind, pgno, frame, skip ? prefix : NULL);
  atomic_fetch_add_explicit(&v->sealed, 1, memory_order_relaxed);
  crypto_aead_xchacha20poly1305_ietf_encrypt_detached(page + skip, page + HW__USABLE + HW__NONCE,
                                                      NULL, page + skip, HW__USABLE - skip, ad,
                                                      ad_len, NULL, page + HW__USABLE, v->key);
  if (skip)
    memcpy(page, prefix, 16);
}

/* Queue page `in` for sealing at the flush, with a fresh nonce. */
static int queue_page(cfile *c, const uint8_t *in, sqlite3_int64 off, int kind, uint32_t pgno,
                      uint64_t frame)
{
  uint8_t *copy = NULL;
  int rc = seal_check(in, kind, pgno);

  if (rc == SQLITE_OK)
    rc = hw__wb_write(&c->wb, in, HW__PAGE, off, kind, pgno, frame, &copy);
  if (rc == SQLITE_OK)
    take_nonce(c->v, copy + HW__USABLE);
  return rc;
}

/* Open `in` (4096 bytes) into out (may alias in). Returns SQLITE_OK or
 * SQLITE_IOERR_DATA (counted as tampering when `count`). */
static int open_page(hw__cvfs *v, uint8_t *out, const uint8_t *in, int kind, uint32_t pgno,
                     uint64_t frame, bool count)
{
  uint8_t ad[40], prefix[16], nt[HW__NONCE + HW__TAG];
  size_t skip = 0, ad_len;
  int rc;

  if (kind == K_DB && pgno == 1) {
    memcpy(prefix, in, 16);
    if (memcmp(prefix, HW__DB_MAGIC, 8) != 0 || memcmp(prefix + 8, v->dbid, 8) != 0)
      goto bad;
    skip = 16;
  }
  atomic_fetch_add_explicit(&v->opened, 1, memory_order_relaxed);
  memcpy(nt, in + HW__USABLE, sizeof nt);
  ad_len = make_ad(ad, kind, pgno, frame, skip ? prefix : NULL);
  rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
      out + skip, NULL, in + skip, HW__USABLE - skip, nt + HW__NONCE, ad, ad_len, nt, v->key);
  if (rc != 0)
    goto bad;
  if (skip)
    memcpy(out, sqlite_magic, 16);
  memset(out + HW__USABLE, 0, HW__RESERVE);
  return SQLITE_OK;
bad:
  if (count)
    atomic_fetch_add(&v->tampered, 1);
  return SQLITE_IOERR_DATA;
}

/* ---- memory files: temp databases, sub-journals, sorter spills ---- */

static int mem_close(sqlite3_file *f)
{
  cfile *c = (cfile *)f;
  if (c->mem) {
    sodium_memzero(c->mem, c->mem_cap);
    hw_free(c->mem);
  }
  c->mem = NULL;
  return SQLITE_OK;
}

static int mem_read(sqlite3_file *f, void *p, int amt, sqlite3_int64 off)
{
  cfile *c = (cfile *)f;
  sqlite3_int64 have = off < c->mem_len ? c->mem_len - off : 0;

  if (have >= amt) {
    memcpy(p, c->mem + off, (size_t)amt);
    return SQLITE_OK;
  }
  if (have > 0)
    memcpy(p, c->mem + off, (size_t)have);
  memset((uint8_t *)p + have, 0, (size_t)(amt - have));
  return SQLITE_IOERR_SHORT_READ;
}

static int mem_grow(cfile *c, size_t need)
{
  size_t cap = c->mem_cap ? c->mem_cap : 8192;
  uint8_t *n;

  while (cap < need)
    cap *= 2;
  if (cap == c->mem_cap)
    return SQLITE_OK;
  n = hw_malloc(cap);
  if (!n)
    return SQLITE_NOMEM;
  if (c->mem) {
    memcpy(n, c->mem, (size_t)c->mem_len);
    sodium_memzero(c->mem, c->mem_cap);
    hw_free(c->mem);
  }
  c->mem = n;
  c->mem_cap = cap;
  return SQLITE_OK;
}

static int mem_write(sqlite3_file *f, const void *p, int amt, sqlite3_int64 off)
{
  cfile *c = (cfile *)f;
  size_t end = (size_t)off + (size_t)amt;
  int rc;

  if (end > c->mem_cap && (rc = mem_grow(c, end)) != SQLITE_OK)
    return rc;
  if (off > c->mem_len)
    memset(c->mem + c->mem_len, 0, (size_t)(off - c->mem_len));
  memcpy(c->mem + off, p, (size_t)amt);
  if ((sqlite3_int64)end > c->mem_len)
    c->mem_len = (sqlite3_int64)end;
  return SQLITE_OK;
}

static int mem_truncate(sqlite3_file *f, sqlite3_int64 size)
{
  cfile *c = (cfile *)f;
  if (size < c->mem_len)
    c->mem_len = size;
  return SQLITE_OK;
}

static int mem_sync(sqlite3_file *f, int flags)
{
  (void)f;
  (void)flags;
  return SQLITE_OK;
}

static int mem_size(sqlite3_file *f, sqlite3_int64 *size)
{
  *size = ((cfile *)f)->mem_len;
  return SQLITE_OK;
}

static int mem_lock(sqlite3_file *f, int lock)
{
  (void)f;
  (void)lock;
  return SQLITE_OK;
}

static int mem_check_lock(sqlite3_file *f, int *out)
{
  (void)f;
  *out = 0;
  return SQLITE_OK;
}

static int mem_fcntl(sqlite3_file *f, int op, void *arg)
{
  (void)f;
  (void)op;
  (void)arg;
  return SQLITE_NOTFOUND;
}

static int mem_sector(sqlite3_file *f)
{
  (void)f;
  return HW__PAGE;
}

static int mem_dc(sqlite3_file *f)
{
  (void)f;
  return SQLITE_IOCAP_POWERSAFE_OVERWRITE;
}

static const sqlite3_io_methods mem_methods = {
    1,        mem_close, mem_read,       mem_write, mem_truncate, mem_sync, mem_size,
    mem_lock, mem_lock,  mem_check_lock, mem_fcntl, mem_sector,   mem_dc,   NULL,
    NULL,     NULL,      NULL,           NULL,      NULL,
};

/* ---- real files ---- */

static int flush(cfile *c);
static int journal_read(cfile *c, void *p, int amt, sqlite3_int64 off);

static int c_close(sqlite3_file *f)
{
  cfile *c = (cfile *)f;
  int rc = flush(c), rc2;

  hw__wb_free(&c->wb);
  hw__ra_free(&c->ra);
  hw__wc_free(&c->wc);
  rc2 = c->real->pMethods ? c->real->pMethods->xClose(c->real) : SQLITE_OK;
  if (rc == SQLITE_OK)
    rc = rc2;
  sodium_memzero(c->buf, sizeof c->buf);
  return rc;
}

static int real_read(cfile *c, void *p, int amt, sqlite3_int64 off)
{
  return c->real->pMethods->xRead(c->real, p, amt, off);
}

/* Write what was gathered. A failed flush leaves the WAL without frames the
 * cache holds: it forgets them all. */
static int flush(cfile *c)
{
  int rc = hw__wb_flush(&c->wb);

  if (rc == SQLITE_OK && c->deferred) {
    rc = c->deferred;
    c->deferred = 0;
  }
  if (rc != SQLITE_OK)
    hw__wc_clear(c->wc);
  return rc;
}

/* Where WAL offset `off` (past the header) falls: its frame's index, and
 * the offset within the frame (0: the frame header, HW__WAL_FRAME_HDR: its
 * page). */
static sqlite3_int64 wal_pos(sqlite3_int64 off, uint64_t *frame)
{
  *frame = (uint64_t)((off - HW__WAL_HDR) / (HW__WAL_FRAME_HDR + HW__PAGE));
  return (off - HW__WAL_HDR) % (HW__WAL_FRAME_HDR + HW__PAGE);
}

static void fixed_header(uint8_t *p)
{
  memset(p, 0, HW__PAGE);
  memcpy(p, sqlite_magic, 16);
  p[16] = 0x10; /* page size 4096 */
  p[18] = 1;    /* legacy file format: SQLite checks WAL mode on page 1 itself */
  p[19] = 1;
  p[20] = HW__RESERVE;
  p[21] = 64;
  p[22] = 32;
  p[23] = 32;
}

static int ra_open(void *ctx, uint8_t *out, const uint8_t *in, uint32_t pgno)
{
  return open_page(ctx, out, in, K_DB, pgno, 0, false);
}

static int db_read(cfile *c, uint8_t *p, int amt, sqlite3_int64 off)
{
  sqlite3_int64 first = off / HW__PAGE, last = (off + amt - 1) / HW__PAGE;
  int short_read = 0;

  for (sqlite3_int64 pg = first; pg <= last; pg++) {
    sqlite3_int64 pstart = pg * HW__PAGE;
    sqlite3_int64 from = off > pstart ? off : pstart;
    sqlite3_int64 to = off + amt < pstart + HW__PAGE ? off + amt : pstart + HW__PAGE;
    bool whole = from == pstart && to == pstart + HW__PAGE;
    uint8_t *dst = whole ? p + (from - off) : c->buf;
    int rc;

    if (whole) {
      bool had = c->ra.ring != NULL, served = hw__ra_take(&c->ra, pg, dst, c->v->readahead);
      if (!had && c->ra.ring)
        atomic_fetch_add_explicit(&c->v->ra_workers, 1, memory_order_relaxed);
      if (served) {
        atomic_fetch_add_explicit(&c->v->ra_served, 1, memory_order_relaxed);
        continue;
      }
    }
    rc = real_read(c, dst, HW__PAGE, pstart);

    if (rc == SQLITE_IOERR_SHORT_READ) {
      /* Past the end, or a page cut short: SQLite expects zeros (a torn
       * extension is rolled back by the journal or replaced from the WAL). */
      memset(p + (from - off), 0, (size_t)(to - from));
      short_read = 1;
      continue;
    }
    if (rc != SQLITE_OK)
      return rc;
    rc = open_page(c->v, dst, dst, K_DB, (uint32_t)(pg + 1), 0, whole || pg != 0);
    if (rc != SQLITE_OK && !whole && pg == 0) {
      /* SQLite reads page 1's first 100 bytes when it opens the file, before
       * it rolls back a hot journal that may hold the good copy of a page 1
       * torn by a power cut. Only the fixed fields matter to that read, so
       * hand it the header every store has; the full read of page 1 that
       * follows the rollback still authenticates (and reports tampering). */
      fixed_header(c->buf);
      rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
      return rc;
    if (!whole)
      memcpy(p + (from - off), c->buf + (from - pstart), (size_t)(to - from));
  }
  return short_read ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
}

/* Whether an authentic commit frame of the WAL's current generation (its
 * salts match the WAL header) lies after the frame at `off`. A torn frame is
 * the last thing written before a cut, so nothing of its generation can be
 * committed after it: a frame that fails before such a commit was altered.
 * (SQLite may rewrite a frame of an uncommitted transaction in place, so only
 * commit frames count.) Rare path: reads the rest of the WAL. */
static bool wal_commit_after(cfile *c, sqlite3_int64 off)
{
  uint8_t hdr[HW__WAL_HDR];
  sqlite3_int64 size, fs = HW__WAL_FRAME_HDR + HW__PAGE;

  if (real_read(c, hdr, sizeof hdr, 0) != SQLITE_OK ||
      c->real->pMethods->xFileSize(c->real, &size) != SQLITE_OK)
    return false;
  for (sqlite3_int64 o = off + fs; o + fs <= size; o += fs) {
    uint64_t frame = (uint64_t)((o - HW__WAL_HDR) / fs);
    if (real_read(c, c->buf, (int)fs, o) != SQLITE_OK)
      return false;
    if (memcmp(c->buf + 8, hdr + 16, 8) != 0 || get_be32(c->buf + 4) == 0)
      continue; /* another generation, or not a commit frame */
    if (open_page(c->v, c->buf + HW__WAL_FRAME_HDR, c->buf + HW__WAL_FRAME_HDR, K_WAL,
                  get_be32(c->buf), frame, false) == SQLITE_OK)
      return true;
  }
  return false;
}

static int c_read(sqlite3_file *f, void *p, int amt, sqlite3_int64 off)
{
  cfile *c = (cfile *)f;
  uint64_t frame;
  int rc;

  if (amt <= 0)
    return SQLITE_OK;
  /* A checkpoint's read of a frame this connection wrote comes from memory;
   * everything else reads the file, with what was gathered written first. */
  if (c->kind == K_WAL && amt == HW__PAGE && off >= HW__WAL_HDR &&
      wal_pos(off, &frame) == HW__WAL_FRAME_HDR && !atomic_load(&c->v->shared_mem) &&
      hw__wc_get(c->wc, frame, p)) {
    atomic_fetch_add_explicit(&c->v->wal_served, 1, memory_order_relaxed);
    return SQLITE_OK;
  }
  if (c->kind != K_JOURNAL && (rc = flush(c)) != SQLITE_OK) {
    memset(p, 0, (size_t)amt);
    return rc;
  }
  switch (c->kind) {
  case K_DB:
    return db_read(c, p, amt, off);
  case K_JOURNAL:
    if (amt == HW__PAGE && off % 8 == 4) {
      /* A page image: its page number sits in the 4 bytes before it. */
      rc = journal_read(c, c->buf, 4 + HW__PAGE, off - 4);
      if (rc != SQLITE_OK) {
        memset(p, 0, (size_t)amt);
        return rc;
      }
      rc = open_page(c->v, p, c->buf + 4, K_JOURNAL, get_be32(c->buf), 0, false);
      if (rc == SQLITE_OK)
        return rc;
      /* A record this handle did not write whole in this transaction, in a
       * journal whose header it wrote: the tail of a record whose write
       * failed, or bytes a persisted journal kept from an earlier, longer
       * transaction. SQLite reads them only while rolling back its own
       * unsynced transaction (it counts records by the file's size) and
       * stops at the first bad checksum: zeros end it there, as a torn
       * record does in a plain journal. Anything else that does not open,
       * and every record of a journal found on disk (a hot journal after a
       * crash, or one an attacker wrote: its header is plaintext), is
       * tampering. */
      if (c->jr_own && off + HW__PAGE > c->jr_end) {
        memset(p, 0, (size_t)amt);
        return SQLITE_OK;
      }
      atomic_fetch_add(&c->v->tampered, 1);
      return rc;
    }
    return journal_read(c, p, amt, off);
  case K_WAL:
    if (off >= HW__WAL_HDR) {
      sqlite3_int64 rel = wal_pos(off, &frame);
      if (amt == HW__PAGE && rel == HW__WAL_FRAME_HDR) {
        /* A page of a frame that recovery already accepted (one this
         * connection wrote in this generation came from memory above). */
        rc = real_read(c, c->buf, HW__WAL_FRAME_HDR + HW__PAGE, off - HW__WAL_FRAME_HDR);
        if (rc != SQLITE_OK) {
          memset(p, 0, (size_t)amt);
          return rc;
        }
        return open_page(c->v, p, c->buf + HW__WAL_FRAME_HDR, K_WAL, get_be32(c->buf), frame, true);
      }
      if (amt == HW__WAL_FRAME_HDR + HW__PAGE && rel == 0) {
        /* Recovery reads whole frames. A frame that does not open is a torn
         * or stale tail: hand SQLite zeros so its checksum stops recovery
         * there, as it would for a torn plaintext frame (docs/storage.md). */
        uint8_t *q = p;
        rc = real_read(c, q, amt, off);
        if (rc != SQLITE_OK)
          return rc;
        if (open_page(c->v, q + HW__WAL_FRAME_HDR, q + HW__WAL_FRAME_HDR, K_WAL, get_be32(q), frame,
                      false) != SQLITE_OK) {
          if (wal_commit_after(c, off)) {
            /* A committed frame of this generation follows: this one was
             * not the last write before a cut, so it was altered. */
            atomic_fetch_add(&c->v->tampered, 1);
            return SQLITE_IOERR_DATA;
          }
          memset(q + HW__WAL_FRAME_HDR, 0, HW__PAGE);
        }
        return SQLITE_OK;
      }
    }
    return real_read(c, p, amt, off);
  default:
    return SQLITE_IOERR_READ;
  }
}

/* The page number of the page written at `off`, from the metadata write just
 * before it (cached) or from the file. */
static int meta_pgno(cfile *c, sqlite3_int64 at, uint32_t *pgno)
{
  uint8_t b[4];
  int rc;

  if (c->meta_valid && c->meta_off == at) {
    *pgno = c->meta_pgno;
    return SQLITE_OK;
  }
  if (hw__wb_peek(&c->wb, b, 4, at)) {
    *pgno = get_be32(b);
    return SQLITE_OK;
  }
  if (c->kind == K_JOURNAL)
    rc = journal_read(c, b, 4, at);
  else if ((rc = flush(c)) == SQLITE_OK)
    rc = real_read(c, b, 4, at);
  if (rc != SQLITE_OK)
    return SQLITE_IOERR_WRITE;
  *pgno = get_be32(b);
  return SQLITE_OK;
}

static int write_gathered(cfile *c, const void *p, int amt, sqlite3_int64 off)
{
  const uint8_t *in = p;
  uint64_t frame;
  uint32_t pgno;
  int rc;

  switch (c->kind) {
  case K_DB:
    hw__ra_flush(&c->ra);
    if (amt != HW__PAGE || off % HW__PAGE != 0)
      return SQLITE_IOERR_WRITE; /* fail closed */
    return queue_page(c, in, off, K_DB, (uint32_t)(off / HW__PAGE + 1), 0);
  case K_JOURNAL:
    if (amt == HW__PAGE && off % 8 == 4) {
      rc = meta_pgno(c, off - 4, &pgno);
      if (rc != SQLITE_OK)
        return rc;
      return queue_page(c, in, off, K_JOURNAL, pgno, 0);
    }
    if (amt == JOURNAL_HDR && off % JOURNAL_HDR == 0) {
      /* A journal header (one 512-byte sector: SQLite uses 512 when the file
       * is powersafe-overwrite): magic (zero until the journal is synced),
       * six 32-bit fields, then zeros. */
      if ((memcmp(in, journal_magic, 8) != 0 && !all_zero(in, 8)) ||
          !all_zero(in + 28, JOURNAL_HDR - 28))
        return SQLITE_IOERR_WRITE;
      return hw__wb_write(&c->wb, p, amt, off, 0, 0, 0, NULL);
    }
    if (amt <= 28) {
      /* Record numbers, checksums, header fields: no page content. */
      if (amt == 4) {
        c->meta_off = off;
        c->meta_pgno = get_be32(in);
        c->meta_valid = true;
      }
      return hw__wb_write(&c->wb, p, amt, off, 0, 0, 0, NULL);
    }
    return SQLITE_IOERR_WRITE;
  case K_WAL:
    if (off == 0 && amt == HW__WAL_HDR) {
      hw__wc_clear(c->wc); /* a new generation: frame indexes start again */
      c->wal_frames = 0;
      return hw__wb_write(&c->wb, p, amt, off, 0, 0, 0, NULL);
    }
    if (off >= HW__WAL_HDR) {
      sqlite3_int64 rel = wal_pos(off, &frame);
      if (amt == HW__WAL_FRAME_HDR && rel == 0) {
        c->meta_off = off;
        c->meta_pgno = get_be32(in);
        c->meta_commit = get_be32(in + 4) != 0; /* the database size: a commit frame */
        c->meta_valid = true;
        /* The frame's page stays remembered: a header written again carries
         * only new checksums for an unchanged page (walRewriteChecksums at
         * commit, after pages of the transaction were rewritten in place:
         * those page-only writes replaced the remembered page already), or
         * it comes before its page written again (a frame reused after a
         * rollback: the page write replaces it, or fails and forgets every
         * frame). Dropping it here lost a large transaction's spilled
         * frames to the checkpoint. */
        rc = hw__wb_write(&c->wb, p, amt, off, 0, 0, 0, NULL);
        /* The header of an earlier frame written again: SQLite rewriting the
         * checksums of a transaction whose pages it changed after a spill,
         * after its commit frame, with no sync to follow under
         * synchronous=NORMAL. It reaches the file now, as the commit did. */
        if (rc == SQLITE_OK && frame < c->wal_frames)
          rc = flush(c);
        else if (rc == SQLITE_OK)
          c->wal_frames = frame + 1;
        return rc;
      }
      if (amt == HW__PAGE && rel == HW__WAL_FRAME_HDR) {
        hw__wc_drop(c->wc, frame);
        rc = meta_pgno(c, off - HW__WAL_FRAME_HDR, &pgno);
        if (rc != SQLITE_OK)
          return rc;
        rc = queue_page(c, in, off, K_WAL, pgno, frame);
        /* Remembered now, though the flush writes it: a flush that fails
         * forgets every frame (flush below). */
        if (rc == SQLITE_OK && !atomic_load(&c->v->shared_mem))
          hw__wc_put(&c->wc, frame, in);
        /* A commit is in the file when SQLite returns, synced or not: with
         * synchronous=NORMAL no sync follows, and a crash of the process
         * must not lose it. */
        if (rc == SQLITE_OK && c->meta_valid && c->meta_off == off - HW__WAL_FRAME_HDR &&
            c->meta_commit)
          rc = flush(c);
        return rc;
      }
    }
    return SQLITE_IOERR_WRITE; /* fail closed */
  default:
    return SQLITE_IOERR_WRITE;
  }
}

static int c_write(sqlite3_file *f, const void *p, int amt, sqlite3_int64 off)
{
  cfile *c = (cfile *)f;
  int rc;

  if (c->kind == K_JOURNAL && off == 0) {
    c->jr_own = true; /* a transaction's first header: its records follow */
    c->jr_end = 0;
  }
  rc = write_gathered(c, p, amt, off);
  if (rc == SQLITE_OK && c->kind == K_JOURNAL && off + amt > c->jr_end)
    c->jr_end = off + amt; /* (queued: reads see it, wbatch-int.h) */
  if (rc != SQLITE_OK)
    hw__wc_clear(c->wc); /* a flush to make room may have failed */
  return rc;
}

static int c_truncate(sqlite3_file *f, sqlite3_int64 size)
{
  cfile *c = (cfile *)f;
  int rc = flush(c);

  c->meta_valid = false;
  hw__ra_flush(&c->ra);
  hw__wc_clear(c->wc);
  if (rc != SQLITE_OK && c->wb.retain) {
    hw__wb_cut(&c->wb, size); /* what is kept below the cut is tried again */
    rc = SQLITE_OK;
  }
  return rc != SQLITE_OK ? rc : c->real->pMethods->xTruncate(c->real, size);
}

static int c_sync(sqlite3_file *f, int flags)
{
  cfile *c = (cfile *)f;
  int rc = flush(c);

  hw__ra_flush(&c->ra);
  return rc != SQLITE_OK ? rc : c->real->pMethods->xSync(c->real, flags);
}

static int c_size(sqlite3_file *f, sqlite3_int64 *size)
{
  cfile *c = (cfile *)f;
  int rc = flush(c);

  if (rc != SQLITE_OK && !c->wb.retain) {
    *size = 0;
    return rc;
  }
  /* The size SQLite believes in: a journal's retained writes count (none
   * remain after a flush that succeeded). */
  rc = c->real->pMethods->xFileSize(c->real, size);
  if (rc == SQLITE_OK && hw__wb_end(&c->wb) > *size)
    *size = hw__wb_end(&c->wb);
  return rc;
}

/* A lock change may let another connection write, or follow its writes:
 * what was gathered is written and pages read ahead are forgotten (as on
 * every write, truncate and sync). */
static int c_lock(sqlite3_file *f, int lock)
{
  cfile *c = (cfile *)f;
  int rc = flush(c);

  hw__ra_flush(&c->ra);
  return rc != SQLITE_OK ? rc : c->real->pMethods->xLock(c->real, lock);
}

/* A read of the journal: what was gathered is written first; if that fails,
 * the writes are retained (wbatch.c) and the read sees them over the file's
 * bytes, so a rollback reads the records SQLite believes it wrote. The
 * failure itself is reported by the sync that tries them again. */
static int journal_read(cfile *c, void *p, int amt, sqlite3_int64 off)
{
  sqlite3_int64 size = 0;
  int rc;

  if (flush(c) == SQLITE_OK)
    return real_read(c, p, amt, off);
  rc = real_read(c, p, amt, off);
  if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
    return rc;
  if (rc == SQLITE_IOERR_SHORT_READ && c->real->pMethods->xFileSize(c->real, &size) != SQLITE_OK)
    return SQLITE_IOERR_READ;
  if (hw__wb_patch(&c->wb, p, amt, off, rc == SQLITE_OK ? off + amt : size))
    return SQLITE_OK;
  return rc;
}

/* A flush for a call whose error SQLite may not check (unlock, file
 * controls, barriers): the error is also kept for the next call that
 * flushes (a sync at the latest), so it is never lost. */
static int flush_unchecked(cfile *c)
{
  int rc = flush(c);
  if (rc != SQLITE_OK)
    c->deferred = rc;
  return rc;
}

static int c_unlock(sqlite3_file *f, int lock)
{
  cfile *c = (cfile *)f;
  int rc = flush_unchecked(c);

  hw__ra_flush(&c->ra);
  return rc != SQLITE_OK ? rc : c->real->pMethods->xUnlock(c->real, lock);
}

static int c_check_lock(sqlite3_file *f, int *out)
{
  cfile *c = (cfile *)f;
  return c->real->pMethods->xCheckReservedLock(c->real, out);
}

static int c_fcntl(sqlite3_file *f, int op, void *arg)
{
  cfile *c = (cfile *)f;

  switch (op) {
  case SQLITE_FCNTL_POWERSAFE_OVERWRITE:
    /* psow=0 would split WAL frame writes (security.md A.4): refuse it. */
    if (*(int *)arg == 0)
      return SQLITE_ERROR;
    *(int *)arg = 1;
    return SQLITE_OK;
  case SQLITE_FCNTL_MMAP_SIZE:
    /* Memory-mapped reads would bypass decryption. */
    *(sqlite3_int64 *)arg = 0;
    return SQLITE_OK;
  case SQLITE_FCNTL_BUSYHANDLER:
  case SQLITE_FCNTL_PDB:
  case SQLITE_FCNTL_VFSNAME:
  case SQLITE_FCNTL_VFS_POINTER:
  case SQLITE_FCNTL_HAS_MOVED:
  case SQLITE_FCNTL_LOCKSTATE:
  case SQLITE_FCNTL_TEMPFILENAME:
    return c->real->pMethods->xFileControl(c->real, op, arg);
  default: {
    /* Size hints, syncs and whatever else may change the file. */
    int rc = flush_unchecked(c);
    hw__ra_flush(&c->ra);
    return rc != SQLITE_OK ? rc : c->real->pMethods->xFileControl(c->real, op, arg);
  }
  }
}

static int c_sector(sqlite3_file *f)
{
  (void)f;
  return JOURNAL_HDR; /* SQLite uses 512 for powersafe-overwrite files anyway */
}

static int c_dc(sqlite3_file *f)
{
  cfile *c = (cfile *)f;
  return c->real->pMethods->xDeviceCharacteristics(c->real) & SQLITE_IOCAP_POWERSAFE_OVERWRITE;
}

static int c_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
  cfile *c = (cfile *)f;
  /* Another connection may write the WAL from now on: no frame cache. */
  atomic_store(&c->v->shared_mem, true);
  if (c->real->pMethods->iVersion < 2 || !c->real->pMethods->xShmMap)
    return SQLITE_IOERR_SHMMAP;
  return c->real->pMethods->xShmMap(c->real, pg, pgsz, extend, pp);
}

/* Shared-memory WAL locks start and end read transactions: another
 * connection may have checkpointed into the file since. */
static int c_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
  cfile *c = (cfile *)f;
  int rc = flush_unchecked(c);

  hw__ra_flush(&c->ra);
  return rc != SQLITE_OK ? rc : c->real->pMethods->xShmLock(c->real, offset, n, flags);
}

static void c_shm_barrier(sqlite3_file *f)
{
  cfile *c = (cfile *)f;
  (void)flush_unchecked(c);
  hw__ra_flush(&c->ra);
  c->real->pMethods->xShmBarrier(c->real);
}

static int c_shm_unmap(sqlite3_file *f, int del)
{
  cfile *c = (cfile *)f;
  if (c->real->pMethods->iVersion < 2 || !c->real->pMethods->xShmUnmap)
    return SQLITE_OK;
  return c->real->pMethods->xShmUnmap(c->real, del);
}

static int c_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
  (void)f;
  (void)off;
  (void)amt;
  *pp = NULL; /* never map: every read must be decrypted */
  return SQLITE_OK;
}

static int c_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
  (void)f;
  (void)off;
  (void)p;
  return SQLITE_OK;
}

static const sqlite3_io_methods c_methods = {
    3,          c_close,       c_read,       c_write, c_truncate, c_sync, c_size,
    c_lock,     c_unlock,      c_check_lock, c_fcntl, c_sector,   c_dc,   c_shm_map,
    c_shm_lock, c_shm_barrier, c_shm_unmap,  c_fetch, c_unfetch,
};

/* ---- the VFS ---- */

static int v_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
                  int *out_flags)
{
  hw__cvfs *v = vfs->pAppData;
  cfile *c = (cfile *)f;
  int type = flags & 0x0FFF00;
  int rc;

  memset(c, 0, sizeof *c);
  c->v = v;
  c->real = (sqlite3_file *)(c + 1);
  if (name == NULL || type == SQLITE_OPEN_TEMP_DB || type == SQLITE_OPEN_TEMP_JOURNAL ||
      type == SQLITE_OPEN_SUBJOURNAL || type == SQLITE_OPEN_TRANSIENT_DB) {
    /* Never on disk (security.md A, pitfall 1). */
    c->kind = K_MEM;
    c->base.pMethods = &mem_methods;
    if (out_flags)
      *out_flags = flags;
    return SQLITE_OK;
  }
  if (type == SQLITE_OPEN_MAIN_DB)
    c->kind = K_DB;
  else if (type == SQLITE_OPEN_MAIN_JOURNAL)
    c->kind = K_JOURNAL;
  else if (type == SQLITE_OPEN_WAL)
    c->kind = K_WAL;
  else
    return SQLITE_CANTOPEN; /* super-journals (ATTACH) and anything unknown */
  if (!sqlite3_uri_boolean(name, "psow", 1))
    return SQLITE_CANTOPEN;
  rc = v->base->xOpen(v->base, name, c->real, flags, out_flags);
  if (rc != SQLITE_OK)
    return rc;
  if (!(c->real->pMethods->xDeviceCharacteristics(c->real) & SQLITE_IOCAP_POWERSAFE_OVERWRITE)) {
    c->real->pMethods->xClose(c->real);
    return SQLITE_CANTOPEN;
  }
  if (c->kind == K_DB)
    hw__ra_init(&c->ra, c->real, ra_open, v);
  hw__wb_init(&c->wb, c->real, seal_in_place, v, &v->helpers);
  /* SQLite rolls back from the journal what it believes is there: a journal
   * keeps the writes a failed flush could not make (wbatch-int.h). */
  c->wb.retain = c->kind == K_JOURNAL;
  c->base.pMethods = &c_methods;
  return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
  hw__cvfs *v = vfs->pAppData;
  return v->base->xDelete(v->base, name, sync_dir);
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
  hw__cvfs *v = vfs->pAppData;
  return v->base->xAccess(v->base, name, flags, out);
}

static int v_full(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
  hw__cvfs *v = vfs->pAppData;
  return v->base->xFullPathname(v->base, name, n, out);
}

static void *v_dlopen(sqlite3_vfs *vfs, const char *name)
{
  (void)vfs;
  (void)name;
  return NULL; /* no extensions */
}

static void v_dlerror(sqlite3_vfs *vfs, int n, char *out)
{
  (void)vfs;
  if (n > 0)
    snprintf(out, (size_t)n, "extensions are disabled");
}

static void (*v_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
  (void)vfs;
  (void)h;
  (void)sym;
  return NULL;
}

static void v_dlclose(sqlite3_vfs *vfs, void *h)
{
  (void)vfs;
  (void)h;
}

static int v_random(sqlite3_vfs *vfs, int n, char *out)
{
  (void)vfs;
  randombytes_buf(out, (size_t)n);
  return n;
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
  hw__cvfs *v = vfs->pAppData;
  return v->base->xSleep(v->base, us);
}

static int v_time(sqlite3_vfs *vfs, double *out)
{
  hw__cvfs *v = vfs->pAppData;
  return v->base->xCurrentTime(v->base, out);
}

static int v_last_error(sqlite3_vfs *vfs, int n, char *out)
{
  hw__cvfs *v = vfs->pAppData;
  return v->base->xGetLastError ? v->base->xGetLastError(v->base, n, out) : 0;
}

static int v_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
  hw__cvfs *v = vfs->pAppData;
  if (v->base->iVersion >= 2 && v->base->xCurrentTimeInt64)
    return v->base->xCurrentTimeInt64(v->base, out);
  double d;
  int rc = v->base->xCurrentTime(v->base, &d);
  *out = (sqlite3_int64)(d * 86400000.0);
  return rc;
}

int hw__cvfs_new(hw__cvfs **out, const char *base_vfs, const uint8_t key[HW__KEY],
                 const uint8_t dbid[HW__DBID])
{
  static atomic_ulong seq;
  sqlite3_vfs *base;
  hw__cvfs *v;
  int rc;

  *out = NULL;
  if (sqlite3_initialize() != SQLITE_OK)
    return HW_ENOMEM;
  base = sqlite3_vfs_find(base_vfs);
  if (!base)
    return HW_EINVAL;
  v = hw_calloc(1, sizeof *v);
  if (!v)
    return HW_ENOMEM;
  v->key = sodium_malloc(HW__KEY);
  if (!v->key) {
    hw_free(v);
    return HW_ENOMEM;
  }
  memcpy(v->key, key, HW__KEY);
  memcpy(v->dbid, dbid, HW__DBID);
  v->base = base;
  v->pool_used = sizeof v->pool; /* first use fills the pool */
  /* On: a forward scan decrypts on two cores (docs/storage.md
   * "Performance"); point lookups and inserts never start the worker. */
  v->readahead = true;
  snprintf(v->name, sizeof v->name, "hw-crypt-%lu", (unsigned long)atomic_fetch_add(&seq, 1));
  v->vfs = (sqlite3_vfs){
      .iVersion = 2,
      .szOsFile = (int)(sizeof(cfile) + (size_t)base->szOsFile),
      .mxPathname = base->mxPathname,
      .zName = v->name,
      .pAppData = v,
      .xOpen = v_open,
      .xDelete = v_delete,
      .xAccess = v_access,
      .xFullPathname = v_full,
      .xDlOpen = v_dlopen,
      .xDlError = v_dlerror,
      .xDlSym = v_dlsym,
      .xDlClose = v_dlclose,
      .xRandomness = v_random,
      .xSleep = v_sleep,
      .xCurrentTime = v_time,
      .xGetLastError = v_last_error,
      .xCurrentTimeInt64 = v_time64,
  };
  rc = sqlite3_vfs_register(&v->vfs, 0);
  if (rc != SQLITE_OK) {
    hw__cvfs_free(v);
    return rc == SQLITE_NOMEM ? HW_ENOMEM : HW_EINTERNAL;
  }
  *out = v;
  return HW_OK;
}

const char *hw__cvfs_name(const hw__cvfs *v)
{
  return v->name;
}

long hw__cvfs_wal_served(const hw__cvfs *v)
{
  return atomic_load(&((hw__cvfs *)v)->wal_served);
}

long hw__cvfs_tampered(const hw__cvfs *v)
{
  return atomic_load(&((hw__cvfs *)v)->tampered);
}

void hw__cvfs_stats(hw__cvfs *v, long *opened, long *sealed, long *ra_served, long *ra_workers)
{
  *ra_workers = atomic_load(&v->ra_workers);
  *opened = atomic_load(&v->opened);
  *sealed = atomic_load(&v->sealed);
  *ra_served = atomic_load(&v->ra_served);
}

void hw__cvfs_set_readahead(hw__cvfs *v, bool on)
{
  v->readahead = on;
}

bool hw__cvfs_readahead(const hw__cvfs *v)
{
  return v->readahead;
}

void hw__cvfs_reset_tampered(hw__cvfs *v)
{
  atomic_store(&v->tampered, 0);
}

void hw__cvfs_free(hw__cvfs *v)
{
  if (!v)
    return;
  sqlite3_vfs_unregister(&v->vfs);
  hw_pfor_free(&v->helpers);
  sodium_free(v->key);
  sodium_memzero(v->pool, sizeof v->pool);
  hw_free(v);
}
