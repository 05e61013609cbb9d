/* The worker's writes: each takes the replica's next dot in the same
 * transaction as the new state and its journal entry (architecture §2). */
#include <string.h>

#include "client-int.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"
#include "homeward/stage.h"

uint32_t hw__record_marks(const hw_record *r)
{
  hw_void_status vs;
  hw_stage_info st;
  uint32_t m = 0;

  if (hw_record_n_conflicts(r) > 0 || (hw_record_void_status(r, &vs) == HW_OK && vs.disputed))
    m |= HW__MARK_CONFLICT;
  hw_case_stage(&r, 1, &st);
  if (st.stage == HW_STAGE_CLOSED)
    m |= HW__MARK_CLOSES;
  return m;
}

int hw__put_state(hw_client *c, const hw_record *r, const hw_vv *acked, const hw_dot *dot)
{
  hw_store_rec row = {0};
  uint8_t *bytes = NULL;
  size_t len;
  const hw_write_meta *w = dot ? hw_record_write_of(r, dot) : NULL;
  const uint8_t *digest = w ? w->digest : NULL;
  int rc;

  if (dot && !w)
    return HW_EINTERNAL;
  if ((rc = hw_record_encode(r, &bytes, &len)) != 0)
    return rc;
  row.id = r->id;
  row.case_id = r->case_id;
  row.kind = r->kind;
  row.vv = r->vv;
  if (acked)
    row.acked = *acked;
  row.state = (hw_bytes){bytes, len};
  row.marks = hw__record_marks(r);
  rc = dot ? hw_store_put_write(c->st, &row, dot, digest) : hw_store_put(c->st, &row);
  hw_free(bytes);
  return rc;
}

/* Own writes of `base` never acknowledged that `next` no longer carries
 * (every value they set was replaced) can never reach the server: their
 * journal entries go, or the lineage at the next hello would count them and
 * the server, which never saw them, would refuse the device for good. */
static int forget_replaced(hw_client *c, const hw_record *base, const hw_record *next,
                           const hw_vv *acked)
{
  hw_id me;
  uint64_t counter;
  hw_dot inherits;
  bool has_inherits = hw_store_inherits(c->st, &inherits) == HW_OK;
  int rc = HW_OK;

  hw_store_replica(c->st, &me, &counter);
  for (size_t i = 0; i < base->n_writes && !rc; i++) {
    const hw_dot *d = &base->writes[i].dot;
    if (hw_id_cmp(&d->replica, &me) != 0 &&
        !(has_inherits && hw_id_cmp(&d->replica, &inherits.replica) == 0))
      continue; /* another replica's write */
    if (acked && hw_vv_get(acked, &d->replica) >= d->counter)
      continue; /* the server holds it */
    if (!hw_record_write_of(next, d))
      rc = hw_store_journal_forget(c->st, d);
  }
  return rc;
}

typedef int (*apply_fn)(hw_record **out, const hw_record *base, const hw_write *w, void *arg);

/* One local write: begin, next dot, apply, store, commit. */
static int local_write(hw_client *c, const hw_record *base, const hw_vv *acked, apply_fn fn,
                       void *arg, uint32_t schema, const hw_field_value *fields, size_t n)
{
  hw_record *next = NULL;
  hw_write w = {0};
  hw_dot dot;
  int rc;

  if ((rc = hw_store_begin(c->st)) != 0)
    return rc;
  if ((rc = hw_store_next_dot(c->st, &dot)) != 0)
    goto fail;
  w.dot = dot;
  w.wall_ms = hw__client_now_ms();
  w.author = (hw_bytes){(const uint8_t *)c->worker, strlen(c->worker)};
  w.schema_version = schema;
  w.n_fields = n;
  w.fields = fields;
  if ((rc = fn(&next, base, &w, arg)) != 0 || (rc = forget_replaced(c, base, next, acked)) != 0 ||
      (rc = hw__put_state(c, next, acked, &dot)) != 0)
    goto fail;
  rc = hw_store_commit(c->st);
  hw_record_free(next);
  return rc;
fail:
  hw_record_free(next);
  {
    int r2 = hw_store_rollback(c->st);
    (void)r2;
  }
  return rc;
}

static int do_write(hw_record **out, const hw_record *base, const hw_write *w, void *arg)
{
  (void)arg;
  return hw_record_write(out, base, w);
}

static int do_void(hw_record **out, const hw_record *base, const hw_write *w, void *arg)
{
  const char *reason = arg;
  hw_write v = *w;
  v.n_fields = 0;
  v.fields = NULL;
  return hw_record_void(out, base, &v, reason, strlen(reason));
}

static int do_unvoid(hw_record **out, const hw_record *base, const hw_write *w, void *arg)
{
  hw_write v = *w;
  (void)arg;
  v.n_fields = 0;
  v.fields = NULL;
  return hw_record_unvoid(out, base, &v);
}

int hw_client_create_record(hw_client *c, const hw_id *case_id, const char *kind,
                            const hw_field_value *fields, size_t n, hw_id *record_out,
                            hw_id *case_out, hw_form_error *err)
{
  const hw_form *form = hw_form_find(kind, strlen(kind));
  uint32_t schema_version = form ? form->schema_version : 0;
  hw_record *base = NULL;
  hw_id rid, cid;
  int rc;

  /* Validated on entry on the device (and again on the server). */
  if ((rc = hw_form_validate(kind, strlen(kind), schema_version, NULL, fields, n, err)) != 0)
    return rc;
  hw_id_ordered(&rid, hw__client_now_ms());
  if (case_id)
    cid = *case_id;
  else
    hw_id_ordered(&cid, hw__client_now_ms());
  if ((rc = hw_record_new(&base, &rid, &cid, kind, strlen(kind), schema_version)) != 0)
    return rc;
  rc = local_write(c, base, NULL, do_write, NULL, schema_version, fields, n);
  hw_record_free(base);
  if (rc)
    return rc;
  if (record_out)
    *record_out = rid;
  if (case_out)
    *case_out = cid;
  return HW_OK;
}

/* The stored row and its decoded state. */
static int load_row(hw_client *c, const hw_id *id, hw_store_rec **row, hw_record **rec)
{
  int rc = hw_store_get(c->st, id, row);

  *rec = NULL;
  if (rc)
    return rc;
  rc = hw_record_decode((*row)->state.p, (*row)->state.len, rec, NULL);
  if (rc) {
    hw_store_rec_free(*row);
    *row = NULL;
    return rc == HW_ENOMEM ? rc : HW_ECORRUPT;
  }
  return HW_OK;
}

static int write_existing(hw_client *c, const hw_id *record, apply_fn fn, void *arg,
                          const hw_field_value *fields, size_t n, hw_form_error *err)
{
  hw_store_rec *row = NULL;
  hw_record *cur = NULL;
  const hw_form *form;
  uint32_t schema;
  int rc;

  /* A copy held for a coordinator is replaced by the office's at their
   * decision: an edit made meanwhile would go with it. */
  if (hw__is_held(c, record))
    return HW_EPERM;
  if ((rc = load_row(c, record, &row, &cur)) != 0)
    return rc;
  form = hw_form_find((const char *)cur->kind.p, cur->kind.len);
  schema = form ? form->schema_version : cur->schema_version;
  if (n && (rc = hw_form_validate((const char *)cur->kind.p, cur->kind.len, schema, cur, fields, n,
                                  err)) != 0)
    goto out;
  rc = local_write(c, cur, &row->acked, fn, arg, schema, fields, n);
out:
  hw_record_free(cur);
  hw_store_rec_free(row);
  return rc;
}

int hw_client_write(hw_client *c, const hw_id *record, const hw_field_value *fields, size_t n,
                    hw_form_error *err)
{
  if (n == 0)
    return HW_EINVAL;
  return write_existing(c, record, do_write, NULL, fields, n, err);
}

int hw_client_void(hw_client *c, const hw_id *record, const char *reason)
{
  if (!reason || !*reason)
    return HW_EINVAL;
  return write_existing(c, record, do_void, (void *)reason, NULL, 0, NULL);
}

int hw_client_unvoid(hw_client *c, const hw_id *record)
{
  return write_existing(c, record, do_unvoid, NULL, NULL, 0, NULL);
}

int hw_client_get(hw_client *c, const hw_id *record, hw_record **out)
{
  hw_store_rec *row = NULL;
  int rc = load_row(c, record, &row, out);
  hw_store_rec_free(row);
  return rc;
}

typedef struct counts {
  hw_client *c;
  uint64_t pending, held;
} counts;

static int count_one(void *ud, const hw_store_rec *r)
{
  counts *k = ud;
  if (hw__is_held(k->c, &r->id))
    k->held++;
  else
    k->pending++;
  return 0;
}

int hw_client_count_pending(hw_client *c, uint64_t *pending, uint64_t *held)
{
  counts k = {c, 0, 0};
  int rc = hw_store_list_pending(c->st, count_one, &k);

  *pending = rc ? 0 : k.pending;
  *held = rc ? 0 : k.held;
  return rc;
}

typedef struct list_walk {
  hw_client *c;
  hw_client_record_cb cb;
  void *ud;
} list_walk;

static int list_one(void *ud, const hw_store_rec *row)
{
  list_walk *w = ud;
  hw_record *r = NULL;
  int rc = hw_record_decode(row->state.p, row->state.len, &r, NULL);

  if (rc)
    return rc == HW_ENOMEM ? rc : HW_ECORRUPT;
  rc = w->cb(w->ud, r, row->pending, hw__is_held(w->c, &row->id));
  hw_record_free(r);
  return rc;
}

int hw_client_list(hw_client *c, hw_client_record_cb cb, void *ud)
{
  list_walk w = {c, cb, ud};
  return hw_store_list_all(c->st, list_one, &w);
}

typedef struct oldest_walk {
  bool any;
  int64_t ms;
} oldest_walk;

static int oldest_one(void *ud, const hw_store_rec *row)
{
  oldest_walk *o = ud;
  hw_record *r = NULL;
  int rc = hw_record_decode(row->state.p, row->state.len, &r, NULL);

  if (rc)
    return rc == HW_ENOMEM ? rc : HW_ECORRUPT;
  for (size_t i = 0; i < r->n_writes; i++) {
    const hw_write_meta *m = &r->writes[i];
    if (hw_vv_seen(&row->acked, &m->dot))
      continue;
    if (!o->any || m->wall_ms < o->ms)
      o->ms = m->wall_ms;
    o->any = true;
  }
  hw_record_free(r);
  return 0;
}

int hw_client_oldest_pending(hw_client *c, int64_t *wall_ms)
{
  oldest_walk o = {false, 0};
  int rc = hw_store_list_pending(c->st, oldest_one, &o);

  *wall_ms = 0;
  if (rc)
    return rc;
  if (!o.any)
    return HW_ENOENT;
  *wall_ms = o.ms;
  return HW_OK;
}
