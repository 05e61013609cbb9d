/* Store format 1 to 2 (docs/storage.md "Format versions"): the records table
 * gains each state's checksum item and the caller's marks, each with an
 * index, so a sync's end reads two small indexes instead of decrypting and
 * decoding every record. Old rows get their items here; their marks stay
 * unknown until the caller works them out. */
#include <stdint.h>
#include <string.h>

#include "homeward/checksum.h"
#include "homeward/ids.h"
#include "store-int.h"

static int fill_items(sqlite3 *db)
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

int hw__store_migrate_v2(sqlite3 *db)
{
  int rc = sqlite3_exec(db,
                        "ALTER TABLE records ADD COLUMN item BLOB;"
                        "ALTER TABLE records ADD COLUMN marks INTEGER NOT NULL DEFAULT "
                        HW__MARKS_UNKNOWN_SQL ";",
                        NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = fill_items(db);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, HW__RECORDS_V2_INDEXES, NULL, NULL, NULL);
  return rc;
}
