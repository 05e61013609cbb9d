#include "control-msg-int.h"

#include <stddef.h>
#include <string.h>

#include "homeward/cbor.h"

/* Field k - 1 of hw_control_fields for request key k. */
static char *field(hw_control_fields *f, uint64_t key, size_t *cap)
{
#define F(m) {offsetof(hw_control_fields, m), sizeof((hw_control_fields *)0)->m}
  static const struct {
    size_t off, cap;
  } at[HW_CONTROL_FIELDS] = {F(cmd),    F(worker), F(role), F(coordinator), F(case_hex),
                             F(device), F(mode),   F(id),   F(from)};
#undef F
  *cap = at[key - 1].cap;
  return (char *)f + at[key - 1].off;
}

int hw__control_req_parse(const uint8_t *body, size_t len, hw_control_fields *out,
                          const char **why)
{
  hw_cbor_rd rd;
  uint64_t n, key;
  const uint8_t *p;
  size_t pl, cap;
  unsigned seen = 0;

  memset(out, 0, sizeof *out);
  *why = "malformed request";
  hw_cbor_rd_init(&rd, body, len);
  if (hw_cbor_read_map(&rd, &n) || n > HW_CONTROL_FIELDS)
    return HW_EPROTO;
  for (uint64_t i = 0; i < n; i++) {
    char *dst;
    if (hw_cbor_read_uint(&rd, &key) || hw_cbor_read_text(&rd, &p, &pl))
      return HW_EPROTO;
    if (key < 1 || key > HW_CONTROL_FIELDS) {
      *why = "unknown request field";
      return HW_EPROTO;
    }
    if (seen & 1u << key) {
      *why = "a request field sent twice";
      return HW_EPROTO;
    }
    seen |= 1u << key;
    dst = field(out, key, &cap);
    if (pl == 0 || pl >= cap || memchr(p, 0, pl)) {
      *why = "an empty, over-long or NUL-carrying request field";
      return HW_EPROTO;
    }
    memcpy(dst, p, pl);
    dst[pl] = '\0';
  }
  if (!hw_cbor_rd_done(&rd))
    return HW_EPROTO; /* bytes after the request */
  *why = NULL;
  return HW_OK;
}

int hw__control_reply_parse(const uint8_t *body, size_t len, bool *ok, const uint8_t **text,
                            size_t *text_len)
{
  hw_cbor_rd rd;
  hw_cbor_item it;
  uint64_t m, k;

  hw_cbor_rd_init(&rd, body, len);
  if (hw_cbor_read_map(&rd, &m) || m != 2 || hw_cbor_read_uint(&rd, &k) || k != 1 ||
      hw_cbor_next(&rd, &it) || (it.type != HW_CBOR_TRUE && it.type != HW_CBOR_FALSE) ||
      hw_cbor_read_uint(&rd, &k) || k != 2 || hw_cbor_read_text(&rd, text, text_len) ||
      !hw_cbor_rd_done(&rd))
    return HW_EPROTO;
  *ok = it.type == HW_CBOR_TRUE;
  return HW_OK;
}
