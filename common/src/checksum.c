#include "homeward/checksum.h"

static const char domain[] = "homeward-caseload-v1";

void hw_checksum_item(uint8_t out[static HW_HASH_BYTES], const hw_id *id, const uint8_t *state,
                      size_t len)
{
  hw_hash h;

  hw_hash_init(&h, NULL, 0);
  hw_hash_update(&h, domain, sizeof domain);
  hw_hash_update(&h, id->b, HW_ID_BYTES);
  hw_hash_update(&h, state, len);
  hw_hash_final(&h, out);
}

void hw_checksum_xor(uint8_t sum[static HW_HASH_BYTES], const uint8_t item[static HW_HASH_BYTES])
{
  for (int i = 0; i < HW_HASH_BYTES; i++)
    sum[i] ^= item[i];
}
