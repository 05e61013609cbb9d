/* The client object: create (from an invitation), open, settings. */
#include "client-int.h"

#include <errno.h>
#include <sqlite3.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "homeward/crypto.h"
#include "homeward/invitation.h"
#include "homeward/mem.h"

int64_t hw__client_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hw__held_name(char out[static 48], const hw_id *id)
{
  char hex[HW_ID_HEX_LEN + 1];
  hw_id_to_hex(id, hex);
  snprintf(out, 48, "%s%s", SET_HELD_PREFIX, hex);
}

bool hw__is_held(hw_client *c, const hw_id *id)
{
  char name[48];
  uint8_t *v = NULL;
  size_t n;
  bool held;

  hw__held_name(name, id);
  held = hw_store_setting_get(c->st, name, &v, &n) == HW_OK;
  hw_free(v);
  return held;
}

int hw__setting_exact(hw_client *c, const char *name, void *out, size_t len)
{
  uint8_t *v = NULL;
  size_t n;
  int rc = hw_store_setting_get(c->st, name, &v, &n);

  if (rc == HW_OK && n != len)
    rc = HW_ECORRUPT;
  if (rc == HW_OK)
    memcpy(out, v, len);
  if (v) {
    hw_memzero(v, n);
    hw_free(v);
  }
  return rc;
}

static int setting_text(hw_client *c, const char *name, char *out, size_t cap)
{
  uint8_t *v = NULL;
  size_t n;
  int rc = hw_store_setting_get(c->st, name, &v, &n);

  if (rc == HW_OK && (n == 0 || n >= cap))
    rc = HW_ECORRUPT;
  if (rc == HW_OK) {
    memcpy(out, v, n);
    out[n] = '\0';
  }
  hw_free(v);
  return rc;
}

/* Overwrite a file with zeros, flush, unlink. Missing files are fine. */
static int shred(const char *path)
{
  static const uint8_t zero[4096];
  int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  off_t size;
  int rc = HW_OK;

  if (fd < 0)
    return unlink(path) == 0 || errno == ENOENT ? HW_OK : HW_EIO;
  size = lseek(fd, 0, SEEK_END);
  if (size > 0 && lseek(fd, 0, SEEK_SET) == 0)
    for (off_t done = 0; done < size && rc == HW_OK;) {
      size_t n = size - done > (off_t)sizeof zero ? sizeof zero : (size_t)(size - done);
      ssize_t w = write(fd, zero, n);
      if (w <= 0)
        rc = HW_EIO;
      else
        done += w;
    }
  if (fsync(fd) != 0)
    rc = HW_EIO;
  close(fd);
  if (unlink(path) != 0 && errno != ENOENT)
    rc = HW_EIO;
  return rc;
}

int hw__client_wipe(hw_client *c)
{
  static const char *const side[] = {".hwkey", "", "-wal", "-shm", "-journal", ".hwlocal"};
  char p[HW_CLIENT_PATH_MAX + 16];
  int rc = HW_OK;

  hw_store_close(c->st);
  c->st = NULL;
  for (size_t i = 0; i < sizeof side / sizeof side[0]; i++) {
    snprintf(p, sizeof p, "%s%s", c->path, side[i]);
    if (shred(p) != HW_OK)
      rc = HW_EIO;
  }
  return rc;
}

void hw_client_close(hw_client *c)
{
  if (!c)
    return;
  hw_store_close(c->st);
  hw_noise_key_free(c->key);
  hw_pfor_free(&c->helpers);
  hw_memzero(c, sizeof *c);
  hw_free(c);
}

const char *hw_client_worker(const hw_client *c)
{
  return c->worker;
}

void hw_client_replica(const hw_client *c, hw_id *out)
{
  uint64_t counter;
  hw_store_replica(c->st, out, &counter);
}

_Static_assert(HW_NOISE_KEY_BYTES == 32, "the device key is an X25519 public key");

void hw_client_device_key(const hw_client *c, uint8_t out[static 32])
{
  hw_noise_key_public(c->key, out);
}

/* Decrypted pages the device keeps (KiB). SQLite's default, 2 MiB, holds
 * fewer index pages than a pull batch's random inserts touch: each was
 * opened again at every batch (bench-sync: pull device CPU per record). */
#define CLIENT_CACHE_KIB_SQL "-16384"

/* A device writes alone and mostly appends (records pulled, records made),
 * so it keeps a rollback journal: a new page is sealed once, where WAL mode
 * seals it into the WAL and again at the checkpoint (bench-sync, six
 * interleaved pairs of 20k records: pull 80-94k against 53-67k records/s,
 * device 11-13.5 against 15-20 µs per record). A save then costs four
 * syncs instead of one, which a worker saving a form does not notice. The
 * server, committing many devices' pushes at once, keeps WAL. */
#define DEVICE_JOURNAL HW_STORE_ROLLBACK

static int load(hw_client *c)
{
  uint8_t *sk = hw_secure_alloc(32);
  int rc;

  if (!sk)
    return HW_ENOMEM;
  if (sqlite3_exec(hw_store_sqlite(c->st), "PRAGMA cache_size=" CLIENT_CACHE_KIB_SQL, NULL, NULL,
                   NULL) != SQLITE_OK) {
    hw_secure_free(sk);
    return HW_EIO;
  }
  rc = hw__setting_exact(c, SET_DEVICE_SK, sk, 32);
  if (!rc)
    rc = hw_noise_key_from_secret(&c->key, sk);
  hw_secure_free(sk);
  if (!rc)
    rc = hw__setting_exact(c, SET_SERVER_KEY, c->server_key, 32);
  if (!rc)
    rc = hw__setting_exact(c, SET_AUDIT_KEY, c->audit_key, 32);
  if (!rc)
    rc = setting_text(c, SET_ADDRESS, c->address, sizeof c->address);
  if (!rc)
    rc = setting_text(c, SET_WORKER, c->worker, sizeof c->worker);
  if (rc)
    return rc == HW_ENOENT ? HW_ECORRUPT : rc;
  c->has_token = hw__setting_exact(c, SET_TOKEN, c->token, sizeof c->token) == HW_OK;
  return HW_OK;
}

int hw_client_create(hw_client **out, const hw_client_opts *o, const char *invitation, size_t len)
{
  hw_invitation inv;
  hw_store_opts so = {0};
  hw_store_info info = {0};
  hw_client *c = NULL;
  hw_noise_key *k = NULL;
  uint8_t *sk = NULL;
  int rc;

  *out = NULL;
  if (strlen(o->path) >= HW_CLIENT_PATH_MAX)
    return HW_EINVAL;
  if ((rc = hw_invitation_parse(invitation, len, &inv)) != 0)
    return rc;
  if (!(c = hw_calloc(1, sizeof *c)) || !(sk = hw_secure_alloc(32))) {
    rc = HW_ENOMEM;
    goto fail;
  }
  snprintf(c->path, sizeof c->path, "%s", o->path);
  so.path = o->path;
  so.passphrase = o->passphrase;
  so.passphrase_len = o->passphrase_len;
  so.recovery_pk = inv.recovery_key; /* a forgotten passphrase is recoverable */
  so.create = true;
  so.journal = DEVICE_JOURNAL;
  so.test_flags = o->test_flags;
  rc = hw_store_open(&c->st, &so, &info);
  if (o->why)
    *o->why = info.why;
  if (rc != 0)
    goto fail;
  if (!(info.flags & HW_STORE_CREATED)) {
    rc = HW_EEXIST;
    goto fail;
  }
  if ((rc = hw_noise_key_generate(&k)) != 0)
    goto fail;
  hw_noise_key_secret(k, sk);
  if ((rc = hw_store_begin(c->st)) != 0)
    goto fail;
  if ((rc = hw_store_setting_set(c->st, SET_DEVICE_SK, sk, 32)) ||
      (rc = hw_store_setting_set(c->st, SET_SERVER_KEY, inv.server_key, 32)) ||
      (rc = hw_store_setting_set(c->st, SET_AUDIT_KEY, inv.audit_key, 32)) ||
      (rc = hw_store_setting_set(c->st, SET_ADDRESS, inv.address, strlen(inv.address))) ||
      (rc = hw_store_setting_set(c->st, SET_WORKER, inv.worker, strlen(inv.worker))) ||
      (rc = hw_store_setting_set(c->st, SET_TOKEN, inv.token, sizeof inv.token)) ||
      (rc = hw__marks_version_set(c)) || (rc = hw_store_commit(c->st))) {
    int r2 = hw_store_rollback(c->st);
    (void)r2;
    goto fail;
  }
  if ((rc = load(c)) != 0)
    goto fail;
  hw_noise_key_free(k);
  hw_secure_free(sk);
  hw_memzero(&inv, sizeof inv);
  *out = c;
  return HW_OK;
fail:
  hw_noise_key_free(k);
  hw_secure_free(sk);
  hw_memzero(&inv, sizeof inv);
  /* A store this call created but could not finish goes: left behind, it
   * would refuse the next init and fail every open. */
  if (c && c->st && (info.flags & HW_STORE_CREATED) && hw__client_wipe(c) != 0)
    rc = rc ? rc : HW_EIO;
  hw_client_close(c);
  return rc;
}

bool hw__client_unknown_at_server(hw_client *c)
{
  uint8_t v[1];
  return hw__setting_exact(c, SET_UNKNOWN_AT_SERVER, v, sizeof v) == HW_OK;
}

const char *hw_client_address(const hw_client *c)
{
  return c->address;
}

int hw_client_reinvite(hw_client *c, const char *invitation, size_t len)
{
  hw_invitation inv;
  int rc;

  if ((rc = hw_invitation_parse(invitation, len, &inv)) != 0) {
    hw_memzero(&inv, sizeof inv);
    return rc;
  }
  bool enrolled = !c->has_token && !hw__client_unknown_at_server(c);

  if (hw_memcmp_ct(inv.server_key, c->server_key, 32) != 0 || strcmp(inv.worker, c->worker))
    rc = enrolled && !strcmp(inv.address, c->address) ? HW_EEXIST : HW_EINVAL;
  else if (enrolled && !strcmp(inv.address, c->address))
    rc = HW_EEXIST;
  else if (enrolled) {
    /* The same server at a new address: the device stays enrolled (its key
     * is known there); the invitation's token is not needed. */
    if ((rc = hw_store_setting_set(c->st, SET_ADDRESS, inv.address, strlen(inv.address))) == 0) {
      snprintf(c->address, sizeof c->address, "%s", inv.address);
      rc = HW_CLIENT_READDRESSED;
    }
  } else if ((rc = hw_store_begin(c->st)) == 0) {
    if ((rc = hw_store_setting_set(c->st, SET_TOKEN, inv.token, sizeof inv.token)) != 0 ||
        (rc = hw_store_setting_set(c->st, SET_ADDRESS, inv.address, strlen(inv.address))) != 0) {
      int r2 = hw_store_rollback(c->st);
      (void)r2;
    } else if ((rc = hw_store_commit(c->st)) == 0) { /* a failed commit rolls back by itself */
      memcpy(c->token, inv.token, sizeof c->token);
      c->has_token = true;
      snprintf(c->address, sizeof c->address, "%s", inv.address);
    }
  }
  hw_memzero(&inv, sizeof inv);
  return rc;
}

int hw_client_open(hw_client **out, const hw_client_opts *o)
{
  hw_store_opts so = {0};
  hw_store_info info = {0};
  hw_client *c = hw_calloc(1, sizeof *c);
  int rc;

  *out = NULL;
  if (!c)
    return HW_ENOMEM;
  if (strlen(o->path) >= HW_CLIENT_PATH_MAX) {
    hw_free(c);
    return HW_EINVAL;
  }
  snprintf(c->path, sizeof c->path, "%s", o->path);
  so.path = o->path;
  so.passphrase = o->passphrase;
  so.passphrase_len = o->passphrase_len;
  so.journal = DEVICE_JOURNAL; /* a store made in WAL mode before is converted */
  so.test_flags = o->test_flags;
  rc = hw_store_open(&c->st, &so, &info);
  if (o->why)
    *o->why = info.why;
  if (rc != 0)
    goto fail;
  /* Defence 1: a restored or copied store takes a new replica id before its
   * first write, keeping its dots; the next hello declares the old one. */
  if (info.flags & HW_STORE_RESTORED) {
    hw_dot inherits;
    if ((rc = hw_store_new_replica(c->st, &inherits)) != 0 ||
        (rc = hw_store_setting_set(c->st, SET_FORKED_UNTOLD, (const uint8_t *)"1", 1)) != 0)
      goto fail;
    c->forked_at_open = true;
  }
  if ((rc = load(c)) != 0)
    goto fail;
  *out = c;
  return HW_OK;
fail:
  hw_client_close(c);
  return rc;
}

/* ---- for the worker's command ---- */

#define NOTE_PREFIX "cli."
#define NOTE_NAME_MAX 48

static int note_name(char out[static sizeof NOTE_PREFIX + NOTE_NAME_MAX], const char *name)
{
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > NOTE_NAME_MAX)
    return HW_EINVAL;
  memcpy(out, NOTE_PREFIX, sizeof NOTE_PREFIX - 1);
  memcpy(out + sizeof NOTE_PREFIX - 1, name, n + 1);
  return HW_OK;
}

int hw_client_note_set(hw_client *c, const char *name, const void *v, size_t len)
{
  char full[sizeof NOTE_PREFIX + NOTE_NAME_MAX];
  int rc = note_name(full, name);
  return rc ? rc : hw_store_setting_set(c->st, full, v, len);
}

int hw_client_note_get(hw_client *c, const char *name, uint8_t **v, size_t *len)
{
  char full[sizeof NOTE_PREFIX + NOTE_NAME_MAX];
  int rc = note_name(full, name);
  *v = NULL;
  *len = 0;
  return rc ? rc : hw_store_setting_get(c->st, full, v, len);
}

int hw_client_note_del(hw_client *c, const char *name)
{
  char full[sizeof NOTE_PREFIX + NOTE_NAME_MAX];
  int rc = note_name(full, name);
  if (rc)
    return rc;
  rc = hw_store_setting_del(c->st, full);
  return rc == HW_ENOENT ? HW_OK : rc;
}

int hw_client_late_edited(hw_client *c, hw_id_list *out)
{
  uint8_t *v = NULL;
  size_t len = 0;
  int rc = hw_store_setting_get(c->st, SET_LATE_EDITED, &v, &len);

  memset(out, 0, sizeof *out);
  if (rc == HW_ENOENT)
    return HW_OK;
  if (rc)
    return rc;
  if (len == 0 || len % sizeof(hw_id)) {
    hw_free(v);
    return HW_ECORRUPT;
  }
  out->v = (hw_id *)(void *)v; /* hw_id is bytes only: any alignment */
  out->n = out->cap = len / sizeof(hw_id);
  return HW_OK;
}

int hw_client_change_passphrase(hw_client *c, const uint8_t *pass, size_t len)
{
  return hw_store_change_passphrase(c->st, pass, len);
}
