#include "audit-entry-int.h"

#include <string.h>

static void put_vv(hw_cbor_wr *w, const hw_vv *vv)
{
  hw_cbor_wr_array(w, vv->n);
  for (size_t i = 0; i < vv->n; i++) {
    hw_cbor_wr_array(w, 2);
    hw_cbor_wr_bytes(w, vv->e[i].replica.b, HW_ID_BYTES);
    hw_cbor_wr_uint(w, vv->e[i].counter);
  }
}

void hw_audit_entry_encode(hw_cbor_wr *w, const hw_audit_entry *e)
{
  hw_cbor_wr_map(w, 11 + (e->reason != NULL) + (e->seq != 0));
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_text(w, e->decision, strlen(e->decision));
  hw_cbor_wr_uint(w, 2);
  hw_cbor_wr_int(w, e->time_ms);
  hw_cbor_wr_uint(w, 3);
  if (e->device_key.len)
    hw_cbor_wr_bytes(w, e->device_key.p, e->device_key.len);
  else
    hw_cbor_wr_null(w);
  hw_cbor_wr_uint(w, 4);
  hw_cbor_wr_text(w, e->actor.p, e->actor.len);
  hw_cbor_wr_uint(w, 5);
  hw_cbor_wr_bytes(w, e->record_id.b, HW_ID_BYTES);
  hw_cbor_wr_uint(w, 6);
  hw_cbor_wr_bytes(w, e->case_id.b, HW_ID_BYTES);
  hw_cbor_wr_uint(w, 7);
  hw_cbor_wr_text(w, e->kind.p, e->kind.len);
  hw_cbor_wr_uint(w, 8);
  put_vv(w, &e->before);
  hw_cbor_wr_uint(w, 9);
  put_vv(w, &e->incoming);
  hw_cbor_wr_uint(w, 10);
  put_vv(w, &e->after);
  hw_cbor_wr_uint(w, 11);
  hw_cbor_wr_array(w, e->n_pairs);
  for (size_t i = 0; i < e->n_pairs; i++) {
    const hw_audit_pair *p = &e->pairs[i];
    hw_cbor_wr_array(w, 4);
    hw_cbor_wr_text(w, p->field.p, p->field.len);
    hw_cbor_wr_bytes(w, p->dot.replica.b, HW_ID_BYTES);
    hw_cbor_wr_uint(w, p->dot.counter);
    hw_cbor_wr_bytes(w, p->value_hash, HW_HASH_BYTES);
  }
  if (e->reason) {
    hw_cbor_wr_uint(w, 12);
    hw_cbor_wr_text(w, e->reason, strlen(e->reason));
  }
  if (e->seq) {
    hw_cbor_wr_uint(w, 13);
    hw_cbor_wr_uint(w, e->seq);
  }
}

void hw_audit_admin_encode(hw_cbor_wr *w, const char *action, int64_t time_ms,
                           const hw_bytes *device_key, const char *actor, const char *details)
{
  hw_cbor_wr_map(w, 5);
  hw_cbor_wr_uint(w, 1);
  hw_cbor_wr_text(w, action, strlen(action));
  hw_cbor_wr_uint(w, 2);
  hw_cbor_wr_int(w, time_ms);
  hw_cbor_wr_uint(w, 3);
  if (device_key && device_key->len)
    hw_cbor_wr_bytes(w, device_key->p, device_key->len);
  else
    hw_cbor_wr_null(w);
  hw_cbor_wr_uint(w, 4);
  hw_cbor_wr_text(w, actor, strlen(actor));
  hw_cbor_wr_uint(w, 14);
  hw_cbor_wr_text(w, details, strlen(details));
}
