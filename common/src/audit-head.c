#include "homeward/audit-head.h"

#include <string.h>

static const char head_domain[] = "homeward-audit-head-v1";
static const char chain_domain[] = "homeward-audit-v1";

#define HEAD_MSG_LEN (sizeof head_domain + 8 + 8 + HW_HASH_BYTES + 8)

static void be64(uint8_t *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static void head_msg(const hw_signed_head *h, uint8_t msg[static HEAD_MSG_LEN])
{
  uint8_t *p = msg;

  memcpy(p, head_domain, sizeof head_domain); /* NUL included */
  p += sizeof head_domain;
  be64(p, h->epoch);
  p += 8;
  be64(p, h->seq);
  p += 8;
  memcpy(p, h->hash, HW_HASH_BYTES);
  p += HW_HASH_BYTES;
  be64(p, (uint64_t)h->time_ms);
}

void hw_signed_head_sign(hw_signed_head *h, const uint8_t sk[static HW_SIGN_SECRET_BYTES])
{
  uint8_t msg[HEAD_MSG_LEN];

  head_msg(h, msg);
  hw_sign(h->sig, msg, sizeof msg, sk);
}

int hw_signed_head_verify(const hw_signed_head *h, const uint8_t pk[static HW_SIGN_PUBLIC_BYTES])
{
  uint8_t msg[HEAD_MSG_LEN];

  head_msg(h, msg);
  return hw_sign_verify(h->sig, msg, sizeof msg, pk);
}

int hw_signed_head_follows(const hw_signed_head *kept, const hw_signed_head *newer)
{
  if (kept->epoch != newer->epoch)
    return HW_EVERSION;
  if (newer->seq < kept->seq)
    return HW_ECORRUPT;
  if (newer->seq == kept->seq && memcmp(newer->hash, kept->hash, HW_HASH_BYTES) != 0)
    return HW_ECORRUPT;
  return HW_OK;
}

void hw_audit_chain_step(uint8_t next[static HW_HASH_BYTES],
                         const uint8_t prev[static HW_HASH_BYTES], uint64_t seq,
                         const uint8_t *entry, size_t entry_len)
{
  hw_hash h;
  uint8_t s[8];

  be64(s, seq);
  hw_hash_init(&h, NULL, 0);
  hw_hash_update(&h, chain_domain, sizeof chain_domain);
  hw_hash_update(&h, prev, HW_HASH_BYTES);
  hw_hash_update(&h, s, sizeof s);
  hw_hash_update(&h, entry, entry_len);
  hw_hash_final(&h, next);
}

void hw_audit_value_hash(uint8_t out[static HW_HASH_BYTES], const uint8_t key[static HW_HASH_BYTES],
                         const uint8_t *value, size_t len)
{
  hw_hash h;

  hw_hash_init(&h, key, HW_HASH_BYTES);
  hw_hash_update(&h, value, len);
  hw_hash_final(&h, out);
}
