/* The sync engine (architecture §4; docs/protocol.md §9): one session of
 * hello, pushes, pulls and done over the Noise channel. Nothing is marked
 * sent before its acknowledgement; pulled batches are stored with their
 * cursor in one transaction (PULL_GROUP at a time); a cut at any point
 * resumes cleanly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "homeward/audit-head.h"
#include "homeward/checksum.h"
#include "homeward/lineage.h"
#include "reissue-int.h"
#include "homeward/mem.h"
#include "homeward/proto/chan.h"
#include "homeward/proto/msg.h"
#include "homeward/record-codec.h"
#include "pulled-int.h"
#include "homeward/stage.h"
#include "homeward/utf8.h"
#include "net-int.h"
#include "sync-int.h"

/* What a worker reads for a sync cut short, whichever way it met the cut. */
#define CUT_TEXT "the connection was cut; what was acknowledged is kept, the rest is sent next time"

/* ---- the wire ------------------------------------------------------------- */

static int flush(sync_ctx *s)
{
  hw_bytes out = hw_chan_pending(s->chan);
  int rc;

  if (!out.len)
    return HW_OK;
  if ((rc = hw__net_write_all(s->fd, out.p, out.len, s->timeout)) != 0)
    return rc;
  s->res->totals.bytes_up += out.len;
  hw_chan_consume(s->chan, out.len);
  return HW_OK;
}

/* flags: HW_SEND_FINAL, HW_SEND_CORK (more follow at once: share a
 * transport message, as hello, pushes and the first pull do). */
int hw__sync_send_msg(sync_ctx *s, const hw_msg *m, unsigned flags)
{
  hw_cbor_wr w;
  int rc;

  hw_cbor_wr_init(&w, HW_APP_MSG_MAX);
  rc = hw_msg_encode(m, &w);
  if (!rc)
    rc = hw_cbor_wr_finish(&w);
  if (!rc)
    rc = hw_chan_send(s->chan, w.buf, w.len, flags);
  hw_cbor_wr_close(&w);
  return rc ? rc : flush(s);
}

/* Read until one application message completes, or, during the handshake,
 * until the channel opens. `*body` points into the channel until the next
 * read. */
static int next_msg(sync_ctx *s, hw_bytes *body, bool *final)
{
  bool handshake = hw_chan_get_state(s->chan) == HW_CHAN_HANDSHAKE;

  body->p = NULL;
  for (;;) {
    size_t used = 0, n;
    /* Feed what is buffered; with nothing buffered the channel may still
     * hold messages of a batch (one per call). */
    int rc = hw_chan_feed(s->chan, s->rbuf + s->r_off, s->r_len - s->r_off, &used, body, final);
    if (rc)
      return rc;
    s->r_off += used;
    if ((rc = flush(s)) != 0)
      return rc;
    if (body->p || (handshake && hw_chan_get_state(s->chan) != HW_CHAN_HANDSHAKE))
      return HW_OK;
    if (s->r_off < s->r_len && used > 0)
      continue;
    s->r_off = s->r_len = 0;
    if ((rc = hw__net_read(s->fd, s->rbuf, sizeof s->rbuf, s->timeout, &n)) != 0)
      return rc;
    if (n == 0)
      return hw_chan_eof(s->chan) == HW_OK ? HW_ECLOSED : HW_EPROTO;
    s->res->totals.bytes_down += n;
    s->r_len = n;
  }
}

/* ---- one session -------------------------------------------------------------- */

static const char *code_text(uint64_t code)
{
  switch (code) {
  case HW_CODE_UNKNOWN_DEVICE:
    return "this device is not enrolled on the server (if the office's server was restored, "
           "ask for a new invitation and run homeward init INVITATION: nothing here is lost)";
  case HW_CODE_TOKEN:
    return "the invitation is unknown, expired or used by another device: ask your coordinator "
           "for a new one and run `homeward init` with it again (what you recorded is kept)";
  case HW_CODE_REVOKED:
    return "this device was reported lost and is refused";
  case HW_CODE_RETIRED:
    return "this device was retired and is refused";
  case HW_CODE_REPLICA_TAKEN:
    return "this device's identity belongs to another device";
  case HW_CODE_VERSION:
    return "the server speaks another protocol version";
  case HW_CODE_SUPERSEDED:
    return "another session of this device took over";
  case HW_CODE_BUSY:
    return "the server is busy; try again later";
  case HW_CODE_UNKNOWN_EPOCH:
    return "the server does not know this device's sync history (an epoch it never had): "
           "see the coordinator";
  case HW_CODE_INTERNAL:
    return "the server could not finish this sync (nothing is lost; try again later)";
  default:
    return "the server refused the session";
  }
}

/* What the worker reads for a server's error: the text for its code, and
 * for the codes without one of their own, the server's words (control
 * characters shown as '?': they come from the network). */
static void say_refusal(sync_ctx *s, const hw_msg_error *e)
{
  char text[sizeof s->res->message];
  const char *base = code_text(e->code);
  size_t n;

  switch (e->code) {
  case HW_CODE_INTERNAL:
  case HW_CODE_LIMIT:
  case HW_CODE_BUSY:
  case HW_CODE_MALFORMED:
  case HW_CODE_UNEXPECTED:
    break; /* the code alone does not say enough */
  default:
    if (strcmp(base, "the server refused the session") != 0) {
      hw__sync_say(s, base);
      return;
    }
  }
  n = (size_t)snprintf(text, sizeof text, "%s", base);
  if (e->message.len && n + 3 < sizeof text) {
    text[n++] = ':';
    text[n++] = ' ';
    for (size_t i = 0; i < e->message.len && n + 1 < sizeof text; i++) {
      uint32_t cp;
      size_t k = hw_utf8_control(e->message.p + i, e->message.len - i, &cp);
      text[n++] = k ? '?' : (char)e->message.p[i];
      i += k ? k - 1 : 0;
    }
    text[n] = '\0';
    hw_utf8_cut(text);
  }
  hw__sync_say(s, text);
}

static int take_recovering_cursor(hw_client *c)
{
  uint8_t packed[16 + HW_CURSOR_HEAD_BYTES];
  int rc = hw__setting_exact(c, SET_CURSOR_RECOVERING, packed, sizeof packed);

  if (rc == HW_ENOENT)
    return HW_OK;
  if (rc || (rc = hw_store_begin(c->st)) != 0)
    return rc;
  if ((rc = hw_store_setting_set(c->st, SET_CURSOR, packed, sizeof packed)) != 0 ||
      (rc = hw_store_setting_del(c->st, SET_CURSOR_RECOVERING)) != 0) {
    int r2 = hw_store_rollback(c->st);
    (void)r2;
    return rc;
  }
  return hw_store_commit(c->st); /* a failed commit rolls back by itself */
}

static int session(sync_ctx *s)
{
  hw_client *c = s->c;
  hw_msg_hello hello;
  hw_bytes body;
  bool final;
  int rc;

  if ((rc = hw__net_connect(c->address, s->timeout, &s->fd)) != 0) {
    char why[250];
    snprintf(why, sizeof why,
             "the server at %.64s cannot be reached (offline? if the office's address changed, "
             "homeward init with a new invitation takes the new one)",
             c->address);
    hw__sync_say(s, why);
    return HW_EIO;
  }
  if ((rc = hw_chan_new_device(&s->chan, c->key, c->server_key, c->has_token ? c->token : NULL)) !=
          0 ||
      (rc = flush(s)) != 0)
    return rc;
  while (hw_chan_get_state(s->chan) == HW_CHAN_HANDSHAKE) {
    rc = next_msg(s, &body, &final);
    if (rc == HW_EAUTH) {
      hw__sync_say(s, "the server's key does not match the one in the invitation: not syncing");
      return HW_EAUTH;
    }
    if (rc)
      return rc;
  }
  if ((rc = hw__sync_build_hello(s, &hello)) != 0 ||
      (rc = hw__sync_send_msg(s, &(hw_msg){.type = HW_MSG_HELLO, .u.hello = hello},
                              HW_SEND_CORK)) != 0)
    return rc;
  if ((rc = hw_store_list_pending(c->st, hw__sync_collect_pending, s)) != 0 ||
      (rc = hw__sync_send_pushes(s, HW_SEND_CORK)) != 0)
    return rc;
  for (;;) {
    hw_arena arena;
    hw_msg m;
    bool all_acked = true;

    for (size_t i = 0; i < s->n_batches; i++)
      all_acked &= s->batches[i].acked;
    if (s->done && all_acked) {
      if (s->epoch_changed && !s->repushed) {
        s->repushed = true;
        s->res->recovered = true;
        /* ...and pull once more, for a done whose checksum covers them. */
        s->done = false;
        if ((rc = hw__sync_repush_everything(s)) != 0)
          return rc;
        continue;
      }
      break;
    }
    if ((rc = next_msg(s, &body, &final)) != 0) {
      hw__sync_say(s, CUT_TEXT);
      return rc;
    }
    hw_arena_init(&arena, NULL, 0, HW_APP_MSG_MAX + (4u << 20));
    rc = hw_msg_decode(body.p, body.len, &arena, &m);
    /* Anything but the next batch works on what the pulled ones stored. */
    if (!rc && m.type != HW_MSG_PULL_BATCH)
      rc = hw__sync_pull_commit(s);
    if (!rc) {
      switch (m.type) {
      case HW_MSG_PUSH_ACK:
        rc = hw__sync_on_ack(s, &m.u.ack);
        break;
      case HW_MSG_PULL_BATCH:
        rc = hw__sync_on_pull_batch(s, &m.u.pull_batch);
        break;
      case HW_MSG_DONE:
        rc = hw__sync_on_done(s, &m.u.done);
        break;
      case HW_MSG_LINEAGE_REFUSAL:
        rc = hw__sync_on_refusal(s, &m.u.refusal);
        hw_arena_close(&arena);
        return rc ? rc : HW_EAGAIN; /* the server ends the session: retry */
      case HW_MSG_ERROR:
        s->res->server_code = m.u.error.code;
        say_refusal(s, &m.u.error);
        hw_arena_close(&arena);
        if (m.u.error.code == HW_CODE_UNKNOWN_DEVICE && !c->has_token &&
            (rc = hw_store_setting_set(c->st, SET_UNKNOWN_AT_SERVER, (const uint8_t *)"1", 1)) != 0)
          return rc;
        return m.u.error.code == HW_CODE_REVOKED || m.u.error.code == HW_CODE_RETIRED ? HW_EREVOKED
                                                                                      : HW_EREFUSED;
      default:
        rc = HW_EPROTO;
        break;
      }
    }
    hw_arena_close(&arena);
    if (rc)
      return rc;
  }
  /* Everything pushed again and acknowledged: the restored server's cursor
   * becomes the device's. */
  if (s->repushed && (rc = take_recovering_cursor(c)) != 0)
    return rc;
  /* Writes acknowledged in this session move the lineage mark now, in the
   * session that paid for them, not in the next hello. */
  if (s->res->pushed > 0) {
    hw_id me;
    uint64_t counter;
    hw_lineage l;
    hw_store_replica(c->st, &me, &counter);
    (void)!hw__sync_compute_lineage(c, &me, &l);
  }
  /* The first session that gets this far has confirmed the enrolment; and
   * a server that knows the device again (a newer backup restored) ends
   * the time a new invitation may be taken over this store. */
  if (c->has_token) {
    if ((rc = hw_store_setting_del(c->st, SET_TOKEN)) != 0)
      return rc;
    c->has_token = false;
  }
  if (hw__client_unknown_at_server(c) &&
      (rc = hw_store_setting_del(c->st, SET_UNKNOWN_AT_SERVER)) != 0 && rc != HW_ENOENT)
    return rc;
  /* A clean end: the device's final goodbye. Everything is stored already,
   * so a failure to send it only makes the end look truncated to the server. */
  (void)!hw__sync_send_msg(s, &(hw_msg){.type = HW_MSG_GOODBYE}, HW_SEND_FINAL);
  return HW_OK;
}

static void session_reset(sync_ctx *s)
{
  /* The session ended between batches: the open group holds whole batches
   * only (a batch that failed took its group back), so it is stored. */
  (void)!hw__sync_pull_commit(s);
  hw_chan_free(s->chan);
  s->chan = NULL;
  hw__net_close(s->fd);
  s->fd = -1;
  hw__sync_free_sent(s);
  s->r_off = s->r_len = 0;
  s->epoch_changed = s->repushed = false;
  s->hello_epoch = s->batch_seq = 0;
  s->done = s->refused_lineage = false;
}

/* The server ended this device's access. Lost: wipe now. Retired: wipe
 * once nothing is left to push (the last session pushed everything); edits
 * made after that stay, and the worker is told to take the device to the
 * coordinator. */
static int on_revoked(sync_ctx *s)
{
  uint64_t pending = 0, held = 0;
  int rc;

  if (s->res->server_code == HW_CODE_RETIRED) {
    if ((rc = hw_client_count_pending(s->c, &pending, &held)) != 0)
      return rc;
    if (pending) {
      snprintf(s->res->message, sizeof s->res->message,
               "this device was retired but %llu record(s) were not pushed: take it to the "
               "coordinator; nothing was deleted",
               (unsigned long long)pending);
      return HW_EREVOKED;
    }
  } else if (hw_client_count_pending(s->c, &pending, &held) != 0) {
    pending = 0;
  }
  s->res->unsent_destroyed = pending;
  if ((rc = hw__client_wipe(s->c)) != 0) {
    snprintf(s->res->message, sizeof s->res->message,
             "this device's access was ended but its store could not be fully deleted: "
             "take it to the coordinator");
    return HW_EREVOKED;
  }
  s->res->wiped = true;
  snprintf(s->res->message, sizeof s->res->message,
           s->res->server_code == HW_CODE_RETIRED
               ? "this device was retired: everything was pushed and its store is deleted"
               : "this device was reported lost: its store is deleted");
  return HW_EREVOKED;
}

static int id_cmp(const void *a, const void *b)
{
  return hw_id_cmp(a, b);
}

/* The touched cases that may be closed (one of their records closes a case
 * by itself at done); the others cannot be, and the sweep would read and
 * decode them for nothing. */
static void keep_closable(sync_ctx *s)
{
  size_t out = 0;

  if (s->may_close.n)
    qsort(s->may_close.v, s->may_close.n, sizeof *s->may_close.v, id_cmp);
  for (size_t i = 0; i < s->touched.n; i++)
    if (s->may_close.n &&
        bsearch(&s->touched.v[i], s->may_close.v, s->may_close.n, sizeof *s->may_close.v, id_cmp))
      s->touched.v[out++] = s->touched.v[i];
  s->touched.n = out;
}

/* The records in conflict at done that the sweeps left. */
static uint64_t count_conflicts(sync_ctx *s)
{
  uint64_t n = 0;

  for (size_t i = 0; i < s->conflicted.n; i++) {
    hw_store_rec *row = NULL;
    n += hw_store_get(s->c->st, &s->conflicted.v[i], &row) == HW_OK;
    hw_store_rec_free(row);
  }
  return n;
}

int hw_client_sync(hw_client *c, unsigned timeout_ms, hw_sync_progress_cb cb, void *ud,
                   hw_sync_result *res)
{
  sync_ctx *s = hw_calloc(1, sizeof *s);
  int rc = HW_EAGAIN;

  memset(res, 0, sizeof *res);
  if (!s)
    return HW_ENOMEM;
  s->c = c;
  s->fd = -1;
  s->timeout = timeout_ms;
  s->res = res;
  s->cb = cb;
  s->ud = ud;
  {
    uint8_t v[1];
    res->forked = c->forked_at_open || hw__setting_exact(c, SET_FORKED_UNTOLD, v, 1) == HW_OK;
  }
  for (int attempt = 0; attempt < SYNC_ATTEMPTS && rc == HW_EAGAIN; attempt++) {
    rc = session(s);
    session_reset(s);
  }
  if (rc == HW_EAGAIN) {
    hw__sync_say(s, "the server could not confirm this device's history; see the coordinator");
    rc = HW_EREFUSED;
  }
  /* A send that failed mid-push (the server stopped, the link dropped) is
   * the same cut as a receive that did (said above, when first). */
  if (rc == HW_EIO)
    hw__sync_say(s, CUT_TEXT);
  if (rc == HW_OK)
    rc = hw__sync_removed_sweep(s);
  if (rc == HW_OK) {
    keep_closable(s);
    rc = hw__client_sweep_closed(c, s->touched.v, s->touched.n, &res->closed_removed);
  }
  if (rc == HW_EREVOKED)
    rc = on_revoked(s);
  if (rc == HW_OK)
    res->conflicts = count_conflicts(s);
  /* Told now (the sync's notes say it): later syncs do not say it again. */
  if (rc == HW_OK && res->forked) {
    int drc = hw_store_setting_del(c->st, SET_FORKED_UNTOLD);
    if (drc && drc != HW_ENOENT)
      rc = drc;
    c->forked_at_open = false;
  }
  hw_free(s->touched.v);
  hw_free(s->may_close.v);
  hw_free(s->conflicted.v);
  hw_free(s);
  return rc;
}
