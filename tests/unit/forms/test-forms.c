/* The SOP forms (docs/forms.md): every kind's valid writes pass; every rule of
 * every field, broken on purpose, is refused with a message naming the field
 * and the rule; unknown fields and kinds follow the documented policy. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "homeward/crypto.h"
#include "homeward/forms.h"
#include "homeward/value.h"
#include "samples.h"

static sample_write SW;

/* The sample create script of `kind` with field `name` set to `bad` (added
 * when the script lacks it; dropped when bad is NULL). */
typedef struct edited {
  hw_field_value fv[SAMPLE_FIELDS_MAX + 1];
  size_t n;
} edited;

static void edit(edited *e, size_t kind_i, const char *name, const hw_bytes *bad)
{
  size_t n;
  const sample_fv *fv = sample_kind_fields(kind_i, &n);
  bool found = false;

  sample_encode(&SW, fv, n);
  e->n = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(fv[i].name, name) == 0) {
      found = true;
      if (!bad)
        continue;
      e->fv[e->n] = SW.fv[i];
      e->fv[e->n++].value = *bad;
      continue;
    }
    e->fv[e->n++] = SW.fv[i];
  }
  if (!found && bad) {
    e->fv[e->n].name = (hw_bytes){(const uint8_t *)name, strlen(name)};
    e->fv[e->n++].value = *bad;
  }
}

static int validate(size_t kind_i, uint32_t version, const hw_record *base, const edited *e,
                    hw_form_error *err)
{
  const char *k = sample_kind(kind_i);
  return hw_form_validate(k, strlen(k), version, base, e->fv, e->n, err);
}

static void expect_refused(size_t kind_i, const char *name, const hw_bytes *bad, const char *why)
{
  edited e;
  hw_form_error err;
  int rc;
  size_t nl = strlen(name);

  edit(&e, kind_i, name, bad);
  rc = validate(kind_i, 1, NULL, &e, &err);
  if (rc != HW_EVALIDATE || strcmp(err.field, name) != 0 || strncmp(err.msg, name, nl) != 0 ||
      strncmp(err.msg + nl, ": ", 2) != 0)
    fprintf(stderr, "%s.%s (%s): rc %s, field '%s', msg '%s'\n", sample_kind(kind_i), name, why,
            hw_errname(rc), err.field, err.msg);
  CHECK_ERR(rc, HW_EVALIDATE);
  CHECK(strcmp(err.field, name) == 0);
  CHECK(strncmp(err.msg, name, nl) == 0 && strncmp(err.msg + nl, ": ", 2) == 0);
}

/* ---- encoded values ---- */

static uint8_t pool[64][20000];
static size_t pool_n;

static hw_cbor_wr *wr(void)
{
  static hw_cbor_wr w;
  CHECK(pool_n < 64);
  hw_cbor_wr_init_fixed(&w, pool[pool_n], sizeof pool[pool_n]);
  return &w;
}

static hw_bytes done(hw_cbor_wr *w)
{
  CHECK_OK(hw_cbor_wr_finish(w));
  return (hw_bytes){pool[pool_n++], w->len};
}

static hw_bytes v_int(int64_t i)
{
  hw_cbor_wr *w = wr();
  hw_cbor_wr_int(w, i);
  return done(w);
}

static hw_bytes v_text_n(size_t n, char c)
{
  static char buf[20000];
  hw_cbor_wr *w = wr();
  memset(buf, c, n);
  hw_cbor_wr_text(w, buf, n);
  return done(w);
}

static hw_bytes v_text(const char *s)
{
  hw_cbor_wr *w = wr();
  hw_cbor_wr_text(w, s, strlen(s));
  return done(w);
}

/* Bytes as given: a CBOR text header over bytes that are not UTF-8. */
static hw_bytes v_raw(const uint8_t *b, size_t n)
{
  CHECK(pool_n < 64 && n <= sizeof pool[pool_n]);
  memcpy(pool[pool_n], b, n);
  return (hw_bytes){pool[pool_n++], n};
}

static hw_bytes v_null(void)
{
  hw_cbor_wr *w = wr();
  hw_cbor_wr_null(w);
  return done(w);
}

static hw_bytes v_texts(size_t n, const char *const *items)
{
  hw_cbor_wr *w = wr();
  hw_cbor_wr_array(w, n);
  for (size_t i = 0; i < n; i++)
    hw_cbor_wr_text(w, items[i], strlen(items[i]));
  return done(w);
}

static hw_bytes v_ints(size_t n, const int *items)
{
  hw_cbor_wr *w = wr();
  hw_cbor_wr_array(w, n);
  for (size_t i = 0; i < n; i++)
    hw_cbor_wr_int(w, items[i]);
  return done(w);
}

static hw_bytes v_date(int y, int m, int d)
{
  hw_cbor_wr *w = wr();
  hw_date dd = {y, m, d};
  hw_value_put_date(w, &dd);
  return done(w);
}

/* ---- tests ---- */

static void test_tables(void)
{
  CHECK_EQ(hw_forms_count(), sample_n_kinds());
  CHECK_EQ(hw_forms_count(), 11);
  for (size_t i = 0; i < hw_forms_count(); i++) {
    const hw_form *f = hw_form_at(i);
    CHECK(f->aim && strlen(f->aim) > 20);
    CHECK(f->title && f->title[0]);
    CHECK(f->n_fields >= 2);
    /* Every form ends in a decision, which is a required enum. */
    CHECK(strcmp(f->fields[f->n_fields - 1].name, HW_FIELD_DECISION) == 0);
    CHECK(f->fields[f->n_fields - 1].type == HW_FT_ENUM);
    CHECK(f->fields[f->n_fields - 1].required);
    CHECK(hw_form_field_find(f, f->date_field, strlen(f->date_field)) != NULL);
    CHECK(hw_form_find(f->kind, strlen(f->kind)) == f);
    for (size_t k = 0; k < f->n_fields; k++) {
      const hw_form_field *ff = &f->fields[k];
      CHECK(ff->help && ff->help[0]);
      CHECK(ff->since == 1);
      CHECK(strlen(ff->name) <= HW_FIELD_NAME_MAX);
      CHECK(strcmp(ff->name, HW_FIELD_VOIDED) != 0);
      CHECK((ff->type == HW_FT_ENUM || ff->type == HW_FT_ENUM_SET) == (ff->values != NULL));
      for (size_t j = 0; j < k; j++)
        CHECK(strcmp(f->fields[j].name, ff->name) != 0);
    }
  }
  CHECK(hw_form_at(hw_forms_count()) == NULL);
}

static void test_valid_writes(void)
{
  for (size_t i = 0; i < sample_n_kinds(); i++) {
    size_t n;
    const sample_fv *fv = sample_kind_fields(i, &n);
    hw_form_error err;
    hw_record *r;
    const char *k = sample_kind(i);
    int rc;

    sample_encode(&SW, fv, n);
    rc = hw_form_validate(k, strlen(k), 1, NULL, SW.fv, SW.n, &err);
    if (rc)
      fprintf(stderr, "%s: %s\n", k, err.msg);
    CHECK_OK(rc);
    CHECK(err.msg[0] == '\0');
    /* An edit of one optional or required field on an existing record. */
    r = sample_record(k, 1, fv, n);
    CHECK_OK(hw_form_validate(k, strlen(k), 1, r, &SW.fv[n - 1], 1, &err));
    /* Clearing an optional field. */
    {
      const hw_form *f = hw_form_find(k, strlen(k));
      for (size_t j = 0; j < f->n_fields; j++)
        if (!f->fields[j].required && !f->fields[j].required_if) {
          hw_field_value c = {{(const uint8_t *)f->fields[j].name, strlen(f->fields[j].name)},
                              v_null()};
          CHECK_OK(hw_form_validate(k, strlen(k), 1, r, &c, 1, &err));
          pool_n--;
          break;
        }
    }
    hw_record_free(r);
  }
}

/* Each rule of each field of each form, broken once. */
static void test_every_rule(void)
{
  static const char *const two_bad[] = {"zzz_unknown"};
  static const char *const empty_text[] = {""};
  size_t refused = 0;

  for (size_t i = 0; i < sample_n_kinds(); i++) {
    const hw_form *f = hw_form_find(sample_kind(i), strlen(sample_kind(i)));
    for (size_t k = 0; k < f->n_fields; k++) {
      const hw_form_field *ff = &f->fields[k];
      const char *nm = ff->name;
      hw_bytes b;
      size_t mark = pool_n;

#define BAD(val, why)                                                                              \
  do {                                                                                             \
    b = (val);                                                                                     \
    expect_refused(i, nm, &b, why);                                                                \
    refused++;                                                                                     \
  } while (0)

      if (ff->required) {
        BAD(v_null(), "required, null");
        expect_refused(i, nm, NULL, "required, missing");
        refused++;
      }
      switch (ff->type) {
      case HW_FT_BOOL:
        BAD(v_text("yes"), "bool as text");
        BAD(v_int(1), "bool as int");
        break;
      case HW_FT_INT:
        BAD(v_int(ff->min - 1), "int below min");
        BAD(v_int(ff->max + 1), "int above max");
        BAD(v_text("3"), "int as text");
        break;
      case HW_FT_TEXT:
        BAD(v_text(""), "text empty");
        BAD(v_text_n((size_t)ff->max + 1, 'x'), "text over max");
        BAD(v_int(5), "text as int");
        break;
      case HW_FT_DATE:
        BAD(v_text("2026-01-01"), "date without tag");
        BAD(v_int(20260101), "date as int");
        break;
      case HW_FT_ENUM:
        BAD(v_text("zzz_unknown"), "enum value unknown");
        BAD(v_int(1), "enum as int");
        break;
      case HW_FT_ENUM_SET: {
        const char *unsorted[2];
        BAD(v_texts(1, two_bad), "set value unknown");
        BAD(v_texts(0, NULL), "set empty");
        BAD(v_text(ff->values[0]), "set as text");
        if (ff->values[1]) {
          /* Two values out of canonical order. */
          int c = (int)strlen(ff->values[0]) - (int)strlen(ff->values[1]);
          if (c == 0)
            c = strcmp(ff->values[0], ff->values[1]);
          unsorted[0] = c > 0 ? ff->values[1] : ff->values[0];
          unsorted[1] = c > 0 ? ff->values[0] : ff->values[1];
          {
            const char *rev[2] = {unsorted[1], unsorted[0]};
            BAD(v_texts(2, rev), "set not sorted");
          }
          {
            const char *dup[2] = {ff->values[0], ff->values[0]};
            BAD(v_texts(2, dup), "set repeated");
          }
        }
        break;
      }
      case HW_FT_TEXT_LIST: {
        const char *many[64];
        CHECK(ff->max < 64);
        for (int64_t j = 0; j <= ff->max; j++)
          many[j] = "a";
        BAD(v_texts(0, NULL), "list empty");
        BAD(v_texts(1, empty_text), "list item empty");
        BAD(v_texts((size_t)ff->max + 1, many), "list too long");
        BAD(v_text("a"), "list as text");
        break;
      }
      case HW_FT_INT_LIST: {
        static const int down[] = {3, 1}, zero[] = {0}, big[] = {37};
        BAD(v_ints(2, down), "int list not increasing");
        BAD(v_ints(1, zero), "int list item below min");
        BAD(v_ints(1, big), "int list item above max");
        BAD(v_ints(0, NULL), "int list empty");
        break;
      }
      }
      pool_n = mark;
    }
  }
  printf("every rule: %zu violations refused, each naming its field\n", refused);
  CHECK(refused > 250);
}

static void check_msg(size_t kind_i, const char *name, hw_bytes bad, const char *want)
{
  edited e;
  hw_form_error err;

  edit(&e, kind_i, name, &bad);
  CHECK_ERR(validate(kind_i, 1, NULL, &e, &err), HW_EVALIDATE);
  if (strcmp(err.msg, want) != 0)
    fprintf(stderr, "got '%s'\nwant '%s'\n", err.msg, want);
  CHECK(strcmp(err.msg, want) == 0);
}

static size_t kind_index(const char *k)
{
  for (size_t i = 0; i < sample_n_kinds(); i++)
    if (strcmp(sample_kind(i), k) == 0)
      return i;
  CHECK(!"no such kind");
  return 0;
}

static void test_messages(void)
{
  size_t fu = kind_index("followup"), ch = kind_index("child"), pl = kind_index("placement");

  check_msg(fu, "csi_food_security", v_int(5), "csi_food_security: must be an integer 1-4");
  check_msg(fu, "csi_care", v_int(0), "csi_care: must be an integer 1-4");
  check_msg(fu, "decision", v_text("stop"),
            "decision: must be one of continue, increase_support, phase_out, remove");
  check_msg(fu, "visit_date", v_text("2026-03-02"),
            "visit_date: must be a date (YYYY-MM-DD) from 1900 to 2100");
  check_msg(fu, "visit_date", v_date(9999, 12, 31),
            "visit_date: must be a date (YYYY-MM-DD) from 1900 to 2100");
  check_msg(fu, "visit_date", v_date(1899, 12, 31),
            "visit_date: must be a date (YYYY-MM-DD) from 1900 to 2100");
  check_msg(fu, "next_visit_due", v_date(2026, 3, 1),
            "next_visit_due: must not be before "
            "visit_date");
  check_msg(ch, "given_name", v_text(""), "given_name: must be a text of 1-100 bytes");
  /* Escape sequences and other controls would reach other workers' screens. */
  check_msg(ch, "given_name", v_text("A\x1b[2Jcleared"),
            "given_name: must not hold control characters (tabs and line breaks are allowed)");
  check_msg(ch, "given_name", v_text("bell\x07"),
            "given_name: must not hold control characters (tabs and line breaks are allowed)");
  check_msg(ch, "given_name", v_text("del\x7f"),
            "given_name: must not hold control characters (tabs and line breaks are allowed)");
  check_msg(ch, "given_name", v_text("c1 \xc2\x9b" "31m"), /* U+009B, the C1 escape */
            "given_name: must not hold control characters (tabs and line breaks are allowed)");
  check_msg(ch, "aliases", v_texts(2, (const char *const[]){"Ama", "K\x1b]0;x\x07"}),
            "aliases: must not hold control characters (tabs and line breaks are allowed)");
  check_msg(ch, "given_name", v_text("Ama\xe2\x80\xae" "nekaw"), /* U+202E reverses the rest */
            "given_name: must not hold control characters (tabs and line breaks are allowed)");
  check_msg(ch, "given_name", v_raw((const uint8_t[]){0x62, 0xff, 0xfe}, 3),
            "given_name: must be valid UTF-8 text");
  check_msg(ch, "given_name", v_int(3), "given_name: must be a text of 1-100 bytes");
  /* A child is found and born before the case is opened, whichever date moves. */
  check_msg(ch, "found_date", v_date(2026, 1, 13), "found_date: must not be after registered_on");
  check_msg(ch, "date_of_birth", v_date(2030, 1, 1),
            "date_of_birth: must not be after registered_on");
  check_msg(ch, "registered_on", v_date(2026, 1, 9),
            "found_date: must not be after registered_on");
  check_msg(ch, "sex", v_null(), "sex: is required and cannot be cleared");
  check_msg(pl, "followup_months", v_ints(2, (const int[]){6, 6}),
            "followup_months: must be a strictly increasing list of 1-24 integers 1-36");
  pool_n = 0;
}

static void test_cross_field_rules(void)
{
  size_t ac = kind_index("alt_care"), ch = kind_index("child"), fu = kind_index("followup");
  edited e;
  hw_form_error err;
  hw_bytes res = v_text("residential"), why = v_text("No relative or foster family found.");
  hw_record *r;
  size_t n;
  const sample_fv *fv;

  /* Residential care only as a last resort: the reason is required. */
  edit(&e, ac, "care_type", &res);
  CHECK_ERR(validate(ac, 1, NULL, &e, &err), HW_EVALIDATE);
  CHECK(strcmp(err.msg, "residential_last_resort: is required when care_type is residential") == 0);
  e.fv[e.n].name = (hw_bytes){(const uint8_t *)"residential_last_resort", 23};
  e.fv[e.n++].value = why;
  CHECK_OK(validate(ac, 1, NULL, &e, &err));
  /* ... also when a later edit switches an existing record to residential. */
  fv = sample_kind_fields(ac, &n);
  r = sample_record("alt_care", 1, fv, n);
  {
    hw_field_value one = {{(const uint8_t *)"care_type", 9}, res};
    hw_field_value two[2] = {one, {{(const uint8_t *)"residential_last_resort", 23}, why}};
    CHECK_ERR(hw_form_validate("alt_care", 8, 1, r, &one, 1, &err), HW_EVALIDATE);
    CHECK(strcmp(err.field, "residential_last_resort") == 0);
    CHECK_OK(hw_form_validate("alt_care", 8, 1, r, two, 2, &err));
  }
  hw_record_free(r);
  /* Date of birth or estimated age. */
  edit(&e, ch, "age_estimate_years", NULL);
  CHECK_ERR(validate(ch, 1, NULL, &e, &err), HW_EVALIDATE);
  CHECK(strcmp(err.msg, "date_of_birth: one of date_of_birth, age_estimate_years is required") ==
        0);
  {
    hw_bytes dob = v_date(2014, 6, 1);
    edit(&e, ch, "date_of_birth", &dob);
    CHECK_OK(validate(ch, 1, NULL, &e, &err));
  }
  /* next_visit_due against the record's visit_date when only one is written. */
  fv = sample_kind_fields(fu, &n);
  r = sample_record("followup", 1, fv, n);
  {
    hw_field_value nv = {{(const uint8_t *)"next_visit_due", 14}, v_date(2026, 3, 1)};
    CHECK_ERR(hw_form_validate("followup", 8, 1, r, &nv, 1, &err), HW_EVALIDATE);
    CHECK(strcmp(err.field, "next_visit_due") == 0);
    nv.value = v_date(2026, 3, 2);
    CHECK_OK(hw_form_validate("followup", 8, 1, r, &nv, 1, &err));
  }
  hw_record_free(r);
  pool_n = 0;
}

static void test_unknown_policy(void)
{
  size_t fu = kind_index("followup");
  edited e;
  hw_form_error err;
  hw_bytes x = v_text("from a newer form");
  static const uint8_t bad_csi[] = {0x05};
  hw_field_value fv = {{(const uint8_t *)"decision", 8}, v_text("continue")};

  /* An unknown field at our schema version: refused, named. */
  edit(&e, fu, "csi_future_domain", &x);
  CHECK_ERR(validate(fu, 1, NULL, &e, &err), HW_EVALIDATE);
  CHECK(strcmp(err.msg, "csi_future_domain: not a field of form followup (schema version 1)") == 0);
  /* From a newer schema version: kept unchecked ... */
  CHECK_OK(validate(fu, 2, NULL, &e, &err));
  /* ... while the known fields are still checked. */
  e.fv[2].value = (hw_bytes){bad_csi, 1};
  CHECK_ERR(validate(fu, 2, NULL, &e, &err), HW_EVALIDATE);
  CHECK(strcmp(err.field, (const char *)"csi_food_security") == 0);
  /* An unknown kind is reported as such (the server quarantines it). */
  CHECK_ERR(hw_form_validate("home_study", 10, 3, NULL, &fv, 1, &err), HW_ENOENT);
  CHECK(strcmp(err.msg, "kind \"home_study\" is not known (schema version 3)") == 0);
  CHECK_ERR(hw_form_validate("home_study", 10, 3, NULL, &fv, 1, NULL), HW_ENOENT);
  /* A name given twice in one write. */
  {
    hw_field_value twice[2] = {fv, fv};
    CHECK_ERR(hw_form_validate("followup", 8, 1, NULL, twice, 2, &err), HW_EVALIDATE);
    CHECK(strcmp(err.msg, "decision: given twice in one write") == 0);
  }
  /* The voided field belongs to the model: a void write is not a form write. */
  {
    hw_field_value v = {{(const uint8_t *)HW_FIELD_VOIDED, 6}, v_null()};
    hw_record *r;
    size_t n;
    const sample_fv *s = sample_kind_fields(fu, &n);
    r = sample_record("followup", 1, s, n);
    CHECK_OK(hw_form_validate("followup", 8, 1, r, &v, 1, &err));
    hw_record_free(r);
  }
  pool_n = 0;
}

static void test_csi(void)
{
  hw_record *r = sample_followup();
  hw_csi c;

  CHECK(!hw_csi_deprived(0));
  CHECK(hw_csi_deprived(1));
  CHECK(hw_csi_deprived(2));
  CHECK(!hw_csi_deprived(3));
  CHECK(!hw_csi_deprived(4));
  CHECK(!hw_csi_deprived(5));
  hw_csi_read(r, &c);
  /* The sample scores: 2 3 3 4 3 1 3 2 3 4 2 3. */
  CHECK_EQ(c.n_deprived, 4);
  CHECK(c.known[0] && c.score[0] == 2 && c.deprived[0]);
  CHECK(c.known[5] && c.score[5] == 1 && c.deprived[5]);
  CHECK(c.known[3] && c.score[3] == 4 && !c.deprived[3]);
  for (size_t i = 0; i < HW_CSI_FACTORS; i++) {
    const hw_form_field *f;
    CHECK(hw_csi_factor_at(i) != NULL);
    f = hw_form_field_find(hw_form_find("followup", 8), hw_csi_factor_at(i)->field,
                           strlen(hw_csi_factor_at(i)->field));
    CHECK(f && f->type == HW_FT_INT && f->min == 1 && f->max == 4 && f->required);
    CHECK(!c.disputed[i]);
  }
  CHECK(hw_csi_factor_at(HW_CSI_FACTORS) == NULL);
  hw_record_free(r);
}

int main(void)
{
  CHECK_OK(hw_crypto_init());
  test_tables();
  test_valid_writes();
  test_every_rule();
  test_messages();
  test_cross_field_rules();
  test_unknown_policy();
  test_csi();
  printf("forms: ok\n");
  return 0;
}
