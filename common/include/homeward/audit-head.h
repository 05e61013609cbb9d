/* Signed audit heads (architecture §6). The server signs the head of its
 * audit chain with its Ed25519 key and hands the latest signed head to every
 * device at every sync; a device keeps it, so a truncated or rewritten tail
 * is detectable from any device's copy.
 *
 * The signed message is
 *   "homeward-audit-head-v1" 0x00 ‖ epoch (u64 BE) ‖ seq (u64 BE) ‖ hash (32)
 *   ‖ time_ms (i64 BE)
 * Pure: no I/O, no clock. */
#ifndef HOMEWARD_AUDIT_HEAD_H
#define HOMEWARD_AUDIT_HEAD_H

#include <stdbool.h>
#include <stdint.h>

#include "homeward/crypto.h"
#include "homeward/ids.h"

typedef struct hw_signed_head {
  uint64_t epoch;              /* the server's epoch: random, never 0; a restored server
                                  takes a new one */
  uint64_t seq;                /* sequence number of the last entry covered */
  uint8_t hash[HW_HASH_BYTES]; /* chain hash after that entry */
  int64_t time_ms;             /* when it was signed (server clock) */
  uint8_t sig[HW_SIGN_BYTES];
} hw_signed_head;

HW_EXPORT void hw_signed_head_sign(hw_signed_head *h,
                                   const uint8_t sk[static HW_SIGN_SECRET_BYTES]);

/* Returns 0 or HW_EAUTH. */
HW_NODISCARD HW_EXPORT int hw_signed_head_verify(const hw_signed_head *h,
                                                 const uint8_t pk[static HW_SIGN_PUBLIC_BYTES]);

/* Compare a head a device kept with a newer one from the server (both
 * verified). Returns 0 when `newer` can extend `kept` (same epoch, seq not
 * lower, and the same hash at an equal seq); HW_ECORRUPT when the server's
 * history went backwards or was rewritten at the kept point (report it);
 * HW_EVERSION for another epoch (a restored server: devices re-push). Only
 * a full chain check can prove the entries between two heads. */
HW_NODISCARD HW_EXPORT int hw_signed_head_follows(const hw_signed_head *kept,
                                                  const hw_signed_head *newer);

/* The audit chain step: next = BLAKE2b-256("homeward-audit-v1" 0x00 ‖ prev
 * ‖ u64 BE seq ‖ entry bytes). `entry` is the canonical encoding of one
 * entry. */
HW_EXPORT void hw_audit_chain_step(uint8_t next[static HW_HASH_BYTES],
                                   const uint8_t prev[static HW_HASH_BYTES], uint64_t seq,
                                   const uint8_t *entry, size_t entry_len);

/* Keyed hash of a value for an audit entry (the value itself sits in an
 * erasable history table, so an audited erasure does not break the chain,
 * and the key keeps short values from being guessed from their hashes). */
HW_EXPORT void hw_audit_value_hash(uint8_t out[static HW_HASH_BYTES],
                                   const uint8_t key[static HW_HASH_BYTES], const uint8_t *value,
                                   size_t len);

#endif
