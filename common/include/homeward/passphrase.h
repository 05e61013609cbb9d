/* Reading a passphrase for a store (the server's or a device's): from a
 * file descriptor (--passphrase-fd), the environment (HOMEWARD_PASSPHRASE,
 * for scripts: documented as weaker), or the terminal without echo. */
#ifndef HOMEWARD_PASSPHRASE_H
#define HOMEWARD_PASSPHRASE_H

#include <stddef.h>

#include "homeward/err.h"

#define HW_PASSPHRASE_MAX 1024

/* Fill buf (hw_secure_alloc memory, HW_PASSPHRASE_MAX + 1 bytes) with a
 * NUL-terminated passphrase; `confirm` asks twice on a terminal. Returns 0,
 * HW_ENOENT (no source), HW_EINVAL (empty, too long, or the two differ). */
HW_NODISCARD HW_EXPORT int hw_passphrase_read(char *buf, int fd, const char *prompt, int confirm);

/* A passphrase a worker may choose: at least 12 characters, not one
 * character repeated, not a run like "123456789012", not digits alone
 * (under 20), not a common password with digits or symbols around it
 * ("password1234"). Returns NULL when
 * acceptable, else a static reason for the worker. */
HW_EXPORT const char *hw_passphrase_weakness(const char *p);

#endif
