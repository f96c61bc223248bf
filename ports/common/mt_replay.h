/*
 * mt_replay.h — the `replay` loop of SPEC R10/R11 over the C bindings, for any target that can
 * read a byte stream and write two text streams: ports/posix (stdio) and ports/qemu
 * (semihosting) share it, so every C engine prints the same bytes as the V8 CLI.
 *
 * Lines are split on '\n'; a last line without one counts when it is not empty. A line longer
 * than the caller's line buffer is only measured: it is longer than the core's input area
 * anyway, and the core needs its length only to reject it.
 *
 * No allocation: the caller passes every buffer.
 */
#ifndef MT_REPLAY_H
#define MT_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "microtally.h"
#include "mt_message.h"

/* Exit statuses: replay's own (SPEC R11), then the C engines' failures. */
#define MT_REPLAY_EXIT_OK 0
#define MT_REPLAY_EXIT_SKIPPED 1  /* some lines were skipped */
#define MT_REPLAY_EXIT_USAGE 2    /* bad arguments (e.g. an agent id the core refused) */
#define MT_REPLAY_EXIT_TRAPPED 70 /* the core trapped; the run went on after re-initialisation */
#define MT_REPLAY_EXIT_ENGINE 71  /* wasm3 could not load or run the blob */
#define MT_REPLAY_EXIT_IO 74      /* reading the trace or writing the output failed */

enum { MT_REPLAY_STDOUT = 1, MT_REPLAY_STDERR = 2 };

typedef struct mt_replay_io {
  void *ctx;
  /** Reads up to cap bytes of the trace: the count, 0 at its end, negative on error. */
  long (*read)(void *ctx, void *buf, size_t cap);
  /** Writes all len bytes to MT_REPLAY_STDOUT or MT_REPLAY_STDERR: 0, or negative on error
     *  (a closed output too: SPEC §6 counts it as an output error, exit 74, on every engine). */
  int (*write)(void *ctx, int stream, const void *data, size_t len);
} mt_replay_io_t;

typedef struct mt_replay_options {
  const mt_config_t *config;
  const char *profile;  /**< for messages only */
  const char *agent_id; /**< NULL: the core's default */
  size_t agent_id_len;
  bool stats;         /**< add the core's run summary to stderr */
  mt_format_t format; /**< the format the run starts with (--format) */
  char *line;         /**< line buffer: more than the blob's input capacity; NULL:
                           assemble lines in the core's input area (mt_input_area) */
  size_t line_capacity;
  char *read_buffer;
  size_t read_capacity;
} mt_replay_options_t;

/* Writes n in decimal at the end of digits[]; returns where the number starts (it ends at
 * digits + MT_REPLAY_DECIMAL_BYTES). No printf needed on small targets. */
#define MT_REPLAY_DECIMAL_BYTES 20
const char *mt_replay_decimal(uint64_t n, char digits[MT_REPLAY_DECIMAL_BYTES]);

/* The size of the typed connection record at `record` (docs/ABI.md: its fixed header, then its
 * app and host strings), or 0 when fewer than the header's bytes are `available`. For the
 * `--bench-connections` hooks, which walk a file of records. */
size_t mt_replay_record_size(const uint8_t *record, size_t available);

/*
 * Where the lines go. The replay loop numbers the lines, reports the skipped ones, prints the
 * summary and picks the exit status; the target gives each line to a core. mt_replay's target
 * is a core of the caller's; ports/qemu-threadx's is the ThreadX agent thread, which owns its
 * core and sends the messages itself.
 */
typedef struct mt_replay_target {
  void *ctx;
  /** One line without its newline: MT_OK, MT_BLANK, MT_SKIPPED (reason from `reason`) or a
     *  negative status (MT_ERR_TRAP: the core recovered, the run goes on). When len exceeds
     *  the line buffer only len is meaningful (the line is too long for the core). */
  mt_status_t (*line)(void *ctx, const char *line, size_t len);
  /** The reason of the last MT_SKIPPED (not NUL-terminated). */
  void (*reason)(void *ctx, const char **text, size_t *len);
  /** End of input: everything pending is made ready. */
  mt_status_t (*finish)(void *ctx);
  /** The core's run summary (for options->stats), after finish. */
  mt_status_t (*summary)(void *ctx, const char **json, size_t *len);
  /** Optional: hands every chunk the last call made pending to `sink`, which writes it to
     *  stdout (mt_message_drain); NULL when the target sends its messages itself. */
  mt_status_t (*drain)(void *ctx, mt_message_sink_t sink, void *sink_ctx);
  /** Optional: the core's counters, quoted when it traps. */
  mt_status_t (*counters)(void *ctx, mt_counters_t *counters);
} mt_replay_target_t;

/* Replays the trace into `target` (already started; options->config, profile and agent_id are
 * not used) with the caller's line buffer (options->line, line_capacity: at least the core's
 * input area). Returns the exit status. */
int mt_replay_to(const mt_replay_target_t *target, const mt_replay_options_t *options,
                 const mt_replay_io_t *io);

/* Initialises `core` (uninitialised, e.g. zeroed static storage) with options->config, the
 * agent id and format, then replays the whole trace into it (mt_replay_to) and returns the
 * exit status. */
int mt_replay(mt_core_t *core, const mt_replay_options_t *options, const mt_replay_io_t *io);

#endif
