/* Administrative commands on caseloads and devices (protocol.md §9;
 * docs/operations.md): assign, reassign, region, unregion, caseload, devices,
 * revoke, flags (cases marked LATE-EDIT) and review (clears a case's mark).
 * Each runs as a storage job and is audited with the OS user and the
 * coordinator. Loop thread. */
#ifndef HW_SERVER_ADMIN_INT_H
#define HW_SERVER_ADMIN_INT_H

#include "control-int.h"
#include "server-int.h"

typedef struct hw_admin_req {
  const char *cmd;
  const char *worker, *coordinator, *case_hex, *device, *mode, *id, *from;
  const char *actor; /* "os-user/coordinator" */
} hw_admin_req;

/* Handle one of the commands above; returns false when `cmd` is not one. */
bool hw__admin_handle(hw_server *s, hw_control_req *req, const hw_admin_req *a);

/* A reply is built in an hw_malloc'd buffer of this many bytes, a line at a
 * time (lines that do not fit are left out). */
#define HW_ADMIN_REPLY_MAX 60000
void hw__reply_line(char *text, size_t *len, const char *line);
/* A time in ms since 1970 as YYYY-MM-DDTHH:MM:SSZ ("?" when it cannot be). */
void hw__utc_text(int64_t ms, char out[static 32]);

/* Append an administrative audit entry naming `actor` ("os-user/coordinator")
 * and, when `key` is given, a device (HW_DEVICE_KEY_BYTES). Storage thread. */
HW_NODISCARD int hw__admin_audit(hw_sdb *db, const char *action, const uint8_t *key,
                                 const char *actor, const char *details);

/* Coordinators' decisions on quarantined states (quarantine.c): quarantine
 * (list), release and reject, with `id`. Returns false when `cmd` is not one. */
bool hw__quarantine_handle(hw_server *s, hw_control_req *req, const hw_admin_req *a);

/* Reply {1: ok, 2: text} on the control socket (server.c). */
void hw__control_reply_text(hw_control_req *req, bool ok, const char *text);

#endif
