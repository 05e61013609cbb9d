/* The `homeward` command's guided prompts, driven through a pseudo-terminal
 * (issue 8): the form's aim and each question's help and values are shown,
 * a wrong answer is corrected at the prompt, the form ends with the
 * decision; a whole-form rule (a child needs a birth date or an estimated
 * age) sends the worker back to the question; drafts are kept on the device
 * and finished later, guided or with --set; .quit records nothing. */
#define _GNU_SOURCE /* forkpty */
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "run.h"

#define PASS "device pass phrase one"
#define WAIT_MS 30000

static const char *bin;
static char store[400];
static run_result R;

typedef struct term {
  pid_t pid;
  int fd;
  char buf[1 << 17];
  size_t len, seen; /* bytes read; bytes already matched */
} term;

static term T;

static void term_start(const char *const *args)
{
  const char *argv[32] = {bin, "--test-fast-kdf", "--store", store};
  size_t n = 4;
  struct winsize ws = {.ws_row = 50, .ws_col = 200};

  for (size_t i = 0; args[i]; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  setenv("HOMEWARD_PASSPHRASE", PASS, 1);
  memset(&T, 0, sizeof T);
  T.pid = forkpty(&T.fd, NULL, NULL, &ws);
  CHECK(T.pid >= 0);
  if (T.pid == 0) {
    execv(bin, (char *const *)argv);
    _exit(127);
  }
}

/* Read until `needle` appears after what was matched before. */
static void expect(const char *needle)
{
  for (;;) {
    char *at;
    struct pollfd p = {.fd = T.fd, .events = POLLIN};
    ssize_t r = 0;
    T.buf[T.len] = '\0';
    if ((at = strstr(T.buf + T.seen, needle)) != NULL) {
      T.seen = (size_t)(at - T.buf) + strlen(needle);
      return;
    }
    if (poll(&p, 1, WAIT_MS) <= 0 ||
        (r = read(T.fd, T.buf + T.len, sizeof T.buf - 1 - T.len)) <= 0) {
      fprintf(stderr, "waited for \"%s\"; the terminal shows:\n%s\n", needle, T.buf + T.seen);
      CHECK(!"expected output");
    }
    T.len += (size_t)r;
  }
}

static void send_line(const char *line)
{
  expect("> ");
  CHECK(write(T.fd, line, strlen(line)) == (ssize_t)strlen(line));
  CHECK(write(T.fd, "\r", 1) == 1);
}

static int term_wait(void)
{
  int st;
  char drain[4096];
  /* Drain what is left so the child never blocks on a full terminal. */
  for (;;) {
    struct pollfd p = {.fd = T.fd, .events = POLLIN};
    ssize_t r;
    if (poll(&p, 1, WAIT_MS) <= 0 || (r = read(T.fd, drain, sizeof drain)) <= 0)
      break;
    if (T.len + (size_t)r < sizeof T.buf - 1) {
      memcpy(T.buf + T.len, drain, (size_t)r);
      T.len += (size_t)r;
    }
  }
  T.buf[T.len] = '\0';
  CHECK(waitpid(T.pid, &st, 0) == T.pid);
  close(T.fd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define HW(...) run_hw(&R, store, PASS, (const char *const[]){__VA_ARGS__, NULL})
#define TERM(...) term_start((const char *const[]){__VA_ARGS__, NULL})

static size_t n_records(void)
{
  HW("list");
  CHECK_EQ(R.status, 0);
  return count_lines(R.out, " case ");
}

int main(int argc, char **argv)
{
  hw_test_server srv;
  char inv[600], cas[33];

  CHECK(argc == 3);
  CHECK_OK(hw_crypto_init());
  signal(SIGPIPE, SIG_IGN);
  bin = argv[2];
  hw_test_server_start(&srv, argv[1]);
  run_setup(bin, srv.dir);
  snprintf(store, sizeof store, "%s/p.db", srv.dir);
  hw_test_invite(&srv, "amina", inv, sizeof inv);
  HW("init", inv);
  CHECK_EQ(R.status, 0);

  /* A child profile, guided: wrong answers corrected at the prompt; without a
   * birth date or an age the form goes back to the birth date. */
  TERM("record", "child");
  expect("Child profile");
  expect("Register a separated child");
  expect("(1/15) registered_on (required)");
  expect("Date the case was opened.");
  send_line("2026-11-31");
  expect("not accepted: registered_on: a date like 2026-11-30");
  send_line("2026-11-30");
  expect("(2/15) given_name");
  send_line("");
  expect("an answer is needed");
  send_line("Esperance");
  send_line("Mukamana"); /* family_name */
  send_line("");         /* aliases */
  expect("values (a name, its start, or its number): 1 female, 2 male, 3 other, 4 unknown");
  send_line("girl");
  expect("not accepted: sex");
  send_line("1"); /* female, by its number */
  send_line(""); /* date_of_birth */
  expect("age_estimate_years");
  expect("from 0 to 25");
  send_line("31");
  expect("not accepted: age_estimate_years");
  send_line(""); /* skipped: the whole-form rule will catch it */
  send_line(""); /* languages */
  send_line(""); /* photo_ref */
  send_line("2026-11-29");
  send_line("Goma bus station");
  send_line("9"); /* a number past the list: refused with the values */
  expect("not accepted: separation_cause");
  send_line("migration");
  send_line(""); /* separation_details */
  send_line(""); /* identifying_marks */
  expect("(15/15) decision");
  expect("values (a name, its start, or its number): 1 open_case, 2 refer_elsewhere");
  send_line("open_case");
  expect("please correct this answer");
  expect("date_of_birth");
  send_line("2016-02-29");
  expect("recorded child ");
  CHECK_EQ(term_wait(), 0);
  id_after(T.buf, "in case ", cas);
  CHECK_EQ(strlen(cas), 32);
  {
    char child[33];
    id_after(T.buf, "recorded child ", child);
    HW("show", child);
    CHECK(R.status == 0 && has(R.out, "female") && has(R.out, "migration"));
  }
  HW("case", "show", cas);
  CHECK(has(R.out, "Esperance Mukamana") && has(R.out, "date_of_birth        2016-02-29"));

  /* A follow-up started, kept as a draft mid-way. */
  TERM("record", "followup", "--case", cas);
  expect("Follow-up visit");
  send_line("2026-12-01");
  send_line("home_visit");
  send_line("3");
  send_line(".draft");
  expect("kept as draft d1");
  CHECK_EQ(term_wait(), 0);
  CHECK_EQ(n_records(), 1);
  HW("drafts");
  CHECK(R.status == 0 && has(R.out, "d1") && has(R.out, "followup") && has(R.out, "3 answers"));
  /* Finished guided: only the questions not answered are asked. */
  TERM("record", "--resume", "d1");
  expect("Follow-up visit");
  expect("csi_nutrition_growth");
  CHECK(!strstr(T.buf + T.seen, "visit_date"));
  send_line("0");
  expect("not accepted: csi_nutrition_growth");
  for (int i = 0; i < 11; i++)
    send_line("2");
  send_line("food"); /* services_provided */
  send_line("");     /* significant_events */
  send_line("2026-11-01");
  expect("not accepted: next_visit_due");
  send_line("2027-01-05");
  send_line(""); /* notes */
  send_line("increase_support");
  expect("recorded followup ");
  CHECK_EQ(term_wait(), 0);
  HW("drafts");
  CHECK(has(R.out, "no drafts"));
  CHECK_EQ(n_records(), 2);

  /* A draft made with --set, finished with --set (no terminal). */
  HW("record", "case_note", "--case", cas, "--draft", "--set", "note_date=2026-12-02");
  CHECK(R.status == 0 && has(R.out, "kept as draft d2"));
  HW("record", "--resume", "d2", "--set", "note=school visit planned");
  CHECK(R.status == 1 && has(R.err, "not recorded: decision")); /* still incomplete */
  HW("drafts");
  CHECK(has(R.out, "d2"));
  HW("record", "--resume", "d2", "--set", "note=school visit planned", "--set",
     "decision=no_action");
  CHECK(R.status == 0 && has(R.out, "recorded case_note"));
  HW("drafts");
  CHECK(has(R.out, "no drafts"));
  HW("record", "--resume", "d2");
  CHECK(R.status == 1 && has(R.err, "no draft d2"));
  CHECK_EQ(n_records(), 3);

  /* .quit stops with nothing recorded. */
  TERM("record", "case_note", "--case", cas);
  send_line("2026-12-03");
  send_line(".quit");
  expect("stopped: nothing recorded");
  CHECK(term_wait() != 0);
  CHECK_EQ(n_records(), 3);
  /* The end of input on a terminal likewise. */
  TERM("record", "case_note", "--case", cas);
  expect("> ");
  CHECK(write(T.fd, "\x04", 1) == 1); /* ^D */
  expect("stopped: nothing recorded");
  CHECK(term_wait() != 0);
  CHECK_EQ(n_records(), 3);

  /* A likely duplicate asks first on a terminal; "n" records nothing. */
  TERM("record", "child", "--set", "registered_on=2026-12-01", "--set", "given_name=Espérance",
       "--set", "family_name=Mukamana", "--set", "sex=female", "--set", "age_estimate_years=10",
       "--set", "found_date=2026-12-01", "--set", "found_place=Goma", "--set",
       "separation_cause=migration", "--set", "decision=open_case");
  expect("may already be registered");
  expect("record a new case anyway [y/N]: ");
  CHECK(write(T.fd, "n\r", 2) == 2);
  expect("not recorded");
  CHECK(term_wait() != 0);
  CHECK_EQ(n_records(), 3);

  /* Guided, the duplicate check comes as soon as the names are given. */
  TERM("record", "child");
  send_line("2026-12-05");
  send_line("Esperanse");
  send_line("Mukamana");
  expect("may already be registered");
  expect("record a new case anyway [y/N]: ");
  CHECK(write(T.fd, "n\r", 2) == 2);
  expect("stopped: nothing recorded");
  CHECK(term_wait() != 0);
  TERM("record", "child");
  send_line("2026-12-05");
  send_line("Esperanse");
  send_line("Mukamana");
  expect("record a new case anyway [y/N]: ");
  CHECK(write(T.fd, "y\r", 2) == 2);
  expect("(4/15) aliases");
  send_line(".quit");
  expect("stopped: nothing recorded");
  CHECK(term_wait() != 0);
  CHECK_EQ(n_records(), 3);

  /* sync on a terminal: a progress bar, then the summary. */
  TERM("sync");
  expect("sync [####################] sent 3/3");
  expect("synced: 3 sent");
  CHECK_EQ(term_wait(), 0);

  /* shell: unlocked once, commands typed one per line (guided forms too),
   * locked again when left idle. */
  TERM("shell", "--idle", "2");
  expect("unlocked for amina");
  send_line("case list");
  expect("Esperance Mukamana");
  send_line("case find 'esperanse mukamana'");
  expect("Esperance Mukamana");
  send_line("bogus --json");
  expect("unknown command bogus");
  send_line("case show 0123456789");
  expect("no case 0123456789");
  {
    char cmd[100];
    snprintf(cmd, sizeof cmd, "record case_note --case %s", cas);
    send_line(cmd);
  }
  expect("Case note");
  send_line("2026-12-04");
  send_line("seen at school");
  send_line("");
  send_line("no_action");
  expect("recorded case_note");
  send_line("status");
  expect("not yet synced:  1 record");
  expect("locked after 2 idle seconds");
  CHECK_EQ(term_wait(), 0);
  CHECK(!strstr(T.buf, "synced:  1 records")); /* one record: singular */
  CHECK_EQ(n_records(), 4);
  TERM("shell", "--idle", "1");
  expect("locked after 1 idle second");
  CHECK_EQ(term_wait(), 0);
  CHECK(!strstr(T.buf, "1 idle seconds"));
  /* exit locks at once. */
  TERM("shell");
  send_line("exit");
  expect("locked");
  CHECK_EQ(term_wait(), 0);

  hw_test_server_stop(&srv);
  hw_test_server_cleanup(&srv);
  return 0;
}
