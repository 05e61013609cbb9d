#include "homeward/lineage.h"

#include <string.h>

static const char domain[] = "homeward-lineage-v1";

void hw_lineage_init(hw_lineage *l)
{
  memset(l, 0, sizeof *l);
}

int hw_lineage_add(hw_lineage *l, uint64_t counter, const hw_id *record,
                   const uint8_t digest[static HW_HASH_BYTES])
{
  hw_hash h;
  uint8_t c[8];

  if (counter <= l->counter)
    return HW_EINVAL;
  for (int i = 7; i >= 0; i--)
    c[7 - i] = (uint8_t)(counter >> (8 * i));
  hw_hash_init(&h, NULL, 0);
  hw_hash_update(&h, domain, sizeof domain);
  hw_hash_update(&h, l->digest, HW_HASH_BYTES);
  hw_hash_update(&h, c, sizeof c);
  hw_hash_update(&h, record->b, HW_ID_BYTES);
  hw_hash_update(&h, digest, HW_HASH_BYTES);
  hw_hash_final(&h, l->digest);
  l->counter = counter;
  return HW_OK;
}
