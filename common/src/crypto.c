/* The one file in common/ that calls libsodium. */
#include "homeward/crypto.h"

#include <sodium.h>

_Static_assert(sizeof(crypto_generichash_blake2b_state) <= sizeof(hw_hash),
               "hw_hash too small for libsodium's BLAKE2b state");
_Static_assert(HW_HASH_BYTES >= crypto_generichash_BYTES_MIN, "hash size");

int hw_crypto_init(void)
{
  return sodium_init() < 0 ? HW_EINTERNAL : HW_OK;
}

void hw_random_bytes(void *buf, size_t len)
{
  randombytes_buf(buf, len);
}

void hw_hash_init(hw_hash *h, const uint8_t *key, size_t key_len)
{
  /* Only fails for key or output lengths out of range: our own bug. */
  if (crypto_generichash_blake2b_init((crypto_generichash_blake2b_state *)(void *)h->opaque, key,
                                      key_len, HW_HASH_BYTES) != 0)
    sodium_misuse();
}

void hw_hash_update(hw_hash *h, const void *data, size_t len)
{
  crypto_generichash_blake2b_update((crypto_generichash_blake2b_state *)(void *)h->opaque, data,
                                    len);
}

void hw_hash_final(hw_hash *h, uint8_t out[static HW_HASH_BYTES])
{
  crypto_generichash_blake2b_final((crypto_generichash_blake2b_state *)(void *)h->opaque, out,
                                   HW_HASH_BYTES);
  sodium_memzero(h->opaque, sizeof h->opaque);
}

int hw_memcmp_ct(const void *a, const void *b, size_t len)
{
  return sodium_memcmp(a, b, len);
}

void hw_memzero(void *p, size_t len)
{
  sodium_memzero(p, len);
}
