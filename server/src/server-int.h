/* The running server: one libuv loop for the network, one storage thread
 * for the database (architecture §5). Loop thread unless said otherwise. */
#ifndef HW_SERVER_SERVER_INT_H
#define HW_SERVER_SERVER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config-int.h"
#include "control-int.h"
#include "homeward/audit-head.h"
#include "homeward/ids.h"
#include "homeward/proto/limits.h"
#include "homeward/proto/noise.h"
#include "homeward/store.h"
#include "sdb-int.h"
#include "storage-int.h"

typedef struct hw_session hw_session;

/* Secrets the server holds while running (in hw_secure_alloc memory). */
typedef struct hw_server_secrets {
  uint8_t sign_sk[HW_SIGN_SECRET_BYTES]; /* Ed25519: audit heads */
  uint8_t value_key[HW_HASH_BYTES];      /* keyed hashes of values in the audit log */
} hw_server_secrets;

/* What the storage thread's jobs get as their `db`. */
typedef struct hw_server_db {
  hw_store *st;
  hw_sdb *sdb;
  /* Tests only (hw_unlock.power_lost): asked on the storage thread at each
   * begin and commit; `lost_wake` is sent once when it first says yes. */
  bool (*power_lost)(void);
  uv_async_t *lost_wake;
  bool lost_told;
  int wal_pages; /* frames in the WAL after the last commit (storage thread) */
} hw_server_db;

/* How the store is unlocked (docs/operations.md). */
typedef struct hw_unlock {
  const uint8_t *passphrase; /* borrowed; NULL when key_file is set */
  size_t passphrase_len;
  const char *key_file;
  unsigned test_flags; /* enum hw_store_test_flag: tests only */
  /* Tests only (homeward-server-powercut, never installed): the store's
   * base VFS (HW_TESTVFS_NAME), and whether that VFS has lost power. Once
   * it has, every transaction fails, so nothing more is acknowledged, and
   * the server stops (docs/operations.md, "Power-cut testing"). */
  const char *base_vfs;
  bool (*power_lost)(void);
} hw_unlock;

#define HW_SERVER_READ_BUF 65536

typedef struct hw_server {
  uv_loop_t *loop;
  /* Every session reads into this one buffer: libuv calls a stream's
   * alloc and read callbacks back to back on the loop thread, and the read
   * callback feeds all of it to the channel, which copies what it keeps.
   * One buffer per session cost 64 KiB each. */
  uint8_t read_buf[HW_SERVER_READ_BUF];
  hw_server_config cfg;
  hw_server_db db; /* used on the storage thread only, once running */
  hw_storage *storage;
  hw_control *control;
  uv_tcp_t listener;
  uv_signal_t sig_term, sig_int;
  uv_timer_t head_timer;
  uv_async_t lost_async; /* tests only: the store's test VFS lost power */
  hw_noise_key *noise_key;
  hw_server_secrets *secrets;
  uint8_t noise_pub[HW_NOISE_KEY_BYTES];
  uint8_t sign_pk[HW_SIGN_PUBLIC_BYTES];
  uint8_t recovery_pk[32];
  uint64_t epoch;      /* random, never 0; a restored server takes a new one */
  bool ever_restored;  /* this store has taken a new epoch at least once ("restored" meta) */
  hw_id replica;       /* the server's own replica id (coordinator writes) */
  hw_signed_head head; /* the latest signed audit head */
  bool head_valid;
  hw_session *sessions; /* open connections */
  unsigned n_sessions;
  /* Loop thread: bytes of pushed states waiting for the storage thread, and
   * how many sessions stopped reading until it drains (session.c). */
  size_t queued_push_bytes;
  unsigned n_paused;
  uint64_t next_conn_id;
  bool stopping;
  int exit_code;
  /* Storage thread only: the live session of each replica id. */
  struct hw_replica_owner *owners;
  size_t n_owners, cap_owners;
} hw_server;

/* Create the state directory's encrypted store and every key: the Noise
 * static key, the Ed25519 audit key, the audit value key, the epoch and the
 * server's replica id, and the organisation's recovery key pair, whose secret
 * half is written once to `recovery_out` (mode 0600, must not exist) for
 * offline keeping and not kept by the server. Prints nothing; `pub_out`
 * (may be NULL) gets the server's public key. */
HW_NODISCARD int hw_server_init(const hw_server_config *cfg, const hw_unlock *unlock,
                                const char *recovery_out, uint8_t pub_out[static 32], char *err,
                                size_t err_len);

/* Change what unlocks the stopped server's store: it is opened with
 * `unlock` first, then `next` fills `to` with the new passphrase or key
 * file (asked only once the current key has opened the store; a non-zero
 * return stops, its message said), and the data key is wrapped again under
 * it (nothing else changes; the recovery seal stays). A key file named in
 * `to` that does not exist is made (32 random bytes, mode 0600), and
 * removed again if the rekey fails. *beside is set when the new key file
 * sits in the state directory. Returns 0 or an error, with `err` saying
 * what failed in words for the operator (empty when `next` said it). */
HW_NODISCARD int hw_server_rekey(const hw_server_config *cfg, const hw_unlock *unlock,
                                 int (*next)(void *ud, hw_unlock *to), void *ud, bool *beside,
                                 char *err, size_t err_len);

/* Open the state directory's store, load the keys, listen. Returns 0 or an
 * error, with `err` saying what failed in words for the operator. */
HW_NODISCARD int hw_server_start(hw_server *s, uv_loop_t *loop, const hw_server_config *cfg,
                                 const hw_unlock *unlock, char *err, size_t err_len);

/* Begin a graceful stop: stop accepting, finish in-flight commits, sign the
 * final audit head, close everything; the loop then ends. */
void hw_server_stop(hw_server *s);

/* Sessions: the network side (session.c). */
void hw__session_accept(hw_server *s);
void hw__session_close_all(hw_server *s);
/* End every live session of a device reported lost (security notes part B). */
void hw__session_revoke(hw_server *s, const uint8_t key[static HW_NOISE_KEY_BYTES]);
/* End any other live session of `replica` (architecture §3, defence 4). */
void hw__session_supersede(hw_server *s, hw_session *keep, const hw_id *replica);

/* Milliseconds since the epoch (the server's clock). */
int64_t hw__now_ms(void);

/* Every person name a command gives (a worker's, a coordinator's; "" when
 * not given) is checked, whatever the command: it appears in key=value log
 * lines, reports and audit entries (a coordinator's in the actor,
 * "os-user/NAME"), where a space, a quote, '=', '/' or a control character
 * would forge a field or a line. NULL when both are fine, else the message
 * naming the option. The server checks every request; `homeward-server`
 * checks before it sends (a name that is not UTF-8 cannot be sent). */
const char *hw__person_names_refused(const char *worker, const char *coordinator);

/* What the server stores of an invitation token: a domain-separated hash
 * (the token itself is never stored; security notes part B). */
void hw__token_hash(const uint8_t token[static HW_TOKEN_BYTES], uint8_t out[static HW_HASH_BYTES]);

#endif
