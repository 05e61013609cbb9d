/* The sync engine (architecture §4; docs/protocol.md §9): one session of
 * hello, pushes, pulls and done over the Noise channel. Nothing is marked
 * sent before its acknowledgement; pulled batches are stored with their
 * cursor in one transaction (PULL_GROUP at a time); a cut at any point
 * resumes cleanly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client-int.h"
#include "homeward/audit-head.h"
#include "homeward/checksum.h"
#include "homeward/lineage.h"
#include "reissue-int.h"
#include "homeward/mem.h"
#include "homeward/proto/chan.h"
#include "homeward/proto/msg.h"
#include "homeward/record-codec.h"
#include "pulled-int.h"
#include "homeward/stage.h"
#include "net-int.h"

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
  void *mem;      /* owned: the vv entries and the state in one allocation */
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
  size_t push_next;  /* the first record of s->sent not yet in a batch */
  size_t in_flight;  /* batches sent, not yet acknowledged */
  bool pull_queued;  /* the pull that follows the last push batch */
  bool done, refused_lineage;
  uint64_t epoch;       /* the server's, from the cursor */
  uint64_t hello_epoch; /* the epoch the hello's cursor named (0: none) */
  bool epoch_changed, repushed;
  uint64_t batch_seq;
  bool diverged;       /* a pulled state contradicted a local one */
  bool pull_open;      /* a transaction holds pulled batches not yet committed */
  unsigned pull_held;  /* how many */
  hw_id_list touched; /* cases of the records pushed or pulled (closed.c) */
  /* From the last walk at done (only deletions follow it): */
  hw_id_list may_close;  /* cases with a record whose own decision closes a case */
  hw_id_list conflicted; /* records with a conflict or a disputed void */
  size_t r_off, r_len; /* bytes of rbuf read but not yet fed to the channel */
  uint8_t rbuf[65536];
} sync_ctx;

static void say(sync_ctx *s, const char *msg)
{
  if (!s->res->message[0])
    snprintf(s->res->message, sizeof s->res->message, "%s", msg);
}

static void progress(sync_ctx *s)
{
  if (s->cb)
    s->cb(&s->res->totals, s->ud);
}

/* ---- the wire ------------------------------------------------------------- */

static int flush(sync_ctx *s)
{
  hw_bytes out = hw_chan_pending(s->chan);
  int rc;

  if (!out.len)
    return HW_OK;
  if ((rc = hw__net_write_all(s->fd, out.p, out.len, s->timeout)) != 0)
    return rc;
  s->res->totals.bytes_up += out.len;
  hw_chan_consume(s->chan, out.len);
  return HW_OK;
}

/* flags: HW_SEND_FINAL, HW_SEND_CORK (more follow at once: share a
 * transport message, as hello, pushes and the first pull do). */
static int send_msg(sync_ctx *s, const hw_msg *m, unsigned flags)
{
  hw_cbor_wr w;
  int rc;

  hw_cbor_wr_init(&w, HW_APP_MSG_MAX);
  rc = hw_msg_encode(m, &w);
  if (!rc)
    rc = hw_cbor_wr_finish(&w);
  if (!rc)
    rc = hw_chan_send(s->chan, w.buf, w.len, flags);
  hw_cbor_wr_close(&w);
  return rc ? rc : flush(s);
}

/* Read until one application message completes, or, during the handshake,
 * until the channel opens. `*body` points into the channel until the next
 * read. */
static int next_msg(sync_ctx *s, hw_bytes *body, bool *final)
{
  bool handshake = hw_chan_get_state(s->chan) == HW_CHAN_HANDSHAKE;

  body->p = NULL;
  for (;;) {
    size_t used = 0, n;
    /* Feed what is buffered; with nothing buffered the channel may still
     * hold messages of a batch (one per call). */
    int rc = hw_chan_feed(s->chan, s->rbuf + s->r_off, s->r_len - s->r_off, &used, body, final);
    if (rc)
      return rc;
    s->r_off += used;
    if ((rc = flush(s)) != 0)
      return rc;
    if (body->p || (handshake && hw_chan_get_state(s->chan) != HW_CHAN_HANDSHAKE))
      return HW_OK;
    if (s->r_off < s->r_len && used > 0)
      continue;
    s->r_off = s->r_len = 0;
    if ((rc = hw__net_read(s->fd, s->rbuf, sizeof s->rbuf, s->timeout, &n)) != 0)
      return rc;
    if (n == 0)
      return hw_chan_eof(s->chan) == HW_OK ? HW_ECLOSED : HW_EPROTO;
    s->res->totals.bytes_down += n;
    s->r_len = n;
  }
}

/* ---- what the device tells in its hello ----------------------------------- */

typedef struct lineage_walk {
  hw_client *c;
  hw_id replica;
  hw_lineage l;
  hw_lineage prefix;    /* l up to the last entry before the first not held */
  bool gap;             /* an entry not held was met */
  hw_store_vvs_buf vvs; /* scratch for each entry's record */
} lineage_walk;

/* A write is known held by the server when its record's acknowledged vv
 * covers it. The walk folds the held writes and skips the others, as the
 * server folds the writes it accepted: a write it quarantined, or one not
 * pushed yet, leaves a gap on both sides. (Stopping at the first gap made
 * the server refuse every later hello once a later write was accepted.)
 * A copied store is still caught: its reused counters carry other digests. */
static int fold_held(void *ud, const hw_dot *dot, const hw_id *record,
                     const uint8_t digest[HW_HASH_BYTES])
{
  lineage_walk *w = ud;
  bool held;
  int rc;

  /* A record no longer here was deleted (its case closed or taken away),
   * which happens only once the server acknowledged all of it. (A copy
   * held for a coordinator and dropped at their decision took its
   * unaccepted writes out of the journal with it.) */
  rc = hw_store_vvs(w->c->st, record, &w->vvs);
  if (rc && rc != HW_ENOENT)
    return rc;
  held = rc == HW_ENOENT || hw_vv_get(&w->vvs.acked, &dot->replica) >= dot->counter;
  if (!held) {
    w->gap = true;
    return HW_OK;
  }
  if ((rc = hw_lineage_add(&w->l, dot->counter, record, digest)) == HW_OK && !w->gap)
    w->prefix = w->l;
  return rc;
}

/* The lineage mark: the fold of the journal up to a counter below which
 * every entry was held when it was made. Held stays held (an
 * acknowledgement is never taken back under one replica id), so the next
 * hello folds only the entries after it: a device with a long history no
 * longer reads every record it ever wrote at every sync. An entry put back
 * below it (hw_store_journal_restore) drops it. A forgotten entry is never
 * below it: only entries not held are forgotten, and every entry below it
 * was held already. */
#define MARK_BYTES (HW_ID_BYTES + 8 + HW_HASH_BYTES)

int hw__lineage_mark_drop(hw_client *c)
{
  int rc = hw_store_setting_del(c->st, SET_LINEAGE_MARK);
  return rc == HW_ENOENT ? HW_OK : rc;
}

static void mark_load(hw_client *c, const hw_id *replica, hw_lineage *l)
{
  uint8_t m[MARK_BYTES];

  hw_lineage_init(l);
  if (hw__setting_exact(c, SET_LINEAGE_MARK, m, sizeof m) != HW_OK ||
      memcmp(m, replica->b, HW_ID_BYTES) != 0)
    return; /* none, or another replica id's */
  for (int i = 0; i < 8; i++)
    l->counter = l->counter << 8 | m[HW_ID_BYTES + i];
  memcpy(l->digest, m + HW_ID_BYTES + 8, HW_HASH_BYTES);
}

static int mark_save(hw_client *c, const hw_id *replica, const hw_lineage *l)
{
  uint8_t m[MARK_BYTES];

  memcpy(m, replica->b, HW_ID_BYTES);
  for (int i = 0; i < 8; i++)
    m[HW_ID_BYTES + i] = (uint8_t)(l->counter >> (56 - 8 * i));
  memcpy(m + HW_ID_BYTES + 8, l->digest, HW_HASH_BYTES);
  return hw_store_setting_set(c->st, SET_LINEAGE_MARK, m, sizeof m);
}

static int compute_lineage(hw_client *c, const hw_id *replica, hw_lineage *out)
{
  lineage_walk *w = hw_calloc(1, sizeof *w);
  int rc;

  if (!w)
    return HW_ENOMEM;
  w->c = c;
  w->replica = *replica;
  mark_load(c, replica, &w->l);
  w->prefix = w->l;
  rc = hw_store_journal_list(c->st, replica, w->l.counter, fold_held, w);
  *out = w->l;
  /* Kept for the next hello when it moved (a failure to keep it costs that
   * hello a longer fold, nothing else). */
  if (!rc && w->prefix.counter > 0) {
    hw_lineage was;
    mark_load(c, replica, &was);
    if (w->prefix.counter > was.counter)
      (void)!mark_save(c, replica, &w->prefix);
  }
  hw_free(w);
  return rc;
}

static void cursor_pack(const hw_cursor *cur, uint8_t out[16 + HW_CURSOR_HEAD_BYTES])
{
  for (int i = 0; i < 8; i++) {
    out[i] = (uint8_t)(cur->epoch >> (56 - 8 * i));
    out[8 + i] = (uint8_t)(cur->seq >> (56 - 8 * i));
  }
  memcpy(out + 16, cur->audit_head, HW_CURSOR_HEAD_BYTES);
}

static void cursor_unpack(hw_cursor *cur, const uint8_t in[16 + HW_CURSOR_HEAD_BYTES])
{
  cur->epoch = cur->seq = 0;
  for (int i = 0; i < 8; i++) {
    cur->epoch = cur->epoch << 8 | in[i];
    cur->seq = cur->seq << 8 | in[8 + i];
  }
  memcpy(cur->audit_head, in + 16, HW_CURSOR_HEAD_BYTES);
}

static int build_hello(sync_ctx *s, hw_msg_hello *h)
{
  hw_client *c = s->c;
  uint8_t packed[16 + HW_CURSOR_HEAD_BYTES];
  hw_dot inherits;
  hw_lineage l;
  int rc;

  memset(h, 0, sizeof *h);
  h->version = HW_PROTO_VERSION;
  hw_store_replica(c->st, &h->replica, &h->counter);
  if ((rc = compute_lineage(c, &h->replica, &l)) != 0)
    return rc;
  h->acked = l.counter;
  memcpy(h->lineage, l.digest, HW_HASH_BYTES);
  if (hw_store_inherits(c->st, &inherits) == HW_OK) {
    h->has_inherits = true;
    h->inherits_replica = inherits.replica;
    h->inherits_counter = inherits.counter;
  }
  if (hw__setting_exact(c, SET_CURSOR, packed, sizeof packed) == HW_OK) {
    h->has_cursor = true;
    cursor_unpack(&h->cursor, packed);
    s->epoch = s->hello_epoch = h->cursor.epoch;
  }
  h->wall_ms = hw__client_now_ms();
  return HW_OK;
}

/* ---- push ------------------------------------------------------------------ */

/* Remember a case the sync touched, for the closed-case sweep. */
static int touch(sync_ctx *s, const hw_id *case_id)
{
  return hw_id_list_add(&s->touched, case_id);
}

static int collect_pending(void *ud, const hw_store_rec *r)
{
  sync_ctx *s = ud;
  sent *e;
  int rc;

  /* Held for a coordinator: kept on the device, never re-pushed. */
  if (hw__is_held(s->c, &r->id))
    return 0;
  if ((rc = touch(s, &r->case_id)) != 0)
    return rc;
  if ((rc = hw_grow(&s->sent, &s->cap_sent, s->n_sent + 1, sizeof *s->sent, 64)) != 0)
    return rc;
  if (r->vv.n > HW_VV_MAX)
    return HW_ECORRUPT;
  e = &s->sent[s->n_sent];
  /* Sized to this record: a backlog of thousands is held here at once. */
  if (!(e->mem = hw_malloc(r->vv.n * sizeof(hw_dot) + r->state.len + 1)))
    return HW_ENOMEM;
  e->id = r->id;
  e->vv = (hw_vv){r->vv.n, e->mem};
  if (r->vv.n)
    memcpy(e->vv.e, r->vv.e, r->vv.n * sizeof(hw_dot));
  e->state = (uint8_t *)e->mem + r->vv.n * sizeof(hw_dot);
  if (r->state.len)
    memcpy(e->state, r->state.p, r->state.len);
  e->len = r->state.len;
  s->n_sent++;
  return 0;
}

static int send_pull(sync_ctx *s);

/* Send the next batches of s->sent while fewer than PUSH_WINDOW wait for
 * their acknowledgement; once all are sent, the queued pull. The window
 * keeps both sides reading: a device writing its whole backlog without
 * reading acks would fill both directions' buffers and stall. */
static int pump_pushes(sync_ctx *s, unsigned flags)
{
  size_t i = s->push_next;
  int rc;

  while (i < s->n_sent && s->in_flight < PUSH_WINDOW) {
    hw_bytes recs[PUSH_BATCH_RECORDS];
    size_t n = 0, bytes = 0;
    hw_msg m = {.type = HW_MSG_PUSH};
    batch *b = &s->batches[s->n_batches];

    while (i + n < s->n_sent && n < PUSH_BATCH_RECORDS &&
           (n == 0 || bytes + s->sent[i + n].len <= PUSH_BATCH_BYTES)) {
      recs[n] = (hw_bytes){s->sent[i + n].state, s->sent[i + n].len};
      bytes += s->sent[i + n].len;
      n++;
    }
    b->seq = ++s->batch_seq;
    b->first = i;
    b->n = n;
    m.u.push.batch_seq = b->seq;
    m.u.push.n_records = n;
    m.u.push.records = recs;
    if ((rc = send_msg(s, &m, flags)) != 0)
      return rc;
    s->n_batches++;
    s->in_flight++;
    i += n;
    s->push_next = i;
  }
  if (s->push_next == s->n_sent && s->pull_queued) {
    s->pull_queued = false;
    return send_pull(s);
  }
  return HW_OK;
}

/* Send s->sent in batches (the whole array: call with a fresh one), then
 * the pull. */
static int send_pushes(sync_ctx *s, unsigned flags)
{
  s->res->totals.records_up_total += s->n_sent;
  if (s->n_sent && !(s->batches = hw_calloc(s->n_sent, sizeof *s->batches)))
    return HW_ENOMEM;
  s->push_next = 0;
  s->in_flight = 0;
  s->pull_queued = true;
  return pump_pushes(s, flags);
}

static void free_sent(sync_ctx *s)
{
  for (size_t i = 0; i < s->n_sent; i++)
    hw_free(s->sent[i].mem);
  hw_free(s->sent);
  hw_free(s->batches);
  s->sent = NULL;
  s->batches = NULL;
  s->n_sent = s->cap_sent = s->n_batches = 0;
  s->push_next = s->in_flight = 0;
  s->pull_queued = false;
}

static int collect_all(void *ud, const hw_store_rec *r)
{
  return collect_pending(ud, r);
}

/* The server was restored from a backup (a new epoch): it may have lost
 * what it acknowledged since. Push every record held, in this session,
 * whose hello named the old epoch, so the server accepts other replicas'
 * writes among them as recovered (architecture §4). */
static int repush_everything(sync_ctx *s)
{
  int rc;

  free_sent(s);
  if ((rc = hw_store_list_all(s->c->st, collect_all, s)) != 0)
    return rc;
  return send_pushes(s, 0);
}

/* The state the server holds now: merge it in, and remember that the
 * server holds everything in `held` (architecture §4: the acknowledgement
 * sets the acknowledged vv). */
static int apply_record(sync_ctx *s, const hw_id *id, const hw_record *in, const hw_bytes *in_bytes,
                        const uint8_t *in_item, const hw_vv *held);

/* Whether `local` holds a write of this store (one its journal has) under
 * `replica`. */
static bool own_write_under(hw_client *c, const hw_record *local, const hw_id *replica)
{
  for (size_t i = 0; i < local->n_writes; i++) {
    hw_id rec;
    uint8_t digest[HW_HASH_BYTES];
    if (hw_id_cmp(&local->writes[i].dot.replica, replica) == 0 &&
        hw_store_journal_get(c->st, &local->writes[i].dot, &rec, digest) == HW_OK)
      return true;
  }
  return false;
}

/* The record's acknowledged vv without the replica ids this store wrote
 * the copy under (the current one, or one it left earlier in this
 * session): those writes are pending again. */
static int unack_own(sync_ctx *s, const hw_id *id, const hw_store_rec *row,
                     const hw_record *local)
{
  hw_dot e[HW_VV_MAX];
  hw_vv acked = {0, e};

  for (size_t i = 0; i < row->acked.n && acked.n < HW_VV_MAX; i++)
    if (!own_write_under(s->c, local, &row->acked.e[i].replica))
      e[acked.n++] = row->acked.e[i];
  return hw_store_ack(s->c->st, id, &acked);
}

static int apply_state(sync_ctx *s, const hw_id *id, const uint8_t *bytes, size_t len,
                       const hw_vv *held)
{
  hw_record *in = NULL;
  int rc;

  if (bytes && (rc = hw_record_decode(bytes, len, &in, NULL)) != 0)
    return rc == HW_ENOMEM ? rc : HW_EPROTO;
  rc = apply_record(s, id, in, in ? &(hw_bytes){bytes, len} : NULL, NULL, held);
  hw_record_free(in);
  return rc;
}

/* apply_state for a state decoded already (borrowed; NULL: nothing new)
 * from `in_bytes`, whose hw_checksum_item is `in_item` when known (NULL:
 * the store computes it). */
static int apply_record(sync_ctx *s, const hw_id *id, const hw_record *in, const hw_bytes *in_bytes,
                        const uint8_t *in_item, const hw_vv *held)
{
  hw_store_rec *row = NULL, put = {0};
  hw_record *local = NULL, *merged = NULL;
  const hw_record *keep;
  hw_dot known_e[2 * HW_VV_MAX], acked_e[3 * HW_VV_MAX];
  hw_vv known = {0, known_e}, acked = {0, acked_e};
  uint8_t *out = NULL;
  size_t out_len;
  hw__pulled what;
  int rc;

  if (in && id && hw_id_cmp(&in->id, id) != 0) {
    rc = HW_EPROTO;
    goto out;
  }
  rc = hw_store_get(s->c->st, in ? &in->id : id, &row);
  if (rc && rc != HW_ENOENT)
    goto out;
  if (row && (rc = hw_record_decode(row->state.p, row->state.len, &local, NULL)) != 0) {
    rc = rc == HW_ENOMEM ? rc : HW_ECORRUPT;
    goto out;
  }
  /* What the server is known to hold: what it acknowledged before, what
   * this ack or pull says it holds, and the state it sent, which is its
   * own (an ack's merged state covers writes of other devices too: left
   * out, the record looked unsynced until a second sync sent it again). */
  known.n = hw_vv_join(row ? &row->acked : &(hw_vv){0, NULL}, held, known_e);
  acked.n = hw_vv_join(&known, in ? &in->vv : &(hw_vv){0, NULL}, acked_e);
  if (!in) {
    /* Nothing new: the server holds what was sent (a record deleted here
     * since, its case closed or taken away, was acknowledged whole). */
    rc = row ? hw_store_ack(s->c->st, id, &acked) : HW_OK;
    goto out;
  }
  if ((rc = hw__pulled_decide(local, in, local && hw__is_held(s->c, &in->id), &merged, &out,
                              &out_len, &what)) != 0)
    goto out;
  switch (what) {
  case HW__PULLED_KEEP_HELD:
    s->res->kept++;
    goto out;
  case HW__PULLED_KEEP_LIMIT:
    s->res->kept++;
    say(s, "a record was kept as it is on this device: merging the office's copy into it would "
           "take it past a record's limits; a coordinator decides");
    goto out;
  case HW__PULLED_DIVERGED:
    /* Its write contradicts what the server holds, so this store reused a
     * dot: it takes a new replica id after this batch. The copy stays as it
     * is and goes to the server once more (at the next sync, or at once in
     * a recovery), which keeps it whole for a coordinator as it does any
     * contradicting push (the ack then holds it here). Held here at once,
     * the server never had it, and no coordinator could decide on it. Its
     * own writes are made unacknowledged for that: it is pending again. */
    s->diverged = true;
    rc = unack_own(s, &in->id, row, local);
    goto out;
  case HW__PULLED_TAKE:
    break;
  }
  /* Kept as received when new here: its bytes, which decoded, are already
   * its canonical encoding (decode accepts nothing else: fuzz-record's
   * oracle). */
  keep = merged ? merged : in;
  put.state = merged ? (hw_bytes){out, out_len} : *in_bytes;
  put.item = merged ? NULL : in_item;
  put.id = keep->id;
  put.case_id = keep->case_id;
  put.kind = keep->kind;
  put.vv = keep->vv;
  put.acked = acked;
  put.marks = hw__record_marks(keep);
  rc = hw_store_put(s->c->st, &put);
out:
  hw_free(out);
  hw_record_free(local);
  hw_record_free(merged);
  hw_store_rec_free(row);
  return rc;
}

static int hold(sync_ctx *s, const hw_id *id, const hw_bytes *reason)
{
  char name[48];
  hw__held_name(name, id);
  return hw_store_setting_set(s->c->st, name, reason->len ? reason->p : (const uint8_t *)"held",
                              reason->len ? reason->len : 4);
}

static int on_ack(sync_ctx *s, const hw_msg_push_ack *a)
{
  batch *b = NULL;
  bool fork = false;
  hw_id me;
  uint64_t counter;
  int rc;

  hw_store_replica(s->c->st, &me, &counter);

  for (size_t i = 0; i < s->n_batches; i++)
    if (s->batches[i].seq == a->batch_seq && !s->batches[i].acked)
      b = &s->batches[i];
  if (!b || a->n_entries != b->n)
    return HW_EPROTO;
  if ((rc = hw_store_begin(s->c->st)) != 0)
    return rc;
  for (size_t i = 0; i < b->n && !rc; i++) {
    const hw_ack_entry *e = &a->entries[i];
    sent *x = &s->sent[b->first + i];
    if (e->status == HW_ACK_ACCEPTED) {
      /* Without a merged state the server holds exactly what was sent: the
       * vv sent (which covers the old acknowledged one) is acknowledged. */
      rc = e->merged.p ? apply_state(s, &x->id, e->merged.p, e->merged.len, &x->vv)
                       : hw_store_ack(s->c->st, &x->id, &x->vv);
      s->res->merged += e->merged.p != NULL;
    } else if ((e->code == HW_CODE_SUPERSEDED || e->code == HW_CODE_BUSY) &&
               e->status == HW_ACK_REFUSED) {
      continue; /* not applied: sent again next time */
    } else {
      /* Quarantined or refused: kept on the device, held for a coordinator,
       * not re-pushed (architecture §3, defence 3). */
      rc = hold(s, &x->id, &e->reason);
      s->res->quarantined++;
      /* A contradiction means this store reused a dot: it takes a new
       * replica id before its next write (below, after the commit), unless
       * the state has no write of its current id (a copy sent again after a
       * contradicting pull, when it took one already). */
      if (!rc && e->code == (uint64_t)-HW_EDIVERGE && hw_vv_get(&x->vv, &me) > 0)
        fork = true;
    }
    s->res->pushed++;
    s->res->totals.records_up++;
  }
  if (rc) {
    int r2 = hw_store_rollback(s->c->st);
    (void)r2;
    return rc;
  }
  if ((rc = hw_store_commit(s->c->st)) != 0)
    return rc;
  if (fork) {
    if ((rc = hw_store_new_replica(s->c->st, NULL)) != 0)
      return rc;
    s->res->forked = true;
  }
  b->acked = true;
  s->in_flight--;
  progress(s);
  return pump_pushes(s, 0);
}

/* ---- pull ------------------------------------------------------------------ */

static int send_pull(sync_ctx *s)
{
  hw_msg m = {.type = HW_MSG_PULL};
  m.u.pull.max_records = PULL_RECORDS;
  return send_msg(s, &m, 0); /* no cursor: where the session stands */
}

/* ---- cases taken away -------------------------------------------------------- */

/* The list of removed cases whose records are not all deleted yet (their
 * own writes still wait for an acknowledgement): 16-byte ids back to back. */
#define REMOVED_MAX 4096u

typedef struct removed_list {
  hw_id ids[REMOVED_MAX];
  size_t n;
} removed_list;

static int removed_load(hw_client *c, removed_list *l)
{
  uint8_t *v = NULL;
  size_t n = 0;
  int rc = hw_store_setting_get(c->st, SET_REMOVED, &v, &n);

  l->n = 0;
  if (rc == HW_ENOENT)
    return HW_OK;
  if (rc == HW_OK && (n % HW_ID_BYTES || n / HW_ID_BYTES > REMOVED_MAX))
    rc = HW_ECORRUPT;
  if (rc == HW_OK) {
    memcpy(l->ids, v, n);
    l->n = n / HW_ID_BYTES;
  }
  hw_free(v);
  return rc;
}

/* Inside a transaction: add `add` to the list, delete what can be deleted,
 * and drop from the list the cases with nothing left; with `keep`, the
 * cases of `keep` are not removed (assigned back: records came for them). */
static int removed_apply(sync_ctx *s, const hw_id *add, size_t n_add, const hw_id *keep,
                         size_t n_keep)
{
  removed_list *l = hw_malloc(sizeof *l);
  size_t out = 0;
  int rc;

  if (!l)
    return HW_ENOMEM;
  if ((rc = removed_load(s->c, l)) != 0 || (l->n == 0 && n_add == 0))
    goto done; /* the usual case: nothing was ever taken away */
  for (size_t i = 0; i < n_add; i++) {
    bool have = false;
    for (size_t k = 0; k < l->n && !have; k++)
      have = hw_id_cmp(&l->ids[k], &add[i]) == 0;
    if (!have && l->n < REMOVED_MAX)
      l->ids[l->n++] = add[i];
    /* The server moved the case's checksum away: so do its tombstones. */
    if ((rc = hw__closed_forget(s->c, &add[i], NULL)) != 0)
      goto done;
  }
  for (size_t k = 0; k < l->n && !rc; k++) {
    uint64_t deleted = 0, kept = 0;
    bool back = false;
    for (size_t i = 0; i < n_keep && !back; i++)
      back = hw_id_cmp(&keep[i], &l->ids[k]) == 0;
    if (back)
      continue;
    if ((rc = hw_store_delete_case(s->c->st, &l->ids[k], &deleted, &kept)) != 0)
      break;
    s->res->removed += deleted;
    if (kept)
      l->ids[out++] = l->ids[k];
  }
  if (!rc)
    rc = out ? hw_store_setting_set(s->c->st, SET_REMOVED, l->ids, out * HW_ID_BYTES)
             : hw_store_setting_del(s->c->st, SET_REMOVED);
  if (rc == HW_ENOENT)
    rc = HW_OK;
done:
  hw_free(l);
  return rc;
}

/* After a sync: delete the records of removed cases that are now pushed. */
static int removed_sweep(sync_ctx *s)
{
  int rc;

  if ((rc = hw_store_begin(s->c->st)) != 0)
    return rc;
  if ((rc = removed_apply(s, NULL, 0, NULL, 0)) != 0) {
    int r2 = hw_store_rollback(s->c->st);
    (void)r2;
    return rc;
  }
  return hw_store_commit(s->c->st);
}

/* The journal entries of a copy's own writes the server never accepted
 * (its acknowledged vv does not cover them): the copy goes, and so must
 * they, or the lineage would count them once the record's acknowledged vv
 * rises past them (the server never holds them). */
static int forget_unaccepted(sync_ctx *s, const hw_store_rec *row)
{
  hw_record *r = NULL;
  hw_id me;
  uint64_t counter;
  int rc = hw_record_decode(row->state.p, row->state.len, &r, NULL);

  if (rc)
    return rc == HW_ENOMEM ? rc : HW_ECORRUPT;
  hw_store_replica(s->c->st, &me, &counter);
  for (size_t i = 0; i < r->n_writes && !rc; i++) {
    const hw_dot *d = &r->writes[i].dot;
    if (hw_vv_get(&row->acked, &d->replica) < d->counter)
      rc = hw_store_journal_forget(s->c->st, d); /* not in the journal: another replica's */
  }
  hw_record_free(r);
  return rc;
}

/* A coordinator released or rejected the copy this device held for them:
 * it goes, with its mark and its unaccepted writes' journal entries (the
 * server's state, when this worker may see the case, follows in the same
 * batch and is taken whole). Only the very copy the decision was about: a
 * copy held since (another push of the record) waits for its own. */
static int drop_decided(sync_ctx *s, const hw_decided *d)
{
  char name[48];
  hw_store_rec *row = NULL;
  uint8_t digest[HW_HASH_BYTES];
  int rc;

  if (!hw__is_held(s->c, &d->record))
    return HW_OK; /* nothing held here (a repeated batch, or a wiped copy) */
  if ((rc = hw_store_get(s->c->st, &d->record, &row)) == HW_ENOENT)
    return HW_OK;
  if (rc)
    return rc;
  hw_checksum_item(digest, &d->record, row->state.p, row->state.len);
  if (hw_memcmp_ct(digest, d->state_digest, HW_HASH_BYTES) != 0) {
    hw_store_rec_free(row);
    return HW_OK;
  }
  hw__held_name(name, &d->record);
  if ((rc = forget_unaccepted(s, row)) == 0 && (rc = hw_store_setting_del(s->c->st, name)) == 0)
    rc = hw_store_delete(s->c->st, &d->record);
  hw_store_rec_free(row);
  if (rc)
    return rc;
  s->res->decided++;
  return HW_OK;
}

/* A pulled batch's states decoded and hashed (hw_checksum_item) before
 * any is stored, on every core: each is independent, and the store's
 * work on the connection's thread is what bounds a pull. */
typedef struct prepped {
  hw_record *peek; /* decoded (NULL where decoding failed) */
  int rc;          /* the decode's result */
  uint8_t item[HW_HASH_BYTES];
} prepped;

typedef struct batch_prep {
  const hw_msg_pull_batch *b;
  prepped *v; /* one per state */
} batch_prep;

#define PREP_PARALLEL_MIN 16 /* fewer states are not worth waking a helper */

static void prep_one(void *ctx, size_t i)
{
  batch_prep *p = ctx;
  const hw_bytes *r = &p->b->records[i];
  prepped *o = &p->v[i];

  o->rc = hw_record_decode(r->p, r->len, &o->peek, NULL);
  if (o->rc == HW_OK)
    hw_checksum_item(o->item, &o->peek->id, r->p, r->len);
}

static void prep_free(batch_prep *p)
{
  for (size_t i = 0; p->v && i < p->b->n_records; i++)
    hw_record_free(p->v[i].peek);
  hw_free(p->v);
}

/* The pulled batches of the open transaction stored, then what waited for
 * their commit (a failed commit rolls them back, cursor and all). */
static int pull_commit(sync_ctx *s)
{
  int rc;

  if (!s->pull_open)
    return HW_OK;
  s->pull_open = false;
  s->pull_held = 0;
  if ((rc = hw_store_commit(s->c->st)) != 0)
    return rc;
  if (s->diverged) {
    s->diverged = false;
    if ((rc = hw_store_new_replica(s->c->st, NULL)) != 0)
      return rc;
    s->res->forked = true;
  }
  return HW_OK;
}

static void pull_rollback(sync_ctx *s)
{
  if (s->pull_open) {
    int r2 = hw_store_rollback(s->c->st);
    (void)r2;
  }
  s->pull_open = false;
  s->pull_held = 0;
  s->diverged = false; /* its copy was not held: nothing happened */
}

static int on_pull_batch(sync_ctx *s, const hw_msg_pull_batch *b)
{
  uint8_t packed[16 + HW_CURSOR_HEAD_BYTES];
  hw_id *cases = NULL;
  batch_prep prep = {b, NULL};
  int rc, asked;

  /* Ask for the next batch before storing this one: the server reads it
   * while this one is stored (the position is the session's, and batches
   * are still stored in order). A connection cut already: this batch,
   * received whole, is stored all the same (below). */
  asked = b->more ? send_pull(s) : HW_OK;
  if (b->n_records && (!(cases = hw_calloc(b->n_records, sizeof *cases)) ||
                       !(prep.v = hw_calloc(b->n_records, sizeof *prep.v)))) {
    hw_free(cases);
    prep_free(&prep);
    return HW_ENOMEM;
  }
  hw_pfor_run(&s->c->helpers, b->n_records, PREP_PARALLEL_MIN, prep_one, &prep);
  if (!s->pull_open && (rc = hw_store_begin(s->c->st)) != 0) {
    hw_free(cases);
    prep_free(&prep);
    return rc;
  }
  s->pull_open = true;
  rc = HW_OK;
  for (size_t i = 0; i < b->n_decided && !rc; i++)
    rc = drop_decided(s, &b->decided[i]);
  for (size_t i = 0; i < b->n_records && !rc; i++) {
    hw_record *peek = prep.v[i].peek;
    /* The server holds what it sends: that is acknowledged too. */
    rc = prep.v[i].rc;
    if (!rc && (rc = touch(s, &peek->case_id)) == 0) {
      cases[i] = peek->case_id;
      rc = apply_record(s, NULL, peek, &b->records[i], prep.v[i].item, &peek->vv);
    }
    /* A record of a closed case came back: its tombstone goes. */
    if (!rc)
      rc = hw__closed_forget(s->c, &peek->case_id, &peek->id);
    s->res->pulled++;
    s->res->totals.records_down++;
  }
  prep_free(&prep);
  /* Cases taken away: their records go (a case whose records came in this
   * batch was given back). */
  if (!rc && (b->n_removals || b->n_records))
    rc = removed_apply(s, b->removals, b->n_removals, cases, b->n_records);
  hw_free(cases);
  /* The cursor is stored in the same transaction as what it covers; a
   * restored server's goes aside until this device has pushed everything
   * again (a cut before that: the next hello still names the old epoch,
   * and the recovery starts over instead of being forgotten). */
  if (s->hello_epoch && b->cursor.epoch != s->hello_epoch && !s->epoch_changed) {
    s->epoch_changed = true;
    if (!rc)
      rc = hw__closed_reset(s->c);
  }
  cursor_pack(&b->cursor, packed);
  if (!rc)
    rc = hw_store_setting_set(s->c->st, s->epoch_changed ? SET_CURSOR_RECOVERING : SET_CURSOR,
                              packed, sizeof packed);
  if (rc) {
    pull_rollback(s);
    return rc;
  }
  s->epoch = b->cursor.epoch;
  progress(s); /* applied; stored with the group */
  if (asked)
    return asked; /* the session ends: session_reset stores the group */
  if (b->more && ++s->pull_held < PULL_GROUP)
    return HW_OK;
  return pull_commit(s);
}

/* ---- done: the signed audit head and the caseload checksum ----------------- */

typedef struct marked_walk {
  sync_ctx *s;
  hw_id_list unknown; /* rows stored before the store kept marks */
} marked_walk;

/* The marked records are, as nothing but deletions follows this in the
 * sync, the closed-case sweep's candidates and the conflicts to count. */
static int add_marked(void *ud, const hw_store_rec *r)
{
  marked_walk *w = ud;
  uint32_t m = r->marks;
  int rc = HW_OK;

  if (m & HW_STORE_MARKS_UNKNOWN) {
    hw_record *rec = NULL;
    if (hw_record_decode(r->state.p, r->state.len, &rec, NULL) != HW_OK)
      return HW_OK; /* the sweep, which decodes the case again, keeps it */
    m = hw__record_marks(rec);
    hw_record_free(rec);
    rc = hw_id_list_add(&w->unknown, &r->id);
  }
  if (!rc && (m & HW__MARK_CONFLICT))
    rc = hw_id_list_add(&w->s->conflicted, &r->id);
  /* A closed case's deciding record closes it on its own too. */
  if (!rc && (m & HW__MARK_CLOSES))
    rc = hw_id_list_add(&w->s->may_close, &r->case_id);
  return rc;
}

/* Marks set by another version of hw__record_marks are forgotten, to be
 * worked out again from the states. */
#define MARKS_VERSION_BYTES {HW__MARKS_VERSION & 0xff, (HW__MARKS_VERSION >> 8) & 0xff, 0, 0}

int hw__marks_version_set(hw_client *c)
{
  static const uint8_t want[4] = MARKS_VERSION_BYTES;
  return hw_store_setting_set(c->st, SET_MARKS, want, sizeof want);
}

static int check_marks_version(hw_client *c)
{
  uint8_t v[4] = {0}, want[4] = MARKS_VERSION_BYTES;
  int rc = hw__setting_exact(c, SET_MARKS, v, sizeof v);

  if (rc == HW_OK && memcmp(v, want, sizeof v) == 0)
    return HW_OK;
  if (rc && rc != HW_ENOENT && rc != HW_ECORRUPT)
    return rc;
  if ((rc = hw_store_begin(c->st)) != 0)
    return rc;
  if ((rc = hw_store_forget_marks(c->st)) == 0 && (rc = hw__marks_version_set(c)) == 0)
    return hw_store_commit(c->st);
  {
    int r2 = hw_store_rollback(c->st);
    (void)r2;
  }
  return rc;
}

/* Marks worked out from the states of an older store, kept: found once. */
static int keep_marks(hw_client *c, const hw_id_list *ids)
{
  int rc = hw_store_begin(c->st);

  for (size_t i = 0; i < ids->n && !rc; i++) {
    hw_store_rec *row = NULL;
    hw_record *rec = NULL;
    if ((rc = hw_store_get(c->st, &ids->v[i], &row)) == HW_OK &&
        (rc = hw_record_decode(row->state.p, row->state.len, &rec, NULL)) == HW_OK)
      rc = hw_store_set_marks(c->st, &ids->v[i], hw__record_marks(rec));
    hw_record_free(rec);
    hw_store_rec_free(row);
  }
  if (rc) {
    int r2 = hw_store_rollback(c->st);
    (void)r2;
    return rc;
  }
  return hw_store_commit(c->st);
}

static int on_done(sync_ctx *s, const hw_msg_done *d)
{
  marked_walk w = {s, {0}};
  uint8_t sum[HW_HASH_BYTES];
  uint8_t kept_b[8 + 8 + HW_HASH_BYTES + 8 + HW_SIGN_BYTES];
  int rc;

  if (d->has_head) {
    hw_signed_head h = d->head, kept;
    h.epoch = s->epoch;
    if (hw_signed_head_verify(&h, s->c->audit_key) != HW_OK) {
      say(s, "the server's signed audit head did not verify");
    } else {
      if (hw__setting_exact(s->c, SET_HEAD, kept_b, sizeof kept_b) == HW_OK) {
        memcpy(&kept.epoch, kept_b, 8);
        memcpy(&kept.seq, kept_b + 8, 8);
        memcpy(kept.hash, kept_b + 16, HW_HASH_BYTES);
        memcpy(&kept.time_ms, kept_b + 48, 8);
        memcpy(kept.sig, kept_b + 56, HW_SIGN_BYTES);
        /* A head that goes backwards in one epoch means a rewritten history. */
        if (hw_signed_head_follows(&kept, &h) == HW_ECORRUPT)
          s->res->history_rewritten = true;
      }
      memcpy(kept_b, &h.epoch, 8);
      memcpy(kept_b + 8, &h.seq, 8);
      memcpy(kept_b + 16, h.hash, HW_HASH_BYTES);
      memcpy(kept_b + 48, &h.time_ms, 8);
      memcpy(kept_b + 56, h.sig, HW_SIGN_BYTES);
      if (!s->res->history_rewritten &&
          (rc = hw_store_setting_set(s->c->st, SET_HEAD, kept_b, sizeof kept_b)) != 0)
        return rc;
      s->res->head_verified = true;
      s->res->clock_skew_ms = h.time_ms - hw__client_now_ms();
    }
  }
  s->may_close.n = s->conflicted.n = 0;
  if ((rc = check_marks_version(s->c)) != 0)
    return rc;
  rc = hw_store_list_marked(s->c->st, add_marked, &w);
  /* Keeping them saves the next sync the decoding; the marks found serve
   * this one either way, so a failure here (a full disk) fails nothing. */
  if (!rc && w.unknown.n)
    (void)!keep_marks(s->c, &w.unknown);
  hw_free(w.unknown.v);
  if (rc || (rc = hw_store_sum(s->c->st, sum)) != 0)
    return rc;
  {
    uint8_t closed[HW_HASH_BYTES];
    if ((rc = hw__closed_sum(s->c, closed)) != 0)
      return rc;
    hw_checksum_xor(sum, closed);
  }
  s->res->checksum_ok = memcmp(sum, d->checksum, HW_HASH_BYTES) == 0;
  s->done = true;
  return HW_OK;
}

/* ---- lineage refusal -------------------------------------------------------- */

/* Own writes this device counts as held that a refusal does not list (and
 * whose place in the list it covers: below the last listed when the list
 * was cut). A server never loses what it acknowledged unless it was
 * restored from a backup, and then its devices push everything again: every
 * write still in a record here is back. What is left cannot be: a write
 * replaced here by a later one (the server holds the later value, which
 * supersedes it) or one of a record deleted here since (its case closed or
 * moved). Their journal entries are set aside (hw_store_journal_forget),
 * so that both sides fold the same writes again; without that, every later
 * hello was refused. A missing write still in a record is left as it is:
 * the refusal goes on rather than anything being hidden. */
#define LEGACY_REFUSAL_CAP 4096u

typedef struct lost_walk {
  sync_ctx *s;
  const hw_msg_lineage_refusal *r;
  hw_dot *dots; /* hw_malloc'd: entries to set aside */
  size_t n, cap;
  hw_store_vvs_buf vvs;
} lost_walk;

static bool listed_counter(const hw_msg_lineage_refusal *r, uint64_t counter)
{
  size_t lo = 0, hi = r->n_dots;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (r->dots[mid].counter == counter)
      return true;
    if (r->dots[mid].counter < counter)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

/* Whether the record's state here still carries the write `dot`. */
static int still_written(hw_client *c, const hw_id *record, const hw_dot *dot, bool *out)
{
  hw_store_rec *row = NULL;
  hw_record *r = NULL;
  int rc = hw_store_get(c->st, record, &row);

  *out = false;
  if (rc == HW_ENOENT)
    return HW_OK;
  if (!rc && (rc = hw_record_decode(row->state.p, row->state.len, &r, NULL)) != 0)
    rc = rc == HW_ENOMEM ? rc : HW_ECORRUPT;
  if (!rc)
    *out = hw_record_write_of(r, dot) != NULL;
  hw_record_free(r);
  hw_store_rec_free(row);
  return rc;
}

static int find_lost(void *ud, const hw_dot *dot, const hw_id *record,
                     const uint8_t digest[HW_HASH_BYTES])
{
  lost_walk *w = ud;
  const hw_msg_lineage_refusal *r = w->r;
  bool written;
  int rc;

  (void)digest;
  /* Past what the list tells. A server older than `more` cut its list at
   * 4096 without saying so: a list that long is taken as cut. */
  if ((r->more || r->n_dots >= LEGACY_REFUSAL_CAP) &&
      (r->n_dots == 0 || dot->counter > r->dots[r->n_dots - 1].counter))
    return HW_OK;
  if (listed_counter(r, dot->counter))
    return HW_OK;
  rc = hw_store_vvs(w->s->c->st, record, &w->vvs);
  if (rc && rc != HW_ENOENT)
    return rc;
  if (rc == HW_OK && hw_vv_get(&w->vvs.acked, &dot->replica) < dot->counter)
    return HW_OK; /* not held: not in the lineage either */
  if ((rc = still_written(w->s->c, record, dot, &written)) != 0 || written)
    return rc;
  if (w->n == w->cap) {
    size_t cap = w->cap ? 2 * w->cap : 64;
    hw_dot *v = hw_realloc(w->dots, cap * sizeof *v);
    if (!v)
      return HW_ENOMEM;
    w->dots = v;
    w->cap = cap;
  }
  w->dots[w->n++] = *dot;
  return HW_OK;
}

/* Inside the refusal's transaction: set aside the entries of own writes the
 * server lost for good; *n how many. */
static int forget_lost(sync_ctx *s, const hw_id *me, const hw_msg_lineage_refusal *r, size_t *n)
{
  lost_walk *w = hw_calloc(1, sizeof *w);
  int rc;

  *n = 0;
  if (!w)
    return HW_ENOMEM;
  w->s = s;
  w->r = r;
  rc = hw_store_journal_list(s->c->st, me, r->from, find_lost, w);
  for (size_t i = 0; !rc && i < w->n; i++)
    rc = hw_store_journal_forget(s->c->st, &w->dots[i]);
  if (!rc)
    *n = w->n;
  hw_free(w->dots);
  hw_free(w);
  return rc;
}

/* The server lists the accepted dots of this replica the device did not say
 * it knew. All held identically: acknowledgements were lost; mark them and
 * retry. Any other: this store is a fork (restored or copied): take a new
 * replica id, so its next writes cannot collide. */
static int on_refusal(sync_ctx *s, const hw_msg_lineage_refusal *r)
{
  hw_id me;
  uint64_t counter;
  bool fork = false;
  size_t lost = 0;
  int rc;

  hw_store_replica(s->c->st, &me, &counter);
  if (hw_id_cmp(&me, &r->replica) != 0)
    return HW_EPROTO;
  for (size_t i = 0; i < r->n_dots && !fork; i++) {
    bool replaced;
    if (!hw__journal_matches(s->c, &me, &r->dots[i], &replaced))
      fork = true;
  }
  s->refused_lineage = true;
  if (fork) {
    uint64_t n = 0;
    /* Not inside a transaction: the store swaps its identity on its own. */
    if ((rc = hw_store_new_replica(s->c->st, NULL)) != 0)
      return rc;
    s->res->forked = true;
    /* Then its writes the server does not hold identically go out again
     * under the new id, so they merge instead of being quarantined. A
     * failure leaves the records as they were: they go the quarantine way. */
    if (hw__reissue_forked(s->c, &me, r->dots, r->n_dots, &n) == HW_OK)
      s->res->reissued += n;
    return HW_OK;
  }
  if ((rc = hw_store_begin(s->c->st)) != 0)
    return rc;
  /* The next hello folds the whole journal again: whatever made the two
   * lineages differ (an entry put back below the mark here, or a mark that
   * went stale some other way), a refusal costs one longer fold, never a
   * device refused for good. */
  rc = hw__lineage_mark_drop(s->c);
  for (size_t i = 0; i < r->n_dots && !rc; i++) {
    hw_dot d = {me, r->dots[i].counter};
    hw_vv one = {1, &d};
    bool replaced;
    /* A write replaced here before its acknowledgement came: the server
     * holds it after all, so the lineage folds it again. */
    if (hw__journal_matches(s->c, &me, &r->dots[i], &replaced) && replaced)
      rc = hw_store_journal_restore(s->c->st, &d);
    if (!rc)
      rc = apply_state(s, &r->dots[i].record, NULL, 0, &one);
  }
  if (!rc)
    rc = forget_lost(s, &me, r, &lost);
  if (rc) {
    int r2 = hw_store_rollback(s->c->st);
    (void)r2;
    return rc;
  }
  if ((rc = hw_store_commit(s->c->st)) == 0)
    s->res->lost_by_server += lost;
  return rc;
}

/* ---- one session -------------------------------------------------------------- */

static const char *code_text(uint64_t code)
{
  switch (code) {
  case HW_CODE_UNKNOWN_DEVICE:
    return "this device is not enrolled on the server";
  case HW_CODE_TOKEN:
    return "the invitation is unknown, expired or used by another device: ask your coordinator "
           "for a new one and run `homeward init` with it again (what you recorded is kept)";
  case HW_CODE_REVOKED:
    return "this device was reported lost and is refused";
  case HW_CODE_RETIRED:
    return "this device was retired and is refused";
  case HW_CODE_REPLICA_TAKEN:
    return "this device's identity belongs to another device";
  case HW_CODE_VERSION:
    return "the server speaks another protocol version";
  case HW_CODE_SUPERSEDED:
    return "another session of this device took over";
  case HW_CODE_BUSY:
    return "the server is busy; try again later";
  case HW_CODE_UNKNOWN_EPOCH:
    return "the server does not know this device's sync history (an epoch it never had): "
           "see the coordinator";
  default:
    return "the server refused the session";
  }
}

static int take_recovering_cursor(hw_client *c)
{
  uint8_t packed[16 + HW_CURSOR_HEAD_BYTES];
  int rc = hw__setting_exact(c, SET_CURSOR_RECOVERING, packed, sizeof packed);

  if (rc == HW_ENOENT)
    return HW_OK;
  if (rc || (rc = hw_store_begin(c->st)) != 0)
    return rc;
  if ((rc = hw_store_setting_set(c->st, SET_CURSOR, packed, sizeof packed)) != 0 ||
      (rc = hw_store_setting_del(c->st, SET_CURSOR_RECOVERING)) != 0) {
    int r2 = hw_store_rollback(c->st);
    (void)r2;
    return rc;
  }
  return hw_store_commit(c->st); /* a failed commit rolls back by itself */
}

static int session(sync_ctx *s)
{
  hw_client *c = s->c;
  hw_msg_hello hello;
  hw_bytes body;
  bool final;
  int rc;

  if ((rc = hw__net_connect(c->address, s->timeout, &s->fd)) != 0) {
    say(s, "the server cannot be reached (offline?)");
    return HW_EIO;
  }
  if ((rc = hw_chan_new_device(&s->chan, c->key, c->server_key, c->has_token ? c->token : NULL)) !=
          0 ||
      (rc = flush(s)) != 0)
    return rc;
  while (hw_chan_get_state(s->chan) == HW_CHAN_HANDSHAKE) {
    rc = next_msg(s, &body, &final);
    if (rc == HW_EAUTH) {
      say(s, "the server's key does not match the one in the invitation: not syncing");
      return HW_EAUTH;
    }
    if (rc)
      return rc;
  }
  if ((rc = build_hello(s, &hello)) != 0 ||
      (rc = send_msg(s, &(hw_msg){.type = HW_MSG_HELLO, .u.hello = hello}, HW_SEND_CORK)) != 0)
    return rc;
  if ((rc = hw_store_list_pending(c->st, collect_pending, s)) != 0 ||
      (rc = send_pushes(s, HW_SEND_CORK)) != 0)
    return rc;
  for (;;) {
    hw_arena arena;
    hw_msg m;
    bool all_acked = true;

    for (size_t i = 0; i < s->n_batches; i++)
      all_acked &= s->batches[i].acked;
    if (s->done && all_acked) {
      if (s->epoch_changed && !s->repushed) {
        s->repushed = true;
        s->res->recovered = true;
        /* ...and pull once more, for a done whose checksum covers them. */
        s->done = false;
        if ((rc = repush_everything(s)) != 0)
          return rc;
        continue;
      }
      break;
    }
    if ((rc = next_msg(s, &body, &final)) != 0) {
      say(s, "the connection was cut; what was acknowledged is kept, the rest is sent "
             "next time");
      return rc;
    }
    hw_arena_init(&arena, NULL, 0, HW_APP_MSG_MAX + (4u << 20));
    rc = hw_msg_decode(body.p, body.len, &arena, &m);
    /* Anything but the next batch works on what the pulled ones stored. */
    if (!rc && m.type != HW_MSG_PULL_BATCH)
      rc = pull_commit(s);
    if (!rc) {
      switch (m.type) {
      case HW_MSG_PUSH_ACK:
        rc = on_ack(s, &m.u.ack);
        break;
      case HW_MSG_PULL_BATCH:
        rc = on_pull_batch(s, &m.u.pull_batch);
        break;
      case HW_MSG_DONE:
        rc = on_done(s, &m.u.done);
        break;
      case HW_MSG_LINEAGE_REFUSAL:
        rc = on_refusal(s, &m.u.refusal);
        hw_arena_close(&arena);
        return rc ? rc : HW_EAGAIN; /* the server ends the session: retry */
      case HW_MSG_ERROR:
        s->res->server_code = m.u.error.code;
        say(s, code_text(m.u.error.code));
        hw_arena_close(&arena);
        return m.u.error.code == HW_CODE_REVOKED || m.u.error.code == HW_CODE_RETIRED ? HW_EREVOKED
                                                                                      : HW_EREFUSED;
      default:
        rc = HW_EPROTO;
        break;
      }
    }
    hw_arena_close(&arena);
    if (rc)
      return rc;
  }
  /* Everything pushed again and acknowledged: the restored server's cursor
   * becomes the device's. */
  if (s->repushed && (rc = take_recovering_cursor(c)) != 0)
    return rc;
  /* Writes acknowledged in this session move the lineage mark now, in the
   * session that paid for them, not in the next hello. */
  if (s->res->pushed > 0) {
    hw_id me;
    uint64_t counter;
    hw_lineage l;
    hw_store_replica(c->st, &me, &counter);
    (void)!compute_lineage(c, &me, &l);
  }
  /* The first session that gets this far has confirmed the enrolment. */
  if (c->has_token) {
    if ((rc = hw_store_setting_del(c->st, SET_TOKEN)) != 0)
      return rc;
    c->has_token = false;
  }
  /* A clean end: the device's final goodbye. Everything is stored already,
   * so a failure to send it only makes the end look truncated to the server. */
  (void)!send_msg(s, &(hw_msg){.type = HW_MSG_GOODBYE}, HW_SEND_FINAL);
  return HW_OK;
}

static void session_reset(sync_ctx *s)
{
  /* The session ended between batches: the open group holds whole batches
   * only (a batch that failed took its group back), so it is stored. */
  (void)!pull_commit(s);
  hw_chan_free(s->chan);
  s->chan = NULL;
  hw__net_close(s->fd);
  s->fd = -1;
  free_sent(s);
  s->r_off = s->r_len = 0;
  s->epoch_changed = s->repushed = false;
  s->hello_epoch = s->batch_seq = 0;
  s->done = s->refused_lineage = false;
}

/* The server ended this device's access. Lost: wipe now. Retired: wipe
 * once nothing is left to push (the last session pushed everything); edits
 * made after that stay, and the worker is told to take the device to the
 * coordinator. */
static int on_revoked(sync_ctx *s)
{
  uint64_t pending = 0, held = 0;
  int rc;

  if (s->res->server_code == HW_CODE_RETIRED) {
    if ((rc = hw_client_count_pending(s->c, &pending, &held)) != 0)
      return rc;
    if (pending) {
      snprintf(s->res->message, sizeof s->res->message,
               "this device was retired but %llu record(s) were not pushed: take it to the "
               "coordinator; nothing was deleted",
               (unsigned long long)pending);
      return HW_EREVOKED;
    }
  } else if (hw_client_count_pending(s->c, &pending, &held) != 0) {
    pending = 0;
  }
  s->res->unsent_destroyed = pending;
  if ((rc = hw__client_wipe(s->c)) != 0) {
    snprintf(s->res->message, sizeof s->res->message,
             "this device's access was ended but its store could not be fully deleted: "
             "take it to the coordinator");
    return HW_EREVOKED;
  }
  s->res->wiped = true;
  snprintf(s->res->message, sizeof s->res->message,
           s->res->server_code == HW_CODE_RETIRED
               ? "this device was retired: everything was pushed and its store is deleted"
               : "this device was reported lost: its store is deleted");
  return HW_EREVOKED;
}

static int id_cmp(const void *a, const void *b)
{
  return hw_id_cmp(a, b);
}

/* The touched cases that may be closed (one of their records closes a case
 * by itself at done); the others cannot be, and the sweep would read and
 * decode them for nothing. */
static void keep_closable(sync_ctx *s)
{
  size_t out = 0;

  if (s->may_close.n)
    qsort(s->may_close.v, s->may_close.n, sizeof *s->may_close.v, id_cmp);
  for (size_t i = 0; i < s->touched.n; i++)
    if (s->may_close.n &&
        bsearch(&s->touched.v[i], s->may_close.v, s->may_close.n, sizeof *s->may_close.v, id_cmp))
      s->touched.v[out++] = s->touched.v[i];
  s->touched.n = out;
}

/* The records in conflict at done that the sweeps left. */
static uint64_t count_conflicts(sync_ctx *s)
{
  uint64_t n = 0;

  for (size_t i = 0; i < s->conflicted.n; i++) {
    hw_store_rec *row = NULL;
    n += hw_store_get(s->c->st, &s->conflicted.v[i], &row) == HW_OK;
    hw_store_rec_free(row);
  }
  return n;
}

int hw_client_sync(hw_client *c, unsigned timeout_ms, hw_sync_progress_cb cb, void *ud,
                   hw_sync_result *res)
{
  sync_ctx *s = hw_calloc(1, sizeof *s);
  int rc = HW_EAGAIN;

  memset(res, 0, sizeof *res);
  if (!s)
    return HW_ENOMEM;
  s->c = c;
  s->fd = -1;
  s->timeout = timeout_ms;
  s->res = res;
  s->cb = cb;
  s->ud = ud;
  res->forked = c->forked_at_open;
  for (int attempt = 0; attempt < SYNC_ATTEMPTS && rc == HW_EAGAIN; attempt++) {
    rc = session(s);
    session_reset(s);
  }
  if (rc == HW_EAGAIN) {
    say(s, "the server could not confirm this device's history; see the coordinator");
    rc = HW_EREFUSED;
  }
  if (rc == HW_OK)
    rc = removed_sweep(s);
  if (rc == HW_OK) {
    keep_closable(s);
    rc = hw__client_sweep_closed(c, s->touched.v, s->touched.n, &res->closed_removed);
  }
  if (rc == HW_EREVOKED)
    rc = on_revoked(s);
  if (rc == HW_OK)
    res->conflicts = count_conflicts(s);
  hw_free(s->touched.v);
  hw_free(s->may_close.v);
  hw_free(s->conflicted.v);
  hw_free(s);
  return rc;
}
