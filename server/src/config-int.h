/* homeward-server configuration: an INI file (parsed with libinih) plus
 * command-line flags that override it. docs/operations.md lists every key. */
#ifndef HW_SERVER_CONFIG_INT_H
#define HW_SERVER_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "homeward/err.h"
#include "homeward/log.h"

#define HW_PATH_MAX 4096

typedef struct hw_server_config {
  char state_dir[HW_PATH_MAX]; /* [server] state_dir: database, keys' envelope */
  char listen_host[256];       /* [server] listen = host:port */
  uint16_t listen_port;
  char public_address[256];      /* [server] public_address: what invitations name */
  char control_socket[108];      /* [server] control_socket (default state_dir/control.sock) */
  char key_file[HW_PATH_MAX];    /* [server] key_file: store key instead of a passphrase */
  char admin_group[64];          /* [server] admin_group: may use the control socket */
  hw_log_level log_level;        /* [server] log_level = error|warn|info|debug */
  uint32_t handshake_timeout_ms; /* [limits] handshake_timeout_ms */
  uint32_t idle_timeout_ms;      /* [limits] idle_timeout_ms */
  uint32_t max_connections;      /* [limits] max_connections */
  uint32_t push_queue_kb;        /* [limits] push_queue_kb: pushed bytes waiting for storage */
  uint32_t head_sign_interval_s; /* [audit] head_sign_interval_s */
  uint32_t invite_ttl_s;         /* [enrolment] invite_ttl_s */
} hw_server_config;

/* Defaults (documented in docs/operations.md). */
void hw_server_config_defaults(hw_server_config *c);

/* Parse INI text (borrowed, NUL-terminated) on top of *c. Returns 0, or
 * HW_EINVAL with `err` (may be NULL) naming the line and the problem:
 * unknown sections and keys are errors (a typo must not pass silently). */
HW_NODISCARD int hw_server_config_parse(hw_server_config *c, const char *text, char *err,
                                        size_t err_len);

/* Read and parse a file. HW_ENOENT when it does not exist. */
HW_NODISCARD int hw_server_config_load(hw_server_config *c, const char *path, char *err,
                                       size_t err_len);

/* Set one key ("section.key" or a flag name like "listen") from a string:
 * the same checks as the file. */
HW_NODISCARD int hw_server_config_set(hw_server_config *c, const char *section, const char *key,
                                      const char *value, char *err, size_t err_len);

/* Fill derived defaults (control socket under the state dir). */
void hw_server_config_finish(hw_server_config *c);

#endif
