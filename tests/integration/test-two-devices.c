/* Two devices and a real server on 127.0.0.1 (issue: sync, integration):
 * offline edits of different fields of one record merge; the same field
 * stays in conflict with both values on every replica; a resolution clears
 * it everywhere; a void meeting an edit is disputed everywhere. Logs never
 * hold the case data. */
#include <string.h>

#include <sqlite3.h>

#include "check.h"
#include "harness.h"
#include "proxy.h"
#include "homeward/mem.h"

#define CANARY "CANARY-Nyirabahire"

static void expect_texts(hw_client *c, const hw_id *rec, const char *field, size_t n, const char *a,
                         const char *b)
{
  char got[4][128];
  size_t k = hw_test_field_texts(c, rec, field, got, 4);
  CHECK_EQ(k, n);
  if (n >= 1)
    CHECK(!strcmp(got[0], a) || !strcmp(got[n - 1], a));
  if (n == 2)
    CHECK(!strcmp(got[0], b) || !strcmp(got[1], b));
}

/* Close the device's client, run `sql` on its store, open it again; the
 * rows the last statement changed. */
static int store_sql(hw_test_server *srv, hw_client **c, const char *name, const char *sql)
{
  hw_store *st;
  int changes;

  hw_client_close(*c);
  st = hw_test_device_store(srv, name);
  CHECK(sqlite3_exec(hw_store_sqlite(st), sql, NULL, NULL, NULL) == SQLITE_OK);
  changes = sqlite3_changes(hw_store_sqlite(st));
  hw_store_close(st);
  *c = hw_test_device_reopen(srv, name);
  return changes;
}

static void count_progress(const hw_sync_progress *p, void *ud)
{
  (void)p;
  ++*(int *)ud;
}

static int no_unknown_marks(void *ud, const hw_store_rec *r)
{
  (void)ud;
  CHECK(!(r->marks & HW_STORE_MARKS_UNKNOWN));
  return 0;
}

int main(int argc, char **argv)
{
  hw_test_server srv;
  char inv_a[600], inv_b[600];
  hw_client *a, *b;
  hw_id rec = {{0}}, cas = {{0}};
  hw_sync_result r;

  CHECK(argc == 2);
  CHECK_OK(hw_crypto_init());
  hw_test_server_start(&srv, argv[1]);
  hw_test_invite(&srv, "amina", inv_a, sizeof inv_a);
  hw_test_invite(&srv, "amina", inv_b, sizeof inv_b); /* a second device of the same worker */
  a = hw_test_device(&srv, "a", inv_a);
  b = hw_test_device(&srv, "b", inv_b);
  /* A new store says which version of the client's marks it follows (or
   * its first sync would forget and work out again every record's). */
  {
    hw_store *st;
    uint8_t *v = NULL;
    size_t n = 0;
    hw_client_close(b);
    st = hw_test_device_store(&srv, "b");
    CHECK_OK(hw_store_setting_get(st, "client.marks_version", &v, &n));
    CHECK(n == 4 && v[0] >= 1);
    hw_free(v);
    hw_store_close(st);
    b = hw_test_device_reopen(&srv, "b");
  }

  /* A records a case note; both devices sync. */
  hw_test_put_text(a, &rec, &cas, "note", CANARY " first visit");
  r = hw_test_sync_ok(a);
  CHECK_EQ(r.pushed, 1);
  CHECK(r.head_verified || r.pulled == 0);
  r = hw_test_sync_ok(b);
  CHECK_EQ(r.pulled, 1);
  expect_texts(b, &rec, "note", 1, CANARY " first visit", NULL);

  /* Offline edits of different fields merge. */
  hw_test_put_text(a, &rec, &cas, "note", "mother at home");
  hw_test_put_text(b, &rec, &cas, "decision", "coordinator_review");
  hw_test_sync_ok(a);
  r = hw_test_sync_ok(b);
  CHECK_EQ(r.merged, 1); /* B's ack carried A's edit */
  hw_test_sync_ok(a);
  expect_texts(a, &rec, "note", 1, "mother at home", NULL);
  expect_texts(a, &rec, "decision", 1, "coordinator_review", NULL);
  expect_texts(b, &rec, "note", 1, "mother at home", NULL);
  /* In step with the server: a no-op resync is the handshake, hello and
   * pull, `done` and goodbye, no empty last batch (issue #6: at most 600
   * bytes; the batch would add 63, and a call of the progress callback). */
  hw_test_sync_ok(b);
  {
    int calls = 0;
    CHECK_OK(hw_client_sync(b, 10000, count_progress, &calls, &r));
    CHECK_EQ(calls, 0);
  }
  CHECK_EQ(r.pushed + r.pulled, 0);
  CHECK(r.checksum_ok);
  CHECK(r.totals.bytes_up + r.totals.bytes_down <= 600);
  expect_texts(b, &rec, "decision", 1, "coordinator_review", NULL);

  /* The same field concurrently: both values on every replica, a conflict. */
  hw_test_put_text(a, &rec, &cas, "note", "dropped out");
  hw_test_put_text(b, &rec, &cas, "note", "moved school");
  hw_test_sync_ok(a);
  r = hw_test_sync_ok(b);
  CHECK_EQ(r.conflicts, 1);
  r = hw_test_sync_ok(a);
  CHECK_EQ(r.conflicts, 1);
  expect_texts(a, &rec, "note", 2, "dropped out", "moved school");
  expect_texts(b, &rec, "note", 2, "dropped out", "moved school");

  /* A resolution that saw both clears it everywhere. */
  hw_test_put_text(a, &rec, &cas, "note", "moved school");
  r = hw_test_sync_ok(a);
  CHECK_EQ(r.conflicts, 0);
  r = hw_test_sync_ok(b);
  CHECK_EQ(r.conflicts, 0);
  expect_texts(b, &rec, "note", 1, "moved school", NULL);

  /* A void meeting an edit is disputed everywhere. */
  CHECK_OK(hw_client_void(a, &rec, "entered twice"));
  hw_test_put_text(b, &rec, &cas, "note", "added detail");
  hw_test_sync_ok(a);
  r = hw_test_sync_ok(b);
  CHECK_EQ(r.conflicts, 1);
  r = hw_test_sync_ok(a);
  CHECK_EQ(r.conflicts, 1);
  {
    hw_record *x = NULL;
    hw_void_status vs;
    CHECK_OK(hw_client_get(b, &rec, &x));
    CHECK_OK(hw_record_void_status(x, &vs));
    CHECK(vs.voided && vs.disputed);
    hw_record_free(x);
  }

  /* A store made before the store kept marks (format 1): opened, it is
   * migrated; its first sync works the marks out from the states (the
   * disputed void is still counted), keeps them, and the next one uses them. */
  {
    hw_store *st;
    store_sql(&srv, &b, "b",
              "DROP INDEX records_marked; DELETE FROM settings WHERE name = 'hw.sum';"
              "ALTER TABLE records DROP COLUMN item; ALTER TABLE records DROP COLUMN marks;"
              "UPDATE settings SET value = x'0000000000000001' WHERE name = 'hw.format'");
    r = hw_test_sync_ok(b);
    CHECK_EQ(r.conflicts, 1);
    hw_client_close(b);
    st = hw_test_device_store(&srv, "b");
    CHECK(!hw_store_list_marked(st, no_unknown_marks, NULL));
    hw_store_close(st);
    b = hw_test_device_reopen(&srv, "b");
    r = hw_test_sync_ok(b);
    CHECK_EQ(r.conflicts, 1);
    /* Marks another version of the program set (here: wrong, the disputed
     * record unmarked) are worked out again. */
    CHECK_EQ(store_sql(&srv, &b, "b",
                       "UPDATE records SET marks = 0; UPDATE settings SET value = x'00000000'"
                       " WHERE name = 'client.marks_version'"),
             1);
    r = hw_test_sync_ok(b);
    CHECK_EQ(r.conflicts, 1);
  }

  /* A sync with nothing to do is cheap and changes nothing. */
  r = hw_test_sync_ok(a);
  CHECK_EQ(r.pushed, 0);
  CHECK_EQ(r.pulled, 0);

  /* A field written twice between syncs: the first write never reaches
   * the server, and the device's next hellos still agree with it (the
   * device was refused for good once: its lineage counted the write). */
  {
    hw_id rec2 = {{0}}, cas2 = {{0}};
    hw_test_put_text(a, &rec2, &cas2, "note", "first draft");
    hw_test_sync_ok(a);
    hw_test_put_text(a, &rec2, &cas2, "note", "second draft");
    hw_test_put_text(a, &rec2, &cas2, "note", "final words");
    r = hw_test_sync_ok(a);
    CHECK_EQ(r.pushed, 1);
    r = hw_test_sync_ok(a);
    CHECK(!r.forked && r.checksum_ok);
    hw_test_put_text(a, &rec2, &cas2, "decision", "coordinator_review");
    CHECK_EQ(hw_test_sync_ok(a).pushed, 1);
    r = hw_test_sync_ok(b);
    CHECK(r.checksum_ok);
    expect_texts(b, &rec2, "note", 1, "final words", NULL);
  }

  /* An edit pushed and committed whose acknowledgement was lost, then the
   * same field edited again: the replaced write is one the server holds
   * after all. The next sync proves it (no new identity, no conflict of the
   * worker with themself) and the newest value wins everywhere. */
  {
    char paddr[64], inv_p[700];
    hw_proxy *p = hw_proxy_start(srv.listen, paddr);
    hw_client *d;
    hw_id rec4 = {{0}}, cas4 = {{0}};
    hw_sync_result lost;
    hw_test_invite(&srv, "amina", inv_a, sizeof inv_a);
    hw_test_readdress(inv_a, paddr, inv_p, sizeof inv_p);
    d = hw_test_device(&srv, "d", inv_p);
    hw_test_put_text(d, &rec4, &cas4, "note", "at the shelter");
    hw_test_sync_ok(d);
    hw_test_put_text(d, &rec4, &cas4, "note", "moved to the aunt's");
    hw_proxy_set(p, HW_PROXY_SWALLOW, 1, 1); /* the server's replies never arrive */
    CHECK(hw_client_sync(d, 1500, NULL, NULL, &lost) != HW_OK);
    hw_proxy_set(p, HW_PROXY_PASS, 0, 0);
    hw_test_put_text(d, &rec4, &cas4, "note", "with the aunt, settled");
    r = hw_test_sync_ok(d);
    CHECK(!r.forked && r.reissued == 0);
    CHECK_EQ(r.pushed, 1);
    expect_texts(d, &rec4, "note", 1, "with the aunt, settled", NULL); /* one value */
    r = hw_test_sync_ok(a);
    expect_texts(a, &rec4, "note", 1, "with the aunt, settled", NULL);
    r = hw_test_sync_ok(d);
    CHECK(r.checksum_ok && !r.forked);
    hw_client_close(d);
    hw_proxy_stop(p);
  }

  /* A record created and edited (another field, then the required one)
   * before its first push is merged, not quarantined: the creating write
   * alone no longer holds the required note. */
  {
    hw_id rec3 = {{0}}, cas3 = {{0}};
    hw_test_put_text(b, &rec3, &cas3, "note", "met the aunt");
    hw_test_put_text(b, &rec3, &cas3, "decision", "coordinator_review");
    hw_test_put_text(b, &rec3, &cas3, "note", "met the aunt and the grandmother");
    r = hw_test_sync_ok(b);
    CHECK_EQ(r.pushed, 1);
    CHECK_EQ(r.quarantined, 0);
    r = hw_test_sync_ok(a);
    CHECK_EQ(r.pulled, 1);
    expect_texts(a, &rec3, "note", 1, "met the aunt and the grandmother", NULL);
    expect_texts(a, &rec3, "decision", 1, "coordinator_review", NULL);
  }

  /* The hello's lineage folds on from the device's mark: after a sync it
   * stands at the replica's last write (every write acknowledged), and the
   * next hello folds from it: a false one is refused, the refusal drops it,
   * and the retry's full fold is accepted and makes it again. */
  {
    hw_store *st;
    uint8_t *v = NULL;
    size_t n = 0;
    hw_id me;
    uint64_t counter;
    hw_sync_result bad;
    hw_client_close(a);
    st = hw_test_device_store(&srv, "a");
    hw_store_replica(st, &me, &counter);
    CHECK_OK(hw_store_setting_get(st, "client.lineage_mark", &v, &n));
    CHECK(n == 16 + 8 + 32 && memcmp(v, me.b, 16) == 0);
    {
      uint64_t at = 0;
      for (int i = 0; i < 8; i++)
        at = at << 8 | v[16 + i];
      CHECK(at == counter && counter > 5);
    }
    v[16 + 8] ^= 1;
    CHECK_OK(hw_store_setting_set(st, "client.lineage_mark", v, n));
    hw_free(v);
    hw_store_close(st);
    a = hw_test_device_reopen(&srv, "a");
    CHECK_OK(hw_client_sync(a, 10000, NULL, NULL, &bad));
    CHECK(!bad.forked); /* refused, its writes all found held: not taken for a copy */
    CHECK(bad.checksum_ok);
    hw_client_close(a);
    st = hw_test_device_store(&srv, "a");
    CHECK_OK(hw_store_setting_get(st, "client.lineage_mark", &v, &n));
    CHECK(n == 56);
    hw_free(v);
    hw_store_close(st);
    a = hw_test_device_reopen(&srv, "a");
  }

  /* One case of exactly 512 records: the first batch is full and says
   * more, the next pull finds nothing, and `done` comes without a batch
   * while the device's group of batches is still open: the group is
   * stored before `done` is handled (found in a review). */
  {
    char inv_c[600];
    hw_client *c;
    hw_id cs = cas;
    for (size_t k = hw_test_server_records(&srv); k < 512; k++) {
      hw_id rr = {{0}};
      hw_test_put_text(a, &rr, &cs, "note", "one of many");
    }
    hw_test_sync_ok(a);
    CHECK_EQ(hw_test_server_records(&srv), 512);
    hw_test_invite(&srv, "amina", inv_c, sizeof inv_c);
    c = hw_test_device(&srv, "c", inv_c);
    {
      int calls = 0;
      CHECK_OK(hw_client_sync(c, 10000, count_progress, &calls, &r));
      CHECK_EQ(calls, 1); /* one batch */
    }
    CHECK_EQ(r.pulled, 512);
    CHECK(r.checksum_ok);
    hw_client_close(c);
    c = hw_test_device_reopen(&srv, "c");
    CHECK_EQ(hw_test_device_records(c), 512);
    CHECK_EQ(hw_test_sync_ok(c).pulled, 0);
    hw_client_close(c);
  }

  hw_client_close(a);
  hw_client_close(b);
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  /* No case data in the server's log. */
  CHECK(!hw_test_file_contains(srv.log, CANARY));
  CHECK(!hw_test_file_contains(srv.log, "mother at home"));
  hw_test_server_cleanup(&srv);
  puts("two devices: ok");
  return 0;
}
