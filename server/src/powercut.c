/* The power-cut hooks of homeward-server-powercut (powercut-int.h). */
#include "powercut-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "homeward/log.h"
#include "homeward/store-testvfs.h"

int hw__powercut_parse(const char *spec, hw_powercut *pc)
{
  char *end;
  long ops;
  unsigned long long seed;

  errno = 0;
  ops = strtol(spec, &end, 10);
  if (errno || end == spec || *end != ':' || ops < 0)
    return HW_EINVAL;
  spec = end + 1;
  seed = strtoull(spec, &end, 0);
  if (errno || end == spec || (*end && *end != ':'))
    return HW_EINVAL;
  pc->sync_normal = false;
  if (*end == ':') {
    if (strcmp(end + 1, "sync-normal") != 0)
      return HW_EINVAL;
    pc->sync_normal = true;
  }
  pc->set = true;
  pc->ops = ops;
  pc->seed = (uint64_t)seed;
  return HW_OK;
}

void hw__powercut_prepare(const hw_powercut *pc, hw_unlock *u)
{
  if (!pc->set)
    return;
  u->base_vfs = HW_TESTVFS_NAME;
  u->power_lost = hw_testvfs_dead;
  if (pc->sync_normal)
    u->test_flags |= HW_STORE_TEST_SYNC_NORMAL;
  /* Loud on purpose: this binary must never serve real devices. */
  hw_log(HW_LOG_WARN, "TEST BUILD: the store runs over the power-cut test VFS (fsync is "
                      "simulated, not done) and the power fails after %ld operations%s: never "
                      "use homeward-server-powercut for real data",
         pc->ops, pc->sync_normal ? "; planted flaw synchronous=NORMAL" : "");
}

void hw__powercut_arm(const hw_powercut *pc)
{
  if (!pc->set)
    return;
  /* The storage thread has not run a job yet and takes its first one under
   * the queue's lock, after this: the model is not shared at the same time. */
  hw_testvfs_die_after(pc->ops);
  hw_log(HW_LOG_INFO, "test power cut armed ops_after_start=%ld ops_so_far=%ld", pc->ops,
         hw_testvfs_ops());
}

int hw__powercut_finish(const hw_powercut *pc, int rc)
{
  bool dead;
  long ops;
  int err;

  if (!pc->set)
    return rc;
  dead = hw_testvfs_dead();
  ops = hw_testvfs_ops();
  err = hw_testvfs_powercut(pc->seed);
  if (err) {
    hw_log(HW_LOG_ERROR, "test power cut could not be applied err=%s", hw_errname(err));
    return 3;
  }
  hw_log(HW_LOG_WARN, "test power cut applied power_failed=%d ops=%ld", (int)dead, ops);
  return dead ? HW_POWERCUT_EXIT : rc;
}
