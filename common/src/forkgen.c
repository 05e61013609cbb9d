/* Fork detection (forkgen-int.h). getpid() is a system call, 1.7 µs on
 * this platform, and sealing a page asked it once per nonce: 4% of the
 * server's CPU in a push. A pthread_atfork() child handler counts forks
 * instead. Where the handler cannot be registered, the pid stands in. */
#include "forkgen-int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool registered;
static atomic_uint_fast64_t forks;

static void in_child(void)
{
  atomic_fetch_add_explicit(&forks, 1, memory_order_relaxed);
}

static void register_handler(void)
{
  registered = pthread_atfork(NULL, NULL, in_child) == 0;
}

uint64_t hw__fork_gen(void)
{
  uint64_t n;

  pthread_once(&once, register_handler);
  n = atomic_load_explicit(&forks, memory_order_relaxed);
  return registered ? n : (uint64_t)getpid() << 32 | (n & 0xffffffffu);
}
