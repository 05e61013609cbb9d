/* homeward-server-powercut: the real server over the power-cut test VFS
 * (store-testvfs.h), for the integration test it-powercut. Tests only: this
 * file and powercut.c are compiled into that binary alone, which is never
 * installed; homeward-server has no way to turn any of it on
 * (docs/operations.md, "Power-cut testing").
 *
 * The VFS's model of what a disk keeps lives in this process's memory, so
 * the process itself must apply the cut: once the power fails, every store
 * operation fails, the server stops without acknowledging anything more
 * (server.c, power_lost), and after the loop has ended and every file is
 * closed, hw__powercut_finish rewrites the files as the cut left them. */
#ifndef HW_SERVER_POWERCUT_INT_H
#define HW_SERVER_POWERCUT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "server-int.h"

/* The exit status of a server whose power failed and whose files now hold
 * what the cut left (anything else: the cut did not happen or failed). */
#define HW_POWERCUT_EXIT 86

typedef struct hw_powercut {
  bool set;
  long ops;      /* mutating operations after the start before the power fails */
  uint64_t seed; /* picks the torn prefix of each file's last write */
  bool sync_normal; /* a planted flaw the test must catch: synchronous=NORMAL */
} hw_powercut;

/* Parse "OPS:SEED" or "OPS:SEED:sync-normal". Returns 0 or HW_EINVAL. */
HW_NODISCARD int hw__powercut_parse(const char *spec, hw_powercut *pc);

/* Before the start: the store goes through the test VFS (its key envelope
 * and no-backup record too), and the server watches for the power failure. */
void hw__powercut_prepare(const hw_powercut *pc, hw_unlock *u);

/* After a successful start (the storage thread waits for its first job):
 * the power fails after pc->ops more mutating operations. */
void hw__powercut_arm(const hw_powercut *pc);

/* After the loop has ended: apply the cut to the files (also when the server
 * was stopped before the power failed: the plug is pulled after the stop).
 * Returns HW_POWERCUT_EXIT if the power had failed, else `rc`; 3 if the cut
 * could not be applied. */
int hw__powercut_finish(const hw_powercut *pc, int rc);

#endif
