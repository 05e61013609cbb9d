#include "homeward/arena.h"

#include <string.h>

#include "homeward/mem.h"

#define ARENA_CHUNK_MIN 4096

struct hw_arena_chunk {
  hw_arena_chunk *next;
  size_t len; /* bytes of data after the header */
  _Alignas(16) uint8_t data[];
};

void hw_arena_init(hw_arena *a, void *buf, size_t buf_len, size_t cap)
{
  a->chunks = NULL;
  a->buf = buf;
  a->buf_len = buf ? buf_len : 0;
  a->p = a->buf;
  a->end = a->buf ? a->buf + a->buf_len : NULL;
  a->heap_used = 0;
  a->cap = cap;
}

static size_t pad8(uintptr_t p)
{
  return (size_t)((8 - (p & 7)) & 7);
}

void *hw_arena_alloc(hw_arena *a, size_t n)
{
  size_t pad, want;
  hw_arena_chunk *c;

  if (n == 0)
    n = 1;
  if (a->p) {
    pad = pad8((uintptr_t)a->p);
    if (pad <= (size_t)(a->end - a->p) && n <= (size_t)(a->end - a->p) - pad) {
      void *r = a->p + pad;
      a->p += pad + n;
      return r;
    }
  }
  if (n > SIZE_MAX / 2 - sizeof *c)
    return NULL;
  want = n > ARENA_CHUNK_MIN ? n : ARENA_CHUNK_MIN;
  /* Grow chunks geometrically so many small states do not make many chunks. */
  if (a->heap_used > want && a->heap_used < SIZE_MAX / 4)
    want = a->heap_used;
  if (a->cap != SIZE_MAX) {
    size_t left = a->heap_used < a->cap ? a->cap - a->heap_used : 0;
    if (n > left || sizeof *c > left - n)
      return NULL;
    if (want > left - sizeof *c)
      want = left - sizeof *c;
  }
  c = hw_malloc(sizeof *c + want);
  if (!c)
    return NULL;
  c->len = want;
  c->next = a->chunks;
  a->chunks = c;
  a->heap_used += sizeof *c + want;
  a->p = c->data + n;
  a->end = c->data + want;
  return c->data;
}

void *hw_arena_memdup(hw_arena *a, const void *p, size_t n)
{
  void *q = hw_arena_alloc(a, n);
  if (q && n)
    memcpy(q, p, n);
  return q;
}

void hw_arena_reset(hw_arena *a)
{
  hw_arena_chunk *c = a->chunks, *next;

  for (; c; c = next) {
    next = c->next;
    hw_free(c);
  }
  hw_arena_init(a, a->buf, a->buf_len, a->cap);
}

void hw_arena_close(hw_arena *a)
{
  hw_arena_reset(a);
}
