/* The store's keys: passphrase and key-file changes, organisation recovery
 * (store.h; docs/storage.md "Keys"). */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "homeward/checksum.h"
#include "homeward/limits.h"
#include "homeward/mem.h"
#include "homeward/store-testvfs.h"
#include "store-priv.h"

/* ---- keys ---- */

int hw_store_change_passphrase(hw_store *st, const uint8_t *pass, size_t pass_len)
{
  hw_store_opts to = {.passphrase = pass, .passphrase_len = pass_len};
  hw_store_info info;

  if (!pass || st->env.kdf != HW__KDF_ARGON2ID)
    return HW_EINVAL;
  return hw_store_rekey(st, &to, &info);
}

int hw_store_rekey(hw_store *st, const hw_store_opts *to, hw_store_info *info)
{
  hw__env e = st->env;
  uint8_t env_bytes[HW__ENV_BYTES];
  uint8_t *kek, *secret = NULL;
  size_t secret_len = 0;
  int rc;

  memset(info, 0, sizeof *info);
  if (!to || (!to->passphrase) == (!to->key_file) || !sqlite3_get_autocommit(st->db))
    return HW_EINVAL;
  if ((rc = hw__st_get_secret(st, to, &secret, &secret_len, info)) != 0)
    return rc;
  kek = sodium_malloc(HW__KEY);
  if (!kek) {
    sodium_free(secret);
    return HW_ENOMEM;
  }
  e.kdf = to->key_file ? HW__KDF_KEYFILE : HW__KDF_ARGON2ID;
  e.opslimit = 0;
  e.memlimit = 0;
  if (e.kdf == HW__KDF_ARGON2ID)
    hw__st_kdf_limits(st->test_flags, &e);
  randombytes_buf(e.salt, sizeof e.salt);
  rc = hw__env_kek(&e, secret, secret_len, kek);
  sodium_free(secret);
  if (rc == HW_OK) {
    hw__env_wrap(&e, kek, st->dek);
    hw__env_encode(&e, env_bytes);
    rc = hw__fs_write_atomic(st->fs, st->env_path, env_bytes, sizeof env_bytes,
                             st->test_flags & HW_STORE_TEST_NO_DIRSYNC);
    if (rc == HW_OK)
      st->env = e;
  }
  sodium_free(kek);
  sodium_memzero(&e, sizeof e);
  return rc;
}

int hw_store_recover(const hw_store_opts *o, const uint8_t pk[static HW_STORE_RECOVERY_PK_BYTES],
                     const uint8_t sk[static HW_STORE_RECOVERY_SK_BYTES])
{
  uint8_t buf[HW__ENV_BYTES + 1], m[HW__DBID + HW__KEY];
  char *path = NULL, *env_path = NULL;
  uint8_t *kek = NULL;
  hw__env e;
  size_t n;
  int rc, why;
  const hw__fs *fs;

  if (!o || !o->path || !o->passphrase)
    return HW_EINVAL;
  if (hw_crypto_init() != HW_OK)
    return HW_EINTERNAL;
  fs = (o->base_vfs && strcmp(o->base_vfs, HW_TESTVFS_NAME) == 0) ? hw__fs_test() : hw__fs_posix();
  path = hw__st_abs_path(o->path);
  env_path = path ? hw__st_str_cat(path, ".hwkey") : NULL;
  kek = sodium_malloc(HW__KEY);
  if (!path || !env_path || !kek) {
    rc = HW_ENOMEM;
    goto out;
  }
  rc = hw__fs_read(env_path, buf, sizeof buf, &n);
  if (rc)
    goto out;
  rc = hw__env_decode(&e, buf, n, &why);
  if (rc)
    goto out;
  if (!(e.flags & HW__ENV_F_RECOVERY) || sodium_memcmp(e.recovery_pk, pk, 32) != 0) {
    rc = HW_EKEYFILE;
    goto out;
  }
  if (crypto_box_seal_open(m, e.sealed, sizeof e.sealed, pk, sk) != 0) {
    rc = HW_EAUTH;
    goto out;
  }
  if (sodium_memcmp(m, e.dbid, HW__DBID) != 0) {
    rc = HW_EKEYFILE;
    goto out;
  }
  e.kdf = HW__KDF_ARGON2ID;
  hw__st_kdf_limits(o->test_flags, &e);
  randombytes_buf(e.salt, sizeof e.salt);
  rc = hw__env_kek(&e, o->passphrase, o->passphrase_len, kek);
  if (rc)
    goto out;
  hw__env_wrap(&e, kek, m + HW__DBID);
  hw__env_encode(&e, buf);
  rc = hw__fs_write_atomic(fs, env_path, buf, HW__ENV_BYTES, false);
out:
  sodium_memzero(m, sizeof m);
  sodium_memzero(&e, sizeof e);
  if (kek)
    sodium_free(kek);
  hw_free(path);
  hw_free(env_path);
  return rc;
}

int hw_store_subkey(hw_store *st, uint64_t id, uint8_t out[static HW_STORE_KEY_BYTES])
{
  if (id < 16)
    return HW_EINVAL;
  crypto_kdf_derive_from_key(out, HW_STORE_KEY_BYTES, id, SUBKEY_CTX, st->dek);
  return HW_OK;
}
