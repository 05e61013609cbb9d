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

/* Whether the three bytes at p encode a bidirectional embedding, override
 * or isolate (U+202A-202E, U+2066-2069): characters that reorder the text
 * after them, so a value could show other than it reads. */
HW_EXPORT bool hw_utf8_bidi_control(const uint8_t p[static 3]);

#endif
