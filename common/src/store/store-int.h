/* Private to common/src/store (and the store's own tests and benchmark):
 * the encrypting VFS, the envelope codec and the small file layer that the
 * power-cut test VFS also controls. docs/storage.md describes the formats. */
#ifndef HOMEWARD_STORE_INT_H
#define HOMEWARD_STORE_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/err.h"

#define HW__PAGE 4096  /* fixed page size */
#define HW__RESERVE 40 /* per-page reserved bytes: nonce + tag */
#define HW__USABLE (HW__PAGE - HW__RESERVE)
#define HW__NONCE 24
#define HW__TAG 16
#define HW__KEY 32
#define HW__DBID 16
#define HW__WAL_HDR 32
#define HW__WAL_FRAME_HDR 24

/* Page 1 of the main database starts with this magic and the first 8 bytes of
 * the database id, in clear but authenticated (docs/storage.md "Pages"). */
#define HW__DB_MAGIC "HWSTORE\x01"

/* ---- encrypting VFS (cryptvfs.c) ---- */
typedef struct hw__cvfs hw__cvfs;

/* Register a new encrypting VFS over `base_vfs` (NULL: the default VFS) with
 * the page key `key` (copied into sodium_malloc memory) for the database
 * `dbid`. Returns 0, HW_ENOMEM or HW_EINVAL (no such base VFS). */
HW_NODISCARD int hw__cvfs_new(hw__cvfs **out, const char *base_vfs, const uint8_t key[HW__KEY],
                              const uint8_t dbid[HW__DBID]);
const char *hw__cvfs_name(const hw__cvfs *v);
/* Number of pages that failed authentication since the last reset. */
long hw__cvfs_tampered(const hw__cvfs *v);
void hw__cvfs_reset_tampered(hw__cvfs *v);
/* Pages opened and sealed, pages served by read-ahead and read-ahead workers
 * started, since creation. */
void hw__cvfs_stats(hw__cvfs *v, long *opened, long *sealed, long *ra_served, long *ra_workers);
/* WAL frame pages served from the connection's plaintext frame cache
 * (walcache-int.h) since creation. */
long hw__cvfs_wal_served(const hw__cvfs *v);
/* Read-ahead on a second core for forward scans (default on; readahead.c). */
void hw__cvfs_set_readahead(hw__cvfs *v, bool on);
bool hw__cvfs_readahead(const hw__cvfs *v);
/* Unregister and wipe. Every connection using it must be closed. */
void hw__cvfs_free(hw__cvfs *v);

/* ---- file layer for the envelope and the no-backup record (fs.c) ---- */
typedef struct hw__fs {
  /* Create `path` (must not exist) with mode 0600; returns a handle >= 0 or
   * a negative HW_ code. */
  int (*create)(const char *path);
  int (*write)(int h, const void *p, size_t n);
  int (*sync)(int h);
  int (*close)(int h);
  int (*rename)(const char *from, const char *to);
  int (*sync_dir)(const char *dir);
  int (*unlink)(const char *path);
} hw__fs;

const hw__fs *hw__fs_posix(void);
const hw__fs *hw__fs_test(void); /* the power-cut test VFS's file layer */

/* Write `p` to `path` atomically: `path`.tmp, fsync, rename, fsync dir
 * (unless `skip_dirsync`, a test-only flaw). */
HW_NODISCARD int hw__fs_write_atomic(const hw__fs *fs, const char *path, const uint8_t *p, size_t n,
                                     bool skip_dirsync);
/* Read a whole small file into buf. HW_ENOENT, HW_ELIMIT (over cap), HW_EIO. */
HW_NODISCARD int hw__fs_read(const char *path, uint8_t *buf, size_t cap, size_t *len);
/* The directory part of `path` into out ("." when none). */
void hw__fs_dirname(const char *path, char *out, size_t cap);

/* ---- key envelope (envelope.c) ---- */
#define HW__ENV_BYTES 292
#define HW__KDF_ARGON2ID 1
#define HW__KDF_KEYFILE 2

typedef struct hw__env {
  uint8_t version;
  uint8_t flags; /* HW__ENV_F_RECOVERY */
  uint8_t kdf;   /* HW__KDF_* */
  uint64_t opslimit;
  uint64_t memlimit;
  uint8_t salt[16];
  uint8_t dbid[HW__DBID];
  uint8_t recovery_pk[32];
  uint8_t wrap_nonce[HW__NONCE];
  uint8_t wrapped[HW__KEY + HW__TAG];
  uint8_t sealed[48 + HW__DBID + HW__KEY]; /* crypto_box_seal(dbid || dek) */
} hw__env;
#define HW__ENV_F_RECOVERY 1

/* Sub-reasons of HW_EKEYFILE from the decoder. */
enum { HW__ENV_OK = 0, HW__ENV_DAMAGED = 1, HW__ENV_LIMITS = 2, HW__ENV_VERSION = 3 };

void hw__env_encode(const hw__env *e, uint8_t out[HW__ENV_BYTES]);
/* Returns 0 or HW_EKEYFILE with *why set (HW__ENV_*); *e zeroed on error. */
HW_NODISCARD int hw__env_decode(hw__env *e, const uint8_t *p, size_t n, int *why);
/* The authenticated header (associated data of the wrap). */
size_t hw__env_header(const hw__env *e, uint8_t out[128]);

/* Derive the key-encryption key. Returns 0, HW_ENOMEM (the KDF could not get
 * its memory) or HW_EINVAL. */
HW_NODISCARD int hw__env_kek(const hw__env *e, const uint8_t *secret, size_t secret_len,
                             uint8_t kek[HW__KEY]);
/* Wrap / unwrap the data key under kek (wrap draws a fresh nonce). Unwrap
 * returns 0 or HW_EPASSPHRASE. */
void hw__env_wrap(hw__env *e, const uint8_t kek[HW__KEY], const uint8_t dek[HW__KEY]);
HW_NODISCARD int hw__env_unwrap(const hw__env *e, const uint8_t kek[HW__KEY], uint8_t dek[HW__KEY]);
/* Key file: 32 raw bytes, or 64 hex digits with an optional final newline. */
HW_NODISCARD int hw__keyfile_parse(const uint8_t *p, size_t n, uint8_t key[HW__KEY]);

/* ---- record table format (store.c, migrate.c) ---- */
/* HW_STORE_MARKS_UNKNOWN in SQL: the default of the marks column. */
#define HW__MARKS_UNKNOWN_SQL "2147483648"
/* The index format 2 added: the marked records. */
#define HW__RECORDS_V2_INDEXES "CREATE INDEX records_marked ON records(marks) WHERE marks != 0;"
/* The setting holding the XOR of every row's item (hw_store_sum). */
#define HW__SUM_SETTING "hw.sum"

/* Format 1 to 3, inside the caller's transaction: add the item and marks
 * columns (marks unknown), fill every item and their sum, build the index.
 * Returns an SQLite result code. */
int hw__store_migrate_v2(sqlite3 *db);
/* Format 2 (items in an index) to 3: their sum into hw.sum, the index gone. */
int hw__store_migrate_v3(sqlite3 *db);

#endif
