/* Sample sync messages for the codec tests, the fuzz seed generator and the
 * benchmark: one filled value of every message type. */
#ifndef HW_TEST_MSG_SAMPLES_H
#define HW_TEST_MSG_SAMPLES_H

#include <string.h>

#include "homeward/proto/msg.h"

#define HW_SAMPLE_COUNT 13

static const uint8_t sample_rec1[] = {0xa1, 0x61, 'a', 0x01};
static const uint8_t sample_rec2[] = {0x82, 0x01, 0x02, 0x03};

static inline void sample_fill(uint8_t *p, size_t n, uint8_t seed)
{
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(seed + i * 13);
}

static inline void sample_cursor(hw_cursor *c)
{
  c->epoch = 0x5a17c3e9u;
  c->seq = 1234567;
  sample_fill(c->audit_head, sizeof c->audit_head, 0x30);
}

/* Fills *m with sample k (0 <= k < HW_SAMPLE_COUNT). Static storage backs
 * the arrays. */
static inline void sample_msg(int k, hw_msg *m)
{
  static hw_bytes recs[2];
  static hw_accepted_dot dots[3];
  static hw_ack_entry entries[3];
  static hw_id removals[2];
  static hw_decided decided[2];

  memset(m, 0, sizeof *m);
  recs[0] = (hw_bytes){sample_rec1, sizeof sample_rec1};
  recs[1] = (hw_bytes){sample_rec2, sizeof sample_rec2};
  switch (k) {
  case 0:
  case 1:
    m->type = HW_MSG_HELLO;
    m->u.hello.version = HW_PROTO_VERSION;
    sample_fill(m->u.hello.replica.b, HW_ID_BYTES, 1);
    m->u.hello.counter = 4711;
    m->u.hello.acked = 4700;
    sample_fill(m->u.hello.lineage, HW_DIGEST_BYTES, 2);
    m->u.hello.wall_ms = 1764600000000;
    if (k == 1) {
      m->u.hello.has_inherits = true;
      sample_fill(m->u.hello.inherits_replica.b, HW_ID_BYTES, 3);
      m->u.hello.inherits_counter = 99;
      m->u.hello.has_cursor = true;
      sample_cursor(&m->u.hello.cursor);
      m->u.hello.wall_ms = -5;
    }
    break;
  case 2:
    m->type = HW_MSG_LINEAGE_REFUSAL;
    sample_fill(m->u.refusal.replica.b, HW_ID_BYTES, 4);
    for (int i = 0; i < 3; i++) {
      dots[i].counter = (uint64_t)(i * 10 + 1);
      sample_fill(dots[i].record.b, HW_ID_BYTES, (uint8_t)(5 + i));
      sample_fill(dots[i].write_digest, HW_DIGEST_BYTES, (uint8_t)(8 + i));
    }
    m->u.refusal.n_dots = 3;
    m->u.refusal.dots = dots;
    break;
  case 3:
    m->type = HW_MSG_PUSH;
    m->u.push.batch_seq = 7;
    m->u.push.n_records = 2;
    m->u.push.records = recs;
    break;
  case 4:
    m->type = HW_MSG_PUSH_ACK;
    m->u.ack.batch_seq = 7;
    memset(entries, 0, sizeof entries);
    entries[0].status = HW_ACK_ACCEPTED;
    entries[0].seq = 1000;
    entries[1].status = HW_ACK_ACCEPTED;
    entries[1].seq = 1001;
    entries[1].merged = recs[1];
    entries[2].status = HW_ACK_QUARANTINED;
    entries[2].code = 3;
    entries[2].reason = (hw_bytes){(const uint8_t *)"dot contradiction", 17};
    m->u.ack.n_entries = 3;
    m->u.ack.entries = entries;
    break;
  case 5:
    m->type = HW_MSG_PULL;
    m->u.pull.has_cursor = true;
    sample_cursor(&m->u.pull.cursor);
    m->u.pull.max_records = 200;
    break;
  case 6:
    m->type = HW_MSG_PULL_BATCH;
    m->u.pull_batch.n_records = 2;
    m->u.pull_batch.records = recs;
    sample_fill(removals[0].b, HW_ID_BYTES, 11);
    sample_fill(removals[1].b, HW_ID_BYTES, 12);
    m->u.pull_batch.n_removals = 2;
    m->u.pull_batch.removals = removals;
    sample_cursor(&m->u.pull_batch.cursor);
    m->u.pull_batch.more = true;
    break;
  case 11: /* a coordinator's decisions on held copies, nothing else */
    m->type = HW_MSG_PULL_BATCH;
    sample_fill(decided[0].record.b, HW_ID_BYTES, 21);
    sample_fill(decided[0].state_digest, HW_DIGEST_BYTES, 23);
    sample_fill(decided[1].record.b, HW_ID_BYTES, 22);
    sample_fill(decided[1].state_digest, HW_DIGEST_BYTES, 24);
    m->u.pull_batch.n_decided = 2;
    m->u.pull_batch.decided = decided;
    sample_cursor(&m->u.pull_batch.cursor);
    break;
  case 7:
    m->type = HW_MSG_DONE;
    sample_fill(m->u.done.checksum, HW_DIGEST_BYTES, 13);
    sample_fill(m->u.done.head.hash, HW_DIGEST_BYTES, 14);
    m->u.done.head.seq = 1234567;
    sample_fill(m->u.done.head.sig, HW_SIG_BYTES, 15);
    m->u.done.head.time_ms = 1764600000123;
    m->u.done.has_head = true;
    break;
  case 8:
    m->type = HW_MSG_ERROR;
    m->u.error.code = HW_CODE_REVOKED;
    m->u.error.message = (hw_bytes){(const uint8_t *)"device revoked", 14};
    break;
  case 9:
    m->type = HW_MSG_GOODBYE;
    break;
  case 12: /* done naming two cases marked LATE-EDIT, no signed head yet */
    m->type = HW_MSG_DONE;
    sample_fill(m->u.done.checksum, HW_DIGEST_BYTES, 16);
    m->u.done.n_flagged = 2;
    m->u.done.flagged = removals;
    sample_fill(removals[0].b, HW_ID_BYTES, 17);
    sample_fill(removals[1].b, HW_ID_BYTES, 18);
    break;
  default:
    m->type = HW_MSG_PULL; /* from the beginning */
    m->u.pull.max_records = 1;
    break;
  }
}

#endif
