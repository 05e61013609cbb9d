/* Store benchmark (JSON lines): the same workload on plain SQLite and through
 * the encrypting VFS, same schema and pragmas (exclusive locking, memory temp
 * store, 4096-byte pages, synchronous=FULL, default cache), side by side in
 * one run, with the ratio as its own metric:
 *   100k records of ~1 KB inserted in transactions of 100 and in one
 *   transaction (rollback journal and WAL), a cold full scan on a new
 *   connection (with and without read-ahead too), 100k random point
 *   lookups; the scans and the lookups as medians of RUNS rounds taken in
 *   turns (bench-store-workload.h).
 * Also the Argon2id unlock time at the production limits, and the cipher's
 * own cost per page with the ratio it implies for each workload.
 * Usage: bench-store [records] [dir]   (defaults 100000, /tmp) */
#include <sodium.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "homeward/crypto.h"
#include "homeward/store.h"
#include "store-int.h"

#include "bench-store-workload.h"

/* One metric measured on both sides; prints both and the ratio. */
static void pair(const char *name, double plain, double enc)
{
  char m[128];
  snprintf(m, sizeof m, "%s_plain", name);
  emit(m, plain, "s");
  snprintf(m, sizeof m, "%s_encrypted", name);
  emit(m, enc, "s");
  snprintf(m, sizeof m, "%s_ratio", name);
  emit(m, enc / plain, "ratio");
}


static hw__cvfs *V;
static double open_s; /* seconds to open one page: cipher_cost() */

/* The AEAD open of one page as the VFS calls it (its usable bytes, a 17-byte
 * associated data), median of RUNS rounds. */
static void cipher_cost(void)
{
  enum { ROUNDS = 20000 };
  static uint8_t page[HW__PAGE];
  uint8_t key[32], nonce[24], tag[16], ad[17] = "HWP1";
  double t[RUNS];

  randombytes_buf(key, sizeof key);
  randombytes_buf(nonce, sizeof nonce);
  randombytes_buf(page, sizeof page);
  crypto_aead_xchacha20poly1305_ietf_encrypt_detached(page, tag, NULL, page, HW__USABLE, ad,
                                                      sizeof ad, NULL, nonce, key);
  for (int r = 0; r < RUNS; r++) {
    double t0 = now();
    for (int i = 0; i < ROUNDS; i++)
      if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(page, NULL, page, HW__USABLE, tag,
                                                              ad, sizeof ad, nonce, key) != 0 ||
          crypto_aead_xchacha20poly1305_ietf_encrypt_detached(page, tag, NULL, page, HW__USABLE,
                                                              ad, sizeof ad, NULL, nonce, key))
        exit(1);
    t[r] = (now() - t0) / (2.0 * ROUNDS); /* an open and a seal cost the same */
  }
  open_s = median(t, RUNS);
  emit("cipher_open_page_us", open_s * 1e6, "us");
}

/* The ratio the cipher's own cost implies for a workload that took `plain`
 * seconds: it opens `opened` pages on its own thread (a read waits for its
 * page) and seals `sealed` pages spread perfectly over every core. What the
 * measured ratio has above it is the VFS's own overhead (both move with the
 * machine's load: they can cross by a few percent). */
static void cipher_bound(const char *name, double plain, long opened, long sealed)
{
  char m[128];
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  double cipher = ((double)opened + (double)sealed / (double)(cores > 0 ? cores : 1)) * open_s;

  snprintf(m, sizeof m, "%s_cipher_bound_ratio", name);
  emit(m, (plain + cipher) / plain, "ratio");
}

static int scan_only; /* third argument "scan": one-transaction inserts and cold scans only */

static void run_mode(const char *vfs, int wal)
{
  const char *mode = wal ? "wal" : "rollback";
  char pp[1100], pe[1100], name[128];
  double tp, te;
  long opened = 0, sealed = 0;
  sqlite3 *dp, *de;

  snprintf(pp, sizeof pp, "%s/bench-plain.db", dir);
  snprintf(pe, sizeof pe, "%s/bench-enc.db", dir);

  /* Transactions of 100. */
  if (!scan_only) {
    inserts_in_turns(pp, pe, vfs, wal, 100, &tp, &te);
    snprintf(name, sizeof name, "insert_tx100_%s", mode);
    pair(name, tp, te);
  }

  /* One transaction. */
  {
    long o0, s0, r0, w0, o1, s1, r1, w1;
    hw__cvfs_stats(V, &o0, &s0, &r0, &w0);
    inserts_in_turns(pp, pe, vfs, wal, N, &tp, &te);
    hw__cvfs_stats(V, &o1, &s1, &r1, &w1);
    opened = (o1 - o0) / INSERT_RUNS;
    sealed = (s1 - s0) / INSERT_RUNS;
    snprintf(name, sizeof name, "insert_tx1_%s_pages_opened", mode); /* per round */
    emit(name, (double)opened, "count");
    snprintf(name, sizeof name, "insert_tx1_%s_pages_sealed", mode);
    emit(name, (double)sealed, "count");
    snprintf(name, sizeof name, "insert_tx1_%s_readahead_workers", mode);
    emit(name, (double)(w1 - w0), "count");
  }
  snprintf(name, sizeof name, "insert_tx1_%s", mode);
  pair(name, tp, te);
  cipher_bound(name, tp, opened, sealed);

  /* Cold scan: a new connection, nothing in SQLite's cache; plain, the
   * store's default, and with decryption running ahead on the second core
   * and without. One scan takes ~0.1 s and the machine is shared: each is
   * the median of RUNS, taken in turns. */
  {
    double t[4][RUNS];
    long o0, s0, r0, w0, o1, s1, r1, w1;
    bool dflt = hw__cvfs_readahead(V);
    for (int i = 0; i < RUNS; i++) {
      dp = open_db(pp, NULL, wal, 0);
      t[0][i] = scan(dp);
      sqlite3_close(dp);
      for (int v = 1; v < 4; v++) {
        hw__cvfs_set_readahead(V, v == 1 ? dflt : v == 2);
        de = open_db(pe, vfs, wal, 0);
        t[v][i] = scan(de);
        sqlite3_close(de);
      }
      hw__cvfs_set_readahead(V, dflt);
    }
    tp = median(t[0], RUNS);
    snprintf(name, sizeof name, "cold_scan_%s", mode);
    pair(name, tp, median(t[1], RUNS));
    for (int v = 2; v < 4; v++) {
      const char *what = v == 2 ? "readahead" : "no_readahead";
      snprintf(name, sizeof name, "cold_scan_%s_%s_encrypted", mode, what);
      emit(name, median(t[v], RUNS), "s");
      snprintf(name, sizeof name, "cold_scan_%s_%s_ratio", mode, what);
      emit(name, median(t[v], RUNS) / tp, "ratio");
    }
    /* Pages opened and served in one more scan with read-ahead on. */
    hw__cvfs_set_readahead(V, true);
    de = open_db(pe, vfs, wal, 0);
    hw__cvfs_stats(V, &o0, &s0, &r0, &w0);
    scan(de);
    hw__cvfs_stats(V, &o1, &s1, &r1, &w1);
    sqlite3_close(de);
    hw__cvfs_set_readahead(V, dflt);
    snprintf(name, sizeof name, "cold_scan_%s_readahead_pages_opened", mode);
    emit(name, (double)(o1 - o0), "count");
    snprintf(name, sizeof name, "cold_scan_%s_readahead_pages_served", mode);
    emit(name, (double)(r1 - r0), "count");
  }

  if (scan_only) {
    rm_db(pp);
    rm_db(pe);
    return;
  }
  /* Random point lookups (default cache: most pages come from disk). */
  {
    long o0, s0, r0, w0, o1, s1, r1, w1;
    hw__cvfs_stats(V, &o0, &s0, &r0, &w0);
    in_turns(lookups, pp, pe, vfs, wal, &tp, &te);
    hw__cvfs_stats(V, &o1, &s1, &r1, &w1);
    opened = (o1 - o0) / RUNS;
    snprintf(name, sizeof name, "lookups_%s_pages_opened", mode); /* per round */
    emit(name, (double)opened, "count");
    snprintf(name, sizeof name, "lookups_%s_readahead_workers", mode);
    emit(name, (double)(w1 - w0), "count");
  }
  snprintf(name, sizeof name, "lookups_%s", mode);
  pair(name, tp, te);
  cipher_bound(name, tp, opened, 0);
  rm_db(pp);
  rm_db(pe);
}

static void unlock_time(void)
{
  char p[1100];
  hw_store_opts o = {
      .passphrase = (const uint8_t *)"a long passphrase", .passphrase_len = 17, .create = true};
  hw_store *st;
  double t0;

  snprintf(p, sizeof p, "%s/bench-unlock.db", dir);
  rm_db(p);
  o.path = p;
  if (hw_store_open(&st, &o, NULL) != 0) {
    fprintf(stderr, "bench-store: create for unlock failed\n");
    exit(1);
  }
  hw_store_close(st);
  o.create = false;
  for (int i = 0; i < 3; i++) {
    t0 = now();
    if (hw_store_open(&st, &o, NULL) != 0) {
      fprintf(stderr, "bench-store: unlock failed\n");
      exit(1);
    }
    if (i == 2)
      emit("unlock_argon2id_moderate_s", now() - t0, "s");
    hw_store_close(st);
  }
  emit("argon2id_opslimit", HW_STORE_KDF_OPS, "count");
  emit("argon2id_memlimit_mib", (double)HW_STORE_KDF_MEM / (1024 * 1024), "MiB");
  rm_db(p);
  {
    char b[1200];
    snprintf(b, sizeof b, "%s.hwkey", p);
    unlink(b);
    snprintf(b, sizeof b, "%s.hwlocal", p);
    unlink(b);
  }
}

int main(int argc, char **argv)
{
  hw__cvfs *v;
  uint8_t key[32], dbid[16];

  if (argc > 1)
    N = atol(argv[1]);
  snprintf(dir, sizeof dir, "%s", argc > 2 ? argv[2] : "/tmp");
  scan_only = argc > 3 && strcmp(argv[3], "scan") == 0;
  if (hw_crypto_init() != 0 || N < 100)
    return 1;
  randombytes_buf(key, sizeof key);
  randombytes_buf(dbid, sizeof dbid);
  if (hw__cvfs_new(&v, NULL, key, dbid) != 0)
    return 1;
  V = v;
  emit("records", (double)N, "count");
  cipher_cost();
  if (!scan_only)
    unlock_time();
  run_mode(hw__cvfs_name(v), 0);
  run_mode(hw__cvfs_name(v), 1);
  hw__cvfs_free(v);
  return 0;
}
