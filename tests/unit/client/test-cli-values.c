/* Rendering values for the worker's screen (client CLI values.c): control
 * characters that forms refuse, but an older or modified device may have
 * written, are shown escaped and never reach the terminal. */
#include <string.h>

#include "check.h"
#include "homeward/value.h"
#include "values-int.h"

static void renders_as(const char *text, size_t len, const char *want)
{
  uint8_t buf[256];
  char out[256];
  hw_cbor_wr w;

  hw_cbor_wr_init_fixed(&w, buf, sizeof buf);
  hw_cbor_wr_text(&w, text, len);
  CHECK_OK(hw_cbor_wr_finish(&w));
  hw_cli_value_render(buf, w.len, out, sizeof out);
  if (strcmp(out, want))
    fprintf(stderr, "rendered \"%s\", want \"%s\"\n", out, want);
  CHECK(!strcmp(out, want));
}

static void renders_cut(void)
{
  uint8_t buf[64];
  char out[8];
  hw_cbor_wr w;

  /* No half escape at the end of a full buffer. */
  hw_cbor_wr_init_fixed(&w, buf, sizeof buf);
  hw_cbor_wr_text(&w, "abcd\x1b", 5);
  CHECK_OK(hw_cbor_wr_finish(&w));
  hw_cli_value_render(buf, w.len, out, sizeof out);
  CHECK(!strcmp(out, "abcd"));
}

int main(void)
{
  renders_as("plain text", 10, "plain text");
  renders_as("two\nlines\tand a tab", 19, "two\nlines\tand a tab");
  renders_as("esc \x1b[2J clear", 14, "esc \\x1B[2J clear");
  renders_as("bell\x07", 5, "bell\\x07");
  renders_as("cr\rdel\x7f", 7, "cr\\x0Ddel\\x7F");
  renders_as("c1 \xc2\x9b" "31m", 8, "c1 \\u009B31m");
  renders_as("caf\xc3\xa9 \xc2\xa0ok", 10, "caf\xc3\xa9 \xc2\xa0ok"); /* é and NBSP stay */
  renders_cut();
  puts("cli values: ok");
  return 0;
}
