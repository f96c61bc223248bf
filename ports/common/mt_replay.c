/*
 * mt_replay.c — see mt_replay.h. Output bytes mirror host/cli.ts: messages one per line on
 * stdout, `line N: reason` on stderr for each skipped line, the run summary last on stderr.
 */
#include "mt_replay.h"

#include <string.h>

/* Why the run stopped early (0: it did not). */
enum { RUN = 0, STOP_CLOSED = 1, STOP_IO = 2, STOP_ENGINE = 3 };

typedef struct replay {
    mt_core_t *core;
    const mt_replay_options_t *opt;
    const mt_replay_io_t *io;
    char *line; /* where lines are assembled: the caller's buffer or the core's input area */
    size_t line_capacity;
    unsigned long line_no;
    unsigned long skipped;
    int trapped;
    int stop;
} replay_t;

static void put(replay_t *r, int stream, const void *data, size_t len)
{
    int rc;
    if (r->stop != RUN || len == 0) {
        return;
    }
    rc = r->io->write(r->io->ctx, stream, data, len);
    if (rc == MT_REPLAY_WRITE_CLOSED) {
        r->stop = STOP_CLOSED;
    } else if (rc != 0) {
        r->stop = STOP_IO;
    }
}

static void put_text(replay_t *r, int stream, const char *text)
{
    put(r, stream, text, strlen(text));
}

const char *mt_replay_decimal(uint64_t n, char digits[MT_REPLAY_DECIMAL_BYTES])
{
    char *at = digits + MT_REPLAY_DECIMAL_BYTES;
    do {
        *--at = (char)('0' + n % 10u);
        n /= 10u;
    } while (n != 0);
    return at;
}

static void put_number(replay_t *r, int stream, unsigned long n)
{
    char digits[MT_REPLAY_DECIMAL_BYTES];
    const char *at = mt_replay_decimal(n, digits);
    put(r, stream, at, (size_t)(digits + sizeof digits - at));
}

/* A negative status from the bindings: a trap is reported and the run goes on (the core was
 * re-initialised); anything else ends the run. */
static void fault(replay_t *r, mt_status_t st)
{
    mt_counters_t c;
    if (st == MT_ERR_TRAP) {
        r->trapped = 1;
        (void)mt_get_counters(r->core, &c);
        put_text(r, MT_REPLAY_STDERR, "microtally: the core trapped at line ");
        put_number(r, MT_REPLAY_STDERR, r->line_no);
        put_text(r, MT_REPLAY_STDERR, " and was re-initialised (");
        put_number(r, MT_REPLAY_STDERR, c.traps);
        put_text(r, MT_REPLAY_STDERR, " traps, about ");
        put_number(r, MT_REPLAY_STDERR, c.lost_inputs);
        put_text(r, MT_REPLAY_STDERR, " inputs lost)\n");
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

/* Takes every pending chunk; a message ends with a newline. */
static void drain(replay_t *r)
{
    while (r->stop == RUN) {
        const uint8_t *data = NULL;
        size_t len = 0;
        bool ends = false;
        mt_status_t st = mt_next_chunk(r->core, &data, &len, &ends);
        if (st == MT_NO_MESSAGE) {
            return;
        }
        if (st != MT_OK) {
            fault(r, st);
            return;
        }
        put(r, MT_REPLAY_STDOUT, data, len);
        if (ends) {
            put(r, MT_REPLAY_STDOUT, "\n", 1);
        }
    }
}

static void put_last_error(replay_t *r)
{
    const char *text = NULL;
    size_t len = 0;
    if (mt_last_error(r->core, &text, &len) == MT_OK) {
        put(r, MT_REPLAY_STDERR, text, len);
    }
    put(r, MT_REPLAY_STDERR, "\n", 1);
}

static void ingest(replay_t *r, size_t len)
{
    mt_status_t st;
    r->line_no++;
    st = mt_ingest_line(r->core, r->line, len);
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

static int finish(replay_t *r)
{
    mt_status_t st;
    /* A run that already stopped (engine failure, output gone, I/O error) ends here. */
    if (r->stop == RUN) {
        st = mt_finish(r->core);
        if (st < 0) {
            fault(r, st);
        }
        drain(r);
    }
    if (r->opt->stats && r->stop == RUN) {
        const char *json = NULL;
        size_t n = 0;
        st = mt_stats(r->core, &json, &n);
        if (st == MT_OK) {
            put(r, MT_REPLAY_STDERR, json, n);
            put(r, MT_REPLAY_STDERR, "\n", 1);
        } else {
            fault(r, st);
        }
    }
    switch (r->stop) {
    case STOP_CLOSED:
        return MT_REPLAY_EXIT_OK;
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

static int start(replay_t *r)
{
    const mt_replay_options_t *opt = r->opt;
    mt_status_t st = mt_init(r->core, opt->config);
    if (st != MT_OK) {
        put_text(r, MT_REPLAY_STDERR, "microtally: wasm3 could not load the ");
        put_text(r, MT_REPLAY_STDERR, opt->profile);
        put_text(r, MT_REPLAY_STDERR, " blob: ");
        put_text(r, MT_REPLAY_STDERR, mt_status_name(st));
        put_text(r, MT_REPLAY_STDERR, "\n");
        return MT_REPLAY_EXIT_ENGINE;
    }
    if (opt->line == NULL) {
        /* Lines are assembled in the core's own input area: no line buffer of ours. A line
         * longer than the area is only measured, as the core wants it. */
        r->line = (char *)mt_input_area(r->core, &r->line_capacity);
    } else if (mt_input_capacity(r->core) >= opt->line_capacity) {
        put_text(r, MT_REPLAY_STDERR, "microtally: the blob's input area is larger than the line buffer\n");
        return MT_REPLAY_EXIT_ENGINE;
    } else {
        r->line = opt->line;
        r->line_capacity = opt->line_capacity;
    }
    if (opt->agent_id != NULL) {
        st = mt_set_agent_id(r->core, opt->agent_id, opt->agent_id_len);
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

int mt_replay(mt_core_t *core, const mt_replay_options_t *options, const mt_replay_io_t *io)
{
    replay_t r;
    size_t len = 0;
    bool have_line = false;
    bool ends_in_cr = false;
    int status;

    memset(&r, 0, sizeof r);
    r.core = core;
    r.opt = options;
    r.io = io;
    status = start(&r);
    if (status >= 0) {
        return status;
    }
    while (r.stop == RUN) {
        long got = io->read(io->ctx, options->read_buffer, options->read_capacity);
        long k;
        if (got < 0) {
            put_text(&r, MT_REPLAY_STDERR, "microtally: cannot read the trace\n");
            return MT_REPLAY_EXIT_IO;
        }
        if (got == 0) {
            break;
        }
        for (k = 0; k < got && r.stop == RUN; k++) {
            char c = options->read_buffer[k];
            if (c == '\n') {
                if (ends_in_cr && len == mt_input_capacity(r.core) + 1u) {
                    len--; /* the core ignores a trailing '\r': alone it never makes a line too long */
                }
                ingest(&r, len);
                len = 0;
                have_line = false;
                continue;
            }
            if (len < r.line_capacity) {
                r.line[len] = c;
            }
            len++;
            ends_in_cr = c == '\r';
            have_line = true;
        }
    }
    if (have_line && r.stop == RUN) {
        if (ends_in_cr && len == mt_input_capacity(r.core) + 1u) {
            len--;
        }
        ingest(&r, len);
    }
    return finish(&r);
}
