/* A few helper threads that share a loop with the calling thread (pfor.c):
 * the encrypting VFS seals a batch of pages on every core instead of one,
 * and a device decodes and hashes a pulled batch the same way. */
#ifndef HOMEWARD_PFOR_H
#define HOMEWARD_PFOR_H

#include <stddef.h>

#include "homeward/err.h"

typedef struct hw_pfor hw_pfor;

/* Run fn(ctx, i) once for every i < n, on the caller's thread and the
 * helpers, and return when all calls have returned. fn must be safe to run
 * on several threads at once for different i. The helpers start on the
 * first call with n >= `min` (below it, or with one core, without helpers,
 * or in a child of fork: everything runs on the caller's thread). One caller
 * at a time; *p is created on first use (NULL without memory or threads:
 * the loop then simply runs here). */
HW_EXPORT void hw_pfor_run(hw_pfor **p, size_t n, size_t min, void (*fn)(void *ctx, size_t i),
                           void *ctx);
/* Stop and join the helpers; *p becomes NULL. */
HW_EXPORT void hw_pfor_free(hw_pfor **p);

#endif
