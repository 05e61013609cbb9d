/* The storage thread: group commit, a savepoint per job (a refused job is
 * rolled back alone), a failed commit fails every job of its group, close
 * drains the queue, and done callbacks run once each on the loop thread.
 * Preps run before their job, and a job waiting for its prep holds back
 * every job after it. */
#include <string.h>
#include <uv.h>

#include "check.h"
#include "storage-int.h"

#define N_JOBS 300

/* A fake database: values written inside the current savepoint, the current
 * transaction, and what is committed. Touched only by the storage thread. */
typedef struct fake_db {
  int committed[N_JOBS];
  int txn[N_JOBS];
  int sp[N_JOBS];
  int in_sp;
  int fail_commit_at_group; /* 1-based; 0: never */
  int groups;
  uv_sem_t *hold; /* the first job waits on it, so the rest queue up */
  int last_run;   /* the id of the job run last (-1: none) */
} fake_db;

static int f_begin(void *d)
{
  fake_db *db = d;
  memset(db->txn, 0, sizeof db->txn);
  db->groups++;
  return 0;
}
static int f_savepoint(void *d)
{
  fake_db *db = d;
  memset(db->sp, 0, sizeof db->sp);
  db->in_sp = 1;
  return 0;
}
static int f_release(void *d)
{
  fake_db *db = d;
  for (int i = 0; i < N_JOBS; i++)
    db->txn[i] |= db->sp[i];
  db->in_sp = 0;
  return 0;
}
static int f_rollback_to(void *d)
{
  fake_db *db = d;
  memset(db->sp, 0, sizeof db->sp);
  db->in_sp = 0;
  return 0;
}
static int f_commit(void *d)
{
  fake_db *db = d;
  if (db->groups == db->fail_commit_at_group)
    return HW_EIO;
  for (int i = 0; i < N_JOBS; i++)
    db->committed[i] |= db->txn[i];
  return 0;
}
static void f_rollback(void *d)
{
  fake_db *db = d;
  memset(db->txn, 0, sizeof db->txn);
}

static const hw_storage_ops fake_ops = {f_begin,       f_savepoint, f_release,
                                        f_rollback_to, f_commit,    f_rollback, NULL};

typedef struct tjob {
  hw_job job;
  int id;
  int refuse;
  int done_calls;
  int status;
  int prepped; /* written by the prep thread, read by the storage thread */
} tjob;

static int run_job(hw_job *j, void *d)
{
  fake_db *db = d;
  tjob *t = j->data;

  CHECK(db->in_sp);
  CHECK(!t->job.prep || t->prepped == 1);
  CHECK(t->id > db->last_run); /* in submission order, whatever the preps took */
  db->last_run = t->id;
  if (t->id == 0 && db->hold)
    uv_sem_wait(db->hold);
  db->sp[t->id] = 1;
  return t->refuse ? HW_EVALIDATE : 0;
}

static int done_total;

static void done_job(hw_job *j, int status)
{
  tjob *t = j->data;
  t->done_calls++;
  t->status = status;
  done_total++;
}

static int closed_calls;
static void on_closed(void *arg)
{
  (void)arg;
  closed_calls++;
}

static tjob jobs[N_JOBS];

static void prep_job(hw_job *j)
{
  tjob *t = j->data;

  if (t->id % 30 == 0)
    uv_sleep(1); /* slower than the storage thread: later jobs wait for it */
  t->prepped++;
}

/* With `preps`, every third job after the first has a prep. */
static void submit_all(hw_storage *s, int refuse_every, bool preps)
{
  for (int i = 0; i < N_JOBS; i++) {
    jobs[i] = (tjob){.id = i, .refuse = refuse_every && i % refuse_every == 0 && i != 0};
    jobs[i].job.run = run_job;
    jobs[i].job.done = done_job;
    if (preps && i % 3 == 0 && i) {
      jobs[i].job.prep = prep_job;
      jobs[i].job.prep_bytes = HW_STORAGE_PREP_AHEAD / 4;
    }
    jobs[i].job.data = &jobs[i];
    CHECK_OK(hw_storage_submit(s, &jobs[i].job));
  }
}

/* A fresh fake database whose first job waits on `hold`, a loop, and the
 * storage started on them. */
static hw_storage *start(fake_db *db, uv_sem_t *hold, uv_loop_t *loop, int fail_commit_at_group)
{
  hw_storage *s = NULL;

  memset(db, 0, sizeof *db);
  db->last_run = -1;
  db->fail_commit_at_group = fail_commit_at_group;
  CHECK_OK(uv_sem_init(hold, 0));
  db->hold = hold;
  CHECK_OK(uv_loop_init(loop));
  done_total = 0;
  closed_calls = 0;
  CHECK_OK(hw_storage_open(&s, loop, &fake_ops, db, 64));
  return s;
}

/* Every third job after the first has a prep. The first holds the storage
 * thread while the preps run ahead, as far as their limit lets them; close
 * comes right after, so it must drain preps that have not run yet. */
static void scenario_prep(void)
{
  uv_loop_t loop;
  fake_db db;
  uv_sem_t hold;
  hw_storage *s = start(&db, &hold, &loop, 0);
  hw_storage_stats st;

  submit_all(s, 0, true);
  uv_sleep(50); /* the preps run ahead while job 0 holds the storage thread */
  uv_sem_post(&hold);
  hw_storage_close(s, on_closed, NULL);
  st = hw_storage_get_stats(s);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(closed_calls, 1);
  CHECK_EQ(done_total, N_JOBS);
  CHECK_OK(uv_loop_close(&loop));
  uv_sem_destroy(&hold);
  /* Ahead by its limit and not more (one prep past it may be under way). */
  CHECK(st.max_prepared >= HW_STORAGE_PREP_AHEAD);
  CHECK(st.max_prepared <= HW_STORAGE_PREP_AHEAD + HW_STORAGE_PREP_AHEAD / 4);
  CHECK_EQ(db.last_run, N_JOBS - 1);
  for (int i = 0; i < N_JOBS; i++) {
    CHECK_EQ(jobs[i].done_calls, 1);
    CHECK_EQ(jobs[i].status, 0);
    CHECK_EQ(db.committed[i], 1);
    CHECK_EQ(jobs[i].prepped, i % 3 == 0 && i);
  }
}

static void scenario(int fail_commit_at_group, int refuse_every)
{
  uv_loop_t loop;
  fake_db db;
  uv_sem_t hold;
  hw_storage *s = start(&db, &hold, &loop, fail_commit_at_group);
  hw_storage_stats st;
  hw_job late = {0};

  submit_all(s, refuse_every, false);
  uv_sem_post(&hold); /* job 0 was holding the first group open */
  while (done_total < N_JOBS)
    uv_run(&loop, UV_RUN_ONCE);
  st = hw_storage_get_stats(s);
  CHECK_EQ(st.jobs, N_JOBS);
  CHECK(st.max_group > 1);   /* jobs queued behind job 0 shared a transaction */
  CHECK(st.max_group <= 64); /* and the cap held */
  CHECK(st.groups < N_JOBS);
  hw_storage_close(s, on_closed, NULL);
  CHECK_ERR(hw_storage_submit(s, &late), HW_ECLOSED);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(closed_calls, 1);
  CHECK_OK(uv_loop_close(&loop));
  uv_sem_destroy(&hold);

  for (int i = 0; i < N_JOBS; i++) {
    CHECK_EQ(jobs[i].done_calls, 1);
    if (jobs[i].refuse) {
      CHECK_ERR(jobs[i].status, HW_EVALIDATE);
      CHECK_EQ(db.committed[i], 0); /* its savepoint was rolled back alone */
    } else if (fail_commit_at_group == 1 && i == 0) {
      CHECK_ERR(jobs[i].status, HW_EIO); /* job 0 was alone in the first group */
      CHECK_EQ(db.committed[i], 0);
    } else {
      /* a done status of 0 means durable: the fake says committed */
      CHECK_EQ(jobs[i].status == 0, db.committed[i] == 1);
    }
  }
}

int main(void)
{
  scenario(0, 0);
  scenario(0, 7); /* every 7th job refused; its neighbours still commit */
  scenario(1, 0); /* the first group's commit fails: its jobs fail */
  scenario(2, 5);
  scenario_prep();
  puts("storage thread: ok");
  return 0;
}
