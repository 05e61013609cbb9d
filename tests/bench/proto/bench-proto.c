/* proto benchmarks (JSON lines): handshakes per second with both sides in
 * one process, transport throughput for 64 KiB application messages (seal,
 * open, and both on one core), and the exact byte count of a full handshake
 * plus an empty sync (hello, empty push and its ack, pull and an empty pull
 * batch, done, goodbye). HW_BENCH_SECONDS sets the time per case (default 1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "homeward/crypto.h"
#include "homeward/mem.h"
#include "homeward/proto/chan.h"
#include "homeward/proto/msg.h"

#define MSG_BYTES 65536u

static hw_noise_key *dev_key, *srv_key;
static uint8_t srv_pub[32];
static double secs = 1.0;

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void emit(const char *metric, double value, const char *unit)
{
  printf("{\"bench\": \"proto\", \"metric\": \"%s\", \"value\": %.6g, \"unit\": \"%s\"}\n", metric,
         value, unit);
}

/* Move all pending bytes from `from` to `to`; count them; keep the last message. */
static size_t pump(hw_chan *from, hw_chan *to, int *n_msgs)
{
  hw_bytes out = hw_chan_pending(from);
  size_t total = out.len, off = 0;

  hw_bytes msg = {0};
  while (off < total || msg.p) {
    size_t used;
    bool fin;
    CHECK_OK(hw_chan_feed(to, out.p + off, total - off, &used, &msg, &fin));
    off += used;
    if (msg.p && n_msgs)
      (*n_msgs)++;
  }
  hw_chan_consume(from, total);
  return total;
}

static void connect(hw_chan **d, hw_chan **s, size_t *bytes)
{
  size_t n = 0;
  CHECK_OK(hw_chan_new_device(d, dev_key, srv_pub, NULL));
  CHECK_OK(hw_chan_new_server(s, srv_key));
  n += pump(*d, *s, NULL);
  n += pump(*s, *d, NULL);
  n += pump(*d, *s, NULL);
  CHECK(hw_chan_get_state(*d) == HW_CHAN_OPEN && hw_chan_get_state(*s) == HW_CHAN_OPEN);
  if (bytes)
    *bytes = n;
}

static void bench_handshakes(void)
{
  long n = 0;
  double t0 = now(), t;

  do {
    hw_chan *d, *s;
    for (int i = 0; i < 20; i++, n++) {
      connect(&d, &s, NULL);
      hw_chan_free(d);
      hw_chan_free(s);
    }
    t = now() - t0;
  } while (t < secs);
  emit("handshakes_per_s", (double)n / t, "handshakes/s");
}

static void bench_transport(void)
{
  hw_chan *d, *s;
  uint8_t *m = malloc(MSG_BYTES);
  long n = 0;
  double t0, t;
  enum { PRESEALED = 128 };
  uint8_t *sealed;
  size_t sealed_len;

  CHECK(m != NULL);
  for (size_t i = 0; i < MSG_BYTES; i++)
    m[i] = (uint8_t)i;
  connect(&d, &s, NULL);

  /* Seal only (the sender's work per message, bytes dropped as written). */
  t0 = now();
  do {
    for (int i = 0; i < 64; i++, n++) {
      CHECK_OK(hw_chan_send(d, m, MSG_BYTES, 0));
      hw_chan_consume(d, hw_chan_pending(d).len);
    }
    t = now() - t0;
  } while (t < secs);
  emit("transport_seal_64k_mb_s", (double)n * MSG_BYTES / t / 1e6, "MB/s");
  hw_chan_free(d);
  hw_chan_free(s);

  /* Open only: feed pre-sealed messages to the receiver. */
  connect(&d, &s, NULL);
  for (int i = 0; i < PRESEALED; i++)
    CHECK_OK(hw_chan_send(d, m, MSG_BYTES, 0));
  {
    hw_bytes out = hw_chan_pending(d);
    sealed = malloc(out.len);
    CHECK(sealed != NULL);
    memcpy(sealed, out.p, out.len);
    sealed_len = out.len;
    hw_chan_consume(d, out.len);
  }
  t0 = now();
  {
    size_t off = 0;
    int got = 0;
    hw_bytes msg = {0};
    while (off < sealed_len || msg.p) {
      size_t used;
      bool fin;
      CHECK_OK(hw_chan_feed(s, sealed + off, sealed_len - off, &used, &msg, &fin));
      off += used;
      if (msg.p) {
        CHECK_EQ(msg.len, MSG_BYTES);
        got++;
      }
    }
    CHECK_EQ(got, PRESEALED);
  }
  t = now() - t0;
  emit("transport_open_64k_mb_s", (double)PRESEALED * MSG_BYTES / t / 1e6, "MB/s");
  free(sealed);
  hw_chan_free(d);
  hw_chan_free(s);

  /* Both ends on one core: seal, frame, feed, open, reassemble. */
  connect(&d, &s, NULL);
  n = 0;
  t0 = now();
  do {
    for (int i = 0; i < 32; i++, n++) {
      int got = 0;
      CHECK_OK(hw_chan_send(d, m, MSG_BYTES, 0));
      pump(d, s, &got);
      CHECK_EQ(got, 1);
    }
    t = now() - t0;
  } while (t < secs);
  emit("transport_seal_and_open_64k_mb_s", (double)n * MSG_BYTES / t / 1e6, "MB/s");
  hw_chan_free(d);
  hw_chan_free(s);
  free(m);
}

/* Encode and send one message; unless corked, deliver the flight and
 * require `expect` messages to arrive. Returns the wire bytes moved. */
static size_t send_msg(hw_chan *from, hw_chan *to, const hw_msg *m, unsigned flags, int expect,
                       size_t *body)
{
  hw_cbor_wr w;
  uint8_t *p;
  size_t n;
  int got = 0;

  hw_cbor_wr_init(&w, SIZE_MAX);
  CHECK_OK(hw_msg_encode(m, &w));
  p = hw_cbor_wr_take(&w, &n);
  CHECK(p != NULL);
  *body += n;
  CHECK_OK(hw_chan_send(from, p, n, flags));
  hw_free(p);
  hw_cbor_wr_close(&w);
  if (flags & HW_SEND_CORK)
    return 0;
  n = pump(from, to, &got);
  CHECK_EQ(got, expect);
  return n;
}

/* A steady-state device: it holds a cursor; nothing to push or pull. Each
 * side sends its messages of one flight together (HW_SEND_CORK): the device
 * hello, push and pull; the server ack, pull batch and done; then goodbye. */
static void bench_bytes(void)
{
  hw_chan *d, *s;
  hw_msg m;
  hw_cursor cur;
  size_t hs, sync = 0, body = 0, flight[3];

  cur.epoch = 0x5a17c3e9u; /* the server's random 32-bit epoch */
  cur.seq = 1234567;       /* a server past a million changes */
  memset(cur.audit_head, 0xa5, sizeof cur.audit_head);
  connect(&d, &s, &hs);

  memset(&m, 0, sizeof m);
  m.type = HW_MSG_HELLO;
  m.u.hello.version = HW_PROTO_VERSION;
  memset(m.u.hello.replica.b, 1, HW_ID_BYTES);
  m.u.hello.counter = 4711;
  m.u.hello.acked = 4711;
  memset(m.u.hello.lineage, 2, HW_DIGEST_BYTES);
  m.u.hello.has_cursor = true;
  m.u.hello.cursor = cur;
  m.u.hello.wall_ms = 1764600000000;
  send_msg(d, s, &m, HW_SEND_CORK, 0, &body);

  memset(&m, 0, sizeof m);
  m.type = HW_MSG_PUSH;
  m.u.push.batch_seq = 1;
  send_msg(d, s, &m, HW_SEND_CORK, 0, &body);
  memset(&m, 0, sizeof m);
  m.type = HW_MSG_PULL; /* no cursor: from the hello's */
  m.u.pull.max_records = 256;
  sync += flight[0] = send_msg(d, s, &m, 0, 3, &body);

  memset(&m, 0, sizeof m);
  m.type = HW_MSG_PUSH_ACK;
  m.u.ack.batch_seq = 1;
  send_msg(s, d, &m, HW_SEND_CORK, 0, &body);
  memset(&m, 0, sizeof m);
  m.type = HW_MSG_PULL_BATCH;
  m.u.pull_batch.cursor = cur;
  send_msg(s, d, &m, HW_SEND_CORK, 0, &body);

  memset(&m, 0, sizeof m);
  m.type = HW_MSG_DONE;
  memset(m.u.done.checksum, 3, HW_DIGEST_BYTES);
  memset(m.u.done.head.hash, 4, HW_DIGEST_BYTES);
  m.u.done.head.seq = cur.seq;
  memset(m.u.done.head.sig, 5, HW_SIG_BYTES);
  m.u.done.head.time_ms = 1764600000123;
  m.u.done.has_head = true;
  sync += flight[1] = send_msg(s, d, &m, 0, 3, &body);

  memset(&m, 0, sizeof m);
  m.type = HW_MSG_GOODBYE;
  sync += flight[2] = send_msg(d, s, &m, HW_SEND_FINAL, 1, &body);
  CHECK_EQ(hw_chan_get_state(s), HW_CHAN_ENDED);

  emit("handshake_bytes", (double)hs, "bytes");
  emit("device_flight_hello_push_pull_bytes", (double)flight[0], "bytes");
  emit("server_flight_ack_batch_done_bytes", (double)flight[1], "bytes");
  emit("goodbye_bytes", (double)flight[2], "bytes");
  emit("empty_sync_bytes", (double)sync, "bytes");
  emit("empty_sync_cbor_bytes", (double)body, "bytes");
  emit("handshake_plus_empty_sync_bytes", (double)(hs + sync), "bytes");
  hw_chan_free(d);
  hw_chan_free(s);
}

int main(void)
{
  const char *e = getenv("HW_BENCH_SECONDS");

  if (e && atof(e) > 0)
    secs = atof(e);
  CHECK_OK(hw_crypto_init());
  CHECK_OK(hw_noise_key_generate(&dev_key));
  CHECK_OK(hw_noise_key_generate(&srv_key));
  hw_noise_key_public(srv_key, srv_pub);
  bench_bytes();
  bench_handshakes();
  bench_transport();
  hw_noise_key_free(dev_key);
  hw_noise_key_free(srv_key);
  return 0;
}
