/* Storage thread with group commit (see storage-int.h). */
#include "storage-int.h"

#include <string.h>

#include "homeward/log.h"
#include "homeward/mem.h"

#define GROUP_DEFAULT 256

struct hw_storage {
  uv_loop_t *loop;
  uv_async_t wake; /* storage thread -> loop: jobs completed */
  uv_thread_t thread;
  uv_thread_t prep_thread;
  uv_mutex_t lock;
  uv_cond_t cond;      /* storage thread: a job was queued or prepared */
  uv_cond_t prep_cond; /* prep thread: a job with a prep was queued */
  const hw_storage_ops *ops;
  void *db;
  size_t max_group;
  bool tamper_said; /* storage thread: a failed page authentication was logged */
  hw_job *todo_head, *todo_tail; /* guarded by lock */
  hw_job *prep_head, *prep_tail; /* guarded by lock: preps not yet run */
  size_t prepared_bytes;         /* guarded by lock: of jobs prepared and not yet run */
  hw_job *done_head, *done_tail; /* guarded by lock */
  bool stopping;                 /* guarded by lock */
  bool closing;                  /* loop thread only */
  void (*closed)(void *);
  void *closed_arg;
  hw_storage_stats stats; /* guarded by lock */
};

static void append(hw_job **head, hw_job **tail, hw_job *j)
{
  j->next = NULL;
  if (*tail)
    (*tail)->next = j;
  else
    *head = j;
  *tail = j;
}

static bool ready(const hw_job *j)
{
  return !j->prep || j->prepared;
}

/* Before a job's turn: its prep has run (the prep thread is ahead in the
 * same order, so this waits only when it has not caught up yet; a job is
 * never handed back while its prep runs). */
static void wait_prepared(hw_storage *s, hw_job *j)
{
  if (!j->prep)
    return;
  uv_mutex_lock(&s->lock);
  while (!ready(j))
    uv_cond_wait(&s->cond, &s->lock);
  uv_mutex_unlock(&s->lock);
}

/* After a job's turn: what its prep worked out is freed by its run, so it
 * no longer counts against the prep thread's lead. */
static void release_prepared(hw_storage *s, hw_job *j)
{
  if (!j->prep)
    return;
  uv_mutex_lock(&s->lock);
  s->prepared_bytes -= j->prep_bytes;
  uv_cond_signal(&s->prep_cond);
  uv_mutex_unlock(&s->lock);
}

static void run_one(hw_storage *s, hw_job *j, int *rc)
{
  const hw_storage_ops *o = s->ops;

  if (*rc) {
    j->status = *rc;
    return;
  }
  if ((j->status = o->savepoint(s->db)) != 0)
    return;
  j->status = j->run(j, s->db);
  if (j->status == HW_ETAMPER && !s->tamper_said) {
    /* Said once (every job reading that page fails the same way). */
    s->tamper_said = true;
    hw_log(HW_LOG_ERROR, "store page failed authentication: the database was altered or "
                         "damaged on disk; stop the server and restore the last backup "
                         "(docs/operations.md)");
  }
  if (j->status == 0) {
    j->status = o->release(s->db);
  } else if (o->rollback_to(s->db) != 0) {
    /* The transaction is no longer trustworthy: fail every job in it. */
    *rc = HW_EIO;
  }
}

/* One transaction: a savepoint per job; the commit decides for all jobs
 * whose run succeeded. */
static void run_group(hw_storage *s, hw_job *group)
{
  const hw_storage_ops *o = s->ops;
  int rc = o->begin(s->db);

  for (hw_job *j = group; j; j = j->next) {
    wait_prepared(s, j);
    run_one(s, j, &rc);
    release_prepared(s, j);
  }
  if (rc == 0)
    rc = o->commit(s->db);
  if (rc) {
    o->rollback(s->db);
    for (hw_job *j = group; j; j = j->next)
      if (j->status == 0)
        j->status = rc;
  }
}

/* One thread runs the preps in submission order, so jobs become ready in
 * the order the storage thread takes them. (One is enough: a prep costs a
 * fraction of what its run costs on the storage thread.) */
static void prep_main(void *arg)
{
  hw_storage *s = arg;

  uv_mutex_lock(&s->lock);
  for (;;) {
    hw_job *j;
    /* (Jobs prepared are ahead of the next one to prepare: the storage
     * thread runs them, and their bytes come off, whatever else waits.) */
    while ((!s->prep_head && !s->stopping) ||
           (s->prep_head && s->prepared_bytes >= HW_STORAGE_PREP_AHEAD))
      uv_cond_wait(&s->prep_cond, &s->lock);
    if (!(j = s->prep_head))
      break; /* stopping, and nothing left to prepare */
    if (!(s->prep_head = j->prep_next))
      s->prep_tail = NULL;
    uv_mutex_unlock(&s->lock);
    j->prep(j);
    uv_mutex_lock(&s->lock);
    j->prepared = true;
    s->prepared_bytes += j->prep_bytes;
    if (s->prepared_bytes > s->stats.max_prepared)
      s->stats.max_prepared = s->prepared_bytes;
    uv_cond_signal(&s->cond);
  }
  uv_mutex_unlock(&s->lock);
}

static void thread_main(void *arg)
{
  hw_storage *s = arg;

  for (;;) {
    hw_job *group = NULL, *tail = NULL;
    size_t n = 0;

    uv_mutex_lock(&s->lock);
    while (!s->todo_head && !s->stopping)
      uv_cond_wait(&s->cond, &s->lock);
    if (!s->todo_head && s->stopping) {
      uv_mutex_unlock(&s->lock);
      break;
    }
    /* Take everything queued (up to the cap): that is the group commit.
     * (Only jobs ready would cut the group wherever a prep lags, and small
     * groups cost a sync each: 1,000 devices syncing at once took a third
     * longer.) */
    while (s->todo_head && n < s->max_group) {
      hw_job *j = s->todo_head;
      s->todo_head = j->next;
      append(&group, &tail, j);
      n++;
    }
    if (!s->todo_head)
      s->todo_tail = NULL;
    uv_mutex_unlock(&s->lock);

    run_group(s, group);

    uv_mutex_lock(&s->lock);
    for (hw_job *j = group, *next; j; j = next) {
      next = j->next;
      append(&s->done_head, &s->done_tail, j);
    }
    s->stats.groups++;
    s->stats.jobs += n;
    if (n > s->stats.max_group)
      s->stats.max_group = n;
    uv_mutex_unlock(&s->lock);
    uv_async_send(&s->wake);
    if (s->ops->after_group)
      s->ops->after_group(s->db);
  }
}

static void on_closed(uv_handle_t *h)
{
  hw_storage *s = h->data;
  void (*cb)(void *) = s->closed;
  void *arg = s->closed_arg;

  uv_cond_destroy(&s->prep_cond);
  uv_cond_destroy(&s->cond);
  uv_mutex_destroy(&s->lock);
  hw_free(s);
  if (cb)
    cb(arg);
}

static void on_wake(uv_async_t *a)
{
  hw_storage *s = a->data;
  hw_job *done;

  uv_mutex_lock(&s->lock);
  done = s->done_head;
  s->done_head = s->done_tail = NULL;
  uv_mutex_unlock(&s->lock);
  for (hw_job *j = done, *next; j; j = next) {
    next = j->next;
    j->done(j, j->status);
  }
}

int hw_storage_open(hw_storage **out, uv_loop_t *loop, const hw_storage_ops *ops, void *db,
                    size_t max_group)
{
  hw_storage *s = hw_calloc(1, sizeof *s);

  *out = NULL;
  if (!s)
    return HW_ENOMEM;
  s->loop = loop;
  s->ops = ops;
  s->db = db;
  s->max_group = max_group ? max_group : GROUP_DEFAULT;
  if (uv_mutex_init(&s->lock) != 0) {
    hw_free(s);
    return HW_EIO;
  }
  if (uv_cond_init(&s->cond) != 0) {
    uv_mutex_destroy(&s->lock);
    hw_free(s);
    return HW_EIO;
  }
  if (uv_cond_init(&s->prep_cond) != 0) {
    uv_cond_destroy(&s->cond);
    uv_mutex_destroy(&s->lock);
    hw_free(s);
    return HW_EIO;
  }
  if (uv_async_init(loop, &s->wake, on_wake) != 0) {
    uv_cond_destroy(&s->prep_cond);
    uv_cond_destroy(&s->cond);
    uv_mutex_destroy(&s->lock);
    hw_free(s);
    return HW_EIO;
  }
  s->wake.data = s;
  if (uv_thread_create(&s->prep_thread, prep_main, s) != 0) {
    /* The async handle is registered with the loop: close it the libuv way. */
    s->closed = NULL;
    uv_close((uv_handle_t *)&s->wake, on_closed);
    return HW_EIO;
  }
  if (uv_thread_create(&s->thread, thread_main, s) != 0) {
    uv_mutex_lock(&s->lock);
    s->stopping = true;
    uv_cond_signal(&s->prep_cond);
    uv_mutex_unlock(&s->lock);
    uv_thread_join(&s->prep_thread);
    s->closed = NULL;
    uv_close((uv_handle_t *)&s->wake, on_closed);
    return HW_EIO;
  }
  *out = s;
  return HW_OK;
}

int hw_storage_submit(hw_storage *s, hw_job *job)
{
  if (s->closing)
    return HW_ECLOSED;
  job->status = 0;
  job->prepared = false;
  job->prep_next = NULL;
  uv_mutex_lock(&s->lock);
  append(&s->todo_head, &s->todo_tail, job);
  if (job->prep) {
    if (s->prep_tail)
      s->prep_tail->prep_next = job;
    else
      s->prep_head = job;
    s->prep_tail = job;
    uv_cond_signal(&s->prep_cond);
  }
  uv_cond_signal(&s->cond);
  uv_mutex_unlock(&s->lock);
  return HW_OK;
}

void hw_storage_close(hw_storage *s, void (*closed)(void *arg), void *arg)
{
  s->closing = true;
  s->closed = closed;
  s->closed_arg = arg;
  uv_mutex_lock(&s->lock);
  s->stopping = true;
  uv_cond_signal(&s->cond);
  uv_cond_signal(&s->prep_cond);
  uv_mutex_unlock(&s->lock);
  /* The threads finish every queued prep and job before they exit. */
  uv_thread_join(&s->thread);
  uv_thread_join(&s->prep_thread);
  on_wake(&s->wake); /* deliver what finished after the last wake-up */
  uv_close((uv_handle_t *)&s->wake, on_closed);
}

hw_storage_stats hw_storage_get_stats(hw_storage *s)
{
  hw_storage_stats st;

  uv_mutex_lock(&s->lock);
  st = s->stats;
  uv_mutex_unlock(&s->lock);
  return st;
}
