/* The server's life and its refusals: peers with the wrong pinned key or an
 * unknown invitation are refused with distinct codes; a peer that stalls in
 * the handshake is cut off while others sync; a crash (SIGKILL) loses
 * nothing acknowledged and the audit chain still verifies; a server
 * restored from a backup takes a new epoch and devices re-push, so nothing
 * acknowledged since the backup is lost; SIGTERM during a push, and a
 * second signal while the server finishes, end in exit 0 with every
 * acknowledged record kept. */
#define _DEFAULT_SOURCE
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "homeward/invitation.h"

static hw_test_server srv;

static void put_note(hw_client *c, int i)
{
  hw_id rec = {{0}}, cas = {{0}};
  char text[64];
  snprintf(text, sizeof text, "note %d", i);
  hw_test_put_text(c, &rec, &cas, "note", text);
}

static void audit_verifies(void)
{
  static char out[1 << 16];
  const char *args[] = {"audit", NULL};
  CHECK_EQ(hw_test_server_cmd(&srv, out, sizeof out, args), 0);
  CHECK(strncmp(out, "audit chain verified", 20) == 0);
}

static int count_acked(void *ud, const hw_record *r, bool pending, bool held)
{
  (void)r, (void)held;
  *(size_t *)ud += !pending;
  return 0;
}

typedef struct stop_ctx {
  bool sent;
  int status;   /* the server's exit status */
  long signals; /* SIGINTs sent after the SIGTERM */
} stop_ctx;

/* At the first progress of the push: SIGTERM, then SIGINT every 100 us
 * until the server has exited. However far its stop has gone, none of them
 * may kill it. */
static void stop_on_progress(const hw_sync_progress *p, void *ud)
{
  stop_ctx *x = ud;
  pid_t pid = srv.pid;

  if (x->sent || p->records_up == 0)
    return;
  x->sent = true;
  CHECK(kill(pid, SIGTERM) == 0);
  while ((x->status = hw_test_server_exited(&srv, false)) < 0 && x->signals < 100000) {
    CHECK(kill(pid, SIGINT) == 0);
    x->signals++;
    usleep(100);
  }
}

/* SIGTERM while a device pushes: the server finishes its queued commits,
 * ignores any further signal, exits 0, and keeps every record it
 * acknowledged. Adds the notes it makes to *n. */
static void stop_mid_push(hw_client *a, int *n)
{
  stop_ctx x = {false, -1, 0};
  hw_sync_result r;
  size_t acked = 0;

  for (int k = 0; k < 1500; k++, (*n)++)
    put_note(a, 1000 + k);
  int rc = hw_client_sync(a, 10000, stop_on_progress, &x, &r); /* cut short by the stop */

  printf("stopped mid-push (sync rc=%d) after %ld more signals: exit %d, %zu 'already "
         "stopping' lines\n",
         rc, x.signals, x.status, hw_test_file_count(srv.log, "already stopping"));
  CHECK(x.sent);
  CHECK_EQ(x.status, 0);
  /* The worker reads a cut, not "input/output error". */
  CHECK(rc != HW_OK && strstr(r.message, "the connection was cut") != NULL);
  CHECK_OK(hw_client_list(a, count_acked, &acked));
  hw_test_server_restart(&srv);
  /* Every record the server holds came from `a`, so a lost
   * acknowledged one shows as fewer records than `a` has acknowledged. */
  CHECK(hw_test_server_records(&srv) >= acked);
  hw_test_sync_ok(a);
  CHECK_EQ(hw_test_server_records(&srv), (size_t)*n);
}

/* Administrators' mistakes are said plainly: a second server on the same
 * state directory, an invitation with an unknown role; an empty device
 * list says so. */
static void clear_refusals(void)
{
  char out[4096];
  const char *second[] = {"run", "--key-file", srv.key_file, "--listen", "127.0.0.1:0", NULL};
  const char *boss[] = {"invite", "--worker", "amina", "--coordinator", "chipo",
                        "--role", "boss", NULL};
  const char *devices[] = {"devices", NULL};
  const char *spaced[] = {"invite", "--worker", "amina k", "--coordinator", "chipo", NULL};
  const char *empty[] = {"invite", "--worker", "", "--coordinator", "chipo", NULL};
  const char *bad_fd[] = {"run", "--passphrase-fd", "99", NULL};

  CHECK_EQ(hw_test_server_cmd(&srv, out, sizeof out, second), 1);
  CHECK(hw_test_file_contains(srv.log, "is another homeward-server running on this state"));
  CHECK(hw_test_server_cmd(&srv, out, sizeof out, boss) != 0);
  CHECK(hw_test_file_contains(srv.log, "--role takes worker or coordinator\n"));
  CHECK(!hw_test_file_contains(srv.log, "coordinator\n\n")); /* no blank line after it */
  /* A name with a space would split key=value log and report lines. */
  CHECK(hw_test_server_cmd(&srv, out, sizeof out, spaced) != 0);
  CHECK(hw_test_file_contains(srv.log, "--worker: a name without spaces"));
  /* An empty value, a descriptor not open: each said as such. */
  CHECK_EQ(hw_test_server_cmd(&srv, out, sizeof out, empty), 2);
  CHECK(hw_test_file_contains(srv.log, "--worker needs a value (it was empty)"));
  CHECK_EQ(hw_test_server_cmd(&srv, out, sizeof out, bad_fd), 2);
  CHECK(hw_test_file_contains(srv.log, "--passphrase-fd 99 is not an open file descriptor"));
  CHECK_EQ(hw_test_server_cmd(&srv, out, sizeof out, devices), 0);
  CHECK(strcmp(out, "no devices enrolled\n") == 0);
}

/* A failed init leaves nothing behind (no recovery key that seals nothing,
 * no half-made store), says which file is wrong, and may simply be run
 * again; init on an existing store writes nothing at all. */
static void failed_init(void)
{
  hw_test_server s2 = srv;
  char rec[400], bad_key[400], out[2048], log[8192];
  FILE *f;
  size_t n;
  const char *no_key[] = {"init", "--key-file", bad_key, "--recovery-key-out", rec, NULL};
  const char *good[] = {"init", "--key-file", srv.key_file, "--recovery-key-out", rec, NULL};

  snprintf(s2.state, sizeof s2.state, "%s/state-2", srv.dir);
  snprintf(rec, sizeof rec, "%s/recovery-2.key", srv.dir);
  snprintf(bad_key, sizeof bad_key, "%s/missing.key", srv.dir);
  CHECK(hw_test_server_cmd(&s2, out, sizeof out, no_key) != 0);
  CHECK(access(rec, F_OK) != 0);
  CHECK(access(s2.state, F_OK) != 0);
  f = fopen(srv.log, "r");
  CHECK(f != NULL);
  n = fread(log, 1, sizeof log - 1, f);
  fclose(f);
  log[n] = '\0';
  CHECK(strstr(log, "missing.key") && strstr(log, "key file not found"));
  /* A key file that is not a key. */
  f = fopen(bad_key, "w");
  CHECK(f != NULL);
  fputs("not a key\n", f);
  fclose(f);
  CHECK(chmod(bad_key, 0600) == 0);
  CHECK(hw_test_server_cmd(&s2, out, sizeof out, no_key) != 0);
  CHECK(access(rec, F_OK) != 0);
  CHECK(access(s2.state, F_OK) != 0);
  unlink(bad_key);
  /* The retry works; then init on that store refuses and writes nothing. */
  CHECK_EQ(hw_test_server_cmd(&s2, out, sizeof out, good), 0);
  CHECK(access(rec, F_OK) == 0);
  unlink(rec);
  CHECK(hw_test_server_cmd(&s2, out, sizeof out, good) != 0);
  CHECK(access(rec, F_OK) != 0);
  /* A state directory holding a store's file but no database (a half-copied
   * restore): init refuses and leaves it, whatever else goes wrong. */
  {
    hw_test_server s3 = srv;
    char env[450];
    snprintf(s3.state, sizeof s3.state, "%s/state-3", srv.dir);
    CHECK(mkdir(s3.state, 0700) == 0);
    snprintf(env, sizeof env, "%s/server.db.hwkey", s3.state);
    f = fopen(env, "w");
    CHECK(f != NULL);
    fputs("an envelope", f);
    fclose(f);
    snprintf(bad_key, sizeof bad_key, "%s/missing.key", srv.dir);
    CHECK(hw_test_server_cmd(&s3, out, sizeof out, no_key) != 0);
    CHECK(access(env, F_OK) == 0 && access(rec, F_OK) != 0);
    CHECK(hw_test_server_cmd(&s3, out, sizeof out, good) != 0);
    CHECK(access(env, F_OK) == 0 && access(rec, F_OK) != 0);
  }
  /* No server runs on that store: the command says where it looked. */
  {
    const char *devices[] = {"devices", NULL};
    char needle[400];
    snprintf(needle, sizeof needle, "no server is running with its control socket at %s/",
             s2.state);
    CHECK(hw_test_server_cmd(&s2, out, sizeof out, devices) != 0);
    CHECK(hw_test_file_contains(srv.log, needle));
  }
}

static void refused_peers(void)
{
  char inv[600], bad[700];
  hw_invitation parsed;
  hw_client *c;
  hw_sync_result r;

  hw_test_invite(&srv, "pinned", inv, sizeof inv);
  /* the wrong server key: the device stops before saying who it is */
  CHECK_OK(hw_invitation_parse(inv, strlen(inv), &parsed));
  parsed.server_key[0] ^= 1;
  CHECK_OK(hw_invitation_format(&parsed, bad, sizeof bad));
  c = hw_test_device(&srv, "wrong-pin", bad);
  CHECK_ERR(hw_client_sync(c, 5000, NULL, NULL, &r), HW_EAUTH);
  CHECK(strstr(r.message, "key") != NULL);
  hw_client_close(c);
  /* an invitation the server never made */
  CHECK_OK(hw_invitation_parse(inv, strlen(inv), &parsed));
  parsed.token[3] ^= 0x40;
  CHECK_OK(hw_invitation_format(&parsed, bad, sizeof bad));
  c = hw_test_device(&srv, "bad-token", bad);
  CHECK_ERR(hw_client_sync(c, 5000, NULL, NULL, &r), HW_EREFUSED);
  CHECK_EQ(r.server_code, 6); /* HW_CODE_TOKEN */
  hw_client_close(c);
}

static void stalled_peer(hw_client *ok_device)
{
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  char buf[16];
  time_t t0 = time(NULL);

  sa.sin_port = htons((uint16_t)atoi(strrchr(srv.listen, ':') + 1));
  CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  hw_test_sync_ok(ok_device); /* others are served meanwhile */
  /* the server closes the silent connection after its handshake timeout */
  CHECK(recv(fd, buf, sizeof buf, 0) == 0);
  if (time(NULL) - t0 >= 10)
    fprintf(stderr, "the server took %ld s to cut the stalled peer (log %s)\n",
            (long)(time(NULL) - t0), srv.log);
  CHECK(time(NULL) - t0 < 10);
  close(fd);
  CHECK(hw_test_file_contains(srv.log, "close=handshake-timeout"));
}

/* An invitation names the address devices should dial: public_address
 * when set; a server listening on every address without one refuses to
 * invite (no device could dial 0.0.0.0). */
static void invitation_address(void)
{
  static char out[4096];
  char wild[64];
  const char *public_args[] = {"--public-address", "homeward.example.org:7415", NULL};
  const char *wild_args[] = {"--listen", wild, NULL};
  const char *invite[] = {"invite", "--worker", "amina", "--coordinator", "chipo", NULL};
  hw_invitation inv;

  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_run_as(&srv, srv.binary, public_args);
  hw_test_invite(&srv, "amina", out, sizeof out);
  CHECK_OK(hw_invitation_parse(out, strlen(out), &inv));
  CHECK(strcmp(inv.address, "homeward.example.org:7415") == 0);
  CHECK_EQ(hw_test_server_stop(&srv), 0);

  snprintf(wild, sizeof wild, "0.0.0.0:%s", strrchr(srv.listen, ':') + 1);
  hw_test_server_run_as(&srv, srv.binary, wild_args);
  {
    /* Refused before anything is stored: no invitation, no audit entry. */
    const char *audit[] = {"audit", NULL};
    size_t before = 0, after = 0;
    CHECK_EQ(hw_test_server_cmd(&srv, out, sizeof out, audit), 0);
    for (const char *p = out; (p = strstr(p, " invite ")) != NULL; p++)
      before++;
    CHECK(hw_test_server_cmd(&srv, out, sizeof out, invite) != 0);
    CHECK_EQ(hw_test_server_cmd(&srv, out, sizeof out, audit), 0);
    for (const char *p = out; (p = strstr(p, " invite ")) != NULL; p++)
      after++;
    CHECK(before > 0 && after == before);
  }
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_restart(&srv);
  hw_test_invite(&srv, "amina", out, sizeof out);
  CHECK_OK(hw_invitation_parse(out, strlen(out), &inv));
  CHECK(strcmp(inv.address, srv.listen) == 0);
}

/* Devices measure their clock against the signed audit head's time: an
 * idle server signs its unchanged head again every five intervals, so a
 * device syncing after a quiet spell is not told its clock is off by the
 * length of that spell. */
static void idle_head_refreshed(hw_client *a)
{
  FILE *f = fopen(srv.config, "a");
  hw_sync_result r;

  CHECK(f != NULL);
  fputs("[audit]\nhead_sign_interval_s = 1\n", f);
  fclose(f);
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_restart(&srv);
  r = hw_test_sync_ok(a);
  CHECK(r.head_verified);
  sleep(13); /* idle: nothing new to sign for 13 intervals */
  r = hw_test_sync_ok(a);
  CHECK(r.head_verified);
  CHECK(r.clock_skew_ms > -10000); /* signed again every 5-6 s, not 13 s old or more */
}

/* `rekey` on the stopped server: the store moves to a new key file (made
 * by the command, mode 0600); the old key file no longer opens it, a weak
 * new passphrase is refused before anything changes, and the server runs
 * on with the new key, everything kept. */
static void rekeyed(hw_client *a, int n)
{
  char old_key[300], new_key[400], other[400], out[1024];
  struct stat sb;

  snprintf(old_key, sizeof old_key, "%s", srv.key_file);
  snprintf(new_key, sizeof new_key, "%s/rekeyed.key", srv.dir);
  snprintf(other, sizeof other, "%s/other.key", srv.dir);
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  setenv("HOMEWARD_NEW_PASSPHRASE", "password1234", 1);
  CHECK_EQ(hw_test_server_cmd(&srv, out, sizeof out,
                              (const char *const[]){"rekey", "--key-file", old_key, NULL}),
           2);
  unsetenv("HOMEWARD_NEW_PASSPHRASE");
  CHECK(hw_test_file_contains(srv.log, "new passphrase refused: a common password"));
  CHECK_EQ(hw_test_server_cmd(&srv, out, sizeof out,
                              (const char *const[]){"rekey", "--key-file", old_key,
                                                    "--new-key-file", new_key, NULL}),
           0);
  CHECK(strstr(out, "the store now opens with the key file") != NULL);
  CHECK(stat(new_key, &sb) == 0 && (sb.st_mode & 0777) == 0600);
  CHECK_EQ(hw_test_server_cmd(&srv, out, sizeof out,
                              (const char *const[]){"rekey", "--key-file", old_key,
                                                    "--new-key-file", other, NULL}),
           2);
  CHECK(hw_test_file_contains(srv.log, "does not open the store"));
  CHECK(stat(other, &sb) != 0); /* no key file made for a rekey that could not be */
  snprintf(srv.key_file, sizeof srv.key_file, "%.280s", new_key);
  hw_test_server_restart(&srv);
  hw_test_sync_ok(a);
  CHECK_EQ(hw_test_server_records(&srv), (size_t)n);
  audit_verifies();
}

int main(int argc, char **argv)
{
  char inv_a[600], inv_b[600];
  hw_client *a, *b;
  hw_id ed = {{0}}, ed_case = {{0}}; /* a record a edits across the backup */
  hw_sync_result r;
  int n = 0;

  CHECK(argc == 2);
  CHECK_OK(hw_crypto_init());
  hw_test_server_start(&srv, argv[1]);
  failed_init();
  clear_refusals();
  refused_peers();
  invitation_address();
  hw_test_invite(&srv, "amina", inv_a, sizeof inv_a);
  hw_test_invite(&srv, "amina", inv_b, sizeof inv_b); /* a second device of the same worker */
  a = hw_test_device(&srv, "a", inv_a);
  b = hw_test_device(&srv, "b", inv_b);
  stalled_peer(a);
  idle_head_refreshed(a);

  /* A crash right after acknowledged pushes loses none of them. */
  for (; n < 40; n++)
    put_note(a, n);
  hw_test_sync_ok(a);
  hw_test_server_kill(&srv);
  hw_test_server_restart(&srv);
  r = hw_test_sync_ok(b);
  CHECK_EQ(r.pulled, (uint64_t)n);
  CHECK_EQ(hw_test_server_records(&srv), (size_t)n);
  audit_verifies();
  stop_mid_push(a, &n);
  audit_verifies();
  hw_test_sync_ok(b); /* b holds them all again */
  hw_test_put_text(a, &ed, &ed_case, "note", "before the backup");
  n++;
  hw_test_sync_ok(a);

  /* A backup of the server, then acknowledged work, then the backup
   * restored: a new epoch, and the devices give back what it lost. */
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  {
    char cmd[2400];
    snprintf(cmd, sizeof cmd,
             "cp '%s/server.db' '%s/backup.db' && cp '%s/server.db.hwkey' "
             "'%s/backup.db.hwkey'",
             srv.state, srv.dir, srv.state, srv.dir);
    CHECK(system(cmd) == 0);
  }
  hw_test_server_restart(&srv);
  for (int k = 0; k < 10; k++, n++)
    put_note(a, 100 + k);
  hw_test_sync_ok(a); /* acknowledged: then lost by the restore below */
  /* A field written twice, each time acknowledged: the restored server
   * gets the second value back, never the first (replaced here). */
  hw_test_put_text(a, &ed, &ed_case, "note", "first after the backup");
  hw_test_sync_ok(a);
  hw_test_put_text(a, &ed, &ed_case, "note", "second after the backup");
  hw_test_sync_ok(a);
  put_note(b, 200);
  n++;
  hw_test_sync_ok(b);
  CHECK_EQ(hw_test_server_records(&srv), (size_t)n);
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  {
    char cmd[2400];
    snprintf(cmd, sizeof cmd,
             "cp '%s/backup.db' '%s/server.db' && cp '%s/backup.db.hwkey' "
             "'%s/server.db.hwkey' && rm -f '%s/server.db-wal' '%s/server.db-shm'",
             srv.dir, srv.state, srv.dir, srv.state, srv.state, srv.state);
    CHECK(system(cmd) == 0);
  }
  hw_test_server_restart(&srv);
  CHECK(hw_test_server_records(&srv) < (size_t)n); /* the restore lost some */
  r = hw_test_sync_ok(a);
  CHECK(r.recovered);
  r = hw_test_sync_ok(b);
  CHECK(r.recovered);
  CHECK_EQ(hw_test_server_records(&srv), (size_t)n);
  /* The first write the restore lost for good: set aside once (it was
   * refused at every later hello before), then every sync is plain. */
  r = hw_test_sync_ok(a);
  CHECK_EQ(r.lost_by_server, 1);
  /* The refused hello is in the audit, with its reason (architecture §6). */
  CHECK(hw_test_audit_has(&srv, " refused ", "lineage check failed: its history differs"));
  r = hw_test_sync_ok(a);
  CHECK(r.lost_by_server == 0 && !r.recovered && !r.forked);
  CHECK_EQ(hw_test_device_records(a), (size_t)n);
  {
    char texts[2][128];
    hw_test_sync_ok(b);
    CHECK_EQ(hw_test_field_texts(b, &ed, "note", texts, 2), 1);
    CHECK(strcmp(texts[0], "second after the backup") == 0);
  }
  CHECK(hw_test_file_contains(srv.log, "new epoch taken"));
  rekeyed(a, n);

  hw_client_close(a);
  hw_client_close(b);
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_cleanup(&srv);
  puts("server life: ok");
  return 0;
}
