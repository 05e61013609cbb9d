#define _DEFAULT_SOURCE /* usleep */
/* A connection cut at random points during push and pull, then resumed:
 * nothing lost or duplicated, and the device's cursor never ahead of what
 * it stored (it ends holding exactly what the server holds). Also replayed
 * and tampered bytes: the connection closes, the server keeps serving
 * others. HW_TEST_SCALE scales the number of cuts (default 24). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "proxy.h"

static void put_note(hw_client *c, int i)
{
  hw_id rec = {{0}}, cas = {{0}};
  char text[64];
  snprintf(text, sizeof text, "visit note %d", i);
  hw_test_put_text(c, &rec, &cas, "note", text);
}

int main(int argc, char **argv)
{
  hw_test_server srv;
  hw_proxy *px;
  char paddr[64], inv_a[600], inv_b[600], inv_bp[700], inv_c[600], inv_cp[700];
  hw_client *a, *b, *cdev;
  hw_sync_result r;
  hw_test_rng rng;
  long cuts = hw_test_scaled(24);
  uint64_t full_up, full_down;
  int n_records = 0, failures = 0;

  CHECK(argc == 2);
  CHECK_OK(hw_crypto_init());
  hw_test_rng_init(&rng, hw_test_seed());
  hw_test_server_start(&srv, argv[1]);
  px = hw_proxy_start(srv.listen, paddr);
  hw_test_invite(&srv, "amina", inv_a, sizeof inv_a);
  hw_test_invite(&srv, "amina", inv_b, sizeof inv_b); /* a second device of the same worker */
  hw_test_readdress(inv_b, paddr, inv_bp, sizeof inv_bp);
  a = hw_test_device(&srv, "a", inv_a);
  b = hw_test_device(&srv, "b", inv_bp);

  /* A holds more records than one pull batch carries (512, PULL_RECORDS). */
  for (; n_records < 600; n_records++)
    put_note(a, n_records);
  hw_test_sync_ok(a);

  /* B's first full sync through the proxy measures the traffic. */
  hw_proxy_set(px, HW_PROXY_PASS, 0, 0);
  for (int i = 0; i < 20; i++, n_records++)
    put_note(b, 1000 + i);
  hw_test_sync_ok(b);
  full_up = hw_proxy_bytes(px, 0);
  full_down = hw_proxy_bytes(px, 1);
  CHECK(full_down > 0 && full_up > 0);
  CHECK_EQ(hw_test_device_records(b), (size_t)n_records);

  /* Cuts at random points, in both directions, with new work each round. */
  for (long i = 0; i < cuts; i++) {
    int dir = (int)(i % 2);
    uint64_t at = 1 + hw_test_rng_below(&rng, dir ? full_down : full_up);
    for (int k = 0; k < 3; k++, n_records++)
      put_note(b, 2000 + (int)i * 3 + k);
    for (int k = 0; k < 5; k++, n_records++)
      put_note(a, 5000 + (int)i * 5 + k);
    hw_test_sync_ok(a);
    hw_proxy_set(px, HW_PROXY_CUT, dir, at);
    {
      int rc = hw_client_sync(b, 5000, NULL, NULL, &r);
      failures += rc != HW_OK;
      /* A cut is said as one, whether a send or a receive met it. */
      if (rc == HW_EIO && !strstr(r.message, "the connection was cut"))
        fprintf(stderr, "cut %ld (%s at %llu): said \"%s\"\n", i, dir ? "down" : "up",
                (unsigned long long)at, r.message);
      CHECK(rc != HW_EIO || strstr(r.message, "the connection was cut"));
    }
    hw_proxy_set(px, HW_PROXY_PASS, 0, 0);
    r = hw_test_sync_ok(b);
    /* The next round's work is alike: cut it within this one's traffic. */
    full_up = hw_proxy_bytes(px, 0);
    full_down = hw_proxy_bytes(px, 1);
    /* Nothing lost, nothing duplicated: both hold every record once. */
    CHECK_EQ(hw_test_device_records(b), (size_t)n_records);
    CHECK_EQ(hw_test_server_records(&srv), (size_t)n_records);
    {
      uint64_t pending, held;
      CHECK_OK(hw_client_count_pending(b, &pending, &held));
      CHECK(pending == 0 && held == 0);
    }
  }
  CHECK(failures >= cuts / 2); /* the cuts did cut */

  /* A new device's first pull spans several batches, each asked for before
   * the one before it is stored, stored in groups of PULL_GROUP (4) batches
   * of 512: cut anywhere in it, in the first group or after it was stored,
   * and resumed, the device holds every record once. */
  for (int i = 0; n_records < 2600; i++, n_records++)
    put_note(a, 20000 + i);
  hw_test_sync_ok(a);
  {
    char inv_f[600], inv_fp[700], name[16];
    uint64_t first_down = 0;
    size_t stored = 0; /* records the first cut left stored */
    int cut_failures = 0;
    for (int i = 0; i < 6; i++) {
      hw_client *f;
      uint64_t pending, held;
      hw_test_invite(&srv, "amina", inv_f, sizeof inv_f);
      hw_test_readdress(inv_f, paddr, inv_fp, sizeof inv_fp);
      snprintf(name, sizeof name, "f%d", i);
      f = hw_test_device(&srv, name, inv_fp);
      /* Two cuts at set points: at 30% of the bytes, inside the first
       * group of four batches, whose whole batches received are stored all
       * the same; at 90%, past that group (about 2,048 of 2,600 records,
       * 79%), which stays stored. The next pull brings the rest, once. The
       * other cuts anywhere. */
      if (i > 0) {
        uint64_t at = i == 1   ? first_down * 3 / 10
                      : i == 2 ? first_down * 9 / 10
                               : 1 + hw_test_rng_below(&rng, first_down);
        hw_proxy_set(px, HW_PROXY_CUT, 1, at);
        if (hw_client_sync(f, 5000, NULL, NULL, &r) != HW_OK)
          cut_failures++;
        stored = hw_test_device_records(f);
        if (i == 1)
          CHECK(stored >= 500 && stored < 2000);
        if (i == 2)
          CHECK(stored >= 2000);
      }
      hw_proxy_set(px, HW_PROXY_PASS, 0, 0);
      r = hw_test_sync_ok(f);
      if (i == 0) {
        first_down = hw_proxy_bytes(px, 1);
        CHECK_EQ(r.pulled, (uint64_t)n_records);
      }
      if (i == 1 || i == 2)
        CHECK_EQ(r.pulled + stored, (uint64_t)n_records); /* the rest, once */
      CHECK_EQ(hw_test_device_records(f), (size_t)n_records);
      CHECK_OK(hw_client_count_pending(f, &pending, &held));
      CHECK(pending == 0 && held == 0);
      hw_client_close(f);
    }
    CHECK(cut_failures >= 3);
  }

  /* Tampered bytes from the server: the device refuses them and the
   * session ends; the server goes on serving others. */
  hw_test_invite(&srv, "amina", inv_c, sizeof inv_c);
  hw_test_readdress(inv_c, paddr, inv_cp, sizeof inv_cp);
  cdev = hw_test_device(&srv, "c", inv_cp);
  put_note(cdev, 9000);
  n_records++;
  hw_proxy_set(px, HW_PROXY_FLIP, 1, 300);
  CHECK(hw_client_sync(cdev, 5000, NULL, NULL, &r) != HW_OK);
  hw_test_sync_ok(a);
  /* Replayed or flipped bytes to the server: it closes that connection
   * (the device may have been answered already) and serves the others. */
  {
    static const hw_proxy_mode modes[2] = {HW_PROXY_REPLAY, HW_PROXY_FLIP};
    for (int m = 0; m < 2; m++) {
      size_t before = hw_test_file_count(srv.log, "close=channel");
      put_note(cdev, 9100 + m);
      n_records++;
      hw_proxy_set(px, modes[m], 0, 200);
      (void)!hw_client_sync(cdev, 5000, NULL, NULL, &r);
      hw_test_sync_ok(a);
      for (int wait = 0; wait < 100 && hw_test_file_count(srv.log, "close=channel") == before;
           wait++)
        usleep(20000);
      CHECK(hw_test_file_count(srv.log, "close=channel") > before);
    }
  }
  hw_proxy_set(px, HW_PROXY_PASS, 0, 0);
  hw_test_sync_ok(cdev);
  hw_test_sync_ok(a);
  CHECK_EQ(hw_test_device_records(a), (size_t)n_records);
  CHECK_EQ(hw_test_server_records(&srv), (size_t)n_records);

  hw_client_close(a);
  hw_client_close(b);
  hw_client_close(cdev);
  hw_proxy_stop(px);
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  CHECK(hw_test_file_contains(srv.log, "close=channel"));
  /* The harness's 1 KiB push queue paused sessions, and every sync above
   * still finished: reading resumed each time. */
  CHECK(hw_test_file_contains(srv.log, " paused queued_bytes="));
  hw_test_server_cleanup(&srv);
  printf("cuts: %ld rounds, %d cut syncs failed and resumed: ok\n", cuts, failures);
  return 0;
}
