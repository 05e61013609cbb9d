/* Allocation failure at every N in write, void, clone and merge: each failed
 * run returns HW_ENOMEM, leaves *out NULL and leaks nothing (the counting
 * allocator checks that here; LSan too in the sanitizer build). */
#include <string.h>

#include "check.h"
#include "homeward/crypto.h"
#include "homeward/merge.h"

typedef int (*op_fn)(hw_record **out, void *ctx);

static void oom_loop(const char *name, op_fn op, void *ctx)
{
  long n;

  for (n = 0;; n++) {
    hw_record *out = (hw_record *)1;
    long live_before;
    int rc;

    hw_test_fail_alloc_after(-1);
    live_before = hw_test_alloc_live();
    hw_test_fail_alloc_after(n);
    rc = op(&out, ctx);
    hw_test_fail_alloc_after(-1);
    if (rc == HW_OK) {
      CHECK(out != NULL);
      hw_record_free(out);
      CHECK_EQ(hw_test_alloc_live(), live_before);
      break;
    }
    CHECK_ERR(rc, HW_ENOMEM);
    CHECK_NULL(out);
    CHECK_EQ(hw_test_alloc_live(), live_before);
  }
  printf("%s: failed cleanly at each of the first %ld allocations\n", name, n);
}

static hw_id rid, cid, ra, rb;
static hw_record *base_a, *base_b;

static int do_write(hw_record **out, void *ctx)
{
  static const uint8_t v[] = {0x63, 'a', 'b', 'c'};
  hw_field_value fv[3] = {
      {{(const uint8_t *)"x", 1}, {v, sizeof v}},
      {{(const uint8_t *)"yy", 2}, {v, sizeof v}},
      {{(const uint8_t *)"notes", 5}, {v, sizeof v}},
  };
  hw_write w = {.dot = {ra, 100}, .author = {(const uint8_t *)"w", 1}, .n_fields = 3, .fields = fv};
  return hw_record_write(out, ctx, &w);
}

static int do_void(hw_record **out, void *ctx)
{
  hw_write w = {.dot = {rb, 100}, .author = {(const uint8_t *)"c", 1}};
  return hw_record_void(out, ctx, &w, "duplicate", 9);
}

static int do_merge(hw_record **out, void *ctx)
{
  hw_merge_info info;
  (void)ctx;
  return hw_merge(out, base_a, base_b, &info);
}

static int do_clone(hw_record **out, void *ctx)
{
  return hw_record_clone(out, ctx);
}

static int do_new(hw_record **out, void *ctx)
{
  (void)ctx;
  return hw_record_new(out, &rid, &cid, "placement", 9, 1);
}

/* Build two concurrent states with several fields each (no fault injection). */
static hw_record *grow(const hw_id *r, uint64_t first, int n)
{
  hw_record *cur = NULL, *next;
  CHECK_OK(hw_record_new(&cur, &rid, &cid, "followup", 8, 2));
  for (int i = 0; i < n; i++) {
    char name[16];
    uint8_t v[2] = {0x18, (uint8_t)(24 + i)};
    hw_field_value fv = {{(const uint8_t *)name, (size_t)snprintf(name, sizeof name, "f%d", i % 7)},
                         {v, 2}};
    hw_write w = {.dot = {*r, first + (uint64_t)i},
                  .author = {(const uint8_t *)"w", 1},
                  .n_fields = 1,
                  .fields = &fv};
    CHECK_OK(hw_record_write(&next, cur, &w));
    hw_record_free(cur);
    cur = next;
  }
  return cur;
}

int main(void)
{
  hw_test_fail_alloc_after(-1); /* install the counting allocator before anything */
  CHECK_OK(hw_crypto_init());
  memset(rid.b, 1, 16), memset(cid.b, 2, 16), memset(ra.b, 3, 16), memset(rb.b, 4, 16);
  base_a = grow(&ra, 1, 12);
  {
    hw_record *tmp = grow(&rb, 1, 9);
    CHECK_OK(hw_merge(&base_b, tmp, base_a, NULL)); /* b has seen some of a */
    hw_record_free(tmp);
    tmp = base_b;
    base_b = NULL;
    {
      hw_record *more = NULL;
      static const uint8_t v[] = {0x61, 'z'};
      hw_field_value fv = {{(const uint8_t *)"f1", 2}, {v, 2}};
      hw_write w = {
          .dot = {rb, 50}, .author = {(const uint8_t *)"w", 1}, .n_fields = 1, .fields = &fv};
      CHECK_OK(hw_record_write(&more, tmp, &w));
      base_b = more;
    }
    hw_record_free(tmp);
  }
  oom_loop("new", do_new, NULL);
  oom_loop("write", do_write, base_a);
  oom_loop("void", do_void, base_b);
  oom_loop("clone", do_clone, base_a);
  oom_loop("merge", do_merge, NULL);
  hw_record_free(base_a);
  hw_record_free(base_b);
  CHECK_EQ(hw_test_alloc_live(), 0);
  return 0;
}
