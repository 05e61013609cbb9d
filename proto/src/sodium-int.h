/* The libsodium calls proto/ makes, all in sodium.c (style.md §1): X25519,
 * ChaCha20-Poly1305 IETF with Noise's nonce, BLAKE2b-512 and secure memory.
 * Nothing else in proto/ includes sodium.h. */
#ifndef HOMEWARD_PROTO_SODIUM_INT_H
#define HOMEWARD_PROTO_SODIUM_INT_H

#include <stddef.h>
#include <stdint.h>

#include "homeward/err.h"

#define HW__DH_BYTES 32u
#define HW__B2B_BYTES 64u
#define HW__B2B_BLOCK 128u
#define HW__AEAD_KEY_BYTES 32u
#define HW__AEAD_TAG_BYTES 16u

/* sodium_malloc'd memory (guard pages, mlock'd where allowed); wiped and
 * released by hw__secure_free (NULL does nothing). */
void *hw__secure_alloc(size_t n);
void hw__secure_free(void *p);

void hw__x25519_keygen(uint8_t sec[static HW__DH_BYTES], uint8_t pub[static HW__DH_BYTES]);
void hw__x25519_public(uint8_t pub[static HW__DH_BYTES], const uint8_t sec[static HW__DH_BYTES]);
/* DH(sec, pub). HW_EAUTH when libsodium refuses a low-order point (the shared
 * secret would be all zeros); `out` is then wiped. */
HW_NODISCARD int hw__x25519(uint8_t out[static HW__DH_BYTES],
                            const uint8_t sec[static HW__DH_BYTES],
                            const uint8_t pub[static HW__DH_BYTES]);

/* Incremental unkeyed BLAKE2b-512 in caller storage. */
typedef struct hw__b2b {
  _Alignas(64) uint8_t opaque[384];
} hw__b2b;
void hw__b2b_init(hw__b2b *st);
void hw__b2b_update(hw__b2b *st, const void *p, size_t n);
void hw__b2b_final(hw__b2b *st, uint8_t out[static HW__B2B_BYTES]);

/* ChaCha20-Poly1305 IETF, nonce = 4 zero bytes || n as 64-bit little-endian
 * (Noise spec §12.3). encrypt: c[m_len + 16], may alias m. decrypt: HW_EAUTH
 * when the tag is rejected; c_len >= 16 is the caller's check. */
void hw__aead_encrypt(uint8_t *c, const uint8_t *m, size_t m_len, const uint8_t *ad, size_t ad_len,
                      uint64_t n, const uint8_t key[static HW__AEAD_KEY_BYTES]);
HW_NODISCARD int hw__aead_decrypt(uint8_t *m, const uint8_t *c, size_t c_len, const uint8_t *ad,
                                  size_t ad_len, uint64_t n,
                                  const uint8_t key[static HW__AEAD_KEY_BYTES]);
/* The 12-byte nonce for counter n (exposed for the nonce-encoding tests). */
void hw__aead_nonce(uint8_t out[static 12], uint64_t n);

#endif
