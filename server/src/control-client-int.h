/* The administrator's side of the control socket: one request, one reply. */
#ifndef HW_SERVER_CONTROL_CLIENT_INT_H
#define HW_SERVER_CONTROL_CLIENT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "homeward/err.h"

/* Send the request fields (field i is key i+1, a text value; NULL fields
 * are left out), waiting at most timeout_s for each send and read, and read
 * the reply {1: ok, 2: text}. Returns 0 and *ok, with the reply text in
 * out[cap]; HW_ENOENT (no server listening), HW_EPERM (this user may not
 * open the socket or its directory), HW_EREFUSED (the server refused this
 * user), HW_EBUSY (no answer in time: a server stopped with SIGSTOP, or
 * hung), HW_EPROTO, HW_EIO. */
#define HW_CONTROL_TIMEOUT_S 60 /* the administrator's commands */
HW_NODISCARD int hw_control_call(const char *path, const char *const *fields, size_t n_fields,
                                 int *ok, char *out, size_t cap, unsigned timeout_s);

#endif
