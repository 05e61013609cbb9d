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

/* The control character starting at p (len bytes left), in valid UTF-8:
 * the bytes it takes, with its code point in *cp, or 0 for anything else.
 * Controls are C0 and DEL (1 byte), C1, U+0080-009F (2), and the
 * bidirectional embeddings, overrides and isolates, U+202A-202E and
 * U+2066-2069 (3), which reorder the text after them. Which of them a
 * caller lets through (tab, line feed) is its own rule. */
HW_EXPORT size_t hw_utf8_control(const uint8_t *p, size_t len, uint32_t *cp);

#endif
