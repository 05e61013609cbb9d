/* WAL frames in the clear for the checkpoint (walcache-int.h). Direct-mapped
 * by frame index. SQLite's own auto-checkpoint runs at 1000 frames, but the
 * server checkpoints after a whole group commit (server.c), by which time
 * its WAL holds 2,000-4,000 frames: the table grows, doubling, up to
 * WC_MAX_SLOTS when a frame index needs it. */
#include <sodium.h>
#include <string.h>

#include "homeward/mem.h"
#include "store-int.h"
#include "walcache-int.h"

#define WC_MIN_SLOTS 1024
#define WC_MAX_SLOTS 4096 /* 16 MiB of pages: most of the server's WAL at a checkpoint */

struct hw__walcache {
  size_t slots;            /* a power of two */
  uint64_t *frame;         /* frame index + 1 held in the slot; 0: empty */
  uint8_t (*page)[HW__PAGE];
};

static void wc_release(hw__walcache *wc)
{
  if (wc->page)
    sodium_memzero(wc->page, wc->slots * HW__PAGE);
  hw_free(wc->page);
  hw_free(wc->frame);
}

/* A table of `slots` holding what *wc held (frame % slots keeps each frame in
 * one slot: the old slot i moves to i or i + old slots). False without
 * memory; *wc is then unchanged. */
static bool wc_resize(hw__walcache *wc, size_t slots)
{
  hw__walcache n = {slots, hw_calloc(slots, sizeof *n.frame), hw_malloc(slots * HW__PAGE)};

  if (!n.frame || !n.page) {
    hw_free(n.frame);
    hw_free(n.page);
    return false;
  }
  for (size_t i = 0; i < wc->slots; i++)
    if (wc->frame[i]) {
      size_t j = (size_t)((wc->frame[i] - 1) % slots);
      n.frame[j] = wc->frame[i];
      memcpy(n.page[j], wc->page[i], HW__PAGE);
    }
  wc_release(wc);
  *wc = n;
  return true;
}

void hw__wc_put(hw__walcache **wc, uint64_t frame, const uint8_t *page)
{
  size_t i;

  if (!*wc) {
    if (!(*wc = hw_calloc(1, sizeof **wc)))
      return; /* an optimisation: go on without it */
    if (!wc_resize(*wc, WC_MIN_SLOTS)) {
      hw_free(*wc);
      *wc = NULL;
      return;
    }
  }
  while (frame >= (*wc)->slots && (*wc)->slots < WC_MAX_SLOTS)
    if (!wc_resize(*wc, (*wc)->slots * 2))
      break; /* without memory, the slots there are */
  i = (size_t)(frame % (*wc)->slots);
  memcpy((*wc)->page[i], page, HW__PAGE);
  (*wc)->frame[i] = frame + 1;
}

bool hw__wc_get(hw__walcache *wc, uint64_t frame, uint8_t *out)
{
  size_t i;

  if (!wc)
    return false;
  i = (size_t)(frame % wc->slots);
  if (wc->frame[i] != frame + 1)
    return false;
  memcpy(out, wc->page[i], HW__PAGE);
  return true;
}

void hw__wc_drop(hw__walcache *wc, uint64_t frame)
{
  size_t i;

  if (!wc)
    return;
  i = (size_t)(frame % wc->slots);
  if (wc->frame[i] == frame + 1) {
    wc->frame[i] = 0;
    sodium_memzero(wc->page[i], HW__PAGE);
  }
}

void hw__wc_clear(hw__walcache *wc)
{
  for (size_t i = 0; wc && i < wc->slots; i++)
    if (wc->frame[i]) {
      wc->frame[i] = 0;
      sodium_memzero(wc->page[i], HW__PAGE);
    }
}

void hw__wc_free(hw__walcache **wc)
{
  if (!*wc)
    return;
  wc_release(*wc);
  hw_free(*wc);
  *wc = NULL;
}
