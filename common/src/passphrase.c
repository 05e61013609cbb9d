#include "homeward/passphrase.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "homeward/crypto.h"

static int read_line(int fd, char *buf)
{
  size_t n = 0;
  char c;

  for (;;) {
    ssize_t r = read(fd, &c, 1);
    if (r <= 0 || c == '\n')
      break;
    if (n == HW_PASSPHRASE_MAX) {
      hw_memzero(buf, HW_PASSPHRASE_MAX + 1);
      return HW_EINVAL;
    }
    buf[n++] = c;
  }
  if (n && buf[n - 1] == '\r')
    n--;
  buf[n] = '\0';
  return n ? HW_OK : HW_EINVAL;
}

static int ask(const char *prompt, char *buf)
{
  struct termios old, quiet;
  int fd = STDIN_FILENO, rc;

  if (!isatty(fd))
    return HW_ENOENT;
  fputs(prompt, stderr);
  fflush(stderr);
  if (tcgetattr(fd, &old) != 0)
    return HW_ENOENT;
  quiet = old;
  quiet.c_lflag &= ~(tcflag_t)ECHO;
  tcsetattr(fd, TCSAFLUSH, &quiet);
  rc = read_line(fd, buf);
  tcsetattr(fd, TCSAFLUSH, &old);
  fputc('\n', stderr);
  return rc;
}

int hw_passphrase_read(char *buf, int fd, const char *prompt, int confirm)
{
  const char *env = getenv("HOMEWARD_PASSPHRASE");
  char *again;
  int rc;

  buf[0] = '\0';
  if (fd >= 0)
    return read_line(fd, buf);
  if (env) {
    size_t n = strlen(env);
    if (n == 0 || n > HW_PASSPHRASE_MAX)
      return HW_EINVAL;
    memcpy(buf, env, n + 1);
    return HW_OK;
  }
  if ((rc = ask(prompt, buf)) != 0 || !confirm)
    return rc;
  if (!(again = hw_secure_alloc(HW_PASSPHRASE_MAX + 1)))
    return HW_ENOMEM;
  rc = ask("again: ", again);
  if (rc == 0 && strcmp(buf, again) != 0)
    rc = HW_EINVAL;
  hw_secure_free(again);
  if (rc)
    hw_memzero(buf, HW_PASSPHRASE_MAX + 1);
  return rc;
}

/* The rows of a QWERTY keyboard, the digit row first. A run of keys walks
 * along a row either way, and goes on from one end of a row to an end of
 * the next ("qwertyuiopasdf", "poiuytrewqlkjh"). */
static const char *const key_rows[] = {"1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm"};
#define KEY_ROWS (sizeof key_rows / sizeof key_rows[0])

/* ASCII only: the check must not depend on the locale. */
static char lower(char c)
{
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Where c is on the keyboard: its row, its column, and whether it ends
 * the row (first or last key). False when it is not on those rows. */
static bool key_at(char c, size_t *row, size_t *col, bool *edge)
{
  for (size_t r = 0; r < KEY_ROWS && c != '\0'; r++) {
    const char *k = strchr(key_rows[r], c);
    if (k) {
      *row = r;
      *col = (size_t)(k - key_rows[r]);
      *edge = *col == 0 || k[1] == '\0';
      return true;
    }
  }
  return false;
}

/* Whether a and b are next to each other in a run: the alphabet or the
 * digits either way ("abcd", "4321"), the digits going round ("8901"), or
 * the keyboard rows. */
static bool next_in_run(char a, char b)
{
  size_t ra, ca, rb, cb;
  bool ea, eb;

  a = lower(a);
  b = lower(b);
  if (a == b + 1 || b == a + 1)
    return true;
  if ((a == '9' && b == '0') || (a == '0' && b == '9'))
    return true;
  if (!key_at(a, &ra, &ca, &ea) || !key_at(b, &rb, &cb, &eb))
    return false;
  if (ra == rb)
    return ca + 1 == cb || cb + 1 == ca;
  return (ra + 1 == rb || rb + 1 == ra) && ea && eb;
}

/* Passwords every guessing list starts with: one of them with digits or
 * symbols around it ("password1234", "Welcome2026!") falls nearly as fast
 * as the word alone. */
static const char *const common_words[] = {
    "password", "passw0rd", "qwerty",   "qwertyuiop", "iloveyou", "welcome",  "letmein",
    "admin",    "administrator", "monkey", "dragon",  "sunshine", "football", "baseball",
    "princess", "master",   "shadow",   "superman",   "trustno",  "homeward", "changeme",
    "secret",   "login",    "abc",      "test",       "hello",    "freedom",  "whatever",
    "computer", "starwars", NULL};

static bool is_letter(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Whether p is a common password with only digits or symbols around it. */
static bool decorated_common(const char *p, size_t n)
{
  size_t a = 0, b = n;

  while (a < n && !is_letter(p[a]))
    a++;
  while (b > a && !is_letter(p[b - 1]))
    b--;
  for (const char *const *w = common_words; *w; w++) {
    size_t k = strlen(*w), i = 0;
    if (k != b - a)
      continue;
    while (i < k && lower(p[a + i]) == (*w)[i])
      i++;
    if (i == k)
      return true;
  }
  return false;
}

const char *hw_passphrase_weakness(const char *p)
{
  size_t n = strlen(p), same = 1, run = 1;

  if (n < 12)
    return "use at least 12 characters (a few words are easiest to remember)";
  for (size_t i = 1; i < n; i++) {
    same += p[i] == p[0];
    run += next_in_run(p[i - 1], p[i]);
  }
  if (same == n)
    return "do not repeat one character";
  if (run == n)
    return "do not use a run of letters, keys or digits";
  if (n < 20 && strspn(p, "0123456789") == n)
    return "digits alone (a date, a phone number) are guessed quickly: use a few words";
  if (decorated_common(p, n))
    return "a common password with digits added is guessed first: use a few unrelated words";
  return NULL;
}
