/* Test assertions: print both sides and where, then abort(). Active in every
 * build type (they do not depend on NDEBUG). */
#ifndef HW_TEST_CHECK_H
#define HW_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

_Noreturn void hw_test_fail(const char *file, int line, const char *expr, const char *detail);

#define CHECK(x)                                                                                   \
  do {                                                                                             \
    if (!(x))                                                                                      \
      hw_test_fail(__FILE__, __LINE__, #x, NULL);                                                  \
  } while (0)

#define CHECK_EQ(a, b)                                                                             \
  do {                                                                                             \
    long long check_a_ = (long long)(a), check_b_ = (long long)(b);                                \
    if (check_a_ != check_b_) {                                                                    \
      char check_d_[96];                                                                           \
      snprintf(check_d_, sizeof check_d_, "%lld != %lld", check_a_, check_b_);                     \
      hw_test_fail(__FILE__, __LINE__, #a " == " #b, check_d_);                                    \
    }                                                                                              \
  } while (0)

/* Expect success from a function returning an hw_err code. */
#define CHECK_OK(x) CHECK_ERR(x, 0)
#define CHECK_ERR(x, want)                                                                         \
  do {                                                                                             \
    int check_rc_ = (x), check_w_ = (want);                                                        \
    if (check_rc_ != check_w_) {                                                                   \
      char check_d_[128];                                                                          \
      snprintf(check_d_, sizeof check_d_, "got %s (%d), want %s", hw_test_errname(check_rc_),      \
               check_rc_, hw_test_errname(check_w_));                                              \
      hw_test_fail(__FILE__, __LINE__, #x, check_d_);                                              \
    }                                                                                              \
  } while (0)

#define CHECK_NULL(p) CHECK((p) == NULL)

const char *hw_test_errname(int err);

/* A scale knob for property tests: HW_TEST_SCALE (default 1.0) multiplies
 * `n`; the result is at least 1. */
long hw_test_scaled(long n);

/* HW_TEST_SEED if set (so a failure can be replayed), else a fresh seed; the
 * seed is printed either way. */
uint64_t hw_test_seed(void);

/* xoshiro-style deterministic generator for tests. */
typedef struct hw_test_rng {
  uint64_t s[4];
} hw_test_rng;
void hw_test_rng_init(hw_test_rng *r, uint64_t seed);
uint64_t hw_test_rng_next(hw_test_rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t hw_test_rng_below(hw_test_rng *r, uint64_t n);

/* Allocation fault injection through hw_mem_set_allocator: the allocation
 * after `n` more successful ones fails (n < 0: never). Counts allocations
 * made since. Installed on first use. */
void hw_test_fail_alloc_after(long n);
long hw_test_alloc_count(void);
/* Live allocations made through hw_malloc while the counting allocator was
 * installed (a leak check that works without ASan). */
long hw_test_alloc_live(void);
/* Their usable bytes (malloc_usable_size), for memory-bound checks. */
long hw_test_alloc_live_bytes(void);

#endif
