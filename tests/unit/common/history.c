/* History interpreter and independent oracle for the merge (see history.h). */
#include "history.h"

#include <stdio.h>
#include <string.h>

#include "homeward/cbor.h"
#include "homeward/merge.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"
#include "homeward/value.h"

#define VOID_FIELD HIST_FIELDS /* index of "voided" in the oracle's field table */
#define N_ORACLE_FIELDS (HIST_FIELDS + 1)
#define WSET_WORDS (HIST_WRITES_MAX / 64)

typedef struct wset {
  uint64_t w[WSET_WORDS];
} wset;

static void wset_add(wset *s, size_t i)
{
  s->w[i / 64] |= 1ull << (i % 64);
}

static int wset_has(const wset *s, size_t i)
{
  return (int)(s->w[i / 64] >> (i % 64) & 1);
}

static void wset_union(wset *s, const wset *o)
{
  for (int i = 0; i < WSET_WORDS; i++)
    s->w[i] |= o->w[i];
}

/* The oracle's log entry for one write. */
typedef struct wlog {
  int record;
  int replica;
  uint64_t counter;
  unsigned fields;                     /* bit f: sets oracle field f */
  uint8_t value[N_ORACLE_FIELDS][256]; /* the value it set for each field */
  size_t value_len[N_ORACLE_FIELDS];
  int is_void;     /* sets "voided" to a non-null value */
  int64_t wall_ms; /* what the writer said, to check the metadata */
  const char *author;
  wset seen; /* writes to the record its writer had seen */
} wlog;

typedef struct msg {
  int from, to, record;
  hw_record *state;
  wset know; /* the oracle's knowledge travels with the state */
} msg;

struct hist {
  hw_id rid[HIST_REPLICAS];
  uint64_t counter[HIST_REPLICAS];
  hw_id rec_id[HIST_RECORDS];
  hw_id case_id;
  hw_record *state[HIST_REPLICAS][HIST_RECORDS];
  wset know[HIST_REPLICAS][HIST_RECORDS];
  wlog log[HIST_WRITES_MAX];
  size_t n_writes;
  msg queue[HIST_QUEUE_MAX];
  size_t qlen;
  size_t n_merges;
  size_t step;
  hist_snap snaps[HIST_SNAPSHOTS_MAX];
  size_t n_snaps;
};

static const char *const field_names[N_ORACLE_FIELDS] = {
    "date", "notes", "score_food", "score_care", "decision", "zz_schema2_only", HW_FIELD_VOIDED,
};

static const char kind[] = "followup";

size_t hist_n_writes(const hist *h)
{
  return h->n_writes;
}

size_t hist_n_merges(const hist *h)
{
  return h->n_merges;
}

size_t hist_n_snapshots(const hist *h)
{
  return h->n_snaps;
}

const hist_snap *hist_snapshot(const hist *h, size_t i)
{
  return &h->snaps[i];
}

hist *hist_new(void)
{
  hist *h = hw_calloc(1, sizeof *h);

  if (!h)
    return NULL;
  /* Deterministic ids so a seed replays exactly: replica i is 0x10+i... */
  for (int r = 0; r < HIST_REPLICAS; r++)
    memset(h->rid[r].b, 0x10 + r * 0x11, HW_ID_BYTES);
  for (int k = 0; k < HIST_RECORDS; k++)
    memset(h->rec_id[k].b, 0xa0 + k, HW_ID_BYTES);
  memset(h->case_id.b, 0xca, HW_ID_BYTES);
  for (int r = 0; r < HIST_REPLICAS; r++)
    for (int k = 0; k < HIST_RECORDS; k++)
      if (hw_record_new(&h->state[r][k], &h->rec_id[k], &h->case_id, kind, sizeof kind - 1,
                        r == HIST_REPLICAS - 1 ? 1 : 2)) {
        hist_free(h);
        return NULL;
      }
  return h;
}

void hist_free(hist *h)
{
  if (!h)
    return;
  for (int r = 0; r < HIST_REPLICAS; r++)
    for (int k = 0; k < HIST_RECORDS; k++)
      hw_record_free(h->state[r][k]);
  for (size_t i = 0; i < h->qlen; i++)
    hw_record_free(h->queue[i].state);
  for (size_t i = 0; i < h->n_snaps; i++)
    hw_record_free((hw_record *)h->snaps[i].state);
  hw_free(h);
}

typedef struct script {
  const uint8_t *p, *end;
} script;

static int next(script *s)
{
  return s->p < s->end ? *s->p++ : 0;
}

static void snapshot(hist *h, int r, int k)
{
  hw_record *c;

  if (h->n_snaps == HIST_SNAPSHOTS_MAX || hw_record_clone(&c, h->state[r][k]))
    return;
  h->snaps[h->n_snaps++] = (hist_snap){c, r, k, h->step};
}

/* Find the log entry of a dot (identity only: which write a pair is). */
static long find_write(const hist *h, int k, const hw_dot *d)
{
  for (size_t i = 0; i < h->n_writes; i++)
    if (h->log[i].record == k && h->log[i].counter == d->counter &&
        hw_id_cmp(&h->rid[h->log[i].replica], &d->replica) == 0)
      return (long)i;
  return -1;
}

/* Log a write the replica just made. Regular values are the bytes the test
 * encoded (`given`, indexed by oracle field); a void's value depends on the
 * vv it was made on, so it is read back from the new state. What the writer
 * had seen comes from the oracle's own knowledge. */
static const char *log_write(hist *h, int r, int k, unsigned fields, const hw_bytes *given,
                             int64_t wall_ms, const char *author)
{
  wlog *w = &h->log[h->n_writes];
  const hw_record *st = h->state[r][k];

  memset(w, 0, sizeof *w);
  w->record = k;
  w->replica = r;
  w->counter = h->counter[r];
  w->fields = fields;
  w->seen = h->know[r][k];
  w->wall_ms = wall_ms;
  w->author = author;
  for (int f = 0; f < N_ORACLE_FIELDS; f++) {
    const hw_field *fl;
    if (!(fields & 1u << f))
      continue;
    fl = hw_record_field(st, field_names[f], strlen(field_names[f]));
    if (!fl || fl->n_pairs != 1 || fl->pairs[0].value.len > sizeof w->value[f])
      return "write did not leave exactly its own value";
    if (given) {
      memcpy(w->value[f], given[f].p, given[f].len);
      w->value_len[f] = given[f].len;
    } else {
      memcpy(w->value[f], fl->pairs[0].value.p, fl->pairs[0].value.len);
      w->value_len[f] = fl->pairs[0].value.len;
    }
    if (f == VOID_FIELD)
      w->is_void = !hw_value_is_null(fl->pairs[0].value.p, fl->pairs[0].value.len);
  }
  wset_add(&h->know[r][k], h->n_writes);
  h->n_writes++;
  return NULL;
}

static const char *op_write(hist *h, script *s)
{
  int r = next(s) % HIST_REPLICAS, k = next(s) % HIST_RECORDS, mask = next(s);
  int n_fields = r == HIST_REPLICAS - 1 ? HIST_FIELDS - 1 : HIST_FIELDS; /* old schema */
  hw_field_value fv[HIST_FIELDS];
  hw_bytes given[N_ORACLE_FIELDS] = {{0}};
  uint8_t vbuf[HIST_FIELDS][64];
  unsigned fields = 0;
  size_t n = 0;
  hw_record *next_state;
  hw_write w;
  int rc;

  if (h->n_writes == HIST_WRITES_MAX)
    return NULL;
  for (int f = 0; f < n_fields; f++)
    if (mask & (1 << f))
      fields |= 1u << f;
  if (!fields)
    fields = 1u << (mask % n_fields);
  for (int f = 0; f < n_fields; f++) {
    hw_cbor_wr cw;
    char text[48];
    int tl;
    if (!(fields & 1u << f))
      continue;
    hw_cbor_wr_init_fixed(&cw, vbuf[n], sizeof vbuf[n]);
    if (f == 2 || f == 3) {
      hw_cbor_wr_uint(&cw, 1 + (h->counter[r] + (uint64_t)f) % 4); /* a CSI score */
    } else {
      tl =
          snprintf(text, sizeof text, "r%d c%llu f%d", r, (unsigned long long)h->counter[r] + 1, f);
      hw_cbor_wr_text(&cw, text, (size_t)tl);
    }
    if (hw_cbor_wr_finish(&cw))
      return "value encoding failed";
    fv[n].name.p = (const uint8_t *)field_names[f];
    fv[n].name.len = strlen(field_names[f]);
    fv[n].value.p = vbuf[n];
    fv[n].value.len = cw.len;
    given[f] = fv[n].value;
    n++;
  }
  w = (hw_write){
      .dot = {h->rid[r], h->counter[r] + 1},
      .wall_ms = 1700000000000 + (int64_t)(h->step * 7 % 1000),
      .author = {(const uint8_t *)"worker", 6},
      .schema_version = r == HIST_REPLICAS - 1 ? 1 : 2,
      .n_fields = n,
      .fields = fv,
  };
  if ((rc = hw_record_write(&next_state, h->state[r][k], &w)) != 0)
    return "local write failed";
  h->counter[r]++;
  hw_record_free(h->state[r][k]);
  h->state[r][k] = next_state;
  return log_write(h, r, k, fields, given, w.wall_ms, "worker");
}

static const char *op_void(hist *h, script *s)
{
  int r = next(s) % HIST_REPLICAS, k = next(s) % HIST_RECORDS, un = next(s) & 1;
  hw_record *next_state;
  hw_write w = {
      .dot = {h->rid[r], h->counter[r] + 1},
      .wall_ms = 1700000000000 + (int64_t)h->step,
      .author = {(const uint8_t *)"coordinator", 11},
      .schema_version = 2,
  };
  int rc;

  if (h->n_writes == HIST_WRITES_MAX)
    return NULL;
  rc = un ? hw_record_unvoid(&next_state, h->state[r][k], &w)
          : hw_record_void(&next_state, h->state[r][k], &w, "entered twice", 13);
  if (rc)
    return "void failed";
  h->counter[r]++;
  hw_record_free(h->state[r][k]);
  h->state[r][k] = next_state;
  return log_write(h, r, k, 1u << VOID_FIELD, NULL, w.wall_ms, "coordinator");
}

/* Deliver a state (and the oracle knowledge carried with it) to a replica. */
static const char *apply(hist *h, int to, int k, const hw_record *st, const wset *know)
{
  hw_record *merged;
  hw_merge_info info;
  int rc = hw_merge(&merged, h->state[to][k], st, &info);

  if (rc)
    return "merge failed on states produced by a valid history";
  if (hw_record_check(merged))
    return "merge produced a state that breaks an invariant";
  h->n_merges++;
  hw_record_free(h->state[to][k]);
  h->state[to][k] = merged;
  wset_union(&h->know[to][k], know);
  return NULL;
}

/* A state crosses the network as its canonical encoding: what arrives is
 * decoded from bytes, and must encode back to the same bytes. */
static const char *wire_copy(const hw_record *st, hw_record **out)
{
  uint8_t *a = NULL, *b = NULL;
  size_t alen, blen;
  const char *err = NULL;

  *out = NULL;
  if (hw_record_encode(st, &a, &alen))
    return "encoding a state failed";
  if (hw_record_decode(a, alen, out, NULL))
    err = "decoding an encoded state failed";
  else if (hw_record_encode(*out, &b, &blen) || blen != alen || memcmp(a, b, alen) != 0)
    err = "a state did not survive encode, decode, encode byte for byte";
  else if (!hw_record_equal(st, *out))
    err = "a decoded state differs from the one encoded";
  hw_free(a);
  hw_free(b);
  if (err) {
    hw_record_free(*out);
    *out = NULL;
  }
  return err;
}

static const char *op_send(hist *h, script *s)
{
  int from = next(s) % HIST_REPLICAS, to = next(s) % HIST_REPLICAS, k = next(s) % HIST_RECORDS;
  const char *err;
  msg *m;

  if (from == to || h->qlen == HIST_QUEUE_MAX)
    return NULL;
  m = &h->queue[h->qlen];
  if ((err = wire_copy(h->state[from][k], &m->state)) != NULL)
    return err;
  m->from = from;
  m->to = to;
  m->record = k;
  m->know = h->know[from][k];
  h->qlen++;
  return NULL;
}

static void drop_msg(hist *h, size_t i)
{
  hw_record_free(h->queue[i].state);
  h->queue[i] = h->queue[--h->qlen];
}

static const char *op_deliver(hist *h, script *s, int keep)
{
  size_t i;
  const char *err;

  if (h->qlen == 0)
    return NULL;
  i = (size_t)next(s) % h->qlen; /* any queued message: deliveries reorder */
  err = apply(h, h->queue[i].to, h->queue[i].record, h->queue[i].state, &h->queue[i].know);
  if (!keep)
    drop_msg(h, i); /* keep: the same message is delivered again later */
  return err;
}

/* A crash loses every message in flight to or from the replica; its own
 * state is durable. Otherwise an immediate two-way exchange with the hub. */
static const char *op_crash_or_hub(hist *h, script *s)
{
  int r = next(s) % HIST_REPLICAS, k = next(s) % HIST_RECORDS, crash = next(s) & 1;
  const char *err;

  if (crash) {
    for (size_t i = h->qlen; i-- > 0;)
      if (h->queue[i].from == r || h->queue[i].to == r)
        drop_msg(h, i);
    return NULL;
  }
  if (r == 0)
    return NULL;
  if ((err = apply(h, 0, k, h->state[r][k], &h->know[r][k])))
    return err;
  return apply(h, r, k, h->state[0][k], &h->know[0][k]);
}

static const char *final_exchange(hist *h)
{
  const char *err;

  for (int k = 0; k < HIST_RECORDS; k++) {
    for (int r = 1; r < HIST_REPLICAS; r++)
      if ((err = apply(h, 0, k, h->state[r][k], &h->know[r][k])))
        return err;
    for (int r = 1; r < HIST_REPLICAS; r++)
      if ((err = apply(h, r, k, h->state[0][k], &h->know[0][k])))
        return err;
  }
  return NULL;
}

/* The oracle: the writes to (k, f) that no other write to (k, f) has seen. */
static int survives(const hist *h, int k, int f, size_t w)
{
  if (h->log[w].record != k || !(h->log[w].fields & 1u << f))
    return 0;
  for (size_t o = 0; o < h->n_writes; o++)
    if (o != w && h->log[o].record == k && (h->log[o].fields & 1u << f) &&
        wset_has(&h->log[o].seen, w))
      return 0;
  return 1;
}

static const char *check_record(const hist *h, int k)
{
  const hw_record *st = h->state[0][k];
  hw_void_status vs;
  wset alive = {{0}};
  int want_voided = 0, want_disputed = 0;

  for (int r = 1; r < HIST_REPLICAS; r++)
    if (!hw_record_equal(st, h->state[r][k]))
      return "replicas did not converge after a full exchange";
  /* No field the history never wrote, and every write's metadata is what
   * its writer gave. */
  for (size_t i = 0; i < st->n_fields; i++) {
    int known = 0;
    for (int f = 0; f < N_ORACLE_FIELDS; f++)
      known |= st->fields[i].name.len == strlen(field_names[f]) &&
               memcmp(st->fields[i].name.p, field_names[f], st->fields[i].name.len) == 0;
    if (!known)
      return "a field appeared that no write set";
  }
  for (size_t i = 0; i < st->n_writes; i++) {
    long w = find_write(h, k, &st->writes[i].dot);
    if (w < 0)
      return "a write appeared that no replica made";
    if (st->writes[i].wall_ms != h->log[w].wall_ms ||
        st->writes[i].author.len != strlen(h->log[w].author) ||
        memcmp(st->writes[i].author.p, h->log[w].author, st->writes[i].author.len))
      return "a write's time or author differs from what its writer gave";
  }
  for (int f = 0; f < N_ORACLE_FIELDS; f++) {
    const hw_field *fl = hw_record_field(st, field_names[f], strlen(field_names[f]));
    size_t n_expected = 0;
    for (size_t w = 0; w < h->n_writes; w++)
      if (survives(h, k, f, w)) {
        n_expected++;
        wset_add(&alive, w);
      }
    if ((fl ? fl->n_pairs : 0) != n_expected)
      return n_expected > (fl ? fl->n_pairs : 0)
                 ? "a value no write had overwritten was lost"
                 : "a value kept although a later write had seen it";
    for (uint32_t p = 0; fl && p < fl->n_pairs; p++) {
      long w = find_write(h, k, &st->writes[fl->pairs[p].w].dot);
      if (w < 0 || !survives(h, k, f, (size_t)w))
        return "a field holds a write the oracle says was overwritten";
      if (fl->pairs[p].value.len != h->log[w].value_len[f] ||
          memcmp(fl->pairs[p].value.p, h->log[w].value[f], h->log[w].value_len[f]))
        return "a field holds another value than its write set";
    }
  }
  /* Void status from the oracle: voided when a surviving void write is
   * non-null; disputed when some surviving write was not seen by it. */
  for (size_t v = 0; v < h->n_writes; v++) {
    if (!wset_has(&alive, v) || !(h->log[v].fields & 1u << VOID_FIELD) || !h->log[v].is_void)
      continue;
    want_voided = 1;
    for (size_t w = 0; w < h->n_writes; w++)
      if (w != v && wset_has(&alive, w) && !wset_has(&h->log[v].seen, w))
        want_disputed = 1;
  }
  if (hw_record_void_status(st, &vs))
    return "void status failed";
  if (vs.voided != want_voided || vs.disputed != want_disputed)
    return "void status differs from the oracle's";
  return NULL;
}

const char *hist_run(hist *h, const uint8_t *bytes, size_t len)
{
  script s = {bytes, bytes + len};
  const char *err = NULL;

  while (!err && s.p < s.end) {
    int op = next(&s) % 10;
    h->step++;
    switch (op) {
    case 0:
    case 1:
    case 2:
      err = op_write(h, &s);
      break;
    case 3:
      err = op_void(h, &s);
      break;
    case 4:
    case 5:
      err = op_send(h, &s);
      break;
    case 6:
      err = op_deliver(h, &s, 0);
      break;
    case 7:
      err = op_deliver(h, &s, 1);
      break;
    case 8:
      if (h->qlen)
        drop_msg(h, (size_t)next(&s) % h->qlen);
      break;
    default:
      err = op_crash_or_hub(h, &s);
      break;
    }
    if (!err && (h->step & 3) == 0)
      snapshot(h, (int)(h->step / 4 % HIST_REPLICAS), (int)(h->step / 8 % HIST_RECORDS));
  }
  if (!err)
    err = final_exchange(h);
  for (int k = 0; !err && k < HIST_RECORDS; k++)
    err = check_record(h, k);
  return err;
}
