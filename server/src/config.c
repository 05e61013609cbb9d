/* homeward-server configuration (see config-int.h). */
#include "config-int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "homeward/utf8.h"

void hw_server_config_defaults(hw_server_config *c)
{
  memset(c, 0, sizeof *c);
  snprintf(c->state_dir, sizeof c->state_dir, "/var/lib/homeward");
  snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
  c->listen_port = 7400;
  c->log_level = HW_LOG_INFO;
  c->handshake_timeout_ms = 10000;
  c->idle_timeout_ms = 120000;
  c->max_connections = 4096;
  c->push_queue_kb = 32768;
  c->head_sign_interval_s = 60;
  c->invite_ttl_s = 24 * 3600;
}

static int copy_str(char *dst, size_t cap, const char *v)
{
  size_t n = strlen(v);
  if (n == 0 || n >= cap)
    return HW_EINVAL;
  memcpy(dst, v, n + 1);
  return HW_OK;
}

static int parse_u32(const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
  char *end;
  unsigned long long x;

  if (*v < '0' || *v > '9')
    return HW_EINVAL;
  errno = 0;
  x = strtoull(v, &end, 10);
  if (errno || *end || x < lo || x > hi)
    return HW_EINVAL;
  *out = (uint32_t)x;
  return HW_OK;
}

/* "ipv4:port", "[ipv6]:port"; port 0 takes any free port (tests, demos).
 * The address is checked here, not at the first bind: "[::1" or "::1:80"
 * would otherwise be taken and fail only when the server starts. */
static int parse_listen(hw_server_config *c, const char *v)
{
  const char *colon = strrchr(v, ':');
  char host[sizeof c->listen_host];
  unsigned char bin[16];
  uint32_t port;
  size_t hl;
  bool v6;

  if (!colon || parse_u32(colon + 1, 0, 65535, &port))
    return HW_EINVAL;
  hl = (size_t)(colon - v);
  v6 = hl >= 2 && v[0] == '[' && v[hl - 1] == ']';
  if (v6)
    v++, hl -= 2;
  if (hl == 0 || hl >= sizeof host)
    return HW_EINVAL;
  memcpy(host, v, hl);
  host[hl] = '\0';
  {
    /* A link-local v6 address may name its interface: [fe80::1%eth0]. */
    char *zone = v6 ? strchr(host, '%') : NULL;
    if (zone && (zone[1] == '\0' || strspn(zone + 1, "abcdefghijklmnopqrstuvwxyz"
                                                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                                         strlen(zone + 1)))
      return HW_EINVAL;
    if (zone)
      *zone = '\0';
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host, bin) != 1)
      return HW_EINVAL;
    if (zone)
      *zone = '%';
  }
  memcpy(c->listen_host, host, hl + 1);
  c->listen_port = (uint16_t)port;
  return HW_OK;
}

/* "host:port" as devices will dial it: a DNS name, an IPv4 address or an
 * [IPv6] one, and a port from 1 to 65535. */
static int parse_public(hw_server_config *c, const char *v)
{
  const char *colon = strrchr(v, ':');
  size_t hl = colon ? (size_t)(colon - v) : 0;
  uint32_t port;

  if (!colon || hl == 0 || strlen(v) >= sizeof c->public_address ||
      parse_u32(colon + 1, 1, 65535, &port))
    return HW_EINVAL;
  if (v[0] == '[') {
    char host[64];
    unsigned char bin[16];
    if (hl < 3 || v[hl - 1] != ']' || hl - 2 >= sizeof host)
      return HW_EINVAL;
    memcpy(host, v + 1, hl - 2);
    host[hl - 2] = '\0';
    if (inet_pton(AF_INET6, host, bin) != 1)
      return HW_EINVAL;
  } else if (strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != hl ||
             v[0] == '-' || v[0] == '.') {
    return HW_EINVAL;
  }
  memcpy(c->public_address, v, strlen(v) + 1);
  return HW_OK;
}

static int parse_level(const char *v, hw_log_level *out)
{
  static const char *const names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++)
    if (strcmp(v, names[i]) == 0) {
      *out = (hw_log_level)i;
      return HW_OK;
    }
  return HW_EINVAL;
}

int hw_server_config_set(hw_server_config *c, const char *section, const char *key,
                         const char *value, char *err, size_t err_len)
{
  int rc = HW_EINVAL, known = 1;
  char want[96] = ""; /* what the value must be, said when it is not */

#define IS(s, k) (strcmp(section, s) == 0 && strcmp(key, k) == 0)
#define STR(dst)                                                                                   \
  (snprintf(want, sizeof want, "at most %zu bytes", sizeof(dst) - 1),                              \
   copy_str(dst, sizeof(dst), value))
#define U32(lo, hi, dst)                                                                           \
  (snprintf(want, sizeof want, "a whole number from %u to %u", (unsigned)(lo), (unsigned)(hi)),    \
   parse_u32(value, lo, hi, dst))
  if (IS("server", "state_dir"))
    rc = STR(c->state_dir);
  else if (IS("server", "listen")) {
    snprintf(want, sizeof want, "an IP address and port such as 127.0.0.1:7400 or [::1]:7400, "
                                "not a host name");
    rc = parse_listen(c, value);
  } else if (IS("server", "public_address")) {
    snprintf(want, sizeof want, "a host name or address and port such as "
                                "homeward.example.org:7400 or [2001:db8::1]:7400");
    rc = parse_public(c, value);
  } else if (IS("server", "control_socket"))
    rc = STR(c->control_socket);
  else if (IS("server", "key_file"))
    rc = STR(c->key_file);
  else if (IS("server", "admin_group"))
    rc = STR(c->admin_group);
  else if (IS("server", "log_level")) {
    snprintf(want, sizeof want, "error, warn, info or debug");
    rc = parse_level(value, &c->log_level);
  } else if (IS("limits", "handshake_timeout_ms"))
    rc = U32(100, 600000, &c->handshake_timeout_ms);
  else if (IS("limits", "idle_timeout_ms"))
    rc = U32(1000, 86400000, &c->idle_timeout_ms);
  else if (IS("limits", "max_connections"))
    rc = U32(1, 1000000, &c->max_connections);
  else if (IS("limits", "push_queue_kb"))
    rc = U32(1, 4194304, &c->push_queue_kb);
  else if (IS("audit", "head_sign_interval_s"))
    rc = U32(1, 120, &c->head_sign_interval_s); /* devices check their clock against the head */
  else if (IS("enrolment", "invite_ttl_s"))
    rc = U32(60, 30 * 86400, &c->invite_ttl_s);
  else
    known = 0;
#undef STR
#undef U32
#undef IS
  if (rc && err && known)
    snprintf(err, err_len, "%s.%s: invalid value '%.64s' (%s)", section, key, value, want);
  else if (rc && err && strcmp(section, "server") && strcmp(section, "limits") &&
           strcmp(section, "audit") && strcmp(section, "enrolment"))
    snprintf(err, err_len, "[%s]: unknown section (the sections are [server], [limits], "
                           "[audit] and [enrolment])",
             section);
  else if (rc && err)
    snprintf(err, err_len, "%s.%s: unknown setting", section, key);
  return rc;
}

#define SEEN_MAX 64 /* settings one file may hold: every key once */

typedef struct parse_ctx {
  hw_server_config *c;
  char *err;
  size_t err_len;
  int rc;
  char seen[SEEN_MAX][80]; /* "section.key" of each setting read */
  size_t n_seen;
} parse_ctx;

/* A key given twice in one section: the later would silently win over the
 * one an administrator may be reading. True after saying so. */
static bool given_twice(parse_ctx *p, const char *section, const char *key)
{
  char name[80];

  snprintf(name, sizeof name, "%s.%s", section, key);
  for (size_t i = 0; i < p->n_seen; i++)
    if (!strcmp(p->seen[i], name)) {
      p->rc = HW_EINVAL;
      if (p->err)
        snprintf(p->err, p->err_len, "%s.%s: given twice (keep one)", section, key);
      return true;
    }
  if (p->n_seen < SEEN_MAX)
    snprintf(p->seen[p->n_seen++], sizeof p->seen[0], "%s", name);
  return false;
}

static int on_entry(void *ud, const char *section, const char *key, const char *value)
{
  parse_ctx *p = ud;
  char why[160];

  if (p->rc)
    return 0;
  if (!key)
    return 1; /* a section header alone */
  if (!section[0]) {
    p->rc = HW_EINVAL;
    if (p->err)
      snprintf(p->err, p->err_len, "%s: a setting before any [section]", key);
    return 0;
  }
  if (given_twice(p, section, key))
    return 0;
  if (hw_server_config_set(p->c, section, key, value, why, sizeof why)) {
    p->rc = HW_EINVAL;
    if (p->err)
      snprintf(p->err, p->err_len, "%s", why);
    return 0;
  }
  return 1;
}

/* A section header inih could not read ("[server" without "]"): inih goes
 * on and files the settings after it under no section, so its own report
 * would name the wrong problem. The first such line, or 0. */
static int broken_header(const char *text)
{
  int line = 1;

  for (const char *s = text; *s; line++) {
    const char *end = strchr(s, '\n');
    size_t n = end ? (size_t)(end - s) : strlen(s);
    const char *t = s;
    while (t < s + n && (*t == ' ' || *t == '\t'))
      t++;
    if (t < s + n && *t == '[' && !memchr(t, ']', n - (size_t)(t - s)))
      return line;
    if (!end)
      break;
    s = end + 1;
  }
  return 0;
}

/* The first line that is not UTF-8 text, or 0. A configuration is text:
 * bytes that are not (a binary file, another encoding) are refused rather
 * than read as settings, or as none. */
static int not_utf8(const char *text)
{
  int line = 1;

  for (const char *s = text;; line++) {
    const char *end = strchr(s, '\n');
    size_t n = end ? (size_t)(end - s) : strlen(s);
    if (!hw_utf8_valid((const uint8_t *)s, n))
      return line;
    if (!end)
      return 0;
    s = end + 1;
  }
}

int hw_server_config_parse(hw_server_config *c, const char *text, char *err, size_t err_len)
{
  parse_ctx p = {.c = c, .err = err, .err_len = err_len};
  int line = not_utf8(text);

  if (line) {
    if (err)
      snprintf(err, err_len, "line %d: not UTF-8 text (is this a configuration file?)", line);
    return HW_EINVAL;
  }
  if ((line = broken_header(text)) != 0) {
    if (err)
      snprintf(err, err_len, "line %d: a section header without its closing ]", line);
    return HW_EINVAL;
  }
  line = ini_parse_string(text, on_entry, &p);

  if (p.rc || line != 0) {
    /* inih reports the first line its handler refused or could not parse. */
    if (err && line > 0) {
      char why[200];
      snprintf(why, sizeof why, "%s", p.rc ? err : "syntax error");
      snprintf(err, err_len, "line %d: %s", line, why);
    }
    return HW_EINVAL;
  }
  return HW_OK;
}

int hw_server_config_load(hw_server_config *c, const char *path, char *err, size_t err_len)
{
  FILE *f = fopen(path, "r");
  char *text;
  long n;
  int rc;

  if (!f) {
    int e = errno;
    if (err)
      snprintf(err, err_len, "%s: cannot open: %s", path, strerror(e));
    return e == ENOENT ? HW_ENOENT : HW_EIO;
  }
  /* The file names the key file, the admin group and the control socket:
   * one that others may change could hand the server, or its control
   * socket, to them. Refused like a key file others may read. */
  {
    struct stat sb;
    const char *why = fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)
                          ? "not a regular file"
                      : (sb.st_mode & 022)
                          ? "writable by group or others, who could change the server's key "
                            "file, admin group or control socket: chmod go-w it"
                      : (sb.st_uid != 0 && sb.st_uid != geteuid())
                          ? "owned by another user: it must be root's or the server's own"
                          : NULL;
    if (why) {
      fclose(f);
      if (err)
        snprintf(err, err_len, "%s: %s", path, why);
      return HW_EPERM;
    }
  }
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (1 << 20) ||
      fseek(f, 0, SEEK_SET) != 0 || !(text = malloc((size_t)n + 1))) {
    fclose(f);
    if (err)
      snprintf(err, err_len, "%s: unreadable or over 1 MiB", path);
    return HW_EIO;
  }
  if (fread(text, 1, (size_t)n, f) != (size_t)n) {
    free(text);
    fclose(f);
    if (err)
      snprintf(err, err_len, "%s: cannot read", path);
    return HW_EIO;
  }
  fclose(f);
  text[n] = '\0';
  /* A NUL would end the text early: what follows it, the whole file when
   * it comes first, would be silently ignored. */
  if (memchr(text, '\0', (size_t)n)) {
    const char *nul = text + strlen(text);
    int line = 1;
    for (const char *s = text; s < nul; s++)
      line += *s == '\n';
    free(text);
    if (err)
      snprintf(err, err_len, "%.120s: line %d: a NUL byte: not a text file (is this a "
               "configuration file?)", path, line);
    return HW_EINVAL;
  }
  rc = hw_server_config_parse(c, text, err, err_len);
  free(text);
  if (rc && err && err_len > 0) {
    /* "FILE: line 7: ..." tells which file, as a compiler would. */
    char line[256];
    snprintf(line, sizeof line, "%s", err);
    snprintf(err, err_len, "%.120s: %s", path, line);
  }
  return rc;
}

void hw_server_config_finish(hw_server_config *c)
{
  if (!c->control_socket[0])
    snprintf(c->control_socket, sizeof c->control_socket, "%.90s/control.sock", c->state_dir);
}
