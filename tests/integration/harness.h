/* Integration test harness: a real homeward-server process on 127.0.0.1
 * with its own state directory, and devices through the client library. */
#ifndef HW_TEST_HARNESS_H
#define HW_TEST_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "homeward/client.h"
#include "homeward/store.h"

typedef struct hw_test_server {
  const char *binary; /* homeward-server */
  char dir[256];      /* temporary root */
  char state[300];    /* state directory */
  char key_file[300];
  char log[300]; /* the server's stderr */
  char listen[64];
  char config[300]; /* [limits] for tests: short handshake and idle timeouts */
  pid_t pid;
} hw_test_server;

/* init + run; aborts the test on failure. */
void hw_test_server_start(hw_test_server *s, const char *binary);
/* SIGTERM, wait; returns the exit status. */
int hw_test_server_stop(hw_test_server *s);
/* SIGKILL (a crash), wait. */
void hw_test_server_kill(hw_test_server *s);
/* run again on the same state. */
void hw_test_server_restart(hw_test_server *s);
/* Stop, then back up the store (with its key envelope) to dir/backup.db,
 * or put that backup back (no WAL left beside it), then run again. */
void hw_test_server_backup(hw_test_server *s);
void hw_test_server_restore(hw_test_server *s);
/* run on the same state with another server binary (a test build) and
 * `extra` arguments (NULL-terminated; may be NULL) after the usual ones. */
void hw_test_server_run_as(hw_test_server *s, const char *binary, const char *const *extra);
/* The server's exit status once it has exited by itself, else -1 (when
 * `wait` is false and it still runs). Waits when `wait` is true. */
int hw_test_server_exited(hw_test_server *s, bool wait);
/* A fresh invitation for `worker` through the control socket (aborts on failure). */
void hw_test_invite(hw_test_server *s, const char *worker, char *out, size_t cap);
/* The same with a role and the coordinator the invitation names. */
void hw_test_invite_as(hw_test_server *s, const char *worker, const char *role,
                       const char *coordinator, char *out, size_t cap);
/* A TCP port on 127.0.0.1 free a moment ago. */
int hw_test_free_port(void);
/* Run the server binary with arguments; stdout into out[cap]. Returns the exit status. */
int hw_test_server_cmd(hw_test_server *s, char *out, size_t cap, const char *const *args);

/* A device: create a store at dir/name from an invitation. */
hw_client *hw_test_device(hw_test_server *s, const char *name, const char *invitation);
/* Invite `worker` with `role`, coordinator "chipo", and create device `name` from it. */
hw_client *hw_test_enrol(hw_test_server *s, const char *name, const char *worker,
                         const char *role);
/* Open the device store dir/name again (the client was closed). */
hw_client *hw_test_device_reopen(hw_test_server *s, const char *name);
/* Open the closed device's store dir/name directly (the store API). */
hw_store *hw_test_device_store(hw_test_server *s, const char *name);
/* A sync on a thread of its own, for a session held open (a proxy that
 * swallows the server's replies) while the test acts on the server. */
typedef struct hw_test_bg {
  hw_client *c;
  unsigned timeout_ms;
  hw_sync_result r;
  int rc; /* the sync's return, once joined */
  pthread_t thread;
} hw_test_bg;
void hw_test_bg_start(hw_test_bg *b, hw_client *c, unsigned timeout_ms);
int hw_test_bg_join(hw_test_bg *b);

/* Sync and check it succeeded; returns the result. */
hw_sync_result hw_test_sync_ok(hw_client *c);

/* A case note: created (note_date, note, decision) when *rec is zero, else
 * one text or enum field written. */
void hw_test_put_text(hw_client *c, hw_id *rec, hw_id *case_id, const char *field,
                      const char *text);
/* Record a closure of the case (decision close_case). */
void hw_test_close_case(hw_client *c, const hw_id *case_id);
/* The text values of a field (0, 1 or 2 of them). */
size_t hw_test_field_texts(hw_client *c, const hw_id *rec, const char *field, char out[][128],
                           size_t cap);

/* The same invitation pointing at another address (a proxy). */
void hw_test_readdress(const char *invitation, const char *address, char *out, size_t cap);
/* Whether one entry line of the server's `audit` report holds both
 * strings (every page of it read). */
bool hw_test_audit_has(hw_test_server *s, const char *a, const char *b);
/* Records the server holds (its `records` report). */
size_t hw_test_server_records(hw_test_server *s);
/* Records a device holds. */
size_t hw_test_device_records(hw_client *c);
/* Remove the temporary folder. */
void hw_test_server_cleanup(hw_test_server *s);

/* How many times `needle` occurs in the file. */
size_t hw_test_file_count(const char *path, const char *needle);

/* Whether `needle` occurs in the file. */
bool hw_test_file_contains(const char *path, const char *needle);

#endif
