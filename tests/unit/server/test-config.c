/* Server configuration: defaults, a full file, every kind of bad input
 * refused with the line and the setting named. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config-int.h"

static void expect_bad(const char *text, const char *want_in_err)
{
  hw_server_config c;
  char err[256] = "";

  hw_server_config_defaults(&c);
  CHECK_ERR(hw_server_config_parse(&c, text, err, sizeof err), HW_EINVAL);
  if (!strstr(err, want_in_err)) {
    fprintf(stderr, "config error \"%s\" lacks \"%s\"\n", err, want_in_err);
    CHECK(0);
  }
}

int main(void)
{
  hw_server_config c;
  char err[256];

  hw_server_config_defaults(&c);
  CHECK_EQ(c.listen_port, 7400);
  CHECK(strcmp(c.listen_host, "127.0.0.1") == 0);
  CHECK_OK(hw_server_config_parse(&c,
                                  "; regional office\n"
                                  "[server]\n"
                                  "state_dir = /srv/homeward\n"
                                  "listen = [::1]:7500\n"
                                  "log_level = debug\n"
                                  "admin_group = hw-admin\n"
                                  "[limits]\n"
                                  "handshake_timeout_ms = 5000\n"
                                  "idle_timeout_ms = 60000\n"
                                  "max_connections = 2000\n"
                                  "push_queue_kb = 1024\n"
                                  "[audit]\n"
                                  "head_sign_interval_s = 30\n"
                                  "[enrolment]\n"
                                  "invite_ttl_s = 3600\n",
                                  err, sizeof err));
  hw_server_config_finish(&c);
  CHECK(strcmp(c.state_dir, "/srv/homeward") == 0);
  CHECK(strcmp(c.listen_host, "::1") == 0 && c.listen_port == 7500);
  /* A link-local address with its interface is kept whole. */
  CHECK_OK(hw_server_config_set(&c, "server", "listen", "[fe80::1%eth0]:7400", NULL, 0));
  CHECK(strcmp(c.listen_host, "fe80::1%eth0") == 0 && c.listen_port == 7400);
  CHECK_EQ(c.log_level, HW_LOG_DEBUG);
  CHECK_EQ(c.handshake_timeout_ms, 5000);
  CHECK_EQ(c.max_connections, 2000);
  CHECK_EQ(c.push_queue_kb, 1024);
  CHECK(strcmp(c.control_socket, "/srv/homeward/control.sock") == 0);

  expect_bad("[server]\nlisten = 127.0.0.1\n", "server.listen: invalid value");
  /* A key given twice: refused, not the later one silently kept. */
  expect_bad("[server]\nlog_level = info\nlog_level = debug\n", "server.log_level: given twice");
  expect_bad("[server]\nlisten = 127.0.0.1:70000\n", "server.listen");
  expect_bad("[server]\nlisten = :80\n", "server.listen");
  /* Addresses are checked when read: half a bracket, an unbracketed v6,
   * a name. */
  expect_bad("[server]\nlisten = [:0\n", "server.listen: invalid value");
  expect_bad("[server]\nlisten = [::1:7400\n", "server.listen: invalid value");
  expect_bad("[server]\nlisten = ::1:7400\n", "server.listen: invalid value");
  expect_bad("[server]\nlisten = localhost:7400\n", "server.listen: invalid value");
  expect_bad("[server]\nlisten = 10.0.0.256:7400\n", "server.listen: invalid value");
  expect_bad("[server]\nlisten = [fe80::1%]:7400\n", "server.listen: invalid value");
  expect_bad("[server]\nlisten = [fe80::1%a b]:7400\n", "server.listen: invalid value");
  /* Each refusal says what the value must be. */
  expect_bad("[server]\nlog_level = loud\n",
             "server.log_level: invalid value 'loud' (error, warn, info or debug)");
  expect_bad("[server]\nlisten = localhost:7400\n", "not a host name");
  expect_bad("[limits]\nmax_connections = 0\n", "a whole number from 1 to 1000000");
  expect_bad("[server]\nstate_dirr = /x\n", "server.state_dirr: unknown setting");
  expect_bad("[serv]\nlisten = a:1\n", "[serv]: unknown section (the sections are");
  expect_bad("[limits]\nidle_timeout_ms = -1\n", "limits.idle_timeout_ms");
  expect_bad("[limits]\nidle_timeout_ms = 99999999999999999999\n", "limits.idle_timeout_ms");
  expect_bad("[limits]\nmax_connections = 0\n", "limits.max_connections");
  expect_bad("[limits]\npush_queue_kb = 0\n", "limits.push_queue_kb");
  expect_bad("[limits]\nmax_connections = 12x\n", "limits.max_connections");
  expect_bad("\n\n[server\n", "line 3");
  /* A broken header is named as such, not as the settings after it. */
  expect_bad("[server\nstate_dir = /x\n", "line 1: a section header without its closing ]");
  expect_bad("  [limits\n", "line 1: a section header");
  expect_bad("state_dir = /x\n", "state_dir: a setting before any [section]");
  expect_bad("[server]\njust words\n", "line 2");

  /* flags go through the same checks */
  hw_server_config_defaults(&c);
  CHECK_OK(hw_server_config_set(&c, "server", "listen", "0.0.0.0:7401", err, sizeof err));
  CHECK_EQ(c.listen_port, 7401);
  CHECK_ERR(hw_server_config_set(&c, "server", "listen", "x", err, sizeof err), HW_EINVAL);
  /* The head's age bounds the devices' clock check: at most 120 s. */
  CHECK_OK(hw_server_config_set(&c, "audit", "head_sign_interval_s", "120", err, sizeof err));
  CHECK_ERR(hw_server_config_set(&c, "audit", "head_sign_interval_s", "121", err, sizeof err),
            HW_EINVAL);

  /* the address invitations name: a name, IPv4 or [IPv6], and a port */
  {
    static const char *const good[] = {"homeward.example.org:7400", "10.0.0.5:1",
                                       "[2001:db8::1]:65535", "field-office:7400"};
    static const char *const bad[] = {"homeward.example.org", ":7400", "x:0", "x:65536",
                                      "[2001:db8::1:7400", "[nothing]:7400", "-x:7400",
                                      "bad name:7400", "a/b:7400"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
      CHECK_OK(hw_server_config_set(&c, "server", "public_address", good[i], err, sizeof err));
      CHECK(strcmp(c.public_address, good[i]) == 0);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
      CHECK_ERR(hw_server_config_set(&c, "server", "public_address", bad[i], err, sizeof err),
                HW_EINVAL);
      CHECK(strcmp(c.public_address, good[3]) == 0); /* unchanged */
    }
    CHECK(strstr(err, "homeward.example.org:7400") != NULL); /* says what it wants */
  }
  CHECK_ERR(hw_server_config_load(&c, "/nonexistent/homeward.conf", err, sizeof err), HW_ENOENT);
  CHECK(strstr(err, "cannot open: No such file or directory") != NULL); /* says why */
  {
    /* A file others may change is refused: it names the key file, the admin
     * group and the control socket. Read by others is fine. */
    static const struct {
      mode_t mode;
      int want;
    } modes[] = {{0644, HW_OK}, {0600, HW_OK}, {0664, HW_EPERM}, {0646, HW_EPERM},
                 {0666, HW_EPERM}};
    char path[] = "/tmp/hw-config-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, "[server]\n", 9) == 9);
    close(fd);
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
      CHECK(chmod(path, modes[i].mode) == 0);
      hw_server_config_defaults(&c);
      err[0] = '\0';
      CHECK_ERR(hw_server_config_load(&c, path, err, sizeof err), modes[i].want);
      CHECK(modes[i].want == HW_OK || strstr(err, "writable by group or others") != NULL);
    }
    unlink(path);
    CHECK(mkdir(path, 0700) == 0); /* a directory is not a config file */
    CHECK(hw_server_config_load(&c, path, err, sizeof err) != HW_OK);
    rmdir(path);
  }
  {
    /* A file's error names the file, then the line. */
    char path[] = "/tmp/hw-config-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, "[server]\nbogus = 1\n", 19) == 19);
    close(fd);
    CHECK_ERR(hw_server_config_load(&c, path, err, sizeof err), HW_EINVAL);
    CHECK(strncmp(err, path, strlen(path)) == 0 && strstr(err, ": line 2: ") != NULL);
    unlink(path);
  }
  {
    /* A file that is not text is refused, naming the file, never read as
     * no settings: a NUL (which would end the text there), bytes that are
     * not UTF-8 (UTF-16, a binary). */
    static const struct {
      const char *bytes;
      size_t len;
      const char *why;
    } bad[] = {
#define BYTES(s) s, sizeof s - 1
        {BYTES("\x00\x01\xff\xfe garbage"), ": line 1: a NUL byte"},
        {BYTES("[server]\nlisten = 127.0.0.1:7400\n\0[limits]\n"), ": line 3: a NUL byte"},
        {BYTES("\xff\xfe[\0s\0e\0r\0v\0e\0r\0]\0"), ": line 1: a NUL byte"},
        {BYTES("\x01\xff\xfe garbage"), ": line 1: not UTF-8 text"},
        {BYTES("[server]\nstate_dir = /srv/\xe9t\xe9\n"), ": line 2: not UTF-8 text"},
#undef BYTES
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      char path[] = "/tmp/hw-config-XXXXXX";
      int fd = mkstemp(path);
      CHECK(fd >= 0);
      CHECK(write(fd, bad[i].bytes, bad[i].len) == (ssize_t)bad[i].len);
      close(fd);
      hw_server_config_defaults(&c);
      err[0] = '\0';
      CHECK_ERR(hw_server_config_load(&c, path, err, sizeof err), HW_EINVAL);
      if (strncmp(err, path, strlen(path)) != 0 || !strstr(err, bad[i].why)) {
        fprintf(stderr, "file %zu: \"%s\" lacks \"%s\"\n", i, err, bad[i].why);
        CHECK(0);
      }
      unlink(path);
    }
    /* UTF-8 text is fine, a byte-order mark included. */
    CHECK_OK(hw_server_config_parse(&c, "\xef\xbb\xbf; bureau r\xc3\xa9gional\n[server]\n"
                                        "state_dir = /srv/\xc3\xa9t\xc3\xa9\n",
                                    err, sizeof err));
    CHECK(strcmp(c.state_dir, "/srv/\xc3\xa9t\xc3\xa9") == 0);
  }
  puts("config: ok");
  return 0;
}
