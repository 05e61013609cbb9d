#include "homeward/passphrase.h"

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

const char *hw_passphrase_weakness(const char *p)
{
  size_t n = strlen(p), same = 1, run = 1;

  if (n < 12)
    return "use at least 12 characters (a few words are easiest to remember)";
  for (size_t i = 1; i < n; i++) {
    same += p[i] == p[0];
    run += p[i] == p[i - 1] + 1 || p[i] == p[i - 1] - 1;
  }
  if (same == n)
    return "do not repeat one character";
  if (run == n)
    return "do not use a run of keys or digits";
  return NULL;
}
