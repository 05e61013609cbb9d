/* Reading one record for the worker: dates, display values, fields. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli-int.h"
#include "homeward/forms.h"
#include "homeward/value.h"
#include "values-int.h"

int hw_cli_fail(const char *msg)
{
  fprintf(stderr, "homeward: %s\n", msg);
  return HW_CLI_FAIL;
}

const char *hw_cli_strerror(int rc)
{
  if (rc == HW_EBUSY)
    return "the store is in use by another homeward (a sync, another command, or an open "
           "`homeward shell`, which holds it until exit or 10 idle minutes): nothing was "
           "changed; try again when it has finished";
  if (rc == HW_EPERM)
    return "this record is held for a coordinator: it cannot be changed until they decide "
           "(sync to hear); nothing was changed";
  if (rc == HW_ENOSPC)
    return "the device is full: nothing was changed; free some space and try again";
  if (rc == HW_EROFS)
    return "the store's folder cannot be written (a read-only file system or folder): "
           "nothing was changed; it can still be read (list, status, export)";
  return hw_strerror(rc);
}

void hw_cli_when(int64_t ms, char *out, size_t cap)
{
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, cap, "%Y-%m-%d %H:%M UTC", &tm);
}

void hw_cli_field_text(const hw_record *r, const char *name, char *out, size_t cap)
{
  const hw_field *f = hw_record_field(r, name, strlen(name));
  const hw_pair *d;

  out[0] = '\0';
  if (!f)
    return;
  d = hw_field_display(r, f);
  if (hw_value_is_null(d->value.p, d->value.len))
    return;
  hw_cli_value_render(d->value.p, d->value.len, out, cap);
}

bool hw_cli_record_date(const hw_record *r, hw_date *out)
{
  const hw_form *form = hw_form_find((const char *)r->kind.p, r->kind.len);
  const hw_field *f;
  const hw_pair *d;

  if (!form || !(f = hw_record_field(r, form->date_field, strlen(form->date_field))))
    return false;
  d = hw_field_display(r, f);
  return hw_value_get_date(d->value.p, d->value.len, out) == HW_OK;
}

bool hw_cli_rec_conflict(const hw_record *r)
{
  hw_void_status vs = {0};
  return hw_record_n_conflicts(r) > 0 || (hw_record_void_status(r, &vs) == HW_OK && vs.disputed);
}

static void print_one(const hw_record *r, const hw_field *f, const char *indent)
{
  char value[1024], at[40];
  const hw_pair *d = hw_field_display(r, f);
  const hw_write_meta *m = &r->writes[d->w];

  if (f->n_pairs == 1 && hw_value_is_null(d->value.p, d->value.len))
    return; /* "voided: null" and cleared answers say nothing */
  hw_cli_value_render(d->value.p, d->value.len, value, sizeof value);
  hw_cli_when(m->wall_ms, at, sizeof at);
  printf("%s%-26.*s %s   (%.*s, %s)%s\n", indent, (int)f->name.len, (const char *)f->name.p, value,
         (int)m->author.len, (const char *)m->author.p, at,
         f->n_pairs > 1 ? "   DISPUTED: other values below" : "");
  for (uint32_t k = 0; k < f->n_pairs; k++) {
    const hw_pair *p = &f->pairs[k];
    if (p == d)
      continue;
    hw_cli_value_render(p->value.p, p->value.len, value, sizeof value);
    hw_cli_when(r->writes[p->w].wall_ms, at, sizeof at);
    printf("%s%-26s also: %s   (%.*s, %s)\n", indent, "", value, (int)r->writes[p->w].author.len,
           (const char *)r->writes[p->w].author.p, at);
  }
}

void hw_cli_print_fields(const hw_record *r, const char *indent)
{
  const hw_form *form = hw_form_find((const char *)r->kind.p, r->kind.len);

  /* The form's order first (as the worker filled it), then anything else
   * (the void, fields of a newer schema). */
  for (size_t i = 0; form && i < form->n_fields; i++) {
    const hw_field *f = hw_record_field(r, form->fields[i].name, strlen(form->fields[i].name));
    if (f)
      print_one(r, f, indent);
  }
  for (size_t i = 0; i < r->n_fields; i++) {
    const hw_field *f = &r->fields[i];
    if (!form || !hw_form_field_find(form, (const char *)f->name.p, f->name.len))
      print_one(r, f, indent);
  }
}
