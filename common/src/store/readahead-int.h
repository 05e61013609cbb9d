/* Read-ahead of the main database for forward scans (readahead.c), private
 * to cryptvfs.c: a worker thread reads the coming pages in runs of one pread
 * and opens them on the second core while SQLite works on the current page. */
#ifndef HOMEWARD_READAHEAD_INT_H
#define HOMEWARD_READAHEAD_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

/* Authenticate and decrypt database page `pgno` (1-based, 4096 bytes) from
 * `in` into `out` (may alias). Returns SQLITE_OK or an error; never counts
 * tampering (a page that fails is read again on the caller's normal path,
 * which does). Called from the worker thread too. */
typedef int (*hw__ra_open_fn)(void *ctx, uint8_t *out, const uint8_t *in, uint32_t pgno);

typedef struct hw__ra_ring hw__ra_ring;

/* One database file's read-ahead: its access pattern, and the ring and
 * worker once a forward scan was seen. All zero: nothing (hw__ra_init). */
typedef struct hw__ra {
  sqlite3_file *file; /* the base VFS's file: read by the worker */
  hw__ra_open_fn open;
  void *ctx;
  sqlite3_int64 last_pg; /* the page asked for last */
  int streak;            /* forward steps in a row */
  bool broken;           /* no memory or no thread: stay off */
  hw__ra_ring *ring;     /* NULL until a scan starts it */
} hw__ra;

void hw__ra_init(hw__ra *ra, sqlite3_file *file, hw__ra_open_fn open, void *ctx);
/* A whole-page read of page `pg` (0-based) into `out`: true when the ring
 * served it (opened from the file's bytes as they were read after the last
 * hw__ra_flush), false when the caller must read and open it itself. With
 * `on`, a forward scan starts the worker and keeps it reading ahead. */
bool hw__ra_take(hw__ra *ra, sqlite3_int64 pg, uint8_t *out, bool on);
/* Forget every page read so far, waiting for the worker's reads in flight:
 * call before anything that may change the file (write, truncate, sync,
 * size hints, lock changes). Cheap when nothing is held. */
void hw__ra_flush(hw__ra *ra);
/* Stop the worker and wipe the ring. */
void hw__ra_free(hw__ra *ra);

#endif
