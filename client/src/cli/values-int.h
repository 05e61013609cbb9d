/* Turning what a worker types into field values and back (client CLI). */
#ifndef HW_CLI_VALUES_INT_H
#define HW_CLI_VALUES_INT_H

#include <stddef.h>
#include <stdint.h>

#include "homeward/cbor.h"
#include "homeward/forms.h"

/* Encode `text` as a value of the form field `f` into `w`:
 *   bool: yes/no/true/false; int: decimal; date: YYYY-MM-DD; enum: as is;
 *   set of enums and list of integers: comma-separated; list of texts:
 *   separated by ';'; text: as is. An empty text clears the question (null).
 * Returns 0, or HW_EINVAL with a reason in why[why_len]. */
int hw_cli_value_parse(const hw_form_field *f, const char *text, hw_cbor_wr *w, char *why,
                       size_t why_len);

/* Render a value for reading ("2026-11-30", "yes", "food, medical", ...). */
void hw_cli_value_render(const uint8_t *v, size_t len, char *out, size_t cap);
/* `text` (len bytes) as a terminal may show it, controls escaped the same
 * way (a question name from a file, which may hold anything). */
void hw_cli_text_clean(const char *text, size_t len, char *out, size_t cap);

#endif
