/* Accepting pushed record states on the server: every decision of
 * architecture §6's table, with what it stores, quarantines and audits.
 * Every push is decided twice, plainly and with a prep worked out before
 * (as the server's prep thread does), and both must write and answer the
 * same. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accept-int.h"
#include "audit-entry-int.h"
#include "check.h"
#include "homeward/checksum.h"
#include "homeward/mem.h"
#include "homeward/merge.h"
#include "homeward/proto/msg.h"
#include "homeward/record-codec.h"

static hw_id dev_a, dev_b, rec1, rec2, case1, case2;
static uint8_t value_key[HW_HASH_BYTES];
static sqlite3 *db;
static hw_sdb *sdb;

static hw_record *put(const hw_record *base, const hw_id *r, uint64_t c, const char *field,
                      const char *text)
{
  uint8_t v[64];
  hw_cbor_wr w;
  hw_record *out = NULL;
  hw_field_value fv;
  hw_write wr = {.dot = {*r, c},
                 .wall_ms = 1767000000000 + (int64_t)c,
                 .author = {(const uint8_t *)"amina", 5},
                 .n_fields = 1,
                 .fields = &fv};

  hw_cbor_wr_init_fixed(&w, v, sizeof v);
  hw_cbor_wr_text(&w, text, strlen(text));
  CHECK_OK(hw_cbor_wr_finish(&w));
  fv = (hw_field_value){{(const uint8_t *)field, strlen(field)}, {v, w.len}};
  CHECK_OK(hw_record_write(&out, base, &wr));
  return out;
}

/* One write of `n` fields `<prefix><i>`, each a text of ~15 KB. */
static hw_record *put_big(const hw_record *base, const hw_id *r, uint64_t c, char prefix, int n)
{
  enum { TEXT = 15000 };
  static uint8_t v[64][TEXT + 8];
  static char names[64][8];
  hw_field_value fv[64];
  hw_record *out = NULL;
  hw_write wr = {.dot = {*r, c},
                 .wall_ms = 1767000000000 + (int64_t)c,
                 .author = {(const uint8_t *)"amina", 5},
                 .n_fields = (size_t)n,
                 .fields = fv};
  char *text = malloc(TEXT);

  CHECK(text != NULL && n <= 64);
  memset(text, 'x', TEXT);
  for (int i = 0; i < n; i++) {
    hw_cbor_wr w;
    hw_cbor_wr_init_fixed(&w, v[i], sizeof v[i]);
    hw_cbor_wr_text(&w, text, TEXT);
    CHECK_OK(hw_cbor_wr_finish(&w));
    snprintf(names[i], sizeof names[i], "%c%02d", prefix, i);
    fv[i] = (hw_field_value){{(const uint8_t *)names[i], strlen(names[i])}, {v[i], w.len}};
  }
  CHECK_OK(hw_record_write(&out, base, &wr));
  free(text);
  return out;
}

static hw_record *fresh(const hw_id *id, const hw_id *cs, const char *kind)
{
  hw_record *r = NULL;
  CHECK_OK(hw_record_new(&r, id, cs, kind, strlen(kind), 1));
  return r;
}

typedef struct policy_state {
  hw_case_access access;
  int reject_value;
  int late_edits; /* late_edit hook calls */
} policy_state;

static bool kind_known(const hw_bytes *kind, void *ud)
{
  (void)ud;
  return !(kind->len == 7 && memcmp(kind->p, "mystery", 7) == 0);
}

static int validate(const hw_bytes *kind, uint32_t schema, const hw_record *base,
                    const hw_field_value *values, size_t n, char *msg, size_t msg_len, void *ud)
{
  policy_state *ps = ud;
  (void)kind, (void)schema, (void)base;
  for (size_t i = 0; i < n; i++)
    if (ps->reject_value && values[i].name.len == 5 && memcmp(values[i].name.p, "score", 5) == 0) {
      snprintf(msg, msg_len, "score: must be an integer 1-4");
      return HW_EVALIDATE;
    }
  return HW_OK;
}

static hw_case_access case_access(const hw_id *case_id, bool created_here, void *ud)
{
  policy_state *ps = ud;
  (void)case_id, (void)created_here;
  return ps->access;
}

static int late_edit(const hw_id *case_id, void *ud)
{
  policy_state *ps = ud;
  (void)case_id;
  ps->late_edits++;
  return HW_OK;
}

static policy_state pstate;
static const hw_accept_policy policy = {kind_known, validate, case_access, late_edit, &pstate};

/* What the last decision wrote: its audit entry, the newest history row, the
 * newest stored state, the newest quarantined one and the caseload
 * checksums, concatenated (free). */
static uint8_t *last_written(size_t *len)
{
  static const char *const sql[] = {
      "SELECT entry FROM srv_audit ORDER BY seq DESC LIMIT 1",
      "SELECT fields FROM srv_history ORDER BY id DESC LIMIT 1",
      "SELECT state FROM srv_records ORDER BY seq DESC LIMIT 1",
      "SELECT state || reason FROM srv_quarantine ORDER BY id DESC LIMIT 1",
      "SELECT group_concat(worker || hex(sum)) FROM (SELECT * FROM srv_wsum ORDER BY worker)"};
  uint8_t *out = NULL;

  *len = 0;
  for (size_t i = 0; i < sizeof sql / sizeof *sql; i++) {
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, sql[i], -1, &st, NULL) == SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
      size_t n = (size_t)sqlite3_column_bytes(st, 0);
      CHECK((out = realloc(out, *len + n + 1)) != NULL);
      if (n)
        memcpy(out + *len, sqlite3_column_blob(st, 0), n);
      *len += n;
    }
    sqlite3_finalize(st);
  }
  return out;
}

static void same_result(const hw_accept_result *a, const hw_accept_result *b)
{
  CHECK_EQ(a->decision, b->decision);
  CHECK_EQ(a->seq, b->seq);
  CHECK_EQ(a->audit_seq, b->audit_seq);
  CHECK_EQ(a->quarantine_id, b->quarantine_id);
  CHECK_EQ(a->code, b->code);
  CHECK(strcmp(hw_accept_reason(a), hw_accept_reason(b)) == 0);
  CHECK_EQ(a->merged_len, b->merged_len);
  CHECK(a->merged_len == 0 || memcmp(a->merged, b->merged, a->merged_len) == 0);
}

/* Pushes come from device "K", with `own` its replica id. */
static hw_accept_ctx ctx(const hw_id *own, bool recovering)
{
  return (hw_accept_ctx){.db = sdb,
                         .policy = &policy,
                         .own = own,
                         .n_own = 1,
                         .recovering = recovering,
                         .device_key = {(const uint8_t *)"K", 1},
                         .actor = {(const uint8_t *)"amina", 5},
                         .now_ms = 1767000009999,
                         .value_key = value_key};
}

/* Push `r` as device `own` and return the result (the decision is written). */
static hw_accept_result push(const hw_record *r, const hw_id *own, bool recovering)
{
  hw_accept_ctx cx = ctx(own, recovering);
  hw_accept_result res, plain;
  hw_accept_prep prep;
  uint8_t *bytes, *w_plain, *w_prep;
  size_t len, n_plain, n_prep;
  int late_edits = pstate.late_edits;

  CHECK_OK(hw_record_encode(r, &bytes, &len));
  CHECK_OK(hw_sdb_storage_ops.begin(sdb));
  CHECK_OK(hw_sdb_storage_ops.savepoint(sdb));
  CHECK_OK(hw_accept_record(&cx, bytes, len, &plain));
  CHECK_OK(hw_sdb_flush(sdb)); /* the caseload checksums, written */
  w_plain = last_written(&n_plain);
  CHECK_OK(hw_sdb_storage_ops.rollback_to(sdb));
  hw_sdb_invalidate(sdb); /* as the server's storage operations do */
  pstate.late_edits = late_edits;
  CHECK_OK(hw_sdb_storage_ops.savepoint(sdb));
  hw_accept_prepare(&policy, value_key, bytes, len, &prep);
  CHECK_OK(hw_accept_prepared(&cx, bytes, len, &prep, &res));
  CHECK_NULL(prep.in); /* taken */
  hw_accept_prep_clear(&prep);
  CHECK_OK(hw_sdb_flush(sdb));
  w_prep = last_written(&n_prep);
  same_result(&plain, &res);
  CHECK_EQ(n_plain, n_prep);
  CHECK(n_plain == 0 || memcmp(w_plain, w_prep, n_plain) == 0);
  CHECK_OK(hw_sdb_storage_ops.release(sdb));
  CHECK_OK(hw_sdb_storage_ops.commit(sdb));
  hw_accept_result_clear(&plain);
  free(w_plain);
  free(w_prep);
  hw_free(bytes);
  return res;
}

static long count(const char *sql)
{
  sqlite3_stmt *st;
  long n;
  CHECK(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
  CHECK(sqlite3_step(st) == SQLITE_ROW);
  n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

static hw_record *stored(const hw_id *id)
{
  uint8_t *b;
  size_t len;
  hw_record *r = NULL;
  CHECK_OK(hw_sdb_record_get(sdb, id, &b, &len));
  CHECK_OK(hw_record_decode(b, len, &r, NULL));
  hw_free(b);
  return r;
}

/* A device's text in a report line cannot start a line or end a field. */
static void test_printable(void)
{
  hw_cbor_wr w;
  hw_bytes none = {NULL, 0};
  char out[700];
  static const char hostile[] = "no\nquarantine 9 record=00 waiting reason=\"forged\\";

  hw_cbor_wr_init(&w, 4096);
  hw_audit_admin_encode(&w, "quarantine-reject", 1767225600123, &none, "root/chipo", hostile);
  CHECK_OK(hw_cbor_wr_finish(&w));
  CHECK_OK(hw_audit_entry_describe(w.buf, w.len, out, sizeof out));
  hw_cbor_wr_close(&w);
  CHECK(strchr(out, '\n') == NULL && strchr(out, '"') == NULL && strchr(out, '\\') == NULL);
  CHECK(strstr(out, "no?quarantine 9 record=00 waiting reason=?forged?") != NULL);
  /* The time as people read it, then the exact milliseconds. */
  CHECK(strstr(out, " time=2026-01-01T00:00:00Z time_ms=1767225600123 ") != NULL);
  CHECK(strstr(out, "device=") == NULL); /* an administrator's act: no device */
  /* A device's entry names it by its key's first 16 hex digits, as
   * `devices` lists it: two devices of one worker are told apart. */
  {
    uint8_t key[32];
    hw_bytes kb = {key, sizeof key};
    for (int i = 0; i < 32; i++)
      key[i] = (uint8_t)(0xa0 + i);
    hw_cbor_wr_init(&w, 4096);
    hw_audit_admin_encode(&w, "enrolled", 1767225600123, &kb, "amina", "role=worker");
    CHECK_OK(hw_cbor_wr_finish(&w));
    CHECK_OK(hw_audit_entry_describe(w.buf, w.len, out, sizeof out));
    hw_cbor_wr_close(&w);
    CHECK(strstr(out, "actor=amina device=a0a1a2a3a4a5a6a7 fields=0") != NULL);
  }
}

int main(void)
{
  char dir[] = "/tmp/hw-accept-XXXXXX", path[256];
  hw_accept_result res;
  hw_record *e1, *a1, *a2, *b1, *s, *x;

  CHECK_OK(hw_crypto_init());
  memset(dev_a.b, 0xaa, 16), memset(dev_b.b, 0xbb, 16), memset(rec1.b, 1, 16);
  memset(rec2.b, 2, 16), memset(case1.b, 0xc1, 16), memset(case2.b, 0xc2, 16);
  memset(value_key, 0x5a, sizeof value_key);
  CHECK(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/s.db", dir);
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK_OK(hw_sdb_open(&sdb, db));
  /* The cases are held: every change also moves a caseload checksum. */
  CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
  CHECK_OK(hw_sdb_assign_set(sdb, &case1, "amina", 1000000));
  CHECK_OK(hw_sdb_assign_set(sdb, &case2, "amina", 1000001));
  CHECK_OK(hw_sdb_flush(sdb));
  CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);

  /* a new record: fast-forward, stored with seq 1, its dot and value kept */
  e1 = fresh(&rec1, &case1, "followup");
  a1 = put(e1, &dev_a, 1, "notes", "first visit");
  res = push(a1, &dev_a, false);
  CHECK_EQ(res.decision, HW_DEC_FAST_FORWARD);
  CHECK_EQ(res.seq, 1);
  CHECK_NULL(res.merged); /* the server holds exactly what was sent */
  CHECK_EQ(count("SELECT count(*) FROM srv_dots"), 1);
  CHECK_EQ(count("SELECT count(*) FROM srv_history"), 1);
  hw_accept_result_clear(&res);

  /* the same push again (a lost acknowledgement): duplicate, nothing new */
  res = push(a1, &dev_a, false);
  CHECK_EQ(res.decision, HW_DEC_DUPLICATE);
  CHECK_EQ(res.seq, 0);
  hw_accept_result_clear(&res);

  /* device B edits another field concurrently with A's second edit */
  a2 = put(a1, &dev_a, 2, "notes", "mother at home");
  b1 = put(a1, &dev_b, 1, "school", "enrolled");
  res = push(a2, &dev_a, false);
  CHECK_EQ(res.decision, HW_DEC_FAST_FORWARD);
  hw_accept_result_clear(&res);
  res = push(b1, &dev_b, false);
  CHECK_EQ(res.decision, HW_DEC_MERGED);
  CHECK(res.merged != NULL); /* B learns A's edit from the acknowledgement */
  CHECK_EQ(res.seq, 3);
  hw_accept_result_clear(&res);
  s = stored(&rec1);
  CHECK(hw_record_field(s, "notes", 5) && hw_record_field(s, "school", 6));
  hw_record_free(s);

  /* the same field concurrently: conflict, both kept */
  {
    hw_record *a3 = put(a2, &dev_a, 3, "school", "dropped out");
    res = push(a3, &dev_a, false);
    CHECK_EQ(res.decision, HW_DEC_CONFLICT);
    hw_accept_result_clear(&res);
    s = stored(&rec1);
    CHECK_EQ(hw_record_field(s, "school", 6)->n_pairs, 2);
    hw_record_free(s);
    hw_record_free(a3);
  }

  /* a restored copy of A reuses dot A:3 for another value: the whole state
   * is quarantined, the stored record is untouched */
  {
    long before = count("SELECT count(*) FROM srv_quarantine");
    hw_record *copy = put(a2, &dev_a, 3, "notes", "something else");
    hw_record *pre = stored(&rec1), *post;
    res = push(copy, &dev_a, false);
    CHECK_EQ(res.decision, HW_DEC_QUARANTINED);
    CHECK_ERR(res.code, HW_EDIVERGE);
    CHECK_EQ(count("SELECT count(*) FROM srv_quarantine"), before + 1);
    post = stored(&rec1);
    CHECK(hw_record_equal(pre, post));
    hw_accept_result_clear(&res);
    hw_record_free(copy), hw_record_free(pre), hw_record_free(post);
  }

  /* a write of a replica the server never accepted, relayed by B */
  {
    hw_id other;
    memset(other.b, 0xee, 16);
    x = put(b1, &other, 1, "notes", "from nowhere");
    res = push(x, &dev_b, false);
    CHECK_EQ(res.decision, HW_DEC_QUARANTINED);
    CHECK_ERR(res.code, HW_EPERM);
    hw_accept_result_clear(&res);
    /* after a server restore the same is recovered */
    res = push(x, &dev_b, true);
    CHECK_EQ(res.decision, HW_DEC_RECOVERED);
    hw_accept_result_clear(&res);
    hw_record_free(x);
  }

  /* a state whose vv claims writes of another replica the server never
   * accepted is quarantined, not merged (it could erase values) */
  {
    hw_record *hostile = NULL, *cur = stored(&rec1);
    hw_record parts = *b1;
    hw_dot e[2];
    long q = count("SELECT count(*) FROM srv_quarantine");
    CHECK_EQ(b1->vv.n, 2);
    e[0] = b1->vv.e[0];
    e[1] = b1->vv.e[1];
    e[0].counter = 1000; /* dev_a sorts first: A:1000 */
    parts.vv.e = e;
    memset(&parts.arena, 0, sizeof parts.arena);
    CHECK_OK(hw_record_build(&hostile, &parts));
    res = push(hostile, &dev_b, false);
    CHECK_EQ(res.decision, HW_DEC_QUARANTINED);
    CHECK_ERR(res.code, HW_EPERM);
    CHECK_EQ(count("SELECT count(*) FROM srv_quarantine"), q + 1);
    hw_accept_result_clear(&res);
    {
      hw_record *after = stored(&rec1);
      CHECK(hw_record_equal(cur, after));
      hw_record_free(after);
    }
    hw_record_free(hostile), hw_record_free(cur);
  }

  /* a state that has seen every stored write but leaves out a value the
   * stored record holds, with no write of its own (a conflict "resolved"
   * by dropping a side): it would change the record under the name of a
   * duplicate, so it is quarantined whole and the record kept as it is */
  {
    hw_record *pre = stored(&rec1), *cut = stored(&rec1), *hostile = NULL, *after;
    hw_field *school = NULL;
    uint32_t gone;
    long q = count("SELECT count(*) FROM srv_quarantine");
    for (size_t f = 0; f < cut->n_fields; f++)
      if (cut->fields[f].name.len == 6 && memcmp(cut->fields[f].name.p, "school", 6) == 0)
        school = &cut->fields[f];
    CHECK(school && school->n_pairs == 2);
    gone = school->pairs[1].w; /* its write: used by this pair alone */
    school->n_pairs = 1;
    memmove(&cut->writes[gone], &cut->writes[gone + 1],
            (cut->n_writes - gone - 1) * sizeof *cut->writes);
    cut->n_writes--;
    for (size_t f = 0; f < cut->n_fields; f++)
      for (uint32_t i = 0; i < cut->fields[f].n_pairs; i++)
        cut->fields[f].pairs[i].w -= cut->fields[f].pairs[i].w > gone;
    {
      hw_record parts = *cut;
      memset(&parts.arena, 0, sizeof parts.arena);
      CHECK_OK(hw_record_build(&hostile, &parts));
    }
    res = push(hostile, &dev_b, false);
    CHECK_EQ(res.decision, HW_DEC_QUARANTINED);
    CHECK_ERR(res.code, HW_EDIVERGE);
    CHECK_EQ(count("SELECT count(*) FROM srv_quarantine"), q + 1);
    after = stored(&rec1);
    CHECK(hw_record_equal(pre, after));
    hw_accept_result_clear(&res);
    hw_record_free(pre), hw_record_free(cut), hw_record_free(hostile), hw_record_free(after);
  }

  /* an unknown kind, a value that breaks its form, a case never held */
  {
    hw_record *m0 = fresh(&rec2, &case2, "mystery"), *m = put(m0, &dev_a, 10, "a", "b");
    res = push(m, &dev_a, false);
    CHECK_EQ(res.decision, HW_DEC_QUARANTINED);
    hw_accept_result_clear(&res);
    hw_record_free(m0), hw_record_free(m);
    m0 = fresh(&rec2, &case2, "followup");
    m = put(m0, &dev_a, 11, "score", "seven");
    pstate.reject_value = 1;
    res = push(m, &dev_a, false);
    CHECK_EQ(res.decision, HW_DEC_QUARANTINED);
    CHECK_ERR(res.code, HW_EVALIDATE);
    CHECK(strstr(hw_accept_reason(&res), "score") != NULL);
    hw_accept_result_clear(&res);
    pstate.reject_value = 0;
    pstate.access = HW_CASE_NEVER_HELD;
    res = push(m, &dev_a, false);
    CHECK_EQ(res.decision, HW_DEC_QUARANTINED);
    CHECK_ERR(res.code, HW_EPERM);
    hw_accept_result_clear(&res);
    CHECK_EQ(pstate.late_edits, 0); /* quarantined: nothing to flag */
    pstate.access = HW_CASE_HELD_BEFORE;
    res = push(m, &dev_a, false);
    CHECK_EQ(res.decision, HW_DEC_LATE_EDIT);
    hw_accept_result_clear(&res);
    CHECK_EQ(pstate.late_edits, 1);
    pstate.access = HW_CASE_HELD;
    hw_record_free(m0), hw_record_free(m);
  }

  /* Two concurrent writes each within the 1 MiB state limit whose merge is
   * not: the second is quarantined whole (its values kept for a
   * coordinator), the stored record untouched, and the push goes on. */
  {
    hw_id rec3;
    hw_record *base, *big_a, *big_b, *pre, *post;
    long q = count("SELECT count(*) FROM srv_quarantine");
    memset(rec3.b, 3, 16);
    base = fresh(&rec3, &case1, "followup");
    big_a = put_big(base, &dev_a, 20, 'a', 40);
    big_b = put_big(base, &dev_b, 20, 'b', 40);
    res = push(big_a, &dev_a, false);
    CHECK_EQ(res.decision, HW_DEC_FAST_FORWARD);
    hw_accept_result_clear(&res);
    pre = stored(&rec3);
    res = push(big_b, &dev_b, false);
    CHECK_EQ(res.decision, HW_DEC_QUARANTINED);
    CHECK_ERR(res.code, HW_ELIMIT);
    CHECK_EQ(count("SELECT count(*) FROM srv_quarantine"), q + 1);
    post = stored(&rec3);
    CHECK(hw_record_equal(pre, post));
    hw_accept_result_clear(&res);
    hw_record_free(base), hw_record_free(big_a), hw_record_free(big_b);
    hw_record_free(pre), hw_record_free(post);
  }

  /* unreadable bytes: refused, nothing written */
  {
    long audits = count("SELECT count(*) FROM srv_audit");
    hw_accept_ctx cx = {.db = sdb, .own = &dev_a, .n_own = 1, .value_key = value_key};
    static const uint8_t junk[] = {0x85, 0x01, 0x02};
    CHECK_OK(hw_accept_record(&cx, junk, sizeof junk, &res));
    CHECK_EQ(res.decision, HW_DEC_REFUSED);
    CHECK(res.code != 0 && hw_accept_reason(&res)[0] != 0);
    CHECK_EQ(count("SELECT count(*) FROM srv_audit"), audits);
  }

  /* every decision above was audited, and the chain verifies */
  {
    uint64_t n, bad;
    CHECK_EQ(count("SELECT count(*) FROM srv_audit"), 16);
    CHECK_OK(hw_sdb_audit_verify(sdb, &n, &bad));
    CHECK_EQ(n, 16);
  }

  /* One device's states waiting in quarantine are capped: past the cap a
   * state that would wait too is refused with BUSY (the device keeps it and
   * sends it again later) and nothing is stored; a decision makes room. */
  {
    long waiting = count("SELECT count(*) FROM srv_quarantine WHERE device_key = X'4b'");
    hw_id rid = {{0}};
    uint8_t *bytes;
    size_t len;
    pstate.access = HW_CASE_NEVER_HELD;
    CHECK(waiting > 0);
    hw_accept_ctx cx = ctx(&dev_a, false);
    CHECK_OK(hw_sdb_storage_ops.begin(sdb)); /* one transaction: one sync, not 1,000 */
    for (long i = waiting; i <= (long)HW_QUARANTINE_WAITING_MAX; i++) {
      hw_record *m0, *m;
      memcpy(rid.b, &i, sizeof i);
      rid.b[15] = 0x77;
      m0 = fresh(&rid, &case2, "followup");
      m = put(m0, &dev_a, 100 + (uint64_t)i, "notes", "never held");
      CHECK_OK(hw_record_encode(m, &bytes, &len));
      CHECK_OK(hw_accept_record(&cx, bytes, len, &res));
      if (i < (long)HW_QUARANTINE_WAITING_MAX) {
        CHECK_EQ(res.decision, HW_DEC_QUARANTINED);
      } else {
        CHECK_EQ(res.decision, HW_DEC_REFUSED);
        CHECK_EQ(res.code, HW_CODE_BUSY);
        CHECK_EQ(count("SELECT count(*) FROM srv_quarantine"), (long)HW_QUARANTINE_WAITING_MAX);
        CHECK(sqlite3_exec(db,
                           "INSERT INTO srv_quarantine_decided(qid, seq, decision, actor, time_ms)"
                           " VALUES (1, 1, 'reject', 'chipo', 0)",
                           NULL, NULL, NULL) == SQLITE_OK);
        hw_accept_result_clear(&res);
        CHECK_OK(hw_accept_record(&cx, bytes, len, &res));
        CHECK_EQ(res.decision, HW_DEC_QUARANTINED);
      }
      hw_accept_result_clear(&res);
      hw_free(bytes);
      hw_record_free(m0), hw_record_free(m);
    }
    CHECK_OK(hw_sdb_storage_ops.commit(sdb));
    pstate.access = HW_CASE_HELD;
  }
  hw_record_free(e1), hw_record_free(a1), hw_record_free(a2), hw_record_free(b1);
  hw_sdb_close(sdb);
  sqlite3_close(db);
  unlink(path);
  rmdir(dir);
  puts("accept: ok");
  test_printable();
  return 0;
}
