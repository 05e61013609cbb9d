/* Read-ahead of the main database for forward scans (readahead-int.h;
 * docs/storage.md "Performance").
 *
 * The cipher costs several microseconds a page, more than SQLite spends on a
 * page it scans. Once the database is read forward, its pages are read in
 * chunks of RA_PAGES with one pread each, and two threads open them: a worker
 * opens the pages ahead of the reader (SQLite's thread), and the reader opens
 * any page the worker has not claimed straight into SQLite's buffer. So both
 * cores decrypt, and 32 pages cost one system call instead of 32.
 *
 * The two share a chunk's pages through one atomic state per page: no lock
 * and no wake-up per page (a wake-up costs more than a page on a VM). The
 * mutex is taken by the reader once per chunk (to schedule, recycle or load
 * one) and by the worker once per job (a chunk to load or a page to open). The
 * worker polls while a scan feeds it and sleeps on the condition variable only
 * after RA_IDLE_NS without work.
 *
 * Only the reader changes what a chunk holds: it schedules chunks (C_WANT),
 * and before it reuses one (a later chunk, or hw__ra_flush) it waits for the
 * worker's job in flight on it, if any, to finish (while scanning it skips
 * such a chunk instead: the worker is then not running). A job never waits
 * for the reader, and the reader waits for the worker's page at most
 * RA_WAIT_NS, never for a chunk being read. A page that does not open
 * (P_BAD), or that the worker is too slow to open, is left to the caller's
 * normal path, which reads it again and counts tampering. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "homeward/mem.h"
#include "readahead-int.h"
#include "store-int.h"

#define RA_PAGES 32          /* pages a chunk: one pread of 128 KiB */
#define RA_CHUNKS 3          /* the reader's chunk and two ahead */
#define RA_STREAK 8          /* forward reads in a row that make a scan */
#define RA_GAP RA_PAGES      /* a forward skip that keeps the streak (index pages between leaves) */
#define RA_NEAR 3            /* the worker takes no page this close to the reader... */
#define RA_JUMP 10           /* ...but jumps this far ahead of it */
#define RA_WAIT_NS 20000L    /* the longest the reader waits for the worker's page */
#define RA_IDLE_NS 500000L   /* the worker polls this long before it sleeps */

/* A chunk: FREE -> WANT (reader, under mu) -> LOADING (whoever reads it,
 * under mu) -> READY or FAILED; back to FREE by the reader only. */
enum { C_FREE, C_WANT, C_LOADING, C_READY, C_FAILED };
/* A page of a READY chunk: RAW (ciphertext) -> BUSY (the worker opens it in
 * place) -> OPEN or BAD; or RAW -> MINE (the reader opens it into SQLite's
 * buffer, every time it is asked for). */
enum { P_RAW, P_BUSY, P_OPEN, P_BAD, P_MINE };

typedef struct chunk {
  atomic_int state;
  sqlite3_int64 x; /* holds pages x * RA_PAGES ... (set by the reader, under mu) */
  int n;           /* pages it holds: fewer at the end of the file */
  int next;        /* worker, under mu: the first page it has not considered */
  atomic_int page[RA_PAGES];
  uint8_t *buf; /* RA_PAGES pages */
} chunk;

struct hw__ra_ring {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* seq moved, or stop */
  pthread_t th;
  bool stop, sleeping; /* under mu */
  atomic_llong rpos;   /* the page the reader asked for last */
  atomic_uint seq;     /* moved under mu whenever the worker may have new work */
  sqlite3_file *file;
  hw__ra_open_fn open;
  void *ctx;
  /* the reader's own */
  sqlite3_int64 npg; /* pages in the file, -1: ask */
  sqlite3_int64 hi;  /* the last chunk scheduled, -1: none */
  bool used;         /* some chunk is not FREE */
  chunk ch[RA_CHUNKS];
};

#define RING_BYTES (sizeof(hw__ra_ring) + (size_t)RA_CHUNKS * RA_PAGES * HW__PAGE)

static long long now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Wait while *a holds `busy`; returns the value seen last. With a limit
 * (>= 0, in ns), spin and give up after it: the worker is either running on
 * the other core and about to finish, or descheduled, and then the reader
 * does better alone than yielding its core (a yield can cost a time slice).
 * Without one, yield the core, so a worker that shares it can finish. */
static int wait_while(atomic_int *a, int busy, long limit_ns)
{
  long long until = 0;
  int v;

  for (int i = 0; (v = atomic_load_explicit(a, memory_order_acquire)) == busy; i++) {
    if (i < 200 || (i & 63) != 0)
      continue;
    if (limit_ns < 0) {
      sched_yield();
      continue;
    }
    if (!until)
      until = now_ns() + limit_ns;
    else if (now_ns() > until)
      break;
  }
  return v;
}

/* Tell the worker (under mu). */
static void kick(hw__ra_ring *r)
{
  atomic_fetch_add_explicit(&r->seq, 1, memory_order_relaxed);
  if (r->sleeping)
    pthread_cond_signal(&r->cv);
}

static int load(hw__ra_ring *r, sqlite3_int64 x, int n, uint8_t *buf)
{
  int rc = r->file->pMethods->xRead(r->file, buf, n * HW__PAGE, x * RA_PAGES * HW__PAGE);
  return rc == SQLITE_OK ? C_READY : C_FAILED;
}

/* The worker's next job, under mu: the first chunk wanted (*i = -1), else
 * the first raw page, claimed. NULL: nothing to do.
 * A page the reader would reach before the worker has opened it would make
 * the reader wait: when the worker's next page is within RA_NEAR of the
 * reader, it leaves the pages up to RA_JUMP to the reader and goes on from
 * there. The two then meet once in a while instead of at every page
 * (measured: the reader waited at 750 pages of a 33,400-page scan instead
 * of 6,500). */
static chunk *pick(hw__ra_ring *r, int *i)
{
  sqlite3_int64 rpos = atomic_load_explicit(&r->rpos, memory_order_relaxed);
  sqlite3_int64 near = rpos + RA_NEAR;
  chunk *c = NULL;

  for (int k = 0; k < RA_CHUNKS; k++)
    if (atomic_load_explicit(&r->ch[k].state, memory_order_relaxed) == C_WANT &&
        (!c || r->ch[k].x < c->x))
      c = &r->ch[k];
  if (c) {
    atomic_store_explicit(&c->state, C_LOADING, memory_order_relaxed);
    *i = -1;
    return c;
  }
  for (;;) {
    c = NULL;
    for (int k = 0; k < RA_CHUNKS; k++)
      if (atomic_load_explicit(&r->ch[k].state, memory_order_acquire) == C_READY &&
          r->ch[k].next < r->ch[k].n && (!c || r->ch[k].x < c->x))
        c = &r->ch[k];
    if (!c)
      return NULL;
    for (; c->next < c->n; c->next++) {
      int raw = P_RAW;
      if (c->x * RA_PAGES + c->next <= near) {
        near = rpos + RA_JUMP - 1;
        continue;
      }
      if (atomic_compare_exchange_strong(&c->page[c->next], &raw, P_BUSY)) {
        *i = c->next++;
        return c;
      }
    }
  }
}

/* Nothing to do (under mu): poll for a while, then sleep until kicked. */
static void idle(hw__ra_ring *r)
{
  unsigned seq = atomic_load_explicit(&r->seq, memory_order_relaxed);
  long long until = now_ns() + RA_IDLE_NS;

  pthread_mutex_unlock(&r->mu);
  while (atomic_load_explicit(&r->seq, memory_order_relaxed) == seq && now_ns() < until)
    sched_yield();
  pthread_mutex_lock(&r->mu);
  r->sleeping = true;
  while (!r->stop && atomic_load_explicit(&r->seq, memory_order_relaxed) == seq)
    pthread_cond_wait(&r->cv, &r->mu);
  r->sleeping = false;
}

static void *ra_main(void *arg)
{
  hw__ra_ring *r = arg;

  pthread_mutex_lock(&r->mu);
  while (!r->stop) {
    int i, rc;
    chunk *c = pick(r, &i);
    if (!c) {
      idle(r);
    } else if (i < 0) {
      sqlite3_int64 x = c->x;
      int n = c->n;
      pthread_mutex_unlock(&r->mu);
      atomic_store_explicit(&c->state, load(r, x, n, c->buf), memory_order_release);
      pthread_mutex_lock(&r->mu);
    } else {
      uint8_t *p = c->buf + (size_t)i * HW__PAGE;
      uint32_t pgno = (uint32_t)(c->x * RA_PAGES + i + 1);
      pthread_mutex_unlock(&r->mu);
      rc = r->open(r->ctx, p, p, pgno);
      atomic_store_explicit(&c->page[i], rc == SQLITE_OK ? P_OPEN : P_BAD, memory_order_release);
      pthread_mutex_lock(&r->mu);
    }
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

/* Make chunk c free (reader, under mu): wait for the worker's job in flight
 * on it. The worker takes no new job there meanwhile (that needs mu). */
static void settle(chunk *c)
{
  if (atomic_load_explicit(&c->state, memory_order_acquire) == C_FREE)
    return;
  wait_while(&c->state, C_LOADING, -1);
  for (int i = 0; i < RA_PAGES; i++)
    wait_while(&c->page[i], P_BUSY, -1);
  atomic_store_explicit(&c->state, C_FREE, memory_order_relaxed);
}

/* Whether the worker has a job in flight on chunk c. */
static bool in_flight(chunk *c)
{
  int v = atomic_load_explicit(&c->state, memory_order_acquire);

  if (v == C_LOADING)
    return true;
  if (v == C_READY)
    for (int i = 0; i < c->n; i++)
      if (atomic_load_explicit(&c->page[i], memory_order_acquire) == P_BUSY)
        return true;
  return false;
}

/* Schedule chunk x unless it is held already or past the end (under mu).
 * Its slot may still hold a job of a worker that is not running (the other
 * core is busy): then x is left out rather than waited for. */
static void schedule(hw__ra_ring *r, sqlite3_int64 x)
{
  chunk *c = &r->ch[x % RA_CHUNKS];
  sqlite3_int64 first = x * RA_PAGES;

  if (c->x == x && atomic_load_explicit(&c->state, memory_order_relaxed) != C_FREE)
    return;
  if (first >= r->npg || in_flight(c))
    return;
  settle(c);
  c->x = x;
  c->n = r->npg - first < RA_PAGES ? (int)(r->npg - first) : RA_PAGES;
  c->next = 0;
  for (int i = 0; i < RA_PAGES; i++)
    atomic_store_explicit(&c->page[i], P_RAW, memory_order_relaxed);
  if (x == 0)
    atomic_store_explicit(&c->page[0], P_BAD, memory_order_relaxed); /* page 1: normal path */
  atomic_store_explicit(&c->state, C_WANT, memory_order_relaxed);
  r->used = true;
}

/* Schedule the reader's chunk x and the ones after it. */
static void plan(hw__ra_ring *r, sqlite3_int64 x)
{
  if (r->npg < 0) {
    sqlite3_int64 size;
    if (r->file->pMethods->xFileSize(r->file, &size) != SQLITE_OK)
      return;
    r->npg = size / HW__PAGE;
  }
  pthread_mutex_lock(&r->mu);
  for (sqlite3_int64 y = x; y < x + RA_CHUNKS; y++)
    schedule(r, y);
  r->hi = x + RA_CHUNKS - 1;
  kick(r);
  pthread_mutex_unlock(&r->mu);
}

/* The reader needs chunk c, which nobody has started to read: read it here. */
static int load_here(hw__ra_ring *r, chunk *c)
{
  int v;

  pthread_mutex_lock(&r->mu);
  v = atomic_load_explicit(&c->state, memory_order_acquire);
  if (v == C_WANT)
    atomic_store_explicit(&c->state, C_LOADING, memory_order_relaxed);
  pthread_mutex_unlock(&r->mu);
  if (v != C_WANT)
    return v;
  v = load(r, c->x, c->n, c->buf);
  pthread_mutex_lock(&r->mu);
  atomic_store_explicit(&c->state, v, memory_order_release);
  kick(r); /* its pages are work for the worker */
  pthread_mutex_unlock(&r->mu);
  return v;
}

static hw__ra_ring *start(hw__ra *ra)
{
  hw__ra_ring *r = hw_malloc(RING_BYTES);
  sigset_t all, old;
  int rc;

  if (!r)
    return NULL;
  memset(r, 0, sizeof *r);
  r->file = ra->file;
  r->open = ra->open;
  r->ctx = ra->ctx;
  r->npg = -1;
  r->hi = -1;
  atomic_init(&r->rpos, -1);
  atomic_init(&r->seq, 0);
  for (int k = 0; k < RA_CHUNKS; k++) {
    r->ch[k].buf = (uint8_t *)(r + 1) + (size_t)k * RA_PAGES * HW__PAGE;
    r->ch[k].x = -1;
    atomic_init(&r->ch[k].state, C_FREE);
    for (int i = 0; i < RA_PAGES; i++)
      atomic_init(&r->ch[k].page[i], P_RAW);
  }
  if (pthread_mutex_init(&r->mu, NULL) != 0)
    goto fail;
  if (pthread_cond_init(&r->cv, NULL) != 0) {
    pthread_mutex_destroy(&r->mu);
    goto fail;
  }
  /* The worker takes no signals: they stay with the application's threads. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = pthread_create(&r->th, NULL, ra_main, r);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    goto fail;
  }
  return r;
fail:
  hw_free(r);
  return NULL;
}

void hw__ra_init(hw__ra *ra, sqlite3_file *file, hw__ra_open_fn open, void *ctx)
{
  memset(ra, 0, sizeof *ra);
  ra->file = file;
  ra->open = open;
  ra->ctx = ctx;
  ra->last_pg = -1;
}

bool hw__ra_take(hw__ra *ra, sqlite3_int64 pg, uint8_t *out, bool on)
{
  sqlite3_int64 x = pg / RA_PAGES;
  hw__ra_ring *r;
  chunk *c;
  uint8_t *in;
  int v, i;

  /* Forward steps keep the streak; a scan skips the index pages that sit
   * between table leaves. */
  if (pg > ra->last_pg && pg <= ra->last_pg + RA_GAP)
    ra->streak++;
  else if (pg != ra->last_pg)
    ra->streak = 0;
  ra->last_pg = pg;
  r = ra->ring;
  if (!r) {
    if (!on || ra->streak < RA_STREAK || ra->broken || !ra->file)
      return false;
    r = ra->ring = start(ra);
    if (!r) {
      ra->broken = true; /* an optimisation: go on without it */
      return false;
    }
  }
  if (pg == 0)
    return false;
  atomic_store_explicit(&r->rpos, pg, memory_order_relaxed);
  /* Plan when the scan leaves the chunks scheduled, forward or (a new scan
   * of the same connection) back below them. */
  if (on && ra->streak >= RA_STREAK &&
      (x + RA_CHUNKS - 1 > r->hi || x < r->hi - (RA_CHUNKS - 1)))
    plan(r, x);
  c = &r->ch[x % RA_CHUNKS];
  if (c->x != x)
    return false;
  /* A chunk the worker is still reading is not waited for: it reads two
   * chunks ahead, so it is not running. */
  v = atomic_load_explicit(&c->state, memory_order_acquire);
  if (v == C_WANT)
    v = load_here(r, c);
  i = (int)(pg - x * RA_PAGES);
  if (v != C_READY || i >= c->n)
    return false;
  in = c->buf + (size_t)i * HW__PAGE;
  for (;;) {
    v = atomic_load_explicit(&c->page[i], memory_order_acquire);
    if (v == P_RAW && !atomic_compare_exchange_strong(&c->page[i], &v, P_MINE))
      continue; /* the worker claimed it just now */
    if (v == P_RAW || v == P_MINE)
      return r->open(r->ctx, out, in, (uint32_t)(pg + 1)) == SQLITE_OK;
    if (v == P_OPEN) {
      memcpy(out, in, HW__PAGE);
      return true;
    }
    if (v != P_BUSY || wait_while(&c->page[i], P_BUSY, RA_WAIT_NS) == P_BUSY)
      return false; /* bad, or the worker is not running: read it here */
  }
}

void hw__ra_flush(hw__ra *ra)
{
  hw__ra_ring *r = ra->ring;

  ra->streak = 0;
  if (!r || !r->used)
    return;
  pthread_mutex_lock(&r->mu);
  for (int k = 0; k < RA_CHUNKS; k++)
    settle(&r->ch[k]);
  pthread_mutex_unlock(&r->mu);
  r->used = false;
  r->hi = -1;
  r->npg = -1;
}

void hw__ra_free(hw__ra *ra)
{
  hw__ra_ring *r = ra->ring;

  if (!r)
    return;
  pthread_mutex_lock(&r->mu);
  r->stop = true;
  kick(r);
  pthread_mutex_unlock(&r->mu);
  pthread_join(r->th, NULL);
  pthread_cond_destroy(&r->cv);
  pthread_mutex_destroy(&r->mu);
  sodium_memzero(r, RING_BYTES);
  hw_free(r);
  ra->ring = NULL;
}
