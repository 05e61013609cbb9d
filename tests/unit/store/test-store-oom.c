/* Allocation failure at every N (style.md §8) in store open, a local write
 * and a read: each failed run returns HW_ENOMEM, leaves outputs NULL and
 * leaks nothing; the store stays usable. SQLite allocates through hw_malloc
 * (hw_mem_install_hooks, before SQLite initialises). */
#include "store-test.h"

static void write_one(hw_store *st, uint64_t n, int *rc_out)
{
  hw_dot d;
  hw_id id = st_id(n), cs = st_id(1);
  uint8_t dig[HW_HASH_BYTES] = {0}, state[3000];
  hw_store_rec r = {.id = id,
                    .case_id = cs,
                    .kind = {(const uint8_t *)"profile", 7},
                    .state = {state, sizeof state}};
  int rc;

  memset(state, 'z', sizeof state);
  rc = hw_store_begin(st);
  if (rc == HW_OK)
    rc = hw_store_next_dot(st, &d);
  if (rc == HW_OK) {
    r.vv = (hw_vv){1, &d};
    rc = hw_store_put_write(st, &r, &d, dig);
  }
  if (rc == HW_OK)
    rc = hw_store_commit(st);
  *rc_out = rc;
}

int main(void)
{
  char *dir, path[1024];
  hw_store_opts o;
  hw_store *st;
  long n, live;
  int rc;

  CHECK_OK(hw_mem_install_hooks());
  CHECK_OK(hw_crypto_init());
  dir = st_tmpdir();
  snprintf(path, sizeof path, "%s/o.db", dir);
  o = st_opts(path, "pw");
  hw_test_fail_alloc_after(-1);
  st = st_open_ok(&o, NULL);
  write_one(st, 1, &rc);
  CHECK_OK(rc);
  {
    uint64_t c;
    hw_store_replica(st, NULL, &c);
    CHECK_EQ(c, 1);
  }
  hw_store_close(st);
  o.create = false;

  /* Open. */
  hw_store_info info;
  for (n = 0;; n++) {
    hw_test_fail_alloc_after(-1);
    live = hw_test_alloc_live();
    st = (hw_store *)1;
    hw_test_fail_alloc_after(n);
    rc = hw_store_open(&st, &o, &info);
    hw_test_fail_alloc_after(-1);
    if (rc == HW_OK)
      break;
    CHECK_ERR(rc, HW_ENOMEM);
    CHECK(st == NULL);
    CHECK_EQ(hw_test_alloc_live(), live);
  }
  /* No failed attempt left the store looking restored. */
  CHECK(!(info.flags & HW_STORE_RESTORED));
  printf("open: failed cleanly at each of the first %ld allocations\n", n);

  /* A local write. */
  for (n = 0;; n++) {
    hw_store_rec *r;
    hw_id id = st_id(2);
    hw_test_fail_alloc_after(n);
    write_one(st, 2, &rc);
    hw_test_fail_alloc_after(-1);
    if (rc == HW_OK)
      break;
    CHECK_ERR(rc, HW_ENOMEM);
    CHECK_OK(hw_store_rollback(st)); /* fine after SQLite rolled back itself */
    CHECK_ERR(hw_store_get(st, &id, &r), HW_ENOENT);
  }
  {
    uint64_t c;
    hw_store_replica(st, NULL, &c);
    CHECK_EQ(c, 2); /* failed attempts used no dot */
  }
  printf("write: failed cleanly at each of the first %ld allocations\n", n);

  /* A read. */
  for (n = 0;; n++) {
    hw_store_rec *r = (hw_store_rec *)1;
    hw_id id = st_id(2);
    live = hw_test_alloc_live();
    hw_test_fail_alloc_after(n);
    rc = hw_store_get(st, &id, &r);
    hw_test_fail_alloc_after(-1);
    if (rc == HW_OK) {
      CHECK_EQ(r->state.len, 3000);
      hw_store_rec_free(r);
      break;
    }
    CHECK_ERR(rc, HW_ENOMEM);
    CHECK(r == NULL);
    CHECK_EQ(hw_test_alloc_live(), live);
  }
  printf("get: failed cleanly at each of the first %ld allocations\n", n);
  CHECK_OK(hw_store_check(st));
  hw_store_close(st);
  st_rmdir(dir);
  free(dir);
  printf("store oom: ok\n");
  return 0;
}
