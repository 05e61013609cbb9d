/* Helpers shared by the store tests: temporary directories, small records,
 * canary scans and byte-for-byte snapshots of a directory. */
#ifndef HW_STORE_TEST_H
#define HW_STORE_TEST_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "homeward/crypto.h"
#include "homeward/mem.h"
#include "homeward/store-testvfs.h"
#include "homeward/store.h"
#include "store-int.h"

/* The bytes of row k at generation gen: different for every (k, gen), with
 * both in the first bytes (a row read back names what it is). len >= 8. */
static inline void st_row_bytes(uint8_t *b, size_t len, int k, int gen)
{
  for (size_t i = 0; i < len; i++)
    b[i] = (uint8_t)(k * 131 + gen * 7919 + (int)i * 31 + (int)(i >> 5));
  memcpy(b, &k, sizeof k);
  memcpy(b + sizeof k, &gen, sizeof gen);
}

static inline char *st_tmpdir(void)
{
  char tmpl[] = "/tmp/hw-store-XXXXXX";
  char *d = mkdtemp(tmpl);
  CHECK(d != NULL);
  return strdup(d);
}

static inline void st_rmdir(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  char p[4096];

  if (!d)
    return;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
      continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static inline hw_store_opts st_opts(const char *path, const char *pass)
{
  hw_store_opts o = {
      .path = path,
      .passphrase = (const uint8_t *)pass,
      .passphrase_len = pass ? strlen(pass) : 0,
      .create = true,
      .journal = HW_STORE_ROLLBACK,
      .test_flags = HW_STORE_TEST_KDF_MIN,
  };
  return o;
}

static inline hw_store *st_open_ok(const hw_store_opts *o, hw_store_info *info)
{
  hw_store *st = NULL;
  hw_store_info tmp;
  int rc = hw_store_open(&st, o, info ? info : &tmp);
  if (rc != 0)
    fprintf(stderr, "open %s: %s (%s)\n", o->path, hw_errname(rc),
            hw_store_why_str((info ? info : &tmp)->why));
  CHECK_OK(rc);
  return st;
}

static inline hw_id st_id(uint64_t n)
{
  hw_id id;
  memset(&id, 0, sizeof id);
  for (int i = 0; i < 8; i++)
    id.b[15 - i] = (uint8_t)(n >> (8 * i));
  id.b[0] = 0x42;
  return id;
}

/* Count occurrences of `needle` in every regular file of `dir`. */
static inline long st_grep_dir(const char *dir, const char *needle)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  size_t nl = strlen(needle);
  long hits = 0;

  CHECK(d != NULL);
  while ((e = readdir(d))) {
    char p[4096];
    struct stat sb;
    FILE *f;
    uint8_t *buf;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0)
      continue;
    f = fopen(p, "rb");
    CHECK(f != NULL);
    buf = malloc((size_t)sb.st_size);
    CHECK(buf != NULL);
    CHECK(fread(buf, 1, (size_t)sb.st_size, f) == (size_t)sb.st_size);
    fclose(f);
    for (size_t i = 0; i + nl <= (size_t)sb.st_size; i++)
      if (memcmp(buf + i, needle, nl) == 0) {
        fprintf(stderr, "canary '%s' found in %s at %zu\n", needle, p, i);
        hits++;
      }
    free(buf);
  }
  closedir(d);
  return hits;
}

/* A snapshot of every file in a directory (names and bytes). */
typedef struct st_snap {
  int n;
  char name[32][256];
  uint8_t *data[32];
  size_t len[32];
} st_snap;

static inline void st_snap_take(st_snap *s, const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;

  memset(s, 0, sizeof *s);
  CHECK(d != NULL);
  while ((e = readdir(d))) {
    char p[4096];
    struct stat sb;
    FILE *f;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode))
      continue;
    CHECK(s->n < 32);
    snprintf(s->name[s->n], sizeof s->name[0], "%s", e->d_name);
    s->len[s->n] = (size_t)sb.st_size;
    s->data[s->n] = malloc((size_t)sb.st_size + 1);
    f = fopen(p, "rb");
    CHECK(f && fread(s->data[s->n], 1, (size_t)sb.st_size, f) == (size_t)sb.st_size);
    fclose(f);
    s->n++;
  }
  closedir(d);
}

static inline void st_snap_free(st_snap *s)
{
  for (int i = 0; i < s->n; i++)
    free(s->data[i]);
}

/* Abort unless `dir` holds exactly what the snapshot holds. */
static inline void st_snap_same(const st_snap *s, const char *dir)
{
  st_snap now;
  st_snap_take(&now, dir);
  CHECK_EQ(now.n, s->n);
  for (int i = 0; i < s->n; i++) {
    int found = 0;
    for (int j = 0; j < now.n; j++) {
      if (strcmp(s->name[i], now.name[j]) != 0)
        continue;
      found = 1;
      if (s->len[i] != now.len[j] || memcmp(s->data[i], now.data[j], s->len[i]) != 0) {
        fprintf(stderr, "file changed: %s\n", s->name[i]);
        CHECK(0);
      }
    }
    CHECK(found);
  }
  st_snap_free(&now);
}

static inline void st_copy(const char *from, const char *to)
{
  FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
  char buf[65536];
  size_t n;
  CHECK(a && b);
  while ((n = fread(buf, 1, sizeof buf, a)) > 0)
    CHECK(fwrite(buf, 1, n, b) == n);
  fclose(a);
  fclose(b);
}

/* A raw connection through the encrypting VFS `vfs` (the store's page
 * layout: 4 KiB pages, HW__RESERVE bytes reserved), a 20-page cache so that
 * scans read from the file, `journal_sql` run after it; a fresh database
 * gets table t(k, v). */
static inline sqlite3 *st_raw_open(const char *path, const char *vfs, bool exclusive, bool fresh,
                                   const char *journal_sql)
{
  sqlite3 *db;
  int n = HW__RESERVE;
  char sql[256];

  CHECK_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs), SQLITE_OK);
  snprintf(sql, sizeof sql,
           "PRAGMA locking_mode=%s; PRAGMA temp_store=MEMORY; PRAGMA page_size=4096;"
           "PRAGMA cache_size=20;",
           exclusive ? "EXCLUSIVE" : "NORMAL");
  CHECK_EQ(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  if (fresh)
    CHECK_EQ(sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &n), SQLITE_OK);
  CHECK_EQ(sqlite3_exec(db, journal_sql, NULL, NULL, NULL), SQLITE_OK);
  if (fresh)
    CHECK_EQ(sqlite3_exec(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB NOT NULL)", NULL,
                          NULL, NULL),
             SQLITE_OK);
  return db;
}

/* A whole file into malloc'd memory (the caller frees it). */
static inline uint8_t *st_read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  uint8_t *b;
  long n;

  CHECK(f != NULL);
  CHECK(fseek(f, 0, SEEK_END) == 0);
  n = ftell(f);
  CHECK(n >= 0 && fseek(f, 0, SEEK_SET) == 0);
  b = malloc((size_t)n + 1);
  CHECK(b != NULL && fread(b, 1, (size_t)n, f) == (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

#endif
