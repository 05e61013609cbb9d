/* Noise XX: the official vector (every handshake message, the handshake
 * hash, the transport messages), nonce encoding at large counters and the
 * refusal of 2^64-1, and handshake negatives: wrong pin, tampered messages 2
 * and 3, low-order points, replayed messages, wrong prologue, truncation. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../proto/src/sodium-int.h"
#include "check.h"
#include "homeward/crypto.h"
#include "homeward/proto/limits.h"
#include "homeward/proto/noise.h"

/* ---- a minimal reader for the vector file -------------------------------- */

static char *slurp(const char *path)
{
  FILE *f = fopen(path, "rb");
  char *buf;
  long n;

  CHECK(f != NULL);
  CHECK(fseek(f, 0, SEEK_END) == 0);
  n = ftell(f);
  CHECK(n > 0);
  rewind(f);
  buf = malloc((size_t)n + 1);
  CHECK(buf != NULL);
  CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
  buf[n] = 0;
  fclose(f);
  return buf;
}

/* The hex string value of the next `"key": "..."` after *pos, before `end`;
 * decoded into out (cap bytes). Returns the byte count; moves *pos past it. */
static size_t json_hex(const char **pos, const char *end, const char *key, uint8_t *out, size_t cap)
{
  char pat[64];
  const char *p, *q;
  size_t n = 0;

  snprintf(pat, sizeof pat, "\"%s\"", key);
  p = strstr(*pos, pat);
  CHECK(p != NULL && p < end);
  p = strchr(p + strlen(pat), '"');
  CHECK(p != NULL);
  p++;
  q = strchr(p, '"');
  CHECK(q != NULL && (q - p) % 2 == 0 && (size_t)(q - p) / 2 <= cap);
  for (const char *h = p; h < q; h += 2) {
    unsigned v;
    CHECK(sscanf(h, "%2x", &v) == 1);
    out[n++] = (uint8_t)v;
  }
  *pos = q + 1;
  return n;
}

typedef struct vec_msg {
  uint8_t payload[256];
  size_t payload_len;
  uint8_t ct[512];
  size_t ct_len;
} vec_msg;

typedef struct vector {
  uint8_t prologue[64];
  size_t prologue_len;
  uint8_t init_static[32], init_eph[32], resp_static[32], resp_eph[32], hash[64];
  vec_msg msgs[6];
} vector;

static void load_xx(const char *path, vector *v)
{
  char *buf = slurp(path);
  const char *p = strstr(buf, "\"Noise_XX_25519_ChaChaPoly_BLAKE2b\""), *end;

  CHECK(p != NULL);
  end = strstr(p + 1, "\"protocol_name\"");
  if (!end)
    end = buf + strlen(buf);
  v->prologue_len = json_hex(&p, end, "init_prologue", v->prologue, sizeof v->prologue);
  {
    const char *q = p;
    CHECK_EQ(json_hex(&q, end, "init_static", v->init_static, 32), 32);
    q = p;
    CHECK_EQ(json_hex(&q, end, "init_ephemeral", v->init_eph, 32), 32);
    q = p;
    CHECK_EQ(json_hex(&q, end, "resp_static", v->resp_static, 32), 32);
    q = p;
    CHECK_EQ(json_hex(&q, end, "resp_ephemeral", v->resp_eph, 32), 32);
    q = p;
    CHECK_EQ(json_hex(&q, end, "handshake_hash", v->hash, 64), 64);
  }
  p = strstr(p, "\"messages\"");
  CHECK(p != NULL && p < end);
  for (int i = 0; i < 6; i++) {
    v->msgs[i].payload_len = json_hex(&p, end, "payload", v->msgs[i].payload, 256);
    v->msgs[i].ct_len = json_hex(&p, end, "ciphertext", v->msgs[i].ct, 512);
  }
  free(buf);
}

/* ---- the official vector ------------------------------------------------- */

static void test_vector(const char *path)
{
  vector v;
  hw_noise_key *is, *rs;
  hw_noise_hs *ini, *res;
  hw_noise_cs *i_tx, *i_rx, *r_tx, *r_rx;
  uint8_t out[600], pl[600], hi[64], hr[64], pub[32];
  size_t n, pn;

  memset(&v, 0, sizeof v);
  load_xx(path, &v);
  CHECK_OK(hw_noise_key_from_secret(&is, v.init_static));
  CHECK_OK(hw_noise_key_from_secret(&rs, v.resp_static));
  hw_noise_key_public(rs, pub);
  CHECK_OK(hw_noise_hs_new_for_test_vectors(&ini, HW_NOISE_INITIATOR, is, pub, v.prologue,
                                            v.prologue_len, v.init_eph));
  CHECK_OK(hw_noise_hs_new_for_test_vectors(&res, HW_NOISE_RESPONDER, rs, NULL, v.prologue,
                                            v.prologue_len, v.resp_eph));
  for (int i = 0; i < 3; i++) {
    hw_noise_hs *w = i == 1 ? res : ini, *r = i == 1 ? ini : res;
    CHECK(hw_noise_hs_is_my_turn(w));
    CHECK(!hw_noise_hs_is_my_turn(r));
    CHECK_EQ(hw_noise_hs_msg_len(w, v.msgs[i].payload_len), v.msgs[i].ct_len);
    CHECK_OK(hw_noise_hs_write(w, v.msgs[i].payload, v.msgs[i].payload_len, out, sizeof out, &n));
    CHECK_EQ(n, v.msgs[i].ct_len);
    CHECK(memcmp(out, v.msgs[i].ct, n) == 0);
    CHECK_OK(hw_noise_hs_read(r, out, n, pl, sizeof pl, &pn));
    CHECK_EQ(pn, v.msgs[i].payload_len);
    CHECK(memcmp(pl, v.msgs[i].payload, pn) == 0);
  }
  CHECK(hw_noise_hs_done(ini) && hw_noise_hs_done(res));
  CHECK_OK(hw_noise_hs_remote_static(res, out));
  hw_noise_key_public(is, pub);
  CHECK(memcmp(out, pub, 32) == 0);
  CHECK_OK(hw_noise_hs_split(ini, &i_tx, &i_rx, hi));
  CHECK_OK(hw_noise_hs_split(res, &r_tx, &r_rx, hr));
  CHECK(memcmp(hi, v.hash, 64) == 0);
  CHECK(memcmp(hr, v.hash, 64) == 0);
  {
    hw_noise_cs *x, *y;
    uint8_t hx[64];
    CHECK_ERR(hw_noise_hs_split(ini, &x, &y, hx), HW_EINVAL); /* spent */
    CHECK(x == NULL && y == NULL);
  }
  /* Transport: messages 3 and 5 go from the responder, 4 from the initiator. */
  for (int i = 3; i < 6; i++) {
    hw_noise_cs *tx = i % 2 ? r_tx : i_tx, *rx = i % 2 ? i_rx : r_rx;
    const vec_msg *m = &v.msgs[i];
    CHECK_EQ(m->payload_len + HW_NOISE_TAG_BYTES, m->ct_len);
    CHECK_OK(hw_noise_cs_encrypt(tx, m->payload, m->payload_len, out));
    CHECK(memcmp(out, m->ct, m->ct_len) == 0);
    CHECK_OK(hw_noise_cs_decrypt(rx, out, m->ct_len, pl));
    CHECK(memcmp(pl, m->payload, m->payload_len) == 0);
  }
  hw_noise_cs_free(i_tx);
  hw_noise_cs_free(i_rx);
  hw_noise_cs_free(r_tx);
  hw_noise_cs_free(r_rx);
  hw_noise_hs_free(ini);
  hw_noise_hs_free(res);
  hw_noise_key_free(is);
  hw_noise_key_free(rs);
}

/* ---- nonces -------------------------------------------------------------- */

static void test_nonce_encoding(void)
{
  uint8_t nonce[12], want[12] = {0, 0, 0, 0, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};

  hw__aead_nonce(nonce, 0x0102030405060708ull);
  CHECK(memcmp(nonce, want, 12) == 0);
  hw__aead_nonce(nonce, 0);
  CHECK(memcmp(nonce, (uint8_t[12]){0}, 12) == 0);
}

/* At large counters the cipher state's output equals libsodium's with the
 * nonce built by hand; 2^64-2 is the last usable nonce and 2^64-1 is refused. */
static void test_large_nonces(void)
{
  static const uint64_t ns[] = {0,
                                1,
                                255,
                                256,
                                0xffffffffull,
                                0x100000000ull,
                                0x0102030405060708ull,
                                UINT64_MAX - 2,
                                UINT64_MAX - 1};
  uint8_t key[32], pt[40], ct[56], ref[56], back[40], nonce[12];
  unsigned long long clen;
  hw_noise_cs *tx, *rx;

  for (int i = 0; i < 32; i++)
    key[i] = (uint8_t)(i * 7 + 1);
  for (int i = 0; i < 40; i++)
    pt[i] = (uint8_t)i;
  for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
    CHECK_OK(hw_noise_cs_new_for_test(&tx, key, ns[i]));
    CHECK_OK(hw_noise_cs_new_for_test(&rx, key, ns[i]));
    CHECK_OK(hw_noise_cs_encrypt(tx, pt, sizeof pt, ct));
    memset(nonce, 0, 4);
    for (int b = 0; b < 8; b++)
      nonce[4 + b] = (uint8_t)(ns[i] >> (8 * b));
    crypto_aead_chacha20poly1305_ietf_encrypt(ref, &clen, pt, sizeof pt, NULL, 0, NULL, nonce, key);
    CHECK(memcmp(ct, ref, sizeof ct) == 0);
    CHECK_EQ(hw_noise_cs_nonce(tx), ns[i] + 1);
    CHECK_OK(hw_noise_cs_decrypt(rx, ct, sizeof ct, back));
    CHECK(memcmp(back, pt, sizeof pt) == 0);
    /* The same ciphertext again (a replay) fails at the next nonce. */
    if (ns[i] + 1 != UINT64_MAX)
      CHECK_ERR(hw_noise_cs_decrypt(rx, ct, sizeof ct, back), HW_EAUTH);
    if (ns[i] == UINT64_MAX - 1) {
      CHECK_ERR(hw_noise_cs_encrypt(tx, pt, sizeof pt, ct), HW_ELIMIT);
      CHECK_ERR(hw_noise_cs_decrypt(rx, ref, sizeof ref, back), HW_ELIMIT);
      CHECK_EQ(hw_noise_cs_nonce(tx), UINT64_MAX);
    }
    hw_noise_cs_free(tx);
    hw_noise_cs_free(rx);
  }
  CHECK_OK(hw_noise_cs_new_for_test(&tx, key, UINT64_MAX));
  CHECK_ERR(hw_noise_cs_encrypt(tx, pt, 0, ct), HW_ELIMIT);
  CHECK_ERR(hw_noise_cs_decrypt(tx, ct, 15, back), HW_EPROTO);
  hw_noise_cs_free(tx);
}

/* ---- handshake negatives ------------------------------------------------- */

typedef struct pair {
  hw_noise_key *dev, *srv;
  uint8_t srv_pub[32], dev_pub[32];
} pair;

static void pair_init(pair *p)
{
  CHECK_OK(hw_noise_key_generate(&p->dev));
  CHECK_OK(hw_noise_key_generate(&p->srv));
  hw_noise_key_public(p->srv, p->srv_pub);
  hw_noise_key_public(p->dev, p->dev_pub);
}

static void pair_close(pair *p)
{
  hw_noise_key_free(p->dev);
  hw_noise_key_free(p->srv);
}

/* Messages 1..3 of one handshake, the payload of message 3 given. */
typedef struct run {
  uint8_t m[3][200];
  size_t len[3];
} run;

static void full_run(pair *p, run *r, const uint8_t *p3, size_t p3_len)
{
  hw_noise_hs *i, *s;
  uint8_t pl[64], k[32];
  size_t n;

  CHECK_OK(hw_noise_hs_new(&i, HW_NOISE_INITIATOR, p->dev, p->srv_pub));
  CHECK_OK(hw_noise_hs_new(&s, HW_NOISE_RESPONDER, p->srv, NULL));
  CHECK_OK(hw_noise_hs_write(i, NULL, 0, r->m[0], 200, &r->len[0]));
  CHECK_EQ(r->len[0], 32);
  CHECK_OK(hw_noise_hs_read(s, r->m[0], r->len[0], pl, sizeof pl, &n));
  CHECK_OK(hw_noise_hs_write(s, NULL, 0, r->m[1], 200, &r->len[1]));
  CHECK_EQ(r->len[1], 96);
  CHECK_ERR(hw_noise_hs_remote_static(s, k), HW_EINVAL);
  CHECK_OK(hw_noise_hs_read(i, r->m[1], r->len[1], pl, sizeof pl, &n));
  CHECK_OK(hw_noise_hs_remote_static(i, k));
  CHECK(memcmp(k, p->srv_pub, 32) == 0);
  CHECK_OK(hw_noise_hs_write(i, p3, p3_len, r->m[2], 200, &r->len[2]));
  CHECK_EQ(r->len[2], 64 + p3_len);
  CHECK_OK(hw_noise_hs_read(s, r->m[2], r->len[2], pl, sizeof pl, &n));
  CHECK_EQ(n, p3_len);
  CHECK(n == 0 || memcmp(pl, p3, n) == 0);
  CHECK_OK(hw_noise_hs_remote_static(s, k));
  CHECK(memcmp(k, p->dev_pub, 32) == 0); /* the server learns the device by its key */
  hw_noise_hs_free(i);
  hw_noise_hs_free(s);
}

static void test_wrong_pin(pair *p)
{
  hw_noise_hs *i, *s;
  uint8_t m[200], pl[64], pin[32], k[32];
  size_t n, pn;

  memcpy(pin, p->srv_pub, 32);
  pin[31] ^= 0x01;
  CHECK_OK(hw_noise_hs_new(&i, HW_NOISE_INITIATOR, p->dev, pin));
  CHECK_OK(hw_noise_hs_new(&s, HW_NOISE_RESPONDER, p->srv, NULL));
  CHECK_OK(hw_noise_hs_write(i, NULL, 0, m, sizeof m, &n));
  CHECK_OK(hw_noise_hs_read(s, m, n, pl, sizeof pl, &pn));
  CHECK_OK(hw_noise_hs_write(s, NULL, 0, m, sizeof m, &n));
  CHECK_ERR(hw_noise_hs_read(i, m, n, pl, sizeof pl, &pn), HW_EAUTH);
  /* No message 3 can follow: the device's identity is never sent. */
  CHECK_ERR(hw_noise_hs_write(i, NULL, 0, m, sizeof m, &n), HW_ECLOSED);
  CHECK_EQ(n, 0);
  CHECK_ERR(hw_noise_hs_remote_static(i, k), HW_EINVAL);
  hw_noise_hs_free(i);
  hw_noise_hs_free(s);
  /* A responder does not take a pin; an initiator must. */
  CHECK_ERR(hw_noise_hs_new(&i, HW_NOISE_INITIATOR, p->dev, NULL), HW_EINVAL);
  CHECK_NULL(i);
  CHECK_ERR(hw_noise_hs_new(&s, HW_NOISE_RESPONDER, p->srv, pin), HW_EINVAL);
}

/* Every single-bit flip of message 2 fails at the device, and every flip of
 * message 3 fails at the server. */
static void test_tampered(pair *p)
{
  uint8_t m1[200], m2[200], m3[200], pl[64];
  size_t n1, n2, n3, pn;

  for (int target = 2; target <= 3; target++) {
    size_t len = target == 2 ? 96 : 64;
    for (size_t byte = 0; byte < len; byte++) {
      hw_noise_hs *i, *s;
      CHECK_OK(hw_noise_hs_new(&i, HW_NOISE_INITIATOR, p->dev, p->srv_pub));
      CHECK_OK(hw_noise_hs_new(&s, HW_NOISE_RESPONDER, p->srv, NULL));
      CHECK_OK(hw_noise_hs_write(i, NULL, 0, m1, sizeof m1, &n1));
      CHECK_OK(hw_noise_hs_read(s, m1, n1, pl, sizeof pl, &pn));
      CHECK_OK(hw_noise_hs_write(s, NULL, 0, m2, sizeof m2, &n2));
      if (target == 2) {
        m2[byte] ^= (uint8_t)(1u << (byte % 8));
        int rc = hw_noise_hs_read(i, m2, n2, pl, sizeof pl, &pn);
        CHECK(rc == HW_EAUTH);
        CHECK_ERR(hw_noise_hs_write(i, NULL, 0, m3, sizeof m3, &n3), HW_ECLOSED);
      } else {
        CHECK_OK(hw_noise_hs_read(i, m2, n2, pl, sizeof pl, &pn));
        CHECK_OK(hw_noise_hs_write(i, NULL, 0, m3, sizeof m3, &n3));
        m3[byte] ^= (uint8_t)(1u << (byte % 8));
        CHECK_ERR(hw_noise_hs_read(s, m3, n3, pl, sizeof pl, &pn), HW_EAUTH);
        CHECK(!hw_noise_hs_done(s));
        /* Failure is final: the genuine message is refused too. */
        m3[byte] ^= (uint8_t)(1u << (byte % 8));
        CHECK_ERR(hw_noise_hs_read(s, m3, n3, pl, sizeof pl, &pn), HW_ECLOSED);
      }
      hw_noise_hs_free(i);
      hw_noise_hs_free(s);
    }
  }
  /* A flipped message 1 goes through (it is not authenticated) but the
   * transcripts then differ, so the device refuses message 2. */
  {
    hw_noise_hs *i, *s;
    CHECK_OK(hw_noise_hs_new(&i, HW_NOISE_INITIATOR, p->dev, p->srv_pub));
    CHECK_OK(hw_noise_hs_new(&s, HW_NOISE_RESPONDER, p->srv, NULL));
    CHECK_OK(hw_noise_hs_write(i, NULL, 0, m1, sizeof m1, &n1));
    m1[5] ^= 0x10;
    CHECK_OK(hw_noise_hs_read(s, m1, n1, pl, sizeof pl, &pn));
    CHECK_OK(hw_noise_hs_write(s, NULL, 0, m2, sizeof m2, &n2));
    CHECK_ERR(hw_noise_hs_read(i, m2, n2, pl, sizeof pl, &pn), HW_EAUTH);
    hw_noise_hs_free(i);
    hw_noise_hs_free(s);
  }
}

/* Points of small order (libsodium's list): DH with them yields zero, which
 * crypto_scalarmult reports, and the handshake ends. */
static const uint8_t low_order[][32] = {
    {0},
    {1},
    {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
     0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
     0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
    {0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1,
     0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c,
     0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
};

static void test_low_order(pair *p)
{
  for (size_t k = 0; k < sizeof low_order / sizeof low_order[0]; k++) {
    hw_noise_hs *i, *s;
    uint8_t m[200], pl[64];
    size_t n, pn;

    /* The server gets a low-order e in message 1: writing message 2 (ee) fails. */
    CHECK_OK(hw_noise_hs_new(&s, HW_NOISE_RESPONDER, p->srv, NULL));
    memcpy(m, low_order[k], 32);
    CHECK_OK(hw_noise_hs_read(s, m, 32, pl, sizeof pl, &pn));
    CHECK_ERR(hw_noise_hs_write(s, NULL, 0, m, sizeof m, &n), HW_EAUTH);
    CHECK_EQ(n, 0);
    CHECK_ERR(hw_noise_hs_write(s, NULL, 0, m, sizeof m, &n), HW_ECLOSED);
    hw_noise_hs_free(s);

    /* The device gets a low-order e in message 2: reading it (ee) fails. */
    CHECK_OK(hw_noise_hs_new(&i, HW_NOISE_INITIATOR, p->dev, p->srv_pub));
    CHECK_OK(hw_noise_hs_new(&s, HW_NOISE_RESPONDER, p->srv, NULL));
    CHECK_OK(hw_noise_hs_write(i, NULL, 0, m, sizeof m, &n));
    CHECK_OK(hw_noise_hs_read(s, m, n, pl, sizeof pl, &pn));
    CHECK_OK(hw_noise_hs_write(s, NULL, 0, m, sizeof m, &n));
    memcpy(m, low_order[k], 32);
    CHECK_ERR(hw_noise_hs_read(i, m, n, pl, sizeof pl, &pn), HW_EAUTH);
    hw_noise_hs_free(i);
    hw_noise_hs_free(s);
  }
}

/* A recorded handshake replayed to a fresh server never completes: message
 * 1 is accepted, but the server's new ephemeral key makes message 3 fail. */
static void test_replay(pair *p)
{
  run r;
  hw_noise_hs *s;
  uint8_t m[200], pl[64];
  size_t n, pn;

  full_run(p, &r, NULL, 0);
  CHECK_OK(hw_noise_hs_new(&s, HW_NOISE_RESPONDER, p->srv, NULL));
  CHECK_OK(hw_noise_hs_read(s, r.m[0], r.len[0], pl, sizeof pl, &pn));
  CHECK_OK(hw_noise_hs_write(s, NULL, 0, m, sizeof m, &n));
  CHECK(memcmp(m, r.m[1], 32) != 0);
  CHECK_ERR(hw_noise_hs_read(s, r.m[2], r.len[2], pl, sizeof pl, &pn), HW_EAUTH);
  hw_noise_hs_free(s);
}

static void test_wrong_prologue(pair *p)
{
  static const uint8_t e1[32] = {1, 2, 3}, e2[32] = {4, 5, 6};
  hw_noise_hs *i, *s;
  uint8_t m[200], pl[64];
  size_t n, pn;

  CHECK_OK(hw_noise_hs_new_for_test_vectors(&i, HW_NOISE_INITIATOR, p->dev, p->srv_pub,
                                            (const uint8_t *)"homeward/1", 10, e1));
  CHECK_OK(hw_noise_hs_new_for_test_vectors(&s, HW_NOISE_RESPONDER, p->srv, NULL,
                                            (const uint8_t *)"homeward/2", 10, e2));
  CHECK_OK(hw_noise_hs_write(i, NULL, 0, m, sizeof m, &n));
  CHECK_OK(hw_noise_hs_read(s, m, n, pl, sizeof pl, &pn));
  CHECK_OK(hw_noise_hs_write(s, NULL, 0, m, sizeof m, &n));
  CHECK_ERR(hw_noise_hs_read(i, m, n, pl, sizeof pl, &pn), HW_EAUTH);
  hw_noise_hs_free(i);
  hw_noise_hs_free(s);
}

/* Every truncation of messages 1-3 is refused; out-of-turn calls too. */
static void test_truncated(pair *p)
{
  run r;
  uint8_t pl[64], m[200];
  size_t pn, n;

  full_run(p, &r, (const uint8_t *)"0123456789abcdef", 16);
  for (int which = 0; which < 3; which++) {
    for (size_t cut = 0; cut < r.len[which]; cut++) {
      hw_noise_hs *i, *s, *reader;
      int rc;
      CHECK_OK(hw_noise_hs_new(&i, HW_NOISE_INITIATOR, p->dev, p->srv_pub));
      CHECK_OK(hw_noise_hs_new(&s, HW_NOISE_RESPONDER, p->srv, NULL));
      if (which >= 1) { /* bring the reader to the right step with real messages */
        CHECK_OK(hw_noise_hs_write(i, NULL, 0, m, sizeof m, &n));
        CHECK_OK(hw_noise_hs_read(s, m, n, pl, sizeof pl, &pn));
      }
      if (which == 2) {
        CHECK_OK(hw_noise_hs_write(s, NULL, 0, m, sizeof m, &n));
        CHECK_OK(hw_noise_hs_read(i, m, n, pl, sizeof pl, &pn));
      }
      reader = which == 1 ? i : s;
      rc = hw_noise_hs_read(reader, r.m[which], cut, pl, sizeof pl, &pn);
      /* Message 1 is unauthenticated: a cut inside its payload-free body is
       * short; later messages are short or fail their tag. */
      CHECK(rc == HW_EPROTO || rc == HW_EAUTH);
      CHECK_ERR(hw_noise_hs_read(reader, r.m[which], r.len[which], pl, sizeof pl, &pn), HW_ECLOSED);
      hw_noise_hs_free(i);
      hw_noise_hs_free(s);
    }
  }
  {
    hw_noise_hs *i, *s;
    CHECK_OK(hw_noise_hs_new(&i, HW_NOISE_INITIATOR, p->dev, p->srv_pub));
    CHECK_OK(hw_noise_hs_new(&s, HW_NOISE_RESPONDER, p->srv, NULL));
    CHECK_ERR(hw_noise_hs_read(i, r.m[1], r.len[1], pl, sizeof pl, &pn), HW_EINVAL);
    CHECK_ERR(hw_noise_hs_write(s, NULL, 0, m, sizeof m, &n), HW_EINVAL);
    CHECK_ERR(hw_noise_hs_write(i, NULL, 0, m, 31, &n), HW_EINVAL); /* buffer too small */
    CHECK_ERR(hw_noise_hs_read(s, m, HW_NOISE_MSG_MAX + 1, pl, sizeof pl, &pn), HW_EPROTO);
    hw_noise_hs_free(i);
    hw_noise_hs_free(s);
  }
}

static void test_key_roundtrip(void)
{
  hw_noise_key *a, *b;
  uint8_t sec[32], pa[32], pb[32];

  CHECK_OK(hw_noise_key_generate(&a));
  hw_noise_key_secret(a, sec);
  CHECK_OK(hw_noise_key_from_secret(&b, sec));
  hw_noise_key_public(a, pa);
  hw_noise_key_public(b, pb);
  CHECK(memcmp(pa, pb, 32) == 0);
  hw_memzero(sec, sizeof sec);
  hw_noise_key_free(a);
  hw_noise_key_free(b);
  hw_noise_key_free(NULL);
}

int main(int argc, char **argv)
{
  pair p;

  CHECK(argc == 2);
  CHECK_OK(hw_crypto_init());
  test_vector(argv[1]);
  test_nonce_encoding();
  test_large_nonces();
  test_key_roundtrip();
  pair_init(&p);
  {
    run r;
    full_run(&p, &r, NULL, 0);
  }
  test_wrong_pin(&p);
  test_tampered(&p);
  test_low_order(&p);
  test_replay(&p);
  test_wrong_prologue(&p);
  test_truncated(&p);
  pair_close(&p);
  printf("noise: ok\n");
  return 0;
}
