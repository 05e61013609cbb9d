/* A TCP proxy on 127.0.0.1 for integration tests: forwards one connection
 * at a time between a device and the server, and can misbehave on purpose:
 * cut the connection after N bytes in one direction, flip one byte, or send
 * a chunk twice (a replay). */
#ifndef HW_TEST_PROXY_H
#define HW_TEST_PROXY_H

#include <stddef.h>
#include <stdint.h>

typedef enum hw_proxy_mode {
  HW_PROXY_PASS,
  HW_PROXY_CUT,    /* close both sides once `at` bytes went in direction `dir` */
  HW_PROXY_FLIP,   /* flip the byte at offset `at` of direction `dir` */
  HW_PROXY_REPLAY, /* send the chunk that contains offset `at` twice */
  HW_PROXY_SWALLOW, /* forward the first `at` chunks of direction `dir`, drop the rest
                       (the connection stays open until one side closes it) */
} hw_proxy_mode;

typedef struct hw_proxy hw_proxy;

/* Listen on 127.0.0.1 (its "host:port" in addr[64]) and forward to `target`. */
hw_proxy *hw_proxy_start(const char *target, char addr[64]);
/* Set the behaviour for the next connections. dir 0: device -> server. */
void hw_proxy_set(hw_proxy *p, hw_proxy_mode mode, int dir, uint64_t at);
/* Bytes forwarded on the last connection, per direction. */
uint64_t hw_proxy_bytes(hw_proxy *p, int dir);
void hw_proxy_stop(hw_proxy *p);

#endif
