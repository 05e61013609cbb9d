/* Sync benchmark with the real server process, the Noise channel and the
 * encrypted stores on both sides (JSON lines):
 *   - initial push of N records (~1 KB follow-up visits) from one device:
 *     records/s and wire bytes per record against their canonical CBOR size;
 *   - initial pull of them into a fresh device: records/s;
 *   - a no-op resync: bytes on the wire, handshake included;
 *   - a resync after editing 1% of the records: records/s and bytes;
 *   - D devices syncing R records each at once: errors, p50/p99 time, the
 *     server's peak RSS;
 *   - the storage limit: a plain SQLite bulk insert of the same rows in the
 *     same run, with push/limit and pull/limit ratios;
 *   - caseloads: one worker's device (100 records) syncing from scratch and
 *     again while the server's other workers' records grow 1k, 10k, 100k;
 *     the time must stay flat: the ratio of the largest to the smallest.
 * Usage: bench-sync SERVER_BINARY. HW_BENCH_RECORDS (10000), HW_BENCH_DEVICES
 * (1000), HW_BENCH_DEVICE_RECORDS (100) and HW_BENCH_CASELOAD_MAX (100000)
 * scale it. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "homeward/record-codec.h"
#include "homeward/value.h"

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long env_long(const char *name, long dflt)
{
  const char *v = getenv(name);
  return v && atol(v) > 0 ? atol(v) : dflt;
}

/* Profiling one phase: with HW_BENCH_PERF_CTL naming the control FIFO of
 * `perf record --control fifo:FIFO -D -1`, the push phase alone is recorded
 * (the pull phase with HW_BENCH_PERF_PHASE=pull). */
static void perf_ctl(const char *phase, const char *cmd)
{
  const char *path = getenv("HW_BENCH_PERF_CTL"), *want = getenv("HW_BENCH_PERF_PHASE");
  FILE *f;
  if (!path || strcmp(want ? want : "push", phase) != 0 || !(f = fopen(path, "w")))
    return;
  fprintf(f, "%s\n", cmd);
  fclose(f);
}

static void metric(const char *name, double value, const char *unit)
{
  printf("{\"bench\": \"sync\", \"metric\": \"%s\", \"value\": %.6g, \"unit\": \"%s\"}\n", name,
         value, unit);
  fflush(stdout);
}

/* A follow-up visit with every CSI score, its notes filled to about 1 KB. */
static void visit(hw_client *c, hw_id *rec, int i)
{
  static const char *const csi[12] = {
    "csi_food_security",    "csi_nutrition_growth", "csi_shelter",          "csi_care",
    "csi_abuse_exploitation", "csi_legal_protection", "csi_wellness",       "csi_health_services",
    "csi_emotional_health", "csi_social_behaviour", "csi_performance",      "csi_education_work"};
  hw_field_value fv[17];
  uint8_t buf[17][900];
  hw_cbor_wr w;
  hw_form_error err;
  hw_date d = {2026, 1 + i % 12, 1 + i % 28};
  size_t n = 0;
  char text[800];

#define PUT(name_)                                                                                 \
  fv[n].name = (hw_bytes){(const uint8_t *)(name_), strlen(name_)};                              \
  hw_cbor_wr_init_fixed(&w, buf[n], sizeof buf[n])
#define END()                                                                                      \
  CHECK_OK(hw_cbor_wr_finish(&w));                                                                 \
  fv[n].value = (hw_bytes){buf[n], w.len};                                                         \
  n++
  PUT("visit_date");
  hw_value_put_date(&w, &d);
  END();
  PUT("visit_type");
  hw_cbor_wr_text(&w, "home_visit", 10);
  END();
  for (int k = 0; k < 12; k++) {
    PUT(csi[k]);
    hw_cbor_wr_uint(&w, (uint64_t)(1 + (i + k) % 4));
    END();
  }
  snprintf(text, sizeof text,
           "Visit %d. The family was at home; the child attends school most days, helps with "
           "the garden and says meals are regular now. The grandmother asks for help with school "
           "fees and a mosquito net. Services: food parcel, school materials, counselling "
           "session with the child and caregiver. Next visit agreed for the coming month; the "
           "worker will follow up with the school about attendance and with the health centre "
           "about the child's cough. The caregiver was present throughout and agreed to the "
           "plan. Observations recorded for the case conference.",
           i);
  PUT("notes");
  hw_cbor_wr_text(&w, text, strlen(text));
  END();
  PUT("significant_events");
  hw_cbor_wr_text(&w, "none reported", 13);
  END();
  PUT("decision");
  hw_cbor_wr_text(&w, "continue", 8);
  END();
  CHECK_OK(hw_client_create_record(c, NULL, "followup", fv, n, rec, NULL, &err));
}

typedef struct dev_job {
  hw_test_server *srv;
  char inv[600];
  char name[32];
  int records;
  double seconds;
  int ok;
  char why[128];
} dev_job;

static hw_client *make_device(hw_test_server *srv, const char *name, const char *inv)
{
  return hw_test_device(srv, name, inv);
}

static atomic_int go;

static void *device_thread(void *arg)
{
  dev_job *j = arg;
  hw_client *c = make_device(j->srv, j->name, j->inv);
  hw_sync_result r;
  double t0;

  for (int i = 0; i < j->records; i++) {
    hw_id rec;
    visit(c, &rec, i);
  }
  while (!atomic_load(&go))
    ;
  t0 = now();
  j->ok = hw_client_sync(c, 60000, NULL, NULL, &r) == HW_OK;
  j->seconds = now() - t0;
  if (!j->ok)
    snprintf(j->why, sizeof j->why, "%.120s", r.message);
  hw_client_close(c);
  return NULL;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static long peak_rss_kb(pid_t pid)
{
  char path[64], line[256];
  long kb = -1;
  FILE *f;
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  if (!(f = fopen(path, "r")))
    return -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "VmHWM:", 6))
      kb = atol(line + 6);
  fclose(f);
  return kb;
}

/* CPU seconds (user + system) a process has used so far: this one
 * (the device) or the server, from /proc. */
static double cpu_seconds(pid_t pid)
{
  char path[64], buf[1024];
  unsigned long ut = 0, st = 0;
  const char *p;
  size_t n;
  FILE *f;

  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  if (!(f = fopen(path, "r")))
    return -1;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* Fields 14 and 15, counted after the command name's closing ')'. */
  if (!(p = strrchr(buf, ')')) || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                                         &ut, &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Bytes a process has handed to write calls so far (/proc/PID/io wchar). */
static double written_bytes(pid_t pid)
{
  char path[64], line[128];
  double v = -1;
  FILE *f;

  snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
  if (!(f = fopen(path, "r")))
    return -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "wchar:", 6))
      v = atof(line + 6);
  fclose(f);
  return v;
}

/* Where a phase's time went: each side's CPU per record, in microseconds,
 * and the server's writes per record (its files and sockets). */
static void cpu_metrics(const char *phase, double dev0, double srv0, double wr0, pid_t srv, long n)
{
  char name[64];
  snprintf(name, sizeof name, "%s_server_written_bytes_per_record", phase);
  metric(name, (written_bytes(srv) - wr0) / (double)n, "bytes");
  snprintf(name, sizeof name, "%s_device_cpu_us_per_record", phase);
  metric(name, (cpu_seconds(getpid()) - dev0) * 1e6 / (double)n, "us");
  snprintf(name, sizeof name, "%s_server_cpu_us_per_record", phase);
  metric(name, (cpu_seconds(srv) - srv0) * 1e6 / (double)n, "us");
}

/* The storage limit: the same rows (the records' own ids, states of their
 * mean size) bulk-inserted into plain SQLite. */
static double sqlite_limit(const char *dir, const hw_id *ids, long n, size_t row_bytes)
{
  char path[400];
  sqlite3 *db;
  sqlite3_stmt *st;
  uint8_t *blob = malloc(row_bytes);
  double t0, t;

  snprintf(path, sizeof path, "%s/limit.db", dir);
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                   "CREATE TABLE r(id BLOB PRIMARY KEY, state BLOB)",
               NULL, NULL, NULL);
  CHECK(sqlite3_prepare_v2(db, "INSERT INTO r VALUES (?1, ?2)", -1, &st, NULL) == SQLITE_OK);
  memset(blob, 'x', row_bytes);
  t0 = now();
  sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
  for (long i = 0; i < n; i++) {
    sqlite3_bind_blob(st, 1, ids[i].b, HW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, blob, (int)row_bytes, SQLITE_STATIC);
    CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_reset(st);
    if (i % 256 == 255) { /* the server commits per batch too */
      sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
      sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    }
  }
  sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  t = now() - t0;
  sqlite3_finalize(st);
  sqlite3_close(db);
  free(blob);
  return (double)n / t;
}

typedef struct size_walk {
  uint64_t bytes, n;
} size_walk;

static int add_size(void *ud, const hw_record *r, bool pending, bool held)
{
  size_walk *w = ud;
  (void)pending, (void)held;
  w->bytes += hw_record_encoded_len(r);
  w->n++;
  return 0;
}

/* A server on its default limits, not the short timeouts the tests use. */
static void start_default(hw_test_server *srv, const char *binary)
{
  FILE *f;
  hw_test_server_start(srv, binary);
  f = fopen(srv->config, "w");
  CHECK(f != NULL);
  fputs("[limits]\nmax_connections = 4096\n", f);
  fclose(f);
  CHECK_EQ(hw_test_server_stop(srv), 0);
  hw_test_server_restart(srv);
}

/* Median of 5 fresh devices of the worker `flat`: first sync (its whole
 * caseload) and a no-op resync. */
static void flat_syncs(hw_test_server *srv, int stage, double *first, double *again)
{
  double a[5], b[5];
  for (int k = 0; k < 5; k++) {
    char inv[600], name[32];
    hw_client *c;
    hw_sync_result r;
    double t0;
    hw_test_invite(srv, "flat", inv, sizeof inv);
    snprintf(name, sizeof name, "flat-%d-%d", stage, k);
    c = make_device(srv, name, inv);
    t0 = now();
    r = hw_test_sync_ok(c);
    a[k] = now() - t0;
    CHECK_EQ(r.pulled, 100);
    t0 = now();
    hw_test_sync_ok(c);
    b[k] = now() - t0;
    hw_client_close(c);
  }
  qsort(a, 5, sizeof *a, cmp_double);
  qsort(b, 5, sizeof *b, cmp_double);
  *first = a[2];
  *again = b[2];
}

static void caseload_flat(const char *binary, long max_others)
{
  static const long stages[] = {1000, 10000, 100000};
  hw_test_server srv;
  char inv[600], name[64];
  hw_client *own, *filler;
  double first[3], again[3];
  long have = 0;
  int last = -1;

  start_default(&srv, binary);
  hw_test_invite(&srv, "flat", inv, sizeof inv);
  own = make_device(&srv, "flat-own", inv);
  for (int i = 0; i < 100; i++) {
    hw_id rec;
    visit(own, &rec, i);
  }
  CHECK_EQ(hw_test_sync_ok(own).pushed, 100);
  hw_client_close(own);
  hw_test_invite(&srv, "filler", inv, sizeof inv);
  filler = make_device(&srv, "filler", inv);
  for (int s = 0; s < 3 && stages[s] <= max_others; s++) {
    for (; have < stages[s]; have++) {
      hw_id rec;
      visit(filler, &rec, (int)have);
    }
    hw_test_sync_ok(filler);
    flat_syncs(&srv, s, &first[s], &again[s]);
    snprintf(name, sizeof name, "caseload_first_sync_seconds_others_%ld", stages[s]);
    metric(name, first[s], "s");
    snprintf(name, sizeof name, "caseload_resync_seconds_others_%ld", stages[s]);
    metric(name, again[s], "s");
    last = s;
  }
  if (last > 0) {
    metric("caseload_first_sync_largest_over_smallest", first[last] / first[0], "ratio");
    metric("caseload_resync_largest_over_smallest", again[last] / again[0], "ratio");
  }
  hw_client_close(filler);
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_cleanup(&srv);
}

int main(int argc, char **argv)
{
  long n = env_long("HW_BENCH_RECORDS", 10000);
  long n_dev = env_long("HW_BENCH_DEVICES", 1000);
  long per_dev = env_long("HW_BENCH_DEVICE_RECORDS", 100);
  hw_test_server srv;
  char inv[600], inv2[600];
  hw_client *a, *b;
  hw_sync_result r;
  size_walk sz = {0, 0};
  double t0, push_rate, pull_rate, limit, dev0, srv0, wr0;
  hw_id *ids;

  CHECK(argc == 2);
  CHECK_OK(hw_crypto_init());
  {
    struct rlimit rl = {65536, 65536};
    (void)setrlimit(RLIMIT_NOFILE, &rl);
  }
  start_default(&srv, argv[1]);
  hw_test_invite(&srv, "bench-a", inv, sizeof inv);
  hw_test_invite(&srv, "bench-a", inv2, sizeof inv2); /* the same worker: it sees the cases */
  a = make_device(&srv, "a", inv);
  ids = calloc((size_t)n, sizeof *ids);
  for (long i = 0; i < n; i++)
    visit(a, &ids[i], (int)i);
  CHECK_OK(hw_client_list(a, add_size, &sz));

  t0 = now();
  dev0 = cpu_seconds(getpid());
  srv0 = cpu_seconds(srv.pid);
  wr0 = written_bytes(srv.pid);
  perf_ctl("push", "enable");
  r = hw_test_sync_ok(a);
  push_rate = (double)n / (now() - t0);
  perf_ctl("push", "disable");
  CHECK_EQ(r.pushed, (uint64_t)n);
  metric("push_records_per_s", push_rate, "records/s");
  cpu_metrics("push", dev0, srv0, wr0, srv.pid, n);
  metric("record_cbor_bytes_mean", (double)sz.bytes / (double)sz.n, "bytes");
  metric("push_wire_bytes_per_record", (double)r.totals.bytes_up / (double)n, "bytes");
  metric("push_wire_over_cbor", (double)r.totals.bytes_up / (double)sz.bytes, "ratio");

  b = make_device(&srv, "b", inv2);
  t0 = now();
  dev0 = cpu_seconds(getpid());
  srv0 = cpu_seconds(srv.pid);
  wr0 = written_bytes(srv.pid);
  perf_ctl("pull", "enable");
  r = hw_test_sync_ok(b);
  pull_rate = (double)n / (now() - t0);
  perf_ctl("pull", "disable");
  CHECK_EQ(r.pulled, (uint64_t)n);
  metric("pull_records_per_s", pull_rate, "records/s");
  cpu_metrics("pull", dev0, srv0, wr0, srv.pid, n);
  metric("pull_wire_over_cbor", (double)r.totals.bytes_down / (double)sz.bytes, "ratio");

  r = hw_test_sync_ok(b);
  metric("noop_resync_bytes", (double)(r.totals.bytes_up + r.totals.bytes_down), "bytes");

  for (long i = 0; i < n / 100; i++) {
    uint8_t v[8];
    hw_cbor_wr w;
    hw_form_error err;
    hw_field_value fv;
    hw_cbor_wr_init_fixed(&w, v, sizeof v);
    hw_cbor_wr_uint(&w, 2);
    CHECK_OK(hw_cbor_wr_finish(&w));
    fv = (hw_field_value){{(const uint8_t *)"csi_care", 8}, {v, w.len}};
    CHECK_OK(hw_client_write(a, &ids[i * 100], &fv, 1, &err));
  }
  t0 = now();
  r = hw_test_sync_ok(a);
  metric("resync_1pct_seconds", now() - t0, "s");
  metric("resync_1pct_bytes", (double)(r.totals.bytes_up + r.totals.bytes_down), "bytes");

  limit = sqlite_limit(srv.dir, ids, n, (size_t)(sz.bytes / sz.n));
  metric("sqlite_bulk_insert_records_per_s", limit, "records/s");
  metric("push_over_limit", push_rate / limit, "ratio");
  metric("pull_over_limit", pull_rate / limit, "ratio");
  hw_client_close(a);
  hw_client_close(b);

  /* Many devices at once. */
  {
    dev_job *jobs = calloc((size_t)n_dev, sizeof *jobs);
    pthread_t *th = calloc((size_t)n_dev, sizeof *th);
    double *secs = calloc((size_t)n_dev, sizeof *secs);
    long errors = 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 * 1024);
    for (long i = 0; i < n_dev; i++) {
      jobs[i].srv = &srv;
      jobs[i].records = (int)per_dev;
      snprintf(jobs[i].name, sizeof jobs[i].name, "d%ld", i);
      hw_test_invite(&srv, jobs[i].name, jobs[i].inv, sizeof jobs[i].inv);
    }
    for (long i = 0; i < n_dev; i++)
      CHECK(pthread_create(&th[i], &attr, device_thread, &jobs[i]) == 0);
    usleep(500000);
    atomic_store(&go, 1);
    for (long i = 0; i < n_dev; i++) {
      pthread_join(th[i], NULL);
      if (!jobs[i].ok && errors++ == 0)
        fprintf(stderr, "device %ld: %s\n", i, jobs[i].why);
      secs[i] = jobs[i].seconds;
    }
    qsort(secs, (size_t)n_dev, sizeof *secs, cmp_double);
    metric("devices", (double)n_dev, "devices");
    metric("devices_errors", (double)errors, "errors");
    metric("devices_sync_p50_seconds", secs[n_dev / 2], "s");
    metric("devices_sync_p99_seconds", secs[(n_dev * 99) / 100], "s");
    metric("server_peak_rss_mb", (double)peak_rss_kb(srv.pid) / 1024.0, "MB");
    free(jobs);
    free(th);
    free(secs);
  }
  free(ids);
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_cleanup(&srv);
  caseload_flat(argv[1], env_long("HW_BENCH_CASELOAD_MAX", 100000));
  return 0;
}
