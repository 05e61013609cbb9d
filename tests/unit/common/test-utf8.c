/* hw_utf8_cut: a string truncated anywhere by snprintf, cut, is valid UTF-8
 * and keeps every complete character before the cut. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "homeward/utf8.h"

int main(void)
{
  /* 1-, 2-, 3- and 4-byte characters, and ASCII between them. */
  static const char text[] = "a\xc3\xa9" "b\xe2\x82\xac" "c\xf0\x9f\x98\x80" "d\xc3\xa9";
  const size_t len = sizeof text - 1;
  char buf[64];

  CHECK(hw_utf8_valid((const uint8_t *)text, len));
  for (size_t cap = 1; cap <= len + 1; cap++) {
    size_t kept;
    snprintf(buf, cap, "%s", text);
    hw_utf8_cut(buf);
    kept = strlen(buf);
    CHECK(hw_utf8_valid((const uint8_t *)buf, kept));
    CHECK(memcmp(buf, text, kept) == 0);
    /* Nothing complete is lost: the next character would not have fit. */
    CHECK(kept + 4 > cap - 1 || kept == cap - 1);
    CHECK(kept >= (cap - 1 >= 3 ? cap - 1 - 3 : 0));
  }
  /* Untouched: complete text, ASCII, empty. */
  snprintf(buf, sizeof buf, "%s", text);
  hw_utf8_cut(buf);
  CHECK(strcmp(buf, text) == 0);
  snprintf(buf, sizeof buf, "plain");
  hw_utf8_cut(buf);
  CHECK(strcmp(buf, "plain") == 0);
  buf[0] = '\0';
  hw_utf8_cut(buf);
  CHECK(buf[0] == '\0');
  return 0;
}
