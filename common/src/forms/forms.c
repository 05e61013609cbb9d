/* The SOP forms as data and the validation of a local write's new values
 * (docs/forms.md). Values are read through homeward/cbor.h and value.h. */
#include "homeward/forms.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "homeward/cbor.h"
#include "homeward/utf8.h"
#include "homeward/value.h"

/* ---- allowed values ---- */

static const char *const sex_v[] = {"female", "male", "other", "unknown", NULL};
static const char *const separation_v[] = {"conflict", "trafficking", "migration", "institution",
                                           "street",   "other",       NULL};
static const char *const child_decision_v[] = {"open_case", "refer_elsewhere", NULL};
static const char *const assent_v[] = {"given", "refused", "not_able", NULL};
static const char *const consent_v[] = {"given", "refused", "no_caregiver", NULL};
/* The years a date of a child's case may fall in: a typo like 9999-12-31
 * would otherwise decide the case's stage from then on. */
#define DATE_YEAR_MIN 1900
#define DATE_YEAR_MAX 2100

static const char *const sharing_v[] = {"tracing_agencies", "health_services", "education",
                                        "police",           "other_agencies",  NULL};
static const char *const consent_decision_v[] = {"proceed", "proceed_limited", "do_not_proceed",
                                                 NULL};
static const char *const needs_v[] = {"health",          "education", "psychosocial",
                                      "legal_documents", "nutrition", "shelter",
                                      "family_tracing",  "other",     NULL};
static const char *const readiness_v[] = {"ready", "partly_ready", "not_ready", NULL};
static const char *const assessment_decision_v[] = {"start_family_tracing", "continue_preparation",
                                                    "seek_alternative_care", NULL};
static const char *const relationship_v[] = {"mother",       "father",     "grandparent",
                                             "sibling",      "aunt_uncle", "other_relative",
                                             "non_relative", NULL};
static const char *const capacity_v[] = {"adequate", "needs_support", "inadequate", NULL};
static const char *const family_decision_v[] = {"reunify", "continue_preparation",
                                                "seek_alternative_care", NULL};
static const char *const support_v[] = {"cash_transfer",   "food",       "school_fees",
                                        "household_items", "livelihood", "psychosocial",
                                        "medical",         NULL};
static const char *const placement_decision_v[] = {"start_follow_up", "postpone", NULL};
static const char *const visit_type_v[] = {"home_visit", "school_visit", "office_visit",
                                           "phone_call", NULL};
static const char *const services_v[] = {
    "food",          "health_referral",   "education_support", "psychosocial", "legal_aid",
    "cash_transfer", "parenting_support", "livelihood",        "other",        NULL};
static const char *const followup_decision_v[] = {"continue", "increase_support", "phase_out",
                                                  "remove", NULL};
static const char *const criteria_v[] = {"stable_care",
                                         "school_enrolled",
                                         "health_stable",
                                         "income_stable",
                                         "community_links",
                                         "child_agrees",
                                         NULL};
static const char *const phase_out_decision_v[] = {"close_case", "resume_follow_up", NULL};
static const char *const closure_reason_v[] = {"reintegrated", "alternative_care_stable",
                                               "turned_18",    "transferred",
                                               "lost_contact", "child_died",
                                               "other",        NULL};
static const char *const closure_decision_v[] = {"close_case", "keep_open", NULL};
static const char *const removal_reason_v[] = {
    "abuse", "neglect", "exploitation", "child_request", "caregiver_request", "other", NULL};
static const char *const safety_v[] = {"safe_now", "at_risk", "emergency", NULL};
static const char *const goes_to_v[] = {"emergency_foster", "kinship", "interim_care_centre",
                                        "health_facility",  "other",   NULL};
static const char *const removal_decision_v[] = {"seek_alternative_care", "reassess_family", NULL};
static const char *const care_type_v[] = {"foster", "kinship", "supported_independent_living",
                                          "residential", NULL};
static const char *const alt_decision_v[] = {"place", "continue_family_tracing", NULL};
static const char *const topics_v[] = {"health", "education", "family", "safety",
                                       "legal",  "other",     NULL};
static const char *const note_decision_v[] = {"no_action", "coordinator_review", NULL};

/* ---- field constructors ---- */

#define TEXT_SHORT 100
#define TEXT_PLACE 200
#define TEXT_LONG 2000
#define TEXT_NOTE 4000

#define F_DATE(n, req, h)                                                                          \
  {                                                                                                \
    .name = n, .type = HW_FT_DATE, .required = req, .help = h, .since = 1                          \
  }
#define F_DATE_AFTER(n, req, a, h)                                                                 \
  {                                                                                                \
    .name = n, .type = HW_FT_DATE, .required = req, .after = a, .help = h, .since = 1              \
  }
#define F_DATE_BEFORE(n, req, b, h)                                                                \
  {                                                                                                \
    .name = n, .type = HW_FT_DATE, .required = req, .before = b, .help = h, .since = 1             \
  }
#define F_TEXT(n, req, mx, h)                                                                      \
  {                                                                                                \
    .name = n, .type = HW_FT_TEXT, .required = req, .min = 1, .max = mx, .help = h, .since = 1     \
  }
#define F_INT(n, req, lo, hi, h)                                                                   \
  {                                                                                                \
    .name = n, .type = HW_FT_INT, .required = req, .min = lo, .max = hi, .help = h, .since = 1     \
  }
#define F_BOOL(n, req, h)                                                                          \
  {                                                                                                \
    .name = n, .type = HW_FT_BOOL, .required = req, .help = h, .since = 1                          \
  }
#define F_ENUM(n, req, v, h)                                                                       \
  {                                                                                                \
    .name = n, .type = HW_FT_ENUM, .required = req, .values = v, .help = h, .since = 1             \
  }
#define F_SET(n, req, v, lo, h)                                                                    \
  {                                                                                                \
    .name = n, .type = HW_FT_ENUM_SET, .required = req, .values = v, .min = lo, .max = 32,         \
    .help = h, .since = 1                                                                          \
  }
#define F_LIST(n, req, items, bytes, h)                                                            \
  {                                                                                                \
    .name = n, .type = HW_FT_TEXT_LIST, .required = req, .min = 1, .max = items, .item_min = 1,    \
    .item_max = bytes, .help = h, .since = 1                                                       \
  }
#define F_DECISION(v, h) F_ENUM(HW_FIELD_DECISION, true, v, h)
#define CSI(n, h) F_INT(n, true, HW_CSI_SCORE_MIN, HW_CSI_SCORE_MAX, h)

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the forms (docs/forms.md describes each for workers) ---- */

static const char *const child_one_of[] = {"date_of_birth", "age_estimate_years", NULL};

static const hw_form_field child_f[] = {
    F_DATE("registered_on", true, "Date the case was opened."),
    F_TEXT("given_name", true, TEXT_SHORT, "The name the child uses."),
    F_TEXT("family_name", false, TEXT_SHORT, "Family name, if the child knows it."),
    F_LIST("aliases", false, 20, TEXT_SHORT, "Other names and nicknames (for tracing)."),
    F_ENUM("sex", true, sex_v, "Sex of the child."),
    F_DATE_BEFORE("date_of_birth", false, "registered_on",
                  "Date of birth when known (or give the estimated age)."),
    F_INT("age_estimate_years", false, 0, 25, "Estimated age in years when the date is unknown."),
    F_LIST("languages", false, 10, TEXT_SHORT, "Languages the child speaks, main one first."),
    F_TEXT("photo_ref", false, TEXT_PLACE, "Reference of the photo in the photo store."),
    F_DATE_BEFORE("found_date", true, "registered_on",
                  "When the child was found or came forward."),
    F_TEXT("found_place", true, TEXT_PLACE, "Where the child was found."),
    F_ENUM("separation_cause", true, separation_v, "How the child was separated."),
    F_TEXT("separation_details", false, TEXT_LONG, "The child's account of the separation."),
    F_TEXT("identifying_marks", false, TEXT_LONG, "Scars, birthmarks, other marks (for tracing)."),
    F_DECISION(child_decision_v, "Open a case, or refer the child to another service."),
};

static const hw_form_field consent_f[] = {
    F_DATE("consent_date", true, "Date consent and assent were asked."),
    F_ENUM("child_assent", true, assent_v, "The child's own agreement, in words they understand."),
    F_ENUM("caregiver_consent", true, consent_v, "Consent of a parent or caregiver, if any."),
    F_BOOL("information_sharing", true, "Agreement to share information for tracing and services."),
    F_SET("sharing_with", false, sharing_v, 1, "Who information may be shared with."),
    F_TEXT("witnessed_by", true, TEXT_SHORT, "Name and role of the witness."),
    F_TEXT("notes", false, TEXT_LONG, "Anything the child or caregiver asked or refused."),
    F_DECISION(consent_decision_v, "Proceed, proceed with limits, or do not proceed."),
};

static const hw_form_field assessment_f[] = {
    F_DATE("assessment_date", true, "Date of the assessment."),
    F_SET("needs", true, needs_v, 1, "The child's needs."),
    F_TEXT("risks", false, TEXT_LONG, "Risks to the child now and if reunified."),
    F_TEXT("child_wishes", true, TEXT_LONG, "What the child wants, in their words."),
    F_ENUM("readiness", true, readiness_v, "How ready the child is for reunification."),
    F_LIST("preparation_activities", false, 20, TEXT_PLACE, "Preparation done with the child."),
    F_DECISION(assessment_decision_v, "Start family tracing, continue preparing, or seek "
                                      "alternative care."),
};

static const hw_form_field family_f[] = {
    F_DATE("assessment_date", true, "Date of the family assessment."),
    F_TEXT("traced_person", true, TEXT_SHORT, "The family member who was traced."),
    F_ENUM("relationship", true, relationship_v, "Their relationship to the child."),
    F_TEXT("location", true, TEXT_PLACE, "Where the family lives."),
    F_INT("visits_made", false, 0, 100, "Number of visits to the family so far."),
    F_ENUM("caregiver_capacity", true, capacity_v, "Whether the caregiver can care for the child."),
    F_TEXT("risks", false, TEXT_LONG, "Risks in the household or community."),
    F_TEXT("community_support", false, TEXT_LONG, "Support the community can give."),
    F_TEXT("child_wishes", true, TEXT_LONG, "What the child wants."),
    F_TEXT("family_wishes", true, TEXT_LONG, "What the family wants."),
    F_DECISION(family_decision_v, "Reunify, continue preparation, or seek alternative care."),
};

static const hw_form_field placement_f[] = {
    F_DATE("placement_date", true, "Date the child went home."),
    F_TEXT("caregiver_name", true, TEXT_SHORT, "The main caregiver."),
    F_ENUM("relationship", true, relationship_v, "The caregiver's relationship to the child."),
    F_INT("household_members", false, 1, 50, "People living in the household."),
    F_TEXT("address", true, TEXT_PLACE, "Where the household lives."),
    F_SET("support_package", false, support_v, 1, "Support given with the placement."),
    {.name = "followup_months",
     .type = HW_FT_INT_LIST,
     .min = 1,
     .max = 24,
     .item_min = 1,
     .item_max = 36,
     .since = 1,
     .help = "Months after placement at which to visit, if not 1, 3, 6, 9, 12."},
    F_DECISION(placement_decision_v, "Start follow-up, or postpone the placement."),
};

static const hw_form_field followup_f[] = {
    F_DATE("visit_date", true, "Date of the visit."),
    F_ENUM("visit_type", true, visit_type_v, "How the child was seen."),
    CSI("csi_food_security", "Food and nutrition: food security (1 very poor - 4 good)."),
    CSI("csi_nutrition_growth", "Food and nutrition: nutrition and growth (1-4)."),
    CSI("csi_shelter", "Shelter and care: shelter (1-4)."),
    CSI("csi_care", "Shelter and care: care (1-4)."),
    CSI("csi_abuse_exploitation", "Protection: abuse and exploitation (1-4)."),
    CSI("csi_legal_protection", "Protection: legal protection (1-4)."),
    CSI("csi_wellness", "Health: wellness (1-4)."),
    CSI("csi_health_services", "Health: health care services (1-4)."),
    CSI("csi_emotional_health", "Psychosocial: emotional health (1-4)."),
    CSI("csi_social_behaviour", "Psychosocial: social behaviour (1-4)."),
    CSI("csi_performance", "Education and skills: performance (1-4)."),
    CSI("csi_education_work", "Education and skills: education and work (1-4)."),
    F_SET("services_provided", false, services_v, 1, "Services given since the last visit."),
    F_TEXT("significant_events", false, TEXT_LONG, "Events since the last visit."),
    F_DATE_AFTER("next_visit_due", false, "visit_date",
                 "When the next visit is due (overrides the plan)."),
    F_TEXT("notes", false, TEXT_NOTE, "Observations, agreed next steps."),
    F_DECISION(followup_decision_v, "Continue, increase support, phase out, or remove."),
};

static const hw_form_field phase_out_f[] = {
    F_DATE("phase_out_date", true, "Date of the phase-out review."),
    F_SET("criteria_met", true, criteria_v, 1, "Which phase-out criteria are met."),
    F_BOOL("final_csi_reviewed", true, "The last visits' CSI scores were reviewed."),
    F_TEXT("notes", false, TEXT_LONG, "Why the case can or cannot be phased out."),
    F_DECISION(phase_out_decision_v, "Close the case, or resume follow-up."),
};

static const hw_form_field closure_f[] = {
    F_DATE("closure_date", true, "Date of closure."),
    F_ENUM("reason", true, closure_reason_v, "Why the case is closed."),
    F_TEXT("details", false, TEXT_LONG, "Details of the reason."),
    F_DECISION(closure_decision_v, "Close the case, or keep it open."),
};

static const hw_form_field removal_f[] = {
    F_DATE("removal_date", true, "Date the child was removed from family care."),
    F_ENUM("reason", true, removal_reason_v, "Why the child was removed."),
    F_TEXT("reason_details", true, TEXT_LONG, "What happened."),
    F_ENUM("immediate_safety", true, safety_v, "The child's safety now."),
    F_ENUM("child_goes_to", true, goes_to_v, "Where the child goes now."),
    F_TEXT("child_goes_to_details", false, TEXT_LONG, "Name and place of the interim carer."),
    F_DECISION(removal_decision_v, "Seek alternative care, or reassess the family."),
};

static const hw_form_field alt_care_f[] = {
    F_DATE("decision_date", true, "Date of the decision."),
    F_ENUM("care_type", true, care_type_v,
           "Foster, kinship, supported independent living; residential only as a last resort."),
    F_TEXT("reasons", true, TEXT_LONG, "Why this care option is in the child's best interest."),
    {.name = "residential_last_resort",
     .type = HW_FT_TEXT,
     .min = 1,
     .max = TEXT_LONG,
     .since = 1,
     .required_if = "care_type=residential",
     .help = "Why no family-based option is possible (required for residential care)."},
    F_TEXT("carer", false, TEXT_SHORT, "The carer or facility."),
    F_DECISION(alt_decision_v, "Place the child, or continue family tracing."),
};

static const hw_form_field case_note_f[] = {
    F_DATE("note_date", true, "Date of the note."),
    F_TEXT("note", true, TEXT_NOTE, "What happened or was learned."),
    F_SET("topics", false, topics_v, 1, "What the note is about."),
    F_DECISION(note_decision_v, "No action, or ask a coordinator to review."),
};

#define FORM(k, t, aim_, date_, one_of_, f)                                                        \
  {                                                                                                \
    .kind = k, .schema_version = 1, .title = t, .aim = aim_, .date_field = date_,                  \
    .one_of = one_of_, .n_fields = N(f), .fields = f                                               \
  }

static const hw_form forms[] = {
    FORM("child", "Child profile",
         "Register a separated child: who they are, where and how they were found and separated, "
         "and the marks that help trace their family.",
         "registered_on", child_one_of, child_f),
    FORM("consent", "Consent and assent",
         "Record the child's assent and the caregiver's consent to case management and to sharing "
         "information, and who witnessed it.",
         "consent_date", NULL, consent_f),
    FORM("assessment", "Child assessment and preparation",
         "Assess the child's needs, risks and wishes and prepare them for reunification.",
         "assessment_date", NULL, assessment_f),
    FORM("family_assessment", "Family contact and assessment",
         "Record the family traced, the caregiver's capacity, risks and support, and the wishes "
         "of child and family; decide whether to reunify.",
         "assessment_date", NULL, family_f),
    FORM("placement", "Placement",
         "Record the reunification: when, with whom, the household and the support package.",
         "placement_date", NULL, placement_f),
    FORM("followup", "Follow-up visit",
         "Check the child's wellbeing after placement with the Child Status Index, record the "
         "services given and decide how follow-up continues.",
         "visit_date", NULL, followup_f),
    FORM("phase_out", "Phase-out",
         "Review whether the child is stable enough for follow-up to end.", "phase_out_date", NULL,
         phase_out_f),
    FORM("closure", "Case closure", "Close the case and record why.", "closure_date", NULL,
         closure_f),
    FORM("removal", "Removal from family care",
         "Record an emergency removal: why, the child's immediate safety and where they go.",
         "removal_date", NULL, removal_f),
    FORM("alt_care", "Alternative-care decision",
         "Decide family-based alternative care (foster, kinship, supported independent living), "
         "residential care only as a last resort, with the reasons.",
         "decision_date", NULL, alt_care_f),
    FORM("case_note", "Case note", "Record a contact or event that needs no other form.",
         "note_date", NULL, case_note_f),
};

size_t hw_forms_count(void)
{
  return N(forms);
}

const hw_form *hw_form_at(size_t i)
{
  return i < N(forms) ? &forms[i] : NULL;
}

static bool name_is(const char *s, const uint8_t *p, size_t len)
{
  return strlen(s) == len && memcmp(s, p, len) == 0;
}

const hw_form *hw_form_find(const char *kind, size_t kind_len)
{
  for (size_t i = 0; i < N(forms); i++)
    if (name_is(forms[i].kind, (const uint8_t *)kind, kind_len))
      return &forms[i];
  return NULL;
}

const hw_form_field *hw_form_field_find(const hw_form *form, const char *name, size_t name_len)
{
  for (size_t i = 0; i < form->n_fields; i++)
    if (name_is(form->fields[i].name, (const uint8_t *)name, name_len))
      return &form->fields[i];
  return NULL;
}

/* ---- Child Status Index ---- */

static const hw_csi_factor csi[HW_CSI_FACTORS] = {
    {"csi_food_security", "Food and nutrition", "Food security"},
    {"csi_nutrition_growth", "Food and nutrition", "Nutrition and growth"},
    {"csi_shelter", "Shelter and care", "Shelter"},
    {"csi_care", "Shelter and care", "Care"},
    {"csi_abuse_exploitation", "Protection", "Abuse and exploitation"},
    {"csi_legal_protection", "Protection", "Legal protection"},
    {"csi_wellness", "Health", "Wellness"},
    {"csi_health_services", "Health", "Health care services"},
    {"csi_emotional_health", "Psychosocial", "Emotional health"},
    {"csi_social_behaviour", "Psychosocial", "Social behaviour"},
    {"csi_performance", "Education and skills", "Performance"},
    {"csi_education_work", "Education and skills", "Education and work"},
};

const hw_csi_factor *hw_csi_factor_at(size_t i)
{
  return i < HW_CSI_FACTORS ? &csi[i] : NULL;
}

bool hw_csi_deprived(int64_t score)
{
  return score >= HW_CSI_SCORE_MIN && score <= HW_CSI_DEPRIVED_MAX;
}

static bool read_int(const hw_bytes *v, int64_t *out)
{
  hw_cbor_rd rd;

  hw_cbor_rd_init(&rd, v->p, v->len);
  return hw_cbor_read_int(&rd, out) == 0 && hw_cbor_rd_done(&rd);
}

void hw_csi_read(const hw_record *r, hw_csi *out)
{
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < HW_CSI_FACTORS; i++) {
    const hw_field *f = hw_record_field(r, csi[i].field, strlen(csi[i].field));
    int64_t s;
    if (!f)
      continue;
    out->disputed[i] = f->n_pairs > 1;
    if (!read_int(&hw_field_display(r, f)->value, &s) || s < HW_CSI_SCORE_MIN ||
        s > HW_CSI_SCORE_MAX)
      continue;
    out->known[i] = true;
    out->score[i] = (int)s;
    out->deprived[i] = hw_csi_deprived(s);
    out->n_deprived += out->deprived[i];
  }
}

/* ---- validation ---- */

static int refuse(hw_form_error *err, int code, const char *field, size_t field_len,
                  const char *fmt, ...) HW_PRINTF(5, 6);

static int refuse(hw_form_error *err, int code, const char *field, size_t field_len,
                  const char *fmt, ...)
{
  va_list ap;
  int n;

  if (!err)
    return code;
  if (field_len > HW_FIELD_NAME_MAX)
    field_len = HW_FIELD_NAME_MAX;
  memcpy(err->field, field, field_len);
  err->field[field_len] = '\0';
  n = snprintf(err->msg, sizeof err->msg, "%s%s", err->field, field_len ? ": " : "");
  if (n < 0 || (size_t)n >= sizeof err->msg)
    return code;
  va_start(ap, fmt);
  vsnprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
  va_end(ap);
  hw_utf8_cut(err->msg);
  return code;
}

static bool in_values(const char *const *values, const uint8_t *p, size_t len)
{
  for (size_t i = 0; values[i]; i++)
    if (name_is(values[i], p, len))
      return true;
  return false;
}

/* "a, b, c" into buf (truncated with "..." when long). */
static const char *list_values(const char *const *values, char *buf, size_t cap)
{
  size_t n = 0;

  buf[0] = '\0';
  for (size_t i = 0; values[i]; i++) {
    int k = snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", values[i]);
    if (k < 0 || (size_t)k >= cap - n) {
      if (cap > 4) { /* cut on a whole character: the message goes out as text */
        buf[cap - 4] = '\0';
        hw_utf8_cut(buf);
        strcat(buf, "...");
      }
      break;
    }
    n += (size_t)k;
  }
  return buf;
}

/* The rule a value of the field must keep, for the refusal's message
 * (formatted only when a value breaks it: a push validates every value). */
static void value_rule(const hw_form_field *f, char *rule, size_t cap)
{
  char vals[180];

  switch (f->type) {
  case HW_FT_BOOL:
    snprintf(rule, cap, "must be true or false");
    return;
  case HW_FT_INT:
    snprintf(rule, cap, "must be an integer %lld-%lld", (long long)f->min, (long long)f->max);
    return;
  case HW_FT_TEXT:
    snprintf(rule, cap, "must be a text of 1-%lld bytes", (long long)f->max);
    return;
  case HW_FT_DATE:
    snprintf(rule, cap, "must be a date (YYYY-MM-DD) from %d to %d", DATE_YEAR_MIN, DATE_YEAR_MAX);
    return;
  case HW_FT_ENUM:
    snprintf(rule, cap, "must be one of %s", list_values(f->values, vals, sizeof vals));
    return;
  case HW_FT_ENUM_SET:
    snprintf(rule, cap, "must be a set of %lld or more of %s", (long long)f->min,
             list_values(f->values, vals, sizeof vals));
    return;
  case HW_FT_TEXT_LIST:
    snprintf(rule, cap, "must be a list of %lld-%lld texts of 1-%lld bytes", (long long)f->min,
             (long long)f->max, (long long)f->item_max);
    return;
  case HW_FT_INT_LIST:
    snprintf(rule, cap, "must be a strictly increasing list of %lld-%lld integers %lld-%lld",
             (long long)f->min, (long long)f->max, (long long)f->item_min, (long long)f->item_max);
    return;
  }
  snprintf(rule, cap, "has an unknown type");
}

/* Control characters would reach other workers' terminals and spreadsheets
 * through show, list and export (an escape sequence can clear a screen or
 * hide text): a text holds none but tab, line feed and carriage return, and
 * no bidirectional embedding, override or isolate (which reorder what
 * follows; the marks U+200E and U+200F that keyboards type stay).
 * (hw_utf8_control says what a control character is.) */
static bool text_clean(const uint8_t *p, size_t len)
{
  for (size_t i = 0; i < len; i++) {
    uint32_t cp;
    if (hw_utf8_control(p + i, len - i, &cp) && cp != '\t' && cp != '\n' && cp != '\r')
      return false;
  }
  return true;
}

/* Whether the value has the field's type and keeps its rule. */
static bool value_fits(const hw_form_field *f, const hw_bytes *v)
{
  hw_cbor_rd rd;
  hw_cbor_item it;
  int64_t iv, prev = 0;
  uint64_t n;
  hw_date d;

  hw_cbor_rd_init(&rd, v->p, v->len);
  switch (f->type) {
  case HW_FT_BOOL:
    return hw_cbor_next(&rd, &it) == 0 && (it.type == HW_CBOR_TRUE || it.type == HW_CBOR_FALSE) &&
           hw_cbor_rd_done(&rd);
  case HW_FT_INT:
    return hw_cbor_read_int(&rd, &iv) == 0 && hw_cbor_rd_done(&rd) && iv >= f->min && iv <= f->max;
  case HW_FT_TEXT:
    return hw_cbor_read_text(&rd, &it.p, &it.len) == 0 && hw_cbor_rd_done(&rd) && it.len >= 1 &&
           it.len <= (uint64_t)f->max && text_clean(it.p, it.len);
  case HW_FT_DATE:
    return hw_value_get_date(v->p, v->len, &d) == 0 && d.year >= DATE_YEAR_MIN &&
           d.year <= DATE_YEAR_MAX;
  case HW_FT_ENUM:
    return hw_cbor_read_text(&rd, &it.p, &it.len) == 0 && hw_cbor_rd_done(&rd) &&
           in_values(f->values, it.p, it.len);
  case HW_FT_ENUM_SET: {
    const uint8_t *pp = NULL;
    size_t pl = 0;
    if (hw_cbor_read_array(&rd, &n) || n < (uint64_t)f->min || n > (uint64_t)f->max)
      return false;
    for (uint64_t i = 0; i < n; i++) {
      if (hw_cbor_read_text(&rd, &it.p, &it.len) || !in_values(f->values, it.p, it.len))
        return false;
      /* value.h: a set is sorted (shorter first, then bytewise) and unique. */
      if (i > 0 && hw_cbor_key_cmp(pp, pl, it.p, it.len) >= 0)
        return false;
      pp = it.p;
      pl = it.len;
    }
    return hw_cbor_rd_done(&rd);
  }
  case HW_FT_TEXT_LIST:
    if (hw_cbor_read_array(&rd, &n) || n < (uint64_t)f->min || n > (uint64_t)f->max)
      return false;
    for (uint64_t i = 0; i < n; i++)
      if (hw_cbor_read_text(&rd, &it.p, &it.len) || it.len < 1 || it.len > (uint64_t)f->item_max ||
          !text_clean(it.p, it.len))
        return false;
    return hw_cbor_rd_done(&rd);
  case HW_FT_INT_LIST:
    if (hw_cbor_read_array(&rd, &n) || n < (uint64_t)f->min || n > (uint64_t)f->max)
      return false;
    for (uint64_t i = 0; i < n; i++) {
      if (hw_cbor_read_int(&rd, &iv) || iv < f->item_min || iv > f->item_max ||
          (i > 0 && iv <= prev))
        return false;
      prev = iv;
    }
    return hw_cbor_rd_done(&rd);
  }
  return false;
}

/* Whether the value has the field's type and rule; false with the rule in
 * `rule` otherwise. */
/* What is wrong with the texts of a text or text-list value that has not
 * fitted, when that is what is wrong with it: NULL otherwise. */
static const char *text_fault(const hw_form_field *f, const hw_bytes *v)
{
  hw_cbor_rd rd;
  const uint8_t *p;
  size_t len;
  uint64_t n = 1;

  if (f->type != HW_FT_TEXT && f->type != HW_FT_TEXT_LIST)
    return NULL;
  hw_cbor_rd_init(&rd, v->p, v->len);
  if (f->type == HW_FT_TEXT_LIST && hw_cbor_read_array(&rd, &n))
    return NULL;
  for (uint64_t i = 0; i < n && rd.p < rd.end; i++) {
    if ((*rd.p >> 5) != 3)
      return NULL; /* not a text at all: the type's rule says it */
    if (hw_cbor_read_text(&rd, &p, &len))
      return "must be valid UTF-8 text";
    if (!text_clean(p, len))
      return "must not hold control characters (tabs and line breaks are allowed)";
  }
  return NULL;
}

static bool value_ok(const hw_form_field *f, const hw_bytes *v, char *rule, size_t cap)
{
  const char *fault;

  if (value_fits(f, v))
    return true;
  if ((fault = text_fault(f, v)) != NULL)
    snprintf(rule, cap, "%s", fault);
  else
    value_rule(f, rule, cap);
  return false;
}

static const hw_bytes *value_after(const hw_record *base, const hw_field_value *values,
                                   size_t n_values, const char *name);
static bool touched(const hw_field_value *values, size_t n_values, const char *name);
static bool given(const hw_bytes *v);

/* Whether date field `early` will be after date field `late` once the write
 * is made, when the write touches either (an old pair is not re-judged). */
static bool dates_out_of_order(const hw_record *base, const hw_field_value *values,
                               size_t n_values, const char *early, const char *late)
{
  const hw_bytes *a, *b;
  hw_date da, db;

  if (!touched(values, n_values, early) && !touched(values, n_values, late))
    return false;
  a = value_after(base, values, n_values, early);
  b = value_after(base, values, n_values, late);
  return given(a) && given(b) && hw_value_get_date(a->p, a->len, &da) == 0 &&
         hw_value_get_date(b->p, b->len, &db) == 0 &&
         (db.year * 10000 + db.month * 100 + db.day) < (da.year * 10000 + da.month * 100 + da.day);
}

/* The value a field will have after the write: the write's, else base's
 * display value, else NULL. */
static const hw_bytes *value_after(const hw_record *base, const hw_field_value *values,
                                   size_t n_values, const char *name)
{
  size_t len = strlen(name);
  const hw_field *f;

  for (size_t i = 0; i < n_values; i++)
    if (name_is(name, values[i].name.p, values[i].name.len))
      return &values[i].value;
  if (!base || !(f = hw_record_field(base, name, len)))
    return NULL;
  return &hw_field_display(base, f)->value;
}

static bool touched(const hw_field_value *values, size_t n_values, const char *name)
{
  for (size_t i = 0; i < n_values; i++)
    if (name_is(name, values[i].name.p, values[i].name.len))
      return true;
  return false;
}

static bool given(const hw_bytes *v)
{
  return v && !hw_value_is_null(v->p, v->len);
}

int hw_form_validate(const char *kind, size_t kind_len, uint32_t schema_version,
                     const hw_record *base, const hw_field_value *values, size_t n_values,
                     hw_form_error *err)
{
  const hw_form *form = hw_form_find(kind, kind_len);
  bool creating = !base || base->n_writes == 0;
  char rule[220];

  if (err)
    memset(err, 0, sizeof *err);
  if (!form) {
    char k[HW_KIND_MAX + 1];
    size_t n = kind_len < HW_KIND_MAX ? kind_len : HW_KIND_MAX;
    memcpy(k, kind, n);
    k[n] = '\0';
    return refuse(err, HW_ENOENT, "", 0, "kind \"%s\" is not known (schema version %u)", k,
                  (unsigned)schema_version);
  }
  for (size_t i = 0; i < n_values; i++) {
    const hw_field_value *fv = &values[i];
    const char *name = (const char *)fv->name.p;
    const hw_form_field *f;

    for (size_t k = 0; k < i; k++)
      if (fv->name.len == values[k].name.len && memcmp(name, values[k].name.p, fv->name.len) == 0)
        return refuse(err, HW_EVALIDATE, name, fv->name.len, "given twice in one write");
    /* The model owns the voided field (hw_record_void checks its value). */
    if (name_is(HW_FIELD_VOIDED, fv->name.p, fv->name.len))
      continue;
    f = hw_form_field_find(form, name, fv->name.len);
    if (!f) {
      /* forms.md §2: a field of a newer schema is kept unchecked. */
      if (schema_version > form->schema_version)
        continue;
      return refuse(err, HW_EVALIDATE, name, fv->name.len,
                    "not a field of form %s (schema version %u)", form->kind,
                    (unsigned)form->schema_version);
    }
    if (!fv->value.p || fv->value.len == 0)
      return refuse(err, HW_EVALIDATE, name, fv->name.len, "has no value");
    if (hw_value_is_null(fv->value.p, fv->value.len)) {
      if (f->required)
        return refuse(err, HW_EVALIDATE, name, fv->name.len, "is required and cannot be cleared");
      continue; /* clearing an optional answer */
    }
    if (!value_ok(f, &fv->value, rule, sizeof rule))
      return refuse(err, HW_EVALIDATE, name, fv->name.len, "%s", rule);
  }
  /* Rules across fields, on the values the record will hold after the write. */
  for (size_t i = 0; i < form->n_fields; i++) {
    const hw_form_field *f = &form->fields[i];
    const hw_bytes *v = value_after(creating ? NULL : base, values, n_values, f->name);
    /* Required on create; a field newer than the writer's schema is not. */
    if (creating && f->required && f->since <= schema_version && !given(v))
      return refuse(err, HW_EVALIDATE, f->name, strlen(f->name), "is required");
    if (f->required_if) {
      const char *eq = strchr(f->required_if, '=');
      char other[HW_FIELD_NAME_MAX + 1];
      size_t ol = (size_t)(eq - f->required_if);
      const hw_bytes *ov;
      hw_cbor_rd rd;
      const uint8_t *tp;
      size_t tl;
      memcpy(other, f->required_if, ol);
      other[ol] = '\0';
      /* Only a write that touches one of the two fields is judged by the
       * rule, so a state merged from elsewhere never blocks other edits. */
      if (!touched(values, n_values, f->name) && !touched(values, n_values, other))
        continue;
      ov = value_after(base, values, n_values, other);
      if (!given(ov))
        continue;
      hw_cbor_rd_init(&rd, ov->p, ov->len);
      if (hw_cbor_read_text(&rd, &tp, &tl) == 0 && name_is(eq + 1, tp, tl) &&
          !given(value_after(base, values, n_values, f->name)))
        return refuse(err, HW_EVALIDATE, f->name, strlen(f->name), "is required when %s is %s",
                      other, eq + 1);
    }
    if (f->after && dates_out_of_order(base, values, n_values, f->after, f->name))
      return refuse(err, HW_EVALIDATE, f->name, strlen(f->name), "must not be before %s",
                    f->after);
    if (f->before && dates_out_of_order(base, values, n_values, f->name, f->before))
      return refuse(err, HW_EVALIDATE, f->name, strlen(f->name), "must not be after %s",
                    f->before);
  }
  if (creating && form->one_of) {
    bool any = false;
    char names[160];
    for (size_t i = 0; form->one_of[i]; i++)
      any |= given(value_after(NULL, values, n_values, form->one_of[i]));
    if (!any)
      return refuse(err, HW_EVALIDATE, form->one_of[0], strlen(form->one_of[0]),
                    "one of %s is required", list_values(form->one_of, names, sizeof names));
  }
  return HW_OK;
}
