/* The storage-thread half of a session: hello (identity, enrolment,
 * replica binding, lineage), push (accept each state) and pull (what the
 * device may see after its cursor). Jobs of one session run in the order
 * they were submitted. */
#include <stdio.h>
#include <string.h>

#include "audit-entry-int.h"
#include "homeward/forms.h"
#include "homeward/lineage.h"
#include "homeward/log.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"
#include "session-int.h"

static hw_sdb *sdb_of(void *db)
{
  return ((hw_server_db *)db)->sdb;
}

/* Storage thread: which session speaks for `replica` now. */
static hw_replica_owner *owner_slot(hw_server *srv, const hw_id *replica, bool create)
{
  for (size_t i = 0; i < srv->n_owners; i++)
    if (hw_id_cmp(&srv->owners[i].replica, replica) == 0)
      return &srv->owners[i];
  if (!create)
    return NULL;
  if (srv->n_owners == srv->cap_owners) {
    size_t cap = srv->cap_owners ? 2 * srv->cap_owners : 64;
    hw_replica_owner *n = hw_realloc(srv->owners, cap * sizeof *n);
    if (!n)
      return NULL;
    srv->owners = n;
    srv->cap_owners = cap;
  }
  srv->owners[srv->n_owners].replica = *replica;
  srv->owners[srv->n_owners].session_id = 0;
  return &srv->owners[srv->n_owners++];
}

static bool still_owner(const hw_session *ss)
{
  hw_replica_owner *o = owner_slot(ss->srv, &ss->replica, false);
  return o && o->session_id == ss->id;
}

void hw__hello_job_free(hw_hello_job *j)
{
  if (!j)
    return;
  hw_free(j->dots);
  hw_free(j);
}

typedef struct dot_list {
  hw_accepted_dot *v;
  size_t n, cap;
} dot_list;

static void collect_dot(uint64_t counter, const hw_id *record, const uint8_t digest[static 32],
                        void *ud)
{
  dot_list *l = ud;
  if (l->n == l->cap)
    return; /* sized to the query's limit */
  l->v[l->n].counter = counter;
  l->v[l->n].record = *record;
  memcpy(l->v[l->n].write_digest, digest, HW_DIGEST_BYTES);
  l->n++;
}

/* Lineage check (docs/protocol.md §9): the device's digest over the writes
 * it knows the server holds, up to `acked`, must equal the server's over its
 * accepted dots of that replica up to there, and the server must hold
 * nothing above it. Otherwise the refusal lists what the device must check. */
static int check_lineage(hw_sdb *db, hw_hello_job *j)
{
  hw_lineage mine;
  dot_list l = {0};
  int more, rc;

  if ((rc = hw_sdb_lineage(db, &j->hello.replica, j->hello.acked, &mine)) != 0)
    return rc;
  j->refusal_from =
      hw_memcmp_ct(mine.digest, j->hello.lineage, HW_HASH_BYTES) == 0 ? j->hello.acked : 0;
  l.cap = HW_LINEAGE_DOTS_MAX < 4096 ? HW_LINEAGE_DOTS_MAX : 4096;
  if (!(l.v = hw_malloc(l.cap * sizeof *l.v)))
    return HW_ENOMEM;
  rc = hw_sdb_dots_after(db, &j->hello.replica, j->refusal_from, l.cap, collect_dot, &l, &l.n,
                         &more);
  if (rc || (l.n == 0 && j->refusal_from == j->hello.acked)) {
    hw_free(l.v);
    return rc; /* accepted: the device knows exactly what the server holds */
  }
  j->refuse_lineage = true;
  j->dots = l.v;
  j->n_dots = l.n;
  return HW_OK;
}

static bool token_hash(const hw_hello_job *j, uint8_t out[static HW_HASH_BYTES])
{
  hw_hash h;
  if (!j->has_token)
    return false;
  hw_hash_init(&h, NULL, 0);
  hw_hash_update(&h, "homeward-token-v1", 18);
  hw_hash_update(&h, j->token, HW_TOKEN_BYTES);
  hw_hash_final(&h, out);
  return true;
}

/* The enrolment is an administrative entry: which device key, for whom. */
static int audit_enrolment(hw_sdb *db, hw_session *ss, const hw_sdb_device *dev, int64_t now)
{
  hw_bytes key = {ss->device_key, sizeof ss->device_key};
  uint8_t head[HW_HASH_BYTES];
  char details[64];
  uint64_t seq;
  hw_cbor_wr w;
  int rc;

  snprintf(details, sizeof details, "role=%s", dev->role);
  hw_cbor_wr_init(&w, 4096);
  hw_audit_admin_encode(&w, "enrolled", now, &key, dev->worker, details);
  rc = hw_cbor_wr_finish(&w);
  if (!rc)
    rc = hw_sdb_audit_append(db, w.buf, w.len, &seq, head);
  hw_cbor_wr_close(&w);
  return rc;
}

int hw__hello_job_run(hw_job *job, void *dbv)
{
  hw_hello_job *j = (hw_hello_job *)job;
  hw_session *ss = j->ss;
  hw_sdb *db = sdb_of(dbv);
  hw_sdb_device dev;
  hw_replica_owner *own;
  uint8_t th[HW_HASH_BYTES];
  int rc;

  if (j->hello.version != HW_PROTO_VERSION) {
    j->code = HW_CODE_VERSION;
    j->message = "unsupported protocol version";
    return HW_OK;
  }
  rc = hw_sdb_device_get(db, ss->device_key, &dev);
  if (rc == HW_ENOENT) {
    if (!token_hash(j, th)) {
      j->code = HW_CODE_UNKNOWN_DEVICE;
      j->message = "this device is not enrolled";
      return HW_OK;
    }
    rc = hw_sdb_invitation_use(db, th, ss->device_key, j->now_ms, &dev);
    if (rc == HW_EAUTH) {
      j->code = HW_CODE_TOKEN;
      j->message = "invitation unknown, expired or used by another device";
      return HW_OK;
    }
    if (rc == HW_OK && strcmp(dev.status, "new") == 0) {
      rc = hw_sdb_device_put(db, ss->device_key, dev.worker, dev.role, j->now_ms);
      if (!rc)
        rc = audit_enrolment(db, ss, &dev, j->now_ms);
    }
    if (rc)
      return rc;
  } else if (rc) {
    return rc;
  } else if (strcmp(dev.status, "lost") == 0) {
    j->code = HW_CODE_REVOKED;
    j->message = "this device was reported lost: wipe it";
    return HW_OK;
  } else if (strcmp(dev.status, "retired") == 0) {
    j->code = HW_CODE_RETIRED;
    j->message = "this device was retired: wipe it";
    return HW_OK;
  }
  /* A replica id belongs to the device that first used it. */
  rc = hw_sdb_replica_bind(db, &j->hello.replica, ss->device_key,
                           j->hello.has_inherits ? &j->hello.inherits_replica : NULL, j->now_ms);
  if (rc == HW_OK && j->hello.has_inherits)
    rc = hw_sdb_replica_bind(db, &j->hello.inherits_replica, ss->device_key, NULL, j->now_ms);
  if (rc == HW_EPERM) {
    j->code = HW_CODE_REPLICA_TAKEN;
    j->message = "replica id belongs to another device";
    return HW_OK;
  }
  if (rc ||
      (rc = hw_sdb_replicas_of(db, ss->device_key, ss->own, HW_SESSION_OWN_MAX, &ss->n_own)) != 0)
    return rc;
  /* After a server restore (the hello names an older epoch) the server may
   * have lost dots the device knows it accepted: the lineage check is
   * suspended for this session, which re-pushes everything; a contradicting
   * dot is still quarantined at push (defence 3). */
  if (!(j->hello.has_cursor && j->hello.cursor.epoch != j->epoch) &&
      ((rc = check_lineage(db, j)) != 0 || j->refuse_lineage))
    return rc;
  /* Defence 4: this session now speaks for the replica; queued jobs of an
   * older one are refused unapplied. */
  if (!(own = owner_slot(ss->srv, &j->hello.replica, true)))
    return HW_ENOMEM;
  own->session_id = ss->id;
  ss->replica = j->hello.replica;
  ss->recovering = j->hello.has_cursor && j->hello.cursor.epoch != j->epoch;
  ss->has_cursor = j->hello.has_cursor;
  ss->cursor = j->hello.cursor;
  snprintf(ss->worker, sizeof ss->worker, "%s", dev.worker);
  ss->authorized = true;
  return HW_OK;
}

hw_case_access hw__session_case_access(const hw_session *ss, const hw_id *case_id,
                                       bool created_here)
{
  (void)ss, (void)case_id, (void)created_here;
  return HW_CASE_HELD; /* the caseloads issue decides here */
}

static hw_case_access access_hook(const hw_id *case_id, bool created_here, void *ud)
{
  return hw__session_case_access(ud, case_id, created_here);
}

/* The server knows the kinds of its forms; an unknown kind is quarantined
 * until it does (architecture §6). */
static bool kind_hook(const hw_bytes *kind, void *ud)
{
  (void)ud;
  return hw_form_find((const char *)kind->p, kind->len) != NULL;
}

/* Writes the server has not seen are validated again, as on the device. */
static int validate_hook(const hw_bytes *kind, uint32_t schema_version, const hw_record *base,
                         const hw_field_value *values, size_t n, char *msg, size_t msg_len,
                         void *ud)
{
  hw_form_error err;
  int rc =
      hw_form_validate((const char *)kind->p, kind->len, schema_version, base, values, n, &err);
  (void)ud;
  if (rc)
    snprintf(msg, msg_len, "%s", err.msg);
  return rc;
}

void hw__push_job_free(hw_push_job *j)
{
  if (!j)
    return;
  for (size_t i = 0; i < j->n; i++) {
    hw_free(j->states ? j->states[i] : NULL);
    if (j->results)
      hw_accept_result_clear(&j->results[i]);
  }
  hw_free(j->states);
  hw_free(j->lens);
  hw_free(j->results);
  hw_free(j);
}

static int remember_acked(hw_session *ss, uint64_t seq)
{
  if (ss->n_acked == HW_SESSION_ACKED_MAX)
    return HW_OK; /* past this, a later pull may resend some: harmless */
  if (ss->n_acked == ss->cap_acked) {
    size_t cap = ss->cap_acked ? 2 * ss->cap_acked : 256;
    uint64_t *n = hw_realloc(ss->acked_seqs, cap * sizeof *n);
    if (!n)
      return HW_ENOMEM;
    ss->acked_seqs = n;
    ss->cap_acked = cap;
  }
  ss->acked_seqs[ss->n_acked++] = seq;
  return HW_OK;
}

int hw__push_job_run(hw_job *job, void *dbv)
{
  hw_push_job *j = (hw_push_job *)job;
  hw_session *ss = j->ss;
  hw_accept_policy policy = {
      .kind_known = kind_hook, .validate = validate_hook, .case_access = access_hook, .ud = ss};
  hw_accept_ctx cx = {
      .db = sdb_of(dbv),
      .policy = &policy,
      .own = ss->own,
      .n_own = ss->n_own,
      .recovering = ss->recovering,
      .device_key = {ss->device_key, sizeof ss->device_key},
      .actor = {(const uint8_t *)ss->worker, strlen(ss->worker)},
      .now_ms = j->now_ms,
      .value_key = j->value_key,
  };
  int rc;

  /* A session that is not (or no longer) the replica's voice applies
   * nothing: its batches are answered as refused. */
  if (!ss->authorized || !still_owner(ss)) {
    for (size_t i = 0; i < j->n; i++) {
      j->results[i].decision = HW_DEC_REFUSED;
      j->results[i].code = HW_CODE_SUPERSEDED;
      j->results[i].reason = "session superseded by a newer one of this replica";
    }
    return HW_OK;
  }
  for (size_t i = 0; i < j->n; i++) {
    if ((rc = hw_accept_record(&cx, j->states[i], j->lens[i], &j->results[i])) != 0)
      return rc;
    if (j->results[i].seq && (rc = remember_acked(ss, j->results[i].seq)) != 0)
      return rc;
  }
  return HW_OK;
}

void hw__pull_job_free(hw_pull_job *j)
{
  if (!j)
    return;
  for (size_t i = 0; i < j->n; i++)
    hw_free(j->records[i]);
  hw_free(j->records);
  hw_free(j->lens);
  hw_free(j);
}

static bool acked_here(const hw_session *ss, uint64_t seq)
{
  for (size_t i = 0; i < ss->n_acked; i++)
    if (ss->acked_seqs[i] == seq)
      return true;
  return false;
}

static int take_record(uint64_t seq, const hw_id *case_id, const void *state, size_t len, void *ud)
{
  hw_pull_job *j = ud;

  /* Only within the session: a restored device must get back what it
   * pushed after its backup. */
  if (acked_here(j->ss, seq))
    return HW_OK;
  if (hw__session_case_access(j->ss, case_id, false) != HW_CASE_HELD)
    return HW_OK;
  if (!(j->records[j->n] = hw_memdup(state, len)))
    return HW_ENOMEM;
  j->lens[j->n++] = len;
  return HW_OK;
}

int hw__pull_job_run(hw_job *job, void *dbv)
{
  hw_pull_job *j = (hw_pull_job *)job;
  hw_session *ss = j->ss;
  hw_sdb *db = sdb_of(dbv);
  uint8_t head[HW_HASH_BYTES];
  const hw_cursor *c = j->has_cursor ? &j->cursor : ss->has_cursor ? &ss->cursor : NULL;
  uint64_t from, last, head_seq;
  int more, rc;

  if (!ss->authorized) {
    j->refused = true; /* the hello was refused: the session is ending */
    return HW_OK;
  }
  /* A cursor of another epoch (a restored server) starts from the beginning. */
  from = c && c->epoch == j->epoch ? c->seq : 0;
  j->records = hw_calloc(j->max_records, sizeof *j->records);
  j->lens = hw_calloc(j->max_records, sizeof *j->lens);
  if (!j->records || !j->lens)
    return HW_ENOMEM;
  rc = hw_sdb_records_after(db, from, (size_t)j->max_records, take_record, j, &last, &more);
  if (rc)
    return rc;
  j->more = more != 0;
  j->next.epoch = j->epoch;
  j->next.seq = last;
  if ((rc = hw_sdb_audit_head(db, &head_seq, head)) != 0)
    return rc;
  memcpy(j->next.audit_head, head, HW_CURSOR_HEAD_BYTES);
  if ((rc = hw_sdb_checksum_get(db, j->checksum)) != 0)
    return rc;
  /* The session now stands here, for a pull that names no cursor. Set only
   * on the storage thread, in job order. */
  ss->cursor = j->next;
  ss->has_cursor = true;
  return HW_OK;
}
