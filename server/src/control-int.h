/* The local control socket (architecture §6): administrative commands reach
 * a running server over a Unix socket whose peer credentials (SO_PEERCRED)
 * are checked before a byte of the request is read.
 *
 * Wire: each request and reply is one frame, a u32 big-endian length then
 * that many bytes (CBOR, decoded by the command layer), at most
 * HW_CONTROL_FRAME_MAX. One request per connection.
 *
 * Threads: loop thread only. */
#ifndef HW_SERVER_CONTROL_INT_H
#define HW_SERVER_CONTROL_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "homeward/err.h"

#define HW_CONTROL_FRAME_MAX (64 * 1024)
#define HW_CONTROL_UIDS_MAX 16

typedef struct hw_peer_cred {
  pid_t pid;
  uid_t uid;
  gid_t gid;
  char user[64]; /* the OS user name, for the audit log ("?" when unknown) */
} hw_peer_cred;

/* Who may use the socket: the listed uids, and members of `group` (if set).
 * Nobody else, root included unless listed. */
typedef struct hw_control_policy {
  uid_t uids[HW_CONTROL_UIDS_MAX];
  size_t n_uids;
  gid_t group;
  int has_group;
} hw_control_policy;

typedef struct hw_control hw_control;
typedef struct hw_control_req hw_control_req;

/* A request from an authorised peer. `body` is valid until hw_control_reply
 * is called, which must happen exactly once per request (now or later). */
typedef void (*hw_control_cb)(hw_control_req *req, const hw_peer_cred *cred, const uint8_t *body,
                              size_t body_len, void *ud);

/* Listen on `path` (created with mode 0660; an existing socket file is
 * replaced). Returns 0, HW_ENOMEM, HW_EIO, or HW_EINVAL (path too long). */
HW_NODISCARD int hw_control_open(hw_control **out, uv_loop_t *loop, const char *path,
                                 const hw_control_policy *policy, hw_control_cb cb, void *ud);

/* Send the reply (copied) and close the connection. */
void hw_control_reply(hw_control_req *req, const uint8_t *body, size_t len);

/* Stop listening, remove the socket file; connections not yet handed to the
 * callback are closed, the others after their reply. Memory is released once
 * the loop has run the close callbacks. */
void hw_control_close(hw_control *c);

/* Counters for tests and the status command. */
typedef struct hw_control_stats {
  unsigned long accepted, refused, bad_frames;
} hw_control_stats;
hw_control_stats hw_control_get_stats(const hw_control *c);

/* Whether `cred` passes `policy` (exposed for tests). */
int hw_control_allowed(const hw_control_policy *policy, const hw_peer_cred *cred);

#endif
