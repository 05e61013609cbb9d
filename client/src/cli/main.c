/* homeward: the outreach worker's command (docs/worker-guide.md). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "homeward/client.h"
#include "homeward/crypto.h"
#include "homeward/mem.h"
#include "homeward/passphrase.h"
#include "homeward/store.h"
#include "homeward/value.h"
#include "cli-int.h"
#include "values-int.h"

static const char usage[] =
    "usage: homeward [--store PATH] COMMAND [OPTIONS]\n"
    "\n"
    "  init INVITATION        create this device's encrypted store and enrol it\n"
    "                         (INVITATION is the homeward-invite:... text a coordinator gave you)\n"
    "  forms                  list the forms, their aim and their questions\n"
    "  case list [--stage STAGE] [--due] [--unsynced] [--conflicts] [--today DATE]\n"
    "                         the cases: child's name, stage, next follow-up visit\n"
    "                         (early/due/overdue); ! conflict, * not yet synced\n"
    "  case show CASE         the profile, every form in date order, CSI scores over time\n"
    "  case find [NAME] [--age N] [--place PLACE]\n"
    "                         look for a child before registering one (spelling may differ)\n"
    "  record KIND [--case CASE] --set FIELD=VALUE ...\n"
    "                         record a new form (a new case when --case is not given);\n"
    "                         a new child like one already here needs --force\n"
    "  record KIND [--case CASE] --file ANSWERS.json   the answers from a JSON object\n"
    "  record KIND [--case CASE]   on a terminal: guided, question by question\n"
    "  record ... --draft     keep the form on this device to finish later\n"
    "  drafts                 the forms kept as drafts on this device\n"
    "  record --resume DRAFT  finish a draft (guided on a terminal, or with --set)\n"
    "  write RECORD --set FIELD=VALUE ...   change answers of a recorded form\n"
    "  void RECORD --reason TEXT            void a mistaken entry (kept, marked void)\n"
    "  unvoid RECORD          take a void back (also settles a disputed void for the edit)\n"
    "  list                   the records on this device (! conflict, * not yet synced)\n"
    "  show RECORD            every answer, who recorded it and when, conflicts side by side\n"
    "  conflicts              every disputed answer, both values with who and when\n"
    "  resolve RECORD FIELD (--pick N | --value V)   settle a disputed answer\n"
    "  sync                   send what is new, receive what changed\n"
    "  status                 unsynced work and its age, last sync, this device's id\n"
    "  export (--json | --csv) [--output FILE] [--yes]\n"
    "                         every case on this device, NOT encrypted (asks to confirm)\n"
    "  --json                 with case list, case show, status: output as JSON\n"
    "  shell [--idle SECONDS] unlock once, then type commands (locks itself after 10 idle\n"
    "                         minutes, or SECONDS)\n"
    "  passwd                 change the passphrase (new one from the terminal, or\n"
    "                         --new-passphrase-fd N, or HOMEWARD_NEW_PASSPHRASE)\n"
    "  recover KEYFILE        the office only: set a new passphrase on a store whose worker\n"
    "                         forgot it, with the organisation's recovery key file\n"
    "                         (new passphrase as for passwd)\n"
    "\n"
    "CASE and RECORD are the ids as the lists show them (their last 12 digits; the first 6 or\n"
    "more of those are enough when no other id has them).\n"
    "The store is --store PATH, or HOMEWARD_STORE (when set and not empty), or ./homeward.db.\n"
    "The passphrase is read from the terminal without echo, or from --passphrase-fd N, or from\n"
    "HOMEWARD_PASSPHRASE (for scripts only: other programs of this user may read it).\n"
    "Values: yes/no, whole numbers, dates as 2026-11-30, choices by name (or its start\n"
    "when no other choice starts so: home for home_visit; or its number in the guided\n"
    "list), several choices\n"
    "separated by commas, several texts separated by ';'.\n"
    "--version prints the version.\n"
    "Exit: 0 done, 1 refused (bad input, unknown case, wrong passphrase: nothing written),\n"
    "2 wrong command line, 3 sync did not finish (offline, refused), 4 device revoked.\n";

/* What a command needs on its line, said when it is missing. */
static int missing(const char *what)
{
  fprintf(stderr, "homeward: %s\n", what);
  return HW_CLI_USAGE;
}

/* Why hw_passphrase_read refused, in the words of where it came from
 * (it reads --passphrase-fd, else the environment, else the terminal). */
static const char *passphrase_problem(int rc, int fd, bool confirm)
{
  const char *env = getenv("HOMEWARD_PASSPHRASE");

  if (rc == HW_ENOENT)
    return "no passphrase given (no terminal to ask on: use --passphrase-fd N or "
           "HOMEWARD_PASSPHRASE)";
  if (rc == HW_ENOMEM)
    return "out of memory";
  if (fd >= 0 && fcntl(fd, F_GETFD) < 0)
    return "--passphrase-fd names no open file descriptor";
  if (fd >= 0)
    return "the passphrase read from --passphrase-fd is empty or longer than 1024 bytes";
  if (env)
    return env[0] ? "HOMEWARD_PASSPHRASE is longer than 1024 bytes"
                  : "HOMEWARD_PASSPHRASE is empty: set it to the passphrase, or unset it to be "
                    "asked";
  return confirm ? "the two passphrases differ, or are empty: nothing was created"
                 : "the passphrase is empty";
}

/* The store's path before the passphrase is asked for: a folder is not a
 * store, and a missing store is said at once. 0 to go on. */
static int check_store_path(const char *path, bool create)
{
  struct stat sb;

  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    fprintf(stderr,
            "homeward: %s is a directory, not a Homeward store: give the store's file (for "
            "example %s/homeward.db)\n",
            path, path);
    return HW_CLI_FAIL;
  }
  if (!create && stat(path, &sb) != 0 && errno == ENOENT) {
    fprintf(stderr,
            "homeward: there is no store at %s: run homeward init INVITATION first (or give "
            "--store PATH)\n",
            path);
    return HW_CLI_FAIL;
  }
  return 0;
}

/* `init` over a store that exists: it takes the new invitation when its
 * enrolment never reached the server, or the server said it does not know
 * the device (a restored server): nothing it holds is lost. An enrolled
 * device takes the new address of its own server (*renewed = 2). */
static int renew_invitation(hw_client **c, const char *invitation, int *renewed)
{
  int rc = hw_client_reinvite(*c, invitation, strlen(invitation));

  if (rc == HW_CLIENT_READDRESSED && renewed)
    *renewed = 2;
  if (rc == 0 || rc == HW_CLIENT_READDRESSED)
    return 0;
  if (rc == HW_EEXIST)
    fprintf(stderr,
            "homeward: this device already has a store here, enrolled as %s: it needs no "
            "invitation (give --store PATH for another store)\n",
            hw_client_worker(*c));
  else if (rc == HW_EINVAL)
    fprintf(stderr,
            "homeward: this invitation is for another worker or server than the store here "
            "(%s's): ask for a new invitation for %s from the same office (or give --store "
            "PATH for another store)\n",
            hw_client_worker(*c), hw_client_worker(*c));
  else if (rc == HW_EPROTO)
    fprintf(stderr, "homeward: that is not a valid invitation (check it was copied whole)\n");
  else
    fprintf(stderr, "homeward: cannot renew the invitation: %s\n", hw_cli_strerror(rc));
  hw_client_close(*c);
  *c = NULL;
  return HW_CLI_FAIL;
}

/* Open the store, or with `create` make it from `invitation`; *renewed (may
 * be NULL) says the store existed and took the invitation instead (1), or
 * only its address (2). */
static int open_client(const hw_cli_opts *o, hw_client **c, bool create, const char *invitation,
                       int *renewed)
{
  char *pass;
  int why = 0;
  hw_client_opts co = {.path = o->store, .test_flags = o->test_flags, .why = &why};
  bool exists = create && access(o->store, F_OK) == 0;
  int rc;

  if (renewed)
    *renewed = exists ? 1 : 0;
  if ((rc = check_store_path(o->store, create)) != 0)
    return rc;
  if (exists)
    create = false; /* init over a store: open it, then renew its invitation */
  if (!(pass = hw_secure_alloc(HW_PASSPHRASE_MAX + 1)))
    return hw_cli_fail("out of memory");
  rc = hw_passphrase_read(pass, o->passphrase_fd, "passphrase: ", create);
  if (rc) {
    hw_secure_free(pass);
    return hw_cli_fail(passphrase_problem(rc, o->passphrase_fd, create));
  }
  if (create && hw_passphrase_weakness(pass)) {
    fprintf(stderr, "homeward: passphrase refused: %s\n", hw_passphrase_weakness(pass));
    hw_secure_free(pass);
    return 1;
  }
  co.passphrase = (const uint8_t *)pass;
  co.passphrase_len = strlen(pass);
  rc = create ? hw_client_create(c, &co, invitation, strlen(invitation)) : hw_client_open(c, &co);
  hw_secure_free(pass);
  if (rc == HW_EPASSPHRASE && exists)
    return hw_cli_fail("a store already exists here and this passphrase does not open it: give "
                       "its passphrase to renew its invitation, or --store PATH for a new one");
  if (rc == HW_EPASSPHRASE)
    return hw_cli_fail("wrong passphrase");
  if (rc == HW_EEXIST && access(o->store, F_OK) != 0) {
    fprintf(stderr,
            "homeward: %s.hwkey (the store's key envelope) is here but the store %s is not: "
            "it was deleted or moved. Put it back, or move the envelope aside if the store is "
            "truly gone, then init again\n",
            o->store, o->store);
    return HW_CLI_FAIL;
  }
  if (rc == HW_EEXIST)
    return hw_cli_fail("this device already has a store here");
  if (rc == HW_ENOENT && !create) {
    fprintf(stderr,
            "homeward: there is no store at %s: run homeward init INVITATION first (or "
            "give --store PATH)\n",
            o->store);
    return HW_CLI_FAIL;
  }
  if (rc == HW_EPROTO && create)
    return hw_cli_fail("that is not a valid invitation (check it was copied whole)");
  if (rc == HW_EPROTO) {
    fprintf(stderr, "homeward: %s is not a Homeward store (check --store or HOMEWARD_STORE)\n",
            o->store);
    return HW_CLI_FAIL;
  }
  if (rc == HW_EKEYFILE && why == HW_STORE_WHY_KEYFILE_MISSING) {
    fprintf(stderr,
            "homeward: cannot open the store %s: its key envelope %s.hwkey is missing (it holds "
            "the wrapped key; without it the store cannot be opened): put it back from where "
            "the store came from\n",
            o->store, o->store);
    return 1;
  }
  if (rc) {
    /* The store's own words say which file and what is wrong with it. */
    fprintf(stderr, "homeward: cannot open the store %s: %s%s%s%s\n", o->store,
            hw_cli_strerror(rc), why ? " (" : "", why ? hw_store_why_str(why) : "",
            why ? ")" : "");
    return 1;
  }
  return exists ? renew_invitation(c, invitation, renewed) : 0;
}

/* A record or case named by its 32 digits or by a unique part (as the
 * lists show them: hw_cli_db_case). */
int hw_cli_parse_id(hw_client *c, const char *text, hw_id *out, bool is_case)
{
  hw_cli_db db;
  int rc = HW_ENOENT;

  if (strlen(text) == HW_ID_HEX_LEN) {
    if (hw_id_from_hex(out, text, strlen(text)))
      return hw_cli_unknown_id(text, is_case), HW_ENOENT;
    return HW_OK;
  }
  if (hw_cli_db_load(c, &db))
    return HW_EIO;
  if (is_case) {
    const hw_cli_case *k = hw_cli_db_case(&db, text);
    if (k)
      *out = k->id, rc = HW_OK;
  } else {
    const hw_cli_rec *x = hw_cli_db_record(&db, text);
    if (x)
      *out = x->r->id, rc = HW_OK;
  }
  hw_cli_db_free(&db);
  return rc;
}

/* Turn --set FIELD=VALUE into field values of `kind`'s form. */
static int build_values(const hw_cli_opts *o, const char *kind, hw_field_value *fv, hw_cbor_wr *w)
{
  const hw_form *form = hw_form_find(kind, strlen(kind));
  char why[256];

  if (!form) {
    fprintf(stderr, "homeward: there is no form called %s (see: homeward forms)\n", kind);
    return -1;
  }
  for (size_t i = 0; i < o->n_sets; i++) {
    const char *eq = strchr(o->sets[i], '='); /* there is one: hw_cli_parse_args checked */
    const hw_form_field *f = hw_form_field_find(form, o->sets[i], (size_t)(eq - o->sets[i]));
    if (!f) {
      char shown[256];
      hw_cli_text_clean(o->sets[i], (size_t)(eq - o->sets[i]), shown, sizeof shown);
      fprintf(stderr, "homeward: the %s form has no question %s\n", kind, shown);
      return -1;
    }
    hw_cbor_wr_init(&w[i], HW_VALUE_MAX);
    if (hw_cli_value_parse(f, eq + 1, &w[i], why, sizeof why) != HW_OK ||
        hw_cbor_wr_finish(&w[i]) != HW_OK) {
      fprintf(stderr, "homeward: %s\n", why[0] ? why : "value too long");
      return -1;
    }
    fv[i].name = (hw_bytes){(const uint8_t *)f->name, strlen(f->name)};
    fv[i].value = (hw_bytes){w[i].buf, w[i].len};
  }
  return 0;
}

int hw_cli_forms(void)
{
  for (size_t i = 0; i < hw_forms_count(); i++) {
    const hw_form *f = hw_form_at(i);
    printf("%s — %s\n  aim: %s\n", f->kind, f->title, f->aim);
    for (size_t k = 0; k < f->n_fields; k++) {
      const hw_form_field *q = &f->fields[k];
      printf("    %-26s %s%s", q->name, q->required ? "(required) " : "", q->help);
      if (q->values) {
        printf(" [");
        for (const char *const *v = q->values; *v; v++)
          printf("%s%s", v == q->values ? "" : ", ", *v);
        printf("]");
      }
      printf("\n");
    }
  }
  return 0;
}

/* The record named by `text`, or HW_CLI_FAIL after saying why (once). */
static int get_record(hw_client *c, const char *text, hw_id *rec, hw_record **r)
{
  int rc;

  if (hw_cli_parse_id(c, text, rec, false))
    return HW_CLI_FAIL;
  if ((rc = hw_client_get(c, rec, r)) == HW_ENOENT)
    return hw_cli_unknown_id(text, false);
  return rc ? hw_cli_fail(hw_cli_strerror(rc)) : 0;
}

/* Whether a void standing in `r` was written by `worker` (on any of her
 * devices). */
static bool own_void(const hw_record *r, const char *worker)
{
  const hw_field *v = hw_record_field(r, HW_FIELD_VOIDED, strlen(HW_FIELD_VOIDED));
  size_t n = strlen(worker);

  for (uint32_t i = 0; v && i < v->n_pairs; i++) {
    const hw_write_meta *m = &r->writes[v->pairs[i].w];
    if (!hw_value_is_null(v->pairs[i].value.p, v->pairs[i].value.len) && m->author.len == n &&
        memcmp(m->author.p, worker, n) == 0)
      return true;
  }
  return false;
}

bool hw_cli_own_void_refused(hw_client *c, const hw_record *r, const char *text)
{
  /* A write after a void disputes it (data-model.md). The worker who
   * voided it takes her own void back first; a void by someone else is
   * disputed by the edit, for a coordinator to settle, never undone here. */
  hw_void_status vs = {0};
  if (hw_record_void_status(r, &vs) != HW_OK || !vs.voided || vs.disputed ||
      !own_void(r, hw_client_worker(c)))
    return false;
  fprintf(stderr,
          "homeward: not recorded: this record is voided; to edit it, take the void back "
          "first: homeward unvoid %.12s\n",
          text);
  return true;
}

/* `homeward write RECORD --set FIELD=VALUE ...`: one new write, validated. */
static int cmd_write(const hw_cli_opts *o, hw_client *c)
{
  hw_field_value fv[SETS_MAX];
  hw_cbor_wr w[SETS_MAX] = {0};
  hw_form_error err = {0};
  hw_record *r = NULL;
  hw_id rec;
  char kind[HW_KIND_MAX + 1];
  int rc = HW_CLI_FAIL;

  if (o->n_args < 2 || o->n_sets == 0)
    return fprintf(stderr, "homeward: write RECORD --set FIELD=VALUE ...\n"), HW_CLI_USAGE;
  if (get_record(c, o->args[1], &rec, &r))
    return HW_CLI_FAIL;
  snprintf(kind, sizeof kind, "%.*s", (int)r->kind.len, (const char *)r->kind.p);
  if (hw_cli_own_void_refused(c, r, o->args[1])) {
    hw_record_free(r);
    return HW_CLI_FAIL;
  }
  hw_record_free(r);
  if (build_values(o, kind, fv, w) == 0) {
    int wrc = hw_client_write(c, &rec, fv, o->n_sets, &err);
    if (wrc == HW_EVALIDATE || wrc == HW_ENOENT)
      fprintf(stderr, "homeward: not recorded: %s\n", err.msg);
    else if (wrc)
      fprintf(stderr, "homeward: not recorded: %s\n", hw_cli_strerror(wrc));
    else {
      printf("recorded (on this device until the next sync)\n");
      rc = HW_CLI_OK;
    }
  }
  for (size_t i = 0; i < o->n_sets; i++)
    hw_cbor_wr_close(&w[i]);
  return rc;
}

static int list_one(void *ud, const hw_record *r, bool pending, bool held)
{
  char rh[HW_ID_HEX_LEN + 1], ch[HW_ID_HEX_LEN + 1];
  hw_void_status vs = {0};
  (void)ud;
  hw_id_to_hex(&r->id, rh);
  hw_id_to_hex(&r->case_id, ch);
  if (hw_record_void_status(r, &vs) != HW_OK)
    memset(&vs, 0, sizeof vs);
  printf("%c%c %s case %s %-18.*s%s%s\n", hw_record_n_conflicts(r) || vs.disputed ? '!' : ' ',
         pending ? '*' : ' ', HW_CLI_SHORT(rh), HW_CLI_SHORT(ch), (int)r->kind.len,
         (const char *)r->kind.p, vs.voided ? " voided" : "",
         held ? " HELD for a coordinator" : "");
  return 0;
}

/* Take a void back: the record counts again, and a disputed void is
 * settled in favour of the edit its voider never saw. */
static int cmd_unvoid(const hw_cli_opts *o, hw_client *c)
{
  hw_record *r = NULL;
  hw_void_status vs = {0};
  hw_id rec;
  int rc;

  if (o->n_args < 2)
    return missing("unvoid RECORD");
  if (get_record(c, o->args[1], &rec, &r))
    return HW_CLI_FAIL;
  rc = hw_record_void_status(r, &vs);
  hw_record_free(r);
  if (rc)
    return hw_cli_fail(hw_cli_strerror(rc));
  if (!vs.voided)
    return hw_cli_fail("that record is not voided: nothing changed");
  if ((rc = hw_client_unvoid(c, &rec)) != 0)
    return hw_cli_fail(hw_cli_strerror(rc));
  puts("void taken back: the record counts again");
  return 0;
}

static int cmd_show(const hw_cli_opts *o, hw_client *c)
{
  hw_record *r = NULL;
  hw_id rec;

  if (o->n_args < 2)
    return missing("show RECORD");
  if (get_record(c, o->args[1], &rec, &r))
    return HW_CLI_FAIL;
  printf("%.*s record\n", (int)r->kind.len, (const char *)r->kind.p);
  hw_cli_print_fields(r, "  ");
  hw_record_free(r);
  return 0;
}

static void bytes_text(uint64_t n, char *out, size_t cap)
{
  if (n < 10 * 1024)
    snprintf(out, cap, "%llu B", (unsigned long long)n);
  else if (n < 10 * 1024 * 1024)
    snprintf(out, cap, "%llu kB", (unsigned long long)(n / 1024));
  else
    snprintf(out, cap, "%llu MB", (unsigned long long)(n / (1024 * 1024)));
}

typedef struct progress_ui {
  bool bar;    /* on a terminal: one line redrawn */
  bool unsaid; /* plain lines: `last` is not printed yet */
  hw_sync_progress last;
} progress_ui;

static void progress_line(const hw_sync_progress *p, bool bar)
{
  char up[32], down[32], cells[21];
  uint64_t total = p->records_up_total ? p->records_up_total : 1;
  size_t full = (size_t)((p->records_up > total ? total : p->records_up) * 20 / total);

  bytes_text(p->bytes_up, up, sizeof up);
  bytes_text(p->bytes_down, down, sizeof down);
  if (!bar) {
    fprintf(stderr, "sync: sent %llu/%llu record%s, received %llu (%s up, %s down)\n",
            (unsigned long long)p->records_up, (unsigned long long)p->records_up_total,
            p->records_up_total == 1 ? "" : "s", (unsigned long long)p->records_down, up, down);
    return;
  }
  if (p->records_up_total == 0)
    full = 20;
  memset(cells, '#', full);
  memset(cells + full, '.', 20 - full);
  cells[20] = '\0';
  fprintf(stderr, "\rsync [%s] sent %llu/%llu, received %llu (%s up, %s down)   ", cells,
          (unsigned long long)p->records_up, (unsigned long long)p->records_up_total,
          (unsigned long long)p->records_down, up, down);
  fflush(stderr);
}

/* A bar on a terminal, plain lines otherwise (logs, scripts). The sync
 * reports after every acknowledged push and every pulled batch, so the
 * same counts can come more than once (an empty last pull): a plain line
 * is printed once per count, with the latest byte totals, when the counts
 * change or the sync ends (progress_end). */
static void on_progress(const hw_sync_progress *p, void *ud)
{
  progress_ui *ui = ud;

  if (ui->bar) {
    progress_line(p, true);
    return;
  }
  if (ui->unsaid &&
      (p->records_up != ui->last.records_up || p->records_up_total != ui->last.records_up_total ||
       p->records_down != ui->last.records_down))
    progress_line(&ui->last, false);
  ui->last = *p;
  ui->unsaid = true;
}

static void progress_end(progress_ui *ui)
{
  if (ui->bar)
    fputc('\n', stderr);
  else if (ui->unsaid)
    progress_line(&ui->last, false);
  ui->unsaid = false;
}

/* "1 record ... was", "2 records ... were": a count with the words that
 * agree with it, on a line of its own. */
static void count_line(FILE *out, uint64_t n, const char *one, const char *many)
{
  fprintf(out, "%llu %s\n", (unsigned long long)n, n == 1 ? one : many);
}

/* What a finished sync did besides sending and receiving. */
static void sync_removals(const hw_sync_result *r)
{
  if (r->closed_removed)
    count_line(stdout, r->closed_removed,
               "record of closed cases was removed from this device (the office keeps it)",
               "records of closed cases were removed from this device (the office keeps them)");
  if (r->removed)
    count_line(stdout, r->removed,
               "record of cases now looked after by someone else was removed from this device",
               "records of cases now looked after by someone else were removed from this device");
  if (r->decided)
    count_line(stdout, r->decided,
               "record held for a coordinator was decided: this device now has the office's "
               "version",
               "records held for a coordinator were decided: this device now has the office's "
               "version");
  if (r->kept)
    count_line(stdout, r->kept,
               "record here was kept as it is, not merged with the office's newer version: a "
               "coordinator decides on it",
               "records here were kept as they are, not merged with the office's newer version: "
               "a coordinator decides on them");
}

static void sync_notes(hw_client *c, const hw_sync_result *r)
{
  if (r->forked)
    printf("this device's store was restored or copied: it now writes under a new identity\n");
  if (r->lost_by_server)
    count_line(stdout, r->lost_by_server,
               "earlier answer from this device was lost when the office server was restored "
               "from a backup and cannot be sent again (changed here since, or its case closed "
               "or moved): tell your coordinator",
               "earlier answers from this device were lost when the office server was restored "
               "from a backup and cannot be sent again (changed here since, or their cases "
               "closed or moved): tell your coordinator");
  if (r->reissued)
    count_line(stdout, r->reissued,
               "record another copy of this store had also changed was sent again: where both "
               "copies answered the same question, both answers are kept for you to choose",
               "records another copy of this store had also changed were sent again: where both "
               "copies answered the same question, both answers are kept for you to choose");
  if (r->history_rewritten)
    printf("WARNING: the server's audit history went backwards: tell your coordinator\n");
  if (r->late_edited)
    count_line(stdout, r->late_edited,
               "case is marked LATE-EDIT: someone who looked after it before wrote in it after it "
               "moved (homeward case list shows which; the mark stays until your coordinator "
               "reviews it)",
               "cases are marked LATE-EDIT: someone who looked after them before wrote in them "
               "after they moved (homeward case list shows which; the marks stay until your "
               "coordinator reviews them)");
  if (!r->checksum_ok) {
    uint64_t pending = 0, held = 0;
    if (hw_client_count_pending(c, &pending, &held) == HW_OK && held) {
      printf("note: ");
      count_line(stdout, held,
                 "record held for a coordinator differs from the office's until they decide",
                 "records held for a coordinator differ from the office's until they decide");
    } else {
      printf("note: this device and the server do not hold the same records yet; sync again\n");
    }
  }
  if (r->clock_skew_ms > 10 * 60 * 1000 || r->clock_skew_ms < -10 * 60 * 1000)
    printf("note: this device's clock is off by %lld minutes: please correct it\n",
           (long long)(r->clock_skew_ms / 60000));
}

static int cmd_sync(hw_client *c)
{
  hw_sync_result r;
  progress_ui ui = {.bar = isatty(STDERR_FILENO)};
  int rc = hw_client_sync(c, 30000, on_progress, &ui, &r);

  progress_end(&ui);
  if (rc) {
    if (r.wiped) {
      fprintf(stderr, "homeward: %s\n", r.message);
      if (r.unsent_destroyed) {
        fprintf(stderr, "homeward: ");
        count_line(stderr, r.unsent_destroyed, "record never synced was deleted with it",
                   "records never synced were deleted with it");
      }
      return HW_CLI_REVOKED;
    }
    fprintf(stderr, "homeward: sync did not finish: %s\n",
            r.message[0] ? r.message : hw_cli_strerror(rc));
    return rc == HW_EREVOKED ? HW_CLI_REVOKED : HW_CLI_OFFLINE;
  }
  hw_cli_note_synced(c);
  printf("synced: %llu sent, %llu received, %llu merged with others' edits, %llu held for a "
         "coordinator, %llu record%s with conflicts\n",
         (unsigned long long)r.pushed, (unsigned long long)r.pulled, (unsigned long long)r.merged,
         (unsigned long long)r.quarantined, (unsigned long long)r.conflicts,
         r.conflicts == 1 ? "" : "s");
  sync_removals(&r);
  sync_notes(c, &r);
  return 0;
}

int hw_cli_run(hw_cli_opts *o, hw_client *c)
{
  const char *cmd = o->args[0];
  const char *sub = o->n_args > 1 ? o->args[1] : "";

  if (!strcmp(cmd, "record"))
    return hw_cli_record_new(o, c, o->case_id);
  if (!strcmp(cmd, "write"))
    return cmd_write(o, c);
  if (!strcmp(cmd, "drafts"))
    return hw_cli_drafts(o, c);
  if (!strcmp(cmd, "export"))
    return hw_cli_export(o, c);
  if (!strcmp(cmd, "void")) {
    hw_id rec;
    int rc;
    if (o->n_args < 2 || !o->reason)
      return missing("void RECORD --reason TEXT");
    if (hw_cli_parse_id(c, o->args[1], &rec, false))
      return HW_CLI_FAIL;
    if ((rc = hw_client_void(c, &rec, o->reason)) == HW_ENOENT)
      return hw_cli_unknown_id(o->args[1], false);
    if (rc)
      return hw_cli_fail(hw_cli_strerror(rc));
    puts("voided (the entry is kept and marked void)");
    return 0;
  }
  if (!strcmp(cmd, "unvoid"))
    return cmd_unvoid(o, c);
  if (!strcmp(cmd, "list")) {
    int lrc = hw_client_list(c, list_one, NULL);
    if (lrc)
      fprintf(stderr, "homeward: cannot read the store: %s\n", hw_cli_strerror(lrc));
    return lrc ? HW_CLI_FAIL : 0;
  }
  if (!strcmp(cmd, "show"))
    return cmd_show(o, c);
  if (!strcmp(cmd, "sync"))
    return cmd_sync(c);
  if (!strcmp(cmd, "case") && !strcmp(sub, "list"))
    return hw_cli_case_list(o, c);
  if (!strcmp(cmd, "case") && !strcmp(sub, "show"))
    return hw_cli_case_show(o, c);
  if (!strcmp(cmd, "case") && !strcmp(sub, "find"))
    return hw_cli_case_find(o, c);
  if (!strcmp(cmd, "conflicts"))
    return hw_cli_conflicts(o, c);
  if (!strcmp(cmd, "resolve"))
    return hw_cli_resolve(o, c);
  if (!strcmp(cmd, "status"))
    return hw_cli_status(o, c);
  return hw_cli_passwd(o, c);
}

/* --json and --csv given to a command without that output: said, not
 * ignored (a script would take the text for the JSON it asked for). */
static int check_format(const hw_cli_opts *o)
{
  const char *cmd = o->args[0], *sub = o->n_args > 1 ? o->args[1] : "";
  bool is_case = !strcmp(cmd, "case");

  if (o->json && !(!strcmp(cmd, "status") || !strcmp(cmd, "export") ||
                   (is_case && (!strcmp(sub, "list") || !strcmp(sub, "show"))))) {
    fprintf(stderr,
            "homeward: %s%s%s has no --json: it goes with case list, case show, status and "
            "export\n",
            cmd, is_case ? " " : "", is_case ? sub : "");
    return HW_CLI_USAGE;
  }
  if (o->csv && strcmp(cmd, "export")) {
    fprintf(stderr, "homeward: %s%s%s has no --csv: it goes with export\n", cmd, is_case ? " " : "",
            is_case ? sub : "");
    return HW_CLI_USAGE;
  }
  return -1;
}

int hw_cli_check_command(const hw_cli_opts *o, bool shell)
{
  static const char *const cmds[] = {
      "record", "write",  "void",   "unvoid", "list",  "show", "sync",  "conflicts", "resolve",
      "status", "passwd", "drafts", "export", "forms", "init", "shell", "recover",   NULL};
  const char *cmd = o->args[0], *sub = o->n_args > 1 ? o->args[1] : NULL;
  bool known = !strcmp(cmd, "case");

  for (const char *const *k = cmds; *k && !known; k++)
    known = !strcmp(cmd, *k);
  if (!known) {
    fprintf(stderr, "homeward: unknown command %s%s", cmd, shell ? " (help lists them)\n" : "\n\n");
    if (!shell)
      fputs(usage, stderr);
    return HW_CLI_USAGE;
  }
  if (!strcmp(cmd, "case")) {
    if (!sub || (strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "find"))) {
      if (sub)
        fprintf(stderr, "homeward: unknown case command %s: ", sub);
      else
        fprintf(stderr, "homeward: case wants a command: ");
      fprintf(stderr, "case list, case show CASE or case find [NAME]\n");
      return HW_CLI_USAGE;
    }
    if (!strcmp(sub, "show") && o->n_args < 3)
      return missing("case show CASE (the case id as the list shows it, or its first digits)");
    return check_format(o);
  }
  if (!shell && !strcmp(cmd, "init") && o->n_args < 2)
    return missing("init INVITATION");
  if (!shell && !strcmp(cmd, "recover") && o->n_args < 2)
    return missing("recover KEYFILE (the recovery key file homeward-server init wrote)");
  if (!strcmp(cmd, "record") && !o->resume && o->n_args < 2)
    return missing("record KIND --set FIELD=VALUE ... (see: homeward forms), or "
                   "record --resume DRAFT");
  if (!strcmp(cmd, "record") && !isatty(STDIN_FILENO) && o->n_sets == 0 && !o->file && !o->draft &&
      !o->resume)
    return missing("record KIND --set FIELD=VALUE ... (or run it on a terminal to be guided)");
  if (!strcmp(cmd, "write") && (o->n_args < 2 || o->n_sets == 0))
    return missing("write RECORD --set FIELD=VALUE ...");
  if (!strcmp(cmd, "void") && (o->n_args < 2 || !o->reason))
    return missing("void RECORD --reason TEXT");
  if (!strcmp(cmd, "show") && o->n_args < 2)
    return missing("show RECORD (the record id as the list shows it, or its first digits)");
  if (!strcmp(cmd, "resolve") && (o->n_args < 3 || (o->pick > 0) == (o->value != NULL)))
    return missing("resolve RECORD FIELD (--pick N | --value V)");
  if (!strcmp(cmd, "export") && o->json == o->csv)
    return missing("export (--json | --csv) [--output FILE] [--yes]");
  {
    /* Words past a command's own are refused, not ignored: `init INV x`
     * must not look as if x had been taken into account. */
    static const struct {
      const char *cmd;
      size_t words;
    } most[] = {{"init", 2},   {"recover", 2}, {"status", 1}, {"sync", 1},    {"list", 1},
                {"passwd", 1}, {"drafts", 1},  {"forms", 1},  {"export", 1},  {"show", 2},
                {"write", 2},  {"void", 2},    {"unvoid", 2}, {"resolve", 3}, {"record", 2}};
    for (size_t i = 0; i < sizeof most / sizeof most[0]; i++)
      if (!strcmp(cmd, most[i].cmd) && o->n_args > most[i].words) {
        fprintf(stderr, "homeward: %s: one word too many from %s (quote a value with spaces)\n",
                cmd, o->args[most[i].words]);
        return HW_CLI_USAGE;
      }
  }
  return check_format(o);
}

/* A whole number for an option, or -1. */
static int option_int(const char *v)
{
  char *end;
  long n = strtol(v, &end, 10);
  return *v && !*end && n >= 0 && n < 1000 ? (int)n : -1;
}

static void today_utc(hw_date *d)
{
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  *d = (hw_date){tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}

typedef struct value_opt {
  const char *name;
  const char *wants; /* said when the value is empty; NULL: its own check, or may be empty */
} value_opt;

/* The option `a` when it is followed by a value, else NULL (the flags are
 * handled before this is asked). */
static const value_opt *value_option(const char *a)
{
  static const value_opt opts[] = {{"--store", "a path"},
                                   {"--case", "a case id (as the list shows it)"},
                                   {"--reason", "a reason"},
                                   {"--stage", NULL},
                                   {"--value", NULL}, /* an empty answer may be meant */
                                   {"--place", "a place"},
                                   {"--file", "a path"},
                                   {"--output", "a path"},
                                   {"--resume", "a draft's name (see: homeward drafts)"},
                                   {"--today", NULL},
                                   {"--pick", "a whole number"},
                                   {"--age", "a whole number"},
                                   {"--idle", "a whole number"},
                                   {"--passphrase-fd", "a whole number"},
                                   {"--new-passphrase-fd", "a whole number"},
                                   {"--set", NULL},
                                   {NULL, NULL}};
  for (const value_opt *k = opts; k->name; k++)
    if (!strcmp(a, k->name))
      return k;
  return NULL;
}

/* --set FIELD=VALUE: a name before the '=' (the value may be empty). */
static bool set_well_formed(const char *set)
{
  const char *eq = strchr(set, '=');
  return eq && eq != set;
}

static bool stage_known(const char *name)
{
  for (int s = HW_STAGE_ASSESSMENT; s <= HW_STAGE_REMOVED; s++)
    if (!strcmp(hw_stage_name((hw_stage)s), name))
      return true;
  return false;
}

/* The values checked as a whole, once every option is read. */
static int check_values(hw_cli_opts *o)
{
  if (o->today_text) {
    if (hw_date_parse(o->today_text, strlen(o->today_text), &o->today))
      return fprintf(stderr, "homeward: --today wants a date like 2026-11-30\n"), HW_CLI_USAGE;
  } else {
    today_utc(&o->today);
  }
  if (o->stage && !stage_known(o->stage)) {
    fprintf(stderr, "homeward: no stage called %s (", o->stage);
    for (int s = HW_STAGE_ASSESSMENT; s <= HW_STAGE_REMOVED; s++)
      fprintf(stderr, "%s%s", s > HW_STAGE_ASSESSMENT ? ", " : "", hw_stage_name((hw_stage)s));
    fputs(")\n", stderr);
    return HW_CLI_USAGE;
  }
  return -1;
}

void hw_cli_usage_shell(void)
{
  static const char *const outside[] = {"usage:", "  init ", "  shell ", "  recover ",
                                        "The store is", "The passphrase", "HOMEWARD_PASSPHRASE",
                                        "--version", NULL};
  const char *p = usage;
  bool skipping = false;

  /* The usage without what the shell refuses (init, shell, recover) or
   * does not take (--store, the passphrase's sources): a command's
   * continuation lines go with it. */
  while (*p) {
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p + 1) : strlen(p);
    bool cont = len > 25 && strspn(p, " ") >= 25;
    if (!cont) {
      skipping = false;
      for (const char *const *o = outside; *o && !skipping; o++)
        skipping = !strncmp(p, *o, strlen(*o));
    }
    if (!skipping)
      fwrite(p, 1, len, stdout);
    p += len;
  }
}

int hw_cli_parse_args(int argc, char **argv, int first, hw_cli_opts *o)
{
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    const value_opt *vo = NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "help"))
      return fputs(usage, stdout), HW_CLI_OK;
    if (!strcmp(a, "--version"))
      return puts("homeward " HW_VERSION), HW_CLI_OK;
#ifdef HW_CLI_TEST_OPTIONS
    /* homeward-test only (never installed): stores made or rewrapped with
     * the smallest Argon2id limits, so a test's stores open in milliseconds.
     * The installed command has no way to weaken a passphrase's hashing. */
    if (!strcmp(a, "--test-fast-kdf")) {
      o->test_flags |= HW_STORE_TEST_KDF_MIN;
      continue;
    }
#endif
    if (!strcmp(a, "--due") || !strcmp(a, "--unsynced") || !strcmp(a, "--conflicts") ||
        !strcmp(a, "--force") || !strcmp(a, "--draft") || !strcmp(a, "--json") ||
        !strcmp(a, "--csv") || !strcmp(a, "--yes")) {
      *(!strcmp(a, "--due")         ? &o->due
        : !strcmp(a, "--unsynced")  ? &o->unsynced
        : !strcmp(a, "--conflicts") ? &o->conflicts
        : !strcmp(a, "--force")     ? &o->force
        : !strcmp(a, "--draft")     ? &o->draft
        : !strcmp(a, "--json")      ? &o->json
        : !strcmp(a, "--csv")       ? &o->csv
                                    : &o->yes) = true;
      continue;
    }
    if (a[0] == '-' && !(vo = value_option(a)))
      return fprintf(stderr, "homeward: unknown option %s\n\n%s", a, usage), HW_CLI_USAGE;
    if (a[0] == '-' && i + 1 >= argc)
      return fprintf(stderr, "homeward: %s needs a value\n", a), HW_CLI_USAGE;
    if (a[0] == '-' && vo->wants && !argv[i + 1][0])
      return fprintf(stderr, "homeward: %s wants %s\n", a, vo->wants), HW_CLI_USAGE;
    if (!strcmp(a, "--store"))
      o->store = argv[++i];
    else if (!strcmp(a, "--case"))
      o->case_id = argv[++i];
    else if (!strcmp(a, "--reason"))
      o->reason = argv[++i];
    else if (!strcmp(a, "--stage"))
      o->stage = argv[++i];
    else if (!strcmp(a, "--value"))
      o->value = argv[++i];
    else if (!strcmp(a, "--place"))
      o->place = argv[++i];
    else if (!strcmp(a, "--file"))
      o->file = argv[++i];
    else if (!strcmp(a, "--output"))
      o->output = argv[++i];
    else if (!strcmp(a, "--resume"))
      o->resume = argv[++i];
    else if (!strcmp(a, "--today"))
      o->today_text = argv[++i];
    else if (!strcmp(a, "--passphrase-fd") || !strcmp(a, "--new-passphrase-fd")) {
      int fd = option_int(argv[++i]);
      if (fd < 0)
        return fprintf(stderr, "homeward: %s wants a whole number\n", a), HW_CLI_USAGE;
      *(a[2] == 'p' ? &o->passphrase_fd : &o->new_passphrase_fd) = fd;
    } else if (!strcmp(a, "--pick") || !strcmp(a, "--age") || !strcmp(a, "--idle")) {
      int n = option_int(argv[++i]);
      if (n < 0 || (a[2] != 'a' && n == 0))
        return fprintf(stderr, "homeward: %s wants a whole number%s\n", a,
                       a[2] == 'p'   ? " from 1 (as homeward conflicts numbers the values)"
                       : a[2] == 'i' ? " from 1"
                                     : ""),
               HW_CLI_USAGE;
      *(a[2] == 'p' ? &o->pick : a[2] == 'a' ? &o->age : &o->idle_s) = n;
    } else if (!strcmp(a, "--set")) {
      if (o->n_sets == SETS_MAX)
        return fprintf(stderr, "homeward: too many --set\n"), HW_CLI_USAGE;
      if (!set_well_formed(argv[++i]))
        return fprintf(stderr, "homeward: --set wants the form --set FIELD=VALUE, not \"%s\"\n",
                       argv[i]),
               HW_CLI_USAGE;
      o->sets[o->n_sets++] = argv[i];
    } else if (o->n_args < ARGS_MAX)
      o->args[o->n_args++] = a;
    else
      return fprintf(stderr, "homeward: too many arguments\n"), HW_CLI_USAGE;
  }
  return check_values(o);
}

int main(int argc, char **argv)
{
  hw_cli_opts o = {.passphrase_fd = -1, .new_passphrase_fd = -1, .age = -1};
  hw_client *c = NULL;
  const char *cmd;
  int rc;

  /* An empty HOMEWARD_STORE counts as unset (docs/worker-guide.md). */
  o.store = getenv("HOMEWARD_STORE");
  if (!o.store || !o.store[0])
    o.store = "homeward.db";
  if ((rc = hw_cli_parse_args(argc, argv, 1, &o)) >= 0)
    return rc;
  if (o.n_args == 0)
    return fputs(usage, stderr), HW_CLI_USAGE;
  if ((rc = hw_cli_check_command(&o, false)) >= 0)
    return rc;
  if (hw_crypto_init() != 0 || hw_mem_install_hooks() != 0)
    return hw_cli_fail("cannot initialise the libraries");
  json_set_alloc_funcs(hw_malloc, hw_free);
  cmd = o.args[0];
  if (!strcmp(cmd, "forms"))
    return hw_cli_forms();
  if (!strcmp(cmd, "init")) {
    int renew;
    if ((rc = open_client(&o, &c, true, o.args[1], &renew)) != 0)
      return rc;
    if (renew == 2)
      printf("the office server's address is now %s (the same server: this device stays "
             "enrolled as %s; everything recorded is kept)\n",
             hw_client_address(c), hw_client_worker(c));
    else
      printf(renew ? "invitation renewed for %s; everything recorded is kept: run `homeward "
                     "sync` when online to finish enrolling\n"
                   : "store created for %s; run `homeward sync` when online to finish "
                     "enrolling\n",
             hw_client_worker(c));
    hw_client_close(c);
    return HW_CLI_OK;
  }
  if (!strcmp(cmd, "recover"))
    return hw_cli_recover(&o, o.args[1]);
  if (!strcmp(cmd, "shell")) {
    if ((rc = open_client(&o, &c, false, NULL, NULL)) != 0)
      return rc;
    rc = hw_cli_shell(&o, c);
    hw_client_close(c);
    return rc;
  }
  if ((rc = open_client(&o, &c, false, NULL, NULL)) != 0)
    return rc;
  rc = hw_cli_run(&o, c);
  hw_client_close(c);
  return rc;
}
