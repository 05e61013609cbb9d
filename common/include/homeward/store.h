/* Homeward encrypted store (architecture §3, §5; docs/storage.md).
 *
 * One SQLite database whose every page, journal page image and WAL frame is
 * encrypted and authenticated by the store's VFS; the data key is wrapped
 * under a passphrase (Argon2id) or a server key file, and sealed to the
 * organisation's recovery key when one is given. Records are kept as opaque
 * bytes with the metadata the store indexes.
 *
 * Files: `path` (database), `path`.hwkey (key envelope), `path`.hwlocal (the
 * no-backup record of architecture §3; never copy it with the store), and
 * SQLite's `path`-journal / `path`-wal.
 *
 * Threads: a store is used by one thread at a time (it starts no thread of
 * its own: the VFS's read-ahead helper is off by default). Every function returns 0
 * or a negative HW_ code; on failure outputs are cleared and nothing the
 * caller must free is left behind. */
#ifndef HOMEWARD_STORE_H
#define HOMEWARD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/bytes.h"
#include "homeward/crypto.h"
#include "homeward/ids.h"
#include "homeward/limits.h"
#include "homeward/vv.h"

typedef struct hw_store hw_store;

#define HW_STORE_KEY_BYTES 32         /* data key, key file secret, subkeys */
#define HW_STORE_RECOVERY_PK_BYTES 32 /* crypto_box public key */
#define HW_STORE_RECOVERY_SK_BYTES 32
#define HW_STORE_SETTING_KEY_MAX 64 /* bytes in a setting name */
#define HW_STORE_SETTING_MAX 65536  /* bytes in a setting value */

/* Production Argon2id limits (libsodium MODERATE: 3 passes, 256 MiB). */
#define HW_STORE_KDF_OPS 3u
#define HW_STORE_KDF_MEM (256u * 1024u * 1024u)

enum hw_store_journal {
  HW_STORE_ROLLBACK = 0, /* rollback journal (persisted), synchronous=FULL */
  HW_STORE_WAL = 1,      /* write-ahead log, synchronous=FULL */
};

/* Test-only settings (never in production builds' callers). */
enum hw_store_test_flag {
  HW_STORE_TEST_KDF_MIN = 1 << 0,     /* smallest Argon2id limits (fast tests) */
  HW_STORE_TEST_SYNC_NORMAL = 1 << 1, /* synchronous=NORMAL: a flaw the power-cut tests catch */
  HW_STORE_TEST_NO_DIRSYNC = 1 << 2,  /* envelope without the directory fsync: likewise */
};

typedef struct hw_store_opts {
  const char *path;          /* database file (borrowed for the call) */
  const uint8_t *passphrase; /* UTF-8 bytes, or NULL when key_file is given */
  size_t passphrase_len;
  const char *key_file;       /* server: a 0600 file of 32 bytes or 64 hex digits */
  const uint8_t *recovery_pk; /* creation: the organisation's recovery key, or NULL */
  bool create;                /* create the store if `path` does not exist */
  int journal;                /* enum hw_store_journal, used at creation and at open */
  unsigned test_flags;        /* enum hw_store_test_flag */
  const char *base_vfs;       /* NULL (default VFS) or HW_TESTVFS_NAME */
} hw_store_opts;

/* Flags reported by hw_store_open. */
enum hw_store_flag {
  HW_STORE_CREATED = 1 << 0,           /* a new store was made */
  HW_STORE_NO_RECOVERY = 1 << 1,       /* made without a recovery key: a forgotten
                                          passphrase loses the data */
  HW_STORE_RESTORED = 1 << 2,          /* restored or copied (the no-backup record is
                                          missing, behind or ahead): call
                                          hw_store_new_replica before any write */
  HW_STORE_KEYFILE_BESIDE_DB = 1 << 3, /* warning: the key file sits in the
                                          database's directory */
};

/* Why an open failed, beyond the HW_ code (static strings in hw_store_why). */
enum hw_store_why {
  HW_STORE_WHY_NONE = 0,
  HW_STORE_WHY_PASSPHRASE,       /* HW_EPASSPHRASE: wrong passphrase or key file */
  HW_STORE_WHY_KEYFILE_MISSING,  /* HW_EKEYFILE: no envelope beside the database */
  HW_STORE_WHY_KEYFILE_DAMAGED,  /* HW_EKEYFILE: envelope fails its checksum or format */
  HW_STORE_WHY_KEYFILE_OTHER_DB, /* HW_EKEYFILE: envelope of another database */
  HW_STORE_WHY_KEYFILE_LIMITS,   /* HW_EKEYFILE: envelope asks for KDF limits over the caps */
  HW_STORE_WHY_KDF_NOMEM,        /* HW_ENOMEM: not enough memory for Argon2id */
  HW_STORE_WHY_DB_EMPTY,         /* HW_ECORRUPT: database file is empty */
  HW_STORE_WHY_DB_TRUNCATED,     /* HW_ECORRUPT: database truncated or failed validation */
  HW_STORE_WHY_DB_PLAINTEXT,     /* HW_EPROTO: a plain (unencrypted) SQLite file */
  HW_STORE_WHY_DB_NOT_STORE,     /* HW_EPROTO: not a Homeward store */
  HW_STORE_WHY_TAMPERED,         /* HW_ETAMPER: a page failed authentication */
  HW_STORE_WHY_KEYFILE_MODE,     /* HW_EPERM: key file readable by others (not 0600) */
  HW_STORE_WHY_NO_DB,            /* HW_ENOENT: no database and create not asked */
  HW_STORE_WHY_KEYFILE_ABSENT,   /* HW_ENOENT: the key file (hw_store_opts.key_file) is not there */
  HW_STORE_WHY_KEYFILE_OWNER,    /* HW_EPERM: key file owned by another user */
  HW_STORE_WHY_KEYFILE_FORMAT,   /* HW_EKEYFILE: key file not 32 bytes or 64 hex digits */
};
HW_EXPORT const char *hw_store_why_str(int why);

typedef struct hw_store_info {
  unsigned flags;   /* enum hw_store_flag */
  int why;          /* enum hw_store_why when the open failed */
  hw_id replica;    /* this replica's id */
  uint64_t start;   /* start number after this open */
  uint64_t counter; /* the replica's counter (last dot used) */
} hw_store_info;

/* Open (or create) a store. `info` (may be NULL) is filled on success and
 * on failure (info->why). Nothing on disk changes when the open fails.
 * Returns 0, HW_EINVAL, HW_ENOENT, HW_EPASSPHRASE, HW_EKEYFILE, HW_ETAMPER,
 * HW_ECORRUPT, HW_EPROTO, HW_EPERM, HW_ENOMEM, HW_EIO, HW_ENOSPC, HW_EBUSY. */
HW_NODISCARD HW_EXPORT int hw_store_open(hw_store **out, const hw_store_opts *o,
                                         hw_store_info *info);
/* Close and wipe. NULL is fine. An open transaction is rolled back. */
HW_EXPORT void hw_store_close(hw_store *st);

/* Create a key file (mode 0600, O_EXCL) holding 64 hex digits of a fresh
 * random key. Returns 0, HW_EEXIST or HW_EIO. */
HW_NODISCARD HW_EXPORT int hw_store_keyfile_create(const char *path);

/* Rewrap the data key under a new passphrase (nothing is re-encrypted); the
 * envelope is replaced atomically. Not inside a transaction. */
HW_NODISCARD HW_EXPORT int hw_store_change_passphrase(hw_store *st, const uint8_t *pass,
                                                      size_t pass_len);

/* Rewrap the data key under `to`'s passphrase or key file (only those two
 * fields are read; a key file is checked as at open), switching between
 * them if need be; nothing is re-encrypted, the envelope is replaced
 * atomically, the recovery seal kept. Not inside a transaction. Returns 0,
 * HW_EINVAL, or a key file's error with info->why. */
HW_NODISCARD HW_EXPORT int hw_store_rekey(hw_store *st, const hw_store_opts *to,
                                          hw_store_info *info);

/* Organisation recovery: unseal the data key of the store at o->path with the
 * recovery key pair and write a new envelope for o->passphrase (the store
 * must not be open). Returns 0, HW_EKEYFILE (no recovery seal, or another
 * database), HW_EAUTH (wrong recovery key), HW_EIO, HW_ENOMEM. */
HW_NODISCARD HW_EXPORT int hw_store_recover(const hw_store_opts *o,
                                            const uint8_t pk[static HW_STORE_RECOVERY_PK_BYTES],
                                            const uint8_t sk[static HW_STORE_RECOVERY_SK_BYTES]);

/* Transactions. begin/commit/rollback of the outer transaction; savepoints
 * nest inside it (or stand alone). Commit is durable when it returns 0. */
HW_NODISCARD HW_EXPORT int hw_store_begin(hw_store *st);
HW_NODISCARD HW_EXPORT int hw_store_commit(hw_store *st);
HW_NODISCARD HW_EXPORT int hw_store_rollback(hw_store *st);
HW_NODISCARD HW_EXPORT int hw_store_savepoint(hw_store *st);          /* push */
HW_NODISCARD HW_EXPORT int hw_store_savepoint_release(hw_store *st);  /* pop, keep */
HW_NODISCARD HW_EXPORT int hw_store_savepoint_rollback(hw_store *st); /* pop, undo */

/* One record row. For put, every pointer is borrowed for the call; from get
 * and the list callbacks, valid until freed / until the callback returns. */
typedef struct hw_store_rec {
  hw_id id;
  hw_id case_id;
  hw_bytes kind;  /* UTF-8, 1..HW_KIND_MAX bytes */
  hw_vv vv;       /* the record's version vector */
  hw_vv acked;    /* the vv last acknowledged by the server (n = 0: none) */
  hw_bytes state; /* opaque (the record's canonical CBOR), <= HW_RECORD_MAX */
  bool pending;   /* get/list only: vv not covered by acked */
  uint32_t marks; /* the caller's bits kept with the state (hw_store_list_marked);
                     HW_STORE_MARKS_UNKNOWN from get/list: not known yet */
  /* Put only, optional: hw_checksum_item(id, state) (homeward/checksum.h)
   * when the caller computed it already (a pulled batch hashes its states
   * on every core); NULL: computed here. HW_HASH_BYTES; get/list: NULL. */
  const uint8_t *item;
} hw_store_rec;

/* The marks of a record stored before the store kept marks (format 1): the
 * caller works them out from the state and sets them (hw_store_set_marks). */
#define HW_STORE_MARKS_UNKNOWN 0x80000000u

/* Insert or replace a record state. A stored record of the same id with
 * another kind or case is HW_EDIVERGE. Returns 0, HW_EINVAL, HW_ELIMIT,
 * HW_EPROTO (vv not canonical), HW_EDIVERGE, I/O errors. */
HW_NODISCARD HW_EXPORT int hw_store_put(hw_store *st, const hw_store_rec *r);

/* A local write in one savepoint: take the next dot (hw_store_next_dot must
 * have returned `dot` in the current transaction), put the state and journal
 * (dot -> record id, write digest). */
HW_NODISCARD HW_EXPORT int hw_store_put_write(hw_store *st, const hw_store_rec *r,
                                              const hw_dot *dot,
                                              const uint8_t digest[static HW_HASH_BYTES]);

/* The record `id` (owned by the caller: hw_store_rec_free). HW_ENOENT. */
HW_NODISCARD HW_EXPORT int hw_store_get(hw_store *st, const hw_id *id, hw_store_rec **out);
HW_EXPORT void hw_store_rec_free(hw_store_rec *r);

/* A record's vv and acknowledged vv alone, without its state (their dots
 * live in the buffer, some 12 KiB: allocate it). HW_ENOENT. */
typedef struct hw_store_vvs_buf {
  hw_vv vv, acked;
  hw_dot vv_dots[HW_VV_MAX], acked_dots[HW_VV_MAX];
} hw_store_vvs_buf;
HW_NODISCARD HW_EXPORT int hw_store_vvs(hw_store *st, const hw_id *id, hw_store_vvs_buf *out);

/* Set the acknowledged vv of a record (pending is recomputed). HW_ENOENT. */
HW_NODISCARD HW_EXPORT int hw_store_ack(hw_store *st, const hw_id *id, const hw_vv *acked);

/* Callbacks: `r` is borrowed for the call; a non-zero return stops the walk
 * and is returned. */
typedef int (*hw_store_rec_cb)(void *ud, const hw_store_rec *r);
HW_NODISCARD HW_EXPORT int hw_store_list_case(hw_store *st, const hw_id *case_id,
                                              hw_store_rec_cb cb, void *ud);
HW_NODISCARD HW_EXPORT int hw_store_list_pending(hw_store *st, hw_store_rec_cb cb, void *ud);
/* The records whose marks are not 0, in no particular order; reads an index
 * of them only, so it costs what they are, not what the store holds. */
HW_NODISCARD HW_EXPORT int hw_store_list_marked(hw_store *st, hw_store_rec_cb cb, void *ud);
/* Set a stored record's marks (state unchanged). HW_ENOENT. */
HW_NODISCARD HW_EXPORT int hw_store_set_marks(hw_store *st, const hw_id *id, uint32_t marks);
/* Every record's marks become HW_STORE_MARKS_UNKNOWN (the caller's meaning
 * of them changed). Rewrites every row: for a new program version, once. */
HW_NODISCARD HW_EXPORT int hw_store_forget_marks(hw_store *st);
/* XOR of hw_checksum_item(id, state) over every record (homeward/checksum.h),
 * kept up to date by every put and delete in their transaction (one made
 * for a call outside one): no state is read. After a failed put or delete
 * inside a transaction, roll the transaction back. */
HW_NODISCARD HW_EXPORT int hw_store_sum(hw_store *st, uint8_t out[static HW_HASH_BYTES]);
HW_NODISCARD HW_EXPORT int hw_store_list_all(hw_store *st, hw_store_rec_cb cb, void *ud);
HW_NODISCARD HW_EXPORT int hw_store_count(hw_store *st, uint64_t *n_records);

/* Delete the records of a case that have nothing pending (a case taken
 * away from this device's worker); records with unacknowledged writes stay
 * until they are pushed. *deleted and *kept count both kinds. */
HW_NODISCARD HW_EXPORT int hw_store_delete_case(hw_store *st, const hw_id *case_id,
                                                uint64_t *deleted, uint64_t *kept);

/* Delete one record whatever it holds (a copy a coordinator decided on:
 * the device takes the server's instead). HW_ENOENT when absent. */
HW_NODISCARD HW_EXPORT int hw_store_delete(hw_store *st, const hw_id *id);

/* Small settings (cursors, identity keys, ...): encrypted at rest with the
 * rest of the database. get returns an hw_malloc copy (hw_free) or HW_ENOENT.
 * Names are 1..HW_STORE_SETTING_KEY_MAX bytes; names starting with "hw." are
 * the store's own. */
HW_NODISCARD HW_EXPORT int hw_store_setting_set(hw_store *st, const char *name, const void *v,
                                                size_t len);
HW_NODISCARD HW_EXPORT int hw_store_setting_get(hw_store *st, const char *name, uint8_t **v,
                                                size_t *len);
HW_NODISCARD HW_EXPORT int hw_store_setting_del(hw_store *st, const char *name);
/* Every setting whose name starts with `prefix` (1..HW_STORE_SETTING_KEY_MAX
 * bytes, not the store's own "hw."; its last byte below 0xff). */
HW_NODISCARD HW_EXPORT int hw_store_setting_del_prefix(hw_store *st, const char *prefix);

/* The replica's identity and counter. */
HW_EXPORT void hw_store_replica(const hw_store *st, hw_id *replica, uint64_t *counter);

/* Bump the replica's one counter inside the current transaction (HW_EINVAL
 * outside one) and return the new dot. HW_EDOTREUSE while the store is
 * marked restored (take a new replica first). */
HW_NODISCARD HW_EXPORT int hw_store_next_dot(hw_store *st, hw_dot *out);

/* After HW_STORE_RESTORED: take a fresh replica id (counter 0), remember
 * (old id, old counter) as the inheritance the next hello declares, and
 * bring the no-backup record in line. Also usable at any time. */
HW_NODISCARD HW_EXPORT int hw_store_new_replica(hw_store *st, hw_dot *inherits);

/* The declared inheritance (old replica id, its counter), HW_ENOENT if none. */
HW_NODISCARD HW_EXPORT int hw_store_inherits(hw_store *st, hw_dot *out);

/* Journal of own writes: dot -> (record id, write digest). */
HW_NODISCARD HW_EXPORT int hw_store_journal_get(hw_store *st, const hw_dot *dot, hw_id *record,
                                                uint8_t digest[static HW_HASH_BYTES]);
typedef int (*hw_store_journal_cb)(void *ud, const hw_dot *dot, const hw_id *record,
                                   const uint8_t digest[HW_HASH_BYTES]);
/* Inside a transaction: take out of the journal the entry of a write replaced
 * by a later local write before it was ever acknowledged. The server can
 * only hold writes a pushed state carried, and the lineage check folds
 * exactly those (protocol.md §9.2). The entry is kept aside: a push carrying
 * it may have been committed with its acknowledgement lost, and a lineage
 * refusal then lists it (get it with _replaced, put it back with _restore,
 * inside a transaction). Absent entries are fine. */
HW_NODISCARD HW_EXPORT int hw_store_journal_forget(hw_store *st, const hw_dot *dot);
HW_NODISCARD HW_EXPORT int hw_store_journal_replaced(hw_store *st, const hw_dot *dot,
                                                     hw_id *record,
                                                     uint8_t digest[static HW_HASH_BYTES]);
HW_NODISCARD HW_EXPORT int hw_store_journal_restore(hw_store *st, const hw_dot *dot);
/* Entries of `replica` with counter > after, in counter order. */
HW_NODISCARD HW_EXPORT int hw_store_journal_list(hw_store *st, const hw_id *replica, uint64_t after,
                                                 hw_store_journal_cb cb, void *ud);

/* Online encrypted backup into `dest` (must not exist) and its envelope
 * `dest`.hwkey; no no-backup record is written, so opening the copy reports
 * HW_STORE_RESTORED. Never writes plaintext. */
HW_NODISCARD HW_EXPORT int hw_store_backup(hw_store *st, const char *dest);

/* PRAGMA integrity_check: 0, HW_ECORRUPT or HW_ETAMPER. */
HW_NODISCARD HW_EXPORT int hw_store_check(hw_store *st);

/* A subkey of the data key for the caller's own wrapping (e.g. the device's
 * static transport key). id >= 16 (lower ids are the store's). The caller
 * wipes it. */
HW_NODISCARD HW_EXPORT int hw_store_subkey(hw_store *st, uint64_t id,
                                           uint8_t out[static HW_STORE_KEY_BYTES]);

/* The store's SQLite connection, for a program's own tables in the same
 * encrypted database and the same transactions (the server's bookkeeping).
 * Borrowed: valid until hw_store_close; use it only from the store's thread,
 * and never change the store's pragmas or its own tables through it. */
HW_EXPORT struct sqlite3 *hw_store_sqlite(hw_store *st);

/* Compact the database (VACUUM through the encrypting VFS). */
HW_NODISCARD HW_EXPORT int hw_store_vacuum(hw_store *st);

#endif
