/* The `homeward` command as a new user meets it (the new-user trial):
 * `status` names the device the way the server's `devices` and `revoke`
 * do; usage errors (a missing word or value, an unknown option or case
 * command) exit 2 with a message naming the mistake, before the passphrase
 * is asked for; an empty HOMEWARD_PASSPHRASE or HOMEWARD_STORE, or a
 * directory given as the store, is said as such; `sync` prints each
 * progress line once; a passphrase that is a walk along the keyboard is
 * refused. The second trial: an unknown record is said once; a malformed
 * --set or an empty option value is a usage error; a --file that cannot
 * be read says why without a JSON line; --json with a command without JSON
 * output is refused; counts of one are singular. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "homeward/passphrase.h"
#include "run.h"

#define PASS "device pass phrase one"

static run_result R;
static char store[400];

#define HW(pass, ...) run_hw(&R, store, pass, (const char *const[]){__VA_ARGS__, NULL})
#define OK(...)                                                                                    \
  do {                                                                                             \
    HW(PASS, __VA_ARGS__);                                                                         \
    if (R.status != 0)                                                                             \
      fprintf(stderr, "exit %d\nstdout:\n%s\nstderr:\n%s\n", R.status, R.out, R.err);              \
    CHECK_EQ(R.status, 0);                                                                         \
  } while (0)
/* A usage error: exit 2 and `msg` on stderr. */
#define USAGE(msg, ...)                                                                            \
  do {                                                                                             \
    HW(PASS, __VA_ARGS__);                                                                         \
    if (R.status != 2 || !has(R.err, msg))                                                         \
      fprintf(stderr, "want exit 2 and \"%s\"; exit %d\nstderr:\n%s\n", msg, R.status, R.err);     \
    CHECK(R.status == 2 && has(R.err, msg));                                                       \
  } while (0)

/* The 16 hex digits after "device:" in `homeward status`. */
static void status_device(char out[17])
{
  const char *p;
  size_t n = 0;

  OK("status");
  p = strstr(R.out, "device:");
  CHECK(p != NULL);
  p += strlen("device:");
  while (*p == ' ')
    p++;
  while (n < 16 && strchr("0123456789abcdef", p[n]) && p[n])
    n++;
  CHECK_EQ(n, 16);
  memcpy(out, p, 16);
  out[16] = '\0';
}

static void passphrase_runs(void)
{
  static const char *const weak[] = {"abcdefghijkl",
                                     "qwertyuiopasdf",
                                     "123456789012",
                                     "1234567890qwerty",
                                     "poiuytrewqlkjh",
                                     "QWERTYUIOPASDF",
                                     "210987654321",
                                     "asdfghjklzxcvbnm",
                                     "lkjhgfdsapoiu",
                                     "mnbvcxzlkjhgf",
                                     "password1234",
                                     "Welcome2026!",
                                     "!!Passw0rd2024",
                                     "199001151234",
                                     NULL};
  static const char *const fine[] = {"device pass phrase one", "correct horse battery",
                                     "qwerty is not my passphrase", "1234 5678 9012",
                                     "password manager tip", "98612053847716209384", NULL};
  for (const char *const *p = weak; *p; p++) {
    if (!hw_passphrase_weakness(*p))
      fprintf(stderr, "accepted: %s\n", *p);
    CHECK(hw_passphrase_weakness(*p) != NULL);
  }
  for (const char *const *p = fine; *p; p++)
    CHECK(hw_passphrase_weakness(*p) == NULL);
}

/* 2.1: an unknown record is said once, whichever way it is named. */
static void unknown_records(void)
{
  static const char *const ids[] = {"abcdefabcdef", "0123456789abcdef0123456789abcdef",
                                    "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", NULL};

  for (const char *const *id = ids; *id; id++) {
    HW(PASS, "write", *id, "--set", "x=1");
    CHECK(R.status == 1 && has(R.err, "no record ") && has(R.err, " on this device"));
    if (count_lines(R.err, "homeward:") != 1)
      fprintf(stderr, "write %s said:\n%s", *id, R.err);
    CHECK_EQ(count_lines(R.err, "homeward:"), 1);
    HW(PASS, "show", *id);
    CHECK(R.status == 1 && count_lines(R.err, "homeward:") == 1);
    HW(PASS, "void", *id, "--reason", "wrong child");
    CHECK(R.status == 1 && count_lines(R.err, "homeward:") == 1);
  }
  HW(PASS, "write", "abcdefabcdef", "--set", "x=1");
  CHECK(has(R.err, "homeward: no record abcdefabcdef on this device") && !has(R.err, "no such"));
  HW(PASS, "show", "abc");
  CHECK(R.status == 1 && has(R.err, "at least 6 digits") && count_lines(R.err, "homeward:") == 1);
}

/* 2.2: a malformed option value is a usage error (exit 2), said before the
 * passphrase is asked for (none is given here). */
static void malformed_values(void)
{
  static const char *const sets[] = {"visit_date", "=2026-11-30", "", NULL};

  for (const char *const *set = sets; *set; set++) {
    HW(NULL, "record", "followup", "--set", *set);
    if (R.status != 2 || !has(R.err, "the form --set FIELD=VALUE"))
      fprintf(stderr, "--set \"%s\": exit %d\n%s", *set, R.status, R.err);
    CHECK(R.status == 2 && has(R.err, "the form --set FIELD=VALUE"));
    HW(NULL, "write", "0123456789ab", "--set", *set);
    CHECK(R.status == 2 && has(R.err, "the form --set FIELD=VALUE"));
  }
  OK("record", "case_note", "--draft", "--set", "note="); /* an empty answer is fine */
  HW(NULL, "case", "list", "--stage", "nowhere");
  CHECK(R.status == 2 && has(R.err, "no stage called nowhere"));
  HW(NULL, "export", "--json", "--yes", "--output", "");
  CHECK(R.status == 2 && has(R.err, "--output wants a path"));
  HW(NULL, "record", "child", "--file", "");
  CHECK(R.status == 2 && has(R.err, "--file wants a path"));
  HW(NULL, "record", "case_note", "--case", "", "--set", "note=x");
  CHECK(R.status == 2 && has(R.err, "--case wants"));
  HW(NULL, "void", "0123456789ab", "--reason", "");
  CHECK(R.status == 2 && has(R.err, "--reason wants"));
  HW(NULL, "record", "--resume", "");
  CHECK(R.status == 2 && has(R.err, "--resume wants"));
  HW(NULL, "case", "find", "--place", "");
  CHECK(R.status == 2 && has(R.err, "--place wants"));
  HW(NULL, "case", "find", "--age", "");
  CHECK(R.status == 2 && has(R.err, "--age wants a whole number"));
}

/* 2.3: a --file that cannot be read says so, with no JSON line number. */
static void answers_file(const char *dir)
{
  char path[500], want[600];
  FILE *f;

  snprintf(path, sizeof path, "%s/none.json", dir);
  HW(PASS, "record", "child", "--file", path);
  snprintf(want, sizeof want, "homeward: cannot read %s: No such file or directory\n", path);
  if (R.status != 1 || !has(R.err, want))
    fprintf(stderr, "exit %d\n%s", R.status, R.err);
  CHECK(R.status == 1 && has(R.err, want) && !has(R.err, "line -1"));
  HW(PASS, "record", "child", "--file", dir);
  CHECK(R.status == 1 && has(R.err, "cannot read ") && has(R.err, ": Is a directory"));
  snprintf(path, sizeof path, "%s/broken.json", dir);
  CHECK((f = fopen(path, "w")) != NULL);
  fputs("{\"note\": ", f);
  fclose(f);
  HW(PASS, "record", "child", "--file", path);
  CHECK(R.status == 1 && has(R.err, "broken.json: ") && has(R.err, "(line 1)"));
  /* An answer too long is said as such; a file far over any form, before
   * it is read into memory. */
  snprintf(path, sizeof path, "%s/long.json", dir);
  CHECK((f = fopen(path, "w")) != NULL);
  fputs("{\"found_place\": \"", f);
  for (int i = 0; i < 20000; i++)
    fputc('x', f);
  fputs("\"}", f);
  fclose(f);
  HW(PASS, "record", "child", "--file", path);
  CHECK(R.status == 1 && has(R.err, "found_place: the answer is longer than"));
  CHECK((f = fopen(path, "a")) != NULL);
  for (int i = 0; i < 1100000; i++)
    fputc(' ', f);
  fclose(f);
  HW(PASS, "record", "child", "--file", path);
  CHECK(R.status == 1 && has(R.err, "long.json: over 1024 KiB"));
  /* Every form but the child's belongs to a case. */
  HW(PASS, "record", "followup", "--set", "visit_date=2026-06-02");
  CHECK(R.status == 1 && has(R.err, "a followup belongs to a case: give --case CASE"));
}

/* 2.4: --json only where there is JSON output; refused elsewhere, also in
 * the shell. */
static void json_refused(void)
{
  static const char *const cmds[][3] = {
      {"list"},  {"conflicts"}, {"drafts"}, {"show", "0123456789ab"}, {"case", "find", "amina"},
      {"forms"}, {"sync"}};

  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    const char *args[6] = {cmds[i][0]};
    size_t n = 1;
    while (n < 3 && cmds[i][n])
      args[n] = cmds[i][n], n++;
    args[n] = "--json";
    run_hw(&R, store, NULL, args);
    if (R.status != 2 || !has(R.err, "has no --json"))
      fprintf(stderr, "%s --json: exit %d\n%s", args[0], R.status, R.err);
    CHECK(R.status == 2 && has(R.err, "has no --json"));
    CHECK(has(R.err, "case list, case show, status and export"));
  }
  USAGE("list has no --json", "list", "--json");
  USAGE("case find has no --json", "case", "find", "amina", "--json");
  USAGE("list has no --csv", "list", "--csv");
  OK("status", "--json");
  OK("case", "list", "--json");
  {
    char in[500];
    FILE *f;
    snprintf(in, sizeof in, "%s.shell-in", store);
    CHECK((f = fopen(in, "w")) != NULL);
    fputs("list --json\nstatus --json\nhelp\n", f);
    fclose(f);
    run_hw_in(&R, store, PASS, in, (const char *const[]){"shell", NULL});
    CHECK(R.status == 0 && has(R.err, "list has no --json") && has(R.out, "\"worker\""));
    /* help lists what the shell runs, not init, shell, recover or --store. */
    CHECK(has(R.out, "  case list") && has(R.out, "  unvoid RECORD"));
    CHECK(!has(R.out, "  init INVITATION") && !has(R.out, "  shell ") &&
          !has(R.out, "  recover KEYFILE") && !has(R.out, "--store PATH"));
  }
}

/* 2.6: counts of one are singular. */
static void singular(const char *dir)
{
  char path[500];

  snprintf(path, sizeof path, "%s/one.json", dir);
  OK("export", "--json", "--yes", "--output", path);
  CHECK(has(R.err, "exported 1 case to "));
  OK("record", "case_note", "--draft", "--set", "note_date=2026-06-02");
  OK("drafts");
  CHECK(has(R.out, ", 1 answer\n"));
}

int main(int argc, char **argv)
{
  hw_test_server srv;
  char inv[600], dev[17], admin[4096], line[64], junk[400];
  static char server_bin[PATH_MAX], cli_bin[PATH_MAX];

  CHECK(argc == 4);
  CHECK_OK(hw_crypto_init());
  passphrase_runs();
  /* Absolute paths: the test moves into the server's folder later (6). */
  CHECK(realpath(argv[1], server_bin) != NULL && realpath(argv[2], cli_bin) != NULL);
  hw_test_server_start(&srv, server_bin);
  run_setup(cli_bin, srv.dir);
  snprintf(store, sizeof store, "%s/homeward.db", srv.dir);
  /* --version: both commands, exit 0, nothing else needed (no store). */
  run_hw(&R, store, NULL, (const char *const[]){"--version", NULL});
  CHECK(R.status == 0 && strncmp(R.out, "homeward ", 9) == 0 && has(R.out, HW_VERSION));
  CHECK_EQ(hw_test_server_cmd(&srv, admin, sizeof admin, (const char *const[]){"--version", NULL}),
           0);
  CHECK(strncmp(admin, "homeward-server ", 16) == 0 && strstr(admin, HW_VERSION) != NULL);
  hw_test_invite(&srv, "amina", inv, sizeof inv);
  hw_test_invite_as(&srv, "joseph", "coordinator", "joseph", admin, sizeof admin);

  /* The installed commands cannot weaken a passphrase's hashing: only the
   * test builds (homeward-test, homeward-server-powercut) take the option. */
  {
    char cmd[2400], errf[500], said[4096];
    size_t refused = hw_test_file_count(srv.log, "unknown option --test-fast-kdf");
    int st;
    snprintf(errf, sizeof errf, "%s/installed.err", srv.dir);
    snprintf(cmd, sizeof cmd, "'%s' --test-fast-kdf --store '%s' status >/dev/null 2>'%s'",
             argv[3], store, errf);
    st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    CHECK(hw_test_file_count(errf, "unknown option --test-fast-kdf") == 1);
    CHECK_EQ(hw_test_server_cmd(&srv, said, sizeof said,
                                (const char *const[]){"--test-fast-kdf", "status", NULL}),
             2);
    CHECK_EQ(hw_test_file_count(srv.log, "unknown option --test-fast-kdf"), refused + 1);
  }

  /* Keyboard runs are refused at init, as the guide says. */
  HW("qwertyuiopasdf", "init", inv);
  CHECK(R.status == 1 && has(R.err, "passphrase refused") && has(R.err, "keys or digits"));
  HW("123456789012", "init", inv);
  CHECK(R.status == 1 && has(R.err, "passphrase refused"));

  /* Usage errors before any store exists: said at once (no "no store"),
   * exit 2. */
  USAGE("case show CASE", "case", "show");
  CHECK(!has(R.err, "no store"));
  USAGE("void RECORD --reason TEXT", "void", "0123456789ab");
  CHECK(!has(R.err, "no store"));

  OK("init", inv);
  OK("status");
  CHECK(has(R.out, "server:          ") && has(R.out, srv.listen)); /* where it syncs */

  /* A store without its key envelope, and an envelope without its store,
   * are each named as such (trial 3); nothing is made or changed. */
  {
    char env[500], aside[500];
    snprintf(env, sizeof env, "%s.hwkey", store);
    snprintf(aside, sizeof aside, "%s/aside.hwkey", srv.dir);
    CHECK(rename(env, aside) == 0);
    HW(PASS, "status");
    CHECK(R.status == 1 && has(R.err, "its key envelope") && has(R.err, ".hwkey is missing"));
    CHECK(rename(aside, env) == 0);
    snprintf(aside, sizeof aside, "%s/aside.db", srv.dir);
    CHECK(rename(store, aside) == 0);
    HW(PASS, "init", inv);
    CHECK(R.status == 1 && has(R.err, "is here but the store") && has(R.err, "deleted or moved"));
    CHECK(access(store, F_OK) != 0);
    CHECK(rename(aside, store) == 0);
    OK("status");
  }

  /* 9: before the first sync. */
  OK("status");
  CHECK(has(R.out, "last sync:       never\n"));
  /* 8: each progress line once (plain lines when not on a terminal). */
  OK("sync");
  CHECK_EQ(count_lines(R.err, "sync: sent "), 1);
  OK("record", "child", "--set", "registered_on=2026-06-01", "--set", "given_name=Amina", "--set",
     "family_name=Uwase", "--set", "sex=female", "--set", "age_estimate_years=9", "--set",
     "found_date=2026-05-30", "--set", "found_place=Gisenyi market", "--set",
     "separation_cause=conflict", "--set", "decision=open_case");
  /* 2.6: one record, one case: singular. */
  OK("status");
  CHECK(has(R.out, "on this device:  1 record in 1 case\n"));
  CHECK(has(R.out, "not yet synced:  1 record\n"));
  OK("case", "list");
  CHECK(has(R.out, "(1 case;"));
  OK("sync");
  CHECK_EQ(count_lines(R.err, "sync: sent 1/1 record, "), 1);
  CHECK(has(R.out, "synced: 1 sent") && has(R.out, ", 0 records with conflicts\n"));
  OK("status");
  CHECK(has(R.out, "not yet synced:  0 records\n"));

  /* 2: a missing word or value is a usage error, exit 2, whatever the
   * command; a wrong value (an unknown record) stays a refusal, exit 1. */
  USAGE("case show CASE", "case", "show");
  USAGE("void RECORD --reason TEXT", "void", "0123456789ab");
  USAGE("void RECORD --reason TEXT", "void");
  USAGE("show RECORD", "show");
  USAGE("record KIND", "record");
  USAGE("write RECORD --set", "write", "0123456789ab");
  USAGE("resolve RECORD FIELD", "resolve", "0123456789ab", "note");
  USAGE("export (--json | --csv)", "export");
  USAGE("--reason needs a value", "void", "0123456789ab", "--reason");
  HW(PASS, "show", "0123456789ab");
  CHECK(R.status == 1 && has(R.err, "no record 0123456789ab on this device"));
  HW(PASS, "void", "0123456789ab", "--reason", "wrong child");
  CHECK(R.status == 1 && has(R.err, "no record 0123456789ab on this device"));

  unknown_records();
  malformed_values();
  answers_file(srv.dir);
  json_refused();
  singular(srv.dir);

  /* 3: an unknown option is unknown wherever it is on the line. */
  USAGE("unknown option --bogus", "list", "--bogus");
  CHECK(!has(R.err, "needs a value"));
  USAGE("unknown option --bogus", "sync", "--bogus");
  USAGE("unknown option --bogus", "status", "--bogus");
  USAGE("unknown option --bogus", "status", "--bogus", "x");
  USAGE("--passphrase-fd wants a whole number", "status", "--passphrase-fd", "x");
  USAGE("init: one word too many from extra", "init", "homeward-invite:x", "extra");
  USAGE("--pick wants a whole number from 1 (as homeward conflicts numbers", "resolve", "a", "b",
        "--pick", "0");
  USAGE("show: one word too many from b", "show", "a", "b");
  HW(NULL, "status", "--passphrase-fd", "99"); /* not open in this process */
  CHECK(R.status == 1 && has(R.err, "--passphrase-fd names no open file descriptor"));

  /* 4: an unknown case command names itself and the valid ones. */
  USAGE("unknown case command bogus", "case", "bogus");
  CHECK(has(R.err, "list") && has(R.err, "show") && has(R.err, "find"));
  CHECK(!has(R.err, "unknown command case"));
  USAGE("case list", "case");
  CHECK(has(R.err, "show") && has(R.err, "find"));

  /* 5: an empty HOMEWARD_PASSPHRASE is said as such (no confirmation is
   * involved in opening a store). */
  HW("", "status");
  CHECK(R.status == 1 && has(R.err, "HOMEWARD_PASSPHRASE is empty"));
  CHECK(!has(R.err, "differ"));

  /* 7: a directory given as the store. */
  run_hw(&R, srv.dir, PASS, (const char *const[]){"status", NULL});
  CHECK(R.status == 1 && has(R.err, "is a directory, not a Homeward store"));
  CHECK(!has(R.err, "malformed"));
  {
    FILE *f;
    snprintf(junk, sizeof junk, "%s/notes.txt", srv.dir);
    CHECK((f = fopen(junk, "w")) != NULL);
    fputs("shopping: rice, beans, soap\n", f);
    fclose(f);
  }
  run_hw(&R, junk, PASS, (const char *const[]){"status", NULL});
  CHECK(R.status == 1 && has(R.err, "is not a Homeward store"));
  CHECK(!has(R.err, "malformed"));
  USAGE("--store wants a path", "--store", "", "status");

  /* 6: an empty HOMEWARD_STORE counts as unset: ./homeward.db. */
  CHECK(chdir(srv.dir) == 0);
  setenv("HOMEWARD_STORE", "", 1);
  run_hw_default(&R, PASS, (const char *const[]){"list", NULL});
  CHECK_EQ(R.status, 0);
  CHECK(has(R.out, " case ") && !has(R.err, "invalid argument"));
  unsetenv("HOMEWARD_STORE");

  /* 1: status names the device as `homeward-server devices` does, and
   * `revoke --device` takes it; the replica id is kept under its name. */
  status_device(dev);
  CHECK(has(R.out, "replica:"));
  CHECK_EQ(hw_test_server_cmd(&srv, admin, sizeof admin, (const char *const[]){"devices", NULL}),
           0);
  snprintf(line, sizeof line, "device %s worker=amina ", dev);
  if (!has(admin, line))
    fprintf(stderr, "status says %s; the server lists:\n%s", dev, admin);
  CHECK(has(admin, line));
  CHECK_EQ(hw_test_server_cmd(&srv, admin, sizeof admin,
                              (const char *const[]){"revoke", "--device", dev, "--mode", "retire",
                                                    "--coordinator", "joseph", NULL}),
           0);
  HW(PASS, "sync");
  CHECK(R.status == 4 && has(R.err, "retired"));

  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_cleanup(&srv);
  return 0;
}
