/* Homeward Noise: Noise_XX_25519_ChaChaPoly_BLAKE2b (Noise spec rev 34) on
 * libsodium primitives, with the fixed prologue HW_PROTO_PROLOGUE
 * (docs/protocol.md §3, security.md B).
 *
 *   -> e
 *   <- e, ee, s, es      the device (initiator) checks s against its pin
 *   -> s, se             the device's static key identifies it
 *
 * Pure: no I/O, no clock. Keys, chaining key and handshake hash live in
 * sodium_malloc memory and are wiped when freed. Any failure is final: the
 * object refuses further use with HW_ECLOSED. Most callers want the
 * connection state machine in homeward/proto/chan.h instead. */
#ifndef HOMEWARD_PROTO_NOISE_H
#define HOMEWARD_PROTO_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/err.h"

#define HW_NOISE_KEY_BYTES 32u        /* X25519 keys, ChaChaPoly keys */
#define HW_NOISE_HASH_BYTES 64u       /* BLAKE2b-512: handshake hash, chaining key */
#define HW_NOISE_TAG_BYTES 16u        /* Poly1305 tag */
#define HW_NOISE_NONCE_MAX UINT64_MAX /* reserved: never used to encrypt (spec §5.1) */

/* ---- static key pairs ---------------------------------------------------- */

typedef struct hw_noise_key hw_noise_key; /* opaque; the secret is in sodium_malloc memory */

/* A fresh key pair (hw_crypto_init() must have succeeded). Returns 0 or HW_ENOMEM. */
HW_NODISCARD HW_EXPORT int hw_noise_key_generate(hw_noise_key **out);
/* A key pair from a stored secret (borrowed, copied). Returns 0 or HW_ENOMEM. */
HW_NODISCARD HW_EXPORT int hw_noise_key_from_secret(hw_noise_key **out,
                                                    const uint8_t sec[static HW_NOISE_KEY_BYTES]);
/* Public half, and the secret half for the caller's key store (wipe it after). */
HW_EXPORT void hw_noise_key_public(const hw_noise_key *k, uint8_t pub[static HW_NOISE_KEY_BYTES]);
HW_EXPORT void hw_noise_key_secret(const hw_noise_key *k, uint8_t sec[static HW_NOISE_KEY_BYTES]);
HW_EXPORT void hw_noise_key_free(hw_noise_key *k); /* NULL does nothing */

/* ---- cipher state (transport) -------------------------------------------- */

typedef struct hw_noise_cs hw_noise_cs; /* opaque */

/* Encrypt `pt` (may alias `ct`) into ct[pt_len + HW_NOISE_TAG_BYTES] with the
 * next nonce and empty associated data. Returns 0, or HW_ELIMIT when the
 * nonce would be 2^64-1 (the cipher state is then unusable: no rekey). */
HW_NODISCARD HW_EXPORT int hw_noise_cs_encrypt(hw_noise_cs *cs, const uint8_t *pt, size_t pt_len,
                                               uint8_t *ct);
/* Decrypt ct[ct_len] into pt[ct_len - HW_NOISE_TAG_BYTES] (may alias).
 * Returns 0, HW_EPROTO (shorter than a tag), HW_EAUTH (tag rejected) or
 * HW_ELIMIT (nonce exhausted). On failure pt may be zeroed and the
 * nonce is not advanced; the caller must treat the failure as final. */
HW_NODISCARD HW_EXPORT int hw_noise_cs_decrypt(hw_noise_cs *cs, const uint8_t *ct, size_t ct_len,
                                               uint8_t *pt);
HW_EXPORT uint64_t hw_noise_cs_nonce(const hw_noise_cs *cs);
HW_EXPORT void hw_noise_cs_free(hw_noise_cs *cs); /* NULL does nothing */

/* TEST ONLY: a cipher state with a given key and nonce (nonce tests at large
 * counters). Returns 0 or HW_ENOMEM. */
HW_NODISCARD HW_EXPORT int hw_noise_cs_new_for_test(hw_noise_cs **out,
                                                    const uint8_t key[static HW_NOISE_KEY_BYTES],
                                                    uint64_t nonce);

/* ---- handshake ----------------------------------------------------------- */

typedef enum hw_noise_role {
  HW_NOISE_INITIATOR, /* the device */
  HW_NOISE_RESPONDER, /* the server */
} hw_noise_role;

typedef struct hw_noise_hs hw_noise_hs; /* opaque */

/* Start an XX handshake with the fixed prologue. `s` is borrowed and must
 * outlive the handshake. An initiator must pass `pin` (the server's public
 * key, copied): message 2 is refused with HW_EAUTH unless its static key
 * equals the pin (constant-time compare), before message 3 can be written. A
 * responder passes pin = NULL. Returns 0, HW_EINVAL or HW_ENOMEM. */
HW_NODISCARD HW_EXPORT int hw_noise_hs_new(hw_noise_hs **out, hw_noise_role role,
                                           const hw_noise_key *s, const uint8_t *pin);

/* TEST ONLY (official vectors, negative tests): like hw_noise_hs_new but with
 * a chosen prologue and a chosen ephemeral secret (both copied). Never use
 * outside tests: a fixed ephemeral key destroys forward secrecy. */
HW_NODISCARD HW_EXPORT int
hw_noise_hs_new_for_test_vectors(hw_noise_hs **out, hw_noise_role role, const hw_noise_key *s,
                                 const uint8_t *pin, const uint8_t *prologue, size_t prologue_len,
                                 const uint8_t e_sec[static HW_NOISE_KEY_BYTES]);

/* True when it is this side's turn to write. */
HW_EXPORT bool hw_noise_hs_is_my_turn(const hw_noise_hs *hs);
/* True after the third message was written or read. */
HW_EXPORT bool hw_noise_hs_done(const hw_noise_hs *hs);

/* Bytes the next message takes with a payload of `payload_len` bytes. */
HW_EXPORT size_t hw_noise_hs_msg_len(const hw_noise_hs *hs, size_t payload_len);

/* Write the next handshake message carrying `payload` (borrowed) into out
 * (capacity out_cap). Returns 0, HW_EINVAL (not our turn, or out too small),
 * HW_ELIMIT (message over HW_NOISE_MSG_MAX), HW_EAUTH (low-order point) or
 * HW_ECLOSED (failed or finished before). */
HW_NODISCARD HW_EXPORT int hw_noise_hs_write(hw_noise_hs *hs, const uint8_t *payload,
                                             size_t payload_len, uint8_t *out, size_t out_cap,
                                             size_t *out_len);

/* Read the peer's next handshake message; its payload (at most
 * msg_len bytes) goes to payload[cap]. Returns 0, HW_EPROTO (too short or
 * too long), HW_EAUTH (tag rejected, low-order point, or the server's key is
 * not the pin), HW_EINVAL (not the peer's turn) or HW_ECLOSED. Any error is
 * final. */
HW_NODISCARD HW_EXPORT int hw_noise_hs_read(hw_noise_hs *hs, const uint8_t *msg, size_t msg_len,
                                            uint8_t *payload, size_t cap, size_t *payload_len);

/* The peer's static public key, once received (the initiator has it after
 * message 2, the responder after message 3). Returns 0 or HW_EINVAL. */
HW_NODISCARD HW_EXPORT int hw_noise_hs_remote_static(const hw_noise_hs *hs,
                                                     uint8_t rs[static HW_NOISE_KEY_BYTES]);

/* After hw_noise_hs_done: the handshake hash (for channel binding) and the
 * two transport cipher states (owned by the caller). The handshake object is
 * spent afterwards (free it). Returns 0, HW_EINVAL (not done) or HW_ENOMEM. */
HW_NODISCARD HW_EXPORT int hw_noise_hs_split(hw_noise_hs *hs, hw_noise_cs **send,
                                             hw_noise_cs **recv,
                                             uint8_t hash[static HW_NOISE_HASH_BYTES]);
HW_EXPORT void hw_noise_hs_free(hw_noise_hs *hs); /* NULL does nothing */

#endif
