/* Homeward version vectors and dots (architecture §2).
 *
 * A dot (replica, counter) names one write. A version vector holds, for each
 * replica that wrote the record, the highest counter among its writes to it;
 * entries are sorted by replica id (the canonical order) and never zero. */
#ifndef HOMEWARD_VV_H
#define HOMEWARD_VV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/ids.h"

typedef struct hw_dot {
  hw_id replica;
  uint64_t counter; /* >= 1 */
} hw_dot;

typedef struct hw_vv {
  size_t n;
  hw_dot *e; /* n entries, strictly increasing replica ids; owned by the container */
} hw_vv;

typedef enum hw_order {
  HW_ORDER_EQUAL,
  HW_ORDER_BEFORE,     /* a < b: b has seen everything a has, and more */
  HW_ORDER_AFTER,      /* a > b */
  HW_ORDER_CONCURRENT, /* each has seen something the other has not */
} hw_order;

/* Order dots by replica id, then counter. */
HW_EXPORT int hw_dot_cmp(const hw_dot *a, const hw_dot *b);

/* The counter of `replica` in `vv` (0 when absent). */
HW_EXPORT uint64_t hw_vv_get(const hw_vv *vv, const hw_id *replica);

/* Whether `vv` has seen the write `d` (vv[d.replica] >= d.counter). */
HW_EXPORT bool hw_vv_seen(const hw_vv *vv, const hw_dot *d);

HW_EXPORT hw_order hw_vv_compare(const hw_vv *a, const hw_vv *b);

/* Whether a >= b entry-wise (a has seen everything b has). */
HW_EXPORT bool hw_vv_covers(const hw_vv *a, const hw_vv *b);

/* Entry-wise maximum into `out`, which must hold a->n + b->n entries and may
 * not alias either input. Returns the number of entries written. */
HW_EXPORT size_t hw_vv_join(const hw_vv *a, const hw_vv *b, hw_dot *out);

/* Canonical form: sorted, unique, no zero counter, at most HW_VV_MAX entries.
 * Returns 0, HW_EPROTO or HW_ELIMIT. */
HW_NODISCARD HW_EXPORT int hw_vv_check(const hw_vv *vv);

#endif
