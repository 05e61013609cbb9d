/* Invitations: round trip, and every kind of damage refused. */
#include <string.h>

#include "check.h"
#include "homeward/crypto.h"
#include "homeward/invitation.h"

int main(void)
{
  hw_invitation inv = {.address = "127.0.0.1:7400",
                       .worker = "amina.k",
                       .expires_ms = 1767000000000},
                back;
  char text[HW_INVITE_TEXT_MAX + 1], bad[HW_INVITE_TEXT_MAX + 8];
  size_t len;

  CHECK_OK(hw_crypto_init());
  hw_random_bytes(inv.server_key, 32);
  hw_random_bytes(inv.recovery_key, 32);
  hw_random_bytes(inv.token, 16);
  CHECK_OK(hw_invitation_format(&inv, text, sizeof text));
  CHECK(strncmp(text, HW_INVITE_PREFIX, strlen(HW_INVITE_PREFIX)) == 0);
  len = strlen(text);
  CHECK_OK(hw_invitation_parse(text, len, &back));
  CHECK(memcmp(&inv, &back, sizeof inv) == 0);
  /* surrounding white space (a pasted line) is fine */
  snprintf(bad, sizeof bad, "  %s\n", text);
  CHECK_OK(hw_invitation_parse(bad, strlen(bad), &back));
  /* every single-character change is refused (check bytes, CBOR, base64) */
  for (size_t i = strlen(HW_INVITE_PREFIX); i < len; i++) {
    memcpy(bad, text, len + 1);
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    CHECK_ERR(hw_invitation_parse(bad, len, &back), HW_EPROTO);
    CHECK(back.expires_ms == 0);
  }
  /* truncated at every length */
  for (size_t n = 0; n < len; n++)
    CHECK(hw_invitation_parse(text, n, &back) != HW_OK);
  CHECK_ERR(hw_invitation_parse("homeward-invite", 15, &back), HW_EPROTO);
  memset(bad, 'A', sizeof bad);
  CHECK_ERR(hw_invitation_parse(bad, HW_INVITE_TEXT_MAX + 1, &back), HW_ELIMIT);
  /* refused to format: empty worker, small buffer */
  inv.worker[0] = '\0';
  CHECK_ERR(hw_invitation_format(&inv, text, sizeof text), HW_EINVAL);
  inv.worker[0] = 'a';
  CHECK_ERR(hw_invitation_format(&inv, text, 40), HW_ELIMIT);
  puts("invitation: ok");
  return 0;
}
