/* Internal to common/: building record states. */
#ifndef HOMEWARD_RECORD_INT_H
#define HOMEWARD_RECORD_INT_H

#include "homeward/record.h"

/* A new state whose arena starts with `bound` bytes in the same allocation.
 * Only id/kind/case/schema are set. NULL when out of memory. */
hw_record *hw__record_alloc(size_t bound);

/* Record how many bytes a copy of r needs (call when r is complete). */
void hw__record_seal(hw_record *r);

typedef enum hw__combine_mode {
  HW__COMBINE_MERGE,    /* architecture §3's join */
  HW__COMBINE_OVERRIDE, /* b's fields replace a's: a local write on top of a */
} hw__combine_mode;

/* Combine two states of one record. In MERGE mode returns HW_EDIVERGE for a
 * contradiction (one dot with two different writes, or with two values in one
 * field). Also HW_ELIMIT, HW_ENOMEM. *out is NULL on error. */
int hw__record_combine(hw_record **out, const hw_record *a, const hw_record *b,
                       hw__combine_mode mode);

/* hw_record_build for a decoder that has checked every value itself (with
 * hw_value_check_rd): every other invariant is still checked. */
int hw__record_build_checked_values(hw_record **out, const hw_record *parts);

bool hw__name_ok(const uint8_t *p, size_t len, size_t max);

#endif
