/*
 * mt_replay.c — see mt_replay.h. Output bytes mirror host/cli.ts: messages one per line on
 * stdout, `line N: reason` on stderr for each skipped line, the run summary last on stderr.
 */
#include "mt_replay.h"

#include <string.h>

#include "mt_record_layout.h"

/* Why the run stopped early (0: it did not). */
enum { RUN = 0, STOP_IO, STOP_ENGINE };

typedef struct replay {
  const mt_replay_target_t *target;
  const mt_replay_options_t *opt;
  const mt_replay_io_t *io;
  char *line; /* where lines are assembled: the caller's buffer or the core's input area */
  size_t line_capacity;
  size_t area; /* the core's input area: a trailing '\r' just over it is dropped */
  unsigned long line_no;
  unsigned long skipped;
  int trapped;
  int stop;
  mt_message_framing_t framing;
} replay_t;

static void put(replay_t *r, int stream, const void *data, size_t len) {
  if (r->stop != RUN || len == 0) {
    return;
  }
  if (r->io->write(r->io->ctx, stream, data, len) != 0) {
    r->stop = STOP_IO;
  }
}

static void put_text(replay_t *r, int stream, const char *text) {
  put(r, stream, text, strlen(text));
}

const char *mt_replay_decimal(uint64_t n, char digits[MT_REPLAY_DECIMAL_BYTES]) {
  char *at = digits + MT_REPLAY_DECIMAL_BYTES;
  do {
    *--at = (char)('0' + n % 10u);
    n /= 10u;
  } while (n != 0);
  return at;
}

size_t mt_replay_record_size(const uint8_t *record, size_t available) {
  if (available < MT_CONN_HEADER) {
    return 0;
  }
  return MT_CONN_HEADER + (record[MT_CONN_APP_LEN] | (size_t)record[MT_CONN_APP_LEN + 1] << 8) +
         (record[MT_CONN_HOST_LEN] | (size_t)record[MT_CONN_HOST_LEN + 1] << 8);
}

static void put_number(replay_t *r, int stream, unsigned long n) {
  char digits[MT_REPLAY_DECIMAL_BYTES];
  const char *at = mt_replay_decimal(n, digits);
  put(r, stream, at, (size_t)(digits + sizeof digits - at));
}

/* A negative status from the bindings: a trap is reported and the run goes on (the core was
 * re-initialised); anything else ends the run. */
static void fault(replay_t *r, mt_status_t st) {
  mt_counters_t c;
  if (st == MT_ERR_TRAP) {
    r->trapped = 1;
    put_text(r, MT_REPLAY_STDERR, "microtally: the core trapped at line ");
    put_number(r, MT_REPLAY_STDERR, r->line_no);
    put_text(r, MT_REPLAY_STDERR, " and was re-initialised");
    if (r->target->counters != NULL) {
      (void)r->target->counters(r->target->ctx, &c);
      put_text(r, MT_REPLAY_STDERR, " (");
      put_number(r, MT_REPLAY_STDERR, c.traps);
      put_text(r, MT_REPLAY_STDERR, " traps, about ");
      put_number(r, MT_REPLAY_STDERR, c.lost_inputs);
      put_text(r, MT_REPLAY_STDERR, " inputs lost)");
    }
    put_text(r, MT_REPLAY_STDERR, "\n");
    return;
  }
  put_text(r, MT_REPLAY_STDERR, "microtally: wasm3 engine failure at line ");
  put_number(r, MT_REPLAY_STDERR, r->line_no);
  put_text(r, MT_REPLAY_STDERR, ": ");
  put_text(r, MT_REPLAY_STDERR, mt_status_name(st));
  put_text(r, MT_REPLAY_STDERR, "\n");
  if (r->stop == RUN) {
    r->stop = STOP_ENGINE;
  }
}

/* One chunk to stdout, framed as replay prints messages (mt_message.h). */
static bool write_chunk(void *ctx, const uint8_t *data, size_t len, bool ends) {
  replay_t *r = ctx;
  put(r, MT_REPLAY_STDOUT, data, len);
  if (mt_message_ends_line(&r->framing, data, len, ends ? MT_MESSAGE_LAST : MT_MESSAGE_MORE)) {
    put(r, MT_REPLAY_STDOUT, "\n", 1);
  }
  return r->stop == RUN;
}

/* Writes what the target made pending, when it does not send its messages itself. */
static void drain(replay_t *r) {
  mt_status_t st;
  if (r->stop != RUN || r->target->drain == NULL) {
    return;
  }
  st = r->target->drain(r->target->ctx, write_chunk, r);
  if (st != MT_OK) {
    fault(r, st);
  }
}

static void put_last_error(replay_t *r) {
  const char *text = NULL;
  size_t len = 0;
  r->target->reason(r->target->ctx, &text, &len);
  put(r, MT_REPLAY_STDERR, text, len);
  put(r, MT_REPLAY_STDERR, "\n", 1);
}

static void ingest(replay_t *r, size_t len) {
  mt_status_t st;
  r->line_no++;
  st = r->target->line(r->target->ctx, r->line, len);
  if (st == MT_SKIPPED) {
    r->skipped++;
    put_text(r, MT_REPLAY_STDERR, "line ");
    put_number(r, MT_REPLAY_STDERR, r->line_no);
    put_text(r, MT_REPLAY_STDERR, ": ");
    put_last_error(r);
  } else if (st < 0) {
    fault(r, st);
  }
  drain(r);
}

static int finish(replay_t *r) {
  mt_status_t st;
  /* A run that already stopped (engine failure, output gone, I/O error) ends here. */
  if (r->stop == RUN) {
    st = r->target->finish(r->target->ctx);
    if (st < 0) {
      fault(r, st);
    }
    drain(r);
  }
  if (r->opt->stats && r->stop == RUN) {
    const char *json = NULL;
    size_t n = 0;
    st = r->target->summary(r->target->ctx, &json, &n);
    if (st == MT_OK) {
      put(r, MT_REPLAY_STDERR, json, n);
      put(r, MT_REPLAY_STDERR, "\n", 1);
    } else {
      fault(r, st);
    }
  }
  switch (r->stop) {
    case STOP_IO:
      return MT_REPLAY_EXIT_IO;
    case STOP_ENGINE:
      return MT_REPLAY_EXIT_ENGINE;
    default:
      break;
  }
  if (r->trapped) {
    return MT_REPLAY_EXIT_TRAPPED;
  }
  return r->skipped > 0 ? MT_REPLAY_EXIT_SKIPPED : MT_REPLAY_EXIT_OK;
}

/* Splits the trace into lines, gives each to the target, and ends the run. */
static int run(replay_t *r) {
  const mt_replay_options_t *options = r->opt;
  const mt_replay_io_t *io = r->io;
  size_t len = 0;
  bool have_line = false;
  bool ends_in_cr = false;

  while (r->stop == RUN) {
    long got = io->read(io->ctx, options->read_buffer, options->read_capacity);
    long k;
    if (got < 0) {
      put_text(r, MT_REPLAY_STDERR, "microtally: cannot read the trace\n");
      return MT_REPLAY_EXIT_IO;
    }
    if (got == 0) {
      break;
    }
    for (k = 0; k < got && r->stop == RUN; k++) {
      char c = options->read_buffer[k];
      if (c == '\n') {
        if (ends_in_cr && len == r->area + 1u) {
          len--;
        }
        ingest(r, len);
        len = 0;
        have_line = false;
        continue;
      }
      if (len < r->line_capacity) {
        r->line[len] = c;
      }
      len++;
      ends_in_cr = c == '\r';
      have_line = true;
    }
  }
  if (have_line && r->stop == RUN) {
    if (ends_in_cr && len == r->area + 1u) {
      len--;
    }
    ingest(r, len);
  }
  return finish(r);
}

int mt_replay_to(const mt_replay_target_t *target, const mt_replay_options_t *options,
                 const mt_replay_io_t *io) {
  replay_t r;

  memset(&r, 0, sizeof r);
  r.target = target;
  r.opt = options;
  r.io = io;
  r.line = options->line;
  r.line_capacity = options->line_capacity;
  r.area = options->line_capacity; /* the target's input area is its line buffer */
  return run(&r);
}

/* ---- mt_replay: the target is a core of the caller's ---- */

static mt_status_t core_line(void *core, const char *line, size_t len) {
  return mt_ingest_line(core, line, len);
}

static void core_reason(void *core, const char **text, size_t *len) {
  if (mt_last_error(core, text, len) != MT_OK) {
    *len = 0;
  }
}

static mt_status_t core_finish(void *core) { return mt_finish(core); }

static mt_status_t core_summary(void *core, const char **json, size_t *len) {
  return mt_stats(core, json, len);
}

static mt_status_t core_drain(void *core, mt_message_sink_t sink, void *sink_ctx) {
  return mt_message_drain(core, sink, sink_ctx);
}

static mt_status_t core_counters(void *core, mt_counters_t *counters) {
  return mt_get_counters(core, counters);
}

/* Loads the core and applies --format and --agent-id; -1 when the run may go on, else the
 * exit status. */
static int start(replay_t *r, mt_core_t *core) {
  const mt_replay_options_t *opt = r->opt;
  mt_status_t st = mt_init(core, opt->config);
  if (st != MT_OK) {
    put_text(r, MT_REPLAY_STDERR, "microtally: wasm3 could not load the ");
    put_text(r, MT_REPLAY_STDERR, opt->profile);
    put_text(r, MT_REPLAY_STDERR, " blob: ");
    put_text(r, MT_REPLAY_STDERR, mt_status_name(st));
    put_text(r, MT_REPLAY_STDERR, "\n");
    return MT_REPLAY_EXIT_ENGINE;
  }
  r->area = mt_input_capacity(core);
  if (opt->line == NULL) {
    /* Lines are assembled in the core's own input area: no line buffer of ours. A line
         * longer than the area is only measured, as the core wants it. */
    r->line = (char *)mt_input_area(core, &r->line_capacity);
  } else if (r->area >= opt->line_capacity) {
    put_text(r, MT_REPLAY_STDERR,
             "microtally: the blob's input area is larger than the line buffer\n");
    return MT_REPLAY_EXIT_ENGINE;
  } else {
    r->line = opt->line;
    r->line_capacity = opt->line_capacity;
  }
  if (opt->format != MT_FORMAT_JSON) {
    st = mt_set_format(core, opt->format);
    if (st != MT_OK) {
      fault(r, st);
    }
  }
  if (opt->agent_id != NULL) {
    st = mt_set_agent_id(core, opt->agent_id, opt->agent_id_len);
    if (st == MT_SKIPPED) {
      put_text(r, MT_REPLAY_STDERR, "microtally: --agent-id: ");
      put_last_error(r);
      return MT_REPLAY_EXIT_USAGE;
    }
    if (st != MT_OK) {
      fault(r, st);
    }
  }
  return -1;
}

int mt_replay(mt_core_t *core, const mt_replay_options_t *options, const mt_replay_io_t *io) {
  const mt_replay_target_t target = {core,         core_line,  core_reason,  core_finish,
                                     core_summary, core_drain, core_counters};
  replay_t r;
  int status;

  memset(&r, 0, sizeof r);
  r.target = &target;
  r.opt = options;
  r.io = io;
  status = start(&r, core);
  return status >= 0 ? status : run(&r);
}
