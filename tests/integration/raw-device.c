/* A modified device (raw-device.h). */
#include "raw-device.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client-int.h"
#include "homeward/mem.h"
#include "homeward/proto/chan.h"

#define READ_BUF (1u << 20)

static int flush_out(int fd, hw_chan *ch)
{
  hw_bytes b = hw_chan_pending(ch);

  for (size_t off = 0; off < b.len;) {
    ssize_t k = write(fd, b.p + off, b.len - off);
    if (k <= 0)
      return -1;
    off += (size_t)k;
  }
  hw_chan_consume(ch, b.len);
  return 0;
}

static int connect_to(const char *address)
{
  char host[64];
  const char *colon = strrchr(address, ':');
  struct sockaddr_in sa = {.sin_family = AF_INET};
  int fd;

  if (!colon || (size_t)(colon - address) >= sizeof host)
    return -1;
  snprintf(host, sizeof host, "%.*s", (int)(colon - address), address);
  sa.sin_port = htons((uint16_t)atoi(colon + 1));
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || (fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
    return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int send_all(hw_chan *ch, const hw_msg *msgs, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    hw_cbor_wr w;
    int rc;
    hw_cbor_wr_init(&w, HW_APP_MSG_MAX);
    rc = hw_msg_encode(&msgs[i], &w) || hw_cbor_wr_finish(&w) ||
         hw_chan_send(ch, w.buf, w.len, i + 1 < n ? HW_SEND_CORK : 0);
    hw_cbor_wr_close(&w);
    if (rc)
      return -1;
  }
  return 0;
}

/* Feed what was read (a batch gives one message per call, the last ones
 * with nothing left to feed); true once the session is over for the caller. */
static bool deliver(hw_chan *ch, const uint8_t *in, size_t left, hw_raw_cb cb, void *ud, int *err)
{
  for (;;) {
    size_t used = 0;
    hw_bytes msg = {0};
    bool final = false;

    if (hw_chan_feed(ch, in, left, &used, &msg, &final) != 0) {
      *err = -1;
      return true;
    }
    in += used;
    left -= used;
    if (msg.p) {
      hw_arena a;
      hw_msg m;
      bool stop;
      hw_arena_init(&a, NULL, 0, HW_APP_MSG_MAX + (4u << 20));
      stop = hw_msg_decode(msg.p, msg.len, &a, &m) == 0 && cb(&m, ud);
      hw_arena_close(&a);
      if (stop || final)
        return true;
    } else if (left == 0 || used == 0) {
      return false;
    }
  }
}

int hw_raw_session(hw_client *c, const hw_msg *msgs, size_t n, hw_raw_cb cb, void *ud)
{
  uint8_t *buf = hw_malloc(READ_BUF);
  hw_chan *ch = NULL;
  bool sent = false, over = false;
  int fd = connect_to(c->address), err = 0;

  if (!buf || fd < 0 || hw_chan_new_device(&ch, c->key, c->server_key, NULL) != 0 ||
      flush_out(fd, ch) != 0) {
    err = -1;
    over = true;
  }
  while (!over) {
    struct pollfd pf = {fd, POLLIN, 0};
    ssize_t k;

    if (!sent && hw_chan_get_state(ch) == HW_CHAN_OPEN) {
      if (send_all(ch, msgs, n) != 0) {
        err = -1;
        break;
      }
      sent = true;
    }
    if (flush_out(fd, ch) != 0 || poll(&pf, 1, 10000) <= 0 || (k = read(fd, buf, READ_BUF)) <= 0)
      break;
    over = deliver(ch, buf, (size_t)k, cb, ud, &err);
    if (!over && flush_out(fd, ch) != 0)
      break;
  }
  hw_chan_free(ch);
  if (fd >= 0)
    close(fd);
  hw_free(buf);
  return err;
}
