/* Private to the sdb*.c files: the server database handle, its prepared
 * statements and the helpers they share (sdb-int.h is the API). */
#ifndef HW_SDB_PRIV_H
#define HW_SDB_PRIV_H

#include <stdbool.h>

#include "sdb-int.h"

enum {
  ST_BEGIN,
  ST_SAVEPOINT,
  ST_RELEASE,
  ST_ROLLBACK_TO,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_META_GET,
  ST_META_PUT,
  ST_REC_GET,
  ST_REC_DEL,
  ST_REC_PUT,
  ST_DOT_GET,
  ST_DOT_PUT,
  ST_DOTS_UPTO,
  ST_MARK_GET,
  ST_MARK_PUT,
  ST_MARK_DROP,
  ST_DOTS_AFTER,
  ST_HIST_PUT,
  ST_AUDIT_LAST,
  ST_AUDIT_PUT,
  ST_AUDIT_ALL,
  ST_QUAR_PUT,
  ST_DEV_GET,
  ST_DEV_PUT,
  ST_DEV_STATUS,
  ST_REP_GET,
  ST_REP_PUT,
  ST_REP_LIST,
  ST_INV_PUT,
  ST_INV_GET,
  ST_INV_USE,
  ST_INV_VOID,
  ST_INV_VOID_WORKER,
  ST_INV_LIST,
  ST_REC_AFTER,
  ST_REC_COUNT,
  ST_ASSIGN_GET,
  ST_REC_WORKER,
  ST_ASSIGN_PUT,
  ST_ASSIGN_LOG,
  ST_HELD_PUT,
  ST_HELD_GET,
  ST_REGION_PUT,
  ST_REGION_LIST,
  ST_REGION_DEL,
  ST_HELD_INHERIT,
  ST_WSUM_GET,
  ST_WSUM_PUT,
  ST_CASE_RECORDS,
  ST_LOAD_AFTER,
  ST_SEQS_AFTER,
  ST_REC_BY_SEQ,
  ST_EVENTS_AFTER,
  ST_CASELOAD,
  ST_FLAG_PUT,
  ST_FLAG_DEL,
  ST_FLAG_LIST,
  ST_FLAGGED_OF,
  ST_DEV_LIST,
  ST_DEV_BY_PREFIX,
  ST_CASE_IDS,
  ST_PERSON_ROLES,
  ST_COUNT
};

/* The sequence number, the caseload checksum and the audit head change with
 * every record: they are kept here and written once per job (hw_sdb_flush,
 * from the storage operations before a savepoint is released), and read
 * again after a rollback (hw_sdb_invalidate). */
/* Workers' caseload checksums the storage thread changed and has not
 * written yet: a push job changes its worker's at every record. */
#define WSUM_SLOTS 8

typedef struct wsum_slot {
  char worker[HW_WORKER_MAX];
  uint8_t sum[HW_HASH_BYTES];
  bool used, dirty;
} wsum_slot;

struct hw_sdb {
  sqlite3 *db;
  sqlite3_stmt *st[ST_COUNT];
  bool cache_ok, dirty;
  uint64_t seq;
  uint64_t audit_seq;
  uint8_t audit_head[HW_HASH_BYTES];
  wsum_slot wsum[WSUM_SLOTS];
  unsigned wsum_next; /* the slot a new worker takes next */
};

/* Helpers of the sdb*.c files (defined in sdb.c unless named otherwise):
 * SQLite codes to HW_ codes, a walk's end, a blob copied out or checked for
 * its size, a text column copied, a one-statement exec. */
int hw__sdb_audit_last(hw_sdb *s, uint64_t *seq, uint8_t hash[static HW_HASH_BYTES]); /* records */
int hw__sdb_blob_exact(sqlite3_stmt *st, int col, void *out, size_t len);
int hw__sdb_exec_st(hw_sdb *s, int which);
int hw__sdb_from_sqlite(int rc);
int hw__sdb_load_cache(hw_sdb *s);
int hw__sdb_take_blob(sqlite3_stmt *st, int col, uint8_t **out, size_t *len);
int hw__sdb_text_col(sqlite3_stmt *st, int col, char *out, size_t cap); /* devices */
int hw__sdb_unique_end(sqlite3_stmt *st, int rc, int found);            /* caseload */
int hw__sdb_walk_end(sqlite3_stmt *st, int rc);
int hw__sdb_wsum_write(hw_sdb *s, wsum_slot *w);

#endif
