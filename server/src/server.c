/* The server's lifecycle: init, start (store, keys, listener, control
 * socket, signals, audit head signing), and a graceful stop. */
#define _GNU_SOURCE /* RLIMIT_NOFILE on some libcs */
#include "server-int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin-int.h"
#include "audit-entry-int.h"
#include "control-msg-int.h"
#include "homeward/record-codec.h"
#include "homeward/invitation.h"
#include "homeward/log.h"
#include "homeward/mem.h"
#include "homeward/utf8.h"
#include "session-int.h"

#define SERVER_CACHE_PAGES_SQL "-65536" /* KiB: 64 MiB of decrypted pages */

#define SIGNED_HEAD_BYTES (HW_ID_BYTES + 8 + HW_HASH_BYTES + 8 + HW_SIGN_BYTES)

/* ---- storage operations over the encrypted store -------------------------- */

/* Tests only (hw_unlock.power_lost): once the store's test VFS has lost
 * power, no transaction may succeed, so nothing more is acknowledged; the
 * loop is woken once to stop the server. */
static bool power_lost(hw_server_db *db)
{
  if (!db->power_lost || !db->power_lost())
    return false;
  if (!db->lost_told) {
    db->lost_told = true;
    uv_async_send(db->lost_wake);
  }
  return true;
}

/* The server tables' cached counters are written before a savepoint is
 * released or the transaction commits, and dropped after any rollback. */
static int st_begin(void *d)
{
  hw_sdb_invalidate(((hw_server_db *)d)->sdb);
  if (power_lost(d))
    return HW_EIO;
  return hw_store_begin(((hw_server_db *)d)->st);
}
static int st_savepoint(void *d)
{
  return hw_store_savepoint(((hw_server_db *)d)->st);
}
static int st_release(void *d)
{
  int rc = hw_sdb_flush(((hw_server_db *)d)->sdb);
  return rc ? rc : hw_store_savepoint_release(((hw_server_db *)d)->st);
}
static int st_rollback_to(void *d)
{
  hw_sdb_invalidate(((hw_server_db *)d)->sdb);
  return hw_store_savepoint_rollback(((hw_server_db *)d)->st);
}
static int st_commit(void *d)
{
  int rc = hw_sdb_flush(((hw_server_db *)d)->sdb);

  if (rc == 0)
    rc = hw_store_commit(((hw_server_db *)d)->st);
  /* A commit that returned 0 but lost power in its wake (the checkpoint
   * after it) was durable; it is still reported failed: a device resends
   * what was not acknowledged, while one acknowledgement too many is a loss. */
  if (power_lost(d) && rc == 0)
    rc = HW_EIO;
  return rc;
}
/* A rollback that fails leaves nothing more to do than say so. */
static void rollback_quietly(hw_store *st)
{
  int rc = hw_store_rollback(st);
  if (rc)
    hw_log(HW_LOG_ERROR, "rollback err=%s", hw_errname(rc));
}

static void st_rollback(void *d)
{
  hw_sdb_invalidate(((hw_server_db *)d)->sdb);
  rollback_quietly(((hw_server_db *)d)->st);
}

/* WAL checkpoints run once a group's acknowledgements are on their way, not
 * inside its commit as SQLite's auto-checkpoint would: the commit alone
 * makes the group durable (WAL, synchronous=FULL), while the checkpoint
 * copies the WAL into the database, opening and sealing every page again;
 * devices need not wait for that. The same threshold as SQLite's. */
#define WAL_CHECKPOINT_PAGES 1000

static int note_wal(void *d, sqlite3 *db, const char *name, int pages)
{
  (void)db, (void)name;
  ((hw_server_db *)d)->wal_pages = pages;
  return SQLITE_OK;
}

static void st_after_group(void *d)
{
  hw_server_db *db = d;
  int frames = 0, copied = 0, rc;

  if (db->wal_pages < WAL_CHECKPOINT_PAGES || power_lost(db))
    return;
  rc = sqlite3_wal_checkpoint_v2(hw_store_sqlite(db->st), NULL, SQLITE_CHECKPOINT_PASSIVE, &frames,
                                 &copied);
  if (rc != SQLITE_OK)
    hw_log(HW_LOG_WARN, "wal checkpoint rc=%d", rc); /* tried again after the next group */
  else
    db->wal_pages = 0;
}

static const hw_storage_ops store_ops = {st_begin,  st_savepoint, st_release,    st_rollback_to,
                                         st_commit, st_rollback,  st_after_group};

/* ---- keys in the store's meta table --------------------------------------- */

static int meta_exact(hw_sdb *db, const char *key, void *out, size_t len)
{
  uint8_t *v = NULL;
  size_t n;
  int rc = hw_sdb_meta_get(db, key, &v, &n);

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

static void be64(uint8_t *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

static void head_pack(const hw_signed_head *h, uint8_t out[SIGNED_HEAD_BYTES])
{
  be64(out, h->epoch);
  memset(out + 8, 0, 8);
  be64(out + 16, h->seq);
  memcpy(out + 24, h->hash, HW_HASH_BYTES);
  be64(out + 56, (uint64_t)h->time_ms);
  memcpy(out + 64, h->sig, HW_SIGN_BYTES);
}

static void head_unpack(hw_signed_head *h, const uint8_t in[SIGNED_HEAD_BYTES])
{
  h->epoch = get_be64(in);
  h->seq = get_be64(in + 16);
  memcpy(h->hash, in + 24, HW_HASH_BYTES);
  h->time_ms = (int64_t)get_be64(in + 56);
  memcpy(h->sig, in + 64, HW_SIGN_BYTES);
}

/* A fresh epoch: random, never 0 (0 would read as "no cursor"). */
static uint64_t new_epoch(void)
{
  uint64_t e = 0;
  while (e == 0)
    hw_random_bytes(&e, sizeof e);
  return e;
}

static int open_store(const hw_server_config *cfg, const hw_unlock *u, bool create,
                      const uint8_t *recovery_pk, hw_store **st, hw_store_info *info, char *err,
                      size_t err_len)
{
  char path[HW_PATH_MAX + 16];
  hw_store_opts o = {0};
  int rc;

  snprintf(path, sizeof path, "%.4000s/server.db", cfg->state_dir);
  o.path = path;
  o.passphrase = u->passphrase;
  o.passphrase_len = u->passphrase_len;
  o.key_file = u->key_file;
  o.recovery_pk = recovery_pk;
  o.create = create;
  o.journal = HW_STORE_WAL;
  o.test_flags = u->test_flags;
  o.base_vfs = u->base_vfs;
  rc = hw_store_open(st, &o, info);
  if (rc && u->key_file &&
      (info->why == HW_STORE_WHY_KEYFILE_ABSENT || info->why == HW_STORE_WHY_KEYFILE_MODE ||
       info->why == HW_STORE_WHY_KEYFILE_OWNER || info->why == HW_STORE_WHY_KEYFILE_FORMAT))
    snprintf(err, err_len, "cannot use the key file %s: %s", u->key_file,
             hw_store_why_str(info->why));
  else if (rc == HW_EBUSY)
    snprintf(err, err_len,
             "the store %s is in use: is another homeward-server running on this state "
             "directory?",
             path);
  else if (rc == HW_EPASSPHRASE && u->key_file)
    snprintf(err, err_len,
             "the key file %s does not open the store %s: it is another store's key, the "
             "store is unlocked by a passphrase, or its key was changed (rekey)",
             u->key_file, path);
  else if (rc)
    snprintf(err, err_len, "cannot open the store %s: %s (%s)", path, hw_strerror(rc),
             hw_store_why_str(info->why));
  /* SQLite's default 2 MiB page cache makes nearly every lookup in a large
   * store a page read and decrypt; the server has the memory. */
  else if (sqlite3_exec(hw_store_sqlite(*st), "PRAGMA cache_size=" SERVER_CACHE_PAGES_SQL, NULL,
                        NULL, NULL) != SQLITE_OK)
    hw_log(HW_LOG_WARN, "cache_size not set");
  return rc;
}

int hw_server_rekey(const hw_server_config *cfg, const hw_unlock *unlock,
                    int (*next)(void *ud, hw_unlock *to), void *ud, bool *beside, char *err,
                    size_t err_len)
{
  hw_store_opts o = {0};
  hw_store_info info;
  hw_store *st = NULL;
  hw_unlock to = {0};
  bool made = false;
  int rc;

  err[0] = '\0';
  *beside = false;
  if ((rc = open_store(cfg, unlock, false, NULL, &st, &info, err, err_len)) != 0)
    return rc;
  if ((rc = next(ud, &to)) != 0)
    goto out;
  if (to.key_file && access(to.key_file, F_OK) != 0) {
    if ((rc = hw_store_keyfile_create(to.key_file)) != 0) {
      snprintf(err, err_len, "cannot create the new key file %s (its directory must exist)",
               to.key_file);
      goto out;
    }
    made = true;
  }
  o.passphrase = to.passphrase;
  o.passphrase_len = to.passphrase_len;
  o.key_file = to.key_file;
  rc = hw_store_rekey(st, &o, &info);
  *beside = (info.flags & HW_STORE_KEYFILE_BESIDE_DB) != 0;
  if (rc && to.key_file && info.why)
    snprintf(err, err_len, "cannot use the new key file %s: %s", to.key_file,
             hw_store_why_str(info.why));
  else if (rc)
    snprintf(err, err_len, "the store's key was not changed: %s", hw_strerror(rc));
  else
    hw_log(HW_LOG_INFO, "store rekeyed to=%s", to.key_file ? "key-file" : "passphrase");
  if (rc && made)
    unlink(to.key_file); /* made for this rekey, which did not happen */
out:
  hw_store_close(st);
  return rc;
}

static int write_secret_file(const char *path, const uint8_t *sk, size_t len, char *err,
                             size_t err_len)
{
  char text[128];
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  size_t n;

  if (fd < 0) {
    snprintf(err, err_len, "cannot create %s: %s", path, strerror(errno));
    return errno == EEXIST ? HW_EEXIST : HW_EIO;
  }
  hw_base64_encode(text, sk, len);
  n = strlen(text);
  text[n++] = '\n';
  if (write(fd, text, n) != (ssize_t)n || fsync(fd) != 0) {
    snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
    hw_memzero(text, sizeof text);
    close(fd);
    unlink(path);
    return HW_EIO;
  }
  hw_memzero(text, sizeof text);
  close(fd);
  return HW_OK;
}

/* The files of the server's store in the state directory. */
static const char *const store_ext[] = {"", "-wal", "-journal", ".hwkey", ".hwlocal"};
#define STORE_FILES (sizeof store_ext / sizeof store_ext[0])

/* Remove what a failed init made: the recovery key file it wrote (its key
 * seals nothing now), the store's files (init refuses to start when any of
 * them exists, so they are its own), and the state directory if init
 * created it (only when empty). */
static void init_undo(const hw_server_config *cfg, const char *recovery_out, bool wrote_key,
                      bool made_store, bool made_dir)
{
  char p[HW_PATH_MAX + 32];

  if (wrote_key)
    unlink(recovery_out);
  for (size_t i = 0; made_store && i < STORE_FILES; i++) {
    snprintf(p, sizeof p, "%.4000s/server.db%s", cfg->state_dir, store_ext[i]);
    unlink(p);
  }
  if (made_dir)
    rmdir(cfg->state_dir);
}

int hw_server_init(const hw_server_config *cfg, const hw_unlock *unlock, const char *recovery_out,
                   uint8_t pub_out[static 32], char *err, size_t err_len)
{
  uint8_t rpk[HW_BOX_PUBLIC_BYTES], pk[HW_SIGN_PUBLIC_BYTES], noise_pub[HW_NOISE_KEY_BYTES];
  uint8_t *sec = hw_secure_alloc(HW_BOX_SECRET_BYTES + HW_SIGN_SECRET_BYTES + 32 + 32);
  hw_store *st = NULL;
  hw_store_info info = {0};
  hw_sdb *db = NULL;
  hw_noise_key *nk = NULL;
  hw_id replica;
  uint64_t epoch = new_epoch();
  uint8_t epoch_b[8];
  char db_path[HW_PATH_MAX + 16];
  bool made_dir = false, wrote_key = false, made_store = false;
  int rc;

  if (!sec) {
    snprintf(err, err_len, "out of memory");
    return HW_ENOMEM;
  }
  /* Refused before anything is written: a store, or any file of one (a
   * half-copied restore), or a recovery key file that would be overwritten. */
  for (size_t i = 0; i < STORE_FILES; i++) {
    snprintf(db_path, sizeof db_path, "%.4000s/server.db%s", cfg->state_dir, store_ext[i]);
    if (access(db_path, F_OK) == 0) {
      snprintf(err, err_len, "a store already exists in %s (%s): move it away first",
               cfg->state_dir, db_path);
      rc = HW_EEXIST;
      goto out;
    }
  }
  if (access(recovery_out, F_OK) == 0) {
    snprintf(err, err_len, "%s exists already: name a new file for the recovery key", recovery_out);
    rc = HW_EEXIST;
    goto out;
  }
  if (mkdir(cfg->state_dir, 0700) == 0) {
    made_dir = true;
  } else if (errno != EEXIST) {
    snprintf(err, err_len, "cannot create %s: %s", cfg->state_dir, strerror(errno));
    rc = HW_EIO;
    goto out;
  }
  /* The organisation's recovery key: its secret leaves once, to a file the
   * administrator keeps offline; the store is sealed to its public half.
   * Written first so a store never exists without it. */
  hw_box_keypair(rpk, sec);
  if ((rc = write_secret_file(recovery_out, sec, HW_BOX_SECRET_BYTES, err, err_len)) != 0)
    goto out;
  wrote_key = true;
  made_store = true; /* whatever a failed open leaves is this init's: no store was there */
  if ((rc = open_store(cfg, unlock, true, rpk, &st, &info, err, err_len)) != 0)
    goto out;
  if (!(info.flags & HW_STORE_CREATED)) { /* made by another process since the check */
    made_store = false;
    snprintf(err, err_len, "a store already exists in %s", cfg->state_dir);
    rc = HW_EEXIST;
    goto out;
  }
  if ((rc = hw_sdb_open(&db, hw_store_sqlite(st))) != 0 || (rc = hw_noise_key_generate(&nk)) != 0)
    goto fail;
  hw_sign_keypair(pk, sec + HW_BOX_SECRET_BYTES);
  hw_random_bytes(sec + HW_BOX_SECRET_BYTES + HW_SIGN_SECRET_BYTES, 32);
  hw_noise_key_secret(nk, sec + HW_BOX_SECRET_BYTES + HW_SIGN_SECRET_BYTES + 32);
  hw_noise_key_public(nk, noise_pub);
  hw_id_random(&replica);
  be64(epoch_b, epoch);
  if ((rc = hw_store_begin(st)) != 0)
    goto fail;
  if ((rc = hw_sdb_meta_put(db, "sign_sk", sec + HW_BOX_SECRET_BYTES, HW_SIGN_SECRET_BYTES)) ||
      (rc = hw_sdb_meta_put(db, "sign_pk", pk, sizeof pk)) ||
      (rc = hw_sdb_meta_put(db, "value_key", sec + HW_BOX_SECRET_BYTES + HW_SIGN_SECRET_BYTES,
                            32)) ||
      (rc = hw_sdb_meta_put(db, "noise_sk", sec + HW_BOX_SECRET_BYTES + HW_SIGN_SECRET_BYTES + 32,
                            32)) ||
      (rc = hw_sdb_meta_put(db, "recovery_pk", rpk, sizeof rpk)) ||
      (rc = hw_sdb_meta_put(db, "epoch", epoch_b, 8)) ||
      (rc = hw_sdb_meta_put(db, "replica", replica.b, HW_ID_BYTES)) ||
      (rc = hw_sdb_meta_put(db, "restored", (const uint8_t *)"\0", 1))) {
    rollback_quietly(st);
    goto fail;
  }
  if ((rc = hw_store_commit(st)) != 0)
    goto fail;
  memcpy(pub_out, noise_pub, 32);
  goto out;
fail:
  snprintf(err, err_len, "cannot set up the store: %s", hw_strerror(rc));
out:
  hw_noise_key_free(nk);
  hw_sdb_close(db);
  hw_store_close(st);
  hw_secure_free(sec);
  if (rc)
    init_undo(cfg, recovery_out, wrote_key, made_store, made_dir);
  return rc;
}

/* Architecture §4: a restored server takes a new epoch and a new server
 * replica id, so devices re-push what it lost and its own writes never
 * reuse a dot. In the same transaction it voids the invitations still
 * unused (the backup cannot know which were used after it was made: one
 * used then would enrol a second device) and audits both, so coordinators
 * see that history was rolled back. `epoch_b` holds the old epoch. */
static int take_new_epoch(hw_server *s, uint8_t epoch_b[8])
{
  hw_sdb *db = s->db.sdb;
  uint64_t old_epoch = get_be64(epoch_b), voided = 0;
  char actor[160], details[160], buf[1024];
  struct passwd pw, *me = NULL;
  int rc;

  s->epoch = new_epoch();
  be64(epoch_b, s->epoch);
  hw_id_random(&s->replica);
  /* The entry's actor: the OS user who started the restored server. */
  if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &me) != 0 || !me)
    me = NULL;
  snprintf(actor, sizeof actor, "%s/-", me ? me->pw_name : "?");
  if ((rc = hw_store_begin(s->db.st)) != 0)
    return rc;
  /* Remembered: only a store that was restored may meet a device naming
   * an epoch it never had (one taken after its backup was made). */
  if ((rc = hw_sdb_meta_put(db, "epoch", epoch_b, 8)) ||
      (rc = hw_sdb_meta_put(db, "replica", s->replica.b, HW_ID_BYTES)) ||
      (rc = hw_sdb_meta_put(db, "restored", (const uint8_t *)"\1", 1)) ||
      (rc = hw_sdb_invitations_void(db, hw__now_ms(), NULL, &voided)))
    goto fail;
  snprintf(details, sizeof details, "old_epoch=%016llx new_epoch=%016llx invitations_voided=%llu",
           (unsigned long long)old_epoch, (unsigned long long)s->epoch,
           (unsigned long long)voided);
  if ((rc = hw__admin_audit(db, "restored", NULL, actor, details)) ||
      (rc = hw_store_commit(s->db.st)))
    goto fail;
  s->head_valid = false;
  s->ever_restored = true;
  hw_log(HW_LOG_WARN, "store restored or copied: new epoch taken %s", details);
  if (voided)
    hw_log(HW_LOG_WARN, "invitations_voided=%llu: unused in the backup, they may have been used "
                        "since; invite again",
           (unsigned long long)voided);
  return HW_OK;
fail:
  rollback_quietly(s->db.st);
  return rc;
}

static int load_keys(hw_server *s, bool restored, char *err, size_t err_len)
{
  hw_sdb *db = s->db.sdb;
  uint8_t *noise_sk = hw_secure_alloc(32), packed[SIGNED_HEAD_BYTES], epoch_b[8];
  int rc;

  if (!noise_sk)
    return HW_ENOMEM;
  if ((rc = meta_exact(db, "noise_sk", noise_sk, 32)) ||
      (rc = meta_exact(db, "sign_sk", s->secrets->sign_sk, HW_SIGN_SECRET_BYTES)) ||
      (rc = meta_exact(db, "sign_pk", s->sign_pk, HW_SIGN_PUBLIC_BYTES)) ||
      (rc = meta_exact(db, "value_key", s->secrets->value_key, HW_HASH_BYTES)) ||
      (rc = meta_exact(db, "recovery_pk", s->recovery_pk, 32)) ||
      (rc = meta_exact(db, "epoch", epoch_b, 8)) ||
      (rc = meta_exact(db, "replica", s->replica.b, HW_ID_BYTES)) ||
      (rc = hw_noise_key_from_secret(&s->noise_key, noise_sk))) {
    snprintf(err, err_len,
             "the store's keys are missing or damaged (%s): was it made with "
             "homeward-server init?",
             hw_errname(rc));
    hw_secure_free(noise_sk);
    return rc ? rc : HW_ECORRUPT;
  }
  hw_secure_free(noise_sk);
  s->epoch = get_be64(epoch_b);
  {
    /* 0: never restored; 1: restored. A store made before the key was
     * kept may have been restored by an older version: treated as
     * restored, so its devices of a later epoch still recover. */
    uint8_t flag = 1;
    (void)meta_exact(db, "restored", &flag, 1);
    s->ever_restored = flag != 0;
  }
  hw_noise_key_public(s->noise_key, s->noise_pub);
  if (meta_exact(db, "head", packed, sizeof packed) == HW_OK) {
    head_unpack(&s->head, packed);
    s->head_valid = hw_signed_head_verify(&s->head, s->sign_pk) == HW_OK;
  }
  if (restored)
    return take_new_epoch(s, epoch_b);
  return HW_OK;
}

/* ---- audit head signing (storage thread reads, signs, stores) ------------- */

typedef struct sign_job {
  hw_job job;
  hw_server *srv;
  hw_signed_head head;
  /* The loop's head when the job was made: the storage thread compares
   * with this copy, never with srv->head, which the loop writes. */
  hw_signed_head prev;
  bool prev_valid;
  bool changed;
  int64_t refresh_ms; /* an unchanged head older than this is signed again */
} sign_job;

static int sign_run(hw_job *job, void *d)
{
  sign_job *j = (sign_job *)job;
  hw_server_db *db = d;
  uint8_t packed[SIGNED_HEAD_BYTES];
  int rc;

  memset(&j->head, 0, sizeof j->head);
  j->head.epoch = j->srv->epoch;
  if ((rc = hw_sdb_audit_head(db->sdb, &j->head.seq, j->head.hash)) != 0)
    return rc;
  /* Nothing new to sign, unless the head is getting old: devices measure
   * their clock against its time, so an idle server's head is signed again
   * every few intervals (else, after a quiet hour, every device was told
   * its correct clock was an hour off). */
  if (j->prev_valid && j->prev.seq == j->head.seq && j->prev.epoch == j->head.epoch &&
      hw__now_ms() - j->prev.time_ms < j->refresh_ms)
    return HW_OK;
  j->head.time_ms = hw__now_ms();
  hw_signed_head_sign(&j->head, j->srv->secrets->sign_sk);
  head_pack(&j->head, packed);
  j->changed = true;
  return hw_sdb_meta_put(db->sdb, "head", packed, sizeof packed);
}

static void sign_done(hw_job *job, int status)
{
  sign_job *j = (sign_job *)job;
  hw_server *s = j->srv;

  if (status == 0 && j->changed) {
    s->head = j->head;
    s->head_valid = true;
    hw_log(HW_LOG_DEBUG, "audit head signed seq=%llu", (unsigned long long)j->head.seq);
  } else if (status) {
    hw_log(HW_LOG_ERROR, "audit head signing err=%s", hw_errname(status));
  }
  hw_free(j);
}

#define HEAD_REFRESH_INTERVALS 5 /* 5 minutes at the default interval */
#define HEAD_REFRESH_MAX_MS (4 * 60 * 1000)

static void sign_head(hw_server *s)
{
  sign_job *j = hw_calloc(1, sizeof *j);

  if (!j)
    return;
  j->job.run = sign_run;
  j->job.done = sign_done;
  j->srv = s;
  j->prev = s->head;
  j->prev_valid = s->head_valid;
  j->refresh_ms = (int64_t)HEAD_REFRESH_INTERVALS * s->cfg.head_sign_interval_s * 1000;
  if (j->refresh_ms > HEAD_REFRESH_MAX_MS)
    j->refresh_ms = HEAD_REFRESH_MAX_MS; /* devices warn past 10 minutes of skew */
  if (hw_storage_submit(s->storage, &j->job) != 0)
    hw_free(j);
}

static void on_head_timer(uv_timer_t *t)
{
  sign_head(t->data);
}

/* ---- the control socket ---------------------------------------------------- */

#define INVITE_ADDRESS_MAX 256 /* hw_invitation's address */

typedef struct invite_job {
  hw_job job;
  hw_server *srv;
  hw_control_req *req;
  char worker[64], coordinator[64], role[16], actor[160];
  char address[INVITE_ADDRESS_MAX]; /* what the invitation tells the device to dial */
  uint8_t token[HW_TOKEN_BYTES];
  int64_t expires_ms;
} invite_job;

static int invite_run(hw_job *job, void *d)
{
  invite_job *j = (invite_job *)job;
  hw_server_db *db = d;
  uint8_t th[HW_HASH_BYTES];
  char details[256];
  int rc;

  hw_random_bytes(j->token, sizeof j->token);
  /* Only the token's hash is stored (security notes part B). */
  hw__token_hash(j->token, th);
  if ((rc = hw_sdb_invitation_put(db->sdb, th, j->worker, j->role, j->expires_ms)) != 0)
    return rc;
  /* Who was invited, and by whose decision: the names only (checked when
   * the command came), never a token or anything of a case. */
  snprintf(details, sizeof details, "worker=%s coordinator=%s role=%s expires_ms=%lld", j->worker,
           j->coordinator, j->role, (long long)j->expires_ms);
  return hw__admin_audit(db->sdb, "invite", NULL, j->actor, details);
}

void hw__token_hash(const uint8_t token[static HW_TOKEN_BYTES], uint8_t out[static HW_HASH_BYTES])
{
  hw_hash h;
  hw_hash_init(&h, NULL, 0);
  hw_hash_update(&h, "homeward-token-v1", 18);
  hw_hash_update(&h, token, HW_TOKEN_BYTES);
  hw_hash_final(&h, out);
}

void hw__control_reply_text(hw_control_req *req, bool ok, const char *text)
{
  hw_cbor_wr w;

  hw_cbor_wr_init(&w, HW_CONTROL_FRAME_MAX);
  hw_cbor_wr_map(&w, 2);
  hw_cbor_wr_uint(&w, 1);
  hw_cbor_wr_bool(&w, ok);
  hw_cbor_wr_uint(&w, 2);
  hw_cbor_wr_text(&w, text, strlen(text));
  if (hw_cbor_wr_finish(&w) == 0)
    hw_control_reply(req, w.buf, w.len);
  else
    hw_control_reply(req, NULL, 0);
  hw_cbor_wr_close(&w);
}

/* The address an invitation names: [server] public_address, else the
 * listening one (an IPv6 one in brackets); false for a wildcard listen
 * address without a public one, which no device could dial. */
static bool invite_address(const hw_server_config *c, char *out, size_t cap)
{
  bool v6 = strchr(c->listen_host, ':') != NULL;
  unsigned char bin[16], any[16] = {0};

  if (c->public_address[0]) {
    snprintf(out, cap, "%s", c->public_address);
    return true;
  }
  /* Any spelling of the wildcard (0.0.0.0, ::, ::0, 0:0::0). */
  if (inet_pton(v6 ? AF_INET6 : AF_INET, c->listen_host, bin) == 1 &&
      memcmp(bin, any, v6 ? 16 : 4) == 0)
    return false;
  snprintf(out, cap, v6 ? "[%.200s]:%u" : "%.200s:%u", c->listen_host, (unsigned)c->listen_port);
  return true;
}

static void invite_done(hw_job *job, int status)
{
  invite_job *j = (invite_job *)job;
  hw_server *s = j->srv;
  hw_invitation inv = {0};
  char text[HW_INVITE_TEXT_MAX + 1];

  if (status) {
    hw__control_reply_text(j->req, false, hw_strerror(status));
  } else {
    snprintf(inv.address, sizeof inv.address, "%s", j->address);
    memcpy(inv.server_key, s->noise_pub, 32);
    memcpy(inv.recovery_key, s->recovery_pk, 32);
    memcpy(inv.audit_key, s->sign_pk, 32);
    memcpy(inv.token, j->token, sizeof j->token);
    snprintf(inv.worker, sizeof inv.worker, "%s", j->worker);
    inv.expires_ms = j->expires_ms;
    if (hw_invitation_format(&inv, text, sizeof text) == HW_OK)
      hw__control_reply_text(j->req, true, text);
    else
      hw__control_reply_text(j->req, false, "cannot format the invitation");
    hw_memzero(&inv, sizeof inv);
    hw_memzero(text, sizeof text);
  }
  hw_memzero(j->token, sizeof j->token);
  hw_free(j);
}

/* ---- reports for coordinators: the audit log and the records ------------ */

#define REPORT_MAX (HW_CONTROL_FRAME_MAX - 256)
#define REPORT_LINES_MAX 400

typedef struct report_job {
  hw_job job;
  hw_control_req *req;
  bool audit;     /* else records */
  uint64_t after; /* list entries after this sequence number (--from N: N - 1) */
  uint64_t last;  /* the last one listed */
  char *text;
  size_t len;
  size_t lines;
  bool cut, closing;
} report_job;

/* Lines stop short of the limits by room for the closing "more" line. */
static void report_line(report_job *j, const char *line)
{
  size_t n = strlen(line);
  if (!j->closing && (j->lines >= REPORT_LINES_MAX || j->len + n + 2 > REPORT_MAX - 256)) {
    j->cut = true;
    return;
  }
  memcpy(j->text + j->len, line, n);
  j->len += n;
  j->text[j->len++] = '\n';
  j->text[j->len] = '\0';
  j->lines++;
}

static int audit_line(uint64_t seq, const void *entry, size_t len, void *ud)
{
  report_job *j = ud;
  char desc[600], line[640];

  if (hw_audit_entry_describe(entry, len, desc, sizeof desc) != HW_OK)
    snprintf(desc, sizeof desc, "(an entry this version cannot read)");
  snprintf(line, sizeof line, "%6llu %s", (unsigned long long)seq, desc);
  report_line(j, line);
  if (!j->cut)
    j->last = seq;
  return 0;
}

static int record_line(uint64_t seq, const hw_id *case_id, const void *state, size_t len, void *ud)
{
  report_job *j = ud;
  hw_record *r = NULL;
  hw_void_status vs = {0};
  char line[256], id[HW_ID_HEX_LEN + 1], cs[HW_ID_HEX_LEN + 1];

  hw_id_to_hex(case_id, cs);
  if (hw_record_decode(state, len, &r, NULL) != HW_OK) {
    snprintf(line, sizeof line, "%6llu case=%s (unreadable state)", (unsigned long long)seq, cs);
  } else {
    hw_id_to_hex(&r->id, id);
    if (hw_record_void_status(r, &vs) != HW_OK)
      memset(&vs, 0, sizeof vs);
    snprintf(line, sizeof line, "%6llu record=%s case=%s kind=%.*s fields=%zu writes=%zu%s%s%s",
             (unsigned long long)seq, id, cs, (int)r->kind.len, (const char *)r->kind.p,
             r->n_fields, r->n_writes, hw_record_n_conflicts(r) ? " CONFLICT" : "",
             vs.voided ? " voided" : "", vs.disputed ? " void-disputed" : "");
  }
  hw_record_free(r);
  report_line(j, line);
  if (!j->cut)
    j->last = seq;
  return 0;
}

static int report_run(hw_job *job, void *d)
{
  report_job *j = (report_job *)job;
  hw_server_db *db = d;
  uint64_t n, bad, last;
  int more, rc;
  char line[160];

  if (!(j->text = hw_malloc(REPORT_MAX)))
    return HW_ENOMEM;
  j->text[0] = '\0';
  if (j->audit) {
    rc = hw_sdb_audit_verify(db->sdb, &n, &bad);
    if (rc == HW_ECORRUPT)
      snprintf(line, sizeof line, "AUDIT CHAIN BROKEN at entry %llu: the history was altered",
               (unsigned long long)bad);
    else if (rc == 0)
      snprintf(line, sizeof line, "audit chain verified: %llu entries", (unsigned long long)n);
    else
      return rc;
    report_line(j, line);
    /* One more than fits: the reply then says where the next page starts. */
    return hw_sdb_audit_walk(db->sdb, j->after, REPORT_LINES_MAX, audit_line, j);
  }
  if ((rc = hw_sdb_records_count(db->sdb, &n)) != 0)
    return rc;
  snprintf(line, sizeof line, "%llu records", (unsigned long long)n);
  report_line(j, line);
  rc = hw_sdb_records_after(db->sdb, j->after, REPORT_LINES_MAX, record_line, j, &last, &more);
  if (rc == 0 && more)
    j->cut = true;
  return rc;
}

static void report_done(hw_job *job, int status)
{
  report_job *j = (report_job *)job;

  if (status)
    hw__control_reply_text(j->req, false, hw_strerror(status));
  else {
    if (j->cut) {
      char more[160];
      snprintf(more, sizeof more, "... more after %llu: run again with --from %llu",
               (unsigned long long)j->last, (unsigned long long)j->last + 1);
      j->closing = true; /* always fits: the other lines left room for it */
      report_line(j, more);
    }
    hw__control_reply_text(j->req, true, j->text);
  }
  hw_free(j->text);
  hw_free(j);
}

/* A person's name (a worker's or a coordinator's) appears in key=value log
 * lines, report lines and audit entries: no spaces, control characters,
 * '=', quotes or slashes (UTF-8 letters are fine). */
static bool person_name_ok(const char *name)
{
  if (!name[0] || !hw_utf8_valid((const uint8_t *)name, strlen(name)))
    return false;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    if (*p <= 0x20 || *p == 0x7f || strchr("=\"'\\/", *p))
      return false;
  return true;
}

const char *hw__person_names_refused(const char *worker, const char *coordinator)
{
  if (worker[0] && !person_name_ok(worker))
    return "--worker: a name without spaces, quotes, '=' or '/' (for example amina.k)";
  if (coordinator[0] && !person_name_ok(coordinator))
    return "--coordinator: a name without spaces, quotes, '=' or '/' (for example joseph.m)";
  return NULL;
}

/* A request (control-msg-int.h): its command and the fields it names. */
static void on_control(hw_control_req *req, const hw_peer_cred *cred, const uint8_t *body,
                       size_t len, void *ud)
{
  hw_server *s = ud;
  hw_control_fields rq;
  const char *why;
  char actor[160];
  const char *cmd = rq.cmd, *worker = rq.worker, *role = rq.role, *coord = rq.coordinator,
             *from = rq.from;
  hw_admin_req adm;

  if (hw__control_req_parse(body, len, &rq, &why) != 0) {
    hw__control_reply_text(req, false, why);
    return;
  }
  if ((why = hw__person_names_refused(worker, coord)) != NULL) {
    hw__control_reply_text(req, false, why);
    return;
  }
  if (!role[0])
    snprintf(rq.role, sizeof rq.role, "worker");
  if (strcmp(cmd, "invite") == 0) {
    char address[INVITE_ADDRESS_MAX];
    const char *refused = NULL;
    invite_job *j;
    /* Refused before anything is stored or audited. */
    if (!worker[0])
      refused = "invite needs --worker NAME";
    else if (!coord[0])
      refused = "invite needs --coordinator NAME (who decides)";
    else if (strcmp(role, "worker") && strcmp(role, "coordinator"))
      refused = "--role takes worker or coordinator";
    else if (!invite_address(&s->cfg, address, sizeof address))
      refused = "the server listens on every address: set [server] public_address (or run "
                "--public-address) to the address devices should dial";
    if (refused) {
      hw__control_reply_text(req, false, refused);
      return;
    }
    if (!(j = hw_calloc(1, sizeof *j))) {
      hw__control_reply_text(req, false, "out of memory");
      return;
    }
    snprintf(j->address, sizeof j->address, "%s", address);
    j->job.run = invite_run;
    j->job.done = invite_done;
    j->srv = s;
    j->req = req;
    snprintf(j->worker, sizeof j->worker, "%s", worker);
    snprintf(j->coordinator, sizeof j->coordinator, "%s", coord);
    snprintf(j->role, sizeof j->role, "%s", role);
    /* The audit entry names the OS user and the coordinator. */
    snprintf(j->actor, sizeof j->actor, "%s/%s", cred->user, coord);
    j->expires_ms = hw__now_ms() + (int64_t)s->cfg.invite_ttl_s * 1000;
    if (hw_storage_submit(s->storage, &j->job) != 0) {
      hw_free(j);
      hw__control_reply_text(req, false, "the server is stopping");
    }
    return;
  }
  snprintf(actor, sizeof actor, "%s/%s", cred->user, coord[0] ? coord : "-");
  adm = (hw_admin_req){cmd,
                       worker[0] ? worker : NULL,
                       coord[0] ? coord : NULL,
                       rq.case_hex[0] ? rq.case_hex : NULL,
                       rq.device[0] ? rq.device : NULL,
                       rq.mode[0] ? rq.mode : NULL,
                       rq.id[0] ? rq.id : NULL,
                       from[0] ? from : NULL,
                       actor};
  if (hw__admin_handle(s, req, &adm) || hw__quarantine_handle(s, req, &adm))
    return;
  if (strcmp(cmd, "audit") == 0 || strcmp(cmd, "records") == 0) {
    report_job *j = hw_calloc(1, sizeof *j);
    if (!j) {
      hw__control_reply_text(req, false, "out of memory");
      return;
    }
    j->job.run = report_run;
    j->job.done = report_done;
    j->req = req;
    j->audit = strcmp(cmd, "audit") == 0;
    if (from[0]) {
      char *end = NULL;
      unsigned long long f = strtoull(from, &end, 10);
      if (!end || *end || f == 0 || from[0] == '-') {
        hw_free(j);
        hw__control_reply_text(req, false, "--from needs a sequence number (1 or more)");
        return;
      }
      j->after = (uint64_t)f - 1;
    }
    if (hw_storage_submit(s->storage, &j->job) != 0) {
      hw_free(j);
      hw__control_reply_text(req, false, "the server is stopping");
    }
    return;
  }
  if (strcmp(cmd, "status") == 0) {
    char text[256];
    char pub[sizeof s->noise_pub * 2 + 1];
    for (size_t i = 0; i < sizeof s->noise_pub; i++)
      snprintf(pub + 2 * i, 3, "%02x", s->noise_pub[i]);
    snprintf(text, sizeof text, "connections=%u audit_head_seq=%llu server_key=%s", s->n_sessions,
             (unsigned long long)(s->head_valid ? s->head.seq : 0), pub);
    hw__control_reply_text(req, true, text);
    return;
  }
  hw__control_reply_text(req, false, "unknown command");
}

/* ---- start and stop --------------------------------------------------------- */

static void on_connection(uv_stream_t *l, int status)
{
  hw_server *s = l->data;
  if (status == 0)
    hw__session_accept(s);
}

/* The signal handles stay open until the storage thread has finished: a
 * second SIGTERM or SIGINT (an impatient operator, a service manager) while
 * the last commits and the final head are written is noted, not fatal. */
static void on_signal(uv_signal_t *sig, int signum)
{
  hw_server *s = sig->data;

  if (s->stopping) {
    hw_log(HW_LOG_INFO, "signal=%d already stopping", signum);
    return;
  }
  hw_log(HW_LOG_INFO, "signal=%d stopping", signum);
  hw_server_stop(s);
}

static void noop_close(uv_handle_t *h)
{
  (void)h;
}

/* Closing a libuv signal handle gives the signal back its default action,
 * which would kill the server between here and its exit 0. The loop
 * thread, the only one left (the storage threads are joined), blocks the
 * two signals first: one that comes now stays pending until the exit. */
static void close_signals(hw_server *s)
{
  sigset_t set;

  if (!s->sig_term.loop || uv_is_closing((uv_handle_t *)&s->sig_term))
    return;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  uv_close((uv_handle_t *)&s->sig_term, noop_close);
  uv_close((uv_handle_t *)&s->sig_int, noop_close);
}

static void on_power_lost(uv_async_t *a)
{
  hw_server *s = a->data;

  hw_log(HW_LOG_WARN, "test power cut: the store lost power; stopping, nothing more is "
                      "acknowledged");
  s->exit_code = 1;
  hw_server_stop(s);
}

/* Tests only: the wake-up for a store whose test VFS lost power. Made once
 * the storage thread runs, before any job: until then nothing asks. */
static int watch_power(hw_server *s, const hw_unlock *unlock)
{
  if (!unlock->power_lost)
    return HW_OK;
  if (uv_async_init(s->loop, &s->lost_async, on_power_lost) != 0)
    return HW_EIO;
  s->lost_async.data = s;
  s->db.lost_wake = &s->lost_async;
  s->db.power_lost = unlock->power_lost;
  return HW_OK;
}

static void raise_nofile(uint32_t want)
{
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return;
  if (rl.rlim_cur < (rlim_t)want + 64) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (rlim_t)want + 64
                      ? (rlim_t)want + 64
                      : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
      hw_log(HW_LOG_WARN, "cannot raise the open-file limit");
  }
}

static int listen_on(hw_server *s, char *err, size_t err_len)
{
  struct sockaddr_storage sa;
  int rc = strchr(s->cfg.listen_host, ':')
               ? uv_ip6_addr(s->cfg.listen_host, s->cfg.listen_port, (struct sockaddr_in6 *)&sa)
               : uv_ip4_addr(s->cfg.listen_host, s->cfg.listen_port, (struct sockaddr_in *)&sa);

  if (rc == 0)
    rc = uv_tcp_init(s->loop, &s->listener);
  if (rc == 0) {
    s->listener.data = s;
    rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&sa, 0);
    if (rc == 0)
      rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
  }
  if (rc) {
    snprintf(err, err_len, "cannot listen on %s:%u: %s", s->cfg.listen_host,
             (unsigned)s->cfg.listen_port, uv_strerror(rc));
    return HW_EIO;
  }
  if (s->cfg.listen_port == 0) {
    int len = sizeof sa;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&sa, &len) == 0)
      s->cfg.listen_port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
  }
  return HW_OK;
}

int hw_server_start(hw_server *s, uv_loop_t *loop, const hw_server_config *cfg,
                    const hw_unlock *unlock, char *err, size_t err_len)
{
  hw_store_info info = {0};
  hw_control_policy pol = {.n_uids = 1};
  int rc;

  memset(s, 0, sizeof *s);
  s->loop = loop;
  s->cfg = *cfg;
  hw_server_config_finish(&s->cfg);
  hw_log_set_level(s->cfg.log_level);
  if (!(s->secrets = hw_secure_alloc(sizeof *s->secrets))) {
    snprintf(err, err_len, "out of memory");
    return HW_ENOMEM;
  }
  if ((rc = open_store(&s->cfg, unlock, false, NULL, &s->db.st, &info, err, err_len)) != 0)
    goto fail;
  if (info.flags & HW_STORE_KEYFILE_BESIDE_DB)
    hw_log(HW_LOG_WARN, "the key file sits beside the database: a thief who takes the state "
                        "directory takes the key too");
  if ((rc = hw_sdb_open(&s->db.sdb, hw_store_sqlite(s->db.st))) != 0) {
    snprintf(err, err_len, "cannot read the server tables: %s", hw_strerror(rc));
    goto fail;
  }
  if ((info.flags & HW_STORE_RESTORED) && (rc = hw_store_new_replica(s->db.st, NULL)) != 0) {
    snprintf(err, err_len, "cannot take a new identity after a restore: %s", hw_strerror(rc));
    goto fail;
  }
  if ((rc = load_keys(s, (info.flags & HW_STORE_RESTORED) != 0, err, err_len)) != 0)
    goto fail;
  /* Replaces SQLite's auto-checkpoint (st_after_group checkpoints). */
  sqlite3_wal_hook(hw_store_sqlite(s->db.st), note_wal, &s->db);
  if ((rc = hw_storage_open(&s->storage, loop, &store_ops, &s->db, 0)) != 0) {
    snprintf(err, err_len, "cannot start the storage thread");
    goto fail;
  }
  /* Before the listener and the control socket exist, so that a signal
   * sent as soon as either is seen stops the server the normal way (libuv
   * delivers it once the loop runs). */
  uv_signal_init(loop, &s->sig_term);
  uv_signal_init(loop, &s->sig_int);
  s->sig_term.data = s->sig_int.data = s;
  uv_signal_start(&s->sig_term, on_signal, SIGTERM);
  uv_signal_start(&s->sig_int, on_signal, SIGINT);
  if ((rc = watch_power(s, unlock)) != 0) {
    snprintf(err, err_len, "cannot watch the test VFS");
    goto fail_running;
  }
  raise_nofile(s->cfg.max_connections);
  if ((rc = listen_on(s, err, err_len)) != 0)
    goto fail_running;
  pol.uids[0] = getuid();
  if (s->cfg.admin_group[0]) {
    char buf[1024];
    struct group *g = NULL, gr;
    if (getgrnam_r(s->cfg.admin_group, &gr, buf, sizeof buf, &g) == 0 && g) {
      pol.group = g->gr_gid;
      pol.has_group = 1;
    } else {
      hw_log(HW_LOG_WARN, "admin group %s does not exist", s->cfg.admin_group);
    }
  }
  if ((rc = hw_control_open(&s->control, loop, s->cfg.control_socket, &pol, on_control, s)) != 0) {
    snprintf(err, err_len, "cannot open the control socket %s", s->cfg.control_socket);
    goto fail_running;
  }
  uv_timer_init(loop, &s->head_timer);
  s->head_timer.data = s;
  uv_timer_start(&s->head_timer, on_head_timer, 1000, (uint64_t)s->cfg.head_sign_interval_s * 1000);
  hw_log(HW_LOG_INFO, "listening addr=%s:%u", s->cfg.listen_host, (unsigned)s->cfg.listen_port);
  return HW_OK;

fail_running:
  /* The loop has handles now: stop the server the normal way. */
  s->exit_code = 1;
  hw_server_stop(s);
  return rc;
fail:
  hw_sdb_close(s->db.sdb);
  hw_store_close(s->db.st);
  hw_noise_key_free(s->noise_key);
  hw_secure_free(s->secrets);
  memset(s, 0, sizeof *s);
  return rc;
}

static void on_storage_closed(void *arg)
{
  hw_server *s = arg;

  hw_sdb_close(s->db.sdb);
  s->db.sdb = NULL;
  hw_store_close(s->db.st);
  s->db.st = NULL;
  hw_noise_key_free(s->noise_key);
  s->noise_key = NULL;
  hw_secure_free(s->secrets);
  s->secrets = NULL;
  hw_free(s->owners);
  s->owners = NULL;
  close_signals(s);
  hw_log(HW_LOG_INFO, "stopped");
}

static void close_storage(hw_server *s)
{
  hw_storage *st = s->storage;
  if (!st)
    return;
  s->storage = NULL;
  hw_storage_close(st, on_storage_closed, s);
}

void hw_server_stop(hw_server *s)
{
  if (s->stopping)
    return;
  s->stopping = true;
  if (uv_is_active((uv_handle_t *)&s->listener) || s->listener.loop)
    uv_close((uv_handle_t *)&s->listener, noop_close);
  if (s->control)
    hw_control_close(s->control);
  s->control = NULL;
  if (s->head_timer.loop)
    uv_close((uv_handle_t *)&s->head_timer, noop_close);
  hw__session_close_all(s);
  /* In-flight jobs finish and commit; the final head is signed last, and
   * closing the storage thread then drains everything still queued. */
  if (s->storage) {
    sign_head(s);
    close_storage(s);
  } else {
    close_signals(s);
  }
  /* After close_storage: the storage thread, which may send it, is joined. */
  if (s->lost_async.loop)
    uv_close((uv_handle_t *)&s->lost_async, noop_close);
}
