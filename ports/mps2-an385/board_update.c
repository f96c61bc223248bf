/* See board_update.h. */
#include "board_update.h"

#include <string.h>

#include "console.h"
#include "mt_replay.h"
#include "semihost.h"

board_updates_t board_updates;

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool bad(const char *why) {
  if (!board_updates.bad) board_updates.why = why;
  board_updates.bad = true;
  return true;
}

/* Decimal digits to the end of `s`; false when there are none or something else follows. */
static bool decimal(const char *s, char end, uint64_t *value, const char **after) {
  uint64_t v = 0;
  const char *p = s;
  while (*p >= '0' && *p <= '9') v = v * 10u + (uint64_t)(*p++ - '0');
  if (p == s || *p != end) return false;
  *value = v;
  *after = p;
  return true;
}

bool board_update_option(const char *arg) {
  board_updates_t *u = &board_updates;
  const char *after;
  uint64_t v;
  if (strncmp(arg, "--update-at=", 12) == 0) {
    if (!decimal(arg + 12, ':', &v, &after) || v == 0 || after[1] == '\0')
      return bad("--update-at must be <N>:<package>");
    if (u->count == BOARD_UPDATES_MAX) return bad("too many --update-at");
    u->at[u->count].line = (unsigned long)v;
    u->at[u->count++].package = after + 1;
    return true;
  }
  if (strncmp(arg, "--pub-hex=", 10) == 0) {
    const char *h = arg + 10;
    if (strlen(h) != 130) return bad("--pub-hex must be 65 bytes in hex");
    for (size_t i = 0; i < 65; i++) {
      int hi = hex_value(h[2 * i]), lo = hex_value(h[2 * i + 1]);
      if (hi < 0 || lo < 0) return bad("--pub-hex must be 65 bytes in hex");
      u->public_key[i] = (uint8_t)(hi << 4 | lo);
    }
    u->have_key = true;
    return true;
  }
  if (strncmp(arg, "--installed-sequence=", 21) == 0) {
    if (!decimal(arg + 21, '\0', &u->installed_sequence, &after))
      return bad("--installed-sequence must be an integer");
    return true;
  }
  if (strncmp(arg, "--self-test=", 12) == 0) {
    u->self_test_name = arg + 12;
    return true;
  }
  return false;
}

int board_updates_ready(void) {
  board_updates_t *u = &board_updates;
  if (u->bad) return board_usage(u->why);
  if (u->count == 0) return 0;
  if (!u->have_key || u->self_test_name == NULL)
    return board_usage("--update-at needs --pub-hex and --self-test");
  int handle = sh_open_read(u->self_test_name);
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
