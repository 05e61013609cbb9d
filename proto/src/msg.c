/* Sync message codecs (msg.h, protocol.md §5). Section numbers below
 * are protocol.md's. */
#include "homeward/proto/msg.h"

#include <string.h>

#include "homeward/utf8.h"

/* ---- decoding helpers ---------------------------------------------------- */

typedef struct map_it {
  hw_cbor_rd *rd;
  uint64_t n; /* pairs */
  uint64_t i; /* pairs read */
  uint64_t last;
} map_it;

/* protocol.md §5: a map of at most HW_MSG_KEYS_MAX pairs, unknown keys included. */
static int map_begin(hw_cbor_rd *rd, map_it *it)
{
  int rc = hw_cbor_read_map(rd, &it->n);
  if (rc)
    return rc;
  if (it->n > HW_MSG_KEYS_MAX)
    return HW_ELIMIT;
  it->rd = rd;
  it->i = 0;
  it->last = 0;
  return HW_OK;
}

/* Next key: 1 and *key, 0 at the end, or an error. Keys are unsigned and
 * strictly ascending (protocol.md §5: canonical order; a duplicate is refused). */
static int map_next(map_it *it, uint64_t *key)
{
  int rc;

  if (it->i == it->n)
    return 0;
  if ((rc = hw_cbor_read_uint(it->rd, key)))
    return rc;
  if (it->i > 0 && *key <= it->last)
    return HW_EPROTO;
  it->last = *key;
  it->i++;
  return 1;
}

static int skip_value(hw_cbor_rd *rd)
{
  return hw_cbor_skip(rd, HW_MSG_DEPTH_MAX, NULL, NULL);
}

static int read_fixed(hw_cbor_rd *rd, uint8_t *out, size_t n)
{
  const uint8_t *p;
  size_t len;
  int rc = hw_cbor_read_bytes(rd, &p, &len);
  if (rc)
    return rc;
  if (len != n)
    return HW_EPROTO;
  memcpy(out, p, n);
  return HW_OK;
}

static int read_id(hw_cbor_rd *rd, hw_id *id)
{
  return read_fixed(rd, id->b, HW_ID_BYTES);
}

static int read_array_max(hw_cbor_rd *rd, uint64_t max, uint64_t *n)
{
  int rc = hw_cbor_read_array(rd, n);
  if (rc)
    return rc;
  return *n > max ? HW_ELIMIT : HW_OK;
}

static int read_array_exact(hw_cbor_rd *rd, uint64_t want)
{
  uint64_t n;
  int rc = hw_cbor_read_array(rd, &n);
  if (rc)
    return rc;
  return n == want ? HW_OK : HW_EPROTO;
}

static int read_text_max(hw_cbor_rd *rd, hw_bytes *out)
{
  int rc = hw_cbor_read_text(rd, &out->p, &out->len);
  if (rc)
    return rc;
  return out->len > HW_MSG_TEXT_MAX ? HW_ELIMIT : HW_OK;
}

static int read_bool(hw_cbor_rd *rd, bool *out)
{
  hw_cbor_item it;
  hw_cbor_rd save = *rd;
  int rc = hw_cbor_next(rd, &it);
  if (rc)
    return rc;
  if (it.type != HW_CBOR_TRUE && it.type != HW_CBOR_FALSE) {
    *rd = save;
    return HW_EPROTO;
  }
  *out = it.type == HW_CBOR_TRUE;
  return HW_OK;
}

/* A record state: a non-empty byte string of at most HW_RECORD_MAX bytes. */
static int read_record(hw_cbor_rd *rd, hw_bytes *out)
{
  int rc = hw_cbor_read_bytes(rd, &out->p, &out->len);
  if (rc)
    return rc;
  if (out->len == 0)
    return HW_EPROTO;
  return out->len > HW_RECORD_MAX ? HW_ELIMIT : HW_OK;
}

/* The count was checked against the limit and (by the reader) against the
 * bytes left before this allocation. */
static void *arena_array(hw_arena *a, uint64_t n, size_t size)
{
  if (n == 0)
    return NULL;
  return hw_arena_alloc(a, (size_t)n * size);
}

static int read_records(hw_cbor_rd *rd, hw_arena *a, size_t *n_out, const hw_bytes **out)
{
  uint64_t n;
  hw_bytes *v;
  int rc;

  if ((rc = read_array_max(rd, HW_BATCH_RECORDS_MAX, &n)))
    return rc;
  v = arena_array(a, n, sizeof *v);
  if (n && !v)
    return HW_ENOMEM;
  for (uint64_t i = 0; i < n; i++)
    if ((rc = read_record(rd, &v[i])))
      return rc;
  *n_out = (size_t)n;
  *out = v;
  return HW_OK;
}

/* cursor = [epoch, seq, audit head] (protocol.md §5.1) */
static int read_cursor(hw_cbor_rd *rd, hw_cursor *c)
{
  int rc;
  if ((rc = read_array_exact(rd, 3)) || (rc = hw_cbor_read_uint(rd, &c->epoch)) ||
      (rc = hw_cbor_read_uint(rd, &c->seq)) ||
      (rc = read_fixed(rd, c->audit_head, HW_CURSOR_HEAD_BYTES)))
    return rc;
  return HW_OK;
}

#define BIT(k) (1u << (k))
#define NEED(have, mask) (((have) & (mask)) == (mask) ? HW_OK : HW_EPROTO)

/* ---- per-message decoders (CDDL in protocol.md §5.1) -------------------------------- */

static int dec_hello(hw_cbor_rd *rd, hw_msg_hello *m)
{
  map_it it;
  uint64_t k;
  unsigned have = 0;
  int rc;

  if ((rc = map_begin(rd, &it)))
    return rc;
  while ((rc = map_next(&it, &k)) == 1) {
    switch (k) {
    case 0:
      rc = hw_cbor_read_uint(rd, &m->version);
      break;
    case 1:
      rc = read_id(rd, &m->replica);
      break;
    case 2:
      rc = hw_cbor_read_uint(rd, &m->counter);
      break;
    case 3:
      rc = read_fixed(rd, m->lineage, HW_DIGEST_BYTES);
      break;
    case 4:
      m->has_inherits = true;
      if (!(rc = read_array_exact(rd, 2)) && !(rc = read_id(rd, &m->inherits_replica)))
        rc = hw_cbor_read_uint(rd, &m->inherits_counter);
      break;
    case 5:
      m->has_cursor = true;
      rc = read_cursor(rd, &m->cursor);
      break;
    case 6:
      rc = hw_cbor_read_int(rd, &m->wall_ms);
      break;
    case 7:
      rc = hw_cbor_read_uint(rd, &m->acked);
      /* sync-design: acked counts own writes, so it cannot pass the counter */
      if (!rc && m->acked > m->counter && (have & BIT(2)))
        rc = HW_EPROTO;
      break;
    default:
      rc = skip_value(rd);
      break;
    }
    if (rc)
      return rc;
    if (k < 32)
      have |= BIT(k);
  }
  if (rc)
    return rc;
  return NEED(have, BIT(0) | BIT(1) | BIT(2) | BIT(3) | BIT(6) | BIT(7));
}

static int dec_refusal(hw_cbor_rd *rd, hw_arena *a, hw_msg_lineage_refusal *m)
{
  map_it it;
  uint64_t k, n;
  unsigned have = 0;
  hw_accepted_dot *d;
  int rc;

  if ((rc = map_begin(rd, &it)))
    return rc;
  while ((rc = map_next(&it, &k)) == 1) {
    switch (k) {
    case 0:
      rc = read_id(rd, &m->replica);
      break;
    case 2:
      rc = hw_cbor_read_uint(rd, &m->from);
      break;
    case 3:
      rc = read_bool(rd, &m->more);
      break;
    case 1:
      if ((rc = read_array_max(rd, HW_LINEAGE_DOTS_MAX, &n)))
        return rc;
      d = arena_array(a, n, sizeof *d);
      if (n && !d)
        return HW_ENOMEM;
      for (uint64_t i = 0; i < n; i++) {
        if ((rc = read_array_exact(rd, 3)) || (rc = hw_cbor_read_uint(rd, &d[i].counter)) ||
            (rc = read_id(rd, &d[i].record)) ||
            (rc = read_fixed(rd, d[i].write_digest, HW_DIGEST_BYTES)))
          return rc;
        /* protocol.md §5.1 lineage-refusal: counters are listed once each, ascending. */
        if (i > 0 && d[i].counter <= d[i - 1].counter)
          return HW_EPROTO;
      }
      m->n_dots = (size_t)n;
      m->dots = d;
      break;
    default:
      rc = skip_value(rd);
      break;
    }
    if (rc)
      return rc;
    if (k < 32)
      have |= BIT(k);
  }
  if (rc)
    return rc;
  if (have & BIT(2) && m->n_dots && m->dots[0].counter <= m->from)
    return HW_EPROTO; /* protocol.md §5.1 lineage-refusal: the dots listed are above `from` */
  return NEED(have, BIT(0) | BIT(1) | BIT(2));
}

static int dec_push(hw_cbor_rd *rd, hw_arena *a, hw_msg_push *m)
{
  map_it it;
  uint64_t k;
  unsigned have = 0;
  int rc;

  if ((rc = map_begin(rd, &it)))
    return rc;
  while ((rc = map_next(&it, &k)) == 1) {
    switch (k) {
    case 0:
      rc = hw_cbor_read_uint(rd, &m->batch_seq);
      break;
    case 1:
      rc = read_records(rd, a, &m->n_records, &m->records);
      break;
    default:
      rc = skip_value(rd);
      break;
    }
    if (rc)
      return rc;
    if (k < 32)
      have |= BIT(k);
  }
  if (rc)
    return rc;
  return NEED(have, BIT(0) | BIT(1));
}

static int dec_ack_entry(hw_cbor_rd *rd, hw_ack_entry *e)
{
  map_it it;
  uint64_t k, status = 0;
  unsigned have = 0;
  int rc;

  if ((rc = map_begin(rd, &it)))
    return rc;
  while ((rc = map_next(&it, &k)) == 1) {
    switch (k) {
    case 0:
      rc = hw_cbor_read_uint(rd, &status);
      break;
    case 1:
      rc = hw_cbor_read_uint(rd, &e->seq);
      break;
    case 2:
      rc = read_record(rd, &e->merged);
      break;
    case 3:
      rc = hw_cbor_read_uint(rd, &e->code);
      break;
    case 4:
      rc = read_text_max(rd, &e->reason);
      break;
    default:
      rc = skip_value(rd);
      break;
    }
    if (rc)
      return rc;
    if (k < 32)
      have |= BIT(k);
  }
  if (rc)
    return rc;
  /* protocol.md §5.1 ack-entry: an accepted record has a sequence number (and maybe a merged
   * state) and no code; a refused or quarantined one has a code (and maybe a
   * reason) and nothing else. */
  if (!(have & BIT(0)))
    return HW_EPROTO;
  switch (status) {
  case HW_ACK_ACCEPTED:
    if (!(have & BIT(1)) || (have & (BIT(3) | BIT(4))))
      return HW_EPROTO;
    break;
  case HW_ACK_REFUSED:
  case HW_ACK_QUARANTINED:
    if (!(have & BIT(3)) || (have & (BIT(1) | BIT(2))))
      return HW_EPROTO;
    break;
  default:
    return HW_EPROTO;
  }
  e->status = (hw_ack_status)status;
  return HW_OK;
}

static int dec_ack(hw_cbor_rd *rd, hw_arena *a, hw_msg_push_ack *m)
{
  map_it it;
  uint64_t k, n;
  unsigned have = 0;
  hw_ack_entry *e;
  int rc;

  if ((rc = map_begin(rd, &it)))
    return rc;
  while ((rc = map_next(&it, &k)) == 1) {
    switch (k) {
    case 0:
      rc = hw_cbor_read_uint(rd, &m->batch_seq);
      break;
    case 1:
      if ((rc = read_array_max(rd, HW_BATCH_RECORDS_MAX, &n)))
        return rc;
      e = arena_array(a, n, sizeof *e);
      if (n && !e)
        return HW_ENOMEM;
      if (n)
        memset(e, 0, (size_t)n * sizeof *e);
      for (uint64_t i = 0; i < n; i++)
        if ((rc = dec_ack_entry(rd, &e[i])))
          return rc;
      m->n_entries = (size_t)n;
      m->entries = e;
      break;
    default:
      rc = skip_value(rd);
      break;
    }
    if (rc)
      return rc;
    if (k < 32)
      have |= BIT(k);
  }
  if (rc)
    return rc;
  return NEED(have, BIT(0) | BIT(1));
}

static int dec_pull(hw_cbor_rd *rd, hw_msg_pull *m)
{
  map_it it;
  uint64_t k;
  unsigned have = 0;
  int rc;

  if ((rc = map_begin(rd, &it)))
    return rc;
  while ((rc = map_next(&it, &k)) == 1) {
    switch (k) {
    case 0:
      m->has_cursor = true;
      rc = read_cursor(rd, &m->cursor);
      break;
    case 1:
      if (!(rc = hw_cbor_read_uint(rd, &m->max_records))) {
        if (m->max_records == 0)
          rc = HW_EPROTO;
        else if (m->max_records > HW_PULL_MAX_RECORDS)
          rc = HW_ELIMIT;
      }
      break;
    default:
      rc = skip_value(rd);
      break;
    }
    if (rc)
      return rc;
    if (k < 32)
      have |= BIT(k);
  }
  if (rc)
    return rc;
  return NEED(have, BIT(1));
}

/* An array of at most `max` ids, into the arena. */
static int read_ids(hw_cbor_rd *rd, hw_arena *a, uint64_t max, size_t *n_out, const hw_id **out)
{
  uint64_t n;
  hw_id *ids;
  int rc;

  if ((rc = read_array_max(rd, max, &n)))
    return rc;
  ids = arena_array(a, n, sizeof *ids);
  if (n && !ids)
    return HW_ENOMEM;
  for (uint64_t i = 0; i < n; i++)
    if ((rc = read_id(rd, &ids[i])))
      return rc;
  *n_out = (size_t)n;
  *out = ids;
  return HW_OK;
}

/* protocol.md §5.1 pull-batch: `? 4: [+ decided]`, 1..HW_BATCH_RECORDS_MAX
 * entries of [record-id, digest]. The key is left out when there are none,
 * so an empty array is malformed (it would not re-encode to the same bytes). */
static int read_decided(hw_cbor_rd *rd, hw_arena *a, size_t *n_out, const hw_decided **out)
{
  uint64_t n;
  hw_decided *d;
  int rc;

  if ((rc = read_array_max(rd, HW_BATCH_RECORDS_MAX, &n)))
    return rc;
  if (n == 0)
    return HW_EPROTO;
  d = arena_array(a, n, sizeof *d);
  if (!d)
    return HW_ENOMEM;
  for (uint64_t i = 0; i < n; i++) {
    /* A wrong shape is malformed (§5), not over a limit. */
    if ((rc = read_array_exact(rd, 2)) || (rc = read_id(rd, &d[i].record)) ||
        (rc = read_fixed(rd, d[i].state_digest, HW_DIGEST_BYTES)))
      return rc;
  }
  *n_out = (size_t)n;
  *out = d;
  return HW_OK;
}

static int dec_pull_batch(hw_cbor_rd *rd, hw_arena *a, hw_msg_pull_batch *m)
{
  map_it it;
  uint64_t k;
  unsigned have = 0;
  int rc;

  if ((rc = map_begin(rd, &it)))
    return rc;
  while ((rc = map_next(&it, &k)) == 1) {
    switch (k) {
    case 0:
      rc = read_records(rd, a, &m->n_records, &m->records);
      break;
    case 1:
      rc = read_ids(rd, a, HW_REMOVALS_MAX, &m->n_removals, &m->removals);
      break;
    case 2:
      rc = read_cursor(rd, &m->cursor);
      break;
    case 3:
      rc = read_bool(rd, &m->more);
      break;
    case 4:
      rc = read_decided(rd, a, &m->n_decided, &m->decided);
      break;
    default:
      rc = skip_value(rd);
      break;
    }
    if (rc)
      return rc;
    if (k < 32)
      have |= BIT(k);
  }
  if (rc)
    return rc;
  return NEED(have, BIT(0) | BIT(1) | BIT(2) | BIT(3));
}

static int dec_done(hw_cbor_rd *rd, hw_arena *a, hw_msg_done *m)
{
  map_it it;
  uint64_t k;
  unsigned have = 0;
  int rc;

  if ((rc = map_begin(rd, &it)))
    return rc;
  while ((rc = map_next(&it, &k)) == 1) {
    switch (k) {
    case 0:
      rc = read_fixed(rd, m->checksum, HW_DIGEST_BYTES);
      break;
    case 1:
      /* protocol.md §5.1 audit-head: [hash, seq, time_ms, sig] */
      m->has_head = true;
      if (!(rc = read_array_exact(rd, 4)) &&
          !(rc = read_fixed(rd, m->head.hash, HW_DIGEST_BYTES)) &&
          !(rc = hw_cbor_read_uint(rd, &m->head.seq)) &&
          !(rc = hw_cbor_read_int(rd, &m->head.time_ms)))
        rc = read_fixed(rd, m->head.sig, HW_SIG_BYTES);
      break;
    case 2:
      /* Left out when empty: an empty array would not re-encode the same. */
      if (!(rc = read_ids(rd, a, HW_FLAGGED_MAX, &m->n_flagged, &m->flagged)) &&
          m->n_flagged == 0)
        rc = HW_EPROTO;
      break;
    default:
      rc = skip_value(rd);
      break;
    }
    if (rc)
      return rc;
    if (k < 32)
      have |= BIT(k);
  }
  if (rc)
    return rc;
  return NEED(have, BIT(0));
}

static int dec_error(hw_cbor_rd *rd, hw_msg_error *m)
{
  map_it it;
  uint64_t k;
  unsigned have = 0;
  int rc;

  if ((rc = map_begin(rd, &it)))
    return rc;
  while ((rc = map_next(&it, &k)) == 1) {
    switch (k) {
    case 0:
      rc = hw_cbor_read_uint(rd, &m->code);
      break;
    case 1:
      rc = read_text_max(rd, &m->message);
      break;
    default:
      rc = skip_value(rd);
      break;
    }
    if (rc)
      return rc;
    if (k < 32)
      have |= BIT(k);
  }
  if (rc)
    return rc;
  return NEED(have, BIT(0) | BIT(1));
}

static int dec_goodbye(hw_cbor_rd *rd)
{
  map_it it;
  uint64_t k;
  int rc;

  if ((rc = map_begin(rd, &it)))
    return rc;
  while ((rc = map_next(&it, &k)) == 1)
    if ((rc = skip_value(rd)))
      return rc;
  return rc;
}

int hw_msg_decode(const uint8_t *buf, size_t len, hw_arena *arena, hw_msg *out)
{
  hw_cbor_rd rd;
  uint64_t type;
  int rc;

  memset(out, 0, sizeof *out);
  if (len > HW_APP_MSG_MAX)
    return HW_ELIMIT;
  hw_cbor_rd_init(&rd, buf, len);
  /* protocol.md §5: message = [type, body] */
  if ((rc = read_array_exact(&rd, 2)) || (rc = hw_cbor_read_uint(&rd, &type)))
    goto fail;
  switch (type) {
  case HW_MSG_HELLO:
    rc = dec_hello(&rd, &out->u.hello);
    break;
  case HW_MSG_LINEAGE_REFUSAL:
    rc = dec_refusal(&rd, arena, &out->u.refusal);
    break;
  case HW_MSG_PUSH:
    rc = dec_push(&rd, arena, &out->u.push);
    break;
  case HW_MSG_PUSH_ACK:
    rc = dec_ack(&rd, arena, &out->u.ack);
    break;
  case HW_MSG_PULL:
    rc = dec_pull(&rd, &out->u.pull);
    break;
  case HW_MSG_PULL_BATCH:
    rc = dec_pull_batch(&rd, arena, &out->u.pull_batch);
    break;
  case HW_MSG_DONE:
    rc = dec_done(&rd, arena, &out->u.done);
    break;
  case HW_MSG_ERROR:
    rc = dec_error(&rd, &out->u.error);
    break;
  case HW_MSG_GOODBYE:
    rc = dec_goodbye(&rd);
    break;
  default:
    rc = HW_EPROTO;
    break;
  }
  if (rc)
    goto fail;
  if (!hw_cbor_rd_done(&rd)) {
    rc = HW_EPROTO; /* exactly one message */
    goto fail;
  }
  out->type = (hw_msg_type)type;
  return HW_OK;
fail:
  memset(out, 0, sizeof *out);
  return rc;
}

/* ---- encoding ------------------------------------------------------------ */

static void wr_cursor(hw_cbor_wr *w, const hw_cursor *c)
{
  hw_cbor_wr_array(w, 3);
  hw_cbor_wr_uint(w, c->epoch);
  hw_cbor_wr_uint(w, c->seq);
  hw_cbor_wr_bytes(w, c->audit_head, HW_CURSOR_HEAD_BYTES);
}

static int check_records(size_t n, const hw_bytes *r)
{
  if (n > HW_BATCH_RECORDS_MAX || (n && !r))
    return HW_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!r[i].p || r[i].len == 0 || r[i].len > HW_RECORD_MAX)
      return HW_EINVAL;
  return HW_OK;
}

static void wr_records(hw_cbor_wr *w, size_t n, const hw_bytes *r)
{
  hw_cbor_wr_array(w, n);
  for (size_t i = 0; i < n; i++)
    hw_cbor_wr_bytes(w, r[i].p, r[i].len);
}

/* protocol.md §5.1 `text`: at most HW_MSG_TEXT_MAX bytes of valid UTF-8.
 * The encoder refuses what a decoder would (homeward/cbor.h refuses text
 * that is not UTF-8). */
static int check_text(hw_bytes t)
{
  if ((t.len && !t.p) || t.len > HW_MSG_TEXT_MAX || !hw_utf8_valid(t.p, t.len))
    return HW_EINVAL;
  return HW_OK;
}

static int enc_ack(const hw_msg_push_ack *m, hw_cbor_wr *w)
{
  if (m->n_entries > HW_BATCH_RECORDS_MAX || (m->n_entries && !m->entries))
    return HW_EINVAL;
  for (size_t i = 0; i < m->n_entries; i++) {
    const hw_ack_entry *e = &m->entries[i];
    if (e->status == HW_ACK_ACCEPTED) {
      if (e->merged.p && (e->merged.len == 0 || e->merged.len > HW_RECORD_MAX))
        return HW_EINVAL;
    } else if (e->status == HW_ACK_REFUSED || e->status == HW_ACK_QUARANTINED) {
      if (check_text(e->reason))
        return HW_EINVAL;
    } else {
      return HW_EINVAL;
    }
  }
  hw_cbor_wr_map(w, 2);
  hw_cbor_wr_uint(w, 0);
  hw_cbor_wr_uint(w, m->batch_seq);
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_array(w, m->n_entries);
  for (size_t i = 0; i < m->n_entries; i++) {
    const hw_ack_entry *e = &m->entries[i];
    if (e->status == HW_ACK_ACCEPTED) {
      hw_cbor_wr_map(w, e->merged.p ? 3 : 2);
      hw_cbor_wr_uint(w, 0);
      hw_cbor_wr_uint(w, e->status);
      hw_cbor_wr_uint(w, 1);
      hw_cbor_wr_uint(w, e->seq);
      if (e->merged.p) {
        hw_cbor_wr_uint(w, 2);
        hw_cbor_wr_bytes(w, e->merged.p, e->merged.len);
      }
    } else {
      hw_cbor_wr_map(w, e->reason.len ? 3 : 2);
      hw_cbor_wr_uint(w, 0);
      hw_cbor_wr_uint(w, e->status);
      hw_cbor_wr_uint(w, 3);
      hw_cbor_wr_uint(w, e->code);
      if (e->reason.len) {
        hw_cbor_wr_uint(w, 4);
        hw_cbor_wr_text(w, e->reason.p, e->reason.len);
      }
    }
  }
  return HW_OK;
}

int hw_msg_encode(const hw_msg *m, hw_cbor_wr *w)
{
  int rc;

  hw_cbor_wr_array(w, 2);
  hw_cbor_wr_uint(w, (uint64_t)m->type);
  switch (m->type) {
  case HW_MSG_HELLO: {
    const hw_msg_hello *h = &m->u.hello;
    if (h->acked > h->counter)
      return HW_EINVAL;
    hw_cbor_wr_map(w, 6u + h->has_inherits + h->has_cursor);
    hw_cbor_wr_uint(w, 0);
    hw_cbor_wr_uint(w, h->version);
    hw_cbor_wr_uint(w, 1);
    hw_cbor_wr_bytes(w, h->replica.b, HW_ID_BYTES);
    hw_cbor_wr_uint(w, 2);
    hw_cbor_wr_uint(w, h->counter);
    hw_cbor_wr_uint(w, 3);
    hw_cbor_wr_bytes(w, h->lineage, HW_DIGEST_BYTES);
    if (h->has_inherits) {
      hw_cbor_wr_uint(w, 4);
      hw_cbor_wr_array(w, 2);
      hw_cbor_wr_bytes(w, h->inherits_replica.b, HW_ID_BYTES);
      hw_cbor_wr_uint(w, h->inherits_counter);
    }
    if (h->has_cursor) {
      hw_cbor_wr_uint(w, 5);
      wr_cursor(w, &h->cursor);
    }
    hw_cbor_wr_uint(w, 6);
    hw_cbor_wr_int(w, h->wall_ms);
    hw_cbor_wr_uint(w, 7);
    hw_cbor_wr_uint(w, h->acked);
    break;
  }
  case HW_MSG_LINEAGE_REFUSAL: {
    const hw_msg_lineage_refusal *r = &m->u.refusal;
    if (r->n_dots > HW_LINEAGE_DOTS_MAX || (r->n_dots && !r->dots))
      return HW_EINVAL;
    /* protocol.md §5.1 lineage-refusal, as the decoder checks it: counters
     * ascending, each listed once, all above `from`. */
    if (r->n_dots && r->dots[0].counter <= r->from)
      return HW_EINVAL;
    for (size_t i = 1; i < r->n_dots; i++)
      if (r->dots[i].counter <= r->dots[i - 1].counter)
        return HW_EINVAL;
    hw_cbor_wr_map(w, r->more ? 4 : 3); /* `more` only when true: older devices skip it */
    hw_cbor_wr_uint(w, 0);
    hw_cbor_wr_bytes(w, r->replica.b, HW_ID_BYTES);
    hw_cbor_wr_uint(w, 1);
    hw_cbor_wr_array(w, r->n_dots);
    for (size_t i = 0; i < r->n_dots; i++) {
      hw_cbor_wr_array(w, 3);
      hw_cbor_wr_uint(w, r->dots[i].counter);
      hw_cbor_wr_bytes(w, r->dots[i].record.b, HW_ID_BYTES);
      hw_cbor_wr_bytes(w, r->dots[i].write_digest, HW_DIGEST_BYTES);
    }
    hw_cbor_wr_uint(w, 2);
    hw_cbor_wr_uint(w, r->from);
    if (r->more) {
      hw_cbor_wr_uint(w, 3);
      hw_cbor_wr_bool(w, true);
    }
    break;
  }
  case HW_MSG_PUSH: {
    const hw_msg_push *p = &m->u.push;
    if ((rc = check_records(p->n_records, p->records)))
      return rc;
    hw_cbor_wr_map(w, 2);
    hw_cbor_wr_uint(w, 0);
    hw_cbor_wr_uint(w, p->batch_seq);
    hw_cbor_wr_uint(w, 1);
    wr_records(w, p->n_records, p->records);
    break;
  }
  case HW_MSG_PUSH_ACK:
    if ((rc = enc_ack(&m->u.ack, w)))
      return rc;
    break;
  case HW_MSG_PULL: {
    const hw_msg_pull *p = &m->u.pull;
    if (p->max_records == 0 || p->max_records > HW_PULL_MAX_RECORDS)
      return HW_EINVAL;
    hw_cbor_wr_map(w, 1u + p->has_cursor);
    if (p->has_cursor) {
      hw_cbor_wr_uint(w, 0);
      wr_cursor(w, &p->cursor);
    }
    hw_cbor_wr_uint(w, 1);
    hw_cbor_wr_uint(w, p->max_records);
    break;
  }
  case HW_MSG_PULL_BATCH: {
    const hw_msg_pull_batch *b = &m->u.pull_batch;
    if ((rc = check_records(b->n_records, b->records)))
      return rc;
    if (b->n_removals > HW_REMOVALS_MAX || (b->n_removals && !b->removals) ||
        b->n_decided > HW_BATCH_RECORDS_MAX || (b->n_decided && !b->decided))
      return HW_EINVAL;
    hw_cbor_wr_map(w, 4u + (b->n_decided > 0));
    hw_cbor_wr_uint(w, 0);
    wr_records(w, b->n_records, b->records);
    hw_cbor_wr_uint(w, 1);
    hw_cbor_wr_array(w, b->n_removals);
    for (size_t i = 0; i < b->n_removals; i++)
      hw_cbor_wr_bytes(w, b->removals[i].b, HW_ID_BYTES);
    hw_cbor_wr_uint(w, 2);
    wr_cursor(w, &b->cursor);
    hw_cbor_wr_uint(w, 3);
    hw_cbor_wr_bool(w, b->more);
    if (b->n_decided) {
      hw_cbor_wr_uint(w, 4);
      hw_cbor_wr_array(w, b->n_decided);
      for (size_t i = 0; i < b->n_decided; i++) {
        hw_cbor_wr_array(w, 2);
        hw_cbor_wr_bytes(w, b->decided[i].record.b, HW_ID_BYTES);
        hw_cbor_wr_bytes(w, b->decided[i].state_digest, HW_DIGEST_BYTES);
      }
    }
    break;
  }
  case HW_MSG_DONE: {
    const hw_msg_done *d = &m->u.done;
    if (d->n_flagged > HW_FLAGGED_MAX || (d->n_flagged && !d->flagged))
      return HW_EINVAL;
    hw_cbor_wr_map(w, 1u + d->has_head + (d->n_flagged > 0));
    hw_cbor_wr_uint(w, 0);
    hw_cbor_wr_bytes(w, d->checksum, HW_DIGEST_BYTES);
    if (d->has_head) {
      hw_cbor_wr_uint(w, 1);
      hw_cbor_wr_array(w, 4);
      hw_cbor_wr_bytes(w, d->head.hash, HW_DIGEST_BYTES);
      hw_cbor_wr_uint(w, d->head.seq);
      hw_cbor_wr_int(w, d->head.time_ms);
      hw_cbor_wr_bytes(w, d->head.sig, HW_SIG_BYTES);
    }
    if (d->n_flagged) {
      hw_cbor_wr_uint(w, 2);
      hw_cbor_wr_array(w, d->n_flagged);
      for (size_t i = 0; i < d->n_flagged; i++)
        hw_cbor_wr_bytes(w, d->flagged[i].b, HW_ID_BYTES);
    }
    break;
  }
  case HW_MSG_ERROR: {
    const hw_msg_error *e = &m->u.error;
    if (check_text(e->message))
      return HW_EINVAL;
    hw_cbor_wr_map(w, 2);
    hw_cbor_wr_uint(w, 0);
    hw_cbor_wr_uint(w, e->code);
    hw_cbor_wr_uint(w, 1);
    hw_cbor_wr_text(w, e->message.p ? (const void *)e->message.p : "", e->message.len);
    break;
  }
  case HW_MSG_GOODBYE:
    hw_cbor_wr_map(w, 0);
    break;
  default:
    return HW_EINVAL;
  }
  return hw_cbor_wr_finish(w);
}

const char *hw_msg_code_name(uint64_t code)
{
  static const char *const names[] = {"?",       "INTERNAL",       "MALFORMED",    "LIMIT",
                                      "VERSION", "UNKNOWN_DEVICE", "TOKEN",        "REVOKED",
                                      "RETIRED", "REPLICA_TAKEN",  "SUPERSEDED",   "EPOCH",
                                      "BUSY",    "UNEXPECTED",     "UNKNOWN_EPOCH"};
  return code < sizeof names / sizeof names[0] ? names[code] : "?";
}
