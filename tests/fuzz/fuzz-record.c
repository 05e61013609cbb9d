/* Fuzz target: bytes as an encoded record state (docs/protocol.md §1). The
 * oracle: every accepted input is canonical, so encode(decode(x)) == x byte
 * for byte; the decoded state passes the model's invariants; the reader form
 * agrees with the whole-buffer form. Refused inputs must leave nothing
 * allocated (LSan checks in the sanitizer build). The same bytes are also
 * tried as a version vector. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "homeward/crypto.h"
#include "homeward/limits.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *why)
{
  fprintf(stderr, "record oracle: %s\n", why);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  hw_record *r = NULL, *r2 = NULL;
  hw_diag diag;
  hw_cbor_rd rd;
  uint8_t *out;
  size_t out_len;
  hw_dot vbuf[HW_VV_MAX];
  hw_vv vv;
  int rc, rc2;

  if (size > HW_RECORD_MAX + 16)
    return 0;
  rc = hw_record_decode(data, size, &r, &diag);
  if (rc == 0) {
    if (diag.code != 0 || hw_record_check(r) != 0)
      fail("accepted state breaks an invariant");
    if (hw_record_encode(r, &out, &out_len) != 0)
      fail("accepted state does not encode");
    if (out_len != size || memcmp(out, data, size) != 0)
      fail("encode(decode(x)) != x");
    hw_free(out);
  } else {
    if (r != NULL || diag.code != rc || diag.what == NULL || diag.offset > size)
      fail("refusal without a clean result and diagnostic");
    if (rc != HW_EPROTO && rc != HW_ELIMIT && rc != HW_EVERSION)
      fail("unexpected error code");
  }
  /* The reader form accepts the same record, and a trailing item is left. */
  hw_cbor_rd_init(&rd, data, size);
  rc2 = hw_record_decode_rd(&rd, &r2, NULL);
  if (rc == 0 && (rc2 != 0 || !hw_record_equal(r, r2) || !hw_cbor_rd_done(&rd)))
    fail("reader form disagrees");
  if (rc2 != 0 && (r2 != NULL || hw_cbor_rd_offset(&rd) != 0))
    fail("reader moved on error");
  hw_record_free(r);
  hw_record_free(r2);
  /* Version vectors: canonical too. */
  if (hw_vv_decode(data, size, vbuf, &vv, NULL) == 0) {
    if (hw_vv_encode(&vv, &out, &out_len) != 0)
      fail("vv does not encode");
    if (out_len != size || memcmp(out, data, size) != 0)
      fail("vv: encode(decode(x)) != x");
    hw_free(out);
  }
  return 0;
}
