/* A device's copy that cannot take the server's state as a merge (docs/
 * operations.md "Quarantine"): a copy held for a coordinator stays exactly
 * as it was pushed until their decision, which names that state, so newer
 * server states of its record are not merged into it; and a copy whose
 * merge with the server's state would break a record limit is kept as it
 * is instead of failing the sync (and with it every later one). In both
 * cases the coordinator's decision brings the server's state. (The limit
 * met in a pulled state before any push, test-pulled.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harness.h"
#include "homeward/limits.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"

static hw_test_server srv;
static char out[1 << 20];

#define ADMIN(...) hw_test_server_cmd(&srv, out, sizeof out, (const char *const[]){__VA_ARGS__, NULL})

#define FIELD_MAX 16000 /* a crafted value's text bytes: under HW_VALUE_MAX */
#define FIELDS_CAP 80

/* The device's next write onto `rec`, made through the store below the
 * client's form checks (what a device on another form version, or a
 * modified one, pushes): fields "x00", "x01"... of text whose encoded state
 * comes to `target` bytes (0: one small field). */
static void raw_write(hw_client **c, const char *name, const hw_id *rec, size_t target)
{
  hw_store *st;
  hw_store_rec *row = NULL, put = {0};
  hw_record *cur = NULL, *next = NULL;
  hw_field_value fv[FIELDS_CAP];
  char names[FIELDS_CAP][4];
  static uint8_t vals[FIELDS_CAP][FIELD_MAX + 3];
  size_t sizes[FIELDS_CAP], n = 1, len = 0;
  uint8_t *bytes = NULL;
  const uint8_t *digest = NULL;
  hw_write w = {0};
  hw_dot dot;

  hw_client_close(*c);
  st = hw_test_device_store(&srv, name);
  CHECK_OK(hw_store_get(st, rec, &row));
  CHECK_OK(hw_record_decode(row->state.p, row->state.len, &cur, NULL));
  sizes[0] = 300;
  if (target) {
    n = (target - row->state.len) / FIELD_MAX + 1;
    CHECK(n <= FIELDS_CAP);
    for (size_t i = 0; i < n; i++)
      sizes[i] = FIELD_MAX;
    /* The last one under what is left, for each field's name and pair. */
    sizes[n - 1] = target - row->state.len - (n - 1) * FIELD_MAX - 16 * n;
    CHECK(sizes[n - 1] >= 512 && sizes[n - 1] <= FIELD_MAX);
  }
  CHECK_OK(hw_store_begin(st));
  CHECK_OK(hw_store_next_dot(st, &dot));
  w.dot = dot;
  w.wall_ms = 1764547200000;
  w.author = (hw_bytes){(const uint8_t *)"amina", 5};
  w.schema_version = cur->schema_version;
  w.fields = fv;
  /* Twice when aiming at a size: the second pass trims the last value by
   * what the first one's encoding overshot. */
  for (int pass = 0; pass < (target ? 2 : 1); pass++) {
    for (size_t i = 0; i < n; i++) {
      snprintf(names[i], sizeof names[i], "x%02zu", i);
      vals[i][0] = 0x79; /* a text of 256..65535 bytes */
      vals[i][1] = (uint8_t)(sizes[i] >> 8);
      vals[i][2] = (uint8_t)sizes[i];
      memset(vals[i] + 3, 'a' + (int)(i % 26), sizes[i]);
      fv[i] = (hw_field_value){{(const uint8_t *)names[i], 3}, {vals[i], sizes[i] + 3}};
    }
    w.n_fields = n;
    hw_record_free(next);
    hw_free(bytes);
    next = NULL;
    bytes = NULL;
    CHECK_OK(hw_record_write(&next, cur, &w));
    CHECK_OK(hw_record_encode(next, &bytes, &len));
    if (target && pass == 0) {
      sizes[n - 1] += target - len; /* by what the encoding came short or over */
      CHECK(sizes[n - 1] >= 256 && sizes[n - 1] <= FIELD_MAX);
    }
  }
  if (target)
    CHECK_EQ(len, target);
  for (size_t i = 0; i < next->n_writes; i++)
    if (hw_dot_cmp(&next->writes[i].dot, &dot) == 0)
      digest = next->writes[i].digest;
  CHECK(digest != NULL);
  put.id = next->id;
  put.case_id = next->case_id;
  put.kind = next->kind;
  put.vv = next->vv;
  put.acked = row->acked;
  put.state = (hw_bytes){bytes, len};
  CHECK_OK(hw_store_put_write(st, &put, &dot, digest));
  CHECK_OK(hw_store_commit(st));
  hw_free(bytes);
  hw_record_free(next);
  hw_record_free(cur);
  hw_store_rec_free(row);
  hw_store_close(st);
  *c = hw_test_device_reopen(&srv, name);
}

/* The quarantine number of `rec`, and its listed line must hold `why`. */
static long quarantine_of(const hw_id *rec, const char *why)
{
  char hex[HW_ID_HEX_LEN + 1], needle[64], line[600];
  const char *p, *start, *end;

  hw_id_to_hex(rec, hex);
  CHECK_EQ(ADMIN("quarantine", "--mode", "all"), 0);
  snprintf(needle, sizeof needle, " record=%s ", hex);
  CHECK((p = strstr(out, needle)) != NULL);
  for (start = p; start > out && start[-1] != '\n'; start--)
    ;
  end = strchr(p, '\n');
  CHECK(end != NULL && (size_t)(end - start) < sizeof line);
  memcpy(line, start, (size_t)(end - start));
  line[end - start] = '\0';
  CHECK(strstr(line, why) != NULL);
  return atol(line + strlen("quarantine "));
}

static void note_is(hw_client *c, const hw_id *rec, const char *want)
{
  char got[2][128];
  CHECK_EQ(hw_test_field_texts(c, rec, "note", got, 2), 1);
  CHECK(strcmp(got[0], want) == 0);
}

static void held_is(hw_client *c, uint64_t want)
{
  uint64_t pending, held;
  CHECK_OK(hw_client_count_pending(c, &pending, &held));
  CHECK_EQ(held, want);
}

static void reject(long q)
{
  char id[24];
  snprintf(id, sizeof id, "%ld", q);
  CHECK_EQ(ADMIN("reject", "--id", id, "--coordinator", "chipo"), 0);
}

int main(int argc, char **argv)
{
  hw_client *a, *b;
  hw_id r1 = {{0}}, r2 = {{0}}, cas = {{0}};
  char note2[121]; /* hw_test_field_texts reads up to 127 bytes */
  hw_sync_result r;
  long q;

  CHECK(argc == 2);
  CHECK_OK(hw_crypto_init());
  hw_test_server_start(&srv, argv[1]);
  a = hw_test_enrol(&srv, "a", "amina", "worker");
  b = hw_test_enrol(&srv, "b", "amina", "worker"); /* her second device */
  hw_test_put_text(a, &r1, &cas, "note", "first visit");
  hw_test_put_text(a, &r2, &cas, "note", "second visit");
  CHECK_EQ(hw_test_sync_ok(a).pushed, 2);
  CHECK_EQ(hw_test_sync_ok(b).pulled, 2);

  /* A held copy stays as pushed: B's later edit is not merged into it. */
  raw_write(&a, "a", &r1, 0);
  r = hw_test_sync_ok(a);
  CHECK_EQ(r.quarantined, 1);
  held_is(a, 1);
  q = quarantine_of(&r1, "form");
  hw_test_put_text(b, &r1, &cas, "note", "mother at home");
  CHECK_EQ(hw_test_sync_ok(b).pushed, 1);
  r = hw_test_sync_ok(a);
  CHECK_EQ(r.pulled, 1);
  CHECK_EQ(r.kept, 1);
  CHECK_EQ(r.pushed, 0);
  note_is(a, &r1, "first visit");
  held_is(a, 1);
  /* The decision finds the very state it names and brings the server's. */
  reject(q);
  r = hw_test_sync_ok(a);
  CHECK_EQ(r.decided, 1);
  held_is(a, 0);
  note_is(a, &r1, "mother at home");
  CHECK(hw_test_sync_ok(a).checksum_ok);

  /* A merge past HW_RECORD_MAX: B edits while A's copy is a few bytes
   * under the limit. The server quarantines A's push (its pushes go before
   * its pull), so the pulled state meets a held copy, which stays as it
   * is; the old code failed this sync and every later one trying that
   * merge. (The limit met with nothing held: test-pulled.) */
  raw_write(&a, "a", &r2, HW_RECORD_MAX - 60);
  memset(note2, 'n', 120); /* B's write adds its value and its dot, digest, author, time */
  note2[120] = '\0';
  hw_test_put_text(b, &r2, &cas, "note", note2);
  CHECK_EQ(hw_test_sync_ok(b).pushed, 1);
  r = hw_test_sync_ok(a);
  CHECK_EQ(r.pushed, 1);
  CHECK_EQ(r.quarantined, 1);
  CHECK_EQ(r.pulled, 1);
  CHECK_EQ(r.kept, 1);
  held_is(a, 1);
  note_is(a, &r2, "second visit");
  q = quarantine_of(&r2, "record limit");
  r = hw_test_sync_ok(a);
  CHECK_EQ(r.pushed, 0);
  CHECK_EQ(r.pulled, 0);
  reject(q);
  r = hw_test_sync_ok(a);
  CHECK_EQ(r.decided, 1);
  held_is(a, 0);
  note_is(a, &r2, note2);
  CHECK(hw_test_sync_ok(a).checksum_ok);

  hw_client_close(a);
  hw_client_close(b);
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_cleanup(&srv);
  puts("held copies: ok");
  return 0;
}
