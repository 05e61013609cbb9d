/* The answers of a form being filled. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "answers-int.h"
#include "homeward/mem.h"
#include "values-int.h"

void hw_cli_answers_init(hw_cli_answers *a, const hw_form *form)
{
  memset(a, 0, sizeof *a);
  a->form = form;
}

void hw_cli_answers_free(hw_cli_answers *a)
{
  for (size_t i = 0; i < SETS_MAX; i++)
    hw_free(a->text[i]);
  memset(a, 0, sizeof *a);
}

int hw_cli_answers_set(hw_cli_answers *a, size_t i, const char *text)
{
  char *copy = NULL;

  if (i >= a->form->n_fields || i >= SETS_MAX)
    return HW_EINVAL;
  if (text) {
    size_t n = strlen(text);
    if (!(copy = hw_malloc(n + 1)))
      return HW_ENOMEM;
    memcpy(copy, text, n + 1);
  }
  hw_free(a->text[i]);
  a->text[i] = copy;
  return HW_OK;
}

int hw_cli_answers_from_sets(hw_cli_answers *a, const hw_cli_opts *o)
{
  for (size_t i = 0; i < o->n_sets; i++) {
    const char *eq = strchr(o->sets[i], '='); /* there is one: hw_cli_parse_args checked */
    const hw_form_field *f = hw_form_field_find(a->form, o->sets[i], (size_t)(eq - o->sets[i]));
    if (!f) {
      char shown[256];
      hw_cli_text_clean(o->sets[i], (size_t)(eq - o->sets[i]), shown, sizeof shown);
      fprintf(stderr, "homeward: the %s form has no question %s\n", a->form->kind, shown);
      return -1;
    }
    for (size_t k = 0; k < i; k++)
      if (!strncmp(o->sets[k], o->sets[i], (size_t)(eq - o->sets[i]) + 1)) {
        fprintf(stderr, "homeward: %s: given twice in one write\n", f->name);
        return -1;
      }
    if (hw_cli_answers_set(a, (size_t)(f - a->form->fields), eq + 1)) {
      fprintf(stderr, "homeward: out of memory\n");
      return -1;
    }
  }
  return 0;
}

void hw_cli_wr_close_all(hw_cbor_wr *w)
{
  for (size_t i = 0; i < SETS_MAX; i++)
    hw_cbor_wr_close(&w[i]);
}

static int encode_one(const hw_form_field *f, const char *text, hw_field_value *fv, hw_cbor_wr *w,
                      char *why, size_t why_len)
{
  why[0] = '\0';
  hw_cbor_wr_init(w, HW_VALUE_MAX);
  if (hw_cli_value_parse(f, text, w, why, why_len) != HW_OK || hw_cbor_wr_finish(w) != HW_OK) {
    if (!why[0])
      snprintf(why, why_len, "%s: the answer is too long", f->name);
    return -1;
  }
  fv->name = (hw_bytes){(const uint8_t *)f->name, strlen(f->name)};
  fv->value = (hw_bytes){w->buf, w->len};
  return 0;
}

int hw_cli_answers_encode(const hw_cli_answers *a, size_t first, hw_field_value *fv, hw_cbor_wr *w,
                          size_t *bad, char *why, size_t why_len)
{
  size_t n = 0;

  if (first < a->form->n_fields && a->text[first]) {
    if (encode_one(&a->form->fields[first], a->text[first], &fv[n], &w[n], why, why_len))
      return *bad = first, -1;
    n++;
  }
  for (size_t i = 0; i < a->form->n_fields && i < SETS_MAX; i++) {
    if (i == first || !a->text[i])
      continue;
    if (encode_one(&a->form->fields[i], a->text[i], &fv[n], &w[n], why, why_len))
      return *bad = i, -1;
    n++;
  }
  return (int)n;
}

/* A JSON value as the text a worker would type for question f. */
static int json_text(const hw_form_field *f, json_t *v, char *out, size_t cap)
{
  size_t used = 0;

  out[0] = '\0';
  if (json_is_string(v))
    return snprintf(out, cap, "%s", json_string_value(v)) < (int)cap ? 0 : -1;
  if (json_is_integer(v))
    return snprintf(out, cap, "%lld", (long long)json_integer_value(v)), 0;
  if (json_is_boolean(v))
    return snprintf(out, cap, "%s", json_is_true(v) ? "yes" : "no"), 0;
  if (json_is_array(v)) {
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
      char one[2048];
      int n;
      if (json_text(f, item, one, sizeof one) || json_is_array(item))
        return -1;
      n = snprintf(out + used, cap - used, "%s%s",
                   i ? (f->type == HW_FT_TEXT_LIST ? ";" : ",") : "", one);
      if (n < 0 || (size_t)n >= cap - used)
        return -1;
      used += (size_t)n;
    }
    return 0;
  }
  return -1;
}

/* The JSON in the file at `path`, or NULL after saying why: a file that
 * cannot be read is said with the system's reason, a JSON error with its
 * line when it has one. */
/* An answers file: a form has at most SETS_MAX answers of at most
 * HW_VALUE_MAX bytes each, well below this (a 50 MB file took 265 MB). */
#define ANSWERS_FILE_MAX (1024 * 1024)

static json_t *load_json(const char *path)
{
  json_error_t jerr;
  json_t *root;
  struct stat sb;
  char *buf;
  size_t n;
  FILE *f = fopen(path, "r");

  if (f && fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
    fclose(f);
    f = NULL;
    errno = EISDIR;
  }
  if (!f) {
    fprintf(stderr, "homeward: cannot read %s: %s\n", path, strerror(errno));
    return NULL;
  }
  /* Read whole, at most one byte over the limit: a pipe or a device
   * (--file /dev/stdin) has no size to check first. */
  if (!(buf = hw_malloc(ANSWERS_FILE_MAX + 1))) {
    fclose(f);
    fprintf(stderr, "homeward: out of memory\n");
    return NULL;
  }
  n = fread(buf, 1, ANSWERS_FILE_MAX + 1, f);
  fclose(f);
  if (n > ANSWERS_FILE_MAX) {
    fprintf(stderr, "homeward: %s: over %d KiB: one form's answers are far smaller\n", path,
            ANSWERS_FILE_MAX / 1024);
    hw_free(buf);
    return NULL;
  }
  root = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &jerr);
  hw_free(buf);
  if (!root && jerr.line > 0)
    fprintf(stderr, "homeward: %s: %s (line %d)\n", path, jerr.text, jerr.line);
  else if (!root)
    fprintf(stderr, "homeward: %s: %s\n", path, jerr.text);
  return root;
}

int hw_cli_answers_from_file(hw_cli_answers *a, const char *path)
{
  json_t *root = load_json(path), *v;
  const char *key;
  static char text[16384];
  int rc = 0;

  if (!root)
    return -1;
  if (!json_is_object(root)) {
    fprintf(stderr, "homeward: %s: wants one JSON object {\"question\": answer, ...}\n", path);
    json_decref(root);
    return -1;
  }
  json_object_foreach(root, key, v)
  {
    const hw_form_field *f = hw_form_field_find(a->form, key, strlen(key));
    if (!f) {
      char shown[256]; /* a file may hold any bytes: escape sequences shown, not run */
      hw_cli_text_clean(key, strlen(key), shown, sizeof shown);
      fprintf(stderr, "homeward: the %s form has no question %s\n", a->form->kind, shown);
      rc = -1;
      break;
    }
    if (json_text(f, v, text, sizeof text)) {
      if (json_is_string(v))
        fprintf(stderr, "homeward: %s: %s: the answer is longer than %zu bytes\n", path, key,
                sizeof text - 1);
      else
        fprintf(stderr, "homeward: %s: %s: a text, number, true/false or a list of them\n", path,
                key);
      rc = -1;
      break;
    }
    if (hw_cli_answers_set(a, (size_t)(f - a->form->fields), text)) {
      rc = -1;
      break;
    }
  }
  json_decref(root);
  return rc;
}
