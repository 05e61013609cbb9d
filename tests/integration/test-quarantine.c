/* Coordinators' decisions on quarantined states, on a real server
 * (docs/operations.md "Quarantine"; architecture §3, defence 3): a push into
 * a case the worker never held is kept whole and the device holds its copy;
 * `quarantine` lists it; `release` re-issues its values onto the server's
 * record, `reject` merges nothing; either way the device that held the copy
 * drops it at its next sync and takes the server's state when it may see the
 * case. Bad requests are refused with a reason and change nothing; every
 * decision is in the verified audit chain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harness.h"
#include "proxy.h"

static hw_test_server srv;
static char out[1 << 20];

/* Run an admin command; returns its exit status, its stdout in `out`. */
#define ADMIN(...) hw_test_server_cmd(&srv, out, sizeof out, (const char *const[]){__VA_ARGS__, NULL})

/* The quarantine number of `rec` from the list, and its line in `line`. */
static long quarantine_of(const hw_id *rec, char *line, size_t cap)
{
  char hex[HW_ID_HEX_LEN + 1], needle[64];
  const char *p, *start, *end;
  hw_id_to_hex(rec, hex);
  CHECK_EQ(ADMIN("quarantine", "--mode", "all"), 0);
  snprintf(needle, sizeof needle, " record=%s ", hex);
  p = strstr(out, needle);
  CHECK(p != NULL);
  for (start = p; start > out && start[-1] != '\n'; start--)
    ;
  end = strchr(p, '\n');
  CHECK(end && (size_t)(end - start) < cap);
  memcpy(line, start, (size_t)(end - start));
  line[end - start] = '\0';
  CHECK(strncmp(line, "quarantine ", 11) == 0);
  return atol(line + 11);
}

static size_t count_lines(const char *text, const char *needle)
{
  size_t n = 0;
  for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
    n++;
  return n;
}

static void note_is(hw_client *c, const hw_id *rec, const char *want)
{
  char got[2][128];
  CHECK_EQ(hw_test_field_texts(c, rec, "note", got, 2), 1);
  CHECK(strcmp(got[0], want) == 0);
}

/* A decision is about one state: a copy held since (the device edited the
 * record after the acknowledgement of its first push was lost, and pushed
 * again) is not dropped by it; it waits for its own decision. Both states
 * released, one after the other: their values of one field meet as a
 * conflict, neither dropped. */
static void lost_ack(const hw_id *amina_case, hw_client *a1)
{
  char inv[600], inv_p[700], paddr[64], line[600], id[32];
  hw_proxy *p = hw_proxy_start(srv.listen, paddr);
  hw_id rq = {{0}}, cq = *amina_case;
  hw_client *p1;
  hw_sync_result r;
  uint64_t pending, held;
  long q1, q2;
  size_t n;

  CHECK_EQ(hw_test_server_cmd(&srv, inv, sizeof inv,
                              (const char *const[]){"invite", "--worker", "bashir",
                                                    "--coordinator", "chipo", NULL}),
           0);
  n = strlen(inv);
  while (n && inv[n - 1] == '\n')
    inv[--n] = '\0';
  hw_test_readdress(inv, paddr, inv_p, sizeof inv_p);
  p1 = hw_test_device(&srv, "p1", inv_p);
  hw_test_sync_ok(p1);
  hw_test_put_text(p1, &rq, &cq, "note", "first account");
  /* The server's handshake reply passes, nothing after it: the push is
   * quarantined, its acknowledgement never arrives. */
  hw_proxy_set(p, HW_PROXY_SWALLOW, 1, 1);
  CHECK(hw_client_sync(p1, 1500, NULL, NULL, &r) != HW_OK);
  hw_proxy_set(p, HW_PROXY_PASS, 0, 0);
  q1 = quarantine_of(&rq, line, sizeof line);
  CHECK_OK(hw_client_count_pending(p1, &pending, &held));
  CHECK_EQ(held, 0);
  /* Not held, so the worker may edit it; the next push is held. */
  hw_test_put_text(p1, &rq, &cq, "note", "second account, corrected");
  r = hw_test_sync_ok(p1);
  CHECK_EQ(r.quarantined, 1);
  CHECK_OK(hw_client_count_pending(p1, &pending, &held));
  CHECK_EQ(held, 1);
  q2 = quarantine_of(&rq, line, sizeof line); /* the first line: q1 */
  CHECK_EQ(q2, q1);
  {
    /* The second state's number: the waiting one after q1. */
    char from[24];
    const char *s;
    snprintf(from, sizeof from, "%ld", q1 + 1);
    CHECK_EQ(ADMIN("quarantine", "--from", from), 0);
    s = strstr(out, "quarantine ");
    CHECK(s != NULL);
    q2 = atol(s + 11);
    CHECK(q2 > q1);
  }
  /* The older state is released: the copy held now is not that state. */
  snprintf(id, sizeof id, "%ld", q1);
  CHECK_EQ(ADMIN("release", "--id", id, "--coordinator", "chipo"), 0);
  r = hw_test_sync_ok(p1);
  CHECK_EQ(r.decided, 0);
  CHECK_OK(hw_client_count_pending(p1, &pending, &held));
  CHECK_EQ(held, 1);
  note_is(p1, &rq, "second account, corrected");
  /* Its own decision drops it; the value reaches the case's holder. */
  snprintf(id, sizeof id, "%ld", q2);
  CHECK_EQ(ADMIN("release", "--id", id, "--coordinator", "chipo"), 0);
  r = hw_test_sync_ok(p1);
  CHECK_EQ(r.decided, 1);
  CHECK_OK(hw_client_count_pending(p1, &pending, &held));
  CHECK_EQ(held, 0);
  hw_test_sync_ok(a1);
  {
    char got[2][128];
    CHECK_EQ(hw_test_field_texts(a1, &rq, "note", got, 2), 2);
    CHECK((strcmp(got[0], "first account") == 0 &&
           strcmp(got[1], "second account, corrected") == 0) ||
          (strcmp(got[1], "first account") == 0 &&
           strcmp(got[0], "second account, corrected") == 0));
  }
  hw_client_close(p1);
  hw_proxy_stop(p);
}

int main(int argc, char **argv)
{
  hw_client *a1, *b1;
  hw_id ra = {{0}}, ca = {{0}}, re = {{0}}, ce = {{0}}, rb = {{0}}, cb = {{0}};
  hw_id rx = {{0}}, ry = {{0}}, rz = {{0}};
  char line[600], id[32], hex[HW_ID_HEX_LEN + 1];
  hw_sync_result r;
  size_t on_server, on_b1;
  long qx, qy, qz;

  CHECK(argc == 2);
  CHECK_OK(hw_crypto_init());
  hw_test_server_start(&srv, argv[1]);
  a1 = hw_test_enrol(&srv, "a1", "amina", "worker");
  b1 = hw_test_enrol(&srv, "b1", "bashir", "worker");

  /* Two cases of amina's, one of bashir's. */
  hw_test_put_text(a1, &ra, &ca, "note", "amina's first case");
  hw_test_put_text(a1, &re, &ce, "note", "amina's second case");
  hw_test_put_text(b1, &rb, &cb, "note", "bashir's case");
  CHECK_EQ(hw_test_sync_ok(a1).pushed, 2);
  CHECK_EQ(hw_test_sync_ok(b1).pushed, 1);

  /* Bashir writes into amina's cases, which he never held: kept aside. */
  hw_test_put_text(b1, &rx, &ca, "note", "seen at the market");
  hw_test_put_text(b1, &ry, &ca, "note", "a mistaken entry");
  hw_test_put_text(b1, &rz, &ce, "note", "school report");
  on_server = hw_test_server_records(&srv);
  r = hw_test_sync_ok(b1);
  CHECK_EQ(r.quarantined, 3);
  CHECK_EQ(hw_test_server_records(&srv), on_server);
  on_b1 = hw_test_device_records(b1);
  CHECK_EQ(on_b1, 4);

  /* The held copy cannot be changed meanwhile (the decision replaces it). */
  {
    hw_field_value fv = {{(const uint8_t *)"note", 4}, {(const uint8_t *)"\x65later", 6}};
    hw_form_error err;
    CHECK_ERR(hw_client_write(b1, &rx, &fv, 1, &err), HW_EPERM);
    CHECK_ERR(hw_client_void(b1, &rx, "typo"), HW_EPERM);
    note_is(b1, &rx, "seen at the market");
  }

  /* Listed, waiting, with the reason and the device. */
  qx = quarantine_of(&rx, line, sizeof line);
  CHECK(strstr(line, " waiting ") && strstr(line, "never held") && !strstr(line, "device=- "));
  qy = quarantine_of(&ry, line, sizeof line);
  qz = quarantine_of(&rz, line, sizeof line);
  CHECK(qx > 0 && qy > 0 && qz > 0 && qx != qy && qy != qz);

  /* The default list shows the waiting ones; pages go on with --from. */
  CHECK_EQ(ADMIN("quarantine"), 0);
  CHECK_EQ(count_lines(out, " waiting "), 3);
  {
    char from[24];
    long first = qx < qy ? (qx < qz ? qx : qz) : (qy < qz ? qy : qz);
    snprintf(from, sizeof from, "%ld", first + 1);
    CHECK_EQ(ADMIN("quarantine", "--from", from), 0);
    CHECK_EQ(count_lines(out, " waiting "), 2); /* all but the first */
  }
  CHECK(ADMIN("quarantine", "--mode", "some") != 0);
  CHECK(ADMIN("quarantine", "--from", "0") != 0);

  /* Bad requests: refused with a reason, nothing decided. */
  snprintf(id, sizeof id, "%ld", qx);
  CHECK(ADMIN("release", "--coordinator", "chipo") != 0);
  CHECK(ADMIN("release", "--id", "x7", "--coordinator", "chipo") != 0);
  CHECK(ADMIN("release", "--id", "-3", "--coordinator", "chipo") != 0);
  CHECK(ADMIN("release", "--id", id) != 0); /* who decides? */
  CHECK(ADMIN("reject", "--id", "999999", "--coordinator", "chipo") != 0);
  quarantine_of(&rx, line, sizeof line);
  CHECK(strstr(line, " waiting ") != NULL);
  CHECK_EQ(hw_test_server_records(&srv), on_server);

  /* Release while the case is amina's: the value lands in her case; bashir's
   * device drops its copy (he may not see the case). */
  CHECK_EQ(ADMIN("release", "--id", id, "--coordinator", "chipo"), 0);
  CHECK(strstr(out, "3 value(s) re-issued") != NULL); /* date, note, decision */
  CHECK_EQ(hw_test_server_records(&srv), on_server + 1);
  CHECK(ADMIN("release", "--id", id, "--coordinator", "chipo") != 0); /* decided already */
  CHECK(ADMIN("reject", "--id", id, "--coordinator", "chipo") != 0);
  quarantine_of(&rx, line, sizeof line);
  CHECK(strstr(line, " released by ") && strstr(line, "/chipo"));
  r = hw_test_sync_ok(b1);
  CHECK_EQ(r.decided, 1);
  CHECK_EQ(r.pulled, 0);
  CHECK_EQ(hw_test_device_records(b1), on_b1 - 1);
  r = hw_test_sync_ok(a1);
  CHECK_EQ(r.pulled, 1);
  CHECK(r.checksum_ok);
  note_is(a1, &rx, "seen at the market");
  /* A second sync of bashir's device hears nothing more. */
  r = hw_test_sync_ok(b1);
  CHECK_EQ(r.decided, 0);

  /* Reject: nothing merged; the device drops its copy all the same. */
  snprintf(id, sizeof id, "%ld", qy);
  CHECK_EQ(ADMIN("reject", "--id", id, "--coordinator", "chipo"), 0);
  CHECK(strstr(out, "rejected") != NULL);
  CHECK_EQ(hw_test_server_records(&srv), on_server + 1);
  r = hw_test_sync_ok(b1);
  CHECK_EQ(r.decided, 1);
  CHECK_EQ(hw_test_device_records(b1), on_b1 - 2);
  CHECK_EQ(hw_test_sync_ok(a1).pulled, 0);

  /* Release into a case the device may see by then: its held copy is
   * replaced by the server's state in the same batch, nothing pending. */
  hw_id_to_hex(&ce, hex);
  CHECK_EQ(ADMIN("reassign", "--case", hex, "--worker", "bashir", "--coordinator", "chipo"), 0);
  r = hw_test_sync_ok(b1); /* the case arrives whole; the held copy stays held */
  CHECK_EQ(r.pulled, 1);
  CHECK_EQ(r.decided, 0);
  snprintf(id, sizeof id, "%ld", qz);
  CHECK_EQ(ADMIN("release", "--id", id, "--coordinator", "chipo"), 0);
  r = hw_test_sync_ok(b1);
  CHECK_EQ(r.decided, 1);
  CHECK_EQ(r.pulled, 1);
  CHECK_EQ(r.pushed, 0);
  CHECK(r.checksum_ok);
  note_is(b1, &rz, "school report");
  r = hw_test_sync_ok(b1); /* in step with the server: nothing to send */
  CHECK_EQ(r.pushed, 0);
  CHECK(r.checksum_ok);
  /* His device writes on the released record like any other, and its later
   * hellos still agree with the server (the dropped copy's own write, never
   * accepted, left the journal with it: the device was refused for good). */
  hw_test_put_text(b1, &rz, &ce, "note", "school report, term two");
  CHECK_EQ(hw_test_sync_ok(b1).pushed, 1);
  r = hw_test_sync_ok(b1);
  CHECK_EQ(r.pushed, 0);
  CHECK(r.checksum_ok && !r.forked);

  lost_ack(&ca, a1);

  /* Decisions survive a restart and are in the verified audit chain. */
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_restart(&srv);
  quarantine_of(&ry, line, sizeof line);
  CHECK(strstr(line, " rejected by ") != NULL);
  CHECK_EQ(ADMIN("audit"), 0);
  CHECK(strstr(out, "quarantine-release") && strstr(out, "quarantine-reject"));

  hw_client_close(a1);
  hw_client_close(b1);
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_cleanup(&srv);
  printf("quarantine: ok\n");
  return 0;
}
