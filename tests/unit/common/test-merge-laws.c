/* Merge laws on states produced by random histories (never arbitrary
 * structs): commutative, associative, idempotent, and merging a state with
 * one of its descendants gives the descendant. HW_TEST_SCALE scales the
 * number of cases (default >= 100,000). */
#include <stdio.h>

#include "check.h"
#include "history.h"
#include "homeward/crypto.h"
#include "homeward/merge.h"

static hw_record *merge2(const hw_record *a, const hw_record *b)
{
  hw_record *r = NULL;
  CHECK_OK(hw_merge(&r, a, b, NULL));
  CHECK_OK(hw_record_check(r));
  return r;
}

int main(void)
{
  long want = hw_test_scaled(100000), cases = 0, descendants = 0, histories = 0;
  uint64_t seed = hw_test_seed();
  hw_test_rng rng;

  CHECK_OK(hw_crypto_init());
  hw_test_rng_init(&rng, seed);
  while (cases < want) {
    uint8_t script[300];
    size_t len = 60 + hw_test_rng_below(&rng, sizeof script - 60), n;
    hist *h = hist_new();

    CHECK(h != NULL);
    for (size_t k = 0; k < len; k++)
      script[k] = (uint8_t)hw_test_rng_next(&rng);
    CHECK(hist_run(h, script, len) == NULL);
    histories++;
    n = hist_n_snapshots(h);
    for (size_t t = 0; n > 0 && t < 40; t++) {
      const hist_snap *sa = hist_snapshot(h, hw_test_rng_below(&rng, n));
      const hist_snap *sb = hist_snapshot(h, hw_test_rng_below(&rng, n));
      const hist_snap *sc = hist_snapshot(h, hw_test_rng_below(&rng, n));
      const hw_record *a = sa->state, *b = sb->state, *c = sc->state;
      hw_record *ab, *ba, *aa, *ab_c, *bc, *a_bc;

      if (sa->record != sb->record || sa->record != sc->record)
        continue;
      ab = merge2(a, b);
      ba = merge2(b, a);
      CHECK(hw_record_equal(ab, ba));
      aa = merge2(a, a);
      CHECK(hw_record_equal(aa, a));
      ab_c = merge2(ab, c);
      bc = merge2(b, c);
      a_bc = merge2(a, bc);
      CHECK(hw_record_equal(ab_c, a_bc));
      /* A later snapshot of the same replica descends from an earlier one. */
      if (sa->replica == sb->replica && sa->step < sb->step) {
        hw_record *d = merge2(a, b);
        CHECK(hw_record_equal(d, b));
        hw_record_free(d);
        descendants++;
      }
      /* And a merge result descends from both of its inputs. */
      {
        hw_record *d = merge2(a, ab);
        CHECK(hw_record_equal(d, ab));
        hw_record_free(d);
      }
      hw_record_free(ab);
      hw_record_free(ba);
      hw_record_free(aa);
      hw_record_free(ab_c);
      hw_record_free(bc);
      hw_record_free(a_bc);
      cases++;
    }
    hist_free(h);
  }
  printf("%ld law cases from %ld histories (%ld descendant pairs): all held\n", cases, histories,
         descendants);
  return 0;
}
