/* Version vectors: compare, join, seen, canonical form. */
#include <string.h>

#include "check.h"
#include "homeward/limits.h"
#include "homeward/vv.h"

static hw_dot dot(int r, uint64_t c)
{
  hw_dot d;
  memset(d.replica.b, r, HW_ID_BYTES);
  d.counter = c;
  return d;
}

int main(void)
{
  hw_dot ea[3] = {dot(1, 5), dot(2, 3), dot(4, 1)};
  hw_dot eb[2] = {dot(1, 5), dot(3, 2)};
  hw_dot ec[3] = {dot(1, 6), dot(2, 3), dot(4, 1)};
  hw_dot out[5];
  hw_vv a = {3, ea}, b = {2, eb}, c = {3, ec}, empty = {0, NULL}, j;
  hw_dot d;

  CHECK_EQ(hw_vv_compare(&a, &a), HW_ORDER_EQUAL);
  CHECK_EQ(hw_vv_compare(&a, &b), HW_ORDER_CONCURRENT);
  CHECK_EQ(hw_vv_compare(&a, &c), HW_ORDER_BEFORE);
  CHECK_EQ(hw_vv_compare(&c, &a), HW_ORDER_AFTER);
  CHECK_EQ(hw_vv_compare(&empty, &a), HW_ORDER_BEFORE);
  CHECK_EQ(hw_vv_compare(&empty, &empty), HW_ORDER_EQUAL);
  CHECK(hw_vv_covers(&c, &a) && !hw_vv_covers(&a, &c) && hw_vv_covers(&a, &a));

  j.e = out;
  j.n = hw_vv_join(&a, &b, out);
  CHECK_EQ(j.n, 4);
  CHECK_OK(hw_vv_check(&j));
  CHECK_EQ(hw_vv_get(&j, &ea[0].replica), 5);
  CHECK_EQ(hw_vv_get(&j, &eb[1].replica), 2);
  CHECK(hw_vv_covers(&j, &a) && hw_vv_covers(&j, &b));

  d = dot(2, 3);
  CHECK(hw_vv_seen(&a, &d));
  d.counter = 4;
  CHECK(!hw_vv_seen(&a, &d));
  d = dot(9, 1);
  CHECK(!hw_vv_seen(&a, &d));
  CHECK_EQ(hw_vv_get(&a, &d.replica), 0);

  /* canonical form */
  {
    hw_dot bad1[2] = {dot(2, 1), dot(1, 1)}, bad2[2] = {dot(1, 1), dot(1, 2)},
           bad3[1] = {dot(1, 0)};
    hw_vv v1 = {2, bad1}, v2 = {2, bad2}, v3 = {1, bad3};
    hw_dot many[HW_VV_MAX + 1];
    hw_vv big = {HW_VV_MAX + 1, many};
    CHECK_ERR(hw_vv_check(&v1), HW_EPROTO);
    CHECK_ERR(hw_vv_check(&v2), HW_EPROTO);
    CHECK_ERR(hw_vv_check(&v3), HW_EPROTO);
    for (int i = 0; i <= HW_VV_MAX; i++) {
      memset(many[i].replica.b, 0, HW_ID_BYTES);
      many[i].replica.b[14] = (uint8_t)(i >> 8);
      many[i].replica.b[15] = (uint8_t)i;
      many[i].counter = 1;
    }
    CHECK_ERR(hw_vv_check(&big), HW_ELIMIT);
    big.n = HW_VV_MAX;
    CHECK_OK(hw_vv_check(&big));
  }
  {
    hw_dot x = dot(1, 2), y = dot(1, 3), z = dot(2, 1);
    CHECK(hw_dot_cmp(&x, &y) < 0 && hw_dot_cmp(&y, &z) < 0 && hw_dot_cmp(&x, &x) == 0);
  }
  puts("vv: ok");
  return 0;
}
