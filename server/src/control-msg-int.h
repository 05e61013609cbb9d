/* The control socket's messages (control-msg.c), apart from its framing
 * (control.c) so the parsers can be fuzzed alone (tests/fuzz/fuzz-control.c).
 *
 * Request: a CBOR map of distinct keys 1..HW_CONTROL_FIELDS, each to a
 * non-empty text without NUL; key k fills field k - 1 of hw_control_fields
 * (main.c cmd_control sends them in that order). Reply: {1: bool ok,
 * 2: text}. Nothing may follow either map. */
#ifndef HW_SERVER_CONTROL_MSG_INT_H
#define HW_SERVER_CONTROL_MSG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/err.h"

#define HW_CONTROL_FIELDS 9

/* Each field NUL-terminated; "" when the request did not send it. */
typedef struct hw_control_fields {
  char cmd[32], worker[64], role[16], coordinator[64], case_hex[40], device[80], mode[16],
      id[24], from[24];
} hw_control_fields;

/* Parse a request body into *out. Returns 0, or HW_EPROTO with *why set to
 * a message for the caller (static text). */
HW_NODISCARD int hw__control_req_parse(const uint8_t *body, size_t len, hw_control_fields *out,
                                       const char **why);

/* Parse a reply body: *ok and its text (borrowed from `body`, not
 * NUL-terminated). Returns 0 or HW_EPROTO. */
HW_NODISCARD int hw__control_reply_parse(const uint8_t *body, size_t len, bool *ok,
                                         const uint8_t **text, size_t *text_len);

#endif
