/* A pulled state against the copy here (pulled-int.h). */
#include "pulled-int.h"

#include "homeward/err.h"
#include "homeward/mem.h"
#include "homeward/merge.h"
#include "homeward/record-codec.h"

int hw__pulled_decide(const hw_record *local, const hw_record *in, bool held, hw_record **merged,
                      uint8_t **bytes, size_t *len, hw__pulled *out)
{
  int rc;

  *merged = NULL;
  *bytes = NULL;
  *len = 0;
  *out = HW__PULLED_TAKE;
  if (!local)
    return HW_OK; /* new here: the merge of nothing and `in` is `in` */
  /* A held copy stays as it is until the coordinator's decision, which
   * names this very state and brings the server's with it. Merged in now,
   * the copy would change and the decision would no longer find it. */
  if (held) {
    *out = HW__PULLED_KEEP_HELD;
    return HW_OK;
  }
  rc = hw_merge(merged, local, in, NULL);
  /* A merge within every count limit can still encode past HW_RECORD_MAX. */
  if (rc == HW_OK)
    rc = hw_record_encode(*merged, bytes, len);
  if (rc == HW_OK)
    return HW_OK;
  hw_record_free(*merged);
  *merged = NULL;
  switch (rc) {
  case HW_EDIVERGE:
    *out = HW__PULLED_DIVERGED;
    return HW_OK;
  case HW_ELIMIT:
    /* HW_PAIRS_MAX writers of a field, HW_RECORD_MAX bytes...: the server
     * refuses the same merge and holds this copy's writes for a
     * coordinator when they reach it. Failing the batch instead would
     * fail every sync from here on. */
    *out = HW__PULLED_KEEP_LIMIT;
    return HW_OK;
  default:
    return rc;
  }
}
