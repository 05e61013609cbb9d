/* Noise_XX_25519_ChaChaPoly_BLAKE2b, Noise spec revision 34 (noise.h).
 * Section numbers below are the spec's. */
#include "homeward/proto/noise.h"

#include <string.h>

#include "homeward/crypto.h"
#include "homeward/proto/limits.h"
#include "sodium-int.h"

#define PROTOCOL_NAME "Noise_XX_25519_ChaChaPoly_BLAKE2b"
#define DH HW__DH_BYTES
#define HASH HW__B2B_BYTES
#define TAG HW__AEAD_TAG_BYTES

struct hw_noise_key {
  uint8_t sec[DH];
  uint8_t pub[DH];
};

struct hw_noise_cs { /* §5.1 CipherState */
  uint8_t k[HW__AEAD_KEY_BYTES];
  uint64_t n;
};

typedef struct symmetric { /* §5.2 SymmetricState */
  uint8_t ck[HASH];
  uint8_t h[HASH];
  uint8_t k[HW__AEAD_KEY_BYTES];
  bool has_k;
  uint64_t n;
} symmetric;

struct hw_noise_hs { /* §5.3 HandshakeState, in sodium_malloc memory */
  symmetric ss;
  const hw_noise_key *s; /* borrowed */
  uint8_t e_sec[DH];
  uint8_t e_pub[DH];
  uint8_t re[DH];
  uint8_t rs[DH];
  uint8_t pin[DH];
  hw_noise_role role;
  bool e_fixed; /* test vectors only */
  bool has_rs;
  int step; /* index of the next message: 0, 1, 2; 3 when done */
  bool failed;
  bool spent;
};

_Static_assert(sizeof PROTOCOL_NAME - 1 <= HASH, "the name is padded, not hashed (§5.2)");

/* ---- keys ---------------------------------------------------------------- */

int hw_noise_key_generate(hw_noise_key **out)
{
  hw_noise_key *k;

  *out = NULL;
  k = hw__secure_alloc(sizeof *k);
  if (!k)
    return HW_ENOMEM;
  hw__x25519_keygen(k->sec, k->pub);
  *out = k;
  return HW_OK;
}

int hw_noise_key_from_secret(hw_noise_key **out, const uint8_t sec[static HW_NOISE_KEY_BYTES])
{
  hw_noise_key *k;

  *out = NULL;
  k = hw__secure_alloc(sizeof *k);
  if (!k)
    return HW_ENOMEM;
  memcpy(k->sec, sec, DH);
  hw__x25519_public(k->pub, k->sec);
  *out = k;
  return HW_OK;
}

void hw_noise_key_public(const hw_noise_key *k, uint8_t pub[static HW_NOISE_KEY_BYTES])
{
  memcpy(pub, k->pub, DH);
}

void hw_noise_key_secret(const hw_noise_key *k, uint8_t sec[static HW_NOISE_KEY_BYTES])
{
  memcpy(sec, k->sec, DH);
}

void hw_noise_key_free(hw_noise_key *k)
{
  hw__secure_free(k);
}

/* ---- hash, HMAC, HKDF (Noise spec §4.3) ------------------------------------------- */

/* HMAC-BLAKE2b per RFC 2104 over unkeyed BLAKE2b-512 (not BLAKE2b's keyed
 * mode). Keys here are always HASHLEN = 64 bytes <= BLOCKLEN, so they are
 * only zero-padded. data = d1 || d2. */
static void hmac(uint8_t out[HASH], const uint8_t key[HASH], const uint8_t *d1, size_t n1,
                 const uint8_t *d2, size_t n2)
{
  uint8_t pad[HW__B2B_BLOCK];
  uint8_t inner[HASH];
  hw__b2b st;

  memset(pad, 0x36, sizeof pad);
  for (size_t i = 0; i < HASH; i++)
    pad[i] ^= key[i];
  hw__b2b_init(&st);
  hw__b2b_update(&st, pad, sizeof pad);
  hw__b2b_update(&st, d1, n1);
  if (n2)
    hw__b2b_update(&st, d2, n2);
  hw__b2b_final(&st, inner);

  memset(pad, 0x5c, sizeof pad);
  for (size_t i = 0; i < HASH; i++)
    pad[i] ^= key[i];
  hw__b2b_init(&st);
  hw__b2b_update(&st, pad, sizeof pad);
  hw__b2b_update(&st, inner, sizeof inner);
  hw__b2b_final(&st, out);
  hw_memzero(pad, sizeof pad);
  hw_memzero(inner, sizeof inner);
}

/* HKDF with two outputs (XX never needs the third). */
static void hkdf2(const uint8_t ck[HASH], const uint8_t *ikm, size_t ikm_len, uint8_t o1[HASH],
                  uint8_t o2[HASH])
{
  uint8_t temp[HASH];
  const uint8_t one = 1, two = 2;

  hmac(temp, ck, ikm, ikm_len, NULL, 0);
  hmac(o1, temp, &one, 1, NULL, 0);
  hmac(o2, temp, o1, HASH, &two, 1);
  hw_memzero(temp, sizeof temp);
}

/* ---- SymmetricState (§5.2) ----------------------------------------------- */

static void mix_hash(symmetric *ss, const uint8_t *p, size_t n)
{
  hw__b2b st;

  hw__b2b_init(&st);
  hw__b2b_update(&st, ss->h, HASH);
  hw__b2b_update(&st, p, n);
  hw__b2b_final(&st, ss->h);
}

static void mix_key(symmetric *ss, const uint8_t ikm[DH])
{
  uint8_t o1[HASH], o2[HASH];

  hkdf2(ss->ck, ikm, DH, o1, o2);
  memcpy(ss->ck, o1, HASH);
  memcpy(ss->k, o2, HW__AEAD_KEY_BYTES); /* HASHLEN 64: truncate temp_k to 32 */
  ss->has_k = true;
  ss->n = 0;
  hw_memzero(o1, sizeof o1);
  hw_memzero(o2, sizeof o2);
}

/* out[n (+ TAG once a key is set)]; may not alias p. */
static void encrypt_and_hash(symmetric *ss, const uint8_t *p, size_t n, uint8_t *out,
                             size_t *out_len)
{
  if (ss->has_k) {
    hw__aead_encrypt(out, p, n, ss->h, HASH, ss->n, ss->k);
    ss->n++; /* at most three handshake messages: never near the reserved nonce */
    *out_len = n + TAG;
  } else {
    if (n)
      memcpy(out, p, n);
    *out_len = n;
  }
  mix_hash(ss, out, *out_len);
}

static int decrypt_and_hash(symmetric *ss, const uint8_t *c, size_t n, uint8_t *out,
                            size_t *out_len)
{
  if (ss->has_k) {
    if (n < TAG)
      return HW_EPROTO;
    if (hw__aead_decrypt(out, c, n, ss->h, HASH, ss->n, ss->k) != HW_OK)
      return HW_EAUTH;
    ss->n++;
    *out_len = n - TAG;
  } else {
    if (n)
      memcpy(out, c, n);
    *out_len = n;
  }
  mix_hash(ss, c, n);
  return HW_OK;
}

/* ---- CipherState (§5.1) -------------------------------------------------- */

static hw_noise_cs *cs_new(const uint8_t k[HW__AEAD_KEY_BYTES], uint64_t n)
{
  hw_noise_cs *cs = hw__secure_alloc(sizeof *cs);
  if (cs) {
    memcpy(cs->k, k, HW__AEAD_KEY_BYTES);
    cs->n = n;
  }
  return cs;
}

int hw_noise_cs_new_for_test(hw_noise_cs **out, const uint8_t key[static HW_NOISE_KEY_BYTES],
                             uint64_t nonce)
{
  *out = cs_new(key, nonce);
  return *out ? HW_OK : HW_ENOMEM;
}

int hw_noise_cs_encrypt(hw_noise_cs *cs, const uint8_t *pt, size_t pt_len, uint8_t *ct)
{
  /* §5.1: 2^64-1 is reserved; refusing it ends this cipher state for good. */
  if (cs->n == HW_NOISE_NONCE_MAX)
    return HW_ELIMIT;
  hw__aead_encrypt(ct, pt, pt_len, NULL, 0, cs->n, cs->k);
  cs->n++;
  return HW_OK;
}

int hw_noise_cs_decrypt(hw_noise_cs *cs, const uint8_t *ct, size_t ct_len, uint8_t *pt)
{
  if (ct_len < TAG)
    return HW_EPROTO;
  if (cs->n == HW_NOISE_NONCE_MAX)
    return HW_ELIMIT;
  if (hw__aead_decrypt(pt, ct, ct_len, NULL, 0, cs->n, cs->k) != HW_OK)
    return HW_EAUTH;
  cs->n++;
  return HW_OK;
}

uint64_t hw_noise_cs_nonce(const hw_noise_cs *cs)
{
  return cs->n;
}

void hw_noise_cs_free(hw_noise_cs *cs)
{
  hw__secure_free(cs);
}

/* ---- HandshakeState (§5.3, pattern XX §7.5) ------------------------------ */

static int hs_init(hw_noise_hs **out, hw_noise_role role, const hw_noise_key *s, const uint8_t *pin,
                   const uint8_t *prologue, size_t prologue_len, const uint8_t *e_sec)
{
  hw_noise_hs *hs;

  *out = NULL;
  if (!s || (role != HW_NOISE_INITIATOR && role != HW_NOISE_RESPONDER) ||
      (role == HW_NOISE_INITIATOR) != (pin != NULL) || (prologue_len && !prologue))
    return HW_EINVAL;
  hs = hw__secure_alloc(sizeof *hs);
  if (!hs)
    return HW_ENOMEM;
  hs->role = role;
  hs->s = s;
  if (pin)
    memcpy(hs->pin, pin, DH);
  if (e_sec) {
    memcpy(hs->e_sec, e_sec, DH);
    hw__x25519_public(hs->e_pub, hs->e_sec);
    hs->e_fixed = true;
  }
  /* InitializeSymmetric: a name of at most HASHLEN bytes is zero-padded. */
  memcpy(hs->ss.h, PROTOCOL_NAME, sizeof PROTOCOL_NAME - 1);
  memcpy(hs->ss.ck, hs->ss.h, HASH);
  mix_hash(&hs->ss, prologue, prologue_len);
  *out = hs;
  return HW_OK;
}

int hw_noise_hs_new(hw_noise_hs **out, hw_noise_role role, const hw_noise_key *s,
                    const uint8_t *pin)
{
  return hs_init(out, role, s, pin, (const uint8_t *)HW_PROTO_PROLOGUE,
                 sizeof HW_PROTO_PROLOGUE - 1, NULL);
}

int hw_noise_hs_new_for_test_vectors(hw_noise_hs **out, hw_noise_role role, const hw_noise_key *s,
                                     const uint8_t *pin, const uint8_t *prologue,
                                     size_t prologue_len,
                                     const uint8_t e_sec[static HW_NOISE_KEY_BYTES])
{
  return hs_init(out, role, s, pin, prologue, prologue_len, e_sec);
}

bool hw_noise_hs_is_my_turn(const hw_noise_hs *hs)
{
  if (hs->failed || hs->step > 2)
    return false;
  /* Messages 0 and 2 are the initiator's, 1 the responder's. */
  return (hs->step == 1) == (hs->role == HW_NOISE_RESPONDER);
}

bool hw_noise_hs_done(const hw_noise_hs *hs)
{
  return !hs->failed && hs->step == 3;
}

/* Handshake bytes before the payload, and whether the payload is encrypted. */
static size_t msg_overhead(int step)
{
  switch (step) {
  case 0:
    return DH; /* e; no key yet: payload in clear */
  case 1:
    return DH + DH + TAG + TAG; /* e, encrypted s, payload tag */
  case 2:
    return DH + TAG + TAG; /* encrypted s, payload tag */
  default:
    return 0;
  }
}

size_t hw_noise_hs_msg_len(const hw_noise_hs *hs, size_t payload_len)
{
  return msg_overhead(hs->step) + payload_len;
}

static int fail(hw_noise_hs *hs, int rc)
{
  hs->failed = true;
  hw_memzero(&hs->ss, sizeof hs->ss);
  hw_memzero(hs->e_sec, DH);
  return rc;
}

int hw_noise_hs_write(hw_noise_hs *hs, const uint8_t *payload, size_t payload_len, uint8_t *out,
                      size_t out_cap, size_t *out_len)
{
  uint8_t dh[DH];
  size_t off = 0, n, need;
  int rc;

  *out_len = 0;
  if (hs->failed || hs->step > 2 || hs->spent)
    return HW_ECLOSED;
  if (!hw_noise_hs_is_my_turn(hs) || (payload_len && !payload))
    return HW_EINVAL;
  need = msg_overhead(hs->step);
  if (payload_len > HW_NOISE_MSG_MAX - need)
    return HW_ELIMIT;
  need += payload_len;
  if (need > out_cap)
    return HW_EINVAL;

  /* Token e (both sides' first message). */
  if (hs->step < 2) {
    if (!hs->e_fixed)
      hw__x25519_keygen(hs->e_sec, hs->e_pub);
    memcpy(out, hs->e_pub, DH);
    off = DH;
    mix_hash(&hs->ss, hs->e_pub, DH);
  }
  if (hs->step == 1) {
    /* <- e, ee, s, es */
    if ((rc = hw__x25519(dh, hs->e_sec, hs->re)))
      goto out;
    mix_key(&hs->ss, dh);
    encrypt_and_hash(&hs->ss, hs->s->pub, DH, out + off, &n);
    off += n;
    if ((rc = hw__x25519(dh, hs->s->sec, hs->re)))
      goto out;
    mix_key(&hs->ss, dh);
  } else if (hs->step == 2) {
    /* -> s, se */
    encrypt_and_hash(&hs->ss, hs->s->pub, DH, out + off, &n);
    off += n;
    if ((rc = hw__x25519(dh, hs->s->sec, hs->re)))
      goto out;
    mix_key(&hs->ss, dh);
  }
  encrypt_and_hash(&hs->ss, payload, payload_len, out + off, &n);
  off += n;
  hs->step++;
  *out_len = off;
  rc = HW_OK;
out:
  hw_memzero(dh, sizeof dh);
  if (rc) {
    hw_memzero(out, need);
    return fail(hs, rc);
  }
  return HW_OK;
}

int hw_noise_hs_read(hw_noise_hs *hs, const uint8_t *msg, size_t msg_len, uint8_t *payload,
                     size_t cap, size_t *payload_len)
{
  uint8_t dh[DH];
  uint8_t rs[DH];
  size_t off = 0, n, need;
  int rc;

  *payload_len = 0;
  if (hs->failed || hs->step > 2 || hs->spent)
    return HW_ECLOSED;
  if (hw_noise_hs_is_my_turn(hs))
    return HW_EINVAL;
  need = msg_overhead(hs->step);
  if (msg_len < need || msg_len > HW_NOISE_MSG_MAX)
    return fail(hs, HW_EPROTO);
  if (msg_len - need > cap)
    return HW_EINVAL;

  if (hs->step < 2) {
    memcpy(hs->re, msg, DH);
    off = DH;
    mix_hash(&hs->ss, hs->re, DH);
  }
  if (hs->step == 1) {
    /* <- e, ee, s, es (initiator reading) */
    if ((rc = hw__x25519(dh, hs->e_sec, hs->re)))
      goto out;
    mix_key(&hs->ss, dh);
    if ((rc = decrypt_and_hash(&hs->ss, msg + off, DH + TAG, rs, &n)))
      goto out;
    off += DH + TAG;
    /* security.md B: the device checks the server's key against its pin
     * before going on; a mismatch ends the handshake before message 3 can
     * reveal the device's identity. */
    if (hw_memcmp_ct(rs, hs->pin, DH) != 0) {
      rc = HW_EAUTH;
      goto out;
    }
    memcpy(hs->rs, rs, DH);
    hs->has_rs = true;
    if ((rc = hw__x25519(dh, hs->e_sec, hs->rs)))
      goto out;
    mix_key(&hs->ss, dh);
  } else if (hs->step == 2) {
    /* -> s, se (responder reading) */
    if ((rc = decrypt_and_hash(&hs->ss, msg + off, DH + TAG, rs, &n)))
      goto out;
    off += DH + TAG;
    memcpy(hs->rs, rs, DH);
    hs->has_rs = true;
    if ((rc = hw__x25519(dh, hs->e_sec, hs->rs)))
      goto out;
    mix_key(&hs->ss, dh);
  }
  if ((rc = decrypt_and_hash(&hs->ss, msg + off, msg_len - off, payload, payload_len)))
    goto out;
  hs->step++;
  rc = HW_OK;
out:
  hw_memzero(dh, sizeof dh);
  if (rc) {
    *payload_len = 0;
    hs->has_rs = false;
    hw_memzero(hs->rs, DH);
    return fail(hs, rc);
  }
  return HW_OK;
}

int hw_noise_hs_remote_static(const hw_noise_hs *hs, uint8_t rs[static HW_NOISE_KEY_BYTES])
{
  if (hs->failed || !hs->has_rs) {
    memset(rs, 0, DH);
    return HW_EINVAL;
  }
  memcpy(rs, hs->rs, DH);
  return HW_OK;
}

int hw_noise_hs_split(hw_noise_hs *hs, hw_noise_cs **send, hw_noise_cs **recv,
                      uint8_t hash[static HW_NOISE_HASH_BYTES])
{
  uint8_t k1[HASH], k2[HASH];
  hw_noise_cs *c1, *c2;

  *send = *recv = NULL;
  memset(hash, 0, HASH);
  if (!hw_noise_hs_done(hs) || hs->spent)
    return HW_EINVAL;
  hkdf2(hs->ss.ck, NULL, 0, k1, k2); /* §5.2 Split: HKDF(ck, zerolen, 2) */
  c1 = cs_new(k1, 0);
  c2 = cs_new(k2, 0);
  hw_memzero(k1, sizeof k1);
  hw_memzero(k2, sizeof k2);
  if (!c1 || !c2) {
    hw_noise_cs_free(c1);
    hw_noise_cs_free(c2);
    return HW_ENOMEM;
  }
  memcpy(hash, hs->ss.h, HASH);
  /* The initiator sends with the first key, the responder with the second. */
  *send = hs->role == HW_NOISE_INITIATOR ? c1 : c2;
  *recv = hs->role == HW_NOISE_INITIATOR ? c2 : c1;
  hs->spent = true;
  hw_memzero(&hs->ss, sizeof hs->ss);
  hw_memzero(hs->e_sec, DH);
  return HW_OK;
}

void hw_noise_hs_free(hw_noise_hs *hs)
{
  hw__secure_free(hs);
}
