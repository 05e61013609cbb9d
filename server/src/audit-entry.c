#include "audit-entry-int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

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

void hw__text_printable(char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '"' || *s == '\\')
      *s = '?';
}

int hw_audit_entry_describe(const uint8_t *entry, size_t len, char *out, size_t cap)
{
  hw_cbor_rd rd;
  uint64_t n, key;
  char decision[48] = "?", actor[200] = "?", reason[256] = "", kind[40] = "", rec[40] = "";
  char details[256] = "", when[32], device[24] = "";
  int64_t time_ms = 0;
  uint64_t n_pairs = 0, seq = 0;

  hw_cbor_rd_init(&rd, entry, len);
  if (hw_cbor_read_map(&rd, &n))
    return HW_EPROTO;
  for (uint64_t i = 0; i < n; i++) {
    const uint8_t *p;
    size_t pl;
    if (hw_cbor_read_uint(&rd, &key))
      return HW_EPROTO;
    switch (key) {
    case 1:
    case 4:
    case 7:
    case 12:
    case 14:
      if (hw_cbor_read_text(&rd, &p, &pl))
        return HW_EPROTO;
      snprintf(key == 1    ? decision
               : key == 4  ? actor
               : key == 7  ? kind
               : key == 12 ? reason
                           : details,
               key == 1    ? sizeof decision
               : key == 4  ? sizeof actor
               : key == 7  ? sizeof kind
               : key == 12 ? sizeof reason
                           : sizeof details,
               "%.*s", (int)pl, (const char *)p);
      break;
    case 2:
      if (hw_cbor_read_int(&rd, &time_ms))
        return HW_EPROTO;
      break;
    case 5:
      if (hw_cbor_read_bytes(&rd, &p, &pl) || pl != HW_ID_BYTES)
        return HW_EPROTO;
      /* Whole: ids begin with their creation time, so a part of one is
       * either alike for a day's records or unlike what a device shows. */
      for (size_t k = 0; k < HW_ID_BYTES; k++)
        snprintf(rec + 2 * k, 3, "%02x", p[k]);
      break;
    case 3: /* the device: its key's first 16 hex digits, as `devices` shows it */
      if (hw_cbor_read_bytes(&rd, &p, &pl) == 0) {
        for (size_t k = 0; k < pl && k < 8; k++)
          snprintf(device + 2 * k, 3, "%02x", p[k]);
      } else if (hw_cbor_skip(&rd, 1, NULL, NULL)) { /* null: no device */
        return HW_EPROTO;
      }
      break;
    case 11: /* the new pairs: counted, not shown */
      if (hw_cbor_read_array(&rd, &n_pairs))
        return HW_EPROTO;
      for (uint64_t k = 0; k < n_pairs; k++)
        if (hw_cbor_skip(&rd, 1, NULL, NULL))
          return HW_EPROTO;
      break;
    case 13:
      if (hw_cbor_read_uint(&rd, &seq))
        return HW_EPROTO;
      break;
    default:
      if (hw_cbor_skip(&rd, 8, NULL, NULL))
        return HW_EPROTO;
      break;
    }
  }
  /* Kinds and reasons may carry a device's bytes: one line per entry, and
   * no quote a reader could take for the end of a field. */
  hw__text_printable(actor);
  hw__text_printable(kind);
  hw__text_printable(reason);
  hw__text_printable(details);
  /* The time as people read it (UTC), and the exact milliseconds the
   * entry holds. */
  {
    time_t t = (time_t)(time_ms / 1000);
    struct tm tm;
    if (time_ms < 0 || !gmtime_r(&t, &tm) ||
        !strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm))
      snprintf(when, sizeof when, "?");
  }
  snprintf(out, cap, "%-12s time=%s time_ms=%lld actor=%s%s%s%s%s%s%s fields=%llu%s%s%s%s",
           decision, when, (long long)time_ms, actor, device[0] ? " device=" : "", device,
           rec[0] ? " record=" : "", rec, kind[0] ? " kind=" : "", kind,
           (unsigned long long)n_pairs, reason[0] ? " reason=\"" : "", reason,
           reason[0] ? "\"" : "", details[0] ? " " : "");
  if (details[0])
    snprintf(out + strlen(out), cap - strlen(out), "%s", details);
  (void)seq;
  return HW_OK;
}
