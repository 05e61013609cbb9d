/* Fork detection without a system call per use (forkgen.c). */
#ifndef HOMEWARD_FORKGEN_INT_H
#define HOMEWARD_FORKGEN_INT_H

#include <stdint.h>

/* A value that changes in a child after every fork() and never otherwise:
 * state that must not be shared by parent and child (a pool of nonces,
 * helper threads) remembers it and starts again when it differs. */
uint64_t hw__fork_gen(void);

#endif
