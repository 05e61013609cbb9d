/* Realistic record states for codec, forms and stage tests, built through
 * hw_record_write (and hw_merge / hw_record_void for conflicts and voids).
 *
 * Field values are given as a tiny script: {name, type, text} where type is
 *   't' text, 'e' enum (text), 'i' integer, 'b' bool ("1"/"0"), 'n' null,
 *   'd' date "YYYY-MM-DD", 's' set of enums "a,b,c", 'l' list of texts "a|b". */
#ifndef HW_TEST_SAMPLES_H
#define HW_TEST_SAMPLES_H

#include <stddef.h>
#include <stdint.h>

#include "homeward/record.h"

typedef struct sample_fv {
  const char *name;
  char type;
  const char *text;
} sample_fv;

#define SAMPLE_FIELDS_MAX 40

/* Encoded values of one write, with hw_field_value views over them. */
typedef struct sample_write {
  size_t n;
  hw_field_value fv[SAMPLE_FIELDS_MAX];
  uint8_t buf[SAMPLE_FIELDS_MAX][1200];
} sample_write;

/* Encode the script (n entries) into `sw`; aborts on a bad script. */
void sample_encode(sample_write *sw, const sample_fv *fv, size_t n);

/* Fixed ids so encodings are stable across runs. */
extern const hw_id sample_rec_id, sample_case_id, sample_dev_a, sample_dev_b, sample_server;

/* A record of `kind` whose one write (on sample_dev_a, counter `counter`)
 * sets the fields of the script. */
hw_record *sample_record(const char *kind, uint64_t counter, const sample_fv *fv, size_t n);

/* The number of kinds that have a sample, and their names. */
size_t sample_n_kinds(void);
const char *sample_kind(size_t i);
/* A first write of every field of that kind's form (a valid create). */
const sample_fv *sample_kind_fields(size_t i, size_t *n);

/* The follow-up visit of about 1 KB used by the benchmark and golden test. */
hw_record *sample_followup(void);

/* A record of kind i written on dev_a then edited concurrently on dev_b and
 * the server (same field: a conflict), merged. */
hw_record *sample_conflicted(size_t i);

/* A record of kind i voided on dev_b while dev_a edited it: voided and
 * void-disputed after the merge. */
hw_record *sample_voided(size_t i);

#endif
