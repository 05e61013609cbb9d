/* Administration on a real server (docs/operations.md), as a new user met
 * it: every person name a command takes is checked as a worker's is (a
 * coordinator's name goes into the audit entry's actor); an invitation's
 * audit entry names who was invited; cases are named by 6 or more digits
 * of their id as the devices take them (its start, its end, or the start
 * of the 12 digits their lists show); a server restored from a backup
 * audits its new epoch and voids the invitations unused in the backup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "control-client-int.h"
#include "harness.h"
#include "homeward/err.h"
#include "homeward/proto/msg.h"
#include "homeward/store.h"

#include <sqlite3.h>

static hw_test_server srv;
static char out[1 << 20];

/* Run an admin command; returns its exit status, its stdout in `out`. */
#define ADMIN(...)                                                                                 \
  hw_test_server_cmd(&srv, out, sizeof out, (const char *const[]){__VA_ARGS__, NULL})

/* The number of entries `audit` verified (the chain must verify). */
static unsigned long long audit_entries(void)
{
  unsigned long long n = 0;
  CHECK_EQ(ADMIN("audit"), 0);
  CHECK(sscanf(out, "audit chain verified: %llu entries", &n) == 1);
  return n;
}

#define NAME_RULE "a name without spaces, quotes, '=' or '/'"

/* A name that would forge an audit field or line, given as a worker's or
 * a coordinator's to every command that takes one: refused with the
 * rule, nothing stored, nothing audited. */
static void bad_names(void)
{
  static const char *const bad[] = {"j role=coordinator", "j\nrole=worker", "a b", "a\"b",
                                    "a'b", "a=b", "a/b", "a\\b", "a\tb", "a\x01", "a\x7f",
                                    "\xff\xfe"};
  const size_t n_bad = sizeof bad / sizeof bad[0];
  size_t coord_before = hw_test_file_count(srv.log, "--coordinator: " NAME_RULE);
  size_t worker_before = hw_test_file_count(srv.log, "--worker: " NAME_RULE);
  unsigned long long entries = audit_entries();
  char inv[600];

  hw_test_invite_as(&srv, "amina", "worker", "chipo", inv, sizeof inv);
  hw_test_invite_as(&srv, "chipo", "coordinator", "chipo", inv, sizeof inv);
  entries += 2;
  for (size_t i = 0; i < n_bad; i++) {
    const char *b = bad[i];
    /* As the coordinator who decides (8 commands). */
    CHECK(ADMIN("invite", "--worker", "zed", "--coordinator", b) != 0);
    CHECK(ADMIN("invite", "--worker", "zed", "--coordinator", b, "--role", "coordinator") != 0);
    CHECK(ADMIN("region", "--coordinator", b, "--worker", "amina") != 0);
    CHECK(ADMIN("assign", "--case", "abcdef", "--worker", "amina", "--coordinator", b) != 0);
    CHECK(ADMIN("reassign", "--case", "abcdef", "--worker", "amina", "--coordinator", b) != 0);
    CHECK(ADMIN("revoke", "--device", "0123abcd", "--mode", "lost", "--coordinator", b) != 0);
    CHECK(ADMIN("release", "--id", "1", "--coordinator", b) != 0);
    CHECK(ADMIN("reject", "--id", "1", "--coordinator", b) != 0);
    /* As the worker (5 commands). */
    CHECK(ADMIN("invite", "--worker", b, "--coordinator", "chipo") != 0);
    CHECK(ADMIN("region", "--coordinator", "chipo", "--worker", b) != 0);
    CHECK(ADMIN("assign", "--case", "abcdef", "--worker", b, "--coordinator", "chipo") != 0);
    CHECK(ADMIN("reassign", "--case", "abcdef", "--worker", b, "--coordinator", "chipo") != 0);
    CHECK(ADMIN("caseload", "--worker", b) != 0);
  }
  /* The server checks them itself, whatever sent the request. */
  for (size_t i = 0; i < n_bad; i++) {
    char sock[400], reply[512];
    /* Keys 1..9: cmd, worker, role, coordinator, case, device, mode, id, from. */
    const char *invite[9] = {"invite", "zed", "worker", bad[i]};
    const char *region[9] = {"region", bad[i], NULL, "chipo"};
    const char *release[9] = {"release", NULL, NULL, bad[i], NULL, NULL, NULL, "1"};
    const char *const *reqs[] = {invite, region, release};
    snprintf(sock, sizeof sock, "%s/control.sock", srv.state);
    for (size_t k = 0; k < 3; k++) {
      int ok = 1, rc = hw_control_call(sock, reqs[k], 9, &ok, reply, sizeof reply, 30);
      if (bad[i][0] == '\xff') { /* not UTF-8: not even a request */
        CHECK(rc != 0 || !ok);
        continue;
      }
      CHECK_OK(rc);
      CHECK(!ok && strstr(reply, k == 1 ? "--worker: " NAME_RULE : "--coordinator: " NAME_RULE));
    }
  }
  CHECK_EQ(hw_test_file_count(srv.log, "--coordinator: " NAME_RULE), coord_before + 8 * n_bad);
  CHECK_EQ(hw_test_file_count(srv.log, "--worker: " NAME_RULE), worker_before + 5 * n_bad);
  CHECK_EQ(audit_entries(), entries);
  CHECK(strstr(out, "role=coordinator fields") == NULL);
  CHECK(ADMIN("caseload", "--worker", "zed") != 0); /* never invited */

  /* Names in any language are fine, as coordinator and as worker. */
  CHECK_EQ(ADMIN("invite", "--worker", "zoë.n", "--coordinator", "joseph.m"), 0);
  CHECK_EQ(ADMIN("invite", "--worker", "Ngozi", "--coordinator", "зоя.к", "--role",
                 "coordinator"),
           0);
  CHECK_EQ(audit_entries(), entries + 2);
}

/* An invitation's entry says who was invited and who decided, in the
 * key=value form of the others; the chain still verifies. */
static void invite_entry(void)
{
  unsigned long long entries = audit_entries();

  CHECK_EQ(ADMIN("invite", "--worker", "zed", "--coordinator", "joseph.m"), 0);
  CHECK_EQ(ADMIN("invite", "--worker", "yusuf", "--coordinator", "joseph.m", "--role",
                 "coordinator"),
           0);
  CHECK_EQ(audit_entries(), entries + 2);
  CHECK(hw_test_audit_has(&srv, "invite ", " worker=zed coordinator=joseph.m role=worker "));
  CHECK(hw_test_audit_has(&srv, "actor=", " worker=yusuf coordinator=joseph.m role=coordinator "));
  /* Nothing secret: the token is in the invitation only. */
  CHECK(!hw_test_audit_has(&srv, "invite ", "homeward-invite:"));
}

/* reassign amina's case to `to`, naming it by `digits`: 0 or the exit status. */
static int reassign(const char *digits, const char *to)
{
  return ADMIN("reassign", "--case", digits, "--worker", to, "--coordinator", "chipo");
}

/* A case is named by 6 or more digits of its id as the devices take them:
 * its start, its end, or the start of the 12 the lists show. Digits that
 * name two cases, or none, are refused with what was tried. */
static void short_ids(void)
{
  hw_client *a = hw_test_enrol(&srv, "a1", "amina", "worker");
  hw_id r1 = {{0}}, c1 = {{0}}, r2 = {{0}}, c2 = {{0}};
  char h1[HW_ID_HEX_LEN + 1], h2[HW_ID_HEX_LEN + 1], d[HW_ID_HEX_LEN + 1], inv[600];
  const char *shown1, *shown2;
  size_t several = hw_test_file_count(srv.log, " matches several cases ");
  size_t none = hw_test_file_count(srv.log, "no case on the server matches ");
  int common = 0;

  hw_test_invite_as(&srv, "bashir", "worker", "chipo", inv, sizeof inv);
  hw_test_put_text(a, &r1, &c1, "note", "first case");
  hw_test_put_text(a, &r2, &c2, "note", "second case");
  CHECK_EQ(hw_test_sync_ok(a).pushed, 2);
  hw_id_to_hex(&c1, h1);
  hw_id_to_hex(&c2, h2);
  shown1 = h1 + HW_ID_HEX_LEN - 12;
  shown2 = h2 + HW_ID_HEX_LEN - 12;
  while (common < HW_ID_HEX_LEN && h1[common] == h2[common])
    common++;
  /* Both begin with the day they were made. */
  CHECK(common >= 6 && common < HW_ID_HEX_LEN - 12);

  /* The start of the 12 digits the lists show (what a worker reads out). */
  snprintf(d, sizeof d, "%.6s", shown1);
  CHECK_EQ(reassign(d, "bashir"), 0);
  CHECK(strstr(out, h1) && strstr(out, "to=bashir from=amina"));
  /* Its end, in capitals. */
  snprintf(d, sizeof d, "%s", h1 + HW_ID_HEX_LEN - 8);
  for (char *p = d; *p; p++)
    *p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
  CHECK_EQ(reassign(d, "amina"), 0);
  CHECK(strstr(out, h1) && strstr(out, "to=amina from=bashir"));
  /* The start of the id, as far as it is the first case's alone. */
  snprintf(d, sizeof d, "%.*s", common + 1, h1);
  CHECK_EQ(reassign(d, "bashir"), 0);
  CHECK(strstr(out, h1) && strstr(out, "to=bashir from=amina"));
  /* The whole 12 the list shows, and the whole id. */
  CHECK_EQ(reassign(shown2, "bashir"), 0);
  CHECK(strstr(out, h2) && strstr(out, "to=bashir from=amina"));
  CHECK_EQ(reassign(h2, "amina"), 0);
  CHECK(strstr(out, h2) && strstr(out, "to=amina from=bashir"));

  /* The start both ids share names both: refused, nothing moves. */
  snprintf(d, sizeof d, "%.6s", h1);
  CHECK(reassign(d, "amina") != 0);
  CHECK_EQ(hw_test_file_count(srv.log, " matches several cases "), several + 1);
  CHECK(hw_test_file_contains(srv.log, "give more digits"));
  CHECK_EQ(ADMIN("caseload", "--worker", "bashir"), 0);
  CHECK(strstr(out, h1) != NULL && strstr(out, h2) == NULL);
  /* Digits of neither: the message says what was tried. */
  snprintf(d, sizeof d, "%c%c%c%c%c%c%c", shown1[0] == 'f' ? '0' : 'f', shown1[1], shown1[2],
           shown2[3], shown2[4], shown2[5], shown2[6]);
  CHECK(reassign(d, "amina") != 0);
  CHECK_EQ(hw_test_file_count(srv.log, "no case on the server matches "), none + 1);
  CHECK(hw_test_file_contains(srv.log, "(tried: the start of its id, the end, and the start of "
                                       "the last 12 digits devices list"));
  /* Fewer than 6, or not hex: refused before any look-up. */
  CHECK(reassign("fcbcf", "amina") != 0);
  CHECK(reassign("fcbcfz", "amina") != 0);
  CHECK_EQ(ADMIN("caseload", "--worker", "amina"), 0);
  CHECK(strstr(out, h1) == NULL && strstr(out, h2) != NULL);
  hw_client_close(a);
}

/* A sync refused by the server: its code (protocol.md §5.9). */
static uint64_t refused_code(hw_client *c)
{
  hw_sync_result r;
  CHECK(hw_client_sync(c, 10000, NULL, NULL, &r) != HW_OK);
  return r.server_code;
}

/* The server put back from a backup: the new epoch is in the audit chain,
 * with the old, and every invitation unused in the backup is void (one
 * used since would otherwise enrol a second device). A fresh server. */
static void restored(const char *binary)
{
  char inv_i[600], inv_l[600], inv[600], line[400];
  hw_client *p1, *l1, *l2, *i1, *l3;
  unsigned long long old_epoch = 0, new_epoch = 0, voided = 99;
  const char *e;

  hw_test_server_start(&srv, binary);
  p1 = hw_test_enrol(&srv, "p1", "paulo", "worker");
  hw_test_sync_ok(p1); /* its invitation used before the backup */
  hw_test_invite(&srv, "ines", inv_i, sizeof inv_i);
  hw_test_invite(&srv, "lena", inv_l, sizeof inv_l);
  hw_test_server_backup(&srv);
  l1 = hw_test_device(&srv, "l1", inv_l);
  hw_test_sync_ok(l1); /* enrolled after the backup */
  CHECK_EQ(hw_test_file_count(srv.log, "new epoch taken"), 0);
  hw_test_server_restore(&srv);

  /* Logged and audited once, in the verified chain. */
  CHECK_EQ(hw_test_file_count(srv.log, "new epoch taken"), 1);
  CHECK_EQ(hw_test_file_count(srv.log, "invitations_voided=2: unused in the backup"), 1);
  CHECK(audit_entries() > 0);
  CHECK((e = strstr(out, " restored ")) != NULL);
  CHECK(strstr(e + 1, " restored ") == NULL);
  snprintf(line, sizeof line, "%.*s", (int)strcspn(e, "\n"), e);
  CHECK(strstr(line, " actor=") && strstr(line, "/- fields=0 "));
  e = strstr(line, "old_epoch=");
  CHECK(e && sscanf(e, "old_epoch=%llx new_epoch=%llx invitations_voided=%llu", &old_epoch,
                    &new_epoch, &voided) == 3);
  CHECK(old_epoch != 0 && new_epoch != 0 && old_epoch != new_epoch);
  CHECK_EQ(voided, 2);

  /* The token used after the backup enrols no second device; the device
   * it enrolled is unknown here; the invitation never used is void too. */
  l2 = hw_test_device(&srv, "l2", inv_l);
  CHECK_EQ(refused_code(l2), HW_CODE_TOKEN);
  CHECK_EQ(refused_code(l1), HW_CODE_UNKNOWN_DEVICE);
  i1 = hw_test_device(&srv, "i1", inv_i);
  CHECK_EQ(refused_code(i1), HW_CODE_TOKEN);
  /* A device enrolled before the backup goes on; an administrator invites
   * again, and the new invitation enrols. */
  CHECK(hw_test_sync_ok(p1).recovered);
  hw_test_invite(&srv, "lena", inv, sizeof inv);
  l3 = hw_test_device(&srv, "l3", inv);
  hw_test_sync_ok(l3);
  /* Started again, it is not restored again: nothing more is voided. */
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_restart(&srv);
  CHECK_EQ(hw_test_file_count(srv.log, "new epoch taken"), 1);
  CHECK(audit_entries() > 0 && strstr(strstr(out, " restored ") + 1, " restored ") == NULL);
  hw_test_sync_ok(l3);
  hw_client_close(p1);
  hw_client_close(l1);
  hw_client_close(l2);
  hw_client_close(i1);
  hw_client_close(l3);
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_cleanup(&srv);
}

/* An invitation lost or given by mistake: listed while unused, cancelled
 * by uninvite (audited once), then refused like an expired one. */
static void uninvite(void)
{
  char inv[600];
  hw_client *d;
  hw_sync_result r;

  hw_test_invite_as(&srv, "uma", "worker", "joseph.m", inv, sizeof inv);
  CHECK_EQ(ADMIN("invitations"), 0);
  CHECK(strstr(out, "invitation worker=uma role=worker expires=") != NULL);
  CHECK(strstr(out, "homeward-invite") == NULL); /* never the token */
  CHECK(ADMIN("uninvite", "--worker", "uma") != 0); /* who decides? */
  CHECK(ADMIN("uninvite", "--worker", "never.invited", "--coordinator", "joseph.m") != 0);
  CHECK_EQ(ADMIN("uninvite", "--worker", "uma", "--coordinator", "joseph.m"), 0);
  CHECK(strstr(out, "worker=uma invitations=1") != NULL);
  CHECK_EQ(ADMIN("invitations"), 0);
  CHECK(strstr(out, "worker=uma") == NULL);
  CHECK_EQ(ADMIN("uninvite", "--worker", "uma", "--coordinator", "joseph.m"), 0);
  CHECK(strstr(out, "no invitation of uma waits to be used") != NULL);
  CHECK(hw_test_audit_has(&srv, " uninvite ", "worker=uma invitations=1"));
  d = hw_test_device(&srv, "uma1", inv);
  CHECK(hw_client_sync(d, 10000, NULL, NULL, &r) != 0);
  CHECK(strstr(r.message, "invitation") != NULL);
  hw_client_close(d);
}

/* A page of the server's store damaged on disk, met by a command after the
 * server started: the command says the data was altered or damaged (not a
 * bare input/output error), the log says what to do, once, and the server
 * goes on serving what it can read. */
static void damaged_page(void)
{
  char db[400];
  long page = 0;
  hw_store *st;
  hw_store_opts o = {.path = db, .key_file = srv.key_file, .journal = HW_STORE_WAL};

  CHECK_EQ(hw_test_server_stop(&srv), 0);
  snprintf(db, sizeof db, "%s/server.db", srv.state);
  CHECK_OK(hw_store_open(&st, &o, NULL));
  {
    sqlite3_stmt *q;
    CHECK(sqlite3_prepare_v2(hw_store_sqlite(st),
                             "SELECT rootpage FROM sqlite_master WHERE name = 'srv_devices'", -1,
                             &q, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(q) == SQLITE_ROW);
    page = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    /* Everything into the database file: the page is read from there. */
    CHECK(sqlite3_exec(hw_store_sqlite(st), "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL,
                       NULL) == SQLITE_OK);
  }
  hw_store_close(st);
  CHECK(page > 1);
  {
    FILE *f = fopen(db, "r+b");
    int ch = 0;
    CHECK(f && fseek(f, (page - 1) * 4096 + 200, SEEK_SET) == 0 && (ch = fgetc(f)) != EOF);
    CHECK(fseek(f, (page - 1) * 4096 + 200, SEEK_SET) == 0 && fputc(ch ^ 0x01, f) != EOF);
    CHECK(fclose(f) == 0);
  }
  hw_test_server_restart(&srv);
  CHECK(ADMIN("devices") != 0);
  CHECK_EQ(hw_test_file_count(srv.log, "homeward-server: encrypted data was altered or damaged"),
           1);
  CHECK(ADMIN("devices") != 0);
  CHECK_EQ(hw_test_file_count(srv.log, "homeward-server: encrypted data was altered or damaged"),
           2);
  CHECK_EQ(hw_test_file_count(srv.log, "store page failed authentication"), 1); /* said once */
  CHECK(ADMIN("status") == 0); /* still serving */
}

int main(int argc, char **argv)
{
  CHECK(argc == 2);
  CHECK_OK(hw_crypto_init());
  hw_test_server_start(&srv, argv[1]);
  bad_names();
  invite_entry();
  short_ids();
  uninvite();
  damaged_page();
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_cleanup(&srv);
  restored(argv[1]);
  puts("administration: ok");
  return 0;
}
