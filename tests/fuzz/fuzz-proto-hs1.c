/* Fuzz target: handshake message 1 as the server reads it (-> e), through the
 * Noise API and through a server channel (frame header added). */
#include "../unit/proto/fuzz-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fz_keys *k = fz_keys_get();
  hw_noise_hs *hs;
  hw_chan *c;
  uint8_t pl[256], out[256], *f;
  size_t n, used;
  hw_bytes msg;
  bool fin;

  if (size > 70000)
    return 0;
  if (hw_noise_hs_new_for_test_vectors(&hs, HW_NOISE_RESPONDER, k->srv, NULL,
                                       (const uint8_t *)HW_PROTO_PROLOGUE,
                                       sizeof HW_PROTO_PROLOGUE - 1, fz_srv_eph))
    abort();
  if (hw_noise_hs_read(hs, data, size, pl, sizeof pl, &n) == 0) {
    int rc = hw_noise_hs_write(hs, NULL, 0, out, sizeof out, &n);
    if (rc != 0 && rc != HW_EAUTH) /* a low-order e is refused at ee */
      abort();
  }
  hw_noise_hs_free(hs);

  if (hw_chan_new_server(&c, k->srv))
    abort();
  f = malloc(size + 4);
  if (!f)
    abort();
  hw_frame_put_header(f, (uint32_t)size);
  memcpy(f + 4, data, size);
  if (hw_chan_feed(c, f, size + 4, &used, &msg, &fin) != 0 &&
      hw_chan_get_state(c) != HW_CHAN_FAILED)
    abort();
  if (msg.p)
    abort(); /* no application message can come out of a handshake */
  free(f);
  hw_chan_free(c);
  return 0;
}
