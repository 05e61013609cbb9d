/* A restored server (a new epoch) and a device whose recovery session is
 * cut after its pull, before its re-push reaches the server (found in a
 * review): the device had stored the new epoch's cursor with the pull, so
 * its next hello named the new epoch, nothing was pushed again, and what
 * the server lost with the restore stayed lost; the lineage check then
 * refused the device for good. The new epoch's cursor now waits aside
 * until the re-push is acknowledged (client/src/sync.c, sync-pull.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harness.h"
#include "proxy.h"

static hw_test_server srv;

int main(int argc, char **argv)
{
  char paddr[64], inv[600], inv_p[700];
  hw_proxy *px;
  hw_client *a;
  hw_sync_result r;
  size_t before;
  uint64_t up;

  CHECK(argc == 2);
  CHECK_OK(hw_crypto_init());
  hw_test_server_start(&srv, argv[1]);
  px = hw_proxy_start(srv.listen, paddr);
  hw_test_invite(&srv, "amina", inv, sizeof inv);
  hw_test_readdress(inv, paddr, inv_p, sizeof inv_p);
  a = hw_test_device(&srv, "a", inv_p);
  for (int i = 0; i < 3; i++) {
    hw_id rec = {{0}}, cas = {{0}};
    hw_test_put_text(a, &rec, &cas, "note", "before the backup");
  }
  hw_test_sync_ok(a);
  hw_test_server_backup(&srv);
  for (int i = 0; i < 5; i++) {
    hw_id rec = {{0}}, cas = {{0}};
    hw_test_put_text(a, &rec, &cas, "note", "after the backup, acknowledged");
  }
  CHECK_EQ(hw_test_sync_ok(a).pushed, 5);
  /* What the device sends in a session with nothing to push: the
   * handshake, hello and pull, then the goodbye (24 bytes). Measured in
   * the state the recovery session's hello will describe (its integers'
   * sizes follow the cursor and the counter). */
  r = hw_test_sync_ok(a);
  CHECK_EQ(r.pulled, 0);
  up = r.totals.bytes_up; /* the device's count: the proxy's may not have the goodbye yet */
  before = hw_test_server_records(&srv);
  CHECK_EQ(before, 8);
  hw_test_server_restore(&srv);
  CHECK_EQ(hw_test_server_records(&srv), 3);

  /* The recovery session: pulled and stored, cut as the re-push starts. */
  hw_proxy_set(px, HW_PROXY_CUT, 0, up - 24 + 1);
  CHECK(hw_client_sync(a, 3000, NULL, NULL, &r) != HW_OK);
  CHECK(r.pulled > 0);
  CHECK_EQ(r.pushed, 0);
  CHECK_EQ(hw_test_server_records(&srv), 3);
  /* The next session recovers all the same. */
  hw_proxy_set(px, HW_PROXY_PASS, 0, 0);
  r = hw_test_sync_ok(a);
  CHECK(r.recovered);
  CHECK_EQ(hw_test_server_records(&srv), 8);
  r = hw_test_sync_ok(a);
  CHECK(!r.recovered);
  CHECK(r.checksum_ok);
  CHECK_EQ(r.pushed + r.pulled, 0);

  hw_client_close(a);
  hw_proxy_stop(px);
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_cleanup(&srv);
  puts("recovery cut after the pull: ok");
  return 0;
}
