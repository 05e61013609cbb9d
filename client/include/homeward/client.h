/* Homeward field client library: the encrypted store on the device, the
 * worker's writes, and the sync engine (architecture §3-§5;
 * docs/protocol.md §9). The `homeward` command is built on it.
 *
 * A hw_client owns its store; one thread at a time. Every function returns
 * 0 or a negative HW_ code and, on failure, leaves its outputs empty and the
 * store unchanged. */
#ifndef HOMEWARD_CLIENT_H
#define HOMEWARD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/forms.h"
#include "homeward/record.h"

typedef struct hw_client hw_client;

typedef struct hw_client_opts {
  const char *path;          /* the device's store (borrowed for the call) */
  const uint8_t *passphrase; /* UTF-8 bytes */
  size_t passphrase_len;
  unsigned test_flags; /* enum hw_store_test_flag: tests only */
  int *why;            /* optional: set to the store's HW_STORE_WHY_* when opening fails */
} hw_client_opts;

/* Create the store, sealed to the invitation's recovery key, pin the
 * server's key, make the device's own static key (kept in the store) and
 * keep the one-time token for the first sync. HW_EEXIST if a store exists. */
HW_NODISCARD HW_EXPORT int hw_client_create(hw_client **out, const hw_client_opts *o,
                                            const char *invitation, size_t len);

/* Open an existing store. A store that finds itself restored or copied takes
 * a new replica id before anything else (architecture §3, defence 1). */
HW_NODISCARD HW_EXPORT int hw_client_open(hw_client **out, const hw_client_opts *o);
/* A store whose enrolment never reached the server (its invitation expired
 * or was used first), or whose server said at a sync that it does not know
 * the device (restored from a backup made before the enrolment), takes a
 * new invitation of the same server and worker; everything it holds is
 * kept. An enrolled device takes only the address from an invitation of its
 * own server and worker (the office moved): HW_CLIENT_READDRESSED. HW_EEXIST
 * when the device is enrolled and the address is the same, HW_EINVAL for
 * another server or worker, HW_EPROTO for text that is no invitation. */
#define HW_CLIENT_READDRESSED 1
HW_NODISCARD HW_EXPORT int hw_client_reinvite(hw_client *c, const char *invitation, size_t len);
/* The server address this device syncs with (borrowed from c). */
HW_EXPORT const char *hw_client_address(const hw_client *c);
HW_EXPORT void hw_client_close(hw_client *c); /* NULL is fine */

/* The worker this device was enrolled for (borrowed from c). */
HW_EXPORT const char *hw_client_worker(const hw_client *c);
HW_EXPORT void hw_client_replica(const hw_client *c, hw_id *out);
/* The device's static public key (32 bytes): the server names the device by
 * it (`homeward-server devices` shows its first 16 hex digits; `revoke
 * --device` takes a prefix). */
HW_EXPORT void hw_client_device_key(const hw_client *c, uint8_t out[static 32]);

/* Record a new record of `kind` in case `case_id` (NULL: a new case, whose id
 * is written to *case_out when given). `fields` are borrowed. The values are
 * validated against the kind's form first: HW_EVALIDATE or HW_ENOENT (unknown
 * kind) with `err` (may be NULL) naming the field and the rule. */
HW_NODISCARD HW_EXPORT int hw_client_create_record(hw_client *c, const hw_id *case_id,
                                                   const char *kind, const hw_field_value *fields,
                                                   size_t n, hw_id *record_out, hw_id *case_out,
                                                   hw_form_error *err);
/* Write fields of an existing record (one new dot), validated the same way.
 * A record held for a coordinator cannot be changed until they decide:
 * HW_EPERM (write and void). */
HW_NODISCARD HW_EXPORT int hw_client_write(hw_client *c, const hw_id *record,
                                           const hw_field_value *fields, size_t n,
                                           hw_form_error *err);
HW_NODISCARD HW_EXPORT int hw_client_void(hw_client *c, const hw_id *record, const char *reason);
/* Take a void back (the record counts again; also how a disputed void is
 * settled in favour of the edit it never saw). */
HW_NODISCARD HW_EXPORT int hw_client_unvoid(hw_client *c, const hw_id *record);
/* The current state (owned by the caller: hw_record_free). HW_ENOENT. */
HW_NODISCARD HW_EXPORT int hw_client_get(hw_client *c, const hw_id *record, hw_record **out);

/* Walk every record held: `r` is borrowed for the call; `pending` says it
 * has writes not yet acknowledged, `held` that the server held it for a
 * coordinator. A non-zero return from `cb` stops the walk and is returned. */
typedef int (*hw_client_record_cb)(void *ud, const hw_record *r, bool pending, bool held);
HW_NODISCARD HW_EXPORT int hw_client_list(hw_client *c, hw_client_record_cb cb, void *ud);

/* Records that will be pushed at the next sync, and records held for a
 * coordinator (quarantined by the server: kept, not re-pushed). */
HW_NODISCARD HW_EXPORT int hw_client_count_pending(hw_client *c, uint64_t *pending, uint64_t *held);

typedef struct hw_sync_progress {
  uint64_t records_up, records_up_total; /* pushed so far / to push */
  uint64_t records_down;                 /* pulled so far */
  uint64_t bytes_up, bytes_down;         /* on the wire */
} hw_sync_progress;
typedef void (*hw_sync_progress_cb)(const hw_sync_progress *p, void *ud);

typedef struct hw_sync_result {
  uint64_t pushed, pulled; /* record states sent / received */
  uint64_t merged;         /* acks that came back with a merged state */
  uint64_t quarantined;    /* pushed states the server held for a coordinator */
  uint64_t conflicts;      /* records holding a conflict after the sync */
  uint64_t removed;        /* records deleted: their cases were taken from this worker */
  uint64_t closed_removed; /* records deleted: their cases are closed and fully synced */
  uint64_t decided;        /* held copies a coordinator released or rejected: replaced by
                              the server's state (or deleted when the case is not this
                              worker's) */
  uint64_t kept;           /* pulled states not merged into the copy here, which stays as it
                              is: held for a coordinator, or its merge would break a record
                              limit (the server holds its writes for a coordinator) */
  bool wiped;              /* access ended (retired or lost): the store is deleted; only
                              hw_client_close may follow */
  uint64_t unsent_destroyed; /* a lost device: records never pushed, deleted with it */
  uint64_t server_code;    /* an error code the server sent (hw_msg_code), 0 if none */
  char message[256];       /* for the worker: what went wrong, in words */
  bool forked;             /* this store was found restored or copied: new replica id */
  uint64_t reissued;       /* records whose writes a copy of this store contradicted,
                              written again under the new id (they merge, as conflicts
                              where both copies wrote a field) */
  bool recovered;            /* the server was restored (a new epoch): everything re-pushed */
  uint64_t lost_by_server; /* own writes a restored server lost that no device can give
                              back: values replaced here since, or of records deleted here
                              since (closed or moved cases); tell the coordinator */
  bool head_verified;      /* the server's signed audit head verified and was kept */
  bool history_rewritten;  /* the server's history went backwards: report it */
  bool checksum_ok;        /* both sides hold the same records */
  uint64_t late_edited;    /* cases of this caseload marked LATE-EDIT: a previous holder's
                              edit was merged after the case moved, until a coordinator
                              reviews it (hw_client_late_edited lists them) */
  int64_t clock_skew_ms;   /* server time minus device time, from the signed head */
  hw_sync_progress totals;
} hw_sync_result;

/* Connect, push what is pending, apply the acknowledgements, pull what
 * changed, keep the signed audit head. Resumable after a cut at any point:
 * nothing is marked sent before its acknowledgement, and pulled batches are
 * stored with their cursor in one transaction (up to four at a time).
 * `cb` (may be NULL) reports progress as batches are applied, some not yet
 * stored: it must not call back into `c`. `timeout_ms` bounds each
 * wait for the network. Returns 0, or an error with res->message saying why
 * (offline: HW_EIO; refused: HW_EREFUSED; revoked: HW_EREVOKED, with
 * res->wiped when the store was deleted; wrong server key: HW_EAUTH).
 * Records of cases taken away from the worker are deleted once their own
 * writes are pushed (res->removed). */
HW_NODISCARD HW_EXPORT int hw_client_sync(hw_client *c, unsigned timeout_ms, hw_sync_progress_cb cb,
                                          void *ud, hw_sync_result *res);

/* ---- for the worker's command (additive) ---- */

/* Small values of the `homeward` command (last sync time, drafts), kept
 * encrypted in the store under "cli.<name>" (name: 1..48 bytes, no case
 * data in it). get: an hw_malloc copy (hw_free) or HW_ENOENT; del of an unset
 * name is 0. */
HW_NODISCARD HW_EXPORT int hw_client_note_set(hw_client *c, const char *name, const void *v,
                                              size_t len);
HW_NODISCARD HW_EXPORT int hw_client_note_get(hw_client *c, const char *name, uint8_t **v,
                                              size_t *len);
HW_NODISCARD HW_EXPORT int hw_client_note_del(hw_client *c, const char *name);

/* Rewrap the store's key under a new passphrase (hw_store_change_passphrase). */
HW_NODISCARD HW_EXPORT int hw_client_change_passphrase(hw_client *c, const uint8_t *pass,
                                                       size_t len);

/* The cases marked LATE-EDIT as of the last finished sync (sorted ids, in
 * out->v: hw_malloc'd, the caller hw_frees it; none: out->n 0). */
HW_NODISCARD HW_EXPORT int hw_client_late_edited(hw_client *c, hw_id_list *out);

/* The wall time of the oldest write not yet acknowledged by the server, or
 * HW_ENOENT when every write is acknowledged. Held records are counted. */
HW_NODISCARD HW_EXPORT int hw_client_oldest_pending(hw_client *c, int64_t *wall_ms);

#endif
