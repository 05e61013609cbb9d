/* Fuzz target: the control socket's request and reply parsers
 * (control-msg.c). The first byte picks the parser, the rest is the body.
 * Oracles: an accepted request re-encoded parses to the same fields, and
 * every field is a NUL-terminated text of its size; an accepted reply's
 * text lies inside the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control-msg-int.h"
#include "homeward/cbor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *field_at(const hw_control_fields *f, int i, size_t *cap)
{
  const char *v[HW_CONTROL_FIELDS] = {f->cmd,      f->worker, f->role, f->coordinator,
                                      f->case_hex, f->device, f->mode, f->id,
                                      f->from};
  const size_t c[HW_CONTROL_FIELDS] = {sizeof f->cmd,      sizeof f->worker, sizeof f->role,
                                       sizeof f->coordinator, sizeof f->case_hex,
                                       sizeof f->device,   sizeof f->mode,   sizeof f->id,
                                       sizeof f->from};
  *cap = c[i];
  return v[i];
}

static void request(const uint8_t *body, size_t len)
{
  hw_control_fields f, g;
  const char *why;
  hw_cbor_wr w;
  size_t n = 0, cap;

  if (hw__control_req_parse(body, len, &f, &why) != 0) {
    if (!why || !why[0])
      abort();
    return;
  }
  for (int i = 0; i < HW_CONTROL_FIELDS; i++) {
    const char *s = field_at(&f, i, &cap);
    if (memchr(s, 0, cap) == NULL)
      abort();
    n += s[0] != 0;
  }
  hw_cbor_wr_init(&w, 4096);
  hw_cbor_wr_map(&w, n);
  for (int i = 0; i < HW_CONTROL_FIELDS; i++) {
    const char *s = field_at(&f, i, &cap);
    if (s[0]) {
      hw_cbor_wr_uint(&w, (uint64_t)i + 1);
      hw_cbor_wr_text(&w, s, strlen(s));
    }
  }
  if (hw_cbor_wr_finish(&w) != 0 || hw__control_req_parse(w.buf, w.len, &g, &why) != 0 ||
      memcmp(&f, &g, sizeof f) != 0)
    abort();
  hw_cbor_wr_close(&w);
}

static void reply(const uint8_t *body, size_t len)
{
  bool ok;
  const uint8_t *t;
  size_t tl;

  if (hw__control_reply_parse(body, len, &ok, &t, &tl) != 0)
    return;
  if (t < body || tl > len || (size_t)(t - body) > len - tl)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  if (data[0] & 1)
    reply(data + 1, size - 1);
  else
    request(data + 1, size - 1);
  return 0;
}
