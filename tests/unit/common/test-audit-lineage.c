/* Signed audit heads, the audit chain step, keyed value hashes, lineage. */
#include <string.h>

#include "check.h"
#include "homeward/audit-head.h"
#include "homeward/lineage.h"

static void heads(void)
{
  uint8_t pk[HW_SIGN_PUBLIC_BYTES], pk2[HW_SIGN_PUBLIC_BYTES];
  uint8_t *sk = hw_secure_alloc(HW_SIGN_SECRET_BYTES), *sk2 = hw_secure_alloc(HW_SIGN_SECRET_BYTES);
  hw_signed_head h = {.seq = 41, .time_ms = 1767000000000}, newer, other;
  uint8_t zero[HW_HASH_BYTES] = {0};

  CHECK(sk && sk2);
  hw_sign_keypair(pk, sk);
  hw_sign_keypair(pk2, sk2);
  h.epoch = 0x5a17c3e9u;
  hw_audit_chain_step(h.hash, zero, 41, (const uint8_t *)"entry", 5);
  hw_signed_head_sign(&h, sk);
  CHECK_OK(hw_signed_head_verify(&h, pk));
  CHECK_ERR(hw_signed_head_verify(&h, pk2), HW_EAUTH);
  /* every signed part is covered */
  newer = h, newer.seq++;
  CHECK_ERR(hw_signed_head_verify(&newer, pk), HW_EAUTH);
  newer = h, newer.hash[0] ^= 1;
  CHECK_ERR(hw_signed_head_verify(&newer, pk), HW_EAUTH);
  newer = h, newer.time_ms++;
  CHECK_ERR(hw_signed_head_verify(&newer, pk), HW_EAUTH);
  newer = h, newer.epoch ^= 8;
  CHECK_ERR(hw_signed_head_verify(&newer, pk), HW_EAUTH);

  /* follows: forward ok, backwards or rewritten refused, new epoch told */
  newer = h;
  newer.seq = 50;
  hw_audit_chain_step(newer.hash, h.hash, 50, (const uint8_t *)"x", 1);
  CHECK_OK(hw_signed_head_follows(&h, &newer));
  CHECK_OK(hw_signed_head_follows(&h, &h));
  CHECK_ERR(hw_signed_head_follows(&newer, &h), HW_ECORRUPT); /* truncated tail */
  other = h;
  other.hash[5] ^= 0x80;
  CHECK_ERR(hw_signed_head_follows(&h, &other), HW_ECORRUPT); /* rewritten */
  other = h;
  other.epoch++;
  CHECK_ERR(hw_signed_head_follows(&h, &other), HW_EVERSION);
  hw_secure_free(sk);
  hw_secure_free(sk2);
}

static void chain(void)
{
  uint8_t a[HW_HASH_BYTES], b[HW_HASH_BYTES], zero[HW_HASH_BYTES] = {0};
  uint8_t k1[HW_HASH_BYTES], k2[HW_HASH_BYTES], v1[HW_HASH_BYTES], v2[HW_HASH_BYTES];

  hw_audit_chain_step(a, zero, 1, (const uint8_t *)"e1", 2);
  hw_audit_chain_step(b, zero, 1, (const uint8_t *)"e1", 2);
  CHECK(memcmp(a, b, sizeof a) == 0);
  hw_audit_chain_step(b, zero, 2, (const uint8_t *)"e1", 2); /* seq is bound */
  CHECK(memcmp(a, b, sizeof a) != 0);
  hw_audit_chain_step(b, a, 1, (const uint8_t *)"e1", 2); /* prev is bound */
  CHECK(memcmp(a, b, sizeof a) != 0);
  memset(k1, 1, sizeof k1);
  memset(k2, 2, sizeof k2);
  hw_audit_value_hash(v1, k1, (const uint8_t *)"\x02", 1);
  hw_audit_value_hash(v2, k2, (const uint8_t *)"\x02", 1);
  CHECK(memcmp(v1, v2, sizeof v1) != 0); /* keyed: another key, another hash */
}

static void lineage(void)
{
  hw_lineage a, b;
  hw_id r1, r2;
  uint8_t d1[HW_HASH_BYTES], d2[HW_HASH_BYTES];

  memset(r1.b, 1, 16), memset(r2.b, 2, 16), memset(d1, 0xd1, 32), memset(d2, 0xd2, 32);
  hw_lineage_init(&a);
  hw_lineage_init(&b);
  CHECK_OK(hw_lineage_add(&a, 1, &r1, d1));
  CHECK_OK(hw_lineage_add(&a, 2, &r2, d2));
  CHECK_OK(hw_lineage_add(&b, 1, &r1, d1));
  CHECK_OK(hw_lineage_add(&b, 2, &r2, d2));
  CHECK(memcmp(a.digest, b.digest, HW_HASH_BYTES) == 0 && a.counter == 2);
  CHECK_ERR(hw_lineage_add(&a, 2, &r1, d1), HW_EINVAL);
  CHECK_ERR(hw_lineage_add(&a, 1, &r1, d1), HW_EINVAL);
  /* a copy that wrote something else under the same counter differs */
  hw_lineage_init(&b);
  CHECK_OK(hw_lineage_add(&b, 1, &r1, d1));
  CHECK_OK(hw_lineage_add(&b, 2, &r2, d1));
  CHECK(memcmp(a.digest, b.digest, HW_HASH_BYTES) != 0);
  /* and so does one that wrote the same to another record */
  hw_lineage_init(&b);
  CHECK_OK(hw_lineage_add(&b, 1, &r1, d1));
  CHECK_OK(hw_lineage_add(&b, 2, &r1, d2));
  CHECK(memcmp(a.digest, b.digest, HW_HASH_BYTES) != 0);
}

int main(void)
{
  CHECK_OK(hw_crypto_init());
  heads();
  chain();
  lineage();
  puts("audit heads, chain, lineage: ok");
  return 0;
}
