/* Private to the sync engine: one session's state and the steps the
 * sync-*.c files share (sync.c runs the session). */
#ifndef HW_SYNC_INT_H
#define HW_SYNC_INT_H

#include <stdio.h>

#include "client-int.h"
#include "homeward/ids.h"
#include "homeward/lineage.h"
#include "homeward/proto/chan.h"
#include "homeward/proto/msg.h"

#define PUSH_WINDOW 8          /* push batches in flight */
#define PUSH_BATCH_RECORDS 512 /* HW_BATCH_RECORDS_MAX: each batch costs a commit on both sides */
#define PUSH_BATCH_BYTES (4u << 20)
#define PULL_RECORDS 512
/* Pulled batches stored in one transaction: each commit costs four syncs
 * with the device's rollback journal, a wait that bounded the pull. A cut
 * between batches stores the group (session_reset); a batch that fails to
 * apply takes it back, and it is pulled again (the cursor goes with it). */
#define PULL_GROUP 4
#define SYNC_ATTEMPTS 3 /* a lineage refusal ends the session: check, then retry */

/* One pending record as sent: its id, the vv sent, its state bytes. */
typedef struct sent {
  hw_id id;
  hw_vv vv;       /* its entries are the start of `mem` */
  uint8_t *state; /* in `mem`, after the vv entries */
  size_t len;
  void *mem; /* owned: the vv entries and the state in one allocation */
} sent;

typedef struct batch {
  uint64_t seq;
  size_t first, n;
  bool acked;
} batch;

typedef struct sync_ctx {
  hw_client *c;
  hw_chan *chan;
  int fd;
  unsigned timeout;
  hw_sync_result *res;
  hw_sync_progress_cb cb;
  void *ud;
  sent *sent;
  size_t n_sent, cap_sent;
  batch *batches;
  size_t n_batches;
  size_t push_next; /* the first record of s->sent not yet in a batch */
  size_t in_flight; /* batches sent, not yet acknowledged */
  bool pull_queued; /* the pull that follows the last push batch */
  bool done, refused_lineage;
  uint64_t epoch;       /* the server's, from the cursor */
  uint64_t hello_epoch; /* the epoch the hello's cursor named (0: none) */
  bool epoch_changed, repushed;
  uint64_t batch_seq;
  bool diverged;      /* a pulled state contradicted a local one */
  bool pull_open;     /* a transaction holds pulled batches not yet committed */
  unsigned pull_held; /* how many */
  hw_id_list touched; /* cases of the records pushed or pulled (closed.c) */
  /* From the last walk at done (only deletions follow it): */
  hw_id_list may_close;  /* cases with a record whose own decision closes a case */
  hw_id_list conflicted; /* records with a conflict or a disputed void */
  size_t r_off, r_len;   /* bytes of rbuf read but not yet fed to the channel */
  uint8_t rbuf[65536];
} sync_ctx;

static inline void hw__sync_say(sync_ctx *s, const char *msg)
{
  if (!s->res->message[0])
    snprintf(s->res->message, sizeof s->res->message, "%s", msg);
}

static inline void hw__sync_progress(sync_ctx *s)
{
  if (s->cb)
    s->cb(&s->res->totals, s->ud);
}

/* sync.c */
int hw__sync_send_msg(sync_ctx *s, const hw_msg *m, unsigned flags);

/* sync-hello.c */
int hw__sync_compute_lineage(hw_client *c, const hw_id *replica, hw_lineage *out);
int hw__sync_build_hello(sync_ctx *s, hw_msg_hello *h);
void hw__sync_cursor_pack(const hw_cursor *cur, uint8_t out[16 + HW_CURSOR_HEAD_BYTES]);

/* sync-push.c */
int hw__sync_touch(sync_ctx *s, const hw_id *case_id);
int hw__sync_collect_pending(void *ud, const hw_store_rec *r);
int hw__sync_send_pushes(sync_ctx *s, unsigned flags);
void hw__sync_free_sent(sync_ctx *s);
int hw__sync_repush_everything(sync_ctx *s);
int hw__sync_on_ack(sync_ctx *s, const hw_msg_push_ack *a);
int hw__sync_apply_record(sync_ctx *s, const hw_id *id, const hw_record *in,
                          const hw_bytes *in_bytes, const uint8_t *in_item, const hw_vv *held);
int hw__sync_apply_state(sync_ctx *s, const hw_id *id, const uint8_t *bytes, size_t len,
                         const hw_vv *held);

/* sync-pull.c */
int hw__sync_send_pull(sync_ctx *s);
int hw__sync_removed_sweep(sync_ctx *s);
int hw__sync_pull_commit(sync_ctx *s);
int hw__sync_on_pull_batch(sync_ctx *s, const hw_msg_pull_batch *b);

/* sync-done.c */
int hw__sync_on_done(sync_ctx *s, const hw_msg_done *d);

/* sync-refusal.c */
int hw__sync_on_refusal(sync_ctx *s, const hw_msg_lineage_refusal *r);

#endif
