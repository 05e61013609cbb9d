/* States a hostile or broken peer could build that still pass the record
 * invariants: the merge must refuse them (HW_EDIVERGE) rather than erase a
 * value, and hw_record_check must refuse what it can see alone. */
#include <string.h>

#include "check.h"
#include "homeward/crypto.h"
#include "homeward/merge.h"
#include "homeward/value.h"

static hw_id rec, cas, dev_a, dev_m;

static hw_record *put1(const hw_record *base, const hw_id *r, uint64_t c, int64_t wall,
                       const char *field, const char *text)
{
  uint8_t v[64];
  hw_cbor_wr w;
  hw_record *out = NULL;
  hw_field_value fv;
  hw_write wr = {.dot = {*r, c},
                 .wall_ms = wall,
                 .author = {(const uint8_t *)"amina", 5},
                 .n_fields = 1,
                 .fields = &fv};
  hw_cbor_wr_init_fixed(&w, v, sizeof v);
  hw_cbor_wr_text(&w, text, strlen(text));
  CHECK_OK(hw_cbor_wr_finish(&w));
  fv = (hw_field_value){{(const uint8_t *)field, strlen(field)}, {v, w.len}};
  CHECK_OK(hw_record_write(&out, base, &wr));
  return out;
}

static hw_record *empty(void)
{
  hw_record *r = NULL;
  CHECK_OK(hw_record_new(&r, &rec, &cas, "followup", 8, 1));
  return r;
}

/* A copy of `src` as parts, to be altered and rebuilt. */
typedef struct parts {
  hw_record p;
  hw_dot vv[8];
  hw_write_meta writes[8];
  hw_field fields[8];
  hw_pair pairs[16];
} parts;

static void to_parts(parts *x, const hw_record *src)
{
  size_t np = 0;
  memset(x, 0, sizeof *x);
  x->p = *src;
  memset(&x->p.arena, 0, sizeof x->p.arena);
  CHECK(src->vv.n <= 8 && src->n_writes <= 8 && src->n_fields <= 8);
  memcpy(x->vv, src->vv.e, src->vv.n * sizeof(hw_dot));
  x->p.vv.e = x->vv;
  memcpy(x->writes, src->writes, src->n_writes * sizeof(hw_write_meta));
  x->p.writes = x->writes;
  for (size_t i = 0; i < src->n_fields; i++) {
    x->fields[i] = src->fields[i];
    CHECK(np + src->fields[i].n_pairs <= 16);
    memcpy(&x->pairs[np], src->fields[i].pairs, src->fields[i].n_pairs * sizeof(hw_pair));
    x->fields[i].pairs = &x->pairs[np];
    np += src->fields[i].n_pairs;
  }
  x->p.fields = x->fields;
}

static hw_record *build(const parts *x)
{
  hw_record *r = NULL;
  CHECK_OK(hw_record_build(&r, &x->p));
  return r;
}

/* The reviewer's case: a state claiming A:1000 without holding A's field
 * must not erase the field, now or after A writes again. */
static void inflated_vv(void)
{
  hw_record *e = empty(), *server = put1(e, &dev_a, 1, 1000, "notes", "A1");
  hw_record *m = put1(e, &dev_m, 1, 1000, "school", "M1"), *hostile, *out = (hw_record *)1;
  parts x;

  to_parts(&x, m);
  /* vv {A:1000, M:1}: sorted by replica id */
  x.vv[0] = (hw_dot){dev_a, 1000};
  x.vv[1] = (hw_dot){dev_m, 1};
  x.p.vv.n = 2;
  hostile = build(&x); /* passes the invariants: nothing local contradicts it */
  CHECK_ERR(hw_merge(&out, server, hostile, NULL), HW_EDIVERGE);
  CHECK_NULL(out);
  CHECK_ERR(hw_merge(&out, hostile, server, NULL), HW_EDIVERGE);
  hw_record_free(e), hw_record_free(server), hw_record_free(m), hw_record_free(hostile);
}

/* One dot naming two writes on different fields; the same digest with
 * another value, time or author. */
static void contradictions(void)
{
  hw_record *e = empty();
  hw_record *a = put1(e, &dev_a, 1, 1000, "notes", "one");
  hw_record *b = put1(e, &dev_a, 1, 1000, "school", "two"), *out = NULL, *t;
  parts x;

  CHECK_ERR(hw_merge(&out, a, b, NULL), HW_EDIVERGE); /* digest differs, other field */
  to_parts(&x, a);
  x.pairs[0].value = b->fields[0].pairs[0].value; /* same digest, another value */
  t = build(&x);
  CHECK_ERR(hw_merge(&out, a, t, NULL), HW_EDIVERGE);
  hw_record_free(t);
  to_parts(&x, a);
  x.writes[0].digest[0] ^= 1; /* same fields and values, another digest */
  t = build(&x);
  CHECK_ERR(hw_merge(&out, a, t, NULL), HW_EDIVERGE);
  hw_record_free(t);
  to_parts(&x, a);
  x.writes[0].wall_ms++; /* same digest, another time */
  t = build(&x);
  CHECK_ERR(hw_merge(&out, a, t, NULL), HW_EDIVERGE);
  hw_record_free(t);
  to_parts(&x, a);
  x.writes[0].author = (hw_bytes){(const uint8_t *)"mallory", 7}; /* another author */
  t = build(&x);
  CHECK_ERR(hw_merge(&out, a, t, NULL), HW_EDIVERGE);
  hw_record_free(t);
  CHECK_NULL(out);
  hw_record_free(e), hw_record_free(a), hw_record_free(b);
}

/* A void whose seen claims more than the state has seen, or not its own dot. */
static void inflated_void(void)
{
  hw_record *e = empty(), *s0 = put1(e, &dev_a, 1, 1000, "notes", "x"), *v = NULL, *t = NULL;
  hw_write vw = {.dot = {dev_m, 1}, .author = {(const uint8_t *)"c", 1}};
  hw_dot big_e[2] = {{dev_a, UINT64_MAX}, {dev_m, 1}};
  hw_vv big = {2, big_e};
  uint8_t buf[200];
  hw_cbor_wr w;
  parts x;
  hw_field_value fv;

  CHECK_OK(hw_record_void(&v, s0, &vw, "dup", 3));
  /* rebuild the void with seen {A: max, M: 1} */
  hw_cbor_wr_init_fixed(&w, buf, sizeof buf);
  hw_value_put_void(&w, "dup", 3, &big);
  CHECK_OK(hw_cbor_wr_finish(&w));
  to_parts(&x, v);
  for (size_t i = 0; i < x.p.n_fields; i++)
    if (x.fields[i].name.len == 6 && memcmp(x.fields[i].name.p, "voided", 6) == 0)
      x.fields[i].pairs[0].value = (hw_bytes){buf, w.len};
  CHECK_ERR(hw_record_build(&t, &x.p), HW_EPROTO);
  /* and through a local write */
  fv = (hw_field_value){{(const uint8_t *)"voided", 6}, {buf, w.len}};
  vw.dot.counter = 2;
  vw.n_fields = 1;
  vw.fields = &fv;
  CHECK_ERR(hw_record_write(&t, s0, &vw), HW_EINVAL);
  CHECK_NULL(t);
  hw_record_free(e), hw_record_free(s0), hw_record_free(v);
}

/* A record first seen with a conflict in it is a conflict here too. */
static void first_seen_conflict(void)
{
  hw_record *e = empty(), *a = put1(e, &dev_a, 1, 1000, "notes", "a");
  hw_record *m = put1(e, &dev_m, 1, 1000, "notes", "m"), *c = NULL, *out = NULL;
  hw_merge_info info;

  CHECK_OK(hw_merge(&c, a, m, NULL));
  CHECK_OK(hw_merge(&out, NULL, c, &info));
  CHECK_EQ(info.cls, HW_MERGE_CONFLICT);
  CHECK_EQ(info.n_new_conflicts, 1);
  hw_record_free(out);
  CHECK_OK(hw_merge(&out, NULL, a, &info));
  CHECK_EQ(info.cls, HW_MERGE_FAST_FORWARD);
  hw_record_free(out);
  hw_record_free(e), hw_record_free(a), hw_record_free(m), hw_record_free(c);
}

int main(void)
{
  CHECK_OK(hw_crypto_init());
  memset(rec.b, 1, 16), memset(cas.b, 2, 16), memset(dev_a.b, 0xaa, 16);
  memset(dev_m.b, 0xbb, 16);
  inflated_vv();
  contradictions();
  inflated_void();
  first_seen_conflict();
  puts("hostile states: ok");
  return 0;
}
