/* The plaintext of the WAL frames this connection wrote in the current WAL
 * generation (walcache.c). A checkpoint reads back every frame it copies
 * into the database, each sealed by this connection moments before; serving
 * those reads from memory saves one of the three cipher passes a page costs
 * in WAL mode (seal into the WAL, open at the checkpoint, seal into the
 * database). Memory only, like SQLite's own page cache; wiped when dropped.
 *
 * Valid only while this connection is the WAL's one writer: the encrypting
 * VFS uses it under the store's exclusive locking and stops for good once
 * shared memory is mapped (another connection could then rewrite the WAL
 * behind this one). One thread at a time, like the connection. */
#ifndef HW_STORE_WALCACHE_INT_H
#define HW_STORE_WALCACHE_INT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct hw__walcache hw__walcache;

/* Remember frame `frame`'s page (HW__PAGE bytes). Allocates on first use;
 * without memory it just remembers nothing. */
void hw__wc_put(hw__walcache **wc, uint64_t frame, const uint8_t *page);
/* The page of frame `frame` into out when remembered. */
bool hw__wc_get(hw__walcache *wc, uint64_t frame, uint8_t *out);
/* Forget one frame (its header is being rewritten) or all of them (a new
 * WAL generation, a truncate, a failed write). */
void hw__wc_drop(hw__walcache *wc, uint64_t frame);
void hw__wc_clear(hw__walcache *wc);
/* Wipe and free; *wc becomes NULL. */
void hw__wc_free(hw__walcache **wc);

#endif
