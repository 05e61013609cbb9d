/* The one file in proto/ that calls libsodium (sodium-int.h). */
#include "sodium-int.h"

#include <sodium.h>
#include <string.h>

_Static_assert(sizeof(crypto_generichash_blake2b_state) <= sizeof(hw__b2b),
               "hw__b2b too small for libsodium's BLAKE2b state");
_Static_assert(crypto_scalarmult_BYTES == HW__DH_BYTES, "X25519 size");
_Static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == HW__AEAD_KEY_BYTES, "key size");
_Static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == HW__AEAD_TAG_BYTES, "tag size");
_Static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12, "nonce size");

void *hw__secure_alloc(size_t n)
{
  void *p = sodium_malloc(n);
  if (p)
    memset(p, 0, n); /* sodium_malloc fills with 0xdb; callers expect zeroed state */
  return p;
}

void hw__secure_free(void *p)
{
  sodium_free(p); /* wipes before unmapping; NULL is a no-op */
}

void hw__x25519_keygen(uint8_t sec[static HW__DH_BYTES], uint8_t pub[static HW__DH_BYTES])
{
  randombytes_buf(sec, HW__DH_BYTES);
  crypto_scalarmult_base(pub, sec);
}

void hw__x25519_public(uint8_t pub[static HW__DH_BYTES], const uint8_t sec[static HW__DH_BYTES])
{
  crypto_scalarmult_base(pub, sec);
}

int hw__x25519(uint8_t out[static HW__DH_BYTES], const uint8_t sec[static HW__DH_BYTES],
               const uint8_t pub[static HW__DH_BYTES])
{
  /* security.md B: -1 means a low-order point (all-zero result): abort. */
  if (crypto_scalarmult(out, sec, pub) != 0) {
    sodium_memzero(out, HW__DH_BYTES);
    return HW_EAUTH;
  }
  return HW_OK;
}

void hw__b2b_init(hw__b2b *st)
{
  if (crypto_generichash_blake2b_init((crypto_generichash_blake2b_state *)(void *)st->opaque, NULL,
                                      0, HW__B2B_BYTES) != 0)
    sodium_misuse();
}

void hw__b2b_update(hw__b2b *st, const void *p, size_t n)
{
  crypto_generichash_blake2b_update((crypto_generichash_blake2b_state *)(void *)st->opaque, p, n);
}

void hw__b2b_final(hw__b2b *st, uint8_t out[static HW__B2B_BYTES])
{
  crypto_generichash_blake2b_final((crypto_generichash_blake2b_state *)(void *)st->opaque, out,
                                   HW__B2B_BYTES);
  sodium_memzero(st->opaque, sizeof st->opaque);
}

void hw__aead_nonce(uint8_t out[static 12], uint64_t n)
{
  memset(out, 0, 4);
  for (int i = 0; i < 8; i++)
    out[4 + i] = (uint8_t)(n >> (8 * i));
}

void hw__aead_encrypt(uint8_t *c, const uint8_t *m, size_t m_len, const uint8_t *ad, size_t ad_len,
                      uint64_t n, const uint8_t key[static HW__AEAD_KEY_BYTES])
{
  uint8_t nonce[12];
  unsigned long long c_len;

  hw__aead_nonce(nonce, n);
  crypto_aead_chacha20poly1305_ietf_encrypt(c, &c_len, m, m_len, ad, ad_len, NULL, nonce, key);
}

int hw__aead_decrypt(uint8_t *m, const uint8_t *c, size_t c_len, const uint8_t *ad, size_t ad_len,
                     uint64_t n, const uint8_t key[static HW__AEAD_KEY_BYTES])
{
  uint8_t nonce[12];
  unsigned long long m_len;

  hw__aead_nonce(nonce, n);
  if (crypto_aead_chacha20poly1305_ietf_decrypt(m, &m_len, NULL, c, c_len, ad, ad_len, nonce,
                                                key) != 0)
    return HW_EAUTH;
  return HW_OK;
}
