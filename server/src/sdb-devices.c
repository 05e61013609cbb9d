/* Devices, their replica ids and invitations in the server database
 * (sdb-int.h). */
#include <string.h>

#include "homeward/checksum.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"
#include "sdb-priv.h"

int hw__sdb_text_col(sqlite3_stmt *st, int col, char *out, size_t cap)
{
  const unsigned char *t = sqlite3_column_text(st, col);
  int n = sqlite3_column_bytes(st, col);

  if (!t || n < 0 || (size_t)n >= cap)
    return HW_ECORRUPT;
  memcpy(out, t, (size_t)n);
  out[n] = '\0';
  return HW_OK;
}

int hw_sdb_device_get(hw_sdb *s, const uint8_t key[static HW_DEVICE_KEY_BYTES], hw_sdb_device *out)
{
  sqlite3_stmt *st = s->st[ST_DEV_GET];
  int rc;

  memset(out, 0, sizeof *out);
  sqlite3_bind_blob(st, 1, key, HW_DEVICE_KEY_BYTES, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    rc = hw__sdb_text_col(st, 0, out->worker, sizeof out->worker);
    if (!rc)
      rc = hw__sdb_text_col(st, 1, out->role, sizeof out->role);
    if (!rc)
      rc = hw__sdb_text_col(st, 2, out->status, sizeof out->status);
  } else {
    rc = rc == SQLITE_DONE ? HW_ENOENT : hw__sdb_from_sqlite(rc);
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc;
}

int hw_sdb_device_put(hw_sdb *s, const uint8_t key[static HW_DEVICE_KEY_BYTES], const char *worker,
                      const char *role, int64_t now_ms)
{
  sqlite3_stmt *st = s->st[ST_DEV_PUT];

  sqlite3_bind_blob(st, 1, key, HW_DEVICE_KEY_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, worker, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, role, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, now_ms);
  return hw__sdb_exec_st(s, ST_DEV_PUT);
}

int hw_sdb_device_set_status(hw_sdb *s, const uint8_t key[static HW_DEVICE_KEY_BYTES],
                             const char *status, int64_t now_ms)
{
  sqlite3_stmt *st = s->st[ST_DEV_STATUS];
  int rc;

  sqlite3_bind_blob(st, 1, key, HW_DEVICE_KEY_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, now_ms);
  rc = hw__sdb_exec_st(s, ST_DEV_STATUS);
  if (rc == 0 && sqlite3_changes(s->db) == 0)
    rc = HW_ENOENT;
  return rc;
}

int hw_sdb_replica_bind(hw_sdb *s, const hw_id *replica,
                        const uint8_t key[static HW_DEVICE_KEY_BYTES], const hw_id *inherits,
                        int64_t now_ms)
{
  sqlite3_stmt *st = s->st[ST_REP_GET];
  int rc;

  sqlite3_bind_blob(st, 1, replica->b, HW_ID_BYTES, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    /* Bound on first use; another device's replica id is refused. */
    rc = sqlite3_column_bytes(st, 0) == HW_DEVICE_KEY_BYTES &&
                 hw_memcmp_ct(sqlite3_column_blob(st, 0), key, HW_DEVICE_KEY_BYTES) == 0
             ? HW_OK
             : HW_EPERM;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE)
    return hw__sdb_from_sqlite(rc);
  st = s->st[ST_REP_PUT];
  sqlite3_bind_blob(st, 1, replica->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, key, HW_DEVICE_KEY_BYTES, SQLITE_STATIC);
  if (inherits)
    sqlite3_bind_blob(st, 3, inherits->b, HW_ID_BYTES, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 3);
  sqlite3_bind_int64(st, 4, now_ms);
  return hw__sdb_exec_st(s, ST_REP_PUT);
}

int hw_sdb_replicas_of(hw_sdb *s, const uint8_t key[static HW_DEVICE_KEY_BYTES], hw_id **out,
                       size_t max, size_t *n)
{
  sqlite3_stmt *st = s->st[ST_REP_LIST];
  size_t cap = 0;
  int rc;

  *n = 0;
  *out = NULL;
  sqlite3_bind_blob(st, 1, key, HW_DEVICE_KEY_BYTES, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (*n == max) {
      rc = HW_ELIMIT;
      break;
    }
    if ((rc = hw_grow(out, &cap, *n + 1, sizeof **out, 8)) != 0 ||
        (rc = hw__sdb_blob_exact(st, 0, (*out)[*n].b, HW_ID_BYTES)) != 0)
      break;
    (*n)++;
  }
  rc = hw__sdb_walk_end(st, rc);
  if (rc) {
    hw_free(*out);
    *out = NULL;
    *n = 0;
  }
  return rc;
}

int hw_sdb_invitation_put(hw_sdb *s, const uint8_t token_hash[static HW_HASH_BYTES],
                          const char *worker, const char *role, int64_t expires_ms)
{
  sqlite3_stmt *st = s->st[ST_INV_PUT];

  sqlite3_bind_blob(st, 1, token_hash, HW_HASH_BYTES, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, worker, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, role, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, expires_ms);
  return hw__sdb_exec_st(s, ST_INV_PUT);
}

int hw_sdb_invitation_use(hw_sdb *s, const uint8_t token_hash[static HW_HASH_BYTES],
                          const uint8_t key[static HW_DEVICE_KEY_BYTES], int64_t now_ms,
                          hw_sdb_device *out)
{
  sqlite3_stmt *st = s->st[ST_INV_GET];
  int rc, used;

  memset(out, 0, sizeof *out);
  sqlite3_bind_blob(st, 1, token_hash, HW_HASH_BYTES, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    rc = rc == SQLITE_DONE ? HW_EAUTH : hw__sdb_from_sqlite(rc);
    goto out;
  }
  if ((rc = hw__sdb_text_col(st, 0, out->worker, sizeof out->worker)) != 0 ||
      (rc = hw__sdb_text_col(st, 1, out->role, sizeof out->role)) != 0)
    goto out;
  if (sqlite3_column_int64(st, 2) <= now_ms) {
    rc = HW_EAUTH; /* expired */
    goto out;
  }
  used = sqlite3_column_type(st, 3) != SQLITE_NULL;
  if (used) {
    /* The reply to an enrolment may have been lost: the same device key may
     * repeat it until the token expires; any other key is refused. */
    rc = sqlite3_column_bytes(st, 3) == HW_DEVICE_KEY_BYTES &&
                 hw_memcmp_ct(sqlite3_column_blob(st, 3), key, HW_DEVICE_KEY_BYTES) == 0
             ? HW_OK
             : HW_EAUTH;
    goto out;
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  st = s->st[ST_INV_USE];
  sqlite3_bind_blob(st, 1, token_hash, HW_HASH_BYTES, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, key, HW_DEVICE_KEY_BYTES, SQLITE_STATIC);
  rc = hw__sdb_exec_st(s, ST_INV_USE);
  if (rc == 0)
    snprintf(out->status, sizeof out->status, "new");
  return rc;
out:
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc)
    memset(out, 0, sizeof *out);
  return rc;
}

int hw_sdb_invitations_void(hw_sdb *s, int64_t now_ms, const char *worker, uint64_t *n)
{
  int which = worker ? ST_INV_VOID_WORKER : ST_INV_VOID;
  int rc;

  sqlite3_bind_int64(s->st[which], 1, now_ms);
  if (worker)
    sqlite3_bind_text(s->st[which], 2, worker, -1, SQLITE_STATIC);
  rc = hw__sdb_exec_st(s, which);
  *n = rc ? 0 : (uint64_t)sqlite3_changes(s->db);
  return rc;
}

int hw_sdb_invitations(hw_sdb *s, int64_t now_ms, hw_sdb_invitation_cb cb, void *ud)
{
  sqlite3_stmt *st = s->st[ST_INV_LIST];
  int rc;

  sqlite3_bind_int64(st, 1, now_ms);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    char worker[HW_WORKER_MAX], role[16];
    if (hw__sdb_text_col(st, 0, worker, sizeof worker) ||
        hw__sdb_text_col(st, 1, role, sizeof role)) {
      rc = HW_ECORRUPT;
      break;
    }
    if ((rc = cb(worker, role, sqlite3_column_int64(st, 2), ud)) != 0)
      break;
  }
  return hw__sdb_walk_end(st, rc);
}

int hw_sdb_person_roles(hw_sdb *s, const char *name, unsigned *roles)
{
  sqlite3_stmt *st = s->st[ST_PERSON_ROLES];
  int rc;

  *roles = 0;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *role = (const char *)sqlite3_column_text(st, 0);
    if (role && strcmp(role, "worker") == 0)
      *roles |= HW_SDB_ROLE_WORKER;
    else if (role && strcmp(role, "coordinator") == 0)
      *roles |= HW_SDB_ROLE_COORDINATOR;
  }
  return hw__sdb_walk_end(st, rc);
}

int hw_sdb_devices(hw_sdb *s, hw_sdb_device_cb cb, void *ud)
{
  sqlite3_stmt *st = s->st[ST_DEV_LIST];
  int rc;

  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    hw_sdb_device d = {0};
    uint8_t key[HW_DEVICE_KEY_BYTES];
    if (hw__sdb_blob_exact(st, 0, key, sizeof key) ||
        hw__sdb_text_col(st, 1, d.worker, sizeof d.worker) ||
        hw__sdb_text_col(st, 2, d.role, sizeof d.role) ||
        hw__sdb_text_col(st, 3, d.status, sizeof d.status)) {
      rc = HW_ECORRUPT;
      break;
    }
    if ((rc = cb(key, &d, ud)) != 0)
      break;
  }
  return hw__sdb_walk_end(st, rc);
}

/* The end of a walk for one row: SQLITE_DONE with `found` rows is HW_OK
 * (one) or HW_ENOENT (none); any other rc stands (HW_EEXIST: several). */
int hw_sdb_device_by_prefix(hw_sdb *s, const char *hex_prefix,
                            uint8_t key[static HW_DEVICE_KEY_BYTES])
{
  sqlite3_stmt *st = s->st[ST_DEV_BY_PREFIX];
  char up[2 * HW_DEVICE_KEY_BYTES + 1];
  size_t n = strlen(hex_prefix);
  int rc, found = 0;

  if (n < 8 || n > 2 * HW_DEVICE_KEY_BYTES)
    return HW_EINVAL;
  /* Hex digits only: the prefix goes into a LIKE pattern, where % and _
   * would match other keys. */
  for (size_t i = 0; i < n; i++)
    if (!strchr("0123456789abcdefABCDEF", hex_prefix[i]))
      return HW_EINVAL;
  for (size_t i = 0; i <= n; i++)
    up[i] = (char)(hex_prefix[i] >= 'a' && hex_prefix[i] <= 'f' ? hex_prefix[i] - 32
                                                                 : hex_prefix[i]);
  sqlite3_bind_text(st, 1, up, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (found++ || hw__sdb_blob_exact(st, 0, key, HW_DEVICE_KEY_BYTES)) {
      rc = found > 1 ? HW_EEXIST : HW_ECORRUPT; /* ambiguous prefix */
      break;
    }
  }
  return hw__sdb_unique_end(st, rc, found);
}
