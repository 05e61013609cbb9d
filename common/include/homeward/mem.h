/* Homeward: every allocation goes through these functions, so one switch
 * controls fault injection and memory caps everywhere (style.md §4).
 *
 * hw_mem_install_hooks() routes SQLite's and libuv's allocations through the
 * same allocator. Debian's libcbor has no allocator hook: only its
 * non-allocating calls are used. */
#ifndef HOMEWARD_MEM_H
#define HOMEWARD_MEM_H

#include <stddef.h>

#include "homeward/err.h"

typedef struct hw_allocator {
  void *(*malloc)(size_t n, void *ud);
  void *(*realloc)(void *p, size_t n, void *ud);
  void (*free)(void *p, void *ud);
  void *ud;
} hw_allocator;

/* Replace the allocator (NULL restores malloc/realloc/free). Call before any
 * thread starts and while nothing allocated by the old one is still alive,
 * except when the new allocator forwards to the old one (tests do that). */
HW_EXPORT void hw_mem_set_allocator(const hw_allocator *a);
HW_EXPORT const hw_allocator *hw_mem_get_allocator(void);

/* malloc-like; a zero size is served as one byte so NULL always means failure. */
HW_EXPORT void *hw_malloc(size_t n);
HW_EXPORT void *hw_calloc(size_t n, size_t size); /* NULL on overflow too */
HW_EXPORT void *hw_realloc(void *p, size_t n);
HW_EXPORT void hw_free(void *p);
HW_EXPORT void *hw_memdup(const void *p, size_t n);

/* Room for `need` elements of `size` bytes in the growable array `*arr`
 * (`arr` is the address of any object pointer, e.g. `&list->items`) whose
 * capacity is `*cap` elements: the capacity doubles, from `first`, until it
 * holds them. Returns 0; HW_ENOMEM (allocation failed) or HW_ELIMIT (the
 * size overflows), with `*arr` and `*cap` unchanged. */
HW_NODISCARD HW_EXPORT int hw_grow(void *arr, size_t *cap, size_t need, size_t size,
                                   size_t first);

/* Route SQLite (SQLITE_CONFIG_MALLOC) and libuv (uv_replace_allocator) through
 * hw_malloc. Call once at program start, before either library is used.
 * Returns 0, or HW_EBUSY if a library was already initialised. */
HW_NODISCARD HW_EXPORT int hw_mem_install_hooks(void);

#endif
