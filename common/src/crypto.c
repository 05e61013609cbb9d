/* The one file in common/ that calls libsodium. */
#include "homeward/crypto.h"

#include <sodium.h>

_Static_assert(sizeof(crypto_generichash_blake2b_state) <= sizeof(hw_hash),
               "hw_hash too small for libsodium's BLAKE2b state");
_Static_assert(HW_HASH_BYTES >= crypto_generichash_BYTES_MIN, "hash size");
_Static_assert(HW_SIGN_PUBLIC_BYTES == crypto_sign_ed25519_PUBLICKEYBYTES, "ed25519 pk");
_Static_assert(HW_SIGN_SECRET_BYTES == crypto_sign_ed25519_SECRETKEYBYTES, "ed25519 sk");
_Static_assert(HW_SIGN_BYTES == crypto_sign_ed25519_BYTES, "ed25519 sig");
_Static_assert(HW_BOX_PUBLIC_BYTES == crypto_box_PUBLICKEYBYTES, "box pk");
_Static_assert(HW_BOX_SECRET_BYTES == crypto_box_SECRETKEYBYTES, "box sk");

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

void hw_sign_keypair(uint8_t pk[static HW_SIGN_PUBLIC_BYTES],
                     uint8_t sk[static HW_SIGN_SECRET_BYTES])
{
  crypto_sign_ed25519_keypair(pk, sk);
}

void hw_sign(uint8_t sig[static HW_SIGN_BYTES], const uint8_t *msg, size_t len,
             const uint8_t sk[static HW_SIGN_SECRET_BYTES])
{
  crypto_sign_ed25519_detached(sig, NULL, msg, len, sk);
}

int hw_sign_verify(const uint8_t sig[static HW_SIGN_BYTES], const uint8_t *msg, size_t len,
                   const uint8_t pk[static HW_SIGN_PUBLIC_BYTES])
{
  return crypto_sign_ed25519_verify_detached(sig, msg, len, pk) == 0 ? HW_OK : HW_EAUTH;
}

void *hw_secure_alloc(size_t len)
{
  return sodium_malloc(len);
}

void hw_secure_free(void *p)
{
  sodium_free(p);
}

void hw_box_keypair(uint8_t pk[static HW_BOX_PUBLIC_BYTES], uint8_t sk[static HW_BOX_SECRET_BYTES])
{
  crypto_box_keypair(pk, sk);
}

int hw_box_public(uint8_t pk[static HW_BOX_PUBLIC_BYTES],
                  const uint8_t sk[static HW_BOX_SECRET_BYTES])
{
  return crypto_scalarmult_curve25519_base(pk, sk) == 0 ? HW_OK : HW_EINVAL;
}

size_t hw_base64_len(size_t bin_len)
{
  return sodium_base64_ENCODED_LEN(bin_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1;
}

void hw_base64_encode(char *out, const uint8_t *bin, size_t len)
{
  sodium_bin2base64(out, hw_base64_len(len) + 1, bin, len,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int hw_base64_decode(uint8_t *out, size_t cap, size_t *out_len, const char *text, size_t text_len)
{
  const char *end = NULL;

  *out_len = 0;
  if (sodium_base642bin(out, cap, text, text_len, NULL, out_len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != text + text_len) {
    *out_len = 0;
    return HW_EPROTO;
  }
  return HW_OK;
}
