#include "homeward/utf8.h"

#include <string.h>

bool hw_utf8_valid(const uint8_t *p, size_t len)
{
  size_t i = 0;

  while (i < len) {
    uint8_t c;
    uint64_t w;

    /* ASCII fast path, eight bytes at a time (most field text is ASCII). */
    if (len - i >= 8) {
      memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080u) == 0) {
        i += 8;
        continue;
      }
    }
    c = p[i];
    size_t n;
    uint32_t cp, min;

    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n > len - i - 1)
      return false;
    for (size_t k = 1; k <= n; k++) {
      if ((p[i + k] & 0xc0) != 0x80)
        return false;
      cp = cp << 6 | (p[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

void hw_utf8_cut(char *s)
{
  size_t n = strlen(s), lead = n, need;

  /* Back over at most three continuation bytes to the sequence's lead. */
  while (lead > 0 && n - lead < 3 && ((uint8_t)s[lead - 1] & 0xc0) == 0x80)
    lead--;
  if (lead == 0 || ((uint8_t)s[lead - 1] & 0x80) == 0)
    return; /* ends in ASCII (or nothing but continuation bytes: not ours to judge) */
  lead--;
  need = ((uint8_t)s[lead] & 0xe0) == 0xc0 ? 2 : ((uint8_t)s[lead] & 0xf0) == 0xe0 ? 3 : 4;
  if (n - lead < need)
    s[lead] = '\0';
}

size_t hw_utf8_control(const uint8_t *p, size_t len, uint32_t *cp)
{
  if (len >= 1 && (p[0] < 0x20 || p[0] == 0x7f)) {
    *cp = p[0];
    return 1;
  }
  if (len >= 2 && p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
    *cp = p[1];
    return 2;
  }
  if (len >= 3 && p[0] == 0xe2 &&
      ((p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) ||
       (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9))) {
    *cp = 0x2000u | (uint32_t)(p[1] & 0x3f) << 6 | (uint32_t)(p[2] & 0x3f);
    return 3;
  }
  return 0;
}
