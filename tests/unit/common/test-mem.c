/* hw_grow: the one way growable arrays grow (ids.c, the client's sync and
 * closed-case lists, the server's session lists). */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "homeward/mem.h"

typedef struct item {
  uint64_t a, b;
} item;

int main(void)
{
  item *v = NULL;
  size_t cap = 0;
  long allocs;

  hw_test_fail_alloc_after(-1);

  /* The first growth takes `first` elements; nothing needed, nothing made. */
  CHECK_OK(hw_grow(&v, &cap, 0, sizeof *v, 8));
  CHECK(v == NULL && cap == 0);
  CHECK_OK(hw_grow(&v, &cap, 1, sizeof *v, 8));
  CHECK(v != NULL);
  CHECK_EQ(cap, 8);
  for (size_t i = 0; i < 8; i++)
    v[i] = (item){i, ~i};

  /* Within the capacity: no allocation at all. */
  allocs = hw_test_alloc_count();
  CHECK_OK(hw_grow(&v, &cap, 8, sizeof *v, 8));
  CHECK_EQ(hw_test_alloc_count(), allocs);
  CHECK_EQ(cap, 8);

  /* One past it doubles; far past it doubles until it fits. Contents stay. */
  CHECK_OK(hw_grow(&v, &cap, 9, sizeof *v, 8));
  CHECK_EQ(cap, 16);
  CHECK_OK(hw_grow(&v, &cap, 100, sizeof *v, 8));
  CHECK_EQ(cap, 128);
  for (size_t i = 0; i < 8; i++)
    CHECK(v[i].a == i && v[i].b == ~i);

  /* A failed allocation leaves the array and its capacity as they were. */
  {
    item *before = v;
    hw_test_fail_alloc_after(0);
    CHECK_ERR(hw_grow(&v, &cap, 129, sizeof *v, 8), HW_ENOMEM);
    hw_test_fail_alloc_after(-1);
    CHECK(v == before);
    CHECK_EQ(cap, 128);
    for (size_t i = 0; i < 8; i++)
      CHECK(v[i].a == i && v[i].b == ~i);
  }

  /* Sizes that overflow are refused before any allocation. */
  allocs = hw_test_alloc_count();
  CHECK_ERR(hw_grow(&v, &cap, SIZE_MAX / sizeof *v + 1, sizeof *v, 8), HW_ELIMIT);
  CHECK_ERR(hw_grow(&v, &cap, SIZE_MAX, 1, 8), HW_ELIMIT);
  CHECK_EQ(hw_test_alloc_count(), allocs);
  CHECK_EQ(cap, 128);

  /* A zero `first` still makes room. */
  {
    uint8_t *b = NULL;
    size_t bcap = 0;
    CHECK_OK(hw_grow(&b, &bcap, 3, 1, 0));
    CHECK(b != NULL && bcap >= 3);
    hw_free(b);
  }

  hw_free(v);
  CHECK_EQ(hw_test_alloc_live(), 0);
  return 0;
}
