/* The canonical CBOR of a record state and of a version vector
 * (docs/protocol.md §1 gives the CDDL and the rules).
 *
 * The same state always encodes to the same bytes, so encodings can be
 * hashed and compared. Field values are embedded as they are (each already
 * one canonical CBOR item, value.h), so fields of a newer schema survive
 * decode and encode byte for byte.
 *
 * The decoder is strict and all-or-nothing: every count and length is checked
 * against the bytes left and a named limit (limits.h) before anything is
 * allocated; non-canonical encodings, duplicate or unsorted keys and entries,
 * invalid UTF-8 and trailing bytes are refused; nesting is bounded. It never
 * logs and has no global state. */
#ifndef HOMEWARD_RECORD_CODEC_H
#define HOMEWARD_RECORD_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "homeward/cbor.h"
#include "homeward/diag.h"
#include "homeward/limits.h"
#include "homeward/record.h"
#include "homeward/vv.h"

/* The first element of every encoded record state. */
#define HW_RECORD_FORMAT 1

/* Append the canonical encoding of `r` (borrowed) to `w`. Errors are the
 * writer's sticky ones: HW_ENOMEM, or HW_ELIMIT when the writer's max (use
 * HW_RECORD_MAX) is reached. */
HW_EXPORT void hw_record_encode_wr(hw_cbor_wr *w, const hw_record *r);

/* The exact number of bytes hw_record_encode_wr writes for `r`. */
HW_EXPORT size_t hw_record_encoded_len(const hw_record *r);

/* Encode `r` into a new hw_malloc buffer (*out, free with hw_free).
 * Returns 0, HW_ELIMIT (over HW_RECORD_MAX) or HW_ENOMEM; on error *out is
 * NULL and *out_len 0. */
HW_NODISCARD HW_EXPORT int hw_record_encode(const hw_record *r, uint8_t **out, size_t *out_len);

/* Decode exactly one record state filling all of `buf` (borrowed). Returns 0
 * and an owned state in *out (free with hw_record_free), or HW_EPROTO
 * (malformed, non-canonical, broken invariant), HW_ELIMIT (over a named
 * limit, HW_RECORD_MAX included), HW_EVERSION (another format number) or
 * HW_ENOMEM. On error *out is NULL and `diag` (may be NULL) says where and
 * why decoding stopped. */
HW_NODISCARD HW_EXPORT int hw_record_decode(const uint8_t *buf, size_t len, hw_record **out,
                                            hw_diag *diag);

/* Decode one record state from `rd` (for messages that embed records). On
 * success the reader is past the record; on error it has not moved. Same
 * errors as hw_record_decode (which also requires that nothing follows). */
HW_NODISCARD HW_EXPORT int hw_record_decode_rd(hw_cbor_rd *rd, hw_record **out, hw_diag *diag);

/* Append the canonical encoding of a version vector (which must be
 * canonical: hw_vv_check) to `w`. */
HW_EXPORT void hw_vv_encode_wr(hw_cbor_wr *w, const hw_vv *vv);

/* Read a version vector from `rd` into `buf` (caller storage for HW_VV_MAX
 * entries); out->e points at buf. Returns 0, HW_EPROTO or HW_ELIMIT; on error
 * out->n is 0 and the reader has not moved. */
HW_NODISCARD HW_EXPORT int hw_vv_decode_rd(hw_cbor_rd *rd, hw_dot buf[static HW_VV_MAX], hw_vv *out,
                                           hw_diag *diag);

/* Whole-buffer forms of the two above. */
HW_NODISCARD HW_EXPORT int hw_vv_encode(const hw_vv *vv, uint8_t **out, size_t *out_len);
HW_NODISCARD HW_EXPORT int hw_vv_decode(const uint8_t *buf, size_t len,
                                        hw_dot buf_out[static HW_VV_MAX], hw_vv *out,
                                        hw_diag *diag);

#endif
