#define _GNU_SOURCE /* memmem */
#include "harness.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "homeward/invitation.h"
#include "homeward/store.h"
#include "homeward/value.h"

extern char **environ;

int hw_test_free_port(void)
{
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0), port;

  CHECK(fd >= 0);
  CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
  port = ntohs(sa.sin_port);
  close(fd);
  return port;
}

/* Spawn `argv` with stdout to `out_path` (or /dev/null) and stderr appended
 * to `err_path`. */
static pid_t spawn(const char *const *argv, const char *out_path, const char *err_path)
{
  posix_spawn_file_actions_t fa;
  pid_t pid;

  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path ? out_path : "/dev/null",
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
  CHECK(posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

static int wait_exit(pid_t pid)
{
  int st;
  CHECK(waitpid(pid, &st, 0) == pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int hw_test_server_cmd(hw_test_server *s, char *out, size_t cap, const char *const *args)
{
  const char *argv[24];
  char out_path[320];
  size_t n = 0;
  int status;

  argv[n++] = s->binary;
  for (size_t i = 0; args[i] && n < 20; i++)
    argv[n++] = args[i];
  argv[n++] = "--state-dir";
  argv[n++] = s->state;
  argv[n] = NULL;
  snprintf(out_path, sizeof out_path, "%s/cmd.out", s->dir);
  status = wait_exit(spawn(argv, out_path, s->log));
  if (out && cap) {
    FILE *f = fopen(out_path, "r");
    size_t got = f ? fread(out, 1, cap - 1, f) : 0;
    out[got] = '\0';
    if (f)
      fclose(f);
  }
  return status;
}

static void wait_listening(hw_test_server *s)
{
  char sock[400];
  snprintf(sock, sizeof sock, "%s/control.sock", s->state);
  for (int i = 0; i < 500; i++) {
    struct stat st;
    if (stat(sock, &st) == 0)
      return;
    usleep(20000);
  }
  fprintf(stderr, "server did not start; its log is %s\n", s->log);
  CHECK(0);
}

/* A failed CHECK aborts the test: take the server down with it, so no
 * process outlives the test. */
static pid_t live_server;

static void on_abort(int sig)
{
  if (live_server > 0)
    kill(live_server, SIGKILL);
  signal(sig, SIG_DFL);
  raise(sig);
}

/* With the server stopped, copy its store and key envelope; run again. */
static void copy_store(hw_test_server *s, const char *from_dir, const char *from,
                       const char *to_dir, const char *to)
{
  char cmd[2400];
  CHECK_EQ(hw_test_server_stop(s), 0);
  snprintf(cmd, sizeof cmd,
           "cp '%s/%s' '%s/%s' && cp '%s/%s.hwkey' '%s/%s.hwkey' && rm -f '%s/%s-wal' "
           "'%s/%s-shm'",
           from_dir, from, to_dir, to, from_dir, from, to_dir, to, to_dir, to, to_dir, to);
  CHECK(system(cmd) == 0);
  hw_test_server_restart(s);
}

void hw_test_server_backup(hw_test_server *s)
{
  copy_store(s, s->state, "server.db", s->dir, "backup.db");
}

void hw_test_server_restore(hw_test_server *s)
{
  copy_store(s, s->dir, "backup.db", s->state, "server.db");
}

void hw_test_server_restart(hw_test_server *s)
{
  hw_test_server_run_as(s, s->binary, NULL);
}

void hw_test_server_run_as(hw_test_server *s, const char *binary, const char *const *extra)
{
  const char *argv[24] = {binary,        "--config",   s->config,   "run",      "--state-dir",
                          s->state,      "--key-file", s->key_file, "--listen", s->listen,
                          "--log-level", "debug"};
  size_t n = 12;
  char sock[400];

  for (size_t i = 0; extra && extra[i]; i++) {
    CHECK(n < sizeof argv / sizeof argv[0] - 1);
    argv[n++] = extra[i];
  }
  argv[n] = NULL;
  /* A killed server leaves its socket file: wait for the new one. */
  snprintf(sock, sizeof sock, "%s/control.sock", s->state);
  unlink(sock);
  s->pid = spawn(argv, NULL, s->log);
  live_server = s->pid;
  signal(SIGABRT, on_abort);
  wait_listening(s);
}

void hw_test_server_start(hw_test_server *s, const char *binary)
{
  FILE *f;
  uint8_t key[32];
  char rec_out[320];
  const char *init[] = {"init", "--key-file", s->key_file, "--recovery-key-out", rec_out, NULL};

  memset(s, 0, sizeof *s);
  s->binary = binary;
  snprintf(s->dir, sizeof s->dir, "/tmp/hw-it-XXXXXX");
  CHECK(mkdtemp(s->dir) != NULL);
  snprintf(s->state, sizeof s->state, "%s/state", s->dir);
  snprintf(s->key_file, sizeof s->key_file, "%s/server.key", s->dir);
  snprintf(s->log, sizeof s->log, "%s/server.log", s->dir);
  snprintf(rec_out, sizeof rec_out, "%s/recovery.key", s->dir);
  snprintf(s->config, sizeof s->config, "%s/server.conf", s->dir);
  f = fopen(s->config, "w");
  CHECK(f != NULL);
  /* A tiny push queue: every test pauses and resumes reading sessions. */
  fputs("[limits]\nhandshake_timeout_ms = 1500\nidle_timeout_ms = 20000\npush_queue_kb = 1\n", f);
  fclose(f);
  snprintf(s->listen, sizeof s->listen, "127.0.0.1:%d", hw_test_free_port());
  hw_random_bytes(key, sizeof key);
  f = fopen(s->key_file, "w");
  CHECK(f != NULL);
  CHECK(chmod(s->key_file, 0600) == 0);
  for (int i = 0; i < 32; i++)
    fprintf(f, "%02x", key[i]);
  fclose(f);
  CHECK_EQ(hw_test_server_cmd(s, NULL, 0, init), 0);
  hw_test_server_restart(s);
}

int hw_test_server_stop(hw_test_server *s)
{
  int rc;
  if (s->pid <= 0)
    return 0;
  kill(s->pid, SIGTERM);
  rc = wait_exit(s->pid);
  s->pid = live_server = 0;
  return rc;
}

int hw_test_server_exited(hw_test_server *s, bool wait)
{
  int st;
  pid_t got;

  if (s->pid <= 0)
    return -1;
  got = waitpid(s->pid, &st, wait ? 0 : WNOHANG);
  CHECK(got == s->pid || (!wait && got == 0));
  if (got == 0)
    return -1;
  s->pid = live_server = 0;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void hw_test_server_kill(hw_test_server *s)
{
  if (s->pid <= 0)
    return;
  kill(s->pid, SIGKILL);
  (void)wait_exit(s->pid);
  s->pid = live_server = 0;
}

void hw_test_invite(hw_test_server *s, const char *worker, char *out, size_t cap)
{
  hw_test_invite_as(s, worker, "worker", "coord", out, cap);
}

void hw_test_invite_as(hw_test_server *s, const char *worker, const char *role,
                       const char *coordinator, char *out, size_t cap)
{
  const char *args[] = {"invite", "--worker", worker, "--role", role,
                        "--coordinator", coordinator, NULL};
  size_t n;
  CHECK_EQ(hw_test_server_cmd(s, out, cap, args), 0);
  n = strlen(out);
  while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
    out[--n] = '\0';
  CHECK(strncmp(out, "homeward-invite:", 16) == 0);
}

#define DEVICE_PASS "device pass phrase"

static hw_client_opts device_opts(hw_test_server *s, const char *name, char *path, size_t cap)
{
  hw_client_opts o = {.path = path,
                      .passphrase = (const uint8_t *)DEVICE_PASS,
                      .passphrase_len = sizeof DEVICE_PASS - 1,
                      .test_flags = HW_STORE_TEST_KDF_MIN};
  snprintf(path, cap, "%s/%s.db", s->dir, name);
  return o;
}

hw_client *hw_test_device(hw_test_server *s, const char *name, const char *invitation)
{
  char path[400];
  hw_client_opts o = device_opts(s, name, path, sizeof path);
  hw_client *c = NULL;

  CHECK_OK(hw_client_create(&c, &o, invitation, strlen(invitation)));
  return c;
}

hw_client *hw_test_enrol(hw_test_server *s, const char *name, const char *worker,
                         const char *role)
{
  char inv[600];
  hw_test_invite_as(s, worker, role, "chipo", inv, sizeof inv);
  return hw_test_device(s, name, inv);
}

hw_client *hw_test_device_reopen(hw_test_server *s, const char *name)
{
  char path[400];
  hw_client_opts o = device_opts(s, name, path, sizeof path);
  hw_client *c = NULL;

  CHECK_OK(hw_client_open(&c, &o));
  return c;
}

hw_store *hw_test_device_store(hw_test_server *s, const char *name)
{
  char path[400];
  hw_client_opts co = device_opts(s, name, path, sizeof path);
  hw_store_opts o = {.path = path,
                     .passphrase = co.passphrase,
                     .passphrase_len = co.passphrase_len,
                     .journal = HW_STORE_ROLLBACK, /* a device's (client.c) */
                     .test_flags = co.test_flags};
  hw_store *st = NULL;

  CHECK_OK(hw_store_open(&st, &o, NULL));
  return st;
}

static void *bg_main(void *arg)
{
  hw_test_bg *b = arg;
  b->rc = hw_client_sync(b->c, b->timeout_ms, NULL, NULL, &b->r);
  return NULL;
}

void hw_test_bg_start(hw_test_bg *b, hw_client *c, unsigned timeout_ms)
{
  memset(b, 0, sizeof *b);
  b->c = c;
  b->timeout_ms = timeout_ms;
  CHECK(pthread_create(&b->thread, NULL, bg_main, b) == 0);
}

int hw_test_bg_join(hw_test_bg *b)
{
  CHECK(pthread_join(b->thread, NULL) == 0);
  return b->rc;
}

hw_sync_result hw_test_sync_ok(hw_client *c)
{
  hw_sync_result r;
  int rc = hw_client_sync(c, 10000, NULL, NULL, &r);
  if (rc)
    fprintf(stderr, "sync failed: %s: %s\n", hw_errname(rc), r.message);
  CHECK_OK(rc);
  {
    /* Both sides hold the same records, unless some are held for a
     * coordinator (then the device keeps its own copy of those). */
    uint64_t pending, held;
    CHECK_OK(hw_client_count_pending(c, &pending, &held));
    if (!r.checksum_ok && held == 0)
      fprintf(stderr, "checksums differ: pushed %llu pulled %llu, device holds %zu records\n",
              (unsigned long long)r.pushed, (unsigned long long)r.pulled,
              hw_test_device_records(c));
    CHECK(r.checksum_ok || held > 0);
    /* Everything pushed was acknowledged: nothing waits for the next sync
     * (a merged state that came back with an ack is the server's). */
    if (pending > held)
      fprintf(stderr, "%llu records still pending after a sync\n",
              (unsigned long long)(pending - held));
    CHECK(pending <= held);
  }
  return r;
}

void hw_test_put_text(hw_client *c, hw_id *rec, hw_id *case_id, const char *field, const char *text)
{
  uint8_t buf[256];
  hw_cbor_wr w;
  hw_field_value fv;

  hw_form_error err;
  int rc;

  hw_cbor_wr_init_fixed(&w, buf, sizeof buf);
  hw_cbor_wr_text(&w, text, strlen(text));
  CHECK_OK(hw_cbor_wr_finish(&w));
  fv = (hw_field_value){{(const uint8_t *)field, strlen(field)}, {buf, w.len}};
  if (hw_id_is_zero(rec)) {
    uint8_t date[32], dec[32];
    hw_cbor_wr dw, cw;
    hw_date d = {2026, 11, 30};
    hw_field_value all[3];
    hw_cbor_wr_init_fixed(&dw, date, sizeof date);
    hw_value_put_date(&dw, &d);
    hw_cbor_wr_init_fixed(&cw, dec, sizeof dec);
    hw_cbor_wr_text(&cw, "no_action", 9);
    CHECK_OK(hw_cbor_wr_finish(&dw));
    CHECK_OK(hw_cbor_wr_finish(&cw));
    all[0] = (hw_field_value){{(const uint8_t *)"note_date", 9}, {date, dw.len}};
    all[1] = fv;
    all[2] = (hw_field_value){{(const uint8_t *)"decision", 8}, {dec, cw.len}};
    rc = hw_client_create_record(c, hw_id_is_zero(case_id) ? NULL : case_id, "case_note", all, 3,
                                 rec, case_id, &err);
  } else {
    rc = hw_client_write(c, rec, &fv, 1, &err);
  }
  if (rc)
    fprintf(stderr, "write refused: %s\n", err.msg);
  CHECK_OK(rc);
}

void hw_test_close_case(hw_client *c, const hw_id *case_id)
{
  uint8_t date[16], reason[32], dec[32];
  hw_cbor_wr w1, w2, w3;
  hw_date d = {2026, 11, 30};
  hw_field_value fv[3];
  hw_form_error err;
  hw_id rec;

  hw_cbor_wr_init_fixed(&w1, date, sizeof date);
  hw_value_put_date(&w1, &d);
  hw_cbor_wr_init_fixed(&w2, reason, sizeof reason);
  hw_cbor_wr_text(&w2, "reintegrated", 12);
  hw_cbor_wr_init_fixed(&w3, dec, sizeof dec);
  hw_cbor_wr_text(&w3, "close_case", 10);
  CHECK_OK(hw_cbor_wr_finish(&w1));
  CHECK_OK(hw_cbor_wr_finish(&w2));
  CHECK_OK(hw_cbor_wr_finish(&w3));
  fv[0] = (hw_field_value){{(const uint8_t *)"closure_date", 12}, {date, w1.len}};
  fv[1] = (hw_field_value){{(const uint8_t *)"reason", 6}, {reason, w2.len}};
  fv[2] = (hw_field_value){{(const uint8_t *)"decision", 8}, {dec, w3.len}};
  CHECK_OK(hw_client_create_record(c, case_id, "closure", fv, 3, &rec, NULL, &err));
}

size_t hw_test_field_texts(hw_client *c, const hw_id *rec, const char *field, char out[][128],
                           size_t cap)
{
  hw_record *r = NULL;
  const hw_field *f;
  size_t n = 0;

  CHECK_OK(hw_client_get(c, rec, &r));
  f = hw_record_field(r, field, strlen(field));
  for (uint32_t i = 0; f && i < f->n_pairs && n < cap; i++) {
    hw_cbor_rd rd;
    const uint8_t *p;
    size_t len;
    hw_cbor_rd_init(&rd, f->pairs[i].value.p, f->pairs[i].value.len);
    CHECK_OK(hw_cbor_read_text(&rd, &p, &len));
    snprintf(out[n++], 128, "%.*s", (int)len, (const char *)p);
  }
  hw_record_free(r);
  return n;
}

bool hw_test_file_contains(const char *path, const char *needle)
{
  FILE *f = fopen(path, "rb");
  static char buf[1 << 22];
  size_t n;
  bool hit;

  if (!f)
    return false;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  hit = memmem(buf, n, needle, strlen(needle)) != NULL;
  return hit;
}

void hw_test_readdress(const char *invitation, const char *address, char *out, size_t cap)
{
  hw_invitation inv;
  CHECK_OK(hw_invitation_parse(invitation, strlen(invitation), &inv));
  snprintf(inv.address, sizeof inv.address, "%s", address);
  CHECK_OK(hw_invitation_format(&inv, out, cap));
}

bool hw_test_audit_has(hw_test_server *s, const char *a, const char *b)
{
  static char out[1 << 20];
  char from[32] = "1";
  const char *args[] = {"audit", "--from", from, NULL};

  for (;;) {
    const char *p, *more;
    unsigned long long next;
    CHECK_EQ(hw_test_server_cmd(s, out, sizeof out, args), 0);
    for (p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
      const char *end = strchr(p, '\n'), *x = strstr(p, a), *y = strstr(p, b);
      if (x && y && (!end || (x < end && y < end)))
        return true;
    }
    if (!(more = strstr(out, "... more after ")) ||
        sscanf(more, "... more after %*u: run again with --from %llu", &next) != 1)
      return false;
    snprintf(from, sizeof from, "%llu", next);
  }
}

size_t hw_test_server_records(hw_test_server *s)
{
  static char out[1 << 16];
  const char *args[] = {"records", NULL};
  CHECK_EQ(hw_test_server_cmd(s, out, sizeof out, args), 0);
  return (size_t)strtoull(out, NULL, 10); /* the report starts with "N records" */
}

static int count_one(void *ud, const hw_record *r, bool pending, bool held)
{
  (void)r, (void)pending, (void)held;
  (*(size_t *)ud)++;
  return 0;
}

size_t hw_test_device_records(hw_client *c)
{
  size_t n = 0;
  CHECK_OK(hw_client_list(c, count_one, &n));
  return n;
}

void hw_test_server_cleanup(hw_test_server *s)
{
  char cmd[400];
  /* A server a test left running would outlive it (its folder gone). */
  CHECK(s->pid <= 0);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
  CHECK(system(cmd) == 0);
}

size_t hw_test_file_count(const char *path, const char *needle)
{
  FILE *f = fopen(path, "rb");
  static char buf[1 << 22];
  size_t n, count = 0;
  const char *p;

  if (!f)
    return 0;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  for (p = buf; (p = memmem(p, n - (size_t)(p - buf), needle, strlen(needle))); p++)
    count++;
  return count;
}
