/* A forked store re-issues its own contradicted writes under its new
 * replica id (architecture §3, defence 2; protocol.md §9.2).
 *
 * A lineage refusal listed the server's accepted dots of the old replica R
 * above `from`; the first counter d where the two sides differ is where the
 * copies went apart: a listed dot the device does not hold identically, or
 * a write of the device's own that the list passes over (the other copy
 * wrote that counter too, then replaced it before pushing: the server never
 * held it, yet its vv[R] covers it, so pushed as it was it would be taken
 * as seen and dropped). Every R-dot below d is the same write on both sides
 * (identical, or only on the device and not yet pushed), and R-dots from d
 * on mean different writes on the two copies. So, for each record
 * this device wrote at d or later, its state drops those writes, claims to
 * have seen R only below d (vv[R] lowered), and their values are written
 * again as one new write of the new replica: the server then merges them as
 * concurrent with the other copy's writes (conflicts where both wrote a
 * field), where before the whole state was quarantined. A record whose
 * dropped writes held a void, or a value in conflict with another replica's,
 * is left as it is (re-issuing would decide for the worker), and so is one
 * that also holds a write from d on that the server holds identically (its
 * vv could not go below that write without unseeing it, nor stay above the
 * other copy's writes without hiding them): it goes the quarantine way,
 * kept whole for a coordinator. */
#include <string.h>

#include "client-int.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"
#include "reissue-int.h"

typedef struct walk_ctx {
  uint64_t d;
  hw_id_list records;
} walk_ctx;

/* Whether the server listed this very write (dots ascend by counter). */
static bool listed(const hw_accepted_dot *dots, size_t n, const hw_id *record,
                   const hw_write_meta *w)
{
  size_t lo = 0, hi = n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (dots[mid].counter < w->dot.counter)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && dots[lo].counter == w->dot.counter &&
         hw_id_cmp(&dots[lo].record, record) == 0 &&
         hw_memcmp_ct(dots[lo].write_digest, w->digest, HW_HASH_BYTES) == 0;
}

static int add_record(void *ud, const hw_dot *dot, const hw_id *record,
                      const uint8_t digest[HW_HASH_BYTES])
{
  walk_ctx *w = ud;
  (void)digest;
  return dot->counter >= w->d ? hw_id_list_add_unique(&w->records, record) : HW_OK;
}

bool hw__journal_matches(hw_client *c, const hw_id *replica, const hw_accepted_dot *a,
                         bool *replaced)
{
  hw_dot d = {*replica, a->counter};
  hw_id rec;
  uint8_t digest[HW_HASH_BYTES];

  *replaced = false;
  if (hw_store_journal_get(c->st, &d, &rec, digest) != HW_OK) {
    if (hw_store_journal_replaced(c->st, &d, &rec, digest) != HW_OK)
      return false;
    *replaced = true;
  }
  return hw_id_cmp(&rec, &a->record) == 0 &&
         hw_memcmp_ct(digest, a->write_digest, HW_HASH_BYTES) == 0;
}

typedef struct unlisted_walk {
  const hw_accepted_dot *dots;
  size_t n_dots;
  uint64_t first; /* the first own write the list passes over (0: none) */
} unlisted_walk;

bool hw__listed_at(const hw_accepted_dot *dots, size_t n, uint64_t counter)
{
  size_t lo = 0, hi = n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (dots[mid].counter < counter)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && dots[lo].counter == counter;
}

static int first_unlisted(void *ud, const hw_dot *dot, const hw_id *record,
                          const uint8_t digest[HW_HASH_BYTES])
{
  unlisted_walk *w = ud;
  (void)record, (void)digest;
  /* Within what the list covers: up to its last dot (what the server's
   * vv[R] has seen); writes past it are only on this device. */
  if (w->first || dot->counter > w->dots[w->n_dots - 1].counter)
    return HW_OK;
  if (!hw__listed_at(w->dots, w->n_dots, dot->counter))
    w->first = dot->counter;
  return HW_OK;
}

/* The first counter above `from` where the journal and the list differ:
 * a listed dot the journal does not hold identically, or a live journal
 * entry (a write still in force here) the list passes over. */
static int split_point(hw_client *c, const hw_id *old, uint64_t from,
                       const hw_accepted_dot *dots, size_t n_dots, uint64_t *d)
{
  unlisted_walk w = {dots, n_dots, 0};
  bool replaced;
  int rc = HW_OK;

  *d = 0;
  for (size_t i = 0; i < n_dots && !*d; i++)
    if (!hw__journal_matches(c, old, &dots[i], &replaced))
      *d = dots[i].counter;
  if (n_dots == 0)
    return HW_OK;
  if ((rc = hw_store_journal_list(c->st, old, from, first_unlisted, &w)) != 0)
    return rc;
  if (w.first && (!*d || w.first < *d))
    *d = w.first;
  return HW_OK;
}

static bool is_void_field(const hw_bytes *name)
{
  return name->len == strlen(HW_FIELD_VOIDED) &&
         memcmp(name->p, HW_FIELD_VOIDED, name->len) == 0;
}

typedef struct split {
  hw_record *kept;      /* the state without the dropped writes */
  hw_field_value *vals; /* their values (borrowed from the decoded state) */
  size_t n_vals;
  bool skip; /* a void or a conflict among them: leave the record as it is */
} split;

/* Build `kept` from `r` without the writes `drop` marks (their pairs out,
 * empty fields out, write indexes renumbered), vv[old] at most d - 1. */
static int split_record(const hw_record *r, const hw_id *old, uint64_t d,
                        const hw_accepted_dot *dots, size_t n_dots, split *out)
{
  bool *drop = hw_calloc(r->n_writes ? r->n_writes : 1, sizeof *drop);
  uint32_t *renum = hw_calloc(r->n_writes ? r->n_writes : 1, sizeof *renum);
  hw_write_meta *writes = hw_calloc(r->n_writes ? r->n_writes : 1, sizeof *writes);
  hw_field *fields = hw_calloc(r->n_fields ? r->n_fields : 1, sizeof *fields);
  hw_pair *pairs = NULL;
  hw_dot *vv = hw_calloc(r->vv.n ? r->vv.n : 1, sizeof *vv);
  size_t n_pairs = 0, nw = 0, nf = 0, nv = 0, np = 0;
  hw_record parts;
  int rc = HW_OK;

  memset(out, 0, sizeof *out);
  for (size_t f = 0; f < r->n_fields; f++)
    n_pairs += r->fields[f].n_pairs;
  pairs = hw_calloc(n_pairs ? n_pairs : 1, sizeof *pairs);
  out->vals = hw_calloc(r->n_fields ? r->n_fields : 1, sizeof *out->vals);
  if (!drop || !renum || !writes || !fields || !pairs || !vv || !out->vals) {
    rc = HW_ENOMEM;
    goto done;
  }
  for (size_t i = 0; i < r->n_writes; i++) {
    const hw_dot *dot = &r->writes[i].dot;
    drop[i] = hw_id_cmp(&dot->replica, old) == 0 && dot->counter >= d;
    if (drop[i] && listed(dots, n_dots, &r->id, &r->writes[i]))
      out->skip = true; /* held identically above the split: see the top */
    if (!drop[i]) {
      renum[i] = (uint32_t)nw;
      writes[nw++] = r->writes[i];
    }
  }
  for (size_t f = 0; f < r->n_fields && !out->skip; f++) {
    const hw_field *fl = &r->fields[f];
    hw_field kf = {fl->name, 0, pairs + np};
    size_t dropped = 0;
    for (uint32_t i = 0; i < fl->n_pairs; i++) {
      if (drop[fl->pairs[i].w]) {
        dropped++;
        out->vals[out->n_vals] = (hw_field_value){fl->name, fl->pairs[i].value};
      } else {
        pairs[np++] = (hw_pair){renum[fl->pairs[i].w], fl->pairs[i].value};
        kf.n_pairs++;
      }
    }
    /* A dropped void, or a dropped value beside another: the worker's call. */
    if (dropped && (is_void_field(&fl->name) || dropped > 1 || kf.n_pairs > 0))
      out->skip = true;
    out->n_vals += dropped;
    if (kf.n_pairs)
      fields[nf++] = kf;
  }
  if (out->skip)
    goto done;
  for (size_t i = 0; i < r->vv.n; i++) {
    hw_dot e = r->vv.e[i];
    if (hw_id_cmp(&e.replica, old) == 0 && e.counter >= d)
      e.counter = d - 1;
    if (e.counter)
      vv[nv++] = e;
  }
  parts = *r;
  parts.vv = (hw_vv){nv, vv};
  parts.n_writes = nw;
  parts.writes = writes;
  parts.n_fields = nf;
  parts.fields = fields;
  rc = hw_record_build(&out->kept, &parts);
done:
  hw_free(drop);
  hw_free(renum);
  hw_free(writes);
  hw_free(fields);
  hw_free(pairs);
  hw_free(vv);
  if (rc || out->skip) {
    hw_free(out->vals);
    out->vals = NULL;
    out->n_vals = 0;
  }
  return rc;
}

/* Re-issue one record's writes from d on; *done says whether it changed. */
static int reissue_record(hw_client *c, const hw_id *id, const hw_id *old, uint64_t d,
                          const hw_accepted_dot *dots, size_t n_dots, bool *done)
{
  hw_store_rec *row = NULL;
  hw_record *r = NULL, *next = NULL;
  split sp = {0};
  hw_dot dot, acked_e[2 * HW_VV_MAX];
  hw_vv acked = {0, acked_e};
  int rc;

  *done = false;
  if ((rc = hw_store_get(c->st, id, &row)) == HW_ENOENT)
    return HW_OK; /* deleted since: acknowledged whole, nothing to re-issue */
  if (rc)
    return rc;
  if ((rc = hw_record_decode(row->state.p, row->state.len, &r, NULL)) != 0) {
    rc = rc == HW_ENOMEM ? rc : HW_ECORRUPT;
    goto out;
  }
  if (hw_vv_get(&r->vv, old) < d || hw__is_held(c, id))
    goto out; /* nothing from d on, or already with a coordinator */
  if ((rc = split_record(r, old, d, dots, n_dots, &sp)) != 0 || sp.skip)
    goto out;
  /* What the server acknowledged stays below d. */
  for (size_t i = 0; i < row->acked.n; i++) {
    hw_dot e = row->acked.e[i];
    if (hw_id_cmp(&e.replica, old) == 0 && e.counter >= d)
      e.counter = d - 1;
    if (e.counter)
      acked_e[acked.n++] = e;
  }
  if (sp.n_vals) {
    hw_write w = {.wall_ms = hw__client_now_ms(),
                  .author = {(const uint8_t *)c->worker, strlen(c->worker)},
                  .schema_version = r->schema_version,
                  .n_fields = sp.n_vals,
                  .fields = sp.vals};
    if ((rc = hw_store_next_dot(c->st, &dot)) != 0)
      goto out;
    w.dot = dot;
    if ((rc = hw_record_write(&next, sp.kept, &w)) == 0)
      rc = hw__put_state(c, next, &acked, &dot);
  } else {
    rc = hw__put_state(c, sp.kept, &acked, NULL);
  }
  *done = rc == HW_OK;
out:
  hw_free(sp.vals);
  hw_record_free(sp.kept);
  hw_record_free(next);
  hw_record_free(r);
  hw_store_rec_free(row);
  return rc;
}

int hw__reissue_forked(hw_client *c, const hw_id *old, uint64_t from,
                       const hw_accepted_dot *dots, size_t n_dots, uint64_t *n_records)
{
  walk_ctx w = {0};
  int rc;

  *n_records = 0;
  if ((rc = split_point(c, old, from, dots, n_dots, &w.d)) != 0)
    return rc;
  if (w.d == 0)
    return HW_OK; /* not a fork after all */
  if ((rc = hw_store_journal_list(c->st, old, w.d - 1, add_record, &w)) != 0)
    goto out;
  if ((rc = hw_store_begin(c->st)) != 0)
    goto out;
  for (size_t i = 0; i < w.records.n && !rc; i++) {
    bool done;
    rc = reissue_record(c, &w.records.v[i], old, w.d, dots, n_dots, &done);
    *n_records += done;
  }
  if (rc) {
    int r2 = hw_store_rollback(c->st);
    (void)r2;
    *n_records = 0;
  } else {
    rc = hw_store_commit(c->st);
  }
out:
  hw_free(w.records.v);
  return rc;
}
