/* Frames and the connection state machine (chan.h, protocol.md §2-§3). */
#include "homeward/proto/chan.h"

#include <string.h>

#include "homeward/crypto.h"
#include "homeward/mem.h"

#define TAG HW_NOISE_TAG_BYTES
#define HS_MSG1_LEN 32u /* e, empty payload */
#define HS_MSG2_LEN 96u /* e, s + tag, empty payload + tag */
#define HS_MSG3_LEN 64u /* s + tag, payload tag; + HW_TOKEN_BYTES when enrolling */
#define TX_KEEP 4096u /* a drained send buffer larger than this is freed */
#define RX_KEEP 2048u  /* a receive buffer larger than this is freed between frames */

struct hw_chan {
  hw_noise_role role;
  hw_chan_state state;
  bool sent_final;
  bool has_token;
  bool in_msg;     /* reassembling a fragmented message */
  bool free_reasm; /* reasm was delivered: free it at the next call */
  hw_noise_hs *hs; /* during the handshake */
  hw_noise_cs *tx_cs;
  hw_noise_cs *rx_cs;
  uint8_t peer_key[HW_NOISE_KEY_BYTES];
  uint8_t hash[HW_NOISE_HASH_BYTES];
  uint8_t token[HW_TOKEN_BYTES];
  uint8_t *reasm; /* hw_malloc'd, reasm_total bytes */
  size_t reasm_len;
  size_t reasm_total;
  const uint8_t *batch_p; /* next message of a received batch (in rx), or NULL */
  const uint8_t *batch_end;
  bool batch_final;
  uint8_t *cork; /* hw_malloc'd (HW_FRAG_SINGLE_MAX): held messages, varint-prefixed */
  size_t cork_len;
  size_t n_cork;
  uint8_t *tx; /* hw_malloc'd send buffer: tx[tx_off..tx_len) waits */
  size_t tx_off;
  size_t tx_len;
  size_t tx_cap;
  /* The frame being received: its header, then its body in rx_body, sized
   * to the frame (a server holds a thousand idle sessions: 64 KiB each
   * would be its largest cost), freed between frames when large. */
  size_t rx_len; /* bytes of the current frame received, header included */
  uint8_t rx_hdr[HW_FRAME_HDR_BYTES];
  uint8_t *rx_body; /* hw_malloc'd, rx_cap bytes */
  size_t rx_cap;
};

static uint32_t load_be32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

int hw_frame_peek(const uint8_t *buf, size_t len, size_t *body_len)
{
  uint32_t n;

  *body_len = 0;
  if (len < HW_FRAME_HDR_BYTES)
    return HW_EAGAIN;
  n = load_be32(buf);
  /* protocol.md §2: a frame carries one Noise message, 1..65535 bytes. */
  if (n == 0)
    return HW_EPROTO;
  if (n > HW_FRAME_MAX)
    return HW_ELIMIT;
  *body_len = n;
  return HW_OK;
}

void hw_frame_put_header(uint8_t out[static HW_FRAME_HDR_BYTES], uint32_t body_len)
{
  store_be32(out, body_len);
}

/* Make room for n more bytes to send. */
static int tx_reserve(hw_chan *c, size_t n)
{
  size_t cap;
  uint8_t *p;

  if (c->tx_off == c->tx_len)
    c->tx_off = c->tx_len = 0;
  if (n <= c->tx_cap - c->tx_len)
    return HW_OK;
  if (c->tx_off > 0) { /* compact what is still waiting */
    memmove(c->tx, c->tx + c->tx_off, c->tx_len - c->tx_off);
    c->tx_len -= c->tx_off;
    c->tx_off = 0;
    if (n <= c->tx_cap - c->tx_len)
      return HW_OK;
  }
  if (n > SIZE_MAX / 2 - c->tx_len)
    return HW_ENOMEM;
  cap = c->tx_cap ? c->tx_cap : 4096;
  while (cap - c->tx_len < n)
    cap *= 2;
  p = hw_realloc(c->tx, cap);
  if (!p)
    return HW_ENOMEM;
  c->tx = p;
  c->tx_cap = cap;
  return HW_OK;
}

/* Wipe and free the receive buffer (it held decrypted messages). */
static void rx_release(hw_chan *c)
{
  if (c->rx_body) {
    hw_memzero(c->rx_body, c->rx_cap);
    hw_free(c->rx_body);
  }
  c->rx_body = NULL;
  c->rx_cap = 0;
}

/* Room for a frame body of n bytes, before any of it is read. */
static int rx_reserve(hw_chan *c, size_t n)
{
  uint8_t *p;

  if (c->rx_cap >= n)
    return HW_OK;
  rx_release(c);
  if (!(p = hw_malloc(n < RX_KEEP ? RX_KEEP : n)))
    return HW_ENOMEM;
  c->rx_body = p;
  c->rx_cap = n < RX_KEEP ? RX_KEEP : n;
  return HW_OK;
}

static int fail(hw_chan *c, int rc)
{
  c->state = HW_CHAN_FAILED;
  hw_noise_hs_free(c->hs);
  hw_noise_cs_free(c->tx_cs);
  hw_noise_cs_free(c->rx_cs);
  c->hs = NULL;
  c->tx_cs = c->rx_cs = NULL;
  rx_release(c);
  if (c->reasm) {
    hw_memzero(c->reasm, c->reasm_len);
    hw_free(c->reasm);
    c->reasm = NULL;
  }
  c->in_msg = c->free_reasm = false;
  c->batch_p = c->batch_end = NULL;
  if (c->cork) {
    hw_memzero(c->cork, HW_FRAG_SINGLE_MAX);
    hw_free(c->cork);
    c->cork = NULL;
  }
  c->cork_len = c->n_cork = 0;
  return rc;
}

/* Write the next handshake message, framed, into tx. */
static int hs_send(hw_chan *c, const uint8_t *payload, size_t payload_len)
{
  size_t n = hw_noise_hs_msg_len(c->hs, payload_len), out_len;
  int rc;

  if ((rc = tx_reserve(c, HW_FRAME_HDR_BYTES + n)))
    return rc;
  rc = hw_noise_hs_write(c->hs, payload, payload_len, c->tx + c->tx_len + HW_FRAME_HDR_BYTES, n,
                         &out_len);
  if (rc)
    return rc;
  hw_frame_put_header(c->tx + c->tx_len, (uint32_t)out_len);
  c->tx_len += HW_FRAME_HDR_BYTES + out_len;
  return HW_OK;
}

static int hs_finish(hw_chan *c)
{
  int rc;

  if ((rc = hw_noise_hs_remote_static(c->hs, c->peer_key)))
    return rc;
  if ((rc = hw_noise_hs_split(c->hs, &c->tx_cs, &c->rx_cs, c->hash)))
    return rc;
  hw_noise_hs_free(c->hs);
  c->hs = NULL;
  c->state = HW_CHAN_OPEN;
  return HW_OK;
}

static int new_chan(hw_chan **out, hw_noise_role role, const hw_noise_key *s, const uint8_t *pin)
{
  hw_chan *c;
  int rc;

  c = hw_calloc(1, sizeof *c);
  if (!c)
    return HW_ENOMEM;
  c->role = role;
  c->state = HW_CHAN_HANDSHAKE;
  if ((rc = hw_noise_hs_new(&c->hs, role, s, pin))) {
    hw_free(c);
    return rc;
  }
  *out = c;
  return HW_OK;
}

int hw_chan_new_device(hw_chan **out, const hw_noise_key *s,
                       const uint8_t pin[static HW_NOISE_KEY_BYTES], const uint8_t *token)
{
  hw_chan *c;
  int rc;

  *out = NULL;
  if (!s)
    return HW_EINVAL;
  if ((rc = new_chan(&c, HW_NOISE_INITIATOR, s, pin)))
    return rc;
  if (token) {
    memcpy(c->token, token, HW_TOKEN_BYTES);
    c->has_token = true;
  }
  /* -> e: the first message carries no payload. */
  if ((rc = hs_send(c, NULL, 0))) {
    hw_chan_free(c);
    return rc;
  }
  *out = c;
  return HW_OK;
}

int hw_chan_new_server(hw_chan **out, const hw_noise_key *s)
{
  *out = NULL;
  if (!s)
    return HW_EINVAL;
  return new_chan(out, HW_NOISE_RESPONDER, s, NULL);
}

void hw_chan_free(hw_chan *c)
{
  if (!c)
    return;
  hw_noise_hs_free(c->hs);
  hw_noise_cs_free(c->tx_cs);
  hw_noise_cs_free(c->rx_cs);
  if (c->reasm) {
    hw_memzero(c->reasm, c->reasm_len);
    hw_free(c->reasm);
  }
  if (c->tx) {
    hw_memzero(c->tx, c->tx_cap);
    hw_free(c->tx);
  }
  if (c->cork) {
    hw_memzero(c->cork, HW_FRAG_SINGLE_MAX);
    hw_free(c->cork);
  }
  rx_release(c);
  hw_memzero(c, sizeof *c);
  hw_free(c);
}

/* One complete handshake frame. protocol.md §3: payloads are empty,
 * except message 3's, which is empty or the enrolment token. */
static int handshake_frame(hw_chan *c, const uint8_t *body, size_t n)
{
  uint8_t payload[HW_TOKEN_BYTES];
  size_t payload_len;
  int rc;

  if (hw_noise_hs_is_my_turn(c->hs))
    return HW_EPROTO; /* the peer spoke out of turn */
  if (c->role == HW_NOISE_RESPONDER) {
    bool first = hw_noise_hs_msg_len(c->hs, 0) == HS_MSG1_LEN;
    if (first ? n != HS_MSG1_LEN : (n != HS_MSG3_LEN && n != HS_MSG3_LEN + HW_TOKEN_BYTES))
      return HW_EPROTO;
    if ((rc = hw_noise_hs_read(c->hs, body, n, payload, sizeof payload, &payload_len)))
      return rc;
    if (first)
      return hs_send(c, NULL, 0); /* <- e, ee, s, es */
    if (payload_len == HW_TOKEN_BYTES) {
      memcpy(c->token, payload, HW_TOKEN_BYTES);
      c->has_token = true;
    }
    hw_memzero(payload, sizeof payload);
    return hs_finish(c);
  }
  if (n != HS_MSG2_LEN)
    return HW_EPROTO;
  /* Reading message 2 checks the server's key against the pin. */
  if ((rc = hw_noise_hs_read(c->hs, body, n, payload, sizeof payload, &payload_len)))
    return rc;
  if ((rc = hs_send(c, c->has_token ? c->token : NULL, c->has_token ? HW_TOKEN_BYTES : 0)))
    return rc;
  hw_memzero(c->token, sizeof c->token);
  return hs_finish(c);
}

static void deliver(hw_chan *c, const uint8_t *p, size_t n, uint8_t flags, hw_bytes *msg,
                    bool *final)
{
  msg->p = p;
  msg->len = n;
  *final = (flags & HW_FRAG_FINAL) != 0;
  if (*final)
    c->state = HW_CHAN_ENDED;
}

/* Batch length prefixes: LEB128, one or two bytes, minimal, 1..HW_BATCH_MSG_MAX. */
_Static_assert(HW_BATCH_MSG_MAX < (1u << 14), "batch lengths fit two varint bytes");

static size_t put_varint(uint8_t *p, size_t v)
{
  if (v < 0x80) {
    p[0] = (uint8_t)v;
    return 1;
  }
  p[0] = (uint8_t)(0x80 | (v & 0x7f));
  p[1] = (uint8_t)(v >> 7);
  return 2;
}

/* Reads one prefix from p[0..n); returns its size, or 0 when malformed. */
static size_t get_varint(const uint8_t *p, size_t n, size_t *v)
{
  if (n < 1)
    return 0;
  if (!(p[0] & 0x80)) {
    *v = p[0];
    return 1;
  }
  if (n < 2 || p[1] == 0 || (p[1] & 0x80)) /* minimal, at most two bytes */
    return 0;
  *v = (size_t)(p[0] & 0x7f) | (size_t)p[1] << 7;
  return 2;
}

static void batch_next(hw_chan *c, hw_bytes *msg, bool *final)
{
  size_t len = 0, k = get_varint(c->batch_p, (size_t)(c->batch_end - c->batch_p), &len);

  /* The batch was checked whole when it arrived. */
  msg->p = c->batch_p + k;
  msg->len = len;
  c->batch_p += k + len;
  *final = false;
  if (c->batch_p == c->batch_end) {
    c->batch_p = c->batch_end = NULL;
    *final = c->batch_final;
    if (*final)
      c->state = HW_CHAN_ENDED;
  }
}

/* protocol.md §4: a batch holds two or more whole messages, each
 * 1..HW_BATCH_MSG_MAX bytes, whose prefixes cover the plaintext exactly. */
static int batch_check(const uint8_t *p, size_t n)
{
  size_t count = 0;

  while (n > 0) {
    size_t len, k = get_varint(p, n, &len);
    if (k == 0 || len == 0)
      return HW_EPROTO;
    if (len > HW_BATCH_MSG_MAX)
      return HW_ELIMIT;
    if (len > n - k)
      return HW_EPROTO;
    p += k + len;
    n -= k + len;
    count++;
  }
  return count >= 2 ? HW_OK : HW_EPROTO;
}

/* One complete transport frame: open it, then place its fragment. */
static int transport_frame(hw_chan *c, uint8_t *body, size_t n, hw_bytes *msg, bool *final)
{
  const uint8_t *data;
  size_t pt_len, data_len;
  uint8_t f;
  int rc;

  if (n < TAG + 1)
    return HW_EPROTO;
  /* Authenticate before parsing anything (style.md §5). */
  if ((rc = hw_noise_cs_decrypt(c->rx_cs, body, n, body)))
    return rc;
  pt_len = n - TAG;
  f = body[0];
  if (f & ~(HW_FRAG_MORE | HW_FRAG_FIRST | HW_FRAG_FINAL | HW_FRAG_BATCH))
    return HW_EPROTO;
  if ((f & HW_FRAG_MORE) && (f & HW_FRAG_FINAL))
    return HW_EPROTO; /* FINAL marks the last fragment of the last message */
  data = body + 1;
  data_len = pt_len - 1;

  if (f & HW_FRAG_BATCH) {
    if (c->in_msg || (f & (HW_FRAG_MORE | HW_FRAG_FIRST)))
      return HW_EPROTO;
    if ((rc = batch_check(data, data_len)))
      return rc;
    c->batch_p = data;
    c->batch_end = data + data_len;
    c->batch_final = (f & HW_FRAG_FINAL) != 0;
    batch_next(c, msg, final);
    return HW_OK;
  }
  if (!c->in_msg) {
    if (!(f & HW_FRAG_FIRST)) {
      if ((f & HW_FRAG_MORE) || data_len == 0)
        return HW_EPROTO;
      deliver(c, data, data_len, f, msg, final);
      return HW_OK;
    }
    if (!(f & HW_FRAG_MORE) || data_len < 4)
      return HW_EPROTO;
    c->reasm_total = load_be32(data);
    data += 4;
    data_len -= 4;
    /* protocol.md §4: refuse past the limit before allocating. */
    if (c->reasm_total > HW_APP_MSG_MAX)
      return HW_ELIMIT;
    if (data_len == 0 || c->reasm_total <= data_len)
      return HW_EPROTO;
    c->reasm = hw_malloc(c->reasm_total);
    if (!c->reasm)
      return HW_ENOMEM;
    memcpy(c->reasm, data, data_len);
    c->reasm_len = data_len;
    c->in_msg = true;
    return HW_OK;
  }
  if ((f & HW_FRAG_FIRST) || data_len == 0 || data_len > c->reasm_total - c->reasm_len)
    return HW_EPROTO;
  memcpy(c->reasm + c->reasm_len, data, data_len);
  c->reasm_len += data_len;
  if (f & HW_FRAG_MORE)
    return c->reasm_len < c->reasm_total ? HW_OK : HW_EPROTO;
  if (c->reasm_len != c->reasm_total)
    return HW_EPROTO;
  c->in_msg = false;
  c->free_reasm = true;
  deliver(c, c->reasm, c->reasm_len, f, msg, final);
  return HW_OK;
}

int hw_chan_feed(hw_chan *c, const uint8_t *in, size_t len, size_t *used, hw_bytes *msg,
                 bool *final)
{
  size_t body_len, take;
  int rc;

  *used = 0;
  msg->p = NULL;
  msg->len = 0;
  *final = false;
  if (c->state == HW_CHAN_FAILED)
    return HW_ECLOSED;
  if (c->free_reasm) {
    hw_memzero(c->reasm, c->reasm_len);
    hw_free(c->reasm);
    c->reasm = NULL;
    c->reasm_len = c->reasm_total = 0;
    c->free_reasm = false;
  }
  if (c->batch_p) { /* the rest of a batch comes before more input */
    batch_next(c, msg, final);
    return HW_OK;
  }
  /* Between frames, with the last delivered message no longer valid: a
   * large buffer goes back (the next frame may be minutes away). */
  if (c->rx_len == 0 && c->rx_cap > RX_KEEP)
    rx_release(c);
  if (len && !in)
    return HW_EINVAL;
  if (c->state == HW_CHAN_ENDED)
    return len ? fail(c, HW_EPROTO) : HW_OK; /* nothing may follow the final message */

  while (*used < len) {
    if (c->rx_len < HW_FRAME_HDR_BYTES) {
      take = HW_FRAME_HDR_BYTES - c->rx_len;
      if (take > len - *used)
        take = len - *used;
      memcpy(c->rx_hdr + c->rx_len, in + *used, take);
      c->rx_len += take;
      *used += take;
      if (c->rx_len < HW_FRAME_HDR_BYTES)
        break;
    }
    if ((rc = hw_frame_peek(c->rx_hdr, c->rx_len, &body_len)))
      return fail(c, rc);
    if ((rc = rx_reserve(c, body_len)))
      return fail(c, rc);
    take = HW_FRAME_HDR_BYTES + body_len - c->rx_len;
    if (take > len - *used)
      take = len - *used;
    memcpy(c->rx_body + (c->rx_len - HW_FRAME_HDR_BYTES), in + *used, take);
    c->rx_len += take;
    *used += take;
    if (c->rx_len < HW_FRAME_HDR_BYTES + body_len)
      break;
    c->rx_len = 0;
    if (c->state == HW_CHAN_HANDSHAKE)
      rc = handshake_frame(c, c->rx_body, body_len);
    else
      rc = transport_frame(c, c->rx_body, body_len, msg, final);
    if (rc)
      return fail(c, rc);
    if (msg->p)
      return HW_OK; /* one message per call */
  }
  return HW_OK;
}

/* Seal one plaintext body (a message, or a batch) as one or more transport
 * messages. Room for every fragment is reserved first, so a failure queues
 * nothing. */
static int seal(hw_chan *c, const uint8_t *msg, size_t len, bool final, bool batch)
{
  size_t total, rest, start;
  const uint8_t *p = msg;
  int rc;

  if (len <= HW_FRAG_SINGLE_MAX) {
    total = HW_FRAME_HDR_BYTES + 1 + len + TAG;
  } else {
    size_t nfrag = 1 + (len - HW_FRAG_FIRST_MAX + HW_FRAG_SINGLE_MAX - 1) / HW_FRAG_SINGLE_MAX;
    total = nfrag * (HW_FRAME_HDR_BYTES + 1 + TAG) + 4 + len;
  }
  if ((rc = tx_reserve(c, total)))
    return rc;
  start = c->tx_len;
  rest = len;
  for (bool first = true; rest > 0; first = false) {
    uint8_t *frame = c->tx + c->tx_len, *pt = frame + HW_FRAME_HDR_BYTES;
    size_t hdr = 1, chunk;
    uint8_t f = batch ? HW_FRAG_BATCH : 0;

    if (first && rest > HW_FRAG_SINGLE_MAX) {
      f = HW_FRAG_FIRST | HW_FRAG_MORE;
      store_be32(pt + 1, (uint32_t)len);
      hdr = 5;
      chunk = HW_FRAG_FIRST_MAX;
    } else {
      chunk = rest > HW_FRAG_SINGLE_MAX ? HW_FRAG_SINGLE_MAX : rest;
      if (chunk < rest)
        f |= HW_FRAG_MORE;
      else if (final)
        f |= HW_FRAG_FINAL;
    }
    pt[0] = f;
    memcpy(pt + hdr, p, chunk);
    if ((rc = hw_noise_cs_encrypt(c->tx_cs, pt, hdr + chunk, pt))) {
      hw_memzero(c->tx + start, c->tx_len + HW_FRAME_HDR_BYTES + hdr + chunk - start);
      c->tx_len = start;
      return fail(c, rc);
    }
    hw_frame_put_header(frame, (uint32_t)(hdr + chunk + TAG));
    c->tx_len += HW_FRAME_HDR_BYTES + hdr + chunk + TAG;
    p += chunk;
    rest -= chunk;
  }
  return HW_OK;
}

/* An empty cork is given back: a session between flights keeps no 64 KiB
 * buffer (flush_cork and the HW_ENOMEM restore zeroed what it held). */
static void release_cork(hw_chan *c)
{
  if (c->n_cork == 0 && c->cork) {
    hw_free(c->cork);
    c->cork = NULL;
    c->cork_len = 0;
  }
}

/* Seal the held messages: one alone goes as a plain message, several as a batch. */
static int flush_cork(hw_chan *c, bool final)
{
  int rc;

  if (c->n_cork == 0)
    return HW_OK;
  if (c->n_cork == 1) {
    size_t len = 0, k = get_varint(c->cork, c->cork_len, &len);
    rc = seal(c, c->cork + k, len, final, false);
  } else {
    rc = seal(c, c->cork, c->cork_len, final, true);
  }
  if (rc == HW_OK) {
    hw_memzero(c->cork, c->cork_len);
    c->cork_len = 0;
    c->n_cork = 0;
  }
  return rc;
}

int hw_chan_send(hw_chan *c, const uint8_t *msg, size_t len, unsigned flags)
{
  bool final = (flags & HW_SEND_FINAL) != 0, cork = (flags & HW_SEND_CORK) != 0;
  int rc;

  if (c->state == HW_CHAN_FAILED || c->sent_final)
    return HW_ECLOSED;
  if (c->state != HW_CHAN_OPEN || len == 0 || !msg || (flags & ~(HW_SEND_FINAL | HW_SEND_CORK)) ||
      (final && cork))
    return HW_EINVAL;
  if (len > HW_APP_MSG_MAX)
    return HW_ELIMIT;
  if (len > HW_BATCH_MSG_MAX) {
    if ((rc = flush_cork(c, false)) || (rc = seal(c, msg, len, final, false)))
      return rc;
  } else if (cork || c->n_cork > 0) {
    size_t save_len, save_n;
    if (!c->cork && !(c->cork = hw_malloc(HW_FRAG_SINGLE_MAX)))
      return HW_ENOMEM;
    if (c->cork_len + 2 + len > HW_FRAG_SINGLE_MAX && (rc = flush_cork(c, false)))
      return rc;
    save_len = c->cork_len;
    save_n = c->n_cork;
    c->cork_len += put_varint(c->cork + c->cork_len, len);
    memcpy(c->cork + c->cork_len, msg, len);
    c->cork_len += len;
    c->n_cork++;
    if (!cork && (rc = flush_cork(c, final))) {
      if (c->state != HW_CHAN_FAILED) { /* HW_ENOMEM: this message is not queued */
        hw_memzero(c->cork + save_len, c->cork_len - save_len); /* its plaintext */
        c->cork_len = save_len;
        c->n_cork = save_n;
      }
      return rc;
    }
  } else if ((rc = seal(c, msg, len, final, false))) {
    return rc;
  }
  release_cork(c);
  if (final)
    c->sent_final = true;
  return HW_OK;
}

int hw_chan_flush(hw_chan *c)
{
  int rc;

  if (c->state == HW_CHAN_FAILED)
    return HW_ECLOSED;
  if ((rc = flush_cork(c, false)) == HW_OK)
    release_cork(c);
  return rc;
}

hw_bytes hw_chan_pending(const hw_chan *c)
{
  return (hw_bytes){c->tx ? c->tx + c->tx_off : NULL, c->tx_len - c->tx_off};
}

void hw_chan_consume(hw_chan *c, size_t n)
{
  if (n > c->tx_len - c->tx_off)
    n = c->tx_len - c->tx_off;
  c->tx_off += n;
  /* Drained: give a large buffer back (an idle session keeps none). */
  if (c->tx_off == c->tx_len) {
    c->tx_off = c->tx_len = 0;
    if (c->tx_cap > TX_KEEP) { /* ciphertext only: seal wipes a failed frame */
      hw_free(c->tx);
      c->tx = NULL;
      c->tx_cap = 0;
    }
  }
}

hw_chan_state hw_chan_get_state(const hw_chan *c)
{
  return c->state;
}

int hw_chan_eof(hw_chan *c)
{
  if (c->state == HW_CHAN_ENDED || (c->sent_final && c->state != HW_CHAN_FAILED))
    return HW_OK;
  /* No final message from the peer: the stream was cut short. */
  fail(c, HW_EPROTO);
  return HW_EPROTO;
}

int hw_chan_peer_key(const hw_chan *c, uint8_t out[static HW_NOISE_KEY_BYTES])
{
  if (c->state != HW_CHAN_OPEN && c->state != HW_CHAN_ENDED) {
    memset(out, 0, HW_NOISE_KEY_BYTES);
    return HW_EINVAL;
  }
  memcpy(out, c->peer_key, HW_NOISE_KEY_BYTES);
  return HW_OK;
}

int hw_chan_handshake_hash(const hw_chan *c, uint8_t out[static HW_NOISE_HASH_BYTES])
{
  if (c->state != HW_CHAN_OPEN && c->state != HW_CHAN_ENDED) {
    memset(out, 0, HW_NOISE_HASH_BYTES);
    return HW_EINVAL;
  }
  memcpy(out, c->hash, HW_NOISE_HASH_BYTES);
  return HW_OK;
}

int hw_chan_token(const hw_chan *c, uint8_t out[static HW_TOKEN_BYTES])
{
  memset(out, 0, HW_TOKEN_BYTES);
  if (c->role != HW_NOISE_RESPONDER || (c->state != HW_CHAN_OPEN && c->state != HW_CHAN_ENDED))
    return HW_EINVAL;
  if (!c->has_token)
    return HW_ENOENT;
  memcpy(out, c->token, HW_TOKEN_BYTES);
  return HW_OK;
}
