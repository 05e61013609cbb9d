#ifndef HOMEWARD_UTF8_H
#define HOMEWARD_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/err.h"

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
 * U+10FFFF. */
HW_EXPORT bool hw_utf8_valid(const uint8_t *p, size_t len);

/* Cut a NUL-terminated string before a last character left incomplete (by
 * a truncating snprintf): valid UTF-8 stays valid. */
HW_EXPORT void hw_utf8_cut(char *s);

#endif
