/* Helper threads for a parallel loop (homeward/pfor.h).
 *
 * The caller publishes a job under the mutex and wakes the helpers; every
 * thread then claims indexes with one atomic add each until none is left.
 * Before the caller returns it withdraws the job (under the mutex, so no
 * helper can join it afterwards) and waits for the helpers inside it to
 * finish the index each holds. A helper that wakes late finds the job done
 * or gone and goes back to sleep: the caller never waits for a helper to
 * start, only for work a helper has taken. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#include "forkgen-int.h"
#include "homeward/mem.h"
#include "homeward/pfor.h"

#define PFOR_HELPERS_MAX 3

typedef struct job {
  void (*fn)(void *ctx, size_t i);
  void *ctx;
  size_t n;
  atomic_size_t next;  /* the next index to claim */
  atomic_int inside;   /* helpers working on this job */
} job;

struct hw_pfor {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  job *cur;          /* under mu: the job helpers may join, or NULL */
  unsigned long gen; /* under mu: bumped with every job */
  bool stop;         /* under mu */
  uint64_t fork_gen; /* of the process the helpers run in (forkgen-int.h) */
  int n_helpers;
  pthread_t th[PFOR_HELPERS_MAX];
};

static void work(job *j)
{
  size_t i;
  while ((i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->n)
    j->fn(j->ctx, i);
}

static void *helper_main(void *arg)
{
  hw_pfor *p = arg;
  unsigned long seen = 0;

  pthread_mutex_lock(&p->mu);
  while (!p->stop) {
    if (p->cur && p->gen != seen) {
      job *j = p->cur;
      seen = p->gen;
      atomic_fetch_add_explicit(&j->inside, 1, memory_order_relaxed);
      pthread_mutex_unlock(&p->mu);
      work(j);
      atomic_fetch_sub_explicit(&j->inside, 1, memory_order_release);
      pthread_mutex_lock(&p->mu);
      continue;
    }
    pthread_cond_wait(&p->cv, &p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

static int helpers_wanted(void)
{
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus <= 1)
    return 0;
  return cpus - 1 > PFOR_HELPERS_MAX ? PFOR_HELPERS_MAX : (int)(cpus - 1);
}

static hw_pfor *pfor_new(void)
{
  hw_pfor *p = hw_calloc(1, sizeof *p);
  sigset_t all, old;
  int want = helpers_wanted();

  if (!p || want == 0)
    goto fail;
  if (pthread_mutex_init(&p->mu, NULL) != 0)
    goto fail;
  if (pthread_cond_init(&p->cv, NULL) != 0) {
    pthread_mutex_destroy(&p->mu);
    goto fail;
  }
  p->fork_gen = hw__fork_gen();
  /* Helpers take no signals: they stay with the application's threads. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  for (int i = 0; i < want; i++)
    if (pthread_create(&p->th[p->n_helpers], NULL, helper_main, p) == 0)
      p->n_helpers++;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (p->n_helpers == 0) {
    hw_pfor_free(&p);
    return NULL;
  }
  return p;
fail:
  hw_free(p);
  return NULL;
}

void hw_pfor_run(hw_pfor **pp, size_t n, size_t min, void (*fn)(void *ctx, size_t i), void *ctx)
{
  job j = {fn, ctx, n, 0, 0};
  hw_pfor *p = *pp;

  if (n >= min && n > 1 && !p)
    p = *pp = pfor_new();
  /* After fork the helpers are gone (and the mutex may be held). */
  if (n < min || n <= 1 || !p || p->fork_gen != hw__fork_gen()) {
    for (size_t i = 0; i < n; i++)
      fn(ctx, i);
    return;
  }
  pthread_mutex_lock(&p->mu);
  p->cur = &j;
  p->gen++;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  work(&j);
  pthread_mutex_lock(&p->mu);
  p->cur = NULL;
  pthread_mutex_unlock(&p->mu);
  /* Each helper inside finishes the one index it holds. */
  for (int k = 0; atomic_load_explicit(&j.inside, memory_order_acquire) > 0; k++)
    if (k > 1000)
      sched_yield();
}

void hw_pfor_free(hw_pfor **pp)
{
  hw_pfor *p = *pp;

  if (!p)
    return;
  *pp = NULL;
  if (p->fork_gen == hw__fork_gen() && p->n_helpers > 0) {
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_helpers; i++)
      pthread_join(p->th[i], NULL);
  }
  if (p->fork_gen == hw__fork_gen() || p->n_helpers == 0) {
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
  }
  hw_free(p);
}
