#ifndef HOMEWARD_BYTES_H
#define HOMEWARD_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* A byte span. Who owns `p` is said where the span is handed out. */
typedef struct hw_bytes {
  const uint8_t *p;
  size_t len;
} hw_bytes;

#endif
