/* What a state pulled from the server does to this device's copy of its
 * record. Pure (no store): sync-pull.c reads the copy and stores the outcome. */
#ifndef HW_CLIENT_PULLED_INT_H
#define HW_CLIENT_PULLED_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/record.h"

typedef enum hw__pulled {
  HW__PULLED_TAKE,       /* store the pulled state, or *merged when there was a copy */
  HW__PULLED_KEEP_HELD,  /* the copy is held for a coordinator: it stays as it is */
  HW__PULLED_KEEP_LIMIT, /* the merge would break a record limit: the copy stays as it is */
  HW__PULLED_DIVERGED,   /* the copy contradicts the server's (a reused dot): hold it */
} hw__pulled;

/* `local`: the copy here (NULL: none), `held`: it is held for a coordinator.
 * On HW__PULLED_TAKE with a copy, *merged (hw_record_free) is the merge and
 * *bytes (hw_free) its encoding, *len bytes; otherwise both stay NULL.
 * Returns 0 with *out set, or HW_ENOMEM. */
int hw__pulled_decide(const hw_record *local, const hw_record *in, bool held, hw_record **merged,
                      uint8_t **bytes, size_t *len, hw__pulled *out);

#endif
