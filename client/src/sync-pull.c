/* Pulling the caseload after the cursor, and the cases taken away
 * (docs/protocol.md §9.1, §9.4). */
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

/* ---- pull ------------------------------------------------------------------ */

int hw__sync_send_pull(sync_ctx *s)
{
  hw_msg m = {.type = HW_MSG_PULL};
  m.u.pull.max_records = PULL_RECORDS;
  return hw__sync_send_msg(s, &m, 0); /* no cursor: where the session stands */
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
int hw__sync_removed_sweep(sync_ctx *s)
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
int hw__sync_pull_commit(sync_ctx *s)
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

int hw__sync_on_pull_batch(sync_ctx *s, const hw_msg_pull_batch *b)
{
  uint8_t packed[16 + HW_CURSOR_HEAD_BYTES];
  hw_id *cases = NULL;
  batch_prep prep = {b, NULL};
  int rc, asked;

  /* Ask for the next batch before storing this one: the server reads it
   * while this one is stored (the position is the session's, and batches
   * are still stored in order). A connection cut already: this batch,
   * received whole, is stored all the same (below). */
  asked = b->more ? hw__sync_send_pull(s) : HW_OK;
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
    if (!rc && (rc = hw__sync_touch(s, &peek->case_id)) == 0) {
      cases[i] = peek->case_id;
      rc = hw__sync_apply_record(s, NULL, peek, &b->records[i], prep.v[i].item, &peek->vv);
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
  hw__sync_cursor_pack(&b->cursor, packed);
  if (!rc)
    rc = hw_store_setting_set(s->c->st, s->epoch_changed ? SET_CURSOR_RECOVERING : SET_CURSOR,
                              packed, sizeof packed);
  if (rc) {
    pull_rollback(s);
    return rc;
  }
  s->epoch = b->cursor.epoch;
  hw__sync_progress(s); /* applied; stored with the group */
  if (asked)
    return asked; /* the session ends: session_reset stores the group */
  if (b->more && ++s->pull_held < PULL_GROUP)
    return HW_OK;
  return hw__sync_pull_commit(s);
}
