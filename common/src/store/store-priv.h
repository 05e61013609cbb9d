/* Private to the store*.c files: the store handle, its prepared statements
 * and the helpers they share (store.h is the API; store-int.h the layer
 * under it). */
#ifndef HW_STORE_PRIV_H
#define HW_STORE_PRIV_H

#include <sqlite3.h>
#include <stdbool.h>

#include "homeward/store.h"
#include "store-int.h"

/* vv bytes: n x (replica id, counter big-endian), in canonical order. */
#define VV_ENTRY (HW_ID_BYTES + 8)
#define SUBKEY_CTX "HWSTORE1"

enum {
  S_PUT,
  S_GET,
  S_META,
  S_ACK,
  S_LIST_CASE,
  S_LIST_PENDING,
  S_LIST_ALL,
  S_SET_GET,
  S_SET_PUT,
  S_SET_DEL,
  S_SET_DEL_RANGE,
  S_OW_PUT,
  S_OW_GET,
  S_OW_LIST,
  S_COUNT,
  S_DEL_CASE,
  S_COUNT_CASE,
  S_DEL_ONE,
  S_OW_DEL,
  S_DEL_CASE_ITEMS,
  S_MARKED,
  S_SET_MARKS,
  S_FORGET_MARKS,
  S_VVS,
  S_N
};

struct hw_store {
  sqlite3 *db;
  hw__cvfs *vfs;
  const hw__fs *fs;
  char *path; /* absolute */
  char *env_path;
  char *local_path;
  uint8_t *dek; /* sodium_malloc'd data key */
  hw__env env;
  unsigned test_flags;
  int journal;
  hw_id replica;
  uint64_t counter;
  uint64_t start;
  bool restored;
  int unbumped; /* HW_ENOSPC or HW_EROFS: opened without its start bump (a full disk, a
                 * read-only file system or folder): no new dots; 0 normally */
  int sp_depth;
  sqlite3_stmt *s[S_N];
  /* The state sum as of the open transaction, when sum_known: puts and
   * deletes fold into it here and it reaches the settings table before the
   * transaction commits or a savepoint starts (sum_dirty until then).
   * Forgotten at every rollback (the rollback hook and savepoint rollbacks),
   * when the table holds the right value again. */
  uint8_t sum[HW_HASH_BYTES];
  bool sum_known, sum_dirty;
};

char *hw__st_abs_path(const char *p);
int hw__st_conn_setup(hw_store *st, sqlite3 *db, bool fresh, int journal);
int hw__st_exec(hw_store *st, const char *sql);
int hw__st_from_sqlite(hw_store *st, int rc);
uint64_t hw__st_get_be64(const uint8_t *p);
int hw__st_get_secret(hw_store *st, const hw_store_opts *o, uint8_t **secret, size_t *len,
                      hw_store_info *info);
int hw__st_kdf_limits(unsigned test_flags, hw__env *e);
int hw__st_local_write(hw_store *st);
void hw__st_put_be64(uint8_t *p, uint64_t x);
int hw__st_setting_get_raw(hw_store *st, const char *name, uint8_t *buf, size_t cap, size_t *len);
int hw__st_setting_put_raw(hw_store *st, const char *name, const void *v, size_t n);
int hw__st_step_done(hw_store *st, sqlite3_stmt *s);
int hw__st_stmt(hw_store *st, int i, sqlite3_stmt **out);
char *hw__st_str_cat(const char *a, const char *b);
int hw__st_sum_write(hw_store *st);
int hw__st_u64_get(hw_store *st, const char *name, uint64_t *out);
int hw__st_u64_put(hw_store *st, const char *name, uint64_t v);
int hw__st_vv_decode(const uint8_t *p, size_t n, hw_dot *dots, hw_vv *out);
void hw__st_vv_encode(const hw_vv *vv, uint8_t *out);

#endif
