/*
 * microtally-replay — the host's part of `replay` (docs/ABI.md) on wasm3, for POSIX hosts.
 * Prints the same stdout/stderr bytes and exit status as the V8 driver (host/engines/v8.ts):
 *
 *   microtally-replay [--profile rtos|linux] [--agent-id <uuid>] [--stats] <trace.jsonl | ->
 *
 * Exit: 0 all lines used, 1 some lines skipped, 2 usage error; beyond replay's codes,
 * 70 the core trapped (the run continued after re-initialisation), 71 wasm3 could not load
 * the blob, 74 an I/O error. No allocation: every buffer is static.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "microtally.h"
#include "microtally_blobs.h"

#define EXIT_TRAPPED 70
#define EXIT_ENGINE 71
#define EXIT_IO 74

/* The longest line kept whole; longer ones are only measured (the core's input area is
 * smaller still: such lines reach it as mt_oversized_line). */
#define LINE_MAX_BYTES (256u * 1024u)

static const char usage_text[] =
    "usage: microtally-replay [--profile rtos|linux] [--agent-id <uuid>] [--stats] <trace.jsonl | ->\n";

static mt_core_t core;
static char line[LINE_MAX_BYTES];
static char read_buf[64u * 1024u];
static char out_buf[64u * 1024u];
static int trapped;

static int usage(const char *message)
{
    fprintf(stderr, "microtally: %s\n%s", message, usage_text);
    return 2;
}

/* Writes all bytes; a reader that went away (`| head`) ends the run quietly, as the V8 CLI
 * does. */
static void write_out(FILE *f, const void *data, size_t len)
{
    if (len > 0 && fwrite(data, 1, len, f) != len) {
        if (errno == EPIPE) {
            exit(0);
        }
        exit(EXIT_IO);
    }
}

static void fault(mt_status_t st, unsigned long line_no)
{
    mt_counters_t c;
    if (st == MT_ERR_TRAP) {
        trapped = 1;
        (void)mt_get_counters(&core, &c);
        fprintf(stderr, "microtally: the core trapped at line %lu and was re-initialised (%lu traps, about %lu inputs lost)\n",
                line_no, (unsigned long)c.traps, (unsigned long)c.lost_inputs);
        return;
    }
    fprintf(stderr, "microtally: wasm3 engine failure at line %lu: %s\n", line_no, mt_status_name(st));
    fflush(stdout);
    exit(EXIT_ENGINE);
}

/* Takes every pending chunk and prints messages one per line. */
static void drain(unsigned long line_no)
{
    for (;;) {
        const uint8_t *data = NULL;
        size_t len = 0;
        bool ends = false;
        mt_status_t st = mt_next_chunk(&core, &data, &len, &ends);
        if (st == MT_NO_MESSAGE) {
            return;
        }
        if (st != MT_OK) {
            fault(st, line_no);
            return;
        }
        write_out(stdout, data, len);
        if (ends) {
            write_out(stdout, "\n", 1);
        }
    }
}

static void print_reason(unsigned long line_no)
{
    const char *text = NULL;
    size_t len = 0;
    if (mt_last_error(&core, &text, &len) != MT_OK) {
        text = "";
        len = 0;
    }
    fprintf(stderr, "line %lu: ", line_no);
    write_out(stderr, text, len);
    write_out(stderr, "\n", 1);
}

/* One line of `len` bytes; returns 1 when skipped. A line longer than LINE_MAX_BYTES was only
 * measured, which is enough: it is longer than the input area, so the core needs its length
 * only (mt_oversized_line). */
static int ingest(unsigned long line_no, size_t len)
{
    mt_status_t st = mt_ingest_line(&core, line, len);
    if (st == MT_SKIPPED) {
        print_reason(line_no);
    } else if (st < 0) {
        fault(st, line_no);
    }
    drain(line_no);
    return st == MT_SKIPPED;
}

/* `--bench-connections <records> <repeat>`: the engine benchmark of host/bench (not part of
 * replay). Feeds a file of typed connection records (docs/ABI.md layout) through
 * mt_ingest_connection_records, discarding messages, `repeat` times from a reset core, and
 * prints one JSON line: events, best ns inside ingest calls, best ns taking messages, stats.
 * The only path of this program that allocates (the records file). */
static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int bench_connections(const char *path, long repeat)
{
    FILE *f = fopen(path, "rb");
    uint8_t *records;
    long size;
    size_t events = 0, at;
    double best = -1, best_send = -1;
    mt_config_t cfg;
    const char *json = "";
    size_t json_len = 0;
    long r;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "microtally: cannot read %s\n", path);
        return EXIT_IO;
    }
    records = malloc((size_t)size + 1u);
    if (records == NULL || fread(records, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "microtally: cannot read %s\n", path);
        return EXIT_IO;
    }
    fclose(f);
    for (at = 0; at + 68u <= (size_t)size; events++) {
        at += 68u + (records[at + 64] | (size_t)records[at + 65] << 8) + (records[at + 66] | (size_t)records[at + 67] << 8);
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.blob = microtally_rtos_wasm;
    cfg.blob_size = microtally_rtos_wasm_len;
    cfg.memory_limit = microtally_rtos_memory_end;
    if (mt_init(&core, &cfg) != MT_OK) {
        return EXIT_ENGINE;
    }
    for (r = 0; r < repeat; r++) {
        double ingest = 0, send = 0;
        size_t consumed = 0, skipped = 0;
        const uint8_t *data;
        size_t n;
        bool ends;
        mt_status_t st = mt_reset(&core);
        at = 0;
        while (st == MT_OK && at < (size_t)size) {
            double t0 = now_ns(), t1;
            st = mt_ingest_connection_records(&core, records + at, (size_t)size - at, &consumed, &skipped);
            t1 = now_ns();
            ingest += t1 - t0;
            at += consumed;
            while (mt_next_chunk(&core, &data, &n, &ends) == MT_OK) {
            }
            send += now_ns() - t1;
        }
        if (st != MT_OK) {
            fprintf(stderr, "microtally: bench ingest failed: %s\n", mt_status_name(st));
            return EXIT_ENGINE;
        }
        (void)mt_finish(&core);
        while (mt_next_chunk(&core, &data, &n, &ends) == MT_OK) {
        }
        if (best < 0 || ingest < best) {
            best = ingest;
        }
        if (best_send < 0 || send < best_send) {
            best_send = send;
        }
    }
    if (mt_stats(&core, &json, &json_len) != MT_OK) {
        return EXIT_ENGINE;
    }
    printf("{\"events\":%lu,\"ns\":%.0f,\"sendNs\":%.0f,\"stats\":%.*s}\n", (unsigned long)events, best,
           best_send, (int)json_len, json);
    free(records);
    return 0;
}

int main(int argc, char **argv)
{
    const char *profile = "rtos";
    const char *agent_id = NULL;
    const char *path = NULL;
    int stats = 0;
    int i;
    FILE *in;
    mt_config_t cfg;
    mt_status_t st;
    unsigned long line_no = 0, skipped = 0;
    size_t len = 0;
    int have_line = 0;

    if (argc == 4 && strcmp(argv[1], "--bench-connections") == 0) {
        return bench_connections(argv[2], strtol(argv[3], NULL, 10));
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--profile") == 0 || strcmp(a, "--agent-id") == 0) {
            if (i + 1 >= argc) {
                char msg[64];
                snprintf(msg, sizeof msg, "option %s needs a value", a);
                return usage(msg);
            }
            if (a[2] == 'p') {
                profile = argv[++i];
            } else {
                agent_id = argv[++i];
            }
        } else if (strncmp(a, "--profile=", 10) == 0) {
            profile = a + 10;
        } else if (strncmp(a, "--agent-id=", 11) == 0) {
            agent_id = a + 11;
        } else if (strcmp(a, "--stats") == 0) {
            stats = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage("unknown option");
        } else if (path != NULL) {
            return usage("replay takes exactly one trace file");
        } else {
            path = a;
        }
    }
    if (path == NULL) {
        return usage("replay takes exactly one trace file");
    }
    memset(&cfg, 0, sizeof cfg);
    if (strcmp(profile, "rtos") == 0) {
        cfg.blob = microtally_rtos_wasm;
        cfg.blob_size = microtally_rtos_wasm_len;
        cfg.memory_limit = microtally_rtos_memory_end;
    } else if (strcmp(profile, "linux") == 0) {
        cfg.blob = microtally_linux_wasm;
        cfg.blob_size = microtally_linux_wasm_len;
        cfg.memory_limit = microtally_linux_memory_end;
    } else {
        char msg[96];
        snprintf(msg, sizeof msg, "unknown profile \"%.60s\"", profile);
        return usage(msg);
    }
    if (strcmp(path, "-") == 0) {
        in = stdin;
    } else {
        in = fopen(path, "rb");
        if (in == NULL) {
            fprintf(stderr, "microtally: cannot read %s: %s\n%s", path, strerror(errno), usage_text);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, out_buf, _IOFBF, sizeof out_buf);

    st = mt_init(&core, &cfg);
    if (st != MT_OK) {
        fprintf(stderr, "microtally: wasm3 could not load the %s blob: %s\n", profile, mt_status_name(st));
        return EXIT_ENGINE;
    }
    if (mt_input_capacity(&core) >= LINE_MAX_BYTES) {
        fprintf(stderr, "microtally: the blob's input area is larger than this program's line buffer\n");
        return EXIT_ENGINE;
    }
    if (agent_id != NULL) {
        st = mt_set_agent_id(&core, agent_id, strlen(agent_id));
        if (st == MT_SKIPPED) {
            const char *text = "";
            size_t n = 0;
            (void)mt_last_error(&core, &text, &n);
            fputs("microtally: --agent-id: ", stderr);
            write_out(stderr, text, n);
            write_out(stderr, "\n", 1);
            return 2;
        }
        if (st != MT_OK) {
            fault(st, 0);
        }
    }

    /* Lines split on '\n'; a last line without one counts when it is not empty. */
    for (;;) {
        size_t got = fread(read_buf, 1, sizeof read_buf, in);
        size_t k;
        if (got == 0) {
            if (ferror(in)) {
                fprintf(stderr, "microtally: cannot read %s: %s\n", path, strerror(errno));
                return EXIT_IO;
            }
            break;
        }
        for (k = 0; k < got; k++) {
            char c = read_buf[k];
            if (c == '\n') {
                line_no++;
                skipped += (unsigned long)ingest(line_no, len);
                len = 0;
                have_line = 0;
                continue;
            }
            if (len < LINE_MAX_BYTES) {
                line[len] = c;
            }
            len++;
            have_line = 1;
        }
    }
    if (have_line) {
        line_no++;
        skipped += (unsigned long)ingest(line_no, len);
    }
    if (in != stdin) {
        fclose(in);
    }

    st = mt_finish(&core);
    if (st < 0) {
        fault(st, line_no);
    }
    drain(line_no);
    if (stats) {
        const char *json = NULL;
        size_t n = 0;
        st = mt_stats(&core, &json, &n);
        if (st == MT_OK) {
            fflush(stdout);
            write_out(stderr, json, n);
            write_out(stderr, "\n", 1);
        } else {
            fault(st, line_no);
        }
    }
    if (fflush(stdout) != 0) {
        return errno == EPIPE ? 0 : EXIT_IO;
    }
    if (trapped) {
        return EXIT_TRAPPED;
    }
    return skipped > 0 ? 1 : 0;
}
