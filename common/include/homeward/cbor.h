/* Homeward CBOR: a strict pull reader and a writer over libcbor's
 * non-allocating streaming decoder and encoders (platform notes: Debian's
 * libcbor has no allocator hook, and its item-tree API pre-allocates declared
 * sizes, so it is never used).
 *
 * The reader accepts only the deterministic encoding of RFC 8949 §4.2.1 that
 * Homeward writes: shortest heads, definite lengths, valid UTF-8 in text, no
 * floats, no simple values but false/true/null. Map key order and duplicate
 * keys are checked by the callers that know the map's schema
 * (hw_cbor_key_cmp helps). Every length is checked against the bytes left
 * before it is returned, so callers never read past the input. */
#ifndef HOMEWARD_CBOR_H
#define HOMEWARD_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/err.h"

typedef enum hw_cbor_type {
  HW_CBOR_UINT,   /* u */
  HW_CBOR_NEGINT, /* value is -1 - u */
  HW_CBOR_BYTES,  /* p, len */
  HW_CBOR_TEXT,   /* p, len (valid UTF-8) */
  HW_CBOR_ARRAY,  /* u = number of items */
  HW_CBOR_MAP,    /* u = number of pairs */
  HW_CBOR_TAG,    /* u = tag number; the tagged item follows */
  HW_CBOR_FALSE,
  HW_CBOR_TRUE,
  HW_CBOR_NULL,
} hw_cbor_type;

typedef struct hw_cbor_item {
  hw_cbor_type type;
  uint64_t u;
  const uint8_t *p; /* borrowed from the reader's input */
  size_t len;
} hw_cbor_item;

typedef struct hw_cbor_rd {
  const uint8_t *start;
  const uint8_t *p;   /* next unread byte */
  const uint8_t *end; /* one past the last byte */
} hw_cbor_rd;

/* `buf` is borrowed and must outlive every item read from it. */
HW_EXPORT void hw_cbor_rd_init(hw_cbor_rd *rd, const uint8_t *buf, size_t len);
HW_EXPORT size_t hw_cbor_rd_offset(const hw_cbor_rd *rd);
HW_EXPORT bool hw_cbor_rd_done(const hw_cbor_rd *rd);

/* Read the next item head (and a string's payload). Returns 0 or HW_EPROTO
 * (malformed, truncated, non-canonical, or an array or map count larger than
 * the bytes left could hold). On error the reader does not move. */
HW_NODISCARD HW_EXPORT int hw_cbor_next(hw_cbor_rd *rd, hw_cbor_item *it);

/* Read one whole item, nested items included, no deeper than `depth_max`.
 * `*out_p`/`*out_len` (may be NULL) receive the item's exact bytes. */
HW_NODISCARD HW_EXPORT int hw_cbor_skip(hw_cbor_rd *rd, unsigned depth_max, const uint8_t **out_p,
                                        size_t *out_len);

/* Typed reads: HW_EPROTO when the next item has another type. */
HW_NODISCARD HW_EXPORT int hw_cbor_read_uint(hw_cbor_rd *rd, uint64_t *out);
HW_NODISCARD HW_EXPORT int hw_cbor_read_int(hw_cbor_rd *rd, int64_t *out);
HW_NODISCARD HW_EXPORT int hw_cbor_read_bytes(hw_cbor_rd *rd, const uint8_t **p, size_t *len);
HW_NODISCARD HW_EXPORT int hw_cbor_read_text(hw_cbor_rd *rd, const uint8_t **p, size_t *len);
HW_NODISCARD HW_EXPORT int hw_cbor_read_array(hw_cbor_rd *rd, uint64_t *n);
HW_NODISCARD HW_EXPORT int hw_cbor_read_map(hw_cbor_rd *rd, uint64_t *n);

/* Deterministic order of two text map keys (length first, then bytes):
 * negative, zero or positive like memcmp. */
HW_EXPORT int hw_cbor_key_cmp(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);

/* Writer into a growable hw_malloc buffer (owned by the writer until taken
 * with hw_cbor_wr_take) or into a fixed caller buffer. Errors are sticky:
 * write everything, then check hw_cbor_wr_finish. */
typedef struct hw_cbor_wr {
  uint8_t *buf;
  size_t len;
  size_t cap;
  size_t max; /* most bytes the output may hold */
  bool fixed; /* caller's buffer: never grown or freed */
  int err;    /* first error: HW_ENOMEM or HW_ELIMIT */
} hw_cbor_wr;

HW_EXPORT void hw_cbor_wr_init(hw_cbor_wr *w, size_t max);
HW_EXPORT void hw_cbor_wr_init_fixed(hw_cbor_wr *w, uint8_t *buf, size_t cap);
HW_EXPORT void hw_cbor_wr_uint(hw_cbor_wr *w, uint64_t v);
HW_EXPORT void hw_cbor_wr_int(hw_cbor_wr *w, int64_t v);
HW_EXPORT void hw_cbor_wr_bytes(hw_cbor_wr *w, const void *p, size_t len);
HW_EXPORT void hw_cbor_wr_text(hw_cbor_wr *w, const void *p, size_t len);
HW_EXPORT void hw_cbor_wr_array(hw_cbor_wr *w, uint64_t n);
HW_EXPORT void hw_cbor_wr_map(hw_cbor_wr *w, uint64_t n);
HW_EXPORT void hw_cbor_wr_tag(hw_cbor_wr *w, uint64_t tag);
HW_EXPORT void hw_cbor_wr_bool(hw_cbor_wr *w, bool v);
HW_EXPORT void hw_cbor_wr_null(hw_cbor_wr *w);
/* Append bytes that are already one or more encoded items. */
HW_EXPORT void hw_cbor_wr_raw(hw_cbor_wr *w, const void *p, size_t len);
/* The sticky error (0 when all writes succeeded). */
HW_NODISCARD HW_EXPORT int hw_cbor_wr_finish(const hw_cbor_wr *w);
/* Hand the growable buffer to the caller (free with hw_free); the writer is
 * left empty. NULL for a fixed writer or after an error. */
HW_EXPORT uint8_t *hw_cbor_wr_take(hw_cbor_wr *w, size_t *len);
HW_EXPORT void hw_cbor_wr_close(hw_cbor_wr *w);

#endif
