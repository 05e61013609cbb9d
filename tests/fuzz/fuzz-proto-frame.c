/* Fuzz target: frames and fragments. The first byte picks the mode:
 *   0: raw bytes into a server channel (frame headers, handshake frames);
 *   1: raw bytes into a device channel after its message 1;
 *   2: after a real handshake, the rest is a list of plaintexts (u16 BE
 *      length each) that the harness seals as transport messages and feeds
 *      to the server channel, reaching the fragment and reassembly rules.
 * The channel must never hand out a message larger than HW_APP_MSG_MAX and
 * must refuse everything once failed. */
#include "../unit/proto/fuzz-proto.h"

static void feed_all(hw_chan *c, const uint8_t *p, size_t n)
{
  hw_bytes msg = {0};
  while (n > 0 || msg.p) { /* a batch hands out one message per call */
    size_t used;
    bool fin;
    int rc = hw_chan_feed(c, p, n, &used, &msg, &fin);
    if (rc) {
      if (hw_chan_get_state(c) != HW_CHAN_FAILED && rc != HW_EINVAL)
        abort();
      if (hw_chan_feed(c, p, n, &used, &msg, &fin) != HW_ECLOSED)
        abort();
      return;
    }
    if (used > n || (msg.p && (msg.len == 0 || msg.len > HW_APP_MSG_MAX)))
      abort();
    p += used;
    n -= used;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fz_keys *k = fz_keys_get();
  hw_chan *s, *d;

  if (size < 1 || size > 300000)
    return 0;
  switch (data[0] % 3) {
  case 0:
    if (hw_chan_new_server(&s, k->srv))
      abort();
    feed_all(s, data + 1, size - 1);
    hw_chan_free(s);
    break;
  case 1:
    if (hw_chan_new_device(&d, k->dev, k->srv_pub, NULL))
      abort();
    feed_all(d, data + 1, size - 1);
    hw_chan_free(d);
    break;
  default: {
    hw_noise_hs *hs;
    hw_noise_cs *tx, *rx;
    uint8_t buf[300], pl[16], h[64];
    size_t n, pn, off = 1;
    hw_bytes out;

    if (hw_chan_new_server(&s, k->srv) ||
        hw_noise_hs_new(&hs, HW_NOISE_INITIATOR, k->dev, k->srv_pub) ||
        hw_noise_hs_write(hs, NULL, 0, buf + 4, sizeof buf - 4, &n))
      abort();
    hw_frame_put_header(buf, (uint32_t)n);
    feed_all(s, buf, n + 4);
    out = hw_chan_pending(s);
    if (out.len < 4 || hw_noise_hs_read(hs, out.p + 4, out.len - 4, pl, sizeof pl, &pn))
      abort();
    hw_chan_consume(s, out.len);
    if (hw_noise_hs_write(hs, NULL, 0, buf + 4, sizeof buf - 4, &n))
      abort();
    hw_frame_put_header(buf, (uint32_t)n);
    feed_all(s, buf, n + 4);
    if (hw_chan_get_state(s) != HW_CHAN_OPEN || hw_noise_hs_split(hs, &tx, &rx, h))
      abort();
    hw_noise_hs_free(hs);
    while (size - off >= 2 && hw_chan_get_state(s) == HW_CHAN_OPEN) {
      size_t len = (size_t)data[off] << 8 | data[off + 1];
      uint8_t *f;
      off += 2;
      if (len > size - off)
        len = size - off;
      f = malloc(len + 20);
      if (!f)
        abort();
      memcpy(f + 4, data + off, len);
      if (hw_noise_cs_encrypt(tx, f + 4, len, f + 4))
        abort();
      hw_frame_put_header(f, (uint32_t)(len + 16));
      feed_all(s, f, len + 20);
      free(f);
      off += len;
    }
    hw_noise_cs_free(tx);
    hw_noise_cs_free(rx);
    hw_chan_free(s);
    break;
  }
  }
  return 0;
}
