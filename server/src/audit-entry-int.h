/* One audit log entry (architecture §6): the canonical CBOR the chain hashes.
 *
 *   entry = {
 *     1: decision          ; "duplicate", "fast-forward", "merged", "conflict",
 *                          ; "resolved", "quarantined", "refused", "late-edit",
 *                          ; "recovered", or an administrative action
 *     2: time_ms           ; server clock
 *     3: device key / null ; the device's static key, null for administration
 *     4: actor             ; the worker, or "os-user/coordinator" for administration
 *     5: record id, 6: case id, 7: kind
 *     8: vv before, 9: vv incoming, 10: vv after   ; [[replica, counter], ...]
 *     11: [[field, replica, counter, value hash], ...] ; pairs new to the server
 *     ? 12: reason         ; why it was refused or quarantined
 *     ? 13: seq            ; the record change's sequence number
 *   }
 * Values themselves are not in the entry (they sit in the erasable history
 * table); their keyed hashes are. */
#ifndef HW_SERVER_AUDIT_ENTRY_INT_H
#define HW_SERVER_AUDIT_ENTRY_INT_H

#include <stdint.h>

#include "homeward/bytes.h"
#include "homeward/cbor.h"
#include "homeward/crypto.h"
#include "homeward/vv.h"

typedef struct hw_audit_pair {
  hw_bytes field;
  hw_dot dot;
  uint8_t value_hash[HW_HASH_BYTES];
} hw_audit_pair;

typedef struct hw_audit_entry {
  const char *decision;
  int64_t time_ms;
  hw_bytes device_key; /* len 0: administration */
  hw_bytes actor;
  hw_id record_id, case_id;
  hw_bytes kind;
  hw_vv before, incoming, after;
  size_t n_pairs;
  const hw_audit_pair *pairs;
  const char *reason; /* NULL: none */
  uint64_t seq;       /* 0: no change stored */
} hw_audit_entry;

/* Append the canonical encoding to `w` (sticky errors). */
void hw_audit_entry_encode(hw_cbor_wr *w, const hw_audit_entry *e);

/* An administrative action (enrolment, invitation, revocation, ...):
 *   { 1: action, 2: time_ms, 3: device key / null, 4: actor, 14: details }
 * where the actor of a command names the OS user and the coordinator
 * ("os-user/coordinator"). Details never hold case data. */
void hw_audit_admin_encode(hw_cbor_wr *w, const char *action, int64_t time_ms,
                           const hw_bytes *device_key, const char *actor, const char *details);

/* Replace control characters, quotes and backslashes in a NUL-terminated
 * text with '?' (report lines shown to coordinators: a device's text must
 * not forge a line or a field). */
void hw__text_printable(char *s);

/* One line describing an entry for coordinators (`homeward-server audit`):
 * "decision time actor record=... kind=... fields=n reason=..." — never
 * values (they are not in the entry). Returns 0 or HW_EPROTO. */
HW_NODISCARD int hw_audit_entry_describe(const uint8_t *entry, size_t len, char *out, size_t cap);

#endif
