/* Fuzz target: the invitation text a device is given (homeward/invitation.h).
 * Accepted input must format back to an invitation that parses the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "homeward/crypto.h"
#include "homeward/invitation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  hw_invitation inv, again;
  char text[HW_INVITE_TEXT_MAX + 1];

  if (hw_crypto_init() != 0)
    abort();
  if (hw_invitation_parse((const char *)data, size, &inv) != HW_OK)
    return 0;
  if (hw_invitation_format(&inv, text, sizeof text) != HW_OK ||
      hw_invitation_parse(text, strlen(text), &again) != HW_OK ||
      memcmp(&inv, &again, sizeof inv) != 0)
    abort();
  return 0;
}
