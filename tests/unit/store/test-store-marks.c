/* The record marks and the state checksum kept by the store (format 2), and
 * the migration of a format-1 store: marks stored, listed and changed; the
 * sum always equal to the XOR of every state's item, through puts, updates
 * and deletes; an old store opened gets its items and unknown marks, once. */
#include <sqlite3.h>

#include "homeward/checksum.h"
#include "store-test.h"

#define N_RECS 40

typedef struct seen {
  uint8_t sum[HW_HASH_BYTES];
  int n;
  uint32_t marks[N_RECS];
  int hits[N_RECS];
} seen;

static uint8_t state_of(int k, int gen, uint8_t *b, size_t len)
{
  st_row_bytes(b, len, k, gen);
  return b[0];
}

/* Odd records come with their item hash computed by the caller (as a pulled
 * batch does), even ones without: check_sum holds either way. */
static void put_rec(hw_store *st, int k, int gen, uint32_t marks)
{
  uint8_t b[300], item[HW_HASH_BYTES];
  hw_dot d = {st_id(900), (uint64_t)(gen + 1)};
  hw_store_rec r = {
      .id = st_id((uint64_t)k + 1),
      .case_id = st_id(100 + (uint64_t)(k % 4)),
      .kind = {(const uint8_t *)"followup", 8},
      .vv = {1, &d},
      .acked = {1, &d}, /* not pending: hw_store_delete_case takes it */
      .state = {b, sizeof b},
      .marks = marks,
      .item = k % 2 ? item : NULL,
  };
  (void)state_of(k, gen, b, sizeof b);
  hw_checksum_item(item, &r.id, b, sizeof b);
  CHECK_OK(hw_store_put(st, &r));
}

/* Index of a record id made by put_rec. */
static int key_of(const hw_id *id)
{
  for (int k = 0; k < N_RECS; k++) {
    hw_id want = st_id((uint64_t)k + 1);
    if (hw_id_cmp(&want, id) == 0)
      return k;
  }
  CHECK(!"an id put_rec never made");
  return -1;
}

static int fold_all(void *ud, const hw_store_rec *r)
{
  seen *s = ud;
  uint8_t item[HW_HASH_BYTES];
  hw_checksum_item(item, &r->id, r->state.p, r->state.len);
  hw_checksum_xor(s->sum, item);
  s->n++;
  return 0;
}

static int note_marked(void *ud, const hw_store_rec *r)
{
  seen *s = ud;
  int k = key_of(&r->id);
  CHECK(r->marks != 0);
  s->marks[k] = r->marks;
  s->hits[k]++;
  s->n++;
  return 0;
}

/* hw_store_sum must be the XOR over what a full walk reads. */
static void check_sum(hw_store *st, int want_n)
{
  seen all;
  uint8_t sum[HW_HASH_BYTES];
  memset(&all, 0, sizeof all);
  CHECK_OK(hw_store_list_all(st, fold_all, &all));
  CHECK_EQ(all.n, want_n);
  CHECK_OK(hw_store_sum(st, sum));
  CHECK(memcmp(sum, all.sum, HW_HASH_BYTES) == 0);
}

static void test_marks_and_sum(const char *dir)
{
  char path[4096];
  hw_store_opts o;
  hw_store *st;
  seen s;
  uint8_t sum[HW_HASH_BYTES], zero[HW_HASH_BYTES] = {0};
  uint64_t deleted, kept;
  hw_store_rec *got;

  snprintf(path, sizeof path, "%s/marks.db", dir);
  o = st_opts(path, "pass");
  st = st_open_ok(&o, NULL);
  CHECK_OK(hw_store_sum(st, sum));
  CHECK(memcmp(sum, zero, sizeof zero) == 0); /* empty store */

  CHECK_OK(hw_store_begin(st));
  for (int k = 0; k < N_RECS; k++)
    put_rec(st, k, 0, k % 5 == 0 ? 1u : k % 7 == 0 ? 2u : 0u);
  CHECK_OK(hw_store_commit(st));
  check_sum(st, N_RECS);

  /* Only the marked ones are listed, each once, with its marks. */
  memset(&s, 0, sizeof s);
  CHECK_OK(hw_store_list_marked(st, note_marked, &s));
  for (int k = 0; k < N_RECS; k++) {
    uint32_t want = k % 5 == 0 ? 1u : k % 7 == 0 ? 2u : 0u;
    CHECK_EQ(s.marks[k], want);
    CHECK_EQ(s.hits[k], (want != 0));
  }
  {
    hw_id id = st_id(4);
    CHECK_OK(hw_store_get(st, &id, &got));
    CHECK_EQ(got->marks, 0u);
    hw_store_rec_free(got);
  }

  /* An update moves the record in and out of the marked list and the sum. */
  put_rec(st, 0, 1, 0);  /* was marked: now not */
  put_rec(st, 3, 1, 3u); /* was not: now both bits */
  {
    hw_id id = st_id(6); /* k = 5 */
    CHECK_OK(hw_store_set_marks(st, &id, 2u));
  }
  {
    hw_id none = st_id(5000);
    CHECK_ERR(hw_store_set_marks(st, &none, 1u), HW_ENOENT);
  }
  memset(&s, 0, sizeof s);
  CHECK_OK(hw_store_list_marked(st, note_marked, &s));
  CHECK_EQ(s.hits[0], 0);
  CHECK_EQ(s.marks[3], 3u);
  CHECK_EQ(s.marks[5], 2u);
  check_sum(st, N_RECS);

  /* Deletions leave the sum: one record, then a case (k % 4 == 1). */
  {
    hw_id id = st_id(8);
    CHECK_OK(hw_store_delete(st, &id));
  }
  check_sum(st, N_RECS - 1);
  {
    hw_id cs = st_id(101);
    CHECK_OK(hw_store_delete_case(st, &cs, &deleted, &kept));
    CHECK_EQ(deleted, (uint64_t)N_RECS / 4);
  }
  check_sum(st, N_RECS - 1 - N_RECS / 4);
  memset(&s, 0, sizeof s);
  CHECK_OK(hw_store_list_marked(st, note_marked, &s));
  CHECK_EQ(s.hits[5], 0); /* k = 5 was in case 101 */

  /* A rolled-back put leaves the sum as it was. */
  CHECK_OK(hw_store_sum(st, sum));
  CHECK_OK(hw_store_begin(st));
  put_rec(st, 2, 7, 1u);
  CHECK_OK(hw_store_rollback(st));
  {
    uint8_t again[HW_HASH_BYTES];
    CHECK_OK(hw_store_sum(st, again));
    CHECK(memcmp(sum, again, sizeof again) == 0);
  }
  /* The puts after a rollback, and after a savepoint's rollback, fold into
   * the sum as stored, not as it was before the rollback. */
  put_rec(st, 2, 8, 0);
  check_sum(st, N_RECS - 1 - N_RECS / 4);
  CHECK_OK(hw_store_begin(st));
  put_rec(st, 3, 9, 0);
  CHECK_OK(hw_store_savepoint(st));
  put_rec(st, 4, 9, 0);
  CHECK_OK(hw_store_savepoint_rollback(st));
  put_rec(st, 6, 9, 0);
  CHECK_OK(hw_store_commit(st));
  check_sum(st, N_RECS - 1 - N_RECS / 4);
  /* Puts fold the sum in memory: it reached the file with each commit, of
   * a transaction and of a put made outside one. */
  hw_store_close(st);
  o.create = false;
  st = st_open_ok(&o, NULL);
  check_sum(st, N_RECS - 1 - N_RECS / 4);
  put_rec(st, 7, 9, 0);
  hw_store_close(st);
  st = st_open_ok(&o, NULL);
  check_sum(st, N_RECS - 1 - N_RECS / 4 + 1);
  /* A savepoint that stands alone commits when released (found in a
   * review: its sum stayed in memory). */
  CHECK_OK(hw_store_savepoint(st));
  put_rec(st, 10, 9, 0);
  CHECK_OK(hw_store_savepoint_release(st));
  hw_store_close(st);
  st = st_open_ok(&o, NULL);
  check_sum(st, N_RECS - 1 - N_RECS / 4 + 1);
  hw_store_close(st);
}

static void sql(sqlite3 *db, const char *q)
{
  char *err = NULL;
  if (sqlite3_exec(db, q, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "%s: %s\n", q, err ? err : "?");
    CHECK(!"sql");
  }
}

/* Take a format-2 store back to format 1's table (what a store made before
 * marks holds), through the encrypting connection. */
static void make_format1(hw_store *st)
{
  sqlite3 *db = hw_store_sqlite(st);
  sql(db, "DROP INDEX records_marked; DELETE FROM settings WHERE name = 'hw.sum';"
          "ALTER TABLE records DROP COLUMN item; ALTER TABLE records DROP COLUMN marks;"
          "UPDATE settings SET value = x'0000000000000001' WHERE name = 'hw.format'");
}

/* A closed format-1 store at dir/name holding N_RECS records (put with
 * `marks`, which format 1 then drops); its options use `path`. */
static hw_store_opts format1_store(const char *dir, const char *name, uint32_t marks, char *path,
                                   size_t cap)
{
  hw_store_opts o;
  hw_store *st;

  snprintf(path, cap, "%s/%s", dir, name);
  o = st_opts(path, "pass");
  st = st_open_ok(&o, NULL);
  CHECK_OK(hw_store_begin(st));
  for (int k = 0; k < N_RECS; k++)
    put_rec(st, k, 0, marks);
  CHECK_OK(hw_store_commit(st));
  make_format1(st);
  hw_store_close(st);
  return o;
}

static void test_migration(const char *dir)
{
  char path[4096];
  hw_store_opts o;
  hw_store *st;
  hw_store_info info;
  seen s;
  sqlite3_stmt *q;

  o = format1_store(dir, "old.db", 1u, path, sizeof path);

  /* Opened: migrated. Every old row is listed, its marks unknown. */
  st = st_open_ok(&o, &info);
  CHECK(!(info.flags & HW_STORE_RESTORED));
  check_sum(st, N_RECS);
  memset(&s, 0, sizeof s);
  CHECK_OK(hw_store_list_marked(st, note_marked, &s));
  CHECK_EQ(s.n, N_RECS);
  for (int k = 0; k < N_RECS; k++)
    CHECK_EQ(s.marks[k], HW_STORE_MARKS_UNKNOWN);
  /* The caller sets them; new puts carry theirs. */
  for (int k = 0; k < N_RECS; k++) {
    hw_id id = st_id((uint64_t)k + 1);
    CHECK_OK(hw_store_set_marks(st, &id, k == 1 ? 2u : 0u));
  }
  put_rec(st, 2, 1, 1u);
  memset(&s, 0, sizeof s);
  CHECK_OK(hw_store_list_marked(st, note_marked, &s));
  CHECK_EQ(s.n, 2);
  CHECK_EQ(s.marks[1], 2u);
  CHECK_EQ(s.marks[2], 1u);
  check_sum(st, N_RECS);
  /* The format was raised in the same transaction. */
  CHECK(sqlite3_prepare_v2(hw_store_sqlite(st),
                           "SELECT hex(value) FROM settings WHERE name = 'hw.format'", -1, &q,
                           NULL) == SQLITE_OK);
  CHECK(sqlite3_step(q) == SQLITE_ROW);
  CHECK(strcmp((const char *)sqlite3_column_text(q, 0), "0000000000000003") == 0);
  sqlite3_finalize(q);
  hw_store_close(st);

  /* Reopened: nothing migrates again (the marks stay as set). */
  st = st_open_ok(&o, NULL);
  memset(&s, 0, sizeof s);
  CHECK_OK(hw_store_list_marked(st, note_marked, &s));
  CHECK_EQ(s.n, 2);
  /* A format from the future is refused, the file left as it is. */
  sql(hw_store_sqlite(st),
      "UPDATE settings SET value = x'0000000000000004' WHERE name = 'hw.format'");
  hw_store_close(st);
  {
    st_snap before;
    hw_store *st2 = NULL;
    st_snap_take(&before, dir);
    CHECK_ERR(hw_store_open(&st2, &o, NULL), HW_EVERSION);
    CHECK(st2 == NULL);
    st_snap_same(&before, dir);
    st_snap_free(&before);
  }
}

static void flip_byte(const char *path, long off)
{
  FILE *f = fopen(path, "r+b");
  int c;
  CHECK(f != NULL);
  CHECK(fseek(f, off, SEEK_SET) == 0);
  c = fgetc(f);
  CHECK(c != EOF);
  CHECK(fseek(f, off, SEEK_SET) == 0);
  CHECK(fputc(c ^ 0x10, f) != EOF);
  CHECK(fclose(f) == 0);
}

/* A format-1 store with a damaged page cannot be brought up to date (the
 * new index reads every row): the open says the page failed
 * authentication and the files stay as they were, format 1 included. */
static void test_migration_damaged(const char *dir)
{
  char path[4096];
  hw_store_opts o;
  hw_store *st2 = NULL;
  hw_store_info info;
  st_snap before;

  o = format1_store(dir, "damaged.db", 0u, path, sizeof path);
  flip_byte(path, 2L * 4096 + 100); /* page 3: the records table's root */
  st_snap_take(&before, dir);
  CHECK_ERR(hw_store_open(&st2, &o, &info), HW_ETAMPER);
  CHECK_EQ(info.why, HW_STORE_WHY_TAMPERED);
  CHECK(st2 == NULL);
  /* The database, envelope and no-backup record are as they were (the
   * rolled-back migration's journal is left invalid, as SQLite leaves it). */
  {
    st_snap now;
    int compared = 0;
    st_snap_take(&now, dir);
    for (int i = 0; i < before.n; i++) {
      const char *n = before.name[i];
      size_t len = strlen(n);
      if (strncmp(n, "damaged.db", 10) != 0 || (len > 8 && !strcmp(n + len - 8, "-journal")))
        continue;
      for (int j = 0; j < now.n; j++)
        if (!strcmp(now.name[j], n)) {
          CHECK(now.len[j] == before.len[i] && !memcmp(now.data[j], before.data[i], now.len[j]));
          compared++;
        }
    }
    CHECK_EQ(compared, 3); /* damaged.db, .hwkey, .hwlocal */
    st_snap_free(&now);
  }
  st_snap_free(&before);
}

/* A store of format 2 (items in an index, no sum) gets its sum from the
 * items and loses the index; its marks stay as they were. */
static void test_migration_v2(const char *dir)
{
  char path[4096];
  hw_store_opts o;
  hw_store *st;
  seen s;

  snprintf(path, sizeof path, "%s/v2.db", dir);
  o = st_opts(path, "pass");
  st = st_open_ok(&o, NULL);
  CHECK_OK(hw_store_begin(st));
  for (int k = 0; k < N_RECS; k++)
    put_rec(st, k, 0, k == 4 ? 2u : 0u);
  CHECK_OK(hw_store_commit(st));
  sql(hw_store_sqlite(st), "CREATE INDEX records_item ON records(item);"
                           "DELETE FROM settings WHERE name = 'hw.sum';"
                           "UPDATE settings SET value = x'0000000000000002' WHERE name = 'hw.format'");
  hw_store_close(st);
  st = st_open_ok(&o, NULL);
  check_sum(st, N_RECS);
  memset(&s, 0, sizeof s);
  CHECK_OK(hw_store_list_marked(st, note_marked, &s));
  CHECK(s.n == 1 && s.marks[4] == 2u);
  {
    sqlite3_stmt *q;
    CHECK(sqlite3_prepare_v2(hw_store_sqlite(st),
                             "SELECT count(*) FROM sqlite_schema WHERE name = 'records_item'", -1,
                             &q, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 0);
    sqlite3_finalize(q);
  }
  put_rec(st, 1, 1, 0u); /* and it is kept from there */
  check_sum(st, N_RECS);
  hw_store_close(st);
}

/* A record's two version vectors read without its state. */
static void test_vvs(const char *dir)
{
  char path[4096];
  hw_store_opts o;
  hw_store *st;
  hw_store_vvs_buf *b = malloc(sizeof *b);
  hw_id id = st_id(3), none = st_id(4000);
  hw_dot two[2] = {{st_id(900), 4}, {st_id(901), 2}};

  CHECK(b != NULL);
  snprintf(path, sizeof path, "%s/vvs.db", dir);
  o = st_opts(path, "pass");
  st = st_open_ok(&o, NULL);
  put_rec(st, 2, 3, 0u); /* id 3: vv and acked {900: 4} */
  CHECK_OK(hw_store_vvs(st, &id, b));
  CHECK(b->vv.n == 1 && b->acked.n == 1 && b->vv.e[0].counter == 4 &&
        hw_id_cmp(&b->acked.e[0].replica, &two[0].replica) == 0);
  CHECK_OK(hw_store_ack(st, &id, &(hw_vv){2, two}));
  CHECK_OK(hw_store_vvs(st, &id, b));
  CHECK(b->vv.n == 1 && b->acked.n == 2 && b->acked.e[1].counter == 2);
  CHECK_ERR(hw_store_vvs(st, &none, b), HW_ENOENT);
  hw_store_close(st);
  free(b);
}

int main(void)
{
  char *dir;

  CHECK_OK(hw_crypto_init());
  dir = st_tmpdir();
  test_marks_and_sum(dir);
  test_migration(dir);
  test_migration_damaged(dir);
  test_migration_v2(dir);
  test_vvs(dir);
  st_rmdir(dir);
  free(dir);
  printf("store marks: ok\n");
  return 0;
}
