/* Records and cases as JSON (jansson) for --json output and export. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli-int.h"
#include "homeward/cbor.h"
#include "homeward/forms.h"
#include "homeward/value.h"
#include "json-int.h"

static json_t *item_json(hw_cbor_rd *rd, int depth)
{
  hw_cbor_item it;
  json_t *out;

  if (depth > 8 || hw_cbor_next(rd, &it) != HW_OK)
    return json_null();
  switch (it.type) {
  case HW_CBOR_UINT:
    return json_integer(it.u > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)it.u);
  case HW_CBOR_NEGINT:
    return json_integer(it.u >= (uint64_t)INT64_MAX ? INT64_MIN : -1 - (json_int_t)it.u);
  case HW_CBOR_TEXT:
    return json_stringn((const char *)it.p, it.len);
  case HW_CBOR_BYTES: {
    char hex[2 * 64 + 1] = "";
    for (size_t i = 0; i < it.len && i < 64; i++)
      snprintf(hex + 2 * i, 3, "%02x", it.p[i]);
    return json_string(hex);
  }
  case HW_CBOR_TRUE:
    return json_true();
  case HW_CBOR_FALSE:
    return json_false();
  case HW_CBOR_TAG: /* a date: its text */
    return item_json(rd, depth + 1);
  case HW_CBOR_ARRAY:
    out = json_array();
    for (uint64_t i = 0; i < it.u; i++)
      json_array_append_new(out, item_json(rd, depth + 1));
    return out;
  case HW_CBOR_MAP:
    out = json_object();
    for (uint64_t i = 0; i < it.u; i++) {
      hw_cbor_item k;
      if (hw_cbor_next(rd, &k) != HW_OK)
        break;
      if (k.type == HW_CBOR_TEXT) {
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)k.len, (const char *)k.p);
        json_object_set_new(out, key, item_json(rd, depth + 1));
      } else {
        json_decref(item_json(rd, depth + 1));
      }
    }
    return out;
  case HW_CBOR_NULL:
  default:
    return json_null();
  }
}

json_t *hw_cli_value_json(const uint8_t *v, size_t len)
{
  hw_cbor_rd rd;
  hw_dot seen[HW_VV_MAX];
  hw_vv sv;
  hw_bytes reason;

  if (hw_value_get_void(v, len, &reason, seen, &sv) == HW_OK)
    return json_pack("{s:s%}", "voided", (const char *)reason.p, reason.len);
  hw_cbor_rd_init(&rd, v, len);
  return item_json(&rd, 0);
}

static json_t *who(const hw_record *r, uint32_t w)
{
  char at[40];
  hw_cli_when(r->writes[w].wall_ms, at, sizeof at);
  return json_pack("{s:s%,s:s}", "by", (const char *)r->writes[w].author.p, r->writes[w].author.len,
                   "at", at);
}

json_t *hw_cli_record_json(const hw_cli_rec *x)
{
  const hw_record *r = x->r;
  char rh[HW_ID_HEX_LEN + 1], d[16] = "";
  hw_void_status vs = {0};
  hw_date date;
  json_t *o, *fields = json_object(), *disputed = json_object(), *recorded = json_object();

  hw_id_to_hex(&r->id, rh);
  if (hw_record_void_status(r, &vs) != HW_OK)
    memset(&vs, 0, sizeof vs);
  if (hw_cli_record_date(r, &date))
    snprintf(d, sizeof d, "%04d-%02d-%02d", date.year, date.month, date.day);
  for (size_t i = 0; i < r->n_fields; i++) {
    const hw_field *f = &r->fields[i];
    const hw_pair *p = hw_field_display(r, f);
    char name[HW_FIELD_NAME_MAX + 1];
    snprintf(name, sizeof name, "%.*s", (int)f->name.len, (const char *)f->name.p);
    if (f->n_pairs == 1 && hw_value_is_null(p->value.p, p->value.len))
      continue;
    json_object_set_new(fields, name, hw_cli_value_json(p->value.p, p->value.len));
    json_object_set_new(recorded, name, who(r, p->w));
    if (f->n_pairs > 1) {
      json_t *all = json_array();
      for (uint32_t k = 0; k < f->n_pairs; k++) {
        json_t *one = who(r, f->pairs[k].w);
        json_object_set_new(one, "value",
                            hw_cli_value_json(f->pairs[k].value.p, f->pairs[k].value.len));
        json_array_append_new(all, one);
      }
      json_object_set_new(disputed, name, all);
    }
  }
  o = json_pack("{s:s,s:s%,s:s?,s:b,s:b,s:b,s:b,s:o,s:o,s:o}", "id", rh, "kind",
                (const char *)r->kind.p, r->kind.len, "date", d[0] ? d : NULL, "voided", vs.voided,
                "void_disputed", vs.disputed, "synced", !x->pending, "held", x->held, "fields",
                fields, "recorded", recorded, "disputed", disputed);
  return o;
}

static json_t *date_json(const hw_date *d)
{
  char t[16];
  snprintf(t, sizeof t, "%04d-%02d-%02d", d->year, d->month, d->day);
  return json_string(t);
}

json_t *hw_cli_case_json(const hw_cli_db *db, const hw_cli_case *k, const hw_date *today,
                         bool with_records)
{
  char hex[HW_ID_HEX_LEN + 1], name[512];
  hw_stage_info si;
  hw_next_visit nv;
  json_t *o, *next = json_null();

  hw_id_to_hex(&k->id, hex);
  hw_cli_case_name(k, name, sizeof name);
  hw_case_stage(k->states, k->n, &si);
  hw_case_next_visit(k->states, k->n, NULL, today, &nv);
  if (nv.any)
    next = json_pack("{s:o,s:s,s:I}", "due", date_json(&nv.due), "window",
                     hw_window_name(nv.window), "visits_done", (json_int_t)nv.visits_done);
  o = json_pack("{s:s,s:s?,s:s,s:o,s:b,s:b,s:I}", "case", hex, "child", k->child ? name : NULL,
                "stage", hw_stage_name(si.stage), "next_visit", next, "synced", !k->pending,
                "conflict", k->conflict, "records", (json_int_t)k->n);
  json_object_set_new(o, "late_edit", json_boolean(k->late_edit));
  if (si.decided_by)
    json_object_set_new(o, "stage_since", date_json(&si.since));
  if (with_records) {
    json_t *recs = json_array(), *csi = json_array();
    for (size_t i = 0; i < k->n; i++) {
      const hw_cli_rec *x = &db->recs[k->first + i];
      json_array_append_new(recs, hw_cli_record_json(x));
      if (x->r->kind.len == 8 && !memcmp(x->r->kind.p, "followup", 8)) {
        hw_csi c;
        hw_date d;
        json_t *scores = json_object(), *deprived = json_array();
        hw_csi_read(x->r, &c);
        for (size_t f = 0; f < HW_CSI_FACTORS; f++) {
          if (!c.known[f])
            continue;
          json_object_set_new(scores, hw_csi_factor_at(f)->field, json_integer(c.score[f]));
          if (c.deprived[f])
            json_array_append_new(deprived, json_string(hw_csi_factor_at(f)->field));
        }
        json_array_append_new(csi,
                              json_pack("{s:o,s:o,s:o}", "visit",
                                        hw_cli_record_date(x->r, &d) ? date_json(&d) : json_null(),
                                        "scores", scores, "deprived", deprived));
      }
    }
    json_object_set_new(o, "forms", recs);
    json_object_set_new(o, "csi", csi);
  }
  return o;
}

int hw_cli_json_print(json_t *j, FILE *out)
{
  int rc = j ? json_dumpf(j, out, JSON_INDENT(2) | JSON_ENSURE_ASCII) : -1;
  json_decref(j);
  if (rc == 0)
    fputc('\n', out);
  return rc == 0 ? HW_CLI_OK : hw_cli_fail("out of memory");
}
