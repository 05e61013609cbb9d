/* The `homeward` command end to end against a real homeward-server (issue 8):
 * a worker carries a case from first contact to phase-out with the command
 * alone and syncs; a second device sees it whole; a conflict made on purpose
 * shows in `homeward conflicts` and is resolved; bad input (wrong
 * passphrase, invalid values, unknown case, a likely duplicate, server
 * unreachable) gives a clear message, a non-zero exit and nothing written. */
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "check.h"
#include "harness.h"
#include "homeward/crypto.h"
#include "homeward/store.h"
#include "run.h"

#define PASS "device pass phrase one"
#define PASS2 "another long passphrase 2"

static run_result R;
static char store_a[400], store_b[400];

#define HW(store, pass, ...) run_hw(&R, store, pass, (const char *const[]){__VA_ARGS__, NULL})
#define OK(store, ...)                                                                             \
  do {                                                                                             \
    HW(store, PASS, __VA_ARGS__);                                                                  \
    if (R.status != 0)                                                                             \
      fprintf(stderr, "exit %d\nstdout:\n%s\nstderr:\n%s\n", R.status, R.out, R.err);              \
    CHECK_EQ(R.status, 0);                                                                         \
  } while (0)

/* Records on a device (lines of `homeward list`). */
static size_t n_records(const char *store)
{
  OK(store, "list");
  return count_lines(R.out, " case ");
}

static void record(const char *store, const char *case_id, char rec[33], const char *kind,
                   const char *const *sets)
{
  const char *args[48] = {"record", kind};
  size_t n = 2;
  char label[64];

  if (case_id) {
    args[n++] = "--case";
    args[n++] = case_id;
  }
  for (size_t i = 0; sets[i]; i++) {
    args[n++] = "--set";
    args[n++] = sets[i];
  }
  args[n] = NULL;
  run_hw(&R, store, PASS, args);
  if (R.status != 0)
    fprintf(stderr, "record %s: exit %d: %s%s\n", kind, R.status, R.out, R.err);
  CHECK_EQ(R.status, 0);
  snprintf(label, sizeof label, "recorded %s ", kind);
  id_after(R.out, label, rec);
  CHECK_EQ(strlen(rec), 32);
}

#define SETS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void expect_stage(const char *store, const char *stage)
{
  OK(store, "case", "list", "--stage", stage);
  CHECK_EQ(count_lines(R.out, stage), 1);
}

int main(int argc, char **argv)
{
  hw_test_server srv;
  char inv_a[600], inv_b[600], cas[33], other[33], rec[33], note[33], fu2[33];

  CHECK(argc == 3);
  CHECK_OK(hw_crypto_init());
  hw_test_server_start(&srv, argv[1]);
  run_setup(argv[2], srv.dir);
  snprintf(store_a, sizeof store_a, "%s/a.db", srv.dir);
  snprintf(store_b, sizeof store_b, "%s/b.db", srv.dir);
  hw_test_invite(&srv, "amina", inv_a, sizeof inv_a);
  {
    /* Joseph coordinates amina's region: his device sees her cases. */
    const char *inv_args[] = {"invite", "--worker", "joseph", "--role", "coordinator",
                              "--coordinator", "joseph", NULL};
    const char *region[] = {"region", "--coordinator", "joseph", "--worker", "amina", NULL};
    size_t n;
    CHECK_EQ(hw_test_server_cmd(&srv, inv_b, sizeof inv_b, inv_args), 0);
    n = strlen(inv_b);
    while (n && inv_b[n - 1] == '\n')
      inv_b[--n] = '\0';
    CHECK_EQ(hw_test_server_cmd(&srv, NULL, 0, region), 0);
  }

  /* Enrolment: a weak passphrase is refused with a reason, nothing created. */
  HW(store_a, "short", "init", inv_a);
  CHECK(R.status != 0 && has(R.err, "passphrase refused"));
  HW(store_a, PASS, "list");
  CHECK(R.status != 0);
  OK(store_a, "init", inv_a);
  CHECK(has(R.out, "store created for amina"));
  /* init again before the first sync: the store takes the invitation again
   * (an expired or used one is replaced so; below); another passphrase is
   * told the store exists, not "wrong passphrase". */
  HW(store_a, PASS, "init", inv_a);
  CHECK(R.status == 0 && has(R.out, "invitation renewed for amina"));
  HW(store_a, "not the passphrase at all", "init", inv_a);
  CHECK(R.status == 1 && has(R.err, "a store already exists here and this passphrase"));

  /* Wrong passphrase: a clear message, non-zero. */
  HW(store_a, "not the passphrase at all", "case", "list");
  CHECK(R.status == 1 && has(R.err, "wrong passphrase"));

  /* First contact: the child profile opens a case. */
  OK(store_a, "case", "list");
  CHECK(has(R.out, "no cases on this device yet"));
  record(store_a, NULL, rec, "child",
         SETS("registered_on=2026-06-01", "given_name=Amina", "family_name=Uwase",
              "aliases=Mimi;Ami", "sex=female", "age_estimate_years=9", "found_date=2026-05-30",
              "found_place=Gisenyi market", "separation_cause=conflict", "decision=open_case"));
  id_after(R.out, "in case ", cas);
  CHECK_EQ(strlen(cas), 32);
  OK(store_a, "case", "list");
  CHECK(has(R.out, "Amina Uwase") && has(R.out, "assessment"));
  CHECK_EQ(count_lines(R.out, " * "), 1); /* not yet synced */
  /* One child profile per case: a second is refused, its answers go by write. */
  HW(store_a, PASS, "record", "child", "--case", cas, "--set", "registered_on=2026-06-01",
     "--set", "given_name=Other", "--set", "decision=open_case");
  CHECK(R.status == 1 && has(R.err, "the case has a child profile already") &&
        has(R.err, rec + 20));
  CHECK_EQ(n_records(store_a), 1);

  /* A likely duplicate (accents, a typo) is refused without --force; an
   * unrelated child is not. */
  HW(store_a, PASS, "record", "child", "--set", "registered_on=2026-06-02", "--set",
     "given_name=Amína", "--set", "family_name=Uwasé", "--set", "sex=female", "--set",
     "age_estimate_years=9", "--set", "found_date=2026-06-01", "--set", "found_place=Gisenyi",
     "--set", "separation_cause=conflict", "--set", "decision=open_case");
  CHECK(R.status == 1 && has(R.err, "may already be registered") && has(R.err, "Amina Uwase"));
  CHECK_EQ(n_records(store_a), 1);
  /* The list names a record by its last 12 digits, as the guide says. */
  CHECK(has(R.out, rec + 20) && !has(R.out, rec));
  /* A value the form refuses is said first, not hidden behind the duplicate. */
  HW(store_a, PASS, "record", "child", "--set", "registered_on=2026-06-02", "--set",
     "given_name=Amína", "--set", "family_name=Uwasé", "--set", "sex=girl", "--set",
     "age_estimate_years=9", "--set", "found_date=2026-06-01", "--set", "found_place=Gisenyi",
     "--set", "separation_cause=conflict", "--set", "decision=open_case");
  CHECK(R.status == 1 && has(R.err, "sex: must be one of") &&
        !has(R.err, "may already be registered"));
  CHECK_EQ(n_records(store_a), 1);
  /* Choices may be typed by their start when only one value starts so. */
  record(store_a, NULL, other, "child",
         SETS("registered_on=2026-06-03", "given_name=Jean", "family_name=Bosco", "sex=ma",
              "age_estimate_years=14", "found_date=2026-06-03", "found_place=Goma",
              "separation_cause=migr", "decision=open"));
  id_after(R.out, "in case ", other);
  {
    char rec_other[33];
    id_after(R.out, "recorded child ", rec_other);
    OK(store_a, "show", rec_other);
    CHECK(has(R.out, "migration") && has(R.out, "open_case") && has(R.out, "male"));
    /* An empty answer clears an optional question; a required one is
     * refused; a question given twice and a control character are refused,
     * nothing written. */
    OK(store_a, "write", rec_other, "--set", "family_name=");
    OK(store_a, "show", rec_other);
    CHECK(!has(R.out, "Bosco"));
    OK(store_a, "write", rec_other, "--set", "family_name=Bosco");
    /* A cell a spreadsheet would run as a formula, even behind a tab, is
     * exported with a leading quote. */
    OK(store_a, "write", rec_other, "--set", "found_place=\t=1+1");
    OK(store_a, "export", "--csv", "--yes");
    CHECK(has(R.out, ",'\t=1+1,"));
    OK(store_a, "write", rec_other, "--set", "found_place=Goma");
    HW(store_a, PASS, "write", rec_other, "--set", "sex=");
    CHECK(R.status == 1 && has(R.err, "sex: is required and cannot be cleared"));
    HW(store_a, PASS, "write", rec_other, "--set", "found_place=Goma\x1b[2J");
    CHECK(R.status == 1 && has(R.err, "found_place: must not hold control characters"));
    HW(store_a, PASS, "record", "child", "--set", "registered_on=2026-06-04", "--set",
       "given_name=Eric", "--set", "given_name=Erik");
    CHECK(R.status == 1 && has(R.err, "given_name: given twice in one write"));
  }

  /* case find: by name with a typo, an alias, accents; by age; by place. */
  OK(store_a, "case", "find", "uwaze");
  CHECK(has(R.out, "Amina Uwase") && !has(R.out, "Jean"));
  OK(store_a, "case", "find", "MIMI");
  CHECK(has(R.out, "Amina Uwase"));
  OK(store_a, "case", "find", "Jéan", "Bosko");
  CHECK(has(R.out, "Jean Bosco") && !has(R.out, "Amina"));
  OK(store_a, "case", "find", "--age", "14", "--today", "2026-07-01");
  CHECK(has(R.out, "Jean Bosco") && !has(R.out, "Amina"));
  OK(store_a, "case", "find", "--place", "gisenyi");
  CHECK(has(R.out, "Amina Uwase") && !has(R.out, "Jean"));
  OK(store_a, "case", "find", "Nyiramana");
  CHECK(has(R.out, "no child on this device matches"));

  /* Every SOP step up to phase-out; the stage follows each decision. */
  record(store_a, cas, rec, "consent",
         SETS("consent_date=2026-06-02", "child_assent=given", "caregiver_consent=no_caregiver",
              "information_sharing=yes", "witnessed_by=Grace, social worker", "decision=proceed"));
  record(store_a, cas, rec, "assessment",
         SETS("assessment_date=2026-06-05", "needs=health,education",
              "child_wishes=to go home to her aunt", "readiness=ready",
              "decision=start_family_tracing"));
  expect_stage(store_a, "family_tracing");
  record(store_a, cas, rec, "family_assessment",
         SETS("assessment_date=2026-07-01", "traced_person=Claudine", "relationship=aunt_uncle",
              "location=Rubavu", "caregiver_capacity=adequate", "child_wishes=live with aunt",
              "family_wishes=take her in", "decision=reunify"));
  expect_stage(store_a, "placement");
  record(store_a, cas, rec, "placement",
         SETS("placement_date=2026-08-01", "caregiver_name=Claudine", "relationship=aunt_uncle",
              "address=Rubavu sector 4", "support_package=food,school_fees",
              "decision=start_follow_up"));
  expect_stage(store_a, "follow_up");
  /* The first visit is due 2026-09-01: early, due and overdue by the date. */
  OK(store_a, "case", "list", "--today", "2026-08-10");
  CHECK(has(R.out, "visit 2026-09-01 early"));
  OK(store_a, "case", "list", "--due", "--today", "2026-08-10");
  CHECK(has(R.out, "no case matches"));
  OK(store_a, "case", "list", "--due", "--today", "2026-09-05");
  CHECK(has(R.out, "visit 2026-09-01 due") && has(R.out, "Amina"));
  OK(store_a, "case", "list", "--today", "2026-09-20");
  CHECK(has(R.out, "visit 2026-09-01 overdue"));

  /* An invalid answer: refused with the rule, nothing written. */
  HW(store_a, PASS, "record", "followup", "--case", cas, "--set", "visit_date=2026-09-02", "--set",
     "visit_type=home_visit", "--set", "csi_food_security=5");
  CHECK(R.status == 1 && has(R.err, "not recorded"));
  HW(store_a, PASS, "record", "followup", "--case", cas, "--set", "visit_date=2026-13-02");
  CHECK(R.status == 1 && has(R.err, "date like"));
  HW(store_a, PASS, "record", "followup", "--case", cas, "--set", "no_such_question=1");
  CHECK(R.status == 1 && has(R.err, "no question"));
  CHECK_EQ(n_records(store_a), 6);

  record(store_a, cas, rec, "followup",
         SETS("visit_date=2026-09-02", "visit_type=home_visit", "csi_food_security=2",
              "csi_nutrition_growth=3", "csi_shelter=3", "csi_care=4", "csi_abuse_exploitation=4",
              "csi_legal_protection=1", "csi_wellness=3", "csi_health_services=3",
              "csi_emotional_health=2", "csi_social_behaviour=3", "csi_performance=3",
              "csi_education_work=3", "decision=continue"));
  record(store_a, cas, fu2, "followup",
         SETS("visit_date=2026-11-03", "visit_type=home_visit", "csi_food_security=3",
              "csi_nutrition_growth=3", "csi_shelter=3", "csi_care=4", "csi_abuse_exploitation=4",
              "csi_legal_protection=3", "csi_wellness=4", "csi_health_services=3",
              "csi_emotional_health=3", "csi_social_behaviour=4", "csi_performance=3",
              "csi_education_work=4", "decision=phase_out"));
  expect_stage(store_a, "phase_out");
  record(store_a, cas, rec, "phase_out",
         SETS("phase_out_date=2027-02-03", "criteria_met=stable_care,school_enrolled",
              "final_csi_reviewed=yes", "decision=resume_follow_up"));
  expect_stage(store_a, "follow_up"); /* closed at the end, when it leaves the devices */
  /* A case note to disagree about later. */
  record(store_a, cas, note, "case_note",
         SETS("note_date=2027-02-04", "note=aunt moving to Musanze", "decision=no_action"));

  /* case show: profile, forms in date order, CSI over time with the
   * deprived factors, decisions, who recorded them. */
  OK(store_a, "case", "show", cas);
  CHECK(has(R.out, "Child: Amina Uwase") && has(R.out, "Mimi, Ami"));
  CHECK(has(R.out, "Stage: follow_up since 2027-02-03"));
  {
    const char *c1 = strstr(R.out, "Child profile"), *c2 = strstr(R.out, "Consent"),
               *c3 = strstr(R.out, "Placement"), *c4 = strstr(R.out, "Phase-out");
    CHECK(c1 && c2 && c3 && c4 && c1 < c2 && c2 < c3 && c3 < c4);
  }
  CHECK(has(R.out, "decision: reunify") && has(R.out, "decision: start_follow_up"));
  CHECK(has(R.out, "(amina, "));
  CHECK(has(R.out, "Child Status Index"));
  CHECK(has(R.out, "2026-09-02 2D ") && has(R.out, "2026-11-03 3  "));
  CHECK(has(R.out, "deprived: Protection, Legal protection"));
  CHECK_EQ(count_lines(R.out, "deprived: "), 3);
  /* The lists' 12 digits (the id's end, its random part) name the case,
   * and so does its beginning; an unknown case is refused. */
  {
    char part[13];
    OK(store_a, "case", "list");
    CHECK(has(R.out, cas + 20));
    OK(store_a, "case", "show", cas + 20);
    CHECK(has(R.out, "Amina Uwase"));
    snprintf(part, sizeof part, "%.12s", cas);
    OK(store_a, "case", "show", part);
    CHECK(has(R.out, "Amina Uwase"));
  }
  HW(store_a, PASS, "case", "show", "0123456789abcdef0123456789abcdef");
  CHECK(R.status == 1 && has(R.err, "no case"));
  HW(store_a, PASS, "case", "show", "zz");
  CHECK(R.status == 1);
  HW(store_a, PASS, "case", "list", "--stage", "nowhere");
  CHECK(R.status == 2 && has(R.err, "no stage called nowhere"));

  /* --json: parsed back with a JSON library. */
  {
    json_t *j, *amina = NULL, *forms, *csi;
    size_t i;
    OK(store_a, "case", "list", "--json");
    CHECK((j = json_loads(R.out, 0, NULL)) != NULL);
    CHECK(json_is_array(j) && json_array_size(j) == 2);
    json_array_foreach(j, i, forms) if (!strcmp(json_string_value(json_object_get(forms, "child")),
                                                "Amina Uwase")) amina = forms;
    CHECK(amina != NULL);
    CHECK(!strcmp(json_string_value(json_object_get(amina, "stage")), "follow_up"));
    CHECK(!strcmp(json_string_value(json_object_get(amina, "case")), cas));
    CHECK(json_is_false(json_object_get(amina, "synced")));
    json_decref(j);
    OK(store_a, "case", "show", cas, "--json");
    CHECK((j = json_loads(R.out, 0, NULL)) != NULL);
    forms = json_object_get(j, "forms");
    csi = json_object_get(j, "csi");
    CHECK_EQ(json_array_size(forms), 9);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(forms, 0), "kind")), "child"));
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(json_array_get(forms, 0), "fields"),
                                                "age_estimate_years")),
             9);
    CHECK(!strcmp(
        json_string_value(json_object_get(
            json_object_get(json_object_get(json_array_get(forms, 0), "recorded"), "given_name"),
            "by")),
        "amina"));
    CHECK_EQ(json_array_size(csi), 2);
    CHECK_EQ(json_array_size(json_object_get(json_array_get(csi, 0), "deprived")), 3);
    CHECK_EQ(json_array_size(json_object_get(json_array_get(csi, 1), "deprived")), 0);
    json_decref(j);
    OK(store_a, "status", "--json");
    CHECK((j = json_loads(R.out, 0, NULL)) != NULL);
    CHECK_EQ(json_integer_value(json_object_get(j, "pending")), 10);
    CHECK(json_is_false(json_object_get(j, "stale")));
    json_decref(j);
  }
  /* Unsynced work older than a week is warned about. */
  {
    time_t t = time(NULL) + 10 * 86400;
    struct tm tm;
    char day[16];
    gmtime_r(&t, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    OK(store_a, "status", "--today", day);
    CHECK(has(R.out, "WARNING: work recorded ") && has(R.out, " days ago is only on this device"));
  }

  /* export: not without a confirmation; never over an existing file; the
   * file is for this user only; CSV cells quoted. */
  {
    char path[500];
    struct stat sb;
    json_t *j;
    snprintf(path, sizeof path, "%s/export.json", srv.dir);
    HW(store_a, PASS, "export", "--json", "--output", path);
    CHECK(R.status == 1 && has(R.err, "NOT encrypted") && has(R.err, "--yes"));
    CHECK(stat(path, &sb) != 0);
    HW(store_a, PASS, "export");
    CHECK_EQ(R.status, 2);
    OK(store_a, "export", "--json", "--yes", "--output", path);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    CHECK((j = json_load_file(path, 0, NULL)) != NULL);
    CHECK(!strcmp(json_string_value(json_object_get(j, "worker")), "amina"));
    CHECK_EQ(json_array_size(json_object_get(j, "cases")), 2);
    json_decref(j);
    HW(store_a, PASS, "export", "--json", "--yes", "--output", path);
    CHECK(R.status == 1 && has(R.err, "cannot create"));
    OK(store_a, "export", "--csv", "--yes");
    CHECK(!strncmp(
        R.out, "case,child,record,kind,date,field,value,recorded_by,recorded_at,disputed\r\n", 74));
    CHECK(has(R.out, ",Amina Uwase,") && has(R.out, ",\"Grace, social worker\",amina,"));
    CHECK_EQ(count_lines(R.out, ",Jean Bosco,"), 9);
  }

  /* The store in use by another process (a write transaction held open):
   * a clear message, non-zero, nothing written. */
  {
    hw_store_opts so = {.path = store_a,
                        .passphrase = (const uint8_t *)PASS,
                        .passphrase_len = strlen(PASS),
                        .journal = HW_STORE_ROLLBACK, /* a device's (client.c) */
                        .test_flags = HW_STORE_TEST_KDF_MIN};
    hw_store *st = NULL;
    CHECK_OK(hw_store_open(&st, &so, NULL));
    CHECK_OK(hw_store_begin(st));
    CHECK_OK(hw_store_setting_set(st, "test.lock", "x", 1));
    HW(store_a, PASS, "record", "case_note", "--case", cas, "--set", "note_date=2027-02-05",
       "--set", "note=while locked", "--set", "decision=no_action");
    CHECK(R.status == 1 && has(R.err, "in use by another homeward"));
    CHECK_OK(hw_store_rollback(st));
    hw_store_close(st);
    CHECK_EQ(n_records(store_a), 10);
  }
  /* No store at the path given. */
  {
    char missing[500];
    snprintf(missing, sizeof missing, "%s/none.db", srv.dir);
    HW(missing, PASS, "status");
    CHECK(R.status == 1 && has(R.err, "no store at"));
  }

  /* status before the first sync: 10 records pending, never synced. */
  OK(store_a, "status");
  CHECK(has(R.out, "worker:          amina") && has(R.out, "not yet synced:  10 records"));
  CHECK(has(R.out, "oldest unsynced:") && has(R.out, "last sync:       never\n"));
  CHECK(!has(R.out, "WARNING"));

  /* Sync; the second device sees the case whole. */
  OK(store_a, "sync");
  CHECK(has(R.out, "synced: 10 sent"));
  CHECK(has(R.err, "sync: sent 10/10 records")); /* plain lines when not on a terminal */
  OK(store_a, "status");
  CHECK(has(R.out, "not yet synced:  0 records") && has(R.out, "last sync:       2"));
  CHECK(!has(R.out, "oldest unsynced"));
  OK(store_a, "case", "list");
  CHECK_EQ(count_lines(R.out, " * "), 0);
  HW(store_a, PASS, "init", inv_a); /* enrolled now: no invitation needed */
  CHECK(R.status == 1 && has(R.err, "already has a store here, enrolled as amina"));

  /* A device whose invitation was used first (by another device of the
   * same worker) records offline, cannot enrol, takes a new invitation and
   * syncs its record: nothing recorded before enrolment is lost. */
  {
    char store_d[400], store_e[400], inv_d[600], first[33];
    snprintf(store_d, sizeof store_d, "%s/d.db", srv.dir);
    snprintf(store_e, sizeof store_e, "%s/e.db", srv.dir);
    hw_test_invite(&srv, "neema", inv_d, sizeof inv_d);
    OK(store_e, "init", inv_d);
    OK(store_e, "sync");
    OK(store_d, "init", inv_d);
    record(store_d, NULL, first, "child",
           SETS("registered_on=2026-06-04", "given_name=Zawadi", "family_name=Neema",
                "sex=female", "age_estimate_years=6", "found_date=2026-06-04",
                "found_place=Goma", "separation_cause=conflict", "decision=open_case"));
    HW(store_d, PASS, "sync");
    CHECK(R.status != 0 && has(R.err, "invitation"));
    hw_test_invite(&srv, "joseph", inv_d, sizeof inv_d); /* another worker's: refused */
    HW(store_d, PASS, "init", inv_d);
    CHECK(R.status == 1 && has(R.err, "for another worker or server"));
    hw_test_invite(&srv, "neema", inv_d, sizeof inv_d);
    OK(store_d, "init", inv_d);
    CHECK(has(R.out, "invitation renewed for neema"));
    OK(store_d, "sync");
    CHECK(has(R.out, "synced: 1 sent"));
  }

  OK(store_b, "init", inv_b);
  OK(store_b, "sync");
  OK(store_b, "case", "show", cas);
  {
    static char shown_a[RUN_OUT_MAX];
    memcpy(shown_a, R.out, sizeof shown_a);
    OK(store_a, "case", "show", cas);
    CHECK(!strcmp(shown_a, R.out)); /* the same case, whole, on both devices */
  }

  /* A conflict on purpose: both change the note offline. */
  OK(store_a, "write", note, "--set", "note=aunt stays in Rubavu");
  OK(store_b, "write", note, "--set", "note=aunt moved to Musanze in March");
  OK(store_a, "sync");
  OK(store_b, "sync");
  CHECK(has(R.out, ", 1 record with conflicts\n"));
  OK(store_a, "sync");
  OK(store_a, "conflicts");
  CHECK(has(R.out, "case_note record") && has(R.out, "note: 2 values"));
  CHECK(has(R.out, "aunt stays in Rubavu") && has(R.out, "aunt moved to Musanze in March"));
  CHECK(has(R.out, "amina,") && has(R.out, "joseph,"));
  OK(store_a, "case", "list", "--conflicts");
  CHECK(has(R.out, "Amina") && has(R.out, "! "));
  /* Wrong resolutions are refused and write nothing. */
  HW(store_a, PASS, "resolve", note, "note", "--pick", "3");
  CHECK(R.status == 1 && has(R.err, "--pick wants 1 to 2"));
  HW(store_a, PASS, "resolve", note, "decision", "--pick", "1");
  CHECK(R.status == 1 && has(R.err, "not in conflict"));
  HW(store_a, PASS, "resolve", note, "note");
  CHECK(R.status == 2);
  {
    /* The value shown as [2] is the one picked. */
    const char *two = strstr(R.out, "[2]");
    (void)two;
  }
  OK(store_a, "conflicts");
  {
    const char *two = strstr(R.out, "[2] ");
    char want[64];
    CHECK(two != NULL);
    snprintf(want, sizeof want, "%.20s", two + 4);
    OK(store_a, "resolve", note, "note", "--pick", "2");
    CHECK(has(R.out, "resolved note"));
    OK(store_a, "conflicts");
    CHECK(has(R.out, "no conflicts"));
    OK(store_a, "sync");
    OK(store_b, "sync");
    OK(store_b, "conflicts");
    CHECK(has(R.out, "no conflicts"));
    OK(store_b, "show", note);
    CHECK(has(R.out, want));
  }
  /* Resolving with a new value, after another conflict. */
  OK(store_a, "write", note, "--set", "decision=coordinator_review");
  OK(store_b, "write", note, "--set", "decision=no_action");
  OK(store_a, "sync");
  OK(store_b, "sync");
  OK(store_b, "conflicts");
  CHECK(has(R.out, "decision: 2 values"));
  HW(store_b, PASS, "resolve", note, "decision", "--value", "maybe");
  CHECK(R.status == 1 && has(R.err, "not recorded"));
  OK(store_b, "resolve", note, "decision", "--value", "coordinator_review");
  OK(store_b, "sync");
  OK(store_a, "sync");
  OK(store_a, "conflicts");
  CHECK(has(R.out, "no conflicts"));

  /* forms, list, show. */
  OK(store_a, "forms");
  CHECK(has(R.out, "followup — Follow-up visit") && has(R.out, "csi_food_security"));
  CHECK(has(R.out, "[open_case, refer_elsewhere]"));
  OK(store_b, "list");
  CHECK_EQ(count_lines(R.out, " case "), 10);
  OK(store_b, "show", note);
  CHECK(has(R.out, "case_note record") && has(R.out, "coordinator_review   (joseph, "));

  /* void: kept and marked; a void meeting an edit made meanwhile is
   * disputed on both devices, and voiding again settles it. */
  record(store_a, cas, rec, "case_note",
         SETS("note_date=2027-02-06", "note=entered for Jean by mistake", "decision=no_action"));
  OK(store_a, "sync");
  OK(store_b, "sync");
  HW(store_a, PASS, "void", rec);
  CHECK(R.status != 0 && has(R.err, "--reason"));
  OK(store_a, "void", rec, "--reason", "entered for the wrong child");
  /* The worker who voided it does not dispute her own void by an edit. */
  HW(store_a, PASS, "write", rec, "--set", "note=one more thing");
  CHECK(R.status == 1 && has(R.err, "this record is voided") && has(R.err, "homeward unvoid"));
  OK(store_b, "write", rec, "--set", "note=entered for Jean; corrected");
  OK(store_a, "sync");
  OK(store_b, "sync");
  OK(store_a, "sync");
  OK(store_a, "conflicts");
  CHECK(has(R.out, "voided while someone else was still editing it"));
  CHECK(has(R.out, "to confirm the void: homeward void"));
  /* ...with the edit the void never saw, and how to keep it instead. */
  CHECK(has(R.out, "edited meanwhile: note = entered for Jean; corrected  (joseph"));
  CHECK(has(R.out, "to keep the edit instead: homeward unvoid"));
  HW(store_a, PASS, "resolve", rec, "voided", "--pick", "1");
  CHECK(R.status == 1);
  OK(store_a, "void", rec, "--reason", "entered for the wrong child");
  OK(store_a, "sync");
  OK(store_b, "sync");
  OK(store_b, "conflicts");
  CHECK(has(R.out, "no conflicts"));
  OK(store_b, "list");
  CHECK_EQ(count_lines(R.out, " voided"), 1);
  OK(store_b, "show", rec);
  CHECK(has(R.out, "VOIDED: entered for the wrong child"));
  OK(store_b, "case", "show", cas);
  CHECK(has(R.out, "VOIDED") && has(R.out, "Stage: follow_up"));
  /* unvoid takes it back; a record not voided is refused, nothing written. */
  OK(store_b, "unvoid", rec);
  CHECK(has(R.out, "void taken back"));
  OK(store_b, "show", rec);
  CHECK(!has(R.out, "VOIDED"));
  HW(store_b, PASS, "unvoid", rec);
  CHECK(R.status == 1 && has(R.err, "not voided"));
  OK(store_b, "void", rec, "--reason", "entered for the wrong child"); /* as before */
  /* Another worker's void is not undone by a refusal telling her to
   * unvoid: her edit disputes it, for a coordinator to settle. */
  OK(store_b, "sync");
  OK(store_a, "sync");
  OK(store_a, "write", rec, "--set", "note=entered for Jean; I disagree");
  OK(store_a, "conflicts");
  CHECK(has(R.out, "voided while someone else was still editing it"));
  OK(store_a, "sync");
  OK(store_b, "sync");
  OK(store_b, "void", rec, "--reason", "entered for the wrong child"); /* settled again */
  OK(store_b, "sync");
  OK(store_a, "sync");
  OK(store_a, "conflicts");
  CHECK(has(R.out, "no conflicts"));
  /* Two voids that missed each other: settled by one more void, as the
   * listing says (resolve refuses the voided field), no edit to keep. */
  OK(store_a, "void", rec, "--reason", "a duplicate");
  OK(store_b, "void", rec, "--reason", "wrong child");
  OK(store_a, "sync");
  OK(store_b, "sync");
  OK(store_a, "sync");
  OK(store_a, "conflicts");
  CHECK(has(R.out, "voided: 2 values") && has(R.out, "--reason TEXT  (one reason for both)"));
  CHECK(!has(R.out, "resolve") && !has(R.out, "keep the edit instead"));
  OK(store_a, "void", rec, "--reason", "a duplicate");
  OK(store_a, "sync");
  OK(store_a, "conflicts");
  CHECK(has(R.out, "no conflicts"));
  /* A resolution is a write: refused on a record the worker voided herself,
   * as write is. */
  {
    char rec2[33];
    record(store_a, cas, rec2, "case_note",
           SETS("note_date=2027-02-07", "note=first words", "decision=no_action"));
    OK(store_a, "sync");
    OK(store_b, "sync");
    OK(store_a, "write", rec2, "--set", "note=amina's words");
    OK(store_b, "write", rec2, "--set", "note=joseph's words");
    OK(store_a, "sync");
    OK(store_b, "sync");
    OK(store_a, "sync");
    OK(store_a, "void", rec2, "--reason", "not needed");
    HW(store_a, PASS, "resolve", rec2, "note", "--pick", "1");
    CHECK(R.status == 1 && has(R.err, "take the void back first"));
    OK(store_a, "unvoid", rec2);
    OK(store_a, "resolve", rec2, "note", "--pick", "1");
    OK(store_a, "sync");
  }

  /* Answers from a JSON file, with the same checks as --set. */
  {
    char path[500];
    FILE *f;
    snprintf(path, sizeof path, "%s/answers.json", srv.dir);
    CHECK((f = fopen(path, "w")) != NULL);
    fputs("{\"note_date\": \"2027-02-07\", \"note\": \"school fees paid\", "
          "\"topics\": [\"education\", \"family\"], \"decision\": \"no_action\"}",
          f);
    fclose(f);
    OK(store_a, "record", "case_note", "--case", cas, "--file", path);
    CHECK(has(R.out, "recorded case_note"));
    id_after(R.out, "recorded case_note ", rec);
    OK(store_a, "show", rec);
    CHECK(has(R.out, "family, education") && has(R.out, "school fees paid")); /* set order */
    CHECK((f = fopen(path, "w")) != NULL);
    fputs("{\"note_date\": \"2027-02-07\", \"note\": ", f);
    fclose(f);
    HW(store_a, PASS, "record", "case_note", "--case", cas, "--file", path);
    CHECK(R.status == 1 && has(R.err, "answers.json"));
    CHECK((f = fopen(path, "w")) != NULL);
    fputs("{\"note_date\": \"2027-02-07\", \"mood\": \"fine\"}", f);
    fclose(f);
    HW(store_a, PASS, "record", "case_note", "--case", cas, "--file", path);
    CHECK(R.status == 1 && has(R.err, "no question mood"));
    /* A key with an escape sequence is shown escaped, never sent to the terminal. */
    CHECK((f = fopen(path, "w")) != NULL);
    fputs("{\"note_date\": \"2027-02-07\", \"bogus\\u001b[31m\": \"fine\"}", f);
    fclose(f);
    HW(store_a, PASS, "record", "case_note", "--case", cas, "--file", path);
    CHECK(R.status == 1 && has(R.err, "no question bogus\\x1B[31m") && !strchr(R.err, 0x1b));
    CHECK((f = fopen(path, "w")) != NULL);
    fputs("{\"note_date\": \"2027-02-07\", \"note\": \"x\", \"topics\": [\"gossip\"], "
          "\"decision\": \"no_action\"}",
          f);
    fclose(f);
    HW(store_a, PASS, "record", "case_note", "--case", cas, "--file", path);
    CHECK(R.status == 1 && has(R.err, "not recorded: topics"));
    OK(store_a, "sync");
  }

  /* Closing the case: once the closure is synced the case leaves both
   * devices (the office keeps it); the other child stays. */
  {
    char closure[33], cas12[13], other12[13];
    memcpy(cas12, cas + 20, 12); /* lists show an id's last 12 digits */
    memcpy(other12, other + 20, 12);
    cas12[12] = other12[12] = '\0';
    char draft[16] = "";
    /* A draft on the other device in the case about to close. */
    OK(store_b, "record", "case_note", "--case", cas, "--draft", "--set", "note_date=2027-03-02");
    CHECK(sscanf(R.out, "kept as draft %15s", draft) == 1);
    record(store_a, cas, closure, "closure",
           SETS("closure_date=2027-03-01", "reason=reintegrated", "decision=close_case"));
    expect_stage(store_a, "closed");
    OK(store_a, "sync");
    CHECK(has(R.out, "of closed cases were removed from this device"));
    OK(store_a, "case", "list");
    CHECK(!has(R.out, cas12) && has(R.out, other12));
    OK(store_b, "sync");
    CHECK(has(R.out, "of closed cases were removed from this device"));
    CHECK(!has(R.out, "do not hold the same records"));
    HW(store_b, PASS, "case", "show", cas);
    CHECK(R.status == 1 && has(R.err, "no case"));
    /* Finished after its case left: refused, kept, nothing recorded. */
    HW(store_b, PASS, "record", "--resume", draft, "--set", "note=seen at school",
       "--set", "decision=no_action");
    CHECK(R.status == 1 && has(R.err, "the case is no longer on this device") &&
          has(R.err, "the draft is kept"));
    OK(store_b, "drafts");
    CHECK(has(R.out, draft));
    OK(store_b, "sync");
    CHECK(!has(R.out, "do not hold the same records"));
  }

  /* A note written into a case its worker never held is held for a
   * coordinator: said at sync, not writable, and replaced once they decide. */
  {
    char store_c[400], inv_c[600], held[33], list[4096], qid[24] = "";
    const char *const q_args[] = {"quarantine", NULL};
    const char *p;
    size_t n;
    snprintf(store_c, sizeof store_c, "%s/c.db", srv.dir);
    hw_test_invite(&srv, "bashir", inv_c, sizeof inv_c);
    OK(store_c, "init", inv_c);
    record(store_c, other, held, "case_note",
           SETS("note_date=2027-02-20", "note=saw him at the bus stop", "decision=no_action"));
    OK(store_c, "sync");
    CHECK(has(R.out, "1 held for a coordinator"));
    CHECK(has(R.out, "1 record held for a coordinator differs from the office's"));
    HW(store_c, PASS, "write", held, "--set", "note=more");
    CHECK(R.status != 0 && has(R.err, "held for a coordinator"));
    CHECK_EQ(hw_test_server_cmd(&srv, list, sizeof list, q_args), 0);
    p = strstr(list, held);
    CHECK(p != NULL);
    while (p > list && p[-1] != '\n')
      p--;
    CHECK(sscanf(p, "quarantine %23s", qid) == 1);
    {
      const char *const rel[] = {"release", "--id", qid, "--coordinator", "joseph", NULL};
      CHECK_EQ(hw_test_server_cmd(&srv, list, sizeof list, rel), 0);
    }
    OK(store_c, "sync");
    CHECK(has(R.out, "1 record held for a coordinator was decided"));
    CHECK(!has(R.out, "differ from the office's"));
    n = n_records(store_c);
    CHECK_EQ(n, 0); /* the case is amina's: the office keeps the note */
    OK(store_a, "sync");
    OK(store_a, "show", held);
    CHECK(has(R.out, "saw him at the bus stop"));
  }

  /* A case moved while its former worker had an edit unsynced: the edit
   * merges as a late edit, and the devices that see the case now mark it
   * LATE-EDIT until a coordinator reviews it. */
  {
    char late[600], other12[13];
    const char *const inv_f[] = {"invite", "--worker", "faith", "--coordinator", "joseph", NULL};
    const char *const region_f[] = {"region", "--coordinator", "joseph", "--worker", "faith",
                                    NULL};
    const char *const move[] = {"reassign", "--case",        other,    "--worker",
                                "faith",    "--coordinator", "joseph", NULL};
    const char *const review[] = {"review", "--case", other, "--coordinator", "joseph", NULL};
    memcpy(other12, other + 20, 12);
    other12[12] = '\0';
    CHECK_EQ(hw_test_server_cmd(&srv, late, sizeof late, inv_f), 0);
    CHECK_EQ(hw_test_server_cmd(&srv, NULL, 0, region_f), 0);
    OK(store_b, "sync");
    CHECK(!has(R.out, "LATE-EDIT"));
    record(store_a, other, late, "case_note",
           SETS("note_date=2027-03-05", "note=visited after the move", "decision=no_action"));
    CHECK_EQ(hw_test_server_cmd(&srv, NULL, 0, move), 0);
    OK(store_a, "sync");
    CHECK(has(R.out, "now looked after by someone else"));
    OK(store_b, "sync");
    CHECK(has(R.out, "1 case is marked LATE-EDIT"));
    OK(store_b, "case", "list");
    CHECK(has(R.out, other12) && has(R.out, "LATE-EDIT: a previous worker wrote in it"));
    OK(store_b, "case", "show", other);
    CHECK(has(R.out, "LATE-EDIT: the worker who looked after this case before wrote in it"));
    OK(store_b, "case", "list", "--json");
    CHECK(has(R.out, "\"late_edit\": true"));
    CHECK_EQ(hw_test_server_cmd(&srv, NULL, 0, review), 0);
    OK(store_b, "sync");
    CHECK(!has(R.out, "LATE-EDIT"));
    OK(store_b, "case", "list");
    CHECK(has(R.out, other12) && !has(R.out, "LATE-EDIT"));
  }
  /* passwd: the old passphrase stops working, the new one works. */
  setenv("HOMEWARD_NEW_PASSPHRASE", "aaaa", 1);
  HW(store_b, PASS, "passwd");
  CHECK(R.status == 1 && has(R.err, "passphrase refused"));
  setenv("HOMEWARD_NEW_PASSPHRASE", PASS2, 1);
  OK(store_b, "passwd");
  unsetenv("HOMEWARD_NEW_PASSPHRASE");
  HW(store_b, PASS, "status");
  CHECK(R.status == 1 && has(R.err, "wrong passphrase"));
  HW(store_b, PASS2, "status");
  CHECK_EQ(R.status, 0);

  /* recover: the office sets a new passphrase with the organisation's
   * recovery key file; a key file open to others, another key or a file
   * that is no key is refused and changes nothing. */
  {
    char key[400], loose[400], other_key[400], text[64];
    uint8_t sk[32];
    FILE *f;
    snprintf(key, sizeof key, "%s/recovery.key", srv.dir);
    snprintf(loose, sizeof loose, "%s/loose.key", srv.dir);
    snprintf(other_key, sizeof other_key, "%s/other.key", srv.dir);
    CHECK((f = fopen(key, "r")) != NULL && fgets(text, sizeof text, f) != NULL);
    fclose(f);
    CHECK((f = fopen(loose, "w")) != NULL && fputs(text, f) >= 0 && fclose(f) == 0);
    CHECK(chmod(loose, 0644) == 0);
    hw_random_bytes(sk, sizeof sk);
    hw_base64_encode(text, sk, sizeof sk);
    CHECK((f = fopen(other_key, "w")) != NULL && fputs(text, f) >= 0 && fclose(f) == 0);
    CHECK(chmod(other_key, 0600) == 0);
    setenv("HOMEWARD_NEW_PASSPHRASE", "a recovered passphrase 3", 1);
    HW(store_b, NULL, "recover", loose);
    CHECK(R.status == 1 && has(R.err, "may be read by others"));
    HW(store_b, NULL, "recover", other_key);
    CHECK(R.status == 1 && has(R.err, "not sealed to that recovery key"));
    HW(store_b, NULL, "recover", store_b); /* not a key at all */
    CHECK(R.status == 1 && has(R.err, "is not a recovery key"));
    HW(store_b, PASS2, "status"); /* nothing changed */
    CHECK_EQ(R.status, 0);
    HW(store_b, NULL, "recover", key);
    CHECK(R.status == 0 && has(R.out, "store recovered"));
    unsetenv("HOMEWARD_NEW_PASSPHRASE");
    HW(store_b, PASS2, "status");
    CHECK(R.status == 1 && has(R.err, "wrong passphrase"));
    HW(store_b, "a recovered passphrase 3", "status");
    CHECK_EQ(R.status, 0);
    setenv("HOMEWARD_NEW_PASSPHRASE", PASS2, 1); /* back to PASS2 for what follows */
    HW(store_b, "a recovered passphrase 3", "passwd");
    CHECK_EQ(R.status, 0);
    unsetenv("HOMEWARD_NEW_PASSPHRASE");
  }

  /* Server unreachable: a clear message, exit 3, the work kept pending. */
  record(store_a, other, note, "case_note",
         SETS("note_date=2027-03-02", "note=written offline", "decision=no_action"));
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  HW(store_a, PASS, "sync");
  CHECK_EQ(R.status, 3);
  CHECK(has(R.err, "sync did not finish"));
  CHECK(has(R.err, srv.listen) && has(R.err, "cannot be reached")); /* names where it tried */
  OK(store_a, "status");
  CHECK(has(R.out, "not yet synced:  1 record\n"));
  /* The office moves to another address: an invitation of the same server
   * gives the enrolled device the new one; it stays enrolled and syncs.
   * Another server's invitation is refused. */
  {
    char moved[600], line[128];
    snprintf(srv.listen, sizeof srv.listen, "127.0.0.1:%d", hw_test_free_port());
    hw_test_server_restart(&srv);
    hw_test_invite(&srv, "amina", moved, sizeof moved);
    HW(store_a, PASS, "sync");
    CHECK_EQ(R.status, 3);
    OK(store_a, "init", moved);
    snprintf(line, sizeof line, "the office server's address is now %s", srv.listen);
    CHECK(has(R.out, line) && has(R.out, "stays enrolled as amina"));
    HW(store_a, PASS, "init", moved); /* said again: nothing to take */
    CHECK(R.status == 1 && has(R.err, "it needs no invitation"));
    OK(store_a, "status");
    snprintf(line, sizeof line, "server:          %s\n", srv.listen);
    CHECK(has(R.out, line));
    OK(store_a, "sync");
    CHECK(has(R.out, "synced: 1 sent"));
    {
      /* Another server's invitation: its key differs. */
      hw_test_server srv2;
      char inv_o[600];
      hw_test_server_start(&srv2, argv[1]);
      hw_test_invite(&srv2, "amina", inv_o, sizeof inv_o);
      HW(store_a, PASS, "init", inv_o);
      CHECK(R.status == 1 && has(R.err, "for another worker or server"));
      CHECK_EQ(hw_test_server_stop(&srv2), 0);
      hw_test_server_cleanup(&srv2);
    }
    OK(store_a, "status");
    CHECK(has(R.out, line)); /* unchanged */
    CHECK_EQ(hw_test_server_stop(&srv), 0);
  }

  /* The shell drops a line too long for it whole, rather than running its
   * tail as a command, and goes on with the next. */
  {
    char path[500];
    FILE *f;
    const char *args[] = {"shell", NULL};
    snprintf(path, sizeof path, "%s/shell.in", srv.dir);
    CHECK((f = fopen(path, "w")) != NULL);
    fputs("case list --stage ", f);
    for (int i = 0; i < 9000; i++)
      fputc(i % 100 == 99 ? ' ' : 'x', f);
    fputs(" status\nstatus\n", f);
    fclose(f);
    run_hw_in(&R, store_a, PASS, path, args);
    CHECK_EQ(R.status, 0);
    CHECK(has(R.err, "is longer than") && !has(R.err, "unknown command"));
    CHECK(!has(R.err, "no stage called"));
    CHECK_EQ(count_lines(R.out, "worker:"), 1); /* only the second status ran */
  }

  /* Usage errors. */
  HW(store_a, PASS, "frobnicate");
  CHECK(R.status == 2 && has(R.err, "unknown command"));
  HW(store_a, PASS, "case", "list", "--pick", "x");
  CHECK_EQ(R.status, 2);
  HW(store_a, PASS, "case", "list", "--today", "2026-02-30");
  CHECK_EQ(R.status, 2);
  /* At and past the named limits of the command line: 64 --set, 8 words. */
  {
    const char *args[200] = {"record", "case_note", "--case", cas};
    size_t n = 4;
    for (int i = 0; i < 64; i++) {
      args[n++] = "--set";
      args[n++] = "note=again";
    }
    args[n] = NULL;
    run_hw(&R, store_a, PASS, args);
    CHECK(R.status == 1 && has(R.err, "given twice")); /* parsed; then refused */
    args[n++] = "--set";
    args[n++] = "note=again";
    args[n] = NULL;
    run_hw(&R, store_a, PASS, args);
    CHECK(R.status == 2 && has(R.err, "too many --set"));
    HW(store_a, PASS, "case", "find", "a", "b", "c", "d", "e", "f");
    CHECK_EQ(R.status, 0);
    HW(store_a, PASS, "case", "find", "a", "b", "c", "d", "e", "f", "g");
    CHECK(R.status == 2 && has(R.err, "too many arguments"));
  }
  HW(store_a, PASS, "--help");
  CHECK(R.status == 0 && has(R.out, "case list"));
  /* A page damaged on disk, met while reading the records (not at open),
   * is named as damage, not as a store that "cannot be read". Pages are
   * damaged one at a time until one holding records is found (a free page
   * is never read; one read at open fails the open, with its own message).
   * Last: the store is left damaged. */
  {
    struct stat sb;
    bool found = false;
    CHECK(stat(store_a, &sb) == 0 && sb.st_size > 8192);
    for (long page = 1; !found && (page + 1) * 4096 <= (long)sb.st_size; page++) {
      FILE *f;
      int ch = 0;
      CHECK((f = fopen(store_a, "r+b")) != NULL);
      CHECK(fseek(f, page * 4096 + 100, SEEK_SET) == 0 && (ch = fgetc(f)) != EOF);
      CHECK(fseek(f, page * 4096 + 100, SEEK_SET) == 0 && fputc(ch ^ 0x10, f) != EOF);
      CHECK(fflush(f) == 0);
      HW(store_a, PASS, "export", "--csv", "--yes");
      found = R.status == 1 && has(R.err, "cannot read the store: encrypted data was altered");
      if (!found) { /* put it back */
        CHECK(fseek(f, page * 4096 + 100, SEEK_SET) == 0 && fputc(ch, f) != EOF);
      }
      CHECK(fclose(f) == 0);
    }
    CHECK(found);
  }
  (void)other;
  hw_test_server_cleanup(&srv);
  return 0;
}
