/* Coordinators' decisions on quarantined states (admin-int.h;
 * docs/operations.md "Quarantine"; architecture §3, defence 3).
 *
 * A quarantined state waits, whole, until a coordinator decides:
 * - release: the values it holds that the server's record does not are
 *   re-issued as one new write by the server's own replica, concurrent with
 *   everything the server holds (a state of that write alone), merged and
 *   audited like any push: a value beside another of the same field is a
 *   conflict the worker resolves, as if the two edits had met in a sync.
 *   The held state's own dots are never merged (they may contradict
 *   accepted ones);
 * - reject: nothing is merged; the state stays in the table for the record.
 * Either way the decision takes a number in the record sequence, and the
 * device that holds the copy learns it at its next pull (protocol.md §9):
 * it drops its held copy and takes the server's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accept-int.h"
#include "admin-int.h"
#include "audit-entry-int.h"
#include "homeward/log.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"

typedef enum q_kind { Q_LIST, Q_RELEASE, Q_REJECT } q_kind;

#define LIST_MAX 300   /* entries a reply lists at most */
#define LINE_MAX_Q 700 /* bytes of one list line, at most */

typedef struct q_job {
  hw_job job;
  hw_server *srv;
  hw_control_req *req;
  q_kind kind;
  int64_t id;    /* release, reject: the state; list: list those above it */
  bool all;      /* list: decided ones too */
  size_t listed; /* list: so far */
  int64_t last;  /* list: the last one listed */
  char actor[160], coordinator[HW_WORKER_MAX];
  bool ok;
  char *text; /* the reply */
  size_t len;
} q_job;

static void say(q_job *j, const char *line)
{
  hw__reply_line(j->text, &j->len, line);
}

static int list_line(const hw_sdb_quarantined *q, void *ud)
{
  q_job *j = ud;
  char line[LINE_MAX_Q], rec[HW_ID_HEX_LEN + 1], dev[17] = "-", when[32], state[200],
      reason[256];
  hw_id_to_hex(&q->record, rec);
  snprintf(reason, sizeof reason, "%s", q->reason);
  hw__text_printable(reason); /* it may quote a device's field names */
  if (q->has_device)
    for (int i = 0; i < 8; i++)
      snprintf(dev + 2 * i, 3, "%02x", q->device_key[i]);
  hw__utc_text(q->received_ms, when);
  if (q->decision[0])
    snprintf(state, sizeof state, "%s by %s", q->decision, q->decided_by);
  else
    snprintf(state, sizeof state, "waiting");
  snprintf(line, sizeof line,
           "quarantine %" PRId64 " record=%s device=%s received=%s %s reason=\"%s\"", q->id, rec,
           dev, when, state, reason);
  /* A page ends at LIST_MAX entries, or before this line and the "more"
   * line could overflow the reply (lines past it would be dropped unsaid). */
  if (j->listed == LIST_MAX || j->len + 2 * LINE_MAX_Q + 2 > HW_ADMIN_REPLY_MAX) {
    snprintf(line, sizeof line, "... more after %" PRId64 ": run again with --from %" PRId64,
             j->last, j->last + 1);
    say(j, line);
    return HW_ELIMIT; /* the page is full: stop */
  }
  say(j, line);
  j->listed++;
  j->last = q->id;
  return 0;
}

static bool holds_value(const hw_field *f, const hw_bytes *v)
{
  for (uint32_t i = 0; f && i < f->n_pairs; i++)
    if (f->pairs[i].value.len == v->len && memcmp(f->pairs[i].value.p, v->p, v->len) == 0)
      return true;
  return false;
}

/* The values of `held` the server's record `stored` (NULL: none) does not
 * hold anywhere, as one write's fields (borrowed from `held`): each field's
 * shown value. One write sets one value a field, so the other values of a
 * field in conflict in the held state are counted in *n_other instead (they
 * stay in the quarantine table; the reply says so). The void field is not
 * re-issued: a void's meaning is tied to what it had seen. */
static size_t missing_values(const hw_record *held, const hw_record *stored, hw_field_value *out,
                             size_t *n_other)
{
  size_t n = 0;

  *n_other = 0;
  for (size_t f = 0; f < held->n_fields; f++) {
    const hw_field *hf = &held->fields[f];
    const hw_pair *shown = hw_field_display(held, hf);
    const hw_field *sf;
    if (hf->name.len == strlen(HW_FIELD_VOIDED) &&
        memcmp(hf->name.p, HW_FIELD_VOIDED, hf->name.len) == 0)
      continue;
    sf = stored ? hw_record_field(stored, (const char *)hf->name.p, hf->name.len) : NULL;
    for (uint32_t i = 0; i < hf->n_pairs; i++)
      if (&hf->pairs[i] != shown && !holds_value(sf, &hf->pairs[i].value))
        ++*n_other;
    if (!holds_value(sf, &shown->value))
      out[n++] = (hw_field_value){hf->name, shown->value};
  }
  return n;
}

/* A case nobody holds yet (its first state was held, e.g. of a kind the
 * server did not know) becomes the pushing device's worker's, as a case
 * created on a device does at its first push. */
static int give_case(hw_sdb *db, const hw_sdb_quarantined *q, const hw_id *case_id)
{
  char holder[HW_WORKER_MAX];
  hw_sdb_device dev;
  uint64_t seq;
  int rc = hw_sdb_assign_get(db, case_id, holder);

  if (rc != HW_ENOENT)
    return rc;
  if (!q->has_device || (rc = hw_sdb_device_get(db, q->device_key, &dev)) == HW_ENOENT)
    return HW_OK; /* no device to name a worker: the case waits for an assign */
  if (rc || (rc = hw_sdb_next_seq(db, &seq)) != 0)
    return rc;
  return hw_sdb_assign_set(db, case_id, dev.worker, seq);
}

/* Re-issue what the held state has that the server's record lacks. Sets
 * *n_out to the values re-issued; a refusal is said and returns HW_EINVAL
 * (the job's savepoint then rolls back). */
static int reissue(q_job *j, hw_sdb *db, const hw_sdb_quarantined *q, size_t *n_out,
                   size_t *n_other, bool *void_left)
{
  hw_record *held = NULL, *stored = NULL, *base = NULL, *next = NULL;
  uint8_t *stored_bytes = NULL, *bytes = NULL;
  size_t stored_len = 0, len = 0, n;
  hw_field_value *vals = NULL;
  hw_accept_result res;
  char line[400];
  hw_id release_replica;
  int rc;

  *n_out = 0;
  if (hw_record_decode(q->state, q->len, &held, NULL) != 0) {
    say(j, "the held state cannot be read: reject it");
    return HW_EINVAL;
  }
  rc = hw_sdb_record_get(db, &held->id, &stored_bytes, &stored_len);
  if (rc == HW_OK && (rc = hw_record_decode(stored_bytes, stored_len, &stored, NULL)) != 0)
    rc = rc == HW_ENOMEM ? rc : HW_ECORRUPT;
  if (rc && rc != HW_ENOENT)
    goto out;
  rc = HW_OK;
  if (stored && (hw_id_cmp(&stored->case_id, &held->case_id) != 0 ||
                 stored->kind.len != held->kind.len ||
                 memcmp(stored->kind.p, held->kind.p, held->kind.len) != 0)) {
    say(j, "the held state names another case or kind than the server's record: reject it, "
           "and enter its values again on a device if they are needed");
    rc = HW_EINVAL;
    goto out;
  }
  {
    hw_void_status hv = {0}, sv = {0};
    if (hw_record_void_status(held, &hv) == HW_OK && hv.voided &&
        !(stored && hw_record_void_status(stored, &sv) == HW_OK && sv.voided))
      *void_left = true; /* said in the reply */
  }
  if (!(vals = hw_calloc(held->n_fields ? held->n_fields : 1, sizeof *vals))) {
    rc = HW_ENOMEM;
    goto out;
  }
  if ((n = missing_values(held, stored, vals, n_other)) == 0)
    goto out; /* the server holds every value already */
  /* The write alone, on an empty state: it has seen nothing the server
   * holds, so the merge keeps both values where they differ. */
  if ((rc = hw_record_new(&base, &held->id, &held->case_id, (const char *)held->kind.p,
                          held->kind.len, held->schema_version)) != 0)
    goto out;
  if ((rc = give_case(db, q, &held->case_id)) != 0)
    goto out;
  /* A replica of its own, used once: the release is concurrent with every
   * write, earlier releases included. Under the server's one replica id a
   * second release's dot claimed to have seen the first's: a value the
   * first released in the same field was dropped without a conflict, one
   * in another field made the merge refuse (found by a design review). */
  hw_id_random(&release_replica);
  {
    hw_write w = {.dot = {release_replica, 1},
                  .wall_ms = hw__now_ms(),
                  .author = {(const uint8_t *)j->coordinator, strlen(j->coordinator)},
                  .schema_version = held->schema_version,
                  .n_fields = n,
                  .fields = vals};
    if ((rc = hw_record_write(&next, base, &w)) != 0 ||
        (rc = hw_record_encode(next, &bytes, &len)) != 0)
      goto out;
  }
  {
    hw_accept_policy policy = {.kind_known = hw__form_kind_known, .validate = hw__form_validate};
    hw_accept_ctx cx = {.db = db,
                        .policy = &policy,
                        .own = &release_replica,
                        .n_own = 1,
                        .actor = {(const uint8_t *)j->actor, strlen(j->actor)},
                        .now_ms = hw__now_ms(),
                        .value_key = j->srv->secrets->value_key};
    if ((rc = hw_accept_record(&cx, bytes, len, &res)) != 0)
      goto out;
    if (res.decision == HW_DEC_QUARANTINED || res.decision == HW_DEC_REFUSED) {
      snprintf(line, sizeof line,
               "the held values cannot be released now: %s; settle the record's conflicts "
               "first (a worker's homeward resolve, synced) and release again, or reject it",
               hw_accept_reason(&res));
      say(j, line);
      rc = HW_EINVAL;
    }
    hw_accept_result_clear(&res);
  }
  *n_out = n;
out:
  hw_record_free(held);
  hw_record_free(stored);
  hw_record_free(base);
  hw_record_free(next);
  hw_free(stored_bytes);
  hw_free(bytes);
  hw_free(vals);
  return rc;
}

static int decide(q_job *j, hw_sdb *db)
{
  hw_sdb_quarantined q;
  char details[256], rec[HW_ID_HEX_LEN + 1];
  const char *decision = j->kind == Q_RELEASE ? "released" : "rejected";
  uint64_t seq;
  size_t n = 0, n_other = 0;
  bool void_left = false;
  int rc = hw_sdb_quarantine_get(db, j->id, &q);

  if (rc == HW_ENOENT) {
    say(j, "no quarantined state has that number (see: homeward-server quarantine)");
    return HW_OK;
  }
  if (rc)
    return rc;
  if (q.decision[0]) {
    snprintf(details, sizeof details, "already %s by %s", q.decision, q.decided_by);
    say(j, details);
    hw_free(q.state);
    return HW_OK;
  }
  if (j->kind == Q_RELEASE && (rc = reissue(j, db, &q, &n, &n_other, &void_left)) != 0) {
    hw_free(q.state);
    return rc;
  }
  hw_id_to_hex(&q.record, rec);
  hw_free(q.state);
  snprintf(details, sizeof details, "quarantine=%" PRId64 " record=%s reissued=%zu", j->id, rec, n);
  if ((rc = hw_sdb_next_seq(db, &seq)) != 0 ||
      (rc = hw_sdb_quarantine_decide(db, j->id, decision, j->actor, hw__now_ms(), seq)) != 0 ||
      (rc = hw__admin_audit(db, j->kind == Q_RELEASE ? "quarantine-release" : "quarantine-reject",
                            q.has_device ? q.device_key : NULL, j->actor, details)) != 0)
    return rc;
  if (j->kind == Q_REJECT)
    snprintf(details, sizeof details, "rejected: kept here for the record, nothing merged into %s",
             rec);
  else if (n)
    snprintf(details, sizeof details,
             "released: %zu value(s) re-issued beside the server's record %s (a field that holds "
             "another value is now a conflict for the worker to resolve)",
             n, rec);
  else
    snprintf(details, sizeof details, "released: the server's record %s holds every value already",
             rec);
  say(j, details);
  if (void_left) {
    snprintf(details, sizeof details,
             "the held state voids the record and a void is not re-issued: void it again on a "
             "device if it is wanted (quarantine %" PRId64 " keeps it)",
             j->id);
    say(j, details);
  }
  if (n_other) {
    snprintf(details, sizeof details,
             "%zu other value(s) of fields in conflict in the held state were not re-issued (one "
             "write sets one value a field); they stay in quarantine %" PRId64 " for the record",
             n_other, j->id);
    say(j, details);
  }
  j->ok = true;
  return HW_OK;
}

static int q_run(hw_job *job, void *d)
{
  q_job *j = (q_job *)job;
  hw_sdb *db = ((hw_server_db *)d)->sdb;

  if (!(j->text = hw_malloc(HW_ADMIN_REPLY_MAX)))
    return HW_ENOMEM;
  j->text[0] = '\0';
  if (j->kind == Q_LIST) {
    int rc = hw_sdb_quarantine_list(db, j->id, !j->all, LIST_MAX + 1, list_line, j);
    if (rc == HW_ELIMIT)
      rc = HW_OK; /* stopped at the page's end */
    if (rc == HW_OK && j->listed == 0)
      say(j, j->all ? "no quarantined states" : "no quarantined state waits for a decision");
    j->ok = rc == HW_OK;
    return rc;
  }
  return decide(j, db);
}

static void q_done(hw_job *job, int status)
{
  q_job *j = (q_job *)job;

  /* A refused release rolled back its savepoint: the reply says why. */
  if (status == HW_EINVAL && j->text && j->text[0])
    hw__control_reply_text(j->req, false, j->text);
  else if (status)
    hw__control_reply_text(j->req, false, hw_strerror(status));
  else
    hw__control_reply_text(j->req, j->ok, j->text ? j->text : "");
  hw_free(j->text);
  hw_free(j);
}

bool hw__quarantine_handle(hw_server *s, hw_control_req *req, const hw_admin_req *a)
{
  q_kind kind;
  q_job *j;
  char *end = NULL;
  long long id = 0;

  if (strcmp(a->cmd, "quarantine") == 0)
    kind = Q_LIST;
  else if (strcmp(a->cmd, "release") == 0)
    kind = Q_RELEASE;
  else if (strcmp(a->cmd, "reject") == 0)
    kind = Q_REJECT;
  else
    return false;
  if (kind == Q_LIST) {
    /* Waiting ones by default; --mode all adds the decided; --from N pages. */
    if ((a->mode && strcmp(a->mode, "all") != 0) ||
        (a->from && ((id = strtoll(a->from, &end, 10)) <= 0 || !end || *end))) {
      hw__control_reply_text(req, false, "quarantine takes [--mode all] [--from N]");
      return true;
    }
    id = id > 0 ? id - 1 : 0;
  } else {
    if (a->id)
      id = strtoll(a->id, &end, 10);
    if (!a->id || !end || *end || id <= 0) {
      hw__control_reply_text(req, false, "release and reject need --id N (see: homeward-server "
                                         "quarantine) and --coordinator NAME");
      return true;
    }
    if (!a->coordinator) {
      hw__control_reply_text(req, false, "name the coordinator who decides: --coordinator NAME");
      return true;
    }
  }
  if (!(j = hw_calloc(1, sizeof *j))) {
    hw__control_reply_text(req, false, "out of memory");
    return true;
  }
  j->job.run = q_run;
  j->job.done = q_done;
  j->srv = s;
  j->req = req;
  j->kind = kind;
  j->id = (int64_t)id;
  j->all = kind == Q_LIST && a->mode != NULL;
  snprintf(j->actor, sizeof j->actor, "%s", a->actor);
  snprintf(j->coordinator, sizeof j->coordinator, "%s", a->coordinator ? a->coordinator : "");
  if (hw_storage_submit(s->storage, &j->job) != 0) {
    hw_free(j);
    hw__control_reply_text(req, false, "the server is stopping");
  }
  return true;
}
