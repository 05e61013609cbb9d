/* Restored and copied device stores (architecture §3): a backup restored
 * after acknowledged work, and a clone where either copy syncs first, with
 * the copies writing the same field, another field, or another record.
 * Every value either copy wrote ends present (on a third device that pulls
 * everything) or quarantined for a coordinator (held on the copy that wrote
 * it); nothing acknowledged is lost. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "homeward/store.h"

static hw_test_server srv;

static void cp(const char *a, const char *suffix, const char *b)
{
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "cp '%s%s' '%s%s'", a, suffix, b, suffix);
  CHECK(system(cmd) == 0);
}

static hw_client *reopen(const char *name)
{
  return hw_test_device_reopen(&srv, name);
}

/* Copy device `from`'s store to `to`: the database and its key envelope,
 * and the no-backup record only when `with_local` (a destination that had
 * none keeps none). */
static void copy_store(const char *from, const char *to, bool with_local)
{
  char a[400], b[400];
  snprintf(a, sizeof a, "%s/%s.db", srv.dir, from);
  snprintf(b, sizeof b, "%s/%s.db", srv.dir, to);
  cp(a, "", b);
  cp(a, ".hwkey", b);
  if (with_local)
    cp(a, ".hwlocal", b);
}

static bool has_text(hw_client *c, const hw_id *rec, const char *field, const char *text)
{
  char got[4][128];
  hw_record *r = NULL;
  size_t n;
  if (hw_client_get(c, rec, &r) != HW_OK)
    return false;
  hw_record_free(r);
  n = hw_test_field_texts(c, rec, field, got, 4);
  for (size_t i = 0; i < n; i++)
    if (!strcmp(got[i], text))
      return true;
  return false;
}

/* A backup taken, then acknowledged work, then the backup restored. */
static void backup_restore(void)
{
  char inv[600];
  hw_client *a;
  hw_id r1 = {{0}}, c1 = {{0}}, r2 = {{0}}, c2 = {{0}};
  hw_sync_result res;

  hw_test_invite(&srv, "bella", inv, sizeof inv);
  a = hw_test_device(&srv, "bk", inv);
  hw_test_put_text(a, &r1, &c1, "note", "before the backup");
  hw_test_sync_ok(a);
  hw_client_close(a);
  copy_store("bk", "bk-backup", false); /* what a backup tool keeps */
  a = reopen("bk");
  hw_test_put_text(a, &r1, &c1, "note", "after the backup, acknowledged");
  hw_test_put_text(a, &r2, &c2, "note", "a new case after the backup");
  hw_test_sync_ok(a);
  hw_client_close(a);
  copy_store("bk-backup", "bk", false); /* the restore (the no-backup record stays ahead) */
  a = reopen("bk");
  hw_client_close(a); /* another command opened it first (homeward status) */
  a = reopen("bk");
  res = hw_test_sync_ok(a);
  CHECK(res.forked); /* detected before its first write: a new replica id, said at the sync */
  CHECK(!hw_test_sync_ok(a).forked); /* said once */
  CHECK(has_text(a, &r1, "note", "after the backup, acknowledged"));
  CHECK(has_text(a, &r2, "note", "a new case after the backup"));
  hw_test_put_text(a, &r1, &c1, "note", "written after the restore");
  hw_test_sync_ok(a);
  hw_client_close(a);
}

typedef enum what { SAME_FIELD, OTHER_FIELD, OTHER_RECORD, VOID_RECORD } what;

/* A coordinator releases every quarantined state still waiting; returns
 * how many. */
static char released[1 << 12]; /* the last release's reply */

static int release_waiting(void)
{
  static char list[1 << 16];
  const char *const q[] = {"quarantine", NULL};
  int n = 0;

  CHECK_EQ(hw_test_server_cmd(&srv, list, sizeof list, q), 0);
  for (const char *p = list; (p = strstr(p, "quarantine ")) != NULL; p++) {
    const char *eol = strchr(p, '\n');
    char id[24];
    if (sscanf(p, "quarantine %23s", id) != 1 || !eol)
      break;
    if (strstr(p, " waiting ") && strstr(p, " waiting ") < eol) {
      const char *const rel[] = {"release", "--id", id, "--coordinator", "chipo", NULL};
      CHECK_EQ(hw_test_server_cmd(&srv, released, sizeof released, rel), 0);
      n++;
    }
  }
  return n;
}

/* A copy holding a record for a coordinator: another device's edit of it
 * arrives without renewing the copy's replica id again; the coordinator's
 * release then replaces the held copy with the server's state, which has
 * both copies' values; nothing is held any more. */
static void release_held(hw_client *holder, hw_client *other, const hw_id *rec,
                         const hw_id *cas, const char *t1, const char *t2, what w)
{
  hw_sync_result r;
  uint64_t pending, held;
  char got[4][128];

  hw_test_put_text(other, (hw_id *)rec, (hw_id *)cas, "decision", "no_action");
  hw_test_sync_ok(other);
  r = hw_test_sync_ok(holder);
  CHECK(!r.forked);
  CHECK(release_waiting() >= 1);
  if (w == VOID_RECORD) /* the coordinator is told the void was not applied */
    CHECK(strstr(released, "voids the record and a void is not re-issued") != NULL);
  r = hw_test_sync_ok(holder);
  CHECK(r.decided >= 1 && !r.forked);
  CHECK_OK(hw_client_count_pending(holder, &pending, &held));
  CHECK_EQ(held, 0);
  CHECK(r.checksum_ok);
  hw_test_sync_ok(other);
  CHECK(has_text(other, rec, "note", t1) || has_text(other, rec, "note", t2) ||
        hw_test_field_texts(other, rec, "note", got, 4) > 0);
  if (w == SAME_FIELD)
    CHECK(has_text(other, rec, "note", t1) && has_text(other, rec, "note", t2));
}

static void clone_case(bool with_local, bool original_first, what w, const char *tag)
{
  char inv[600], inv_c[600], n1[80], n2[80], t1[96], t2[96];
  hw_client *a, *b, *c;
  hw_id rec = {{0}}, cas = {{0}}, rec2 = {{0}}, cas2 = {{0}};
  hw_sync_result res_a, res_b;
  uint64_t pending, held_a, held_b;

  snprintf(n1, sizeof n1, "o-%s", tag);
  snprintf(n2, sizeof n2, "k-%s", tag);
  snprintf(t1, sizeof t1, "original %s", tag);
  snprintf(t2, sizeof t2, "clone %s", tag);
  hw_test_invite(&srv, n1, inv, sizeof inv);
  a = hw_test_device(&srv, n1, inv);
  hw_test_put_text(a, &rec, &cas, "note", "shared start");
  hw_test_sync_ok(a);
  hw_client_close(a);
  copy_store(n1, n2, with_local);
  a = reopen(n1);
  b = reopen(n2);
  hw_test_put_text(a, &rec, &cas, "note", t1);
  if (w == SAME_FIELD)
    hw_test_put_text(b, &rec, &cas, "note", t2);
  else if (w == OTHER_FIELD)
    hw_test_put_text(b, &rec, &cas, "decision", "coordinator_review");
  else if (w == OTHER_RECORD)
    hw_test_put_text(b, &rec2, &cas2, "note", t2);
  else
    CHECK_OK(hw_client_void(b, &rec, "entered twice"));
  if (original_first) {
    res_a = hw_test_sync_ok(a);
    res_b = hw_test_sync_ok(b);
  } else {
    res_b = hw_test_sync_ok(b);
    res_a = hw_test_sync_ok(a);
  }
  hw_test_sync_ok(a);
  hw_test_sync_ok(b);
  /* A third device sees what the server merged. */
  hw_test_invite(&srv, n1, inv_c, sizeof inv_c); /* another device of the same worker */
  {
    char name[48];
    snprintf(name, sizeof name, "v-%s", tag);
    c = hw_test_device(&srv, name, inv_c);
  }
  hw_test_sync_ok(c);
  CHECK_OK(hw_client_count_pending(a, &pending, &held_a));
  CHECK_OK(hw_client_count_pending(b, &pending, &held_b));
  /* The original's value: present, or held (quarantined) on the original. */
  CHECK(has_text(c, &rec, "note", t1) || held_a > 0);
  /* The clone's value likewise. */
  if (w == SAME_FIELD)
    CHECK(has_text(c, &rec, "note", t2) || held_b > 0);
  else if (w == OTHER_FIELD) {
    char got[4][128];
    CHECK(hw_test_field_texts(c, &rec, "decision", got, 4) > 0 || held_b > 0);
  } else if (w == OTHER_RECORD)
    CHECK(has_text(c, &rec2, "note", t2) || held_b > 0);
  /* Without the no-backup record the clone knew at once: nothing needed
   * quarantine. With it, the lineage check caught the copy that synced
   * second, which wrote its own writes again under its new id: they merge
   * (both notes of one field as a conflict), nothing waits for anyone. A
   * void is not written again for the worker: that copy holds the record
   * for a coordinator. */
  if (!with_local) {
    CHECK(held_a == 0 && held_b == 0 && res_b.forked);
  } else if (w != VOID_RECORD) {
    CHECK(held_a == 0 && held_b == 0);
    CHECK(original_first ? res_b.forked && res_b.reissued == 1
                         : res_a.forked && res_a.reissued == 1);
    CHECK(has_text(c, &rec, "note", t1));
    if (w == SAME_FIELD)
      CHECK(has_text(c, &rec, "note", t2));
  } else {
    CHECK(original_first ? held_b == 1 && res_b.reissued == 0
                         : held_a == 0 && res_a.reissued == 1);
  }
  printf("clone %-22s original %s, clone %s\n", tag, held_a ? "quarantined" : "present",
         held_b ? "quarantined" : "present");
  if ((held_a > 0) != (held_b > 0) && w != OTHER_RECORD)
    release_held(held_a ? a : b, c, &rec, &cas, t1, t2, w);
  hw_client_close(a);
  hw_client_close(b);
  hw_client_close(c);
}

/* A copy with the no-backup record, where the two copies write under the
 * same counters (the model check's cases). A: the original wrote counter
 * c+1 and replaced it with c+2 before pushing; the copy's own c+1 (the
 * server never held any c+1, but its vv covers it) must not be taken as
 * seen: it is re-issued and both values stay. C: a copy's value that its
 * own later write replaced does not come back as a conflict. */
static void same_counters(void)
{
  hw_client *a, *x;
  hw_id rec = {{0}}, cas = {{0}}, other = {{0}};
  size_t n;
  char got[4][128];

  a = hw_test_enrol(&srv, "sa", "sami", "worker");
  hw_test_put_text(a, &rec, &cas, "note", "first");
  hw_test_sync_ok(a);
  hw_client_close(a);
  copy_store("sa", "sx", true);
  a = reopen("sa");
  x = reopen("sx");
  hw_test_put_text(a, &rec, &cas, "note", "a-1");
  hw_test_put_text(a, &rec, &cas, "note", "a-2"); /* replaces a-1 before any push */
  hw_test_sync_ok(a);
  hw_test_put_text(x, &rec, &cas, "note", "x-1");
  CHECK(hw_test_sync_ok(x).forked);
  hw_test_sync_ok(a);
  hw_test_sync_ok(x);
  for (int k = 0; k < 2; k++) {
    hw_client *c = k ? x : a;
    n = hw_test_field_texts(c, &rec, "note", got, 4);
    CHECK_EQ(n, 2); /* both copies' values, for the worker to choose */
    CHECK(has_text(c, &rec, "note", "a-2") && has_text(c, &rec, "note", "x-1"));
  }
  hw_client_close(a);
  hw_client_close(x);

  /* C: the copy writes twice and syncs, the original writes elsewhere, the
   * copy writes again having seen its own second value. */
  memset(&rec, 0, sizeof rec);
  memset(&cas, 0, sizeof cas);
  a = hw_test_enrol(&srv, "sc", "sami", "worker");
  hw_test_put_text(a, &rec, &cas, "note", "first");
  hw_test_put_text(a, &other, &cas, "note", "another record");
  hw_test_sync_ok(a);
  hw_client_close(a);
  copy_store("sc", "sy", true);
  a = reopen("sc");
  x = reopen("sy");
  hw_test_put_text(x, &rec, &cas, "note", "y-a");
  hw_test_put_text(x, &rec, &cas, "note", "y-b");
  hw_test_sync_ok(x);
  hw_test_put_text(a, &other, &cas, "note", "the original's");
  hw_test_put_text(x, &rec, &cas, "note", "y-c");
  hw_test_sync_ok(a);
  hw_test_sync_ok(x);
  hw_test_sync_ok(a);
  for (int k = 0; k < 2; k++) {
    hw_client *c = k ? x : a;
    n = hw_test_field_texts(c, &rec, "note", got, 4);
    CHECK_EQ(n, 1);
    CHECK(strcmp(got[0], "y-c") == 0);
  }
  hw_client_close(a);
  hw_client_close(x);

  /* B: the copy's accepted write, at a counter the original used on another
   * record, is not hidden by the original's void of the same record (left
   * as it is by the re-issue): that state is quarantined, both values stay. */
  {
    hw_client *d1;
    hw_sync_result r;
    memset(&rec, 0, sizeof rec);
    memset(&cas, 0, sizeof cas);
    memset(&other, 0, sizeof other);
    a = hw_test_enrol(&srv, "sb", "bora", "worker");
    d1 = hw_test_enrol(&srv, "sb1", "bora", "worker");
    hw_test_put_text(a, &rec, &cas, "note", "first");
    hw_test_put_text(a, &other, &cas, "note", "another record");
    hw_test_sync_ok(a);
    hw_test_sync_ok(d1);
    hw_test_put_text(d1, &rec, &cas, "note", "on-d1");
    hw_test_sync_ok(d1);
    hw_client_close(a);
    copy_store("sb", "sz", true);
    a = reopen("sb");
    x = reopen("sz");
    hw_test_put_text(a, &other, &cas, "note", "the original's");
    CHECK_OK(hw_client_void(a, &rec, "entered twice"));
    hw_test_put_text(x, &rec, &cas, "note", "on-copy");
    hw_test_sync_ok(x);
    hw_test_sync_ok(d1);
    r = hw_test_sync_ok(a);
    CHECK(r.forked && r.quarantined == 1);
    hw_test_sync_ok(x);
    hw_test_sync_ok(d1);
    for (int k = 0; k < 2; k++) {
      hw_client *c = k ? x : d1;
      n = hw_test_field_texts(c, &rec, "note", got, 4);
      CHECK_EQ(n, 2);
      CHECK(has_text(c, &rec, "note", "on-copy") && has_text(c, &rec, "note", "on-d1"));
    }
    hw_client_close(d1);
  }
  hw_client_close(a);
  hw_client_close(x);
  puts("clone writing the same counters: ok");
}

int main(int argc, char **argv)
{
  static const char *const names[] = {"same-field", "other-field", "other-record", "void"};

  CHECK(argc == 2);
  CHECK_OK(hw_crypto_init());
  hw_test_server_start(&srv, argv[1]);
  backup_restore();
  same_counters();
  for (int local = 0; local < 2; local++)
    for (int first = 0; first < 2; first++)
      for (int w = 0; w < 4; w++) {
        char tag[64];
        snprintf(tag, sizeof tag, "%s-%s-%s", local ? "with-local" : "no-local",
                 first ? "orig-first" : "clone-first", names[w]);
        clone_case(local, first, (what)w, tag);
      }
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_cleanup(&srv);
  puts("restore and clone: ok");
  return 0;
}
