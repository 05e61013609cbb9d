/* History-driven merge checking (architecture §3, issue: foundation).
 *
 * A history is a script of operations on several replicas (one of them a hub,
 * one writing an older schema): local writes, voids, sends of a record's
 * state into an unreliable network (dropped, duplicated, reordered
 * deliveries), deliveries and crashes. Sent states cross as their canonical
 * encoding (record-codec.h) and must survive it byte for byte. States are only ever produced by
 * running a history, never built as arbitrary structs.
 *
 * Alongside the real states the checker keeps an independent oracle: for
 * every write, the set of writes its writer had seen, carried with every
 * state that is copied (never read from version vectors or dots). After a
 * final full exchange every replica must hold identical states, and each
 * field's pairs must be exactly the writes to it that no other write to it
 * has seen. */
#ifndef HW_TEST_HISTORY_H
#define HW_TEST_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "homeward/record.h"

#define HIST_REPLICAS 6 /* replica 0 is the hub; the last writes schema 1 */
#define HIST_RECORDS 2
#define HIST_FIELDS 6 /* the last field exists only in schema 2 */
#define HIST_WRITES_MAX 256
#define HIST_QUEUE_MAX 64
#define HIST_SNAPSHOTS_MAX 48

typedef struct hist hist;

/* A fresh history (all replicas empty). NULL on out of memory. */
hist *hist_new(void);
void hist_free(hist *h);

/* Run `script` (any bytes; each op takes what it needs, a short script just
 * ends), then the final full exchange, then the checks. Returns NULL when
 * every check holds, or a static description of the first violation. */
const char *hist_run(hist *h, const uint8_t *script, size_t len);

/* After hist_run: number of writes made and merges performed. */
size_t hist_n_writes(const hist *h);
size_t hist_n_merges(const hist *h);

/* Snapshots for the law tests: every state a replica held after an op,
 * collected while the history runs (states are owned by h). */
typedef struct hist_snap {
  const hw_record *state;
  int replica;
  int record;
  size_t step; /* op number after which it was taken */
} hist_snap;

size_t hist_n_snapshots(const hist *h);
const hist_snap *hist_snapshot(const hist *h, size_t i);

#endif
