/* Where a decoder stopped (style.md §3 rule 7). `what` is a static string,
 * so the error path never allocates. */
#ifndef HOMEWARD_DIAG_H
#define HOMEWARD_DIAG_H

#include <stddef.h>

typedef struct hw_diag {
  int code;         /* the error returned (0 on success) */
  size_t offset;    /* byte offset in the input where decoding stopped */
  const char *what; /* static description, e.g. "writes: not sorted by dot" */
} hw_diag;

#endif
