/* The client library without a server: writes validated against the forms
 * with messages naming the field, voids, the wrong passphrase, and a copied
 * store taking a new replica id before its first write. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "homeward/client.h"
#include "homeward/invitation.h"
#include "homeward/store.h"
#include "homeward/value.h"

static char dir[] = "/tmp/hw-client-XXXXXX";

static hw_client_opts opts(const char *name, const char *pass)
{
  static char path[2][256];
  static int k;
  hw_client_opts o = {0};
  k ^= 1;
  snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
  o.path = path[k];
  o.passphrase = (const uint8_t *)pass;
  o.passphrase_len = strlen(pass);
  o.test_flags = HW_STORE_TEST_KDF_MIN;
  return o;
}

static hw_field_value text_field(const char *name, const char *text, uint8_t *buf, size_t cap)
{
  hw_cbor_wr w;
  hw_cbor_wr_init_fixed(&w, buf, cap);
  hw_cbor_wr_text(&w, text, strlen(text));
  CHECK_OK(hw_cbor_wr_finish(&w));
  return (hw_field_value){{(const uint8_t *)name, strlen(name)}, {buf, w.len}};
}

static void copy_file(const char *from, const char *to)
{
  char cmd[700];
  snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
  CHECK(system(cmd) == 0);
}

int main(void)
{
  hw_invitation inv = {.address = "127.0.0.1:1", .worker = "amina", .expires_ms = 1};
  char text[HW_INVITE_TEXT_MAX + 1];
  hw_client *c = NULL, *d = NULL;
  hw_client_opts o;
  hw_form_error err;
  uint8_t b1[64], b2[64], b3[64], b4[64];
  hw_field_value f[4];
  hw_id rec, cas, r1, r2;
  hw_date date = {2026, 11, 30};
  hw_cbor_wr w;

  CHECK_OK(hw_crypto_init());
  CHECK(mkdtemp(dir) != NULL);
  hw_random_bytes(inv.server_key, 32);
  hw_random_bytes(inv.recovery_key, 32);
  hw_random_bytes(inv.token, 16);
  CHECK_OK(hw_invitation_format(&inv, text, sizeof text));
  /* A create that fails part way leaves no store behind (it would refuse
   * the next init and fail every open): at every allocation failure. */
  {
    hw_client_opts oo = opts("oom.db", "correct horse battery");
    char p[600], pk[620];
    snprintf(p, sizeof p, "%s/oom.db", dir);
    snprintf(pk, sizeof pk, "%s/oom.db.hwkey", dir);
    for (long n = 0;; n++) {
      hw_client *x = NULL;
      int rc;
      hw_test_fail_alloc_after(n);
      rc = hw_client_create(&x, &oo, text, strlen(text));
      hw_test_fail_alloc_after(-1);
      if (rc == HW_OK) {
        hw_client_close(x);
        break;
      }
      CHECK(x == NULL);
      CHECK(access(p, F_OK) != 0 && access(pk, F_OK) != 0);
    }
  }
  o = opts("a.db", "correct horse battery");
  CHECK_ERR(hw_client_create(&c, &o, "homeward-invite:nonsense", 24), HW_EPROTO);
  CHECK_OK(hw_client_create(&c, &o, text, strlen(text)));
  CHECK(strcmp(hw_client_worker(c), "amina") == 0);

  /* a case note missing its required fields: refused, naming one */
  f[0] = text_field("note", "visited the family", b1, sizeof b1);
  CHECK_ERR(hw_client_create_record(c, NULL, "case_note", f, 1, &rec, &cas, &err), HW_EVALIDATE);
  CHECK(strlen(err.msg) > 0 && strstr(err.msg, err.field) == err.msg);
  /* a decision outside its allowed values */
  hw_cbor_wr_init_fixed(&w, b2, sizeof b2);
  hw_value_put_date(&w, &date);
  CHECK_OK(hw_cbor_wr_finish(&w));
  f[1] = (hw_field_value){{(const uint8_t *)"note_date", 9}, {b2, w.len}};
  f[2] = text_field("decision", "maybe", b3, sizeof b3);
  CHECK_ERR(hw_client_create_record(c, NULL, "case_note", f, 3, &rec, &cas, &err), HW_EVALIDATE);
  CHECK(strncmp(err.msg, "decision:", 9) == 0);
  /* an unknown kind */
  CHECK_ERR(hw_client_create_record(c, NULL, "horoscope", f, 3, &rec, &cas, &err), HW_ENOENT);
  /* valid */
  f[2] = text_field("decision", "no_action", b3, sizeof b3);
  CHECK_OK(hw_client_create_record(c, NULL, "case_note", f, 3, &rec, &cas, &err));
  f[3] = text_field("note", "", b4, sizeof b4);
  CHECK_ERR(hw_client_write(c, &rec, &f[3], 1, &err), HW_EVALIDATE); /* empty required note */
  f[3] = text_field("note", "more detail", b4, sizeof b4);
  CHECK_OK(hw_client_write(c, &rec, &f[3], 1, &err));
  CHECK_ERR(hw_client_void(c, &rec, ""), HW_EINVAL);
  CHECK_OK(hw_client_void(c, &rec, "entered for the wrong child"));
  {
    hw_record *r = NULL;
    hw_void_status vs;
    uint64_t pending, held;
    CHECK_OK(hw_client_get(c, &rec, &r));
    CHECK_OK(hw_record_void_status(r, &vs));
    CHECK(vs.voided && !vs.disputed);
    CHECK_EQ(r->vv.n, 1);
    CHECK_EQ(r->vv.e[0].counter, 3);
    hw_record_free(r);
    CHECK_OK(hw_client_count_pending(c, &pending, &held));
    CHECK(pending == 1 && held == 0);
  }
  {
    /* A device keeps a rollback journal (client.c: DEVICE_JOURNAL), no WAL. */
    char side[1100];
    struct stat sb;
    snprintf(side, sizeof side, "%s-journal", o.path);
    CHECK(stat(side, &sb) == 0);
    snprintf(side, sizeof side, "%s-wal", o.path);
    CHECK(stat(side, &sb) != 0);
  }
  hw_client_replica(c, &r1);
  hw_client_close(c);

  /* the wrong passphrase is its own error and changes nothing */
  o = opts("a.db", "wrong passphrase here");
  CHECK_ERR(hw_client_open(&c, &o), HW_EPASSPHRASE);
  CHECK_NULL(c);

  /* a copy of the store (the no-backup record not copied with it) takes a
   * new replica id before its first write; the original keeps its own */
  {
    char from[300], to[300];
    snprintf(from, sizeof from, "%s/a.db", dir);
    snprintf(to, sizeof to, "%s/copy.db", dir);
    copy_file(from, to);
    strcat(from, ".hwkey");
    strcat(to, ".hwkey");
    copy_file(from, to);
  }
  o = opts("copy.db", "correct horse battery");
  CHECK_OK(hw_client_open(&d, &o));
  hw_client_replica(d, &r2);
  CHECK(hw_id_cmp(&r1, &r2) != 0);
  hw_client_close(d);
  o = opts("a.db", "correct horse battery");
  CHECK_OK(hw_client_open(&c, &o));
  hw_client_replica(c, &r2);
  CHECK(hw_id_cmp(&r1, &r2) == 0);
  hw_client_close(c);
  {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
  }
  puts("client: ok");
  return 0;
}
