/* Caseloads and device revocation on a real server (issue 7; protocol.md
 * §9): each worker pulls only their own cases; a coordinator pulls their
 * region's; a push into a case never held is quarantined; a case created
 * offline belongs to its creator; a reassignment moves the case whole to the
 * new holder, deletes it from the old holder's devices once their edits are
 * pushed, and flags those late edits; a retired device pushes what it has
 * and wipes itself; a lost one is refused and wipes itself. Every change is
 * in the audit chain. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "homeward/err.h"
#include "homeward/mem.h"
#include "proxy.h"

static hw_test_server srv;
static char out[1 << 22]; /* the audit report of the whole test */

/* Run an admin command; returns its exit status, its stdout in `out`. */
#define ADMIN(...) hw_test_server_cmd(&srv, out, sizeof out, (const char *const[]){__VA_ARGS__, NULL})

static void invite_as(const char *worker, const char *role, char *inv, size_t cap)
{
  hw_test_invite_as(&srv, worker, role, "chipo", inv, cap);
}

/* The key prefix of the one device of `worker` (from `devices`). */
static void device_of(const char *worker, char prefix[17])
{
  char needle[80];
  const char *p;
  CHECK_EQ(ADMIN("devices"), 0);
  snprintf(needle, sizeof needle, " worker=%s ", worker);
  p = strstr(out, needle);
  CHECK(p && p - out >= 16);
  memcpy(prefix, p - 16, 16);
  prefix[16] = '\0';
}

/* Names in caseload commands must be the invited ones, with the right
 * role: a typo or a worker named as a region's coordinator is refused and
 * nothing moves. A name with both roles sees the region on its coordinator
 * device only; its worker device keeps its own caseload and checksum. */
static void region_roles(void)
{
  hw_client *f1, *f2, *g1;
  hw_id rg = {{0}}, cg = {{0}};
  char hex[HW_ID_HEX_LEN + 1];
  hw_sync_result r;
  size_t refused;

  f1 = hw_test_enrol(&srv, "hw1", "hana", "worker");
  g1 = hw_test_enrol(&srv, "gw1", "gita", "worker");
  hw_test_put_text(g1, &rg, &cg, "note", "gita's case");
  CHECK_EQ(hw_test_sync_ok(g1).pushed, 1);
  CHECK_EQ(hw_test_sync_ok(f1).pulled, 0);

  refused = hw_test_file_count(srv.log, "is not a coordinator");
  CHECK(ADMIN("region", "--coordinator", "hana", "--worker", "gita") != 0);
  CHECK(ADMIN("region", "--coordinator", "ghost", "--worker", "gita") != 0);
  CHECK_EQ(hw_test_file_count(srv.log, "is not a coordinator"), refused + 2);
  refused = hw_test_file_count(srv.log, "no worker named");
  CHECK(ADMIN("region", "--coordinator", "chipo", "--worker", "nobody") != 0);
  hw_id_to_hex(&cg, hex);
  CHECK(ADMIN("reassign", "--case", hex, "--worker", "gitaa", "--coordinator", "chipo") != 0);
  CHECK(ADMIN("assign", "--case", hex, "--worker", "nobody", "--coordinator", "chipo") != 0);
  CHECK_EQ(hw_test_file_count(srv.log, "no worker named"), refused + 3);
  CHECK(ADMIN("caseload", "--worker", "gitaa") != 0);
  CHECK_EQ(ADMIN("caseload", "--worker", "hana"), 0);
  CHECK(strstr(out, "hana holds no cases") != NULL);
  CHECK_EQ(ADMIN("caseload", "--worker", "gita"), 0);
  CHECK(strstr(out, hex) != NULL);
  r = hw_test_sync_ok(f1);
  CHECK_EQ(r.pulled, 0);
  CHECK(r.checksum_ok);

  /* hana becomes a coordinator too: her coordinator device gets gita's
   * region; her worker device still holds only her own cases. */
  f2 = hw_test_enrol(&srv, "hc1", "hana", "coordinator");
  CHECK_EQ(ADMIN("region", "--coordinator", "hana", "--worker", "gita"), 0);
  r = hw_test_sync_ok(f2);
  CHECK_EQ(r.pulled, 1);
  CHECK(r.checksum_ok);
  r = hw_test_sync_ok(f1);
  CHECK_EQ(r.pulled, 0);
  CHECK(r.checksum_ok);
  CHECK_EQ(hw_test_device_records(f1), 0);
  /* A coordinator may hold cases (parked with them), even with no device. */
  {
    char inv[600];
    invite_as("ida", "coordinator", inv, sizeof inv);
    CHECK_EQ(ADMIN("reassign", "--case", hex, "--worker", "ida", "--coordinator", "chipo"), 0);
    CHECK_EQ(ADMIN("caseload", "--worker", "ida"), 0);
    CHECK(strstr(out, hex) != NULL);
    CHECK_EQ(ADMIN("reassign", "--case", hex, "--worker", "gita", "--coordinator", "chipo"), 0);
  }
  /* The coordinator edits gita's case offline while it moves out of her
   * region: her edit is a late edit (she saw the case through gita), merged
   * and flagged, not quarantined as a case she never held. */
  r = hw_test_sync_ok(f2);
  CHECK_EQ(hw_test_device_records(f2), 1);
  hw_test_put_text(f2, &rg, &cg, "note", "coordinator's note, written offline");
  {
    char inv[600];
    invite_as("ivo", "worker", inv, sizeof inv);
    CHECK_EQ(ADMIN("reassign", "--case", hex, "--worker", "ivo", "--coordinator", "chipo"), 0);
  }
  r = hw_test_sync_ok(f2);
  CHECK_EQ(r.pushed, 1);
  CHECK_EQ(r.quarantined, 0);
  CHECK(hw_test_audit_has(&srv, " late-edit ", "actor=hana"));
  CHECK_EQ(ADMIN("caseload", "--worker", "ivo"), 0);
  CHECK(strstr(out, "LATE-EDIT") != NULL);
  hw_client_close(f1);
  hw_client_close(f2);
  hw_client_close(g1);
}

/* How many times `needle` occurs in `out`. */
static size_t occurrences(const char *needle)
{
  size_t n = 0;
  for (const char *p = out; (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

/* A worker taken out of a coordinator's region: her devices delete the
 * worker's cases after pushing her own edits of them, which merge as late
 * edits; a coordinator who still sees the worker through her own region
 * keeps them. A late edit's mark is listed and cleared once reviewed. */
static void region_leave(void)
{
  hw_client *k1, *l1, *m1, *z1;
  hw_id rl = {{0}}, cl = {{0}}, rm = {{0}}, cm = {{0}};
  char hex[HW_ID_HEX_LEN + 1];
  hw_sync_result r;

  k1 = hw_test_enrol(&srv, "kc1", "kofi", "coordinator");
  z1 = hw_test_enrol(&srv, "zc1", "zara", "coordinator");
  l1 = hw_test_enrol(&srv, "lw1", "lulu", "worker");
  m1 = hw_test_enrol(&srv, "mw1", "musa", "worker");
  hw_test_put_text(l1, &rl, &cl, "note", "lulu's case");
  hw_test_put_text(m1, &rm, &cm, "note", "musa's case");
  CHECK_EQ(hw_test_sync_ok(l1).pushed, 1);
  CHECK_EQ(hw_test_sync_ok(m1).pushed, 1);
  CHECK_EQ(ADMIN("region", "--coordinator", "kofi", "--worker", "lulu"), 0);
  CHECK_EQ(ADMIN("region", "--coordinator", "kofi", "--worker", "musa"), 0);
  /* zara sees lulu directly, and kofi as one who could hold cases. */
  CHECK_EQ(ADMIN("region", "--coordinator", "zara", "--worker", "lulu"), 0);
  CHECK_EQ(ADMIN("region", "--coordinator", "zara", "--worker", "kofi"), 0);
  CHECK_EQ(hw_test_sync_ok(k1).pulled, 2);
  CHECK_EQ(hw_test_sync_ok(z1).pulled, 1);

  /* Refused, nothing changes: wrong names, a missing argument. */
  CHECK(ADMIN("unregion", "--coordinator", "kofi", "--worker", "lulu-typo") != 0);
  CHECK(ADMIN("unregion", "--coordinator", "musa", "--worker", "lulu") != 0);
  CHECK(ADMIN("unregion", "--coordinator", "kofi") != 0);
  r = hw_test_sync_ok(k1);
  CHECK_EQ(r.removed, 0);
  CHECK_EQ(hw_test_device_records(k1), 2);

  /* kofi edits lulu's case offline, then lulu leaves her region. */
  hw_test_put_text(k1, &rl, &cl, "note", "kofi's note, written offline");
  CHECK_EQ(ADMIN("unregion", "--coordinator", "kofi", "--worker", "lulu"), 0);
  CHECK(strstr(out, "coordinator=kofi worker=lulu") != NULL);
  CHECK_EQ(ADMIN("unregion", "--coordinator", "kofi", "--worker", "lulu"), 0);
  CHECK(strstr(out, "not in the region: coordinator=kofi worker=lulu") != NULL);
  CHECK_EQ(ADMIN("audit"), 0);
  CHECK_EQ(occurrences(" unregion "), 1);
  /* zara still sees lulu: kofi's leaving takes nothing from her. */
  r = hw_test_sync_ok(z1);
  CHECK_EQ(r.removed, 0);
  CHECK(r.checksum_ok);
  CHECK_EQ(hw_test_device_records(z1), 1);
  r = hw_test_sync_ok(k1);
  CHECK_EQ(r.pushed, 1);
  CHECK_EQ(r.quarantined, 0);
  CHECK_EQ(r.removed, 1);
  CHECK(r.checksum_ok);
  CHECK_EQ(hw_test_device_records(k1), 1); /* musa's case stays */
  CHECK(hw_test_audit_has(&srv, " late-edit ", "actor=kofi"));
  /* lulu's case is hers still, with kofi's note merged in, and her
   * device knows it is marked. */
  r = hw_test_sync_ok(l1);
  CHECK_EQ(r.pulled, 1);
  CHECK_EQ(r.late_edited, 1);
  {
    hw_id_list late;
    CHECK_OK(hw_client_late_edited(l1, &late));
    CHECK(late.n == 1 && hw_id_cmp(&late.v[0], &cl) == 0);
    hw_free(late.v);
  }
  {
    char got[2][128];
    CHECK_EQ(hw_test_field_texts(l1, &rl, "note", got, 2), 1);
    CHECK(strcmp(got[0], "kofi's note, written offline") == 0);
  }
  /* Nothing of lulu's reaches kofi any more. */
  hw_test_put_text(l1, &rl, &cl, "note", "lulu's next visit");
  CHECK_EQ(hw_test_sync_ok(l1).pushed, 1);
  r = hw_test_sync_ok(k1);
  CHECK_EQ(r.pulled, 0);
  CHECK(r.checksum_ok);

  /* The late edit's mark: listed, cleared once reviewed, audited once. */
  hw_id_to_hex(&cl, hex);
  CHECK_EQ(ADMIN("flags"), 0);
  CHECK(strstr(out, hex) != NULL && strstr(out, "holder=lulu late-edits=1") != NULL);
  CHECK(ADMIN("review", "--case", hex) != 0); /* who decides? */
  CHECK(ADMIN("review", "--coordinator", "kofi") != 0);
  CHECK_EQ(ADMIN("review", "--case", hex + HW_ID_HEX_LEN - 12, "--coordinator", "kofi"), 0);
  CHECK(strstr(out, "late-edits=1") != NULL);
  CHECK_EQ(ADMIN("review", "--case", hex, "--coordinator", "kofi"), 0);
  CHECK(strstr(out, "has no LATE-EDIT mark") != NULL);
  CHECK_EQ(ADMIN("flags"), 0);
  CHECK(strstr(out, hex) == NULL);
  CHECK_EQ(ADMIN("caseload", "--worker", "lulu"), 0);
  CHECK(strstr(out, hex) != NULL && strstr(out, "LATE-EDIT") == NULL);
  r = hw_test_sync_ok(l1); /* the device forgets the mark too */
  CHECK_EQ(r.late_edited, 0);
  {
    hw_id_list late;
    CHECK_OK(hw_client_late_edited(l1, &late));
    CHECK_EQ(late.n, 0);
  }
  CHECK_EQ(ADMIN("audit"), 0);
  CHECK_EQ(occurrences(" review "), 1);
  hw_client_close(k1);
  hw_client_close(l1);
  hw_client_close(m1);
  hw_client_close(z1);
}

static bool exists(const char *name)
{
  char path[400];
  snprintf(path, sizeof path, "%s/%s", srv.dir, name);
  return access(path, F_OK) == 0;
}

static int sync_once(hw_client *c, hw_sync_result *r)
{
  return hw_client_sync(c, 10000, NULL, NULL, r);
}

/* A lost device in the middle of a session is cut off at once. The proxy
 * passes the server's first handshake message, then drops everything the
 * server sends: the device's push lands, the session stays open waiting. */
static void live_session_cut(void)
{
  char inv[600], inv_p[700], paddr[64], dev[17];
  hw_proxy *p = hw_proxy_start(srv.listen, paddr);
  hw_id rec = {{0}}, cas = {{0}};
  hw_client *f1;
  hw_test_bg b;
  size_t before, refused;

  invite_as("fatima", "worker", inv, sizeof inv);
  hw_test_readdress(inv, paddr, inv_p, sizeof inv_p);
  f1 = hw_test_device(&srv, "f1", inv_p);
  hw_test_sync_ok(f1);
  device_of("fatima", dev);
  hw_test_put_text(f1, &rec, &cas, "note", "in the field");
  before = hw_test_server_records(&srv);
  refused = hw_test_file_count(srv.log, "refused code=7");
  hw_proxy_set(p, HW_PROXY_SWALLOW, 1, 1);
  /* Longer than the server's idle timeout (20 s in tests): only the
   * revocation can end this session early. */
  hw_test_bg_start(&b, f1, 60000);
  for (int i = 0; i < 500 && hw_test_server_records(&srv) == before; i++)
    nanosleep(&(struct timespec){0, 20000000}, NULL);
  CHECK_EQ(hw_test_server_records(&srv), before + 1); /* the session is live */
  CHECK_EQ(ADMIN("revoke", "--device", dev, "--mode", "lost", "--coordinator", "chipo"), 0);
  CHECK(hw_test_bg_join(&b) != HW_OK);
  /* The server ended it with REVOKED, not its idle timer. */
  CHECK_EQ(hw_test_file_count(srv.log, "refused code=7"), refused + 1);
  CHECK(hw_test_file_count(srv.log, "idle-timeout") == 0);
  /* Its next connection is refused at the handshake, and it wipes. */
  hw_proxy_set(p, HW_PROXY_PASS, 0, 0);
  CHECK_EQ(sync_once(f1, &b.r), HW_EREVOKED);
  CHECK(b.r.wiped);
  hw_client_close(f1);
  CHECK(!exists("f1.db"));
  hw_proxy_stop(p);
}

int main(int argc, char **argv)
{
  hw_client *a1, *a2, *b1, *c1, *d1, *e1;
  hw_id ra = {{0}}, ca = {{0}}, rb = {{0}}, cb = {{0}}, rx = {{0}}, rz = {{0}}, cz = {{0}};
  hw_id re = {{0}}, ce = {{0}};
  char hex[HW_ID_HEX_LEN + 1], dev[17];
  hw_sync_result r;
  size_t before;

  CHECK(argc == 2);
  CHECK_OK(hw_crypto_init());
  hw_test_server_start(&srv, argv[1]);
  a1 = hw_test_enrol(&srv, "a1", "amina", "worker");
  a2 = hw_test_enrol(&srv, "a2", "amina", "worker");
  b1 = hw_test_enrol(&srv, "b1", "bashir", "worker");
  c1 = hw_test_enrol(&srv, "c1", "chipo", "coordinator");

  /* Cases created offline belong to their creators. */
  hw_test_put_text(a1, &ra, &ca, "note", "amina's case");
  hw_test_put_text(b1, &rb, &cb, "note", "bashir's case");
  CHECK_EQ(hw_test_sync_ok(a1).pushed, 1);
  CHECK_EQ(hw_test_sync_ok(b1).pushed, 1);
  CHECK_EQ(ADMIN("caseload", "--worker", "bashir"), 0);
  hw_id_to_hex(&cb, hex);
  CHECK(strstr(out, hex) != NULL);
  hw_id_to_hex(&ca, hex);
  CHECK(strstr(out, hex) == NULL);

  /* Each device pulls its worker's cases only. */
  r = hw_test_sync_ok(a2);
  CHECK_EQ(r.pulled, 1);
  CHECK(r.checksum_ok);
  CHECK_EQ(hw_test_device_records(a2), 1);
  r = hw_test_sync_ok(b1);
  CHECK_EQ(r.pulled, 0);
  CHECK(r.checksum_ok);
  CHECK_EQ(hw_test_device_records(b1), 1);

  /* A coordinator sees nothing until given a region, then the region whole. */
  r = hw_test_sync_ok(c1);
  CHECK_EQ(r.pulled, 0);
  CHECK_EQ(ADMIN("region", "--coordinator", "chipo", "--worker", "amina"), 0);
  {
    /* Said again: told so, no second audit entry. */
    size_t entries = 0;
    CHECK_EQ(ADMIN("region", "--coordinator", "chipo", "--worker", "amina"), 0);
    CHECK(strstr(out, "already in the region: coordinator=chipo worker=amina") != NULL);
    CHECK_EQ(ADMIN("audit"), 0);
    for (const char *p = out; (p = strstr(p, "coordinator=chipo worker=amina")) != NULL; p++)
      entries++;
    CHECK_EQ(entries, 1);
  }
  r = hw_test_sync_ok(c1);
  CHECK_EQ(r.pulled, 1);
  CHECK(r.checksum_ok);
  CHECK_EQ(hw_test_device_records(c1), 1);
  region_roles();
  region_leave();

  /* A push into a case this worker never held is kept aside, not merged. */
  before = hw_test_server_records(&srv);
  hw_test_put_text(b1, &rx, &ca, "note", "not my case");
  r = hw_test_sync_ok(b1);
  CHECK_EQ(r.quarantined, 1);
  CHECK_EQ(hw_test_server_records(&srv), before);
  r = hw_test_sync_ok(a2);
  CHECK_EQ(r.pulled, 0);
  /* The quarantined write leaves a gap in b1's acknowledged writes: its
   * next writes still sync, and so does every sync after them. */
  hw_test_put_text(b1, &rb, &cb, "note", "bashir's second visit");
  CHECK_EQ(hw_test_sync_ok(b1).pushed, 1);
  r = hw_test_sync_ok(b1);
  CHECK_EQ(r.pushed, 0);
  CHECK_EQ(r.pulled, 0);

  /* Assign refuses a case someone holds; bad arguments are refused. */
  hw_id_to_hex(&ca, hex);
  CHECK(ADMIN("assign", "--case", hex, "--worker", "bashir", "--coordinator", "chipo") != 0);
  CHECK(ADMIN("reassign", "--case", "xyz", "--worker", "bashir", "--coordinator", "chipo") != 0);
  CHECK(ADMIN("reassign", "--case", hex, "--worker", "bashir") != 0); /* who decides? */
  /* A case the server does not know is refused, not handed out (a typo
   * would otherwise hold a case nobody can see). */
  {
    size_t unknown = hw_test_file_count(srv.log, "no case on the server matches"),
           digits = hw_test_file_count(srv.log, "6 to 32 hex digits");
    CHECK(ADMIN("assign", "--case", "0123456789abcdef0123456789abcdef", "--worker", "bashir",
                "--coordinator", "chipo") != 0);
    CHECK(ADMIN("assign", "--case", "fedcba", "--worker", "bashir", "--coordinator", "chipo") != 0);
    CHECK(ADMIN("assign", "--case", "12345", "--worker", "bashir", "--coordinator", "chipo") != 0);
    CHECK_EQ(hw_test_file_count(srv.log, "no case on the server matches"), unknown + 2);
    CHECK_EQ(hw_test_file_count(srv.log, "6 to 32 hex digits"), digits + 1);
    CHECK_EQ(ADMIN("caseload", "--worker", "bashir"), 0);
    CHECK(strstr(out, "0123456789abcdef0123456789abcdef") == NULL);
  }

  /* Reassignment while amina's first device has an unpushed edit. */
  hw_test_put_text(a1, &ra, &ca, "note", "late visit");
  /* Named by its last 12 digits, as the devices' lists show it. */
  CHECK_EQ(ADMIN("reassign", "--case", hex + HW_ID_HEX_LEN - 12, "--worker", "bashir",
                 "--coordinator", "chipo"),
           0);
  CHECK(strstr(out, "to=bashir from=amina") != NULL && strstr(out, hex) != NULL);
  r = hw_test_sync_ok(a2); /* nothing pending: the case goes at once */
  CHECK_EQ(r.removed, 1);
  CHECK_EQ(hw_test_device_records(a2), 0);
  CHECK(r.checksum_ok);
  r = hw_test_sync_ok(b1); /* the new holder gets the case whole */
  CHECK_EQ(r.pulled, 1);
  CHECK_EQ(hw_test_device_records(b1), 3); /* its own, the case, its held push */
  r = hw_test_sync_ok(a1); /* the late edit lands, then the case goes */
  CHECK_EQ(r.pushed, 1);
  CHECK_EQ(r.quarantined, 0);
  CHECK_EQ(r.removed, 1);
  CHECK_EQ(hw_test_device_records(a1), 0);
  CHECK_EQ(ADMIN("caseload", "--worker", "bashir"), 0);
  CHECK(strstr(out, "LATE-EDIT") != NULL);
  r = hw_test_sync_ok(b1);
  CHECK_EQ(r.pulled, 1);
  {
    char got[2][128];
    CHECK_EQ(hw_test_field_texts(b1, &ra, "note", got, 2), 1);
    CHECK(strcmp(got[0], "late visit") == 0);
  }
  /* The coordinator's region no longer holds the case. */
  r = hw_test_sync_ok(c1);
  CHECK_EQ(r.removed, 1);
  CHECK_EQ(hw_test_device_records(c1), 0);

  /* A new case assigned to amina arrives on her devices whole. */
  hw_id_to_hex(&cb, hex);
  CHECK_EQ(ADMIN("reassign", "--case", hex, "--worker", "amina", "--coordinator", "chipo"), 0);
  r = hw_test_sync_ok(a2);
  CHECK_EQ(r.pulled, 1);
  CHECK_EQ(hw_test_device_records(a2), 1);

  /* A closed case leaves the devices once its closure is synced; the
   * server keeps it and the checksums still agree. */
  before = hw_test_server_records(&srv);
  hw_test_close_case(a2, &cb);
  r = hw_test_sync_ok(a2);
  CHECK_EQ(r.pushed, 1);
  CHECK_EQ(r.closed_removed, 2);
  CHECK(r.checksum_ok);
  CHECK_EQ(hw_test_device_records(a2), 0);
  CHECK_EQ(hw_test_server_records(&srv), before + 1);
  r = hw_test_sync_ok(a1); /* amina's other device: the case arrives closed and goes */
  CHECK_EQ(r.pulled, 2);
  CHECK_EQ(r.closed_removed, 2);
  CHECK(r.checksum_ok);
  CHECK_EQ(hw_test_device_records(a1), 0);
  r = hw_test_sync_ok(a2);
  CHECK_EQ(r.pulled, 0);
  CHECK(r.checksum_ok);

  /* Retire: the device's last sync pushes what it has, then it wipes. */
  d1 = hw_test_enrol(&srv, "d1", "dora", "worker");
  hw_test_sync_ok(d1); /* enrolled at its first sync */
  hw_test_put_text(d1, &rz, &cz, "note", "dora's last case");
  device_of("dora", dev);
  CHECK_EQ(ADMIN("revoke", "--device", dev, "--mode", "retire", "--coordinator", "chipo"), 0);
  before = hw_test_server_records(&srv);
  CHECK_EQ(sync_once(d1, &r), HW_EREVOKED);
  CHECK(r.wiped);
  CHECK_EQ(r.pushed, 1);
  CHECK_EQ(hw_test_server_records(&srv), before + 1);
  hw_client_close(d1);
  CHECK(!exists("d1.db") && !exists("d1.db.hwkey"));
  CHECK(ADMIN("devices") == 0 && strstr(out, "worker=dora role=worker status=retired-done"));
  /* Retired again once its last push is done: it stays done (made retired
   * again, a copy of its store could push once more). */
  CHECK_EQ(ADMIN("revoke", "--device", dev, "--mode", "retire", "--coordinator", "chipo"), 0);
  CHECK(strstr(out, "already revoked (retired-done)") != NULL);
  CHECK(ADMIN("devices") == 0 && strstr(out, "worker=dora role=worker status=retired-done"));

  /* Lost: refused at once, nothing it holds is taken, it wipes. */
  e1 = hw_test_enrol(&srv, "e1", "ezra", "worker");
  hw_test_sync_ok(e1);
  hw_test_put_text(e1, &re, &ce, "note", "written after the loss");
  device_of("ezra", dev);
  CHECK(ADMIN("revoke", "--device", "00", "--mode", "lost", "--coordinator", "chipo") != 0);
  /* Not a pattern: % or _ would otherwise match every key. */
  {
    size_t refused = hw_test_file_count(srv.log, "--device takes at least 8 hex digits");
    size_t none = hw_test_file_count(srv.log, "no device starts with that (see: devices)");
    CHECK(ADMIN("revoke", "--device", "%%%%%%%%", "--mode", "lost", "--coordinator", "chipo") != 0);
    CHECK(ADMIN("revoke", "--device", "________", "--mode", "lost", "--coordinator", "chipo") != 0);
    CHECK_EQ(hw_test_file_count(srv.log, "--device takes at least 8 hex digits"), refused + 2);
    /* Hex digits that match no key: told so, not to give more digits. */
    CHECK(ADMIN("revoke", "--device", dev[0] == 'f' ? "00000000" : "ffffffff", "--mode", "lost",
                "--coordinator", "chipo") != 0);
    CHECK_EQ(hw_test_file_count(srv.log, "no device starts with that (see: devices)"), none + 1);
  }
  CHECK(ADMIN("revoke", "--device", dev, "--mode", "stolen", "--coordinator", "chipo") != 0);
  CHECK_EQ(ADMIN("revoke", "--device", dev, "--mode", "lost", "--coordinator", "chipo"), 0);
  /* The audit names the device; said again, nothing changes and nothing
   * is audited twice; a lost device is not retired (one more push). */
  {
    char entry[64];
    snprintf(entry, sizeof entry, "device=%s mode=lost", dev);
    CHECK_EQ(ADMIN("audit"), 0);
    CHECK(strstr(out, entry) != NULL && strstr(strstr(out, entry) + 1, entry) == NULL);
    CHECK_EQ(ADMIN("revoke", "--device", dev, "--mode", "lost", "--coordinator", "chipo"), 0);
    CHECK(strstr(out, "already revoked (lost)") != NULL);
    CHECK(ADMIN("revoke", "--device", dev, "--mode", "retire", "--coordinator", "chipo") != 0);
    CHECK_EQ(ADMIN("audit"), 0);
    CHECK(strstr(out, entry) != NULL && strstr(strstr(out, entry) + 1, entry) == NULL);
  }
  before = hw_test_server_records(&srv);
  CHECK_EQ(sync_once(e1, &r), HW_EREVOKED);
  CHECK(r.wiped);
  CHECK_EQ(r.pushed, 0);
  CHECK_EQ(r.unsent_destroyed, 1);
  CHECK_EQ(hw_test_server_records(&srv), before);
  hw_client_close(e1);
  CHECK(!exists("e1.db") && !exists("e1.db.hwkey"));

  live_session_cut();

  /* Every decision is in the verified audit chain, with who made it. */
  CHECK_EQ(ADMIN("audit"), 0);
  CHECK(strstr(out, "reassign") && strstr(out, "region") && strstr(out, "revoke"));
  CHECK(strstr(out, "quarantined") && strstr(out, "late-edit"));
  CHECK(strstr(out, "/chipo") != NULL);

  /* (After the audit check: its 600 entries would push the others out of
   * the report's first 400 lines.) A case larger than a pull batch (512 records), all its records older
   * than the device's cursor, given to another worker arrives whole over
   * several batches. */
  {
    hw_id big_case = {{0}}, rec0 = {{0}};
    hw_test_put_text(b1, &rec0, &big_case, "note", "visit 0");
    for (int i = 1; i < 600; i++) {
      hw_id rec = {{0}};
      hw_test_put_text(b1, &rec, &big_case, "note", "another visit");
    }
    CHECK_EQ(hw_test_sync_ok(b1).pushed, 600);
    CHECK_EQ(hw_test_sync_ok(a2).pulled, 0); /* amina's cursor passes them, unseen */
    hw_id_to_hex(&big_case, hex);
    CHECK_EQ(ADMIN("reassign", "--case", hex, "--worker", "amina", "--coordinator", "chipo"), 0);
    before = hw_test_device_records(a2);
    r = hw_test_sync_ok(a2);
    CHECK_EQ(r.pulled, 600);
    CHECK(r.checksum_ok);
    CHECK_EQ(hw_test_device_records(a2), before + 600);
  }

  /* The audit log in pages: each reply says where the next starts, and the
   * pages together list every entry once, in order. */
  {
    unsigned long long total = 0, next = 0, seen = 0, prev = 0;
    const char *p;
    char from[24];
    CHECK_EQ(ADMIN("audit"), 0);
    CHECK(sscanf(out, "audit chain verified: %llu entries", &total) == 1 && total > 600);
    for (int page = 0; page < 10; page++) {
      for (p = strchr(out, '\n'); p && p[1]; p = strchr(p + 1, '\n')) {
        unsigned long long seq;
        if (sscanf(p + 1, "%llu ", &seq) == 1 && strncmp(p + 1, "...", 3) != 0) {
          CHECK(seq == prev + 1); /* nothing skipped, nothing twice */
          prev = seq;
          seen++;
        }
      }
      p = strstr(out, "... more after ");
      if (!p)
        break;
      CHECK(sscanf(p, "... more after %*u: run again with --from %llu", &next) == 1);
      CHECK_EQ(next, prev + 1);
      snprintf(from, sizeof from, "%llu", next);
      CHECK_EQ(ADMIN("audit", "--from", from), 0);
    }
    CHECK_EQ(seen, total);
    CHECK(ADMIN("audit", "--from", "0") != 0);
    CHECK(ADMIN("records", "--from", "x") != 0);
    CHECK_EQ(ADMIN("records", "--from", "1"), 0);
    CHECK(strstr(out, "... more after ") != NULL);
  }

  hw_client_close(a1);
  hw_client_close(a2);
  hw_client_close(b1);
  hw_client_close(c1);
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_cleanup(&srv);
  return 0;
}
