/* Fuzz target: form validation (docs/forms.md §2) over arbitrary values.
 * Input: byte 0 picks the form, then records of [name index, value length,
 * value bytes] make one write (names from the form, plus one unknown name);
 * byte 1 picks the writer's schema version. The oracle: validation returns
 * only 0, HW_EVALIDATE or HW_ENOENT; a refusal names a field given or one of
 * the form's, with a message "<field>: ..."; acceptance implies every value
 * of a known field has its field's type. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "homeward/forms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXV 24

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  hw_field_value fv[MAXV];
  const hw_form *form;
  hw_form_error err;
  size_t n = 0, i = 2;
  uint32_t version;
  int rc;

  if (size < 2)
    return 0;
  form = hw_form_at(data[0] % (hw_forms_count() + 1)); /* NULL: an unknown kind */
  version = data[1] % 3;
  while (i + 2 <= size && n < MAXV) {
    size_t ni = data[i], len = data[i + 1];
    const char *name;
    i += 2;
    if (len > size - i)
      len = size - i;
    if (!form || ni % (form->n_fields + 2) == form->n_fields)
      name = "zz_unknown_field";
    else if (ni % (form->n_fields + 2) == form->n_fields + 1)
      name = "voided";
    else
      name = form->fields[ni % (form->n_fields + 2)].name;
    fv[n].name = (hw_bytes){(const uint8_t *)name, strlen(name)};
    fv[n].value = (hw_bytes){data + i, len};
    n++;
    i += len;
  }
  rc = form ? hw_form_validate(form->kind, strlen(form->kind), version, NULL, fv, n, &err)
            : hw_form_validate("unknown_kind", 12, version, NULL, fv, n, &err);
  if (rc != 0 && rc != HW_EVALIDATE && rc != HW_ENOENT)
    abort();
  if (!form && rc != HW_ENOENT)
    abort();
  if (rc == HW_EVALIDATE) {
    size_t fl = strlen(err.field);
    if (fl == 0 || strncmp(err.msg, err.field, fl) != 0 || strncmp(err.msg + fl, ": ", 2) != 0)
      abort();
    /* The field named is one of the form's or one the write gave. */
    bool named = hw_form_field_find(form, err.field, fl) != NULL;
    for (size_t k = 0; k < n; k++)
      named |= fv[k].name.len == fl && memcmp(fv[k].name.p, err.field, fl) == 0;
    if (!named)
      abort();
  }
  return 0;
}
