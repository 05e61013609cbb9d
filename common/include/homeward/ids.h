/* Homeward identifiers: replica ids, record ids and case ids are 16 bytes
 * made where the thing is created (architecture §2): replica ids random,
 * record and case ids time-ordered (hw_id_ordered). */
#ifndef HOMEWARD_IDS_H
#define HOMEWARD_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/err.h"

#define HW_ID_BYTES 16
#define HW_ID_HEX_LEN (2 * HW_ID_BYTES) /* without the terminating NUL */

typedef struct hw_id {
  uint8_t b[HW_ID_BYTES];
} hw_id;

/* A fresh random id (hw_crypto_init() must have succeeded). */
HW_EXPORT void hw_id_random(hw_id *out);
/* A fresh id that sorts by its creation time: `ms` (milliseconds since the
 * epoch) in its first 6 bytes, big-endian, then 10 random bytes (80 bits:
 * ids made in the same millisecond still differ). Records and cases take
 * these so that every index keyed by them, on the device and the server,
 * grows at its end instead of at a random page. */
HW_EXPORT void hw_id_ordered(hw_id *out, int64_t ms);

/* Total order on ids: bytewise, like memcmp. */
HW_EXPORT int hw_id_cmp(const hw_id *a, const hw_id *b);
HW_EXPORT bool hw_id_is_zero(const hw_id *a);

/* Lower-case hex into out[HW_ID_HEX_LEN + 1], NUL-terminated. */
HW_EXPORT void hw_id_to_hex(const hw_id *id, char out[static HW_ID_HEX_LEN + 1]);

/* Parse exactly HW_ID_HEX_LEN hex digits. Returns 0 or HW_EINVAL (*out zeroed). */
HW_NODISCARD HW_EXPORT int hw_id_from_hex(hw_id *out, const char *hex, size_t len);

/* A growing list of ids; start it zeroed, hw_free(v) when done. */
typedef struct hw_id_list {
  hw_id *v;
  size_t n, cap;
} hw_id_list;
/* Append `id` (unique: only when not there yet). 0 or HW_ENOMEM. */
HW_NODISCARD HW_EXPORT int hw_id_list_add(hw_id_list *l, const hw_id *id);
HW_NODISCARD HW_EXPORT int hw_id_list_add_unique(hw_id_list *l, const hw_id *id);

#endif
