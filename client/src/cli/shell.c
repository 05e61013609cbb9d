/* `homeward shell`: unlock the store once (Argon2id is slow on purpose),
 * then run commands typed one per line; the store is closed and its keys
 * wiped on exit, at the end of input, or after an idle timeout. */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli-int.h"

#define LINE_MAX_BYTES 8192
#define TOKENS_MAX 96

/* Split a line like a shell: words separated by blanks, '...' and "..."
 * quoting, backslash escaping one character. Returns the number of words,
 * or -1 for an unclosed quote. Words are written into buf. */
static int split_words(const char *line, char *buf, char **words, int max)
{
  int n = 0;
  char *o = buf;

  while (*line) {
    char quote = 0;
    while (*line == ' ' || *line == '\t' || *line == '\n' || *line == '\r')
      line++;
    if (!*line)
      break;
    if (n == max)
      return -1;
    words[n] = o;
    while (*line && (quote || !(*line == ' ' || *line == '\t' || *line == '\n' || *line == '\r'))) {
      if (!quote && (*line == '\'' || *line == '"')) {
        quote = *line++;
        continue;
      }
      if (quote && *line == quote) {
        quote = 0;
        line++;
        continue;
      }
      if (*line == '\\' && quote != '\'' && line[1])
        line++;
      *o++ = *line++;
    }
    if (quote)
      return -1;
    *o++ = '\0';
    n++;
  }
  return n;
}

int hw_cli_shell(const hw_cli_opts *base, hw_client *c)
{
  static char line[LINE_MAX_BYTES], buf[LINE_MAX_BYTES];
  char *words[TOKENS_MAX];
  bool tty = isatty(STDIN_FILENO);
  int idle = base->idle_s > 0 ? base->idle_s : HW_CLI_SHELL_IDLE_S;

  printf("unlocked for %s. Type commands without `homeward` (help lists them); exit locks the "
         "store%s.\n",
         hw_client_worker(c), tty ? "; it also locks itself when left idle" : "");
  for (;;) {
    hw_cli_opts o = {.passphrase_fd = -1, .new_passphrase_fd = -1, .age = -1};
    int n;

    if (tty) {
      struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
      printf("homeward> ");
      fflush(stdout);
      if (poll(&p, 1, idle * 1000) == 0) {
        printf("\nlocked after %d idle second%s\n", idle, idle == 1 ? "" : "s");
        return HW_CLI_OK;
      }
    }
    if (!fgets(line, sizeof line, stdin))
      break;
    if (!strchr(line, '\n') && !feof(stdin)) {
      /* Too long: drop the rest of it, or it would run as a command. */
      int ch;
      while ((ch = getchar()) != EOF && ch != '\n')
        ;
      fprintf(stderr, "homeward: the line is longer than %zu bytes: not run\n", sizeof line - 1);
      continue;
    }
    if ((n = split_words(line, buf, words, TOKENS_MAX)) < 0) {
      fprintf(stderr, "homeward: a quote is not closed (or too many words)\n");
      continue;
    }
    if (n == 0)
      continue;
    if (!strcmp(words[0], "exit") || !strcmp(words[0], "quit"))
      break;
    if (n == 1 && (!strcmp(words[0], "help") || !strcmp(words[0], "--help") ||
                   !strcmp(words[0], "-h"))) {
      hw_cli_usage_shell();
      continue;
    }
    o.store = base->store;
    o.test_flags = base->test_flags;
    if (hw_cli_parse_args(n, words, 0, &o) >= 0 || o.n_args == 0)
      continue;
    if (hw_cli_check_command(&o, true) >= 0)
      continue;
    if (!strcmp(o.args[0], "init") || !strcmp(o.args[0], "shell") || !strcmp(o.args[0], "forms") ||
        !strcmp(o.args[0], "recover")) {
      if (!strcmp(o.args[0], "forms"))
        hw_cli_forms();
      else
        fprintf(stderr, "homeward: %s is not for inside the shell\n", o.args[0]);
      continue;
    }
    /* A revoked device may have deleted its store: nothing more to run. */
    if (hw_cli_run(&o, c) == HW_CLI_REVOKED) {
      fflush(stdout);
      return HW_CLI_REVOKED;
    }
    fflush(stdout);
  }
  printf("locked\n");
  return HW_CLI_OK;
}
