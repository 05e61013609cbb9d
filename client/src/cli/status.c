/* `homeward status` and `homeward passwd`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli-int.h"
#include "homeward/mem.h"
#include "homeward/passphrase.h"
#include "json-int.h"

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void age_text(int64_t ms, char *out, size_t cap)
{
  int64_t min = ms / 60000;
  if (min < 0)
    min = 0;
  if (min < 120)
    snprintf(out, cap, "%lld minute%s", (long long)min, min == 1 ? "" : "s");
  else if (min < 48 * 60)
    snprintf(out, cap, "%lld hours", (long long)(min / 60)); /* 2 or more */
  else
    snprintf(out, cap, "%lld days", (long long)(min / (24 * 60))); /* 2 or more */
}

int hw_cli_status(const hw_cli_opts *o, hw_client *c)
{
  uint64_t pending = 0, held = 0;
  int64_t oldest = 0, last = 0, now = now_ms();
  bool has_oldest, has_last = false, stale;
  hw_cli_db db;
  hw_id replica;
  uint8_t key[HW_CLI_DEVICE_KEY_BYTES];
  char hex[HW_ID_HEX_LEN + 1], key_hex[2 * HW_CLI_DEVICE_KEY_BYTES + 1], device[40], at[40],
      age[40];
  uint8_t *v = NULL;
  size_t len = 0, n_records, n_cases;
  int rc;

  if (o->today_text) /* "as it will be on that day" (noon UTC) */
    now = (hw_date_to_days(&o->today) - hw_date_to_days(&(hw_date){1970, 1, 1})) * 86400000 +
          12 * 3600000;
  if ((rc = hw_client_count_pending(c, &pending, &held)) != 0) {
    fprintf(stderr, "homeward: cannot read the store: %s\n", hw_cli_strerror(rc));
    return HW_CLI_FAIL;
  }
  if (hw_cli_db_load(c, &db)) /* it says why */
    return HW_CLI_FAIL;
  n_records = db.n;
  n_cases = db.n_cases;
  hw_cli_db_free(&db);
  hw_client_replica(c, &replica);
  hw_id_to_hex(&replica, hex);
  hw_client_device_key(c, key);
  for (size_t i = 0; i < sizeof key; i++)
    snprintf(key_hex + 2 * i, 3, "%02x", key[i]);
  /* The server lists a device by the first digits of this key. */
  snprintf(device, sizeof device, "%.*s", HW_CLI_DEVICE_DIGITS, key_hex);
  rc = hw_client_oldest_pending(c, &oldest);
  if (rc != HW_OK && rc != HW_ENOENT)
    return hw_cli_fail("cannot read the store");
  has_oldest = rc == HW_OK;
  stale = has_oldest && now - oldest > (int64_t)HW_CLI_STALE_DAYS * 24 * 3600 * 1000;
  if (hw_client_note_get(c, HW_CLI_NOTE_LAST_SYNC, &v, &len) == HW_OK && len > 0 && len < 32) {
    char text[32];
    memcpy(text, v, len);
    text[len] = '\0';
    last = strtoll(text, NULL, 10);
    has_last = true;
  }
  hw_free(v);
  if (o->json) {
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:b}", "worker", hw_client_worker(c),
                          "device", device, "device_key", key_hex, "replica", hex, "records",
                          (json_int_t)n_records, "cases", (json_int_t)n_cases, "pending",
                          (json_int_t)pending, "held", (json_int_t)held, "stale", stale);
    if (j)
      json_object_set_new(j, "server", json_string(hw_client_address(c)));
    if (j && has_oldest) {
      hw_cli_when(oldest, at, sizeof at);
      json_object_set_new(j, "oldest_unsynced", json_string(at));
    }
    if (j && has_last) {
      hw_cli_when(last, at, sizeof at);
      json_object_set_new(j, "last_sync", json_string(at));
    }
    return hw_cli_json_print(j, stdout);
  }
  printf("worker:          %s\n", hw_client_worker(c));
  printf("device:          %s (as homeward-server devices lists it)\n", device);
  printf("server:          %s\n", hw_client_address(c));
  printf("replica:         %s (this store's writer id)\n", hex);
  printf("on this device:  %zu record%s in %zu case%s\n", n_records, n_records == 1 ? "" : "s",
         n_cases, n_cases == 1 ? "" : "s");
  printf("not yet synced:  %llu record%s", (unsigned long long)pending, pending == 1 ? "" : "s");
  if (held)
    printf(" (and %llu held for a coordinator)", (unsigned long long)held);
  printf("\n");
  if (has_oldest) {
    hw_cli_when(oldest, at, sizeof at);
    age_text(now - oldest, age, sizeof age);
    printf("oldest unsynced: %s (%s ago)\n", at, age);
    if (stale)
      printf("WARNING: work recorded %s ago is only on this device: sync as soon as you can\n",
             age);
  }
  if (has_last) {
    hw_cli_when(last, at, sizeof at);
    age_text(now - last, age, sizeof age);
    printf("last sync:       %s (%s ago)\n", at, age);
  } else {
    printf("last sync:       never\n");
  }
  return HW_CLI_OK;
}

/* Called by `homeward sync` after a sync that finished. */
void hw_cli_note_synced(hw_client *c)
{
  char text[32];
  int n = snprintf(text, sizeof text, "%lld", (long long)now_ms());
  if (hw_client_note_set(c, HW_CLI_NOTE_LAST_SYNC, text, (size_t)n) != HW_OK)
    fprintf(stderr, "homeward: note: could not keep the time of this sync\n");
}

char *hw_cli_new_passphrase(const hw_cli_opts *o)
{
  char *pass = hw_secure_alloc(HW_PASSPHRASE_MAX + 1);
  const char *env = getenv("HOMEWARD_NEW_PASSPHRASE");
  const char *weak, *why = NULL;
  int rc;

  if (!pass) {
    hw_cli_fail("out of memory");
    return NULL;
  }
  if (o->new_passphrase_fd < 0 && env) {
    size_t n = strlen(env);
    rc = n == 0 || n > HW_PASSPHRASE_MAX ? HW_EINVAL : HW_OK;
    if (rc == HW_OK)
      memcpy(pass, env, n + 1);
    else
      why = n == 0 ? "HOMEWARD_NEW_PASSPHRASE is empty" : "HOMEWARD_NEW_PASSPHRASE is too long";
  } else {
    unsetenv("HOMEWARD_PASSPHRASE"); /* that one was the current passphrase */
    rc = hw_passphrase_read(pass, o->new_passphrase_fd, "new passphrase: ", 1);
    why = rc == HW_ENOENT ? "no new passphrase given"
          : o->new_passphrase_fd >= 0
              ? "the new passphrase read from --new-passphrase-fd is empty or too long"
              : "the new passphrases differ or are empty";
  }
  if (rc) {
    hw_secure_free(pass);
    hw_cli_fail(why);
    return NULL;
  }
  if ((weak = hw_passphrase_weakness(pass)) != NULL) {
    fprintf(stderr, "homeward: passphrase refused: %s\n", weak);
    hw_secure_free(pass);
    return NULL;
  }
  return pass;
}

int hw_cli_passwd(const hw_cli_opts *o, hw_client *c)
{
  char *pass = hw_cli_new_passphrase(o);
  int rc;

  if (!pass)
    return HW_CLI_FAIL;
  rc = hw_client_change_passphrase(c, (const uint8_t *)pass, strlen(pass));
  hw_secure_free(pass);
  if (rc) {
    fprintf(stderr, "homeward: passphrase not changed: %s\n", hw_cli_strerror(rc));
    return HW_CLI_FAIL;
  }
  printf("passphrase changed\n");
  return HW_CLI_OK;
}
