#define _GNU_SOURCE /* getaddrinfo flags, MSG_NOSIGNAL */
#include "net-int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int wait_for(int fd, short ev, unsigned timeout_ms)
{
  struct pollfd p = {.fd = fd, .events = ev};
  int r;

  do
    r = poll(&p, 1, (int)timeout_ms);
  while (r < 0 && errno == EINTR);
  return r == 1 ? HW_OK : HW_EIO;
}

int hw__net_connect(const char *address, unsigned timeout_ms, int *fd)
{
  char host[256], port[8];
  const char *colon = strrchr(address, ':');
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
  size_t hl;
  int rc = HW_EIO;

  *fd = -1;
  if (!colon || strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof port)
    return HW_EINVAL;
  hl = (size_t)(colon - address);
  if (hl >= 2 && address[0] == '[' && address[hl - 1] == ']')
    address++, hl -= 2;
  if (hl == 0 || hl >= sizeof host)
    return HW_EINVAL;
  memcpy(host, address, hl);
  host[hl] = '\0';
  snprintf(port, sizeof port, "%s", colon + 1);
  hints.ai_flags = AI_NUMERICSERV;
  if (getaddrinfo(host, port, &hints, &res) != 0)
    return HW_EIO;
  for (ai = res; ai; ai = ai->ai_next) {
    int s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    int err = 0;
    socklen_t el = sizeof err;
    if (s < 0)
      continue;
    if (connect(s, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
      close(s);
      continue;
    }
    if (wait_for(s, POLLOUT, timeout_ms) != 0 ||
        getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
      close(s);
      continue;
    }
    /* Each flush is a whole flight of messages: Nagle would hold the tail
     * of one until the server's delayed ACK (~40 ms a round trip). */
    (void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    *fd = s;
    rc = HW_OK;
    break;
  }
  freeaddrinfo(res);
  return rc;
}

int hw__net_write_all(int fd, const uint8_t *p, size_t n, unsigned timeout_ms)
{
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (wait_for(fd, POLLOUT, timeout_ms) != 0)
        return HW_EIO;
      continue;
    }
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return HW_EIO;
    p += w;
    n -= (size_t)w;
  }
  return HW_OK;
}

int hw__net_read(int fd, uint8_t *buf, size_t cap, unsigned timeout_ms, size_t *n)
{
  *n = 0;
  for (;;) {
    ssize_t r = recv(fd, buf, cap, 0);
    if (r >= 0) {
      *n = (size_t)r;
      return HW_OK;
    }
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return HW_EIO;
    if (wait_for(fd, POLLIN, timeout_ms) != 0)
      return HW_EIO;
  }
}

void hw__net_close(int fd)
{
  if (fd >= 0)
    close(fd);
}
