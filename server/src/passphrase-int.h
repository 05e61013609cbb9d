/* Reading a passphrase for the server's store: from the environment
 * (HOMEWARD_PASSPHRASE, for scripts: documented as weaker), a file
 * descriptor (--passphrase-fd), or the terminal without echo. */
#ifndef HW_SERVER_PASSPHRASE_INT_H
#define HW_SERVER_PASSPHRASE_INT_H

#include <stddef.h>

#include "homeward/err.h"

#define HW_PASSPHRASE_MAX 1024

/* Fill buf (hw_secure_alloc memory, HW_PASSPHRASE_MAX + 1 bytes) with a
 * NUL-terminated passphrase; `confirm` asks twice on a terminal. Returns 0,
 * HW_ENOENT (no source), HW_EINVAL (empty, too long, or the two differ). */
HW_NODISCARD int hw_passphrase_read(char *buf, int fd, const char *prompt, int confirm);

#endif
