/* The one place that hands our allocator to SQLite and libuv. */
#include "homeward/mem.h"

#include <sqlite3.h>
#include <stdint.h>
#include <string.h>
#include <uv.h>

/* SQLite wants xSize, so each block carries its size in a 16-byte header
 * (16 keeps the payload aligned for any type). */
#define HDR 16

static void *sq_malloc(int n)
{
  uint8_t *p;

  if (n < 0)
    return NULL;
  p = hw_malloc((size_t)n + HDR);
  if (!p)
    return NULL;
  memcpy(p, &(size_t){(size_t)n}, sizeof(size_t));
  return p + HDR;
}

static void sq_free(void *p)
{
  if (p)
    hw_free((uint8_t *)p - HDR);
}

static int sq_size(void *p)
{
  size_t n;

  if (!p)
    return 0;
  memcpy(&n, (uint8_t *)p - HDR, sizeof n);
  return (int)n;
}

static void *sq_realloc(void *p, int n)
{
  uint8_t *q;

  if (!p)
    return sq_malloc(n);
  if (n < 0)
    return NULL;
  q = hw_realloc((uint8_t *)p - HDR, (size_t)n + HDR);
  if (!q)
    return NULL;
  memcpy(q, &(size_t){(size_t)n}, sizeof(size_t));
  return q + HDR;
}

static int sq_roundup(int n)
{
  return (n + 7) & ~7;
}

static int sq_init(void *ud)
{
  (void)ud;
  return SQLITE_OK;
}

static void sq_shutdown(void *ud)
{
  (void)ud;
}

static const sqlite3_mem_methods sq_methods = {
    sq_malloc, sq_free, sq_realloc, sq_size, sq_roundup, sq_init, sq_shutdown, NULL,
};

static void *uv_hw_calloc(size_t n, size_t size)
{
  return hw_calloc(n, size);
}

int hw_mem_install_hooks(void)
{
  if (sqlite3_config(SQLITE_CONFIG_MALLOC, &sq_methods) != SQLITE_OK)
    return HW_EBUSY;
  if (uv_replace_allocator(hw_malloc, hw_realloc, uv_hw_calloc, hw_free) != 0)
    return HW_EBUSY;
  return HW_OK;
}
