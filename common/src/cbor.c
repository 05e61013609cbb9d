/* The one file in common/ that calls libcbor. Only cbor_stream_decode and
 * cbor_encode_* are used: neither allocates. */
#include "homeward/cbor.h"

#include <cbor.h>
#include <string.h>

#include "homeward/mem.h"
#include "homeward/utf8.h"

/* ---- reader ---- */

typedef struct dec_ctx {
  hw_cbor_item *it;
  int fired; /* number of callbacks that ran: exactly one is valid */
  int bad;   /* an item kind Homeward never accepts */
} dec_ctx;

static void set_uint(void *c, uint64_t v)
{
  dec_ctx *d = c;
  d->it->type = HW_CBOR_UINT;
  d->it->u = v;
  d->fired++;
}
static void cb_u8(void *c, uint8_t v)
{
  set_uint(c, v);
}
static void cb_u16(void *c, uint16_t v)
{
  set_uint(c, v);
}
static void cb_u32(void *c, uint32_t v)
{
  set_uint(c, v);
}
static void cb_u64(void *c, uint64_t v)
{
  set_uint(c, v);
}

static void set_neg(void *c, uint64_t v)
{
  dec_ctx *d = c;
  d->it->type = HW_CBOR_NEGINT;
  d->it->u = v;
  d->fired++;
}
static void cb_n8(void *c, uint8_t v)
{
  set_neg(c, v);
}
static void cb_n16(void *c, uint16_t v)
{
  set_neg(c, v);
}
static void cb_n32(void *c, uint32_t v)
{
  set_neg(c, v);
}
static void cb_n64(void *c, uint64_t v)
{
  set_neg(c, v);
}

static void set_str(void *c, hw_cbor_type t, cbor_data p, size_t len)
{
  dec_ctx *d = c;
  d->it->type = t;
  d->it->p = p;
  d->it->len = len;
  d->it->u = len;
  d->fired++;
}
static void cb_bytes(void *c, cbor_data p, size_t len)
{
  set_str(c, HW_CBOR_BYTES, p, len);
}
static void cb_text(void *c, cbor_data p, size_t len)
{
  set_str(c, HW_CBOR_TEXT, p, len);
}

static void set_coll(void *c, hw_cbor_type t, uint64_t n)
{
  dec_ctx *d = c;
  d->it->type = t;
  d->it->u = n;
  d->fired++;
}
static void cb_array(void *c, size_t n)
{
  set_coll(c, HW_CBOR_ARRAY, n);
}
static void cb_map(void *c, size_t n)
{
  set_coll(c, HW_CBOR_MAP, n);
}
static void cb_tag(void *c, uint64_t n)
{
  set_coll(c, HW_CBOR_TAG, n);
}

static void cb_null(void *c)
{
  set_coll(c, HW_CBOR_NULL, 0);
}
static void cb_bool(void *c, bool v)
{
  set_coll(c, v ? HW_CBOR_TRUE : HW_CBOR_FALSE, 0);
}

static void cb_bad(void *c)
{
  dec_ctx *d = c;
  d->bad = 1;
  d->fired++;
}
static void cb_bad_float(void *c, float v)
{
  (void)v;
  cb_bad(c);
}
static void cb_bad_double(void *c, double v)
{
  (void)v;
  cb_bad(c);
}

static const struct cbor_callbacks callbacks = {
    .uint8 = cb_u8,
    .uint16 = cb_u16,
    .uint32 = cb_u32,
    .uint64 = cb_u64,
    .negint8 = cb_n8,
    .negint16 = cb_n16,
    .negint32 = cb_n32,
    .negint64 = cb_n64,
    .byte_string_start = cb_bad,
    .byte_string = cb_bytes,
    .string = cb_text,
    .string_start = cb_bad,
    .indef_array_start = cb_bad,
    .array_start = cb_array,
    .indef_map_start = cb_bad,
    .map_start = cb_map,
    .tag = cb_tag,
    .float2 = cb_bad_float,
    .float4 = cb_bad_float,
    .float8 = cb_bad_double,
    .undefined = cb_bad,
    .null = cb_null,
    .boolean = cb_bool,
    .indef_break = cb_bad,
};

void hw_cbor_rd_init(hw_cbor_rd *rd, const uint8_t *buf, size_t len)
{
  rd->start = buf;
  rd->p = buf;
  rd->end = buf + len;
}

size_t hw_cbor_rd_offset(const hw_cbor_rd *rd)
{
  return (size_t)(rd->p - rd->start);
}

bool hw_cbor_rd_done(const hw_cbor_rd *rd)
{
  return rd->p == rd->end;
}

/* The length of the shortest head that carries argument `v`. */
static size_t head_len(uint64_t v)
{
  if (v < 24)
    return 1;
  if (v <= UINT8_MAX)
    return 2;
  if (v <= UINT16_MAX)
    return 3;
  if (v <= UINT32_MAX)
    return 5;
  return 9;
}

int hw_cbor_next(hw_cbor_rd *rd, hw_cbor_item *it)
{
  dec_ctx d = {.it = it};
  struct cbor_decoder_result r;
  size_t left = (size_t)(rd->end - rd->p), head;
  uint8_t ib;

  memset(it, 0, sizeof *it);
  if (left == 0)
    return HW_EPROTO;
  ib = rd->p[0];
  /* Reserved and indefinite-length additional information, and every simple
   * value but false/true/null (RFC 8949 §3.3), before libcbor sees them. */
  if ((ib & 0x1f) >= 28)
    return HW_EPROTO;
  if (ib >= 0xe0 && ib != 0xf4 && ib != 0xf5 && ib != 0xf6)
    return HW_EPROTO;
  r = cbor_stream_decode(rd->p, left, &callbacks, &d);
  if (r.status != CBOR_DECODER_FINISHED || d.fired != 1 || d.bad || r.read == 0 || r.read > left)
    goto bad;
  head = r.read;
  if (it->type == HW_CBOR_BYTES || it->type == HW_CBOR_TEXT) {
    if (it->len > head)
      goto bad;
    head -= it->len;
  }
  if (it->type >= HW_CBOR_FALSE) {
    if (head != 1)
      goto bad;
  } else if (head != head_len(it->u)) {
    goto bad; /* a longer head than needed: not the deterministic encoding */
  }
  left -= r.read;
  /* A count the remaining bytes cannot hold is refused before any caller
   * sizes an allocation from it. */
  if ((it->type == HW_CBOR_ARRAY && it->u > left) || (it->type == HW_CBOR_MAP && it->u > left / 2))
    goto bad;
  if (it->type == HW_CBOR_TEXT && !hw_utf8_valid(it->p, it->len))
    goto bad;
  rd->p += r.read;
  return HW_OK;

bad:
  memset(it, 0, sizeof *it);
  return HW_EPROTO;
}

static int skip_rec(hw_cbor_rd *rd, unsigned depth_left)
{
  hw_cbor_item it;
  int rc = hw_cbor_next(rd, &it);
  uint64_t n;

  if (rc)
    return rc;
  switch (it.type) {
  case HW_CBOR_ARRAY:
  case HW_CBOR_MAP:
  case HW_CBOR_TAG:
    if (depth_left == 0)
      return HW_ELIMIT;
    n = it.type == HW_CBOR_MAP ? 2 * it.u : it.type == HW_CBOR_ARRAY ? it.u : 1;
    for (uint64_t i = 0; i < n; i++)
      if ((rc = skip_rec(rd, depth_left - 1)))
        return rc;
    return HW_OK;
  default:
    return HW_OK;
  }
}

int hw_cbor_skip(hw_cbor_rd *rd, unsigned depth_max, const uint8_t **out_p, size_t *out_len)
{
  const uint8_t *start = rd->p;
  int rc = skip_rec(rd, depth_max);

  if (rc) {
    rd->p = start;
    start = NULL;
  }
  if (out_p)
    *out_p = rc ? NULL : start;
  if (out_len)
    *out_len = rc ? 0 : (size_t)(rd->p - start);
  return rc;
}

static int read_typed(hw_cbor_rd *rd, hw_cbor_type t, hw_cbor_item *it)
{
  const uint8_t *save = rd->p;
  int rc = hw_cbor_next(rd, it);

  if (rc)
    return rc;
  if (it->type != t) {
    rd->p = save;
    memset(it, 0, sizeof *it);
    return HW_EPROTO;
  }
  return HW_OK;
}

int hw_cbor_read_uint(hw_cbor_rd *rd, uint64_t *out)
{
  hw_cbor_item it;
  int rc = read_typed(rd, HW_CBOR_UINT, &it);
  *out = it.u;
  return rc;
}

int hw_cbor_read_int(hw_cbor_rd *rd, int64_t *out)
{
  const uint8_t *save = rd->p;
  hw_cbor_item it;
  int rc = hw_cbor_next(rd, &it);

  *out = 0;
  if (rc)
    return rc;
  if ((it.type != HW_CBOR_UINT && it.type != HW_CBOR_NEGINT) || it.u > INT64_MAX) {
    rd->p = save;
    return HW_EPROTO;
  }
  *out = it.type == HW_CBOR_UINT ? (int64_t)it.u : -1 - (int64_t)it.u;
  return HW_OK;
}

int hw_cbor_read_bytes(hw_cbor_rd *rd, const uint8_t **p, size_t *len)
{
  hw_cbor_item it;
  int rc = read_typed(rd, HW_CBOR_BYTES, &it);
  *p = it.p;
  *len = it.len;
  return rc;
}

int hw_cbor_read_text(hw_cbor_rd *rd, const uint8_t **p, size_t *len)
{
  hw_cbor_item it;
  int rc = read_typed(rd, HW_CBOR_TEXT, &it);
  *p = it.p;
  *len = it.len;
  return rc;
}

int hw_cbor_read_array(hw_cbor_rd *rd, uint64_t *n)
{
  hw_cbor_item it;
  int rc = read_typed(rd, HW_CBOR_ARRAY, &it);
  *n = it.u;
  return rc;
}

int hw_cbor_read_map(hw_cbor_rd *rd, uint64_t *n)
{
  hw_cbor_item it;
  int rc = read_typed(rd, HW_CBOR_MAP, &it);
  *n = it.u;
  return rc;
}

int hw_cbor_key_cmp(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
  int c;

  if (a_len != b_len)
    return a_len < b_len ? -1 : 1;
  c = a_len ? memcmp(a, b, a_len) : 0;
  return c;
}

/* ---- writer ---- */

#define WR_INITIAL 256

void hw_cbor_wr_init(hw_cbor_wr *w, size_t max)
{
  memset(w, 0, sizeof *w);
  w->max = max;
}

void hw_cbor_wr_init_fixed(hw_cbor_wr *w, uint8_t *buf, size_t cap)
{
  memset(w, 0, sizeof *w);
  w->buf = buf;
  w->cap = cap;
  w->max = cap;
  w->fixed = true;
}

/* Make room for `n` more bytes. */
static bool reserve(hw_cbor_wr *w, size_t n)
{
  size_t want;
  uint8_t *nb;

  if (w->err)
    return false;
  if (n <= w->cap - w->len)
    return true;
  if (w->fixed || n > w->max - w->len) {
    w->err = HW_ELIMIT;
    return false;
  }
  want = w->cap ? w->cap : WR_INITIAL;
  while (want - w->len < n)
    want = want > SIZE_MAX / 2 ? SIZE_MAX : want * 2;
  if (want > w->max)
    want = w->max;
  nb = hw_realloc(w->buf, want);
  if (!nb) {
    w->err = HW_ENOMEM;
    return false;
  }
  w->buf = nb;
  w->cap = want;
  return true;
}

/* libcbor's encoders return the bytes written, or 0 when the buffer is too
 * small; head_len() says exactly how many they need. */
static void put_head(hw_cbor_wr *w, size_t (*enc)(uint64_t, unsigned char *, size_t), uint64_t v)
{
  size_t n;

  if (!reserve(w, head_len(v)))
    return;
  n = enc(v, w->buf + w->len, w->cap - w->len);
  if (n == 0)
    w->err = HW_EINTERNAL;
  w->len += n;
}

void hw_cbor_wr_uint(hw_cbor_wr *w, uint64_t v)
{
  put_head(w, cbor_encode_uint, v);
}

void hw_cbor_wr_int(hw_cbor_wr *w, int64_t v)
{
  if (v >= 0)
    put_head(w, cbor_encode_uint, (uint64_t)v);
  else
    put_head(w, cbor_encode_negint, (uint64_t)(-1 - v));
}

static void put_string(hw_cbor_wr *w, size_t (*enc)(uint64_t, unsigned char *, size_t),
                       const void *p, size_t len)
{
  put_head(w, enc, len);
  if (len && reserve(w, len)) {
    memcpy(w->buf + w->len, p, len);
    w->len += len;
  }
}

static size_t enc_bstr(uint64_t n, unsigned char *b, size_t len)
{
  return cbor_encode_bytestring_start((size_t)n, b, len);
}

static size_t enc_tstr(uint64_t n, unsigned char *b, size_t len)
{
  return cbor_encode_string_start((size_t)n, b, len);
}

void hw_cbor_wr_bytes(hw_cbor_wr *w, const void *p, size_t len)
{
  put_string(w, enc_bstr, p, len);
}

void hw_cbor_wr_text(hw_cbor_wr *w, const void *p, size_t len)
{
  put_string(w, enc_tstr, p, len);
}

static size_t enc_array(uint64_t n, unsigned char *b, size_t len)
{
  return cbor_encode_array_start((size_t)n, b, len);
}

static size_t enc_map(uint64_t n, unsigned char *b, size_t len)
{
  return cbor_encode_map_start((size_t)n, b, len);
}

void hw_cbor_wr_array(hw_cbor_wr *w, uint64_t n)
{
  put_head(w, enc_array, n);
}

void hw_cbor_wr_map(hw_cbor_wr *w, uint64_t n)
{
  put_head(w, enc_map, n);
}

void hw_cbor_wr_tag(hw_cbor_wr *w, uint64_t tag)
{
  put_head(w, cbor_encode_tag, tag);
}

void hw_cbor_wr_bool(hw_cbor_wr *w, bool v)
{
  if (reserve(w, 1))
    w->len += cbor_encode_bool(v, w->buf + w->len, w->cap - w->len);
}

void hw_cbor_wr_null(hw_cbor_wr *w)
{
  if (reserve(w, 1))
    w->len += cbor_encode_null(w->buf + w->len, w->cap - w->len);
}

void hw_cbor_wr_raw(hw_cbor_wr *w, const void *p, size_t len)
{
  if (len && reserve(w, len)) {
    memcpy(w->buf + w->len, p, len);
    w->len += len;
  }
}

int hw_cbor_wr_finish(const hw_cbor_wr *w)
{
  return w->err;
}

uint8_t *hw_cbor_wr_take(hw_cbor_wr *w, size_t *len)
{
  uint8_t *b;

  *len = 0;
  if (w->fixed || w->err)
    return NULL;
  if (!w->buf && !reserve(w, 1))
    return NULL;
  b = w->buf;
  *len = w->len;
  w->buf = NULL;
  w->len = w->cap = 0;
  return b;
}

void hw_cbor_wr_close(hw_cbor_wr *w)
{
  if (!w->fixed)
    hw_free(w->buf);
  w->buf = NULL;
  w->len = w->cap = 0;
}
