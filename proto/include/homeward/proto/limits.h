/* Homeward wire limits (docs/protocol.md). Every limit is a named
 * constant, enforced before anything is allocated from a peer's count, and
 * tested at max and max + 1. Record limits live in homeward/limits.h. */
#ifndef HOMEWARD_PROTO_LIMITS_H
#define HOMEWARD_PROTO_LIMITS_H

#include "homeward/limits.h"

#define HW_PROTO_VERSION 1u            /* sync message set version (hello) */
#define HW_PROTO_PROLOGUE "homeward/1" /* Noise prologue: protocol and version */

#define HW_FRAME_HDR_BYTES 4u         /* u32 big-endian body length */
#define HW_NOISE_MSG_MAX 65535u       /* Noise spec §3: one Noise message */
#define HW_FRAME_MAX HW_NOISE_MSG_MAX /* a frame body is exactly one Noise message */
#define HW_APP_MSG_MAX (16u << 20)    /* a reassembled application message */
#define HW_BATCH_MSG_MAX 4096u        /* bytes of a message that may share a transport message */

#define HW_TOKEN_BYTES 16u /* enrolment token (128 bits) */

#define HW_MSG_KEYS_MAX 32u         /* pairs in one message map, unknown keys included */
#define HW_MSG_DEPTH_MAX 8u         /* nesting of an unknown value that is skipped */
#define HW_MSG_TEXT_MAX 1024u       /* bytes in an error message or a refusal reason */
#define HW_BATCH_RECORDS_MAX 512u   /* record states in one push or pull batch */
#define HW_REMOVALS_MAX 4096u       /* case removals in one pull batch */
#define HW_FLAGGED_MAX 4096u        /* cases marked LATE-EDIT named in one done */
#define HW_LINEAGE_DOTS_MAX 200000u /* accepted dots listed in one lineage refusal */
#define HW_PULL_MAX_RECORDS HW_BATCH_RECORDS_MAX /* most records a pull may ask for */

#endif
