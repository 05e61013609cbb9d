/* Homeward sync messages (docs/protocol.md §5, CDDL there): encode and
 * strict decode through homeward/cbor.h only.
 *
 * A message is the CBOR array [type, body], body a map with small unsigned
 * keys in ascending order. Decoders skip unknown keys (which still count
 * toward HW_MSG_KEYS_MAX and the message size), refuse duplicate or
 * out-of-order keys, check every count and length against the bytes left
 * and the named limits in homeward/proto/limits.h before allocating, and are
 * all-or-nothing: either 0 and a fully checked message, or an error and a
 * zeroed one. Record states travel as byte strings holding their canonical
 * encoding; the caller decodes them with the record codec. */
#ifndef HOMEWARD_PROTO_MSG_H
#define HOMEWARD_PROTO_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/arena.h"
#include "homeward/audit-head.h"
#include "homeward/bytes.h"
#include "homeward/cbor.h"
#include "homeward/crypto.h"
#include "homeward/err.h"
#include "homeward/ids.h"
#include "homeward/proto/limits.h"

#define HW_DIGEST_BYTES HW_HASH_BYTES /* lineage digest, write digest, audit hashes */
#define HW_SIG_BYTES 64u              /* Ed25519 signature over an audit head */
#define HW_CURSOR_HEAD_BYTES 16u      /* audit head at seq in a cursor: its first 16 bytes */

typedef enum hw_msg_type {
  HW_MSG_HELLO = 1,           /* device -> server */
  HW_MSG_LINEAGE_REFUSAL = 2, /* server -> device */
  HW_MSG_PUSH = 3,            /* device -> server */
  HW_MSG_PUSH_ACK = 4,        /* server -> device */
  HW_MSG_PULL = 5,            /* device -> server */
  HW_MSG_PULL_BATCH = 6,      /* server -> device */
  HW_MSG_DONE = 7,            /* server -> device */
  HW_MSG_ERROR = 8,           /* either way */
  HW_MSG_GOODBYE = 9,         /* either way */
} hw_msg_type;

/* Machine codes of an error message (protocol.md §5.9). */
typedef enum hw_msg_code {
  HW_CODE_INTERNAL = 1,       /* the sender failed; try again later */
  HW_CODE_MALFORMED = 2,      /* a message could not be decoded */
  HW_CODE_LIMIT = 3,          /* a message went over a limit */
  HW_CODE_VERSION = 4,        /* unsupported protocol version */
  HW_CODE_UNKNOWN_DEVICE = 5, /* static key not registered, no valid token */
  HW_CODE_TOKEN = 6,          /* enrolment token unknown, used or expired */
  HW_CODE_REVOKED = 7,        /* device lost: wipe */
  HW_CODE_RETIRED = 8,        /* device retired: last push done, wipe */
  HW_CODE_REPLICA_TAKEN = 9,  /* replica id bound to another device key */
  HW_CODE_SUPERSEDED = 10,    /* a newer session of this replica began */
  HW_CODE_EPOCH = 11,         /* server epoch changed: push everything */
  HW_CODE_BUSY = 12,          /* server overloaded; retry later */
  HW_CODE_UNEXPECTED = 13,    /* message out of order */
  HW_CODE_UNKNOWN_EPOCH = 14, /* the hello names an epoch this server never had */
} hw_msg_code;

/* "RETIRED" for HW_CODE_RETIRED (protocol.md §5.9); "?" for a code this
 * version does not know. Never NULL; static. */
HW_EXPORT const char *hw_msg_code_name(uint64_t code);

/* Per-record outcome in a push acknowledgement. */
typedef enum hw_ack_status {
  HW_ACK_ACCEPTED = 0,    /* merged and durable */
  HW_ACK_REFUSED = 1,     /* not merged (e.g. invalid state, caseload) */
  HW_ACK_QUARANTINED = 2, /* held for a coordinator, nothing merged */
} hw_ack_status;

/* Pull cursor (architecture §4): server epoch, sequence number, and the
 * audit head at seq truncated to HW_CURSOR_HEAD_BYTES (a position check that
 * tells a restored or forked server; the full signed head travels in done). */
typedef struct hw_cursor {
  uint64_t epoch;
  uint64_t seq;
  uint8_t audit_head[HW_CURSOR_HEAD_BYTES];
} hw_cursor;

typedef struct hw_msg_hello {
  uint64_t version;                 /* HW_PROTO_VERSION */
  hw_id replica;                    /* the device's current replica id */
  uint64_t counter;                 /* its highest dot counter */
  uint64_t acked;                   /* its writes the server is known to hold reach here */
  uint8_t lineage[HW_DIGEST_BYTES]; /* lineage (homeward/lineage.h) of those writes, up to
                                       acked (docs/protocol.md §9) */
  bool has_inherits;
  hw_id inherits_replica;    /* old replica id after a restore or copy */
  uint64_t inherits_counter; /* the old id's last counter */
  bool has_cursor;           /* false on a fresh device */
  hw_cursor cursor;
  int64_t wall_ms; /* device clock, for skew warnings only */
} hw_msg_hello;

typedef struct hw_accepted_dot {
  uint64_t counter;
  hw_id record;
  uint8_t write_digest[HW_DIGEST_BYTES];
} hw_accepted_dot;

typedef struct hw_msg_lineage_refusal {
  hw_id replica;
  uint64_t from; /* the dots listed are the server's above this counter */
  size_t n_dots;
  const hw_accepted_dot *dots; /* ascending counters */
  bool more; /* the server holds more above the last listed (the list was cut) */
} hw_msg_lineage_refusal;

typedef struct hw_msg_push {
  uint64_t batch_seq;
  size_t n_records;
  const hw_bytes *records; /* canonical record-state encodings */
} hw_msg_push;

typedef struct hw_ack_entry {
  hw_ack_status status;
  uint64_t seq;    /* ACCEPTED: the server sequence number */
  hw_bytes merged; /* ACCEPTED: merged state when it differs from what was sent, else p NULL */
  uint64_t code;   /* REFUSED / QUARANTINED: machine code */
  hw_bytes reason; /* REFUSED / QUARANTINED: UTF-8, may be empty */
} hw_ack_entry;

typedef struct hw_msg_push_ack {
  uint64_t batch_seq;
  size_t n_entries;
  const hw_ack_entry *entries; /* one per record of the batch, same order */
} hw_msg_push_ack;

typedef struct hw_msg_pull {
  bool has_cursor; /* false: from where this session stands (the hello's cursor,
                    * then each pull batch's; the beginning for a fresh device) */
  hw_cursor cursor;
  uint64_t max_records; /* 1..HW_PULL_MAX_RECORDS */
} hw_msg_pull;

/* A decided quarantined state: its record and its caseload checksum item
 * (homeward/checksum.h: BLAKE2b over record id and state bytes). */
typedef struct hw_decided {
  hw_id record;
  uint8_t state_digest[HW_DIGEST_BYTES];
} hw_decided;

typedef struct hw_msg_pull_batch {
  size_t n_records;
  const hw_bytes *records;
  size_t n_removals;
  const hw_id *removals; /* case ids taken away from this worker */
  hw_cursor cursor;      /* the cursor after this batch */
  bool more;
  /* Quarantined states of this device a coordinator decided on (key 4,
   * left out when empty): the device drops its held copy of the record when
   * it is that very state, before it applies this batch's records, which
   * carry the server's state when the device may see it. */
  size_t n_decided;
  const hw_decided *decided;
} hw_msg_pull_batch;

typedef struct hw_msg_done {
  uint8_t checksum[HW_DIGEST_BYTES]; /* caseload checksum */
  bool has_head;                     /* false until the server has signed a head */
  hw_signed_head head;               /* latest signed audit head (homeward/audit-head.h);
                                        its epoch is not on the wire: it is the
                                        session's cursor epoch */
  /* The cases of this device's caseload marked LATE-EDIT (key 2, left out
   * when none; at most HW_FLAGGED_MAX): a previous holder's edit merged
   * after a reassignment, until a coordinator reviews it. The whole set at
   * every done: the device replaces what it had. */
  size_t n_flagged;
  const hw_id *flagged;
} hw_msg_done;

typedef struct hw_msg_error {
  uint64_t code;    /* hw_msg_code; unknown codes are kept */
  hw_bytes message; /* UTF-8, for people */
} hw_msg_error;

typedef struct hw_msg {
  hw_msg_type type;
  union {
    hw_msg_hello hello;
    hw_msg_lineage_refusal refusal;
    hw_msg_push push;
    hw_msg_push_ack ack;
    hw_msg_pull pull;
    hw_msg_pull_batch pull_batch;
    hw_msg_done done;
    hw_msg_error error;
  } u; /* goodbye has no body fields */
} hw_msg;

/* Encode `m` (borrowed) with the writer (see cbor.h; check hw_cbor_wr_finish).
 * Returns 0, HW_EINVAL (a field hw_msg_decode would refuse: a count or
 * length over its limit, a bad status, text that is not UTF-8, refusal dots
 * not ascending or not above `from`) or the writer's error (the caller's
 * writer cap bounds the whole message). */
HW_NODISCARD HW_EXPORT int hw_msg_encode(const hw_msg *m, hw_cbor_wr *w);

/* Decode one message from buf[len] (exactly one item, nothing after it).
 * Arrays come from `arena`; byte and text spans point into `buf`. `out` is
 * valid while both live. Returns 0, HW_EPROTO (malformed, wrong type,
 * duplicate or misordered key, missing field, trailing bytes), HW_ELIMIT
 * (over a named limit) or HW_ENOMEM (arena); on error *out is zeroed. */
HW_NODISCARD HW_EXPORT int hw_msg_decode(const uint8_t *buf, size_t len, hw_arena *arena,
                                         hw_msg *out);

#endif
