/* Fuzz target: the key envelope decoder and the key file parser (both read
 * files an attacker with disk access can write). A decoded envelope must
 * re-encode to the same bytes; nothing may crash or read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "homeward/crypto.h"
#include "store-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  hw__env e;
  uint8_t out[HW__ENV_BYTES], key[HW__KEY];
  int why;

  if (hw_crypto_init() != 0)
    abort();
  if (hw__env_decode(&e, data, size, &why) == 0) {
    if (size != HW__ENV_BYTES || why != 0)
      abort();
    hw__env_encode(&e, out);
    if (memcmp(out, data, size) != 0)
      abort();
  } else if (why == 0) {
    abort();
  }
  if (hw__keyfile_parse(data, size, key) == 0) {
    if (size != 32 && size != 64 && size != 65)
      abort();
  }
  return 0;
}
