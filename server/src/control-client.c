#include "control-client-int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "control-int.h"
#include "control-msg-int.h"
#include "homeward/cbor.h"
#include "homeward/mem.h"

/* HW_EBUSY when the socket's timeout passed first. */
static int read_all(int fd, uint8_t *p, size_t n)
{
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? HW_EBUSY : HW_EIO;
    p += r;
    n -= (size_t)r;
  }
  return HW_OK;
}

/* Without SIGPIPE: a server that refused this user has closed its end
 * (EPIPE), which says refused, not a dead process. */
static int send_all(int fd, const uint8_t *p, size_t n)
{
  while (n) {
    ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return errno == EPIPE || errno == ECONNRESET ? HW_EREFUSED
             : errno == EAGAIN || errno == EWOULDBLOCK ? HW_EBUSY
                                                       : HW_EIO;
    p += r;
    n -= (size_t)r;
  }
  return HW_OK;
}

int hw_control_call(const char *path, const char *const *fields, size_t n_fields, int *ok,
                    char *out, size_t cap, unsigned timeout_s)
{
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  uint8_t hdr[4], *body = NULL;
  size_t n = 0, len;
  hw_cbor_wr w;
  bool yes;
  const uint8_t *p;
  size_t pl;
  int fd, rc;

  *ok = 0;
  out[0] = '\0';
  if (strlen(path) >= sizeof sa.sun_path)
    return HW_EINVAL;
  memcpy(sa.sun_path, path, strlen(path) + 1);
  for (size_t i = 0; i < n_fields; i++)
    n += fields[i] != NULL;
  if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
    return HW_EIO;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    rc = errno == EACCES ? HW_EPERM : HW_ENOENT;
    close(fd);
    return rc;
  }
  {
    struct timeval tv = {.tv_sec = (time_t)timeout_s};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
      close(fd);
      return HW_EIO;
    }
  }
  hw_cbor_wr_init(&w, HW_CONTROL_FRAME_MAX);
  hw_cbor_wr_map(&w, n);
  for (size_t i = 0; i < n_fields; i++) {
    if (!fields[i])
      continue;
    hw_cbor_wr_uint(&w, i + 1);
    hw_cbor_wr_text(&w, fields[i], strlen(fields[i]));
  }
  if ((rc = hw_cbor_wr_finish(&w)) != 0)
    goto out;
  hdr[0] = (uint8_t)(w.len >> 24), hdr[1] = (uint8_t)(w.len >> 16);
  hdr[2] = (uint8_t)(w.len >> 8), hdr[3] = (uint8_t)w.len;
  if ((rc = send_all(fd, hdr, 4)) != 0 || (rc = send_all(fd, w.buf, w.len)) != 0)
    goto out;
  /* A refused caller sees the connection closed without a reply. */
  if ((rc = read_all(fd, hdr, 4)) != 0) {
    rc = rc == HW_EBUSY ? rc : HW_EREFUSED;
    goto out;
  }
  len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
  rc = HW_EPROTO;
  if (len == 0 || len > HW_CONTROL_FRAME_MAX || !(body = hw_malloc(len)))
    goto out;
  if ((rc = read_all(fd, body, len)) != 0) {
    rc = rc == HW_EBUSY ? rc : HW_EPROTO;
    goto out;
  }
  rc = HW_EPROTO;
  if (hw__control_reply_parse(body, len, &yes, &p, &pl) != 0)
    goto out;
  *ok = yes;
  snprintf(out, cap, "%.*s", (int)pl, (const char *)p);
  rc = HW_OK;
out:
  hw_free(body);
  hw_cbor_wr_close(&w);
  close(fd);
  return rc;
}
