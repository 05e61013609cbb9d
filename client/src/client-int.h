/* Private to client/: the client object and the pieces the sync engine shares. */
#ifndef HW_CLIENT_INT_H
#define HW_CLIENT_INT_H

#include "homeward/client.h"
#include "homeward/pfor.h"
#include "homeward/proto/noise.h"
#include "homeward/store.h"

#define HW_CLIENT_ADDRESS_MAX 256
#define HW_CLIENT_PATH_MAX 4096

struct hw_client {
  hw_store *st; /* NULL once wiped */
  char path[HW_CLIENT_PATH_MAX]; /* the store's file, for a wipe */
  hw_noise_key *key;      /* the device's static key (secret in the store) */
  uint8_t server_key[32]; /* the pin */
  uint8_t audit_key[32];  /* verifies the server's signed audit heads */
  char address[HW_CLIENT_ADDRESS_MAX];
  char worker[64];
  bool has_token; /* enrolment not confirmed yet */
  uint8_t token[16];
  bool forked_at_open; /* a restore or copy was detected when opening */
  hw_pfor *helpers;    /* decode and hash a pulled batch on every core (sync-pull.c) */
};

/* Settings (names never hold case data). */
#define SET_ADDRESS "client.address"
#define SET_SERVER_KEY "client.server_key"
#define SET_AUDIT_KEY "client.audit_key"
#define SET_WORKER "client.worker"
#define SET_DEVICE_SK "client.device_sk"
#define SET_TOKEN "client.token"
#define SET_CURSOR "client.cursor"
/* A restored server's (new epoch) cursor, kept aside until the re-push of
 * everything is acknowledged: until then the hello names the old epoch,
 * which has the server take the re-push as a recovery (sync.c, sync-pull.c). */
#define SET_CURSOR_RECOVERING "client.cursor_recovering"
/* Set when the server answered that it does not know this enrolled device
 * (a server restored from a backup made before the enrolment): the store
 * may then take a new invitation for its worker (hw_client_reinvite). */
#define SET_UNKNOWN_AT_SERVER "client.unknown_at_server"
bool hw__client_unknown_at_server(hw_client *c);
/* Set when the store took a new identity at open (restored or copied) and
 * the worker has not yet been told at a sync's end (another command may
 * have opened it first). */
#define SET_FORKED_UNTOLD "client.forked_untold"
#define SET_HEAD "client.head"
#define SET_CHECKSUM "client.checksum"
#define SET_HELD_PREFIX "held."
#define SET_LINEAGE_MARK "client.lineage_mark" /* replica, counter, lineage: sync-hello.c */
#define SET_MARKS "client.marks_version" /* HW__MARKS_VERSION the marks were set by */
#define SET_REMOVED "client.removed" /* case ids taken away, records not yet deleted */
#define SET_LATE_EDITED "client.late_edited" /* cases marked LATE-EDIT at the last done */

/* Store state `r` keeping the acknowledged vv `acked` (may be NULL): with
 * `dot`, a local write just applied under it (the store journals it; the
 * dot must come from hw_store_next_dot in this transaction); without, the
 * state alone (record-ops.c). */
HW_NODISCARD int hw__put_state(hw_client *c, const hw_record *r, const hw_vv *acked,
                               const hw_dot *dot);

/* The store marks the client keeps with each state (hw_store_rec.marks), so
 * that a sync's end lists these records without decoding every one. */
#define HW__MARK_CONFLICT 1u /* a field in conflict, or a disputed void */
#define HW__MARK_CLOSES 2u   /* its own decision closes its case */
/* Raised whenever hw__record_marks would read a stored state differently
 * (a new closing decision, a new kind of conflict): the marks a store holds
 * are worked out again at its next sync's end. */
#define HW__MARKS_VERSION 1u
/* Record HW__MARKS_VERSION as the one the store's marks follow (a new
 * store's first, with its identity; sync-done.c after working them out). */
HW_NODISCARD int hw__marks_version_set(hw_client *c);
uint32_t hw__record_marks(const hw_record *r);

/* The journal changes below where the hello's lineage fold may start:
 * forget the mark it starts from (sync-hello.c). */
HW_NODISCARD int hw__lineage_mark_drop(hw_client *c);

/* "held.<32 hex digits>" for a record. */
void hw__held_name(char out[static 48], const hw_id *id);
bool hw__is_held(hw_client *c, const hw_id *id);

/* Destroy the store: its key envelope first (without it the database is
 * unreadable), then the database and its side files. c->st is NULL after. */
int hw__client_wipe(hw_client *c);

/* Closed cases (closed.c). Sweep: of `cases` (the cases a sync touched: a
 * case becomes closed, or closable, only when one of its records changes
 * or is acknowledged; sorted and deduplicated in place), delete those
 * closed with nothing pending or disputed, keeping tombstones for the
 * checksum; *removed counts the records deleted. Forget: a record of the
 * case (or, with record NULL, the whole case) left the closed set; call
 * inside a transaction. Sum: the XOR of the tombstones' checksum items. */
int hw__client_sweep_closed(hw_client *c, hw_id *cases, size_t n_cases, uint64_t *removed);
int hw__closed_forget(hw_client *c, const hw_id *case_id, const hw_id *record);
int hw__closed_sum(hw_client *c, uint8_t sum[static HW_HASH_BYTES]);
/* A restored server's recovery pull began: every tombstone goes. */
int hw__closed_reset(hw_client *c);

/* The device's wall clock in ms (display and audit only). */
int64_t hw__client_now_ms(void);

/* Read a setting of exactly `len` bytes. HW_ENOENT when unset. */
int hw__setting_exact(hw_client *c, const char *name, void *out, size_t len);

#endif
