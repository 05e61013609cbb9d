/* Shared pieces of the proto fuzz targets (tests/fuzz/fuzz-proto-*.c):
 * fixed keys, so every crash replays the same way, and the message harness
 * that wraps a fuzzed body in the envelope of one message type. */
#ifndef HW_FUZZ_PROTO_H
#define HW_FUZZ_PROTO_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "homeward/arena.h"
#include "homeward/crypto.h"
#include "homeward/mem.h"
#include "homeward/proto/chan.h"
#include "homeward/proto/msg.h"
#include "homeward/proto/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fz_dev_sec[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t fz_srv_sec[32] = {16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
static const uint8_t fz_dev_eph[32] = {0xde, 0x01};
static const uint8_t fz_srv_eph[32] = {0x5e, 0x02};

typedef struct fz_keys {
  hw_noise_key *dev, *srv;
  uint8_t srv_pub[32];
} fz_keys;

static inline fz_keys *fz_keys_get(void)
{
  static fz_keys k;
  if (!k.dev) {
    if (hw_crypto_init() != 0 || hw_noise_key_from_secret(&k.dev, fz_dev_sec) ||
        hw_noise_key_from_secret(&k.srv, fz_srv_sec))
      abort();
    hw_noise_key_public(k.srv, k.srv_pub);
  }
  return &k;
}

/* Decode; on success re-encode, decode again and require the same bytes
 * (the codec is canonical on everything it accepts). */
static inline void fz_msg_check(const uint8_t *p, size_t n)
{
  hw_arena a;
  hw_msg m, m2;
  hw_cbor_wr w, w2;
  size_t l1, l2;
  uint8_t *b1, *b2;

  hw_arena_init(&a, NULL, 0, (size_t)64 << 20);
  if (hw_msg_decode(p, n, &a, &m) == 0) {
    hw_cbor_wr_init(&w, SIZE_MAX);
    if (hw_msg_encode(&m, &w) != 0)
      abort(); /* everything decoded must encode */
    b1 = hw_cbor_wr_take(&w, &l1);
    if (!b1 || hw_msg_decode(b1, l1, &a, &m2) != 0 || m2.type != m.type)
      abort();
    hw_cbor_wr_init(&w2, SIZE_MAX);
    if (hw_msg_encode(&m2, &w2) != 0)
      abort();
    b2 = hw_cbor_wr_take(&w2, &l2);
    if (!b2 || l1 != l2 || memcmp(b1, b2, l1) != 0)
      abort();
    /* Unknown keys are dropped by re-encoding, so only a message without
     * them comes back byte for byte; it must never grow. */
    if (l1 > n)
      abort();
    hw_free(b1);
    hw_free(b2);
    hw_cbor_wr_close(&w);
    hw_cbor_wr_close(&w2);
  }
  hw_arena_close(&a);
}

/* One message type: the input is the body; the harness adds [type, ...]. */
static inline void fz_msg_typed(unsigned type, const uint8_t *data, size_t size)
{
  uint8_t *buf;

  if (size > ((size_t)4 << 20))
    return;
  buf = malloc(size + 2);
  if (!buf)
    abort();
  buf[0] = 0x82;
  buf[1] = (uint8_t)type; /* types 1..9 are one-byte uints */
  memcpy(buf + 2, data, size);
  fz_msg_check(buf, size + 2);
  free(buf);
}

#endif
