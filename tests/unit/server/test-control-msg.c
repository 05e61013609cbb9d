/* The control socket's messages (control-msg.c): a request fills the fields
 * its keys name; each way a request or reply can be malformed is refused
 * with its own message, never half-applied. */
#include <string.h>

#include "check.h"
#include "control-msg-int.h"
#include "homeward/cbor.h"

/* A request map of `n` (key, text) pairs, then `extra` raw bytes. */
static size_t request(uint8_t *out, size_t cap, const uint64_t *keys, const char *const *vals,
                      size_t n, const char *extra)
{
  hw_cbor_wr w;
  size_t len;

  hw_cbor_wr_init_fixed(&w, out, cap);
  hw_cbor_wr_map(&w, n);
  for (size_t i = 0; i < n; i++) {
    hw_cbor_wr_uint(&w, keys[i]);
    hw_cbor_wr_text(&w, vals[i], strlen(vals[i]));
  }
  CHECK_OK(hw_cbor_wr_finish(&w));
  len = w.len;
  if (extra) {
    memcpy(out + len, extra, strlen(extra));
    len += strlen(extra);
  }
  return len;
}

static void refused(const uint64_t *keys, const char *const *vals, size_t n, const char *extra,
                    const char *want)
{
  uint8_t b[512];
  hw_control_fields f;
  const char *why = NULL;
  size_t len = request(b, sizeof b, keys, vals, n, extra);

  CHECK_ERR(hw__control_req_parse(b, len, &f, &why), HW_EPROTO);
  CHECK(why != NULL && strstr(why, want) != NULL);
}

int main(void)
{
  uint8_t b[512];
  hw_control_fields f;
  const char *why = "unset";
  size_t len;

  {
    const uint64_t k[] = {1, 2, 4, 9};
    const char *v[] = {"invite", "amina", "grace", "17"};
    len = request(b, sizeof b, k, v, 4, NULL);
    CHECK_OK(hw__control_req_parse(b, len, &f, &why));
    CHECK(why == NULL);
    CHECK(strcmp(f.cmd, "invite") == 0 && strcmp(f.worker, "amina") == 0);
    CHECK(strcmp(f.coordinator, "grace") == 0 && strcmp(f.from, "17") == 0);
    CHECK(f.role[0] == 0 && f.device[0] == 0 && f.id[0] == 0);
  }
  {
    const uint64_t k[] = {1, 1};
    const char *v[] = {"status", "audit"};
    refused(k, v, 2, NULL, "twice");
  }
  {
    const uint64_t k[] = {10};
    const char *v[] = {"x"};
    refused(k, v, 1, NULL, "unknown");
  }
  {
    const uint64_t k[] = {0};
    const char *v[] = {"x"};
    refused(k, v, 1, NULL, "unknown");
  }
  {
    const uint64_t k[] = {3};
    const char *v[] = {"a-role-name-longer-than-its-field"};
    refused(k, v, 1, NULL, "over-long");
  }
  {
    const uint64_t k[] = {2};
    const char *v[] = {""};
    refused(k, v, 1, NULL, "empty");
  }
  {
    const uint64_t k[] = {1};
    const char *v[] = {"status"};
    refused(k, v, 1, "\x01", "malformed"); /* bytes after the map */
    len = request(b, sizeof b, k, v, 1, NULL);
    CHECK_ERR(hw__control_req_parse(b, len - 1, &f, &why), HW_EPROTO); /* truncated */
    CHECK(strstr(why, "malformed") != NULL);
  }
  {
    /* A text with a NUL inside. */
    static const uint8_t nul[] = {0xa1, 0x02, 0x63, 'a', 0x00, 'b'};
    CHECK_ERR(hw__control_req_parse(nul, sizeof nul, &f, &why), HW_EPROTO);
  }

  /* Replies: {1: bool, 2: text} and nothing after. */
  {
    static const uint8_t ok[] = {0xa2, 0x01, 0xf5, 0x02, 0x62, 'h', 'i'};
    static const uint8_t no[] = {0xa2, 0x01, 0xf4, 0x02, 0x60};
    static const uint8_t tail[] = {0xa2, 0x01, 0xf5, 0x02, 0x60, 0xf6};
    static const uint8_t nobool[] = {0xa2, 0x01, 0x01, 0x02, 0x60};
    bool yes = false;
    const uint8_t *t;
    size_t tl;
    CHECK_OK(hw__control_reply_parse(ok, sizeof ok, &yes, &t, &tl));
    CHECK(yes && tl == 2 && memcmp(t, "hi", 2) == 0);
    CHECK_OK(hw__control_reply_parse(no, sizeof no, &yes, &t, &tl));
    CHECK(!yes && tl == 0);
    CHECK_ERR(hw__control_reply_parse(tail, sizeof tail, &yes, &t, &tl), HW_EPROTO);
    CHECK_ERR(hw__control_reply_parse(nobool, sizeof nobool, &yes, &t, &tl), HW_EPROTO);
  }
  return 0;
}
