/* Accepting one pushed record state (see accept-int.h). */
#include "accept-int.h"

#include <stdio.h>
#include <string.h>

#include "audit-entry-int.h"
#include "homeward/audit-head.h"
#include "homeward/checksum.h"
#include "homeward/limits.h"
#include "homeward/mem.h"
#include "homeward/merge.h"
#include "homeward/proto/msg.h"
#include "homeward/record-codec.h"
#include "homeward/utf8.h"

const char *hw_decision_name(hw_decision d)
{
  switch (d) {
  case HW_DEC_DUPLICATE:
    return "duplicate";
  case HW_DEC_FAST_FORWARD:
    return "fast-forward";
  case HW_DEC_MERGED:
    return "merged";
  case HW_DEC_CONFLICT:
    return "conflict";
  case HW_DEC_RESOLVED:
    return "resolved";
  case HW_DEC_LATE_EDIT:
    return "late-edit";
  case HW_DEC_RECOVERED:
    return "recovered";
  case HW_DEC_QUARANTINED:
    return "quarantined";
  case HW_DEC_REFUSED:
    return "refused";
  }
  return "?";
}

const char *hw_accept_reason(const hw_accept_result *r)
{
  return r->reason_buf[0] ? r->reason_buf : r->reason ? r->reason : "";
}

void hw_accept_result_clear(hw_accept_result *r)
{
  hw_free(r->merged);
  memset(r, 0, sizeof *r);
}

static bool is_own(const hw_accept_ctx *cx, const hw_id *replica)
{
  for (size_t i = 0; i < cx->n_own; i++)
    if (hw_id_cmp(&cx->own[i], replica) == 0)
      return true;
  return false;
}

static const hw_vv empty_vv = {0, NULL};

/* Append the audit entry for a decision on `in` (and the state it became). */
static int audit(const hw_accept_ctx *cx, const char *decision, const hw_record *in,
                 const hw_vv *before, const hw_vv *after, const hw_audit_pair *pairs,
                 size_t n_pairs, const char *reason, uint64_t seq, hw_accept_result *out)
{
  hw_audit_entry e = {
      .decision = decision,
      .time_ms = cx->now_ms,
      .device_key = cx->device_key,
      .actor = cx->actor,
      .record_id = in->id,
      .case_id = in->case_id,
      .kind = in->kind,
      .before = *before,
      .incoming = in->vv,
      .after = *after,
      .n_pairs = n_pairs,
      .pairs = pairs,
      .reason = reason,
      .seq = seq,
  };
  uint8_t head[HW_HASH_BYTES];
  hw_cbor_wr w;
  int rc;

  hw_cbor_wr_init(&w, HW_RECORD_MAX);
  hw_audit_entry_encode(&w, &e);
  if ((rc = hw_cbor_wr_finish(&w)) == 0)
    rc = hw_sdb_audit_append(cx->db, w.buf, w.len, &out->audit_seq, head);
  hw_cbor_wr_close(&w);
  return rc;
}

/* Keep the whole incoming state for coordinators, tell why, audit it. A
 * device with HW_QUARANTINE_WAITING_MAX states waiting already is told to
 * send this one again later (it stays on the device): one enrolled device
 * pushing states into cases it never held cannot fill the server's disk. */
static int quarantine(const hw_accept_ctx *cx, const hw_record *in, const hw_vv *before,
                      const uint8_t *state, size_t len, int code, const char *reason,
                      hw_accept_result *out)
{
  size_t waiting = 0;
  int rc = hw_sdb_quarantine_waiting(cx->db, cx->device_key.p, cx->device_key.len,
                                     HW_QUARANTINE_WAITING_MAX, &waiting);

  if (rc)
    return rc;
  if (waiting >= HW_QUARANTINE_WAITING_MAX) {
    out->decision = HW_DEC_REFUSED;
    out->code = HW_CODE_BUSY;
    out->reason = "too many of this device's records wait for a coordinator; sent again later";
    return HW_OK;
  }
  rc = hw_sdb_quarantine_put(cx->db, &in->id, cx->device_key.p, cx->device_key.len, reason,
                             state, len, cx->now_ms, &out->quarantine_id);
  if (rc)
    return rc;
  out->decision = HW_DEC_QUARANTINED;
  out->code = code;
  if (reason != out->reason_buf)
    out->reason = reason;
  return audit(cx, "quarantined", in, before, before, NULL, 0, reason, 0, out);
}

static hw_decision from_class(hw_merge_class c)
{
  switch (c) {
  case HW_MERGE_DUPLICATE:
    return HW_DEC_DUPLICATE;
  case HW_MERGE_FAST_FORWARD:
    return HW_DEC_FAST_FORWARD;
  case HW_MERGE_MERGED:
    return HW_DEC_MERGED;
  case HW_MERGE_CONFLICT:
    return HW_DEC_CONFLICT;
  case HW_MERGE_RESOLVED:
    return HW_DEC_RESOLVED;
  }
  return HW_DEC_MERGED;
}

typedef struct work {
  const hw_accept_prep *prep; /* NULL: nothing worked out before */
  hw_record *in, *stored, *merged;
  uint8_t *stored_bytes, *merged_bytes;
  size_t stored_len, merged_len;
  uint8_t is_new[HW_WRITES_MAX]; /* per write of `in`: not accepted before */
  hw_audit_pair pairs[HW_FIELDS_MAX];
  size_t n_pairs;
} work;

/* The caseload checksum's change: the stored state's item XOR the merged
 * state's (the prep's item of the incoming bytes when they are what is
 * stored, as for every new record). */
static const uint8_t *checksum_delta(const work *k, const uint8_t *state, size_t len,
                                     uint8_t delta[static HW_HASH_BYTES])
{
  uint8_t item[HW_HASH_BYTES];

  memset(delta, 0, HW_HASH_BYTES);
  if (k->stored_bytes) {
    hw_checksum_item(item, &k->merged->id, k->stored_bytes, k->stored_len);
    hw_checksum_xor(delta, item);
  }
  if (k->prep && k->merged_len == len &&
      memcmp(k->merged_bytes, state, len) == 0)
    memcpy(item, k->prep->item, HW_HASH_BYTES);
  else
    hw_checksum_item(item, &k->merged->id, k->merged_bytes, k->merged_len);
  hw_checksum_xor(delta, item);
  return delta;
}

static void work_free(work *k)
{
  hw_record_free(k->in);
  hw_record_free(k->stored);
  hw_record_free(k->merged);
  hw_free(k->stored_bytes);
  hw_free(k->merged_bytes);
  hw_free(k);
}

/* Classify every write of the incoming state against the accepted dots.
 * Returns 0 and sets *reason when the state must be quarantined. */
static int check_dots(const hw_accept_ctx *cx, work *k, bool *foreign, int *code,
                      const char **reason)
{
  for (size_t i = 0; i < k->in->n_writes; i++) {
    const hw_write_meta *m = &k->in->writes[i];
    uint8_t digest[HW_HASH_BYTES];
    hw_id rec;
    int rc = hw_sdb_dot_get(cx->db, &m->dot, &rec, digest);

    if (rc == HW_OK) {
      /* Defence 3: one dot, one write, ever. */
      if (hw_id_cmp(&rec, &k->in->id) != 0 || hw_memcmp_ct(digest, m->digest, HW_HASH_BYTES)) {
        *code = HW_EDIVERGE;
        *reason = "a write contradicts one already accepted under the same version";
        return HW_OK;
      }
      continue;
    }
    if (rc != HW_ENOENT)
      return rc;
    k->is_new[i] = 1;
    if (!is_own(cx, &m->dot.replica)) {
      if (!cx->recovering) {
        *code = HW_EPERM;
        *reason = "introduces a write of another replica the server never accepted";
        return HW_OK;
      }
      *foreign = true; /* re-sent after a server restore: accepted as recovered */
    }
  }
  return HW_OK;
}

/* A device learns other replicas' writes only from this server, so its vv
 * cannot be ahead of the stored one for any replica but its own (outside an
 * epoch recovery). A state claiming more would make the merge drop values
 * the claimed writes never saw. */
static bool vv_plausible(const hw_accept_ctx *cx, const work *k)
{
  const hw_vv *in = &k->in->vv;

  if (cx->recovering)
    return true;
  for (size_t i = 0; i < in->n; i++) {
    if (is_own(cx, &in->e[i].replica))
      continue;
    if (in->e[i].counter > (k->stored ? hw_vv_get(&k->stored->vv, &in->e[i].replica) : 0))
      return false;
  }
  return true;
}

/* The duplicate rule below, field by field: a stored pair the incoming
 * state's vv covers but which it does not carry was replaced, in an honest
 * history, by a write to that field the server has not seen (one it had
 * seen would have replaced the pair here already). An incoming field with
 * no such write, dropping a covered pair, hides a value it never saw: a
 * forked store whose record kept the other copy's counters claims to have
 * seen that copy's write (the model check's case B). */
static bool drops_without_write(const hw_record *stored, const hw_record *in)
{
  for (size_t f = 0; f < stored->n_fields; f++) {
    const hw_field *sf = &stored->fields[f];
    const hw_field *inf = hw_record_field(in, (const char *)sf->name.p, sf->name.len);
    bool fresh = false;
    for (uint32_t i = 0; inf && i < inf->n_pairs && !fresh; i++)
      fresh = !hw_record_write_of(stored, &in->writes[inf->pairs[i].w].dot);
    if (fresh)
      continue;
    for (uint32_t i = 0; i < sf->n_pairs; i++) {
      const hw_dot *d = &stored->writes[sf->pairs[i].w].dot;
      bool carried = false;
      if (hw_vv_get(&in->vv, &d->replica) < d->counter)
        continue; /* not seen by the incoming state */
      for (uint32_t k = 0; inf && k < inf->n_pairs && !carried; k++)
        carried = hw_dot_cmp(&in->writes[inf->pairs[k].w].dot, d) == 0;
      if (!carried)
        return true;
    }
  }
  return false;
}

/* The known fields of writes the server has not seen are validated, one
 * write at a time, with the values of it still in the state, on top of the
 * stored state; for a record new to the server, on top of the incoming state
 * (a device may create a record and edit it before its first push: the
 * creating write's replaced values are gone, and each later write alone
 * lacks the required fields), and the fields the state shows are then
 * checked once as the record's creation. */
static int validate_writes(const hw_accept_policy *p, const hw_record *in,
                           const hw_record *stored, const uint8_t *is_new, char *msg,
                           size_t msg_len)
{
  const hw_record *base = stored ? stored : in;
  hw_field_value *vals;
  int rc = HW_OK;

  if (!p || !p->validate)
    return HW_OK;
  if (!(vals = hw_calloc(in->n_fields ? in->n_fields : 1, sizeof *vals)))
    return HW_ENOMEM;
  for (size_t w = 0; w < in->n_writes && !rc; w++) {
    size_t n = 0;
    if (!is_new[w])
      continue;
    for (size_t f = 0; f < in->n_fields; f++) {
      const hw_field *fl = &in->fields[f];
      for (uint32_t i = 0; i < fl->n_pairs; i++)
        if (fl->pairs[i].w == w)
          vals[n++] = (hw_field_value){fl->name, fl->pairs[i].value};
    }
    if (n)
      rc = p->validate(&in->kind, in->schema_version, base, vals, n, msg, msg_len, p->ud);
  }
  if (!rc && !stored) {
    for (size_t f = 0; f < in->n_fields; f++)
      vals[f] = (hw_field_value){in->fields[f].name, hw_field_display(in, &in->fields[f])->value};
    rc = p->validate(&in->kind, in->schema_version, NULL, vals, in->n_fields, msg, msg_len,
                     p->ud);
  }
  hw_free(vals);
  return rc;
}

static int validate_new(const hw_accept_ctx *cx, work *k, char *msg, size_t msg_len)
{
  bool all_new = true;

  for (size_t w = 0; w < k->in->n_writes; w++)
    all_new = all_new && k->is_new[w];
  /* A record new to the server with every write new: the prep's check. */
  if (k->prep && k->prep->created_rc != HW_ENOMEM && !k->stored && all_new) {
    snprintf(msg, msg_len, "%s", k->prep->created_msg);
    return k->prep->created_rc;
  }
  return validate_writes(cx->policy, k->in, k->stored, k->is_new, msg, msg_len);
}

void hw_accept_prepare(const hw_accept_policy *p, const uint8_t *value_key, const uint8_t *state,
                       size_t len, hw_accept_prep *out)
{
  uint8_t all_new[HW_WRITES_MAX];
  hw_diag diag = {0};
  size_t flat = 0;

  memset(out, 0, sizeof *out);
  memset(all_new, 1, sizeof all_new);
  out->decode_rc = hw_record_decode(state, len, &out->in, &diag);
  out->decode_what = diag.what;
  if (out->decode_rc)
    return;
  for (size_t f = 0; f < out->in->n_fields; f++)
    out->n_pairs += out->in->fields[f].n_pairs;
  /* Without memory here, the storage thread works them out itself. */
  if ((out->value_hash =
           hw_malloc((out->n_pairs ? out->n_pairs : 1) * sizeof *out->value_hash)) != NULL)
    for (size_t f = 0; f < out->in->n_fields; f++)
      for (uint32_t i = 0; i < out->in->fields[f].n_pairs; i++, flat++)
        hw_audit_value_hash(out->value_hash[flat], value_key, out->in->fields[f].pairs[i].value.p,
                            out->in->fields[f].pairs[i].value.len);
  hw_checksum_item(out->item, &out->in->id, state, len);
  out->created_rc = validate_writes(p, out->in, NULL, all_new, out->created_msg,
                                    sizeof out->created_msg);
}

void hw_accept_prep_clear(hw_accept_prep *prep)
{
  hw_record_free(prep->in);
  hw_free(prep->value_hash);
  memset(prep, 0, sizeof *prep);
}

/* Remember the new writes: their dots, the values they set (erasable
 * history, one row per write) and the keyed hashes the audit entry carries. */
static int record_new_writes(const hw_accept_ctx *cx, work *k)
{
  hw_cbor_wr w;
  int rc = HW_OK;

  hw_cbor_wr_init(&w, HW_RECORD_MAX);
  for (size_t i = 0; i < k->in->n_writes && !rc; i++) {
    size_t n = 0, flat = 0;
    if (!k->is_new[i])
      continue;
    if ((rc = hw_sdb_dot_put(cx->db, &k->in->writes[i].dot, &k->in->id,
                             k->in->writes[i].digest)) != 0)
      break;
    /* Fields are in canonical order already, so the map is canonical. */
    for (size_t f = 0; f < k->in->n_fields; f++)
      for (uint32_t p = 0; p < k->in->fields[f].n_pairs; p++)
        n += k->in->fields[f].pairs[p].w == i;
    w.len = 0;
    hw_cbor_wr_map(&w, n);
    for (size_t f = 0; f < k->in->n_fields; f++) {
      const hw_field *fl = &k->in->fields[f];
      for (uint32_t p = 0; p < fl->n_pairs; p++, flat++) {
        const hw_pair *pr = &fl->pairs[p];
        hw_audit_pair *ap;
        if (pr->w != i)
          continue;
        hw_cbor_wr_text(&w, fl->name.p, fl->name.len);
        hw_cbor_wr_raw(&w, pr->value.p, pr->value.len);
        if (k->n_pairs == HW_FIELDS_MAX)
          continue; /* the history keeps every value; the entry lists the first ones */
        ap = &k->pairs[k->n_pairs++];
        ap->field = fl->name;
        ap->dot = k->in->writes[i].dot;
        if (k->prep && k->prep->value_hash)
          memcpy(ap->value_hash, k->prep->value_hash[flat], HW_HASH_BYTES);
        else
          hw_audit_value_hash(ap->value_hash, cx->value_key, pr->value.p, pr->value.len);
      }
    }
    if ((rc = hw_cbor_wr_finish(&w)) == 0)
      rc = hw_sdb_history_put(cx->db, &k->in->id, &k->in->writes[i].dot, w.buf, w.len);
  }
  hw_cbor_wr_close(&w);
  return rc;
}

int hw_accept_record(const hw_accept_ctx *cx, const uint8_t *state, size_t len,
                     hw_accept_result *out)
{
  return hw_accept_prepared(cx, state, len, NULL, out);
}

int hw_accept_prepared(const hw_accept_ctx *cx, const uint8_t *state, size_t len,
                       hw_accept_prep *prep, hw_accept_result *out)
{
  const hw_accept_policy *p = cx->policy;
  work *k = hw_calloc(1, sizeof *k);
  hw_diag diag = {0};
  hw_merge_info info;
  const hw_vv *before = &empty_vv;
  hw_case_access access = HW_CASE_HELD;
  bool foreign = false, changed = false;
  uint8_t delta[HW_HASH_BYTES];
  const char *reason = NULL;
  char msg[sizeof out->reason_buf] = "";
  int code = 0, rc;

  memset(out, 0, sizeof *out);
  if (!k)
    return HW_ENOMEM;
  if (prep && prep->decode_rc == HW_ENOMEM)
    prep = NULL; /* the prep ran out of memory: worked out here instead */
  if (prep) {
    k->prep = prep;
    k->in = prep->in;
    prep->in = NULL;
    rc = prep->decode_rc;
    diag.what = prep->decode_what;
  } else {
    rc = hw_record_decode(state, len, &k->in, &diag);
  }
  if (rc == HW_ENOMEM)
    goto done;
  if (rc) {
    /* Unreadable bytes cannot be attributed to a record: refused, and the
     * device is told why; its copy stays on the device. */
    out->decision = HW_DEC_REFUSED;
    out->code = rc;
    out->reason = diag.what ? diag.what : "malformed record state";
    rc = HW_OK;
    goto done;
  }
  rc = hw_sdb_record_get(cx->db, &k->in->id, &k->stored_bytes, &k->stored_len);
  if (rc == HW_OK) {
    if ((rc = hw_record_decode(k->stored_bytes, k->stored_len, &k->stored, NULL)) != 0) {
      rc = rc == HW_ENOMEM ? rc : HW_ECORRUPT; /* our own store: not the device's fault */
      goto done;
    }
    before = &k->stored->vv;
  } else if (rc != HW_ENOENT) {
    goto done;
  }
  if (p && p->kind_known && !p->kind_known(&k->in->kind, p->ud)) {
    rc = quarantine(cx, k->in, before, state, len, HW_EVALIDATE,
                    "a kind of record this server does not know yet", out);
    goto done;
  }
  if (p && p->case_access)
    access = p->case_access(&k->in->case_id, k->stored == NULL, p->ud);
  if (access == HW_CASE_ERROR) {
    rc = HW_EIO;
    goto done;
  }
  if (access == HW_CASE_NEVER_HELD) {
    rc = quarantine(cx, k->in, before, state, len, HW_EPERM, "a case this worker never held", out);
    goto done;
  }
  if ((rc = check_dots(cx, k, &foreign, &code, &reason)) != 0)
    goto done;
  if (!reason && !vv_plausible(cx, k)) {
    code = HW_EPERM;
    reason = "claims writes of another replica the server never accepted";
  }
  if (reason) {
    rc = quarantine(cx, k->in, before, state, len, code, reason, out);
    goto done;
  }
  rc = hw_merge(&k->merged, k->stored, k->in, &info);
  /* A merge within every count limit can still encode past HW_RECORD_MAX:
   * found here, before anything is written, it is quarantined like any
   * other limit (failing the push would refuse it at every sync). */
  if (rc == HW_OK && (changed = !k->stored || !hw_record_equal(k->merged, k->stored)))
    rc = hw_record_encode(k->merged, &k->merged_bytes, &k->merged_len);
  /* A state whose writes the stored one has all seen changes nothing in an
   * honest history. One that would (it leaves out a value the stored state
   * holds, or holds one the stored state saw replaced, with no write of its
   * own) contradicts what was accepted: merged, it would drop values under
   * the name of a duplicate. */
  if (rc == HW_OK && changed && info.cls == HW_MERGE_DUPLICATE) {
    rc = quarantine(cx, k->in, before, state, len, HW_EDIVERGE,
                    "drops or revives values of the stored record without a write of its own",
                    out);
    goto done;
  }
  if (rc == HW_OK && changed && k->stored && drops_without_write(k->stored, k->in)) {
    rc = quarantine(cx, k->in, before, state, len, HW_EDIVERGE,
                    "drops a value of the stored record without a write replacing it", out);
    goto done;
  }
  if (rc == HW_EDIVERGE || rc == HW_ELIMIT) {
    rc = quarantine(cx, k->in, before, state, len, rc,
                    rc == HW_EDIVERGE ? "diverges from the stored record (another kind or case, "
                                        "or one version with two values)"
                                      : "merging would break a record limit",
                    out);
    goto done;
  }
  if (rc)
    goto done;
  if ((rc = validate_new(cx, k, msg, sizeof msg)) != 0) {
    if (rc == HW_ENOMEM)
      goto done;
    snprintf(out->reason_buf, sizeof out->reason_buf, "%s",
             msg[0] ? msg : "a value breaks its form");
    hw_utf8_cut(out->reason_buf); /* the reason goes to the device as text */
    rc = quarantine(cx, k->in, before, state, len, HW_EVALIDATE, out->reason_buf, out);
    goto done;
  }

  out->decision = from_class(info.cls);
  if (access == HW_CASE_HELD_BEFORE && info.cls != HW_MERGE_DUPLICATE)
    out->decision = HW_DEC_LATE_EDIT;
  if (foreign)
    out->decision = HW_DEC_RECOVERED;
  if (out->decision == HW_DEC_LATE_EDIT && p && p->late_edit &&
      (rc = p->late_edit(&k->in->case_id, p->ud)) != 0)
    goto done;
  if ((rc = record_new_writes(cx, k)) != 0)
    goto done;
  if (changed) {
    if ((rc = hw_sdb_next_seq(cx->db, &out->seq)) != 0 ||
        (rc = hw_sdb_record_put(cx->db, &k->merged->id, &k->merged->case_id, k->merged->kind.p,
                                k->merged->kind.len, out->seq, k->merged_bytes, k->merged_len)) ||
        (rc = hw_sdb_wsum_update(cx->db, &k->merged->case_id,
                                 checksum_delta(k, state, len, delta))))
      goto done;
  }
  rc = audit(cx, hw_decision_name(out->decision), k->in, before, &k->merged->vv, k->pairs,
             k->n_pairs, NULL, out->seq, out);
  if (rc)
    goto done;
  /* The device learns the merged state only where it differs from what it
   * sent, and only while it may read the case: a former holder's (late edit
   * or duplicate) and a retiring device's acks carry none, or re-pushing an
   * old state would read a later holder's edits. */
  if (!hw_record_equal(k->merged, k->in) &&
      !(out->withheld = access != HW_CASE_HELD || cx->write_only)) {
    if (!k->merged_bytes &&
        (rc = hw_record_encode(k->merged, &k->merged_bytes, &k->merged_len)) != 0)
      goto done;
    out->merged = k->merged_bytes;
    out->merged_len = k->merged_len;
    k->merged_bytes = NULL;
  }

done:
  work_free(k);
  if (rc) {
    hw_free(out->merged);
    memset(out, 0, sizeof *out);
  }
  return rc;
}
