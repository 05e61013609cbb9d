/* The caseload checksum both sides keep (architecture §4, "Done"): the XOR
 * of BLAKE2b-256("homeward-caseload-v1" 0x00 ‖ record id ‖ state bytes) over
 * every record held. Order does not matter and one record's change updates
 * it in O(1) (XOR out the old item, XOR in the new). It detects two replicas
 * holding different sets; it is not a defence against a forger. Pure. */
#ifndef HOMEWARD_CHECKSUM_H
#define HOMEWARD_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

#include "homeward/crypto.h"
#include "homeward/ids.h"

HW_EXPORT void hw_checksum_item(uint8_t out[static HW_HASH_BYTES], const hw_id *id,
                                const uint8_t *state, size_t len);

/* sum ^= item */
HW_EXPORT void hw_checksum_xor(uint8_t sum[static HW_HASH_BYTES],
                               const uint8_t item[static HW_HASH_BYTES]);

#endif
