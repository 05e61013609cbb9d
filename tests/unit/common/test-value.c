/* Field values: dates, enum sets, the void value, the generic value check. */
#include <string.h>

#include "check.h"
#include "homeward/limits.h"
#include "homeward/value.h"

static void dates(void)
{
  hw_date d;
  hw_cbor_wr w;
  uint8_t buf[32];

  CHECK_OK(hw_date_parse("2024-02-29", 10, &d)); /* leap year */
  CHECK_ERR(hw_date_parse("2023-02-29", 10, &d), HW_EINVAL);
  CHECK_ERR(hw_date_parse("1900-02-29", 10, &d), HW_EINVAL); /* century, not leap */
  CHECK_OK(hw_date_parse("2000-02-29", 10, &d));
  CHECK_ERR(hw_date_parse("2024-04-31", 10, &d), HW_EINVAL);
  CHECK_ERR(hw_date_parse("2024-13-01", 10, &d), HW_EINVAL);
  CHECK_ERR(hw_date_parse("2024-1-01", 9, &d), HW_EINVAL);
  CHECK_ERR(hw_date_parse("2024/01/01", 10, &d), HW_EINVAL);
  CHECK_ERR(hw_date_parse("0000-01-01", 10, &d), HW_EINVAL);
  CHECK_OK(hw_date_parse("2026-12-31", 10, &d));
  hw_cbor_wr_init_fixed(&w, buf, sizeof buf);
  hw_value_put_date(&w, &d);
  CHECK_OK(hw_cbor_wr_finish(&w));
  CHECK_OK(hw_value_check(buf, w.len));
  {
    hw_date back;
    CHECK_OK(hw_value_get_date(buf, w.len, &back));
    CHECK(back.year == 2026 && back.month == 12 && back.day == 31);
    buf[w.len - 1] = '9'; /* 2026-12-39 */
    CHECK_ERR(hw_value_get_date(buf, w.len, &back), HW_EPROTO);
  }
  {
    hw_date bad = {2023, 2, 29};
    hw_cbor_wr_init_fixed(&w, buf, sizeof buf);
    hw_value_put_date(&w, &bad);
    CHECK_ERR(hw_cbor_wr_finish(&w), HW_EINVAL);
  }
}

static void enum_sets(void)
{
  hw_bytes items[4] = {{(const uint8_t *)"school_fees", 11},
                       {(const uint8_t *)"food", 4},
                       {(const uint8_t *)"food", 4},
                       {(const uint8_t *)"medical", 7}};
  static const uint8_t want[] = {0x83, 0x64, 'f', 'o', 'o', 'd',  0x67, 'm', 'e',
                                 'd',  'i',  'c', 'a', 'l', 0x6b, 's',  'c', 'h',
                                 'o',  'o',  'l', '_', 'f', 'e',  'e',  's'};
  uint8_t buf[64];
  hw_cbor_wr w;

  hw_cbor_wr_init_fixed(&w, buf, sizeof buf);
  hw_value_put_enum_set(&w, items, 4);
  CHECK_OK(hw_cbor_wr_finish(&w));
  CHECK(w.len == sizeof want && memcmp(buf, want, sizeof want) == 0);
}

static void void_value(void)
{
  hw_dot e[2], seen_buf[HW_VV_MAX];
  hw_vv seen = {2, e}, back;
  hw_bytes reason;
  uint8_t buf[128];
  hw_cbor_wr w;

  memset(e[0].replica.b, 1, 16), e[0].counter = 3;
  memset(e[1].replica.b, 2, 16), e[1].counter = 9;
  hw_cbor_wr_init_fixed(&w, buf, sizeof buf);
  hw_value_put_void(&w, "entered twice", 13, &seen);
  CHECK_OK(hw_cbor_wr_finish(&w));
  CHECK_OK(hw_value_check(buf, w.len));
  CHECK_OK(hw_value_get_void(buf, w.len, &reason, seen_buf, &back));
  CHECK(reason.len == 13 && memcmp(reason.p, "entered twice", 13) == 0);
  CHECK(back.n == 2 && back.e[1].counter == 9);
  /* a truncated void value is refused at every length */
  for (size_t n = 0; n < w.len; n++)
    CHECK(hw_value_get_void(buf, n, &reason, seen_buf, &back) != 0);
  /* an unsorted seen is refused */
  {
    hw_dot rev[2] = {e[1], e[0]};
    hw_vv bad = {2, rev};
    hw_cbor_wr_init_fixed(&w, buf, sizeof buf);
    hw_value_put_void(&w, "x", 1, &bad);
    CHECK_OK(hw_cbor_wr_finish(&w));
    CHECK_ERR(hw_value_get_void(buf, w.len, &reason, seen_buf, &back), HW_EPROTO);
  }
}

static void value_check(void)
{
  static const uint8_t ok_map[] = {0xa2, 0x61, 'a', 0x01, 0x62, 'a', 'a', 0x02};
  static const uint8_t unsorted_map[] = {0xa2, 0x62, 'a', 'a', 0x01, 0x61, 'a', 0x02};
  static const uint8_t dup_map[] = {0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x02};
  static const uint8_t two_items[] = {0x01, 0x02};
  uint8_t deep[HW_VALUE_DEPTH_MAX + 2];
  static uint8_t big[HW_VALUE_MAX + 4];

  CHECK_OK(hw_value_check(ok_map, sizeof ok_map));
  CHECK_ERR(hw_value_check(unsorted_map, sizeof unsorted_map), HW_EPROTO);
  CHECK_ERR(hw_value_check(dup_map, sizeof dup_map), HW_EPROTO);
  CHECK_ERR(hw_value_check(two_items, sizeof two_items), HW_EPROTO);
  CHECK_ERR(hw_value_check(two_items, 0), HW_EPROTO);
  /* nesting: HW_VALUE_DEPTH_MAX containers is the limit */
  memset(deep, 0x81, sizeof deep);
  deep[HW_VALUE_DEPTH_MAX] = 0x01;
  CHECK_OK(hw_value_check(deep, HW_VALUE_DEPTH_MAX + 1));
  deep[HW_VALUE_DEPTH_MAX] = 0x81;
  deep[HW_VALUE_DEPTH_MAX + 1] = 0x01;
  CHECK_ERR(hw_value_check(deep, HW_VALUE_DEPTH_MAX + 2), HW_ELIMIT);
  /* size: a text value of exactly HW_VALUE_MAX bytes passes, one more fails */
  big[0] = 0x79;
  big[1] = (uint8_t)((HW_VALUE_MAX - 3) >> 8);
  big[2] = (uint8_t)(HW_VALUE_MAX - 3);
  memset(big + 3, 'x', HW_VALUE_MAX - 3);
  CHECK_OK(hw_value_check(big, HW_VALUE_MAX));
  big[1] = (uint8_t)((HW_VALUE_MAX - 2) >> 8);
  big[2] = (uint8_t)(HW_VALUE_MAX - 2);
  memset(big + 3, 'x', HW_VALUE_MAX - 2);
  CHECK_ERR(hw_value_check(big, HW_VALUE_MAX + 1), HW_ELIMIT);
  CHECK(hw_value_is_null((const uint8_t *)"\xf6", 1));
}

int main(void)
{
  dates();
  enum_sets();
  void_value();
  value_check();
  puts("value: ok");
  return 0;
}
