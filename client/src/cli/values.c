#include "values-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "homeward/utf8.h"
#include "homeward/value.h"

static int parse_int(const char *t, int64_t *out)
{
  char *end;
  long long v;

  errno = 0;
  v = strtoll(t, &end, 10);
  if (errno || end == t || *end)
    return HW_EINVAL;
  *out = v;
  return HW_OK;
}

/* Split `text` on `sep` into at most `max` trimmed pieces (in `buf`). */
/* A choice typed as its number in the list the guided form shows ("2"), or
 * as the start of exactly one of the field's values ("home" for home_visit),
 * stands for that value; anything else is kept as typed (the form's check
 * then names the values). */
static hw_bytes expand_choice(const hw_form_field *f, hw_bytes typed)
{
  const char *found = NULL;
  size_t count = 0, number = 0, digits = 0;

  while (f->values && f->values[count])
    count++;
  while (digits < typed.len && digits < 3 && typed.p[digits] >= '0' && typed.p[digits] <= '9')
    number = number * 10 + (size_t)(typed.p[digits++] - '0');
  if (digits > 0 && digits == typed.len && number >= 1 && number <= count)
    return (hw_bytes){(const uint8_t *)f->values[number - 1], strlen(f->values[number - 1])};

  for (size_t i = 0; f->values && f->values[i]; i++) {
    if (strlen(f->values[i]) == typed.len && !memcmp(f->values[i], typed.p, typed.len))
      return typed; /* exact */
    if (typed.len > 0 && !strncmp(f->values[i], (const char *)typed.p, typed.len)) {
      if (found)
        return typed; /* the start of several */
      found = f->values[i];
    }
  }
  return found ? (hw_bytes){(const uint8_t *)found, strlen(found)} : typed;
}

static size_t split(const char *text, char sep, char *buf, size_t cap, hw_bytes *items, size_t max)
{
  size_t n = 0, len = strlen(text);
  char *p;

  if (len >= cap)
    len = cap - 1;
  memcpy(buf, text, len);
  buf[len] = '\0';
  p = buf;
  while (*p && n < max) {
    char *e = strchr(p, sep), *s = p, *t;
    if (e)
      *e = '\0';
    while (*s == ' ')
      s++;
    t = s + strlen(s);
    while (t > s && t[-1] == ' ')
      *--t = '\0';
    if (*s)
      items[n++] = (hw_bytes){(const uint8_t *)s, strlen(s)};
    if (!e)
      break;
    p = e + 1;
  }
  return n;
}

int hw_cli_value_parse(const hw_form_field *f, const char *text, hw_cbor_wr *w, char *why,
                       size_t why_len)
{
  static char buf[8192];
  hw_bytes items[HW_FIELDS_MAX];
  size_t n;
  int64_t v;

  /* An empty answer clears the question (null): refused by the form's
   * rules for a required one, with its own message. */
  if (!text[0]) {
    hw_cbor_wr_null(w);
    return HW_OK;
  }
  switch (f->type) {
  case HW_FT_BOOL:
    if (!strcmp(text, "yes") || !strcmp(text, "true"))
      hw_cbor_wr_bool(w, true);
    else if (!strcmp(text, "no") || !strcmp(text, "false"))
      hw_cbor_wr_bool(w, false);
    else
      return snprintf(why, why_len, "%s: answer yes or no", f->name), HW_EINVAL;
    return HW_OK;
  case HW_FT_INT:
    if (parse_int(text, &v))
      return snprintf(why, why_len, "%s: a whole number is needed", f->name), HW_EINVAL;
    hw_cbor_wr_int(w, v);
    return HW_OK;
  case HW_FT_DATE: {
    hw_date d;
    if (hw_date_parse(text, strlen(text), &d))
      return snprintf(why, why_len, "%s: a date like 2026-11-30 is needed", f->name), HW_EINVAL;
    hw_value_put_date(w, &d);
    return HW_OK;
  }
  case HW_FT_ENUM_SET:
    n = split(text, ',', buf, sizeof buf, items, HW_FIELDS_MAX);
    for (size_t i = 0; i < n; i++)
      items[i] = expand_choice(f, items[i]);
    hw_value_put_enum_set(w, items, n);
    return HW_OK;
  case HW_FT_TEXT_LIST:
    n = split(text, ';', buf, sizeof buf, items, HW_FIELDS_MAX);
    hw_cbor_wr_array(w, n);
    for (size_t i = 0; i < n; i++)
      hw_cbor_wr_text(w, items[i].p, items[i].len);
    return HW_OK;
  case HW_FT_INT_LIST:
    n = split(text, ',', buf, sizeof buf, items, HW_FIELDS_MAX);
    hw_cbor_wr_array(w, n);
    for (size_t i = 0; i < n; i++) {
      char num[32];
      snprintf(num, sizeof num, "%.*s", (int)items[i].len, (const char *)items[i].p);
      if (parse_int(num, &v))
        return snprintf(why, why_len, "%s: whole numbers separated by commas", f->name), HW_EINVAL;
      hw_cbor_wr_int(w, v);
    }
    return HW_OK;
  case HW_FT_ENUM: {
    hw_bytes choice = expand_choice(f, (hw_bytes){(const uint8_t *)text, strlen(text)});
    hw_cbor_wr_text(w, (const char *)choice.p, choice.len);
    return HW_OK;
  }
  case HW_FT_TEXT:
  default:
    hw_cbor_wr_text(w, text, strlen(text));
    return HW_OK;
  }
}

/* Append text for a terminal or a spreadsheet: control characters (which
 * forms refuse, but an older or modified device may have written) are
 * shown as \xHH or \uHHHH instead of reaching the screen, where an escape
 * sequence could clear it or hide text, and so are the bidirectional
 * embeddings, overrides and isolates (U+202A-202E, U+2066-2069), which
 * reorder what follows them. Tab and line feed stay; a backslash is
 * doubled, so that a typed "\x1B" never looks like an escaped ESC. */
static void append_clean(char *out, size_t cap, const uint8_t *p, size_t len)
{
  size_t used = strlen(out);

  for (size_t i = 0; i < len && used + 1 < cap; i++) {
    uint32_t cp;
    size_t n = hw_utf8_control(p + i, len - i, &cp);
    int k;
    if (n && cp != '\t' && cp != '\n') {
      k = snprintf(out + used, cap - used, cp < 0x80 ? "\\x%02X" : "\\u%04X", (unsigned)cp);
      i += n - 1;
    } else if (p[i] == '\\') {
      k = snprintf(out + used, cap - used, "\\\\");
    } else {
      out[used] = (char)p[i], out[used + 1] = '\0', k = 1;
    }
    if (k < 0 || (size_t)k >= cap - used) {
      out[used] = '\0'; /* no half escape */
      return;
    }
    used += (size_t)k;
  }
}

void hw_cli_text_clean(const char *text, size_t len, char *out, size_t cap)
{
  if (!cap)
    return;
  out[0] = '\0';
  append_clean(out, cap, (const uint8_t *)text, len);
}

static void render(hw_cbor_rd *rd, char *out, size_t cap, int depth)
{
  hw_cbor_item it;
  size_t used = strlen(out);

  if (depth > 4 || hw_cbor_next(rd, &it) != HW_OK)
    return;
  switch (it.type) {
  case HW_CBOR_UINT:
    snprintf(out + used, cap - used, "%llu", (unsigned long long)it.u);
    break;
  case HW_CBOR_NEGINT:
    snprintf(out + used, cap - used, "-%llu", (unsigned long long)it.u + 1);
    break;
  case HW_CBOR_TEXT:
    append_clean(out, cap, it.p, it.len);
    break;
  case HW_CBOR_BYTES: /* in no form: shown as hex, never raw */
    for (size_t i = 0; i < it.len && strlen(out) + 3 < cap; i++)
      snprintf(out + strlen(out), cap - strlen(out), "%02x", it.p[i]);
    break;
  case HW_CBOR_TRUE:
  case HW_CBOR_FALSE:
    snprintf(out + used, cap - used, "%s", it.type == HW_CBOR_TRUE ? "yes" : "no");
    break;
  case HW_CBOR_NULL:
    snprintf(out + used, cap - used, "(none)");
    break;
  case HW_CBOR_TAG:
    render(rd, out, cap, depth + 1); /* a date: its text */
    break;
  case HW_CBOR_ARRAY:
    for (uint64_t i = 0; i < it.u; i++) {
      if (i)
        snprintf(out + strlen(out), cap - strlen(out), ", ");
      render(rd, out, cap, depth + 1);
    }
    break;
  case HW_CBOR_MAP:
    snprintf(out + used, cap - used, "{...}");
    for (uint64_t i = 0; i < 2 * it.u; i++)
      (void)!hw_cbor_skip(rd, 8, NULL, NULL);
    break;
  }
}

void hw_cli_value_render(const uint8_t *v, size_t len, char *out, size_t cap)
{
  hw_cbor_rd rd;
  hw_dot seen[HW_VV_MAX];
  hw_vv sv;
  hw_bytes reason;

  out[0] = '\0';
  if (hw_value_get_void(v, len, &reason, seen, &sv) == HW_OK) {
    snprintf(out, cap, "VOIDED: ");
    append_clean(out, cap, reason.p, reason.len);
    return;
  }
  hw_cbor_rd_init(&rd, v, len);
  render(&rd, out, cap, 0);
}
