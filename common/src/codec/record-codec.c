/* The canonical CBOR of a record state and of a version vector
 * (docs/protocol.md §1). Reads and writes only through homeward/cbor.h.
 *
 * The decoder fills a stack hw_record of parts whose arrays live in an arena
 * (a stack buffer first, heap chunks beyond it), then hands it to
 * hw_record_build, which checks every invariant of the model and copies it
 * into one owned allocation. Counts are checked against the bytes left (by
 * hw_cbor_next) and against their named limit before the arena is asked for
 * anything sized by them. */
#include "homeward/record-codec.h"

#include <string.h>

#include "homeward/arena.h"
#include "homeward/limits.h"
#include "homeward/mem.h"
#include "homeward/value.h"
#include "../record-int.h"

/* ---- encoder ---- */

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

static size_t int_len(int64_t v)
{
  return head_len(v >= 0 ? (uint64_t)v : (uint64_t)(-1 - v));
}

#define DOT_LEN(c) (1 + 1 + HW_ID_BYTES + head_len(c)) /* [bstr16, uint] */

static size_t vv_len(const hw_vv *vv)
{
  size_t n = head_len(vv->n);
  for (size_t i = 0; i < vv->n; i++)
    n += DOT_LEN(vv->e[i].counter);
  return n;
}

size_t hw_record_encoded_len(const hw_record *r)
{
  size_t n = 1 + 1 /* array(8), format */;

  n += 1 + HW_ID_BYTES;                     /* id */
  n += head_len(r->kind.len) + r->kind.len; /* kind */
  n += 1 + HW_ID_BYTES;                     /* case id */
  n += head_len(r->schema_version);
  n += vv_len(&r->vv);
  n += head_len(r->n_writes);
  for (size_t i = 0; i < r->n_writes; i++) {
    const hw_write_meta *m = &r->writes[i];
    n += 1 + 1 + HW_ID_BYTES + head_len(m->dot.counter) + int_len(m->wall_ms) +
         head_len(m->author.len) + m->author.len + 2 + HW_HASH_BYTES;
  }
  n += head_len(r->n_fields);
  for (size_t i = 0; i < r->n_fields; i++) {
    const hw_field *f = &r->fields[i];
    n += head_len(f->name.len) + f->name.len + head_len(2 * (uint64_t)f->n_pairs);
    for (uint32_t k = 0; k < f->n_pairs; k++)
      n += head_len(f->pairs[k].w) + f->pairs[k].value.len;
  }
  return n;
}

static void put_dot(hw_cbor_wr *w, const hw_dot *d)
{
  hw_cbor_wr_array(w, 2);
  hw_cbor_wr_bytes(w, d->replica.b, HW_ID_BYTES);
  hw_cbor_wr_uint(w, d->counter);
}

void hw_vv_encode_wr(hw_cbor_wr *w, const hw_vv *vv)
{
  hw_cbor_wr_array(w, vv->n);
  for (size_t i = 0; i < vv->n; i++)
    put_dot(w, &vv->e[i]);
}

void hw_record_encode_wr(hw_cbor_wr *w, const hw_record *r)
{
  /* protocol.md §1.1: record = [format, id, kind, case_id, schema_version,
   * vv, writes, fields]. */
  hw_cbor_wr_array(w, 8);
  hw_cbor_wr_uint(w, HW_RECORD_FORMAT);
  hw_cbor_wr_bytes(w, r->id.b, HW_ID_BYTES);
  hw_cbor_wr_text(w, r->kind.p, r->kind.len);
  hw_cbor_wr_bytes(w, r->case_id.b, HW_ID_BYTES);
  hw_cbor_wr_uint(w, r->schema_version);
  hw_vv_encode_wr(w, &r->vv);
  hw_cbor_wr_array(w, r->n_writes);
  for (size_t i = 0; i < r->n_writes; i++) {
    const hw_write_meta *m = &r->writes[i];
    hw_cbor_wr_array(w, 5);
    hw_cbor_wr_bytes(w, m->dot.replica.b, HW_ID_BYTES);
    hw_cbor_wr_uint(w, m->dot.counter);
    hw_cbor_wr_int(w, m->wall_ms);
    hw_cbor_wr_text(w, m->author.p, m->author.len);
    hw_cbor_wr_bytes(w, m->digest, HW_HASH_BYTES);
  }
  hw_cbor_wr_map(w, r->n_fields);
  for (size_t i = 0; i < r->n_fields; i++) {
    const hw_field *f = &r->fields[i];
    hw_cbor_wr_text(w, f->name.p, f->name.len);
    /* The pairs flattened: [w1, v1, w2, v2, ...] (protocol.md §1.2). */
    hw_cbor_wr_array(w, 2 * (uint64_t)f->n_pairs);
    for (uint32_t k = 0; k < f->n_pairs; k++) {
      hw_cbor_wr_uint(w, f->pairs[k].w);
      hw_cbor_wr_raw(w, f->pairs[k].value.p, f->pairs[k].value.len); /* embedded as is */
    }
  }
}

int hw_record_encode(const hw_record *r, uint8_t **out, size_t *out_len)
{
  size_t n = hw_record_encoded_len(r);
  hw_cbor_wr w;
  uint8_t *buf;
  int rc;

  *out = NULL;
  *out_len = 0;
  if (n > HW_RECORD_MAX)
    return HW_ELIMIT;
  buf = hw_malloc(n);
  if (!buf)
    return HW_ENOMEM;
  hw_cbor_wr_init_fixed(&w, buf, n);
  hw_record_encode_wr(&w, r);
  if ((rc = hw_cbor_wr_finish(&w)) != 0 || w.len != n) {
    hw_free(buf);
    return rc ? rc : HW_EINTERNAL;
  }
  *out = buf;
  *out_len = n;
  return HW_OK;
}

int hw_vv_encode(const hw_vv *vv, uint8_t **out, size_t *out_len)
{
  hw_cbor_wr w;
  int rc;

  *out = NULL;
  *out_len = 0;
  hw_cbor_wr_init(&w, vv_len(vv));
  hw_vv_encode_wr(&w, vv);
  if ((rc = hw_cbor_wr_finish(&w)) != 0) {
    hw_cbor_wr_close(&w);
    return rc;
  }
  *out = hw_cbor_wr_take(&w, out_len);
  hw_cbor_wr_close(&w);
  return *out ? HW_OK : HW_ENOMEM;
}

/* ---- decoder ---- */

typedef struct dec {
  hw_cbor_rd *rd;
  hw_diag *diag;
  hw_arena *arena;
  hw_pair *pool; /* pairs handed out in runs, fewer arena calls */
  size_t pool_left;
} dec;

#define PAIR_RUN 64

/* n pairs (n <= HW_PAIRS_MAX, already checked) from the current run. */
static hw_pair *take_pairs(dec *d, size_t n)
{
  hw_pair *p;

  if (d->pool_left < n) {
    size_t run = n > PAIR_RUN ? n : PAIR_RUN;
    d->pool = hw_arena_alloc(d->arena, run * sizeof *d->pool);
    if (!d->pool) {
      d->pool_left = 0;
      return NULL;
    }
    d->pool_left = run;
  }
  p = d->pool;
  d->pool += n;
  d->pool_left -= n;
  return p;
}

/* Record the first failure and where it happened. */
static int fail(dec *d, int code, const char *what)
{
  if (d->diag && d->diag->code == 0) {
    d->diag->code = code;
    d->diag->offset = hw_cbor_rd_offset(d->rd);
    d->diag->what = what;
  }
  return code;
}

/* A structural failure of the reader (malformed, truncated, non-canonical
 * head, count larger than the bytes left) or a wrong type: HW_EPROTO. */
#define NEED(expr, what)                                                                           \
  do {                                                                                             \
    if ((expr) != 0)                                                                               \
      return fail(d, HW_EPROTO, what);                                                             \
  } while (0)

static int read_id(dec *d, hw_id *out, const char *what)
{
  const uint8_t *p;
  size_t n;

  NEED(hw_cbor_read_bytes(d->rd, &p, &n), what);
  if (n != HW_ID_BYTES)
    return fail(d, HW_EPROTO, what);
  memcpy(out->b, p, HW_ID_BYTES);
  return HW_OK;
}

static int read_array_n(dec *d, uint64_t want, const char *what)
{
  uint64_t n;

  NEED(hw_cbor_read_array(d->rd, &n), what);
  if (n != want)
    return fail(d, HW_EPROTO, what);
  return HW_OK;
}

/* A UTF-8 text of 1..max bytes (hw_cbor_next already checked the UTF-8). */
static int read_name(dec *d, hw_bytes *out, size_t max, const char *what, const char *what_limit)
{
  NEED(hw_cbor_read_text(d->rd, &out->p, &out->len), what);
  if (out->len > max)
    return fail(d, HW_ELIMIT, what_limit);
  if (out->len == 0)
    return fail(d, HW_EPROTO, what);
  return HW_OK;
}

static int read_vv(dec *d, hw_dot *buf, hw_vv *out)
{
  uint64_t n;
  int rc;

  out->n = 0;
  out->e = buf;
  NEED(hw_cbor_read_array(d->rd, &n), "vv: not an array");
  if (n > HW_VV_MAX)
    return fail(d, HW_ELIMIT, "vv: more than HW_VV_MAX entries");
  for (uint64_t i = 0; i < n; i++) {
    if ((rc = read_array_n(d, 2, "vv: entry is not [replica, counter]")) ||
        (rc = read_id(d, &buf[i].replica, "vv: replica is not a 16-byte string")))
      return rc;
    NEED(hw_cbor_read_uint(d->rd, &buf[i].counter), "vv: counter is not an unsigned integer");
    if (buf[i].counter == 0)
      return fail(d, HW_EPROTO, "vv: zero counter");
    if (i > 0 && hw_id_cmp(&buf[i - 1].replica, &buf[i].replica) >= 0)
      return fail(d, HW_EPROTO, "vv: replicas not sorted or repeated");
  }
  out->n = (size_t)n;
  return HW_OK;
}

int hw_vv_decode_rd(hw_cbor_rd *rd, hw_dot buf[static HW_VV_MAX], hw_vv *out, hw_diag *diag)
{
  const uint8_t *save = rd->p;
  dec d = {rd, diag, NULL, NULL, 0};
  int rc;

  if (diag)
    memset(diag, 0, sizeof *diag);
  rc = read_vv(&d, buf, out);
  if (rc) {
    rd->p = save;
    out->n = 0;
  }
  return rc;
}

int hw_vv_decode(const uint8_t *buf, size_t len, hw_dot buf_out[static HW_VV_MAX], hw_vv *out,
                 hw_diag *diag)
{
  hw_cbor_rd rd;
  int rc;

  hw_cbor_rd_init(&rd, buf, len);
  rc = hw_vv_decode_rd(&rd, buf_out, out, diag);
  if (rc == 0 && !hw_cbor_rd_done(&rd)) {
    dec d = {&rd, diag, NULL, NULL, 0};
    out->n = 0;
    rc = fail(&d, HW_EPROTO, "trailing bytes after the version vector");
  }
  return rc;
}

static int read_writes(dec *d, hw_record *parts)
{
  uint64_t n;
  int rc;

  NEED(hw_cbor_read_array(d->rd, &n), "writes: not an array");
  if (n > HW_WRITES_MAX)
    return fail(d, HW_ELIMIT, "writes: more than HW_WRITES_MAX");
  if (n == 0)
    return HW_OK;
  /* n <= HW_WRITES_MAX and the reader checked n against the bytes left. */
  parts->writes = hw_arena_alloc(d->arena, (size_t)n * sizeof *parts->writes);
  if (!parts->writes)
    return fail(d, HW_ENOMEM, "out of memory");
  for (uint64_t i = 0; i < n; i++) {
    hw_write_meta *m = &parts->writes[i];
    const uint8_t *p;
    size_t plen;
    if ((rc = read_array_n(d, 5,
                           "writes: entry is not [replica, counter, wall_ms, author, "
                           "digest]")) ||
        (rc = read_id(d, &m->dot.replica, "writes: replica is not a 16-byte string")))
      return rc;
    NEED(hw_cbor_read_uint(d->rd, &m->dot.counter), "writes: counter is not an unsigned integer");
    if (m->dot.counter == 0)
      return fail(d, HW_EPROTO, "writes: zero counter");
    if (i > 0 && hw_dot_cmp(&parts->writes[i - 1].dot, &m->dot) >= 0)
      return fail(d, HW_EPROTO, "writes: not sorted by dot or repeated");
    NEED(hw_cbor_read_int(d->rd, &m->wall_ms), "writes: wall_ms is not a 64-bit integer");
    if ((rc = read_name(d, &m->author, HW_AUTHOR_MAX, "writes: author is not a non-empty text",
                        "writes: author longer than HW_AUTHOR_MAX")))
      return rc;
    NEED(hw_cbor_read_bytes(d->rd, &p, &plen), "writes: digest is not a byte string");
    if (plen != HW_HASH_BYTES)
      return fail(d, HW_EPROTO, "writes: digest is not 32 bytes");
    memcpy(m->digest, p, HW_HASH_BYTES);
  }
  parts->n_writes = (size_t)n;
  return HW_OK;
}

static int read_fields(dec *d, hw_record *parts)
{
  uint64_t n;
  int rc;

  NEED(hw_cbor_read_map(d->rd, &n), "fields: not a map");
  if (n > HW_FIELDS_MAX)
    return fail(d, HW_ELIMIT, "fields: more than HW_FIELDS_MAX");
  if (n == 0)
    return HW_OK;
  parts->fields = hw_arena_alloc(d->arena, (size_t)n * sizeof *parts->fields);
  if (!parts->fields)
    return fail(d, HW_ENOMEM, "out of memory");
  for (uint64_t i = 0; i < n; i++) {
    hw_field *f = &parts->fields[i];
    uint64_t np;
    if ((rc = read_name(d, &f->name, HW_FIELD_NAME_MAX, "fields: name is not a non-empty text",
                        "fields: name longer than HW_FIELD_NAME_MAX")))
      return rc;
    /* Deterministic key order (RFC 8949 §4.2.1): a repeated key is refused
     * here, an unsorted one too. */
    if (i > 0 && hw_cbor_key_cmp(parts->fields[i - 1].name.p, parts->fields[i - 1].name.len,
                                 f->name.p, f->name.len) >= 0)
      return fail(d, HW_EPROTO, "fields: names not sorted or repeated");
    NEED(hw_cbor_read_array(d->rd, &np), "fields: pairs are not an array");
    if (np > 2 * (uint64_t)HW_PAIRS_MAX)
      return fail(d, HW_ELIMIT, "fields: more than HW_PAIRS_MAX pairs");
    if (np % 2 != 0)
      return fail(d, HW_EPROTO, "fields: pairs array of odd length");
    np /= 2;
    if (np == 0)
      return fail(d, HW_EPROTO, "fields: a field without pairs");
    f->pairs = take_pairs(d, (size_t)np);
    if (!f->pairs)
      return fail(d, HW_ENOMEM, "out of memory");
    for (uint64_t k = 0; k < np; k++) {
      hw_pair *pr = &f->pairs[k];
      uint64_t w;
      NEED(hw_cbor_read_uint(d->rd, &w), "fields: write index is not an unsigned integer");
      if (w >= parts->n_writes)
        return fail(d, HW_EPROTO, "fields: write index out of range");
      if (k > 0 && f->pairs[k - 1].w >= w)
        return fail(d, HW_EPROTO, "fields: pairs not sorted by write or repeated");
      pr->w = (uint32_t)w;
      /* One pass over the value checks it completely (canonical, map keys in
       * order, depth, size), so the build below need not read it again. */
      rc = hw_value_check_rd(d->rd, &pr->value);
      if (rc)
        return fail(d, rc,
                    rc == HW_ELIMIT ? "fields: value over HW_VALUE_MAX or nested deeper than "
                                      "HW_VALUE_DEPTH_MAX"
                                    : "fields: malformed value");
    }
    f->n_pairs = (uint32_t)np;
  }
  parts->n_fields = (size_t)n;
  return HW_OK;
}

static int read_record(dec *d, hw_record **out)
{
  hw_dot vv_buf[HW_VV_MAX];
  hw_record parts;
  uint64_t u;
  int rc;

  memset(&parts, 0, sizeof parts);
  if ((rc = read_array_n(d, 8, "record: not an array of 8")))
    return rc;
  NEED(hw_cbor_read_uint(d->rd, &u), "format: not an unsigned integer");
  if (u != HW_RECORD_FORMAT)
    return fail(d, HW_EVERSION, "format: unknown record format");
  if ((rc = read_id(d, &parts.id, "id: not a 16-byte string")) ||
      (rc = read_name(d, &parts.kind, HW_KIND_MAX, "kind: not a non-empty text",
                      "kind: longer than HW_KIND_MAX")) ||
      (rc = read_id(d, &parts.case_id, "case_id: not a 16-byte string")))
    return rc;
  NEED(hw_cbor_read_uint(d->rd, &u), "schema_version: not an unsigned integer");
  if (u > UINT32_MAX)
    return fail(d, HW_EPROTO, "schema_version: above 2^32-1");
  parts.schema_version = (uint32_t)u;
  if ((rc = read_vv(d, vv_buf, &parts.vv)) || (rc = read_writes(d, &parts)) ||
      (rc = read_fields(d, &parts)))
    return rc;
  /* The model's invariants (each write seen by the vv and used by a pair,
   * values canonical, void values well formed, ...) are hw_record_check's. */
  rc = hw__record_build_checked_values(out, &parts);
  if (rc)
    return fail(d, rc, rc == HW_ENOMEM ? "out of memory" : "record: invariant broken");
  return HW_OK;
}

/* Stack space for the parts of a typical state; larger ones spill to heap
 * chunks of the arena, capped so a hostile state cannot take more than its
 * limits allow. */
#define PARTS_STACK 4096
#define PARTS_CAP                                                                                  \
  (HW_WRITES_MAX * sizeof(hw_write_meta) + HW_FIELDS_MAX * sizeof(hw_field) +                      \
   (size_t)HW_FIELDS_MAX * HW_PAIRS_MAX * sizeof(hw_pair) + 65536)

int hw_record_decode_rd(hw_cbor_rd *rd, hw_record **out, hw_diag *diag)
{
  _Alignas(16) uint8_t stack[PARTS_STACK];
  const uint8_t *save = rd->p;
  hw_arena arena;
  dec d = {rd, diag, &arena, NULL, 0};
  int rc;

  *out = NULL;
  if (diag)
    memset(diag, 0, sizeof *diag);
  if ((size_t)(rd->end - rd->p) > HW_RECORD_MAX) {
    /* Only the record's own bytes count; a caller with a longer buffer
     * holding more than one item gets the limit applied below. */
    hw_cbor_rd sub = *rd;
    const uint8_t *p;
    size_t n;
    rc = hw_cbor_skip(&sub, 4 + HW_VALUE_DEPTH_MAX, &p, &n);
    if (rc == 0 && n > HW_RECORD_MAX)
      return fail(&d, HW_ELIMIT, "record: longer than HW_RECORD_MAX");
  }
  hw_arena_init(&arena, stack, sizeof stack, PARTS_CAP);
  rc = read_record(&d, out);
  hw_arena_close(&arena);
  if (rc) {
    rd->p = save;
    *out = NULL;
  } else if ((size_t)(rd->p - save) > HW_RECORD_MAX) {
    hw_record_free(*out);
    *out = NULL;
    rd->p = save;
    rc = fail(&d, HW_ELIMIT, "record: longer than HW_RECORD_MAX");
  }
  return rc;
}

int hw_record_decode(const uint8_t *buf, size_t len, hw_record **out, hw_diag *diag)
{
  hw_cbor_rd rd;
  dec d = {&rd, diag, NULL, NULL, 0};
  int rc;

  *out = NULL;
  if (diag)
    memset(diag, 0, sizeof *diag);
  hw_cbor_rd_init(&rd, buf, len);
  if (len > HW_RECORD_MAX)
    return fail(&d, HW_ELIMIT, "record: longer than HW_RECORD_MAX");
  if ((rc = hw_record_decode_rd(&rd, out, diag)) != 0)
    return rc;
  if (!hw_cbor_rd_done(&rd)) {
    hw_record_free(*out);
    *out = NULL;
    return fail(&d, HW_EPROTO, "trailing bytes after the record");
  }
  return HW_OK;
}
