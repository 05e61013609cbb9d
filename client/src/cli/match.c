#include "match-int.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Base letters of U+00C0..U+017F; '*' marks the few that fold to two letters
 * or to a space (see special()). */
static const char latin[] = "aaaaaa*ceeeeiiiidnooooo*ouuuuy**aaaaaa*ceeeeiiii"
                            "dnooooo*ouuuuy*yaaaaaaccccccccddddeeeeeeeeeegggg"
                            "gggghhhhiiiiiiiiii**jjkkkllllllllllnnnnnnnnnoooo"
                            "oo**rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

static const char *special(uint32_t cp)
{
  switch (cp) {
  case 0xC6:
  case 0xE6:
    return "ae";
  case 0xDE:
  case 0xFE:
    return "th";
  case 0xDF:
    return "ss";
  case 0x132:
  case 0x133:
    return "ij";
  case 0x152:
  case 0x153:
    return "oe";
  default:
    return " "; /* x and division signs */
  }
}

/* Length of the UTF-8 sequence starting with byte b (1 for a stray byte). */
static size_t seq_len(uint8_t b)
{
  return b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
}

void hw_cli_fold(const char *s, size_t len, char *out)
{
  size_t o = 0, i = 0;
  bool space = true; /* no leading space */

  while (i < len) {
    uint8_t b = (uint8_t)s[i];
    size_t n = seq_len(b);
    char tmp[4];
    const char *piece = tmp;
    size_t plen = 1;

    if (n > len - i)
      n = len - i;
    if (b < 0x80) {
      if (b >= 'A' && b <= 'Z')
        tmp[0] = (char)(b - 'A' + 'a');
      else if ((b >= 'a' && b <= 'z') || (b >= '0' && b <= '9'))
        tmp[0] = (char)b;
      else
        tmp[0] = ' ';
    } else if (n == 2) {
      uint32_t cp = ((uint32_t)(b & 0x1F) << 6) | ((uint8_t)s[i + 1] & 0x3F);
      if (cp >= 0xC0 && cp <= 0x17F) {
        tmp[0] = latin[cp - 0xC0];
        if (tmp[0] == '*') {
          piece = special(cp);
          plen = strlen(piece);
        }
      } else {
        piece = s + i;
        plen = n;
      }
    } else {
      piece = s + i;
      plen = n;
    }
    i += n;
    if (plen == 1 && piece[0] == ' ') {
      if (space)
        continue;
      space = true;
    } else {
      space = false;
    }
    if (o + plen >= HW_CLI_FOLD_MAX)
      break;
    memcpy(out + o, piece, plen);
    o += plen;
  }
  while (o > 0 && out[o - 1] == ' ')
    o--;
  out[o] = '\0';
}

#define JW_MAX 64

double hw_cli_jaro_winkler(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b), window, m = 0, t = 0, k = 0, prefix = 0;
  bool ma[JW_MAX] = {false}, mb[JW_MAX] = {false};
  double jaro;

  la = la > JW_MAX ? JW_MAX : la;
  lb = lb > JW_MAX ? JW_MAX : lb;
  if (la == 0 && lb == 0)
    return 1.0;
  if (la == 0 || lb == 0)
    return 0.0;
  window = (la > lb ? la : lb) / 2;
  window = window > 0 ? window - 1 : 0;
  for (size_t i = 0; i < la; i++) {
    size_t lo = i > window ? i - window : 0, hi = i + window + 1 < lb ? i + window + 1 : lb;
    for (size_t j = lo; j < hi; j++) {
      if (mb[j] || a[i] != b[j])
        continue;
      ma[i] = mb[j] = true;
      m++;
      break;
    }
  }
  if (m == 0)
    return 0.0;
  for (size_t i = 0; i < la; i++) {
    if (!ma[i])
      continue;
    while (!mb[k])
      k++;
    if (a[i] != b[k])
      t++;
    k++;
  }
  jaro = ((double)m / (double)la + (double)m / (double)lb + (double)(m - t / 2) / (double)m) / 3.0;
  while (prefix < 4 && prefix < la && prefix < lb && a[prefix] == b[prefix])
    prefix++;
  return jaro + (double)prefix * 0.1 * (1.0 - jaro);
}

/* The next word of `s` at *pos into w (NUL-terminated); false at the end. */
static bool next_word(const char *s, size_t *pos, char w[HW_CLI_FOLD_MAX])
{
  size_t i = *pos, n = 0;

  while (s[i] == ' ')
    i++;
  if (!s[i])
    return false;
  while (s[i] && s[i] != ' ' && n + 1 < HW_CLI_FOLD_MAX)
    w[n++] = s[i++];
  w[n] = '\0';
  *pos = i;
  return true;
}

double hw_cli_name_score(const char *query, const char *name)
{
  char qw[HW_CLI_FOLD_MAX], nw[HW_CLI_FOLD_MAX];
  double whole = hw_cli_jaro_winkler(query, name), sum = 0.0;
  size_t qp = 0, words = 0;

  if (!query[0] || !name[0])
    return 0.0;
  while (next_word(query, &qp, qw)) {
    double best = 0.0;
    size_t np = 0;
    while (next_word(name, &np, nw)) {
      double s = hw_cli_jaro_winkler(qw, nw);
      best = s > best ? s : best;
    }
    sum += best;
    words++;
  }
  if (words > 0 && sum / (double)words > whole)
    return sum / (double)words;
  return whole;
}
