/* A pull whose next rows all make nothing to send (issue #6, found in a
 * review): a coordinator whose region holds both ends of more reassignments
 * than a pull batch reads sees each as a move within what it sees, so the
 * batch is cut at its events' horizon with no item in it. The cursor must
 * still move to that horizon; it stayed, and the same empty batch was asked
 * for forever (the sync never ended).
 * Also: after the moves the coordinator still holds every record, once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harness.h"
#include "homeward/err.h"

#define N_CASES 530 /* more than the client's pull batch of 512 */

static hw_test_server srv;
static char out[1 << 20];
#define ADMIN(...)                                                                                 \
  hw_test_server_cmd(&srv, out, sizeof out, (const char *const[]){__VA_ARGS__, NULL})

static hw_client *enrol(const char *name, const char *worker, const char *role)
{
  char inv[600];
  hw_test_invite_as(&srv, worker, role, "chipo", inv, sizeof inv);
  return hw_test_device(&srv, name, inv);
}

static int count(void *ud, const hw_record *r, bool pending, bool held)
{
  (void)r, (void)pending, (void)held;
  ++*(size_t *)ud;
  return 0;
}

int main(int argc, char **argv)
{
  static hw_id cases[N_CASES];
  hw_client *a1, *b1, *c1;
  char hex[HW_ID_HEX_LEN + 1];
  hw_sync_result r;
  size_t held = 0;
  int rc;

  CHECK(argc == 2);
  CHECK_OK(hw_crypto_init());
  hw_test_server_start(&srv, argv[1]);
  a1 = enrol("a1", "amina", "worker");
  b1 = enrol("b1", "bashir", "worker");
  c1 = enrol("c1", "chipo", "coordinator");
  CHECK_EQ(ADMIN("region", "--coordinator", "chipo", "--worker", "amina"), 0);
  CHECK_EQ(ADMIN("region", "--coordinator", "chipo", "--worker", "bashir"), 0);
  for (int i = 0; i < N_CASES; i++) {
    hw_id rec = {{0}};
    hw_test_put_text(a1, &rec, &cases[i], "note", "visit");
  }
  CHECK_EQ(hw_test_sync_ok(a1).pushed, (uint64_t)N_CASES);
  CHECK_EQ(hw_test_sync_ok(c1).pulled, (uint64_t)N_CASES);
  for (int i = 0; i < N_CASES; i++) {
    hw_id_to_hex(&cases[i], hex);
    CHECK_EQ(ADMIN("reassign", "--case", hex, "--worker", "bashir", "--coordinator", "chipo"), 0);
  }
  memset(&r, 0, sizeof r);
  rc = hw_client_sync(c1, 15000, NULL, NULL, &r);
  CHECK_OK(rc);
  CHECK_EQ(r.pulled, 0u); /* nothing new: the moves stay within its region */
  CHECK_OK(hw_client_list(c1, count, &held));
  CHECK_EQ(held, (size_t)N_CASES);
  printf("pull over %d filtered moves: ends, nothing resent, %zu records held: ok\n", N_CASES,
         held);
  hw_client_close(a1);
  hw_client_close(b1);
  hw_client_close(c1);
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_cleanup(&srv);
  return 0;
}
