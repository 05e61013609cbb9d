/* Homeward field values: each is the canonical CBOR of one item.
 *
 *   null             f6
 *   bool             f4 / f5
 *   integer          major type 0 or 1 (int64 range)
 *   text, enum       text string (an enum's allowed values come from its form)
 *   date             tag 1004 (RFC 8943) on "YYYY-MM-DD"
 *   set of enums     array of text strings, sorted (shorter first, then
 *                    bytewise) and unique
 *   list of texts    array of text strings in the writer's order
 *   void             map {"seen": [[replica bstr(16), counter], ...],
 *                         "reason": text}, keys in canonical order
 *
 * The encoders write into a hw_cbor_wr (its sticky error reports failure);
 * the decoders borrow from the value bytes and return 0, HW_EPROTO (wrong
 * shape) or HW_ELIMIT. docs/data-model.md is the normative description. */
#ifndef HOMEWARD_VALUE_H
#define HOMEWARD_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/bytes.h"
#include "homeward/cbor.h"
#include "homeward/vv.h"

#define HW_TAG_DATE 1004

typedef struct hw_date {
  int year;  /* 1..9999 */
  int month; /* 1..12 */
  int day;   /* 1..days in that month */
} hw_date;

HW_EXPORT bool hw_date_valid(const hw_date *d);

/* Put a date: HW_EINVAL into the writer's error when it is not a real date. */
HW_EXPORT void hw_value_put_date(hw_cbor_wr *w, const hw_date *d);
HW_NODISCARD HW_EXPORT int hw_value_get_date(const uint8_t *v, size_t len, hw_date *out);

/* Parse "YYYY-MM-DD" (exactly). Returns 0 or HW_EINVAL. */
HW_NODISCARD HW_EXPORT int hw_date_parse(const char *s, size_t len, hw_date *out);

/* Put a set of enum values: sorts and removes repeats of the borrowed strings
 * (n at most HW_FIELDS_MAX). */
HW_EXPORT void hw_value_put_enum_set(hw_cbor_wr *w, const hw_bytes *items, size_t n);

/* Encode the void value. `seen` must be canonical. */
HW_EXPORT void hw_value_put_void(hw_cbor_wr *w, const char *reason, size_t reason_len,
                                 const hw_vv *seen);

/* Decode a void value. `seen_buf` (HW_VV_MAX entries) receives the seen vv;
 * `reason` borrows from v. Returns 0, HW_EPROTO or HW_ELIMIT. */
HW_NODISCARD HW_EXPORT int hw_value_get_void(const uint8_t *v, size_t len, hw_bytes *reason,
                                             hw_dot *seen_buf, hw_vv *seen);

HW_EXPORT bool hw_value_is_null(const uint8_t *v, size_t len);

/* Check that v is exactly one canonical CBOR item within HW_VALUE_MAX bytes
 * and HW_VALUE_DEPTH_MAX nesting. Returns 0, HW_EPROTO or HW_ELIMIT. */
HW_NODISCARD HW_EXPORT int hw_value_check(const uint8_t *v, size_t len);

/* The same checks on the next item of `rd`; *out receives its exact bytes
 * (borrowed from the reader's input). On error the reader does not move. */
HW_NODISCARD HW_EXPORT int hw_value_check_rd(hw_cbor_rd *rd, hw_bytes *out);

#endif
