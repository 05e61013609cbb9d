/* What a device tells in its hello: its cursor and the lineage of its own writes
 * (docs/protocol.md §9.1, §9.2). */
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

int hw__sync_compute_lineage(hw_client *c, const hw_id *replica, hw_lineage *out)
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

void hw__sync_cursor_pack(const hw_cursor *cur, uint8_t out[16 + HW_CURSOR_HEAD_BYTES])
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

int hw__sync_build_hello(sync_ctx *s, hw_msg_hello *h)
{
  hw_client *c = s->c;
  uint8_t packed[16 + HW_CURSOR_HEAD_BYTES];
  hw_dot inherits;
  hw_lineage l;
  int rc;

  memset(h, 0, sizeof *h);
  h->version = HW_PROTO_VERSION;
  hw_store_replica(c->st, &h->replica, &h->counter);
  if ((rc = hw__sync_compute_lineage(c, &h->replica, &l)) != 0)
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
