/* Case stage and follow-up schedule (docs/forms.md §4, §5). Pure: derived
 * from the record states alone, so every replica agrees. */
#include "homeward/stage.h"

#include <string.h>

#include "homeward/cbor.h"
#include "homeward/forms.h"

static const char *const stage_names[] = {
    "assessment", "family_tracing", "placement",        "follow_up",
    "phase_out",  "closed",         "alternative_care", "removed",
};

const char *hw_stage_name(hw_stage s)
{
  return (unsigned)s < sizeof stage_names / sizeof stage_names[0] ? stage_names[s] : "unknown";
}

/* Every decision that sets a stage. Decisions not listed leave it as it is. */
static const struct {
  const char *kind;
  const char *decision;
  hw_stage stage;
} transitions[] = {
    {"child", "open_case", HW_STAGE_ASSESSMENT},
    {"child", "refer_elsewhere", HW_STAGE_CLOSED},
    {"consent", "do_not_proceed", HW_STAGE_CLOSED},
    {"assessment", "start_family_tracing", HW_STAGE_FAMILY_TRACING},
    {"assessment", "continue_preparation", HW_STAGE_ASSESSMENT},
    {"assessment", "seek_alternative_care", HW_STAGE_ALTERNATIVE_CARE},
    {"family_assessment", "reunify", HW_STAGE_PLACEMENT},
    {"family_assessment", "continue_preparation", HW_STAGE_FAMILY_TRACING},
    {"family_assessment", "seek_alternative_care", HW_STAGE_ALTERNATIVE_CARE},
    {"placement", "start_follow_up", HW_STAGE_FOLLOW_UP},
    {"placement", "postpone", HW_STAGE_PLACEMENT},
    {"followup", "continue", HW_STAGE_FOLLOW_UP},
    {"followup", "increase_support", HW_STAGE_FOLLOW_UP},
    {"followup", "phase_out", HW_STAGE_PHASE_OUT},
    {"followup", "remove", HW_STAGE_REMOVED},
    {"phase_out", "close_case", HW_STAGE_CLOSED},
    {"phase_out", "resume_follow_up", HW_STAGE_FOLLOW_UP},
    {"closure", "close_case", HW_STAGE_CLOSED},
    {"removal", "seek_alternative_care", HW_STAGE_REMOVED},
    {"removal", "reassess_family", HW_STAGE_REMOVED},
    {"alt_care", "place", HW_STAGE_ALTERNATIVE_CARE},
    {"alt_care", "continue_family_tracing", HW_STAGE_FAMILY_TRACING},
};

static bool is(const char *s, const uint8_t *p, size_t len)
{
  return strlen(s) == len && memcmp(s, p, len) == 0;
}

bool hw_stage_of_decision(const char *kind, size_t kind_len, const char *decision,
                          size_t decision_len, hw_stage *out)
{
  for (size_t i = 0; i < sizeof transitions / sizeof transitions[0]; i++)
    if (is(transitions[i].kind, (const uint8_t *)kind, kind_len) &&
        is(transitions[i].decision, (const uint8_t *)decision, decision_len)) {
      *out = transitions[i].stage;
      return true;
    }
  return false;
}

/* ---- dates ---- */

int64_t hw_date_to_days(const hw_date *d)
{
  /* Days from civil (H. Hinnant), shifted so 0001-01-01 is day 0. */
  int64_t y = d->year - (d->month <= 2);
  int64_t era = y / 400; /* y >= 0 here */
  int64_t yoe = y - era * 400;
  int64_t mp = (d->month + 9) % 12;
  int64_t doy = (153 * mp + 2) / 5 + d->day - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 306;
}

hw_date hw_date_from_days(int64_t days)
{
  int64_t z = days + 306;
  int64_t era = z / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  hw_date d;

  d.day = (int)(doy - (153 * mp + 2) / 5 + 1);
  d.month = (int)(mp < 10 ? mp + 3 : mp - 9);
  d.year = (int)(yoe + era * 400 + (d.month <= 2));
  return d;
}

int hw_date_cmp(const hw_date *a, const hw_date *b)
{
  if (a->year != b->year)
    return a->year < b->year ? -1 : 1;
  if (a->month != b->month)
    return a->month < b->month ? -1 : 1;
  if (a->day != b->day)
    return a->day < b->day ? -1 : 1;
  return 0;
}

hw_date hw_date_add_months(const hw_date *d, int months)
{
  int m0 = d->year * 12 + (d->month - 1) + months;
  hw_date r = {m0 / 12, m0 % 12 + 1, d->day};

  while (!hw_date_valid(&r) && r.day > 28)
    r.day--; /* the month-end rule: clamp to the month's last day */
  return r;
}

/* ---- reading records ---- */

static bool display_text(const hw_record *r, const char *name, const uint8_t **p, size_t *len)
{
  const hw_field *f = hw_record_field(r, name, strlen(name));
  const hw_pair *pr;
  hw_cbor_rd rd;

  if (!f)
    return false;
  pr = hw_field_display(r, f);
  hw_cbor_rd_init(&rd, pr->value.p, pr->value.len);
  return hw_cbor_read_text(&rd, p, len) == 0 && hw_cbor_rd_done(&rd);
}

static bool display_date(const hw_record *r, const char *name, hw_date *out)
{
  const hw_field *f = hw_record_field(r, name, strlen(name));
  const hw_pair *pr;

  if (!f)
    return false;
  pr = hw_field_display(r, f);
  return hw_value_get_date(pr->value.p, pr->value.len, out) == 0;
}

static bool voided(const hw_record *r)
{
  hw_void_status vs;
  /* A malformed void value cannot be in a built state; count it as voided
   * so a damaged record never decides a stage. */
  return hw_record_void_status(r, &vs) != 0 || vs.voided;
}

/* The record's form and date, or false when it cannot take part. */
static bool dated(const hw_record *r, const hw_form **form, hw_date *date)
{
  if (voided(r))
    return false;
  *form = hw_form_find((const char *)r->kind.p, r->kind.len);
  return *form && display_date(r, (*form)->date_field, date);
}

/* Order of records in a case: date, then record id. */
static int order(const hw_date *da, const hw_record *a, const hw_date *db, const hw_record *b)
{
  int c = hw_date_cmp(da, db);
  return c ? c : hw_id_cmp(&a->id, &b->id);
}

void hw_case_stage(const hw_record *const *recs, size_t n, hw_stage_info *out)
{
  memset(out, 0, sizeof *out);
  out->stage = HW_STAGE_ASSESSMENT;
  for (size_t i = 0; i < n; i++) {
    const hw_record *r = recs[i];
    const hw_form *form;
    const uint8_t *dp;
    size_t dl;
    hw_date date;
    hw_stage s;

    if (!dated(r, &form, &date)) {
      out->n_ignored++;
      continue;
    }
    if (!display_text(r, HW_FIELD_DECISION, &dp, &dl) ||
        !hw_stage_of_decision((const char *)r->kind.p, r->kind.len, (const char *)dp, dl, &s))
      continue;
    if (out->decided_by && order(&date, r, &out->since, out->decided_by) <= 0)
      continue;
    out->stage = s;
    out->decided_by = r;
    out->since = date;
  }
}

/* ---- follow-up schedule ---- */

void hw_followup_plan_default(hw_followup_plan *p)
{
  static const int months[] = {1, 3, 6, 9, 12};

  memset(p, 0, sizeof *p);
  p->n = sizeof months / sizeof months[0];
  memcpy(p->months, months, sizeof months);
}

hw_window hw_visit_window(const hw_date *due, const hw_date *day)
{
  int64_t delta = hw_date_to_days(day) - hw_date_to_days(due);

  if (delta < -HW_VISIT_WINDOW_DAYS)
    return HW_WINDOW_EARLY;
  if (delta > HW_VISIT_WINDOW_DAYS)
    return HW_WINDOW_OVERDUE;
  return HW_WINDOW_DUE;
}

const char *hw_window_name(hw_window w)
{
  switch (w) {
  case HW_WINDOW_EARLY:
    return "early";
  case HW_WINDOW_DUE:
    return "due";
  case HW_WINDOW_OVERDUE:
    return "overdue";
  }
  return "unknown";
}

/* The placement's own plan (followup_months), if it holds a valid one. */
static bool placement_plan(const hw_record *r, hw_followup_plan *p)
{
  const hw_field *f = hw_record_field(r, "followup_months", 15);
  const hw_pair *pr;
  hw_cbor_rd rd;
  uint64_t n;

  if (!f)
    return false;
  pr = hw_field_display(r, f);
  hw_cbor_rd_init(&rd, pr->value.p, pr->value.len);
  if (hw_cbor_read_array(&rd, &n) || n == 0 || n > HW_FOLLOWUP_PLAN_MAX)
    return false;
  for (uint64_t i = 0; i < n; i++) {
    int64_t m;
    if (hw_cbor_read_int(&rd, &m) || m < 1 || m > HW_FOLLOWUP_MONTH_MAX ||
        (i > 0 && m <= p->months[i - 1]))
      return false;
    p->months[i] = (int)m;
  }
  p->n = (size_t)n;
  return hw_cbor_rd_done(&rd);
}

void hw_case_next_visit(const hw_record *const *recs, size_t n, const hw_followup_plan *plan,
                        const hw_date *today, hw_next_visit *out)
{
  const hw_record *placement = NULL;
  hw_date last_date = {0, 0, 0}, due;
  hw_followup_plan p;
  hw_stage_info st;

  memset(out, 0, sizeof *out);
  /* The latest placement that started follow-up. */
  for (size_t i = 0; i < n; i++) {
    const hw_form *form;
    const uint8_t *dp;
    size_t dl;
    hw_date date;
    if (!is("placement", recs[i]->kind.p, recs[i]->kind.len) || !dated(recs[i], &form, &date) ||
        !display_text(recs[i], HW_FIELD_DECISION, &dp, &dl) || !is("start_follow_up", dp, dl))
      continue;
    if (!placement || order(&date, recs[i], &out->placement, placement) > 0) {
      placement = recs[i];
      out->placement = date;
    }
  }
  if (!placement)
    return;
  /* Visits on or after it; the latest one may override the plan. */
  for (size_t i = 0; i < n; i++) {
    const hw_form *form;
    hw_date date;
    if (!is("followup", recs[i]->kind.p, recs[i]->kind.len) || !dated(recs[i], &form, &date) ||
        hw_date_cmp(&date, &out->placement) < 0)
      continue;
    out->visits_done++;
    if (!out->last_visit || order(&date, recs[i], &last_date, out->last_visit) > 0) {
      out->last_visit = recs[i];
      last_date = date;
    }
  }
  hw_case_stage(recs, n, &st);
  if (st.stage != HW_STAGE_FOLLOW_UP)
    return;
  if (out->last_visit && display_date(out->last_visit, "next_visit_due", &due)) {
    out->from_next_visit_due = true;
  } else {
    if (plan)
      p = *plan;
    else if (!placement_plan(placement, &p))
      hw_followup_plan_default(&p);
    if (out->visits_done >= p.n)
      return; /* the plan is complete: phase-out is the next step */
    out->number = out->visits_done + 1;
    due = hw_date_add_months(&out->placement, p.months[out->visits_done]);
  }
  out->any = true;
  out->due = due;
  out->window = hw_visit_window(&due, today);
}
