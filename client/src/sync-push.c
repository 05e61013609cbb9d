/* Pushing pending records in batches and applying their acknowledgements
 * (docs/protocol.md §5, §9.1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
#include "sync-int.h"

/* ---- push ------------------------------------------------------------------ */

/* Remember a case the sync touched, for the closed-case sweep. */
int hw__sync_touch(sync_ctx *s, const hw_id *case_id)
{
  return hw_id_list_add(&s->touched, case_id);
}

int hw__sync_collect_pending(void *ud, const hw_store_rec *r)
{
  sync_ctx *s = ud;
  sent *e;
  int rc;

  /* Held for a coordinator: kept on the device, never re-pushed. */
  if (hw__is_held(s->c, &r->id))
    return 0;
  if ((rc = hw__sync_touch(s, &r->case_id)) != 0)
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
    if ((rc = hw__sync_send_msg(s, &m, flags)) != 0)
      return rc;
    s->n_batches++;
    s->in_flight++;
    i += n;
    s->push_next = i;
  }
  if (s->push_next == s->n_sent && s->pull_queued) {
    s->pull_queued = false;
    return hw__sync_send_pull(s);
  }
  return HW_OK;
}

/* Send s->sent in batches (the whole array: call with a fresh one), then
 * the pull. */
int hw__sync_send_pushes(sync_ctx *s, unsigned flags)
{
  s->res->totals.records_up_total += s->n_sent;
  if (s->n_sent && !(s->batches = hw_calloc(s->n_sent, sizeof *s->batches)))
    return HW_ENOMEM;
  s->push_next = 0;
  s->in_flight = 0;
  s->pull_queued = true;
  return pump_pushes(s, flags);
}

void hw__sync_free_sent(sync_ctx *s)
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
  return hw__sync_collect_pending(ud, r);
}

/* The server was restored from a backup (a new epoch): it may have lost
 * what it acknowledged since. Push every record held, in this session,
 * whose hello named the old epoch, so the server accepts other replicas'
 * writes among them as recovered (architecture §4). */
int hw__sync_repush_everything(sync_ctx *s)
{
  int rc;

  hw__sync_free_sent(s);
  if ((rc = hw_store_list_all(s->c->st, collect_all, s)) != 0)
    return rc;
  return hw__sync_send_pushes(s, 0);
}

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
static int unack_own(sync_ctx *s, const hw_id *id, const hw_store_rec *row, const hw_record *local)
{
  hw_dot e[HW_VV_MAX];
  hw_vv acked = {0, e};

  for (size_t i = 0; i < row->acked.n && acked.n < HW_VV_MAX; i++)
    if (!own_write_under(s->c, local, &row->acked.e[i].replica))
      e[acked.n++] = row->acked.e[i];
  return hw_store_ack(s->c->st, id, &acked);
}

int hw__sync_apply_state(sync_ctx *s, const hw_id *id, const uint8_t *bytes, size_t len,
                         const hw_vv *held)
{
  hw_record *in = NULL;
  int rc;

  if (bytes && (rc = hw_record_decode(bytes, len, &in, NULL)) != 0)
    return rc == HW_ENOMEM ? rc : HW_EPROTO;
  rc = hw__sync_apply_record(s, id, in, in ? &(hw_bytes){bytes, len} : NULL, NULL, held);
  hw_record_free(in);
  return rc;
}

/* apply_state for a state decoded already (borrowed; NULL: nothing new)
 * from `in_bytes`, whose hw_checksum_item is `in_item` when known (NULL:
 * the store computes it). */
int hw__sync_apply_record(sync_ctx *s, const hw_id *id, const hw_record *in,
                          const hw_bytes *in_bytes, const uint8_t *in_item, const hw_vv *held)
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
    hw__sync_say(
        s, "a record was kept as it is on this device: merging the office's copy into it would "
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

int hw__sync_on_ack(sync_ctx *s, const hw_msg_push_ack *a)
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
      rc = e->merged.p ? hw__sync_apply_state(s, &x->id, e->merged.p, e->merged.len, &x->vv)
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
  hw__sync_progress(s);
  return pump_pushes(s, 0);
}
