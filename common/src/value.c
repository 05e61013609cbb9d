#include "homeward/value.h"

#include <stdlib.h>
#include <string.h>

#include "homeward/limits.h"

bool hw_date_valid(const hw_date *d)
{
  static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap, max;

  if (d->year < 1 || d->year > 9999 || d->month < 1 || d->month > 12 || d->day < 1)
    return false;
  leap = (d->year % 4 == 0 && d->year % 100 != 0) || d->year % 400 == 0;
  max = mdays[d->month - 1] + (d->month == 2 && leap);
  return d->day <= max;
}

static int digits(const char *s, size_t n, int *out)
{
  int v = 0;

  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return HW_EINVAL;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return HW_OK;
}

int hw_date_parse(const char *s, size_t len, hw_date *out)
{
  hw_date d;

  memset(out, 0, sizeof *out);
  if (len != 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, &d.year) ||
      digits(s + 5, 2, &d.month) || digits(s + 8, 2, &d.day) || !hw_date_valid(&d))
    return HW_EINVAL;
  *out = d;
  return HW_OK;
}

void hw_value_put_date(hw_cbor_wr *w, const hw_date *d)
{
  char buf[11];

  if (!hw_date_valid(d)) {
    if (!w->err)
      w->err = HW_EINVAL;
    return;
  }
  buf[0] = (char)('0' + d->year / 1000);
  buf[1] = (char)('0' + d->year / 100 % 10);
  buf[2] = (char)('0' + d->year / 10 % 10);
  buf[3] = (char)('0' + d->year % 10);
  buf[4] = '-';
  buf[5] = (char)('0' + d->month / 10);
  buf[6] = (char)('0' + d->month % 10);
  buf[7] = '-';
  buf[8] = (char)('0' + d->day / 10);
  buf[9] = (char)('0' + d->day % 10);
  hw_cbor_wr_tag(w, HW_TAG_DATE);
  hw_cbor_wr_text(w, buf, 10);
}

int hw_value_get_date(const uint8_t *v, size_t len, hw_date *out)
{
  hw_cbor_rd rd;
  hw_cbor_item it;
  const uint8_t *p;
  size_t n;

  memset(out, 0, sizeof *out);
  hw_cbor_rd_init(&rd, v, len);
  if (hw_cbor_next(&rd, &it) || it.type != HW_CBOR_TAG || it.u != HW_TAG_DATE ||
      hw_cbor_read_text(&rd, &p, &n) || !hw_cbor_rd_done(&rd))
    return HW_EPROTO;
  return hw_date_parse((const char *)p, n, out) ? HW_EPROTO : HW_OK;
}

static int bytes_key_cmp(const void *a, const void *b)
{
  const hw_bytes *x = a, *y = b;
  return hw_cbor_key_cmp(x->p, x->len, y->p, y->len);
}

void hw_value_put_enum_set(hw_cbor_wr *w, const hw_bytes *items, size_t n)
{
  hw_bytes sorted[HW_FIELDS_MAX];
  size_t k = 0;

  if (n > HW_FIELDS_MAX) {
    if (!w->err)
      w->err = HW_ELIMIT;
    return;
  }
  if (n)
    memcpy(sorted, items, n * sizeof *items);
  qsort(sorted, n, sizeof *sorted, bytes_key_cmp);
  for (size_t i = 0; i < n; i++)
    if (k == 0 || bytes_key_cmp(&sorted[k - 1], &sorted[i]) != 0)
      sorted[k++] = sorted[i];
  hw_cbor_wr_array(w, k);
  for (size_t i = 0; i < k; i++)
    hw_cbor_wr_text(w, sorted[i].p, sorted[i].len);
}

/* Map keys of the void value, in canonical order. */
static const char key_seen[] = "seen";
static const char key_reason[] = "reason";

void hw_value_put_void(hw_cbor_wr *w, const char *reason, size_t reason_len, const hw_vv *seen)
{
  hw_cbor_wr_map(w, 2);
  hw_cbor_wr_text(w, key_seen, sizeof key_seen - 1);
  hw_cbor_wr_array(w, seen->n);
  for (size_t i = 0; i < seen->n; i++) {
    hw_cbor_wr_array(w, 2);
    hw_cbor_wr_bytes(w, seen->e[i].replica.b, HW_ID_BYTES);
    hw_cbor_wr_uint(w, seen->e[i].counter);
  }
  hw_cbor_wr_text(w, key_reason, sizeof key_reason - 1);
  hw_cbor_wr_text(w, reason, reason_len);
}

static bool text_is(const uint8_t *p, size_t n, const char *s)
{
  return n == strlen(s) && memcmp(p, s, n) == 0;
}

int hw_value_get_void(const uint8_t *v, size_t len, hw_bytes *reason, hw_dot *seen_buf, hw_vv *seen)
{
  hw_cbor_rd rd;
  uint64_t n, m;
  const uint8_t *p;
  size_t plen;
  int rc;

  reason->p = NULL;
  reason->len = 0;
  seen->n = 0;
  seen->e = seen_buf;
  hw_cbor_rd_init(&rd, v, len);
  if (hw_cbor_read_map(&rd, &n) || n != 2 || hw_cbor_read_text(&rd, &p, &plen) ||
      !text_is(p, plen, key_seen) || hw_cbor_read_array(&rd, &m))
    return HW_EPROTO;
  if (m > HW_VV_MAX)
    return HW_ELIMIT;
  for (uint64_t i = 0; i < m; i++) {
    uint64_t two;
    if (hw_cbor_read_array(&rd, &two) || two != 2 || hw_cbor_read_bytes(&rd, &p, &plen) ||
        plen != HW_ID_BYTES || hw_cbor_read_uint(&rd, &seen_buf[i].counter))
      return HW_EPROTO;
    memcpy(seen_buf[i].replica.b, p, HW_ID_BYTES);
  }
  seen->n = (size_t)m;
  if ((rc = hw_vv_check(seen)) != 0)
    goto fail;
  rc = HW_EPROTO;
  if (hw_cbor_read_text(&rd, &p, &plen) || !text_is(p, plen, key_reason) ||
      hw_cbor_read_text(&rd, &reason->p, &reason->len) || !hw_cbor_rd_done(&rd))
    goto fail;
  if (reason->len > HW_REASON_MAX) {
    rc = HW_ELIMIT;
    goto fail;
  }
  return HW_OK;

fail:
  reason->p = NULL;
  reason->len = 0;
  seen->n = 0;
  return rc;
}

bool hw_value_is_null(const uint8_t *v, size_t len)
{
  return len == 1 && v[0] == 0xf6;
}

/* One item, recursively: nesting bounded, map keys in strictly increasing
 * order of their encoded bytes (RFC 8949 §4.2.1), so duplicates are refused. */
static int check_item(hw_cbor_rd *rd, unsigned depth)
{
  hw_cbor_item it;
  const uint8_t *prev = NULL;
  size_t prev_len = 0;
  int rc;

  if ((rc = hw_cbor_next(rd, &it)) != 0)
    return rc;
  if (it.type != HW_CBOR_ARRAY && it.type != HW_CBOR_MAP && it.type != HW_CBOR_TAG)
    return HW_OK;
  if (depth >= HW_VALUE_DEPTH_MAX)
    return HW_ELIMIT;
  if (it.type == HW_CBOR_TAG)
    return check_item(rd, depth + 1);
  for (uint64_t i = 0; i < it.u; i++) {
    if (it.type == HW_CBOR_MAP) {
      const uint8_t *k = rd->p;
      size_t klen, common;
      if ((rc = check_item(rd, depth + 1)) != 0)
        return rc;
      klen = (size_t)(rd->p - k);
      if (prev) {
        common = prev_len < klen ? prev_len : klen;
        int c = memcmp(prev, k, common);
        if (c > 0 || (c == 0 && prev_len >= klen))
          return HW_EPROTO;
      }
      prev = k;
      prev_len = klen;
    }
    if ((rc = check_item(rd, depth + 1)) != 0)
      return rc;
  }
  return HW_OK;
}

int hw_value_check(const uint8_t *v, size_t len)
{
  hw_cbor_rd rd;
  int rc;

  if (len > HW_VALUE_MAX)
    return HW_ELIMIT;
  hw_cbor_rd_init(&rd, v, len);
  if ((rc = check_item(&rd, 0)) != 0)
    return rc;
  return hw_cbor_rd_done(&rd) ? HW_OK : HW_EPROTO;
}

int hw_value_check_rd(hw_cbor_rd *rd, hw_bytes *out)
{
  const uint8_t *start = rd->p;
  int rc = check_item(rd, 0);

  out->p = NULL;
  out->len = 0;
  if (rc == HW_OK && (size_t)(rd->p - start) > HW_VALUE_MAX)
    rc = HW_ELIMIT;
  if (rc) {
    rd->p = start;
    return rc;
  }
  out->p = start;
  out->len = (size_t)(rd->p - start);
  return HW_OK;
}
