/* Settings, the replica's identity, the journal of its own writes and
 * maintenance of the store (store.h). */
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

/* ---- settings ---- */

static int check_name(const char *name)
{
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > HW_STORE_SETTING_KEY_MAX || strncmp(name, "hw.", 3) == 0)
    return HW_EINVAL;
  return HW_OK;
}

int hw_store_setting_set(hw_store *st, const char *name, const void *v, size_t len)
{
  int rc = check_name(name);
  if (rc)
    return rc;
  if (len > HW_STORE_SETTING_MAX)
    return HW_ELIMIT;
  return hw__st_setting_put_raw(st, name, v, len);
}

int hw_store_setting_get(hw_store *st, const char *name, uint8_t **v, size_t *len)
{
  sqlite3_stmt *s;
  int rc = check_name(name);

  *v = NULL;
  *len = 0;
  if (rc)
    return rc;
  rc = hw__st_stmt(st, S_SET_GET, &s);
  if (rc)
    return rc;
  sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    size_t n = (size_t)sqlite3_column_bytes(s, 0);
    const void *p = sqlite3_column_blob(s, 0);
    *v = hw_malloc(n);
    if (!*v || (n && !p)) {
      hw_free(*v);
      *v = NULL;
      rc = HW_ENOMEM;
    } else {
      if (n)
        memcpy(*v, p, n);
      *len = n;
      rc = HW_OK;
    }
  } else {
    rc = rc == SQLITE_DONE ? HW_ENOENT : hw__st_from_sqlite(st, rc);
  }
  sqlite3_reset(s);
  return rc;
}

int hw_store_setting_del(hw_store *st, const char *name)
{
  sqlite3_stmt *s;
  int rc = check_name(name);
  if (rc)
    return rc;
  rc = hw__st_stmt(st, S_SET_DEL, &s);
  if (rc)
    return rc;
  sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
  return hw__st_step_done(st, s);
}

int hw_store_setting_del_prefix(hw_store *st, const char *prefix)
{
  char end[HW_STORE_SETTING_KEY_MAX + 1];
  size_t n = prefix ? strlen(prefix) : 0;
  sqlite3_stmt *s;
  int rc = check_name(prefix);

  if (rc || (unsigned char)prefix[n - 1] == 0xff)
    return rc ? rc : HW_EINVAL;
  /* The names below the prefix's successor: the prefix's last byte plus one. */
  memcpy(end, prefix, n + 1);
  end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
  if ((rc = hw__st_stmt(st, S_SET_DEL_RANGE, &s)) != 0)
    return rc;
  sqlite3_bind_text(s, 1, prefix, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, end, -1, SQLITE_STATIC);
  return hw__st_step_done(st, s);
}

/* ---- replica identity ---- */

void hw_store_replica(const hw_store *st, hw_id *replica, uint64_t *counter)
{
  if (replica)
    *replica = st->replica;
  if (counter)
    *counter = st->counter;
}

int hw_store_new_replica(hw_store *st, hw_dot *inherits)
{
  uint8_t b[HW_ID_BYTES + 8];
  hw_id fresh;
  int rc;

  if (inherits)
    memset(inherits, 0, sizeof *inherits);
  if (!sqlite3_get_autocommit(st->db))
    return HW_EINVAL;
  hw_id_random(&fresh);
  memcpy(b, st->replica.b, HW_ID_BYTES);
  hw__st_put_be64(b + HW_ID_BYTES, st->counter);
  rc = hw__st_exec(st, "BEGIN IMMEDIATE");
  if (rc)
    return rc;
  rc = hw__st_setting_put_raw(st, "hw.inherits", b, sizeof b);
  if (rc == HW_OK)
    rc = hw__st_setting_put_raw(st, "hw.replica", fresh.b, HW_ID_BYTES);
  if (rc == HW_OK)
    rc = hw__st_u64_put(st, "hw.counter", 0);
  if (rc == HW_OK)
    rc = hw__st_u64_put(st, "hw.start", st->start + 1);
  if (rc == HW_OK) {
    sqlite3_stmt *s;
    rc = hw__st_stmt(st, S_SET_DEL, &s);
    if (rc == HW_OK) {
      sqlite3_bind_text(s, 1, "hw.backup", -1, SQLITE_STATIC);
      rc = hw__st_step_done(st, s);
    }
  }
  if (rc == HW_OK)
    rc = hw__st_exec(st, "COMMIT");
  if (rc) {
    if (!sqlite3_get_autocommit(st->db))
      (void)hw__st_exec(st, "ROLLBACK");
    return rc;
  }
  if (inherits) {
    inherits->replica = st->replica;
    inherits->counter = st->counter;
  }
  st->replica = fresh;
  st->counter = 0;
  st->start++;
  /* The store now holds the new identity durably; the no-backup record
   * follows. A crash in between reads as restored again: safe. */
  rc = hw__st_local_write(st);
  if (rc)
    return rc;
  st->restored = false;
  return HW_OK;
}

int hw_store_inherits(hw_store *st, hw_dot *out)
{
  uint8_t b[HW_ID_BYTES + 8];
  size_t n;
  int rc = hw__st_setting_get_raw(st, "hw.inherits", b, sizeof b, &n);

  memset(out, 0, sizeof *out);
  if (rc)
    return rc;
  if (n != sizeof b)
    return HW_ECORRUPT;
  memcpy(out->replica.b, b, HW_ID_BYTES);
  out->counter = hw__st_get_be64(b + HW_ID_BYTES);
  return HW_OK;
}

/* ---- journal of own writes ---- */

int hw_store_journal_get(hw_store *st, const hw_dot *dot, hw_id *record,
                         uint8_t digest[static HW_HASH_BYTES])
{
  sqlite3_stmt *s;
  int rc = hw__st_stmt(st, S_OW_GET, &s);

  memset(record, 0, sizeof *record);
  memset(digest, 0, HW_HASH_BYTES);
  if (rc)
    return rc;
  sqlite3_bind_blob(s, 1, dot->replica.b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)dot->counter);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    if (sqlite3_column_bytes(s, 0) != HW_ID_BYTES || sqlite3_column_bytes(s, 1) != HW_HASH_BYTES) {
      rc = HW_ECORRUPT;
    } else {
      memcpy(record->b, sqlite3_column_blob(s, 0), HW_ID_BYTES);
      memcpy(digest, sqlite3_column_blob(s, 1), HW_HASH_BYTES);
      rc = HW_OK;
    }
  } else {
    rc = rc == SQLITE_DONE ? HW_ENOENT : hw__st_from_sqlite(st, rc);
  }
  sqlite3_reset(s);
  return rc;
}

int hw_store_journal_list(hw_store *st, const hw_id *replica, uint64_t after,
                          hw_store_journal_cb cb, void *ud)
{
  sqlite3_stmt *s;
  hw_dot d;
  hw_id rec;
  uint8_t dig[HW_HASH_BYTES];
  int rc = hw__st_stmt(st, S_OW_LIST, &s);

  if (rc)
    return rc;
  if (after > (uint64_t)INT64_MAX)
    after = (uint64_t)INT64_MAX;
  sqlite3_bind_blob(s, 1, replica->b, HW_ID_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)after);
  d.replica = *replica;
  for (;;) {
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
      rc = HW_OK;
      break;
    }
    if (rc != SQLITE_ROW) {
      rc = hw__st_from_sqlite(st, rc);
      break;
    }
    if (sqlite3_column_bytes(s, 1) != HW_ID_BYTES || sqlite3_column_bytes(s, 2) != HW_HASH_BYTES) {
      rc = HW_ECORRUPT;
      break;
    }
    d.counter = (uint64_t)sqlite3_column_int64(s, 0);
    memcpy(rec.b, sqlite3_column_blob(s, 1), HW_ID_BYTES);
    memcpy(dig, sqlite3_column_blob(s, 2), HW_HASH_BYTES);
    rc = cb(ud, &d, &rec, dig);
    if (rc)
      break;
  }
  sqlite3_reset(s);
  return rc;
}

/* ---- maintenance ---- */

int hw_store_check(hw_store *st)
{
  sqlite3_stmt *s = NULL;
  int rc;

  hw__cvfs_reset_tampered(st->vfs);
  rc = sqlite3_prepare_v2(st->db, "PRAGMA integrity_check", -1, &s, NULL);
  if (rc != SQLITE_OK)
    return hw__st_from_sqlite(st, rc);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    const unsigned char *t = sqlite3_column_text(s, 0);
    rc = t && strcmp((const char *)t, "ok") == 0 ? HW_OK : HW_ECORRUPT;
  } else {
    rc = hw__st_from_sqlite(st, rc);
    if (rc == HW_OK)
      rc = HW_ECORRUPT;
  }
  sqlite3_finalize(s);
  if (hw__cvfs_tampered(st->vfs) > 0)
    rc = HW_ETAMPER;
  return rc;
}

int hw_store_vacuum(hw_store *st)
{
  if (!sqlite3_get_autocommit(st->db))
    return HW_EINVAL;
  return hw__st_exec(st, "VACUUM");
}

int hw_store_backup(hw_store *st, const char *dest)
{
  char *dpath = NULL, *denv = NULL, dir[4096];
  uint8_t env_bytes[HW__ENV_BYTES];
  sqlite3 *ddb = NULL;
  sqlite3_backup *b;
  struct stat sb;
  int rc, h;

  if (!dest || !sqlite3_get_autocommit(st->db))
    return HW_EINVAL;
  dpath = hw__st_abs_path(dest);
  denv = dpath ? hw__st_str_cat(dpath, ".hwkey") : NULL;
  if (!dpath || !denv) {
    rc = HW_ENOMEM;
    goto out;
  }
  if (stat(dpath, &sb) == 0 || stat(denv, &sb) == 0) {
    rc = HW_EEXIST;
    goto out;
  }
  h = st->fs->create(dpath);
  if (h < 0) {
    rc = h;
    goto out;
  }
  rc = st->fs->close(h);
  if (rc)
    goto undo;
  /* The copy goes through this store's encrypting VFS: same keys, never a
   * plaintext page on disk (security.md A.6). */
  rc = sqlite3_open_v2(dpath, &ddb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                       hw__cvfs_name(st->vfs));
  if (rc != SQLITE_OK) {
    rc = hw__st_from_sqlite(st, rc);
    goto undo;
  }
  rc = hw__st_conn_setup(st, ddb, true, HW_STORE_ROLLBACK);
  if (rc)
    goto undo;
  b = sqlite3_backup_init(ddb, "main", st->db, "main");
  if (!b) {
    rc = hw__st_from_sqlite(st, sqlite3_errcode(ddb));
    if (rc == HW_OK)
      rc = HW_EINTERNAL;
    goto undo;
  }
  rc = sqlite3_backup_step(b, -1);
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    rc = hw__st_from_sqlite(st, rc);
    goto undo;
  }
  /* Mark the copy: opening it reports HW_STORE_RESTORED even where a
   * matching no-backup record exists. */
  {
    uint8_t one[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    sqlite3_stmt *s = NULL;
    rc = sqlite3_prepare_v2(
        ddb, "INSERT OR REPLACE INTO settings(name, value) VALUES('hw.backup', ?1)", -1, &s, NULL);
    if (rc == SQLITE_OK) {
      sqlite3_bind_blob(s, 1, one, 8, SQLITE_STATIC);
      rc = sqlite3_step(s);
      rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_OK) {
      rc = hw__st_from_sqlite(st, rc);
      goto undo;
    }
  }
  rc = sqlite3_close(ddb);
  ddb = NULL;
  if (rc != SQLITE_OK) {
    rc = hw__st_from_sqlite(st, rc);
    goto undo;
  }
  hw__env_encode(&st->env, env_bytes);
  rc = hw__fs_write_atomic(st->fs, denv, env_bytes, sizeof env_bytes,
                           st->test_flags & HW_STORE_TEST_NO_DIRSYNC);
  if (rc == HW_OK) {
    hw__fs_dirname(dpath, dir, sizeof dir);
    rc = st->fs->sync_dir(dir);
  }
  if (rc == HW_OK)
    goto out;
undo:
  if (ddb)
    sqlite3_close_v2(ddb);
  {
    char *j = hw__st_str_cat(dpath, "-journal");
    if (j)
      unlink(j);
    hw_free(j);
  }
  unlink(dpath);
  unlink(denv);
out:
  hw_free(dpath);
  hw_free(denv);
  return rc;
}

struct sqlite3 *hw_store_sqlite(hw_store *st)
{
  return st->db;
}
