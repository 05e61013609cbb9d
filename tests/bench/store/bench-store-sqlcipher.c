/* The store benchmark's workload against Debian's SQLCipher (the peer we
 * measure against; never a dependency of Homeward): plain SQLite inside the
 * SQLCipher library vs SQLCipher with cipher_page_size=4096 and a raw key,
 * same pragmas as bench-store. Built only when libsqlcipher-dev is present
 * (scripts/bench-store.sh installs it). Usage: bench-store-sqlcipher [records] [dir] */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench-store-workload.h"

#define ENC "sqlcipher"

static void key_it(sqlite3 *db, const char *vfs)
{
  if (!vfs)
    return;
  /* Raw 256-bit key (no PBKDF2), 4096-byte pages like the store. */
  if (sqlite3_exec(
          db,
          "PRAGMA key = \"x'2DD29CA851E7B56E4697B0E1F08507293D761A05CE4D1B628663F411A8086D99'\";"
          "PRAGMA cipher_page_size = 4096;",
          NULL, NULL, NULL) != SQLITE_OK)
    die(db, "key");
}

static void pair(const char *name, double plain, double enc)
{
  char m[128];
  snprintf(m, sizeof m, "%s_plain", name);
  emit(m, plain, "s");
  snprintf(m, sizeof m, "%s_sqlcipher", name);
  emit(m, enc, "s");
  snprintf(m, sizeof m, "%s_ratio", name);
  emit(m, enc / plain, "ratio");
}

static void run_mode(int wal)
{
  const char *mode = wal ? "wal" : "rollback";
  char pp[1100], pe[1100], name[128];
  double tp, te;

  snprintf(pp, sizeof pp, "%s/benchc-plain.db", dir);
  snprintf(pe, sizeof pe, "%s/benchc-enc.db", dir);
  inserts_in_turns(pp, pe, ENC, wal, 100, &tp, &te);
  snprintf(name, sizeof name, "insert_tx100_%s", mode);
  pair(name, tp, te);
  inserts_in_turns(pp, pe, ENC, wal, N, &tp, &te);
  snprintf(name, sizeof name, "insert_tx1_%s", mode);
  pair(name, tp, te);
  in_turns(scan, pp, pe, ENC, wal, &tp, &te);
  snprintf(name, sizeof name, "cold_scan_%s", mode);
  pair(name, tp, te);
  in_turns(lookups, pp, pe, ENC, wal, &tp, &te);
  snprintf(name, sizeof name, "lookups_%s", mode);
  pair(name, tp, te);
  rm_db(pp);
  rm_db(pe);
}

int main(int argc, char **argv)
{
  if (argc > 1)
    N = atol(argv[1]);
  snprintf(dir, sizeof dir, "%s", argc > 2 ? argv[2] : "/tmp");
  if (N < 100)
    return 1;
  bench_name = "store-sqlcipher";
  bench_prepare_hook = key_it;
  emit("records", (double)N, "count");
  emit("sqlite_version_number", sqlite3_libversion_number(), "count");
  run_mode(0);
  run_mode(1);
  return 0;
}
