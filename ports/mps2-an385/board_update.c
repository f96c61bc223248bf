/* See board_update.h. */
#include "board_update.h"

#include <string.h>

#include "console.h"
#include "mt_replay.h"
#include "semihost.h"

board_updates_t board_updates;

bool board_update_option(const char *arg) {
  const char *why = NULL;
  int rc = mt_replay_update_option(&board_updates.args, arg, &why);
  if (rc < 0 && !board_updates.bad) {
    board_updates.bad = true;
    board_updates.why = why;
  }
  return rc != 0;
}

int board_updates_ready(void) {
  board_updates_t *u = &board_updates;
  if (u->bad) return board_usage(u->why);
  if (u->args.count == 0) return 0;
  if (!u->args.have_key || u->args.self_test == NULL)
    return board_usage("--update-at needs --pub-hex and --self-test");
  int handle = sh_open_read(u->args.self_test);
  long got = handle < 0 ? -1 : sh_read(handle, u->self_test, sizeof u->self_test);
  if (handle >= 0) sh_close(handle);
  if (got <= 0 || (size_t)got == sizeof u->self_test) {
    board_put_text(&board_err, "microtally: cannot read the self-test trace\n");
    (void)board_flush(&board_err);
    return MT_REPLAY_EXIT_IO;
  }
  u->self_test_length = (size_t)got;
  return 0;
}

static int p_open(void *ctx, const char *name) {
  (void)ctx;
  return sh_open_read(name);
}
static long p_read(void *ctx, int handle, void *buf, size_t cap) {
  (void)ctx;
  return sh_read(handle, buf, cap);
}
static void p_close(void *ctx, int handle) {
  (void)ctx;
  sh_close(handle);
}

const mt_replay_package_io_t board_package_io = {NULL, p_open, p_read, p_close};

#if MT_QEMU_THREADX_UPDATE
#include <errno.h>
/* The ThreadX update layer's snprintf (newlib-nano) links malloc, which formatting into a fixed
 * buffer never calls; the board has no heap (the measured images fail to link instead). */
void *_sbrk(ptrdiff_t increment);
void *_sbrk(ptrdiff_t increment) {
  (void)increment;
  errno = ENOMEM;
  return (void *)-1;
}
#endif
