/* A pulled state against the device's copy (client/src/pulled.c): taken
 * as received when new here, merged otherwise; a held copy and a merge
 * that would break a record limit (HW_RECORD_MAX bytes, HW_PAIRS_MAX
 * writers of a field) leave the copy as it is; a reused dot is a
 * divergence. Every outcome under allocation failure too. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "homeward/crypto.h"
#include "homeward/limits.h"
#include "homeward/merge.h"
#include "homeward/mem.h"
#include "homeward/record-codec.h"
#include "homeward/value.h"
#include "pulled-int.h"

#define BIG 16000 /* text bytes of one big value: under HW_VALUE_MAX */

static hw_id rec_id, case_id;

static hw_id replica(uint32_t n)
{
  hw_id r = {{0}};
  r.b[0] = 0x5a;
  memcpy(r.b + 12, &n, sizeof n);
  return r;
}

/* `base` with one write by `rep` (counter `counter`): `name` = a text of
 * `len` bytes of `fill`. */
static hw_record *put(const hw_record *base, uint32_t rep, uint64_t counter, const char *name,
                      size_t len, char fill)
{
  static uint8_t buf[BIG + 8];
  static char text[BIG];
  hw_field_value fv;
  hw_cbor_wr w;
  hw_record *out = NULL;
  hw_write wr = {.dot = {replica(rep), counter},
                 .wall_ms = 1764547200000,
                 .author = {(const uint8_t *)"amina", 5},
                 .schema_version = 1,
                 .n_fields = 1,
                 .fields = &fv};

  CHECK(len <= BIG);
  memset(text, fill, len);
  hw_cbor_wr_init_fixed(&w, buf, sizeof buf);
  hw_cbor_wr_text(&w, text, len);
  CHECK_OK(hw_cbor_wr_finish(&w));
  fv = (hw_field_value){{(const uint8_t *)name, strlen(name)}, {buf, w.len}};
  CHECK_OK(hw_record_write(&out, base, &wr));
  return out;
}

static void swap(hw_record **r, hw_record *next)
{
  hw_record_free(*r);
  *r = next;
}

static size_t encoded_len(const hw_record *r)
{
  uint8_t *b = NULL;
  size_t len = 0;
  CHECK_OK(hw_record_encode(r, &b, &len));
  hw_free(b);
  return len;
}

/* Decide, checking what each outcome hands back; the merge's bytes must
 * be its canonical encoding. */
static hw__pulled decide(const hw_record *local, const hw_record *in, bool held)
{
  hw_record *merged = NULL;
  uint8_t *bytes = NULL, *want = NULL;
  size_t len = 0, want_len = 0;
  hw__pulled what;

  CHECK_OK(hw__pulled_decide(local, in, held, &merged, &bytes, &len, &what));
  if (what == HW__PULLED_TAKE && local) {
    CHECK(merged != NULL && bytes != NULL);
    CHECK_OK(hw_record_encode(merged, &want, &want_len));
    CHECK(len == want_len && memcmp(bytes, want, len) == 0);
  } else {
    CHECK(merged == NULL && bytes == NULL && len == 0);
  }
  hw_free(want);
  hw_free(bytes);
  hw_record_free(merged);
  return what;
}

/* The same decision with the n-th allocation failing, for n = 0, 1...
 * until it succeeds: HW_ENOMEM with nothing handed back and nothing
 * leaked, then the same outcome. */
static void decide_oom(const hw_record *local, const hw_record *in, bool held, hw__pulled want)
{
  for (long n = 0;; n++) {
    hw_record *merged = NULL;
    uint8_t *bytes = NULL;
    size_t len = 0;
    hw__pulled what;
    long live = hw_test_alloc_live();
    int rc;
    hw_test_fail_alloc_after(n);
    rc = hw__pulled_decide(local, in, held, &merged, &bytes, &len, &what);
    hw_test_fail_alloc_after(-1);
    if (rc == HW_ENOMEM) {
      CHECK(merged == NULL && bytes == NULL);
      CHECK_EQ(hw_test_alloc_live(), live);
      continue;
    }
    CHECK_OK(rc);
    CHECK_EQ(what, want);
    hw_free(bytes);
    hw_record_free(merged);
    CHECK_EQ(hw_test_alloc_live(), live);
    return;
  }
}

int main(void)
{
  hw_record *base = NULL, *local = NULL, *in = NULL, *other = NULL;
  hw_record *merged = NULL;
  uint8_t *bytes = NULL;
  size_t len;
  hw__pulled what;

  hw_test_fail_alloc_after(-1); /* the counting allocator, before anything */
  CHECK_OK(hw_crypto_init());
  hw_id_random(&rec_id);
  hw_id_random(&case_id);
  CHECK_OK(hw_record_new(&base, &rec_id, &case_id, "case_note", 9, 1));
  swap(&base, put(base, 1, 1, "note", 20, 'a')); /* both sides hold this */

  /* New here: taken as received, nothing to merge. */
  CHECK_EQ(decide(NULL, base, false), HW__PULLED_TAKE);
  /* Concurrent writes of two fields: merged. */
  local = put(base, 1, 2, "decision", 10, 'd');
  in = put(base, 2, 1, "note", 30, 'b');
  CHECK_EQ(decide(local, in, false), HW__PULLED_TAKE);
  decide_oom(local, in, false, HW__PULLED_TAKE);
  CHECK_OK(hw__pulled_decide(local, in, false, &merged, &bytes, &len, &what));
  CHECK(hw_record_field(merged, "decision", 8) && hw_record_field(merged, "note", 4));
  hw_free(bytes);
  hw_record_free(merged);
  /* Held for a coordinator: the copy stays, whatever the merge would be. */
  CHECK_EQ(decide(local, in, true), HW__PULLED_KEEP_HELD);
  decide_oom(local, in, true, HW__PULLED_KEEP_HELD);

  /* One dot, two writes: this store reused a dot. */
  swap(&other, put(base, 1, 2, "decision", 11, 'e'));
  CHECK_EQ(decide(local, other, false), HW__PULLED_DIVERGED);
  decide_oom(local, other, false, HW__PULLED_DIVERGED);

  /* Past HW_RECORD_MAX: the copy a few bytes under it, the server's
   * concurrent write adds more than that. */
  {
    size_t n = 0;
    char name[8];
    swap(&local, put(base, 1, 2, "x00", BIG, 'x'));
    while (encoded_len(local) + BIG + 64 < HW_RECORD_MAX) {
      snprintf(name, sizeof name, "x%02zu", ++n);
      swap(&local, put(local, 1, 2 + n, name, BIG, 'x'));
    }
    snprintf(name, sizeof name, "x%02zu", ++n);
    swap(&local, put(local, 1, 2 + n, name, 256, 'x'));
    swap(&local, put(local, 1, 3 + n, name, 256 + HW_RECORD_MAX - 40 - encoded_len(local), 'x'));
    CHECK(encoded_len(local) <= HW_RECORD_MAX && encoded_len(local) > HW_RECORD_MAX - 60);
    swap(&in, put(base, 2, 1, "note", 100, 'b'));
    CHECK_EQ(decide(local, in, false), HW__PULLED_KEEP_LIMIT);
    decide_oom(local, in, false, HW__PULLED_KEEP_LIMIT);
    /* ...and the same copy takes a write that fits. */
    swap(&in, put(base, 2, 1, "note", 1, 'b'));
    CHECK_EQ(decide(local, in, false), HW__PULLED_TAKE);
  }

  /* HW_PAIRS_MAX writers of a field here, one more on the server. */
  {
    swap(&local, put(base, 100, 1, "decision", 4, 'w'));
    for (uint32_t k = 1; k < HW_PAIRS_MAX; k++) {
      hw_record *w = put(base, 100 + k, 1, "decision", 4, 'w'), *m = NULL;
      CHECK_OK(hw_merge(&m, local, w, NULL));
      hw_record_free(w);
      swap(&local, m);
    }
    CHECK_EQ(hw_record_field(local, "decision", 8)->n_pairs, HW_PAIRS_MAX);
    swap(&in, put(base, 99, 1, "decision", 4, 'v'));
    CHECK_EQ(decide(local, in, false), HW__PULLED_KEEP_LIMIT);
    /* The server's state that saw them all and wrote over them fits. */
    swap(&other, put(local, 99, 1, "decision", 4, 'v'));
    CHECK_EQ(decide(local, other, false), HW__PULLED_TAKE);
  }

  hw_record_free(base);
  hw_record_free(local);
  hw_record_free(in);
  hw_record_free(other);
  puts("pulled: ok");
  return 0;
}
