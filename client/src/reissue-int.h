/* A forked store re-issuing its contradicted writes (reissue.c). */
#ifndef HW_CLIENT_REISSUE_INT_H
#define HW_CLIENT_REISSUE_INT_H

#include "client-int.h"
#include "homeward/proto/msg.h"

/* Whether the store holds the server's accepted dot `a` of `replica`
 * identically (same record, same write digest): in its journal, or among the
 * entries it took out as replaced before an acknowledgement (*replaced). */
bool hw__journal_matches(hw_client *c, const hw_id *replica, const hw_accepted_dot *a,
                         bool *replaced);

/* Whether `counter` is among the n dots (ascending by counter). */
bool hw__listed_at(const hw_accepted_dot *dots, size_t n, uint64_t counter);

/* After the store took a new replica id in place of `old`: with the dots a
 * lineage refusal listed (the server's accepted dots of `old` above `from`,
 * ascending), rewrite the records this device wrote at or after the first
 * counter where the two sides differ, in one transaction (nothing changes
 * on error). *n_records: records re-issued. Returns 0 or an HW_E* code. */
HW_NODISCARD int hw__reissue_forked(hw_client *c, const hw_id *old, uint64_t from,
                                    const hw_accepted_dot *dots, size_t n_dots,
                                    uint64_t *n_records);

#endif
