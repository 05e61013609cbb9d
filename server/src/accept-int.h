/* Accepting one pushed record state (architecture §3, §6; docs/protocol.md §9):
 * the checks, the merge, the store, the dots, the history and the audit
 * entry, all inside the caller's transaction on the storage thread.
 *
 * Nothing a device sent is dropped: a state that cannot be merged is kept
 * whole in quarantine with its reason, and the decision is audited. */
#ifndef HW_SERVER_ACCEPT_INT_H
#define HW_SERVER_ACCEPT_INT_H

#include <stdbool.h>

#include "homeward/record.h"
#include "sdb-int.h"

typedef enum hw_decision {
  HW_DEC_DUPLICATE,
  HW_DEC_FAST_FORWARD,
  HW_DEC_MERGED,
  HW_DEC_CONFLICT,
  HW_DEC_RESOLVED,
  HW_DEC_LATE_EDIT,   /* merged: a case the worker held before a reassignment */
  HW_DEC_RECOVERED,   /* merged: foreign writes re-sent after a server epoch change */
  HW_DEC_QUARANTINED, /* kept whole for coordinators, not merged */
  HW_DEC_REFUSED,     /* unreadable: nothing to keep or attribute */
} hw_decision;

const char *hw_decision_name(hw_decision d);

typedef enum hw_case_access {
  HW_CASE_HELD,        /* the worker's case now (or created by them offline) */
  HW_CASE_HELD_BEFORE, /* held before a reassignment: merge, audit as a late edit */
  HW_CASE_NEVER_HELD,  /* quarantine for coordinators */
  HW_CASE_ERROR,       /* the caseload could not be read: the job fails */
} hw_case_access;

/* The server's rules, as hooks (forms and caseloads live elsewhere). Each
 * may be NULL: every kind known, nothing invalid, every case held. */
typedef struct hw_accept_policy {
  bool (*kind_known)(const hw_bytes *kind, void *ud);
  /* The values of one write the server has not seen before (those still in
   * the state), on top of the stored state `base` (NULL for a new record):
   * 0, or an error with `msg` (msg_len bytes) naming the field and the
   * rule. Unknown fields are the hook's to accept (a newer schema). */
  int (*validate)(const hw_bytes *kind, uint32_t schema_version, const hw_record *base,
                  const hw_field_value *values, size_t n, char *msg, size_t msg_len, void *ud);
  hw_case_access (*case_access)(const hw_id *case_id, bool created_here, void *ud);
  /* A late edit was merged into the case (after the decision, so resent
   * duplicates and quarantined states flag nothing): 0 or an error. */
  int (*late_edit)(const hw_id *case_id, void *ud);
  void *ud;
} hw_accept_policy;

/* The forms' rules as the policy's hooks (session-jobs.c; `ud` unused). */
bool hw__form_kind_known(const hw_bytes *kind, void *ud);
int hw__form_validate(const hw_bytes *kind, uint32_t schema_version, const hw_record *base,
                      const hw_field_value *values, size_t n, char *msg, size_t msg_len, void *ud);

/* States of one device waiting in quarantine past which its pushes that
 * would add one are refused (code BUSY: sent again at a later sync). */
#define HW_QUARANTINE_WAITING_MAX 1000u

typedef struct hw_accept_ctx {
  hw_sdb *db;
  const hw_accept_policy *policy;
  const hw_id *own; /* replica ids bound to this device: the dots it may introduce */
  size_t n_own;
  bool recovering; /* the device's cursor names an older server epoch */
  hw_bytes device_key;
  hw_bytes actor; /* the worker enrolled with the device */
  int64_t now_ms;
  const uint8_t *value_key; /* HW_HASH_BYTES: key of the audit's value hashes */
  bool write_only;          /* a retiring device: its acks carry no merged state */
} hw_accept_ctx;

typedef struct hw_accept_result {
  hw_decision decision;
  uint64_t seq;       /* sequence number of the stored change (0: none) */
  uint64_t audit_seq; /* the audit entry (0: none, for refused) */
  int64_t quarantine_id;
  uint8_t *merged; /* owned (hw_free): the stored state, when it differs from what was sent */
  size_t merged_len;
  bool withheld;   /* the stored state differs, and this device may not read it */
  int code;             /* for quarantined/refused: the HW_E* reason code, or an
                         * HW_CODE_* the device acts on (SUPERSEDED, BUSY, REVOKED) */
  const char *reason;   /* static; read it through hw_accept_reason */
  char reason_buf[256]; /* a reason made for this record (wins over `reason`) */
} hw_accept_result;

/* Why a record was quarantined or refused (never NULL for those). */
const char *hw_accept_reason(const hw_accept_result *r);

/* Decide on one incoming state (`state` borrowed). Returns 0 when a decision
 * was made and written (out->decision says which, refusals included), or an
 * environment error (HW_ENOMEM, HW_EIO, ...) for which the caller rolls the
 * job back. */
HW_NODISCARD int hw_accept_record(const hw_accept_ctx *cx, const uint8_t *state, size_t len,
                                  hw_accept_result *out);

/* What deciding on a state needs from the state alone: worked out before its
 * turn on the storage thread, on any thread (it reads only the state, the
 * policy's validate hook, which must be thread-safe, and the key), so that it
 * overlaps the storage thread's commits. */
typedef struct hw_accept_prep {
  hw_record *in; /* owned; NULL when the state did not decode */
  int decode_rc;
  const char *decode_what;              /* static: why it did not decode */
  size_t n_pairs;                       /* the state's (field, value) pairs */
  uint8_t (*value_hash)[HW_HASH_BYTES]; /* owned (NULL: worked out later): one per
                                         * pair, the fields' pairs in order */
  /* Set when the state decoded: */
  uint8_t item[HW_HASH_BYTES]; /* hw_checksum_item of the bytes as sent */
  int created_rc; /* validated as a record new to the server, every write new
                   * (HW_ENOMEM: not validated, worked out later) */
  char created_msg[sizeof ((hw_accept_result *)0)->reason_buf];
} hw_accept_prep;

void hw_accept_prepare(const hw_accept_policy *p, const uint8_t *value_key, const uint8_t *state,
                       size_t len, hw_accept_prep *out);
void hw_accept_prep_clear(hw_accept_prep *prep);

/* hw_accept_record with `prep` worked out by hw_accept_prepare on the same
 * bytes and policy (NULL: worked out here). Takes prep->in. */
HW_NODISCARD int hw_accept_prepared(const hw_accept_ctx *cx, const uint8_t *state, size_t len,
                                    hw_accept_prep *prep, hw_accept_result *out);

void hw_accept_result_clear(hw_accept_result *r);

#endif
