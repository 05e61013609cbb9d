/* `homeward case find` and the duplicate warning before a new child. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-int.h"
#include "homeward/cbor.h"
#include "homeward/mem.h"
#include "homeward/value.h"
#include "match-int.h"

#define AGE_SLACK 2 /* years either side of the age asked for */

/* Best score of `query` (folded) over the child's names and aliases. */
static double best_name(const hw_record *child, const char *query)
{
  char given[256], family[256], full[600], folded[HW_CLI_FOLD_MAX];
  const hw_field *f = hw_record_field(child, "aliases", 7);
  double best;

  hw_cli_field_text(child, "given_name", given, sizeof given);
  hw_cli_field_text(child, "family_name", family, sizeof family);
  snprintf(full, sizeof full, "%s %s", given, family);
  hw_cli_fold(full, strlen(full), folded);
  best = hw_cli_name_score(query, folded);
  if (f) {
    const hw_pair *d = hw_field_display(child, f);
    hw_cbor_rd rd;
    hw_cbor_item it;
    hw_cbor_rd_init(&rd, d->value.p, d->value.len);
    if (hw_cbor_next(&rd, &it) == HW_OK && it.type == HW_CBOR_ARRAY) {
      for (uint64_t i = 0; i < it.u; i++) {
        hw_cbor_item t;
        double s;
        if (hw_cbor_next(&rd, &t) != HW_OK || t.type != HW_CBOR_TEXT)
          break;
        hw_cli_fold((const char *)t.p, t.len, folded);
        s = hw_cli_name_score(query, folded);
        best = s > best ? s : best;
      }
    }
  }
  return best;
}

/* The child's age in whole years on `today`, or -1 when unknown. */
static int age_on(const hw_record *child, const hw_date *today)
{
  const hw_field *f = hw_record_field(child, "date_of_birth", 13);
  hw_date d;
  char est[32];

  if (f) {
    const hw_pair *p = hw_field_display(child, f);
    if (hw_value_get_date(p->value.p, p->value.len, &d) == HW_OK) {
      int age = today->year - d.year;
      if (today->month < d.month || (today->month == d.month && today->day < d.day))
        age--;
      return age;
    }
  }
  hw_cli_field_text(child, "age_estimate_years", est, sizeof est);
  if (!est[0])
    return -1;
  if (hw_cli_record_date(child, &d)) /* the estimate was made when registered */
    return atoi(est) + (int)((hw_date_to_days(today) - hw_date_to_days(&d)) / 365);
  return atoi(est);
}

static bool place_matches(const hw_record *child, const char *place)
{
  char found[512], a[HW_CLI_FOLD_MAX], b[HW_CLI_FOLD_MAX];

  hw_cli_field_text(child, "found_place", found, sizeof found);
  hw_cli_fold(found, strlen(found), a);
  hw_cli_fold(place, strlen(place), b);
  return b[0] && (strstr(a, b) || hw_cli_name_score(b, a) >= HW_CLI_MATCH_LIKELY);
}

typedef struct hit {
  const hw_cli_case *k;
  double score;
} hit;

static int by_score(const void *pa, const void *pb)
{
  const hit *a = pa, *b = pb;
  return a->score < b->score ? 1 : a->score > b->score ? -1 : 0;
}

static void print_hit(FILE *out, const hit *h, const hw_date *today)
{
  char hex[HW_ID_HEX_LEN + 1], name[512], place[256], found[32], ages[16] = "?";
  int age = age_on(h->k->child, today);
  hw_stage_info si;

  hw_id_to_hex(&h->k->id, hex);
  hw_cli_case_name(h->k, name, sizeof name);
  hw_cli_field_text(h->k->child, "found_place", place, sizeof place);
  hw_cli_field_text(h->k->child, "found_date", found, sizeof found);
  hw_case_stage(h->k->states, h->k->n, &si);
  if (age >= 0)
    snprintf(ages, sizeof ages, "%d", age);
  fprintf(out, "  %s  %-24s age %-3s found %s at %s; %s\n", HW_CLI_SHORT(hex), name, ages, found,
          place, hw_stage_name(si.stage));
}

/* Matches of a query over the device's cases, best first; the caller frees
 * *hits. */
static size_t search(const hw_cli_db *db, const char *name, int age, const char *place,
                     const hw_date *today, hit **hits)
{
  char q[HW_CLI_FOLD_MAX];
  size_t n = 0;

  *hits = hw_calloc(db->n_cases ? db->n_cases : 1, sizeof **hits);
  if (!*hits)
    return 0;
  hw_cli_fold(name ? name : "", name ? strlen(name) : 0, q);
  for (size_t i = 0; i < db->n_cases; i++) {
    const hw_cli_case *k = &db->cases[i];
    double score = 1.0;
    int a;
    if (!k->child)
      continue;
    if (q[0] && (score = best_name(k->child, q)) < HW_CLI_MATCH_LIKELY)
      continue;
    if (age >= 0 && ((a = age_on(k->child, today)) < 0 || abs(a - age) > AGE_SLACK))
      continue;
    if (place && !place_matches(k->child, place))
      continue;
    (*hits)[n++] = (hit){k, score};
  }
  qsort(*hits, n, sizeof **hits, by_score);
  return n;
}

int hw_cli_case_find(const hw_cli_opts *o, hw_client *c)
{
  char name[512] = "";
  hw_cli_db db;
  hit *hits;
  size_t n;

  for (size_t i = 2; i < o->n_args; i++)
    snprintf(name + strlen(name), sizeof name - strlen(name), "%s%s", i > 2 ? " " : "", o->args[i]);
  if (!name[0] && o->age < 0 && !o->place)
    return fprintf(stderr, "homeward: case find [NAME] [--age N] [--place PLACE]\n"), HW_CLI_USAGE;
  if (hw_cli_db_load(c, &db))
    return HW_CLI_FAIL;
  n = search(&db, name, o->age, o->place, &o->today, &hits);
  if (n == 0)
    printf("no child on this device matches\n");
  for (size_t i = 0; i < n; i++)
    print_hit(stdout, &hits[i], &o->today);
  hw_free(hits);
  hw_cli_db_free(&db);
  return HW_CLI_OK;
}

int hw_cli_duplicates(hw_client *c, const char *given, const char *family, const hw_date *today)
{
  char name[600];
  hw_cli_db db;
  hit *hits;
  size_t n;

  snprintf(name, sizeof name, "%s %s", given ? given : "", family ? family : "");
  if (hw_cli_db_load(c, &db))
    return -1;
  n = search(&db, name, -1, NULL, today, &hits);
  if (n > 0) {
    fprintf(stderr, "homeward: this child may already be registered on this device:\n");
    for (size_t i = 0; i < n; i++)
      print_hit(stderr, &hits[i], today);
  }
  hw_free(hits);
  hw_cli_db_free(&db);
  return (int)n;
}
