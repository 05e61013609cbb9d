/* Blocking TCP with a deadline per wait: the one place client/ touches
 * sockets. */
#ifndef HW_CLIENT_NET_INT_H
#define HW_CLIENT_NET_INT_H

#include <stddef.h>
#include <stdint.h>

#include "homeward/err.h"

/* Connect to "host:port" ("[v6]:port" too). Returns 0 and a socket, or
 * HW_EINVAL (bad address) or HW_EIO (unreachable, refused, timed out). */
HW_NODISCARD int hw__net_connect(const char *address, unsigned timeout_ms, int *fd);
HW_NODISCARD int hw__net_write_all(int fd, const uint8_t *p, size_t n, unsigned timeout_ms);
/* Read what is there (at least one byte): *n = 0 means the peer closed.
 * HW_EIO on a timeout or error. */
HW_NODISCARD int hw__net_read(int fd, uint8_t *buf, size_t cap, unsigned timeout_ms, size_t *n);
void hw__net_close(int fd);

#endif
