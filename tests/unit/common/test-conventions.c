/* Shared conventions: error names and messages, the log sink, ids, the arena
 * cap, and the allocation hook reaching SQLite. */
#include <sqlite3.h>
#include <string.h>

#include "check.h"
#include "homeward/arena.h"
#include "homeward/crypto.h"
#include "homeward/ids.h"
#include "homeward/log.h"
#include "homeward/mem.h"

static char last_line[256];
static int lines;

static void sink(hw_log_level level, const char *msg, void *ud)
{
  (void)level;
  (void)ud;
  snprintf(last_line, sizeof last_line, "%s", msg);
  lines++;
}

int main(void)
{
  hw_test_fail_alloc_after(-1);
  CHECK_OK(hw_mem_install_hooks());
  CHECK_OK(hw_crypto_init());

  /* errors: every code has a distinct name and a message */
  {
    static const int codes[] = {
        HW_OK,          HW_ENOMEM,   HW_EIO,      HW_EAGAIN,    HW_EINVAL,
        HW_ENOENT,      HW_ENOSPC,   HW_EEXIST,   HW_EPERM,     HW_EPROTO,
        HW_ELIMIT,      HW_EAUTH,    HW_ECORRUPT, HW_EDIVERGE,  HW_EDOTREUSE,
        HW_EPASSPHRASE, HW_ETAMPER,  HW_EKEYFILE, HW_EVALIDATE, HW_EVERSION,
        HW_EREFUSED,    HW_EREVOKED, HW_ECLOSED,  HW_EBUSY,     HW_EINTERNAL};
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
      CHECK(codes[i] <= 0);
      CHECK(strcmp(hw_errname(codes[i]), "HW_E?") != 0);
      CHECK(strcmp(hw_strerror(codes[i]), "unknown error") != 0);
      for (size_t j = 0; j < i; j++)
        CHECK(codes[i] != codes[j] && strcmp(hw_errname(codes[i]), hw_errname(codes[j])) != 0);
    }
    CHECK(strcmp(hw_errname(-99999), "HW_E?") == 0);
    CHECK(strcmp(hw_errname(HW_EPROTO), "HW_EPROTO") == 0);
  }

  /* logging: the installed sink gets lines at or under the level */
  hw_log_set_sink(sink, NULL);
  hw_log_set_level(HW_LOG_INFO);
  hw_log(HW_LOG_DEBUG, "filtered %d", 1);
  CHECK_EQ(lines, 0);
  hw_log(HW_LOG_WARN, "conn=%d err=%s", 7, hw_errname(HW_ELIMIT));
  CHECK_EQ(lines, 1);
  CHECK(strcmp(last_line, "conn=7 err=HW_ELIMIT") == 0);
  hw_log_set_sink(NULL, NULL);

  /* ids */
  {
    hw_id a, b;
    char hex[HW_ID_HEX_LEN + 1];
    hw_id_random(&a);
    hw_id_random(&b);
    CHECK(hw_id_cmp(&a, &b) != 0);
    hw_id_to_hex(&a, hex);
    CHECK_OK(hw_id_from_hex(&b, hex, strlen(hex)));
    CHECK(hw_id_cmp(&a, &b) == 0);
    CHECK_ERR(hw_id_from_hex(&b, "zz", 2), HW_EINVAL);
    hex[5] = 'g';
    CHECK_ERR(hw_id_from_hex(&b, hex, strlen(hex)), HW_EINVAL);
    CHECK(hw_id_is_zero(&b));
    /* Ordered ids: the time first (6 bytes, big-endian), so later sorts
     * later; the same millisecond still gives different ids. */
    hw_id_ordered(&a, 0x0102030405ll);
    CHECK(a.b[0] == 0x00 && a.b[1] == 0x01 && a.b[5] == 0x05);
    hw_id_ordered(&b, 0x0102030406ll);
    CHECK(hw_id_cmp(&a, &b) < 0);
    hw_id_ordered(&b, 0x0102030405ll);
    CHECK(hw_id_cmp(&a, &b) != 0 && memcmp(a.b, b.b, 6) == 0);
    hw_id_ordered(&b, -5); /* a clock before 1970 counts as 0 */
    CHECK(b.b[0] == 0 && b.b[5] == 0);
  }

  /* id lists: they grow past their first allocation; add_unique skips an
   * id already there, add does not. */
  {
    hw_id_list l = {0};
    for (int i = 0; i < 200; i++) {
      hw_id x;
      memset(x.b, i, sizeof x.b);
      CHECK_OK(hw_id_list_add(&l, &x));
      CHECK_OK(hw_id_list_add_unique(&l, &x));
    }
    CHECK_EQ(l.n, (size_t)200);
    CHECK(l.v[199].b[0] == 199 && l.cap >= 200);
    {
      hw_id first = l.v[0];
      CHECK_OK(hw_id_list_add(&l, &first));
    }
    CHECK_EQ(l.n, (size_t)201);
    hw_free(l.v);
  }

  /* signatures: verify, and refuse a changed message, signature or key */
  {
    uint8_t pk[HW_SIGN_PUBLIC_BYTES], pk2[HW_SIGN_PUBLIC_BYTES], sig[HW_SIGN_BYTES];
    uint8_t *sk = hw_secure_alloc(HW_SIGN_SECRET_BYTES),
            *sk2 = hw_secure_alloc(HW_SIGN_SECRET_BYTES);
    uint8_t msg[] = "audit head 42";
    CHECK(sk && sk2);
    hw_sign_keypair(pk, sk);
    hw_sign_keypair(pk2, sk2);
    hw_sign(sig, msg, sizeof msg, sk);
    CHECK_OK(hw_sign_verify(sig, msg, sizeof msg, pk));
    CHECK_ERR(hw_sign_verify(sig, msg, sizeof msg, pk2), HW_EAUTH);
    msg[0] ^= 1;
    CHECK_ERR(hw_sign_verify(sig, msg, sizeof msg, pk), HW_EAUTH);
    msg[0] ^= 1;
    sig[10] ^= 0x40;
    CHECK_ERR(hw_sign_verify(sig, msg, sizeof msg, pk), HW_EAUTH);
    hw_secure_free(sk);
    hw_secure_free(sk2);
  }

  /* arena: the cap bounds what it takes from the heap */
  {
    hw_arena ar;
    uint8_t buf[64];
    hw_arena_init(&ar, buf, sizeof buf, 8192);
    CHECK(hw_arena_alloc(&ar, 10) == buf);
    CHECK(((uintptr_t)hw_arena_alloc(&ar, 3) & 7) == 0);
    CHECK(hw_arena_alloc(&ar, 4000) != NULL);
    CHECK_NULL(hw_arena_alloc(&ar, 8192));
    hw_arena_reset(&ar);
    CHECK(hw_arena_alloc(&ar, 8) == buf);
    hw_arena_close(&ar);
  }

  /* the allocation hook reaches SQLite: with allocations failing, opening a
   * database fails with SQLITE_NOMEM instead of succeeding behind our back */
  {
    sqlite3 *db = NULL;
    long before = hw_test_alloc_count();
    CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
    CHECK(hw_test_alloc_count() > before);
    sqlite3_close(db);
    hw_test_fail_alloc_after(0);
    db = NULL;
    CHECK(sqlite3_open(":memory:", &db) != SQLITE_OK);
    hw_test_fail_alloc_after(-1);
    sqlite3_close(db);
  }
  puts("conventions: ok");
  return 0;
}
