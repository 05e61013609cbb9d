/* Homeward store: the power-cut test VFS (tests only; architecture §5).
 *
 * A SQLite VFS over the default one, placed under the encrypting VFS by
 * opening a store with `hw_store_opts.base_vfs = HW_TESTVFS_NAME`; the store's
 * key envelope and no-backup record then go through the same model. It
 * remembers, for each file it sees, what a power cut would leave: the bytes as
 * of that file's last fsync, and which directory entries were made durable
 * (a directory fsync, SQLite's own directory sync of a new journal or WAL, or
 * a delete with sync). At a simulated cut, every write not followed by an
 * fsync of its file is discarded, the last written page of each file is torn
 * (a random prefix of that write survives), and entries not durable vanish or
 * come back. It can also fail one operation with EIO or ENOSPC.
 *
 * Global state, single-threaded: for tests only. */
#ifndef HOMEWARD_STORE_TESTVFS_H
#define HOMEWARD_STORE_TESTVFS_H

#include <stdbool.h>
#include <stdint.h>

#include "homeward/err.h"

#define HW_TESTVFS_NAME "hw-powercut"

/* Register the VFS (idempotent). Returns 0 or HW_ENOMEM. */
HW_NODISCARD HW_EXPORT int hw_testvfs_register(void);

/* Mutating operations (write, truncate, sync, create, delete, rename,
 * directory sync) seen since the last cut or forget. */
HW_EXPORT long hw_testvfs_ops(void);

/* After `n` more mutating operations the power fails: that operation and
 * every later one fail without touching the disk, until hw_testvfs_powercut.
 * n < 0: never. */
HW_EXPORT void hw_testvfs_die_after(long n);
HW_EXPORT bool hw_testvfs_dead(void);

/* The mutating operation after `n` more fails once with `err` (HW_EIO,
 * HW_ENOSPC, or HW_EROFS as a read-only file system would) and changes
 * nothing. n < 0: never. */
HW_EXPORT void hw_testvfs_fail_after(long n, int err);

/* Apply the power cut to the files on disk (see above), then forget every
 * file and power up again. All files must be closed. `seed` picks the tear.
 * Returns 0, HW_EBUSY (a file is still open) or HW_EIO. */
HW_NODISCARD HW_EXPORT int hw_testvfs_powercut(uint64_t seed);

/* Forget every file: what is on disk now counts as durable. */
HW_NODISCARD HW_EXPORT int hw_testvfs_forget(void);

#endif
