/* Sync message codecs: round trips of every message type (re-encoding the
 * decoded message gives the same bytes), truncation at every byte, trailing
 * bytes, and a hostile-input table per message (wrong types, missing and
 * duplicate and misordered keys, unknown keys skipped but counted, every
 * named limit at max and max + 1), arena exhaustion, encoder refusals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "homeward/mem.h"
#include "msg-samples.h"

static uint8_t *encode(const hw_msg *m, size_t *len)
{
  hw_cbor_wr w;
  uint8_t *p;

  hw_cbor_wr_init(&w, SIZE_MAX);
  CHECK_OK(hw_msg_encode(m, &w));
  p = hw_cbor_wr_take(&w, len);
  CHECK(p != NULL);
  hw_cbor_wr_close(&w);
  return p;
}

static int decode(const uint8_t *p, size_t len)
{
  hw_arena a;
  hw_msg m;
  int rc;

  hw_arena_init(&a, NULL, 0, SIZE_MAX);
  rc = hw_msg_decode(p, len, &a, &m);
  if (rc) {
    hw_msg zero;
    memset(&zero, 0, sizeof zero);
    CHECK(memcmp(&m, &zero, sizeof m) == 0); /* all-or-nothing */
  }
  hw_arena_close(&a);
  return rc;
}

/* A refusal says when its list was cut (key 3, only when true, so the
 * encoding of an uncut list is as before). */
static void test_refusal_more(void)
{
  for (int more = 0; more < 2; more++) {
    hw_msg m, back;
    hw_arena a;
    size_t len;
    uint8_t *p;

    sample_msg(2, &m);
    m.u.refusal.more = more;
    p = encode(&m, &len);
    CHECK_EQ(p[2], (uint8_t)(0xa3 + more)); /* [2, {3 or 4 keys}] */
    hw_arena_init(&a, NULL, 0, SIZE_MAX);
    CHECK_OK(hw_msg_decode(p, len, &a, &back));
    CHECK_EQ(back.u.refusal.more, more == 1);
    hw_arena_close(&a);
    hw_free(p);
  }
}

static void test_roundtrip(void)
{
  for (int k = 0; k < HW_SAMPLE_COUNT; k++) {
    hw_msg m, back;
    hw_arena a;
    size_t len, len2;
    uint8_t *p, *p2;

    sample_msg(k, &m);
    p = encode(&m, &len);
    hw_arena_init(&a, NULL, 0, SIZE_MAX);
    CHECK_OK(hw_msg_decode(p, len, &a, &back));
    CHECK_EQ(back.type, m.type);
    p2 = encode(&back, &len2);
    CHECK_EQ(len2, len);
    CHECK(memcmp(p, p2, len) == 0);
    hw_free(p2);
    hw_arena_close(&a);
    /* Every strict prefix is refused, and so is one byte more. */
    for (size_t cut = 0; cut < len; cut++) {
      int rc = decode(p, cut);
      CHECK(rc == HW_EPROTO || rc == HW_ELIMIT);
    }
    {
      uint8_t *q = malloc(len + 1);
      CHECK(q != NULL);
      memcpy(q, p, len);
      q[len] = 0x00;
      CHECK_ERR(decode(q, len + 1), HW_EPROTO);
      free(q);
    }
    hw_free(p);
  }
  /* Field checks on two samples. */
  {
    hw_msg m, back;
    hw_arena a;
    size_t len;
    uint8_t *p;
    sample_msg(1, &m);
    p = encode(&m, &len);
    hw_arena_init(&a, NULL, 0, SIZE_MAX);
    CHECK_OK(hw_msg_decode(p, len, &a, &back));
    CHECK(back.u.hello.has_inherits && back.u.hello.has_cursor);
    CHECK_EQ(back.u.hello.inherits_counter, 99);
    CHECK_EQ(back.u.hello.cursor.seq, 1234567);
    CHECK_EQ(back.u.hello.wall_ms, -5);
    hw_free(p);
    sample_msg(4, &m);
    p = encode(&m, &len);
    CHECK_OK(hw_msg_decode(p, len, &a, &back));
    CHECK_EQ(back.u.ack.n_entries, 3);
    CHECK(back.u.ack.entries[0].merged.p == NULL);
    CHECK_EQ(back.u.ack.entries[1].merged.len, sizeof sample_rec2);
    CHECK_EQ(back.u.ack.entries[2].status, HW_ACK_QUARANTINED);
    CHECK(back.u.ack.entries[2].reason.len == 17);
    hw_free(p);
    sample_msg(11, &m);
    p = encode(&m, &len);
    CHECK_OK(hw_msg_decode(p, len, &a, &back));
    CHECK_EQ(back.u.pull_batch.n_decided, 2);
    CHECK(hw_id_cmp(&back.u.pull_batch.decided[1].record, &m.u.pull_batch.decided[1].record) == 0);
    CHECK(memcmp(back.u.pull_batch.decided[1].state_digest, m.u.pull_batch.decided[1].state_digest,
                 HW_DIGEST_BYTES) == 0);
    hw_free(p);
    sample_msg(6, &m); /* none decided: key 4 is left out */
    p = encode(&m, &len);
    CHECK_OK(hw_msg_decode(p, len, &a, &back));
    CHECK_EQ(back.u.pull_batch.n_decided, 0);
    hw_free(p);
    sample_msg(12, &m);
    p = encode(&m, &len);
    CHECK_OK(hw_msg_decode(p, len, &a, &back));
    CHECK_EQ(back.u.done.n_flagged, 2);
    CHECK(!back.u.done.has_head);
    CHECK(hw_id_cmp(&back.u.done.flagged[1], &m.u.done.flagged[1]) == 0);
    hw_free(p);
    sample_msg(7, &m); /* none flagged: key 2 is left out */
    p = encode(&m, &len);
    CHECK_OK(hw_msg_decode(p, len, &a, &back));
    CHECK_EQ(back.u.done.n_flagged, 0);
    hw_free(p);
    {
      hw_cbor_wr w;
      sample_msg(12, &m);
      m.u.done.n_flagged = HW_FLAGGED_MAX + 1; /* refused before anything is read */
      hw_cbor_wr_init(&w, SIZE_MAX);
      CHECK_EQ(hw_msg_encode(&m, &w), HW_EINVAL);
      hw_cbor_wr_close(&w);
    }
    hw_arena_close(&a);
  }
}

/* ---- hostile table: each case writes a message by hand ---------------- */

typedef void (*build_fn)(hw_cbor_wr *w);
typedef struct bad_case {
  const char *what;
  build_fn build;
  int want;
} bad_case;

static uint8_t zeros[HW_RECORD_MAX + 2];

static void hdr(hw_cbor_wr *w, uint64_t type, uint64_t pairs)
{
  hw_cbor_wr_array(w, 2);
  hw_cbor_wr_uint(w, type);
  hw_cbor_wr_map(w, pairs);
}
static void kb(hw_cbor_wr *w, uint64_t k, size_t n)
{
  hw_cbor_wr_uint(w, k);
  hw_cbor_wr_bytes(w, zeros, n);
}
static void ku(hw_cbor_wr *w, uint64_t k, uint64_t v)
{
  hw_cbor_wr_uint(w, k);
  hw_cbor_wr_uint(w, v);
}
static void cursor(hw_cbor_wr *w)
{
  hw_cbor_wr_array(w, 3);
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_uint(w, 2);
  hw_cbor_wr_bytes(w, zeros, HW_CURSOR_HEAD_BYTES);
}
/* hello with the required keys, then `extra` unknown keys 7.. */
static void hello_n(hw_cbor_wr *w, unsigned extra)
{
  hdr(w, 1, 6 + extra);
  ku(w, 0, 1);
  kb(w, 1, 16);
  ku(w, 2, 5);
  kb(w, 3, 32);
  ku(w, 6, 1000);
  ku(w, 7, 5);
  for (unsigned i = 0; i < extra; i++)
    ku(w, 8 + i, i);
}

static void b_not_array(hw_cbor_wr *w)
{
  hw_cbor_wr_map(w, 0);
}
static void b_array3(hw_cbor_wr *w)
{
  hw_cbor_wr_array(w, 3);
  hw_cbor_wr_uint(w, 9);
  hw_cbor_wr_map(w, 0);
  hw_cbor_wr_uint(w, 0);
}
static void b_type0(hw_cbor_wr *w)
{
  hdr(w, 0, 0);
}
static void b_type10(hw_cbor_wr *w)
{
  hdr(w, 10, 0);
}
static void b_type_text(hw_cbor_wr *w)
{
  hw_cbor_wr_array(w, 2);
  hw_cbor_wr_text(w, "a", 1);
  hw_cbor_wr_map(w, 0);
}
static void b_body_array(hw_cbor_wr *w)
{
  hw_cbor_wr_array(w, 2);
  hw_cbor_wr_uint(w, 9);
  hw_cbor_wr_array(w, 0);
}
static void b_goodbye(hw_cbor_wr *w)
{
  hdr(w, 9, 0);
}
static void b_goodbye_unknown(hw_cbor_wr *w)
{
  hdr(w, 9, 1);
  ku(w, 3, 3);
}
static void b_goodbye_text_key(hw_cbor_wr *w)
{
  hdr(w, 9, 1);
  hw_cbor_wr_text(w, "a", 1);
  hw_cbor_wr_uint(w, 1);
}
static void b_goodbye_neg_key(hw_cbor_wr *w)
{
  hdr(w, 9, 1);
  hw_cbor_wr_int(w, -1);
  hw_cbor_wr_uint(w, 1);
}
static void b_goodbye_dup(hw_cbor_wr *w)
{
  hdr(w, 9, 2);
  ku(w, 3, 3);
  ku(w, 3, 4);
}
static void b_goodbye_order(hw_cbor_wr *w)
{
  hdr(w, 9, 2);
  ku(w, 4, 3);
  ku(w, 3, 4);
}
static void b_hello_ok(hw_cbor_wr *w)
{
  hello_n(w, 0);
}
static void b_hello_keys_max(hw_cbor_wr *w)
{
  hello_n(w, HW_MSG_KEYS_MAX - 6);
}
static void b_hello_keys_over(hw_cbor_wr *w)
{
  hello_n(w, HW_MSG_KEYS_MAX - 5);
}
static void b_hello_missing(hw_cbor_wr *w)
{
  hdr(w, 1, 4);
  ku(w, 0, 1);
  kb(w, 1, 16);
  ku(w, 2, 5);
  kb(w, 3, 32);
}
static void b_hello_dup(hw_cbor_wr *w)
{
  hdr(w, 1, 7);
  ku(w, 0, 1);
  kb(w, 1, 16);
  ku(w, 2, 5);
  ku(w, 2, 5);
  kb(w, 3, 32);
  ku(w, 6, 1);
  ku(w, 7, 1);
}
static void b_hello_order(hw_cbor_wr *w)
{
  hdr(w, 1, 6);
  kb(w, 1, 16);
  ku(w, 0, 1);
  ku(w, 2, 5);
  kb(w, 3, 32);
  ku(w, 6, 1);
  ku(w, 7, 1);
}
static void b_hello_id15(hw_cbor_wr *w)
{
  hdr(w, 1, 6);
  ku(w, 0, 1);
  kb(w, 1, 15);
  ku(w, 2, 5);
  kb(w, 3, 32);
  ku(w, 6, 1);
  ku(w, 7, 1);
}
static void b_hello_id17(hw_cbor_wr *w)
{
  hdr(w, 1, 6);
  ku(w, 0, 1);
  kb(w, 1, 17);
  ku(w, 2, 5);
  kb(w, 3, 32);
  ku(w, 6, 1);
  ku(w, 7, 1);
}
static void b_hello_ver_text(hw_cbor_wr *w)
{
  hdr(w, 1, 6);
  hw_cbor_wr_uint(w, 0);
  hw_cbor_wr_text(w, "1", 1);
  kb(w, 1, 16);
  ku(w, 2, 5);
  kb(w, 3, 32);
  ku(w, 6, 1);
  ku(w, 7, 1);
}
static void b_hello_counter_neg(hw_cbor_wr *w)
{
  hdr(w, 1, 6);
  ku(w, 0, 1);
  kb(w, 1, 16);
  hw_cbor_wr_uint(w, 2);
  hw_cbor_wr_int(w, -3);
  kb(w, 3, 32);
  ku(w, 6, 1);
  ku(w, 7, 1);
}
static void b_hello_inherits_short(hw_cbor_wr *w)
{
  hdr(w, 1, 7);
  ku(w, 0, 1);
  kb(w, 1, 16);
  ku(w, 2, 5);
  kb(w, 3, 32);
  hw_cbor_wr_uint(w, 4);
  hw_cbor_wr_array(w, 1);
  hw_cbor_wr_bytes(w, zeros, 16);
  ku(w, 6, 1);
  ku(w, 7, 1);
}
static void b_hello_cursor_bad(hw_cbor_wr *w)
{
  hdr(w, 1, 7);
  ku(w, 0, 1);
  kb(w, 1, 16);
  ku(w, 2, 5);
  kb(w, 3, 32);
  hw_cbor_wr_uint(w, 5);
  hw_cbor_wr_array(w, 3);
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_bytes(w, zeros, 32);
  ku(w, 6, 1);
  ku(w, 7, 1);
}
static void b_hello_cursor_ok(hw_cbor_wr *w)
{
  hdr(w, 1, 7);
  ku(w, 0, 1);
  kb(w, 1, 16);
  ku(w, 2, 5);
  kb(w, 3, 32);
  hw_cbor_wr_uint(w, 5);
  cursor(w);
  ku(w, 6, 1);
  ku(w, 7, 1);
}
static void deep(hw_cbor_wr *w, unsigned d)
{
  for (unsigned i = 0; i < d; i++)
    hw_cbor_wr_array(w, 1);
  hw_cbor_wr_uint(w, 0);
}
static void b_hello_unknown_deep_ok(hw_cbor_wr *w)
{
  hdr(w, 1, 7);
  ku(w, 0, 1);
  kb(w, 1, 16);
  ku(w, 2, 5);
  kb(w, 3, 32);
  ku(w, 6, 1);
  ku(w, 7, 1);
  hw_cbor_wr_uint(w, 9);
  deep(w, HW_MSG_DEPTH_MAX);
}
static void b_hello_unknown_too_deep(hw_cbor_wr *w)
{
  hdr(w, 1, 7);
  ku(w, 0, 1);
  kb(w, 1, 16);
  ku(w, 2, 5);
  kb(w, 3, 32);
  ku(w, 6, 1);
  ku(w, 7, 1);
  hw_cbor_wr_uint(w, 9);
  deep(w, HW_MSG_DEPTH_MAX + 1);
}

static void push_n(hw_cbor_wr *w, unsigned n, size_t rec_len)
{
  hdr(w, 3, 2);
  ku(w, 0, 1);
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_array(w, n);
  for (unsigned i = 0; i < n; i++)
    hw_cbor_wr_bytes(w, zeros, rec_len);
}
static void b_push_max(hw_cbor_wr *w)
{
  push_n(w, HW_BATCH_RECORDS_MAX, 1);
}
static void b_push_over(hw_cbor_wr *w)
{
  push_n(w, HW_BATCH_RECORDS_MAX + 1, 1);
}
static void b_push_empty_rec(hw_cbor_wr *w)
{
  push_n(w, 1, 0);
}
static void b_push_rec_max(hw_cbor_wr *w)
{
  push_n(w, 1, HW_RECORD_MAX);
}
static void b_push_rec_over(hw_cbor_wr *w)
{
  push_n(w, 1, HW_RECORD_MAX + 1);
}
static void b_push_rec_text(hw_cbor_wr *w)
{
  hdr(w, 3, 2);
  ku(w, 0, 1);
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_array(w, 1);
  hw_cbor_wr_text(w, "a", 1);
}
static void b_push_huge_count(hw_cbor_wr *w)
{
  hdr(w, 3, 2);
  ku(w, 0, 1);
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_array(w, 0xffffffffu);
}
static void b_push_no_records(hw_cbor_wr *w)
{
  hdr(w, 3, 1);
  ku(w, 0, 1);
}

static void b_pull_max(hw_cbor_wr *w)
{
  hdr(w, 5, 1);
  ku(w, 1, HW_PULL_MAX_RECORDS);
}
static void b_pull_over(hw_cbor_wr *w)
{
  hdr(w, 5, 1);
  ku(w, 1, HW_PULL_MAX_RECORDS + 1);
}
static void b_pull_zero(hw_cbor_wr *w)
{
  hdr(w, 5, 1);
  ku(w, 1, 0);
}
static void b_pull_cursor_after(hw_cbor_wr *w)
{
  hdr(w, 5, 2);
  ku(w, 1, 5);
  hw_cbor_wr_uint(w, 0);
  cursor(w);
}

static void batch_n(hw_cbor_wr *w, unsigned removals, size_t id_len, int more)
{
  hdr(w, 6, 4);
  hw_cbor_wr_uint(w, 0);
  hw_cbor_wr_array(w, 0);
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_array(w, removals);
  for (unsigned i = 0; i < removals; i++)
    hw_cbor_wr_bytes(w, zeros, id_len);
  hw_cbor_wr_uint(w, 2);
  cursor(w);
  hw_cbor_wr_uint(w, 3);
  if (more < 0)
    hw_cbor_wr_uint(w, 1);
  else
    hw_cbor_wr_bool(w, more);
}
/* A pull batch whose key 4 lists n decided entries of `items` items each. */
static void batch_decided_as(hw_cbor_wr *w, unsigned n, unsigned items, size_t digest_len)
{
  hdr(w, 6, 5);
  hw_cbor_wr_uint(w, 0);
  hw_cbor_wr_array(w, 0);
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_array(w, 0);
  hw_cbor_wr_uint(w, 2);
  cursor(w);
  hw_cbor_wr_uint(w, 3);
  hw_cbor_wr_bool(w, false);
  hw_cbor_wr_uint(w, 4);
  hw_cbor_wr_array(w, n);
  for (unsigned i = 0; i < n; i++) {
    hw_cbor_wr_array(w, items);
    hw_cbor_wr_bytes(w, zeros, 16);
    if (items > 1)
      hw_cbor_wr_bytes(w, zeros, digest_len);
    if (items > 2)
      hw_cbor_wr_bytes(w, zeros, digest_len);
  }
}
static void b_decided_max(hw_cbor_wr *w)
{
  batch_decided_as(w, HW_BATCH_RECORDS_MAX, 2, 32);
}
static void b_decided_over(hw_cbor_wr *w)
{
  batch_decided_as(w, HW_BATCH_RECORDS_MAX + 1, 2, 32);
}
static void b_decided_no_digest(hw_cbor_wr *w)
{
  batch_decided_as(w, 1, 1, 32);
}
static void b_decided_short_digest(hw_cbor_wr *w)
{
  batch_decided_as(w, 1, 2, 31);
}
/* protocol.md §5.1: `? 4: [+ decided]`, left out when there are none. */
static void b_decided_empty(hw_cbor_wr *w)
{
  batch_decided_as(w, 0, 2, 32);
}
/* A decided entry of three items is a wrong shape, not a limit. */
static void b_decided_three(hw_cbor_wr *w)
{
  batch_decided_as(w, 1, 3, 32);
}
static void b_batch_max(hw_cbor_wr *w)
{
  batch_n(w, HW_REMOVALS_MAX, 16, 0);
}
static void b_batch_over(hw_cbor_wr *w)
{
  batch_n(w, HW_REMOVALS_MAX + 1, 16, 0);
}
static void b_batch_id15(hw_cbor_wr *w)
{
  batch_n(w, 1, 15, 0);
}
static void b_batch_more_uint(hw_cbor_wr *w)
{
  batch_n(w, 0, 16, -1);
}

static void refusal_n(hw_cbor_wr *w, unsigned n, int bad_order)
{
  hdr(w, 2, 3);
  kb(w, 0, 16);
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_array(w, n);
  for (unsigned i = 0; i < n; i++) {
    hw_cbor_wr_array(w, 3);
    hw_cbor_wr_uint(w, bad_order && i == n - 1 ? 0 : i + 1);
    hw_cbor_wr_bytes(w, zeros, 16);
    hw_cbor_wr_bytes(w, zeros, 32);
  }
  ku(w, 2, 0);
}
static void b_refusal_max(hw_cbor_wr *w)
{
  refusal_n(w, HW_LINEAGE_DOTS_MAX, 0);
}
static void b_refusal_over(hw_cbor_wr *w)
{
  refusal_n(w, HW_LINEAGE_DOTS_MAX + 1, 0);
}
static void b_refusal_order(hw_cbor_wr *w)
{
  refusal_n(w, 3, 1);
}

static void ack1(hw_cbor_wr *w, uint64_t status, int seq, int merged, int code, size_t reason)
{
  hdr(w, 4, 2);
  ku(w, 0, 1);
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_array(w, 1);
  hw_cbor_wr_map(w, 1u + (seq > 0) + (merged > 0) + (code > 0) + (reason != (size_t)-1));
  ku(w, 0, status);
  if (seq)
    ku(w, 1, 10);
  if (merged)
    kb(w, 2, 3);
  if (code)
    ku(w, 3, 4);
  if (reason != (size_t)-1) {
    hw_cbor_wr_uint(w, 4);
    hw_cbor_wr_text(w, zeros, reason);
  }
}
static void b_ack_ok(hw_cbor_wr *w)
{
  ack1(w, 0, 1, 1, 0, (size_t)-1);
}
static void b_ack_no_seq(hw_cbor_wr *w)
{
  ack1(w, 0, 0, 1, 0, (size_t)-1);
}
static void b_ack_code_on_accept(hw_cbor_wr *w)
{
  ack1(w, 0, 1, 0, 1, (size_t)-1);
}
static void b_ack_refused_ok(hw_cbor_wr *w)
{
  ack1(w, 1, 0, 0, 1, 0);
}
static void b_ack_reason_on_accept(hw_cbor_wr *w)
{
  ack1(w, 0, 1, 0, 0, 3);
}
static void b_ack_refused_merged(hw_cbor_wr *w)
{
  ack1(w, 1, 0, 1, 1, (size_t)-1);
}
static void b_ack_refused_seq(hw_cbor_wr *w)
{
  ack1(w, 1, 1, 0, 1, (size_t)-1);
}
static void b_ack_refused_no_code(hw_cbor_wr *w)
{
  ack1(w, 2, 0, 0, 0, 5);
}
static void b_ack_status3(hw_cbor_wr *w)
{
  ack1(w, 3, 0, 0, 1, (size_t)-1);
}
static void b_ack_reason_max(hw_cbor_wr *w)
{
  ack1(w, 2, 0, 0, 1, HW_MSG_TEXT_MAX);
}
static void b_ack_reason_over(hw_cbor_wr *w)
{
  ack1(w, 2, 0, 0, 1, HW_MSG_TEXT_MAX + 1);
}

static void error_text(hw_cbor_wr *w, const void *p, size_t n)
{
  hdr(w, 8, 2);
  ku(w, 0, 5);
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_text(w, p, n);
}
static void b_error_max(hw_cbor_wr *w)
{
  error_text(w, zeros, HW_MSG_TEXT_MAX);
}
static void b_error_over(hw_cbor_wr *w)
{
  error_text(w, zeros, HW_MSG_TEXT_MAX + 1);
}
static void b_error_utf8(hw_cbor_wr *w)
{
  error_text(w, "\xff\xfe", 2);
}
static void b_error_bytes(hw_cbor_wr *w)
{
  hdr(w, 8, 2);
  ku(w, 0, 5);
  kb(w, 1, 3);
}

static void done_sig(hw_cbor_wr *w, size_t sig, unsigned items)
{
  hdr(w, 7, 2);
  kb(w, 0, 32);
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_array(w, items);
  hw_cbor_wr_bytes(w, zeros, 32);
  hw_cbor_wr_uint(w, 5);
  hw_cbor_wr_int(w, 1764600000000);
  if (items > 3)
    hw_cbor_wr_bytes(w, zeros, sig);
}
static void b_done_ok(hw_cbor_wr *w)
{
  done_sig(w, 64, 4);
}
static void b_done_no_head(hw_cbor_wr *w)
{
  hdr(w, 7, 1);
  kb(w, 0, 32);
}
static void b_hello_acked_over(hw_cbor_wr *w)
{
  hdr(w, 1, 6);
  ku(w, 0, 1);
  kb(w, 1, 16);
  ku(w, 2, 5);
  kb(w, 3, 32);
  ku(w, 6, 1);
  ku(w, 7, 6);
}
static void b_hello_no_acked(hw_cbor_wr *w)
{
  hdr(w, 1, 5);
  ku(w, 0, 1);
  kb(w, 1, 16);
  ku(w, 2, 5);
  kb(w, 3, 32);
  ku(w, 6, 1);
}
static void b_refusal_from_high(hw_cbor_wr *w)
{
  hdr(w, 2, 3);
  kb(w, 0, 16);
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_array(w, 1);
  hw_cbor_wr_array(w, 3);
  hw_cbor_wr_uint(w, 4);
  hw_cbor_wr_bytes(w, zeros, 16);
  hw_cbor_wr_bytes(w, zeros, 32);
  ku(w, 2, 4);
}
static void b_refusal_no_from(hw_cbor_wr *w)
{
  hdr(w, 2, 2);
  kb(w, 0, 16);
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_array(w, 0);
}
/* A done whose key 2 names n cases marked LATE-EDIT, ids of id_len bytes. */
static void done_flagged(hw_cbor_wr *w, unsigned n, size_t id_len)
{
  hdr(w, 7, 2);
  kb(w, 0, 32);
  hw_cbor_wr_uint(w, 2);
  hw_cbor_wr_array(w, n);
  for (unsigned i = 0; i < n; i++)
    hw_cbor_wr_bytes(w, zeros, id_len);
}
static void b_done_flagged_max(hw_cbor_wr *w)
{
  done_flagged(w, HW_FLAGGED_MAX, 16);
}
static void b_done_flagged_over(hw_cbor_wr *w)
{
  done_flagged(w, HW_FLAGGED_MAX + 1, 16);
}
/* protocol.md §5.1: `? 2: [+ case-id]`, left out when there are none. */
static void b_done_flagged_empty(hw_cbor_wr *w)
{
  done_flagged(w, 0, 16);
}
static void b_done_flagged_short_id(hw_cbor_wr *w)
{
  done_flagged(w, 1, 15);
}
static void b_done_sig63(hw_cbor_wr *w)
{
  done_sig(w, 63, 4);
}
static void b_done_head3(hw_cbor_wr *w)
{
  done_sig(w, 64, 3);
}

static const bad_case cases[] = {
    {"not an array", b_not_array, HW_EPROTO},
    {"array of 3", b_array3, HW_EPROTO},
    {"type 0", b_type0, HW_EPROTO},
    {"type 10", b_type10, HW_EPROTO},
    {"type as text", b_type_text, HW_EPROTO},
    {"body not a map", b_body_array, HW_EPROTO},
    {"goodbye", b_goodbye, HW_OK},
    {"goodbye, unknown key skipped", b_goodbye_unknown, HW_OK},
    {"text key", b_goodbye_text_key, HW_EPROTO},
    {"negative key", b_goodbye_neg_key, HW_EPROTO},
    {"duplicate key", b_goodbye_dup, HW_EPROTO},
    {"keys out of order", b_goodbye_order, HW_EPROTO},
    {"hello", b_hello_ok, HW_OK},
    {"hello, keys at max (unknown ones counted)", b_hello_keys_max, HW_OK},
    {"hello, keys at max + 1", b_hello_keys_over, HW_ELIMIT},
    {"hello, missing wall clock", b_hello_missing, HW_EPROTO},
    {"hello, duplicate counter", b_hello_dup, HW_EPROTO},
    {"hello, keys out of order", b_hello_order, HW_EPROTO},
    {"hello, replica id of 15 bytes", b_hello_id15, HW_EPROTO},
    {"hello, replica id of 17 bytes", b_hello_id17, HW_EPROTO},
    {"hello, version as text", b_hello_ver_text, HW_EPROTO},
    {"hello, negative counter", b_hello_counter_neg, HW_EPROTO},
    {"hello, inherits of one item", b_hello_inherits_short, HW_EPROTO},
    {"hello, cursor head of 32 bytes", b_hello_cursor_bad, HW_EPROTO},
    {"hello with cursor", b_hello_cursor_ok, HW_OK},
    {"hello, unknown value at max depth", b_hello_unknown_deep_ok, HW_OK},
    {"hello, unknown value past max depth", b_hello_unknown_too_deep, HW_ELIMIT},
    {"push, records at max", b_push_max, HW_OK},
    {"push, records at max + 1", b_push_over, HW_ELIMIT},
    {"push, empty record", b_push_empty_rec, HW_EPROTO},
    {"push, record at HW_RECORD_MAX", b_push_rec_max, HW_OK},
    {"push, record at HW_RECORD_MAX + 1", b_push_rec_over, HW_ELIMIT},
    {"push, record as text", b_push_rec_text, HW_EPROTO},
    {"push, count beyond the bytes left", b_push_huge_count, HW_EPROTO},
    {"push, no records key", b_push_no_records, HW_EPROTO},
    {"pull, max records at max", b_pull_max, HW_OK},
    {"pull, max records at max + 1", b_pull_over, HW_ELIMIT},
    {"pull, max records 0", b_pull_zero, HW_EPROTO},
    {"pull, cursor key after max key", b_pull_cursor_after, HW_EPROTO},
    {"pull batch, removals at max", b_batch_max, HW_OK},
    {"pull batch, removals at max + 1", b_batch_over, HW_ELIMIT},
    {"pull batch, decided at max", b_decided_max, HW_OK},
    {"pull batch, decided at max + 1", b_decided_over, HW_ELIMIT},
    {"pull batch, decided without its digest", b_decided_no_digest, HW_EPROTO},
    {"pull batch, decided with a 31-byte digest", b_decided_short_digest, HW_EPROTO},
    {"pull batch, decided present but empty", b_decided_empty, HW_EPROTO},
    {"pull batch, decided entry of 3 items", b_decided_three, HW_EPROTO},
    {"pull batch, case id of 15 bytes", b_batch_id15, HW_EPROTO},
    {"pull batch, more as uint", b_batch_more_uint, HW_EPROTO},
    {"refusal, dots at max", b_refusal_max, HW_OK},
    {"refusal, dots at max + 1", b_refusal_over, HW_ELIMIT},
    {"refusal, counters not ascending", b_refusal_order, HW_EPROTO},
    {"ack, accepted with merged state", b_ack_ok, HW_OK},
    {"ack, accepted without seq", b_ack_no_seq, HW_EPROTO},
    {"ack, accepted with a code", b_ack_code_on_accept, HW_EPROTO},
    {"ack, refused with empty reason", b_ack_refused_ok, HW_OK},
    {"ack, accepted with a reason", b_ack_reason_on_accept, HW_EPROTO},
    {"ack, refused with a merged state", b_ack_refused_merged, HW_EPROTO},
    {"ack, refused with a seq", b_ack_refused_seq, HW_EPROTO},
    {"ack, quarantined without code", b_ack_refused_no_code, HW_EPROTO},
    {"ack, status 3", b_ack_status3, HW_EPROTO},
    {"ack, reason at max", b_ack_reason_max, HW_OK},
    {"ack, reason at max + 1", b_ack_reason_over, HW_ELIMIT},
    {"error, message at max", b_error_max, HW_OK},
    {"error, message at max + 1", b_error_over, HW_ELIMIT},
    {"error, message not UTF-8", b_error_utf8, HW_EPROTO},
    {"error, message as bytes", b_error_bytes, HW_EPROTO},
    {"done", b_done_ok, HW_OK},
    {"done without a signed head", b_done_no_head, HW_OK},
    {"done, LATE-EDIT cases at max", b_done_flagged_max, HW_OK},
    {"done, LATE-EDIT cases at max + 1", b_done_flagged_over, HW_ELIMIT},
    {"done, an empty LATE-EDIT list", b_done_flagged_empty, HW_EPROTO},
    {"done, a LATE-EDIT case id of 15 bytes", b_done_flagged_short_id, HW_EPROTO},
    {"hello, acked above counter", b_hello_acked_over, HW_EPROTO},
    {"hello without acked", b_hello_no_acked, HW_EPROTO},
    {"refusal, a dot not above from", b_refusal_from_high, HW_EPROTO},
    {"refusal without from", b_refusal_no_from, HW_EPROTO},
    {"done, signature of 63 bytes", b_done_sig63, HW_EPROTO},
    {"done, head of 3 items", b_done_head3, HW_EPROTO},
};

static void test_hostile(void)
{
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hw_cbor_wr w;
    uint8_t *p;
    size_t len;
    int rc;

    hw_cbor_wr_init(&w, SIZE_MAX);
    cases[i].build(&w);
    CHECK_OK(hw_cbor_wr_finish(&w));
    p = hw_cbor_wr_take(&w, &len);
    CHECK(p != NULL);
    rc = decode(p, len);
    if (rc != cases[i].want)
      fprintf(stderr, "case: %s\n", cases[i].what);
    CHECK_ERR(rc, cases[i].want);
    hw_free(p);
    hw_cbor_wr_close(&w);
  }
}

/* The whole message is bounded before anything is read. */
static void test_message_limit(void)
{
  hw_arena a;
  hw_msg m;

  hw_arena_init(&a, NULL, 0, SIZE_MAX);
  CHECK_ERR(hw_msg_decode(zeros, (size_t)HW_APP_MSG_MAX + 1, &a, &m), HW_ELIMIT);
  hw_arena_close(&a);
}

/* An arena too small for the arrays: HW_ENOMEM, zeroed output, at every cap. */
static void test_arena(void)
{
  hw_msg m, out;
  size_t len;
  uint8_t *p;

  for (int k = 0; k < HW_SAMPLE_COUNT; k++) {
    sample_msg(k, &m);
    p = encode(&m, &len);
    for (size_t cap = 0;; cap += 16) {
      hw_arena a;
      int rc;
      hw_arena_init(&a, NULL, 0, cap);
      rc = hw_msg_decode(p, len, &a, &out);
      hw_arena_close(&a);
      if (rc == HW_OK)
        break;
      CHECK_ERR(rc, HW_ENOMEM);
      CHECK_EQ(out.type, 0);
      CHECK(cap < 65536);
    }
    hw_free(p);
  }
}

static void test_encoder_refusals(void)
{
  hw_msg m;
  hw_cbor_wr w;
  hw_bytes empty = {sample_rec1, 0};
  hw_accepted_dot dots[2];

  hw_cbor_wr_init(&w, SIZE_MAX);
  sample_msg(3, &m);
  m.u.push.n_records = HW_BATCH_RECORDS_MAX + 1;
  CHECK_ERR(hw_msg_encode(&m, &w), HW_EINVAL);
  m.u.push.n_records = 1;
  m.u.push.records = &empty;
  CHECK_ERR(hw_msg_encode(&m, &w), HW_EINVAL);
  sample_msg(5, &m);
  m.u.pull.max_records = 0;
  CHECK_ERR(hw_msg_encode(&m, &w), HW_EINVAL);
  sample_msg(8, &m);
  m.u.error.message.len = HW_MSG_TEXT_MAX + 1;
  m.u.error.message.p = zeros;
  CHECK_ERR(hw_msg_encode(&m, &w), HW_EINVAL);
  /* What the decoder refuses as invalid UTF-8 (protocol.md §5.1 `text`),
   * the encoder refuses too: an error message and a refusal reason. */
  m.u.error.message = (hw_bytes){(const uint8_t *)"bad \xff text", 10};
  CHECK_ERR(hw_msg_encode(&m, &w), HW_EINVAL);
  m.u.error.message = (hw_bytes){(const uint8_t *)"\xed\xa0\x80", 3}; /* a surrogate */
  CHECK_ERR(hw_msg_encode(&m, &w), HW_EINVAL);
  m.u.error.message = (hw_bytes){(const uint8_t *)"\xc3\xa9t\xc3\xa9", 6};
  CHECK_OK(hw_msg_encode(&m, &w));
  hw_cbor_wr_close(&w);
  hw_cbor_wr_init(&w, SIZE_MAX);
  sample_msg(4, &m);
  {
    hw_ack_entry e[3];
    memcpy(e, m.u.ack.entries, sizeof e);
    e[2].reason = (hw_bytes){(const uint8_t *)"\xc0\xaf", 2}; /* overlong '/' */
    m.u.ack.entries = e;
    CHECK_ERR(hw_msg_encode(&m, &w), HW_EINVAL);
  }
  /* The listed dots are above `from` (protocol.md §5.1 lineage-refusal):
   * sample 2 lists counters 1, 11, 21. */
  sample_msg(2, &m);
  m.u.refusal.from = 1;
  CHECK_ERR(hw_msg_encode(&m, &w), HW_EINVAL);
  m.u.refusal.from = 21;
  CHECK_ERR(hw_msg_encode(&m, &w), HW_EINVAL);
  m.u.refusal.from = 0;
  CHECK_OK(hw_msg_encode(&m, &w));
  m.u.refusal.n_dots = 0; /* nothing listed: any from */
  m.u.refusal.from = 99;
  CHECK_OK(hw_msg_encode(&m, &w));
  hw_cbor_wr_close(&w);
  hw_cbor_wr_init(&w, SIZE_MAX);
  sample_msg(2, &m);
  memset(dots, 0, sizeof dots);
  m.u.refusal.n_dots = 2;
  m.u.refusal.dots = dots; /* equal counters */
  CHECK_ERR(hw_msg_encode(&m, &w), HW_EINVAL);
  sample_msg(4, &m);
  {
    hw_ack_entry e = {.status = (hw_ack_status)5};
    m.u.ack.n_entries = 1;
    m.u.ack.entries = &e;
    CHECK_ERR(hw_msg_encode(&m, &w), HW_EINVAL);
  }
  m.type = (hw_msg_type)42;
  CHECK_ERR(hw_msg_encode(&m, &w), HW_EINVAL);
  hw_cbor_wr_close(&w);
  /* The writer's own limit surfaces as its error. */
  {
    uint8_t small[8];
    sample_msg(0, &m);
    hw_cbor_wr_init_fixed(&w, small, sizeof small);
    CHECK_ERR(hw_msg_encode(&m, &w), HW_ELIMIT);
  }
}

/* Logs name the codes as protocol.md §5.9 does. */
static void test_code_names(void)
{
  CHECK(strcmp(hw_msg_code_name(HW_CODE_INTERNAL), "INTERNAL") == 0);
  CHECK(strcmp(hw_msg_code_name(HW_CODE_RETIRED), "RETIRED") == 0);
  CHECK(strcmp(hw_msg_code_name(HW_CODE_BUSY), "BUSY") == 0);
  CHECK(strcmp(hw_msg_code_name(HW_CODE_UNKNOWN_EPOCH), "UNKNOWN_EPOCH") == 0);
  for (uint64_t c = HW_CODE_INTERNAL; c <= HW_CODE_UNKNOWN_EPOCH; c++)
    CHECK(strcmp(hw_msg_code_name(c), "?") != 0);
  CHECK(strcmp(hw_msg_code_name(0), "?") == 0);
  CHECK(strcmp(hw_msg_code_name(HW_CODE_UNKNOWN_EPOCH + 1), "?") == 0);
  CHECK(strcmp(hw_msg_code_name(UINT64_MAX), "?") == 0);
}

int main(void)
{
  test_code_names();
  test_roundtrip();
  test_refusal_more();
  test_hostile();
  test_message_limit();
  test_arena();
  test_encoder_refusals();
  printf("msg: ok\n");
  return 0;
}
