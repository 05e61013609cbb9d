#define _DEFAULT_SOURCE /* usleep */
/* Power cuts of the server during pushes (issue #6). Several devices push
 * and edit records at once to homeward-server-powercut (argv[2]), the real
 * server over the power-cut test VFS, whose power fails after a random
 * number of disk operations: writes not followed by an fsync are lost and
 * the last written page of each file is torn. The server stops without
 * acknowledging anything more and exits 86 once the cut is applied.
 *
 * Then, before any device syncs again (a resync could hide a loss: a store
 * found older than its no-backup record says is taken as restored, and
 * every device pushes everything again):
 *  - the real server (argv[1]) starts on the same state;
 *  - a new device of the same worker pulls everything: every write any
 *    device holds as acknowledged (its store's acked version vector) is
 *    there, with the same bytes when nothing newer came;
 * and after the devices resync: every record on every device and the
 * server, checksums equal, the audit chain verified, and after a clean
 * stop the store passes integrity_check.
 *
 * The same checks must fail for a server whose store runs with
 * synchronous=NORMAL (a planted flaw: commits acknowledged before they are
 * durable). Default: 12 x HW_TEST_SCALE cuts and 3 flawed runs, of which
 * one must be caught; HW_TEST_SLOW=1 runs 200 x HW_TEST_SCALE cuts;
 * HW_TEST_SEED replays the cut points and tears (not the threads' timing). */
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"
#include "homeward/store.h"

#define N_DEVICES 4
#define MAX_RECS 200   /* records one device makes in a trial */
#define MAX_ROUNDS 300 /* a device's rounds of writes and a sync, at most */
/* The cut comes after 0..this many disk operations of the running server
 * (the store writes each commit's pages in a few runs): up to about 250
 * rounds of the devices, past many WAL checkpoints and reuses of the WAL
 * from its start. */
#define CUT_OPS_MAX 2000
/* A flawed run's cut comes after 20..this many: before the first checkpoint
 * syncs the WAL, when every commit acknowledged since the start is lost. */
#define FLAWED_CUT_MAX 200
#define FLAWED_RUNS 3
#define POWERCUT_EXIT 86 /* HW_POWERCUT_EXIT, server/src/powercut-int.h */
#define MARK "pcut-note" /* in every text: the server's log must not hold it */

static const char *server_bin, *powercut_bin;

typedef struct device {
  int no;
  char name[16];
  hw_client *c;
  hw_test_rng rng;
  hw_id cas; /* the device's one case */
  hw_id recs[MAX_RECS];
  int n_recs, rounds, synced;
} device;

/* What a device knew the server held when the power failed: a record's
 * acknowledged version vector, and its bytes when all of it was. */
typedef struct acked {
  hw_id id;
  hw_vv vv; /* e: hw_malloc'd */
  uint8_t *state;
  size_t len;
  int device;
} acked;

typedef struct acked_set {
  acked *a;
  size_t n, cap;
  int device;
} acked_set;

static atomic_int server_gone, devices_done;

/* A few new notes in the device's case, and now and then an edit of one. */
static void device_round(device *d)
{
  char text[96];
  int n = 1 + (int)hw_test_rng_below(&d->rng, 3);

  for (int k = 0; k < n && d->n_recs < MAX_RECS; k++) {
    hw_id rec = {{0}};
    snprintf(text, sizeof text, MARK " %s %d", d->name, d->n_recs);
    hw_test_put_text(d->c, &rec, &d->cas, "note", text);
    d->recs[d->n_recs++] = rec;
  }
  /* Edits of any note: one a sync carried, one made this round (created
   * and edited before its first push), sometimes one field written twice
   * between syncs (its first write never reaches the server). */
  for (int e = 0; e < 2 && d->n_recs > 0 && hw_test_rng_below(&d->rng, 2) == 0; e++) {
    int i = (int)hw_test_rng_below(&d->rng, (uint64_t)d->n_recs);
    snprintf(text, sizeof text, MARK " %s edit %d.%d", d->name, d->rounds, e);
    hw_test_put_text(d->c, &d->recs[i], &d->cas, "note", text);
  }
}

static void *device_main(void *arg)
{
  device *d = arg;

  while (!atomic_load(&server_gone) && d->rounds < MAX_ROUNDS) {
    hw_sync_result r;
    device_round(d);
    d->rounds++;
    if (hw_client_sync(d->c, 10000, NULL, NULL, &r) == HW_OK) {
      d->synced++;
    } else {
      usleep(10000); /* the server is going: do not spin */
    }
  }
  atomic_fetch_add(&devices_done, 1);
  return NULL;
}

/* The server's exit status once the power failed (86), or 0 when every
 * device finished first: it is then stopped and the plug pulled after. */
static int wait_for_cut(hw_test_server *s)
{
  int st;

  while ((st = hw_test_server_exited(s, false)) < 0) {
    if (atomic_load(&devices_done) == N_DEVICES)
      return hw_test_server_stop(s);
    usleep(20000);
  }
  return st;
}

static int take_acked(void *ud, const hw_store_rec *r)
{
  acked_set *set = ud;
  acked *a;

  if (r->acked.n == 0)
    return 0; /* never acknowledged */
  if (set->n == set->cap) {
    set->cap = set->cap ? 2 * set->cap : 64;
    set->a = realloc(set->a, set->cap * sizeof *set->a);
    CHECK(set->a != NULL);
  }
  a = &set->a[set->n++];
  memset(a, 0, sizeof *a);
  a->id = r->id;
  a->device = set->device;
  a->vv.n = r->acked.n;
  CHECK((a->vv.e = hw_memdup(r->acked.e, r->acked.n * sizeof *r->acked.e)) != NULL);
  if (!r->pending && hw_vv_compare(&r->vv, &r->acked) == HW_ORDER_EQUAL) {
    CHECK((a->state = hw_memdup(r->state.p, r->state.len)) != NULL);
    a->len = r->state.len;
  }
  return 0;
}

/* Read what the device's store holds as acknowledged (the client is closed). */
static void snapshot(hw_test_server *s, const device *d, acked_set *set)
{
  hw_store *st = hw_test_device_store(s, d->name);

  set->device = d->no;
  CHECK_OK(hw_store_list_all(st, take_acked, set));
  hw_store_close(st);
}

/* 0 when the observer (holding all the server has) holds what was
 * acknowledged, else 1 with the violation said. */
static int said; /* violations printed in this trial */

static void violation(const char *what, int dev_no)
{
  if (said++ < 5)
    fprintf(stderr, "violation: %s (device %d)\n", what, dev_no);
}

static int check_acked(hw_client *obs, const acked *a)
{
  hw_record *r = NULL;
  uint8_t *bytes = NULL;
  size_t len = 0;
  int rc = hw_client_get(obs, &a->id, &r), bad = 0;

  if (rc == HW_ENOENT) {
    violation("an acknowledged record is not on the server", a->device);
    return 1;
  }
  CHECK_OK(rc);
  if (!hw_vv_covers(&r->vv, &a->vv)) {
    violation("the server lost an acknowledged write of a record", a->device);
    bad = 1;
  } else if (a->state && hw_vv_compare(&r->vv, &a->vv) == HW_ORDER_EQUAL) {
    CHECK_OK(hw_record_encode(r, &bytes, &len));
    if (len != a->len || memcmp(bytes, a->state, len) != 0) {
      violation("an acknowledged record has other bytes on the server", a->device);
      bad = 1;
    }
    hw_free(bytes);
  }
  hw_record_free(r);
  return bad;
}

/* The power cut with the devices pushing: returns the server's status. */
static int run_to_cut(hw_test_server *srv, device *dev, long cut_ops, uint64_t seed, bool flawed)
{
  char spec[80];
  const char *extra[] = {"--test-powercut", spec, NULL};
  pthread_t th[N_DEVICES];
  int status;

  snprintf(spec, sizeof spec, "%ld:%llu%s", cut_ops, (unsigned long long)seed,
           flawed ? ":sync-normal" : "");
  hw_test_server_run_as(srv, powercut_bin, extra);
  atomic_store(&server_gone, 0);
  atomic_store(&devices_done, 0);
  for (int i = 0; i < N_DEVICES; i++)
    CHECK(pthread_create(&th[i], NULL, device_main, &dev[i]) == 0);
  status = wait_for_cut(srv);
  atomic_store(&server_gone, 1);
  for (int i = 0; i < N_DEVICES; i++)
    CHECK(pthread_join(th[i], NULL) == 0);
  return status;
}

/* After the cut, before any device syncs: what every device had
 * acknowledged is on the restarted server. Returns the violations. */
static int check_after_cut(hw_test_server *srv, device *dev, int trial)
{
  acked_set set = {0};
  char inv[600], name[32];
  hw_client *obs;
  int violations = 0;

  for (int i = 0; i < N_DEVICES; i++) {
    hw_client_close(dev[i].c);
    dev[i].c = NULL;
    snapshot(srv, &dev[i], &set);
  }
  hw_test_server_restart(srv); /* the store must open */
  hw_test_invite(srv, "amina", inv, sizeof inv);
  snprintf(name, sizeof name, "observer%d", trial);
  obs = hw_test_device(srv, name, inv);
  hw_test_sync_ok(obs);
  said = 0;
  for (size_t i = 0; i < set.n; i++)
    violations += check_acked(obs, &set.a[i]);
  printf("  %zu acknowledged records checked, %d violations\n", set.n, violations);
  for (size_t i = 0; i < set.n; i++) {
    hw_free(set.a[i].vv.e);
    hw_free(set.a[i].state);
  }
  free(set.a);
  hw_client_close(obs);
  return violations;
}

/* The devices sync again: nothing lost, both sides agree, the audit chain
 * verifies, and after a clean stop the store passes integrity_check. */
static void check_resync(hw_test_server *srv, device *dev)
{
  static char out[1 << 16];
  const char *audit[] = {"audit", NULL};
  size_t total = 0;

  for (int i = 0; i < N_DEVICES; i++) {
    dev[i].c = hw_test_device_reopen(srv, dev[i].name);
    total += (size_t)dev[i].n_recs;
  }
  for (int pass = 0; pass < 2; pass++) /* push the rest, then pull the others' */
    for (int i = 0; i < N_DEVICES; i++)
      hw_test_sync_ok(dev[i].c);
  CHECK_EQ(hw_test_server_records(srv), total);
  for (int i = 0; i < N_DEVICES; i++)
    CHECK_EQ(hw_test_device_records(dev[i].c), total);
  CHECK_EQ(hw_test_server_cmd(srv, out, sizeof out, audit), 0);
  if (strncmp(out, "audit chain verified", 20) != 0)
    fprintf(stderr, "audit: %.200s\n", out);
  CHECK(strncmp(out, "audit chain verified", 20) == 0);
  CHECK_EQ(hw_test_server_stop(srv), 0);
  {
    char db[400];
    hw_store_opts o = {.path = db, .key_file = srv->key_file, .journal = HW_STORE_WAL};
    hw_store *st = NULL;
    snprintf(db, sizeof db, "%s/server.db", srv->state);
    CHECK_OK(hw_store_open(&st, &o, NULL));
    CHECK_OK(hw_store_check(st));
    hw_store_close(st);
  }
}

/* One trial on a new server; returns the violations found after the cut. */
static int trial(int no, long cut_ops, uint64_t seed, bool flawed, int *cut_during)
{
  hw_test_server srv;
  device dev[N_DEVICES];
  char inv[600];
  int status, violations;

  hw_test_server_start(&srv, server_bin);
  memset(dev, 0, sizeof dev);
  for (int i = 0; i < N_DEVICES; i++) {
    dev[i].no = i;
    snprintf(dev[i].name, sizeof dev[i].name, "dev%d", i);
    hw_test_rng_init(&dev[i].rng, seed + 101u * (uint64_t)(i + 1));
    hw_test_invite(&srv, "amina", inv, sizeof inv); /* devices of one worker */
    dev[i].c = hw_test_device(&srv, dev[i].name, inv);
  }
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  status = run_to_cut(&srv, dev, cut_ops, seed, flawed);
  printf("trial %d%s: cut after %ld operations: server exit %d, rounds", no,
         flawed ? " (FLAWED: synchronous=NORMAL)" : "", cut_ops, status);
  for (int i = 0; i < N_DEVICES; i++)
    printf(" %d/%d", dev[i].synced, dev[i].rounds);
  printf("\n");
  fflush(stdout);
  CHECK(status == POWERCUT_EXIT || status == 0);
  *cut_during = status == POWERCUT_EXIT;
  violations = check_after_cut(&srv, dev, no);
  if (!flawed)
    check_resync(&srv, dev);
  else
    CHECK_EQ(hw_test_server_stop(&srv), 0);
  CHECK(!hw_test_file_contains(srv.log, MARK));
  for (int i = 0; i < N_DEVICES; i++)
    hw_client_close(dev[i].c);
  if (violations && !flawed)
    fprintf(stderr, "trial %d: the server's state and log are kept in %s\n", no, srv.dir);
  else
    hw_test_server_cleanup(&srv);
  return violations;
}

int main(int argc, char **argv)
{
  const char *slow = getenv("HW_TEST_SLOW");
  long cuts = slow && strcmp(slow, "1") == 0 ? hw_test_scaled(200) : hw_test_scaled(12);
  hw_test_rng rng;
  int during = 0, flawed_bad = 0, flawed_caught = 0;

  setvbuf(stdout, NULL, _IOLBF, 0);
  CHECK(argc == 3);
  server_bin = argv[1];
  powercut_bin = argv[2];
  CHECK_OK(hw_crypto_init());
  hw_test_rng_init(&rng, hw_test_seed());
  for (long i = 0; i < cuts; i++) {
    long at = (long)hw_test_rng_below(&rng, CUT_OPS_MAX + 1);
    int d = 0;
    CHECK_EQ(trial((int)i, at, hw_test_rng_next(&rng), false, &d), 0);
    during += d;
  }
  /* The planted flaw: commits acknowledged before they are durable. */
  for (int i = 0; i < FLAWED_RUNS; i++) {
    long at = 20 + (long)hw_test_rng_below(&rng, FLAWED_CUT_MAX - 20);
    int d = 0, v = trial((int)cuts + i, at, hw_test_rng_next(&rng), true, &d);
    flawed_bad += v;
    flawed_caught += v > 0;
  }
  CHECK(flawed_caught > 0);
  printf("powercut: %ld cuts (%d during pushes), every acknowledged record kept; "
         "synchronous=NORMAL caught in %d of %d runs (%d lost writes): ok\n",
         cuts, during, flawed_caught, FLAWED_RUNS, flawed_bad);
  return 0;
}
