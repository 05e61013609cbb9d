/* Frames and the channel state machine: handshake through the channel,
 * fragmentation at and around every size boundary, the application-message
 * limit at max and max + 1, hostile fragments (each refused, and the channel
 * refuses use afterwards), decrypt failure is final, goodbye versus
 * truncation at every byte, wrong pin, and an out-of-memory loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "homeward/crypto.h"
#include "homeward/mem.h"
#include "homeward/proto/chan.h"

static hw_noise_key *dev_key, *srv_key;
static uint8_t srv_pub[32], dev_pub[32];

/* Move everything `from` has to send into `to`, collecting at most one
 * message per feed into got[] (copied). Returns the first error. */
typedef struct inbox {
  uint8_t *msg[64];
  size_t len[64];
  bool final[64];
  int n;
} inbox;

static void inbox_clear(inbox *b)
{
  for (int i = 0; i < b->n; i++)
    free(b->msg[i]);
  b->n = 0;
}

static int pump(hw_chan *from, hw_chan *to, inbox *box, size_t chunk)
{
  for (;;) {
    hw_bytes out = hw_chan_pending(from);
    size_t off = 0;
    if (out.len == 0)
      return 0;
    /* Copy first: feeding may not alias the sender's buffer in real use. */
    uint8_t *copy = malloc(out.len);
    size_t total = out.len;
    CHECK(copy != NULL);
    memcpy(copy, out.p, out.len);
    hw_chan_consume(from, out.len);
    while (off < total) {
      size_t n = total - off < chunk ? total - off : chunk, used = 0, at = 0;
      hw_bytes msg = {0};
      while (at < n || msg.p) { /* a batch hands out one message per call */
        bool fin;
        int rc = hw_chan_feed(to, copy + off + at, n - at, &used, &msg, &fin);
        if (rc) {
          free(copy);
          return rc;
        }
        at += used;
        if (msg.p) {
          CHECK(box && box->n < 64);
          box->msg[box->n] = malloc(msg.len);
          CHECK(box->msg[box->n] != NULL);
          memcpy(box->msg[box->n], msg.p, msg.len);
          box->len[box->n] = msg.len;
          box->final[box->n] = fin;
          box->n++;
        }
      }
      off += n;
    }
    free(copy);
  }
}

static void connect(hw_chan **d, hw_chan **s, const uint8_t *token)
{
  uint8_t k[32], h1[64], h2[64], t[16];

  CHECK_OK(hw_chan_new_device(d, dev_key, srv_pub, token));
  CHECK_OK(hw_chan_new_server(s, srv_key));
  CHECK_EQ(hw_chan_get_state(*d), HW_CHAN_HANDSHAKE);
  CHECK_ERR(hw_chan_peer_key(*s, k), HW_EINVAL);
  CHECK_ERR(hw_chan_send(*d, (const uint8_t *)"x", 1, 0), HW_EINVAL);
  CHECK_OK(pump(*d, *s, NULL, SIZE_MAX));
  CHECK_EQ(hw_chan_get_state(*s), HW_CHAN_HANDSHAKE);
  CHECK_OK(pump(*s, *d, NULL, SIZE_MAX));
  CHECK_EQ(hw_chan_get_state(*d), HW_CHAN_OPEN);
  CHECK_OK(pump(*d, *s, NULL, SIZE_MAX));
  CHECK_EQ(hw_chan_get_state(*s), HW_CHAN_OPEN);
  CHECK_OK(hw_chan_peer_key(*s, k));
  CHECK(memcmp(k, dev_pub, 32) == 0);
  CHECK_OK(hw_chan_peer_key(*d, k));
  CHECK(memcmp(k, srv_pub, 32) == 0);
  CHECK_OK(hw_chan_handshake_hash(*s, h1));
  CHECK_OK(hw_chan_handshake_hash(*d, h2));
  CHECK(memcmp(h1, h2, 64) == 0);
  if (token) {
    CHECK_OK(hw_chan_token(*s, t));
    CHECK(memcmp(t, token, 16) == 0);
  } else {
    CHECK_ERR(hw_chan_token(*s, t), HW_ENOENT);
  }
  CHECK_ERR(hw_chan_token(*d, t), HW_EINVAL);
}

static void test_frame_peek(void)
{
  size_t n;
  uint8_t h[4];

  CHECK_ERR(hw_frame_peek((const uint8_t *)"\0\0\0", 3, &n), HW_EAGAIN);
  CHECK_ERR(hw_frame_peek((const uint8_t *)"\0\0\0\0", 4, &n), HW_EPROTO);
  hw_frame_put_header(h, HW_FRAME_MAX);
  CHECK_OK(hw_frame_peek(h, 4, &n));
  CHECK_EQ(n, HW_FRAME_MAX);
  hw_frame_put_header(h, HW_FRAME_MAX + 1);
  CHECK_ERR(hw_frame_peek(h, 4, &n), HW_ELIMIT);
  CHECK_EQ(n, 0);
  hw_frame_put_header(h, 0xffffffffu);
  CHECK_ERR(hw_frame_peek(h, 4, &n), HW_ELIMIT);
  hw_frame_put_header(h, 1);
  CHECK_OK(hw_frame_peek(h, 4, &n));
  CHECK_EQ(n, 1);
}

static void roundtrip(hw_chan *d, hw_chan *s, size_t len, size_t chunk)
{
  uint8_t *m = malloc(len);
  inbox box = {0};

  CHECK(m != NULL);
  for (size_t i = 0; i < len; i++)
    m[i] = (uint8_t)(i * 31 + len);
  CHECK_OK(hw_chan_send(d, m, len, 0));
  CHECK_OK(pump(d, s, &box, chunk));
  CHECK_EQ(box.n, 1);
  CHECK_EQ(box.len[0], len);
  CHECK(memcmp(box.msg[0], m, len) == 0);
  CHECK(!box.final[0]);
  inbox_clear(&box);
  /* And back. */
  CHECK_OK(hw_chan_send(s, m, len, 0));
  CHECK_OK(pump(s, d, &box, chunk));
  CHECK_EQ(box.n, 1);
  CHECK(box.len[0] == len && memcmp(box.msg[0], m, len) == 0);
  inbox_clear(&box);
  free(m);
}

static void test_sizes(void)
{
  static const size_t sizes[] = {1,
                                 2,
                                 100,
                                 HW_FRAG_SINGLE_MAX - 1,
                                 HW_FRAG_SINGLE_MAX,
                                 HW_FRAG_SINGLE_MAX + 1,
                                 HW_FRAG_FIRST_MAX + HW_FRAG_SINGLE_MAX,
                                 HW_FRAG_FIRST_MAX + HW_FRAG_SINGLE_MAX + 1,
                                 65536,
                                 300000};
  hw_chan *d, *s;
  uint8_t tok[16] = {9, 8, 7};

  connect(&d, &s, tok);
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    roundtrip(d, s, sizes[i], SIZE_MAX);
    roundtrip(d, s, sizes[i], 7777); /* split reads */
  }
  roundtrip(d, s, 300, 1); /* one byte at a time */
  /* The application-message limit: max passes, max + 1 is refused at send. */
  roundtrip(d, s, HW_APP_MSG_MAX, SIZE_MAX);
  {
    uint8_t *big = calloc(1, HW_APP_MSG_MAX + 1);
    CHECK(big != NULL);
    CHECK_ERR(hw_chan_send(d, big, HW_APP_MSG_MAX + 1, 0), HW_ELIMIT);
    CHECK_ERR(hw_chan_send(d, big, 0, 0), HW_EINVAL);
    CHECK_EQ(hw_chan_get_state(d), HW_CHAN_OPEN); /* a refused send is not final */
    free(big);
  }
  roundtrip(d, s, 5, SIZE_MAX);
  hw_chan_free(d);
  hw_chan_free(s);
}

/* The goodbye: the final message ends the channel cleanly; nothing may follow. */
static void test_final(void)
{
  hw_chan *d, *s;
  inbox box = {0};
  size_t used;
  hw_bytes msg;
  bool fin;

  connect(&d, &s, NULL);
  CHECK_OK(hw_chan_send(d, (const uint8_t *)"hello", 5, 0));
  CHECK_OK(hw_chan_send(d, (const uint8_t *)"bye", 3, HW_SEND_FINAL));
  CHECK_ERR(hw_chan_send(d, (const uint8_t *)"more", 4, 0), HW_ECLOSED);
  CHECK_OK(pump(d, s, &box, SIZE_MAX));
  CHECK_EQ(box.n, 2);
  CHECK(!box.final[0] && box.final[1]);
  CHECK_EQ(hw_chan_get_state(s), HW_CHAN_ENDED);
  CHECK_OK(hw_chan_eof(s));
  CHECK_OK(hw_chan_eof(d)); /* the device ended it */
  inbox_clear(&box);
  CHECK_OK(hw_chan_feed(s, NULL, 0, &used, &msg, &fin));
  CHECK_ERR(hw_chan_feed(s, (const uint8_t *)"\0", 1, &used, &msg, &fin), HW_EPROTO);
  CHECK_EQ(hw_chan_get_state(s), HW_CHAN_FAILED);
  hw_chan_free(d);
  hw_chan_free(s);

  /* A large final message (fragmented) carries the flag on its last fragment. */
  connect(&d, &s, NULL);
  {
    size_t len = 3 * HW_FRAG_SINGLE_MAX;
    uint8_t *m = calloc(1, len);
    CHECK(m != NULL);
    CHECK_OK(hw_chan_send(s, m, len, HW_SEND_FINAL));
    CHECK_OK(pump(s, d, &box, SIZE_MAX));
    CHECK(box.n == 1 && box.final[0] && box.len[0] == len);
    CHECK_EQ(hw_chan_get_state(d), HW_CHAN_ENDED);
    inbox_clear(&box);
    free(m);
  }
  hw_chan_free(d);
  hw_chan_free(s);
}

/* Cut the device's whole stream (handshake, a message, goodbye) at every
 * byte: the server reports a truncation unless the goodbye arrived. */
static void test_truncation_every_byte(void)
{
  size_t total = 0;

  for (size_t cut = 0;; cut++) {
    hw_chan *d, *s;
    inbox box = {0};
    size_t sent = 0;
    int rc = 0;

    CHECK_OK(hw_chan_new_device(&d, dev_key, srv_pub, NULL));
    CHECK_OK(hw_chan_new_server(&s, srv_key));
    for (int round = 0; round < 3 && rc == 0; round++) {
      if (round == 2) {
        CHECK_OK(hw_chan_send(d, (const uint8_t *)"hello", 5, 0));
        CHECK_OK(hw_chan_send(d, (const uint8_t *)"goodbye", 7, HW_SEND_FINAL));
      }
      hw_bytes out = hw_chan_pending(d);
      size_t n = out.len, take = total && cut - sent < n ? cut - sent : n, at = 0;
      hw_bytes msg = {0};
      if (total && sent >= cut)
        take = 0;
      while (at < take || msg.p) {
        size_t used;
        bool fin;
        rc = hw_chan_feed(s, out.p + at, take - at, &used, &msg, &fin);
        CHECK_OK(rc);
        at += used;
      }
      sent += take;
      hw_chan_consume(d, n);
      if (round == 0) {
        if (hw_chan_get_state(s) == HW_CHAN_HANDSHAKE && hw_chan_pending(s).len)
          CHECK_OK(pump(s, d, &box, SIZE_MAX));
        else
          break; /* the server never saw message 1 */
      }
    }
    if (!total) {
      total = sent; /* the first pass measures the full stream */
      CHECK_OK(hw_chan_eof(s));
    } else if (cut < total) {
      CHECK_ERR(hw_chan_eof(s), HW_EPROTO);
    } else {
      CHECK_OK(hw_chan_eof(s));
    }
    inbox_clear(&box);
    hw_chan_free(d);
    hw_chan_free(s);
    if (cut >= total && cut > 0)
      break;
  }
  CHECK(total > 150);
}

/* A device-side peer built from the Noise API, so the test can send
 * arbitrary (authenticated) fragments to a server channel. */
typedef struct raw_peer {
  hw_chan *s;
  hw_noise_cs *tx, *rx;
} raw_peer;

static void raw_connect(raw_peer *r)
{
  hw_noise_hs *hs;
  uint8_t buf[300], pl[16], h[64];
  size_t n, pn, used;
  hw_bytes msg, out;
  bool fin;

  CHECK_OK(hw_chan_new_server(&r->s, srv_key));
  CHECK_OK(hw_noise_hs_new(&hs, HW_NOISE_INITIATOR, dev_key, srv_pub));
  CHECK_OK(hw_noise_hs_write(hs, NULL, 0, buf + 4, sizeof buf - 4, &n));
  hw_frame_put_header(buf, (uint32_t)n);
  CHECK_OK(hw_chan_feed(r->s, buf, n + 4, &used, &msg, &fin));
  out = hw_chan_pending(r->s);
  CHECK_EQ(out.len, 100);
  CHECK_OK(hw_noise_hs_read(hs, out.p + 4, out.len - 4, pl, sizeof pl, &pn));
  hw_chan_consume(r->s, out.len);
  CHECK_OK(hw_noise_hs_write(hs, NULL, 0, buf + 4, sizeof buf - 4, &n));
  hw_frame_put_header(buf, (uint32_t)n);
  CHECK_OK(hw_chan_feed(r->s, buf, n + 4, &used, &msg, &fin));
  CHECK_EQ(hw_chan_get_state(r->s), HW_CHAN_OPEN);
  CHECK_OK(hw_noise_hs_split(hs, &r->tx, &r->rx, h));
  hw_noise_hs_free(hs);
}

static void raw_close(raw_peer *r)
{
  hw_chan_free(r->s);
  hw_noise_cs_free(r->tx);
  hw_noise_cs_free(r->rx);
}

/* Seal pt as one transport frame and feed it; returns the feed's result. */
static int raw_send(raw_peer *r, const uint8_t *pt, size_t len, hw_bytes *msg, bool *fin)
{
  uint8_t *f = malloc(len + 4 + 16);
  size_t used;
  int rc;

  CHECK(f != NULL);
  memcpy(f + 4, pt, len);
  CHECK_OK(hw_noise_cs_encrypt(r->tx, f + 4, len, f + 4));
  hw_frame_put_header(f, (uint32_t)(len + 16));
  rc = hw_chan_feed(r->s, f, len + 20, &used, msg, fin);
  free(f);
  return rc;
}

typedef struct frag_case {
  const char *what;
  uint8_t pt[2][16]; /* up to two fragments; the second may be empty */
  size_t len[2];
  int want; /* the result of the last fragment fed */
} frag_case;

#define T(x) 0x00, 0x00, (uint8_t)((x) >> 8), (uint8_t)(x)
static const frag_case frag_cases[] = {
    {"unknown flag bit", {{0x08, 'a'}}, {2, 0}, HW_EPROTO},
    {"high flag bit", {{0x80, 'a'}}, {2, 0}, HW_EPROTO},
    {"empty single message", {{0x00}}, {1, 0}, HW_EPROTO},
    {"empty final message", {{HW_FRAG_FINAL}}, {1, 0}, HW_EPROTO},
    {"more without first", {{HW_FRAG_MORE, 'a'}}, {2, 0}, HW_EPROTO},
    {"first without more", {{HW_FRAG_FIRST, T(3), 'a'}}, {6, 0}, HW_EPROTO},
    {"first, total cut short", {{HW_FRAG_FIRST | HW_FRAG_MORE, 0, 0, 3}}, {4, 0}, HW_EPROTO},
    {"more and final",
     {{HW_FRAG_MORE | HW_FRAG_FINAL | HW_FRAG_FIRST, T(3), 'a'}},
     {6, 0},
     HW_EPROTO},
    {"first with no data", {{HW_FRAG_FIRST | HW_FRAG_MORE, T(3)}}, {5, 0}, HW_EPROTO},
    {"total not above the first fragment",
     {{HW_FRAG_FIRST | HW_FRAG_MORE, T(2), 'a', 'b'}},
     {7, 0},
     HW_EPROTO},
    {"second fragment past total",
     {{HW_FRAG_FIRST | HW_FRAG_MORE, T(3), 'a', 'b'}, {0x00, 'c', 'd'}},
     {7, 3},
     HW_EPROTO},
    {"last fragment short of total",
     {{HW_FRAG_FIRST | HW_FRAG_MORE, T(4), 'a', 'b'}, {0x00, 'c'}},
     {7, 2},
     HW_EPROTO},
    {"first again inside a message",
     {{HW_FRAG_FIRST | HW_FRAG_MORE, T(4), 'a', 'b'}, {HW_FRAG_FIRST | HW_FRAG_MORE, T(4), 'c'}},
     {7, 6},
     HW_EPROTO},
    {"empty continuation",
     {{HW_FRAG_FIRST | HW_FRAG_MORE, T(4), 'a', 'b'}, {HW_FRAG_MORE}},
     {7, 1},
     HW_EPROTO},
    {"more although complete",
     {{HW_FRAG_FIRST | HW_FRAG_MORE, T(4), 'a', 'b'}, {HW_FRAG_MORE, 'c', 'd'}},
     {7, 3},
     HW_EPROTO},
    {"well-formed pair",
     {{HW_FRAG_FIRST | HW_FRAG_MORE, T(4), 'a', 'b'}, {0x00, 'c', 'd'}},
     {7, 3},
     HW_OK},
    {"single", {{0x00, 'z'}}, {2, 0}, HW_OK},
    {"batch of one", {{HW_FRAG_BATCH, 1, 'a'}}, {3, 0}, HW_EPROTO},
    {"batch, empty", {{HW_FRAG_BATCH}}, {1, 0}, HW_EPROTO},
    {"batch, zero length", {{HW_FRAG_BATCH, 1, 'a', 0}}, {4, 0}, HW_EPROTO},
    {"batch, length past the end", {{HW_FRAG_BATCH, 1, 'a', 2, 'b'}}, {5, 0}, HW_EPROTO},
    {"batch, non-minimal prefix", {{HW_FRAG_BATCH, 0x81, 0x00, 'a', 1, 'b'}}, {6, 0}, HW_EPROTO},
    {"batch, three-byte prefix", {{HW_FRAG_BATCH, 0x81, 0x80, 0x01, 'a'}}, {5, 0}, HW_EPROTO},
    {"batch, prefix cut short", {{HW_FRAG_BATCH, 1, 'a', 0x81}}, {4, 0}, HW_EPROTO},
    {"batch, length at HW_BATCH_MSG_MAX + 1",
     {{HW_FRAG_BATCH, 1, 'a', (uint8_t)(0x80 | ((HW_BATCH_MSG_MAX + 1) & 0x7f)),
       (uint8_t)((HW_BATCH_MSG_MAX + 1) >> 7), 'b'}},
     {6, 0},
     HW_ELIMIT},
    {"batch with more", {{HW_FRAG_BATCH | HW_FRAG_MORE, 1, 'a', 1, 'b'}}, {5, 0}, HW_EPROTO},
    {"batch with first",
     {{HW_FRAG_BATCH | HW_FRAG_FIRST | HW_FRAG_MORE, T(9), 1, 'a', 1, 'b'}},
     {9, 0},
     HW_EPROTO},
    {"batch inside a fragmented message",
     {{HW_FRAG_FIRST | HW_FRAG_MORE, T(4), 'a', 'b'}, {HW_FRAG_BATCH, 1, 'c', 1, 'd'}},
     {7, 5},
     HW_EPROTO},
    {"batch of two", {{HW_FRAG_BATCH, 1, 'a', 2, 'b', 'c'}}, {6, 0}, HW_OK},
    {"final batch of two", {{HW_FRAG_BATCH | HW_FRAG_FINAL, 1, 'a', 1, 'b'}}, {5, 0}, HW_OK},
};

static void test_hostile_fragments(void)
{
  for (size_t i = 0; i < sizeof frag_cases / sizeof frag_cases[0]; i++) {
    const frag_case *c = &frag_cases[i];
    raw_peer r;
    hw_bytes msg;
    bool fin;
    int rc;

    raw_connect(&r);
    rc = raw_send(&r, c->pt[0], c->len[0], &msg, &fin);
    if (c->len[1] && rc == HW_OK)
      rc = raw_send(&r, c->pt[1], c->len[1], &msg, &fin);
    if (rc != c->want)
      fprintf(stderr, "case: %s\n", c->what);
    CHECK_ERR(rc, c->want);
    if (c->want) {
      uint8_t ok[2] = {0, 'x'};
      CHECK_EQ(hw_chan_get_state(r.s), HW_CHAN_FAILED);
      CHECK_ERR(raw_send(&r, ok, 2, &msg, &fin), HW_ECLOSED);
    } else {
      CHECK(msg.p != NULL);
    }
    raw_close(&r);
  }
}

/* Totals over the limit are refused before allocating: with every
 * allocation failing, the answer is still HW_ELIMIT. At the limit the
 * allocation is made. */
static void test_total_limit(void)
{
  raw_peer r;
  hw_bytes msg;
  bool fin;
  uint8_t pt[7] = {HW_FRAG_FIRST | HW_FRAG_MORE, 0, 0, 0, 0, 'a', 'b'};
  uint32_t t = HW_APP_MSG_MAX + 1;

  pt[1] = (uint8_t)(t >> 24), pt[2] = (uint8_t)(t >> 16), pt[3] = (uint8_t)(t >> 8),
  pt[4] = (uint8_t)t;
  raw_connect(&r);
  hw_test_fail_alloc_after(0);
  CHECK_ERR(raw_send(&r, pt, sizeof pt, &msg, &fin), HW_ELIMIT);
  hw_test_fail_alloc_after(-1);
  raw_close(&r);

  t = HW_APP_MSG_MAX;
  pt[1] = (uint8_t)(t >> 24), pt[2] = (uint8_t)(t >> 16), pt[3] = (uint8_t)(t >> 8),
  pt[4] = (uint8_t)t;
  raw_connect(&r);
  hw_test_fail_alloc_after(0);
  CHECK_ERR(raw_send(&r, pt, sizeof pt, &msg, &fin), HW_ENOMEM);
  hw_test_fail_alloc_after(-1);
  CHECK_EQ(hw_chan_get_state(r.s), HW_CHAN_FAILED);
  raw_close(&r);
  raw_connect(&r);
  CHECK_OK(raw_send(&r, pt, sizeof pt, &msg, &fin));
  raw_close(&r);
}

static void test_hostile_frames(void)
{
  hw_chan *d, *s;
  uint8_t buf[300];
  size_t used;
  hw_bytes msg, out;
  bool fin;

  /* Handshake frames of the wrong length. */
  static const size_t bad1[] = {1, 31, 33, 100};
  for (size_t i = 0; i < sizeof bad1 / sizeof bad1[0]; i++) {
    CHECK_OK(hw_chan_new_server(&s, srv_key));
    memset(buf, 0x42, sizeof buf);
    hw_frame_put_header(buf, (uint32_t)bad1[i]);
    CHECK_ERR(hw_chan_feed(s, buf, 4 + bad1[i], &used, &msg, &fin), HW_EPROTO);
    CHECK_ERR(hw_chan_feed(s, buf, 4, &used, &msg, &fin), HW_ECLOSED);
    hw_chan_free(s);
  }
  /* Zero-length and oversize frame headers. */
  CHECK_OK(hw_chan_new_server(&s, srv_key));
  CHECK_ERR(hw_chan_feed(s, (const uint8_t *)"\0\0\0\0", 4, &used, &msg, &fin), HW_EPROTO);
  hw_chan_free(s);
  CHECK_OK(hw_chan_new_server(&s, srv_key));
  CHECK_ERR(hw_chan_feed(s, (const uint8_t *)"\0\1\0\0", 4, &used, &msg, &fin), HW_ELIMIT);
  hw_chan_free(s);
  /* Message 2 of the wrong length at the device. */
  CHECK_OK(hw_chan_new_device(&d, dev_key, srv_pub, NULL));
  hw_frame_put_header(buf, 97);
  CHECK_ERR(hw_chan_feed(d, buf, 4 + 97, &used, &msg, &fin), HW_EPROTO);
  hw_chan_free(d);
  /* Message 3 with a 1-byte payload (neither empty nor a token). */
  {
    hw_noise_hs *hs;
    uint8_t pl[16];
    size_t n, pn;
    CHECK_OK(hw_chan_new_server(&s, srv_key));
    CHECK_OK(hw_noise_hs_new(&hs, HW_NOISE_INITIATOR, dev_key, srv_pub));
    CHECK_OK(hw_noise_hs_write(hs, NULL, 0, buf + 4, sizeof buf - 4, &n));
    hw_frame_put_header(buf, (uint32_t)n);
    CHECK_OK(hw_chan_feed(s, buf, n + 4, &used, &msg, &fin));
    out = hw_chan_pending(s);
    CHECK_OK(hw_noise_hs_read(hs, out.p + 4, out.len - 4, pl, sizeof pl, &pn));
    CHECK_OK(hw_noise_hs_write(hs, (const uint8_t *)"x", 1, buf + 4, sizeof buf - 4, &n));
    hw_frame_put_header(buf, (uint32_t)n);
    CHECK_ERR(hw_chan_feed(s, buf, n + 4, &used, &msg, &fin), HW_EPROTO);
    hw_noise_hs_free(hs);
    hw_chan_free(s);
  }
  /* A transport frame too short to hold a tag and a flag byte. */
  {
    raw_peer r;
    raw_connect(&r);
    hw_frame_put_header(buf, 16);
    memset(buf + 4, 0, 16);
    CHECK_ERR(hw_chan_feed(r.s, buf, 20, &used, &msg, &fin), HW_EPROTO);
    raw_close(&r);
  }
}

/* Any decrypt failure is final; a replayed frame fails to decrypt. */
static void test_decrypt_final(void)
{
  hw_chan *d, *s;
  hw_bytes out, msg;
  uint8_t *copy;
  size_t used, len;
  bool fin;

  connect(&d, &s, NULL);
  CHECK_OK(hw_chan_send(d, (const uint8_t *)"abc", 3, 0));
  out = hw_chan_pending(d);
  len = out.len;
  copy = malloc(len);
  CHECK(copy != NULL);
  memcpy(copy, out.p, len);
  hw_chan_consume(d, len);
  CHECK_OK(hw_chan_feed(s, copy, len, &used, &msg, &fin));
  CHECK(msg.p && msg.len == 3);
  CHECK_ERR(hw_chan_feed(s, copy, len, &used, &msg, &fin), HW_EAUTH); /* replay */
  CHECK_EQ(hw_chan_get_state(s), HW_CHAN_FAILED);
  CHECK_ERR(hw_chan_send(s, (const uint8_t *)"x", 1, 0), HW_ECLOSED);
  CHECK_ERR(hw_chan_eof(s), HW_EPROTO);
  hw_chan_free(s);
  hw_chan_free(d);

  /* A flipped bit anywhere in a transport frame's body. */
  for (size_t bit = 4 * 8; bit < len * 8; bit += 5) {
    connect(&d, &s, NULL);
    CHECK_OK(hw_chan_send(d, (const uint8_t *)"abc", 3, 0));
    out = hw_chan_pending(d);
    memcpy(copy, out.p, len);
    hw_chan_consume(d, len);
    copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    CHECK_ERR(hw_chan_feed(s, copy, len, &used, &msg, &fin), HW_EAUTH);
    CHECK_ERR(hw_chan_feed(s, copy, len, &used, &msg, &fin), HW_ECLOSED);
    hw_chan_free(s);
    hw_chan_free(d);
  }
  free(copy);
}

static void test_wrong_pin(void)
{
  hw_chan *d, *s;
  uint8_t pin[32];
  size_t before;

  memcpy(pin, srv_pub, 32);
  pin[0] ^= 1;
  CHECK_OK(hw_chan_new_device(&d, dev_key, pin, (const uint8_t *)"0123456789abcdef"));
  CHECK_OK(hw_chan_new_server(&s, srv_key));
  CHECK_OK(pump(d, s, NULL, SIZE_MAX));
  before = hw_chan_pending(d).len;
  CHECK_EQ(before, 0);
  CHECK_ERR(pump(s, d, NULL, SIZE_MAX), HW_EAUTH);
  CHECK_EQ(hw_chan_pending(d).len, 0); /* no message 3: identity and token never sent */
  CHECK_EQ(hw_chan_get_state(d), HW_CHAN_FAILED);
  hw_chan_free(d);
  hw_chan_free(s);
}

/* Corked messages share one transport message and arrive in order, one per
 * feed call; a large message flushes what is held first; FINAL lands on the
 * last message of the batch. */
static void test_cork(void)
{
  hw_chan *d, *s;
  inbox box = {0};
  static uint8_t big[HW_BATCH_MSG_MAX + 1];
  hw_bytes out, msg;
  size_t used;
  bool fin;

  connect(&d, &s, NULL);
  CHECK_OK(hw_chan_send(d, (const uint8_t *)"one", 3, HW_SEND_CORK));
  CHECK_OK(hw_chan_send(d, (const uint8_t *)"two", 3, HW_SEND_CORK));
  CHECK_EQ(hw_chan_pending(d).len, 0); /* held */
  CHECK_ERR(hw_chan_send(d, (const uint8_t *)"x", 1, HW_SEND_CORK | HW_SEND_FINAL), HW_EINVAL);
  CHECK_OK(hw_chan_send(d, (const uint8_t *)"three", 5, 0));
  out = hw_chan_pending(d);
  CHECK_EQ(out.len, 4 + 16 + 1 + (1 + 3) + (1 + 3) + (1 + 5)); /* one transport message */
  /* One message per call; the rest of the batch needs no more input. */
  CHECK_OK(hw_chan_feed(s, out.p, out.len, &used, &msg, &fin));
  CHECK(used == out.len && msg.len == 3 && memcmp(msg.p, "one", 3) == 0 && !fin);
  CHECK_OK(hw_chan_feed(s, NULL, 0, &used, &msg, &fin));
  CHECK(msg.len == 3 && memcmp(msg.p, "two", 3) == 0);
  CHECK_OK(hw_chan_feed(s, NULL, 0, &used, &msg, &fin));
  CHECK(msg.len == 5 && memcmp(msg.p, "three", 5) == 0);
  CHECK_OK(hw_chan_feed(s, NULL, 0, &used, &msg, &fin));
  CHECK(msg.p == NULL);
  hw_chan_consume(d, out.len);

  /* One held message is sent plainly; flush seals what is held. */
  CHECK_OK(hw_chan_send(d, (const uint8_t *)"solo", 4, HW_SEND_CORK));
  CHECK_OK(hw_chan_flush(d));
  CHECK_EQ(hw_chan_pending(d).len, 4 + 16 + 1 + 4);
  CHECK_OK(hw_chan_flush(d)); /* nothing held: no-op */
  CHECK_OK(pump(d, s, &box, SIZE_MAX));
  CHECK(box.n == 1 && box.len[0] == 4);
  inbox_clear(&box);

  /* At HW_BATCH_MSG_MAX a message is held; above it, it flushes and goes alone. */
  CHECK_OK(hw_chan_send(d, big, HW_BATCH_MSG_MAX, HW_SEND_CORK));
  CHECK_EQ(hw_chan_pending(d).len, 0);
  CHECK_OK(hw_chan_send(d, big, HW_BATCH_MSG_MAX + 1, HW_SEND_CORK));
  CHECK(hw_chan_pending(d).len > 0);
  CHECK_OK(hw_chan_send(d, (const uint8_t *)"tail", 4, 0));
  CHECK_OK(pump(d, s, &box, SIZE_MAX));
  CHECK_EQ(box.n, 3);
  CHECK(box.len[0] == HW_BATCH_MSG_MAX && box.len[1] == HW_BATCH_MSG_MAX + 1 && box.len[2] == 4);
  inbox_clear(&box);

  /* More held bytes than one transport message holds: several batches, in order. */
  for (int i = 0; i < 40; i++) {
    big[0] = (uint8_t)i;
    CHECK_OK(hw_chan_send(d, big, 3000, HW_SEND_CORK));
  }
  CHECK(hw_chan_pending(d).len > 0);
  CHECK_OK(hw_chan_flush(d));
  {
    int seen = 0;
    while (seen < 40) {
      CHECK_OK(pump(d, s, &box, SIZE_MAX));
      for (int i = 0; i < box.n; i++, seen++)
        CHECK(box.len[i] == 3000 && box.msg[i][0] == (uint8_t)seen);
      inbox_clear(&box);
      if (box.n == 0 && hw_chan_pending(d).len == 0)
        break;
    }
    CHECK_EQ(seen, 40);
  }

  /* A final batch: the channel ends with its last message. */
  CHECK_OK(hw_chan_send(s, (const uint8_t *)"ack", 3, HW_SEND_CORK));
  CHECK_OK(hw_chan_send(s, (const uint8_t *)"done", 4, HW_SEND_CORK));
  CHECK_OK(hw_chan_send(s, (const uint8_t *)"bye", 3, HW_SEND_FINAL));
  out = hw_chan_pending(s);
  CHECK_OK(hw_chan_feed(d, out.p, out.len, &used, &msg, &fin));
  CHECK(!fin && hw_chan_get_state(d) == HW_CHAN_OPEN);
  CHECK_OK(hw_chan_feed(d, NULL, 0, &used, &msg, &fin));
  CHECK(!fin && hw_chan_get_state(d) == HW_CHAN_OPEN);
  CHECK_OK(hw_chan_feed(d, NULL, 0, &used, &msg, &fin));
  CHECK(fin && msg.len == 3 && hw_chan_get_state(d) == HW_CHAN_ENDED);
  CHECK_OK(hw_chan_eof(d));
  hw_chan_free(d);
  hw_chan_free(s);
}

/* Between flights a channel keeps no cork and no large send buffer: an idle
 * server session costs its receive buffer only. */
static void test_buffers_released(void)
{
  static uint8_t big[65536];
  hw_chan *d, *s;
  inbox box = {0};
  hw_bytes msg;
  size_t used;
  bool fin;
  long base, bytes0 = hw_test_alloc_live_bytes();

  connect(&d, &s, NULL);
  /* A large message: its send buffer is freed once drained, and the
   * receiver's reassembly buffer at its next call. */
  CHECK_OK(hw_chan_send(s, big, sizeof big, 0));
  CHECK_OK(pump(s, d, &box, SIZE_MAX));
  CHECK_OK(hw_chan_feed(d, NULL, 0, &used, &msg, &fin));
  CHECK(box.n == 1 && box.len[0] == sizeof big);
  inbox_clear(&box);
  base = hw_test_alloc_live(); /* no send buffer, no cork */
  /* A corked flight: the cork is given back after the flush, the small
   * send buffer stays. */
  CHECK_OK(hw_chan_send(s, (const uint8_t *)"one", 3, HW_SEND_CORK));
  CHECK_EQ(hw_test_alloc_live(), base + 1); /* the cork */
  CHECK_OK(hw_chan_send(s, (const uint8_t *)"two", 3, 0));
  CHECK_OK(pump(s, d, &box, SIZE_MAX));
  CHECK_EQ(box.n, 2);
  inbox_clear(&box);
  /* The sender's send buffer (4 KiB) and the receiver's small receive
   * buffer stay. */
  CHECK_EQ(hw_test_alloc_live(), base + 2);
  /* Grown past TX_KEEP and drained: freed again; the receive buffer grown
   * to the large frames is freed at the receiver's next call. */
  CHECK_OK(hw_chan_send(s, big, sizeof big, 0));
  CHECK_OK(pump(s, d, &box, SIZE_MAX));
  CHECK_OK(hw_chan_feed(d, NULL, 0, &used, &msg, &fin));
  CHECK(box.n == 1 && box.len[0] == sizeof big);
  inbox_clear(&box);
  CHECK_EQ(hw_test_alloc_live(), base);
  /* Two idle channels after 64 KiB frames hold less than one frame: a
   * server keeps a thousand of them. */
  CHECK(hw_test_alloc_live_bytes() - bytes0 < (long)HW_FRAME_MAX / 4);
  hw_chan_free(d);
  hw_chan_free(s);
}

/* Every allocation failure surfaces as HW_ENOMEM and leaks nothing. */
static void test_oom(void)
{
  long live0 = hw_test_alloc_live();

  for (long n = 0;; n++) {
    hw_chan *d = NULL, *s = NULL;
    inbox box = {0};
    static uint8_t m[150000];
    int rc;

    hw_test_fail_alloc_after(n);
    rc = hw_chan_new_device(&d, dev_key, srv_pub, NULL);
    if (!rc)
      rc = hw_chan_new_server(&s, srv_key);
    if (!rc)
      rc = pump(d, s, NULL, SIZE_MAX);
    if (!rc)
      rc = pump(s, d, NULL, SIZE_MAX);
    if (!rc)
      rc = pump(d, s, NULL, SIZE_MAX);
    if (!rc)
      rc = hw_chan_send(d, m, 100, HW_SEND_CORK);
    if (!rc)
      rc = hw_chan_send(d, m, 200, 0);
    if (!rc)
      rc = pump(d, s, &box, SIZE_MAX);
    if (!rc)
      rc = hw_chan_send(d, m, sizeof m, HW_SEND_FINAL);
    if (!rc)
      rc = pump(d, s, &box, SIZE_MAX);
    hw_test_fail_alloc_after(-1);
    inbox_clear(&box);
    hw_chan_free(d);
    hw_chan_free(s);
    CHECK_EQ(hw_test_alloc_live(), live0);
    if (rc == HW_OK)
      break;
    CHECK_ERR(rc, HW_ENOMEM);
    CHECK(n < 100);
  }
}

int main(void)
{
  CHECK_OK(hw_crypto_init());
  hw_test_fail_alloc_after(-1);
  CHECK_OK(hw_noise_key_generate(&dev_key));
  CHECK_OK(hw_noise_key_generate(&srv_key));
  hw_noise_key_public(dev_key, dev_pub);
  hw_noise_key_public(srv_key, srv_pub);
  test_frame_peek();
  test_sizes();
  test_final();
  test_truncation_every_byte();
  test_hostile_fragments();
  test_total_limit();
  test_hostile_frames();
  test_decrypt_final();
  test_wrong_pin();
  test_cork();
  test_buffers_released();
  test_oom();
  hw_noise_key_free(dev_key);
  hw_noise_key_free(srv_key);
  printf("frame: ok\n");
  return 0;
}
