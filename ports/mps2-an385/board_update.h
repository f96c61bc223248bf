/* The update images' part of the command line (`replay --update-at`, docs/UPDATE.md), for both
 * images (ports/qemu and ports/qemu-threadx): the packages, the key and the self-test trace are
 * files in QEMU's folder, read through semihosting like the trace:
 *   arg=--update-at=<N>:<file> (repeatable, in order) arg=--pub-hex=<65-byte point in hex>
 *   arg=--self-test=<file> [arg=--installed-sequence=<n>] */
#ifndef MT_BOARD_UPDATE_H
#define MT_BOARD_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mt_replay_update.h"

#define BOARD_SELF_TEST_BYTES 4096u

typedef struct board_updates {
  mt_replay_update_args_t args;
  char self_test[BOARD_SELF_TEST_BYTES];
  size_t self_test_length;
  bool bad; /* an update option did not parse: board_updates_ready says why */
  const char *why;
} board_updates_t;

extern board_updates_t board_updates;

/* board_parse_args' `other` for an update option: true when `arg` is one (even a bad one). */
bool board_update_option(const char *arg);
/* After parsing: 0, or an exit status after the usage line (a bad option, no key, no self-test,
 * a self-test that cannot be read). With no --update-at, 0 and nothing else. */
int board_updates_ready(void);
/* Packages through semihosting (mt_replay_package_io_t). */
extern const mt_replay_package_io_t board_package_io;

#endif
