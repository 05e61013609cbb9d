/* JSON output of the `homeward` command (jansson). */
#ifndef HW_CLI_JSON_INT_H
#define HW_CLI_JSON_INT_H

#include <jansson.h>
#include <stdio.h>

#include "cli-int.h"

/* A value (canonical CBOR) as JSON: dates as "YYYY-MM-DD", a void as
 * {"voided": reason}. New reference. */
json_t *hw_cli_value_json(const uint8_t *v, size_t len);
/* A record: id, kind, date, voided, synced, fields (display values),
 * recorded (who and when per field), disputed (every value per field). */
json_t *hw_cli_record_json(const hw_cli_rec *x);
/* A case: id, child, stage, next visit, marks; with its forms and CSI
 * scores when `with_records`. */
json_t *hw_cli_case_json(const hw_cli_db *db, const hw_cli_case *k, const hw_date *today,
                         bool with_records);
/* Print and release `j`. */
int hw_cli_json_print(json_t *j, FILE *out);

#endif
