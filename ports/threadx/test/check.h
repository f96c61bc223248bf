/* A minimal test harness: CHECK counts, the runner prints "N passed, M failed". */
#ifndef MT_TEST_CHECK_H
#define MT_TEST_CHECK_H

#include <stdio.h>

static unsigned check_passed, check_failed;

#define CHECK(cond)                                                                          \
  do {                                                                                       \
    if (cond) {                                                                              \
      check_passed++;                                                                        \
    } else {                                                                                 \
      check_failed++;                                                                        \
      fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__, __func__, #cond); \
    }                                                                                        \
  } while (0)

static int check_report(const char *suite) {
  printf("%s: %u passed, %u failed\n", suite, check_passed, check_failed);
  return check_failed == 0 ? 0 : 1;
}

#endif
