/* A file's gathered writes (wbatch-int.h). */
#include <sodium.h>
#include <string.h>

#include "homeward/mem.h"
#include "store-int.h"
#include "wbatch-int.h"

/* Up to 64 WAL frames (or 65 pages) a flush. */
#define WB_BYTES (64 * (HW__WAL_FRAME_HDR + HW__PAGE) + 512)
/* The longest write a run makes: SQLite's unix VFS writes at most 128 KiB
 * - 1 bytes a call (seekAndWriteFd masks the length). */
#define WB_RUN_MAX 0x1ffff
/* Fewer pages than this are sealed on the caller's thread alone: waking a
 * helper costs about as much as sealing a few pages. */
#define WB_PARALLEL_MIN 12

void hw__wb_init(hw__wb *wb, sqlite3_file *real, hw__wb_seal_fn seal, void *ctx, hw_pfor **pool)
{
  memset(wb, 0, sizeof *wb);
  wb->real = real;
  wb->seal = seal;
  wb->ctx = ctx;
  wb->pool = pool;
}

typedef struct seal_job {
  hw__wb *wb;
  uint16_t idx[HW__WB_ENTS]; /* the entries that are pages */
} seal_job;

static void seal_one(void *ctx, size_t i)
{
  seal_job *j = ctx;
  hw__wb_ent *e = &j->wb->ent[j->idx[i]];
  j->wb->seal(j->wb->ctx, j->wb->img + e->at, e->kind, e->pgno, e->frame);
}

int hw__wb_flush(hw__wb *wb)
{
  seal_job job;
  size_t k = 0, n = 0;
  int rc = SQLITE_OK;

  if (wb->n_ent == 0)
    return SQLITE_OK;
  job.wb = wb;
  for (size_t i = 0; i < wb->n_ent; i++)
    if (wb->ent[i].kind)
      job.idx[n++] = (uint16_t)i;
  hw_pfor_run(wb->pool, n, WB_PARALLEL_MIN, seal_one, &job);
  for (size_t i = 0; i < n; i++)
    wb->ent[job.idx[i]].kind = 0; /* sealed: bytes to write as they are */
  /* Runs of writes, each starting where the one before ended. */
  while (k < wb->n_ent && rc == SQLITE_OK) {
    size_t end = k + 1;
    uint32_t len = wb->ent[k].len;
    while (end < wb->n_ent && wb->ent[end].off == wb->ent[end - 1].off + wb->ent[end - 1].len &&
           len + wb->ent[end].len <= WB_RUN_MAX) {
      len += wb->ent[end].len;
      end++;
    }
    rc = wb->real->pMethods->xWrite(wb->real, wb->img + wb->ent[k].at, (int)len, wb->ent[k].off);
    k = end;
  }
  wb->n_pages = 0;
  if (rc == SQLITE_OK || !wb->retain) {
    wb->n_ent = 0;
    wb->used = 0;
  }
  return rc;
}

bool hw__wb_patch(const hw__wb *wb, uint8_t *buf, int amt, sqlite3_int64 off,
                  sqlite3_int64 from)
{
  sqlite3_int64 to = off + amt, pos = from > off ? from : off;
  bool moved = true;

  for (size_t i = 0; i < wb->n_ent; i++) {
    const hw__wb_ent *e = &wb->ent[i];
    sqlite3_int64 lo = e->off > off ? e->off : off;
    sqlite3_int64 hi = e->off + (sqlite3_int64)e->len < to ? e->off + (sqlite3_int64)e->len : to;
    if (lo < hi && e->kind == 0) /* (a page still to seal is never read: reads flush first) */
      memcpy(buf + (lo - off), wb->img + e->at + (lo - e->off), (size_t)(hi - lo));
  }
  /* Whether [pos, to) is covered: extend pos while some write starts at or
   * before it and ends after it. */
  while (pos < to && moved) {
    moved = false;
    for (size_t i = 0; i < wb->n_ent; i++) {
      const hw__wb_ent *e = &wb->ent[i];
      if (e->off <= pos && e->off + (sqlite3_int64)e->len > pos) {
        pos = e->off + (sqlite3_int64)e->len;
        moved = true;
      }
    }
  }
  return pos >= to;
}

sqlite3_int64 hw__wb_end(const hw__wb *wb)
{
  sqlite3_int64 end = 0;
  for (size_t i = 0; i < wb->n_ent; i++)
    if (wb->ent[i].off + (sqlite3_int64)wb->ent[i].len > end)
      end = wb->ent[i].off + (sqlite3_int64)wb->ent[i].len;
  return end;
}

void hw__wb_cut(hw__wb *wb, sqlite3_int64 size)
{
  size_t out = 0;
  for (size_t i = 0; i < wb->n_ent; i++) {
    hw__wb_ent e = wb->ent[i];
    if (e.off >= size)
      continue;
    if (e.off + (sqlite3_int64)e.len > size)
      e.len = (uint32_t)(size - e.off);
    wb->ent[out++] = e;
  }
  wb->n_ent = out;
  if (out == 0)
    wb->used = 0;
}

int hw__wb_write(hw__wb *wb, const void *p, int amt, sqlite3_int64 off, int kind, uint32_t pgno,
                 uint64_t frame, uint8_t **copy)
{
  hw__wb_ent *e;
  int rc;

  if (amt <= 0 || (size_t)amt > WB_BYTES)
    return SQLITE_IOERR_WRITE;
  if (wb->n_ent == HW__WB_ENTS || wb->used + (size_t)amt > WB_BYTES) {
    if ((rc = hw__wb_flush(wb)) != SQLITE_OK)
      return rc;
  }
  if (!wb->img && !(wb->img = hw_malloc(WB_BYTES)))
    return SQLITE_NOMEM;
  e = &wb->ent[wb->n_ent++];
  e->off = off;
  e->at = (uint32_t)wb->used;
  e->len = (uint32_t)amt;
  e->kind = kind;
  e->pgno = pgno;
  e->frame = frame;
  memcpy(wb->img + wb->used, p, (size_t)amt);
  if (copy)
    *copy = wb->img + wb->used;
  wb->used += (size_t)amt;
  wb->n_pages += kind != 0;
  return SQLITE_OK;
}

bool hw__wb_peek(const hw__wb *wb, void *out, int amt, sqlite3_int64 off)
{
  for (size_t i = wb->n_ent; i-- > 0;) {
    const hw__wb_ent *e = &wb->ent[i];
    if (e->kind == 0 && off >= e->off && off + amt <= e->off + (sqlite3_int64)e->len) {
      memcpy(out, wb->img + e->at + (off - e->off), (size_t)amt);
      return true;
    }
  }
  return false;
}

void hw__wb_free(hw__wb *wb)
{
  if (wb->img) {
    sodium_memzero(wb->img, WB_BYTES);
    hw_free(wb->img);
  }
  wb->img = NULL;
  wb->n_ent = wb->n_pages = 0;
  wb->used = 0;
}
