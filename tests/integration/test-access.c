/* Access to case data from devices changed by whoever holds them (a raw
 * session with the device's own key sends what an honest client would not),
 * and from honest devices at the edges of a reassignment. Nothing a worker
 * may no longer see reaches their devices: not through a case given to them
 * and taken away again before they synced (the pull sends a case whole only
 * while its holder is one they see), not through the merged state a push
 * acknowledgement carries (none for a former holder or a retiring device),
 * not through a retiring device's pull (it gets no records); and a retired
 * device that never pulls is done after a few sessions. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "harness.h"
#include "homeward/err.h"
#include "homeward/lineage.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"
#include "raw-device.h"

static hw_test_server srv;
static char out[1 << 22];

#define ADMIN(...) hw_test_server_cmd(&srv, out, sizeof out, (const char *const[]){__VA_ARGS__, NULL})

/* What a raw session heard. */
typedef struct heard {
  int acks, batches, records, merged, done, errors;
  uint64_t err_code;
  hw_ack_status status;
  bool secret; /* some state heard holds the test's secret */
} heard;

static const char *secret = "LATER-HOLDER-SECRET";

static bool has_bytes(const uint8_t *p, size_t len, const char *s)
{
  size_t n = strlen(s);
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp(p + i, s, n) == 0)
      return true;
  return false;
}

static bool holds_secret(const hw_bytes *state)
{
  hw_record *r = NULL;
  bool found = false;

  if (hw_record_decode(state->p, state->len, &r, NULL) != HW_OK)
    return false;
  for (size_t f = 0; f < r->n_fields; f++)
    for (uint32_t i = 0; i < r->fields[f].n_pairs; i++) {
      const hw_bytes *v = &r->fields[f].pairs[i].value;
      found = found || has_bytes(v->p, v->len, secret);
    }
  hw_record_free(r);
  return found;
}

static bool on_msg(const hw_msg *m, void *ud)
{
  heard *h = ud;

  switch (m->type) {
  case HW_MSG_PUSH_ACK:
    h->acks++;
    for (size_t i = 0; i < m->u.ack.n_entries; i++) {
      h->status = m->u.ack.entries[i].status;
      if (m->u.ack.entries[i].merged.p) {
        h->merged++;
        h->secret |= holds_secret(&m->u.ack.entries[i].merged);
      }
    }
    return true;
  case HW_MSG_PULL_BATCH:
    h->batches++;
    h->records += (int)m->u.pull_batch.n_records;
    for (size_t i = 0; i < m->u.pull_batch.n_records; i++)
      h->secret |= holds_secret(&m->u.pull_batch.records[i]);
    return false;
  case HW_MSG_DONE:
    h->done++;
    return true;
  case HW_MSG_ERROR:
    h->errors++;
    h->err_code = m->u.error.code;
    return true;
  default:
    return false;
  }
}

/* A hello under a fresh replica id of the device, with no cursor (from the
 * sequence's start), then `then`. */
static heard raw(hw_client *c, const hw_msg *then)
{
  hw_msg m[2];
  hw_lineage l;
  heard h = {0};

  memset(m, 0, sizeof m);
  hw_lineage_init(&l);
  m[0].type = HW_MSG_HELLO;
  m[0].u.hello.version = 1;
  hw_id_random(&m[0].u.hello.replica);
  memcpy(m[0].u.hello.lineage, l.digest, sizeof l.digest);
  m[1] = *then;
  CHECK_EQ(hw_raw_session(c, m, 2, on_msg, &h), 0);
  return h;
}

static heard raw_pull(hw_client *c)
{
  hw_msg m = {.type = HW_MSG_PULL};
  m.u.pull.max_records = 512;
  return raw(c, &m);
}

static heard raw_push(hw_client *c, const hw_bytes *state)
{
  hw_msg m = {.type = HW_MSG_PUSH};
  m.u.push.batch_seq = 1;
  m.u.push.n_records = 1;
  m.u.push.records = state;
  return raw(c, &m);
}

/* The device's state of `rec`, encoded (hw_free it). */
static hw_bytes state_of(hw_client *c, const hw_id *rec)
{
  hw_record *r = NULL;
  uint8_t *p = NULL;
  size_t len = 0;

  CHECK_OK(hw_client_get(c, rec, &r));
  CHECK_OK(hw_record_encode(r, &p, &len));
  hw_record_free(r);
  return (hw_bytes){p, len};
}

static void reassign(const hw_id *case_id, const char *worker)
{
  char hex[HW_ID_HEX_LEN + 1];
  hw_id_to_hex(case_id, hex);
  CHECK_EQ(ADMIN("reassign", "--case", hex, "--worker", worker, "--coordinator", "chipo"), 0);
}

/* The key prefix `devices` lists device c by, and its status there. */
static void device_of(hw_client *c, char prefix[17])
{
  uint8_t key[32];
  hw_client_device_key(c, key);
  for (int i = 0; i < 8; i++)
    snprintf(prefix + 2 * i, 3, "%02x", key[i]);
}

static bool status_is(hw_client *c, const char *status)
{
  char prefix[17], line[128];
  device_of(c, prefix);
  snprintf(line, sizeof line, "device %s worker=", prefix);
  CHECK_EQ(ADMIN("devices"), 0);
  const char *p = strstr(out, line), *end = p ? strchr(p, '\n') : NULL;
  snprintf(line, sizeof line, " status=%s", status);
  return end && (size_t)(end - p) > strlen(line) &&
         memcmp(end - strlen(line), line, strlen(line)) == 0;
}

/* A case given to abdi and taken away again while his device was offline:
 * neither that device, nor a new one of his, nor a raw pull from the start
 * gets it, with the later holder's edit; given back, it arrives whole. */
static void given_and_taken(void)
{
  hw_client *x = hw_test_enrol(&srv, "x1", "xena", "worker");
  hw_client *a1 = hw_test_enrol(&srv, "a1", "abdi", "worker");
  hw_client *b = hw_test_enrol(&srv, "b1", "bruno", "worker");
  hw_client *a2;
  hw_id rec = {{0}}, cas = {{0}};
  char texts[2][128];
  hw_sync_result r;
  heard h;

  hw_test_sync_ok(a1);
  hw_test_put_text(x, &rec, &cas, "note", "xena wrote this");
  hw_test_sync_ok(x);
  reassign(&cas, "abdi");
  reassign(&cas, "bruno");
  CHECK_EQ(hw_test_sync_ok(b).pulled, 1);
  hw_test_put_text(b, &rec, &cas, "note", secret);
  hw_test_sync_ok(b);

  r = hw_test_sync_ok(a1); /* offline through both reassignments */
  CHECK_EQ(r.pulled, 0);
  CHECK(r.checksum_ok);
  CHECK_EQ(hw_test_device_records(a1), 0);
  a2 = hw_test_enrol(&srv, "a2", "abdi", "worker"); /* a new device of his */
  r = hw_test_sync_ok(a2);
  CHECK_EQ(r.pulled, 0);
  CHECK(r.checksum_ok);
  CHECK_EQ(hw_test_device_records(a2), 0);
  h = raw_pull(a1);
  CHECK(h.done == 1 && h.records == 0 && !h.secret);

  reassign(&cas, "abdi"); /* given back: now his to read */
  r = hw_test_sync_ok(a1);
  CHECK_EQ(r.pulled, 1);
  CHECK(r.checksum_ok);
  CHECK_EQ(hw_test_field_texts(a1, &rec, "note", texts, 2), 1);
  CHECK(strcmp(texts[0], secret) == 0);
  hw_client_close(x);
  hw_client_close(a1);
  hw_client_close(a2);
  hw_client_close(b);
}

/* The same for a coordinator: a case of her region's worker, moved to a
 * worker outside the region, does not reach a new device of hers (its
 * region grant and its move are both after the new device's cursor). */
static void moved_out_of_region(void)
{
  hw_client *w = hw_test_enrol(&srv, "cw1", "carol", "worker");
  hw_client *e = hw_test_enrol(&srv, "ew1", "eve", "worker");
  hw_client *k1, *k2;
  hw_id rec = {{0}}, cas = {{0}}, rec2 = {{0}}, cas2 = {{0}};
  hw_sync_result r;

  k1 = hw_test_enrol(&srv, "kc1", "kim", "coordinator");
  hw_test_put_text(w, &rec, &cas, "note", "carol wrote this");
  hw_test_put_text(w, &rec2, &cas2, "note", "carol's other case");
  hw_test_sync_ok(w);
  CHECK_EQ(ADMIN("region", "--coordinator", "kim", "--worker", "carol"), 0);
  CHECK_EQ(hw_test_sync_ok(k1).pulled, 2);
  reassign(&cas, "eve");
  CHECK_EQ(hw_test_sync_ok(e).pulled, 1);
  hw_test_put_text(e, &rec, &cas, "note", secret);
  hw_test_sync_ok(e);

  k2 = hw_test_enrol(&srv, "kc2", "kim", "coordinator");
  r = hw_test_sync_ok(k2);
  CHECK_EQ(r.pulled, 1); /* carol's other case only */
  CHECK(r.checksum_ok);
  CHECK_EQ(hw_test_device_records(k2), 1);
  r = hw_test_sync_ok(k1); /* her first device lets the moved case go */
  CHECK_EQ(r.removed, 1);
  CHECK(r.checksum_ok);
  CHECK_EQ(hw_test_device_records(k1), 1);
  hw_client_close(w);
  hw_client_close(e);
  hw_client_close(k1);
  hw_client_close(k2);
}

/* A former holder re-pushing the state it kept: accepted (it changes
 * nothing), but the acknowledgement carries no state, so not the later
 * holder's edit. */
static void former_holder_repush(void)
{
  hw_client *a = hw_test_enrol(&srv, "m1", "mina", "worker");
  hw_client *b = hw_test_enrol(&srv, "s1", "saba", "worker");
  hw_id rec = {{0}}, cas = {{0}};
  hw_bytes old;
  heard h;

  hw_test_put_text(a, &rec, &cas, "note", "mina wrote this");
  hw_test_sync_ok(a);
  old = state_of(a, &rec);
  reassign(&cas, "saba");
  CHECK_EQ(hw_test_sync_ok(b).pulled, 1);
  hw_test_put_text(b, &rec, &cas, "note", secret);
  hw_test_sync_ok(b);
  CHECK_EQ(hw_test_sync_ok(a).removed, 1);

  h = raw_push(a, &old);
  CHECK_EQ(h.acks, 1);
  CHECK_EQ(h.status, HW_ACK_ACCEPTED);
  CHECK_EQ(h.merged, 0);
  CHECK(!h.secret);
  hw_free((void *)old.p);
  hw_client_close(a);
  hw_client_close(b);
}

/* A retiring device hands in what it holds but reads nothing new: its acks
 * carry no state and its pull ends the session at once, without records; one
 * that never pulls is done after five sessions. */
static void retiring_device(void)
{
  hw_client *r1 = hw_test_enrol(&srv, "r1", "rita", "worker");
  hw_client *r2 = hw_test_enrol(&srv, "r2", "rita", "worker");
  hw_id rec = {{0}}, cas = {{0}};
  char dev[17];
  hw_bytes old;
  heard h;

  hw_test_put_text(r1, &rec, &cas, "note", "rita wrote this");
  hw_test_sync_ok(r1);
  old = state_of(r1, &rec);
  CHECK_EQ(hw_test_sync_ok(r2).pulled, 1);
  hw_test_put_text(r2, &rec, &cas, "note", secret); /* her other device */
  hw_test_sync_ok(r2);
  hw_client_close(r2);
  device_of(r1, dev);
  CHECK_EQ(ADMIN("revoke", "--device", dev, "--mode", "retire", "--coordinator", "chipo"), 0);

  for (int i = 0; i < 5; i++) {
    h = raw_push(r1, &old);
    CHECK_EQ(h.acks, 1);
    CHECK_EQ(h.status, HW_ACK_ACCEPTED);
    CHECK(h.merged == 0 && !h.secret);
  }
  CHECK(status_is(r1, "retired"));
  h = raw_push(r1, &old); /* its sixth session: done */
  CHECK(h.acks == 0 && h.errors == 1 && h.err_code == HW_CODE_RETIRED);
  CHECK(status_is(r1, "retired-done"));
  hw_free((void *)old.p);
  hw_client_close(r1);

  /* Another retired device's pull: told to wipe, no batch. */
  r1 = hw_test_enrol(&srv, "p1", "pia", "worker");
  r2 = hw_test_enrol(&srv, "p2", "pia", "worker");
  memset(&rec, 0, sizeof rec);
  memset(&cas, 0, sizeof cas);
  hw_test_put_text(r2, &rec, &cas, "note", secret);
  hw_test_sync_ok(r2);
  hw_test_sync_ok(r1);
  device_of(r1, dev);
  CHECK_EQ(ADMIN("revoke", "--device", dev, "--mode", "retire", "--coordinator", "chipo"), 0);
  h = raw_pull(r1);
  CHECK(h.batches == 0 && h.records == 0 && !h.secret);
  CHECK(h.errors == 1 && h.err_code == HW_CODE_RETIRED);
  CHECK(status_is(r1, "retired-done"));
  hw_client_close(r1);
  hw_client_close(r2);
}

/* A device pushing into a case its worker never held fills its share of
 * the quarantine (1,000 states waiting); the next state is answered BUSY:
 * stored nowhere, kept pending on the device, not held, and sent again
 * once a coordinator's decision makes room. */
static void quarantine_share(void)
{
  hw_client *g = hw_test_enrol(&srv, "gw", "gus", "worker");
  hw_client *f = hw_test_enrol(&srv, "fw", "fay", "worker");
  hw_id rec = {{0}}, cas = {{0}};
  uint64_t pending = 0, held = 0;
  hw_sync_result r;

  hw_test_put_text(g, &rec, &cas, "note", "gus's case");
  hw_test_sync_ok(g);
  hw_test_sync_ok(f);
  for (int i = 0; i < 1001; i++) {
    hw_id one = {{0}};
    hw_test_put_text(f, &one, &cas, "note", "not fay's case");
  }
  CHECK_EQ(hw_client_sync(f, 60000, NULL, NULL, &r), HW_OK);
  CHECK_EQ(r.quarantined, 1000);
  CHECK_OK(hw_client_count_pending(f, &pending, &held));
  CHECK(pending == 1 && held == 1000);
  {
    /* A coordinator rejects one of fay's states (the list shows them). */
    char id[24];
    const char *q;
    CHECK_EQ(ADMIN("quarantine"), 0);
    q = strstr(out, "reason=\"a case this worker never held\"");
    while (q && q > out && strncmp(q, "quarantine ", 11) != 0)
      q--;
    CHECK(q && sscanf(q, "quarantine %23s", id) == 1);
    CHECK_EQ(ADMIN("reject", "--id", id, "--coordinator", "chipo"), 0);
  }
  CHECK_EQ(hw_client_sync(f, 60000, NULL, NULL, &r), HW_OK);
  CHECK_EQ(r.quarantined, 1);
  CHECK_OK(hw_client_count_pending(f, &pending, &held));
  CHECK_EQ(pending, 0);
  hw_client_close(g);
  hw_client_close(f);
}

int main(int argc, char **argv)
{
  CHECK(argc == 2);
  CHECK_OK(hw_crypto_init());
  hw_test_server_start(&srv, argv[1]);
  given_and_taken();
  moved_out_of_region();
  former_holder_repush();
  retiring_device();
  quarantine_share();
  hw_test_server_stop(&srv);
  CHECK_EQ(hw_test_file_count(srv.log, secret), 0);
  hw_test_server_cleanup(&srv);
  return 0;
}
