/* The invitation a coordinator hands to a device (security notes part B):
 * where the server is, its public key (the pin: no trust on first use), the
 * organisation's recovery public key, the one-time token, for whom, and
 * until when. As text it is "homeward-invite:" followed by URL-safe base64 of
 *   {1: address, 2: server key, 3: recovery key, 4: token, 5: worker,
 *    6: expires_ms, 7: audit key, 8: check}
 * where check is the first 4 bytes of BLAKE2b-256 over the rest, so a
 * mistyped invitation is refused rather than misread. Pure. */
#ifndef HOMEWARD_INVITATION_H
#define HOMEWARD_INVITATION_H

#include <stddef.h>
#include <stdint.h>

#include "homeward/err.h"

#define HW_INVITE_PREFIX "homeward-invite:"
#define HW_INVITE_TEXT_MAX 512

typedef struct hw_invitation {
  char address[256];        /* host:port */
  uint8_t server_key[32];   /* Noise static public key */
  uint8_t recovery_key[32]; /* organisation recovery public key (sealed box) */
  uint8_t token[16];
  char worker[64];
  int64_t expires_ms;
  uint8_t audit_key[32]; /* Ed25519 key that signs the server's audit heads */
} hw_invitation;

/* Write the text form into out[cap] (NUL-terminated). Returns 0, HW_EINVAL
 * (empty or over-long address or worker) or HW_ELIMIT (cap too small). */
HW_NODISCARD HW_EXPORT int hw_invitation_format(const hw_invitation *inv, char *out, size_t cap);

/* Parse the text form (surrounding white space allowed). Returns 0,
 * HW_EPROTO (not an invitation, damaged, wrong check) or HW_ELIMIT. On
 * error *out is zeroed. */
HW_NODISCARD HW_EXPORT int hw_invitation_parse(const char *text, size_t len, hw_invitation *out);

#endif
