#include "homeward/ids.h"

#include <string.h>

#include "homeward/crypto.h"
#include "homeward/mem.h"

void hw_id_random(hw_id *out)
{
  hw_random_bytes(out->b, sizeof out->b);
}

void hw_id_ordered(hw_id *out, int64_t ms)
{
  uint64_t t = ms > 0 ? (uint64_t)ms : 0;

  for (int i = 0; i < 6; i++)
    out->b[i] = (uint8_t)(t >> (40 - 8 * i));
  hw_random_bytes(out->b + 6, sizeof out->b - 6);
}

int hw_id_cmp(const hw_id *a, const hw_id *b)
{
  return memcmp(a->b, b->b, HW_ID_BYTES);
}

bool hw_id_is_zero(const hw_id *a)
{
  static const hw_id zero;
  return memcmp(a->b, zero.b, HW_ID_BYTES) == 0;
}

void hw_id_to_hex(const hw_id *id, char out[static HW_ID_HEX_LEN + 1])
{
  static const char digits[] = "0123456789abcdef";

  for (size_t i = 0; i < HW_ID_BYTES; i++) {
    out[2 * i] = digits[id->b[i] >> 4];
    out[2 * i + 1] = digits[id->b[i] & 15];
  }
  out[HW_ID_HEX_LEN] = '\0';
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int hw_id_from_hex(hw_id *out, const char *hex, size_t len)
{
  memset(out, 0, sizeof *out);
  if (len != HW_ID_HEX_LEN)
    return HW_EINVAL;
  for (size_t i = 0; i < HW_ID_BYTES; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      memset(out, 0, sizeof *out);
      return HW_EINVAL;
    }
    out->b[i] = (uint8_t)(hi << 4 | lo);
  }
  return HW_OK;
}

int hw_id_list_add(hw_id_list *l, const hw_id *id)
{
  int rc = hw_grow(&l->v, &l->cap, l->n + 1, sizeof *l->v, 64);

  if (rc)
    return rc;
  l->v[l->n++] = *id;
  return HW_OK;
}

int hw_id_list_add_unique(hw_id_list *l, const hw_id *id)
{
  for (size_t i = 0; i < l->n; i++)
    if (hw_id_cmp(&l->v[i], id) == 0)
      return HW_OK;
  return hw_id_list_add(l, id);
}
