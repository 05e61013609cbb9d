/* The strict CBOR reader and the writer: a table of hostile inputs, each
 * refused; round trips at every head size. */
#include <string.h>

#include "check.h"
#include "homeward/cbor.h"
#include "homeward/mem.h"

typedef struct bad_case {
  const char *what;
  const uint8_t *p;
  size_t len;
} bad_case;

#define B(...) ((const uint8_t[]){__VA_ARGS__})
#define CASE(what, ...)                                                                            \
  {                                                                                                \
    what, B(__VA_ARGS__), sizeof(B(__VA_ARGS__))                                                   \
  }

static const bad_case bad[] = {
    CASE("uint 5 in a 1-byte argument", 0x18, 0x05),
    CASE("uint 255 in a 2-byte argument", 0x19, 0x00, 0xff),
    CASE("uint in an 8-byte argument that fits 4", 0x1b, 0, 0, 0, 0, 0, 0, 0, 1),
    CASE("reserved additional info 28", 0x1c),
    CASE("indefinite array", 0x9f, 0x01, 0xff),
    CASE("indefinite text", 0x7f, 0x61, 0x61, 0xff),
    CASE("half float", 0xf9, 0x3c, 0x00),
    CASE("double", 0xfb, 0, 0, 0, 0, 0, 0, 0, 0),
    CASE("undefined", 0xf7),
    CASE("simple value 16", 0xf0),
    CASE("simple value in a byte", 0xf8, 0x20),
    CASE("break outside indefinite item", 0xff),
    CASE("truncated head", 0x19, 0x01),
    CASE("truncated text", 0x63, 'a', 'b'),
    CASE("text of invalid UTF-8", 0x62, 0xc3, 0x28),
    CASE("text with an overlong slash", 0x62, 0xc0, 0xaf),
    CASE("text with a surrogate", 0x63, 0xed, 0xa0, 0x80),
    CASE("array declaring 2^32 items in 5 bytes", 0x9b, 0, 0, 0, 1, 0, 0, 0, 0),
    CASE("map declaring more pairs than bytes", 0xa3, 0x01, 0x02),
    CASE("bytes declaring 2^63 bytes", 0x5b, 0x80, 0, 0, 0, 0, 0, 0, 0),
    {"empty input", B(0x00), 0},
};

int main(void)
{
  hw_cbor_rd rd;
  hw_cbor_item it;

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    hw_cbor_rd_init(&rd, bad[i].p, bad[i].len);
    if (hw_cbor_next(&rd, &it) != HW_EPROTO) {
      fprintf(stderr, "accepted: %s\n", bad[i].what);
      CHECK(0);
    }
    CHECK_EQ(hw_cbor_rd_offset(&rd), 0); /* the reader did not move */
  }

  /* Round trips at each head size, negative integers included. */
  {
    static const uint64_t us[] = {0,     23,    24,          255,         256,
                                  65535, 65536, 4294967295u, 4294967296u, UINT64_MAX};
    static const int64_t is[] = {-1, -24, -25, -256, -257, INT64_MIN, INT64_MAX};
    hw_cbor_wr w;
    hw_cbor_wr_init(&w, 1024);
    for (size_t i = 0; i < sizeof us / sizeof us[0]; i++)
      hw_cbor_wr_uint(&w, us[i]);
    for (size_t i = 0; i < sizeof is / sizeof is[0]; i++)
      hw_cbor_wr_int(&w, is[i]);
    hw_cbor_wr_text(&w, "é", 2);
    hw_cbor_wr_bytes(&w, "\0\1", 2);
    hw_cbor_wr_array(&w, 1);
    hw_cbor_wr_bool(&w, true);
    hw_cbor_wr_map(&w, 1);
    hw_cbor_wr_null(&w);
    hw_cbor_wr_tag(&w, 1004);
    hw_cbor_wr_bool(&w, false);
    CHECK_OK(hw_cbor_wr_finish(&w));
    hw_cbor_rd_init(&rd, w.buf, w.len);
    for (size_t i = 0; i < sizeof us / sizeof us[0]; i++) {
      uint64_t u;
      CHECK_OK(hw_cbor_read_uint(&rd, &u));
      CHECK(u == us[i]);
    }
    for (size_t i = 0; i < sizeof is / sizeof is[0]; i++) {
      int64_t v;
      CHECK_OK(hw_cbor_read_int(&rd, &v));
      CHECK(v == is[i]);
    }
    {
      const uint8_t *p;
      size_t n;
      uint64_t c;
      CHECK_OK(hw_cbor_read_text(&rd, &p, &n));
      CHECK(n == 2 && memcmp(p, "é", 2) == 0);
      CHECK_ERR(hw_cbor_read_text(&rd, &p, &n), HW_EPROTO); /* bytes, not text */
      CHECK_OK(hw_cbor_read_bytes(&rd, &p, &n));
      CHECK_OK(hw_cbor_read_array(&rd, &c));
      CHECK_EQ(c, 1);
      CHECK_OK(hw_cbor_next(&rd, &it));
      CHECK_EQ(it.type, HW_CBOR_TRUE);
      CHECK_OK(hw_cbor_read_map(&rd, &c));
      CHECK_OK(hw_cbor_next(&rd, &it));
      CHECK_EQ(it.type, HW_CBOR_NULL);
      CHECK_OK(hw_cbor_next(&rd, &it));
      CHECK(it.type == HW_CBOR_TAG && it.u == 1004);
      CHECK_OK(hw_cbor_next(&rd, &it));
      CHECK_EQ(it.type, HW_CBOR_FALSE);
      CHECK(hw_cbor_rd_done(&rd));
    }
    hw_cbor_wr_close(&w);
  }

  /* Skip: depth bounded, exact bytes returned. */
  {
    static const uint8_t nested[] = {0x81, 0x81, 0x81, 0x81, 0x01};
    const uint8_t *p;
    size_t n;
    hw_cbor_rd_init(&rd, nested, sizeof nested);
    CHECK_ERR(hw_cbor_skip(&rd, 3, &p, &n), HW_ELIMIT);
    CHECK_EQ(hw_cbor_rd_offset(&rd), 0);
    CHECK_OK(hw_cbor_skip(&rd, 4, &p, &n));
    CHECK(p == nested && n == sizeof nested);
  }

  /* Writer limits: a capped writer and a fixed buffer report HW_ELIMIT. */
  {
    hw_cbor_wr w;
    uint8_t small[3];
    size_t n;
    hw_cbor_wr_init(&w, 4);
    hw_cbor_wr_text(&w, "hello", 5);
    CHECK_ERR(hw_cbor_wr_finish(&w), HW_ELIMIT);
    CHECK_NULL(hw_cbor_wr_take(&w, &n));
    hw_cbor_wr_close(&w);
    hw_cbor_wr_init_fixed(&w, small, sizeof small);
    hw_cbor_wr_uint(&w, 1000000);
    CHECK_ERR(hw_cbor_wr_finish(&w), HW_ELIMIT);
  }

  /* Out of memory in the writer is sticky and leaks nothing. */
  {
    hw_cbor_wr w;
    hw_test_fail_alloc_after(0);
    hw_cbor_wr_init(&w, 1 << 20);
    hw_cbor_wr_text(&w, "x", 1);
    hw_test_fail_alloc_after(-1);
    CHECK_ERR(hw_cbor_wr_finish(&w), HW_ENOMEM);
    hw_cbor_wr_close(&w);
  }

  /* A fixed buffer exactly the size of the encoding is enough. */
  {
    hw_cbor_wr w;
    uint8_t one[1], two[2];
    hw_cbor_wr_init_fixed(&w, one, sizeof one);
    hw_cbor_wr_uint(&w, 3);
    CHECK_OK(hw_cbor_wr_finish(&w));
    hw_cbor_wr_init_fixed(&w, two, sizeof two);
    hw_cbor_wr_text(&w, "a", 1);
    CHECK_OK(hw_cbor_wr_finish(&w));
    CHECK(w.len == 2 && two[0] == 0x61);
  }

  CHECK(hw_cbor_key_cmp((const uint8_t *)"b", 1, (const uint8_t *)"aa", 2) < 0);
  CHECK(hw_cbor_key_cmp((const uint8_t *)"ab", 2, (const uint8_t *)"aa", 2) > 0);
  puts("cbor: ok");
  return 0;
}
