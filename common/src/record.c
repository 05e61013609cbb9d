/* Record states: lifecycle, invariants, accessors (architecture §2). */
#include "homeward/record.h"

#include <string.h>

#include "homeward/cbor.h"
#include "homeward/limits.h"
#include "homeward/mem.h"
#include "homeward/utf8.h"
#include "homeward/value.h"
#include "record-int.h"

hw_record *hw__record_alloc(size_t bound)
{
  hw_record *r;

  if (bound > SIZE_MAX - sizeof *r)
    return NULL;
  r = hw_malloc(sizeof *r + bound);
  if (!r)
    return NULL;
  memset(r, 0, sizeof *r);
  hw_arena_init(&r->arena, (uint8_t *)(r + 1), bound, SIZE_MAX);
  return r;
}

void hw__record_seal(hw_record *r)
{
  if (!r->arena.chunks)
    r->data_len = (size_t)(r->arena.p - r->arena.buf);
  else
    r->data_len = r->arena.buf_len + r->arena.heap_used;
}

void hw_record_free(hw_record *r)
{
  if (!r)
    return;
  hw_arena_close(&r->arena);
  hw_free(r);
}

bool hw__name_ok(const uint8_t *p, size_t len, size_t max)
{
  return len >= 1 && len <= max && hw_utf8_valid(p, len);
}

int hw_record_new(hw_record **out, const hw_id *id, const hw_id *case_id, const char *kind,
                  size_t kind_len, uint32_t schema_version)
{
  hw_record *r;

  *out = NULL;
  if (!hw__name_ok((const uint8_t *)kind, kind_len, HW_KIND_MAX))
    return HW_EINVAL;
  r = hw__record_alloc(kind_len + 8);
  if (!r)
    return HW_ENOMEM;
  r->id = *id;
  r->case_id = *case_id;
  r->schema_version = schema_version;
  r->kind.p = hw_arena_memdup(&r->arena, kind, kind_len);
  r->kind.len = kind_len;
  hw__record_seal(r);
  *out = r;
  return HW_OK;
}

/* A span copied into r's arena (NULL on failure, which the caller checks). */
static bool dup_bytes(hw_record *r, hw_bytes *dst, const hw_bytes *src)
{
  dst->len = src->len;
  dst->p = hw_arena_memdup(&r->arena, src->p, src->len);
  return dst->p != NULL;
}

/* An upper bound on the bytes a copy of `p` takes (8-byte rounding per piece). */
static size_t copy_bound(const hw_record *p)
{
#define R8(n) (((n) + 7) & ~(size_t)7)
  size_t n = R8(p->kind.len) + R8(p->vv.n * sizeof(hw_dot)) +
             R8(p->n_writes * sizeof(hw_write_meta)) + R8(p->n_fields * sizeof(hw_field));
  for (size_t i = 0; i < p->n_writes; i++)
    n += R8(p->writes[i].author.len);
  for (size_t i = 0; i < p->n_fields; i++) {
    n += R8(p->fields[i].name.len) + R8(p->fields[i].n_pairs * sizeof(hw_pair));
    for (uint32_t k = 0; k < p->fields[i].n_pairs; k++)
      n += R8(p->fields[i].pairs[k].value.len);
  }
  return n;
#undef R8
}

static int copy_parts(hw_record **out, const hw_record *p)
{
  hw_record *r = hw__record_alloc(copy_bound(p));

  *out = NULL;
  if (!r)
    return HW_ENOMEM;
  r->id = p->id;
  r->case_id = p->case_id;
  r->schema_version = p->schema_version;
  if (!dup_bytes(r, &r->kind, &p->kind))
    goto oom;
  r->vv.n = p->vv.n;
  if (p->vv.n && !(r->vv.e = hw_arena_memdup(&r->arena, p->vv.e, p->vv.n * sizeof(hw_dot))))
    goto oom;
  r->n_writes = p->n_writes;
  if (p->n_writes) {
    r->writes = hw_arena_memdup(&r->arena, p->writes, p->n_writes * sizeof *p->writes);
    if (!r->writes)
      goto oom;
    for (size_t i = 0; i < p->n_writes; i++)
      if (!dup_bytes(r, &r->writes[i].author, &p->writes[i].author))
        goto oom;
  }
  r->n_fields = p->n_fields;
  if (p->n_fields) {
    r->fields = hw_arena_alloc(&r->arena, p->n_fields * sizeof *r->fields);
    if (!r->fields)
      goto oom;
    for (size_t i = 0; i < p->n_fields; i++) {
      const hw_field *sf = &p->fields[i];
      hw_field *df = &r->fields[i];
      df->n_pairs = sf->n_pairs;
      if (!dup_bytes(r, &df->name, &sf->name) ||
          !(df->pairs = hw_arena_alloc(&r->arena, sf->n_pairs * sizeof *df->pairs)))
        goto oom;
      for (uint32_t k = 0; k < sf->n_pairs; k++) {
        df->pairs[k].w = sf->pairs[k].w;
        if (!dup_bytes(r, &df->pairs[k].value, &sf->pairs[k].value))
          goto oom;
      }
    }
  }
  hw__record_seal(r);
  *out = r;
  return HW_OK;

oom:
  hw_record_free(r);
  return HW_ENOMEM;
}

static int check_impl(const hw_record *r, bool values);

int hw_record_check(const hw_record *r)
{
  return check_impl(r, true);
}

int hw__record_build_checked_values(hw_record **out, const hw_record *parts)
{
  int rc = check_impl(parts, false);

  *out = NULL;
  if (rc)
    return rc;
  return copy_parts(out, parts);
}

int hw_record_build(hw_record **out, const hw_record *parts)
{
  int rc = hw_record_check(parts);

  *out = NULL;
  if (rc)
    return rc;
  return copy_parts(out, parts);
}

int hw_record_clone(hw_record **out, const hw_record *r)
{
  return copy_parts(out, r);
}

/* A void's seen is the vv at the moment of voiding with the void's own dot:
 * it cannot claim more than the state has seen, and it names its own dot
 * exactly. Otherwise one void could silence every later dispute. */
static int check_void_values(const hw_record *r, const hw_field *f)
{
  hw_dot seen_buf[HW_VV_MAX];
  hw_vv seen;
  hw_bytes reason;
  int rc;

  for (uint32_t k = 0; k < f->n_pairs; k++) {
    const hw_bytes *v = &f->pairs[k].value;
    const hw_dot *own = &r->writes[f->pairs[k].w].dot;
    if (hw_value_is_null(v->p, v->len))
      continue;
    if ((rc = hw_value_get_void(v->p, v->len, &reason, seen_buf, &seen)) != 0)
      return rc;
    if (!hw_vv_covers(&r->vv, &seen) || hw_vv_get(&seen, &own->replica) != own->counter)
      return HW_EPROTO;
  }
  return HW_OK;
}

static int check_impl(const hw_record *r, bool values)
{
  size_t n_pairs_total = 0;
  uint8_t used[HW_WRITES_MAX];
  int rc;

  if (!hw__name_ok(r->kind.p, r->kind.len, HW_KIND_MAX))
    return r->kind.len > HW_KIND_MAX ? HW_ELIMIT : HW_EPROTO;
  if ((rc = hw_vv_check(&r->vv)) != 0)
    return rc;
  if (r->n_writes > HW_WRITES_MAX || r->n_fields > HW_FIELDS_MAX)
    return HW_ELIMIT;
  for (size_t i = 0; i < r->n_writes; i++) {
    const hw_write_meta *m = &r->writes[i];
    if (m->dot.counter == 0 || !hw_vv_seen(&r->vv, &m->dot))
      return HW_EPROTO;
    if (i > 0 && hw_dot_cmp(&r->writes[i - 1].dot, &m->dot) >= 0)
      return HW_EPROTO;
    if (m->author.len > HW_AUTHOR_MAX)
      return HW_ELIMIT;
    if (!hw__name_ok(m->author.p, m->author.len, HW_AUTHOR_MAX))
      return HW_EPROTO;
  }
  memset(used, 0, r->n_writes);
  for (size_t i = 0; i < r->n_fields; i++) {
    const hw_field *f = &r->fields[i];
    if (f->name.len > HW_FIELD_NAME_MAX || f->n_pairs > HW_PAIRS_MAX)
      return HW_ELIMIT;
    if (!hw__name_ok(f->name.p, f->name.len, HW_FIELD_NAME_MAX) || f->n_pairs == 0)
      return HW_EPROTO;
    if (i > 0 && hw_cbor_key_cmp(r->fields[i - 1].name.p, r->fields[i - 1].name.len, f->name.p,
                                 f->name.len) >= 0)
      return HW_EPROTO;
    for (uint32_t k = 0; k < f->n_pairs; k++) {
      const hw_pair *pr = &f->pairs[k];
      if (pr->w >= r->n_writes || (k > 0 && f->pairs[k - 1].w >= pr->w))
        return HW_EPROTO;
      used[pr->w] = 1;
      if (values && (rc = hw_value_check(pr->value.p, pr->value.len)) != 0)
        return rc;
    }
    n_pairs_total += f->n_pairs;
    if (f->name.len == sizeof HW_FIELD_VOIDED - 1 &&
        memcmp(f->name.p, HW_FIELD_VOIDED, f->name.len) == 0 && (rc = check_void_values(r, f)) != 0)
      return rc;
  }
  for (size_t i = 0; i < r->n_writes; i++)
    if (!used[i])
      return HW_EPROTO; /* a write no value refers to must have been dropped */
  (void)n_pairs_total;
  return HW_OK;
}

const hw_field *hw_record_field(const hw_record *r, const char *name, size_t len)
{
  size_t lo = 0, hi = r->n_fields;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c =
        hw_cbor_key_cmp(r->fields[mid].name.p, r->fields[mid].name.len, (const uint8_t *)name, len);
    if (c == 0)
      return &r->fields[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

const hw_write_meta *hw_record_write_of(const hw_record *r, const hw_dot *dot)
{
  size_t lo = 0, hi = r->n_writes;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = hw_dot_cmp(&r->writes[mid].dot, dot);
    if (c == 0)
      return &r->writes[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

size_t hw_record_n_conflicts(const hw_record *r)
{
  size_t n = 0;

  for (size_t i = 0; i < r->n_fields; i++)
    n += r->fields[i].n_pairs > 1;
  return n;
}

const hw_pair *hw_field_display(const hw_record *r, const hw_field *f)
{
  const hw_pair *best = &f->pairs[0];

  for (uint32_t k = 1; k < f->n_pairs; k++) {
    const hw_write_meta *b = &r->writes[best->w], *c = &r->writes[f->pairs[k].w];
    if (c->wall_ms > b->wall_ms || (c->wall_ms == b->wall_ms && hw_dot_cmp(&c->dot, &b->dot) > 0))
      best = &f->pairs[k];
  }
  return best;
}

static bool bytes_eq(const hw_bytes *a, const hw_bytes *b)
{
  return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

bool hw_record_equal(const hw_record *a, const hw_record *b)
{
  if (hw_id_cmp(&a->id, &b->id) || hw_id_cmp(&a->case_id, &b->case_id) ||
      !bytes_eq(&a->kind, &b->kind) || a->schema_version != b->schema_version ||
      hw_vv_compare(&a->vv, &b->vv) != HW_ORDER_EQUAL || a->vv.n != b->vv.n ||
      a->n_writes != b->n_writes || a->n_fields != b->n_fields)
    return false;
  for (size_t i = 0; i < a->n_writes; i++) {
    const hw_write_meta *x = &a->writes[i], *y = &b->writes[i];
    if (hw_dot_cmp(&x->dot, &y->dot) || x->wall_ms != y->wall_ms ||
        !bytes_eq(&x->author, &y->author) || memcmp(x->digest, y->digest, HW_HASH_BYTES))
      return false;
  }
  for (size_t i = 0; i < a->n_fields; i++) {
    const hw_field *x = &a->fields[i], *y = &b->fields[i];
    if (!bytes_eq(&x->name, &y->name) || x->n_pairs != y->n_pairs)
      return false;
    for (uint32_t k = 0; k < x->n_pairs; k++)
      if (x->pairs[k].w != y->pairs[k].w || !bytes_eq(&x->pairs[k].value, &y->pairs[k].value))
        return false;
  }
  return true;
}
