/* Control socket: credentials first, then one bounded frame (control-int.h). */
#define _GNU_SOURCE /* SO_PEERCRED, struct ucred, getgrouplist */
#include "control-int.h"

#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "homeward/log.h"
#include "homeward/mem.h"

struct hw_control {
  uv_pipe_t pipe;
  uv_loop_t *loop;
  hw_control_policy policy;
  hw_control_cb cb;
  void *ud;
  char path[108];
  hw_control_stats stats;
  hw_control_req *conns; /* open connections, so close can end them */
  bool closing;
  int refs; /* the listening pipe + open connections: freed at zero */
};

struct hw_control_req {
  uv_pipe_t pipe;
  hw_control *ctl;
  hw_control_req *next, *prev;
  hw_peer_cred cred;
  uint8_t hdr[4];
  size_t hdr_len;
  uint8_t *body;
  size_t body_len, got;
  bool dispatched, replied, closing;
  uv_write_t wr;
  uint8_t *out;
};

static void release(hw_control *c)
{
  if (--c->refs == 0)
    hw_free(c);
}

static void on_listener_closed(uv_handle_t *h)
{
  release(h->data);
}

static void on_req_closed(uv_handle_t *h)
{
  hw_control_req *r = h->data;
  hw_control *c = r->ctl;

  if (r->prev)
    r->prev->next = r->next;
  else
    c->conns = r->next;
  if (r->next)
    r->next->prev = r->prev;
  hw_free(r->body);
  hw_free(r->out);
  hw_free(r);
  release(c);
}

static void req_close(hw_control_req *r)
{
  if (r->closing)
    return;
  r->closing = true;
  uv_close((uv_handle_t *)&r->pipe, on_req_closed);
}

int hw_control_allowed(const hw_control_policy *p, const hw_peer_cred *cred)
{
  for (size_t i = 0; i < p->n_uids; i++)
    if (p->uids[i] == cred->uid)
      return 1;
  if (p->has_group) {
    gid_t groups[64];
    int n = 64;
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (cred->gid == p->group)
      return 1;
    if (getpwuid_r(cred->uid, &pw, buf, sizeof buf, &res) == 0 && res &&
        getgrouplist(res->pw_name, res->pw_gid, groups, &n) >= 0)
      for (int i = 0; i < n; i++)
        if (groups[i] == p->group)
          return 1;
  }
  return 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
  hw_control_req *r = h->data;

  (void)hint;
  if (r->hdr_len < 4) {
    *buf = uv_buf_init((char *)r->hdr + r->hdr_len, (unsigned)(4 - r->hdr_len));
  } else if (r->body && r->got < r->body_len) {
    *buf = uv_buf_init((char *)r->body + r->got, (unsigned)(r->body_len - r->got));
  } else {
    *buf = uv_buf_init(NULL, 0); /* nothing more is expected: UV_ENOBUFS */
  }
}

static void on_written(uv_write_t *w, int status)
{
  (void)status;
  req_close(w->data);
}

void hw_control_reply(hw_control_req *r, const uint8_t *body, size_t len)
{
  uv_buf_t b;

  if (r->replied)
    return;
  r->replied = true;
  if (r->closing || len > HW_CONTROL_FRAME_MAX || !(r->out = hw_malloc(4 + len))) {
    req_close(r);
    return;
  }
  r->out[0] = (uint8_t)(len >> 24), r->out[1] = (uint8_t)(len >> 16);
  r->out[2] = (uint8_t)(len >> 8), r->out[3] = (uint8_t)len;
  if (len)
    memcpy(r->out + 4, body, len);
  b = uv_buf_init((char *)r->out, (unsigned)(4 + len));
  r->wr.data = r;
  if (uv_write(&r->wr, (uv_stream_t *)&r->pipe, &b, 1, on_written) != 0)
    req_close(r);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  hw_control_req *r = s->data;
  hw_control *c = r->ctl;

  (void)buf;
  if (n < 0) {
    if (!r->dispatched) {
      if (n != UV_EOF)
        c->stats.bad_frames++;
      req_close(r);
    }
    return;
  }
  if (r->hdr_len < 4) {
    r->hdr_len += (size_t)n;
    if (r->hdr_len < 4)
      return;
    r->body_len =
        (size_t)r->hdr[0] << 24 | (size_t)r->hdr[1] << 16 | (size_t)r->hdr[2] << 8 | r->hdr[3];
    /* The length is checked before anything is allocated from it. */
    if (r->body_len == 0 || r->body_len > HW_CONTROL_FRAME_MAX ||
        !(r->body = hw_malloc(r->body_len))) {
      c->stats.bad_frames++;
      hw_log(HW_LOG_WARN, "control uid=%u err=%s len=%zu", (unsigned)r->cred.uid,
             hw_errname(HW_ELIMIT), r->body_len);
      req_close(r);
      return;
    }
    return;
  }
  r->got += (size_t)n;
  if (r->got == r->body_len && !r->dispatched) {
    r->dispatched = true;
    uv_read_stop(s);
    c->cb(r, &r->cred, r->body, r->body_len, c->ud);
  }
}

static int peer_cred(uv_pipe_t *p, hw_peer_cred *out)
{
  uv_os_fd_t fd;
  struct ucred uc;
  socklen_t len = sizeof uc;
  struct passwd pw, *res = NULL;
  char buf[1024];

  memset(out, 0, sizeof *out);
  if (uv_fileno((uv_handle_t *)p, &fd) != 0 ||
      getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0 || len != sizeof uc)
    return HW_EIO;
  out->pid = uc.pid;
  out->uid = uc.uid;
  out->gid = uc.gid;
  if (getpwuid_r(uc.uid, &pw, buf, sizeof buf, &res) == 0 && res)
    snprintf(out->user, sizeof out->user, "%s", res->pw_name);
  else
    snprintf(out->user, sizeof out->user, "?");
  return HW_OK;
}

static void on_connection(uv_stream_t *server, int status)
{
  hw_control *c = server->data;
  hw_control_req *r;

  if (status < 0 || c->closing)
    return;
  r = hw_calloc(1, sizeof *r);
  if (!r)
    return;
  if (uv_pipe_init(c->loop, &r->pipe, 0) != 0) {
    hw_free(r);
    return;
  }
  r->pipe.data = r;
  r->ctl = c;
  c->refs++;
  r->next = c->conns;
  if (c->conns)
    c->conns->prev = r;
  c->conns = r;
  if (uv_accept(server, (uv_stream_t *)&r->pipe) != 0 || peer_cred(&r->pipe, &r->cred) != 0) {
    req_close(r);
    return;
  }
  /* Credentials first: an unauthorised peer gets nothing read or answered. */
  if (!hw_control_allowed(&c->policy, &r->cred)) {
    c->stats.refused++;
    hw_log(HW_LOG_WARN, "control refused uid=%u pid=%ld", (unsigned)r->cred.uid, (long)r->cred.pid);
    req_close(r);
    return;
  }
  c->stats.accepted++;
  if (uv_read_start((uv_stream_t *)&r->pipe, on_alloc, on_read) != 0)
    req_close(r);
}

int hw_control_open(hw_control **out, uv_loop_t *loop, const char *path,
                    const hw_control_policy *policy, hw_control_cb cb, void *ud)
{
  hw_control *c;
  mode_t old;
  int rc;

  *out = NULL;
  if (strlen(path) >= sizeof c->path)
    return HW_EINVAL;
  c = hw_calloc(1, sizeof *c);
  if (!c)
    return HW_ENOMEM;
  c->loop = loop;
  c->policy = *policy;
  c->cb = cb;
  c->ud = ud;
  snprintf(c->path, sizeof c->path, "%s", path);
  if (uv_pipe_init(loop, &c->pipe, 0) != 0) {
    hw_free(c);
    return HW_EIO;
  }
  c->pipe.data = c;
  c->refs = 1;
  unlink(path);
  /* The socket file is created 0660 (no window where others could connect). */
  old = umask(0117);
  rc = uv_pipe_bind(&c->pipe, path);
  umask(old);
  /* The admin group's members must be able to open it: the file belongs
   * to that group (the server's user must be a member, or root). */
  if (rc == 0 && policy->has_group && chown(path, (uid_t)-1, policy->group) != 0)
    hw_log(HW_LOG_WARN, "control socket: cannot give it to the admin group (the server's user "
                        "must be a member of it)");
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&c->pipe, 16, on_connection);
  if (rc != 0) {
    uv_close((uv_handle_t *)&c->pipe, on_listener_closed);
    return HW_EIO;
  }
  *out = c;
  return HW_OK;
}

void hw_control_close(hw_control *c)
{
  c->closing = true;
  /* A request handed to the callback stays open until it is replied to, so
   * the reply never writes to freed memory. */
  for (hw_control_req *r = c->conns; r; r = r->next)
    if (!r->dispatched || r->replied)
      req_close(r);
  unlink(c->path);
  uv_close((uv_handle_t *)&c->pipe, on_listener_closed);
}

hw_control_stats hw_control_get_stats(const hw_control *c)
{
  return c->stats;
}
