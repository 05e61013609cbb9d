/* `homeward export (--json | --csv)`: the worker's cases out of the store,
 * NOT encrypted, after a confirmation. */
#define _GNU_SOURCE /* O_CLOEXEC with fdopen */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli-int.h"
#include "json-int.h"
#include "values-int.h"

static const char warning[] =
    "The export is NOT encrypted: anyone who gets it can read everything about these children.\n"
    "Keep it only on an encrypted disk, give it only to who may read it, delete it after use.\n";

static bool confirmed(const hw_cli_opts *o)
{
  char answer[16] = "";

  fputs(warning, stderr);
  if (o->yes)
    return true;
  if (!isatty(STDIN_FILENO)) {
    fprintf(stderr, "homeward: not exported: add --yes to confirm\n");
    return false;
  }
  fprintf(stderr, "type yes to export: ");
  if (!fgets(answer, sizeof answer, stdin) || strcmp(answer, "yes\n")) {
    fprintf(stderr, "homeward: not exported\n");
    return false;
  }
  return true;
}

/* One CSV cell: quoted when it holds a comma, quote, or line break; a cell
 * starting with = + - @, a tab or a carriage return is prefixed with ' so
 * spreadsheets do not run it as a formula (OWASP's CSV injection list). */
static void cell(FILE *out, const char *s, bool last)
{
  bool quote = strpbrk(s, ",\"\r\n") != NULL;
  if (quote)
    fputc('"', out);
  if (strchr("=+-@\t\r", s[0]) && s[0])
    fputc('\'', out);
  for (; *s; s++) {
    if (*s == '"')
      fputc('"', out);
    fputc(*s, out);
  }
  if (quote)
    fputc('"', out);
  fputs(last ? "\r\n" : ",", out);
}

static void export_csv(const hw_cli_db *db, FILE *out)
{
  static const char *const head[] = {"case",  "child", "record",      "kind",        "date",
                                     "field", "value", "recorded_by", "recorded_at", "disputed"};
  for (size_t i = 0; i < 10; i++)
    cell(out, head[i], i == 9);
  for (size_t i = 0; i < db->n_cases; i++) {
    const hw_cli_case *k = &db->cases[i];
    char ch[HW_ID_HEX_LEN + 1], name[512];
    hw_id_to_hex(&k->id, ch);
    hw_cli_case_name(k, name, sizeof name);
    for (size_t j = 0; j < k->n; j++) {
      const hw_record *r = db->recs[k->first + j].r;
      char rh[HW_ID_HEX_LEN + 1], kind[HW_KIND_MAX + 1], d[16] = "";
      hw_date date;
      hw_id_to_hex(&r->id, rh);
      snprintf(kind, sizeof kind, "%.*s", (int)r->kind.len, (const char *)r->kind.p);
      if (hw_cli_record_date(r, &date))
        snprintf(d, sizeof d, "%04d-%02d-%02d", date.year, date.month, date.day);
      for (size_t f = 0; f < r->n_fields; f++) {
        const hw_field *fl = &r->fields[f];
        for (uint32_t p = 0; p < fl->n_pairs; p++) {
          char field[HW_FIELD_NAME_MAX + 1], value[8192], at[40];
          const hw_write_meta *m = &r->writes[fl->pairs[p].w];
          char by[256];
          snprintf(field, sizeof field, "%.*s", (int)fl->name.len, (const char *)fl->name.p);
          hw_cli_value_render(fl->pairs[p].value.p, fl->pairs[p].value.len, value, sizeof value);
          hw_cli_when(m->wall_ms, at, sizeof at);
          snprintf(by, sizeof by, "%.*s", (int)m->author.len, (const char *)m->author.p);
          if (fl->n_pairs == 1 && !strcmp(value, "(none)"))
            continue;
          cell(out, ch, false);
          cell(out, name, false);
          cell(out, rh, false);
          cell(out, kind, false);
          cell(out, d, false);
          cell(out, field, false);
          cell(out, value, false);
          cell(out, by, false);
          cell(out, at, false);
          cell(out, fl->n_pairs > 1 ? "yes" : "no", true);
        }
      }
    }
  }
}

int hw_cli_export(const hw_cli_opts *o, hw_client *c)
{
  hw_cli_db db;
  FILE *out = stdout;
  int rc = HW_CLI_OK;

  if (o->json == o->csv)
    return fprintf(stderr, "homeward: export (--json | --csv) [--output FILE] [--yes]\n"),
           HW_CLI_USAGE;
  if (!confirmed(o))
    return HW_CLI_FAIL;
  if (hw_cli_db_load(c, &db))
    return HW_CLI_FAIL;
  if (o->output) {
    /* A new file readable by this user only; never over an existing one. */
    int fd = open(o->output, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || !(out = fdopen(fd, "w"))) {
      fprintf(stderr, "homeward: cannot create %s: %s\n", o->output, strerror(errno));
      if (fd >= 0)
        close(fd);
      hw_cli_db_free(&db);
      return HW_CLI_FAIL;
    }
  }
  if (o->csv) {
    export_csv(&db, out);
  } else {
    json_t *cases = json_array();
    for (size_t i = 0; i < db.n_cases; i++)
      json_array_append_new(cases, hw_cli_case_json(&db, &db.cases[i], &o->today, true));
    rc = hw_cli_json_print(json_pack("{s:s,s:o}", "worker", hw_client_worker(c), "cases", cases),
                           out);
  }
  if (fflush(out) != 0 || ferror(out))
    rc = hw_cli_fail("the export could not be written whole");
  if (out != stdout && fclose(out) != 0)
    rc = hw_cli_fail("the export could not be written whole");
  if (rc != HW_CLI_OK && o->output)
    unlink(o->output); /* nothing half-written left behind */
  if (rc == HW_CLI_OK && o->output)
    fprintf(stderr, "exported %zu case%s to %s (not encrypted)\n", db.n_cases,
            db.n_cases == 1 ? "" : "s", o->output);
  hw_cli_db_free(&db);
  return rc;
}
