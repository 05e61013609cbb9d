/* A case's SOP stage and its follow-up schedule, derived from the case's
 * record states alone (docs/forms.md §4, §5), so every replica holding the
 * same states shows the same stage and the same next visit.
 *
 * Pure functions: no I/O, no clock ("today" is a parameter), no allocation,
 * no logging. The record arrays are borrowed for the call. */
#ifndef HOMEWARD_STAGE_H
#define HOMEWARD_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/record.h"
#include "homeward/value.h"

typedef enum hw_stage {
  HW_STAGE_ASSESSMENT,     /* the case is open; the child is assessed and prepared */
  HW_STAGE_FAMILY_TRACING, /* tracing and assessing the family */
  HW_STAGE_PLACEMENT,      /* reunification decided, placement pending */
  HW_STAGE_FOLLOW_UP,      /* placed; follow-up visits */
  HW_STAGE_PHASE_OUT,      /* follow-up ending */
  HW_STAGE_CLOSED,
  HW_STAGE_ALTERNATIVE_CARE, /* the child is in (or bound for) alternative care */
  HW_STAGE_REMOVED,          /* removed from family care; next step pending */
} hw_stage;

/* "follow_up" etc.; never NULL. */
HW_EXPORT const char *hw_stage_name(hw_stage s);

/* The stage a (kind, decision) leads to. Returns false when that decision
 * does not change the stage (a case note, "keep_open", consent given) or is
 * not known. */
HW_EXPORT bool hw_stage_of_decision(const char *kind, size_t kind_len, const char *decision,
                                    size_t decision_len, hw_stage *out);

typedef struct hw_stage_info {
  hw_stage stage;
  const hw_record *decided_by; /* the record whose decision set it, or NULL (borrowed) */
  hw_date since;               /* that record's date (zero when decided_by is NULL) */
  size_t n_ignored;            /* records skipped: voided, unknown kind, no valid date */
} hw_stage_info;

/* The stage of a case: the stage of the latest decision that sets one,
 * records ordered by their form's date field, ties by record id (bytewise);
 * voided records are ignored; a field in conflict counts by its display
 * value. With no such decision the stage is HW_STAGE_ASSESSMENT. */
HW_EXPORT void hw_case_stage(const hw_record *const *recs, size_t n, hw_stage_info *out);

/* ---- dates ---- */

/* Days since 0001-01-01 (proleptic Gregorian); d must be valid. */
HW_EXPORT int64_t hw_date_to_days(const hw_date *d);
HW_EXPORT hw_date hw_date_from_days(int64_t days);
HW_EXPORT int hw_date_cmp(const hw_date *a, const hw_date *b);

/* d + months, with the month-end rule: the day is clamped to the last day of
 * the target month (Jan 31 + 1 month = Feb 28, or Feb 29 in a leap year;
 * Aug 31 + 1 month = Sep 30). Always counted from the placement date, never
 * chained, so the schedule does not drift after a short month. */
HW_EXPORT hw_date hw_date_add_months(const hw_date *d, int months);

/* ---- follow-up schedule ---- */

#define HW_VISIT_WINDOW_DAYS 7   /* due within +-7 days of the due date */
#define HW_FOLLOWUP_PLAN_MAX 24  /* planned visits in one case */
#define HW_FOLLOWUP_MONTH_MAX 36 /* latest planned visit, months after placement */

typedef struct hw_followup_plan {
  size_t n;
  int months[HW_FOLLOWUP_PLAN_MAX]; /* strictly increasing, 1..HW_FOLLOWUP_MONTH_MAX */
} hw_followup_plan;

/* 1, 3, 6, 9 and 12 months after placement. */
HW_EXPORT void hw_followup_plan_default(hw_followup_plan *p);

typedef enum hw_window {
  HW_WINDOW_EARLY,   /* day < due - 7: too early to count as the due visit */
  HW_WINDOW_DUE,     /* due - 7 <= day <= due + 7 */
  HW_WINDOW_OVERDUE, /* day > due + 7 */
} hw_window;

HW_EXPORT hw_window hw_visit_window(const hw_date *due, const hw_date *day);
HW_EXPORT const char *hw_window_name(hw_window w);

typedef struct hw_next_visit {
  bool any; /* a visit is due: the case is in follow-up */
  hw_date due;
  bool from_next_visit_due;    /* set by the last visit's next_visit_due */
  size_t number;               /* 1-based index in the plan (0 when overridden) */
  size_t visits_done;          /* follow-up visits on or after the placement date */
  hw_date placement;           /* date of the placement it counts from */
  hw_window window;            /* of `today` against `due` */
  const hw_record *last_visit; /* borrowed, or NULL */
} hw_next_visit;

/* The next follow-up visit of a case on `today`. The plan is `plan` if not
 * NULL, else the placement's followup_months if set, else the default.
 * Visits are the non-voided follow-up records dated on or after the
 * placement; the k-th of them fulfils the k-th planned visit. The latest
 * visit's next_visit_due, when set, overrides the plan. No visit is due
 * unless the case's stage is HW_STAGE_FOLLOW_UP. */
HW_EXPORT void hw_case_next_visit(const hw_record *const *recs, size_t n,
                                  const hw_followup_plan *plan, const hw_date *today,
                                  hw_next_visit *out);

#endif
