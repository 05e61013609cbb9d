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

static int count(void *ud, const hw_record *r, bool pending, bool held)
{
  (void)r, (void)pending, (void)held;
  ++*(size_t *)ud;
  return 0;
}

/* A region that grows while its coordinator's pull runs (issue #6, found in
 * a review): the session read with the region it had at hello, so a change
 * of the new worker's case made after the grant's batch was passed by the
 * cursor unread, and the coordinator never got it. Between pull batches the
 * progress callback grants the region and has amina write more than two
 * batches, then has gita edit her case. (The device asks for the next batch
 * before it stores one, so the batch after a callback may already be made:
 * the pull goes on for two batches after gita's edit.) */
#define N_OLD 1100 /* amina's records before: the pull takes three batches */
#define N_NEW 1200 /* her writes after the grant */

typedef struct mid {
  hw_client *amina, *gita;
  hw_id *recs, gita_rec;
  uint64_t seen_down;
  int batches;
} mid;

static void mid_session(const hw_sync_progress *pr, void *ud)
{
  mid *m = ud;

  if (pr->records_down == m->seen_down)
    return;
  m->seen_down = pr->records_down;
  m->batches++;
  if (m->batches == 1) {
    CHECK_EQ(ADMIN("region", "--coordinator", "kofi", "--worker", "gita"), 0);
    for (int i = 0; i < N_NEW; i++) {
      hw_id none = {{0}};
      hw_test_put_text(m->amina, &m->recs[i], &none, "note", "edited after the grant");
    }
    CHECK_EQ(hw_test_sync_ok(m->amina).pushed, (uint64_t)N_NEW);
  } else if (m->batches == 3) {
    hw_id none = {{0}};
    hw_test_put_text(m->gita, &m->gita_rec, &none, "note", "gita after the grant's batch");
    CHECK_EQ(hw_test_sync_ok(m->gita).pushed, 1u);
  }
}

static void region_grown_mid_session(void)
{
  static hw_id recs[N_OLD > N_NEW ? N_OLD : N_NEW];
  hw_client *a, *g, *k;
  hw_id gita_case = {{0}};
  mid m = {0};
  hw_sync_result r;
  char got[2][128];

  a = hw_test_enrol(&srv, "ma", "amina2", "worker");
  g = hw_test_enrol(&srv, "mg", "gita", "worker");
  k = hw_test_enrol(&srv, "mk", "kofi", "coordinator");
  CHECK_EQ(ADMIN("region", "--coordinator", "kofi", "--worker", "amina2"), 0);
  for (int i = 0; i < N_OLD; i++) {
    hw_id cs = {{0}};
    hw_test_put_text(a, &recs[i], &cs, "note", "visit");
  }
  CHECK_EQ(hw_test_sync_ok(a).pushed, (uint64_t)N_OLD);
  hw_test_put_text(g, &m.gita_rec, &gita_case, "note", "gita's case");
  CHECK_EQ(hw_test_sync_ok(g).pushed, 1u);

  m.amina = a, m.gita = g, m.recs = recs;
  CHECK_OK(hw_client_sync(k, 60000, mid_session, &m, &r));
  CHECK(m.batches >= 4);
  r = hw_test_sync_ok(k);
  CHECK(r.checksum_ok);
  CHECK_EQ(hw_test_field_texts(k, &m.gita_rec, "note", got, 2), 1);
  CHECK(strcmp(got[0], "gita after the grant's batch") == 0);
  printf("region grown during a coordinator's pull: the new worker's later edit arrives: ok\n");
  hw_client_close(a);
  hw_client_close(g);
  hw_client_close(k);
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
  a1 = hw_test_enrol(&srv, "a1", "amina", "worker");
  b1 = hw_test_enrol(&srv, "b1", "bashir", "worker");
  c1 = hw_test_enrol(&srv, "c1", "chipo", "coordinator");
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
  region_grown_mid_session();
  hw_client_close(a1);
  hw_client_close(b1);
  hw_client_close(c1);
  CHECK_EQ(hw_test_server_stop(&srv), 0);
  hw_test_server_cleanup(&srv);
  return 0;
}
