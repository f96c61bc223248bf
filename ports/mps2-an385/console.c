/* See console.h. */
#include "console.h"

#include <string.h>

#include "mt_replay.h"
#include "semihost.h"

/* An image that takes more (the update images: a key in hex, packages) sets its own. */
#ifndef BOARD_CMDLINE_BYTES
#define BOARD_CMDLINE_BYTES 256u
#endif
#define CMDLINE_BYTES BOARD_CMDLINE_BYTES

board_stream_t board_out, board_err;
static char cmdline[CMDLINE_BYTES];

bool board_console_open(void) {
  board_out.handle = sh_open_console(0);
  board_err.handle = sh_open_console(1);
  return board_out.handle >= 0 && board_err.handle >= 0;
}

int board_flush(board_stream_t *s) {
  int rc = s->used > 0 ? sh_write(s->handle, s->buf, s->used) : 0;
  s->used = 0;
  if (rc != 0) s->failed = true;
  return rc;
}

int board_put(board_stream_t *s, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    size_t n = BOARD_OUT_BYTES - s->used;
    if (n > len) n = len;
    memcpy(s->buf + s->used, p, n);
    s->used += n;
    p += n;
    len -= n;
    if (s->used == BOARD_OUT_BYTES && board_flush(s) != 0) return -1;
  }
  return 0;
}

void board_put_text(board_stream_t *s, const char *text) { (void)board_put(s, text, strlen(text)); }

void board_put_number(board_stream_t *s, uint64_t n) {
  char digits[MT_REPLAY_DECIMAL_BYTES];
  const char *at = mt_replay_decimal(n, digits);
  (void)board_put(s, at, (size_t)(digits + sizeof digits - at));
}

int board_finish(int status) {
  if (board_flush(&board_out) != 0 || board_flush(&board_err) != 0) return MT_REPLAY_EXIT_IO;
  return board_out.failed || board_err.failed ? MT_REPLAY_EXIT_IO : status;
}

long board_read(void *ctx, void *buf, size_t cap) { return sh_read((int)(intptr_t)ctx, buf, cap); }

int board_write(void *ctx, int stream, const void *data, size_t len) {
  (void)ctx;
  return board_put(stream == MT_REPLAY_STDOUT ? &board_out : &board_err, data, len);
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The decoded length, or -1 (not hex, or more than cap bytes). */
static long decode_hex(const char *hex, char *to, size_t cap) {
  size_t n = 0;
  while (hex[0] != '\0') {
    int hi = hex_digit(hex[0]);
    int lo = hex[1] != '\0' ? hex_digit(hex[1]) : -1;
    if (hi < 0 || lo < 0 || n == cap) return -1;
    to[n++] = (char)(hi << 4 | lo);
    hex += 2;
  }
  to[n] = '\0';
  return (long)n;
}

int board_usage(const char *message) {
  board_put_text(&board_err, "microtally: ");
  board_put_text(&board_err, message);
  board_put_text(
      &board_err,
      "\nusage: microtally [--stats] [--format=json|cbor] [--agent-id-hex=<hex>] [--footprint] <trace>\n");
  (void)board_flush(&board_err);
  return MT_REPLAY_EXIT_USAGE;
}

int board_parse_args(board_args_t *args, bool (*other)(const char *arg)) {
  char *arg;
  char *next;
  memset(args, 0, sizeof *args);
  args->agent_id_len = -1;
  if (sh_cmdline(cmdline, sizeof cmdline) < 0) return board_usage("command line too long");
  /* Arguments are separated by single spaces; the first is the program name. */
  for (arg = strchr(cmdline, ' '); arg != NULL; arg = next) {
    *arg++ = '\0';
    next = strchr(arg, ' ');
    if (next != NULL) *next = '\0';
    if (strcmp(arg, "--stats") == 0) {
      args->stats = true;
    } else if (strcmp(arg, "--footprint") == 0) {
      args->footprint = true;
    } else if (strcmp(arg, "--format=cbor") == 0) {
      args->format = MT_FORMAT_CBOR;
    } else if (strcmp(arg, "--format=json") == 0) {
      args->format = MT_FORMAT_JSON;
    } else if (strncmp(arg, "--agent-id-hex=", 15) == 0) {
      args->agent_id_len = decode_hex(arg + 15, args->agent_id, BOARD_AGENT_ID_BYTES);
      if (args->agent_id_len < 0)
        return board_usage("--agent-id-hex: not hex, or longer than 64 bytes");
    } else if (arg[0] == '-' ? !other(arg) : args->trace != NULL) {
      return board_usage("unknown argument");
    } else if (arg[0] != '-') {
      args->trace = arg;
    }
    if (next != NULL) *next = ' '; /* the loop splits at it again */
  }
  return 0;
}

int board_open_trace(const board_args_t *args) {
  int handle = sh_open_read(args->trace);
  if (handle < 0) {
    board_put_text(&board_err, "microtally: cannot open the trace ");
    board_put_text(&board_err, args->trace);
    board_put_text(&board_err, "\n");
    (void)board_flush(&board_err);
  }
  return handle;
}
