/* Local writes, voids and the write digest (architecture §2, §3). */
#include <stdlib.h>
#include <string.h>

#include "homeward/cbor.h"
#include "homeward/limits.h"
#include "homeward/record.h"
#include "homeward/value.h"
#include "record-int.h"

static const char digest_domain[] = "homeward-write-v1";

static void put_be32(hw_hash *h, uint32_t v)
{
  uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  hw_hash_update(h, b, 4);
}

static void put_be64(hw_hash *h, uint64_t v)
{
  put_be32(h, (uint32_t)(v >> 32));
  put_be32(h, (uint32_t)v);
}

static int fv_cmp(const void *a, const void *b)
{
  const hw_field_value *x = *(const hw_field_value *const *)a;
  const hw_field_value *y = *(const hw_field_value *const *)b;
  return hw_cbor_key_cmp(x->name.p, x->name.len, y->name.p, y->name.len);
}

/* Sort pointers to the write's fields by name; false on a repeated name. */
static bool sort_fields(const hw_write *w, const hw_field_value **sorted)
{
  for (size_t i = 0; i < w->n_fields; i++)
    sorted[i] = &w->fields[i];
  qsort(sorted, w->n_fields, sizeof *sorted, fv_cmp);
  for (size_t i = 1; i < w->n_fields; i++)
    if (fv_cmp(&sorted[i - 1], &sorted[i]) == 0)
      return false;
  return true;
}

static void digest_sorted(const hw_id *record_id, const hw_write *w,
                          const hw_field_value *const *sorted, uint8_t out[static HW_HASH_BYTES])
{
  hw_hash h;

  hw_hash_init(&h, NULL, 0);
  hw_hash_update(&h, digest_domain, sizeof digest_domain); /* NUL included */
  hw_hash_update(&h, record_id->b, HW_ID_BYTES);
  hw_hash_update(&h, w->dot.replica.b, HW_ID_BYTES);
  put_be64(&h, w->dot.counter);
  put_be64(&h, (uint64_t)w->wall_ms);
  put_be32(&h, (uint32_t)w->author.len);
  hw_hash_update(&h, w->author.p, w->author.len);
  put_be32(&h, (uint32_t)w->n_fields);
  for (size_t i = 0; i < w->n_fields; i++) {
    put_be32(&h, (uint32_t)sorted[i]->name.len);
    hw_hash_update(&h, sorted[i]->name.p, sorted[i]->name.len);
    put_be32(&h, (uint32_t)sorted[i]->value.len);
    hw_hash_update(&h, sorted[i]->value.p, sorted[i]->value.len);
  }
  hw_hash_final(&h, out);
}

void hw_write_digest(const hw_id *record_id, const hw_write *w, uint8_t out[static HW_HASH_BYTES])
{
  const hw_field_value *sorted[HW_FIELDS_MAX];
  hw_write ww = *w;

  if (ww.n_fields > HW_FIELDS_MAX)
    ww.n_fields = HW_FIELDS_MAX; /* callers check the limit first */
  (void)sort_fields(&ww, sorted);
  digest_sorted(record_id, &ww, sorted, out);
}

static bool is_voided_name(const hw_bytes *n)
{
  return n->len == sizeof HW_FIELD_VOIDED - 1 && memcmp(n->p, HW_FIELD_VOIDED, n->len) == 0;
}

/* Validate a write's own parts before anything is built. */
static int check_write(const hw_record *base, const hw_write *w)
{
  hw_dot seen_buf[HW_VV_MAX];
  hw_vv seen;
  hw_bytes reason;
  int rc;

  if (w->n_fields == 0 || !w->fields)
    return HW_EINVAL;
  if (w->n_fields > HW_FIELDS_MAX || w->author.len > HW_AUTHOR_MAX)
    return HW_ELIMIT;
  if (w->dot.counter == 0 || !hw__name_ok(w->author.p, w->author.len, HW_AUTHOR_MAX))
    return HW_EINVAL;
  /* A dot must never name two writes (architecture §3). */
  if (hw_vv_seen(&base->vv, &w->dot))
    return HW_EDOTREUSE;
  for (size_t i = 0; i < w->n_fields; i++) {
    const hw_field_value *f = &w->fields[i];
    if (f->name.len > HW_FIELD_NAME_MAX || f->value.len > HW_VALUE_MAX)
      return HW_ELIMIT;
    if (!hw__name_ok(f->name.p, f->name.len, HW_FIELD_NAME_MAX))
      return HW_EINVAL;
    if ((rc = hw_value_check(f->value.p, f->value.len)) != 0)
      return rc == HW_ELIMIT ? rc : HW_EINVAL;
    if (is_voided_name(&f->name) && !hw_value_is_null(f->value.p, f->value.len)) {
      /* A void's seen must be exactly the vv it was made on plus its own dot
       * (architecture §3): more would silence disputes it never saw. */
      hw_dot self_e[1] = {w->dot}, join_e[HW_VV_MAX + 1];
      hw_vv self = {1, self_e}, join = {0, join_e};
      if (hw_value_get_void(f->value.p, f->value.len, &reason, seen_buf, &seen) != 0 ||
          base->vv.n > HW_VV_MAX)
        return HW_EINVAL;
      join.n = hw_vv_join(&base->vv, &self, join_e);
      if (hw_vv_compare(&join, &seen) != HW_ORDER_EQUAL || join.n != seen.n)
        return HW_EINVAL;
    }
  }
  return HW_OK;
}

int hw_record_write(hw_record **out, const hw_record *base, const hw_write *w)
{
  const hw_field_value *sorted[HW_FIELDS_MAX];
  hw_field fields[HW_FIELDS_MAX];
  hw_pair pairs[HW_FIELDS_MAX];
  hw_write_meta meta;
  hw_record one;
  int rc;

  *out = NULL;
  if ((rc = check_write(base, w)) != 0)
    return rc;
  if (!sort_fields(w, sorted))
    return HW_EINVAL;
  /* The write as a state of its own, which then overrides base's fields. */
  memset(&one, 0, sizeof one);
  one.id = base->id;
  one.case_id = base->case_id;
  one.kind = base->kind;
  one.schema_version = w->schema_version;
  meta.dot = w->dot;
  meta.wall_ms = w->wall_ms;
  meta.author = w->author;
  digest_sorted(&base->id, w, sorted, meta.digest);
  one.vv.n = 1;
  one.vv.e = &meta.dot;
  one.n_writes = 1;
  one.writes = &meta;
  one.n_fields = w->n_fields;
  one.fields = fields;
  for (size_t i = 0; i < w->n_fields; i++) {
    pairs[i].w = 0;
    pairs[i].value = sorted[i]->value;
    fields[i].name = sorted[i]->name;
    fields[i].n_pairs = 1;
    fields[i].pairs = &pairs[i];
  }
  for (size_t i = 0; i < w->n_fields; i++)
    one.data_len += sorted[i]->name.len + sorted[i]->value.len + 16 + sizeof(hw_pair);
  one.data_len += w->author.len + sizeof meta + sizeof(hw_dot) + w->n_fields * sizeof(hw_field);
  return hw__record_combine(out, base, &one, HW__COMBINE_OVERRIDE);
}

int hw_record_void(hw_record **out, const hw_record *base, const hw_write *w, const char *reason,
                   size_t reason_len)
{
  hw_dot seen_e[HW_VV_MAX + 1];
  hw_dot own[1];
  hw_vv seen, self = {1, own};
  hw_cbor_wr cw;
  hw_field_value fv;
  hw_write ww = *w;
  int rc;

  *out = NULL;
  if (w->n_fields != 0)
    return HW_EINVAL;
  if (reason_len > HW_REASON_MAX || base->vv.n > HW_VV_MAX)
    return HW_ELIMIT;
  if (hw_vv_seen(&base->vv, &w->dot))
    return HW_EDOTREUSE;
  own[0] = w->dot;
  /* seen = the vv at the moment of voiding, the void's own dot included. */
  seen.e = seen_e;
  seen.n = hw_vv_join(&base->vv, &self, seen_e);
  if (seen.n > HW_VV_MAX)
    return HW_ELIMIT;
  hw_cbor_wr_init(&cw, HW_VALUE_MAX);
  hw_value_put_void(&cw, reason, reason_len, &seen);
  if ((rc = hw_cbor_wr_finish(&cw)) != 0) {
    hw_cbor_wr_close(&cw);
    return rc;
  }
  fv.name.p = (const uint8_t *)HW_FIELD_VOIDED;
  fv.name.len = sizeof HW_FIELD_VOIDED - 1;
  fv.value.p = cw.buf;
  fv.value.len = cw.len;
  ww.n_fields = 1;
  ww.fields = &fv;
  rc = hw_record_write(out, base, &ww);
  hw_cbor_wr_close(&cw);
  return rc;
}

int hw_record_unvoid(hw_record **out, const hw_record *base, const hw_write *w)
{
  static const uint8_t null_value[1] = {0xf6};
  hw_field_value fv;
  hw_write ww = *w;

  *out = NULL;
  if (w->n_fields != 0)
    return HW_EINVAL;
  fv.name.p = (const uint8_t *)HW_FIELD_VOIDED;
  fv.name.len = sizeof HW_FIELD_VOIDED - 1;
  fv.value.p = null_value;
  fv.value.len = 1;
  ww.n_fields = 1;
  ww.fields = &fv;
  return hw_record_write(out, base, &ww);
}
