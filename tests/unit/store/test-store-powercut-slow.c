/* The long power-cut campaign (suite `slow`): HW_TEST_SLOW=1 runs 1000 x
 * HW_TEST_SCALE cuts per configuration; otherwise it reports a skip. */
#define HW_POWERCUT_SLOW 1
#include "test-store-powercut.c"
