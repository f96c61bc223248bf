/* The images' console: stdout and stderr of the qemu-system-arm process through semihosting,
 * buffered (every semihosting call traps to the host), and the replay command line QEMU passes
 * (`-semihosting-config ...,arg=microtally,arg=...`), parsed once for both images. */
#ifndef MT_BOARD_CONSOLE_H
#define MT_BOARD_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "microtally.h"

#define BOARD_OUT_BYTES 1024u
#define BOARD_AGENT_ID_BYTES 64u

typedef struct board_stream {
  int handle;
  size_t used;
  bool failed; /* a write to the host failed: the run ends with MT_REPLAY_EXIT_IO */
  char buf[BOARD_OUT_BYTES];
} board_stream_t;

extern board_stream_t board_out, board_err;

/* Opens stdout and stderr; false when the host refused. */
bool board_console_open(void);
int board_put(board_stream_t *s, const void *data, size_t len); /* 0, or -1: a write failed */
void board_put_text(board_stream_t *s, const char *text);
void board_put_number(board_stream_t *s, uint64_t n);
int board_flush(board_stream_t *s);
/* Flushes both streams: `status`, or MT_REPLAY_EXIT_IO when any write failed. */
int board_finish(int status);

/* mt_replay_io_t callbacks: the trace (ctx: its handle, cast) and the two streams. */
long board_read(void *ctx, void *buf, size_t cap);
int board_write(void *ctx, int stream, const void *data, size_t len);

typedef struct board_args {
  bool stats;     /* --stats */
  bool footprint; /* --footprint: the image adds its footprint line to stderr */
  mt_format_t format;
  char agent_id[BOARD_AGENT_ID_BYTES + 1]; /* --agent-id-hex=<hex>: hex, so no byte of it can
                                              upset QEMU's option parser */
  long agent_id_len;                       /* -1: none */
  const char *trace;                       /* the one argument that is not an option */
} board_args_t;

/* Parses the command line; an option the replay does not know goes to `other` (the image's:
 * false when it does not know it either). Returns 0, or an exit status after printing usage. */
int board_parse_args(board_args_t *args, bool (*other)(const char *arg));
/* Prints the usage line with `message` on stderr; returns MT_REPLAY_EXIT_USAGE. */
int board_usage(const char *message);
/* Opens the trace named on the command line; -1 (reported on stderr) when it cannot. */
int board_open_trace(const board_args_t *args);

#endif
