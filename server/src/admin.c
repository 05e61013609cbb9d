/* Caseload and device administration (see admin-int.h). */
#include "admin-int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audit-entry-int.h"
#include "homeward/log.h"
#include "homeward/mem.h"


typedef enum admin_kind {
  ASSIGN,
  REASSIGN,
  REGION,
  UNREGION,
  CASELOAD,
  DEVICES,
  REVOKE,
  FLAGS,
  REVIEW,
  INVITATIONS,
  UNINVITE
} admin_kind;

typedef struct admin_job {
  hw_job job;
  hw_server *srv;
  hw_control_req *req;
  admin_kind kind;
  char worker[HW_WORKER_MAX], coordinator[HW_WORKER_MAX], actor[160], device[80], mode[16];
  char case_hex[HW_ID_HEX_LEN + 1]; /* as given: the id, or digits of its start or end */
  hw_id case_id;                     /* found from it */
  uint8_t key[HW_DEVICE_KEY_BYTES]; /* revoke: the device found */
  bool ok, lost;
  char *text; /* the reply */
  size_t len;
} admin_job;

void hw__reply_line(char *text, size_t *len, const char *line)
{
  size_t n = strlen(line);
  if (*len + n + 2 > HW_ADMIN_REPLY_MAX)
    return;
  memcpy(text + *len, line, n);
  *len += n;
  text[(*len)++] = '\n';
  text[*len] = '\0';
}

static void say(admin_job *j, const char *line)
{
  hw__reply_line(j->text, &j->len, line);
}

int hw__admin_audit(hw_sdb *db, const char *action, const uint8_t *key, const char *actor,
                    const char *details)
{
  hw_bytes k = {key, key ? HW_DEVICE_KEY_BYTES : 0};
  uint8_t head[HW_HASH_BYTES];
  uint64_t seq;
  hw_cbor_wr w;
  int rc;

  hw_cbor_wr_init(&w, 4096);
  hw_audit_admin_encode(&w, action, hw__now_ms(), &k, actor, details);
  rc = hw_cbor_wr_finish(&w);
  if (!rc)
    rc = hw_sdb_audit_append(db, w.buf, w.len, &seq, head);
  hw_cbor_wr_close(&w);
  return rc;
}

void hw__utc_text(int64_t ms, char out[static 32])
{
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf(out, 32, "?");
}

static int flag_line(const hw_id *case_id, const char *holder, uint64_t n, int64_t first_ms,
                     void *ud)
{
  char hex[HW_ID_HEX_LEN + 1], when[32], line[200];
  hw_id_to_hex(case_id, hex);
  hw__utc_text(first_ms, when);
  snprintf(line, sizeof line, "case %s holder=%s late-edits=%llu since=%s", hex,
           holder[0] ? holder : "-", (unsigned long long)n, when);
  say(ud, line);
  return 0;
}

static int invitation_line(const char *worker, const char *role, int64_t expires_ms, void *ud)
{
  char when[32], line[200];
  hw__utc_text(expires_ms, when);
  snprintf(line, sizeof line, "invitation worker=%s role=%s expires=%s", worker, role, when);
  say(ud, line);
  return 0;
}

static int case_line(const hw_id *case_id, uint64_t n, uint64_t flags, void *ud)
{
  char hex[HW_ID_HEX_LEN + 1], line[128];
  hw_id_to_hex(case_id, hex);
  snprintf(line, sizeof line, "case %s records=%llu%s", hex, (unsigned long long)n,
           flags ? " LATE-EDIT: a previous holder edited it after reassignment" : "");
  say(ud, line);
  return 0;
}

/* A device key's first 8 bytes in hex, as `devices` lists it. */
static void key_prefix(const uint8_t key[HW_DEVICE_KEY_BYTES], char hex[17])
{
  for (int i = 0; i < 8; i++)
    snprintf(hex + 2 * i, 3, "%02x", key[i]);
}

static int device_line(const uint8_t key[HW_DEVICE_KEY_BYTES], const hw_sdb_device *d, void *ud)
{
  char line[200], hex[17];
  key_prefix(key, hex);
  snprintf(line, sizeof line, "device %s worker=%s role=%s status=%s", hex, d->worker, d->role,
           d->status);
  say(ud, line);
  return 0;
}

static int admin_run(hw_job *job, void *d)
{
  admin_job *j = (admin_job *)job;
  hw_sdb *db = ((hw_server_db *)d)->sdb;
  char details[320], holder[HW_WORKER_MAX], hex[HW_ID_HEX_LEN + 1];
  uint64_t seq;
  unsigned roles = 0;
  int rc = HW_OK;

  if (!(j->text = hw_malloc(HW_ADMIN_REPLY_MAX)))
    return HW_ENOMEM;
  j->text[0] = '\0';
  if ((j->kind == ASSIGN || j->kind == REASSIGN || j->kind == REVIEW) &&
      (rc = hw_sdb_case_by_digits(db, j->case_hex, &j->case_id)) != 0) {
    if (rc != HW_EINVAL && rc != HW_ENOENT && rc != HW_EEXIST)
      return rc;
    /* Says what was tried: the digits may be from either end of the id. */
    snprintf(details, sizeof details,
             rc == HW_EINVAL ? "--case takes the case id as the lists show it: 6 to 32 hex digits"
             : rc == HW_EEXIST
                 ? "%s matches several cases (at the start of their ids, at the end, or at the "
                   "start of the last 12 digits devices list): give more digits"
                 : "no case on the server matches %s (tried: the start of its id, the end, and "
                   "the start of the last 12 digits devices list; a case made on a device is "
                   "known here once its records have synced)",
             j->case_hex);
    say(j, details);
    return HW_OK;
  }
  hw_id_to_hex(&j->case_id, hex);
  /* Names are checked against the invited and enrolled: a misspelt worker
   * would hold a case no device can see, and a worker named as a region's
   * coordinator would see another worker's cases. Anyone invited may hold
   * cases (a coordinator's own, or cases parked with them). */
  if ((j->kind == ASSIGN || j->kind == REASSIGN || j->kind == REGION || j->kind == UNREGION ||
       j->kind == UNINVITE) &&
      !(rc = hw_sdb_person_roles(db, j->worker, &roles)) && !roles) {
    snprintf(details, sizeof details,
             "no worker named %s (invite them first; names are exact)", j->worker);
    say(j, details);
    return HW_OK;
  }
  if (rc)
    return rc;
  if ((j->kind == REGION || j->kind == UNREGION) &&
      !(rc = hw_sdb_person_roles(db, j->coordinator, &roles)) &&
      !(roles & HW_SDB_ROLE_COORDINATOR)) {
    snprintf(details, sizeof details,
             "%s is not a coordinator (invite them with --role coordinator first)",
             j->coordinator);
    say(j, details);
    return HW_OK;
  }
  if (rc)
    return rc;
  switch (j->kind) {
  case ASSIGN:
  case REASSIGN:
    rc = hw_sdb_assign_get(db, &j->case_id, holder);
    if (rc && rc != HW_ENOENT)
      return rc;
    if (j->kind == ASSIGN && rc == HW_OK && strcmp(holder, j->worker) != 0) {
      snprintf(details, sizeof details, "the case is %s's: use reassign", holder);
      say(j, details);
      return HW_OK;
    }
    if (j->kind == REASSIGN && rc == HW_ENOENT) {
      say(j, "the case is nobody's yet: use assign");
      return HW_OK;
    }
    /* The change takes a number from the one sequence, so pulls see it in
     * order with the records (protocol.md §9). */
    if ((rc = hw_sdb_next_seq(db, &seq)) != 0)
      return rc;
    rc = hw_sdb_assign_set(db, &j->case_id, j->worker, seq);
    if (rc == HW_EEXIST) {
      say(j, "the case is already that worker's");
      j->ok = true;
      return HW_OK;
    }
    snprintf(details, sizeof details, "case=%s to=%s from=%s", hex, j->worker,
             j->kind == REASSIGN ? holder : "-");
    if (rc || (rc = hw__admin_audit(db, j->kind == ASSIGN ? "assign" : "reassign", NULL, j->actor,
                          details)) != 0)
      return rc;
    say(j, details);
    j->ok = true;
    return HW_OK;
  case REGION:
  case UNREGION: {
    bool add = j->kind == REGION;
    rc = add ? hw_sdb_region_add(db, j->coordinator, j->worker)
             : hw_sdb_region_remove(db, j->coordinator, j->worker);
    snprintf(details, sizeof details, "%scoordinator=%s worker=%s",
             rc == HW_EEXIST   ? "already in the region: "
             : rc == HW_ENOENT ? "not in the region: "
                               : "",
             j->coordinator, j->worker);
    /* Said again: nothing changes and nothing is audited, as for revoke. */
    if (rc == HW_EEXIST || rc == HW_ENOENT)
      rc = HW_OK;
    else if (rc || (rc = hw__admin_audit(db, add ? "region" : "unregion", NULL, j->actor,
                                         details)) != 0)
      return rc;
    say(j, details);
    j->ok = true;
    return HW_OK;
  }
  case FLAGS:
    j->ok = true;
    if ((rc = hw_sdb_flags(db, flag_line, j)) == 0 && j->len == 0)
      say(j, "no case is marked LATE-EDIT");
    return rc;
  case REVIEW: {
    uint64_t n = 0;
    if ((rc = hw_sdb_flag_clear(db, &j->case_id, &n)) != 0)
      return rc;
    j->ok = true;
    if (n == 0) {
      /* Said again: nothing changes and nothing is audited. */
      snprintf(details, sizeof details, "case %s has no LATE-EDIT mark", hex);
      say(j, details);
      return HW_OK;
    }
    snprintf(details, sizeof details, "case=%s late-edits=%llu", hex, (unsigned long long)n);
    if ((rc = hw__admin_audit(db, "review", NULL, j->actor, details)) != 0)
      return rc;
    say(j, details);
    return HW_OK;
  }
  case INVITATIONS:
    j->ok = true;
    if ((rc = hw_sdb_invitations(db, hw__now_ms(), invitation_line, j)) == 0 && j->len == 0)
      say(j, "no invitation waits to be used");
    return rc;
  case UNINVITE: {
    /* A lost or mistaken invitation: refused from now on, like an expired
     * one (its row stays: the name was invited, with its role). */
    uint64_t n = 0;
    if ((rc = hw_sdb_invitations_void(db, hw__now_ms(), j->worker, &n)) != 0)
      return rc;
    j->ok = true;
    if (n == 0) {
      snprintf(details, sizeof details, "no invitation of %s waits to be used", j->worker);
      say(j, details);
      return HW_OK;
    }
    snprintf(details, sizeof details, "worker=%s invitations=%llu", j->worker,
             (unsigned long long)n);
    if ((rc = hw__admin_audit(db, "uninvite", NULL, j->actor, details)) != 0)
      return rc;
    say(j, details);
    return HW_OK;
  }
  case CASELOAD:
    /* Listed whoever holds them: cases given to a name before names were
     * checked must still be found to be reassigned. */
    if ((rc = hw_sdb_person_roles(db, j->worker, &roles)) != 0 ||
        (rc = hw_sdb_caseload(db, j->worker, case_line, j)) != 0)
      return rc;
    j->ok = j->len > 0 || roles;
    if (j->len == 0) {
      snprintf(details, sizeof details,
               roles ? "%s holds no cases" : "no worker or coordinator named %s", j->worker);
      say(j, details);
    }
    return HW_OK;
  case DEVICES:
    j->ok = true;
    if ((rc = hw_sdb_devices(db, device_line, j)) == 0 && j->len == 0)
      say(j, "no devices enrolled");
    return rc;
  case REVOKE:
    rc = hw_sdb_device_by_prefix(db, j->device, j->key);
    if (rc == HW_ENOENT || rc == HW_EEXIST || rc == HW_EINVAL) {
      say(j, rc == HW_EEXIST   ? "several devices start with that: give more digits"
             : rc == HW_EINVAL ? "--device takes at least 8 hex digits of the key (see: devices)"
                               : "no device starts with that (see: devices)");
      return HW_OK;
    }
    if (rc)
      return rc;
    j->lost = strcmp(j->mode, "lost") == 0;
    {
      hw_sdb_device dev;
      char key_hex[17];
      key_prefix(j->key, key_hex);
      if ((rc = hw_sdb_device_get(db, j->key, &dev)) != 0)
        return rc;
      /* Said again: nothing changes and nothing is audited twice. A lost
       * device stays lost, and a retired one whose last push is done stays
       * done: either made retired again could push once more. */
      bool retired = strcmp(dev.status, "retired") == 0 ||
                     strcmp(dev.status, "retired-done") == 0;
      if (strcmp(dev.status, "lost") == 0 || (!j->lost && retired)) {
        snprintf(details, sizeof details, "device %s is already revoked (%s)", key_hex,
                 dev.status);
        say(j, details);
        j->ok = j->lost || retired;
        return HW_OK;
      }
      snprintf(details, sizeof details, "device=%s mode=%s", key_hex, j->mode);
    }
    if ((rc = hw_sdb_device_set_status(db, j->key, j->lost ? "lost" : "retired",
                                       hw__now_ms())) != 0)
      return rc;
    if ((rc = hw__admin_audit(db, "revoke", j->key, j->actor, details)) != 0)
      return rc;
    say(j, j->lost ? "revoked (lost): refused from now on, live sessions ended, told to wipe"
                   : "revoked (retired): one last push is accepted, then it is told to wipe");
    j->ok = true;
    return HW_OK;
  }
  return HW_EINVAL;
}

static void admin_done(hw_job *job, int status)
{
  admin_job *j = (admin_job *)job;

  if (status)
    hw__control_reply_text(j->req, false, hw_strerror(status));
  else
    hw__control_reply_text(j->req, j->ok, j->text ? j->text : "");
  /* A lost device's live sessions end now. */
  if (!status && j->ok && j->kind == REVOKE && j->lost)
    hw__session_revoke(j->srv, j->key);
  hw_free(j->text);
  hw_free(j);
}

bool hw__admin_handle(hw_server *s, hw_control_req *req, const hw_admin_req *a)
{
  static const struct {
    const char *name;
    admin_kind kind;
  } cmds[] = {{"assign", ASSIGN},     {"reassign", REASSIGN}, {"region", REGION},
              {"unregion", UNREGION}, {"caseload", CASELOAD}, {"devices", DEVICES},
              {"revoke", REVOKE},     {"flags", FLAGS},       {"review", REVIEW},
              {"invitations", INVITATIONS}, {"uninvite", UNINVITE}};
  admin_job *j;
  int k = -1;

  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    if (strcmp(a->cmd, cmds[i].name) == 0)
      k = (int)i;
  if (k < 0)
    return false;
  if (!(j = hw_calloc(1, sizeof *j))) {
    hw__control_reply_text(req, false, "out of memory");
    return true;
  }
  j->kind = cmds[k].kind;
  if ((j->kind == ASSIGN || j->kind == REASSIGN) &&
      (!a->worker || !a->case_hex || strlen(a->case_hex) > HW_ID_HEX_LEN)) {
    char why[96];
    snprintf(why, sizeof why, "%s needs %s", cmds[k].name,
             !a->case_hex || a->worker ? "--case CASE (the case id, or 6 or more of its digits)"
                                       : "--worker NAME");
    hw_free(j);
    hw__control_reply_text(req, false, why);
    return true;
  }
  if (((j->kind == REGION || j->kind == UNREGION) && (!a->worker || !a->coordinator)) ||
      ((j->kind == CASELOAD || j->kind == UNINVITE) && !a->worker)) {
    char why[96];
    snprintf(why, sizeof why, "%s needs %s", cmds[k].name,
             j->kind == CASELOAD || j->kind == UNINVITE ? "--worker NAME"
                                                        : "--coordinator NAME and --worker NAME");
    hw_free(j);
    hw__control_reply_text(req, false, why);
    return true;
  }
  if (j->kind == REVIEW && (!a->case_hex || strlen(a->case_hex) > HW_ID_HEX_LEN)) {
    hw_free(j);
    hw__control_reply_text(req, false,
                           "review needs --case CASE (the case id, or 6 or more of its digits)");
    return true;
  }
  if (j->kind == REVOKE &&
      (!a->device || !a->mode || (strcmp(a->mode, "lost") && strcmp(a->mode, "retire")))) {
    hw_free(j);
    hw__control_reply_text(req, false, "revoke needs --device PREFIX and --mode retire|lost");
    return true;
  }
  if (j->kind != CASELOAD && j->kind != DEVICES && j->kind != FLAGS && j->kind != INVITATIONS &&
      !a->coordinator) {
    hw_free(j);
    hw__control_reply_text(req, false, "name the coordinator who decides: --coordinator NAME");
    return true;
  }
  j->job.run = admin_run;
  j->job.done = admin_done;
  j->srv = s;
  j->req = req;
  snprintf(j->worker, sizeof j->worker, "%s", a->worker ? a->worker : "");
  snprintf(j->coordinator, sizeof j->coordinator, "%s", a->coordinator ? a->coordinator : "");
  snprintf(j->actor, sizeof j->actor, "%s", a->actor);
  snprintf(j->device, sizeof j->device, "%s", a->device ? a->device : "");
  snprintf(j->mode, sizeof j->mode, "%s", a->mode ? a->mode : "");
  snprintf(j->case_hex, sizeof j->case_hex, "%.32s", a->case_hex ? a->case_hex : "");
  if (hw_storage_submit(s->storage, &j->job) != 0) {
    hw_free(j);
    hw__control_reply_text(req, false, "the server is stopping");
  }
  return true;
}
