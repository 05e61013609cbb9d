/* The worked examples of docs/data-model.md, plus divergence, dot reuse,
 * display value and the audit classification of each. */
#include <string.h>

#include "check.h"
#include "homeward/crypto.h"
#include "homeward/merge.h"
#include "homeward/value.h"

static hw_id rec_id, case_id, dev_a, dev_b, server;

static hw_bytes text_value(const char *s, uint8_t *buf, size_t cap)
{
  hw_cbor_wr w;
  hw_cbor_wr_init_fixed(&w, buf, cap);
  hw_cbor_wr_text(&w, s, strlen(s));
  CHECK_OK(hw_cbor_wr_finish(&w));
  return (hw_bytes){buf, w.len};
}

/* Write text values: names[i] = values[i]. */
static hw_record *put(const hw_record *base, const hw_id *replica, uint64_t counter, int64_t wall,
                      uint32_t schema, size_t n, const char *const *names,
                      const char *const *values)
{
  hw_field_value fv[8];
  uint8_t buf[8][128];
  hw_record *out = NULL;
  hw_write w = {.dot = {*replica, counter},
                .wall_ms = wall,
                .author = {(const uint8_t *)"amina", 5},
                .schema_version = schema,
                .n_fields = n,
                .fields = fv};

  for (size_t i = 0; i < n; i++) {
    fv[i].name = (hw_bytes){(const uint8_t *)names[i], strlen(names[i])};
    fv[i].value = text_value(values[i], buf[i], sizeof buf[i]);
  }
  CHECK_OK(hw_record_write(&out, base, &w));
  CHECK_OK(hw_record_check(out));
  return out;
}

static hw_record *put1(const hw_record *base, const hw_id *replica, uint64_t counter, int64_t wall,
                       const char *name, const char *value)
{
  return put(base, replica, counter, wall, 2, 1, &name, &value);
}

static int is_text(const hw_bytes *v, const char *s)
{
  uint8_t buf[128];
  hw_bytes want = text_value(s, buf, sizeof buf);
  return v->len == want.len && memcmp(v->p, want.p, want.len) == 0;
}

static const hw_field *field(const hw_record *r, const char *name)
{
  return hw_record_field(r, name, strlen(name));
}

static hw_record *merge_ok(const hw_record *stored, const hw_record *incoming, hw_merge_class want)
{
  hw_merge_info info;
  hw_record *out = NULL;
  CHECK_OK(hw_merge(&out, stored, incoming, &info));
  if (info.cls != want)
    fprintf(stderr, "class %s, want %s\n", hw_merge_class_name(info.cls),
            hw_merge_class_name(want));
  CHECK_EQ(info.cls, want);
  CHECK_OK(hw_record_check(out));
  return out;
}

static hw_record *base_record(void)
{
  hw_record *r = NULL;
  CHECK_OK(hw_record_new(&r, &rec_id, &case_id, "followup", 8, 2));
  return r;
}

/* Example 1: two devices edit different fields: both edits survive. */
static void different_fields(void)
{
  hw_record *e = base_record(), *s0 = put1(e, &dev_a, 1, 1000, "notes", "first visit");
  hw_record *a = put1(s0, &dev_a, 2, 2000, "notes", "mother at home");
  hw_record *b = put1(s0, &dev_b, 1, 2100, "school", "enrolled");
  hw_record *m = merge_ok(a, b, HW_MERGE_MERGED);

  CHECK(field(m, "notes")->n_pairs == 1 &&
        is_text(&field(m, "notes")->pairs[0].value, "mother at home"));
  CHECK(field(m, "school")->n_pairs == 1);
  CHECK_EQ(hw_record_n_conflicts(m), 0);
  CHECK_EQ(m->vv.n, 2);
  hw_record_free(e), hw_record_free(s0), hw_record_free(a), hw_record_free(b), hw_record_free(m);
}

/* Example 2: the same field concurrently: both kept, the latest shown,
 * a conflict raised; a resolution that saw both clears it. */
static void same_field_and_resolution(void)
{
  hw_record *e = base_record(), *s0 = put1(e, &dev_a, 1, 1000, "decision", "continue");
  hw_record *a = put1(s0, &dev_a, 2, 5000, "decision", "increase_support");
  hw_record *b = put1(s0, &dev_b, 1, 4000, "decision", "phase_out");
  hw_record *m = merge_ok(a, b, HW_MERGE_CONFLICT), *m2, *r, *fin, *late;
  const hw_field *f = field(m, "decision");

  CHECK_EQ(f->n_pairs, 2);
  CHECK(is_text(&hw_field_display(m, f)->value, "increase_support")); /* latest wall clock */
  CHECK_EQ(hw_record_n_conflicts(m), 1);
  /* the other order gives the same state */
  m2 = merge_ok(b, a, HW_MERGE_CONFLICT);
  CHECK(hw_record_equal(m, m2));
  /* A coordinator resolves on the server: an ordinary write that saw both. */
  r = put1(m, &server, 1, 6000, "decision", "phase_out");
  CHECK_EQ(field(r, "decision")->n_pairs, 1);
  fin = merge_ok(m, r, HW_MERGE_RESOLVED);
  CHECK(hw_record_equal(fin, r));
  /* Device a, still holding its own edit, receives the resolution. */
  late = merge_ok(a, r, HW_MERGE_FAST_FORWARD);
  CHECK(hw_record_equal(late, r));
  hw_record_free(e), hw_record_free(s0), hw_record_free(a), hw_record_free(b);
  hw_record_free(m), hw_record_free(m2), hw_record_free(r), hw_record_free(fin);
  hw_record_free(late);
}

/* Ties of wall clock are broken by the higher replica id. */
static void display_tie(void)
{
  hw_record *e = base_record();
  hw_record *a = put1(e, &dev_a, 1, 7000, "notes", "from a");
  hw_record *b = put1(e, &dev_b, 1, 7000, "notes", "from b");
  hw_record *m = merge_ok(a, b, HW_MERGE_CONFLICT);
  const char *want = hw_id_cmp(&dev_a, &dev_b) > 0 ? "from a" : "from b";

  CHECK(is_text(&hw_field_display(m, field(m, "notes"))->value, want));
  hw_record_free(e), hw_record_free(a), hw_record_free(b), hw_record_free(m);
}

/* Example 3: a void meets a concurrent edit: voided and disputed until a new
 * void that saw the edit (or an un-void). */
static void void_meets_edit(void)
{
  hw_record *e = base_record(), *s0 = put1(e, &dev_a, 1, 1000, "notes", "duplicate entry");
  hw_write vw = {.dot = {server, 1}, .wall_ms = 2000, .author = {(const uint8_t *)"coord", 5}};
  hw_record *v = NULL, *edit, *m, *v2 = NULL, *fin, *un = NULL;
  hw_void_status vs;

  CHECK_OK(hw_record_void(&v, s0, &vw, "entered twice", 13));
  CHECK_OK(hw_record_void_status(v, &vs));
  CHECK(vs.voided && !vs.disputed);
  edit = put1(s0, &dev_a, 2, 2500, "notes", "added detail");
  m = merge_ok(v, edit, HW_MERGE_CONFLICT);
  CHECK_OK(hw_record_void_status(m, &vs));
  CHECK(vs.voided && vs.disputed);
  /* a replica holding only the void learns of the dispute by fast-forward:
   * still a new conflict for it, not a plain fast-forward */
  {
    hw_record *ff = merge_ok(v, m, HW_MERGE_CONFLICT);
    hw_record_free(ff);
  }
  CHECK_EQ(hw_record_n_conflicts(m), 0); /* the dispute is the void's, not a field's */
  vw.dot.counter = 2;
  CHECK_OK(hw_record_void(&v2, m, &vw, "still a duplicate", 17));
  CHECK_OK(hw_record_void_status(v2, &vs));
  CHECK(vs.voided && !vs.disputed);
  fin = merge_ok(m, v2, HW_MERGE_RESOLVED);
  CHECK(hw_record_equal(fin, v2));
  vw.dot.counter = 3;
  CHECK_OK(hw_record_unvoid(&un, m, &vw));
  CHECK_OK(hw_record_void_status(un, &vs));
  CHECK(!vs.voided && !vs.disputed);
  hw_record_free(e), hw_record_free(s0), hw_record_free(v), hw_record_free(edit);
  hw_record_free(m), hw_record_free(v2), hw_record_free(fin), hw_record_free(un);
}

/* Two concurrent voids dispute each other. */
static void two_voids(void)
{
  hw_record *e = base_record(), *s0 = put1(e, &dev_a, 1, 1000, "notes", "x");
  hw_write wa = {.dot = {dev_a, 2}, .wall_ms = 2000, .author = {(const uint8_t *)"a", 1}};
  hw_write wb = {.dot = {dev_b, 1}, .wall_ms = 2000, .author = {(const uint8_t *)"b", 1}};
  hw_record *va = NULL, *vb = NULL, *m;
  hw_void_status vs;

  CHECK_OK(hw_record_void(&va, s0, &wa, "dup", 3));
  CHECK_OK(hw_record_void(&vb, s0, &wb, "wrong child", 11));
  m = merge_ok(va, vb, HW_MERGE_CONFLICT);
  CHECK_OK(hw_record_void_status(m, &vs));
  CHECK(vs.voided && vs.disputed);
  CHECK_EQ(field(m, HW_FIELD_VOIDED)->n_pairs, 2);
  hw_record_free(e), hw_record_free(s0), hw_record_free(va), hw_record_free(vb), hw_record_free(m);
}

/* Example 4: an old client meets a field of a newer schema: it keeps it byte
 * for byte through its own writes and merges, and the highest schema wins. */
static void old_client_new_field(void)
{
  const char *names[2] = {"notes", "wash_access"}, *values[2] = {"ok", "borehole 200m"};
  hw_record *e = base_record();
  hw_record *n = put(e, &server, 1, 1000, 3, 2, names, values);
  hw_record *old0 = NULL, *old, *edit, *back;

  CHECK_OK(hw_record_new(&old0, &rec_id, &case_id, "followup", 8, 2));
  old = merge_ok(old0, n, HW_MERGE_FAST_FORWARD);
  CHECK_EQ(old->schema_version, 3);
  {
    const char *nn[1] = {"notes"}, *vv[1] = {"seen by the old client"};
    edit = put(old, &dev_a, 1, 2000, 2, 1, nn, vv);
  }
  CHECK_EQ(edit->schema_version, 3);
  CHECK(is_text(&field(edit, "wash_access")->pairs[0].value, "borehole 200m"));
  back = merge_ok(n, edit, HW_MERGE_FAST_FORWARD);
  CHECK(is_text(&field(back, "wash_access")->pairs[0].value, "borehole 200m"));
  hw_record_free(e), hw_record_free(n), hw_record_free(old0), hw_record_free(old);
  hw_record_free(edit), hw_record_free(back);
}

/* Divergences are refused, never merged. */
static void divergence(void)
{
  hw_record *e = base_record(), *a = put1(e, &dev_a, 1, 1000, "notes", "one");
  hw_record *b = put1(e, &dev_a, 1, 1000, "notes", "two"); /* same dot, another write */
  hw_record *other_case = NULL, *other_kind = NULL, *c, *out = (hw_record *)1;
  hw_id case2;

  CHECK_ERR(hw_merge(&out, a, b, NULL), HW_EDIVERGE);
  CHECK_NULL(out);
  memset(case2.b, 0x77, sizeof case2.b);
  CHECK_OK(hw_record_new(&other_case, &rec_id, &case2, "followup", 8, 2));
  c = put1(other_case, &dev_b, 1, 1000, "notes", "x");
  CHECK_ERR(hw_merge(&out, a, c, NULL), HW_EDIVERGE);
  hw_record_free(c);
  CHECK_OK(hw_record_new(&other_kind, &rec_id, &case_id, "casenote", 8, 2));
  c = put1(other_kind, &dev_b, 1, 1000, "notes", "x");
  CHECK_ERR(hw_merge(&out, a, c, NULL), HW_EDIVERGE);
  hw_record_free(c);
  hw_record_free(e), hw_record_free(a), hw_record_free(b);
  hw_record_free(other_case), hw_record_free(other_kind);
}

/* A dot already seen is never written again; duplicates and descendants. */
static void dot_reuse_and_duplicate(void)
{
  hw_record *e = base_record(), *a = put1(e, &dev_a, 5, 1000, "notes", "one"), *out = NULL, *d;
  const char *name = "notes";
  uint8_t buf[32];
  hw_field_value fv = {{(const uint8_t *)name, 5}, text_value("again", buf, sizeof buf)};
  hw_write w = {
      .dot = {dev_a, 5}, .author = {(const uint8_t *)"x", 1}, .n_fields = 1, .fields = &fv};

  CHECK_ERR(hw_record_write(&out, a, &w), HW_EDOTREUSE);
  w.dot.counter = 3;
  CHECK_ERR(hw_record_write(&out, a, &w), HW_EDOTREUSE);
  CHECK_NULL(out);
  d = merge_ok(a, a, HW_MERGE_DUPLICATE);
  CHECK(hw_record_equal(d, a));
  hw_record_free(d);
  d = merge_ok(a, e, HW_MERGE_DUPLICATE); /* stored covers incoming */
  CHECK(hw_record_equal(d, a));
  hw_record_free(d);
  d = merge_ok(NULL, a, HW_MERGE_FAST_FORWARD);
  CHECK(hw_record_equal(d, a));
  hw_record_free(d), hw_record_free(e), hw_record_free(a);
}

/* Bad writes are refused with a clear code and change nothing. */
static void bad_writes(void)
{
  hw_record *e = base_record(), *out = NULL;
  uint8_t good[16], bad[2] = {0x18, 0x05}; /* 5 in a two-byte head: not canonical */
  hw_field_value fv[2] = {{{(const uint8_t *)"a", 1}, text_value("v", good, sizeof good)},
                          {{(const uint8_t *)"a", 1}, text_value("v", good, sizeof good)}};
  hw_write w = {
      .dot = {dev_a, 1}, .author = {(const uint8_t *)"x", 1}, .n_fields = 2, .fields = fv};

  CHECK_ERR(hw_record_write(&out, e, &w), HW_EINVAL); /* repeated name */
  w.n_fields = 0;
  CHECK_ERR(hw_record_write(&out, e, &w), HW_EINVAL);
  w.n_fields = 1;
  fv[0].value = (hw_bytes){bad, 2};
  CHECK_ERR(hw_record_write(&out, e, &w), HW_EINVAL);
  fv[0].value = (hw_bytes){good, 0};
  CHECK_ERR(hw_record_write(&out, e, &w), HW_EINVAL);
  fv[0] = (hw_field_value){{(const uint8_t *)"\xff", 1}, text_value("v", good, sizeof good)};
  CHECK_ERR(hw_record_write(&out, e, &w), HW_EINVAL);
  CHECK_NULL(out);
  CHECK_EQ(e->n_fields, 0);
  hw_record_free(e);
}

/* The classification's precedence (docs/data-model.md, "Audit
 * classification"): a new conflict outranks a resolution; a concurrent merge
 * that leaves an old conflict standing is still a conflict. */
static void classification_rows(void)
{
  const char *n2[2] = {"decision", "notes"};
  const char *v_a[2] = {"continue", "a"}, *v_b[2] = {"phase_out", "b"};
  hw_record *e = base_record();
  hw_record *s0 = put1(e, &dev_a, 1, 1000, "decision", "start");
  hw_record *a = put1(s0, &dev_a, 2, 2000, "decision", "continue");
  hw_record *b = put1(s0, &dev_b, 1, 2000, "decision", "phase_out");
  hw_record *cf = merge_ok(a, b, HW_MERGE_CONFLICT); /* decision in conflict */
  hw_record *both, *res_new, *other, *left;

  /* A server write resolves "decision" and, concurrently with device b's
   * new edit of "notes", creates a new conflict on "notes". */
  both = put(cf, &server, 1, 3000, 2, 2, n2, v_a);
  {
    hw_record *bn = put(cf, &dev_b, 2, 3000, 2, 1, &n2[1], &v_b[1]);
    res_new = merge_ok(bn, both, HW_MERGE_CONFLICT); /* resolved one, new one: conflict */
    CHECK_EQ(field(res_new, "decision")->n_pairs, 1);
    CHECK_EQ(field(res_new, "notes")->n_pairs, 2);
    hw_record_free(bn);
  }
  /* A concurrent edit of another field leaves the old conflict standing. */
  other = put1(s0, &server, 2, 3000, "school", "enrolled");
  left = merge_ok(cf, other, HW_MERGE_CONFLICT);
  CHECK_EQ(hw_record_n_conflicts(left), 1);
  hw_record_free(e), hw_record_free(s0), hw_record_free(a), hw_record_free(b);
  hw_record_free(cf), hw_record_free(both), hw_record_free(res_new), hw_record_free(other);
  hw_record_free(left);
  (void)v_b;
}

int main(void)
{
  CHECK_OK(hw_crypto_init());
  memset(rec_id.b, 1, 16), memset(case_id.b, 2, 16);
  memset(dev_a.b, 0xaa, 16), memset(dev_b.b, 0xbb, 16), memset(server.b, 0x55, 16);
  different_fields();
  same_field_and_resolution();
  display_tie();
  void_meets_edit();
  two_voids();
  old_client_new_field();
  divergence();
  dot_reuse_and_duplicate();
  bad_writes();
  classification_rows();
  puts("merge examples: ok");
  return 0;
}
