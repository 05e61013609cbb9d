/* homeward: the outreach worker's command (docs/worker-guide.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "homeward/client.h"
#include "homeward/crypto.h"
#include "homeward/mem.h"
#include "homeward/passphrase.h"
#include "homeward/store.h"
#include "values-int.h"

#define SETS_MAX 64

static const char usage[] =
    "usage: homeward [--store PATH] COMMAND [OPTIONS]\n"
    "\n"
    "  init INVITATION        create this device's encrypted store and enrol it\n"
    "                         (INVITATION is the homeward-invite:... text a coordinator gave you)\n"
    "  forms                  list the forms, their aim and their questions\n"
    "  record KIND [--case CASE] --set FIELD=VALUE ...\n"
    "                         record a new form (a new case when --case is not given)\n"
    "  write RECORD --set FIELD=VALUE ...   change answers of a recorded form\n"
    "  void RECORD --reason TEXT            void a mistaken entry (kept, marked void)\n"
    "  list                   the records on this device (! conflict, * not yet synced)\n"
    "  show RECORD            every answer, who recorded it and when, conflicts side by side\n"
    "  sync                   send what is new, receive what changed\n"
    "\n"
    "The store is --store PATH, or HOMEWARD_STORE, or ./homeward.db. The passphrase is read\n"
    "from the terminal without echo, or from --passphrase-fd N, or from HOMEWARD_PASSPHRASE\n"
    "(for scripts only: other programs of this user may read it).\n"
    "Values: yes/no, whole numbers, dates as 2026-11-30, choices by name, several choices\n"
    "separated by commas, several texts separated by ';'.\n";

typedef struct opts {
  const char *store, *case_id, *reason;
  const char *sets[SETS_MAX];
  size_t n_sets;
  int passphrase_fd;
  unsigned test_flags;
  const char *args[4];
  size_t n_args;
} opts;

static int fail(const char *msg)
{
  fprintf(stderr, "homeward: %s\n", msg);
  return 1;
}

static int open_client(const opts *o, hw_client **c, bool create, const char *invitation)
{
  char *pass = hw_secure_alloc(HW_PASSPHRASE_MAX + 1);
  hw_client_opts co = {.path = o->store, .test_flags = o->test_flags};
  int rc;

  if (!pass)
    return fail("out of memory");
  rc = hw_passphrase_read(pass, o->passphrase_fd, "passphrase: ", create);
  if (rc) {
    hw_secure_free(pass);
    return fail(rc == HW_ENOENT ? "no passphrase given" : "the passphrases differ or are empty");
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
  if (rc == HW_EPASSPHRASE)
    return fail("wrong passphrase");
  if (rc == HW_EEXIST)
    return fail("this device already has a store here");
  if (rc == HW_EPROTO && create)
    return fail("that is not a valid invitation (check it was copied whole)");
  if (rc) {
    fprintf(stderr, "homeward: cannot open the store %s: %s\n", o->store, hw_strerror(rc));
    return 1;
  }
  return 0;
}

static int parse_id(const char *hex, hw_id *out)
{
  return hw_id_from_hex(out, hex, strlen(hex));
}

/* Turn --set FIELD=VALUE into field values of `kind`'s form. */
static int build_values(const opts *o, const char *kind, hw_field_value *fv, hw_cbor_wr *w)
{
  const hw_form *form = hw_form_find(kind, strlen(kind));
  char why[256];

  if (!form) {
    fprintf(stderr, "homeward: there is no form called %s (see: homeward forms)\n", kind);
    return -1;
  }
  for (size_t i = 0; i < o->n_sets; i++) {
    const char *eq = strchr(o->sets[i], '=');
    const hw_form_field *f;
    if (!eq || eq == o->sets[i]) {
      fprintf(stderr, "homeward: --set wants FIELD=VALUE, not %s\n", o->sets[i]);
      return -1;
    }
    f = hw_form_field_find(form, o->sets[i], (size_t)(eq - o->sets[i]));
    if (!f) {
      fprintf(stderr, "homeward: the %s form has no question %.*s\n", kind, (int)(eq - o->sets[i]),
              o->sets[i]);
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

static int cmd_forms(void)
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

static int cmd_record(const opts *o, hw_client *c, bool existing)
{
  hw_field_value fv[SETS_MAX];
  hw_cbor_wr w[SETS_MAX] = {0};
  hw_form_error err = {0};
  hw_id rec, cas;
  char rh[HW_ID_HEX_LEN + 1], ch[HW_ID_HEX_LEN + 1];
  char kind[HW_KIND_MAX + 1];
  int rc = 1;

  if (o->n_args < 2 || o->n_sets == 0)
    return fail(existing ? "write RECORD --set FIELD=VALUE ..."
                         : "record KIND --set FIELD=VALUE ...");
  if (existing) {
    hw_record *r = NULL;
    if (parse_id(o->args[1], &rec) || hw_client_get(c, &rec, &r))
      return fail("no such record on this device");
    snprintf(kind, sizeof kind, "%.*s", (int)r->kind.len, (const char *)r->kind.p);
    hw_record_free(r);
  } else {
    snprintf(kind, sizeof kind, "%s", o->args[1]);
  }
  if (o->case_id && parse_id(o->case_id, &cas))
    return fail("--case wants the 32-digit case id");
  if (build_values(o, kind, fv, w) == 0) {
    rc = existing ? hw_client_write(c, &rec, fv, o->n_sets, &err)
                  : hw_client_create_record(c, o->case_id ? &cas : NULL, kind, fv, o->n_sets, &rec,
                                            &cas, &err);
    if (rc == HW_EVALIDATE || rc == HW_ENOENT)
      fprintf(stderr, "homeward: not recorded: %s\n", err.msg);
    else if (rc)
      fprintf(stderr, "homeward: not recorded: %s\n", hw_strerror(rc));
    else {
      hw_id_to_hex(&rec, rh);
      hw_id_to_hex(&cas, ch);
      printf("recorded %s %s in case %s (on this device until the next sync)\n", kind, rh, ch);
    }
  }
  for (size_t i = 0; i < o->n_sets; i++)
    hw_cbor_wr_close(&w[i]);
  return rc ? 1 : 0;
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
  printf("%c%c %s case %.12s %-18.*s%s%s\n", hw_record_n_conflicts(r) || vs.disputed ? '!' : ' ',
         pending ? '*' : ' ', rh, ch, (int)r->kind.len, (const char *)r->kind.p,
         vs.voided ? " voided" : "", held ? " HELD for a coordinator" : "");
  return 0;
}

static void when(int64_t ms, char *out, size_t cap)
{
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, cap, "%Y-%m-%d %H:%M UTC", &tm);
}

static int cmd_show(const opts *o, hw_client *c)
{
  hw_record *r = NULL;
  hw_id rec;
  char value[1024], at[40];

  if (o->n_args < 2 || parse_id(o->args[1], &rec) || hw_client_get(c, &rec, &r))
    return fail("show RECORD: no such record on this device");
  printf("%.*s record\n", (int)r->kind.len, (const char *)r->kind.p);
  for (size_t i = 0; i < r->n_fields; i++) {
    const hw_field *f = &r->fields[i];
    const hw_pair *d = hw_field_display(r, f);
    const hw_write_meta *m = &r->writes[d->w];
    hw_cli_value_render(d->value.p, d->value.len, value, sizeof value);
    when(m->wall_ms, at, sizeof at);
    printf("  %-26.*s %s   (%.*s, %s)%s\n", (int)f->name.len, (const char *)f->name.p, value,
           (int)m->author.len, (const char *)m->author.p, at,
           f->n_pairs > 1 ? "   DISPUTED: other values below" : "");
    for (uint32_t k = 0; k < f->n_pairs; k++) {
      const hw_pair *p = &f->pairs[k];
      if (p == d)
        continue;
      hw_cli_value_render(p->value.p, p->value.len, value, sizeof value);
      when(r->writes[p->w].wall_ms, at, sizeof at);
      printf("  %-26s also: %s   (%.*s, %s)\n", "", value, (int)r->writes[p->w].author.len,
             (const char *)r->writes[p->w].author.p, at);
    }
  }
  hw_record_free(r);
  return 0;
}

static void on_progress(const hw_sync_progress *p, void *ud)
{
  (void)ud;
  fprintf(stderr, "sync: sent %llu/%llu records, received %llu (%llu bytes up, %llu down)\n",
          (unsigned long long)p->records_up, (unsigned long long)p->records_up_total,
          (unsigned long long)p->records_down, (unsigned long long)p->bytes_up,
          (unsigned long long)p->bytes_down);
}

static int cmd_sync(hw_client *c)
{
  hw_sync_result r;
  int rc = hw_client_sync(c, 30000, on_progress, NULL, &r);

  if (rc) {
    fprintf(stderr, "homeward: sync did not finish: %s\n",
            r.message[0] ? r.message : hw_strerror(rc));
    return rc == HW_EREVOKED ? 3 : 2;
  }
  printf("synced: %llu sent, %llu received, %llu merged with others' edits, %llu held for a "
         "coordinator, %llu records with conflicts\n",
         (unsigned long long)r.pushed, (unsigned long long)r.pulled, (unsigned long long)r.merged,
         (unsigned long long)r.quarantined, (unsigned long long)r.conflicts);
  if (r.forked)
    printf("this device's store was restored or copied: it now writes under a new identity\n");
  if (r.history_rewritten)
    printf("WARNING: the server's audit history went backwards: tell your coordinator\n");
  if (!r.checksum_ok)
    printf("note: this device and the server do not hold the same records yet; sync again\n");
  if (r.clock_skew_ms > 10 * 60 * 1000 || r.clock_skew_ms < -10 * 60 * 1000)
    printf("note: this device's clock is off by %lld minutes: please correct it\n",
           (long long)(r.clock_skew_ms / 60000));
  return 0;
}

int main(int argc, char **argv)
{
  opts o = {.passphrase_fd = -1};
  hw_client *c = NULL;
  const char *cmd;
  int rc;

  o.store = getenv("HOMEWARD_STORE") ? getenv("HOMEWARD_STORE") : "homeward.db";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "help"))
      return fputs(usage, stdout), 0;
    if (!strcmp(a, "--test-fast-kdf")) {
      o.test_flags |= HW_STORE_TEST_KDF_MIN; /* tests only: weak passphrase hashing */
      continue;
    }
    if (a[0] == '-' && a[1] == '-' && i + 1 >= argc)
      return fprintf(stderr, "homeward: %s needs a value\n", a), 2;
    if (!strcmp(a, "--store"))
      o.store = argv[++i];
    else if (!strcmp(a, "--case"))
      o.case_id = argv[++i];
    else if (!strcmp(a, "--reason"))
      o.reason = argv[++i];
    else if (!strcmp(a, "--passphrase-fd"))
      o.passphrase_fd = atoi(argv[++i]);
    else if (!strcmp(a, "--set")) {
      if (o.n_sets == SETS_MAX)
        return fail("too many --set");
      o.sets[o.n_sets++] = argv[++i];
    } else if (a[0] == '-')
      return fprintf(stderr, "homeward: unknown option %s\n\n%s", a, usage), 2;
    else if (o.n_args < 4)
      o.args[o.n_args++] = a;
  }
  if (o.n_args == 0)
    return fputs(usage, stderr), 2;
  if (hw_crypto_init() != 0 || hw_mem_install_hooks() != 0)
    return fail("cannot initialise the libraries");
  cmd = o.args[0];
  if (!strcmp(cmd, "forms"))
    return cmd_forms();
  if (!strcmp(cmd, "init")) {
    if (o.n_args < 2)
      return fail("init INVITATION");
    if ((rc = open_client(&o, &c, true, o.args[1])) != 0)
      return rc;
    printf("store created for %s; run `homeward sync` when online to finish enrolling\n",
           hw_client_worker(c));
    hw_client_close(c);
    return 0;
  }
  if (strcmp(cmd, "record") && strcmp(cmd, "write") && strcmp(cmd, "void") && strcmp(cmd, "list") &&
      strcmp(cmd, "show") && strcmp(cmd, "sync"))
    return fprintf(stderr, "homeward: unknown command %s\n\n%s", cmd, usage), 2;
  if ((rc = open_client(&o, &c, false, NULL)) != 0)
    return rc;
  if (!strcmp(cmd, "record") || !strcmp(cmd, "write"))
    rc = cmd_record(&o, c, !strcmp(cmd, "write"));
  else if (!strcmp(cmd, "void")) {
    hw_id rec;
    if (o.n_args < 2 || !o.reason || parse_id(o.args[1], &rec))
      rc = fail("void RECORD --reason TEXT");
    else if ((rc = hw_client_void(c, &rec, o.reason)) != 0)
      rc = fail(hw_strerror(rc));
    else
      puts("voided (the entry is kept and marked void)");
  } else if (!strcmp(cmd, "list"))
    rc = hw_client_list(c, list_one, NULL) ? fail("cannot read the store") : 0;
  else if (!strcmp(cmd, "show"))
    rc = cmd_show(&o, c);
  else
    rc = cmd_sync(c);
  hw_client_close(c);
  return rc;
}
