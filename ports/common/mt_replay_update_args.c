/* The update options of the replay programs (mt_replay_update.h): apart from the driver, so the
 * ThreadX image, which hands packages to its own agent, links the parser alone. */
#include <limits.h>
#include <string.h>

#include "mt_replay_update.h"

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decimal digits up to `end`; 0 when there are none, something else follows or the number is
 * past 2^64 - 1 (`saturate`: then UINT64_MAX instead). */
static int decimal(const char *s, char end, int saturate, uint64_t *value, const char **after) {
  uint64_t v = 0;
  int over = 0;
  const char *p = s;
  for (; *p >= '0' && *p <= '9'; p++) {
    uint64_t d = (uint64_t)(*p - '0');
    if (v > (UINT64_MAX - d) / 10u) over = 1;
    v = over ? UINT64_MAX : v * 10u + d;
  }
  if (p == s || *p != end || (over && !saturate)) return 0;
  *value = v;
  *after = p;
  return 1;
}

int mt_replay_update_option(mt_replay_update_args_t *a, const char *arg, const char **why) {
  const char *after;
  uint64_t v;
  if (strncmp(arg, "--update-at=", 12) == 0) {
    if (!decimal(arg + 12, ':', 1, &v, &after) || v == 0 || after[1] == '\0')
      return *why = "--update-at must be <N>:<package>", -1;
    if (a->count == MT_REPLAY_UPDATES_MAX)
      return *why = "--update-at: at most " MT_REPLAY_UPDATES_MAX_TEXT " packages", -1;
    /* A line past what `unsigned long` counts (32 bits on the board) comes after the last: the
     * package is delivered at the end of input, as on V8. */
    a->at[a->count].line = v > ULONG_MAX ? ULONG_MAX : (unsigned long)v;
    a->at[a->count++].package = after + 1;
    return 1;
  }
  if (strncmp(arg, "--pub-hex=", 10) == 0) {
    const char *h = arg + 10;
    if (strlen(h) != 130) return *why = "--pub-hex must be 65 bytes in hex", -1;
    for (size_t i = 0; i < 65; i++) {
      int hi = hex_value(h[2 * i]), lo = hex_value(h[2 * i + 1]);
      if (hi < 0 || lo < 0) return *why = "--pub-hex must be 65 bytes in hex", -1;
      a->public_key[i] = (uint8_t)(hi << 4 | lo);
    }
    a->have_key = 1;
    return 1;
  }
  if (strncmp(arg, "--installed-sequence=", 21) == 0) {
    if (!decimal(arg + 21, '\0', 0, &a->installed_sequence, &after))
      return *why = "--installed-sequence must be an integer", -1;
    return 1;
  }
  if (strncmp(arg, "--self-test=", 12) == 0) {
    a->self_test = arg + 12;
    return 1;
  }
  return 0;
}
