/* WAL frames in the clear for the checkpoint (walcache-int.h). Direct-mapped
 * by frame index: SQLite checkpoints at 1000 frames by default, so a WAL
 * generation's frames usually all fit. */
#include <sodium.h>
#include <string.h>

#include "homeward/mem.h"
#include "store-int.h"
#include "walcache-int.h"

#define WC_SLOTS 1024

struct hw__walcache {
  uint64_t frame[WC_SLOTS]; /* frame index + 1 held in the slot; 0: empty */
  uint8_t page[WC_SLOTS][HW__PAGE];
};

void hw__wc_put(hw__walcache **wc, uint64_t frame, const uint8_t *page)
{
  size_t i = (size_t)(frame % WC_SLOTS);

  if (!*wc && !(*wc = hw_calloc(1, sizeof **wc)))
    return; /* an optimisation: go on without it */
  memcpy((*wc)->page[i], page, HW__PAGE);
  (*wc)->frame[i] = frame + 1;
}

bool hw__wc_get(hw__walcache *wc, uint64_t frame, uint8_t *out)
{
  size_t i = (size_t)(frame % WC_SLOTS);

  if (!wc || wc->frame[i] != frame + 1)
    return false;
  memcpy(out, wc->page[i], HW__PAGE);
  return true;
}

void hw__wc_drop(hw__walcache *wc, uint64_t frame)
{
  size_t i = (size_t)(frame % WC_SLOTS);

  if (wc && wc->frame[i] == frame + 1) {
    wc->frame[i] = 0;
    sodium_memzero(wc->page[i], HW__PAGE);
  }
}

void hw__wc_clear(hw__walcache *wc)
{
  for (size_t i = 0; wc && i < WC_SLOTS; i++)
    if (wc->frame[i]) {
      wc->frame[i] = 0;
      sodium_memzero(wc->page[i], HW__PAGE);
    }
}

void hw__wc_free(hw__walcache **wc)
{
  if (!*wc)
    return;
  sodium_memzero(*wc, sizeof **wc);
  hw_free(*wc);
  *wc = NULL;
}
