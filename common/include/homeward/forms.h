/* The SOP forms as data (architecture §2, docs/forms.md).
 *
 * One schema per record kind: the form's aim, its fields (type, required or
 * optional, allowed values or range, help text) in the order a worker fills
 * them, ending in the decision about the child's care. The tables are static
 * and read-only; every pointer handed out here is valid for the life of the
 * program.
 *
 * Validation applies to the new values of one local write (on the device
 * before hw_record_write, and on the server for writes it has not seen
 * before), never to a merged state. The policy for unknown fields, unknown
 * kinds and schema versions is docs/forms.md §2; in short:
 *   - an unknown kind: HW_ENOENT (the server quarantines the write);
 *   - a field this schema does not know: kept unchecked when the writer's
 *     schema version is newer than ours, refused otherwise;
 *   - the known fields of a write are always checked against our schema.
 * Pure: no I/O, no clock, no logging. */
#ifndef HOMEWARD_FORMS_H
#define HOMEWARD_FORMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/limits.h"
#include "homeward/record.h"

/* The field every form ends with (architecture: every form ends in a
 * decision about the child's care). */
#define HW_FIELD_DECISION "decision"

typedef enum hw_ftype {
  HW_FT_BOOL,      /* true / false */
  HW_FT_INT,       /* integer in [min, max] */
  HW_FT_TEXT,      /* UTF-8 text of 1..max bytes */
  HW_FT_DATE,      /* tag 1004 "YYYY-MM-DD" (value.h) */
  HW_FT_ENUM,      /* one of `values` */
  HW_FT_ENUM_SET,  /* canonical set (sorted, unique) of `values`, min..max items */
  HW_FT_TEXT_LIST, /* array of texts of 1..text_max bytes, min..max items */
  HW_FT_INT_LIST,  /* array of integers in [item_min, item_max], strictly increasing */
} hw_ftype;

typedef struct hw_form_field {
  const char *name;
  hw_ftype type;
  bool required;              /* given and not null when the record is created */
  int64_t min, max;           /* INT: range; TEXT: bytes; sets and lists: items */
  int64_t item_min, item_max; /* TEXT_LIST: bytes per text; INT_LIST: range per item */
  const char *const *values;  /* ENUM, ENUM_SET: allowed values, NULL-terminated */
  const char *help;           /* one sentence for the worker */
  uint32_t since;             /* schema version that introduced the field */
  const char *required_if;    /* "field=value": required when that field has that value */
  const char *after;          /* DATE: must not be before this date field */
  const char *before;         /* DATE: must not be after this date field */
} hw_form_field;

typedef struct hw_form {
  const char *kind;          /* record kind, e.g. "followup" */
  uint32_t schema_version;   /* the version these tables describe */
  const char *title;         /* "Follow-up visit" */
  const char *aim;           /* what the form is for, for workers and coordinators */
  const char *date_field;    /* the date that orders records of a case */
  const char *const *one_of; /* on create at least one of these (NULL-terminated) or NULL */
  size_t n_fields;
  const hw_form_field *fields; /* form order; the last one is HW_FIELD_DECISION */
} hw_form;

/* The known kinds, in SOP order. */
HW_EXPORT size_t hw_forms_count(void);
HW_EXPORT const hw_form *hw_form_at(size_t i);

/* The form of `kind`, or NULL for an unknown kind. */
HW_EXPORT const hw_form *hw_form_find(const char *kind, size_t kind_len);

/* A field of the form, or NULL. */
HW_EXPORT const hw_form_field *hw_form_field_find(const hw_form *form, const char *name,
                                                  size_t name_len);

/* Why a write was refused: `field` names it ("" for the whole write) and
 * `msg` is "<field>: <rule>", e.g. "csi_food_security: must be an integer
 * 1-4". */
typedef struct hw_form_error {
  char field[HW_FIELD_NAME_MAX + 1];
  char msg[256];
} hw_form_error;

/* Validate the new values of one local write of a record of `kind`.
 * `base` (borrowed, may be NULL) is the state the write applies to: a NULL or
 * empty base (no writes yet) means the write creates the record, so required
 * fields must be given; a required_if rule may be met by a value already in
 * base (its display value). `schema_version` is the writer's (hw_write's).
 * Returns 0, HW_EVALIDATE (a rule is broken; `err` says which), or
 * HW_ENOENT (unknown kind; `err` says so). `err` may be NULL. */
HW_NODISCARD HW_EXPORT int hw_form_validate(const char *kind, size_t kind_len,
                                            uint32_t schema_version, const hw_record *base,
                                            const hw_field_value *values, size_t n_values,
                                            hw_form_error *err);

/* ---- Child Status Index (follow-up visit) ---- */

#define HW_CSI_FACTORS 12 /* 6 domains x 2 factors */
#define HW_CSI_SCORE_MIN 1
#define HW_CSI_SCORE_MAX 4
#define HW_CSI_DEPRIVED_MAX 2 /* a factor scored 1 or 2 is "deprived" */

typedef struct hw_csi_factor {
  const char *field;  /* "csi_food_security" */
  const char *domain; /* "Food and nutrition" */
  const char *factor; /* "Food security" */
} hw_csi_factor;

HW_EXPORT const hw_csi_factor *hw_csi_factor_at(size_t i); /* i < HW_CSI_FACTORS */

/* The derived per-factor flag: true for a score of 1 or 2. Derived, never
 * stored, so it cannot disagree with its score. */
HW_EXPORT bool hw_csi_deprived(int64_t score);

typedef struct hw_csi {
  bool known[HW_CSI_FACTORS]; /* the field holds an integer 1-4 */
  int score[HW_CSI_FACTORS];  /* its display value (hw_field_display) */
  bool deprived[HW_CSI_FACTORS];
  bool disputed[HW_CSI_FACTORS]; /* the field is in conflict */
  size_t n_deprived;
} hw_csi;

/* Read the CSI of a follow-up state (display values). */
HW_EXPORT void hw_csi_read(const hw_record *r, hw_csi *out);

#endif
