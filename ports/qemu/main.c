/*
 * The QEMU board's program: `replay` (SPEC R10/R11) on the blob (under wasm3, or translated
 * ahead of time: the build chooses, see Makefile), with every byte
 * of I/O going through Arm semihosting to the qemu-system-arm process. host/engines/qemu.ts
 * starts it as
 *
 *   -semihosting-config enable=on,target=native,arg=microtally[,arg=--stats]
 *                       [,arg=--agent-id-hex=<hex of the id>][,arg=--footprint],arg=<trace>
 *
 * and its stdout, stderr and exit status are those of `npx microtally replay` on V8.
 * `--footprint` adds one JSON line to stderr after the run: the engine's RAM and main stack used,
 * which scripts/build-firmware.sh folds into build/firmware/size.json.
 *
 * `--bench-connections=<file>` is `microtally bench`'s hook instead: it feeds a file of typed
 * connection records (docs/ABI.md) through mt_ingest_connection_records, discards the
 * messages, and prints one JSON line with the instructions spent in each part (QEMU's -icount
 * clock through SysTick).
 *
 * The profile is the image's: MT_QEMU_LINUX selects the blob linked in. Nothing allocates:
 * every buffer below is static and counted in the footprint.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "microtally.h"
#include "microtally_blobs.h"
#include "mt_replay.h"
#include "semihost.h"

#if MT_QEMU_LINUX
#define PROFILE "linux"
#define BLOB microtally_linux_wasm
#define BLOB_LEN microtally_linux_wasm_len
#define MEMORY_END microtally_linux_memory_end
#else
#define PROFILE "rtos"
#define BLOB microtally_rtos_wasm
#define BLOB_LEN microtally_rtos_wasm_len
#define MEMORY_END microtally_rtos_memory_end
#endif

/* Semihosting calls trap to the host; batching bytes keeps the emulated run fast. */
#define READ_BYTES 1024u
#define OUT_BYTES 1024u
#define CMDLINE_BYTES 256u
#define AGENT_ID_BYTES 64u

static mt_core_t core;
static char read_buf[READ_BYTES];
static char cmdline[CMDLINE_BYTES];
static char agent_id[AGENT_ID_BYTES];

typedef struct stream {
    int handle;
    size_t used;
    char buf[OUT_BYTES];
} stream_t;

static stream_t out, err;
static int trace_handle = -1;

static int flush(stream_t *s)
{
    int rc = s->used > 0 ? sh_write(s->handle, s->buf, s->used) : 0;
    s->used = 0;
    return rc;
}

static int put(stream_t *s, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        size_t n = OUT_BYTES - s->used;
        if (n > len) {
            n = len;
        }
        memcpy(s->buf + s->used, p, n);
        s->used += n;
        p += n;
        len -= n;
        if (s->used == OUT_BYTES && flush(s) != 0) {
            return -1;
        }
    }
    return 0;
}

static int put_text(stream_t *s, const char *text)
{
    return put(s, text, strlen(text));
}

static long read_trace(void *ctx, void *buf, size_t cap)
{
    (void)ctx;
    return sh_read(trace_handle, buf, cap);
}

static int write_stream(void *ctx, int which, const void *data, size_t len)
{
    (void)ctx;
    return put(which == MT_REPLAY_STDOUT ? &out : &err, data, len) == 0 ? 0 : -1;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* The agent id travels as hex so no byte of it can upset QEMU's option parser. */
static long decode_hex(const char *hex, char *to, size_t cap)
{
    size_t n = 0;
    while (hex[0] != '\0') {
        int hi = hex_digit(hex[0]);
        int lo = hex[1] != '\0' ? hex_digit(hex[1]) : -1;
        if (hi < 0 || lo < 0 || n == cap) {
            return -1;
        }
        to[n++] = (char)(hi << 4 | lo);
        hex += 2;
    }
    return (long)n;
}

static void put_number(stream_t *s, uint64_t n)
{
    char digits[MT_REPLAY_DECIMAL_BYTES];
    const char *at = mt_replay_decimal(n, digits);
    (void)put(s, at, (size_t)(digits + sizeof digits - at));
}

/* The image's one blob. */
static void engine_config(mt_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->blob = BLOB;
    cfg->blob_size = BLOB_LEN;
    cfg->memory_limit = MEMORY_END;
}

/* One JSON line: what this run needed of the static RAM reserved for it. */
static void report_footprint(void)
{
#if MT_QEMU_AOT
    /* The translated blob's only RAM is its linear memory (mt_heap_used). */
    (void)put_text(&err, "{\"profile\":\"" PROFILE "\",\"engine\":\"aot\",\"engineRam\":");
    put_number(&err, mt_heap_used(&core));
#else
    (void)put_text(&err, "{\"profile\":\"" PROFILE "\",\"engine\":\"wasm3\",\"heapUsed\":");
    put_number(&err, mt_heap_used(&core));
    (void)put_text(&err, ",\"heapBytes\":");
    put_number(&err, MT_WASM3_HEAP_BYTES);
    (void)put_text(&err, ",\"wasmStackBytes\":");
    put_number(&err, MT_WASM3_STACK_BYTES);
    (void)put_text(&err, ",\"wasmStackUsed\":");
    put_number(&err, mt_engine_stack_used(&core));
#endif
    (void)put_text(&err, ",\"linearMemory\":");
    put_number(&err, MEMORY_END);
    (void)put_text(&err, ",\"stackUsed\":");
    put_number(&err, board_stack_used());
    (void)put_text(&err, ",\"stackBytes\":");
    put_number(&err, board_stack_size());
    (void)put_text(&err, "}\n");
}

/* Instructions per SysTick tick under -icount shift=0 (one instruction per virtual ns). */
#define INSTRUCTIONS_PER_TICK (1000000000u / BOARD_CLOCK_HZ)

/* Records arrive in the read buffer (replay's, unused here: no extra RAM); a record split by a
 * read is carried over. Each batch is copied into the core's input area, as on every engine. */
static int bench_connections(const char *path)
{
    mt_config_t cfg;
    uint64_t ingest = 0, send = 0, events = 0;
    size_t have = 0, walked = 0;
    const char *json = NULL;
    size_t json_len = 0;
    bool eof = false;
    int handle = sh_open_read(path);
    if (handle < 0) {
        (void)put_text(&err, "microtally: cannot open the records file\n");
        return BOARD_EXIT_IO;
    }
    engine_config(&cfg);
    if (mt_init(&core, &cfg) != MT_OK) {
        return BOARD_EXIT_ENGINE;
    }
    board_clock_start();
    for (;;) {
        size_t used = 0;
        if (!eof && have < sizeof read_buf) {
            long got = sh_read(handle, read_buf + have, sizeof read_buf - have);
            if (got < 0) {
                return BOARD_EXIT_IO;
            }
            eof = got == 0;
            have += (size_t)got;
        }
        /* Count the whole records now in the buffer (68-byte header, then app and host). */
        while (walked + 68u <= have) {
            const uint8_t *r = (const uint8_t *)read_buf + walked;
            size_t size = 68u + (r[64] | (size_t)r[65] << 8) + (r[66] | (size_t)r[67] << 8);
            if (walked + size > have) {
                break;
            }
            walked += size;
            events++;
        }
        if (walked == 0) {
            if (have == 0 && eof) {
                break;
            }
            if (eof || have == sizeof read_buf) {
                (void)put_text(&err, "microtally: a record is cut short or larger than the buffer\n");
                return BOARD_EXIT_IO;
            }
            continue;
        }
        while (used < walked) {
            const uint8_t *data;
            size_t consumed = 0, skipped = 0, n;
            bool ends;
            uint64_t t0 = board_clock_ticks(), t1;
            mt_status_t st = mt_ingest_connection_records(&core, (const uint8_t *)read_buf + used, walked - used,
                                                          &consumed, &skipped);
            t1 = board_clock_ticks();
            ingest += t1 - t0;
            if (st != MT_OK) {
                return BOARD_EXIT_ENGINE;
            }
            used += consumed;
            while (mt_next_chunk(&core, &data, &n, &ends) == MT_OK) {
            }
            send += board_clock_ticks() - t1;
        }
        memmove(read_buf, read_buf + walked, have - walked);
        have -= walked;
        walked = 0;
    }
    sh_close(handle);
    {
        const uint8_t *data;
        size_t n;
        bool ends;
        (void)mt_finish(&core);
        while (mt_next_chunk(&core, &data, &n, &ends) == MT_OK) {
        }
    }
    if (mt_stats(&core, &json, &json_len) != MT_OK) {
        return BOARD_EXIT_ENGINE;
    }
    (void)put_text(&out, "{\"events\":");
    put_number(&out, events);
    (void)put_text(&out, ",\"instructions\":");
    put_number(&out, ingest * INSTRUCTIONS_PER_TICK);
    (void)put_text(&out, ",\"sendInstructions\":");
    put_number(&out, send * INSTRUCTIONS_PER_TICK);
    (void)put_text(&out, ",\"stats\":");
    (void)put(&out, json, json_len);
    (void)put_text(&out, "}\n");
    return flush(&out) == 0 ? 0 : BOARD_EXIT_IO;
}

static int usage(const char *message)
{
    (void)put_text(&err, "microtally: ");
    (void)put_text(&err, message);
    (void)put_text(&err, "\nusage: microtally [--stats] [--format=json|cbor] [--agent-id-hex=<hex>] [--footprint] <trace>\n");
    (void)flush(&err);
    return MT_REPLAY_EXIT_USAGE;
}

int main(void)
{
    mt_config_t cfg;
    mt_replay_options_t opt;
    mt_replay_io_t io;
    const char *path = NULL;
    bool footprint = false;
    long id_len = -1;
    char *arg;
    char *next;
    int status;

    out.handle = sh_open_console(0);
    err.handle = sh_open_console(1);
    if (out.handle < 0 || err.handle < 0) {
        return BOARD_EXIT_IO;
    }
    memset(&opt, 0, sizeof opt);
    if (sh_cmdline(cmdline, sizeof cmdline) < 0) {
        return usage("command line too long");
    }
    /* Arguments are separated by single spaces; the first is the program name. */
    for (arg = strchr(cmdline, ' '); arg != NULL; arg = next) {
        *arg++ = '\0';
        next = strchr(arg, ' ');
        if (next != NULL) {
            *next = '\0';
        }
        if (strcmp(arg, "--stats") == 0) {
            opt.stats = true;
        } else if (strcmp(arg, "--footprint") == 0) {
            footprint = true;
        } else if (strncmp(arg, "--bench-connections=", 20) == 0) {
            status = bench_connections(arg + 20);
            (void)flush(&err);
            return status;
        } else if (strcmp(arg, "--format=cbor") == 0) {
            opt.format = MT_FORMAT_CBOR;
        } else if (strcmp(arg, "--format=json") == 0) {
            opt.format = MT_FORMAT_JSON;
        } else if (strncmp(arg, "--agent-id-hex=", 15) == 0) {
            id_len = decode_hex(arg + 15, agent_id, sizeof agent_id);
            if (id_len < 0) {
                return usage("--agent-id-hex: not hex, or longer than 64 bytes");
            }
        } else if (arg[0] == '-' || path != NULL) {
            return usage("unknown argument");
        } else {
            path = arg;
        }
        if (next != NULL) {
            *next = ' '; /* the loop splits at it again */
        }
    }
    if (path == NULL) {
        return usage("replay takes exactly one trace file");
    }
    trace_handle = sh_open_read(path);
    if (trace_handle < 0) {
        (void)put_text(&err, "microtally: cannot open the trace ");
        (void)put_text(&err, path);
        (void)put_text(&err, "\n");
        (void)flush(&err);
        return MT_REPLAY_EXIT_USAGE;
    }

    engine_config(&cfg);
    opt.config = &cfg;
    opt.profile = PROFILE;
    if (id_len >= 0) {
        opt.agent_id = agent_id;
        opt.agent_id_len = (size_t)id_len;
    }
    opt.line = NULL; /* lines are assembled in the core's input area: no 4 KB buffer of ours */
    opt.line_capacity = 0;
    opt.read_buffer = read_buf;
    opt.read_capacity = sizeof read_buf;
    io.ctx = NULL;
    io.read = read_trace;
    io.write = write_stream;
    status = mt_replay(&core, &opt, &io);
    sh_close(trace_handle);
    if (footprint) {
        report_footprint();
    }
    if (flush(&out) != 0 || flush(&err) != 0) {
        return MT_REPLAY_EXIT_IO;
    }
    return status;
}
