/* Fuzz target: the body of one sync message type (HW_MSG_ERROR); the input is
 * the body map, the harness adds the envelope. Decoded messages must
 * re-encode canonically (tests/unit/proto/fuzz-proto.h). */
#include "../unit/proto/fuzz-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fz_msg_typed(HW_MSG_ERROR, data, size);
  return 0;
}
