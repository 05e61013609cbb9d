/* The server database: schema, settings, sequence, records, accepted dots
 * and their lineage, the audit chain (append, verify, and detection of a
 * changed or missing entry), quarantine, and the storage thread's
 * transaction operations on it. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "homeward/checksum.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"
#include "sdb-int.h"

static sqlite3 *open_db(const char *path)
{
  sqlite3 *db = NULL;
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  return db;
}

static hw_id id_of(int x)
{
  hw_id id;
  memset(id.b, x, sizeof id.b);
  return id;
}

static void on_dot(uint64_t counter, const hw_id *record, const uint8_t digest[static 32], void *ud)
{
  uint64_t *seen = ud;
  (void)record;
  (void)digest;
  seen[seen[0] + 1] = counter;
  seen[0]++;
}

static int count_rec(uint64_t seq, const hw_id *case_id, const void *state, size_t len, void *ud)
{
  (void)seq, (void)case_id, (void)state, (void)len;
  (*(long *)ud)++;
  return 0;
}

typedef struct decided_seen {
  size_t n;
  uint64_t seq[8];
  hw_id rec[8];
  uint8_t item[8][HW_HASH_BYTES];
} decided_seen;

static int on_decided(uint64_t seq, const hw_id *record, const uint8_t item[HW_HASH_BYTES],
                      void *ud)
{
  decided_seen *d = ud;
  CHECK(d->n < 8);
  d->seq[d->n] = seq;
  memcpy(d->item[d->n], item, HW_HASH_BYTES);
  d->rec[d->n++] = *record;
  return 0;
}

static int count_q(const hw_sdb_quarantined *q, void *ud)
{
  (void)q;
  (*(long *)ud)++;
  return 0;
}

typedef struct loaded {
  long n;
  uint64_t seq[8];
  hw_id cas[8];
  size_t len[8];
  bool none[8]; /* passed without case or state (skipped) */
} loaded;

static int take_rec(uint64_t seq, const hw_id *case_id, const void *state, size_t len, void *ud)
{
  loaded *l = ud;
  CHECK(l->n < 8);
  CHECK((case_id == NULL) == (state == NULL));
  l->none[l->n] = case_id == NULL;
  if (case_id)
    l->cas[l->n] = *case_id, l->len[l->n] = len;
  l->seq[l->n++] = seq;
  return 0;
}

static bool odd_seq(uint64_t seq, void *ud)
{
  (void)ud;
  return seq % 2 == 1;
}

/* The rows of a load, read both ways: whole, and by seq first with the
 * odd seqs skipped (their rows unread): the same rows in the same order,
 * each read one with the same case and state. */
static loaded load(hw_sdb *s, const char *worker, uint64_t after, size_t max)
{
  loaded l = {0}, k = {0};
  CHECK_OK(hw_sdb_load_after(s, worker, after, max, NULL, take_rec, &l));
  CHECK_OK(hw_sdb_load_after(s, worker, after, max, odd_seq, take_rec, &k));
  CHECK_EQ(k.n, l.n);
  for (long i = 0; i < l.n; i++) {
    CHECK(!l.none[i] && k.seq[i] == l.seq[i]);
    CHECK(k.none[i] == (l.seq[i] % 2 == 1));
    CHECK(k.none[i] || (hw_id_cmp(&k.cas[i], &l.cas[i]) == 0 && k.len[i] == l.len[i]));
  }
  return l;
}

/* An empty case note: a state a case move can decode. */
static void put_note(hw_sdb *s, int rec, int cs, uint64_t seq)
{
  hw_id r = id_of(rec), c = id_of(cs);
  hw_record *st = NULL;
  uint8_t *b = NULL;
  size_t n = 0;
  CHECK_OK(hw_record_new(&st, &r, &c, "case_note", 9, 1));
  CHECK_OK(hw_record_encode(st, &b, &n));
  CHECK_OK(hw_sdb_record_put(s, &r, &c, (const uint8_t *)"case_note", 9, seq, b, n));
  hw_free(b);
  hw_record_free(st);
}

/* A worker's changes follow its cases: records put before the case was
 * anyone's, a case given to another worker, the cursor and the limit. */
static void test_load_after(hw_sdb *s)
{
  hw_id c1 = id_of(0x51), c2 = id_of(0x52);
  loaded l;

  put_note(s, 0x61, 0x51, 101); /* case 0x51: nobody's yet */
  CHECK_EQ(load(s, "wa", 0, 10).n, 0);
  CHECK_OK(hw_sdb_assign_set(s, &c1, "wa", 102));
  put_note(s, 0x62, 0x51, 103);
  CHECK_OK(hw_sdb_assign_set(s, &c2, "wb", 104));
  put_note(s, 0x63, 0x52, 105);
  put_note(s, 0x64, 0x51, 106);
  l = load(s, "wa", 0, 10);
  CHECK_EQ(l.n, 3);
  CHECK(l.seq[0] == 101 && l.seq[1] == 103 && l.seq[2] == 106);
  l = load(s, "wa", 101, 1); /* after the cursor, at most one */
  CHECK(l.n == 1 && l.seq[0] == 103);
  CHECK_EQ(load(s, "wb", 0, 10).n, 1);
  put_note(s, 0x62, 0x51, 107); /* a record changed again moves to the end */
  l = load(s, "wa", 103, 10);
  CHECK(l.n == 2 && l.seq[0] == 106 && l.seq[1] == 107);
  /* Given to wb: all its records go with it, and wa is remembered as a
   * holder before (its late edits land); nobody else is. */
  {
    bool before = true;
    CHECK_OK(hw_sdb_held_before(s, &c1, "wa", &before));
    CHECK(!before); /* the holder now is not asked about: it holds it */
  }
  CHECK_OK(hw_sdb_assign_set(s, &c1, "wb", 108));
  {
    bool before = false;
    CHECK_OK(hw_sdb_held_before(s, &c1, "wa", &before));
    CHECK(before);
    CHECK_OK(hw_sdb_held_before(s, &c1, "wc", &before));
    CHECK(!before);
  }
  CHECK_EQ(load(s, "wa", 0, 10).n, 0);
  l = load(s, "wb", 0, 10);
  CHECK_EQ(l.n, 4);
  CHECK(l.seq[0] == 101 && l.seq[1] == 105 && l.seq[3] == 107);
}

/* A store made by the first schema gains the decisions table and the
 * records' worker (filled from the assignments) when opened. */
/* The record and history tables as schemas 1 and 2 made them (keyed by
 * record id, WITHOUT ROWID, no worker), holding what the current ones hold. */
static const char old_layout[] =
    "CREATE TABLE old_r(id BLOB PRIMARY KEY, case_id BLOB NOT NULL, kind TEXT NOT NULL,"
    "  seq INTEGER NOT NULL, state BLOB NOT NULL) WITHOUT ROWID;"
    "INSERT INTO old_r SELECT id, case_id, kind, seq, state FROM srv_records;"
    "DROP TABLE srv_records; ALTER TABLE old_r RENAME TO srv_records;"
    "CREATE INDEX srv_records_seq ON srv_records(seq);"
    "CREATE INDEX srv_records_case ON srv_records(case_id, seq);"
    "CREATE TABLE old_h(record_id BLOB NOT NULL, replica BLOB NOT NULL, counter INTEGER NOT NULL,"
    "  fields BLOB NOT NULL, PRIMARY KEY(record_id, replica, counter)) WITHOUT ROWID;"
    "INSERT INTO old_h SELECT record_id, replica, counter, fields FROM srv_history;"
    "DROP TABLE srv_history; ALTER TABLE old_h RENAME TO srv_history;";

static long count_sql(sqlite3 *db, const char *q)
{
  sqlite3_stmt *st = NULL;
  long n = -1;
  CHECK(sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK);
  if (sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

static void test_schema_upgrade(const char *dir)
{
  char path[256];
  sqlite3 *db;
  hw_sdb *s = NULL;
  hw_sdb_quarantined q;
  int64_t id;
  uint8_t dk[HW_DEVICE_KEY_BYTES] = {0};
  hw_id r = id_of(7);

  snprintf(path, sizeof path, "%s/v1.db", dir);
  db = open_db(path);
  CHECK_OK(hw_sdb_open(&s, db));
  {
    hw_id c1 = id_of(0x51), r1 = id_of(0x61);
    hw_dot d = {id_of(9), 1};
    CHECK_OK(hw_sdb_assign_set(s, &c1, "wa", 1));
    put_note(s, 0x61, 0x51, 2);
    CHECK_OK(hw_sdb_history_put(s, &r1, &d, (const uint8_t *)"\xa0", 1));
  }
  hw_sdb_close(s);
  CHECK(sqlite3_exec(db, "DROP INDEX srv_records_worker;", NULL, NULL, NULL) == SQLITE_OK);
  CHECK(sqlite3_exec(db, old_layout, NULL, NULL, NULL) == SQLITE_OK);
  CHECK(sqlite3_exec(db,
                     "DROP TABLE srv_quarantine_decided; DROP INDEX srv_quarantine_device;"
                     "DELETE FROM srv_schema; INSERT INTO srv_schema VALUES (1)",
                     NULL, NULL, NULL) == SQLITE_OK);
  CHECK_OK(hw_sdb_open(&s, db));
  CHECK_EQ(load(s, "wa", 0, 10).n, 1); /* the worker, filled */
  CHECK_EQ(count_sql(db, "SELECT count(*) FROM srv_history"), 1);
  CHECK_EQ(count_sql(db, "SELECT count(*) FROM pragma_table_info('srv_records')"
                         " WHERE name = 'seq' AND pk = 1"), 1); /* the new layout */
  CHECK_OK(hw_sdb_quarantine_put(s, &r, dk, sizeof dk, "held", (const uint8_t *)"\xa0", 1, 1, &id));
  CHECK_OK(hw_sdb_quarantine_decide(s, id, "rejected", "root/x", 2, 3));
  CHECK_OK(hw_sdb_quarantine_get(s, id, &q));
  CHECK(strcmp(q.decision, "rejected") == 0);
  hw_free(q.state);
  hw_sdb_close(s);
  sqlite3_close(db);
  unlink(path);
}

/* The XOR of the items of the records of the cases assigned to `worker`,
 * computed afresh from the tables. */
static void fresh_wsum(sqlite3 *db, const char *worker, uint8_t out[HW_HASH_BYTES])
{
  sqlite3_stmt *st;
  memset(out, 0, HW_HASH_BYTES);
  CHECK(sqlite3_prepare_v2(db,
                           "SELECT r.id, r.state FROM srv_records r JOIN srv_assign a"
                           " ON a.case_id = r.case_id WHERE a.worker = ?1",
                           -1, &st, NULL) == SQLITE_OK);
  sqlite3_bind_text(st, 1, worker, -1, SQLITE_STATIC);
  while (sqlite3_step(st) == SQLITE_ROW) {
    hw_id id;
    uint8_t item[HW_HASH_BYTES];
    memcpy(id.b, sqlite3_column_blob(st, 0), HW_ID_BYTES);
    hw_checksum_item(item, &id, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));
    hw_checksum_xor(out, item);
  }
  sqlite3_finalize(st);
}

/* A worker's caseload checksum follows its records through the in-memory
 * slots: kept up to date in memory, written at a flush, dropped by an
 * invalidation (a rollback), and right when more workers than slots change. */
static void test_wsum_cache(const char *dir)
{
  char path[256], w[16];
  sqlite3 *db;
  hw_sdb *s = NULL;
  uint8_t kept[HW_HASH_BYTES], fresh[HW_HASH_BYTES], item[HW_HASH_BYTES];

  snprintf(path, sizeof path, "%s/wsum.db", dir);
  db = open_db(path);
  CHECK_OK(hw_sdb_open(&s, db));
  CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
  /* Twelve workers (more than the slots), a case each, two notes a case. */
  for (int k = 0; k < 12; k++) {
    hw_id c = id_of(0x70 + k);
    snprintf(w, sizeof w, "w%d", k);
    CHECK_OK(hw_sdb_assign_set(s, &c, w, (uint64_t)(1000 + k)));
    for (int n = 0; n < 2; n++) {
      hw_id r = id_of(0xa0 + 2 * k + n);
      hw_record *st = NULL;
      uint8_t *b = NULL;
      size_t len = 0;
      CHECK_OK(hw_record_new(&st, &r, &c, "case_note", 9, 1));
      CHECK_OK(hw_record_encode(st, &b, &len));
      CHECK_OK(hw_sdb_record_put(s, &r, &c, (const uint8_t *)"case_note", 9,
                                 (uint64_t)(2000 + 2 * k + n), b, len));
      hw_checksum_item(item, &r, b, len);
      CHECK_OK(hw_sdb_wsum_update(s, &c, item));
      hw_free(b);
      hw_record_free(st);
    }
  }
  for (int k = 0; k < 12; k++) {
    snprintf(w, sizeof w, "w%d", k);
    CHECK_OK(hw_sdb_wsum_get(s, w, kept));
    fresh_wsum(db, w, fresh);
    CHECK(memcmp(kept, fresh, sizeof kept) == 0);
  }
  CHECK_OK(hw_sdb_flush(s));
  CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
  /* Written: a fresh handle reads the same. */
  hw_sdb_close(s);
  CHECK_OK(hw_sdb_open(&s, db));
  CHECK_OK(hw_sdb_wsum_get(s, "w3", kept));
  fresh_wsum(db, "w3", fresh);
  CHECK(memcmp(kept, fresh, sizeof kept) == 0);
  /* A change dropped by an invalidation is gone. */
  {
    hw_id c = id_of(0x73), r = id_of(0xa0 + 6);
    uint8_t x[1] = {0xa0};
    hw_checksum_item(item, &r, x, 1);
    CHECK_OK(hw_sdb_wsum_update(s, &c, item));
    CHECK_OK(hw_sdb_wsum_get(s, "w3", kept));
    CHECK(memcmp(kept, fresh, sizeof kept) != 0);
    hw_sdb_invalidate(s);
    CHECK_OK(hw_sdb_wsum_get(s, "w3", kept));
    CHECK(memcmp(kept, fresh, sizeof kept) == 0);
  }
  hw_sdb_close(s);
  sqlite3_close(db);
  unlink(path);
}

/* The assignment changes that concern a worker (to it or from it), after a
 * sequence number, in order, at most `max`: against a model of the log over
 * random assignments and reassignments among three workers. */
#define EV_N 600

typedef struct ev {
  uint64_t seq;
  int c_case, from, to; /* from -1: a first assignment */
} ev;

typedef struct ev_got {
  uint64_t seq[EV_N];
  size_t n;
} ev_got;

static int got_ev(uint64_t seq, const hw_id *case_id, const char *from, const char *to, void *ud)
{
  ev_got *g = ud;
  (void)case_id, (void)from, (void)to;
  CHECK(g->n < EV_N);
  g->seq[g->n++] = seq;
  return 0;
}

static void test_events_after(const char *dir)
{
  static const char *const wk[3] = {"wa", "wb", "wc"};
  static ev log[EV_N];
  int owner[40];
  char path[256];
  sqlite3 *db;
  hw_sdb *s = NULL;
  hw_test_rng rng;
  size_t n = 0;

  hw_test_rng_init(&rng, hw_test_seed());
  snprintf(path, sizeof path, "%s/events.db", dir);
  db = open_db(path);
  CHECK_OK(hw_sdb_open(&s, db));
  for (int k = 0; k < 40; k++)
    owner[k] = -1;
  for (uint64_t seq = 10; n < EV_N; seq += 1 + hw_test_rng_below(&rng, 3)) {
    int k = (int)hw_test_rng_below(&rng, 40), to = (int)hw_test_rng_below(&rng, 3);
    hw_id c = id_of(0x100 + k);
    if (owner[k] == to)
      continue;
    CHECK_OK(hw_sdb_assign_set(s, &c, wk[to], seq));
    log[n++] = (ev){seq, k, owner[k], to};
    owner[k] = to;
  }
  for (int w = 0; w < 4; w++) {
    const char *name = w < 3 ? wk[w] : "nobody";
    for (int t = 0; t < 40; t++) {
      uint64_t after = t == 0 ? 0 : log[hw_test_rng_below(&rng, EV_N)].seq;
      size_t max = t % 3 == 0 ? 1 : t % 3 == 1 ? 7 : EV_N;
      ev_got g = {.n = 0};
      size_t want = 0;
      CHECK_OK(hw_sdb_events_after(s, name, after, max, got_ev, &g));
      for (size_t i = 0; i < EV_N && want < max; i++)
        if (log[i].seq > after && (log[i].from == w || log[i].to == w)) {
          CHECK(want < g.n);
          CHECK_EQ(g.seq[want], log[i].seq);
          want++;
        }
      CHECK_EQ(g.n, want);
    }
  }
  hw_sdb_close(s);
  sqlite3_close(db);
  unlink(path);
}

/* A database of schema 3 as first built (records keyed by id, their worker
 * moved by triggers) is rebuilt when opened: the records in sequence order,
 * each with its case's worker, the triggers gone, the lineage marks there;
 * states and later assignments as they should be. */
static void test_worker_upgrade(const char *dir)
{
  char path[256];
  sqlite3 *db;
  hw_sdb *s = NULL;
  hw_id c1 = id_of(0x51);

  snprintf(path, sizeof path, "%s/v2.db", dir);
  db = open_db(path);
  CHECK_OK(hw_sdb_open(&s, db));
  CHECK_OK(hw_sdb_assign_set(s, &c1, "wa", 1));
  put_note(s, 0x61, 0x51, 2);
  put_note(s, 0x62, 0x52, 3); /* nobody's case */
  hw_sdb_close(s);
  CHECK(sqlite3_exec(db, "DROP INDEX srv_records_worker;", NULL, NULL, NULL) == SQLITE_OK);
  CHECK(sqlite3_exec(db, old_layout, NULL, NULL, NULL) == SQLITE_OK);
  /* The triggers schema 3 had at first, naming the table the rebuild
   * renames; and no lineage marks (schema 5). */
  CHECK(sqlite3_exec(db,
                     "ALTER TABLE srv_records ADD COLUMN worker TEXT;"
                     "CREATE TRIGGER srv_assign_worker_in AFTER INSERT ON srv_assign BEGIN"
                     "  UPDATE srv_records SET worker = NEW.worker WHERE case_id = NEW.case_id; END;"
                     "CREATE TRIGGER srv_assign_worker_up AFTER UPDATE OF worker ON srv_assign BEGIN"
                     "  UPDATE srv_records SET worker = NEW.worker WHERE case_id = NEW.case_id; END;"
                     "CREATE TRIGGER srv_assign_worker_out AFTER DELETE ON srv_assign BEGIN"
                     "  UPDATE srv_records SET worker = NULL WHERE case_id = OLD.case_id; END;"
                     "DROP TABLE srv_lineage_mark;"
                     "DELETE FROM srv_schema; INSERT INTO srv_schema VALUES (3)",
                     NULL, NULL, NULL) == SQLITE_OK);
  CHECK_OK(hw_sdb_open(&s, db));
  {
    loaded l = load(s, "wa", 0, 10);
    hw_id r2 = id_of(0x62);
    uint8_t *state = NULL;
    size_t len = 0;
    CHECK(l.n == 1 && l.seq[0] == 2);
    CHECK_EQ(count_sql(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'"), 0);
    CHECK_EQ(count_sql(db, "SELECT count(*) FROM srv_lineage_mark"), 0);
    CHECK_OK(hw_sdb_record_get(s, &r2, &state, &len));
    CHECK(len > 0);
    hw_free(state);
  }
  /* A case given afterwards moves its records. */
  {
    hw_id c2 = id_of(0x52);
    CHECK_OK(hw_sdb_assign_set(s, &c2, "wa", 4));
    CHECK_EQ(load(s, "wa", 0, 10).n, 2);
  }
  hw_sdb_close(s);
  sqlite3_close(db);
  unlink(path);
}

int main(void)
{
  char dir[] = "/tmp/hw-sdb-XXXXXX", path[256];
  sqlite3 *db;
  hw_sdb *s = NULL, *s2 = NULL;
  uint8_t *val;
  size_t len;
  uint64_t seq;
  hw_id r1 = id_of(1), r2 = id_of(2), rep = id_of(9), c1 = id_of(0xc1), got;
  uint8_t dg[32], dg2[32];

  CHECK_OK(hw_crypto_init());
  CHECK(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/server.db", dir);
  db = open_db(path);
  CHECK_OK(hw_sdb_open(&s, db));
  CHECK_OK(hw_sdb_open(&s2, db)); /* the schema step is idempotent */
  hw_sdb_close(s2);

  /* settings */
  CHECK_ERR(hw_sdb_meta_get(s, "epoch", &val, &len), HW_ENOENT);
  CHECK_OK(hw_sdb_meta_put(s, "epoch", "abcd", 4));
  CHECK_OK(hw_sdb_meta_get(s, "epoch", &val, &len));
  CHECK(len == 4 && memcmp(val, "abcd", 4) == 0);
  hw_free(val);

  /* sequence */
  CHECK_OK(hw_sdb_next_seq(s, &seq));
  CHECK_EQ(seq, 1);
  CHECK_OK(hw_sdb_next_seq(s, &seq));
  CHECK_EQ(seq, 2);

  /* records */
  CHECK_ERR(hw_sdb_record_get(s, &r1, &val, &len), HW_ENOENT);
  CHECK_OK(hw_sdb_record_put(s, &r1, &c1, (const uint8_t *)"followup", 8, 2,
                             (const uint8_t *)"\x81\x01", 2));
  CHECK_OK(hw_sdb_record_get(s, &r1, &val, &len));
  CHECK(len == 2 && val[0] == 0x81);
  hw_free(val);

  /* records after a sequence number, in order, with paging */
  {
    uint64_t last;
    int more;
    long seen = 0;
    hw_id r5 = id_of(5);
    CHECK_OK(
        hw_sdb_record_put(s, &r5, &c1, (const uint8_t *)"note", 4, 7, (const uint8_t *)"\x02", 1));
    CHECK_OK(hw_sdb_records_after(s, 0, 1, count_rec, &seen, &last, &more));
    CHECK(seen == 1 && last == 2 && more == 1);
    CHECK_OK(hw_sdb_records_after(s, last, 10, count_rec, &seen, &last, &more));
    CHECK(seen == 2 && last == 7 && more == 0);
    CHECK_OK(hw_sdb_records_after(s, 7, 10, count_rec, &seen, &last, &more));
    CHECK(seen == 2 && last == 7 && more == 0);
  }

  /* dots and lineage: the server's lineage equals one folded locally */
  {
    hw_lineage mine, theirs;
    uint64_t seen[16] = {0};
    size_t n;
    int more;
    hw_lineage_init(&mine);
    for (uint64_t c = 1; c <= 6; c++) {
      hw_dot d = {rep, c};
      memset(dg, (int)c, sizeof dg);
      /* inserted out of order: 2, 1, 4, 3, 6, 5 */
      d.counter = c % 2 ? c + 1 : c - 1;
      memset(dg, (int)d.counter, sizeof dg);
      CHECK_OK(hw_sdb_dot_put(s, &d, d.counter % 2 ? &r1 : &r2, dg));
    }
    for (uint64_t c = 1; c <= 4; c++) {
      memset(dg, (int)c, sizeof dg);
      CHECK_OK(hw_lineage_add(&mine, c, c % 2 ? &r1 : &r2, dg));
    }
    CHECK_OK(hw_sdb_lineage(s, &rep, 4, true, &theirs));
    CHECK(theirs.counter == 4 && memcmp(mine.digest, theirs.digest, 32) == 0);
    {
      hw_dot d = {rep, 3};
      memset(dg, 0x77, sizeof dg);
      CHECK_ERR(hw_sdb_dot_put(s, &d, &r1, dg), HW_EEXIST); /* one dot, one write */
      CHECK_OK(hw_sdb_dot_get(s, &d, &got, dg2));
      CHECK(hw_id_cmp(&got, &r1) == 0 && dg2[0] == 3);
      d.counter = 99;
      CHECK_ERR(hw_sdb_dot_get(s, &d, &got, dg2), HW_ENOENT);
    }
    CHECK_OK(hw_sdb_dots_after(s, &rep, 2, 3, on_dot, seen, &n, &more));
    CHECK(n == 3 && more == 1 && seen[1] == 3 && seen[2] == 4 && seen[3] == 5);
    seen[0] = 0;
    CHECK_OK(hw_sdb_dots_after(s, &rep, 5, 3, on_dot, seen, &n, &more));
    CHECK(n == 1 && more == 0 && seen[1] == 6);

    /* A lineage mark: later folds start from it (a false mark shows it is
     * read), a fold below it ignores it, and a dot accepted at or below
     * it drops it. */
    {
      hw_lineage full6, got6, fake = theirs, lg;
      hw_id rep2 = id_of(0x2b);
      hw_dot d7 = {rep2, 7}, d2 = {rep2, 2};
      CHECK_OK(hw_sdb_lineage(s, &rep, 6, true, &full6));
      CHECK_OK(hw_sdb_lineage_mark(s, &rep, &theirs)); /* the true mark at 4 */
      CHECK_OK(hw_sdb_lineage(s, &rep, 6, true, &got6));
      CHECK(got6.counter == 6 && memcmp(got6.digest, full6.digest, 32) == 0);
      fake.digest[0] ^= 1;
      CHECK_OK(hw_sdb_lineage_mark(s, &rep, &fake));
      CHECK_OK(hw_sdb_lineage(s, &rep, 6, true, &lg));
      CHECK(memcmp(lg.digest, full6.digest, 32) != 0); /* folded on from the mark */
      CHECK_OK(hw_sdb_lineage(s, &rep, 3, true, &lg));    /* below the mark: from the start */
      CHECK(lg.counter == 3);
      CHECK_OK(hw_sdb_lineage(s, &rep, 6, false, &lg)); /* told not to use it */
      CHECK(memcmp(lg.digest, full6.digest, 32) == 0);
      /* Another replica's dots leave this mark alone; this replica's dot 2
       * (below the mark) would drop it, but the dot exists: use a new
       * replica for the drop. */
      memset(dg, 7, sizeof dg);
      CHECK_OK(hw_sdb_dot_put(s, &d7, &r1, dg));
      CHECK_OK(hw_sdb_lineage(s, &rep, 6, true, &lg));
      CHECK(memcmp(lg.digest, full6.digest, 32) != 0);
      CHECK_OK(hw_sdb_lineage_mark(s, &rep2, &(hw_lineage){7, {0}})); /* a false one */
      memset(dg, 2, sizeof dg);
      CHECK_OK(hw_sdb_dot_put(s, &d2, &r1, dg)); /* accepted below it: dropped */
      CHECK_OK(hw_sdb_lineage(s, &rep2, 7, true, &lg));
      {
        hw_lineage want;
        uint8_t g2[32], g7[32];
        memset(g2, 2, sizeof g2);
        memset(g7, 7, sizeof g7);
        hw_lineage_init(&want);
        CHECK_OK(hw_lineage_add(&want, 2, &r1, g2));
        CHECK_OK(hw_lineage_add(&want, 7, &r1, g7));
        CHECK(lg.counter == 7 && memcmp(lg.digest, want.digest, 32) == 0);
      }
      CHECK_OK(hw_sdb_lineage_mark(s, &rep, &fake));
      CHECK_OK(hw_sdb_lineage_unmark(s, &rep)); /* gone: the fold starts at 0 */
      CHECK_OK(hw_sdb_lineage(s, &rep, 6, true, &lg));
      CHECK(memcmp(lg.digest, full6.digest, 32) == 0);
      CHECK_OK(hw_sdb_lineage_mark(s, &rep, &theirs)); /* the true one back */
    }
  }

  /* audit chain: append, verify, then detect a changed and a missing entry */
  {
    uint8_t head[32], head2[32];
    uint64_t aseq, n, bad;
    for (int i = 0; i < 5; i++) {
      char e[16];
      int l = snprintf(e, sizeof e, "entry-%d", i);
      CHECK_OK(hw_sdb_audit_append(s, (const uint8_t *)e, (size_t)l, &aseq, head));
      CHECK_EQ(aseq, (uint64_t)i + 1);
    }
    CHECK_OK(hw_sdb_audit_head(s, &aseq, head2));
    CHECK(aseq == 5 && memcmp(head, head2, 32) == 0);
    CHECK_OK(hw_sdb_audit_verify(s, &n, &bad));
    CHECK_EQ(n, 5);
    CHECK(sqlite3_exec(db, "UPDATE srv_audit SET entry = x'00' WHERE seq = 3", NULL, NULL, NULL) ==
          SQLITE_OK);
    CHECK_ERR(hw_sdb_audit_verify(s, &n, &bad), HW_ECORRUPT);
    CHECK_EQ(bad, 3);
    CHECK(sqlite3_exec(db, "UPDATE srv_audit SET entry = CAST('entry-2' AS BLOB) WHERE seq = 3",
                       NULL, NULL, NULL) == SQLITE_OK);
    CHECK_OK(hw_sdb_audit_verify(s, &n, &bad));
    CHECK(sqlite3_exec(db, "DELETE FROM srv_audit WHERE seq = 2", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_ERR(hw_sdb_audit_verify(s, &n, &bad), HW_ECORRUPT);
    CHECK_EQ(bad, 2);
  }

  /* quarantine */
  {
    int64_t qid;
    uint8_t dk[HW_DEVICE_KEY_BYTES], other[HW_DEVICE_KEY_BYTES];
    int64_t q2, q3;
    hw_sdb_quarantined q;
    long n = 0;
    decided_seen seen = {0};
    CHECK_OK(hw_sdb_quarantine_put(s, &r2, (const uint8_t *)"key", 3, "contradiction",
                                   (const uint8_t *)"\xa0", 1, 1767000000000, &qid));
    CHECK(qid > 0);
    /* A key of the wrong size is reported as damage, never read past. */
    CHECK_ERR(hw_sdb_quarantine_get(s, qid, &q), HW_ECORRUPT);
    memset(dk, 0xd1, sizeof dk);
    memset(other, 0xd2, sizeof other);
    CHECK_OK(hw_sdb_quarantine_put(s, &r1, dk, sizeof dk, "a case this worker never held",
                                   (const uint8_t *)"\xa1\x01\x02", 3, 1767000000001, &q2));
    CHECK_OK(hw_sdb_quarantine_put(s, &r2, dk, sizeof dk, "unknown kind",
                                   (const uint8_t *)"\xa0", 1, 1767000000002, &q3));
    CHECK_OK(hw_sdb_quarantine_get(s, q2, &q));
    CHECK(q.has_device && memcmp(q.device_key, dk, sizeof dk) == 0 && q.len == 3 &&
          memcmp(q.state, "\xa1\x01\x02", 3) == 0 && hw_id_cmp(&q.record, &r1) == 0 &&
          strcmp(q.reason, "a case this worker never held") == 0 && !q.decision[0]);
    hw_free(q.state);
    CHECK_ERR(hw_sdb_quarantine_get(s, 999, &q), HW_ENOENT);
    CHECK_NULL(q.state);
    /* Decisions: one each, numbered; a device hears only its own, in order. */
    CHECK_OK(hw_sdb_quarantine_decide(s, q3, "rejected", "root/chipo", 1767000000010, 40));
    CHECK_OK(hw_sdb_quarantine_decide(s, q2, "released", "root/chipo", 1767000000011, 41));
    CHECK_ERR(hw_sdb_quarantine_decide(s, q2, "rejected", "root/chipo", 1767000000012, 42),
              HW_EEXIST);
    CHECK_OK(hw_sdb_quarantine_get(s, q2, &q));
    CHECK(strcmp(q.decision, "released") == 0 && strcmp(q.decided_by, "root/chipo") == 0 &&
          q.decided_ms == 1767000000011);
    hw_free(q.state);
    CHECK_OK(hw_sdb_decisions_after(s, dk, 0, 10, on_decided, &seen));
    CHECK(seen.n == 2 && seen.seq[0] == 40 && seen.seq[1] == 41);
    CHECK(hw_id_cmp(&seen.rec[0], &r2) == 0 && hw_id_cmp(&seen.rec[1], &r1) == 0);
    {
      uint8_t want[HW_HASH_BYTES]; /* the decided state's caseload item */
      hw_checksum_item(want, &r1, (const uint8_t *)"\xa1\x01\x02", 3);
      CHECK(memcmp(seen.item[1], want, HW_HASH_BYTES) == 0);
    }
    seen.n = 0;
    CHECK_OK(hw_sdb_decisions_after(s, dk, 40, 10, on_decided, &seen));
    CHECK(seen.n == 1 && seen.seq[0] == 41);
    seen.n = 0;
    CHECK_OK(hw_sdb_decisions_after(s, dk, 0, 1, on_decided, &seen));
    CHECK_EQ(seen.n, 1);
    seen.n = 0;
    CHECK_OK(hw_sdb_decisions_after(s, other, 0, 10, on_decided, &seen));
    CHECK_EQ(seen.n, 0);
    /* The list stops at the damaged first row, as a walk should. */
    CHECK_ERR(hw_sdb_quarantine_list(s, 0, false, 100, count_q, &n), HW_ECORRUPT);
    CHECK(sqlite3_exec(db, "DELETE FROM srv_quarantine WHERE length(device_key) = 3", NULL, NULL,
                       NULL) == SQLITE_OK);
    CHECK_OK(hw_sdb_quarantine_list(s, 0, false, 100, count_q, &n));
    CHECK_EQ(n, 2);
    n = 0; /* both are decided: none waits */
    CHECK_OK(hw_sdb_quarantine_list(s, 0, true, 100, count_q, &n));
    CHECK_EQ(n, 0);
    n = 0; /* paging: above the first, at most one */
    CHECK_OK(hw_sdb_quarantine_list(s, q2, false, 1, count_q, &n));
    CHECK_EQ(n, 1);
  }

  /* devices, replica binding, invitations */
  {
    uint8_t k1[32], k2[32], th[32], th2[32];
    hw_sdb_device dv;
    hw_id *reps = NULL, ra = id_of(0x41), rb = id_of(0x42);
    size_t n;
    memset(k1, 1, 32), memset(k2, 2, 32), memset(th, 7, 32), memset(th2, 8, 32);
    CHECK_ERR(hw_sdb_device_get(s, k1, &dv), HW_ENOENT);
    CHECK_OK(hw_sdb_device_put(s, k1, "amina", "worker", 1000));
    CHECK_ERR(hw_sdb_device_put(s, k1, "amina", "worker", 1000), HW_EEXIST);
    CHECK_OK(hw_sdb_device_get(s, k1, &dv));
    CHECK(strcmp(dv.worker, "amina") == 0 && strcmp(dv.status, "active") == 0);
    CHECK_OK(hw_sdb_device_set_status(s, k1, "retired", 2000));
    CHECK_OK(hw_sdb_device_get(s, k1, &dv));
    CHECK(strcmp(dv.status, "retired") == 0);
    CHECK_ERR(hw_sdb_device_set_status(s, k2, "lost", 2000), HW_ENOENT);

    CHECK_OK(hw_sdb_replica_bind(s, &ra, k1, NULL, 1000));
    CHECK_OK(hw_sdb_replica_bind(s, &ra, k1, NULL, 1001));            /* again, same device */
    CHECK_ERR(hw_sdb_replica_bind(s, &ra, k2, NULL, 1002), HW_EPERM); /* another device */
    CHECK_OK(hw_sdb_replica_bind(s, &rb, k1, &ra, 1003));
    CHECK_OK(hw_sdb_replicas_of(s, k1, &reps, 4, &n));
    CHECK(n == 2 && hw_id_cmp(&reps[0], &ra) == 0 && hw_id_cmp(&reps[1], &rb) == 0);
    hw_free(reps);
    CHECK_ERR(hw_sdb_replicas_of(s, k1, &reps, 1, &n), HW_ELIMIT);
    CHECK(reps == NULL && n == 0);
    /* A device whose store was copied or restored 100 times more. */
    for (int i = 0; i < 100; i++) {
      hw_id r = id_of(0x50);
      r.b[1] = (uint8_t)(i + 1);
      CHECK_OK(hw_sdb_replica_bind(s, &r, k1, NULL, 1004 + i));
    }
    CHECK_OK(hw_sdb_replicas_of(s, k1, &reps, 4096, &n));
    CHECK(n == 102 && hw_id_cmp(&reps[0], &ra) == 0 && reps[101].b[1] == 100);
    hw_free(reps);

    CHECK_OK(hw_sdb_invitation_put(s, th, "joseph", "worker", 5000));
    CHECK_ERR(hw_sdb_invitation_use(s, th2, k2, 1000, &dv), HW_EAUTH); /* unknown token */
    CHECK_ERR(hw_sdb_invitation_use(s, th, k2, 5000, &dv), HW_EAUTH);  /* expired */
    CHECK_OK(hw_sdb_invitation_use(s, th, k2, 1000, &dv));
    CHECK(strcmp(dv.worker, "joseph") == 0 && strcmp(dv.status, "new") == 0);
    CHECK_OK(hw_sdb_invitation_use(s, th, k2, 1500, &dv)); /* repeat, same key: fine */
    CHECK(strcmp(dv.status, "new") != 0);
    CHECK_ERR(hw_sdb_invitation_use(s, th, k1, 1500, &dv), HW_EAUTH); /* another key */
  }

  /* transaction ops: a job rolled back to its savepoint leaves nothing */
  {
    const hw_storage_ops *o = &hw_sdb_storage_ops;
    hw_id r3 = id_of(3);
    CHECK_OK(o->begin(s));
    CHECK_OK(o->savepoint(s));
    CHECK_OK(
        hw_sdb_record_put(s, &r3, &c1, (const uint8_t *)"note", 4, 9, (const uint8_t *)"\x01", 1));
    CHECK_OK(o->rollback_to(s));
    CHECK_OK(o->savepoint(s));
    CHECK_OK(hw_sdb_meta_put(s, "kept", "1", 1));
    CHECK_OK(o->release(s));
    CHECK_OK(o->commit(s));
    CHECK_ERR(hw_sdb_record_get(s, &r3, &val, &len), HW_ENOENT);
    CHECK_OK(hw_sdb_meta_get(s, "kept", &val, &len));
    hw_free(val);
  }

  test_schema_upgrade(dir);
  test_worker_upgrade(dir);
  test_wsum_cache(dir);
  test_events_after(dir);
  test_load_after(s);

  /* a schema from a newer program is refused */
  hw_sdb_close(s);
  CHECK(sqlite3_exec(db, "INSERT INTO srv_schema VALUES (99)", NULL, NULL, NULL) == SQLITE_OK);
  CHECK_ERR(hw_sdb_open(&s, db), HW_EVERSION);
  CHECK_NULL(s);
  sqlite3_close(db);
  unlink(path);
  rmdir(dir);
  puts("server database: ok");
  return 0;
}
