/* Homeward arena: a bump allocator for decoded messages and record states.
 * Everything allocated from it is freed at once by hw_arena_reset/close.
 * A cap bounds the total it may take from hw_malloc (the memory budget of one
 * message or state). Not thread-safe. */
#ifndef HOMEWARD_ARENA_H
#define HOMEWARD_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "homeward/err.h"

typedef struct hw_arena_chunk hw_arena_chunk;

typedef struct hw_arena {
  hw_arena_chunk *chunks; /* heap chunks, newest first */
  uint8_t *p;             /* next free byte of the current chunk */
  uint8_t *end;           /* one past the current chunk */
  uint8_t *buf;           /* caller's initial buffer, or NULL */
  size_t buf_len;
  size_t heap_used; /* bytes taken from hw_malloc, headers included */
  size_t cap;       /* most heap_used may reach; SIZE_MAX for none */
} hw_arena;

/* `buf` (borrowed, may be NULL) serves the first allocations; it must outlive
 * the arena. */
HW_EXPORT void hw_arena_init(hw_arena *a, void *buf, size_t buf_len, size_t cap);

/* 8-byte aligned; NULL when out of memory or over the cap. */
HW_EXPORT void *hw_arena_alloc(hw_arena *a, size_t n);
HW_EXPORT void *hw_arena_memdup(hw_arena *a, const void *p, size_t n);

/* Free the heap chunks and start again from the caller's buffer. */
HW_EXPORT void hw_arena_reset(hw_arena *a);
HW_EXPORT void hw_arena_close(hw_arena *a);

#endif
