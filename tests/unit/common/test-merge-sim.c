/* Simulation of random histories against the independent oracle
 * (architecture §3): >= 5 replicas including a hub, dropped, duplicated and
 * reordered deliveries, crashes, voids, an old-schema replica. After a final
 * full exchange all replicas must be identical and each field must hold
 * exactly the writes to it that no other write to it has seen.
 *
 * HW_TEST_SCALE multiplies the number of schedules (default 10,000);
 * HW_TEST_SEED replays a run; HW_TEST_SCHEDULE runs just one schedule.
 *
 * HW_TEST_EXPECT_VIOLATION=<text> turns it into a mutant catcher: it passes
 * only when some schedule is refused by the checks with a message containing
 * <text> (a crash or an all-clean run fails). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "history.h"
#include "homeward/crypto.h"

int main(void)
{
  long n = hw_test_scaled(10000);
  uint64_t seed = hw_test_seed();
  const char *only = getenv("HW_TEST_SCHEDULE");
  const char *expect = getenv("HW_TEST_EXPECT_VIOLATION");
  long first = only ? atol(only) : 0, last = only ? first + 1 : n;
  size_t writes = 0, merges = 0;

  CHECK_OK(hw_crypto_init());
  for (long i = first; i < last; i++) {
    hw_test_rng rng;
    uint8_t script[400];
    size_t len;
    hist *h = hist_new();
    const char *err;

    CHECK(h != NULL);
    hw_test_rng_init(&rng, seed ^ (uint64_t)i * 0x9e3779b97f4a7c15u);
    len = 40 + hw_test_rng_below(&rng, sizeof script - 40);
    for (size_t k = 0; k < len; k++)
      script[k] = (uint8_t)hw_test_rng_next(&rng);
    err = hist_run(h, script, len);
    if (err && expect) {
      int caught = strstr(err, expect) != NULL;
      printf("schedule %ld: %s (%s)\n", i, err,
             caught ? "the planted flaw was caught" : "another check fired first");
      hist_free(h);
      if (caught)
        return 0;
      continue;
    }
    if (err) {
      fprintf(stderr, "schedule %ld (HW_TEST_SEED=%llu HW_TEST_SCHEDULE=%ld): %s\nscript:", i,
              (unsigned long long)seed, i, err);
      for (size_t k = 0; k < len; k++)
        fprintf(stderr, " %02x", script[k]);
      fprintf(stderr, "\n");
      hw_test_fail(__FILE__, __LINE__, "hist_run", err);
    }
    writes += hist_n_writes(h);
    merges += hist_n_merges(h);
    hist_free(h);
  }
  printf("%ld schedules, %zu writes, %zu merges: all converged and matched the oracle\n",
         last - first, writes, merges);
  if (expect) {
    fprintf(stderr, "expected a violation containing \"%s\": none found\n", expect);
    return 1;
  }
  return 0;
}
