/* A modified device for the access tests: a real Noise session with an
 * enrolled device's own key that sends hand-built messages, as a client
 * changed by someone who holds the device could. */
#ifndef HW_IT_RAW_DEVICE_H
#define HW_IT_RAW_DEVICE_H

#include <stddef.h>

#include "homeward/client.h"
#include "homeward/proto/msg.h"

/* Called for each message the server sends; return true to stop. */
typedef bool (*hw_raw_cb)(const hw_msg *m, void *ud);

/* Connect as device `c`, send `msgs` (together, after the handshake), then
 * hand each message received to `cb` until it says stop, the server ends
 * the session or 10 s pass. Returns 0, or -1 when the session could not be
 * set up or a message not sent. */
int hw_raw_session(hw_client *c, const hw_msg *msgs, size_t n, hw_raw_cb cb, void *ud);

#endif
