#include "homeward/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#define LOG_LINE_MAX 1024

static hw_log_sink_cb sink;
static void *sink_ud;
static atomic_int max_level = HW_LOG_INFO;

void hw_log_set_sink(hw_log_sink_cb cb, void *ud)
{
  sink = cb;
  sink_ud = ud;
}

void hw_log_set_level(hw_log_level max)
{
  atomic_store(&max_level, (int)max);
}

const char *hw_log_level_name(hw_log_level level)
{
  switch (level) {
  case HW_LOG_ERROR:
    return "error";
  case HW_LOG_WARN:
    return "warn";
  case HW_LOG_INFO:
    return "info";
  case HW_LOG_DEBUG:
    return "debug";
  }
  return "?";
}

void hw_log(hw_log_level level, const char *fmt, ...)
{
  char line[LOG_LINE_MAX];
  va_list ap;

  if ((int)level > atomic_load(&max_level))
    return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (sink)
    sink(level, line, sink_ud);
  else
    fprintf(stderr, "%s: %s\n", hw_log_level_name(level), line);
}
