#include "homeward/invitation.h"

#include <string.h>

#include "homeward/cbor.h"
#include "homeward/crypto.h"

#define CHECK_BYTES 4
#define BIN_MAX 400

static void body(hw_cbor_wr *w, const hw_invitation *inv)
{
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_text(w, inv->address, strlen(inv->address));
  hw_cbor_wr_uint(w, 2);
  hw_cbor_wr_bytes(w, inv->server_key, sizeof inv->server_key);
  hw_cbor_wr_uint(w, 3);
  hw_cbor_wr_bytes(w, inv->recovery_key, sizeof inv->recovery_key);
  hw_cbor_wr_uint(w, 4);
  hw_cbor_wr_bytes(w, inv->token, sizeof inv->token);
  hw_cbor_wr_uint(w, 5);
  hw_cbor_wr_text(w, inv->worker, strlen(inv->worker));
  hw_cbor_wr_uint(w, 6);
  hw_cbor_wr_int(w, inv->expires_ms);
  hw_cbor_wr_uint(w, 7);
  hw_cbor_wr_bytes(w, inv->audit_key, sizeof inv->audit_key);
}

static void check_of(const uint8_t *p, size_t len, uint8_t out[CHECK_BYTES])
{
  uint8_t h[HW_HASH_BYTES];
  hw_hash st;
  hw_hash_init(&st, NULL, 0);
  hw_hash_update(&st, p, len);
  hw_hash_final(&st, h);
  memcpy(out, h, CHECK_BYTES);
}

int hw_invitation_format(const hw_invitation *inv, char *out, size_t cap)
{
  uint8_t bin[BIN_MAX], chk[CHECK_BYTES];
  size_t al = strnlen(inv->address, sizeof inv->address);
  size_t wl = strnlen(inv->worker, sizeof inv->worker);
  hw_cbor_wr w;
  size_t body_start;

  if (al == 0 || al == sizeof inv->address || wl == 0 || wl == sizeof inv->worker)
    return HW_EINVAL;
  hw_cbor_wr_init_fixed(&w, bin, sizeof bin);
  hw_cbor_wr_map(&w, 8);
  body_start = w.len;
  body(&w, inv);
  if (hw_cbor_wr_finish(&w))
    return HW_ELIMIT;
  check_of(bin + body_start, w.len - body_start, chk);
  hw_cbor_wr_uint(&w, 8);
  hw_cbor_wr_bytes(&w, chk, sizeof chk);
  if (hw_cbor_wr_finish(&w))
    return HW_ELIMIT;
  if (cap < sizeof HW_INVITE_PREFIX + hw_base64_len(w.len))
    return HW_ELIMIT;
  memcpy(out, HW_INVITE_PREFIX, sizeof HW_INVITE_PREFIX - 1);
  hw_base64_encode(out + sizeof HW_INVITE_PREFIX - 1, bin, w.len);
  return HW_OK;
}

static int read_text_into(hw_cbor_rd *rd, char *dst, size_t cap)
{
  const uint8_t *p;
  size_t n;

  if (hw_cbor_read_text(rd, &p, &n) || n == 0 || n >= cap || memchr(p, 0, n))
    return HW_EPROTO;
  memcpy(dst, p, n);
  dst[n] = '\0';
  return HW_OK;
}

static int read_exact(hw_cbor_rd *rd, uint8_t *dst, size_t n)
{
  const uint8_t *p;
  size_t len;

  if (hw_cbor_read_bytes(rd, &p, &len) || len != n)
    return HW_EPROTO;
  memcpy(dst, p, n);
  return HW_OK;
}

int hw_invitation_parse(const char *text, size_t len, hw_invitation *out)
{
  uint8_t bin[BIN_MAX], chk[CHECK_BYTES], got[CHECK_BYTES];
  const size_t plen = sizeof HW_INVITE_PREFIX - 1;
  size_t blen, body_start, body_end;
  hw_cbor_rd rd;
  uint64_t n, key;
  int rc = HW_EPROTO;

  memset(out, 0, sizeof *out);
  while (len && (text[0] == ' ' || text[0] == '\t' || text[0] == '\n' || text[0] == '\r'))
    text++, len--;
  while (len && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\n' ||
                 text[len - 1] == '\r'))
    len--;
  if (len > HW_INVITE_TEXT_MAX)
    return HW_ELIMIT;
  if (len <= plen || memcmp(text, HW_INVITE_PREFIX, plen) != 0 ||
      hw_base64_decode(bin, sizeof bin, &blen, text + plen, len - plen))
    return HW_EPROTO;
  hw_cbor_rd_init(&rd, bin, blen);
  if (hw_cbor_read_map(&rd, &n) || n != 8)
    goto fail;
  body_start = hw_cbor_rd_offset(&rd);
  for (uint64_t k = 1; k <= 7; k++) {
    if (hw_cbor_read_uint(&rd, &key) || key != k)
      goto fail;
    switch (k) {
    case 1:
      rc = read_text_into(&rd, out->address, sizeof out->address);
      break;
    case 2:
      rc = read_exact(&rd, out->server_key, sizeof out->server_key);
      break;
    case 3:
      rc = read_exact(&rd, out->recovery_key, sizeof out->recovery_key);
      break;
    case 4:
      rc = read_exact(&rd, out->token, sizeof out->token);
      break;
    case 5:
      rc = read_text_into(&rd, out->worker, sizeof out->worker);
      break;
    case 6:
      rc = hw_cbor_read_int(&rd, &out->expires_ms);
      break;
    default:
      rc = read_exact(&rd, out->audit_key, sizeof out->audit_key);
      break;
    }
    if (rc)
      goto fail;
  }
  body_end = hw_cbor_rd_offset(&rd);
  rc = HW_EPROTO;
  if (hw_cbor_read_uint(&rd, &key) || key != 8 || read_exact(&rd, got, sizeof got) ||
      !hw_cbor_rd_done(&rd))
    goto fail;
  check_of(bin + body_start, body_end - body_start, chk);
  if (memcmp(chk, got, sizeof chk) != 0)
    goto fail;
  return HW_OK;
fail:
  memset(out, 0, sizeof *out);
  return HW_EPROTO;
}
