/* The loop-thread half of a session: the connection, the Noise channel, the
 * messages, the timers and the replies (see session-int.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "homeward/log.h"
#include "homeward/mem.h"
#include "session-int.h"

#define MSG_ARENA_CAP (HW_APP_MSG_MAX + (4u << 20)) /* one decoded message's budget */
#define WRITE_QUEUE_MAX (64u << 20) /* a peer that does not read is cut off past this */

int64_t hw__now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void session_unref(hw_session *ss)
{
  if (--ss->refs > 0)
    return;
  hw_chan_free(ss->chan);
  hw_free(ss->acked_seqs);
  hw_free(ss->visible);
  hw_free(ss->own);
  hw_free(ss);
}

static void on_handle_closed(uv_handle_t *h)
{
  hw_session *ss = h->data;
  if (h == (uv_handle_t *)&ss->tcp)
    ss->tcp_closed = true;
  else
    ss->timer_closed = true;
  if (ss->tcp_closed && ss->timer_closed)
    session_unref(ss);
}

/* Close the connection (once). `why` is logged with the connection id only:
 * never payload, names or keys. */
static void session_close(hw_session *ss, const char *why, int err)
{
  hw_server *srv = ss->srv;

  if (ss->closing)
    return;
  ss->closing = true;
  if (why)
    hw_log(err ? HW_LOG_WARN : HW_LOG_INFO, "conn=%llu close=%s err=%s", (unsigned long long)ss->id,
           why, hw_errname(err));
  if (ss->prev)
    ss->prev->next = ss->next;
  else
    srv->sessions = ss->next;
  if (ss->next)
    ss->next->prev = ss->prev;
  srv->n_sessions--;
  if (ss->paused) {
    ss->paused = false;
    srv->n_paused--;
  }
  uv_close((uv_handle_t *)&ss->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&ss->timer, on_handle_closed);
}

typedef struct write_req {
  uv_write_t req;
  hw_session *ss;
  bool close_after;
  uint8_t data[];
} write_req;

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);
static void on_timer(uv_timer_t *t);

/* How long a session that sent its final message waits for the device to
 * close its end. */
#define LINGER_MS 5000

static void on_shutdown(uv_shutdown_t *req, int status)
{
  hw_session *ss = req->data;
  (void)status; /* cancelled by a close, or the connection is gone: on_read says */
  session_unref(ss);
}

/* After a final message (a refusal, an error): a FIN, not a close at once.
 * Closing a socket with unread input, which a device that pipelines its
 * pushes behind its hello often has, sends a reset; the device's next
 * write then fails and it may never read the message that says why (a
 * lineage refusal it must act on: its every sync failed with a bare I/O
 * error). Input is read and dropped until the device closes its end, or
 * LINGER_MS at most. */
static void linger_close(hw_session *ss)
{
  if (ss->closing || ss->lingering)
    return;
  ss->lingering = true;
  ss->state = HW_SS_CLOSING;
  ss->shutdown_req.data = ss;
  ss->refs++;
  if (uv_shutdown(&ss->shutdown_req, (uv_stream_t *)&ss->tcp, on_shutdown) != 0) {
    ss->refs--;
    session_close(ss, NULL, 0);
    return;
  }
  if (ss->paused) {
    ss->paused = false;
    ss->srv->n_paused--;
    if (uv_read_start((uv_stream_t *)&ss->tcp, on_alloc, on_read) != 0) {
      session_close(ss, NULL, 0);
      return;
    }
  }
  uv_timer_start(&ss->timer, on_timer, LINGER_MS, 0);
}

static void on_written(uv_write_t *req, int status)
{
  write_req *w = (write_req *)req;
  hw_session *ss = w->ss;

  if (status < 0)
    session_close(ss, "write", HW_EIO);
  else if (w->close_after)
    linger_close(ss);
  hw_free(w);
  session_unref(ss);
}

/* Write what the channel has queued. */
static void flush(hw_session *ss, bool close_after)
{
  hw_bytes out = hw_chan_pending(ss->chan);
  write_req *w;
  uv_buf_t b;

  if (ss->closing || ss->lingering) /* nothing goes after the final message */
    return;
  if (out.len == 0) {
    if (close_after)
      linger_close(ss);
    return;
  }
  if (uv_stream_get_write_queue_size((uv_stream_t *)&ss->tcp) > WRITE_QUEUE_MAX) {
    session_close(ss, "slow-reader", HW_ELIMIT);
    return;
  }
  if (!(w = hw_malloc(sizeof *w + out.len))) {
    session_close(ss, "write", HW_ENOMEM);
    return;
  }
  memcpy(w->data, out.p, out.len);
  w->ss = ss;
  w->close_after = close_after;
  b = uv_buf_init((char *)w->data, (unsigned)out.len);
  hw_chan_consume(ss->chan, out.len);
  ss->refs++;
  if (uv_write(&w->req, (uv_stream_t *)&ss->tcp, &b, 1, on_written) != 0) {
    hw_free(w);
    ss->refs--;
    session_close(ss, "write", HW_EIO);
  }
}

/* Encode and send one message; `final` ends the connection after it. */
static void send_msg(hw_session *ss, const hw_msg *m, bool final)
{
  hw_cbor_wr w;
  int rc;

  /* After the final message nothing more goes (a job that finishes later,
   * a refused push's answer, has no one to tell). */
  if (ss->closing || ss->state == HW_SS_CLOSING)
    return;
  hw_cbor_wr_init(&w, HW_APP_MSG_MAX);
  rc = hw_msg_encode(m, &w);
  if (!rc)
    rc = hw_cbor_wr_finish(&w);
  if (!rc)
    rc = hw_chan_send(ss->chan, w.buf, w.len, final ? HW_SEND_FINAL : 0);
  hw_cbor_wr_close(&w);
  if (rc) {
    session_close(ss, "send", rc);
    return;
  }
  if (final)
    ss->state = HW_SS_CLOSING;
  flush(ss, final);
}

static void send_error(hw_session *ss, uint64_t code, const char *text)
{
  hw_msg m = {.type = HW_MSG_ERROR};

  m.u.error.code = code;
  m.u.error.message = (hw_bytes){(const uint8_t *)text, strlen(text)};
  hw_log(HW_LOG_INFO, "conn=%llu refused code=%llu name=%s", (unsigned long long)ss->id,
         (unsigned long long)code, hw_msg_code_name(code));
  send_msg(ss, &m, true);
}

static void restart_timer(hw_session *ss, uint64_t ms);

/* ---- job completions (loop thread) ---------------------------------------- */

static void hello_done(hw_job *job, int status)
{
  hw_hello_job *j = (hw_hello_job *)job;
  hw_session *ss = j->ss;

  if (!ss->closing) {
    if (status) {
      hw_log(HW_LOG_ERROR, "conn=%llu hello err=%s", (unsigned long long)ss->id,
             hw_errname(status));
      send_error(ss, HW_CODE_INTERNAL,
                 status == HW_ENOSPC ? "the server's disk is full; its administrator must free "
                                       "space"
                                     : "the server could not check this device; retry later");
    } else if (j->code) {
      send_error(ss, j->code, j->message);
    } else if (j->refuse_lineage) {
      hw_msg m = {.type = HW_MSG_LINEAGE_REFUSAL};
      m.u.refusal.replica = j->hello.replica;
      m.u.refusal.from = j->refusal_from;
      m.u.refusal.n_dots = j->n_dots;
      m.u.refusal.dots = j->dots;
      m.u.refusal.more = j->dots_more;
      hw_log(HW_LOG_INFO, "conn=%llu lineage-refused dots=%zu from=%llu",
             (unsigned long long)ss->id, j->n_dots, (unsigned long long)j->refusal_from);
      send_msg(ss, &m, true);
    } else {
      ss->state = HW_SS_SERVING;
      hw__session_supersede(ss->srv, ss, &j->hello.replica);
      restart_timer(ss, ss->srv->cfg.idle_timeout_ms);
    }
  }
  hw__hello_job_free(j);
  session_unref(ss);
}

static hw_ack_status ack_status(hw_decision d)
{
  switch (d) {
  case HW_DEC_QUARANTINED:
    return HW_ACK_QUARANTINED;
  case HW_DEC_REFUSED:
    return HW_ACK_REFUSED;
  default:
    return HW_ACK_ACCEPTED;
  }
}

/* Pushed states wait in memory for the one storage thread; with a thousand
 * devices pushing at once they were most of the server's memory. Past
 * [limits] push_queue_kb a session that pushes stops reading until the
 * queue is down to half (its idle timer stopped: it is waiting for us). */
#define PUSH_QUEUE_MAX(srv) ((size_t)(srv)->cfg.push_queue_kb * 1024u)

static void pause_reading(hw_session *ss)
{
  if (ss->paused || ss->closing || ss->lingering ||
      ss->srv->queued_push_bytes <= PUSH_QUEUE_MAX(ss->srv))
    return;
  uv_read_stop((uv_stream_t *)&ss->tcp);
  uv_timer_stop(&ss->timer);
  ss->paused = true;
  ss->srv->n_paused++;
  hw_log(HW_LOG_DEBUG, "conn=%llu paused queued_bytes=%zu", (unsigned long long)ss->id,
         ss->srv->queued_push_bytes);
}

static void resume_reading(hw_server *srv)
{
  if (!srv->n_paused || srv->queued_push_bytes > PUSH_QUEUE_MAX(srv) / 2)
    return;
  for (hw_session *ss = srv->sessions; ss && srv->n_paused; ss = ss->next) {
    if (!ss->paused)
      continue;
    ss->paused = false;
    srv->n_paused--;
    if (uv_read_start((uv_stream_t *)&ss->tcp, on_alloc, on_read) != 0) {
      session_close(ss, "read", HW_EIO);
      continue;
    }
    restart_timer(ss, srv->cfg.idle_timeout_ms);
  }
}

static void push_done(hw_job *job, int status)
{
  hw_push_job *j = (hw_push_job *)job;
  hw_session *ss = j->ss;
  hw_ack_entry *e = NULL;

  ss->srv->queued_push_bytes -= j->bytes;

  if (!ss->closing) {
    if (status) {
      /* Nothing of the batch was committed: the device resends it. */
      hw_log(HW_LOG_ERROR, "conn=%llu push err=%s", (unsigned long long)ss->id, hw_errname(status));
      send_error(ss, HW_CODE_INTERNAL,
                 status == HW_ENOSPC ? "the server's disk is full: nothing of this batch was "
                                       "stored; its administrator must free space"
                                     : "the server could not store the batch; retry later");
    } else if (!(e = hw_calloc(j->n ? j->n : 1, sizeof *e))) {
      session_close(ss, "ack", HW_ENOMEM);
    } else {
      hw_msg m = {.type = HW_MSG_PUSH_ACK};
      for (size_t i = 0; i < j->n; i++) {
        const hw_accept_result *r = &j->results[i];
        e[i].status = ack_status(r->decision);
        e[i].seq = r->seq;
        if (r->merged)
          e[i].merged = (hw_bytes){r->merged, r->merged_len};
        if (e[i].status != HW_ACK_ACCEPTED) {
          e[i].code = (uint64_t)(r->code < 0 ? -r->code : r->code);
          const char *why = hw_accept_reason(r);
          e[i].reason = (hw_bytes){(const uint8_t *)why, strlen(why)};
        }
      }
      m.u.ack.batch_seq = j->batch_seq;
      m.u.ack.n_entries = j->n;
      m.u.ack.entries = e;
      send_msg(ss, &m, false);
    }
  }
  hw_free(e);
  resume_reading(ss->srv);
  hw__push_job_free(j);
  session_unref(ss);
}

static void pull_done(hw_job *job, int status)
{
  hw_pull_job *j = (hw_pull_job *)job;
  hw_session *ss = j->ss;
  hw_bytes *recs = NULL;

  if (!ss->closing && !j->refused) {
    if (status) {
      hw_log(HW_LOG_ERROR, "conn=%llu pull err=%s", (unsigned long long)ss->id, hw_errname(status));
      send_error(ss, HW_CODE_INTERNAL, "the server could not read; retry later");
    } else if (j->retire_now) {
      /* A retired device's last session: every push before this pull is
       * acknowledged, so the device may wipe itself. */
      send_error(ss, HW_CODE_RETIRED, "this device was retired: wipe it");
    } else if (j->n && !(recs = hw_calloc(j->n, sizeof *recs))) {
      session_close(ss, "pull", HW_ENOMEM);
    } else {
      hw_msg m = {.type = HW_MSG_PULL_BATCH};
      for (size_t i = 0; i < j->n; i++)
        recs[i] = (hw_bytes){j->records[i], j->lens[i]};
      m.u.pull_batch.n_records = j->n;
      m.u.pull_batch.records = recs;
      m.u.pull_batch.cursor = j->next;
      m.u.pull_batch.more = j->more;
      hw_log(HW_LOG_DEBUG, "conn=%llu pull records=%zu removals=%zu decided=%zu more=%d seq=%llu",
             (unsigned long long)ss->id, j->n, j->n_removals, j->n_decided, (int)j->more,
             (unsigned long long)j->next.seq);
      m.u.pull_batch.n_removals = j->n_removals;
      m.u.pull_batch.removals = j->removals;
      m.u.pull_batch.n_decided = j->n_decided;
      m.u.pull_batch.decided = j->decided;
      /* A last batch with nothing in it that leaves the cursor where the
       * device has it is left out: `done` alone ends the pull (a no-op
       * resync, 63 bytes fewer). */
      if (j->more || !j->unmoved || !hw__pull_batch_empty(j))
        send_msg(ss, &m, false);
      if (!j->more) {
        hw_msg d = {.type = HW_MSG_DONE};
        memcpy(d.u.done.checksum, j->checksum, HW_HASH_BYTES);
        /* The head is sent only when signed in the epoch the cursor names. */
        d.u.done.has_head = ss->srv->head_valid && ss->srv->head.epoch == j->next.epoch;
        d.u.done.head = ss->srv->head;
        d.u.done.n_flagged = j->flagged.n;
        d.u.done.flagged = j->flagged.v;
        send_msg(ss, &d, false);
      }
    }
  }
  hw_free(recs);
  hw__pull_job_free(j);
  session_unref(ss);
}

/* ---- incoming messages ---------------------------------------------------- */

static int submit(hw_session *ss, hw_job *job)
{
  int rc;

  ss->refs++;
  if ((rc = hw_storage_submit(ss->srv->storage, job)) != 0)
    ss->refs--;
  return rc;
}

static int on_hello(hw_session *ss, const hw_msg_hello *h)
{
  hw_hello_job *j;

  if (ss->hello_seen)
    return HW_EPROTO;
  ss->hello_seen = true;
  if (!(j = hw_calloc(1, sizeof *j)))
    return HW_ENOMEM;
  j->job.run = hw__hello_job_run;
  j->job.done = hello_done;
  j->ss = ss;
  j->hello = *h;
  j->has_token = ss->has_token;
  memcpy(j->token, ss->token, sizeof j->token);
  j->epoch = ss->srv->epoch;
  j->ever_restored = ss->srv->ever_restored;
  j->now_ms = hw__now_ms();
  if (submit(ss, &j->job) != 0) {
    hw__hello_job_free(j);
    return HW_ECLOSED;
  }
  return HW_OK;
}

static int on_push(hw_session *ss, const hw_msg_push *p)
{
  hw_push_job *j;

  if (!ss->hello_seen)
    return HW_EPROTO;
  if (!(j = hw_calloc(1, sizeof *j)))
    return HW_ENOMEM;
  j->job.run = hw__push_job_run;
  j->job.prep = hw__push_job_prep;
  j->job.done = push_done;
  j->ss = ss;
  j->batch_seq = p->batch_seq;
  j->now_ms = hw__now_ms();
  j->value_key = ss->srv->secrets->value_key;
  j->states = hw_calloc(p->n_records ? p->n_records : 1, sizeof *j->states);
  j->lens = hw_calloc(p->n_records ? p->n_records : 1, sizeof *j->lens);
  j->results = hw_calloc(p->n_records ? p->n_records : 1, sizeof *j->results);
  if (!j->states || !j->lens || !j->results)
    goto oom;
  for (size_t i = 0; i < p->n_records; i++) {
    if (!(j->states[i] = hw_memdup(p->records[i].p, p->records[i].len)))
      goto oom;
    j->lens[i] = p->records[i].len;
    j->bytes += p->records[i].len;
    j->n = i + 1;
  }
  j->n = p->n_records;
  if (submit(ss, &j->job) != 0) {
    hw__push_job_free(j);
    return HW_ECLOSED;
  }
  ss->srv->queued_push_bytes += j->bytes;
  pause_reading(ss);
  return HW_OK;
oom:
  hw__push_job_free(j);
  return HW_ENOMEM;
}

static int on_pull(hw_session *ss, const hw_msg_pull *p)
{
  hw_pull_job *j;

  if (!ss->hello_seen)
    return HW_EPROTO;
  if (!(j = hw_calloc(1, sizeof *j)))
    return HW_ENOMEM;
  j->job.run = hw__pull_job_run;
  j->job.done = pull_done;
  j->ss = ss;
  j->max_records = p->max_records;
  j->epoch = ss->srv->epoch;
  j->has_cursor = p->has_cursor;
  if (p->has_cursor)
    j->cursor = p->cursor;
  if (submit(ss, &j->job) != 0) {
    hw__pull_job_free(j);
    return HW_ECLOSED;
  }
  return HW_OK;
}

static void on_message(hw_session *ss, hw_bytes body, bool final)
{
  hw_arena arena;
  hw_msg m;
  int rc;

  hw_arena_init(&arena, NULL, 0, MSG_ARENA_CAP);
  rc = hw_msg_decode(body.p, body.len, &arena, &m);
  if (rc) {
    hw_arena_close(&arena);
    send_error(ss, rc == HW_ELIMIT ? HW_CODE_LIMIT : HW_CODE_MALFORMED,
               "a message could not be decoded");
    return;
  }
  switch (m.type) {
  case HW_MSG_HELLO:
    rc = on_hello(ss, &m.u.hello);
    break;
  case HW_MSG_PUSH:
    rc = on_push(ss, &m.u.push);
    break;
  case HW_MSG_PULL:
    rc = on_pull(ss, &m.u.pull);
    break;
  case HW_MSG_GOODBYE:
    /* The device's final message: a clean end. Everything it asked for was
     * answered before it said goodbye, so there is nothing left to send. */
    session_close(ss, "end", 0);
    rc = HW_OK;
    break;
  case HW_MSG_ERROR:
    hw_log(HW_LOG_INFO, "conn=%llu peer-error code=%llu", (unsigned long long)ss->id,
           (unsigned long long)m.u.error.code);
    session_close(ss, "peer-error", 0);
    rc = HW_OK;
    break;
  default:
    rc = HW_EPROTO;
    break;
  }
  hw_arena_close(&arena);
  if (rc == HW_EPROTO)
    send_error(ss, HW_CODE_UNEXPECTED, "message out of order");
  else if (rc)
    session_close(ss, "message", rc);
  else if (final && !ss->closing && m.type != HW_MSG_GOODBYE)
    session_close(ss, "peer-final", 0);
}

/* The handshake just finished: note who the peer is. */
static void on_open(hw_session *ss)
{
  int rc = hw_chan_peer_key(ss->chan, ss->device_key);

  if (rc) {
    session_close(ss, "handshake", rc);
    return;
  }
  ss->has_token = hw_chan_token(ss->chan, ss->token) == HW_OK;
  ss->state = HW_SS_HELLO;
  restart_timer(ss, ss->srv->cfg.idle_timeout_ms);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
  hw_session *ss = h->data;
  (void)hint;
  *buf = uv_buf_init((char *)ss->srv->read_buf, sizeof ss->srv->read_buf);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
  hw_session *ss = st->data;
  const uint8_t *p = (const uint8_t *)buf->base;
  size_t left;

  if (ss->closing)
    return;
  if (ss->lingering) { /* dropped; the device's close ends it */
    if (n < 0)
      session_close(ss, NULL, 0);
    return;
  }
  if (n < 0) {
    int rc = n == UV_EOF ? hw_chan_eof(ss->chan) : HW_EIO;
    session_close(ss, rc ? "truncated" : "end", rc);
    return;
  }
  left = (size_t)n;
  if (ss->state != HW_SS_HANDSHAKE)
    restart_timer(ss, ss->srv->cfg.idle_timeout_ms);
  /* Feed until the channel has taken every byte and has no message left (a
   * batch hands out one message per call, with nothing more to read). */
  while (!ss->closing && ss->state != HW_SS_CLOSING) {
    size_t used = 0;
    hw_bytes msg = {0};
    bool final = false;
    hw_chan_state before = hw_chan_get_state(ss->chan);
    int rc = hw_chan_feed(ss->chan, p, left, &used, &msg, &final);

    if (rc) {
      /* Tampered, replayed or malformed: final for this connection only. */
      flush(ss, false);
      session_close(ss, "channel", rc);
      return;
    }
    p += used;
    left -= used;
    flush(ss, false);
    if (before == HW_CHAN_HANDSHAKE && hw_chan_get_state(ss->chan) == HW_CHAN_OPEN)
      on_open(ss);
    if (msg.p)
      on_message(ss, msg, final);
    else if (left == 0 || used == 0)
      break;
  }
}

static void on_timer(uv_timer_t *t)
{
  hw_session *ss = t->data;
  if (ss->lingering) {
    session_close(ss, NULL, 0);
    return;
  }
  session_close(ss, ss->state == HW_SS_HANDSHAKE ? "handshake-timeout" : "idle-timeout",
                HW_ECLOSED);
}

static void restart_timer(hw_session *ss, uint64_t ms)
{
  if (!ss->closing && !ss->lingering)
    uv_timer_start(&ss->timer, on_timer, ms, 0);
}

void hw__session_accept(hw_server *srv)
{
  hw_session *ss = hw_calloc(1, sizeof *ss);
  int rc;

  if (!ss)
    return;
  ss->srv = srv;
  ss->id = ++srv->next_conn_id;
  ss->refs = 1;
  uv_tcp_init(srv->loop, &ss->tcp);
  uv_timer_init(srv->loop, &ss->timer);
  ss->tcp.data = ss;
  ss->timer.data = ss;
  ss->next = srv->sessions;
  if (srv->sessions)
    srv->sessions->prev = ss;
  srv->sessions = ss;
  srv->n_sessions++;
  if (uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)&ss->tcp) != 0) {
    session_close(ss, "accept", HW_EIO);
    return;
  }
  if (srv->stopping || srv->n_sessions > srv->cfg.max_connections) {
    session_close(ss, "too-many-connections", HW_EBUSY);
    return;
  }
  /* Replies leave as whole flights; Nagle would delay their tails. */
  (void)uv_tcp_nodelay(&ss->tcp, 1);
  if ((rc = hw_chan_new_server(&ss->chan, srv->noise_key)) != 0) {
    session_close(ss, "channel", rc);
    return;
  }
  restart_timer(ss, srv->cfg.handshake_timeout_ms);
  hw_log(HW_LOG_DEBUG, "conn=%llu accepted timeout_ms=%u", (unsigned long long)ss->id,
         (unsigned)srv->cfg.handshake_timeout_ms);
  if (uv_read_start((uv_stream_t *)&ss->tcp, on_alloc, on_read) != 0)
    session_close(ss, "read", HW_EIO);
}

void hw__session_supersede(hw_server *srv, hw_session *keep, const hw_id *replica)
{
  hw_session *ss = srv->sessions, *next;

  for (; ss; ss = next) {
    next = ss->next;
    if (ss != keep && ss->state == HW_SS_SERVING && hw_id_cmp(&ss->replica, replica) == 0)
      send_error(ss, HW_CODE_SUPERSEDED, "a newer session of this replica began");
  }
}

void hw__session_revoke(hw_server *srv, const uint8_t key[static HW_NOISE_KEY_BYTES])
{
  hw_session *ss = srv->sessions, *next;

  for (; ss; ss = next) {
    next = ss->next;
    if (ss->state != HW_SS_HANDSHAKE && memcmp(ss->device_key, key, HW_NOISE_KEY_BYTES) == 0)
      send_error(ss, HW_CODE_REVOKED, "this device was reported lost: wipe it");
  }
}

void hw__session_close_all(hw_server *srv)
{
  while (srv->sessions)
    session_close(srv->sessions, "server-stopping", 0);
}
