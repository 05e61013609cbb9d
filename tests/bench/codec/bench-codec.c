/* Record codec throughput on the ~1 KB follow-up visit of the samples (19
 * fields: dates, 12 CSI scores, enums, a set, texts), one core:
 *   encode        hw_record_encode_wr into a reused writer (the store and
 *                 wire paths append to a buffer they own)
 *   encode_alloc  hw_record_encode (exact-size allocation per call)
 *   decode        hw_record_decode to an owned hw_record (+ free)
 * plus the same for a conflicted, void-disputed state. Goals: >= 1M encodes/s,
 * >= 500k decodes/s. HW_BENCH_SECONDS sets the time per case (default 1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "homeward/crypto.h"
#include "homeward/limits.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"
#include "samples.h"

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double seconds;
static const char *only; /* HW_BENCH_ONLY=encode|decode: one half (for profiling) */
static volatile size_t sink;

static void report(const char *metric, double v, const char *unit)
{
  printf("{\"bench\": \"codec\", \"metric\": \"%s\", \"value\": %.0f, \"unit\": \"%s\"}\n", metric,
         v, unit);
}

static void run(const char *label, const hw_record *r)
{
  uint8_t *bytes;
  size_t len;
  char metric[96];
  double t0, t;
  long n;
  hw_cbor_wr w;

  CHECK_OK(hw_record_encode(r, &bytes, &len));
  snprintf(metric, sizeof metric, "%s_bytes", label);
  report(metric, (double)len, "bytes");

  if (only && strcmp(only, "decode") == 0)
    goto decode;
  hw_cbor_wr_init(&w, HW_RECORD_MAX);
  t0 = now();
  for (n = 0; (t = now() - t0) < seconds; n++)
    for (int k = 0; k < 1000; k++) {
      w.len = 0;
      hw_record_encode_wr(&w, r);
      sink += w.len;
    }
  CHECK_OK(hw_cbor_wr_finish(&w));
  hw_cbor_wr_close(&w);
  snprintf(metric, sizeof metric, "%s_encode", label);
  report(metric, (double)n * 1000 / t, "encodes/s");

  t0 = now();
  for (n = 0; (t = now() - t0) < seconds; n++)
    for (int k = 0; k < 1000; k++) {
      uint8_t *b;
      size_t l;
      CHECK_OK(hw_record_encode(r, &b, &l));
      sink += l;
      hw_free(b);
    }
  snprintf(metric, sizeof metric, "%s_encode_alloc", label);
  report(metric, (double)n * 1000 / t, "encodes/s");
  if (only && strcmp(only, "encode") == 0)
    goto done;

decode:
  t0 = now();
  for (n = 0; (t = now() - t0) < seconds; n++)
    for (int k = 0; k < 1000; k++) {
      hw_record *d;
      CHECK_OK(hw_record_decode(bytes, len, &d, NULL));
      sink += d->n_fields;
      hw_record_free(d);
    }
  snprintf(metric, sizeof metric, "%s_decode", label);
  report(metric, (double)n * 1000 / t, "decodes/s");
done:
  hw_free(bytes);
}

int main(void)
{
  const char *s = getenv("HW_BENCH_SECONDS");
  hw_record *f, *c, *v;

  seconds = s ? atof(s) : 1.0;
  only = getenv("HW_BENCH_ONLY");
  CHECK_OK(hw_crypto_init());
  f = sample_followup();
  c = sample_conflicted(5);
  v = sample_voided(5);
  run("followup", f);
  run("followup_conflict", c);
  run("followup_voided", v);
  hw_record_free(f);
  hw_record_free(c);
  hw_record_free(v);
  return 0;
}
