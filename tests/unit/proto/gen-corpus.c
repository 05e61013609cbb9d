/* Writes the proto fuzz seed corpora from real encodings: every sample
 * message (whole, and as the body of its type's target), genuine handshake
 * messages made with the fuzz targets' fixed keys, and frame streams.
 * Usage: proto-gen-corpus <tests/corpus> */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "check.h"
#include "fuzz-proto.h"
#include "msg-samples.h"

static const char *root;

static void put(const char *target, const char *name, const uint8_t *p, size_t n)
{
  char path[512];
  FILE *f;

  snprintf(path, sizeof path, "%s/%s", root, target);
  CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
  snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
  f = fopen(path, "wb");
  CHECK(f != NULL);
  CHECK(fwrite(p, 1, n, f) == n);
  fclose(f);
}

static const char *const body_target[] = {
    [HW_MSG_HELLO] = "proto-msg-hello",     [HW_MSG_LINEAGE_REFUSAL] = "proto-msg-refusal",
    [HW_MSG_PUSH] = "proto-msg-push",       [HW_MSG_PUSH_ACK] = "proto-msg-ack",
    [HW_MSG_PULL] = "proto-msg-pull",       [HW_MSG_PULL_BATCH] = "proto-msg-batch",
    [HW_MSG_DONE] = "proto-msg-done",       [HW_MSG_ERROR] = "proto-msg-error",
    [HW_MSG_GOODBYE] = "proto-msg-goodbye",
};

static void messages(void)
{
  for (int k = 0; k < HW_SAMPLE_COUNT; k++) {
    hw_msg m;
    hw_cbor_wr w;
    uint8_t *p;
    size_t n;
    char name[32];

    sample_msg(k, &m);
    hw_cbor_wr_init(&w, SIZE_MAX);
    CHECK_OK(hw_msg_encode(&m, &w));
    p = hw_cbor_wr_take(&w, &n);
    snprintf(name, sizeof name, "sample-%02d", k);
    put("proto-msg", name, p, n);
    CHECK(p[0] == 0x82 && p[1] == m.type);
    put(body_target[m.type], name, p + 2, n - 2);
    hw_free(p);
    hw_cbor_wr_close(&w);
  }
}

static void handshakes(void)
{
  fz_keys *k = fz_keys_get();
  const uint8_t token[16] = "0123456789abcdef";

  for (int with_token = 0; with_token < 2; with_token++) {
    hw_noise_hs *i, *s;
    uint8_t m1[64], m2[128], m3[128], pl[64];
    size_t n1, n2, n3, pn;
    CHECK_OK(hw_noise_hs_new_for_test_vectors(&i, HW_NOISE_INITIATOR, k->dev, k->srv_pub,
                                              (const uint8_t *)HW_PROTO_PROLOGUE,
                                              sizeof HW_PROTO_PROLOGUE - 1, fz_dev_eph));
    CHECK_OK(hw_noise_hs_new_for_test_vectors(&s, HW_NOISE_RESPONDER, k->srv, NULL,
                                              (const uint8_t *)HW_PROTO_PROLOGUE,
                                              sizeof HW_PROTO_PROLOGUE - 1, fz_srv_eph));
    CHECK_OK(hw_noise_hs_write(i, NULL, 0, m1, sizeof m1, &n1));
    CHECK_OK(hw_noise_hs_read(s, m1, n1, pl, sizeof pl, &pn));
    CHECK_OK(hw_noise_hs_write(s, NULL, 0, m2, sizeof m2, &n2));
    CHECK_OK(hw_noise_hs_read(i, m2, n2, pl, sizeof pl, &pn));
    CHECK_OK(
        hw_noise_hs_write(i, with_token ? token : NULL, with_token ? 16 : 0, m3, sizeof m3, &n3));
    CHECK_OK(hw_noise_hs_read(s, m3, n3, pl, sizeof pl, &pn));
    if (!with_token) {
      uint8_t f[40] = {0};
      put("proto-hs1", "genuine", m1, n1);
      put("proto-hs1", "low-order-zero", f, 32);
      put("proto-hs2", "genuine", m2, n2);
      put("proto-hs3", "genuine", m3, n3);
      f[0] = 0; /* mode 0: a framed message 1 */
      hw_frame_put_header(f + 1, (uint32_t)n1);
      memcpy(f + 5, m1, n1);
      put("proto-frame", "server-msg1", f, 5 + n1);
    } else {
      put("proto-hs3", "genuine-token", m3, n3);
    }
    hw_noise_hs_free(i);
    hw_noise_hs_free(s);
  }
}

/* Mode 2 inputs: u16 BE length + plaintext, repeated. */
static void fragments(void)
{
  static const uint8_t single[] = {2, 0, 4, 0x00, 0x82, 0x09, 0xa0};
  static const uint8_t final[] = {2, 0, 4, HW_FRAG_FINAL, 0x82, 0x09, 0xa0};
  static const uint8_t pair[] = {
      2, 0, 7, HW_FRAG_FIRST | HW_FRAG_MORE, 0, 0, 0, 4, 0x82, 0x09, 0, 3, 0x00, 0xa0, 0x00};
  static const uint8_t three[] = {2,
                                  0,
                                  7,
                                  HW_FRAG_FIRST | HW_FRAG_MORE,
                                  0,
                                  0,
                                  0,
                                  5,
                                  'a',
                                  'b',
                                  0,
                                  3,
                                  HW_FRAG_MORE,
                                  'c',
                                  'd',
                                  0,
                                  2,
                                  HW_FRAG_FINAL,
                                  'e'};
  static const uint8_t raw_hdr[] = {0, 0, 0, 0, 32};
  static const uint8_t batch[] = {
      2, 0, 9, HW_FRAG_BATCH | HW_FRAG_FINAL, 3, 0x82, 0x09, 0xa0, 3, 0x82, 0x09, 0xa0};
  put("proto-frame", "batch", batch, sizeof batch);
  put("proto-frame", "single", single, sizeof single);
  put("proto-frame", "final", final, sizeof final);
  put("proto-frame", "pair", pair, sizeof pair);
  put("proto-frame", "three", three, sizeof three);
  put("proto-frame", "raw-header", raw_hdr, sizeof raw_hdr);
}

int main(int argc, char **argv)
{
  CHECK(argc == 2);
  root = argv[1];
  messages();
  handshakes();
  fragments();
  printf("corpus written under %s\n", root);
  return 0;
}
