/* Fuzz target: handshake message 3 as the server reads it (-> s, se), after
 * fixed messages 1 and 2. The seeds are genuine messages 3, with and without
 * an enrolment token. */
#include "../unit/proto/fuzz-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fz_keys *k = fz_keys_get();
  hw_noise_hs *i, *s;
  uint8_t buf[256], pl[256];
  size_t n, pn;

  if (size > 70000)
    return 0;
  if (hw_noise_hs_new_for_test_vectors(&i, HW_NOISE_INITIATOR, k->dev, k->srv_pub,
                                       (const uint8_t *)HW_PROTO_PROLOGUE,
                                       sizeof HW_PROTO_PROLOGUE - 1, fz_dev_eph) ||
      hw_noise_hs_new_for_test_vectors(&s, HW_NOISE_RESPONDER, k->srv, NULL,
                                       (const uint8_t *)HW_PROTO_PROLOGUE,
                                       sizeof HW_PROTO_PROLOGUE - 1, fz_srv_eph) ||
      hw_noise_hs_write(i, NULL, 0, buf, sizeof buf, &n) ||
      hw_noise_hs_read(s, buf, n, pl, sizeof pl, &pn) ||
      hw_noise_hs_write(s, NULL, 0, buf, sizeof buf, &n))
    abort();
  if (hw_noise_hs_read(s, data, size, pl, sizeof pl, &pn) == 0) {
    hw_noise_cs *tx, *rx;
    uint8_t h[64], rs[32];
    if (!hw_noise_hs_done(s) || hw_noise_hs_remote_static(s, rs) ||
        hw_noise_hs_split(s, &tx, &rx, h))
      abort();
    hw_noise_cs_free(tx);
    hw_noise_cs_free(rx);
  }
  hw_noise_hs_free(i);
  hw_noise_hs_free(s);
  return 0;
}
