/* Lineage of a replica's own writes (architecture §3, defence 2).
 *
 * Both the device and the server fold the writes made under one replica id,
 * in counter order, into a chain:
 *   L_0 = 32 zero bytes
 *   L_c = BLAKE2b-256("homeward-lineage-v1" 0x00 ‖ L_prev ‖ u64 BE counter
 *                     ‖ record id ‖ write digest)
 * A device that says it wrote, under its replica id, exactly what the server
 * accepted up to the server's highest accepted counter shows the same L at
 * that counter. A restored or copied store that reused dots cannot. Pure. */
#ifndef HOMEWARD_LINEAGE_H
#define HOMEWARD_LINEAGE_H

#include <stdint.h>

#include "homeward/crypto.h"
#include "homeward/ids.h"

typedef struct hw_lineage {
  uint64_t counter; /* the last counter folded in (0: none) */
  uint8_t digest[HW_HASH_BYTES];
} hw_lineage;

HW_EXPORT void hw_lineage_init(hw_lineage *l);

/* Fold in the write (counter, record, digest). Counters must increase
 * (gaps allowed: a counter is shared by all records, so the writes of one
 * replica id are numbered without gaps, but a journal can be read from a
 * checkpoint). Returns 0 or HW_EINVAL (counter not above the last). */
HW_NODISCARD HW_EXPORT int hw_lineage_add(hw_lineage *l, uint64_t counter, const hw_id *record,
                                          const uint8_t digest[static HW_HASH_BYTES]);

#endif
