/* Homeward merge (architecture §3): the join of two states of one record.
 *
 *   vv     = entry-wise max of both vvs;
 *   fields = for each field, every pair in both states, plus every pair of
 *            one side whose dot the other side's vv has not seen.
 *
 * Commutative, associative and idempotent; a value is dropped only by a write
 * whose author had seen it. Pure: no I/O, no clock, no logging. */
#ifndef HOMEWARD_MERGE_H
#define HOMEWARD_MERGE_H

#include "homeward/record.h"

/* The audit vocabulary of architecture §6, as far as the merge can tell. */
typedef enum hw_merge_class {
  HW_MERGE_DUPLICATE,    /* identical, or stored already covers incoming */
  HW_MERGE_FAST_FORWARD, /* incoming covers stored */
  HW_MERGE_MERGED,       /* concurrent, merged without conflicts */
  HW_MERGE_CONFLICT,     /* fields or the void left in conflict */
  HW_MERGE_RESOLVED,     /* a conflict of stored was cleared by incoming */
} hw_merge_class;

typedef struct hw_merge_info {
  hw_merge_class cls;
  hw_order order;             /* stored's vv against incoming's */
  size_t n_conflicts;         /* fields of the result holding more than one pair */
  size_t n_new_conflicts;     /* of those, ones stored did not hold the same way */
  size_t n_resolved;          /* conflicted fields of stored no longer conflicted */
  hw_void_status void_status; /* of the result */
} hw_merge_info;

/* "duplicate", "fast-forward", ... as the audit log names them. */
HW_EXPORT const char *hw_merge_class_name(hw_merge_class cls);

/* Merge `incoming` into `stored` (either order gives the same state; the
 * order matters only for the classification). `stored` may be NULL for a
 * record not held yet (fast-forward). Both are borrowed; *out is a new state
 * the caller frees. `info` may be NULL.
 *
 * Returns 0; HW_EDIVERGE when the two cannot be merged (another id, kind or
 * case; one dot carrying two different writes or two values of one field:
 * never merged, for the caller to quarantine); HW_ELIMIT when the result
 * would break a record limit; HW_ENOMEM. On error *out is NULL. */
HW_NODISCARD HW_EXPORT int hw_merge(hw_record **out, const hw_record *stored,
                                    const hw_record *incoming, hw_merge_info *info);

#endif
