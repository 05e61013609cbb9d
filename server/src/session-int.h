/* One device connection: the Noise channel, the sync protocol's state, and
 * the storage jobs it has in flight (session.c on the loop thread,
 * session-jobs.c on the storage thread). docs/protocol.md §9 is the design. */
#ifndef HW_SERVER_SESSION_INT_H
#define HW_SERVER_SESSION_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "accept-int.h"
#include "homeward/arena.h"
#include "homeward/proto/chan.h"
#include "homeward/proto/msg.h"
#include "server-int.h"

/* Replica ids one device may have had: a new one at every copy or restore
 * of its store. Past it the device is refused with a message saying so
 * (the trial that met 64 had copied one store 140 times). */
#define HW_SESSION_OWN_MAX 4096
#define HW_SESSION_ACKED_MAX 65536 /* record changes acknowledged in one session */
#define HW_SESSION_REGION_MAX 256  /* workers in a coordinator's region */

typedef enum hw_session_state {
  HW_SS_HANDSHAKE, /* Noise handshake under way */
  HW_SS_HELLO,     /* waiting for the hello (and its storage check) */
  HW_SS_SERVING,   /* pushes and pulls */
  HW_SS_CLOSING,   /* a final message is queued; closing when written */
} hw_session_state;

struct hw_session {
  hw_server *srv;
  hw_session *next, *prev; /* the server's list */
  uint64_t id;             /* for log lines */
  uv_tcp_t tcp;
  uv_timer_t timer; /* handshake, then idle */
  hw_chan *chan;
  hw_session_state state;
  int refs; /* the connection itself + jobs in flight */
  bool tcp_closed, timer_closed, closing;
  bool paused;     /* not reading: too many pushed bytes wait for storage */
  bool lingering;  /* a final message sent, FIN sent: input is dropped (session.c) */
  uv_shutdown_t shutdown_req;
  bool hello_seen;                        /* loop thread: a hello was received */
  uint8_t device_key[HW_NOISE_KEY_BYTES]; /* set when the handshake ends */
  bool has_token;
  uint8_t token[HW_TOKEN_BYTES];
  /* Storage thread only. Jobs run in the order they were submitted, so the
   * hello job's verdict is what every later job of the session sees. */
  bool authorized;
  hw_id replica;
  hw_id *own; /* owned (hw_sdb_replicas_of); freed with the session */
  size_t n_own;
  bool recovering;
  char worker[64];
  char role[16];
  bool retiring; /* a retired device's last session: told to wipe at its end */
  /* The workers whose cases this device sees: its own worker, and for a
   * coordinator the workers of its region (protocol.md §9). */
  char (*visible)[HW_WORKER_MAX];
  size_t n_visible;
  hw_sdb *db; /* during a job */
  hw_cursor cursor; /* where this session stands: the hello's, then each batch's */
  bool has_cursor;
  /* Storage thread: a newly visible case larger than a batch, part sent:
   * its records up to whole_after went out (session-jobs.c). */
  bool has_whole;
  hw_id whole_case;
  uint64_t whole_after;
  uint64_t *acked_seqs; /* record changes this session's acks carried */
  size_t n_acked, cap_acked;
};

/* Jobs (session-jobs.c). Each holds a session reference until done. */
typedef struct hw_hello_job {
  hw_job job;
  hw_session *ss;
  hw_msg_hello hello; /* copied */
  bool has_token;
  uint8_t token[HW_TOKEN_BYTES];
  uint64_t epoch; /* the server's */
  bool ever_restored;
  int64_t now_ms;
  /* results */
  uint64_t code; /* 0: accepted; else an hw_msg_code */
  const char *message;
  bool refuse_lineage;   /* send a lineage refusal */
  hw_accepted_dot *dots; /* hw_malloc'd: the dots to list */
  size_t n_dots;
  bool dots_more; /* the server holds more above the last listed */
  uint64_t refusal_from;
} hw_hello_job;

typedef struct hw_push_job {
  hw_job job;
  hw_session *ss;
  uint64_t batch_seq;
  size_t n;
  uint8_t **states; /* owned copies of the pushed states */
  size_t *lens;
  hw_accept_result *results;
  hw_accept_prep *preps; /* the prep's (NULL before it, or without memory); freed by the run */
  int64_t now_ms;
  const uint8_t *value_key;
  size_t bytes; /* of the states: counted in the server's queued_push_bytes */
} hw_push_job;

typedef struct hw_pull_job {
  hw_job job;
  hw_session *ss;
  bool has_cursor; /* the pull named a cursor (else: the session's) */
  hw_cursor cursor;
  uint64_t max_records;
  uint64_t epoch;
  /* results */
  bool refused;             /* the session's hello was refused: nothing to send */
  bool retire_now;          /* the device is retired: this pull ends its last session */
  hw_id *removals;          /* cases taken away from this device's worker */
  size_t n_removals;
  hw_decided *decided;      /* states held here that a coordinator decided on */
  size_t n_decided;
  uint8_t **records;
  size_t *lens;
  size_t n;
  hw_cursor next;
  bool more;
  bool unmoved; /* next is where the pull started: an empty last batch says nothing */
  uint8_t checksum[HW_HASH_BYTES];
  hw_id_list flagged; /* the last batch: the cases seen here marked LATE-EDIT */
} hw_pull_job;

/* Storage thread: which session currently speaks for each replica id
 * (architecture §3, defence 4). A later hello takes the replica over; jobs
 * of the superseded session are then refused, unapplied. */
typedef struct hw_replica_owner {
  hw_id replica;
  uint64_t session_id;
} hw_replica_owner;

int hw__hello_job_run(hw_job *job, void *db);
void hw__push_job_prep(hw_job *job);
int hw__push_job_run(hw_job *job, void *db);
int hw__pull_job_run(hw_job *job, void *db);
/* A pull batch with no record, removal or decision in it. */
bool hw__pull_batch_empty(const hw_pull_job *j);
void hw__hello_job_free(hw_hello_job *j);
void hw__push_job_free(hw_push_job *j);
void hw__pull_job_free(hw_pull_job *j);

/* The caseload filter goes here (the caseloads issue): whether this
 * session's worker may see or write records of `case_id`. Until then every
 * enrolled device holds every case. */
hw_case_access hw__session_case_access(hw_session *ss, const hw_id *case_id, bool created_here);

#endif
