/* Merge throughput on ~1 KB records shaped like a follow-up visit: about 25
 * fields (dates, texts, 12 CSI scores, enums), made by real writes. Three
 * cases: without conflicts (concurrent edits of different fields), with
 * conflicts (the same fields edited on both sides), and a fast-forward.
 * Prints JSON lines. HW_BENCH_SECONDS sets the time per case (default 1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "homeward/crypto.h"
#include "homeward/merge.h"
#include "homeward/value.h"

static const char *const csi[12] = {
    "csi_food_security",      "csi_nutrition_growth", "csi_shelter",     "csi_care",
    "csi_abuse_exploitation", "csi_legal_protection", "csi_wellness",    "csi_health_services",
    "csi_emotional_health",   "csi_social_behaviour", "csi_performance", "csi_education_work",
};

static hw_id rid, cid, dev, srv, dev2;

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One write of the whole visit form (about 1 KB encoded). */
static hw_record *visit(const hw_record *base, const hw_id *r, uint64_t c, int variant)
{
  hw_field_value fv[26];
  uint8_t buf[26][200];
  size_t n = 0;
  hw_record *out = NULL;
  char text[190];
  hw_cbor_wr w;
  hw_date d = {2026, 3, 1 + variant % 28};

#define FIELD(name_)                                                                               \
  fv[n].name = (hw_bytes){(const uint8_t *)(name_), strlen(name_)};                                \
  hw_cbor_wr_init_fixed(&w, buf[n], sizeof buf[n])
#define DONE()                                                                                     \
  CHECK_OK(hw_cbor_wr_finish(&w));                                                                 \
  fv[n].value = (hw_bytes){buf[n], w.len};                                                         \
  n++

  for (int i = 0; i < 12; i++) {
    FIELD(csi[i]);
    hw_cbor_wr_uint(&w, (uint64_t)(1 + (i + variant) % 4));
    DONE();
  }
  FIELD("visit_date");
  hw_value_put_date(&w, &d);
  DONE();
  FIELD("next_visit_due");
  d.month = 6;
  hw_value_put_date(&w, &d);
  DONE();
  FIELD("visit_type");
  hw_cbor_wr_text(&w, "home", 4);
  DONE();
  FIELD("decision");
  hw_cbor_wr_text(&w, variant & 1 ? "continue" : "increase_support", variant & 1 ? 8 : 16);
  DONE();
  {
    static const char *const names[] = {
        "services_provided",   "significant_events", "child_voice",  "caregiver_view",
        "worker_observations", "safety_concerns",    "school_notes", "health_notes",
        "household_changes",   "support_plan"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
      int len =
          snprintf(text, sizeof text,
                   "visit %d: family at home, child in school, doing better (%zu)", variant, i);
      FIELD(names[i]);
      hw_cbor_wr_text(&w, text, (size_t)len);
      DONE();
    }
  }
  {
    hw_write wr = {.dot = {*r, c},
                   .wall_ms = 1767000000000 + variant,
                   .author = {(const uint8_t *)"amina.k", 7},
                   .schema_version = 1,
                   .n_fields = n,
                   .fields = fv};
    CHECK_OK(hw_record_write(&out, base, &wr));
  }
  return out;
}

/* Edit `k` fields starting at `first` in one write. */
static hw_record *edit(const hw_record *base, const hw_id *r, uint64_t c, size_t first, size_t k)
{
  hw_field_value fv[16];
  uint8_t buf[16][8];
  hw_record *out = NULL;

  for (size_t i = 0; i < k; i++) {
    hw_cbor_wr w;
    const char *name = csi[(first + i) % 12];
    hw_cbor_wr_init_fixed(&w, buf[i], sizeof buf[i]);
    hw_cbor_wr_uint(&w, (uint64_t)(1 + (c + i) % 4));
    CHECK_OK(hw_cbor_wr_finish(&w));
    fv[i] = (hw_field_value){{(const uint8_t *)name, strlen(name)}, {buf[i], w.len}};
  }
  {
    hw_write wr = {.dot = {*r, c},
                   .wall_ms = 1767000001000 + (int64_t)c,
                   .author = {(const uint8_t *)"coord", 5},
                   .n_fields = k,
                   .fields = fv};
    CHECK_OK(hw_record_write(&out, base, &wr));
  }
  return out;
}

static void run(const char *name, const hw_record *a, const hw_record *b, hw_merge_class want,
                double seconds)
{
  long n = 0;
  double t0 = now(), t;
  hw_merge_info info;
  hw_record *m = NULL;

  CHECK_OK(hw_merge(&m, a, b, &info));
  CHECK_EQ(info.cls, want);
  hw_record_free(m);
  do {
    for (int i = 0; i < 1000; i++) {
      CHECK_OK(hw_merge(&m, a, b, &info));
      hw_record_free(m);
    }
    n += 1000;
    t = now() - t0;
  } while (t < seconds);
  printf("{\"bench\": \"merge\", \"metric\": \"%s\", \"value\": %.0f, \"unit\": \"merges/s\"}\n",
         name, (double)n / t);
}

int main(void)
{
  const char *s = getenv("HW_BENCH_SECONDS");
  double seconds = s ? atof(s) : 1.0;
  hw_record *e = NULL, *base, *a, *b, *c1, *c2;
  size_t enc = 0;

  if (!(seconds > 0))
    seconds = 1.0;
  CHECK_OK(hw_crypto_init());
  hw_id_random(&rid), hw_id_random(&cid), hw_id_random(&dev), hw_id_random(&srv);
  hw_id_random(&dev2);
  CHECK_OK(hw_record_new(&e, &rid, &cid, "followup", 8, 1));
  base = visit(e, &dev, 1, 0);
  for (size_t i = 0; i < base->n_fields; i++)
    enc += base->fields[i].name.len + base->fields[i].pairs[0].value.len + 2;
  printf("{\"bench\": \"merge\", \"metric\": \"record_payload\", \"value\": %zu, \"unit\": "
         "\"bytes\"}\n",
         enc);
  printf("{\"bench\": \"merge\", \"metric\": \"record_fields\", \"value\": %zu, \"unit\": "
         "\"fields\"}\n",
         base->n_fields);
  /* different fields on each side: merged without conflicts */
  a = edit(base, &dev, 2, 0, 3);
  b = edit(base, &srv, 1, 6, 3);
  run("no_conflicts", a, b, HW_MERGE_MERGED, seconds);
  /* the same fields on both sides: every one left in conflict */
  c1 = edit(base, &dev, 2, 0, 6);
  c2 = edit(base, &dev2, 1, 0, 6);
  run("with_conflicts", c1, c2, HW_MERGE_CONFLICT, seconds);
  /* incoming descends from stored */
  run("fast_forward", base, a, HW_MERGE_FAST_FORWARD, seconds);
  run("duplicate", a, a, HW_MERGE_DUPLICATE, seconds);
  hw_record_free(e), hw_record_free(base), hw_record_free(a), hw_record_free(b);
  hw_record_free(c1), hw_record_free(c2);
  return 0;
}
