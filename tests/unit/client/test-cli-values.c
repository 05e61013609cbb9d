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
  renders_as("typed \\x1B", 10, "typed \\\\x1B"); /* not to be taken for an escaped ESC */
  renders_as("a\xe2\x80\xae" "b", 5, "a\\u202Eb");       /* right-to-left override */
  renders_as("a\xe2\x81\xa6" "b", 5, "a\\u2066b");       /* left-to-right isolate */
  renders_as("a\xe2\x80\x8f" "b", 5, "a\xe2\x80\x8f" "b");   /* the RLM mark a keyboard types stays */
  {
    const uint8_t bytes[] = {0x43, 0x1b, 0x5b, 0x32}; /* CBOR bytes(3): ESC [ 2 */
    char out[32];
    hw_cli_value_render(bytes, sizeof bytes, out, sizeof out);
    CHECK(!strcmp(out, "1b5b32"));
  }
  renders_cut();
  puts("cli values: ok");
  return 0;
}
