#include "check.h"

#include <string.h>
#include <time.h>

#include "homeward/err.h"

_Noreturn void hw_test_fail(const char *file, int line, const char *expr, const char *detail)
{
  fprintf(stderr, "%s:%d: CHECK failed: %s%s%s\n", file, line, expr, detail ? ": " : "",
          detail ? detail : "");
  fflush(stderr);
  abort();
}

const char *hw_test_errname(int err)
{
  return hw_errname(err);
}

long hw_test_scaled(long n)
{
  const char *s = getenv("HW_TEST_SCALE");
  double f = s ? strtod(s, NULL) : 1.0;
  long r;

  if (!(f > 0))
    f = 1.0;
  r = (long)((double)n * f);
  return r < 1 ? 1 : r;
}

uint64_t hw_test_seed(void)
{
  const char *s = getenv("HW_TEST_SEED");
  uint64_t seed;
  struct timespec ts;

  if (s && *s) {
    seed = strtoull(s, NULL, 0);
  } else {
    clock_gettime(CLOCK_REALTIME, &ts);
    seed = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
  }
  fprintf(stderr, "seed: HW_TEST_SEED=%llu\n", (unsigned long long)seed);
  return seed;
}

static uint64_t splitmix(uint64_t *x)
{
  uint64_t z = (*x += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

void hw_test_rng_init(hw_test_rng *r, uint64_t seed)
{
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

uint64_t hw_test_rng_next(hw_test_rng *r)
{
  uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return res;
}

uint64_t hw_test_rng_below(hw_test_rng *r, uint64_t n)
{
  return hw_test_rng_next(r) % n;
}
