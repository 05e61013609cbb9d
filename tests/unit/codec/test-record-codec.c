/* The canonical record codec (docs/protocol.md §1): round trips of every
 * record kind (plain, conflicted, voided and void-disputed), stable golden
 * bytes, a hostile-input table (each refused with the right error, nothing
 * leaked), every named limit at max and max + 1, and an OOM loop. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "homeward/crypto.h"
#include "homeward/limits.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"
#include "homeward/utf8.h"
#include "homeward/value.h"
#include "samples.h"

/* ---- helpers ---- */

static uint8_t *enc(const hw_record *r, size_t *len)
{
  uint8_t *b = NULL;
  CHECK_OK(hw_record_encode(r, &b, len));
  CHECK_EQ(*len, hw_record_encoded_len(r));
  return b;
}

/* Decode must refuse `buf` with `want`, leave *out NULL, fill the diag and
 * leak nothing. */
static void expect_refused(const uint8_t *buf, size_t len, int want, const char *label)
{
  hw_record *out = (hw_record *)1;
  hw_diag diag;
  long live = hw_test_alloc_live();
  int rc = hw_record_decode(buf, len, &out, &diag);

  if (rc != want)
    fprintf(stderr, "%s: got %s (%s at %zu), want %s\n", label, hw_errname(rc),
            diag.what ? diag.what : "-", diag.offset, hw_errname(want));
  CHECK_ERR(rc, want);
  CHECK_NULL(out);
  CHECK_EQ(diag.code, want);
  CHECK(diag.what != NULL);
  CHECK(diag.offset <= len);
  CHECK_EQ(hw_test_alloc_live(), live);
}

static void expect_ok(const uint8_t *buf, size_t len, const char *label)
{
  hw_record *out = NULL;
  hw_diag diag;
  uint8_t *again;
  size_t again_len;
  int rc = hw_record_decode(buf, len, &out, &diag);

  if (rc)
    fprintf(stderr, "%s: %s (%s at %zu)\n", label, hw_errname(rc), diag.what, diag.offset);
  CHECK_OK(rc);
  CHECK_EQ(diag.code, 0);
  again = enc(out, &again_len);
  CHECK_EQ(again_len, len);
  CHECK(memcmp(again, buf, len) == 0);
  hw_free(again);
  hw_record_free(out);
}

static void roundtrip(const hw_record *r, const char *label)
{
  size_t len, len2;
  uint8_t *b = enc(r, &len), *b2;
  hw_record *d = NULL;
  hw_diag diag;

  CHECK_OK(hw_record_decode(b, len, &d, &diag));
  CHECK(hw_record_equal(r, d));
  b2 = enc(d, &len2);
  CHECK_EQ(len, len2);
  CHECK(memcmp(b, b2, len) == 0);
  /* The reader form consumes exactly the record and leaves what follows. */
  {
    uint8_t *cat = hw_malloc(len + 1);
    hw_cbor_rd rd;
    hw_record *d2 = NULL;
    CHECK(cat != NULL);
    memcpy(cat, b, len);
    cat[len] = 0xf6;
    hw_cbor_rd_init(&rd, cat, len + 1);
    CHECK_OK(hw_record_decode_rd(&rd, &d2, NULL));
    CHECK_EQ(hw_cbor_rd_offset(&rd), len);
    CHECK(hw_record_equal(r, d2));
    hw_record_free(d2);
    /* ... while the whole-buffer form refuses the trailing byte. */
    expect_refused(cat, len + 1, HW_EPROTO, "trailing byte");
    hw_free(cat);
  }
  printf("%-28s %5zu bytes, %zu fields, %zu writes, %zu conflicts\n", label, len, r->n_fields,
         r->n_writes, hw_record_n_conflicts(r));
  hw_free(b);
  hw_free(b2);
  hw_record_free(d);
}

/* ---- round trips ---- */

static void test_roundtrip_every_kind(void)
{
  for (size_t i = 0; i < sample_n_kinds(); i++) {
    size_t n;
    const sample_fv *fv = sample_kind_fields(i, &n);
    hw_record *r = sample_record(sample_kind(i), 5, fv, n);
    hw_record *c = sample_conflicted(i);
    hw_record *v = sample_voided(i);
    char label[64];
    snprintf(label, sizeof label, "%s", sample_kind(i));
    roundtrip(r, label);
    snprintf(label, sizeof label, "%s (conflict)", sample_kind(i));
    roundtrip(c, label);
    snprintf(label, sizeof label, "%s (void-disputed)", sample_kind(i));
    roundtrip(v, label);
    hw_record_free(r);
    hw_record_free(c);
    hw_record_free(v);
  }
  /* An empty state (no writes yet) round-trips too. */
  {
    hw_record *e = NULL;
    CHECK_OK(hw_record_new(&e, &sample_rec_id, &sample_case_id, "case_note", 9, 1));
    roundtrip(e, "empty");
    hw_record_free(e);
  }
}

/* Unknown fields (a newer schema) and values of any canonical shape survive
 * byte for byte. */
static void test_unknown_fields_kept(void)
{
  static const uint8_t nested[] = {0xa2, 0x61, 'a',  0x82, 0x01, 0x20, 0x62, 'b',
                                   'c',  0xd9, 0x03, 0xec, 0x6a, '2',  '0',  '2',
                                   '6',  '-',  '0',  '1',  '-',  '3',  '1'};
  hw_record *base = NULL, *r = NULL, *d = NULL;
  hw_field_value fv[2] = {
      {{(const uint8_t *)"zz_new_v7_field", 15}, {nested, sizeof nested}},
      {{(const uint8_t *)"note", 4}, {(const uint8_t *)"\x62hi", 3}},
  };
  hw_write w = {.dot = {sample_dev_a, 1},
                .author = {(const uint8_t *)"x", 1},
                .schema_version = 7,
                .n_fields = 2,
                .fields = fv};
  size_t len;
  uint8_t *b;
  const hw_field *f;

  CHECK_OK(hw_record_new(&base, &sample_rec_id, &sample_case_id, "case_note", 9, 1));
  CHECK_OK(hw_record_write(&r, base, &w));
  b = enc(r, &len);
  CHECK_OK(hw_record_decode(b, len, &d, NULL));
  f = hw_record_field(d, "zz_new_v7_field", 15);
  CHECK(f != NULL);
  CHECK_EQ(f->pairs[0].value.len, sizeof nested);
  CHECK(memcmp(f->pairs[0].value.p, nested, sizeof nested) == 0);
  CHECK_EQ(d->schema_version, 7);
  hw_free(b);
  hw_record_free(base);
  hw_record_free(r);
  hw_record_free(d);
}

/* hw_record_write_of finds each write still in a state by its dot, and
 * none for a dot it does not hold (one replaced, one never made). */
static void test_write_of(void)
{
  static const char *const names[] = {"a_field", "b_field", "c_field"};
  const hw_id *reps[] = {&sample_dev_b, &sample_dev_a, &sample_dev_b};
  const uint64_t counters[] = {5, 2, 9};
  hw_record *r = NULL;

  CHECK_OK(hw_record_new(&r, &sample_rec_id, &sample_case_id, "case_note", 9, 1));
  for (int i = 0; i < 3; i++) {
    hw_field_value fv = {{(const uint8_t *)names[i], strlen(names[i])},
                         {(const uint8_t *)"\x61x", 2}};
    hw_write w = {.dot = {*reps[i], counters[i]},
                  .author = {(const uint8_t *)"x", 1},
                  .schema_version = 1,
                  .n_fields = 1,
                  .fields = &fv};
    hw_record *next = NULL;
    CHECK_OK(hw_record_write(&next, r, &w));
    hw_record_free(r);
    r = next;
  }
  for (int i = 0; i < 3; i++) {
    hw_dot d = {*reps[i], counters[i]};
    const hw_write_meta *m = hw_record_write_of(r, &d);
    CHECK(m != NULL && hw_dot_cmp(&m->dot, &d) == 0);
  }
  CHECK(hw_record_write_of(r, &(hw_dot){sample_dev_b, 6}) == NULL);
  CHECK(hw_record_write_of(r, &(hw_dot){sample_dev_a, 1}) == NULL);
  hw_record_free(r);
}

/* The canonical bytes of one small state, fixed forever: if this changes,
 * every stored state and hash changes. docs/protocol.md §1.4 shows it. */
static const char golden_hex[] = "88015052454301102030405060708090a0b0c069636173655f6e6f7465504341"
                                 "53450102030405060708090a0b0c018182500a11111111111111111111111111"
                                 "1111038185500a111111111111111111111111111111031b0000019b76dab3b8"
                                 "67616d696e612e6b58209e6bf2bf7219dc9b468c4275cfc8279b3d0417f1b6fb"
                                 "7bf8d3867c05489aff44a3646e6f746582007250686f6e656420746865206d6f"
                                 "746865722e686465636973696f6e8200696e6f5f616374696f6e696e6f74655f"
                                 "646174658200d903ec6a323032362d30322d3230";

static void hex(char *out, const uint8_t *b, size_t n)
{
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", b[i]);
}

static void test_golden(void)
{
  static const sample_fv note[] = {
      {"note_date", 'd', "2026-02-20"},
      {"note", 't', "Phoned the mother."},
      {"decision", 'e', "no_action"},
  };
  hw_record *r = sample_record("case_note", 3, note, 3);
  size_t len;
  uint8_t *b = enc(r, &len), *b2;
  char *h = malloc(2 * len + 1), *h2;
  hw_record *d = NULL;

  CHECK(h != NULL);
  hex(h, b, len);
  printf("golden case_note (%zu bytes): %s\n", len, h);
  /* Fixed ids, wall clock, author and values, and a write digest that is
   * BLAKE2b of those: every byte is determined. */
  CHECK(strcmp(h, golden_hex) == 0);
  /* Stable across runs and processes: the full vector is checked below. */
  CHECK_OK(hw_record_decode(b, len, &d, NULL));
  b2 = enc(d, &len);
  h2 = malloc(2 * len + 1);
  CHECK(h2 != NULL);
  hex(h2, b2, len);
  CHECK(strcmp(h, h2) == 0);
  free(h);
  free(h2);
  hw_free(b);
  hw_free(b2);
  hw_record_free(r);
  hw_record_free(d);
}

/* ---- a generator of arbitrary (also invalid) parts ---- */

typedef struct gen {
  hw_record p;
  hw_dot vv[HW_VV_MAX + 2];
  hw_write_meta writes[HW_WRITES_MAX + 2];
  hw_field fields[HW_FIELDS_MAX + 2];
  hw_pair pairs[HW_WRITES_MAX + HW_FIELDS_MAX + 64];
  char names[HW_FIELDS_MAX + 2][8];
  uint8_t value[HW_VALUE_MAX + 64];
  size_t value_len;
  char longname[HW_FIELD_NAME_MAX + HW_KIND_MAX + HW_AUTHOR_MAX + 8];
} gen;

static gen G;

/* n_writes writes on one replica (counters 1..n), vv holding that replica
 * plus (n_vv - 1) others; n_fields fields of `ppf` pairs; pair k of field j
 * refers to write (j * ppf + k) % n_writes. Every value is G.value. */
static void gen_make(size_t n_vv, size_t n_writes, size_t n_fields, size_t ppf)
{
  hw_record *p = &G.p;

  memset(p, 0, sizeof *p);
  p->id = sample_rec_id;
  p->case_id = sample_case_id;
  p->kind = (hw_bytes){(const uint8_t *)"followup", 8};
  p->schema_version = 1;
  for (size_t i = 0; i < n_vv; i++) {
    memset(&G.vv[i], 0, sizeof G.vv[i]);
    G.vv[i].replica.b[0] = (uint8_t)((i + 1) >> 8); /* big-endian: memcmp order */
    G.vv[i].replica.b[1] = (uint8_t)(i + 1);
    G.vv[i].counter = i == 0 ? (n_writes ? n_writes : 1) : 1;
  }
  p->vv = (hw_vv){n_vv, G.vv};
  for (size_t i = 0; i < n_writes; i++) {
    memset(&G.writes[i], 0, sizeof G.writes[i]);
    G.writes[i].dot = G.vv[0];
    G.writes[i].dot.counter = i + 1;
    G.writes[i].wall_ms = 1767225600000;
    G.writes[i].author = (hw_bytes){(const uint8_t *)"w", 1};
    G.writes[i].digest[0] = (uint8_t)i;
  }
  p->n_writes = n_writes;
  p->writes = G.writes;
  if (G.value_len == 0) {
    G.value[0] = 0x03;
    G.value_len = 1;
  }
  size_t np = 0;
  for (size_t j = 0; j < n_fields; j++) {
    /* j < HW_FIELDS_MAX + 2 */
    snprintf(G.names[j], sizeof G.names[j], "f%04u", (unsigned)(j % 10000));
    G.fields[j].name = (hw_bytes){(const uint8_t *)G.names[j], 5};
    G.fields[j].n_pairs = (uint32_t)ppf;
    G.fields[j].pairs = &G.pairs[np];
    for (size_t k = 0; k < ppf; k++) {
      G.pairs[np].w = (uint32_t)((j * ppf + k) % (n_writes ? n_writes : 1));
      G.pairs[np].value = (hw_bytes){G.value, G.value_len};
      np++;
    }
  }
  p->n_fields = n_fields;
  p->fields = G.fields;
}

static void gen_default(void)
{
  G.value_len = 0;
  gen_make(1, 2, 2, 1);
}

/* Encode G.p without the model's checks (so invalid parts can be written). */
static uint8_t *gen_encode(size_t *len)
{
  hw_cbor_wr w;
  uint8_t *b;

  hw_cbor_wr_init(&w, SIZE_MAX);
  hw_record_encode_wr(&w, &G.p);
  CHECK_OK(hw_cbor_wr_finish(&w));
  b = hw_cbor_wr_take(&w, len);
  CHECK(b != NULL);
  return b;
}

static void gen_expect(int want, const char *label)
{
  size_t len;
  uint8_t *b = gen_encode(&len);
  if (want == 0)
    expect_ok(b, len, label);
  else
    expect_refused(b, len, want, label);
  hw_free(b);
}

/* A text value of exactly `len` encoded bytes. */
static void set_value_len(size_t len)
{
  hw_cbor_wr w;
  size_t body = len - 3; /* 3-byte head for 256..65535 */
  CHECK(len >= 259 && len < 65536);
  memset(G.value + 3, 'x', body);
  hw_cbor_wr_init_fixed(&w, G.value, sizeof G.value);
  hw_cbor_wr_text(&w, G.value + 3, body);
  CHECK_OK(hw_cbor_wr_finish(&w));
  CHECK_EQ(w.len, len);
  G.value_len = len;
}

static void set_value_depth(unsigned depth)
{
  for (unsigned i = 0; i < depth; i++)
    G.value[i] = 0x81;
  G.value[depth] = 0x00;
  G.value_len = depth + 1;
}

/* ---- named limits at max and max + 1 ---- */

static void test_limits(void)
{
  char *s = G.longname;

  memset(s, 'k', sizeof G.longname);
  /* HW_KIND_MAX */
  gen_default();
  G.p.kind = (hw_bytes){(const uint8_t *)s, HW_KIND_MAX};
  gen_expect(0, "kind at HW_KIND_MAX");
  G.p.kind.len++;
  gen_expect(HW_ELIMIT, "kind at HW_KIND_MAX + 1");
  /* HW_AUTHOR_MAX */
  gen_default();
  G.writes[1].author = (hw_bytes){(const uint8_t *)s, HW_AUTHOR_MAX};
  gen_expect(0, "author at HW_AUTHOR_MAX");
  G.writes[1].author.len++;
  gen_expect(HW_ELIMIT, "author at HW_AUTHOR_MAX + 1");
  /* HW_FIELD_NAME_MAX (a long name sorts after the short ones) */
  gen_default();
  G.fields[1].name = (hw_bytes){(const uint8_t *)s, HW_FIELD_NAME_MAX};
  gen_expect(0, "field name at HW_FIELD_NAME_MAX");
  G.fields[1].name.len++;
  gen_expect(HW_ELIMIT, "field name at HW_FIELD_NAME_MAX + 1");
  /* HW_VALUE_MAX */
  set_value_len(HW_VALUE_MAX);
  gen_make(1, 2, 2, 1);
  gen_expect(0, "value at HW_VALUE_MAX");
  set_value_len(HW_VALUE_MAX + 1);
  gen_make(1, 2, 2, 1);
  gen_expect(HW_ELIMIT, "value at HW_VALUE_MAX + 1");
  /* HW_VALUE_DEPTH_MAX */
  set_value_depth(HW_VALUE_DEPTH_MAX);
  gen_make(1, 2, 2, 1);
  gen_expect(0, "value depth at HW_VALUE_DEPTH_MAX");
  set_value_depth(HW_VALUE_DEPTH_MAX + 1);
  gen_make(1, 2, 2, 1);
  gen_expect(HW_ELIMIT, "value depth at HW_VALUE_DEPTH_MAX + 1");
  set_value_depth(200);
  gen_make(1, 2, 2, 1);
  gen_expect(HW_ELIMIT, "value depth 200");
  /* HW_VV_MAX */
  G.value_len = 0;
  gen_make(HW_VV_MAX, 2, 2, 1);
  gen_expect(0, "vv at HW_VV_MAX");
  gen_make(HW_VV_MAX + 1, 2, 2, 1);
  gen_expect(HW_ELIMIT, "vv at HW_VV_MAX + 1");
  /* HW_FIELDS_MAX */
  gen_make(1, 1, HW_FIELDS_MAX, 1);
  gen_expect(0, "fields at HW_FIELDS_MAX");
  gen_make(1, 1, HW_FIELDS_MAX + 1, 1);
  gen_expect(HW_ELIMIT, "fields at HW_FIELDS_MAX + 1");
  /* HW_PAIRS_MAX */
  gen_make(1, HW_PAIRS_MAX, 1, HW_PAIRS_MAX);
  gen_expect(0, "pairs at HW_PAIRS_MAX");
  gen_make(1, HW_PAIRS_MAX + 1, 1, HW_PAIRS_MAX + 1);
  gen_expect(HW_ELIMIT, "pairs at HW_PAIRS_MAX + 1");
  /* HW_WRITES_MAX (every write used: 16 fields of 32 pairs) */
  gen_make(1, HW_WRITES_MAX, HW_WRITES_MAX / HW_PAIRS_MAX, HW_PAIRS_MAX);
  gen_expect(0, "writes at HW_WRITES_MAX");
  gen_make(1, HW_WRITES_MAX + 1, HW_WRITES_MAX / HW_PAIRS_MAX + 1, HW_PAIRS_MAX);
  gen_expect(HW_ELIMIT, "writes at HW_WRITES_MAX + 1");
  /* HW_RECORD_MAX: fields of large values, the last one sized so the whole
   * encoding is exactly the limit, then one byte more. */
  {
    size_t per, n_fields, len;
    uint8_t *b;
    set_value_len(HW_VALUE_MAX);
    gen_make(1, 1, 1, 1);
    per = hw_record_encoded_len(&G.p);
    n_fields = HW_RECORD_MAX / (per - 60) + 1;
    gen_make(1, 1, n_fields, 1);
    len = hw_record_encoded_len(&G.p);
    CHECK(len > HW_RECORD_MAX);
    /* Shrink the last value (a copy in G.value's tail room is not needed:
     * all pairs share G.value, so point the last one at a shorter prefix
     * re-headed below). */
    {
      static uint8_t last[HW_VALUE_MAX + 8];
      size_t excess = len - HW_RECORD_MAX, want = HW_VALUE_MAX - excess;
      hw_cbor_wr w;
      CHECK(want >= 259);
      memset(last + 3, 'y', want - 3);
      hw_cbor_wr_init_fixed(&w, last, sizeof last);
      hw_cbor_wr_text(&w, last + 3, want - 3);
      CHECK_OK(hw_cbor_wr_finish(&w));
      G.fields[n_fields - 1].pairs[0].value = (hw_bytes){last, w.len};
      CHECK_EQ(hw_record_encoded_len(&G.p), HW_RECORD_MAX);
      gen_expect(0, "record at HW_RECORD_MAX");
      memset(last + 3, 'y', want - 2);
      hw_cbor_wr_init_fixed(&w, last, sizeof last);
      hw_cbor_wr_text(&w, last + 3, want - 2);
      CHECK_OK(hw_cbor_wr_finish(&w));
      G.fields[n_fields - 1].pairs[0].value = (hw_bytes){last, w.len};
      CHECK_EQ(hw_record_encoded_len(&G.p), HW_RECORD_MAX + 1);
      gen_expect(HW_ELIMIT, "record at HW_RECORD_MAX + 1");
      /* The reader form applies the limit to the record's own bytes. */
      b = gen_encode(&len);
      {
        hw_cbor_rd rd;
        hw_record *out = (hw_record *)1;
        hw_cbor_rd_init(&rd, b, len);
        CHECK_ERR(hw_record_decode_rd(&rd, &out, NULL), HW_ELIMIT);
        CHECK_NULL(out);
        CHECK_EQ(hw_cbor_rd_offset(&rd), 0);
      }
      hw_free(b);
      /* The encoder refuses to make it. */
      {
        uint8_t *o = (uint8_t *)1;
        size_t ol = 1;
        CHECK_ERR(hw_record_encode(&G.p, &o, &ol), HW_ELIMIT);
        CHECK_NULL(o);
        CHECK_EQ(ol, 0);
      }
    }
  }
}

/* ---- hostile inputs ---- */

static void test_truncated_every_byte(void)
{
  hw_record *recs[3] = {sample_followup(), sample_conflicted(0), sample_voided(5)};

  for (size_t k = 0; k < 3; k++) {
    size_t len;
    uint8_t *b = enc(recs[k], &len);
    for (size_t cut = 0; cut < len; cut++) {
      /* A fresh allocation of exactly `cut` bytes, so ASan sees any overread. */
      uint8_t *t = hw_malloc(cut ? cut : 1);
      CHECK(t != NULL);
      memcpy(t, b, cut);
      expect_refused(t, cut, HW_EPROTO, "truncated");
      hw_free(t);
    }
    hw_free(b);
    hw_record_free(recs[k]);
  }
}

typedef struct raw_case {
  const char *label;
  int want;
  size_t len;
  uint8_t b[96];
} raw_case;

#define ID16 0x50, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
#define RID16 0x50, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9
#define DIG32                                                                                      \
  0x58, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,   \
      24, 25, 26, 27, 28, 29, 30, 31, 32

/* Hand-written byte strings: each a small variation of one valid state
 * ["note" field written once]. */
static const raw_case raw_cases[] = {
    {"valid", 0, 0, {0}},
    {"empty input", HW_EPROTO, 0, {0}},
    {"not an array", HW_EPROTO, 1, {0xa0}},
    {"array of 7", HW_EPROTO, 1, {0x87}},
    {"array of 9", HW_EPROTO, 1, {0x89}},
    {"indefinite array", HW_EPROTO, 2, {0x9f, 0x01}},
    {"format 2", HW_EVERSION, 2, {0x88, 0x02}},
    {"format non-canonical", HW_EPROTO, 3, {0x88, 0x18, 0x01}},
    {"format as text", HW_EPROTO, 3, {0x88, 0x61, '1'}},
    {"id of 15 bytes",
     HW_EPROTO,
     18,
     {0x88, 0x01, 0x4f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
    {"id as text",
     HW_EPROTO,
     19,
     {0x88, 0x01, 0x70, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
      'a'}},
    {"kind empty", HW_EPROTO, 20, {0x88, 0x01, ID16, 0x60}},
    {"kind invalid UTF-8", HW_EPROTO, 22, {0x88, 0x01, ID16, 0x62, 0xc3, 0x28}},
    {"kind as bytes", HW_EPROTO, 22, {0x88, 0x01, ID16, 0x42, 'a', 'b'}},
    {"huge text length",
     HW_EPROTO,
     28,
     {0x88, 0x01, ID16, 0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
    {"huge array count", HW_EPROTO, 9, {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
    {"float", HW_EPROTO, 3, {0x88, 0xf9, 0x3c}},
    {"undefined", HW_EPROTO, 2, {0x88, 0xf7}},
    {"reserved head", HW_EPROTO, 2, {0x88, 0x1c}},
};

/* The valid state the table varies: one write of "note" = "hi". */
static size_t valid_state(uint8_t *b)
{
  static const uint8_t head[] = {0x88,
                                 0x01,
                                 ID16,
                                 0x69,
                                 'c',
                                 'a',
                                 's',
                                 'e',
                                 '_',
                                 'n',
                                 'o',
                                 't',
                                 'e',
                                 ID16,
                                 0x01,
                                 /* vv */ 0x81,
                                 0x82,
                                 RID16,
                                 0x03,
                                 /* writes */ 0x81,
                                 0x85,
                                 RID16,
                                 0x03,
                                 0x00,
                                 0x61,
                                 'w',
                                 DIG32,
                                 /* fields */ 0xa1,
                                 0x64,
                                 'n',
                                 'o',
                                 't',
                                 'e',
                                 0x82,
                                 0x00,
                                 0x62,
                                 'h',
                                 'i'};
  memcpy(b, head, sizeof head);
  return sizeof head;
}

/* Byte-level edits of the valid state, each naming the rule it breaks. */
typedef struct edit_case {
  const char *label;
  int want;
  const char *find; /* hex of bytes to find in the valid state */
  const char *repl; /* hex of the replacement */
} edit_case;

static const edit_case edits[] = {
    {"schema_version above 2^32-1", HW_EPROTO, "100181", "101b000000010000000081"},
    {"schema_version as negint", HW_EPROTO, "100181", "102081"},
    {"vv counter zero", HW_EPROTO, "0903818550", "0900818550"},
    {"vv not an array", HW_EPROTO, "1001818250", "1001a18250"},
    {"vv entry of 3", HW_EPROTO, "1001818250", "1001818350"},
    {"write counter zero", HW_EPROTO, "0903006177", "0900006177"},
    {"write not seen by vv", HW_EPROTO, "0903006177", "0904006177"},
    {"wall_ms as text", HW_EPROTO, "0903006177", "0903616177"},
    {"author empty", HW_EPROTO, "03006177", "030060"},
    {"author invalid UTF-8", HW_EPROTO, "03006177", "030061ff"},
    {"digest of 31 bytes", HW_EPROTO, "58200102", "581f02"},
    {"writes entry of 4", HW_EPROTO, "81855009", "81845009"},
    {"fields not a map", HW_EPROTO, "a1646e6f7465", "81646e6f7465"},
    {"field name as bytes", HW_EPROTO, "a1646e6f7465", "a1446e6f7465"},
    {"field name invalid UTF-8", HW_EPROTO, "a1646e6f7465", "a1646e6fff65"},
    {"field without pairs", HW_EPROTO, "6e6f7465820062", "6e6f746580"},
    {"pairs of odd length", HW_EPROTO, "6e6f7465820062", "6e6f7465830062"},
    {"pairs as a map", HW_EPROTO, "6e6f7465820062", "6e6f7465a10062"},
    {"pair nested as before", HW_EPROTO, "6e6f7465820062", "6e6f746581820062"},
    {"write index out of range", HW_EPROTO, "6e6f7465820062", "6e6f7465820162"},
    {"write index negative", HW_EPROTO, "6e6f7465820062", "6e6f7465822062"},
    {"value invalid UTF-8", HW_EPROTO, "6268 69", "62ff69"},
    {"value indefinite text", HW_EPROTO, "626869", "7f6268 69ff"},
    {"value non-canonical uint", HW_EPROTO, "626869", "1800"},
    {"value float", HW_EPROTO, "626869", "f93c00"},
    {"value map keys unsorted", HW_EPROTO, "626869", "a2616201616100"},
    {"value map key repeated", HW_EPROTO, "626869", "a2616101616100"},
    {"value huge map count", HW_EPROTO, "626869", "bbffffffffffffffff"},
    {"void value malformed", HW_EPROTO, "646e6f7465", "66766f69646564"},
};

static int unhex(const char *h, uint8_t *out)
{
  int n = 0;
  while (*h) {
    unsigned v;
    if (*h == ' ') {
      h++;
      continue;
    }
    CHECK(sscanf(h, "%2x", &v) == 1);
    out[n++] = (uint8_t)v;
    h += 2;
  }
  return n;
}

static void test_raw_table(void)
{
  uint8_t valid[256];
  size_t vlen = valid_state(valid);

  expect_ok(valid, vlen, "valid hand-written state");
  for (size_t i = 1; i < sizeof raw_cases / sizeof raw_cases[0]; i++) {
    /* Follow each prefix with the valid state's tail so the failure is the
     * one the case plants, not a truncation. */
    uint8_t buf[512];
    size_t n = raw_cases[i].len;
    memcpy(buf, raw_cases[i].b, n);
    if (n > 0) {
      memcpy(buf + n, valid + n, vlen > n ? vlen - n : 0);
      n = vlen > n ? vlen : n;
    }
    expect_refused(buf, n, raw_cases[i].want, raw_cases[i].label);
  }
  for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
    uint8_t find[64], repl[64], buf[512];
    int fl, rl;
    size_t at = SIZE_MAX;
    if (!edits[i].repl)
      continue;
    fl = unhex(edits[i].find, find);
    rl = unhex(edits[i].repl, repl);
    for (size_t k = 0; k + (size_t)fl <= vlen; k++)
      if (memcmp(valid + k, find, (size_t)fl) == 0) {
        at = k;
        break;
      }
    if (at == SIZE_MAX)
      fprintf(stderr, "edit '%s': pattern not found\n", edits[i].label);
    CHECK(at != SIZE_MAX);
    memcpy(buf, valid, at);
    memcpy(buf + at, repl, (size_t)rl);
    memcpy(buf + at + rl, valid + at + fl, vlen - at - (size_t)fl);
    expect_refused(buf, vlen - (size_t)fl + (size_t)rl, edits[i].want, edits[i].label);
  }
}

/* Order and uniqueness of entries, and the model's invariants. */
static void test_order_and_invariants(void)
{
  hw_dot d;
  hw_field f;

  gen_default();
  gen_make(2, 2, 2, 1);
  gen_expect(0, "two vv entries");
  d = G.vv[0];
  G.vv[0] = G.vv[1];
  G.vv[1] = d;
  gen_expect(HW_EPROTO, "vv unsorted");
  gen_make(2, 2, 2, 1);
  G.vv[1].replica = G.vv[0].replica;
  gen_expect(HW_EPROTO, "vv replica repeated");
  gen_make(1, 2, 2, 1);
  d = G.writes[0].dot;
  G.writes[0].dot = G.writes[1].dot;
  G.writes[1].dot = d;
  gen_expect(HW_EPROTO, "writes unsorted");
  gen_make(1, 2, 2, 1);
  G.writes[1].dot = G.writes[0].dot;
  gen_expect(HW_EPROTO, "write repeated");
  gen_make(1, 2, 2, 1);
  f = G.fields[0];
  G.fields[0] = G.fields[1];
  G.fields[1] = f;
  gen_expect(HW_EPROTO, "field names unsorted");
  gen_make(1, 2, 2, 1);
  G.fields[1].name = G.fields[0].name;
  gen_expect(HW_EPROTO, "duplicate field name (map key)");
  gen_make(1, 2, 1, 2);
  G.fields[0].pairs[1].w = 0;
  gen_expect(HW_EPROTO, "pair repeated");
  gen_make(1, 3, 2, 1);
  gen_expect(HW_EPROTO, "a write no pair uses");
  gen_make(1, 2, 2, 1);
  G.fields[0].n_pairs = 0;
  gen_expect(HW_EPROTO, "field with no pairs");
  gen_make(1, 2, 2, 1);
  G.p.schema_version = UINT32_MAX;
  gen_expect(0, "schema_version 2^32-1");
}

/* ---- version vectors ---- */

static void test_vv_codec(void)
{
  hw_dot e[3] = {{sample_dev_a, 4}, {sample_dev_b, 1}, {sample_server, (uint64_t)1 << 40}};
  hw_vv vv = {3, e}, back;
  hw_dot buf[HW_VV_MAX];
  uint8_t *b;
  size_t len;
  hw_diag diag;

  CHECK_OK(hw_vv_encode(&vv, &b, &len));
  CHECK_OK(hw_vv_decode(b, len, buf, &back, &diag));
  CHECK_EQ(back.n, 3);
  CHECK_EQ(hw_vv_compare(&vv, &back), HW_ORDER_EQUAL);
  for (size_t cut = 0; cut < len; cut++)
    CHECK_ERR(hw_vv_decode(b, cut, buf, &back, NULL), HW_EPROTO);
  hw_free(b);
  /* Empty vv. */
  vv.n = 0;
  CHECK_OK(hw_vv_encode(&vv, &b, &len));
  CHECK_EQ(len, 1);
  CHECK_OK(hw_vv_decode(b, len, buf, &back, NULL));
  CHECK_EQ(back.n, 0);
  hw_free(b);
  /* HW_VV_MAX and one more; unsorted. */
  gen_make(HW_VV_MAX + 1, 1, 1, 1);
  for (size_t n = HW_VV_MAX; n <= HW_VV_MAX + 1; n++) {
    hw_cbor_wr w;
    hw_vv v = {n, G.vv};
    hw_cbor_wr_init(&w, 1u << 16);
    hw_vv_encode_wr(&w, &v);
    CHECK_OK(hw_cbor_wr_finish(&w));
    CHECK_ERR(hw_vv_decode(w.buf, w.len, buf, &back, &diag), n > HW_VV_MAX ? HW_ELIMIT : 0);
    hw_cbor_wr_close(&w);
  }
  {
    hw_cbor_wr w;
    hw_vv v = {2, e};
    hw_dot s = e[0];
    e[0] = e[1];
    e[1] = s;
    hw_cbor_wr_init(&w, 1024);
    hw_vv_encode_wr(&w, &v);
    CHECK_OK(hw_cbor_wr_finish(&w));
    CHECK_ERR(hw_vv_decode(w.buf, w.len, buf, &back, &diag), HW_EPROTO);
    CHECK(diag.what != NULL);
    hw_cbor_wr_close(&w);
  }
}

/* ---- UTF-8 (the decoder's hot path has an 8-byte ASCII fast path) ---- */

static void test_utf8(void)
{
  static const struct {
    const char *b;
    size_t len;
    bool ok;
  } seqs[] = {
      {"\xc3\xa9", 2, true},
      {"\xe2\x82\xac", 3, true},
      {"\xf0\x9f\x98\x80", 4, true},
      {"\xff", 1, false},
      {"\x80", 1, false},
      {"\xc0\x80", 2, false},
      {"\xed\xa0\x80", 3, false},
      {"\xf4\x90\x80\x80", 4, false},
      {"\xe2\x82", 2, false},
      {"\xc3", 1, false},
  };
  uint8_t buf[64];

  /* Each sequence at every offset inside ASCII of every length up to 40,
   * so it lands inside, across and after the 8-byte blocks. */
  for (size_t k = 0; k < sizeof seqs / sizeof seqs[0]; k++)
    for (size_t total = seqs[k].len; total <= 40; total++)
      for (size_t at = 0; at + seqs[k].len <= total; at++) {
        memset(buf, 'a', total);
        memcpy(buf + at, seqs[k].b, seqs[k].len);
        CHECK_EQ(hw_utf8_valid(buf, total), seqs[k].ok);
      }
  memset(buf, 'a', sizeof buf);
  CHECK(hw_utf8_valid(buf, sizeof buf));
  CHECK(hw_utf8_valid(buf, 0));
  buf[63] = 0x80;
  CHECK(!hw_utf8_valid(buf, 64));
}

/* ---- OOM ---- */

static void test_oom(void)
{
  hw_record *r = sample_conflicted(5);
  size_t len;
  uint8_t *b = enc(r, &len);
  long n;

  for (n = 0;; n++) {
    hw_record *out = (hw_record *)1;
    long live;
    int rc;
    hw_test_fail_alloc_after(-1);
    live = hw_test_alloc_live();
    hw_test_fail_alloc_after(n);
    rc = hw_record_decode(b, len, &out, NULL);
    hw_test_fail_alloc_after(-1);
    if (rc == 0) {
      CHECK(hw_record_equal(out, r));
      hw_record_free(out);
      CHECK_EQ(hw_test_alloc_live(), live);
      break;
    }
    CHECK_ERR(rc, HW_ENOMEM);
    CHECK_NULL(out);
    CHECK_EQ(hw_test_alloc_live(), live);
  }
  printf("decode: failed cleanly at each of the first %ld allocations\n", n);
  /* A state big enough for the parts to spill out of the stack buffer. */
  G.value_len = 0;
  gen_make(1, HW_WRITES_MAX, HW_WRITES_MAX / HW_PAIRS_MAX, HW_PAIRS_MAX);
  {
    size_t glen;
    uint8_t *g = gen_encode(&glen);
    for (n = 0;; n++) {
      hw_record *out = (hw_record *)1;
      int rc;
      long live = hw_test_alloc_live();
      hw_test_fail_alloc_after(n);
      rc = hw_record_decode(g, glen, &out, NULL);
      hw_test_fail_alloc_after(-1);
      if (rc == 0) {
        hw_record_free(out);
        break;
      }
      CHECK_ERR(rc, HW_ENOMEM);
      CHECK_NULL(out);
      CHECK_EQ(hw_test_alloc_live(), live);
    }
    printf("decode (512 writes): failed cleanly at each of the first %ld allocations\n", n);
    hw_free(g);
  }
  for (n = 0;; n++) {
    uint8_t *o = (uint8_t *)1;
    size_t ol = 1;
    int rc;
    hw_test_fail_alloc_after(n);
    rc = hw_record_encode(r, &o, &ol);
    hw_test_fail_alloc_after(-1);
    if (rc == 0) {
      hw_free(o);
      break;
    }
    CHECK_ERR(rc, HW_ENOMEM);
    CHECK_NULL(o);
  }
  hw_free(b);
  hw_record_free(r);
}

int main(void)
{
  CHECK_OK(hw_crypto_init());
  hw_test_fail_alloc_after(-1); /* install the counting allocator */
  test_roundtrip_every_kind();
  test_unknown_fields_kept();
  test_write_of();
  test_golden();
  test_limits();
  test_truncated_every_byte();
  test_raw_table();
  test_order_and_invariants();
  test_vv_codec();
  test_utf8();
  test_oom();
  printf("record codec: ok\n");
  return 0;
}
