#define _GNU_SOURCE
#include "proxy.h"

#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

struct hw_proxy {
  int lfd;
  struct sockaddr_in target;
  pthread_t th;
  atomic_int stop;
  atomic_int mode, dir;
  atomic_ullong at;
  atomic_ullong bytes[2];
};

static void pipe_conn(hw_proxy *p, int a, int b)
{
  int fds[2] = {a, b};
  uint64_t done[2] = {0, 0}, chunks = 0;
  uint8_t buf[65536];
  int mode = atomic_load(&p->mode), dir = atomic_load(&p->dir);
  uint64_t at = atomic_load(&p->at);

  atomic_store(&p->bytes[0], 0);
  atomic_store(&p->bytes[1], 0);
  while (!atomic_load(&p->stop)) {
    struct pollfd pf[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    if (poll(pf, 2, 100) <= 0)
      continue;
    for (int d = 0; d < 2; d++) {
      ssize_t n;
      if (!(pf[d].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      n = recv(fds[d], buf, sizeof buf, 0);
      if (n <= 0)
        return;
      if (d == dir && mode == HW_PROXY_CUT && done[d] + (uint64_t)n >= at) {
        size_t keep = (size_t)(at - done[d]);
        if (keep)
          (void)!send(fds[1 - d], buf, keep, MSG_NOSIGNAL);
        atomic_fetch_add(&p->bytes[d], keep);
        return;
      }
      if (d == dir && mode == HW_PROXY_SWALLOW && chunks++ >= at)
        continue;
      if (d == dir && mode == HW_PROXY_FLIP && at >= done[d] && at < done[d] + (uint64_t)n)
        buf[at - done[d]] ^= 0x20;
      if (send(fds[1 - d], buf, (size_t)n, MSG_NOSIGNAL) != n)
        return;
      if (d == dir && mode == HW_PROXY_REPLAY && at >= done[d] && at < done[d] + (uint64_t)n)
        (void)!send(fds[1 - d], buf, (size_t)n, MSG_NOSIGNAL);
      done[d] += (uint64_t)n;
      atomic_fetch_add(&p->bytes[d], (uint64_t)n);
    }
  }
}

static void *run(void *arg)
{
  hw_proxy *p = arg;

  while (!atomic_load(&p->stop)) {
    struct pollfd pf = {p->lfd, POLLIN, 0};
    int c, s;
    if (poll(&pf, 1, 100) <= 0)
      continue;
    if ((c = accept(p->lfd, NULL, NULL)) < 0)
      continue;
    s = socket(AF_INET, SOCK_STREAM, 0);
    if (s >= 0 && connect(s, (struct sockaddr *)&p->target, sizeof p->target) == 0)
      pipe_conn(p, c, s);
    if (s >= 0)
      close(s);
    close(c);
  }
  return NULL;
}

hw_proxy *hw_proxy_start(const char *target, char addr[64])
{
  hw_proxy *p = calloc(1, sizeof *p);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  const char *colon = strrchr(target, ':');

  CHECK(p && colon);
  p->target.sin_family = AF_INET;
  p->target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  p->target.sin_port = htons((uint16_t)atoi(colon + 1));
  p->lfd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(p->lfd >= 0);
  CHECK(bind(p->lfd, (struct sockaddr *)&sa, sizeof sa) == 0);
  CHECK(listen(p->lfd, 8) == 0);
  CHECK(getsockname(p->lfd, (struct sockaddr *)&sa, &len) == 0);
  snprintf(addr, 64, "127.0.0.1:%d", ntohs(sa.sin_port));
  CHECK(pthread_create(&p->th, NULL, run, p) == 0);
  return p;
}

void hw_proxy_set(hw_proxy *p, hw_proxy_mode mode, int dir, uint64_t at)
{
  atomic_store(&p->mode, (int)mode);
  atomic_store(&p->dir, dir);
  atomic_store(&p->at, at);
}

uint64_t hw_proxy_bytes(hw_proxy *p, int dir)
{
  return atomic_load(&p->bytes[dir]);
}

void hw_proxy_stop(hw_proxy *p)
{
  atomic_store(&p->stop, 1);
  pthread_join(p->th, NULL);
  close(p->lfd);
  free(p);
}
