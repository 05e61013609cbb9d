/* Allocation fault injection (style.md §8): an allocator that forwards to
 * malloc and fails on request, counting blocks allocated minus blocks freed
 * while installed, so tests can see leaks without ASan too. Thread-safe. */
#include <malloc.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "homeward/mem.h"

static atomic_long fail_after = -1;
static atomic_long count;
static atomic_long live;
static atomic_long live_bytes; /* malloc_usable_size of the live blocks */

/* Whether this allocation is the one to fail: takes one from the countdown
 * in a single step, so allocations on several threads (a pulled batch is
 * decoded on every core) neither skip the failure nor fail twice. */
static bool fails_now(void)
{
  long left = atomic_load(&fail_after);

  while (left > 0 && !atomic_compare_exchange_weak(&fail_after, &left, left - 1))
    ;
  return left == 0;
}

static void *f_malloc(size_t n, void *ud)
{
  void *p;

  (void)ud;
  if (fails_now())
    return NULL;
  atomic_fetch_add(&count, 1);
  p = malloc(n);
  if (p) {
    atomic_fetch_add(&live, 1);
    atomic_fetch_add(&live_bytes, (long)malloc_usable_size(p));
  }
  return p;
}

static void f_free(void *p, void *ud)
{
  (void)ud;
  if (!p)
    return;
  atomic_fetch_sub(&live, 1);
  atomic_fetch_sub(&live_bytes, (long)malloc_usable_size(p));
  free(p);
}

static void *f_realloc(void *p, size_t n, void *ud)
{
  void *q;
  long old;

  if (!p)
    return f_malloc(n, ud);
  if (fails_now())
    return NULL;
  atomic_fetch_add(&count, 1);
  old = (long)malloc_usable_size(p);
  q = realloc(p, n);
  if (q)
    atomic_fetch_add(&live_bytes, (long)malloc_usable_size(q) - old);
  return q;
}

static const hw_allocator fault_allocator = {f_malloc, f_realloc, f_free, NULL};

void hw_test_fail_alloc_after(long n)
{
  if (hw_mem_get_allocator() != &fault_allocator)
    hw_mem_set_allocator(&fault_allocator);
  atomic_store(&count, 0);
  atomic_store(&fail_after, n);
}

long hw_test_alloc_count(void)
{
  return atomic_load(&count);
}

long hw_test_alloc_live(void)
{
  return atomic_load(&live);
}

long hw_test_alloc_live_bytes(void)
{
  return atomic_load(&live_bytes);
}
