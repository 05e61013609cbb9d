/* The key envelope (docs/storage.md "Key envelope"): a fixed 292-byte file
 * beside the database that holds the data key wrapped under the passphrase
 * key (XChaCha20-Poly1305, header as associated data) and, when the store was
 * made with one, sealed to the organisation's recovery key. A BLAKE2b checksum
 * over everything tells a damaged envelope from a wrong passphrase. */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "store-int.h"

#define MAGIC "HWKEYENV"
#define HDR_BYTES 92
#define OFF_NONCE 92
#define OFF_WRAPPED 116
#define OFF_SEALED 164
#define OFF_SUM 260

/* Limits a stored envelope may ask of the KDF, checked before running it, so a
 * forged envelope cannot make the device allocate or spin without bound. */
#define OPS_MAX 16u
#define MEM_MAX (1024u * 1024u * 1024u)

_Static_assert(OFF_SUM + 32 == HW__ENV_BYTES, "envelope layout");
_Static_assert(sizeof(((hw__env *)0)->sealed) == crypto_box_SEALBYTES + HW__DBID + HW__KEY,
               "sealed size");

static void le64(uint8_t *p, uint64_t x)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(x >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
  uint64_t x = 0;
  for (int i = 7; i >= 0; i--)
    x = x << 8 | p[i];
  return x;
}

size_t hw__env_header(const hw__env *e, uint8_t out[128])
{
  memcpy(out, MAGIC, 8);
  out[8] = e->version;
  out[9] = e->flags;
  out[10] = e->kdf;
  out[11] = 0;
  le64(out + 12, e->opslimit);
  le64(out + 20, e->memlimit);
  memcpy(out + 28, e->salt, 16);
  memcpy(out + 44, e->dbid, 16);
  memcpy(out + 60, e->recovery_pk, 32);
  return HDR_BYTES;
}

void hw__env_encode(const hw__env *e, uint8_t out[HW__ENV_BYTES])
{
  hw__env_header(e, out);
  memcpy(out + OFF_NONCE, e->wrap_nonce, HW__NONCE);
  memcpy(out + OFF_WRAPPED, e->wrapped, sizeof e->wrapped);
  memcpy(out + OFF_SEALED, e->sealed, sizeof e->sealed);
  crypto_generichash(out + OFF_SUM, 32, out, OFF_SUM, NULL, 0);
}

int hw__env_decode(hw__env *e, const uint8_t *p, size_t n, int *why)
{
  uint8_t sum[32];

  memset(e, 0, sizeof *e);
  *why = HW__ENV_DAMAGED;
  if (n != HW__ENV_BYTES || memcmp(p, MAGIC, 8) != 0)
    return HW_EKEYFILE;
  crypto_generichash(sum, sizeof sum, p, OFF_SUM, NULL, 0);
  if (sodium_memcmp(sum, p + OFF_SUM, 32) != 0)
    return HW_EKEYFILE;
  if (p[8] != 1) {
    *why = HW__ENV_VERSION;
    return HW_EKEYFILE;
  }
  if ((p[9] & ~HW__ENV_F_RECOVERY) != 0 || p[11] != 0 ||
      (p[10] != HW__KDF_ARGON2ID && p[10] != HW__KDF_KEYFILE))
    return HW_EKEYFILE;
  e->version = p[8];
  e->flags = p[9];
  e->kdf = p[10];
  e->opslimit = get_le64(p + 12);
  e->memlimit = get_le64(p + 20);
  if (e->kdf == HW__KDF_ARGON2ID &&
      (e->opslimit < crypto_pwhash_OPSLIMIT_MIN || e->opslimit > OPS_MAX ||
       e->memlimit < crypto_pwhash_MEMLIMIT_MIN || e->memlimit > MEM_MAX)) {
    memset(e, 0, sizeof *e);
    *why = HW__ENV_LIMITS;
    return HW_EKEYFILE;
  }
  memcpy(e->salt, p + 28, 16);
  memcpy(e->dbid, p + 44, 16);
  memcpy(e->recovery_pk, p + 60, 32);
  memcpy(e->wrap_nonce, p + OFF_NONCE, HW__NONCE);
  memcpy(e->wrapped, p + OFF_WRAPPED, sizeof e->wrapped);
  memcpy(e->sealed, p + OFF_SEALED, sizeof e->sealed);
  *why = HW__ENV_OK;
  return HW_OK;
}

int hw__env_kek(const hw__env *e, const uint8_t *secret, size_t secret_len, uint8_t kek[HW__KEY])
{
  if (e->kdf == HW__KDF_KEYFILE) {
    /* A key file holds 32 random bytes: no stretching needed, only binding
     * to this envelope's salt. */
    if (secret_len != HW__KEY)
      return HW_EINVAL;
    crypto_generichash(kek, HW__KEY, e->salt, sizeof e->salt, secret, secret_len);
    return HW_OK;
  }
  errno = 0;
  if (crypto_pwhash(kek, HW__KEY, (const char *)secret, secret_len, e->salt, e->opslimit,
                    (size_t)e->memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    /* Argon2 fails only when it cannot get its memory (or on bad limits,
     * which decode refused): never report this as a wrong passphrase. */
    return errno == EINVAL ? HW_EINVAL : HW_ENOMEM;
  }
  return HW_OK;
}

void hw__env_wrap(hw__env *e, const uint8_t kek[HW__KEY], const uint8_t dek[HW__KEY])
{
  uint8_t ad[128];
  size_t ad_len = hw__env_header(e, ad);

  randombytes_buf(e->wrap_nonce, sizeof e->wrap_nonce);
  crypto_aead_xchacha20poly1305_ietf_encrypt(e->wrapped, NULL, dek, HW__KEY, ad, ad_len, NULL,
                                             e->wrap_nonce, kek);
}

int hw__env_unwrap(const hw__env *e, const uint8_t kek[HW__KEY], uint8_t dek[HW__KEY])
{
  uint8_t ad[128];
  size_t ad_len = hw__env_header(e, ad);

  if (crypto_aead_xchacha20poly1305_ietf_decrypt(dek, NULL, NULL, e->wrapped, sizeof e->wrapped, ad,
                                                 ad_len, e->wrap_nonce, kek) != 0) {
    sodium_memzero(dek, HW__KEY);
    return HW_EPASSPHRASE;
  }
  return HW_OK;
}

static int hexval(uint8_t c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int hw__keyfile_parse(const uint8_t *p, size_t n, uint8_t key[HW__KEY])
{
  memset(key, 0, HW__KEY);
  if (n == HW__KEY) {
    memcpy(key, p, HW__KEY);
    return HW_OK;
  }
  if (n == 2 * HW__KEY + 1 && p[n - 1] == '\n')
    n--;
  if (n != 2 * HW__KEY)
    return HW_EKEYFILE;
  for (size_t i = 0; i < HW__KEY; i++) {
    int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      sodium_memzero(key, HW__KEY);
      return HW_EKEYFILE;
    }
    key[i] = (uint8_t)(hi << 4 | lo);
  }
  return HW_OK;
}
