/* Homeward logging: one sink that the applications (server, client) install.
 * common/ and proto/ never log; they return codes and diagnostics.
 *
 * Lines are key=value text. Never log payload bytes, names, keys or tokens:
 * lengths, offsets, hashes and error names only. */
#ifndef HOMEWARD_LOG_H
#define HOMEWARD_LOG_H

#include "homeward/err.h"

typedef enum hw_log_level {
  HW_LOG_ERROR = 0,
  HW_LOG_WARN = 1,
  HW_LOG_INFO = 2,
  HW_LOG_DEBUG = 3,
} hw_log_level;

/* `msg` is borrowed for the duration of the call. The sink may be called from
 * any thread; it must be thread-safe. */
typedef void (*hw_log_sink_cb)(hw_log_level level, const char *msg, void *ud);

/* Install the sink (NULL: lines go to stderr) and the highest level passed on. */
HW_EXPORT void hw_log_set_sink(hw_log_sink_cb sink, void *ud);
HW_EXPORT void hw_log_set_level(hw_log_level max);
HW_EXPORT const char *hw_log_level_name(hw_log_level level);

/* Formats into a fixed stack buffer (never allocates; long lines are cut) and
 * returns before formatting when `level` is filtered out. */
HW_EXPORT void hw_log(hw_log_level level, const char *fmt, ...) HW_PRINTF(2, 3);

#endif
