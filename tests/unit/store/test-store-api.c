/* The store API: records, pending, settings, the counter and the journal of
 * own writes, transactions and savepoints, restore/copy detection, backups,
 * and injected I/O errors and full disks. */
#include <sodium.h>
#include <sys/wait.h>

#include "store-test.h"

static const uint8_t STATE[] = "state bytes of a record";

static hw_store_rec mk_rec(const hw_id *id, const hw_id *cs, hw_dot *vvd, size_t nvv,
                           const void *state, size_t len)
{
  hw_store_rec r = {
      .id = *id,
      .case_id = *cs,
      .kind = {(const uint8_t *)"followup", 8},
      .vv = {nvv, vvd},
      .acked = {0, NULL},
      .state = {state, len},
  };
  return r;
}

static int count_cb(void *ud, const hw_store_rec *r)
{
  (void)r;
  (*(int *)ud)++;
  return 0;
}

static void test_records(const char *dir)
{
  char path[4096];
  hw_store *st;
  hw_store_info info;
  hw_store_opts o;
  hw_id id1 = st_id(1), id2 = st_id(2), id3 = st_id(3), c1 = st_id(100), c2 = st_id(200);
  hw_dot d;
  hw_store_rec *got;
  int n;

  snprintf(path, sizeof path, "%s/rec.db", dir);
  o = st_opts(path, "correct horse");
  st = st_open_ok(&o, &info);
  CHECK(info.flags & HW_STORE_CREATED);
  CHECK(info.flags & HW_STORE_NO_RECOVERY);
  CHECK(!(info.flags & HW_STORE_RESTORED));
  CHECK_EQ(info.counter, 0);

  /* A local write: bump the counter, put the state and journal the dot. */
  CHECK_ERR(hw_store_next_dot(st, &d), HW_EINVAL); /* outside a transaction */
  CHECK_OK(hw_store_begin(st));
  CHECK_OK(hw_store_next_dot(st, &d));
  CHECK_EQ(d.counter, 1);
  {
    hw_store_rec r = mk_rec(&id1, &c1, &d, 1, STATE, sizeof STATE);
    uint8_t digest[HW_HASH_BYTES] = {1, 2, 3};
    CHECK_OK(hw_store_put_write(st, &r, &d, digest));
    /* The same dot twice is refused. */
    CHECK_ERR(hw_store_put_write(st, &r, &d, digest), HW_EDOTREUSE);
  }
  CHECK_OK(hw_store_commit(st));

  /* A rolled-back write leaves neither the record nor the counter bump. */
  CHECK_OK(hw_store_begin(st));
  CHECK_OK(hw_store_next_dot(st, &d));
  CHECK_EQ(d.counter, 2);
  {
    hw_store_rec r = mk_rec(&id2, &c1, &d, 1, STATE, 3);
    uint8_t digest[HW_HASH_BYTES] = {9};
    CHECK_OK(hw_store_put_write(st, &r, &d, digest));
  }
  CHECK_OK(hw_store_rollback(st));
  CHECK_ERR(hw_store_get(st, &id2, &got), HW_ENOENT);
  CHECK(got == NULL);
  {
    uint64_t c;
    hw_store_replica(st, NULL, &c);
    CHECK_EQ(c, 1);
  }

  /* Savepoints nest inside a transaction. */
  CHECK_OK(hw_store_begin(st));
  CHECK_OK(hw_store_next_dot(st, &d));
  CHECK_EQ(d.counter, 2);
  {
    hw_store_rec r2 = mk_rec(&id2, &c1, &d, 1, STATE, 5);
    hw_store_rec r3 = mk_rec(&id3, &c2, &d, 1, STATE, 7);
    CHECK_OK(hw_store_savepoint(st));
    CHECK_OK(hw_store_put(st, &r2));
    CHECK_OK(hw_store_savepoint(st));
    CHECK_OK(hw_store_put(st, &r3));
    CHECK_OK(hw_store_savepoint_rollback(st));
    CHECK_OK(hw_store_savepoint_release(st));
    CHECK_ERR(hw_store_savepoint_release(st), HW_EINVAL);
  }
  CHECK_OK(hw_store_commit(st));
  CHECK_OK(hw_store_get(st, &id2, &got));
  CHECK_EQ(got->state.len, 5);
  CHECK(got->pending);
  hw_store_rec_free(got);
  CHECK_ERR(hw_store_get(st, &id3, &got), HW_ENOENT);

  /* Kind and case never change. */
  {
    hw_store_rec r = mk_rec(&id2, &c2, &d, 1, STATE, 5);
    CHECK_ERR(hw_store_put(st, &r), HW_EDIVERGE);
    r = mk_rec(&id2, &c1, &d, 1, STATE, 5);
    r.kind = (hw_bytes){(const uint8_t *)"placement", 9};
    CHECK_ERR(hw_store_put(st, &r), HW_EDIVERGE);
  }
  /* Malformed input. */
  {
    hw_dot bad[2] = {{st_id(5), 1}, {st_id(4), 1}}; /* not sorted */
    hw_store_rec r = mk_rec(&id3, &c1, bad, 2, STATE, 5);
    CHECK_ERR(hw_store_put(st, &r), HW_EPROTO);
    r = mk_rec(&id3, &c1, bad, 1, STATE, 5);
    r.kind.len = 0;
    CHECK_ERR(hw_store_put(st, &r), HW_EINVAL);
  }

  /* List by case; pending until acknowledged. */
  n = 0;
  CHECK_OK(hw_store_list_case(st, &c1, count_cb, &n));
  CHECK_EQ(n, 2);
  n = 0;
  CHECK_OK(hw_store_list_case(st, &c2, count_cb, &n));
  CHECK_EQ(n, 0);
  n = 0;
  CHECK_OK(hw_store_list_pending(st, count_cb, &n));
  CHECK_EQ(n, 2);
  CHECK_OK(hw_store_get(st, &id1, &got));
  CHECK_OK(hw_store_ack(st, &id1, &got->vv));
  hw_store_rec_free(got);
  n = 0;
  CHECK_OK(hw_store_list_pending(st, count_cb, &n));
  CHECK_EQ(n, 1);
  {
    hw_vv empty = {0, NULL};
    CHECK_ERR(hw_store_ack(st, &id3, &empty), HW_ENOENT);
  }

  /* Journal of own writes. */
  {
    hw_id rec;
    uint8_t dig[HW_HASH_BYTES];
    hw_dot q = {info.replica, 1};
    CHECK_OK(hw_store_journal_get(st, &q, &rec, dig));
    CHECK(hw_id_cmp(&rec, &id1) == 0);
    CHECK_EQ(dig[2], 3);
    q.counter = 2;
    CHECK_ERR(hw_store_journal_get(st, &q, &rec, dig), HW_ENOENT);
    /* Forgotten (a write replaced before its acknowledgement): out of the
     * journal, kept aside, and back on request; only inside a transaction. */
    q.counter = 1;
    CHECK_ERR(hw_store_journal_replaced(st, &q, &rec, dig), HW_ENOENT); /* no table yet */
    CHECK_ERR(hw_store_journal_forget(st, &q), HW_EINVAL);
    CHECK_OK(hw_store_begin(st));
    CHECK_OK(hw_store_journal_forget(st, &q));
    CHECK_OK(hw_store_commit(st));
    CHECK_ERR(hw_store_journal_get(st, &q, &rec, dig), HW_ENOENT);
    memset(dig, 0, sizeof dig);
    CHECK_OK(hw_store_journal_replaced(st, &q, &rec, dig));
    CHECK(hw_id_cmp(&rec, &id1) == 0 && dig[2] == 3);
    CHECK_OK(hw_store_begin(st));
    CHECK_OK(hw_store_journal_restore(st, &q));
    CHECK_OK(hw_store_commit(st));
    CHECK_OK(hw_store_journal_get(st, &q, &rec, dig));
    CHECK(hw_id_cmp(&rec, &id1) == 0 && dig[2] == 3);
    CHECK_ERR(hw_store_journal_replaced(st, &q, &rec, dig), HW_ENOENT);
  }

  /* Settings. */
  {
    uint8_t *v;
    size_t len;
    CHECK_OK(hw_store_setting_set(st, "cursor", "abc", 3));
    CHECK_OK(hw_store_setting_get(st, "cursor", &v, &len));
    CHECK_EQ(len, 3);
    CHECK(memcmp(v, "abc", 3) == 0);
    hw_free(v);
    CHECK_ERR(hw_store_setting_set(st, "hw.replica", "x", 1), HW_EINVAL);
    CHECK_ERR(hw_store_setting_get(st, "missing", &v, &len), HW_ENOENT);
    CHECK(v == NULL);
    CHECK_OK(hw_store_setting_del(st, "cursor"));
    CHECK_ERR(hw_store_setting_get(st, "cursor", &v, &len), HW_ENOENT);
    /* By prefix: exactly the names that start with it. */
    {
      static const char *const names[] = {"closed.a", "closed.zz", "closed", "closed/",
                                          "closedx", "closee", "clos"};
      for (size_t i = 0; i < 7; i++)
        CHECK_OK(hw_store_setting_set(st, names[i], "v", 1));
      CHECK_OK(hw_store_setting_del_prefix(st, "closed."));
      for (size_t i = 0; i < 7; i++) {
        int rc = hw_store_setting_get(st, names[i], &v, &len);
        CHECK_EQ(rc, i < 2 ? HW_ENOENT : HW_OK);
        hw_free(v);
        v = NULL;
        if (i >= 2)
          CHECK_OK(hw_store_setting_del(st, names[i]));
      }
      CHECK_ERR(hw_store_setting_del_prefix(st, "hw."), HW_EINVAL);
      CHECK_ERR(hw_store_setting_del_prefix(st, ""), HW_EINVAL);
    }
    {
      char name[HW_STORE_SETTING_KEY_MAX + 2];
      memset(name, 'k', sizeof name);
      name[HW_STORE_SETTING_KEY_MAX] = 0;
      CHECK_OK(hw_store_setting_set(st, name, "v", 1));
      name[HW_STORE_SETTING_KEY_MAX] = 'k';
      name[HW_STORE_SETTING_KEY_MAX + 1] = 0;
      CHECK_ERR(hw_store_setting_set(st, name, "v", 1), HW_EINVAL);
    }
    {
      uint8_t *big = calloc(1, HW_STORE_SETTING_MAX + 1);
      CHECK_OK(hw_store_setting_set(st, "big", big, HW_STORE_SETTING_MAX));
      CHECK_ERR(hw_store_setting_set(st, "big", big, HW_STORE_SETTING_MAX + 1), HW_ELIMIT);
      free(big);
    }
  }
  CHECK_OK(hw_store_check(st));
  {
    uint8_t k1[32], k2[32];
    CHECK_ERR(hw_store_subkey(st, 1, k1), HW_EINVAL);
    CHECK_OK(hw_store_subkey(st, 16, k1));
    CHECK_OK(hw_store_subkey(st, 17, k2));
    CHECK(memcmp(k1, k2, 32) != 0);
  }
  hw_store_close(st);

  /* Reopen: the data and the counter are there, start number bumped. */
  o.create = false;
  {
    hw_store_info i2;
    st = st_open_ok(&o, &i2);
    CHECK(!(i2.flags & (HW_STORE_CREATED | HW_STORE_RESTORED)));
    CHECK_EQ(i2.counter, 2);
    CHECK_EQ(i2.start, info.start + 1);
    CHECK(hw_id_cmp(&i2.replica, &info.replica) == 0);
    CHECK_OK(hw_store_get(st, &id1, &got));
    CHECK_EQ(got->state.len, sizeof STATE);
    CHECK(memcmp(got->state.p, STATE, sizeof STATE) == 0);
    CHECK(!got->pending);
    hw_store_rec_free(got);
    hw_store_close(st);
  }
}

/* Architecture §3 defence 1: a restored or copied store says so at open,
 * refuses to issue dots, and takes a new replica id. */
static void test_restore(const char *dir)
{
  char path[1024], copy[1024], src[2048], dst[2048];
  hw_store *st;
  hw_store_info info, i2;
  hw_store_opts o;
  hw_dot d, inh;

  snprintf(path, sizeof path, "%s/r.db", dir);
  o = st_opts(path, "pw");
  st = st_open_ok(&o, &info);
  CHECK_OK(hw_store_begin(st));
  CHECK_OK(hw_store_next_dot(st, &d));
  CHECK_OK(hw_store_commit(st));
  hw_store_close(st);

  /* A file-level copy without the no-backup record. */
  snprintf(copy, sizeof copy, "%s/copy.db", dir);
  st_copy(path, copy);
  snprintf(src, sizeof src, "%s.hwkey", path);
  snprintf(dst, sizeof dst, "%s.hwkey", copy);
  st_copy(src, dst);
  o = st_opts(copy, "pw");
  o.create = false;
  st = st_open_ok(&o, &i2);
  CHECK(i2.flags & HW_STORE_RESTORED);
  CHECK_OK(hw_store_begin(st));
  CHECK_ERR(hw_store_next_dot(st, &d), HW_EDOTREUSE);
  CHECK_OK(hw_store_rollback(st));
  CHECK_OK(hw_store_new_replica(st, &inh));
  CHECK(hw_id_cmp(&inh.replica, &info.replica) == 0);
  CHECK_EQ(inh.counter, 1);
  CHECK_OK(hw_store_begin(st));
  CHECK_OK(hw_store_next_dot(st, &d));
  CHECK_EQ(d.counter, 1);
  CHECK(hw_id_cmp(&d.replica, &info.replica) != 0);
  CHECK_OK(hw_store_commit(st));
  hw_store_close(st);
  st = st_open_ok(&o, &i2);
  CHECK(!(i2.flags & HW_STORE_RESTORED));
  CHECK_OK(hw_store_inherits(st, &inh));
  CHECK_EQ(inh.counter, 1);
  hw_store_close(st);

  /* An old copy put back at the original path (the record is ahead). */
  o = st_opts(path, "pw");
  o.create = false;
  snprintf(copy, sizeof copy, "%s/old.db", dir);
  st_copy(path, copy);
  st = st_open_ok(&o, &i2); /* bumps the start number */
  CHECK(!(i2.flags & HW_STORE_RESTORED));
  hw_store_close(st);
  st_copy(copy, path);
  st = st_open_ok(&o, &i2);
  CHECK(i2.flags & HW_STORE_RESTORED);
  hw_store_close(st);
  /* Until a new replica is taken, every open says so again. */
  st = st_open_ok(&o, &i2);
  CHECK(i2.flags & HW_STORE_RESTORED);
  CHECK_OK(hw_store_new_replica(st, NULL));
  hw_store_close(st);
  st = st_open_ok(&o, &i2);
  CHECK(!(i2.flags & HW_STORE_RESTORED));

  /* An online backup opens as restored, even beside a record. */
  snprintf(copy, sizeof copy, "%s/backup.db", dir);
  CHECK_OK(hw_store_backup(st, copy));
  CHECK_ERR(hw_store_backup(st, copy), HW_EEXIST);
  hw_store_close(st);
  o = st_opts(copy, "pw");
  o.create = false;
  st = st_open_ok(&o, &i2);
  CHECK(i2.flags & HW_STORE_RESTORED);
  CHECK_OK(hw_store_check(st));
  hw_store_close(st);
}

/* Injected EIO and ENOSPC through the test VFS: the write fails with the
 * right code, the store stays usable and consistent. */
static void test_io_faults(const char *dir, int journal)
{
  char path[4096];
  hw_store *st;
  hw_store_opts o;
  int failures = 0;

  snprintf(path, sizeof path, "%s/io%d.db", dir, journal);
  o = st_opts(path, "pw");
  o.journal = journal;
  o.base_vfs = HW_TESTVFS_NAME;
  st = st_open_ok(&o, NULL);
  for (int k = 0; k < 40; k++) {
    int err = (k % 2) ? HW_EIO : HW_ENOSPC;
    hw_id id = st_id(1000 + (uint64_t)k), cs = st_id(7);
    hw_dot d;
    uint8_t big[6000];
    int rc;

    memset(big, 'x', sizeof big);
    hw_testvfs_fail_after(k % 7, err);
    rc = hw_store_begin(st);
    if (rc == HW_OK) {
      rc = hw_store_next_dot(st, &d);
      if (rc == HW_OK) {
        hw_store_rec r = mk_rec(&id, &cs, &d, 1, big, sizeof big);
        uint8_t dig[HW_HASH_BYTES] = {0};
        rc = hw_store_put_write(st, &r, &d, dig);
      }
      if (rc == HW_OK)
        rc = hw_store_commit(st);
      else
        CHECK_OK(hw_store_rollback(st));
    }
    hw_testvfs_fail_after(-1, 0);
    if (rc != HW_OK) {
      failures++;
      CHECK(rc == err);
      hw_store_rec *g;
      int grc = hw_store_get(st, &id, &g);
      CHECK(grc == HW_ENOENT);
    } else {
      hw_store_rec *g;
      CHECK_OK(hw_store_get(st, &id, &g));
      hw_store_rec_free(g);
    }
  }
  CHECK(failures > 0);
  CHECK_OK(hw_store_check(st));
  hw_store_close(st);
  CHECK_OK(hw_testvfs_forget());
}

/* An open bumps the start number in two places, the store and its
 * no-backup record (architecture §3, defence 1). A full disk or a power cut
 * at any step of it must not read as a restore at the next open; on a full
 * disk the store opens to read, refusing new writes of its own until it is
 * opened again with room. */
static void test_open_faults(const char *dir, int journal)
{
  char path[4096];
  hw_store *st;
  hw_store_opts o;
  hw_store_info info;
  hw_store_rec *g;
  hw_id id = st_id(500), cs = st_id(501);
  hw_dot d;
  long ops;
  int unbumped = 0, refused = 0;

  snprintf(path, sizeof path, "%s/of%d.db", dir, journal);
  o = st_opts(path, "pw");
  o.journal = journal;
  o.base_vfs = HW_TESTVFS_NAME;
  st = st_open_ok(&o, NULL);
  CHECK_OK(hw_store_begin(st));
  CHECK_OK(hw_store_next_dot(st, &d));
  {
    hw_store_rec r = mk_rec(&id, &cs, &d, 1, STATE, sizeof STATE);
    uint8_t dig[HW_HASH_BYTES] = {5};
    CHECK_OK(hw_store_put_write(st, &r, &d, dig));
  }
  CHECK_OK(hw_store_commit(st));
  hw_store_close(st);
  o.create = false;
  ops = hw_testvfs_ops();
  st = st_open_ok(&o, NULL);
  hw_store_close(st);
  ops = hw_testvfs_ops() - ops; /* the mutating steps of an open and close */
  CHECK(ops >= 3);
  for (long k = 0; k < 2 * ops; k++) {
    /* A full disk, then a file system gone read-only, at each step. */
    int rc, err = k < ops ? HW_ENOSPC : HW_EROFS;
    hw_testvfs_fail_after(k % ops, err);
    rc = hw_store_open(&st, &o, &info);
    hw_testvfs_fail_after(-1, 0);
    if (rc == HW_OK) {
      CHECK(!(info.flags & HW_STORE_RESTORED));
      CHECK_OK(hw_store_get(st, &id, &g));
      hw_store_rec_free(g);
      CHECK_OK(hw_store_begin(st));
      rc = hw_store_next_dot(st, &d);
      CHECK(rc == HW_OK || rc == err);
      unbumped += rc == err;
      CHECK_OK(hw_store_rollback(st));
      hw_store_close(st);
    } else {
      CHECK(rc == err || rc == HW_EIO);
      refused++;
    }
    st = st_open_ok(&o, &info); /* room again */
    CHECK(!(info.flags & HW_STORE_RESTORED));
    CHECK_OK(hw_store_begin(st));
    CHECK_OK(hw_store_next_dot(st, &d));
    CHECK_OK(hw_store_rollback(st));
    hw_store_close(st);

    hw_testvfs_die_after(k % ops);
    if (hw_store_open(&st, &o, &info) == HW_OK)
      hw_store_close(st);
    CHECK_OK(hw_testvfs_powercut((uint64_t)k + 1));
    st = st_open_ok(&o, &info);
    CHECK(!(info.flags & HW_STORE_RESTORED));
    CHECK_OK(hw_store_get(st, &id, &g));
    hw_store_rec_free(g);
    hw_store_close(st);
  }
  CHECK(unbumped > 0);
  /* A record in the first layout (no pending number) still matches. */
  {
    char local[4200];
    snprintf(local, sizeof local, "%s.hwlocal", path);
    for (int wrong = 0; wrong < 2; wrong++) {
      size_t n;
      uint8_t *v2 = st_read_file(local, &n), v1[8 + 16 + 16 + 8 + 32];
      FILE *f;
      CHECK(n == 8 + 16 + 16 + 8 + 8 + 32 && memcmp(v2, "HWLOCAL2", 8) == 0);
      memcpy(v1, "HWLOCAL1", 8);
      memcpy(v1 + 8, v2 + 8, 16 + 16 + 8); /* store id, replica id, start number */
      free(v2);
      v1[46] ^= (uint8_t)(wrong << 4); /* another start number: a restore */
      crypto_generichash(v1 + 48, 32, v1, 48, NULL, 0);
      f = fopen(local, "wb");
      CHECK(f && fwrite(v1, 1, sizeof v1, f) == sizeof v1 && fclose(f) == 0);
      CHECK_OK(hw_testvfs_forget());
      st = st_open_ok(&o, &info);
      CHECK(!(info.flags & HW_STORE_RESTORED) == !wrong);
      hw_store_close(st);
    }
  }
  printf("open faults (journal %d): %ld steps, %d opened unbumped, %d refused\n", journal, ops,
         unbumped, refused);
  CHECK_OK(hw_testvfs_forget());
}

/* A backup of a WAL store opens, checks and holds the data. */
static void test_wal_backup(const char *dir)
{
  char path[1024], bpath[1100];
  hw_store *st;
  hw_store_opts o;
  hw_store_info info;
  hw_dot d;
  hw_id id = st_id(77), cs = st_id(78);
  hw_store_rec *got;

  snprintf(path, sizeof path, "%s/w.db", dir);
  snprintf(bpath, sizeof bpath, "%s/w-backup.db", dir);
  o = st_opts(path, "pw");
  o.journal = HW_STORE_WAL;
  st = st_open_ok(&o, NULL);
  CHECK_OK(hw_store_begin(st));
  CHECK_OK(hw_store_next_dot(st, &d));
  {
    hw_store_rec r = mk_rec(&id, &cs, &d, 1, STATE, sizeof STATE);
    uint8_t dig[HW_HASH_BYTES] = {4};
    CHECK_OK(hw_store_put_write(st, &r, &d, dig));
  }
  CHECK_OK(hw_store_commit(st));
  CHECK_OK(hw_store_backup(st, bpath));
  hw_store_close(st);
  o = st_opts(bpath, "pw");
  o.journal = HW_STORE_WAL;
  o.create = false;
  st = st_open_ok(&o, &info);
  CHECK(info.flags & HW_STORE_RESTORED);
  CHECK_OK(hw_store_check(st));
  CHECK_OK(hw_store_get(st, &id, &got));
  CHECK(memcmp(got->state.p, STATE, sizeof STATE) == 0);
  hw_store_rec_free(got);
  hw_store_close(st);
}

/* N records in WAL mode, in transactions of 50 (a new store at `path`). */
static hw_store *wal_store_with(const char *path, int n)
{
  hw_store_opts o = st_opts(path, "pw");
  hw_id cs = st_id(90);
  hw_store *st;

  o.journal = HW_STORE_WAL;
  st = st_open_ok(&o, NULL);
  for (int i = 0; i < n; i++) {
    hw_id id = st_id(1000 + i);
    hw_dot d;
    uint8_t dig[HW_HASH_BYTES] = {5};
    if (i % 50 == 0)
      CHECK_OK(hw_store_begin(st));
    CHECK_OK(hw_store_next_dot(st, &d));
    hw_store_rec r = mk_rec(&id, &cs, &d, 1, STATE, sizeof STATE);
    CHECK_OK(hw_store_put_write(st, &r, &d, dig));
    if (i % 50 == 49 || i == n - 1)
      CHECK_OK(hw_store_commit(st));
  }
  return st;
}

/* A store made in WAL mode, opened with the rollback journal (devices made
 * before they switched): converted at open, its WAL gone, every record kept,
 * and it opens again the same way. Closed cleanly first, and left by a
 * process that died with committed frames only in its WAL. */
static void test_wal_to_rollback(const char *dir)
{
  char path[1024], wal[1100];
  hw_store *st;
  hw_store_opts o;
  hw_store_rec *got;
  struct stat sb;
  pid_t pid;
  int status;
  enum { N = 300 };

  snprintf(path, sizeof path, "%s/conv.db", dir);
  snprintf(wal, sizeof wal, "%s-wal", path);
  hw_store_close(wal_store_with(path, N));
  for (int round = 0; round < 2; round++) {
    o = st_opts(path, "pw");
    o.journal = HW_STORE_ROLLBACK;
    o.create = false;
    st = st_open_ok(&o, NULL);
    CHECK(stat(wal, &sb) != 0); /* no WAL left beside it */
    CHECK_OK(hw_store_check(st));
    for (int i = 0; i < N; i++) {
      hw_id id = st_id(1000 + i);
      CHECK_OK(hw_store_get(st, &id, &got));
      CHECK(got->state.len == sizeof STATE && memcmp(got->state.p, STATE, sizeof STATE) == 0);
      hw_store_rec_free(got);
    }
    hw_store_close(st);
  }

  snprintf(path, sizeof path, "%s/conv-crash.db", dir);
  snprintf(wal, sizeof wal, "%s-wal", path);
  fflush(NULL);
  if ((pid = fork()) == 0) {
    (void)wal_store_with(path, N);
    _exit(0); /* no close, no checkpoint: the commits live in the WAL */
  }
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
        WEXITSTATUS(status) == 0);
  CHECK(stat(wal, &sb) == 0 && sb.st_size > 0);
  o = st_opts(path, "pw");
  o.journal = HW_STORE_ROLLBACK;
  o.create = false;
  st = st_open_ok(&o, NULL);
  CHECK(stat(wal, &sb) != 0);
  CHECK_OK(hw_store_check(st));
  for (int i = 0; i < N; i++) {
    hw_id id = st_id(1000 + i);
    CHECK_OK(hw_store_get(st, &id, &got));
    hw_store_rec_free(got);
  }
  hw_store_close(st);
}

/* A failed write in the middle of a transaction larger than the cache (the
 * journal is synced mid-transaction and grows a second segment, over old
 * records of earlier transactions) reports the I/O error, never tampering,
 * and leaves the store usable. */
static void test_big_txn_faults(const char *dir, int journal)
{
  char path[4096];
  hw_store *st;
  hw_store_opts o;
  hw_test_rng rng;
  int failures = 0;
  long full = 0; /* the fewest operations a round that did not fail took */

  hw_test_rng_init(&rng, hw_test_seed());
  snprintf(path, sizeof path, "%s/big%d.db", dir, journal);
  o = st_opts(path, "pw");
  o.journal = journal;
  o.base_vfs = HW_TESTVFS_NAME;
  st = st_open_ok(&o, NULL);
  for (int k = 0; k < 8; k++) {
    int err = (k % 2) ? HW_EIO : HW_ENOSPC;
    long ops0 = hw_testvfs_ops();
    int rc = hw_store_begin(st);
    /* Every other round fails somewhere within as many operations as the
     * shortest whole round took (writes reach the file in runs, and a round
     * that rewrites WAL checksums takes ten times more). */
    if (k % 2 == 0)
      hw_testvfs_fail_after(-1, 0);
    else
      hw_testvfs_fail_after((long)hw_test_rng_below(&rng, (uint64_t)full), err);
    for (int i = 0; rc == HW_OK && i < 500; i++) {
      hw_dot d;
      hw_id id = st_id(100000 + (uint64_t)(k * 1000 + i)), cs = st_id(8);
      uint8_t big[7000];
      memset(big, (int)(i + k), sizeof big);
      rc = hw_store_next_dot(st, &d);
      if (rc == HW_OK) {
        hw_store_rec r = mk_rec(&id, &cs, &d, 1, big, sizeof big);
        uint8_t dig[HW_HASH_BYTES] = {0};
        rc = hw_store_put_write(st, &r, &d, dig);
      }
    }
    if (rc == HW_OK)
      rc = hw_store_commit(st);
    hw_testvfs_fail_after(-1, 0);
    if (k % 2 == 0 && (full == 0 || hw_testvfs_ops() - ops0 < full))
      full = hw_testvfs_ops() - ops0;
    if (rc != HW_OK) {
      failures++;
      if (rc != err)
        fprintf(stderr, "round %d: got %s, want %s (after %ld ops)\n", k, hw_errname(rc),
                hw_errname(err), hw_testvfs_ops() - ops0);
      CHECK_ERR(rc, err);
      CHECK_OK(hw_store_rollback(st));
    }
    CHECK_OK(hw_store_check(st));
  }
  CHECK(failures > 0);
  hw_store_close(st);
  CHECK_OK(hw_testvfs_forget());
}

int main(void)
{
  char *dir;

  CHECK_OK(hw_crypto_init());
  dir = st_tmpdir();
  test_records(dir);
  test_restore(dir);
  test_wal_backup(dir);
  test_wal_to_rollback(dir);
  test_io_faults(dir, HW_STORE_ROLLBACK);
  test_io_faults(dir, HW_STORE_WAL);
  test_open_faults(dir, HW_STORE_ROLLBACK);
  test_open_faults(dir, HW_STORE_WAL);
  test_big_txn_faults(dir, HW_STORE_ROLLBACK);
  test_big_txn_faults(dir, HW_STORE_WAL);
  st_rmdir(dir);
  free(dir);
  printf("store api: ok\n");
  return 0;
}
