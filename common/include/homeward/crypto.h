/* Homeward: the libsodium primitives common/ needs (randomness, BLAKE2b).
 * libsodium is called only from crypto.c inside common/. */
#ifndef HOMEWARD_CRYPTO_H
#define HOMEWARD_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "homeward/err.h"

#define HW_HASH_BYTES 32 /* BLAKE2b-256 */

/* Initialise libsodium. Safe to call many times and from several threads.
 * Returns 0 or HW_EINTERNAL (no usable randomness). */
HW_NODISCARD HW_EXPORT int hw_crypto_init(void);

/* Fill `buf` with `len` random bytes. hw_crypto_init() must have succeeded. */
HW_EXPORT void hw_random_bytes(void *buf, size_t len);

/* Incremental BLAKE2b-256, unkeyed or keyed (key_len 0 or 16..64). The state
 * is caller storage; it holds no heap memory. */
typedef struct hw_hash {
  _Alignas(64) uint8_t opaque[384];
} hw_hash;

HW_EXPORT void hw_hash_init(hw_hash *h, const uint8_t *key, size_t key_len);
HW_EXPORT void hw_hash_update(hw_hash *h, const void *data, size_t len);
HW_EXPORT void hw_hash_final(hw_hash *h, uint8_t out[static HW_HASH_BYTES]);

/* Ed25519 signatures (server audit heads, invitations). */
#define HW_SIGN_PUBLIC_BYTES 32
#define HW_SIGN_SECRET_BYTES 64
#define HW_SIGN_BYTES 64

/* A fresh key pair; `sk` should live in hw_secure_alloc memory. */
HW_EXPORT void hw_sign_keypair(uint8_t pk[static HW_SIGN_PUBLIC_BYTES],
                               uint8_t sk[static HW_SIGN_SECRET_BYTES]);
HW_EXPORT void hw_sign(uint8_t sig[static HW_SIGN_BYTES], const uint8_t *msg, size_t len,
                       const uint8_t sk[static HW_SIGN_SECRET_BYTES]);
/* Returns 0 or HW_EAUTH. */
HW_NODISCARD HW_EXPORT int hw_sign_verify(const uint8_t sig[static HW_SIGN_BYTES],
                                          const uint8_t *msg, size_t len,
                                          const uint8_t pk[static HW_SIGN_PUBLIC_BYTES]);

/* X25519 key pairs for sealed boxes (the organisation's recovery key). */
#define HW_BOX_PUBLIC_BYTES 32
#define HW_BOX_SECRET_BYTES 32
HW_EXPORT void hw_box_keypair(uint8_t pk[static HW_BOX_PUBLIC_BYTES],
                              uint8_t sk[static HW_BOX_SECRET_BYTES]);
/* The public half of a secret key (the recovery key file holds only that). */
HW_NODISCARD HW_EXPORT int hw_box_public(uint8_t pk[static HW_BOX_PUBLIC_BYTES],
                                         const uint8_t sk[static HW_BOX_SECRET_BYTES]);

/* URL-safe base64 without padding. encode: `out` holds
 * hw_base64_len(len) + 1 bytes (NUL-terminated). decode: returns 0 and
 * *out_len, or HW_EPROTO (bad character or length, trailing data). */
HW_EXPORT size_t hw_base64_len(size_t bin_len);
HW_EXPORT void hw_base64_encode(char *out, const uint8_t *bin, size_t len);
HW_NODISCARD HW_EXPORT int hw_base64_decode(uint8_t *out, size_t cap, size_t *out_len,
                                            const char *text, size_t text_len);

/* Guarded memory for secrets (libsodium's sodium_malloc: guard pages, wiped
 * on free). NULL when out of memory. */
HW_EXPORT void *hw_secure_alloc(size_t len);
HW_EXPORT void hw_secure_free(void *p); /* NULL is fine */

/* Constant-time comparison: 0 when equal. */
HW_EXPORT int hw_memcmp_ct(const void *a, const void *b, size_t len);

/* Wipe memory the compiler may not optimise away. */
HW_EXPORT void hw_memzero(void *p, size_t len);

#endif
