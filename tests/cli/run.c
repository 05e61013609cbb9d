#include "run.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

extern char **environ;

static const char *bin;
static char outp[512], errp[512];

void run_setup(const char *binary, const char *dir)
{
  bin = binary;
  snprintf(outp, sizeof outp, "%s/cli.out", dir);
  snprintf(errp, sizeof errp, "%s/cli.err", dir);
}

static void slurp(const char *path, char *buf, size_t cap)
{
  FILE *f = fopen(path, "r");
  size_t n = 0;
  CHECK(f != NULL);
  n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  fclose(f);
}

#define ARGV_MAX 256

/* argv (ARGV_MAX slots) holds n words; args are appended. */
static void run_argv(run_result *r, const char *pass, const char *in, const char **argv, size_t n,
                     const char *const *args)
{
  posix_spawn_file_actions_t fa;
  pid_t pid;
  int st;

  for (size_t i = 0; args[i]; i++) {
    CHECK(n + 1 < ARGV_MAX);
    argv[n++] = args[i];
  }
  argv[n] = NULL;
  if (pass)
    setenv("HOMEWARD_PASSPHRASE", pass, 1);
  else
    unsetenv("HOMEWARD_PASSPHRASE");
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, in, O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK(posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  CHECK(waitpid(pid, &st, 0) == pid);
  r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  slurp(outp, r->out, sizeof r->out);
  slurp(errp, r->err, sizeof r->err);
}

void run_hw(run_result *r, const char *store, const char *pass, const char *const *args)
{
  run_hw_in(r, store, pass, "/dev/null", args);
}

void run_hw_default(run_result *r, const char *pass, const char *const *args)
{
  const char *argv[ARGV_MAX] = {bin, "--test-fast-kdf"};
  run_argv(r, pass, "/dev/null", argv, 2, args);
}

void run_hw_in(run_result *r, const char *store, const char *pass, const char *in,
               const char *const *args)
{
  const char *argv[ARGV_MAX] = {bin, "--test-fast-kdf", "--store", store};
  run_argv(r, pass, in, argv, 4, args);
}

bool has(const char *text, const char *needle)
{
  return strstr(text, needle) != NULL;
}

size_t count_lines(const char *text, const char *needle)
{
  size_t n = 0;
  while (*text) {
    const char *e = strchr(text, '\n');
    size_t len = e ? (size_t)(e - text) : strlen(text);
    char line[4096];
    snprintf(line, sizeof line, "%.*s", (int)len, text);
    if (strstr(line, needle))
      n++;
    text += len + (e ? 1 : 0);
  }
  return n;
}

void id_after(const char *text, const char *label, char out[33])
{
  const char *p = strstr(text, label);
  out[0] = '\0';
  if (!p)
    return;
  p += strlen(label);
  if (strlen(p) < 32)
    return;
  memcpy(out, p, 32);
  out[32] = '\0';
}
