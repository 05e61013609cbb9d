/* The client library's small additions for the `homeward` command: notes
 * kept in the store (names and sizes at their limits), the oldest write not
 * yet acknowledged, the passphrase change; each under allocation failure. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "homeward/client.h"
#include "homeward/invitation.h"
#include "homeward/mem.h"
#include "homeward/store.h"
#include "homeward/value.h"

static char dir[] = "/tmp/hw-notes-XXXXXX";
static char path[256];

static hw_client_opts opts(const char *pass)
{
  hw_client_opts o = {.path = path,
                      .passphrase = (const uint8_t *)pass,
                      .passphrase_len = strlen(pass),
                      .test_flags = HW_STORE_TEST_KDF_MIN};
  return o;
}

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void note_record(hw_client *c)
{
  uint8_t b1[32], b2[32], b3[32];
  hw_cbor_wr w;
  hw_date d = {2026, 11, 30};
  hw_field_value f[3];
  hw_form_error err;
  hw_id rec, cas;

  hw_cbor_wr_init_fixed(&w, b1, sizeof b1);
  hw_value_put_date(&w, &d);
  CHECK_OK(hw_cbor_wr_finish(&w));
  f[0] = (hw_field_value){{(const uint8_t *)"note_date", 9}, {b1, w.len}};
  hw_cbor_wr_init_fixed(&w, b2, sizeof b2);
  hw_cbor_wr_text(&w, "seen", 4);
  CHECK_OK(hw_cbor_wr_finish(&w));
  f[1] = (hw_field_value){{(const uint8_t *)"note", 4}, {b2, w.len}};
  hw_cbor_wr_init_fixed(&w, b3, sizeof b3);
  hw_cbor_wr_text(&w, "no_action", 9);
  CHECK_OK(hw_cbor_wr_finish(&w));
  f[2] = (hw_field_value){{(const uint8_t *)"decision", 8}, {b3, w.len}};
  CHECK_OK(hw_client_create_record(c, NULL, "case_note", f, 3, &rec, &cas, &err));
}

int main(void)
{
  hw_invitation inv = {.address = "127.0.0.1:1", .worker = "amina", .expires_ms = 1};
  char text[HW_INVITE_TEXT_MAX + 1], name[64];
  hw_client *c = NULL;
  hw_client_opts o;
  uint8_t *v = NULL, *big;
  size_t len = 0;
  int64_t t0, t1, oldest, again;
  long live;
  int rc;

  CHECK_OK(hw_crypto_init());
  CHECK(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/n.db", dir);
  hw_random_bytes(inv.server_key, 32);
  hw_random_bytes(inv.recovery_key, 32);
  hw_random_bytes(inv.token, 16);
  CHECK_OK(hw_invitation_format(&inv, text, sizeof text));
  o = opts("correct horse battery");
  CHECK_OK(hw_client_create(&c, &o, text, strlen(text)));

  /* Notes: round trip, missing, delete, names at and past their limit. */
  CHECK_ERR(hw_client_note_get(c, "last_sync_ms", &v, &len), HW_ENOENT);
  CHECK(v == NULL && len == 0);
  CHECK_OK(hw_client_note_set(c, "last_sync_ms", "123", 3));
  CHECK_OK(hw_client_note_get(c, "last_sync_ms", &v, &len));
  CHECK(len == 3 && !memcmp(v, "123", 3));
  hw_free(v);
  CHECK_OK(hw_client_note_del(c, "last_sync_ms"));
  CHECK_OK(hw_client_note_del(c, "last_sync_ms")); /* unset: fine */
  CHECK_ERR(hw_client_note_get(c, "last_sync_ms", &v, &len), HW_ENOENT);
  memset(name, 'n', sizeof name);
  name[48] = '\0';
  CHECK_OK(hw_client_note_set(c, name, "x", 1));
  name[48] = 'n';
  name[49] = '\0';
  CHECK_ERR(hw_client_note_set(c, name, "x", 1), HW_EINVAL);
  CHECK_ERR(hw_client_note_get(c, name, &v, &len), HW_EINVAL);
  CHECK_ERR(hw_client_note_del(c, name), HW_EINVAL);
  CHECK_ERR(hw_client_note_set(c, "", "x", 1), HW_EINVAL);
  CHECK_ERR(hw_client_note_set(c, NULL, "x", 1), HW_EINVAL);
  /* Values up to the store's setting limit; one byte more is refused and
   * the note keeps its value. */
  CHECK((big = malloc(HW_STORE_SETTING_MAX + 1)) != NULL);
  memset(big, 'b', HW_STORE_SETTING_MAX + 1);
  CHECK_OK(hw_client_note_set(c, "drafts", big, HW_STORE_SETTING_MAX));
  CHECK(hw_client_note_set(c, "drafts", big, HW_STORE_SETTING_MAX + 1) != HW_OK);
  CHECK_OK(hw_client_note_get(c, "drafts", &v, &len));
  CHECK_EQ(len, HW_STORE_SETTING_MAX);
  hw_free(v);
  free(big);

  /* The oldest unacknowledged write. */
  CHECK_ERR(hw_client_oldest_pending(c, &oldest), HW_ENOENT);
  t0 = now_ms();
  note_record(c);
  t1 = now_ms();
  CHECK_OK(hw_client_oldest_pending(c, &oldest));
  CHECK(oldest >= t0 - 1000 && oldest <= t1 + 1000);
  usleep(20000);
  note_record(c);
  CHECK_OK(hw_client_oldest_pending(c, &again));
  CHECK_EQ(again, oldest);

  /* Under allocation failure: an error or the right answer, never a leak. */
  for (long n = 0;; n++) {
    live = hw_test_alloc_live();
    hw_test_fail_alloc_after(n);
    rc = hw_client_oldest_pending(c, &again);
    hw_test_fail_alloc_after(-1);
    CHECK_EQ(hw_test_alloc_live(), live);
    if (rc == HW_OK) {
      CHECK_EQ(again, oldest);
      break;
    }
    CHECK(rc == HW_ENOMEM);
    CHECK(n < 1000);
  }
  for (long n = 0;; n++) {
    live = hw_test_alloc_live();
    v = NULL;
    hw_test_fail_alloc_after(n);
    rc = hw_client_note_get(c, "drafts", &v, &len);
    hw_test_fail_alloc_after(-1);
    if (rc == HW_OK) {
      CHECK_EQ(len, HW_STORE_SETTING_MAX);
      hw_free(v);
      CHECK_EQ(hw_test_alloc_live(), live);
      break;
    }
    CHECK(v == NULL);
    CHECK_EQ(hw_test_alloc_live(), live);
    CHECK(n < 1000);
  }

  /* The passphrase change: the old one stops opening the store, the new one
   * opens it with everything in it. */
  CHECK_OK(hw_client_change_passphrase(c, (const uint8_t *)"a new long passphrase", 21));
  hw_client_close(c);
  o = opts("correct horse battery");
  CHECK_ERR(hw_client_open(&c, &o), HW_EPASSPHRASE);
  o = opts("a new long passphrase");
  CHECK_OK(hw_client_open(&c, &o));
  CHECK_OK(hw_client_oldest_pending(c, &again));
  CHECK_EQ(again, oldest);
  CHECK_OK(hw_client_note_get(c, "drafts", &v, &len));
  CHECK_EQ(len, HW_STORE_SETTING_MAX);
  hw_free(v);
  hw_client_close(c);

  {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
  }
  return 0;
}
