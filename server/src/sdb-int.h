/* The server's database (docs/protocol.md §9, "Server bookkeeping"): the
 * tables and queries the storage thread runs. The connection is borrowed
 * (opened through the encrypting VFS by the store); every function runs on
 * the storage thread only.
 *
 * Buffers returned through `uint8_t **` are owned by the caller (hw_free). */
#ifndef HW_SERVER_SDB_INT_H
#define HW_SERVER_SDB_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/audit-head.h"
#include "homeward/crypto.h"
#include "homeward/lineage.h"
#include "homeward/vv.h"
#include "storage-int.h"

typedef struct hw_sdb hw_sdb;

/* Create the schema if needed (idempotent) and prepare statements. `db` is
 * borrowed and must outlive the hw_sdb. Returns 0, HW_ENOMEM, HW_EIO, or
 * HW_EVERSION when the schema is newer than this program. */
HW_NODISCARD int hw_sdb_open(hw_sdb **out, sqlite3 *db);
void hw_sdb_close(hw_sdb *s); /* NULL is fine */

/* The sequence number, checksum and audit head are cached: flush writes
 * them (call before a savepoint is released or the transaction commits);
 * invalidate drops them (after any rollback). The storage operations below
 * do both; a caller with its own transactions must too. */
HW_NODISCARD int hw_sdb_flush(hw_sdb *s);
void hw_sdb_invalidate(hw_sdb *s);

/* The transaction operations of the storage thread. */
extern const hw_storage_ops hw_sdb_storage_ops; /* its `db` argument is an hw_sdb * */

/* Small settings (epoch, server replica id, keys). Get returns HW_ENOENT
 * when unset. */
HW_NODISCARD int hw_sdb_meta_get(hw_sdb *s, const char *key, uint8_t **val, size_t *len);
HW_NODISCARD int hw_sdb_meta_put(hw_sdb *s, const char *key, const void *val, size_t len);

/* The one monotonic sequence: the next number, taken in the current
 * transaction (so it is used only if the transaction commits). */
HW_NODISCARD int hw_sdb_next_seq(hw_sdb *s, uint64_t *out);
/* The last number taken (0: none yet). */
HW_NODISCARD int hw_sdb_seq_current(hw_sdb *s, uint64_t *out);

/* Records: state bytes are the canonical record encoding. */
HW_NODISCARD int hw_sdb_record_get(hw_sdb *s, const hw_id *id, uint8_t **state, size_t *len);
HW_NODISCARD int hw_sdb_record_put(hw_sdb *s, const hw_id *id, const hw_id *case_id,
                                   const uint8_t *kind, size_t kind_len, uint64_t seq,
                                   const uint8_t *state, size_t len);

/* Accepted writes. get: 0 and the record + digest, or HW_ENOENT. put:
 * HW_EEXIST when the dot is already there (with any digest). */
HW_NODISCARD int hw_sdb_dot_get(hw_sdb *s, const hw_dot *d, hw_id *record,
                                uint8_t digest[static HW_HASH_BYTES]);
HW_NODISCARD int hw_sdb_dot_put(hw_sdb *s, const hw_dot *d, const hw_id *record,
                                const uint8_t digest[static HW_HASH_BYTES]);

/* The lineage of the accepted writes of `replica` with counters <= upto;
 * with `from_mark`, folded on from the replica's lineage mark when there is
 * one at or below `upto`. */
HW_NODISCARD int hw_sdb_lineage(hw_sdb *s, const hw_id *replica, uint64_t upto, bool from_mark,
                                hw_lineage *out);
/* Keep `l` (a lineage a hello matched) as the replica's mark. Every dot
 * accepted later at or below its counter drops it (hw_sdb_dot_put); unmark
 * drops it outright. */
HW_NODISCARD int hw_sdb_lineage_mark(hw_sdb *s, const hw_id *replica, const hw_lineage *l);
HW_NODISCARD int hw_sdb_lineage_unmark(hw_sdb *s, const hw_id *replica);

/* Accepted writes of `replica` with counter > after, oldest first, at most
 * `max`: each calls `cb`. *n_out says how many; *more whether others remain. */
typedef void (*hw_sdb_dot_cb)(uint64_t counter, const hw_id *record,
                              const uint8_t digest[static HW_HASH_BYTES], void *ud);
HW_NODISCARD int hw_sdb_dots_after(hw_sdb *s, const hw_id *replica, uint64_t after, size_t max,
                                   hw_sdb_dot_cb cb, void *ud, size_t *n_out, int *more);

/* The erasable value history: what each accepted write set (of it, what is
 * still in the state it came in), as a canonical CBOR map field -> value,
 * referenced from the audit log by keyed hashes. A repeat is ignored. */
HW_NODISCARD int hw_sdb_history_put(hw_sdb *s, const hw_id *record, const hw_dot *d,
                                    const uint8_t *fields, size_t len);

/* Audit: append one entry (its canonical bytes) to the chain; returns its
 * sequence number and the new head hash. */
HW_NODISCARD int hw_sdb_audit_append(hw_sdb *s, const uint8_t *entry, size_t len, uint64_t *seq_out,
                                     uint8_t head[static HW_HASH_BYTES]);
/* Recompute the chain from the first entry and compare every stored hash.
 * Returns 0, or HW_ECORRUPT with *bad_seq set to the first entry that does
 * not match. */
HW_NODISCARD int hw_sdb_audit_verify(hw_sdb *s, uint64_t *n_checked, uint64_t *bad_seq);

/* Entries after `after`, in order, at most `max` (cb's non-zero return
 * stops the walk and is returned). */
typedef int (*hw_sdb_audit_cb)(uint64_t seq, const void *entry, size_t len, void *ud);
HW_NODISCARD int hw_sdb_audit_walk(hw_sdb *s, uint64_t after, size_t max, hw_sdb_audit_cb cb,
                                   void *ud);
/* The current head (seq 0 and a zero hash when the log is empty). */
HW_NODISCARD int hw_sdb_audit_head(hw_sdb *s, uint64_t *seq, uint8_t hash[static HW_HASH_BYTES]);

/* Devices are identified by their Noise static key (X25519 public key). */
#define HW_DEVICE_KEY_BYTES 32

typedef struct hw_sdb_device {
  char worker[64];
  char role[16];
  char status[16]; /* "active", "retired", "lost"; "new" from a first enrolment */
} hw_sdb_device;

HW_NODISCARD int hw_sdb_device_get(hw_sdb *s, const uint8_t key[static HW_DEVICE_KEY_BYTES],
                                   hw_sdb_device *out); /* HW_ENOENT: unknown */
HW_NODISCARD int hw_sdb_device_put(hw_sdb *s, const uint8_t key[static HW_DEVICE_KEY_BYTES],
                                   const char *worker, const char *role, int64_t now_ms);
HW_NODISCARD int hw_sdb_device_set_status(hw_sdb *s, const uint8_t key[static HW_DEVICE_KEY_BYTES],
                                          const char *status, int64_t now_ms);

/* Bind a replica id to a device on first use (0), accept it again for the
 * same device (0), refuse it for another (HW_EPERM). */
HW_NODISCARD int hw_sdb_replica_bind(hw_sdb *s, const hw_id *replica,
                                     const uint8_t key[static HW_DEVICE_KEY_BYTES],
                                     const hw_id *inherits, int64_t now_ms);
/* The replica ids bound to a device, oldest first, in *out (hw_malloc'd,
 * the caller frees; NULL when none or on error). HW_ELIMIT past max. */
HW_NODISCARD int hw_sdb_replicas_of(hw_sdb *s, const uint8_t key[static HW_DEVICE_KEY_BYTES],
                                    hw_id **out, size_t max, size_t *n);

/* Invitations: only the token's hash is stored. use: 0 and the worker and
 * role (status "new" on first use) when the token is valid for this device
 * key; HW_EAUTH for an unknown or expired token, or one used by another key. */
HW_NODISCARD int hw_sdb_invitation_put(hw_sdb *s, const uint8_t token_hash[static HW_HASH_BYTES],
                                       const char *worker, const char *role, int64_t expires_ms);
HW_NODISCARD int hw_sdb_invitation_use(hw_sdb *s, const uint8_t token_hash[static HW_HASH_BYTES],
                                       const uint8_t key[static HW_DEVICE_KEY_BYTES],
                                       int64_t now_ms, hw_sdb_device *out);
/* Void every invitation still unused and unexpired at `now_ms` (a restored
 * store cannot know which were used after its backup), or only `worker`'s
 * (not NULL: a lost invitation): from then on each is refused as expired.
 * *n: how many. */
HW_NODISCARD int hw_sdb_invitations_void(hw_sdb *s, int64_t now_ms, const char *worker,
                                         uint64_t *n);
/* Each invitation still unused and unexpired at `now_ms`, soonest to expire
 * first (no token: only its hash is stored). */
typedef int (*hw_sdb_invitation_cb)(const char *worker, const char *role, int64_t expires_ms,
                                    void *ud);
HW_NODISCARD int hw_sdb_invitations(hw_sdb *s, int64_t now_ms, hw_sdb_invitation_cb cb, void *ud);

/* Records changed after `after`, in sequence order, at most `max`; `cb`
 * gets each (the state is borrowed for the call; a non-zero return stops
 * the walk and is returned). *last_seq is the last sequence number walked;
 * *more whether others remain. */
typedef int (*hw_sdb_record_cb)(uint64_t seq, const hw_id *case_id, const void *state, size_t len,
                                void *ud);
HW_NODISCARD int hw_sdb_records_after(hw_sdb *s, uint64_t after, size_t max, hw_sdb_record_cb cb,
                                      void *ud, uint64_t *last_seq, int *more);

HW_NODISCARD int hw_sdb_records_count(hw_sdb *s, uint64_t *n);


/* ---- caseloads (protocol.md §9) ---- */

#define HW_WORKER_MAX 64

/* The worker a case is assigned to (HW_ENOENT: nobody yet). */
HW_NODISCARD int hw_sdb_assign_get(hw_sdb *s, const hw_id *case_id,
                                   char worker[static HW_WORKER_MAX]);
/* Assign a case to `to` with sequence number `seq` (taken by the caller from
 * the one sequence): the assignment log gets the change (so pulls see it in
 * order), the case's records move to `to`'s checksum, and the worker it
 * leaves is remembered as having held it (hw_sdb_held_before: a worker who
 * held it before; the current holder is srv_assign's, not asked about).
 * HW_EEXIST when it is already `to`'s. */
HW_NODISCARD int hw_sdb_assign_set(hw_sdb *s, const hw_id *case_id, const char *to, uint64_t seq);
HW_NODISCARD int hw_sdb_held_before(hw_sdb *s, const hw_id *case_id, const char *worker,
                                    bool *out);
/* Add `worker` to the coordinator's region; the worker's cases each get an
 * event ("" -> coordinator) taking sequence numbers, so the coordinator's
 * devices receive them whole at their next pull. HW_EEXIST, and nothing
 * changed, when the worker is in the region already. */
HW_NODISCARD int hw_sdb_region_add(hw_sdb *s, const char *coordinator, const char *worker);
/* Take `worker` out of the coordinator's region: each case the worker holds
 * gets an event (coordinator -> "") so her devices remove it at their next
 * pull, and she is remembered as having held every case the worker held
 * (her offline edits of them are late edits, not quarantined). HW_ENOENT,
 * and nothing changed, when the worker is not in the region. */
HW_NODISCARD int hw_sdb_region_remove(hw_sdb *s, const char *coordinator, const char *worker);
/* The roles `name` was invited or enrolled with (any device or invitation,
 * used, expired or revoked): 0 when the server never heard of that name. */
enum { HW_SDB_ROLE_WORKER = 1, HW_SDB_ROLE_COORDINATOR = 2 };
HW_NODISCARD int hw_sdb_person_roles(hw_sdb *s, const char *name, unsigned *roles);
HW_NODISCARD int hw_sdb_region(hw_sdb *s, const char *coordinator,
                               char (*workers)[HW_WORKER_MAX], size_t cap, size_t *n);
/* A worker's caseload checksum (XOR of its records' items), and its update
 * when one record of `case_id` changes: `delta` is the record's old item
 * (none for a new record) XOR its new one (hw_checksum_item). Changes are
 * kept in memory until hw_sdb_flush (each job's savepoint release) and
 * dropped by hw_sdb_invalidate (a rollback). */
HW_NODISCARD int hw_sdb_wsum_get(hw_sdb *s, const char *worker, uint8_t out[static HW_HASH_BYTES]);
HW_NODISCARD int hw_sdb_wsum_update(hw_sdb *s, const hw_id *case_id,
                                    const uint8_t delta[static HW_HASH_BYTES]);
/* Every record of a case; the records of a worker's caseload changed after
 * `after` (sequence order, at most max); the assignment changes after
 * `after` that concern the worker. */
HW_NODISCARD int hw_sdb_case_records(hw_sdb *s, const hw_id *case_id, hw_sdb_record_cb cb,
                                     void *ud);
/* `skip` (may be NULL) names rows `cb` needs no state for: it gets them
 * with case_id and state NULL, and their table rows are not read. */
typedef bool (*hw_sdb_seq_pred)(uint64_t seq, void *ud);
HW_NODISCARD int hw_sdb_load_after(hw_sdb *s, const char *worker, uint64_t after, size_t max,
                                   hw_sdb_seq_pred skip, hw_sdb_record_cb cb, void *ud);
typedef int (*hw_sdb_event_cb)(uint64_t seq, const hw_id *case_id, const char *from,
                               const char *to, void *ud);
HW_NODISCARD int hw_sdb_events_after(hw_sdb *s, const char *worker, uint64_t after, size_t max,
                                     hw_sdb_event_cb cb, void *ud);
/* n_flags: late edits from previous holders, for the holder to review. */
typedef int (*hw_sdb_case_cb)(const hw_id *case_id, uint64_t n_records, uint64_t n_flags,
                              void *ud);
HW_NODISCARD int hw_sdb_caseload(hw_sdb *s, const char *worker, hw_sdb_case_cb cb, void *ud);
/* A late edit flagged to the case's current holder. */
HW_NODISCARD int hw_sdb_flag_put(hw_sdb *s, const hw_id *case_id, const char *worker,
                                 const char *reason, int64_t now_ms);
/* Clear a case's late-edit flags once reviewed: *n tells how many. */
HW_NODISCARD int hw_sdb_flag_clear(hw_sdb *s, const hw_id *case_id, uint64_t *n);
/* Each flagged case, oldest flag first, with its holder now ("" nobody),
 * its number of flags and its oldest flag's time. */
typedef int (*hw_sdb_flag_cb)(const hw_id *case_id, const char *holder, uint64_t n,
                              int64_t first_ms, void *ud);
HW_NODISCARD int hw_sdb_flags(hw_sdb *s, hw_sdb_flag_cb cb, void *ud);
/* Append the flagged cases `worker` holds to `out` while it has fewer than
 * `max` ids (for her devices, at the end of each pull). */
HW_NODISCARD int hw_sdb_flagged_of(hw_sdb *s, const char *worker, size_t max, hw_id_list *out);
typedef int (*hw_sdb_device_cb)(const uint8_t key[HW_DEVICE_KEY_BYTES], const hw_sdb_device *d,
                                void *ud);
HW_NODISCARD int hw_sdb_devices(hw_sdb *s, hw_sdb_device_cb cb, void *ud);
/* The one device whose key starts with these hex digits (at least 8):
 * HW_ENOENT none, HW_EEXIST several. */
HW_NODISCARD int hw_sdb_device_by_prefix(hw_sdb *s, const char *hex_prefix,
                                         uint8_t key[static HW_DEVICE_KEY_BYTES]);

/* How many of an id's last hex digits the devices' lists show (the
 * client's HW_CLI_SHORT_DIGITS). */
#define HW_CASE_SHOWN_DIGITS 12
/* The one case the server knows (it holds records of it, or someone holds
 * it) named by `digits` (6 to 32 hex digits, any case), as the client
 * takes them: the start of its id, the end of it, or the start of the 12
 * digits the devices' lists show. HW_EINVAL not such digits, HW_ENOENT
 * none, HW_EEXIST several (a case that matches in two ways counts once). */
HW_NODISCARD int hw_sdb_case_by_digits(hw_sdb *s, const char *digits, hw_id *out);

/* Quarantine a whole incoming state, with the reason, for coordinators. */
HW_NODISCARD int hw_sdb_quarantine_put(hw_sdb *s, const hw_id *record, const uint8_t *device_key,
                                       size_t key_len, const char *reason, const uint8_t *state,
                                       size_t len, int64_t now_ms, int64_t *id_out);

/* ---- coordinators' decisions on quarantined states (sdb-quarantine.c) ---- */

typedef struct hw_sdb_quarantined {
  int64_t id;
  hw_id record;
  bool has_device;
  uint8_t device_key[HW_DEVICE_KEY_BYTES];
  char reason[256]; /* cut to fit */
  int64_t received_ms;
  char decision[16]; /* "" (waiting), "released" or "rejected" */
  char decided_by[160];
  int64_t decided_ms;
  uint8_t *state; /* hw_sdb_quarantine_get only: owned by the caller (hw_free) */
  size_t len;
} hw_sdb_quarantined;

/* How many states pushed by device_key wait for a decision, counted up to
 * `cap` (*n is at most cap). */
HW_NODISCARD int hw_sdb_quarantine_waiting(hw_sdb *s, const uint8_t *device_key, size_t key_len,
                                           size_t cap, size_t *n);
/* One quarantined state with its bytes: HW_ENOENT when there is no such id. */
HW_NODISCARD int hw_sdb_quarantine_get(hw_sdb *s, int64_t id, hw_sdb_quarantined *out);
/* Quarantined states (without their bytes) numbered above `after`, oldest
 * first, at most `max`; with `waiting_only`, those not decided yet. */
typedef int (*hw_sdb_quarantine_cb)(const hw_sdb_quarantined *q, void *ud);
HW_NODISCARD int hw_sdb_quarantine_list(hw_sdb *s, int64_t after, bool waiting_only, size_t max,
                                        hw_sdb_quarantine_cb cb, void *ud);
/* Record a decision ("released" or "rejected") numbered `seq`: HW_EEXIST
 * when the state was decided already. */
HW_NODISCARD int hw_sdb_quarantine_decide(hw_sdb *s, int64_t id, const char *decision,
                                          const char *actor, int64_t now_ms, uint64_t seq);
/* Decisions after `after` on states this device pushed, in sequence order,
 * at most `max`, each with the decided state's caseload checksum item
 * (homeward/checksum.h), by which the device knows its held copy. */
typedef int (*hw_sdb_decision_cb)(uint64_t seq, const hw_id *record,
                                  const uint8_t state_item[HW_HASH_BYTES], void *ud);
HW_NODISCARD int hw_sdb_decisions_after(hw_sdb *s, const uint8_t key[static HW_DEVICE_KEY_BYTES],
                                        uint64_t after, size_t max, hw_sdb_decision_cb cb,
                                        void *ud);

/* The connection, for the tables kept in other files, and the HW_ code of
 * a SQLite result code. */
sqlite3 *hw__sdb_sqlite(hw_sdb *s);
int hw__sdb_rc(int sqlite_rc);

#endif
