/* Fuzz target: handshake message 2 as the device reads it (<- e, ee, s, es),
 * after a fixed message 1. The seed is the genuine message 2. */
#include "../unit/proto/fuzz-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fz_keys *k = fz_keys_get();
  hw_noise_hs *hs;
  uint8_t buf[256], pl[256];
  size_t n;

  if (size > 70000)
    return 0;
  if (hw_noise_hs_new_for_test_vectors(&hs, HW_NOISE_INITIATOR, k->dev, k->srv_pub,
                                       (const uint8_t *)HW_PROTO_PROLOGUE,
                                       sizeof HW_PROTO_PROLOGUE - 1, fz_dev_eph) ||
      hw_noise_hs_write(hs, NULL, 0, buf, sizeof buf, &n))
    abort();
  if (hw_noise_hs_read(hs, data, size, pl, sizeof pl, &n) == 0) {
    /* Accepted: only the genuine server (its key is pinned) gets here. */
    uint8_t rs[32];
    if (hw_noise_hs_remote_static(hs, rs) || memcmp(rs, k->srv_pub, 32) != 0)
      abort();
    if (hw_noise_hs_write(hs, NULL, 0, buf, sizeof buf, &n) || !hw_noise_hs_done(hs))
      abort();
  }
  hw_noise_hs_free(hs);
  return 0;
}
