/* Void status, derived from the state alone (architecture §3). */
#include <string.h>

#include "homeward/limits.h"
#include "homeward/record.h"
#include "homeward/value.h"

int hw_record_void_status(const hw_record *r, hw_void_status *out)
{
  const hw_field *vf = hw_record_field(r, HW_FIELD_VOIDED, sizeof HW_FIELD_VOIDED - 1);
  hw_dot seen_buf[HW_VV_MAX];
  hw_vv seen;
  hw_bytes reason;
  int rc;

  memset(out, 0, sizeof *out);
  if (!vf)
    return HW_OK;
  for (uint32_t k = 0; k < vf->n_pairs; k++) {
    const hw_bytes *v = &vf->pairs[k].value;
    if (hw_value_is_null(v->p, v->len))
      continue;
    if ((rc = hw_value_get_void(v->p, v->len, &reason, seen_buf, &seen)) != 0) {
      memset(out, 0, sizeof *out);
      return rc;
    }
    out->voided = true;
    /* An edit the voider never saw disputes the void: every write still
     * visible must be in this void's seen. */
    for (size_t i = 0; i < r->n_writes && !out->disputed; i++)
      if (!hw_vv_seen(&seen, &r->writes[i].dot))
        out->disputed = true;
  }
  return HW_OK;
}
