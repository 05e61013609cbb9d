#include "homeward/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void *sys_malloc(size_t n, void *ud)
{
  (void)ud;
  return malloc(n);
}

static void *sys_realloc(void *p, size_t n, void *ud)
{
  (void)ud;
  return realloc(p, n);
}

static void sys_free(void *p, void *ud)
{
  (void)ud;
  free(p);
}

static const hw_allocator sys_allocator = {sys_malloc, sys_realloc, sys_free, NULL};
static const hw_allocator *cur = &sys_allocator;

void hw_mem_set_allocator(const hw_allocator *a)
{
  cur = a ? a : &sys_allocator;
}

const hw_allocator *hw_mem_get_allocator(void)
{
  return cur;
}

void *hw_malloc(size_t n)
{
  return cur->malloc(n ? n : 1, cur->ud);
}

void *hw_calloc(size_t n, size_t size)
{
  void *p;

  if (size && n > SIZE_MAX / size)
    return NULL;
  p = hw_malloc(n * size);
  if (p)
    memset(p, 0, n * size);
  return p;
}

void *hw_realloc(void *p, size_t n)
{
  return cur->realloc(p, n ? n : 1, cur->ud);
}

void hw_free(void *p)
{
  if (p)
    cur->free(p, cur->ud);
}

int hw_grow(void *arr, size_t *cap, size_t need, size_t size, size_t first)
{
  size_t n = *cap ? *cap : (first ? first : 1);
  void *old, *p;

  if (need <= *cap)
    return HW_OK;
  while (n < need) {
    if (n > SIZE_MAX / 2)
      return HW_ELIMIT;
    n *= 2;
  }
  if (size && n > SIZE_MAX / size)
    return HW_ELIMIT;
  /* `arr` points at a pointer of any object type: copied, not cast. */
  memcpy(&old, arr, sizeof old);
  if (!(p = hw_realloc(old, n * size)))
    return HW_ENOMEM;
  memcpy(arr, &p, sizeof p);
  *cap = n;
  return HW_OK;
}

void *hw_memdup(const void *p, size_t n)
{
  void *q = hw_malloc(n);
  if (q && n)
    memcpy(q, p, n);
  return q;
}
