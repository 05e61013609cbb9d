/* The merge (architecture §3) and the local-write combination it shares
 * its machinery with. */
#include "homeward/merge.h"

#include <string.h>

#include "homeward/cbor.h"
#include "homeward/limits.h"
#include "homeward/mem.h"
#include "record-int.h"

#define FROM_B 0x80000000u /* pair.w tag while building: index is into b's writes */
#define UNUSED UINT32_MAX

static bool same_value(const hw_bytes *x, const hw_bytes *y)
{
  return x->len == y->len && memcmp(x->p, y->p, x->len) == 0;
}

static bool same_write(const hw_write_meta *x, const hw_write_meta *y)
{
  return memcmp(x->digest, y->digest, HW_HASH_BYTES) == 0 && x->wall_ms == y->wall_ms &&
         same_value(&x->author, &y->author);
}

/* Never merge a contradiction (architecture §3, defence 3): one dot must
 * name the same write on both sides. */
static int check_writes(const hw_record *a, const hw_record *b)
{
  size_t i = 0, j = 0;

  while (i < a->n_writes && j < b->n_writes) {
    int c = hw_dot_cmp(&a->writes[i].dot, &b->writes[j].dot);
    if (c < 0) {
      i++;
    } else if (c > 0) {
      j++;
    } else {
      if (!same_write(&a->writes[i], &b->writes[j]))
        return HW_EDIVERGE;
      i++, j++;
    }
  }
  return HW_OK;
}

typedef struct combine_ctx {
  const hw_record *a, *b;
  hw__combine_mode mode;
  hw_record *r;
  uint32_t *map_a, *map_b; /* write index in a/b -> index in r (or UNUSED) */
} combine_ctx;

static int add_pair(combine_ctx *cx, hw_field *f, bool from_b, const hw_pair *src)
{
  hw_pair *dst = &f->pairs[f->n_pairs++];

  if (f->n_pairs > HW_PAIRS_MAX)
    return HW_ELIMIT;
  dst->w = src->w | (from_b ? FROM_B : 0);
  dst->value.len = src->value.len;
  dst->value.p = hw_arena_memdup(&cx->r->arena, src->value.p, src->value.len);
  if (!dst->value.p)
    return HW_ENOMEM;
  (from_b ? cx->map_b : cx->map_a)[src->w] = 0; /* marked used; numbered later */
  return HW_OK;
}

/* Pairs of a field only one side holds. Fields are never removed, so the
 * other side cannot have seen a write to a field it does not hold: a state
 * that says otherwise claims writes it never received (an inflated vv) and
 * would erase values silently; it is refused as a divergence. */
static int take_one_side(combine_ctx *cx, hw_field *f, const hw_field *src, bool from_b)
{
  const hw_record *own = from_b ? cx->b : cx->a, *other = from_b ? cx->a : cx->b;
  int rc;

  for (uint32_t k = 0; k < src->n_pairs; k++) {
    if (cx->mode == HW__COMBINE_MERGE &&
        hw_vv_seen(&other->vv, &own->writes[src->pairs[k].w].dot)) {
#ifndef HW_MERGE_MUTANT_KEEP_SEEN
      return HW_EDIVERGE;
#endif
    }
    if ((rc = add_pair(cx, f, from_b, &src->pairs[k])) != 0)
      return rc;
  }
  return HW_OK;
}

/* Both sides hold the field: keep pairs in both, and pairs of one side the
 * other has not seen. */
static int take_both(combine_ctx *cx, hw_field *f, const hw_field *fa, const hw_field *fb)
{
  uint32_t i = 0, j = 0;
  int rc;
#ifdef HW_MERGE_MUTANT_DROP_CONCURRENT
  bool a_unseen = false;
#endif

  if (cx->mode == HW__COMBINE_OVERRIDE)
    return take_one_side(cx, f, fb, true);
  while (i < fa->n_pairs || j < fb->n_pairs) {
    const hw_dot *da = i < fa->n_pairs ? &cx->a->writes[fa->pairs[i].w].dot : NULL;
    const hw_dot *db = j < fb->n_pairs ? &cx->b->writes[fb->pairs[j].w].dot : NULL;
    int c = !da ? 1 : !db ? -1 : hw_dot_cmp(da, db);
    if (c == 0) {
      /* One write, one value per field: anything else is a contradiction. */
      if (!same_value(&fa->pairs[i].value, &fb->pairs[j].value))
        return HW_EDIVERGE;
      if ((rc = add_pair(cx, f, false, &fa->pairs[i])) != 0)
        return rc;
      cx->map_b[fb->pairs[j].w] = 0;
      i++, j++;
    } else if (c < 0) {
      if (!hw_vv_seen(&cx->b->vv, da)) {
#ifdef HW_MERGE_MUTANT_DROP_CONCURRENT
        a_unseen = true;
#endif
        if ((rc = add_pair(cx, f, false, &fa->pairs[i])) != 0)
          return rc;
      }
#ifdef HW_MERGE_MUTANT_KEEP_SEEN
      else if ((rc = add_pair(cx, f, false, &fa->pairs[i])) != 0)
        return rc;
#endif
      i++;
    } else {
      bool keep = !hw_vv_seen(&cx->a->vv, db);
#ifdef HW_MERGE_MUTANT_KEEP_SEEN
      keep = true; /* the planted flaw: a value its overwriter had seen survives */
#endif
#ifdef HW_MERGE_MUTANT_DROP_CONCURRENT
      if (a_unseen)
        keep = false; /* the planted flaw: a concurrent value is lost */
#endif
      if (keep && (rc = add_pair(cx, f, true, &fb->pairs[j])) != 0)
        return rc;
      j++;
    }
  }
  return HW_OK;
}

static int combine_fields(combine_ctx *cx)
{
  const hw_record *a = cx->a, *b = cx->b;
  hw_record *r = cx->r;
  size_t i = 0, j = 0;
  int rc;

  r->fields = hw_arena_alloc(&r->arena, (a->n_fields + b->n_fields) * sizeof *r->fields);
  if (!r->fields)
    return HW_ENOMEM;
  while (i < a->n_fields || j < b->n_fields) {
    const hw_field *fa = i < a->n_fields ? &a->fields[i] : NULL;
    const hw_field *fb = j < b->n_fields ? &b->fields[j] : NULL;
    int c = !fa   ? 1
            : !fb ? -1
                  : hw_cbor_key_cmp(fa->name.p, fa->name.len, fb->name.p, fb->name.len);
    const hw_field *named = c <= 0 ? fa : fb;
    hw_field *f = &r->fields[r->n_fields];
    uint32_t cap = (c <= 0 ? fa->n_pairs : 0) + (c >= 0 ? fb->n_pairs : 0);

    f->n_pairs = 0;
    f->pairs = hw_arena_alloc(&r->arena, cap * sizeof *f->pairs);
    if (!f->pairs)
      return HW_ENOMEM;
    if (c < 0)
      rc = take_one_side(cx, f, fa, false), i++;
    else if (c > 0)
      rc = take_one_side(cx, f, fb, true), j++;
    else
      rc = take_both(cx, f, fa, fb), i++, j++;
    if (rc)
      return rc;
    /* Each side overwrote the other's values: only states in which two writes
     * each saw the other can get here, so it is a divergence, not a merge. */
    if (f->n_pairs == 0 && cx->mode == HW__COMBINE_MERGE)
      return HW_EDIVERGE;
    if (f->n_pairs == 0)
      continue;
    f->name.len = named->name.len;
    if (!(f->name.p = hw_arena_memdup(&r->arena, named->name.p, named->name.len)))
      return HW_ENOMEM;
    r->n_fields++;
  }
  if (r->n_fields > HW_FIELDS_MAX)
    return HW_ELIMIT;
  return HW_OK;
}

static int copy_meta(combine_ctx *cx, const hw_write_meta *src)
{
  hw_write_meta *dst = &cx->r->writes[cx->r->n_writes++];

  *dst = *src;
  dst->author.p = hw_arena_memdup(&cx->r->arena, src->author.p, src->author.len);
  return dst->author.p ? HW_OK : HW_ENOMEM;
}

/* Keep the writes some pair still uses, in dot order, and renumber pairs. */
static int combine_writes(combine_ctx *cx)
{
  const hw_record *a = cx->a, *b = cx->b;
  hw_record *r = cx->r;
  size_t i = 0, j = 0;
  int rc;

  r->writes = hw_arena_alloc(&r->arena, (a->n_writes + b->n_writes) * sizeof *r->writes);
  if (!r->writes)
    return HW_ENOMEM;
  while (i < a->n_writes || j < b->n_writes) {
    int c = i == a->n_writes   ? 1
            : j == b->n_writes ? -1
                               : hw_dot_cmp(&a->writes[i].dot, &b->writes[j].dot);
    bool used = (c <= 0 && cx->map_a[i] != UNUSED) || (c >= 0 && cx->map_b[j] != UNUSED);
    uint32_t k = (uint32_t)r->n_writes;

    if (used && (rc = copy_meta(cx, c <= 0 ? &a->writes[i] : &b->writes[j])) != 0)
      return rc;
    if (c <= 0)
      cx->map_a[i++] = used ? k : UNUSED;
    if (c >= 0)
      cx->map_b[j++] = used ? k : UNUSED;
  }
  if (r->n_writes > HW_WRITES_MAX)
    return HW_ELIMIT;
  for (size_t f = 0; f < r->n_fields; f++)
    for (uint32_t k = 0; k < r->fields[f].n_pairs; k++) {
      uint32_t w = r->fields[f].pairs[k].w;
      r->fields[f].pairs[k].w = w & FROM_B ? cx->map_b[w & ~FROM_B] : cx->map_a[w];
    }
  return HW_OK;
}

int hw__record_combine(hw_record **out, const hw_record *a, const hw_record *b,
                       hw__combine_mode mode)
{
  combine_ctx cx = {.a = a, .b = b, .mode = mode};
  size_t maps = (a->n_writes + b->n_writes) * sizeof(uint32_t);
  size_t bound;
  int rc;

  *out = NULL;
  if (a->n_writes > HW_WRITES_MAX || b->n_writes > HW_WRITES_MAX)
    return HW_ELIMIT;
  bound = a->data_len + b->data_len + maps + 64;
  cx.r = hw__record_alloc(bound);
  if (!cx.r)
    return HW_ENOMEM;
  cx.r->id = a->id;
  cx.r->case_id = a->case_id;
  cx.r->schema_version =
      a->schema_version > b->schema_version ? a->schema_version : b->schema_version;
  rc = HW_ENOMEM;
  cx.map_a = hw_arena_alloc(&cx.r->arena, maps);
  cx.r->kind.len = a->kind.len;
  cx.r->kind.p = hw_arena_memdup(&cx.r->arena, a->kind.p, a->kind.len);
  cx.r->vv.e = hw_arena_alloc(&cx.r->arena, (a->vv.n + b->vv.n) * sizeof(hw_dot));
  if (!cx.map_a || !cx.r->kind.p || !cx.r->vv.e)
    goto fail;
  cx.map_b = cx.map_a + a->n_writes;
  memset(cx.map_a, 0xff, maps);
  cx.r->vv.n = hw_vv_join(&a->vv, &b->vv, cx.r->vv.e);
  rc = HW_ELIMIT;
  if (cx.r->vv.n > HW_VV_MAX)
    goto fail;
  if ((rc = combine_fields(&cx)) != 0 || (rc = combine_writes(&cx)) != 0)
    goto fail;
  hw__record_seal(cx.r);
  *out = cx.r;
  return HW_OK;

fail:
  hw_record_free(cx.r);
  return rc;
}

const char *hw_merge_class_name(hw_merge_class cls)
{
  switch (cls) {
  case HW_MERGE_DUPLICATE:
    return "duplicate";
  case HW_MERGE_FAST_FORWARD:
    return "fast-forward";
  case HW_MERGE_MERGED:
    return "merged";
  case HW_MERGE_CONFLICT:
    return "conflict";
  case HW_MERGE_RESOLVED:
    return "resolved";
  }
  return "?";
}

/* Whether field f of a holds the same pairs (by dot) as g of b. */
static bool same_pairs(const hw_record *a, const hw_field *f, const hw_record *b, const hw_field *g)
{
  if (f->n_pairs != g->n_pairs)
    return false;
  for (uint32_t k = 0; k < f->n_pairs; k++)
    if (hw_dot_cmp(&a->writes[f->pairs[k].w].dot, &b->writes[g->pairs[k].w].dot))
      return false;
  return true;
}

static int classify(const hw_record *stored, const hw_record *incoming, const hw_record *res,
                    hw_merge_info *info)
{
  hw_void_status before;
  bool new_conflict, resolved;
  int rc;

  info->order = hw_vv_compare(&stored->vv, &incoming->vv);
  if ((rc = hw_record_void_status(res, &info->void_status)) != 0 ||
      (rc = hw_record_void_status(stored, &before)) != 0)
    return rc;
  for (size_t i = 0; i < res->n_fields; i++) {
    const hw_field *f = &res->fields[i];
    const hw_field *g;
    if (f->n_pairs < 2)
      continue;
    info->n_conflicts++;
    g = hw_record_field(stored, (const char *)f->name.p, f->name.len);
    if (!g || !same_pairs(res, f, stored, g))
      info->n_new_conflicts++;
  }
  for (size_t i = 0; i < stored->n_fields; i++) {
    const hw_field *g = &stored->fields[i], *f;
    if (g->n_pairs < 2)
      continue;
    f = hw_record_field(res, (const char *)g->name.p, g->name.len);
    if (!f || f->n_pairs < 2)
      info->n_resolved++;
  }
  new_conflict = info->n_new_conflicts > 0 || (info->void_status.disputed && !before.disputed);
  resolved = info->n_resolved > 0 || (before.disputed && !info->void_status.disputed);
  if (info->order == HW_ORDER_EQUAL || info->order == HW_ORDER_AFTER)
    info->cls = HW_MERGE_DUPLICATE;
  else if (new_conflict)
    info->cls = HW_MERGE_CONFLICT;
  else if (resolved)
    info->cls = HW_MERGE_RESOLVED;
  else if (info->order == HW_ORDER_BEFORE)
    info->cls = HW_MERGE_FAST_FORWARD;
  else if (info->n_conflicts > 0 || info->void_status.disputed)
    info->cls = HW_MERGE_CONFLICT;
  else
    info->cls = HW_MERGE_MERGED;
  return HW_OK;
}

int hw_merge(hw_record **out, const hw_record *stored, const hw_record *incoming,
             hw_merge_info *info)
{
  hw_merge_info scratch;
  int rc;

  *out = NULL;
  if (!info)
    info = &scratch;
  memset(info, 0, sizeof *info);
  if (!stored) {
    /* A record seen for the first time is classified against an empty
     * state: conflicts it carries are new here. */
    info->order = HW_ORDER_BEFORE;
    info->n_conflicts = hw_record_n_conflicts(incoming);
    info->n_new_conflicts = info->n_conflicts;
    if ((rc = hw_record_void_status(incoming, &info->void_status)) != 0)
      return rc;
    info->cls =
        info->n_conflicts || info->void_status.disputed ? HW_MERGE_CONFLICT : HW_MERGE_FAST_FORWARD;
    return hw_record_clone(out, incoming);
  }
  /* Same id with another kind or case is a divergence, never a merge. */
  if (hw_id_cmp(&stored->id, &incoming->id) || hw_id_cmp(&stored->case_id, &incoming->case_id) ||
      !same_value(&stored->kind, &incoming->kind))
    return HW_EDIVERGE;
  if ((rc = check_writes(stored, incoming)) != 0)
    return rc;
  if ((rc = hw__record_combine(out, stored, incoming, HW__COMBINE_MERGE)) != 0)
    return rc;
  if (info == &scratch)
    return HW_OK;
  if ((rc = classify(stored, incoming, *out, info)) != 0) {
    hw_record_free(*out);
    *out = NULL;
  }
  return rc;
}
