/* Homeward record states (architecture §2).
 *
 * A record is everything recorded about one child under one id: a kind, the
 * case it belongs to, a schema version, a version vector, the writes whose
 * values are still visible, and per field a set of (write, value) pairs. More
 * than one pair in a field is a conflict. Values are opaque here: each is the
 * canonical CBOR of one item (value.h makes and reads them), so fields of a
 * newer schema survive byte for byte.
 *
 * A hw_record is immutable once built and owns all its memory: every
 * operation returns a new state. The struct is visible so readers can walk
 * it; treat every member as read-only. */
#ifndef HOMEWARD_RECORD_H
#define HOMEWARD_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/arena.h"
#include "homeward/bytes.h"
#include "homeward/crypto.h"
#include "homeward/vv.h"

/* The field every record has: null (not voided) or a void value (value.h). */
#define HW_FIELD_VOIDED "voided"

/* One write still visible in the state. The digest is BLAKE2b-256 over the
 * whole write (record id, dot, wall time, author, every field and value it
 * set; docs/data-model.md gives the exact bytes), so one dot can name only one
 * write. */
typedef struct hw_write_meta {
  hw_dot dot;
  int64_t wall_ms; /* the writer's wall clock: display and audit only */
  hw_bytes author; /* UTF-8 user name of the writer */
  uint8_t digest[HW_HASH_BYTES];
} hw_write_meta;

typedef struct hw_pair {
  uint32_t w;     /* index into the record's writes */
  hw_bytes value; /* canonical CBOR of one item */
} hw_pair;

typedef struct hw_field {
  hw_bytes name;    /* UTF-8 */
  uint32_t n_pairs; /* >= 1; more than one is a conflict */
  hw_pair *pairs;   /* sorted by write index (= by dot) */
} hw_field;

typedef struct hw_record {
  hw_id id;
  hw_id case_id;
  hw_bytes kind;           /* UTF-8, e.g. "followup" */
  uint32_t schema_version; /* highest schema version that wrote it */
  hw_vv vv;
  size_t n_writes;
  hw_write_meta *writes; /* sorted by dot; each used by at least one pair */
  size_t n_fields;
  hw_field *fields; /* sorted by name: shorter first, then bytewise */
  /* private */
  size_t data_len; /* bytes a copy of this state needs */
  hw_arena arena;  /* owns everything above */
} hw_record;

/* A field set by a write: name and value are borrowed for the call. */
typedef struct hw_field_value {
  hw_bytes name;
  hw_bytes value;
} hw_field_value;

/* One local write: `dot` must be new (its counter above everything this
 * replica has used, which the store guarantees by bumping its one counter in
 * the same transaction). `author` and `fields` are borrowed for the call. */
typedef struct hw_write {
  hw_dot dot;
  int64_t wall_ms;
  hw_bytes author;
  uint32_t schema_version; /* the writer's schema version of this kind */
  size_t n_fields;
  const hw_field_value *fields;
} hw_write;

/* A new empty state (no writes yet). Returns 0, HW_EINVAL (bad kind) or
 * HW_ENOMEM; on error *out is NULL. Free with hw_record_free. */
HW_NODISCARD HW_EXPORT int hw_record_new(hw_record **out, const hw_id *id, const hw_id *case_id,
                                         const char *kind, size_t kind_len,
                                         uint32_t schema_version);

/* Copy a state given by parts (a stack hw_record whose pointers are borrowed,
 * as a decoder fills it) into a new owned state, checking every invariant
 * (hw_record_check). Returns 0, HW_EPROTO, HW_ELIMIT or HW_ENOMEM. */
HW_NODISCARD HW_EXPORT int hw_record_build(hw_record **out, const hw_record *parts);

HW_NODISCARD HW_EXPORT int hw_record_clone(hw_record **out, const hw_record *r);
HW_EXPORT void hw_record_free(hw_record *r); /* NULL is fine */

/* Invariants of a state: canonical vv; writes sorted, unique, each seen by the
 * vv and used by a pair; fields sorted, unique, non-empty, valid UTF-8 names;
 * pairs sorted, unique, in range; values one canonical CBOR item each; void
 * values well formed; every named limit. Returns 0, HW_EPROTO or HW_ELIMIT. */
HW_NODISCARD HW_EXPORT int hw_record_check(const hw_record *r);

/* Apply a local write: each named field becomes {(w.dot, value)}, vv[replica]
 * becomes the dot's counter, the schema version the higher of the two.
 * Returns 0; HW_EDOTREUSE when base's vv has seen w.dot; HW_EINVAL for no
 * fields, a repeated or malformed name, or a value that is not one canonical
 * CBOR item; HW_ELIMIT over a limit; HW_ENOMEM. On error *out is NULL and
 * base is unchanged. */
HW_NODISCARD HW_EXPORT int hw_record_write(hw_record **out, const hw_record *base,
                                           const hw_write *w);

/* Void a mistaken entry: a write of HW_FIELD_VOIDED whose value carries
 * `reason` and the vv at the moment of voiding, the void's own dot included.
 * `w->n_fields` must be 0. Same errors as hw_record_write. */
HW_NODISCARD HW_EXPORT int hw_record_void(hw_record **out, const hw_record *base, const hw_write *w,
                                          const char *reason, size_t reason_len);

/* Un-void: a write of null to HW_FIELD_VOIDED. */
HW_NODISCARD HW_EXPORT int hw_record_unvoid(hw_record **out, const hw_record *base,
                                            const hw_write *w);

typedef struct hw_void_status {
  bool voided;   /* some void pair is non-null */
  bool disputed; /* some pair's dot is not in the seen of some void pair */
} hw_void_status;

/* Derived from the state alone (architecture §3). Returns 0 or HW_EPROTO for a
 * malformed void value (hw_record_check refuses those). */
HW_NODISCARD HW_EXPORT int hw_record_void_status(const hw_record *r, hw_void_status *out);

/* The field called `name`, or NULL. The result is borrowed from r. */
HW_EXPORT const hw_field *hw_record_field(const hw_record *r, const char *name, size_t len);
/* The write made under `dot`, or NULL. The result is borrowed from r. */
HW_EXPORT const hw_write_meta *hw_record_write_of(const hw_record *r, const hw_dot *dot);

/* Number of fields holding more than one pair. */
HW_EXPORT size_t hw_record_n_conflicts(const hw_record *r);

/* The pair shown for a field: the latest wall clock, ties broken by the
 * higher replica id, then the higher counter. Borrowed from r. */
HW_EXPORT const hw_pair *hw_field_display(const hw_record *r, const hw_field *f);

/* Structural equality of two states. */
HW_EXPORT bool hw_record_equal(const hw_record *a, const hw_record *b);

/* The write digest of `w` on record `record_id` (docs/data-model.md, "Write
 * digest"). The fields may come in any order; names must be unique. */
HW_EXPORT void hw_write_digest(const hw_id *record_id, const hw_write *w,
                               uint8_t out[static HW_HASH_BYTES]);

#endif
