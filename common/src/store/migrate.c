/* Store format 1 to 2 (docs/storage.md "Tables and format versions"): each
 * record row gains its state's checksum item and the caller's marks (with a
 * partial index of the marked rows), and the store the XOR of all items, so
 * a sync's end reads one setting and a few rows instead of decrypting and
 * decoding every record. Old rows get their items and the sum here; their
 * marks stay unknown until the caller works them out. */
#include <stdint.h>
#include <string.h>

#include "homeward/checksum.h"
#include "homeward/ids.h"
#include "store-int.h"

static int fill_items(sqlite3 *db, uint8_t sum[static HW_HASH_BYTES])
{
  sqlite3_stmt *rd = NULL, *wr = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT rowid, id, state FROM records", -1, &rd, NULL);

  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(db, "UPDATE records SET item = ?2 WHERE rowid = ?1", -1, &wr, NULL);
  while (rc == SQLITE_OK && (rc = sqlite3_step(rd)) == SQLITE_ROW) {
    uint8_t item[HW_HASH_BYTES];
    hw_id id;
    if (sqlite3_column_bytes(rd, 1) != HW_ID_BYTES || !sqlite3_column_blob(rd, 1)) {
      rc = SQLITE_CORRUPT;
      break;
    }
    memcpy(id.b, sqlite3_column_blob(rd, 1), HW_ID_BYTES);
    hw_checksum_item(item, &id, sqlite3_column_blob(rd, 2), (size_t)sqlite3_column_bytes(rd, 2));
    hw_checksum_xor(sum, item);
    sqlite3_bind_int64(wr, 1, sqlite3_column_int64(rd, 0));
    sqlite3_bind_blob(wr, 2, item, HW_HASH_BYTES, SQLITE_STATIC);
    rc = sqlite3_step(wr);
    sqlite3_reset(wr);
    rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
  }
  if (rc == SQLITE_DONE)
    rc = SQLITE_OK;
  sqlite3_finalize(rd);
  sqlite3_finalize(wr);
  return rc;
}

static int put_sum(sqlite3 *db, const uint8_t sum[static HW_HASH_BYTES])
{
  sqlite3_stmt *put = NULL;
  int rc = sqlite3_prepare_v2(db,
                              "INSERT INTO settings(name, value) VALUES('" HW__SUM_SETTING "', ?1)"
                              " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                              -1, &put, NULL);

  if (rc == SQLITE_OK) {
    sqlite3_bind_blob(put, 1, sum, HW_HASH_BYTES, SQLITE_STATIC);
    rc = sqlite3_step(put);
    rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
  }
  sqlite3_finalize(put);
  return rc;
}

int hw__store_migrate_v2(sqlite3 *db)
{
  uint8_t sum[HW_HASH_BYTES] = {0};
  int rc = sqlite3_exec(db,
                        "ALTER TABLE records ADD COLUMN item BLOB;"
                        "ALTER TABLE records ADD COLUMN marks INTEGER NOT NULL DEFAULT "
                        HW__MARKS_UNKNOWN_SQL ";",
                        NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = fill_items(db, sum);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, HW__RECORDS_V2_INDEXES, NULL, NULL, NULL);
  return rc == SQLITE_OK ? put_sum(db, sum) : rc;
}

int hw__store_migrate_v3(sqlite3 *db)
{
  uint8_t sum[HW_HASH_BYTES] = {0};
  sqlite3_stmt *rd = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT item FROM records", -1, &rd, NULL);

  while (rc == SQLITE_OK && (rc = sqlite3_step(rd)) == SQLITE_ROW) {
    if (sqlite3_column_bytes(rd, 0) != HW_HASH_BYTES || !sqlite3_column_blob(rd, 0)) {
      rc = SQLITE_CORRUPT;
      break;
    }
    hw_checksum_xor(sum, sqlite3_column_blob(rd, 0));
    rc = SQLITE_OK;
  }
  if (rc == SQLITE_DONE)
    rc = SQLITE_OK;
  sqlite3_finalize(rd);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, "DROP INDEX IF EXISTS records_item", NULL, NULL, NULL);
  return rc == SQLITE_OK ? put_sum(db, sum) : rc;
}
