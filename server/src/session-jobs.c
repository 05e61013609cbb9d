/* The storage-thread half of a session: hello (identity, enrolment,
 * replica binding, lineage), push (accept each state) and pull (what the
 * device may see after its cursor). Jobs of one session run in the order
 * they were submitted. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit-entry-int.h"
#include "homeward/checksum.h"
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
  if (hw_grow(&srv->owners, &srv->cap_owners, srv->n_owners + 1, sizeof *srv->owners, 64))
    return NULL;
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

  if ((rc = hw_sdb_lineage(db, &j->hello.replica, j->hello.acked, true, &mine)) != 0)
    return rc;
  /* A difference found from the mark is checked from the start: the mark
   * costs a refusal nothing it would not cost without it. */
  if (hw_memcmp_ct(mine.digest, j->hello.lineage, HW_HASH_BYTES) != 0 &&
      ((rc = hw_sdb_lineage_unmark(db, &j->hello.replica)) != 0 ||
       (rc = hw_sdb_lineage(db, &j->hello.replica, j->hello.acked, false, &mine)) != 0))
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
    /* Accepted: the device knows exactly what the server holds. The next
     * hello folds on from here (a mark that cannot be written costs that
     * hello a longer fold, nothing else). */
    if (!rc)
      (void)!hw_sdb_lineage_mark(db, &j->hello.replica, &mine);
    return rc;
  }
  j->refuse_lineage = true;
  j->dots = l.v;
  j->n_dots = l.n;
  j->dots_more = more != 0;
  return HW_OK;
}

static bool token_hash(const hw_hello_job *j, uint8_t out[static HW_HASH_BYTES])
{
  if (!j->has_token)
    return false;
  hw__token_hash(j->token, out);
  return true;
}

/* The workers whose cases the device sees. */
static int load_visible(hw_sdb *db, hw_session *ss)
{
  size_t n = 0;
  int rc;

  if (!ss->visible && !(ss->visible = hw_calloc(HW_SESSION_REGION_MAX + 1, HW_WORKER_MAX)))
    return HW_ENOMEM;
  snprintf(ss->visible[0], HW_WORKER_MAX, "%s", ss->worker);
  if (strcmp(ss->role, "coordinator") == 0 &&
      (rc = hw_sdb_region(db, ss->worker, ss->visible + 1, HW_SESSION_REGION_MAX, &n)) != 0)
    return rc;
  ss->n_visible = 1 + n;
  return HW_OK;
}

/* A device's enrolment, or a hello refused for its identity (architecture
 * §6: another device's replica id, a failed lineage check): an entry that
 * names the device key and its worker. */
static int audit_device(hw_sdb *db, hw_session *ss, const char *action, const char *worker,
                        const char *details, int64_t now)
{
  hw_bytes key = {ss->device_key, sizeof ss->device_key};
  uint8_t head[HW_HASH_BYTES];
  uint64_t seq;
  hw_cbor_wr w;
  int rc;

  hw_cbor_wr_init(&w, 4096);
  hw_audit_admin_encode(&w, action, now, &key, worker, details);
  rc = hw_cbor_wr_finish(&w);
  if (!rc)
    rc = hw_sdb_audit_append(db, w.buf, w.len, &seq, head);
  hw_cbor_wr_close(&w);
  return rc;
}

/* A retired device's session ends at its first pull (hw__pull_job_run); one
 * cut before that may come again, but a device that never pulls is done
 * after this many sessions, not accepted forever. */
#define RETIRING_SESSIONS_MAX 5

/* Count a retired device's session; *over when it has had its share. */
static int count_retiring(hw_sdb *db, const hw_session *ss, bool *over)
{
  char key[16 + 2 * HW_ID_HEX_LEN];
  hw_id half[2];
  uint8_t *v = NULL, n = 0;
  size_t len = 0;
  int rc;

  static_assert(sizeof ss->device_key == sizeof half, "a device key is two ids long");
  memcpy(half, ss->device_key, sizeof half);
  memcpy(key, "retiring:", 10);
  hw_id_to_hex(&half[0], key + 9);
  hw_id_to_hex(&half[1], key + 9 + HW_ID_HEX_LEN);
  rc = hw_sdb_meta_get(db, key, &v, &len);
  if (rc == HW_OK && len == 1)
    n = v[0];
  hw_free(v);
  if (rc != HW_OK && rc != HW_ENOENT)
    return rc;
  *over = n >= RETIRING_SESSIONS_MAX;
  n++;
  return *over ? HW_OK : hw_sdb_meta_put(db, key, &n, 1);
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
      if (!rc) {
        char role[48];
        snprintf(role, sizeof role, "role=%s", dev.role);
        rc = audit_device(db, ss, "enrolled", dev.worker, role, j->now_ms);
      }
    }
    if (rc)
      return rc;
  } else if (rc) {
    return rc;
  } else if (strcmp(dev.status, "lost") == 0) {
    j->code = HW_CODE_REVOKED;
    j->message = "this device was reported lost: wipe it";
    return HW_OK;
  } else if (strcmp(dev.status, "retired-done") == 0) {
    j->code = HW_CODE_RETIRED;
    j->message = "this device was retired: wipe it";
    return HW_OK;
  } else if (strcmp(dev.status, "retired") == 0) {
    /* Retire: one last session pushes the pending work, then the device is
     * told to wipe (security notes part B). */
    bool over = false;
    if ((rc = count_retiring(db, ss, &over)) != 0)
      return rc;
    if (over) {
      j->code = HW_CODE_RETIRED;
      j->message = "this device was retired: wipe it";
      return hw_sdb_device_set_status(db, ss->device_key, "retired-done", j->now_ms);
    }
    ss->retiring = true;
  }
  /* A replica id belongs to the device that first used it. */
  rc = hw_sdb_replica_bind(db, &j->hello.replica, ss->device_key,
                           j->hello.has_inherits ? &j->hello.inherits_replica : NULL, j->now_ms);
  if (rc == HW_OK && j->hello.has_inherits)
    rc = hw_sdb_replica_bind(db, &j->hello.inherits_replica, ss->device_key, NULL, j->now_ms);
  if (rc == HW_EPERM) {
    j->code = HW_CODE_REPLICA_TAKEN;
    j->message = "replica id belongs to another device";
    return audit_device(db, ss, "refused", dev.worker,
                        "its replica id belongs to another device", j->now_ms);
  }
  if (rc)
    return rc;
  hw_free(ss->own);
  rc = hw_sdb_replicas_of(db, ss->device_key, &ss->own, HW_SESSION_OWN_MAX, &ss->n_own);
  if (rc == HW_ELIMIT) {
    j->code = HW_CODE_LIMIT;
    j->message = "this device's store was copied or restored too many times: a coordinator "
                 "must retire this device and enrol a new one";
    return audit_device(db, ss, "refused", dev.worker,
                        "its store was copied or restored more than 4096 times", j->now_ms);
  }
  if (rc)
    return rc;
  /* Another epoch than the server's puts the session in recovery, which
   * skips the checks below and accepts other replicas' writes as
   * recovered: only a server restored at least once can meet one (an epoch
   * taken after its backup was made). A server never restored refuses it:
   * a device claiming it would be lying its way past those checks. */
  if (j->hello.has_cursor && j->hello.cursor.epoch != j->epoch && !j->ever_restored) {
    j->code = HW_CODE_UNKNOWN_EPOCH;
    j->message = "the device names a server epoch this server never had";
    return audit_device(db, ss, "refused", dev.worker,
                        "its cursor names an epoch this server never had", j->now_ms);
  }
  /* After a server restore (the hello names an older epoch) the server may
   * have lost dots the device knows it accepted: the lineage check is
   * suspended for this session, which re-pushes everything; a contradicting
   * dot is still quarantined at push (defence 3). */
  if (!(j->hello.has_cursor && j->hello.cursor.epoch != j->epoch) &&
      (rc = check_lineage(db, j)) != 0)
    return rc;
  if (j->refuse_lineage) {
    char why[128];
    snprintf(why, sizeof why,
             "lineage check failed: its history differs from the server's; %zu%s of its "
             "accepted writes after counter %llu listed back to it",
             j->n_dots, j->dots_more ? "+" : "", (unsigned long long)j->refusal_from);
    return audit_device(db, ss, "refused", dev.worker, why, j->now_ms);
  }
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
  snprintf(ss->role, sizeof ss->role, "%s", dev.role);
  if ((rc = load_visible(db, ss)) != 0)
    return rc;
  ss->authorized = true;
  return HW_OK;
}

static bool visible(const hw_session *ss, const char *worker)
{
  for (size_t i = 0; worker && i < ss->n_visible; i++)
    if (strcmp(ss->visible[i], worker) == 0)
      return true;
  return false;
}

/* Architecture §4, caseload edges: a case the server has never seen belongs
 * to the worker who created it offline; one of the device's caseload is
 * held; one the worker held before a reassignment takes a late edit,
 * flagged to its current holder; any other is quarantined. */
hw_case_access hw__session_case_access(hw_session *ss, const hw_id *case_id, bool created_here)
{
  char holder[HW_WORKER_MAX];
  bool before = false;
  uint64_t seq;
  int rc = hw_sdb_assign_get(ss->db, case_id, holder);

  (void)created_here;
  if (rc == HW_ENOENT) {
    if (hw_sdb_next_seq(ss->db, &seq) || hw_sdb_assign_set(ss->db, case_id, ss->worker, seq))
      return HW_CASE_ERROR;
    return HW_CASE_HELD;
  }
  if (rc)
    return HW_CASE_ERROR;
  if (visible(ss, holder))
    return HW_CASE_HELD;
  if (hw_sdb_held_before(ss->db, case_id, ss->worker, &before))
    return HW_CASE_ERROR;
  return before ? HW_CASE_HELD_BEFORE : HW_CASE_NEVER_HELD;
}

/* Flag a merged late edit to the case's current holder. */
static int late_edit_hook(const hw_id *case_id, void *ud)
{
  hw_session *ss = ud;
  char holder[HW_WORKER_MAX];
  int rc = hw_sdb_assign_get(ss->db, case_id, holder);

  if (rc)
    return rc;
  return hw_sdb_flag_put(ss->db, case_id, holder, "late edit from a previous holder", hw__now_ms());
}

static hw_case_access access_hook(const hw_id *case_id, bool created_here, void *ud)
{
  return hw__session_case_access(ud, case_id, created_here);
}

/* The server knows the kinds of its forms; an unknown kind is quarantined
 * until it does (architecture §6). */
bool hw__form_kind_known(const hw_bytes *kind, void *ud)
{
  (void)ud;
  return hw_form_find((const char *)kind->p, kind->len) != NULL;
}

/* Writes the server has not seen are validated again, as on the device. */
int hw__form_validate(const hw_bytes *kind, uint32_t schema_version, const hw_record *base,
                      const hw_field_value *values, size_t n, char *msg, size_t msg_len, void *ud)
{
  hw_form_error err;
  int rc =
      hw_form_validate((const char *)kind->p, kind->len, schema_version, base, values, n, &err);
  (void)ud;
  if (rc)
    snprintf(msg, msg_len, "%s", err.msg);
  return rc;
}

/* What the prep worked out, freed (it counts in the prep thread's lead until
 * the job has run). */
static void drop_preps(hw_push_job *j)
{
  for (size_t i = 0; j->preps && i < j->n; i++)
    hw_accept_prep_clear(&j->preps[i]);
  hw_free(j->preps);
  j->preps = NULL;
}

void hw__push_job_free(hw_push_job *j)
{
  if (!j)
    return;
  drop_preps(j);
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
  int rc;

  if (ss->n_acked == HW_SESSION_ACKED_MAX)
    return HW_OK; /* past this, a later pull may resend some: harmless */
  if ((rc = hw_grow(&ss->acked_seqs, &ss->cap_acked, ss->n_acked + 1, sizeof *ss->acked_seqs,
                    256)) != 0)
    return rc;
  ss->acked_seqs[ss->n_acked++] = seq;
  return HW_OK;
}

/* Prep thread: decode, hash and validate each state before the job's turn.
 * (Allocated here, not with the job: a job waiting in the queue holds only
 * its states.) Without memory, the run works it all out itself. */
void hw__push_job_prep(hw_job *job)
{
  hw_push_job *j = (hw_push_job *)job;
  const hw_accept_policy policy = {.validate = hw__form_validate};
  size_t weight = j->n * sizeof *j->preps;

  if (!(j->preps = hw_calloc(j->n ? j->n : 1, sizeof *j->preps)))
    return;
  for (size_t i = 0; i < j->n; i++) {
    hw_accept_prepare(&policy, j->value_key, j->states[i], j->lens[i], &j->preps[i]);
    /* What it holds, roughly: a decoded state copies its bytes, and each
     * pair takes its entry and its hash. */
    weight += 2 * j->lens[i] + j->preps[i].n_pairs * (sizeof(hw_pair) + HW_HASH_BYTES);
  }
  job->prep_bytes = weight;
}

/* HW_EREVOKED when the session's device is now reported lost. */
static int reported_lost(hw_sdb *db, const hw_session *ss)
{
  hw_sdb_device dev;
  int rc = hw_sdb_device_get(db, ss->device_key, &dev);

  if (rc == HW_OK && strcmp(dev.status, "lost") == 0)
    rc = HW_EREVOKED;
  return rc;
}

int hw__push_job_run(hw_job *job, void *dbv)
{
  hw_push_job *j = (hw_push_job *)job;
  hw_session *ss = j->ss;
  hw_accept_policy policy = {
      .kind_known = hw__form_kind_known,
      .validate = hw__form_validate,
      .case_access = access_hook,
      .late_edit = late_edit_hook,
      .ud = ss};
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
      .write_only = ss->retiring,
  };
  const char *refuse = NULL;
  int code = HW_CODE_SUPERSEDED, rc;

  /* A session that is not (or no longer) the replica's voice applies
   * nothing: its batches are answered as refused. Nor does one of a device
   * reported lost while its batches waited here (the revocation ends the
   * session, but only once it has run, after them in the queue). */
  ss->db = cx.db;
  if (!ss->authorized || !still_owner(ss)) {
    refuse = "session superseded by a newer one of this replica";
  } else if ((rc = reported_lost(cx.db, ss)) != HW_OK) {
    if (rc != HW_EREVOKED)
      return rc;
    refuse = "this device was reported lost";
    code = HW_CODE_REVOKED;
  }
  if (refuse) {
    for (size_t i = 0; i < j->n; i++) {
      j->results[i].decision = HW_DEC_REFUSED;
      j->results[i].code = code;
      j->results[i].reason = refuse;
    }
    drop_preps(j);
    return HW_OK;
  }
  rc = HW_OK;
  for (size_t i = 0; i < j->n && !rc; i++) {
    /* (A state withheld is not what the device holds: a pull of this
     * session that may send it must.) */
    if ((rc = hw_accept_prepared(&cx, j->states[i], j->lens[i], j->preps ? &j->preps[i] : NULL,
                                 &j->results[i])) == 0 &&
        j->results[i].seq && !j->results[i].withheld)
      rc = remember_acked(ss, j->results[i].seq);
  }
  drop_preps(j);
  return rc;
}

void hw__pull_job_free(hw_pull_job *j)
{
  if (!j)
    return;
  for (size_t i = 0; i < j->n; i++)
    hw_free(j->records[i]);
  hw_free(j->records);
  hw_free(j->lens);
  hw_free(j->removals);
  hw_free(j->decided);
  hw_free(j->flagged.v);
  hw_free(j);
}

/* acked_seqs grows in increasing order (one sequence, jobs in order). */
static bool acked_here(const hw_session *ss, uint64_t seq)
{
  size_t lo = 0, hi = ss->n_acked;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (ss->acked_seqs[mid] == seq)
      return true;
    if (ss->acked_seqs[mid] < seq)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

/* One pull batch: the records of the device's caseload changed after the
 * cursor and the assignment changes after it, merged in sequence order
 * within a budget; a case newly visible arrives whole, a case no longer
 * visible is a removal (protocol.md §9). */
typedef struct pull_item {
  uint64_t seq;
  hw_id case_id;
  int kind;        /* 0 record, 1 new case, 2 removal, 3 decision (case_id: the record,
                    * state: the decided state's checksum item), 4 a new case that
                    * has moved on to a worker this device does not see, 5 a
                    * removal from a region (still_hidden) */
  uint8_t *state;  /* records: owned copy */
  size_t len;
} pull_item;

typedef struct pull_ctx {
  hw_pull_job *j;
  pull_item *items;
  size_t n, cap;
  size_t rows;      /* rows the current list returned */
  uint64_t max_seq; /* and the last one's sequence number */
  size_t copied;    /* record states copied (not the session's own) */
} pull_ctx;

static int push_item(pull_ctx *p, const pull_item *it)
{
  int rc = hw_grow(&p->items, &p->cap, p->n + 1, sizeof *p->items, 64);

  if (rc)
    return rc;
  p->items[p->n++] = *it;
  return HW_OK;
}

static bool own_row(uint64_t seq, void *ud)
{
  return acked_here(((pull_ctx *)ud)->j->ss, seq);
}

/* A row of a worker's changes; case_id and state are NULL for this
 * session's own writes (own_row), which are never sent back. */
static int got_record(uint64_t seq, const hw_id *case_id, const void *state, size_t len, void *ud)
{
  pull_ctx *p = ud;
  pull_item it = {.seq = seq, .kind = 0, .len = len};
  bool own = !case_id || acked_here(p->j->ss, seq); /* no case: own_row said so */
  int rc;

  if (case_id)
    it.case_id = *case_id;
  /* A batch never sends more: the list stops before this row (a cut). */
  if (!own && p->copied == p->j->max_records)
    return HW_ELIMIT;
  p->rows++;
  p->max_seq = seq;
  /* This session's own acknowledged writes are never sent back (below):
   * after a large push they are most of what a pull reads, so no copy. */
  if (own)
    return push_item(ud, &it);
  if (!(it.state = hw_memdup(state, len)))
    return HW_ENOMEM;
  p->copied++;
  if ((rc = push_item(ud, &it)) != 0)
    hw_free(it.state);
  return rc;
}

/* Whether this session's acks carried changes after `from`: the rows the
 * pull passes over are then told apart by their seq before their states
 * are read. */
static bool own_after(const hw_session *ss, uint64_t from)
{
  return ss->n_acked > 0 && ss->acked_seqs[ss->n_acked - 1] > from;
}

static int got_event(uint64_t seq, const hw_id *case_id, const char *from, const char *to,
                     void *ud)
{
  pull_ctx *p = ud;
  bool was = visible(p->j->ss, from), is = visible(p->j->ss, to);
  pull_item it = {.seq = seq, .case_id = *case_id};

  p->rows++;
  p->max_seq = seq;
  /* A region's case made visible to its coordinator ("" -> coordinator),
   * or taken from her (coordinator -> ""), is for the coordinator's devices
   * only, not a worker's of that name. */
  if (((from && !from[0]) || !to[0]) && strcmp(p->j->ss->role, "coordinator") != 0)
    return HW_OK;
  /* A first assignment (a case created on a device) takes its seq before
   * any record of the case, which then arrive as ordinary changes. */
  if (!from || was == is)
    return HW_OK; /* or moved within what the device sees */
  it.kind = is ? 1 : !to[0] ? 5 : 2;
  return push_item(p, &it);
}

/* A coordinator decided on a state this device pushed and holds. */
static int got_decision(uint64_t seq, const hw_id *record, const uint8_t item[HW_HASH_BYTES],
                        void *ud)
{
  pull_ctx *p = ud;
  pull_item it = {.seq = seq, .case_id = *record, .kind = 3, .len = HW_HASH_BYTES};
  int rc;

  p->rows++;
  p->max_seq = seq;
  if (!(it.state = hw_memdup(item, HW_HASH_BYTES)))
    return HW_ENOMEM;
  if ((rc = push_item(p, &it)) != 0)
    hw_free(it.state);
  return rc;
}

static int by_seq(const void *a, const void *b)
{
  const pull_item *x = a, *y = b;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool has_case(const hw_id *list, size_t n, const hw_id *id)
{
  for (size_t i = 0; i < n; i++)
    if (hw_id_cmp(&list[i], id) == 0)
      return true;
  return false;
}

static int add_out(hw_pull_job *j, uint8_t *state, size_t len)
{
  if (j->n == j->max_records) {
    hw_free(state);
    return HW_ELIMIT;
  }
  j->records[j->n] = state;
  j->lens[j->n++] = len;
  return HW_OK;
}

/* Whether the batch carries record `id` already (a release changed it just
 * before the decision). Decisions are rare: the batch is decoded. */
static bool in_batch(const hw_pull_job *j, const hw_id *id)
{
  bool found = false;

  for (size_t i = 0; i < j->n && !found; i++) {
    hw_record *r = NULL;
    if (hw_record_decode(j->records[i], j->lens[i], &r, NULL) == HW_OK)
      found = hw_id_cmp(&r->id, id) == 0;
    hw_record_free(r);
  }
  return found;
}

/* The server's state of a decided record, when this device may see its case:
 * the device takes it in place of the copy it dropped. */
static int decided_state(hw_pull_job *j, hw_sdb *db, const hw_id *record)
{
  uint8_t *state = NULL;
  size_t len = 0;
  hw_record *r = NULL;
  char holder[HW_WORKER_MAX];
  int rc = hw_sdb_record_get(db, record, &state, &len);

  if (rc == HW_ENOENT)
    return HW_OK; /* nothing was ever merged into it */
  if (rc == HW_OK && (rc = hw_record_decode(state, len, &r, NULL)) != 0)
    rc = rc == HW_ENOMEM ? rc : HW_ECORRUPT;
  if (rc == HW_OK && (rc = hw_sdb_assign_get(db, &r->case_id, holder)) == HW_OK &&
      visible(j->ss, holder) && !in_batch(j, record)) {
    rc = add_out(j, state, len);
    state = NULL;
  }
  if (rc == HW_ENOENT)
    rc = HW_OK; /* a case nobody holds */
  hw_record_free(r);
  hw_free(state);
  return rc;
}

/* A new case's item stays one (kind 1) only while its holder is still one
 * of the workers this session sees; else it becomes kind 4, and a part of
 * it sent by an earlier batch is forgotten (given back later in the session,
 * it is sent from its start). */
static int still_visible(hw_sdb *db, hw_session *ss, pull_item *it)
{
  char holder[HW_WORKER_MAX];
  int rc = hw_sdb_assign_get(db, &it->case_id, holder);

  if (rc == HW_ENOENT || (rc == HW_OK && !visible(ss, holder))) {
    it->kind = 4;
    if (ss->has_whole && hw_id_cmp(&ss->whole_case, &it->case_id) == 0)
      ss->has_whole = false;
    rc = HW_OK;
  }
  return rc;
}

/* A case taken from a coordinator's region stays visible to her when its
 * holder now is another worker she sees (of her region still, or her own):
 * its removal (kind 5) is then nothing (kind 4), else a removal (2). */
static int still_hidden(hw_sdb *db, hw_session *ss, pull_item *it)
{
  char holder[HW_WORKER_MAX];
  int rc = hw_sdb_assign_get(db, &it->case_id, holder);

  if (rc && rc != HW_ENOENT)
    return rc;
  it->kind = rc == HW_OK && visible(ss, holder) ? 4 : 2;
  return HW_OK;
}

typedef struct whole_ctx {
  hw_pull_job *j;
  uint64_t skip_to;    /* records up to here went out in an earlier batch */
  uint64_t last_added; /* the last record this batch took */
} whole_ctx;

static int got_whole(uint64_t seq, const hw_id *case_id, const void *state, size_t len, void *ud)
{
  whole_ctx *w = ud;
  uint8_t *copy;
  int rc;
  (void)case_id;
  if (seq <= w->skip_to || acked_here(w->j->ss, seq))
    return HW_OK; /* sent already, or this session's own acknowledgement carried it */
  if (!(copy = hw_memdup(state, len)))
    return HW_ENOMEM;
  if ((rc = add_out(w->j, copy, len)) == HW_OK)
    w->last_added = seq;
  return rc;
}

/* One pull's worth after `from`, reading at most `limit` record rows per
 * visible worker: fills j's records, removals and decisions, sets j->more
 * and *last (the last sequence number covered). */
static int pull_scan(hw_pull_job *j, hw_sdb *db, hw_id *whole, uint64_t from, size_t limit,
                     uint64_t *last_out)
{
  hw_session *ss = j->ss;
  pull_ctx p = {.j = j};
  hw_id_list coming = {0};
  size_t n_whole = 0, used = 0, at;
  uint64_t last = from, horizon = UINT64_MAX;
  size_t ev_max = limit < HW_REMOVALS_MAX / 2 ? limit : HW_REMOVALS_MAX / 2;
  bool cut = false;
  int rc = HW_OK;

  /* A region can grow while a coordinator's session runs (the storage
   * thread runs the region command between two pull batches): each batch
   * reads with the region as it is, or a new worker's changes made after
   * the grant would be passed by the cursor unread. */
  if (strcmp(ss->role, "coordinator") == 0 && (rc = load_visible(db, ss)) != 0)
    return rc;

  /* Each visible worker's changes after the cursor, at most a batch each.
   * A list cut at its limit may have more after its last row: the batch
   * then stops at that row (the horizon), so nothing of it is skipped. Items
   * this batch leaves out (this session's own, a case sent whole) do not
   * fill it, so without the horizon the cursor could pass rows never read. */
  for (size_t v = 0; v < ss->n_visible && !rc; v++) {
    p.rows = 0;
    p.copied = 0;
    rc = hw_sdb_load_after(db, ss->visible[v], from, limit,
                           own_after(ss, from) ? own_row : NULL, got_record, &p);
    if (rc == HW_ELIMIT || (!rc && p.rows >= limit)) {
      rc = HW_OK;
      if (p.max_seq < horizon)
        horizon = p.max_seq, cut = true;
    }
    /* Events as far as a batch of records reaches: a new case's first
     * assignment comes with every case created, so a larger list was mostly
     * read again by the next batch (the horizon keeps it exact). */
    p.rows = 0;
    if (!rc)
      rc = hw_sdb_events_after(db, ss->visible[v], from, ev_max, got_event, &p);
    if (!rc && p.rows >= ev_max && p.max_seq < horizon)
      horizon = p.max_seq, cut = true;
  }
  /* Coordinators' decisions on states this device holds for them. */
  if (!rc) {
    size_t max = j->max_records > 1 ? (size_t)j->max_records / 2 : 1;
    p.rows = 0;
    p.max_seq = 0;
    rc = hw_sdb_decisions_after(db, ss->device_key, from, max, got_decision, &p);
    if (!rc && p.rows >= max && p.max_seq < horizon)
      horizon = p.max_seq, cut = true;
  }
  if (rc)
    goto out;
  if (p.n)
    qsort(p.items, p.n, sizeof *p.items, by_seq);
  /* A case given to a visible worker and taken away since (the log keeps
   * both events) is not sent whole: its records as they stand now hold its
   * later holders' edits. Its removal comes after, in this batch or the
   * next. Without this, a former holder's new device got the case. */
  for (size_t i = 0; i < p.n; i++)
    if ((p.items[i].kind == 1 && (rc = still_visible(db, ss, &p.items[i])) != 0) ||
        (p.items[i].kind == 5 && (rc = still_hidden(db, ss, &p.items[i])) != 0))
      goto out;
  /* Cases this batch may send whole: a change of one of them before its
   * event is left to the whole case (sent once, not twice). */
  for (size_t i = 0; i < p.n; i++)
    if (p.items[i].kind == 1 && (rc = hw_id_list_add(&coming, &p.items[i].case_id)) != 0)
      goto out;
  for (at = 0; at < p.n; at++) {
    pull_item *it = &p.items[at];
    if (it->seq > horizon)
      break;
    if (it->kind == 1 && has_case(whole, n_whole, &it->case_id)) {
      /* Shown twice in one batch (through two workers she sees): sent once. */
    } else if (it->kind == 1) {
      /* Newly visible: the whole case, whatever its records' age. */
      bool resume = ss->has_whole && hw_id_cmp(&ss->whole_case, &it->case_id) == 0;
      whole_ctx w = {j, resume ? ss->whole_after : 0, 0};
      size_t before = j->n;
      if (n_whole == HW_REMOVALS_MAX)
        break;
      rc = hw_sdb_case_records(db, &it->case_id, got_whole, &w);
      if (rc == HW_ELIMIT && before > 0) {
        /* Does not fit beside this batch's items: drop it, stop before it. */
        for (size_t k = before; k < j->n; k++)
          hw_free(j->records[k]);
        j->n = before;
        rc = HW_OK;
        break;
      }
      if (rc == HW_ELIMIT) {
        /* Larger than a whole batch: this part goes now, the cursor stays
         * before the event and the next pull of the session goes on from
         * the last record sent (a new session starts the case again). */
        ss->has_whole = true;
        ss->whole_case = it->case_id;
        ss->whole_after = w.last_added;
        rc = HW_OK;
        break;
      }
      if (rc)
        goto out;
      if (resume)
        ss->has_whole = false;
      whole[n_whole++] = it->case_id;
    } else if (it->kind == 4) {
      /* nothing to send: see still_visible */
    } else if (it->kind == 2) {
      if (j->n_removals == HW_REMOVALS_MAX)
        break;
      j->removals[j->n_removals++] = it->case_id;
    } else if (it->kind == 3) {
      /* The id and, in the same batch, the server's state (the device
       * drops its copy first); room for both, or it waits for the next. */
      if (j->n_decided == j->max_records || j->n == j->max_records)
        break;
      j->decided[j->n_decided].record = it->case_id;
      memcpy(j->decided[j->n_decided++].state_digest, it->state, HW_HASH_BYTES);
      if ((rc = decided_state(j, db, &it->case_id)) != 0)
        goto out;
    } else if (!has_case(whole, n_whole, &it->case_id) &&
               !has_case(coming.v, coming.n, &it->case_id) && !acked_here(ss, it->seq)) {
      /* Only within the session: a restored device must get back what it
       * pushed after its backup. */
      if (j->n == j->max_records)
        break;
      if ((rc = add_out(j, it->state, it->len)) != 0)
        goto out;
      it->state = NULL;
    }
    last = it->seq;
    used++;
  }
  /* More remains when an item was left, or when some list was cut short.
   * Otherwise the device has seen all it may see up to the sequence's end:
   * its cursor moves there, past other workers' changes, so a case given
   * to it later is not sent twice (once as changes, once whole). */
  j->more = used < p.n || cut;
  /* Every change up to a cut list's horizon was read, and none was left
   * for lack of room: the cursor may move there even when they made no item
   * (first assignments, moves between workers the device sees, its own
   * writes), or a batch of such rows would be asked for again forever. */
  if (cut && (at == p.n || p.items[at].seq > horizon) && horizon > last)
    last = horizon;
  *last_out = last;
out:
  for (size_t i = 0; i < p.n; i++)
    hw_free(p.items[i].state);
  hw_free(p.items);
  hw_free(coming.v);
  return rc;
}

/* After a large push the session's own writes fill whole pulls that send
 * nothing: a round trip (and a commit on the device) each. Such empty
 * batches are skipped here, as the device's next pulls would, up to this
 * many in one job (the storage thread serves other sessions too); past the
 * first, each reads this many times a batch's rows (one range of the
 * (worker, seq) index per visible worker; only the states sent are copied). */
#define PULL_EMPTY_ROUNDS 8
#define PULL_SKIP_ROWS 8

bool hw__pull_batch_empty(const hw_pull_job *j)
{
  return j->n == 0 && j->n_removals == 0 && j->n_decided == 0;
}

int hw__pull_job_run(hw_job *job, void *dbv)
{
  hw_pull_job *j = (hw_pull_job *)job;
  hw_session *ss = j->ss;
  hw_sdb *db = sdb_of(dbv);
  uint8_t head[HW_HASH_BYTES], sum[HW_HASH_BYTES];
  const hw_cursor *c = j->has_cursor ? &j->cursor : ss->has_cursor ? &ss->cursor : NULL;
  hw_id *whole = NULL;
  uint64_t from, last = 0, head_seq;
  int rc = HW_OK;

  if (!ss->authorized) {
    j->refused = true; /* the hello was refused: the session is ending */
    return HW_OK;
  }
  ss->db = db;
  /* A retired device's last session ends at its first pull, every push sent
   * before it committed (jobs run in order): it may hand in what it holds,
   * not read what others wrote since. It is refused from now on. */
  if (ss->retiring) {
    if ((rc = hw_sdb_device_set_status(db, ss->device_key, "retired-done", hw__now_ms())) == 0)
      j->retire_now = true;
    return rc;
  }
  /* A cursor of another epoch (a restored server) starts from the beginning. */
  from = c && c->epoch == j->epoch ? c->seq : 0;
  j->records = hw_calloc(j->max_records, sizeof *j->records);
  j->lens = hw_calloc(j->max_records, sizeof *j->lens);
  j->removals = hw_calloc(HW_REMOVALS_MAX, sizeof *j->removals);
  j->decided = hw_calloc(j->max_records, sizeof *j->decided);
  whole = hw_calloc(HW_REMOVALS_MAX, sizeof *whole);
  if (!j->records || !j->lens || !j->removals || !j->decided || !whole) {
    rc = HW_ENOMEM;
    goto out;
  }
  for (int round = 0;; round++) {
    size_t limit = (size_t)j->max_records * (round ? PULL_SKIP_ROWS : 1);
    if ((rc = pull_scan(j, db, whole, from, limit, &last)) != 0)
      goto out;
    if (!j->more || !hw__pull_batch_empty(j) || last <= from || round + 1 == PULL_EMPTY_ROUNDS)
      break;
    from = last; /* where the device's next pull would start */
  }
  if (!j->more) {
    uint64_t end;
    if ((rc = hw_sdb_seq_current(db, &end)) != 0)
      goto out;
    if (end > last)
      last = end;
  }
  j->next.epoch = j->epoch;
  j->next.seq = last;
  if ((rc = hw_sdb_audit_head(db, &head_seq, head)) != 0)
    goto out;
  memcpy(j->next.audit_head, head, HW_CURSOR_HEAD_BYTES);
  /* The caseload checksum: the visible workers' sums together; with the
   * last batch, the cases among theirs marked LATE-EDIT. */
  memset(j->checksum, 0, sizeof j->checksum);
  for (size_t v = 0; v < ss->n_visible; v++) {
    if ((rc = hw_sdb_wsum_get(db, ss->visible[v], sum)) != 0 ||
        (!j->more && (rc = hw_sdb_flagged_of(db, ss->visible[v], HW_FLAGGED_MAX,
                                             &j->flagged)) != 0))
      goto out;
    hw_checksum_xor(j->checksum, sum);
  }
  j->unmoved = c && c->epoch == j->next.epoch && c->seq == j->next.seq &&
               memcmp(c->audit_head, j->next.audit_head, HW_CURSOR_HEAD_BYTES) == 0;
  /* The session now stands here, for a pull that names no cursor. Set only
   * on the storage thread, in job order. */
  ss->cursor = j->next;
  ss->has_cursor = true;
out:
  hw_free(whole);
  return rc;
}
