/* One file's writes gathered until anything else touches the file
 * (wbatch.c), private to cryptvfs.c. The pages among them are sealed on
 * every core at once (pfor.c) and each run of contiguous writes reaches the
 * file in one call: SQLite writes a commit's pages one by one and syncs only
 * after the last, so nothing waits for a page sealed later than before.
 *
 * The owner flushes before every other operation on the file (read, sync,
 * size, truncate, lock, close, file controls that may change it), so the
 * file below sees the same writes in the same order, only later and fewer
 * calls; an error of a gathered write is reported by the call that flushed
 * it. A batch that retains (a rollback journal's) keeps its writes, sealed,
 * when a flush fails, tries them again at the next flush and lets reads see
 * them meanwhile (hw__wb_patch): SQLite rolls back from what it believes is
 * in the file. One thread at a time, like the connection. */
#ifndef HW_STORE_WBATCH_INT_H
#define HW_STORE_WBATCH_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "homeward/pfor.h"

/* Seal, in place, a page queued with its nonce in place (any thread). */
typedef void (*hw__wb_seal_fn)(void *ctx, uint8_t *page, int kind, uint32_t pgno, uint64_t frame);

typedef struct hw__wb_ent {
  sqlite3_int64 off;
  uint32_t at, len; /* its bytes: img[at, at + len) */
  int kind;         /* 0: written as they are; else a page to seal */
  uint32_t pgno;
  uint64_t frame;
} hw__wb_ent;

#define HW__WB_ENTS 160 /* a WAL frame takes two: 64 frames and then some */

typedef struct hw__wb {
  sqlite3_file *real; /* the file below */
  hw__wb_seal_fn seal;
  void *ctx;
  hw_pfor **pool; /* the VFS's helpers, shared by its files */
  bool retain;     /* keep the writes of a failed flush (set after init) */
  uint8_t *img;    /* the queued bytes in order (hw_malloc'd on first use) */
  size_t used;
  hw__wb_ent ent[HW__WB_ENTS];
  size_t n_ent, n_pages;
} hw__wb;

void hw__wb_init(hw__wb *wb, sqlite3_file *real, hw__wb_seal_fn seal, void *ctx, hw_pfor **pool);
/* Queue `amt` bytes for `off`. kind != 0: a page (HW__PAGE bytes) to seal
 * at the flush, and *copy points at its queued copy (valid until the next
 * call), where the caller puts the nonce. May flush first: returns that
 * flush's error, with nothing queued. */
int hw__wb_write(hw__wb *wb, const void *p, int amt, sqlite3_int64 off, int kind, uint32_t pgno,
                 uint64_t frame, uint8_t **copy);
/* Seal and write everything queued; the queue is empty afterwards, also on
 * error (the first error is returned) unless the batch retains: then what
 * was queued stays, sealed, to be written again by the next flush. Cheap when
 * nothing is queued. */
int hw__wb_flush(hw__wb *wb);
/* After a failed flush of a retaining batch: copy the retained bytes that
 * fall in [off, off + amt) over `buf` (the file's bytes there), in the order
 * written. Returns whether they cover [from, off + amt) entirely (from: the
 * file's end, past which `buf` held no file bytes). */
bool hw__wb_patch(const hw__wb *wb, uint8_t *buf, int amt, sqlite3_int64 off,
                  sqlite3_int64 from);
/* The end of the furthest retained write (0: none). */
sqlite3_int64 hw__wb_end(const hw__wb *wb);
/* Forget retained writes at or past `size` (a truncate), cutting one that
 * crosses it. */
void hw__wb_cut(hw__wb *wb, sqlite3_int64 size);
/* The bytes [off, off + amt) from the latest queued unsealed write holding
 * all of them (a WAL frame header or journal page number not yet in the
 * file). */
bool hw__wb_peek(const hw__wb *wb, void *out, int amt, sqlite3_int64 off);
/* Drop what is queued (wiped) and free the buffer. */
void hw__wb_free(hw__wb *wb);

#endif
