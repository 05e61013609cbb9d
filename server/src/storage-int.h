/* The storage thread (architecture §5): one thread owns the database and
 * commits queued jobs in groups, a savepoint per job, so one refused job never
 * aborts another session's, and the libuv loop never waits on fsync.
 *
 * Threads: hw_storage_submit and the done callbacks run on the loop thread;
 * each job's run callback runs on the storage thread, its prep callback (if
 * any) on the prep thread. */
#ifndef HW_SERVER_STORAGE_INT_H
#define HW_SERVER_STORAGE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "homeward/err.h"

/* What the storage thread needs from the database: a transaction with
 * savepoints. Every call returns 0 or an hw_err code; `db` is the ops' own
 * context. commit must be durable (synchronous=FULL) before it returns 0. */
typedef struct hw_storage_ops {
  int (*begin)(void *db);
  int (*savepoint)(void *db);
  int (*release)(void *db);     /* keep the job's changes */
  int (*rollback_to)(void *db); /* undo the job's changes, keep the transaction */
  int (*commit)(void *db);
  void (*rollback)(void *db); /* abandon the whole transaction */
  /* Optional (NULL): maintenance after a group's jobs were handed back to
   * the loop, off their path (the next group waits for it). */
  void (*after_group)(void *db);
} hw_storage_ops;

typedef struct hw_job hw_job;

/* Runs on the storage thread inside the job's savepoint. A non-zero return
 * rolls the job's changes back (the others in the group still commit). */
typedef int (*hw_job_run_cb)(hw_job *job, void *db);

/* Optional: runs on the prep thread, in submission order, before the job's
 * run: the work a job can do without the database (decoding, hashing,
 * validating what was sent), so that it overlaps the storage thread's
 * commits instead of lengthening them. It must touch only the job's own
 * data; its results are visible to the run callback, which should free
 * them. The prep thread starts a prep only while the jobs prepared and not
 * yet run weigh less than HW_STORAGE_PREP_AHEAD (their `prep_bytes`), so it
 * stays ahead by that and one job at most: what it works out for queued
 * jobs is memory the queue's own limit does not count. (A job whose run is
 * skipped, its transaction failed before its turn, frees it only when done.) */
#define HW_STORAGE_PREP_AHEAD (8u << 20)
typedef void (*hw_job_prep_cb)(hw_job *job);

/* Runs on the loop thread once the job's fate is durable: `status` is the
 * run callback's error, or the commit's error, or 0 when the job's changes
 * are committed. Called exactly once per submitted job. */
typedef void (*hw_job_done_cb)(hw_job *job, int status);

/* Caller-owned; must stay valid until its done callback has run. */
struct hw_job {
  hw_job *next; /* private */
  hw_job_run_cb run;
  hw_job_done_cb done;
  hw_job_prep_cb prep; /* may be NULL */
  size_t prep_bytes;   /* what the prep's results weigh, roughly, as the prep
                        * returns (the prep may set it) */
  int status;          /* private */
  bool prepared;       /* private */
  hw_job *prep_next;   /* private */
  void *data; /* the caller's */
};

typedef struct hw_storage hw_storage;

typedef struct hw_storage_stats {
  unsigned long groups;    /* transactions committed or failed */
  unsigned long jobs;      /* jobs completed */
  unsigned long max_group; /* the most jobs one transaction carried */
  size_t max_prepared;     /* the most prep_bytes prepared and not yet run at once */
} hw_storage_stats;

/* Start the threads. `ops` and `db` are borrowed until hw_storage_close
 * returns; the database is used only from the storage thread from now on.
 * `max_group` caps the jobs per transaction (0: 256). A job waits for its
 * own prep and for every job submitted before it. Returns 0, HW_ENOMEM or
 * HW_EIO (thread or async handle). */
HW_NODISCARD int hw_storage_open(hw_storage **out, uv_loop_t *loop, const hw_storage_ops *ops,
                                 void *db, size_t max_group);

/* Queue a job (loop thread). Returns 0, or HW_ECLOSED after close began (the
 * done callback is then not called). */
HW_NODISCARD int hw_storage_submit(hw_storage *s, hw_job *job);

/* Finish every queued job, stop the thread, then close the async handle;
 * `closed` (may be NULL) is called from the loop once the storage is freed.
 * The loop must run for the remaining done callbacks and the close. */
void hw_storage_close(hw_storage *s, void (*closed)(void *arg), void *arg);

hw_storage_stats hw_storage_get_stats(hw_storage *s);

#endif
