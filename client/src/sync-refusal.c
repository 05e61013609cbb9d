/* A lineage refusal: own writes the server does not hold (docs/protocol.md §9.2). */
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
  if (hw__listed_at(r->dots, r->n_dots, dot->counter))
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
int hw__sync_on_refusal(sync_ctx *s, const hw_msg_lineage_refusal *r)
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
    if (hw__reissue_forked(s->c, &me, r->from, r->dots, r->n_dots, &n) == HW_OK)
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
      rc = hw__sync_apply_state(s, &r->dots[i].record, NULL, 0, &one);
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
