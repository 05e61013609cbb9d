/* Fuzz target: the server's INI configuration parser. Any text must either
 * parse or be refused with a message; never crash, never overrun. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  hw_server_config c;
  char err[256];
  char *text = malloc(size + 1);

  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  hw_server_config_defaults(&c);
  if (hw_server_config_parse(&c, text, err, sizeof err) == HW_OK) {
    hw_server_config_finish(&c);
    /* accepted values stay inside their documented ranges (port 0 is
     * allowed: any free port); an accepted address is a literal of its
     * family */
    unsigned char bin[16];
    char host[sizeof c.listen_host], *zone;
    memcpy(host, c.listen_host, sizeof host);
    if ((zone = strchr(host, '%')) != NULL)
      *zone = '\0'; /* a v6 interface name */
    if (c.max_connections == 0 || c.handshake_timeout_ms < 100 ||
        inet_pton(strchr(host, ':') ? AF_INET6 : AF_INET, host, bin) != 1)
      abort();
  }
  free(text);
  return 0;
}
