/* homeward-server: the regional office's sync server (docs/operations.md). */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "control-client-int.h"
#include "homeward/crypto.h"
#include "homeward/log.h"
#include "homeward/mem.h"
#include "homeward/passphrase.h"
#include "server-int.h"
#ifdef HW_SERVER_POWERCUT
#include "powercut-int.h"
#endif

static const char usage[] =
    "usage: homeward-server [--config FILE] COMMAND [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  init    create the encrypted store and every key in the state directory\n"
    "          --state-dir DIR --recovery-key-out FILE [--key-file FILE]\n"
    "          The organisation's recovery secret key is written once to FILE:\n"
    "          keep it offline; it is the only way to open a device whose worker\n"
    "          forgot the passphrase.\n"
    "  rekey   change what unlocks the store, the server stopped: from the current\n"
    "          key file or passphrase to --new-key-file FILE (mode 0600; made with\n"
    "          fresh random bytes if it does not exist) or a new passphrase\n"
    "          (--new-passphrase-fd N, HOMEWARD_NEW_PASSPHRASE, or the terminal)\n"
    "  run     serve devices until SIGTERM or SIGINT\n"
    "          [--state-dir DIR] [--listen IP:PORT] [--public-address HOST:PORT]\n"
    "          [--key-file FILE] [--passphrase-fd N] [--log-level L]\n"
    "          [--control-socket PATH] (default STATE-DIR/control.sock)\n"
    "          HOST:PORT is what invitations tell devices to dial (a name the\n"
    "          field can resolve); without it they name the --listen address\n"
    "  invite  make a one-time invitation for a device (on a running server)\n"
    "          --worker NAME --coordinator NAME [--role worker|coordinator]\n"
    "  invitations  list the invitations not used yet, with their expiry\n"
    "  uninvite     cancel a worker's unused invitations (one lost or given by\n"
    "               mistake)  --worker NAME --coordinator NAME\n"
    "  status  ask a running server how it is\n"
    "  audit   verify the audit chain and list its entries (coordinators)\n"
    "  records list the records the server holds, with conflicts and voids\n"
    "          both list up to 399 at a time (fewer when the reply would pass\n"
    "          60,000 bytes): [--from SEQ] goes on where a reply stopped\n"
    "\n"
    "Caseloads and devices (on a running server; each change is audited with\n"
    "your user name and the deciding coordinator):\n"
    "  assign    give a case nobody holds yet to a worker\n"
    "            --case CASE --worker NAME --coordinator NAME\n"
    "            CASE: the id as caseload prints it, or 6 or more of its first or last\n"
    "            digits (as a worker's list shows them) that name no other case\n"
    "  reassign  move a case to another worker; the old holder's devices delete it\n"
    "            once their own edits are pushed\n"
    "            --case CASE --worker NAME --coordinator NAME\n"
    "  region    let a coordinator see every case of a worker\n"
    "            --coordinator NAME --worker NAME\n"
    "  unregion  take a worker out of a coordinator's region; her devices delete\n"
    "            the worker's cases once their own edits are pushed\n"
    "            --coordinator NAME --worker NAME\n"
    "  caseload  list the cases a worker holds   --worker NAME\n"
    "  flags     list the cases marked LATE-EDIT (a previous holder edited them)\n"
    "  review    clear a case's LATE-EDIT mark once its late edits are reviewed\n"
    "            --case CASE --coordinator NAME\n"
    "  devices   list the enrolled devices with their status\n"
    "  revoke    end a device's access           --device KEY-PREFIX --mode retire|lost\n"
    "            --coordinator NAME\n"
    "            retire: one last push is taken, then the device wipes its store;\n"
    "            lost: refused at once, live sessions cut\n"
    "\n"
    "Quarantine (pushed states the server could not merge, kept whole):\n"
    "  quarantine  list the waiting ones with their reasons\n"
    "              [--mode all] (the decided too) [--from N] (from id N on)\n"
    "  release     re-issue the values of one that the server's record lacks\n"
    "              --id N --coordinator NAME\n"
    "  reject      keep it for the record only, merge nothing  --id N --coordinator NAME\n"
    "              Either way the device holding it drops its copy and takes the\n"
    "              server's at its next sync.\n";

/* Printed after usage (one string would pass the 4,095 bytes C11 promises). */
static const char usage_notes[] =
    "\n"
    "Every command but init, run and rekey talks to the running server through its control\n"
    "socket, found from the state directory: give the same --state-dir DIR or\n"
    "--config FILE as the server was started with (default /var/lib/homeward).\n"
    "\n"
    "The store is unlocked with --key-file FILE (mode 0600, kept apart from the state\n"
    "directory), or a passphrase: --passphrase-fd N, the HOMEWARD_PASSPHRASE environment\n"
    "variable (scripts only: other local users of the process may read it), or the\n"
    "terminal. Logs are key=value lines on stderr and never hold case data.\n"
    "\n"
    "--version prints the version. Exit: 0 done (run: stopped by SIGTERM or SIGINT),\n"
    "1 run could not start or failed (another server on this state, the store),\n"
    "2 refused: a wrong command line or setting, init or a command that failed\n"
    "(its message says why).\n";

typedef struct opts {
  const char *config, *state_dir, *listen, *public_address, *key_file, *log_level, *recovery_out;
  const char *worker, *coordinator, *role, *control_socket, *case_hex, *device, *mode, *id, *from;
  const char *new_key_file;
  int passphrase_fd, new_passphrase_fd;
  unsigned test_flags;
#ifdef HW_SERVER_POWERCUT
  hw_powercut powercut; /* --test-powercut: this test-only binary alone */
#endif
} opts;

static void log_sink(hw_log_level level, const char *msg, void *ud)
{
  (void)ud;
  fprintf(stderr, "level=%s %s\n", hw_log_level_name(level), msg);
}

static int fail(const char *msg)
{
  fprintf(stderr, "homeward-server: %s\n", msg);
  return 2;
}

/* "server.listen: invalid value ..." without its key, for a flag's error. */
static const char *after_key(const char *err)
{
  const char *sp = strchr(err, ' ');
  return sp ? sp + 1 : err;
}

static int load_config(const opts *o, hw_server_config *cfg)
{
  char err[256];
  int rc;

  hw_server_config_defaults(cfg);
  if (o->config && (rc = hw_server_config_load(cfg, o->config, err, sizeof err)) != 0)
    return fprintf(stderr, "homeward-server: %s\n", err), 2;
  /* A flag's error names the flag (the configuration key's names the key). */
#define SET(flag, sec, key, val)                                                                   \
  if ((val) && hw_server_config_set(cfg, sec, key, val, err, sizeof err))                          \
    return fprintf(stderr, "homeward-server: %s: %s\n", flag, after_key(err)), 2;
  SET("--state-dir", "server", "state_dir", o->state_dir);
  SET("--listen", "server", "listen", o->listen);
  SET("--public-address", "server", "public_address", o->public_address);
  SET("--key-file", "server", "key_file", o->key_file);
  SET("--log-level", "server", "log_level", o->log_level);
  SET("--control-socket", "server", "control_socket", o->control_socket);
#undef SET
  hw_server_config_finish(cfg);
  return 0;
}

/* Fill `u` from the key file or a passphrase; `buf` holds the passphrase. */
static int unlock_with(const opts *o, const hw_server_config *cfg, hw_unlock *u, char *buf,
                       int confirm)
{
  int rc;

  memset(u, 0, sizeof *u);
  u->test_flags = o->test_flags;
  if (cfg->key_file[0]) {
    u->key_file = cfg->key_file;
    return 0;
  }
  rc = hw_passphrase_read(buf, o->passphrase_fd, "store passphrase: ", confirm);
  if (rc)
    return fail(rc == HW_ENOENT ? "no passphrase: use --key-file, --passphrase-fd, "
                                  "HOMEWARD_PASSPHRASE or a terminal"
                                : "the passphrase is empty, too long, or the two differ");
  if (confirm && hw_passphrase_weakness(buf))
    return fail(hw_passphrase_weakness(buf));
  u->passphrase = (const uint8_t *)buf;
  u->passphrase_len = strlen(buf);
  return 0;
}

static int cmd_init(const opts *o)
{
  hw_server_config cfg;
  hw_unlock u;
  char *pass = hw_secure_alloc(HW_PASSPHRASE_MAX + 1), err[512];
  uint8_t pub[32];
  char hex[65];
  int rc;

  if (!pass)
    return fail("out of memory");
  if ((rc = load_config(o, &cfg)) != 0 || (rc = unlock_with(o, &cfg, &u, pass, 1)) != 0)
    goto out;
  if (!o->recovery_out) {
    rc = fail("init needs --recovery-key-out FILE");
    goto out;
  }
  if (hw_server_init(&cfg, &u, o->recovery_out, pub, err, sizeof err) != 0) {
    rc = fail(err);
    goto out;
  }
  for (int i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", pub[i]);
  printf("state directory: %s\nserver key: %s\nrecovery secret key written to %s: keep it "
         "offline and delete it from this machine\n",
         cfg.state_dir, hex, o->recovery_out);
  rc = 0;
out:
  hw_secure_free(pass);
  return rc;
}

/* The new passphrase for rekey, after the current one was read: from
 * --new-passphrase-fd, HOMEWARD_NEW_PASSPHRASE, or the terminal twice. */
static int new_passphrase(const opts *o, char *buf)
{
  const char *env = getenv("HOMEWARD_NEW_PASSPHRASE"), *weak;
  int rc;

  if (o->new_passphrase_fd < 0 && env) {
    size_t n = strlen(env);
    if (n == 0 || n > HW_PASSPHRASE_MAX)
      return fail("HOMEWARD_NEW_PASSPHRASE is empty or too long");
    memcpy(buf, env, n + 1);
  } else {
    unsetenv("HOMEWARD_PASSPHRASE"); /* that one was the current passphrase */
    if ((rc = hw_passphrase_read(buf, o->new_passphrase_fd, "new store passphrase: ", 1)) != 0)
      return fail(rc == HW_ENOENT ? "no new key: give --new-key-file FILE, "
                                    "--new-passphrase-fd N, HOMEWARD_NEW_PASSPHRASE or a terminal"
                                  : "the new passphrase is empty, too long, or the two differ");
  }
  if ((weak = hw_passphrase_weakness(buf)) != NULL) {
    fprintf(stderr, "homeward-server: new passphrase refused: %s\n", weak);
    return 2;
  }
  return 0;
}

typedef struct rekey_next {
  const opts *o;
  char *buf; /* the new passphrase, hw_secure_alloc'd */
} rekey_next;

/* The new key, asked for once the current one has opened the store. */
static int next_key(void *ud, hw_unlock *to)
{
  rekey_next *n = ud;
  int rc;

  if (n->o->new_key_file) {
    to->key_file = n->o->new_key_file;
    return 0;
  }
  if ((rc = new_passphrase(n->o, n->buf)) != 0)
    return rc;
  to->passphrase = (const uint8_t *)n->buf;
  to->passphrase_len = strlen(n->buf);
  return 0;
}

static int cmd_rekey(const opts *o)
{
  hw_server_config cfg;
  hw_unlock u;
  char *pass = hw_secure_alloc(HW_PASSPHRASE_MAX + 1), err[512];
  rekey_next next = {o, hw_secure_alloc(HW_PASSPHRASE_MAX + 1)};
  bool beside = false;
  int rc;

  if (!pass || !next.buf) {
    rc = fail("out of memory");
    goto out;
  }
  if ((rc = load_config(o, &cfg)) != 0 || (rc = unlock_with(o, &cfg, &u, pass, 0)) != 0)
    goto out;
  if (hw_server_rekey(&cfg, &u, next_key, &next, &beside, err, sizeof err) != 0) {
    rc = err[0] ? fail(err) : 2;
    goto out;
  }
  if (o->new_key_file)
    printf("the store now opens with the key file %s only: set [server] key_file (or "
           "--key-file) to it; the old key no longer opens this envelope\n",
           o->new_key_file);
  else
    printf("the store now opens with the new passphrase only%s\n",
           cfg.key_file[0] ? ": remove [server] key_file (or --key-file) from how the server "
                             "starts"
                           : "");
  if (beside)
    fprintf(stderr, "homeward-server: warning: the new key file sits in the state directory: "
                    "a thief who takes the directory takes the key with it\n");
  rc = 0;
out:
  hw_secure_free(pass);
  hw_secure_free(next.buf);
  return rc;
}

static int cmd_run(const opts *o)
{
  hw_server_config cfg;
  hw_unlock u;
  hw_server *srv = hw_calloc(1, sizeof *srv);
  char *pass = hw_secure_alloc(HW_PASSPHRASE_MAX + 1), err[512];
  uv_loop_t loop;
  int rc;

  if (!srv || !pass)
    return fail("out of memory");
  if ((rc = load_config(o, &cfg)) != 0 || (rc = unlock_with(o, &cfg, &u, pass, 0)) != 0)
    goto out;
#ifdef HW_SERVER_POWERCUT
  hw__powercut_prepare(&o->powercut, &u);
#endif
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&loop);
  rc = hw_server_start(srv, &loop, &cfg, &u, err, sizeof err);
  hw_memzero(pass, HW_PASSPHRASE_MAX + 1);
  if (rc)
    fprintf(stderr, "homeward-server: %s\n", err);
#ifdef HW_SERVER_POWERCUT
  else
    hw__powercut_arm(&o->powercut);
#endif
  /* Run even after a failed start: handles it made must close. */
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  rc = rc ? 1 : srv->exit_code;
#ifdef HW_SERVER_POWERCUT
  rc = hw__powercut_finish(&o->powercut, rc);
#endif
out:
  hw_secure_free(pass);
  hw_free(srv);
  return rc;
}

static int cmd_control(const opts *o, const char *cmd)
{
  hw_server_config cfg;
  /* Keys 1..9 of the control request (server.c on_control). */
  const char *fields[9] = {cmd,       o->worker, o->role ? o->role : "worker",
                           o->coordinator, o->case_hex, o->device,
                           o->mode,   o->id,     o->from};
  static char reply[HW_CONTROL_FRAME_MAX];
  int ok = 0, rc;

  if ((rc = load_config(o, &cfg)) != 0)
    return rc;
  if (strcmp(cmd, "invite") == 0 && (!o->worker || !o->coordinator))
    return fail("invite needs --worker NAME and --coordinator NAME");
  {
    const char *why = hw__person_names_refused(o->worker ? o->worker : "",
                                               o->coordinator ? o->coordinator : "");
    if (why)
      return fail(why);
  }
  rc = hw_control_call(cfg.control_socket, fields, 9, &ok, reply, sizeof reply,
                       HW_CONTROL_TIMEOUT_S);
  if (rc == HW_ENOENT || rc == HW_EPERM) {
    char why[HW_PATH_MAX + 200];
    snprintf(why, sizeof why,
             rc == HW_ENOENT
                 ? "no server is running with its control socket at %.4000s (give --state-dir "
                   "or --config as the server was started with)"
                 : "this user may not open the control socket %.4000s: it and the folders above "
                   "it must be open to the admin group (see admin_group in docs/operations.md)",
             cfg.control_socket);
    return fail(why);
  }
  if (rc == HW_EREFUSED)
    return fail("the server refused this user: run as the server's user or a member of its "
                "admin group");
  if (rc == HW_EBUSY) {
    char why[200];
    snprintf(why, sizeof why,
             "the server did not answer within %d s: is it stopped (kill -STOP), hung or "
             "overloaded? (its log may say)",
             HW_CONTROL_TIMEOUT_S);
    return fail(why);
  }
  if (rc)
    return fail(hw_strerror(rc));
  /* The reply's lines end with a newline; fail() and puts() add their own. */
  for (size_t n = strlen(reply); n && reply[n - 1] == '\n'; n--)
    reply[n - 1] = '\0';
  if (!ok)
    return fail(reply);
  if (reply[0])
    puts(reply);
  return 0;
}

int main(int argc, char **argv)
{
  opts o = {.passphrase_fd = -1, .new_passphrase_fd = -1};
  const char *cmd = NULL;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **dst = NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "help")) {
      fputs(usage, stdout), fputs(usage_notes, stdout);
      return 0;
    }
    if (!strcmp(a, "--version")) {
      puts("homeward-server " HW_VERSION);
      return 0;
    }
#define OPT(name, field) else if (!strcmp(a, name)) dst = &o.field;
    if (0) {
    }
    OPT("--config", config)
    OPT("--state-dir", state_dir)
    OPT("--listen", listen)
    OPT("--public-address", public_address)
    OPT("--key-file", key_file)
    OPT("--log-level", log_level)
    OPT("--recovery-key-out", recovery_out)
    OPT("--worker", worker)
    OPT("--coordinator", coordinator)
    OPT("--role", role)
    OPT("--control-socket", control_socket)
    OPT("--case", case_hex)
    OPT("--device", device)
    OPT("--mode", mode)
    OPT("--id", id)
    OPT("--from", from)
    OPT("--new-key-file", new_key_file)
#undef OPT
    else if ((!strcmp(a, "--passphrase-fd") || !strcmp(a, "--new-passphrase-fd")) && i + 1 < argc)
    {
      char *end;
      long fd = strtol(argv[++i], &end, 10);
      if (end == argv[i] || *end || fd < 0 || fd > INT_MAX || fcntl((int)fd, F_GETFD) < 0)
        return fprintf(stderr, "homeward-server: %s %s is not an open file descriptor\n", a,
                       argv[i]), 2;
      *(!strcmp(a, "--passphrase-fd") ? &o.passphrase_fd : &o.new_passphrase_fd) = (int)fd;
      continue;
    }
#ifdef HW_SERVER_POWERCUT
    else if (!strcmp(a, "--test-powercut") && i + 1 < argc)
    {
      if (hw__powercut_parse(argv[++i], &o.powercut) != 0)
        return fail("--test-powercut needs OPS:SEED[:sync-normal]");
      continue;
    }
    /* The test binary only: the installed server cannot weaken a
     * passphrase's hashing. */
    else if (!strcmp(a, "--test-fast-kdf"))
    {
      o.test_flags |= HW_STORE_TEST_KDF_MIN;
      continue;
    }
#endif
    else if (a[0] != '-' && !cmd)
    {
      cmd = a;
      continue;
    }
    else
    {
      fprintf(stderr, "homeward-server: unknown option %s\n\n%s%s", a, usage, usage_notes);
      return 2;
    }
    if (i + 1 >= argc || !argv[i + 1][0]) {
      fprintf(stderr, "homeward-server: %s needs a value%s\n", a,
              i + 1 < argc ? " (it was empty)" : "");
      return 2;
    }
    *dst = argv[++i];
  }
  hw_log_set_sink(log_sink, NULL);
  if (hw_crypto_init() != 0 || hw_mem_install_hooks() != 0)
    return fail("cannot initialise the libraries");
  if (!cmd)
    return fputs(usage, stderr), fputs(usage_notes, stderr), 2;
  if (!strcmp(cmd, "init"))
    return cmd_init(&o);
  if (!strcmp(cmd, "run"))
    return cmd_run(&o);
  if (!strcmp(cmd, "rekey"))
    return cmd_rekey(&o);
  if (!strcmp(cmd, "invite") || !strcmp(cmd, "status") || !strcmp(cmd, "audit") ||
      !strcmp(cmd, "records") || !strcmp(cmd, "assign") || !strcmp(cmd, "reassign") ||
      !strcmp(cmd, "region") || !strcmp(cmd, "unregion") || !strcmp(cmd, "caseload") ||
      !strcmp(cmd, "devices") || !strcmp(cmd, "flags") || !strcmp(cmd, "review") ||
      !strcmp(cmd, "invitations") || !strcmp(cmd, "uninvite") ||
      !strcmp(cmd, "revoke") || !strcmp(cmd, "quarantine") || !strcmp(cmd, "release") ||
      !strcmp(cmd, "reject"))
    return cmd_control(&o, cmd);
  fprintf(stderr, "homeward-server: unknown command %s\n\n%s%s", cmd, usage, usage_notes);
  return 2;
}
