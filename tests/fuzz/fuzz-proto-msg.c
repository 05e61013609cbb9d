/* Fuzz target: any sync message, envelope included (hw_msg_decode). Decoded
 * messages must re-encode canonically (tests/unit/proto/fuzz-proto.h). */
#include "../unit/proto/fuzz-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size <= ((size_t)4 << 20))
    fz_msg_check(data, size);
  return 0;
}
