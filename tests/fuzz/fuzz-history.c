/* Fuzz target: bytes read as a history script (writes on replicas, sends,
 * deliveries, drops, duplicates, crashes, voids) driving the merge; the
 * independent oracle checks every run (tests/unit/common/history.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "history.h"
#include "homeward/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  hist *h;
  const char *err;

  if (hw_crypto_init() != 0)
    abort();
  if (size > 4096)
    return 0; /* longer scripts only repeat what shorter ones reach */
  h = hist_new();
  if (!h)
    abort();
  err = hist_run(h, data, size);
  if (err) {
    fprintf(stderr, "history violation: %s\n", err);
    abort();
  }
  hist_free(h);
  return 0;
}
