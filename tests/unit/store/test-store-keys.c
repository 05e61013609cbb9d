/* Keys and refused opens: each failure has its own error and reason, and
 * leaves every file byte for byte as it was; passphrase change, organisation
 * recovery, server key files, and a KDF that cannot get its memory. */
#include <sodium.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "store-int.h"
#include "store-test.h"

static void put_one(hw_store *st, uint64_t n)
{
  hw_dot d;
  hw_id id = st_id(n), cs = st_id(1);
  uint8_t dig[HW_HASH_BYTES] = {0};
  hw_store_rec r = {.id = id,
                    .case_id = cs,
                    .kind = {(const uint8_t *)"profile", 7},
                    .state = {(const uint8_t *)"child", 5}};
  CHECK_OK(hw_store_begin(st));
  CHECK_OK(hw_store_next_dot(st, &d));
  r.vv = (hw_vv){1, &d};
  CHECK_OK(hw_store_put_write(st, &r, &d, dig));
  CHECK_OK(hw_store_commit(st));
}

/* The open must fail with `err` and reason `why`, changing nothing. */
static void refused(const char *dir, const hw_store_opts *o, int err, int why)
{
  st_snap before;
  hw_store *st = (hw_store *)1;
  hw_store_info info;
  int rc;

  st_snap_take(&before, dir);
  rc = hw_store_open(&st, o, &info);
  if (rc != err || info.why != why)
    fprintf(stderr, "open %s: got %s/%s, want %s/%s\n", o->path, hw_errname(rc),
            hw_store_why_str(info.why), hw_errname(err), hw_store_why_str(why));
  CHECK_ERR(rc, err);
  CHECK_EQ(info.why, why);
  CHECK(st == NULL);
  st_snap_same(&before, dir);
  st_snap_free(&before);
}

static void test_refusals(void)
{
  char *dir = st_tmpdir(), a[1024], b[1024], ka[1100], kb[1100], tmp[1100];
  hw_store *st;
  hw_store_opts oa, ob;

  snprintf(a, sizeof a, "%s/a.db", dir);
  snprintf(b, sizeof b, "%s/b.db", dir);
  snprintf(ka, sizeof ka, "%s.hwkey", a);
  snprintf(kb, sizeof kb, "%s.hwkey", b);
  snprintf(tmp, sizeof tmp, "%s/tmp", dir);
  oa = st_opts(a, "alpha");
  ob = st_opts(b, "bravo");
  st = st_open_ok(&oa, NULL);
  put_one(st, 1);
  hw_store_close(st);
  st = st_open_ok(&ob, NULL);
  hw_store_close(st);
  oa.create = ob.create = false;

  /* Wrong passphrase. */
  {
    hw_store_opts o = oa;
    o.passphrase = (const uint8_t *)"alphA";
    refused(dir, &o, HW_EPASSPHRASE, HW_STORE_WHY_PASSPHRASE);
    o.passphrase_len = 0;
    refused(dir, &o, HW_EPASSPHRASE, HW_STORE_WHY_PASSPHRASE);
  }
  /* Envelope of another database (with that database's passphrase, too). */
  rename(ka, tmp);
  st_copy(kb, ka);
  refused(dir, &oa, HW_EKEYFILE, HW_STORE_WHY_KEYFILE_OTHER_DB);
  {
    hw_store_opts o = oa;
    o.passphrase = (const uint8_t *)"bravo";
    o.passphrase_len = 5;
    refused(dir, &o, HW_EKEYFILE, HW_STORE_WHY_KEYFILE_OTHER_DB);
  }
  /* Missing envelope. */
  unlink(ka);
  refused(dir, &oa, HW_EKEYFILE, HW_STORE_WHY_KEYFILE_MISSING);
  /* Damaged envelope: every byte flipped in turn, and truncated. */
  {
    uint8_t env[HW__ENV_BYTES];
    FILE *f = fopen(tmp, "rb");
    CHECK(f && fread(env, 1, sizeof env, f) == sizeof env);
    fclose(f);
    for (size_t i = 0; i < sizeof env; i += 7) {
      env[i] ^= 0x01;
      f = fopen(ka, "wb");
      CHECK(fwrite(env, 1, sizeof env, f) == sizeof env);
      fclose(f);
      refused(dir, &oa, HW_EKEYFILE, HW_STORE_WHY_KEYFILE_DAMAGED);
      env[i] ^= 0x01;
    }
    f = fopen(ka, "wb");
    CHECK(fwrite(env, 1, sizeof env - 1, f) == sizeof env - 1);
    fclose(f);
    refused(dir, &oa, HW_EKEYFILE, HW_STORE_WHY_KEYFILE_DAMAGED);
    /* Limits over the caps, with a valid checksum: refused before running. */
    {
      hw__env e;
      int why;
      CHECK_OK(hw__env_decode(&e, env, sizeof env, &why));
      e.memlimit = 8ull << 30;
      hw__env_encode(&e, env);
      f = fopen(ka, "wb");
      CHECK(fwrite(env, 1, sizeof env, f) == sizeof env);
      fclose(f);
      refused(dir, &oa, HW_EKEYFILE, HW_STORE_WHY_KEYFILE_LIMITS);
    }
  }
  rename(tmp, ka);
  st = st_open_ok(&oa, NULL);
  hw_store_close(st);

  /* Truncated, empty, plain SQLite, not a store. */
  {
    size_t len;
    uint8_t *orig;
    FILE *f = fopen(a, "rb");
    fseek(f, 0, SEEK_END);
    len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    orig = malloc(len);
    CHECK(fread(orig, 1, len, f) == len);
    fclose(f);
    CHECK(len >= 3 * HW__PAGE);

    CHECK(truncate(a, (off_t)(len - HW__PAGE)) == 0);
    refused(dir, &oa, HW_ECORRUPT, HW_STORE_WHY_DB_TRUNCATED);
    CHECK(truncate(a, 1000) == 0);
    refused(dir, &oa, HW_ECORRUPT, HW_STORE_WHY_DB_TRUNCATED);
    CHECK(truncate(a, 0) == 0);
    refused(dir, &oa, HW_ECORRUPT, HW_STORE_WHY_DB_EMPTY);
    unlink(a);
    {
      sqlite3 *db;
      CHECK_EQ(sqlite3_open(a, &db), SQLITE_OK);
      CHECK_EQ(sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1);", NULL, NULL, NULL),
               SQLITE_OK);
      sqlite3_close(db);
    }
    refused(dir, &oa, HW_EPROTO, HW_STORE_WHY_DB_PLAINTEXT);
    f = fopen(a, "wb");
    CHECK(fwrite("hello, this is not a database at all", 1, 36, f) == 36);
    fclose(f);
    refused(dir, &oa, HW_EPROTO, HW_STORE_WHY_DB_NOT_STORE);
    f = fopen(a, "wb");
    CHECK(fwrite(orig, 1, len, f) == len);
    fclose(f);
    free(orig);
  }
  /* No database and no create: nothing made. */
  {
    char c[1100];
    hw_store_opts o;
    snprintf(c, sizeof c, "%s/none.db", dir);
    o = st_opts(c, "x");
    o.create = false;
    refused(dir, &o, HW_ENOENT, HW_STORE_WHY_NO_DB);
  }
  st = st_open_ok(&oa, NULL);
  CHECK_OK(hw_store_check(st));
  hw_store_close(st);
  st_rmdir(dir);
  free(dir);
}

static void test_passphrase_and_recovery(void)
{
  char *dir = st_tmpdir(), path[1024];
  uint8_t pk[32], sk[32];
  hw_store *st;
  hw_store_info info;
  hw_store_opts o;

  CHECK_EQ(crypto_box_keypair(pk, sk), 0);
  snprintf(path, sizeof path, "%s/k.db", dir);
  o = st_opts(path, "first");
  o.recovery_pk = pk;
  st = st_open_ok(&o, &info);
  CHECK(!(info.flags & HW_STORE_NO_RECOVERY));
  put_one(st, 7);
  CHECK_OK(hw_store_change_passphrase(st, (const uint8_t *)"second", 6));
  hw_store_close(st);
  o.create = false;
  o.recovery_pk = NULL;
  refused(dir, &o, HW_EPASSPHRASE, HW_STORE_WHY_PASSPHRASE);
  o.passphrase = (const uint8_t *)"second";
  o.passphrase_len = 6;
  st = st_open_ok(&o, NULL);
  hw_store_close(st);

  /* Forgotten passphrase: the organisation unseals the data key. */
  {
    uint8_t pk2[32], sk2[32];
    hw_store_opts r = st_opts(path, "third");
    CHECK_EQ(crypto_box_keypair(pk2, sk2), 0);
    CHECK_ERR(hw_store_recover(&r, pk2, sk2), HW_EKEYFILE); /* another org key */
    CHECK_ERR(hw_store_recover(&r, pk, sk2), HW_EAUTH);     /* wrong secret key */
    CHECK_OK(hw_store_recover(&r, pk, sk));
  }
  refused(dir, &o, HW_EPASSPHRASE, HW_STORE_WHY_PASSPHRASE);
  o.passphrase = (const uint8_t *)"third";
  o.passphrase_len = 5;
  st = st_open_ok(&o, NULL);
  {
    hw_store_rec *r;
    hw_id id = st_id(7);
    CHECK_OK(hw_store_get(st, &id, &r));
    CHECK(memcmp(r->state.p, "child", 5) == 0);
    hw_store_rec_free(r);
  }
  hw_store_close(st);

  /* A store made without a recovery key says so, and cannot be recovered. */
  {
    char p2[1100];
    hw_store_opts n;
    snprintf(p2, sizeof p2, "%s/norec.db", dir);
    n = st_opts(p2, "x");
    st = st_open_ok(&n, &info);
    CHECK(info.flags & HW_STORE_NO_RECOVERY);
    hw_store_close(st);
    CHECK_ERR(hw_store_recover(&n, pk, sk), HW_EKEYFILE);
  }
  st_rmdir(dir);
  free(dir);
}

/* Rekeying: a passphrase store moves to a key file, to another key file
 * and back to a passphrase; after each step only the new secret opens it,
 * the record is intact, and the organisation's recovery seal still works.
 * A key file it cannot use is refused with the envelope unchanged. */
static void test_rekey(void)
{
  char *dir = st_tmpdir(), *keys = st_tmpdir(), path[1024], kf[1024], kf2[1024], loose[1024];
  uint8_t pk[32], sk[32];
  hw_store_opts o, by_kf, by_kf2, by_pw, to;
  hw_store_info info;
  hw_store *st;
  hw_store_rec *r;
  hw_id id = st_id(5);

  CHECK_EQ(crypto_box_keypair(pk, sk), 0);
  snprintf(path, sizeof path, "%s/r.db", dir);
  snprintf(kf, sizeof kf, "%s/one.key", keys);
  snprintf(kf2, sizeof kf2, "%s/two.key", keys);
  snprintf(loose, sizeof loose, "%s/loose.key", keys);
  CHECK_OK(hw_store_keyfile_create(kf));
  CHECK_OK(hw_store_keyfile_create(kf2));
  CHECK_OK(hw_store_keyfile_create(loose));
  CHECK(chmod(loose, 0644) == 0);
  o = st_opts(path, "old passphrase");
  o.recovery_pk = pk;
  st = st_open_ok(&o, NULL);
  put_one(st, 5);
  o.create = false;
  o.recovery_pk = NULL;
  by_kf = o;
  by_kf.passphrase = NULL;
  by_kf.key_file = kf;
  by_kf2 = by_kf;
  by_kf2.key_file = kf2;
  by_pw = st_opts(path, "new passphrase");
  by_pw.create = false;

  /* A key file open to others, or two secrets at once: refused, nothing changed. */
  to = (hw_store_opts){.key_file = loose};
  CHECK_ERR(hw_store_rekey(st, &to, &info), HW_EPERM);
  CHECK_EQ(info.why, HW_STORE_WHY_KEYFILE_MODE);
  to = (hw_store_opts){.key_file = kf, .passphrase = (const uint8_t *)"x", .passphrase_len = 1};
  CHECK_ERR(hw_store_rekey(st, &to, &info), HW_EINVAL);
  to = (hw_store_opts){.key_file = kf};
  CHECK_OK(hw_store_rekey(st, &to, &info));
  hw_store_close(st);
  refused(dir, &o, HW_EPASSPHRASE, HW_STORE_WHY_PASSPHRASE);
  st = st_open_ok(&by_kf, NULL);
  to = (hw_store_opts){.key_file = kf2};
  CHECK_OK(hw_store_rekey(st, &to, &info));
  hw_store_close(st);
  refused(dir, &by_kf, HW_EPASSPHRASE, HW_STORE_WHY_PASSPHRASE);
  st = st_open_ok(&by_kf2, NULL);
  to = (hw_store_opts){.passphrase = (const uint8_t *)"new passphrase", .passphrase_len = 14};
  CHECK_OK(hw_store_rekey(st, &to, &info));
  hw_store_close(st);
  refused(dir, &by_kf2, HW_EPASSPHRASE, HW_STORE_WHY_PASSPHRASE);
  st = st_open_ok(&by_pw, NULL);
  CHECK_OK(hw_store_get(st, &id, &r));
  hw_store_rec_free(r);
  hw_store_close(st);
  /* The recovery seal survived every rewrap. */
  {
    hw_store_opts rr = st_opts(path, "recovered passphrase");
    CHECK_OK(hw_store_recover(&rr, pk, sk));
    rr.create = false;
    st = st_open_ok(&rr, NULL);
    hw_store_close(st);
  }
  st_rmdir(dir);
  st_rmdir(keys);
  free(dir);
  free(keys);
}

static void test_keyfile(void)
{
  char *dir = st_tmpdir(), *other = st_tmpdir(), path[1024], kf[1024], kf2[1024];
  hw_store *st;
  hw_store_info info;
  hw_store_opts o;

  snprintf(path, sizeof path, "%s/srv.db", dir);
  snprintf(kf, sizeof kf, "%s/server.key", other);
  snprintf(kf2, sizeof kf2, "%s/beside.key", dir);
  CHECK_OK(hw_store_keyfile_create(kf));
  CHECK_ERR(hw_store_keyfile_create(kf), HW_EEXIST);
  o = st_opts(path, NULL);
  o.passphrase = NULL;
  o.key_file = kf;
  st = st_open_ok(&o, &info);
  CHECK(!(info.flags & HW_STORE_KEYFILE_BESIDE_DB));
  put_one(st, 3);
  hw_store_close(st);
  o.create = false;
  st = st_open_ok(&o, &info);
  hw_store_close(st);
  /* Mode other than 0600: refused, nothing changed. */
  CHECK(chmod(kf, 0640) == 0);
  refused(dir, &o, HW_EPERM, HW_STORE_WHY_KEYFILE_MODE);
  CHECK(chmod(kf, 0600) == 0);
  /* Owned by another user (who could read or replace it): refused. Only
   * root can give a file away; CI runs as root. */
  if (geteuid() == 0) {
    CHECK(chown(kf, 65534, 65534) == 0);
    refused(dir, &o, HW_EPERM, HW_STORE_WHY_KEYFILE_OWNER);
    CHECK(chown(kf, 0, 0) == 0);
  } else {
    fprintf(stderr, "store-keys: not root, key file owner check not exercised\n");
  }
  /* No key file, or one that is not a key: each says so. */
  {
    hw_store_opts w = o;
    char bad[1100];
    FILE *f;
    snprintf(bad, sizeof bad, "%s/not-a.key", other);
    w.key_file = bad;
    refused(dir, &w, HW_ENOENT, HW_STORE_WHY_KEYFILE_ABSENT);
    f = fopen(bad, "w");
    CHECK(f != NULL);
    fputs("this is not a key\n", f);
    fclose(f);
    CHECK(chmod(bad, 0600) == 0);
    refused(dir, &w, HW_EKEYFILE, HW_STORE_WHY_KEYFILE_FORMAT);
    unlink(bad);
  }
  /* Another key: the wrap does not open. A passphrase on a key-file store too. */
  CHECK_OK(hw_store_keyfile_create(kf2));
  {
    hw_store_opts w = o;
    w.key_file = kf2;
    refused(dir, &w, HW_EPASSPHRASE, HW_STORE_WHY_PASSPHRASE);
    w = st_opts(path, "pw");
    w.create = false;
    refused(dir, &w, HW_EPASSPHRASE, HW_STORE_WHY_PASSPHRASE);
  }
  /* A key file beside the database works but is flagged. */
  {
    char p2[1100];
    hw_store_opts b;
    snprintf(p2, sizeof p2, "%s/srv2.db", dir);
    b = st_opts(p2, NULL);
    b.passphrase = NULL;
    b.key_file = kf2;
    st = st_open_ok(&b, &info);
    CHECK(info.flags & HW_STORE_KEYFILE_BESIDE_DB);
    hw_store_close(st);
  }
  /* Key file parser: hostile inputs. */
  {
    uint8_t k[32];
    uint8_t hex[66];
    memset(hex, 'a', sizeof hex);
    CHECK_OK(hw__keyfile_parse(hex, 64, k));
    hex[64] = '\n';
    CHECK_OK(hw__keyfile_parse(hex, 65, k));
    CHECK_ERR(hw__keyfile_parse(hex, 66, k), HW_EKEYFILE);
    CHECK_ERR(hw__keyfile_parse(hex, 63, k), HW_EKEYFILE);
    CHECK_ERR(hw__keyfile_parse(hex, 31, k), HW_EKEYFILE);
    CHECK_OK(hw__keyfile_parse(hex, 32, k)); /* raw */
    hex[10] = 'g';
    CHECK_ERR(hw__keyfile_parse(hex, 64, k), HW_EKEYFILE);
  }
  st_rmdir(dir);
  st_rmdir(other);
  free(dir);
  free(other);
}

/* Argon2id that cannot get its memory reports HW_ENOMEM, never a wrong
 * passphrase. Run in a child with a small address-space limit (not under
 * ASan, whose shadow memory needs a huge address space). */
static void test_kdf_nomem(void)
{
#if defined(__SANITIZE_ADDRESS__)
  printf("kdf nomem: skipped under ASan\n");
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  printf("kdf nomem: skipped under ASan\n");
#else
#define HW_RUN_KDF_NOMEM 1
#endif
#else
#define HW_RUN_KDF_NOMEM 1
#endif
#ifdef HW_RUN_KDF_NOMEM
  char *dir = st_tmpdir(), path[1024];
  hw_store_opts o;
  hw_store *st;
  pid_t pid;
  int status;

  snprintf(path, sizeof path, "%s/m.db", dir);
  o = st_opts(path, "pw");
  st = st_open_ok(&o, NULL);
  hw_store_close(st);
  /* Rewrite the envelope to ask for 1 GiB (the cap), with a valid checksum. */
  {
    char kp[1100];
    uint8_t env[HW__ENV_BYTES];
    hw__env e;
    int why;
    FILE *f;
    snprintf(kp, sizeof kp, "%s.hwkey", path);
    f = fopen(kp, "rb");
    CHECK(f && fread(env, 1, sizeof env, f) == sizeof env);
    fclose(f);
    CHECK_OK(hw__env_decode(&e, env, sizeof env, &why));
    e.memlimit = 1024u * 1024u * 1024u;
    hw__env_encode(&e, env);
    f = fopen(kp, "wb");
    CHECK(fwrite(env, 1, sizeof env, f) == sizeof env);
    fclose(f);
  }
  o.create = false;
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    struct rlimit rl = {256u << 20, 256u << 20};
    hw_store_info info;
    int rc;
    setrlimit(RLIMIT_AS, &rl);
    rc = hw_store_open(&st, &o, &info);
    _exit(rc == HW_ENOMEM && info.why == HW_STORE_WHY_KDF_NOMEM ? 0 : 1);
  }
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  printf("kdf nomem: HW_ENOMEM under a 256 MiB address-space limit\n");
  st_rmdir(dir);
  free(dir);
#endif
}

int main(void)
{
  CHECK_OK(hw_crypto_init());
  test_refusals();
  test_passphrase_and_recovery();
  test_rekey();
  test_keyfile();
  test_kdf_nomem();
  printf("store keys: ok\n");
  return 0;
}
