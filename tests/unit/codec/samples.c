/* Realistic record states built through the model's own write and merge. */
#include "samples.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "homeward/merge.h"
#include "homeward/value.h"

const hw_id sample_rec_id = {{0x52, 0x45, 0x43, 0x01, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70,
                              0x80, 0x90, 0xa0, 0xb0, 0xc0}};
const hw_id sample_case_id = {{0x43, 0x41, 0x53, 0x45, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                               0x08, 0x09, 0x0a, 0x0b, 0x0c}};
const hw_id sample_dev_a = {{0x0a, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                             0x11, 0x11, 0x11, 0x11}};
const hw_id sample_dev_b = {{0x0b, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
                             0x22, 0x22, 0x22, 0x22}};
const hw_id sample_server = {{0xfe, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33,
                              0x33, 0x33, 0x33, 0x33, 0x33}};

static void encode_one(hw_cbor_wr *w, const sample_fv *f)
{
  const char *t = f->text;
  hw_date d;

  switch (f->type) {
  case 't':
  case 'e':
    hw_cbor_wr_text(w, t, strlen(t));
    break;
  case 'i':
    hw_cbor_wr_int(w, strtoll(t, NULL, 10));
    break;
  case 'b':
    hw_cbor_wr_bool(w, t[0] == '1');
    break;
  case 'n':
    hw_cbor_wr_null(w);
    break;
  case 'd':
    CHECK_OK(hw_date_parse(t, strlen(t), &d));
    hw_value_put_date(w, &d);
    break;
  case 's':
  case 'l': {
    hw_bytes items[32];
    size_t n = 0;
    char sep = f->type == 's' ? ',' : '|';
    const char *p = t;
    while (*p) {
      const char *e = strchr(p, sep);
      size_t len = e ? (size_t)(e - p) : strlen(p);
      CHECK(n < 32);
      items[n++] = (hw_bytes){(const uint8_t *)p, len};
      p += len + (e != NULL);
    }
    if (f->type == 's') {
      hw_value_put_enum_set(w, items, n);
    } else {
      hw_cbor_wr_array(w, n);
      for (size_t i = 0; i < n; i++)
        hw_cbor_wr_text(w, items[i].p, items[i].len);
    }
    break;
  }
  default:
    CHECK(!"bad sample type");
  }
}

void sample_encode(sample_write *sw, const sample_fv *fv, size_t n)
{
  CHECK(n <= SAMPLE_FIELDS_MAX);
  sw->n = n;
  for (size_t i = 0; i < n; i++) {
    hw_cbor_wr w;
    hw_cbor_wr_init_fixed(&w, sw->buf[i], sizeof sw->buf[i]);
    encode_one(&w, &fv[i]);
    CHECK_OK(hw_cbor_wr_finish(&w));
    sw->fv[i].name = (hw_bytes){(const uint8_t *)fv[i].name, strlen(fv[i].name)};
    sw->fv[i].value = (hw_bytes){sw->buf[i], w.len};
  }
}

static hw_record *write_on(const hw_record *base, const hw_id *replica, uint64_t counter,
                           int64_t wall, const char *author, const sample_fv *fv, size_t n)
{
  static sample_write sw; /* large: keep off the stack */
  hw_record *out = NULL;
  hw_write w;

  sample_encode(&sw, fv, n);
  w = (hw_write){.dot = {*replica, counter},
                 .wall_ms = wall,
                 .author = {(const uint8_t *)author, strlen(author)},
                 .schema_version = 1,
                 .n_fields = sw.n,
                 .fields = sw.fv};
  CHECK_OK(hw_record_write(&out, base, &w));
  return out;
}

hw_record *sample_record(const char *kind, uint64_t counter, const sample_fv *fv, size_t n)
{
  hw_record *base = NULL, *r;

  CHECK_OK(hw_record_new(&base, &sample_rec_id, &sample_case_id, kind, strlen(kind), 1));
  r = write_on(base, &sample_dev_a, counter, 1767225600000 + (int64_t)counter * 1000, "amina.k", fv,
               n);
  hw_record_free(base);
  return r;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const sample_fv child[] = {
    {"registered_on", 'd', "2026-01-12"},
    {"given_name", 't', "Amani"},
    {"family_name", 't', "Nyirahabimana"},
    {"aliases", 'l', "Ami|Mama Ami"},
    {"sex", 'e', "female"},
    {"age_estimate_years", 'i', "11"},
    {"languages", 'l', "Kinyarwanda|Swahili|French"},
    {"photo_ref", 't', "photo:7f3a9c2e"},
    {"found_date", 'd', "2026-01-10"},
    {"found_place", 't', "Bus station, Goma, near the market entrance"},
    {"separation_cause", 'e', "conflict"},
    {"separation_details", 't', "Separated from mother during displacement from Rutshuru."},
    {"identifying_marks", 't', "Scar above left eyebrow; speaks with a slight lisp."},
    {"decision", 'e', "open_case"},
};

static const sample_fv consent[] = {
    {"consent_date", 'd', "2026-01-13"},
    {"child_assent", 'e', "given"},
    {"caregiver_consent", 'e', "no_caregiver"},
    {"information_sharing", 'b', "1"},
    {"sharing_with", 's', "tracing_agencies,health_services"},
    {"witnessed_by", 't', "Grace M. (social worker)"},
    {"decision", 'e', "proceed"},
};

static const sample_fv assessment[] = {
    {"assessment_date", 'd', "2026-01-20"},
    {"needs", 's', "psychosocial,education,family_tracing"},
    {"risks", 't', "Was approached by an armed group recruiter at the station."},
    {"child_wishes", 't', "Wants to go back to her mother and to school."},
    {"readiness", 'e', "partly_ready"},
    {"preparation_activities", 'l', "Weekly counselling|Life-skills group"},
    {"decision", 'e', "start_family_tracing"},
};

static const sample_fv family_assessment[] = {
    {"assessment_date", 'd', "2026-02-14"},
    {"traced_person", 't', "Claudine Uwase"},
    {"relationship", 'e', "mother"},
    {"location", 't', "Kiwanja, Rutshuru territory"},
    {"visits_made", 'i', "2"},
    {"caregiver_capacity", 'e', "needs_support"},
    {"risks", 't', "Household food insecurity."},
    {"community_support", 't', "Church women's group, local child protection committee."},
    {"child_wishes", 't', "Wants to live with her mother."},
    {"family_wishes", 't', "Mother wants her back and asks for help with school fees."},
    {"decision", 'e', "reunify"},
};

static const sample_fv placement[] = {
    {"placement_date", 'd', "2026-01-31"},
    {"caregiver_name", 't', "Claudine Uwase"},
    {"relationship", 'e', "mother"},
    {"household_members", 'i', "5"},
    {"address", 't', "Kiwanja, cell 4, house behind the health post"},
    {"support_package", 's', "school_fees,food,household_items"},
    {"decision", 'e', "start_follow_up"},
};

static const sample_fv followup[] = {
    {"visit_date", 'd', "2026-03-02"},
    {"visit_type", 'e', "home_visit"},
    {"csi_food_security", 'i', "2"},
    {"csi_nutrition_growth", 'i', "3"},
    {"csi_shelter", 'i', "3"},
    {"csi_care", 'i', "4"},
    {"csi_abuse_exploitation", 'i', "3"},
    {"csi_legal_protection", 'i', "1"},
    {"csi_wellness", 'i', "3"},
    {"csi_health_services", 'i', "2"},
    {"csi_emotional_health", 'i', "3"},
    {"csi_social_behaviour", 'i', "4"},
    {"csi_performance", 'i', "2"},
    {"csi_education_work", 'i', "3"},
    {"services_provided", 's', "food,education_support,legal_aid,psychosocial"},
    {"significant_events", 't',
     "Started primary 5 at the local school on 16 February. Birth registration still missing: "
     "referred to the civil registry with the mother. One episode of malaria, treated at the "
     "health post."},
    {"next_visit_due", 'd', "2026-04-30"},
    {"notes", 't',
     "Amani was at home with her mother and two younger siblings and showed her school "
     "exercise books. Meals drop to one a day at the end of the month when the cash transfer "
     "runs out. No signs of harm; Amani said she feels safe. Agreed: food support for two "
     "months, follow up the birth certificate."},
    {"decision", 'e', "increase_support"},
};

static const sample_fv phase_out[] = {
    {"phase_out_date", 'd', "2027-01-15"},
    {"criteria_met", 's', "stable_care,school_enrolled,health_stable,child_agrees"},
    {"final_csi_reviewed", 'b', "1"},
    {"notes", 't', "All domains scored 3 or 4 at the last two visits."},
    {"decision", 'e', "close_case"},
};

static const sample_fv closure[] = {
    {"closure_date", 'd', "2027-02-01"},
    {"reason", 'e', "reintegrated"},
    {"details", 't', "Stable at home for twelve months."},
    {"decision", 'e', "close_case"},
};

static const sample_fv removal[] = {
    {"removal_date", 'd', "2026-05-03"},
    {"reason", 'e', "abuse"},
    {"reason_details", 't', "Physical abuse by a household member reported by the school."},
    {"immediate_safety", 'e', "emergency"},
    {"child_goes_to", 'e', "emergency_foster"},
    {"child_goes_to_details", 't', "Emergency foster family of the parish, vetted 2025."},
    {"decision", 'e', "seek_alternative_care"},
};

static const sample_fv alt_care[] = {
    {"decision_date", 'd', "2026-05-20"},
    {"care_type", 'e', "kinship"},
    {"reasons", 't', "Maternal aunt in Goma is willing and assessed as able to care."},
    {"carer", 't', "Jeanne Mukamana (aunt)"},
    {"decision", 'e', "place"},
};

static const sample_fv case_note[] = {
    {"note_date", 'd', "2026-02-20"},
    {"note", 't', "Phoned the mother: she has found seasonal work; visit confirmed."},
    {"topics", 's', "family"},
    {"decision", 'e', "no_action"},
};

static const struct {
  const char *kind;
  const sample_fv *fv;
  size_t n;
} kinds[] = {
    {"child", child, N(child)},
    {"consent", consent, N(consent)},
    {"assessment", assessment, N(assessment)},
    {"family_assessment", family_assessment, N(family_assessment)},
    {"placement", placement, N(placement)},
    {"followup", followup, N(followup)},
    {"phase_out", phase_out, N(phase_out)},
    {"closure", closure, N(closure)},
    {"removal", removal, N(removal)},
    {"alt_care", alt_care, N(alt_care)},
    {"case_note", case_note, N(case_note)},
};

size_t sample_n_kinds(void)
{
  return N(kinds);
}

const char *sample_kind(size_t i)
{
  return kinds[i].kind;
}

const sample_fv *sample_kind_fields(size_t i, size_t *n)
{
  *n = kinds[i].n;
  return kinds[i].fv;
}

hw_record *sample_followup(void)
{
  return sample_record("followup", 7, followup, N(followup));
}

static const sample_fv edit_b[] = {{"decision", 'e', "continue"}};
static const sample_fv edit_s[] = {{"decision", 'e', "remove"}};

hw_record *sample_conflicted(size_t i)
{
  hw_record *a = sample_record(kinds[i].kind, 3, kinds[i].fv, kinds[i].n);
  hw_record *b = write_on(a, &sample_dev_b, 9, 1767312000000, "joseph.n", edit_b, 1);
  hw_record *s = write_on(a, &sample_server, 21, 1767312005000, "coordinator", edit_s, 1);
  hw_record *m = NULL;
  hw_merge_info info;

  CHECK_OK(hw_merge(&m, b, s, &info));
  CHECK(hw_record_n_conflicts(m) == 1);
  hw_record_free(a);
  hw_record_free(b);
  hw_record_free(s);
  return m;
}

hw_record *sample_voided(size_t i)
{
  hw_record *a = sample_record(kinds[i].kind, 3, kinds[i].fv, kinds[i].n);
  hw_record *b = NULL, *e, *m = NULL;
  hw_write w = {.dot = {sample_dev_b, 12},
                .wall_ms = 1767398400000,
                .author = {(const uint8_t *)"joseph.n", 8},
                .schema_version = 1};
  static const char reason[] = "Entered on the wrong child's case";
  hw_merge_info info;
  hw_void_status vs;

  CHECK_OK(hw_record_void(&b, a, &w, reason, sizeof reason - 1));
  e = write_on(a, &sample_dev_a, 4, 1767398401000, "amina.k", edit_b, 1);
  CHECK_OK(hw_merge(&m, b, e, &info));
  CHECK_OK(hw_record_void_status(m, &vs));
  CHECK(vs.voided && vs.disputed);
  hw_record_free(a);
  hw_record_free(b);
  hw_record_free(e);
  return m;
}
