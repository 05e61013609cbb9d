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
#include "homeward/proto/noise.h"
#include "sdb-int.h"
#include "storage-int.h"

typedef struct hw_session hw_session;

/* Secrets the server holds while running (in hw_secure_alloc memory). */
typedef struct hw_server_secrets {
  uint8_t sign_sk[HW_SIGN_SECRET_BYTES]; /* Ed25519: audit heads */
  uint8_t value_key[HW_HASH_BYTES];      /* keyed hashes of values in the audit log */
} hw_server_secrets;

typedef struct hw_server {
  uv_loop_t *loop;
  hw_server_config cfg;
  sqlite3 *db;             /* used on the storage thread only, once running */
  hw_sdb *sdb;
  hw_storage *storage;
  hw_control *control;
  uv_tcp_t listener;
  uv_signal_t sig_term, sig_int;
  uv_timer_t head_timer;
  hw_noise_key *noise_key;
  hw_server_secrets *secrets;
  uint8_t noise_pub[HW_NOISE_KEY_BYTES];
  uint8_t sign_pk[HW_SIGN_PUBLIC_BYTES];
  uint8_t recovery_pk[32];
  hw_id epoch;             /* a restored server takes a new one */
  hw_id replica;           /* the server's own replica id (coordinator writes) */
  hw_signed_head head;     /* the latest signed audit head */
  bool head_valid;
  hw_session *sessions;    /* open connections */
  unsigned n_sessions;
  uint64_t next_conn_id;
  bool stopping;
  int exit_code;
  /* Storage thread only: the live session of each replica id. */
  struct hw_replica_owner *owners;
  size_t n_owners, cap_owners;
} hw_server;

/* Open the state directory's store, load the keys, listen. Returns 0 or an
 * error, with `err` saying what failed in words for the operator. */
HW_NODISCARD int hw_server_start(hw_server *s, uv_loop_t *loop, const hw_server_config *cfg,
                                 char *err, size_t err_len);

/* Begin a graceful stop: stop accepting, finish in-flight commits, sign the
 * final audit head, close everything; the loop then ends. */
void hw_server_stop(hw_server *s);

/* Sessions: the network side (session.c). */
void hw__session_accept(hw_server *s);
void hw__session_close_all(hw_server *s);
/* End any other live session of `replica` (architecture §3, defence 4). */
void hw__session_supersede(hw_server *s, hw_session *keep, const hw_id *replica);

/* Milliseconds since the epoch (the server's clock). */
int64_t hw__now_ms(void);

#endif
