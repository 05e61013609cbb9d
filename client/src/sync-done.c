/* The end of a sync: the signed audit head and the caseload checksum. */
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
#define MARKS_VERSION_BYTES                                                                        \
  {                                                                                                \
    HW__MARKS_VERSION & 0xff, (HW__MARKS_VERSION >> 8) & 0xff, 0, 0                                \
  }

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

int hw__sync_on_done(sync_ctx *s, const hw_msg_done *d)
{
  marked_walk w = {s, {0}};
  uint8_t sum[HW_HASH_BYTES];
  uint8_t kept_b[8 + 8 + HW_HASH_BYTES + 8 + HW_SIGN_BYTES];
  int rc;

  if (d->has_head) {
    hw_signed_head h = d->head, kept;
    h.epoch = s->epoch;
    if (hw_signed_head_verify(&h, s->c->audit_key) != HW_OK) {
      hw__sync_say(s, "the server's signed audit head did not verify");
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
  /* The marks as the server has them now, replacing the last sync's. */
  rc = d->n_flagged ? hw_store_setting_set(s->c->st, SET_LATE_EDITED, d->flagged,
                                           d->n_flagged * sizeof *d->flagged)
                    : hw_store_setting_del(s->c->st, SET_LATE_EDITED);
  if (rc && rc != HW_ENOENT)
    return rc;
  s->res->late_edited = d->n_flagged;
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
