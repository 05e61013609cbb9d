/* Case stage from every decision path, tie-breaks, voids and conflicts; the
 * follow-up schedule across month ends and leap years (docs/forms.md §4-§5). */
#include <string.h>

#include "check.h"
#include "homeward/crypto.h"
#include "homeward/forms.h"
#include "homeward/merge.h"
#include "homeward/stage.h"
#include "homeward/value.h"

static uint64_t counter = 1;
static const hw_id dev = {{0xd1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}};
static const hw_id dev2 = {{0xd2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2}};
static const hw_id case_id = {{0xca, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5}};

static hw_bytes enc_text(uint8_t *buf, size_t cap, const char *s)
{
  hw_cbor_wr w;
  hw_cbor_wr_init_fixed(&w, buf, cap);
  hw_cbor_wr_text(&w, s, strlen(s));
  CHECK_OK(hw_cbor_wr_finish(&w));
  return (hw_bytes){buf, w.len};
}

static hw_bytes enc_date(uint8_t *buf, size_t cap, const char *s)
{
  hw_cbor_wr w;
  hw_date d;
  CHECK_OK(hw_date_parse(s, strlen(s), &d));
  hw_cbor_wr_init_fixed(&w, buf, cap);
  hw_value_put_date(&w, &d);
  CHECK_OK(hw_cbor_wr_finish(&w));
  return (hw_bytes){buf, w.len};
}

/* A record of `kind` (id byte `idb`) dated `date` with `decision`, and
 * optionally next_visit_due / followup_months. */
static hw_record *rec2(const char *kind, uint8_t idb, const char *date, const char *decision,
                       const char *next_due, const int *months, size_t n_months)
{
  const hw_form *f = hw_form_find(kind, strlen(kind));
  uint8_t b[4][64];
  hw_field_value fv[4];
  size_t n = 0;
  hw_id id = {{idb, 0x77}};
  hw_record *base = NULL, *out = NULL;
  uint64_t c = counter++;
  hw_write w = {.dot = {dev, c},
                .wall_ms = 1000 * (int64_t)c,
                .author = {(const uint8_t *)"t", 1},
                .schema_version = 1};

  CHECK(f != NULL || strcmp(kind, "home_study") == 0);
  fv[n].name =
      (hw_bytes){(const uint8_t *)(f ? f->date_field : "date"), strlen(f ? f->date_field : "date")};
  fv[n].value = enc_date(b[n], 64, date);
  n++;
  fv[n].name = (hw_bytes){(const uint8_t *)"decision", 8};
  fv[n].value = enc_text(b[n], 64, decision);
  n++;
  if (next_due) {
    fv[n].name = (hw_bytes){(const uint8_t *)"next_visit_due", 14};
    fv[n].value = enc_date(b[n], 64, next_due);
    n++;
  }
  if (months) {
    hw_cbor_wr cw;
    hw_cbor_wr_init_fixed(&cw, b[n], 64);
    hw_cbor_wr_array(&cw, n_months);
    for (size_t i = 0; i < n_months; i++)
      hw_cbor_wr_int(&cw, months[i]);
    CHECK_OK(hw_cbor_wr_finish(&cw));
    fv[n].name = (hw_bytes){(const uint8_t *)"followup_months", 15};
    fv[n].value = (hw_bytes){b[n], cw.len};
    n++;
  }
  w.n_fields = n;
  w.fields = fv;
  CHECK_OK(hw_record_new(&base, &id, &case_id, kind, strlen(kind), 1));
  CHECK_OK(hw_record_write(&out, base, &w));
  hw_record_free(base);
  return out;
}

static hw_record *rec(const char *kind, uint8_t idb, const char *date, const char *decision)
{
  return rec2(kind, idb, date, decision, NULL, NULL, 0);
}

static void free_all(hw_record **r, size_t n)
{
  for (size_t i = 0; i < n; i++)
    hw_record_free(r[i]);
}

static hw_stage stage_of(hw_record **r, size_t n)
{
  hw_stage_info st;
  hw_case_stage((const hw_record *const *)r, n, &st);
  return st.stage;
}

/* The expected stage of every (kind, decision) of every form, written out
 * here independently of stage.c's table. "-" means the stage is unchanged. */
static const struct {
  const char *kind, *decision, *stage;
} expected[] = {
    {"child", "open_case", "assessment"},
    {"child", "refer_elsewhere", "closed"},
    {"consent", "proceed", "-"},
    {"consent", "proceed_limited", "-"},
    {"consent", "do_not_proceed", "closed"},
    {"assessment", "start_family_tracing", "family_tracing"},
    {"assessment", "continue_preparation", "assessment"},
    {"assessment", "seek_alternative_care", "alternative_care"},
    {"family_assessment", "reunify", "placement"},
    {"family_assessment", "continue_preparation", "family_tracing"},
    {"family_assessment", "seek_alternative_care", "alternative_care"},
    {"placement", "start_follow_up", "follow_up"},
    {"placement", "postpone", "placement"},
    {"followup", "continue", "follow_up"},
    {"followup", "increase_support", "follow_up"},
    {"followup", "phase_out", "phase_out"},
    {"followup", "remove", "removed"},
    {"phase_out", "close_case", "closed"},
    {"phase_out", "resume_follow_up", "follow_up"},
    {"closure", "close_case", "closed"},
    {"closure", "keep_open", "-"},
    {"removal", "seek_alternative_care", "removed"},
    {"removal", "reassess_family", "removed"},
    {"alt_care", "place", "alternative_care"},
    {"alt_care", "continue_family_tracing", "family_tracing"},
    {"case_note", "no_action", "-"},
    {"case_note", "coordinator_review", "-"},
};

static void test_every_decision(void)
{
  size_t covered = 0;

  /* Every decision value of every form is in the expected table. */
  for (size_t i = 0; i < hw_forms_count(); i++) {
    const hw_form *f = hw_form_at(i);
    const hw_form_field *d = &f->fields[f->n_fields - 1];
    for (size_t k = 0; d->values[k]; k++) {
      bool found = false;
      for (size_t j = 0; j < sizeof expected / sizeof expected[0]; j++)
        found |= strcmp(expected[j].kind, f->kind) == 0 &&
                 strcmp(expected[j].decision, d->values[k]) == 0;
      if (!found)
        fprintf(stderr, "no expectation for %s/%s\n", f->kind, d->values[k]);
      CHECK(found);
      covered++;
    }
  }
  CHECK_EQ(covered, sizeof expected / sizeof expected[0]);
  /* From a case in follow-up (so "unchanged" is visible), each decision. */
  for (size_t j = 0; j < sizeof expected / sizeof expected[0]; j++) {
    hw_record *r[3] = {rec("child", 1, "2026-01-10", "open_case"),
                       rec("placement", 2, "2026-01-31", "start_follow_up"),
                       rec(expected[j].kind, 3, "2026-03-01", expected[j].decision)};
    hw_stage_info st;
    const char *want = strcmp(expected[j].stage, "-") == 0 ? "follow_up" : expected[j].stage;
    hw_case_stage((const hw_record *const *)r, 3, &st);
    if (strcmp(hw_stage_name(st.stage), want) != 0)
      fprintf(stderr, "%s/%s: got %s want %s\n", expected[j].kind, expected[j].decision,
              hw_stage_name(st.stage), want);
    CHECK(strcmp(hw_stage_name(st.stage), want) == 0);
    CHECK(st.decided_by == (strcmp(expected[j].stage, "-") == 0 ? r[1] : r[2]));
    free_all(r, 3);
  }
}

static void test_paths(void)
{
  /* The SOP's main path, one record at a time. */
  static const struct {
    const char *kind, *date, *decision;
    hw_stage want;
  } path[] = {
      {"child", "2026-01-10", "open_case", HW_STAGE_ASSESSMENT},
      {"consent", "2026-01-11", "proceed", HW_STAGE_ASSESSMENT},
      {"assessment", "2026-01-20", "start_family_tracing", HW_STAGE_FAMILY_TRACING},
      {"family_assessment", "2026-02-10", "continue_preparation", HW_STAGE_FAMILY_TRACING},
      {"family_assessment", "2026-02-20", "reunify", HW_STAGE_PLACEMENT},
      {"placement", "2026-02-28", "start_follow_up", HW_STAGE_FOLLOW_UP},
      {"followup", "2026-03-28", "increase_support", HW_STAGE_FOLLOW_UP},
      {"followup", "2026-05-28", "remove", HW_STAGE_REMOVED},
      {"removal", "2026-05-29", "seek_alternative_care", HW_STAGE_REMOVED},
      {"alt_care", "2026-06-10", "place", HW_STAGE_ALTERNATIVE_CARE},
      {"case_note", "2026-07-01", "no_action", HW_STAGE_ALTERNATIVE_CARE},
      {"closure", "2027-01-10", "close_case", HW_STAGE_CLOSED},
  };
  hw_record *r[16];
  size_t n = sizeof path / sizeof path[0];
  hw_stage_info st;

  hw_case_stage(NULL, 0, &st);
  CHECK_EQ(st.stage, HW_STAGE_ASSESSMENT);
  CHECK_NULL(st.decided_by);
  for (size_t i = 0; i < n; i++) {
    r[i] = rec(path[i].kind, (uint8_t)(0x10 + i), path[i].date, path[i].decision);
    CHECK_EQ(stage_of(r, i + 1), path[i].want);
  }
  /* The order of the array does not matter: reversed, same stage. */
  {
    hw_record *rev[16];
    for (size_t i = 0; i < n; i++)
      rev[i] = r[n - 1 - i];
    CHECK_EQ(stage_of(rev, n), HW_STAGE_CLOSED);
  }
  free_all(r, n);
  /* Phase-out path, and its resumption. */
  {
    hw_record *p[4] = {rec("placement", 1, "2026-01-31", "start_follow_up"),
                       rec("followup", 2, "2027-01-31", "phase_out"),
                       rec("phase_out", 3, "2027-02-10", "resume_follow_up"),
                       rec("phase_out", 4, "2027-04-10", "close_case")};
    CHECK_EQ(stage_of(p, 2), HW_STAGE_PHASE_OUT);
    CHECK_EQ(stage_of(p, 3), HW_STAGE_FOLLOW_UP);
    CHECK_EQ(stage_of(p, 4), HW_STAGE_CLOSED);
    free_all(p, 4);
  }
  /* Alternative care straight from assessment; back to tracing. */
  {
    hw_record *p[3] = {rec("assessment", 1, "2026-01-20", "seek_alternative_care"),
                       rec("alt_care", 2, "2026-02-01", "continue_family_tracing"),
                       rec("family_assessment", 3, "2026-03-01", "seek_alternative_care")};
    CHECK_EQ(stage_of(p, 1), HW_STAGE_ALTERNATIVE_CARE);
    CHECK_EQ(stage_of(p, 2), HW_STAGE_FAMILY_TRACING);
    CHECK_EQ(stage_of(p, 3), HW_STAGE_ALTERNATIVE_CARE);
    free_all(p, 3);
  }
  /* Referred elsewhere at registration; consent refused. */
  {
    hw_record *p[2] = {rec("child", 1, "2026-01-10", "refer_elsewhere"),
                       rec("consent", 2, "2026-01-09", "do_not_proceed")};
    CHECK_EQ(stage_of(p, 1), HW_STAGE_CLOSED);
    CHECK_EQ(stage_of(p, 2), HW_STAGE_CLOSED);
    hw_record_free(p[0]);
    p[0] = rec("child", 1, "2026-01-10", "open_case");
    CHECK_EQ(stage_of(p, 2), HW_STAGE_ASSESSMENT); /* the later decision wins */
    free_all(p, 2);
  }
}

static void test_tie_breaks_voids_conflicts(void)
{
  /* Same date: the higher record id decides, whatever the array order. */
  {
    hw_record *a = rec("followup", 0x20, "2026-03-01", "remove");
    hw_record *b = rec("followup", 0x21, "2026-03-01", "phase_out");
    hw_record *p[2] = {a, b}, *q[2] = {b, a};
    CHECK_EQ(stage_of(p, 2), HW_STAGE_PHASE_OUT);
    CHECK_EQ(stage_of(q, 2), HW_STAGE_PHASE_OUT);
    hw_record_free(a);
    hw_record_free(b);
  }
  /* A voided record is ignored, and counted. */
  {
    hw_record *p[2] = {rec("placement", 1, "2026-01-31", "start_follow_up"),
                       rec("followup", 2, "2026-03-01", "remove")};
    hw_record *v = NULL;
    hw_write w = {.dot = {dev, counter++}, .author = {(const uint8_t *)"c", 1}};
    hw_stage_info st;
    CHECK_EQ(stage_of(p, 2), HW_STAGE_REMOVED);
    CHECK_OK(hw_record_void(&v, p[1], &w, "wrong child", 11));
    hw_record_free(p[1]);
    p[1] = v;
    hw_case_stage((const hw_record *const *)p, 2, &st);
    CHECK_EQ(st.stage, HW_STAGE_FOLLOW_UP);
    CHECK_EQ(st.n_ignored, 1);
    free_all(p, 2);
  }
  /* A decision in conflict counts by its display value (latest wall clock). */
  {
    hw_record *a = rec("followup", 3, "2026-03-01", "continue");
    hw_record *x = NULL, *y = NULL, *m = NULL;
    uint8_t b1[32], b2[32];
    hw_field_value f1 = {{(const uint8_t *)"decision", 8}, enc_text(b1, 32, "remove")};
    hw_field_value f2 = {{(const uint8_t *)"decision", 8}, enc_text(b2, 32, "phase_out")};
    hw_write w1 = {.dot = {dev, counter++},
                   .wall_ms = 5000000,
                   .author = {(const uint8_t *)"a", 1},
                   .schema_version = 1,
                   .n_fields = 1,
                   .fields = &f1};
    hw_write w2 = {.dot = {dev2, 1},
                   .wall_ms = 4000000,
                   .author = {(const uint8_t *)"b", 1},
                   .schema_version = 1,
                   .n_fields = 1,
                   .fields = &f2};
    hw_merge_info info;
    hw_record *p[1];
    CHECK_OK(hw_record_write(&x, a, &w1));
    CHECK_OK(hw_record_write(&y, a, &w2));
    CHECK_OK(hw_merge(&m, x, y, &info));
    CHECK_EQ(hw_record_n_conflicts(m), 1);
    p[0] = m;
    CHECK_EQ(stage_of(p, 1), HW_STAGE_REMOVED);
    hw_record_free(a);
    hw_record_free(x);
    hw_record_free(y);
    hw_record_free(m);
  }
  /* Unknown kinds and records without a date take no part. */
  {
    hw_record *p[2] = {rec("placement", 1, "2026-01-31", "start_follow_up"),
                       rec("home_study", 2, "2026-03-01", "remove")};
    hw_stage_info st;
    hw_case_stage((const hw_record *const *)p, 2, &st);
    CHECK_EQ(st.stage, HW_STAGE_FOLLOW_UP);
    CHECK_EQ(st.n_ignored, 1);
    free_all(p, 2);
  }
  CHECK(strcmp(hw_stage_name((hw_stage)99), "unknown") == 0);
}

static hw_date D(int y, int m, int d)
{
  return (hw_date){y, m, d};
}

static void check_date(hw_date got, int y, int m, int d)
{
  if (got.year != y || got.month != m || got.day != d)
    fprintf(stderr, "got %04d-%02d-%02d want %04d-%02d-%02d\n", got.year, got.month, got.day, y, m,
            d);
  CHECK(got.year == y && got.month == m && got.day == d);
}

static void test_dates(void)
{
  hw_date d;

  /* Month ends: clamp to the last day of the target month. */
  d = D(2026, 1, 31);
  check_date(hw_date_add_months(&d, 1), 2026, 2, 28);
  check_date(hw_date_add_months(&d, 2), 2026, 3, 31);
  check_date(hw_date_add_months(&d, 3), 2026, 4, 30);
  check_date(hw_date_add_months(&d, 13), 2027, 2, 28);
  check_date(hw_date_add_months(&d, 25), 2028, 2, 29); /* leap year */
  check_date(hw_date_add_months(&d, -1), 2025, 12, 31);
  d = D(2028, 2, 29);
  check_date(hw_date_add_months(&d, 12), 2029, 2, 28);
  check_date(hw_date_add_months(&d, 48), 2032, 2, 29);
  d = D(2027, 11, 30);
  check_date(hw_date_add_months(&d, 3), 2028, 2, 29);
  d = D(2099, 12, 31);
  check_date(hw_date_add_months(&d, 2), 2100, 2, 28); /* 2100 is not a leap year */
  d = D(1999, 11, 30);
  check_date(hw_date_add_months(&d, 3), 2000, 2, 29); /* 2000 is */
  d = D(2026, 8, 31);
  check_date(hw_date_add_months(&d, 1), 2026, 9, 30);
  d = D(2026, 12, 15);
  check_date(hw_date_add_months(&d, 1), 2027, 1, 15);
  /* Day numbers: every day from 1900 to 2200 round-trips and follows the
   * previous one. */
  {
    hw_date x = D(1900, 1, 1);
    int64_t prev = hw_date_to_days(&x) - 1;
    while (x.year < 2200) {
      int64_t n = hw_date_to_days(&x);
      CHECK_EQ(n, prev + 1);
      check_date(hw_date_from_days(n), x.year, x.month, x.day);
      prev = n;
      x.day++;
      if (!hw_date_valid(&x)) {
        x.day = 1;
        if (++x.month > 12) {
          x.month = 1;
          x.year++;
        }
      }
    }
    x = D(1, 1, 1);
    CHECK_EQ(hw_date_to_days(&x), 0);
  }
  {
    hw_date a = D(2000, 2, 28), b = D(2000, 3, 1), c = D(1900, 2, 28), e = D(1900, 3, 1);
    CHECK_EQ(hw_date_to_days(&b) - hw_date_to_days(&a), 2);
    CHECK_EQ(hw_date_to_days(&e) - hw_date_to_days(&c), 1);
  }
}

static void test_windows(void)
{
  hw_date due = D(2026, 3, 3);
  hw_date early = D(2026, 2, 23), first = D(2026, 2, 24), last = D(2026, 3, 10),
          late = D(2026, 3, 11);

  /* Across the end of February (28 days in 2026). */
  CHECK_EQ(hw_visit_window(&due, &early), HW_WINDOW_EARLY);
  CHECK_EQ(hw_visit_window(&due, &first), HW_WINDOW_DUE);
  CHECK_EQ(hw_visit_window(&due, &due), HW_WINDOW_DUE);
  CHECK_EQ(hw_visit_window(&due, &last), HW_WINDOW_DUE);
  CHECK_EQ(hw_visit_window(&due, &late), HW_WINDOW_OVERDUE);
  /* In a leap year the same dates are one day further apart. */
  due = D(2028, 3, 3);
  early = D(2028, 2, 24);
  first = D(2028, 2, 25);
  CHECK_EQ(hw_visit_window(&due, &early), HW_WINDOW_EARLY);
  CHECK_EQ(hw_visit_window(&due, &first), HW_WINDOW_DUE);
  /* Across a year end. */
  due = D(2026, 12, 28);
  late = D(2027, 1, 5);
  last = D(2027, 1, 4);
  CHECK_EQ(hw_visit_window(&due, &last), HW_WINDOW_DUE);
  CHECK_EQ(hw_visit_window(&due, &late), HW_WINDOW_OVERDUE);
  CHECK(strcmp(hw_window_name(HW_WINDOW_OVERDUE), "overdue") == 0);
}

static void next(hw_record **r, size_t n, const hw_followup_plan *plan, hw_date today,
                 hw_next_visit *out)
{
  hw_case_next_visit((const hw_record *const *)r, n, plan, &today, out);
}

static void test_schedule(void)
{
  hw_record *r[8];
  hw_next_visit nv;
  hw_followup_plan plan;

  hw_followup_plan_default(&plan);
  CHECK_EQ(plan.n, 5);
  CHECK(plan.months[0] == 1 && plan.months[1] == 3 && plan.months[2] == 6 && plan.months[3] == 9 &&
        plan.months[4] == 12);
  /* Placed on Jan 31: visits due Feb 28, Apr 30, Jul 31, Oct 31, Jan 31. */
  r[0] = rec("child", 1, "2026-01-10", "open_case");
  r[1] = rec("placement", 2, "2026-01-31", "start_follow_up");
  next(r, 2, NULL, D(2026, 2, 10), &nv);
  CHECK(nv.any && !nv.from_next_visit_due);
  CHECK_EQ(nv.number, 1);
  check_date(nv.due, 2026, 2, 28);
  CHECK_EQ(nv.window, HW_WINDOW_EARLY);
  next(r, 2, NULL, D(2026, 3, 8), &nv);
  CHECK_EQ(nv.window, HW_WINDOW_OVERDUE);
  static const char *const visits[] = {"2026-03-02", "2026-04-28", "2026-07-30", "2026-11-02",
                                       "2027-02-01"};
  static const int want[][3] = {{2026, 4, 30}, {2026, 7, 31}, {2026, 10, 31}, {2027, 1, 31}};
  for (size_t k = 0; k < 5; k++) {
    r[2 + k] = rec("followup", (uint8_t)(3 + k), visits[k], "continue");
    next(r, 3 + k, NULL, D(2026, 3, 5), &nv);
    CHECK_EQ(nv.visits_done, k + 1);
    CHECK(nv.last_visit == r[2 + k]);
    if (k < 4) {
      CHECK(nv.any);
      CHECK_EQ(nv.number, k + 2);
      check_date(nv.due, want[k][0], want[k][1], want[k][2]);
    } else {
      CHECK(!nv.any); /* the plan is done: phase-out is next */
    }
  }
  /* A visit's next_visit_due overrides the plan. */
  hw_record_free(r[6]);
  r[6] = rec2("followup", 7, "2027-02-01", "increase_support", "2027-02-15", NULL, 0);
  next(r, 7, NULL, D(2027, 2, 20), &nv);
  CHECK(nv.any && nv.from_next_visit_due);
  CHECK_EQ(nv.number, 0);
  check_date(nv.due, 2027, 2, 15);
  CHECK_EQ(nv.window, HW_WINDOW_DUE);
  /* A case plan given by the caller. */
  plan.n = 2;
  plan.months[0] = 2;
  plan.months[1] = 4;
  next(r, 2, &plan, D(2026, 3, 1), &nv);
  check_date(nv.due, 2026, 3, 31);
  /* A phase-out decision ends the schedule. */
  r[7] = rec("followup", 9, "2027-03-01", "phase_out");
  next(r, 8, NULL, D(2027, 3, 2), &nv);
  CHECK(!nv.any);
  free_all(r, 8);

  /* The placement's own followup_months; leap-year month end. */
  {
    static const int months[] = {3, 15};
    hw_record *p[3] = {rec2("placement", 1, "2027-11-30", "start_follow_up", NULL, months, 2),
                       rec("followup", 2, "2027-11-01", "continue"), NULL};
    next(p, 2, NULL, D(2028, 1, 1), &nv);
    CHECK_EQ(nv.visits_done, 0); /* a visit before the placement does not count */
    check_date(nv.due, 2028, 2, 29);
    p[2] = rec("followup", 3, "2028-02-27", "continue");
    next(p, 3, NULL, D(2028, 3, 1), &nv);
    check_date(nv.due, 2029, 2, 28);
    free_all(p, 3);
  }
  /* No placement, or a postponed one: nothing due. */
  {
    hw_record *p[1] = {rec("placement", 1, "2026-01-31", "postpone")};
    next(p, 1, NULL, D(2026, 2, 1), &nv);
    CHECK(!nv.any);
    next(p, 0, NULL, D(2026, 2, 1), &nv);
    CHECK(!nv.any);
    free_all(p, 1);
  }
  /* A voided visit does not count. */
  {
    hw_record *p[2] = {rec("placement", 1, "2026-01-31", "start_follow_up"),
                       rec("followup", 2, "2026-03-01", "continue")};
    hw_record *v = NULL;
    hw_write w = {.dot = {dev, counter++}, .author = {(const uint8_t *)"c", 1}};
    CHECK_OK(hw_record_void(&v, p[1], &w, "duplicate entry", 15));
    hw_record_free(p[1]);
    p[1] = v;
    next(p, 2, NULL, D(2026, 3, 1), &nv);
    CHECK_EQ(nv.visits_done, 0);
    check_date(nv.due, 2026, 2, 28);
    CHECK_EQ(nv.window, HW_WINDOW_DUE);
    free_all(p, 2);
  }
}

int main(void)
{
  CHECK_OK(hw_crypto_init());
  test_every_decision();
  test_paths();
  test_tie_breaks_voids_conflicts();
  test_dates();
  test_windows();
  test_schedule();
  printf("stage: ok\n");
  return 0;
}
