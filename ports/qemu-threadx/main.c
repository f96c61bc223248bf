/*
 * The ThreadX image's program: `replay` (SPEC R10/R11) through the agent thread of
 * ports/threadx on the real ThreadX kernel. host/engines/qemu-threadx.ts starts it as
 *
 *   -semihosting-config enable=on,target=native,arg=microtally[,arg=--stats][,arg=--format=cbor]
 *                       [,arg=--agent-id-hex=<hex of the id>][,arg=--footprint],arg=<trace>
 *
 * main() reads the arguments and enters the kernel; tx_application_define() creates the feeder
 * thread. The feeder starts the agent (mt_tx_start: the core is loaded, the agent thread and its
 * queue are created), then reads the trace through semihosting and hands every line to the agent
 * with mt_tx_post_line, as an application hands it baseline results or system information. The
 * agent thread has the higher priority: each post wakes it through its queue, it gives the line
 * to the core and sends what the core has ready (to our `send`, which writes stdout) before the
 * feeder runs again; the feeder reads the verdict (mt_tx_configure_result) and reports a skipped
 * line as `line N: reason`. The line loop, the numbering, the summary and the exit status are
 * the shared replay code's (ports/common/mt_replay.c), so stdout, stderr and the exit status are
 * those of `npx microtally replay` on V8. At the end mt_tx_stop sends what is pending, and
 * mt_tx_summary_get gives the core's run summary for --stats.
 *
 * `--check-api` runs check_api.c instead of a replay: the agent calls a replay does not reach.
 *
 * `--footprint` adds one JSON line to stderr: the stacks' high-water marks (agent, feeder, and
 * `stack`, the main stack that ThreadX keeps as its system stack) and the queue's size.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tx_api.h"

#include "board.h"
#include "check_api.h"
#include "microtally_threadx.h"
#include "mt_replay.h"
#include "semihost.h"

#if MT_QEMU_LINUX
#define PROFILE "linux"
#else
#define PROFILE "rtos"
#endif
#if MT_QEMU_AOT
#define ENGINE "aot"
#else
#define ENGINE "wasm3"
#endif

#ifndef AGENT_STACK_BYTES
#define AGENT_STACK_BYTES MT_TX_MIN_STACK_BYTES
#endif
#define AGENT_PRIORITY 10u  /* above the feeder: a post is handled before the feeder goes on */
#define FEEDER_PRIORITY 20u
#define FEEDER_STACK_BYTES 8192u /* mt_tx_start runs here: wasm3 compiles the blob */
#define QUEUE_EVENTS 16u

#define READ_BYTES 1024u
#define OUT_BYTES 1024u
#define CMDLINE_BYTES 256u
#define AGENT_ID_BYTES 64u
#define SUMMARY_BYTES 1024u
#define STACK_PAINT 0xEFu

static char cmdline[CMDLINE_BYTES];
static char agent_id[AGENT_ID_BYTES + 1];
static bool have_agent_id;
static bool want_stats;
static bool want_footprint;
static bool want_check_api;
static const char *trace_path;
static int trace_handle = -1;

static TX_THREAD feeder;
static ULONG feeder_stack[FEEDER_STACK_BYTES / sizeof(ULONG)];
static ULONG agent_stack[AGENT_STACK_BYTES / sizeof(ULONG)];
static ULONG agent_queue[QUEUE_EVENTS * MT_TX_EVENT_ULONGS];
static char read_buf[READ_BYTES];
/* Lines are assembled here and copied by mt_tx_post_line into the agent's buffer; a longer
 * one is only measured (the core reports it with its length). */
static char line_buf[MT_TX_CONFIG_BYTES];
static CHAR reason[MT_TX_REASON_BYTES];
static CHAR summary[SUMMARY_BYTES];

typedef struct stream {
  int handle;
  size_t used;
  bool failed;
  char buf[OUT_BYTES];
} stream_t;

static stream_t out, err;

static int flush(stream_t *s) {
  int rc = s->used > 0 ? sh_write(s->handle, s->buf, s->used) : 0;
  s->used = 0;
  if (rc != 0) s->failed = true;
  return rc;
}

static int put(stream_t *s, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    size_t n = OUT_BYTES - s->used;
    if (n > len) n = len;
    memcpy(s->buf + s->used, p, n);
    s->used += n;
    p += n;
    len -= n;
    if (s->used == OUT_BYTES && flush(s) != 0) return -1;
  }
  return 0;
}

static int put_text(stream_t *s, const char *text) { return put(s, text, strlen(text)); }

static void put_number(stream_t *s, uint64_t n) {
  char digits[MT_REPLAY_DECIMAL_BYTES];
  const char *at = mt_replay_decimal(n, digits);
  (void)put(s, at, (size_t)(digits + sizeof digits - at));
}

/* The agent's `send`: one message per line on stdout, as replay prints them. A message cut
 * short by a fault (MT_TX_CHUNK_ABORT) cannot be taken back: its line stays unfinished. */
static UINT message_format = MT_FORMAT_JSON;
static bool in_message, json_message;

static VOID send_message(VOID *context, const UCHAR *bytes, ULONG length, UINT last) {
  (void)context;
  /* A configuration may switch the format mid-run: a JSON message starts with '{' (a CBOR one
   * never does, as mt_replay tells them apart); CBOR messages follow each other with no
   * separator (RFC 8742). */
  if (!in_message && length > 0) {
    json_message = bytes[0] == '{';
    in_message = true;
  }
  (void)put(&out, bytes, length);
  if (last != MT_TX_CHUNK_MORE) {
    if (last == MT_TX_CHUNK_LAST && json_message) (void)put(&out, "\n", 1);
    in_message = false;
  }
}

static void print_out(const char *text) { (void)put_text(&out, text); }
static void print_number(unsigned long n) { put_number(&out, n); }

static long read_trace(void *ctx, void *buf, size_t cap) {
  (void)ctx;
  return sh_read(trace_handle, buf, cap);
}

static int write_stream(void *ctx, int which, const void *data, size_t len) {
  (void)ctx;
  return put(which == MT_REPLAY_STDOUT ? &out : &err, data, len) == 0 ? 0 : -1;
}

/* ---- the replay target: lines go to the agent through its public calls ---- */

static size_t reason_len;

static mt_status_t post_line(void *ctx, const char *line, size_t len) {
  (void)ctx;
  UINT st = mt_tx_post_line(line, (ULONG)len);
  if (st != TX_SUCCESS) return MT_ERR_ENGINE;
  /* The agent ran at its higher priority as soon as the line was queued: the verdict is in. */
  UINT verdict = mt_tx_configure_result(reason, sizeof reason);
  reason_len = strlen(reason);
  switch (verdict) {
    case TX_SUCCESS:
      return MT_OK;
    case MT_TX_REJECTED:
      return MT_SKIPPED;
    case MT_TX_ENGINE_ERROR:
      return MT_ERR_TRAP; /* the agent re-initialised the core and goes on */
    default:
      return MT_ERR_ENGINE;
  }
}

static void line_reason(void *ctx, const char **text, size_t *len) {
  (void)ctx;
  *text = reason;
  *len = reason_len;
}

static mt_status_t stop_agent(void *ctx) {
  (void)ctx;
  return mt_tx_stop(TX_WAIT_FOREVER) == TX_SUCCESS ? MT_OK : MT_ERR_ENGINE;
}

static mt_status_t core_summary(void *ctx, const char **json, size_t *len) {
  ULONG n = 0;
  (void)ctx;
  if (mt_tx_summary_get(summary, sizeof summary, &n) != TX_SUCCESS) return MT_ERR_ENGINE;
  *json = summary;
  *len = n;
  return MT_OK;
}

/* ---- footprint ---- */

static size_t painted_used(const void *stack, size_t size) {
  const uint8_t *p = stack;
  size_t n = 0;
  while (n < size && p[n] == STACK_PAINT) n++;
  return size - n;
}

static void report_footprint(void) {
  (void)put_text(&err, "{\"profile\":\"" PROFILE "\",\"engine\":\"" ENGINE "\",\"agentStackUsed\":");
  put_number(&err, painted_used(agent_stack, sizeof agent_stack));
  (void)put_text(&err, ",\"agentStackBytes\":");
  put_number(&err, sizeof agent_stack);
  (void)put_text(&err, ",\"feederStackUsed\":");
  put_number(&err, painted_used(feeder_stack, sizeof feeder_stack));
  (void)put_text(&err, ",\"feederStackBytes\":");
  put_number(&err, sizeof feeder_stack);
  (void)put_text(&err, ",\"queueBytes\":");
  put_number(&err, sizeof agent_queue);
  /* The main stack: ThreadX's system stack once the kernel runs (exceptions, PendSV). */
  (void)put_text(&err, ",\"stackUsed\":");
  put_number(&err, board_stack_used());
  (void)put_text(&err, ",\"stackBytes\":");
  put_number(&err, board_stack_size());
  (void)put_text(&err, "}\n");
}

static void finish(int status) {
  if (want_footprint) report_footprint();
  if (flush(&out) != 0 || flush(&err) != 0 || out.failed || err.failed) status = MT_REPLAY_EXIT_IO;
  sh_exit(status);
}

static VOID feed(ULONG input) {
  (void)input;
  MT_TX_CONFIG cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.stack = agent_stack;
  cfg.stack_size = sizeof agent_stack;
  cfg.priority = AGENT_PRIORITY;
  cfg.queue_storage = agent_queue;
  cfg.queue_size = sizeof agent_queue;
  cfg.send = send_message;
  cfg.message_format = message_format;
  cfg.agent_id = have_agent_id ? agent_id : TX_NULL;
  if (want_check_api) {
    check_api_io_t check = {&cfg, &feeder, print_out, print_number, line_buf, sizeof line_buf,
                            summary, sizeof summary};
    finish(check_api(&check));
  }
  UINT st = mt_tx_start(&cfg);
  if (st == MT_TX_REJECTED) {
    (void)mt_tx_configure_result(reason, sizeof reason);
    (void)put_text(&err, "microtally: --agent-id: ");
    (void)put_text(&err, reason);
    (void)put_text(&err, "\n");
    finish(MT_REPLAY_EXIT_USAGE);
  }
  if (st != TX_SUCCESS) {
    (void)put_text(&err, "microtally: the agent could not start the " ENGINE " engine on the " PROFILE " blob\n");
    finish(BOARD_EXIT_ENGINE);
  }

  mt_replay_target_t target = {TX_NULL, post_line, line_reason, stop_agent, core_summary};
  mt_replay_options_t opt;
  mt_replay_io_t io = {TX_NULL, read_trace, write_stream};
  memset(&opt, 0, sizeof opt);
  opt.profile = PROFILE;
  opt.stats = want_stats;
  opt.line = line_buf;
  opt.line_capacity = sizeof line_buf;
  opt.read_buffer = read_buf;
  opt.read_capacity = sizeof read_buf;
  int status = mt_replay_to(&target, &opt, &io);
  sh_close(trace_handle);
  finish(status);
}

VOID tx_application_define(VOID *first_unused_memory) {
  (void)first_unused_memory;
  if (tx_thread_create(&feeder, (CHAR *)"replay feeder", feed, 0, feeder_stack, sizeof feeder_stack,
                       FEEDER_PRIORITY, FEEDER_PRIORITY, TX_NO_TIME_SLICE, TX_AUTO_START) != TX_SUCCESS) {
    (void)put_text(&err, "microtally: could not create the feeder thread\n");
    finish(BOARD_EXIT_ENGINE);
  }
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The agent id travels as hex so no byte of it can upset QEMU's option parser. */
static bool decode_hex(const char *hex, char *to, size_t cap) {
  size_t n = 0;
  while (hex[0] != '\0') {
    int hi = hex_digit(hex[0]);
    int lo = hex[1] != '\0' ? hex_digit(hex[1]) : -1;
    if (hi < 0 || lo < 0 || n == cap) return false;
    to[n++] = (char)(hi << 4 | lo);
    hex += 2;
  }
  to[n] = '\0';
  return true;
}

static int usage(const char *message) {
  (void)put_text(&err, "microtally: ");
  (void)put_text(&err, message);
  (void)put_text(&err, "\nusage: microtally [--stats] [--format=json|cbor] [--agent-id-hex=<hex>] [--footprint] <trace>\n");
  (void)flush(&err);
  return MT_REPLAY_EXIT_USAGE;
}

int main(void) {
  char *arg;
  char *next;
  out.handle = sh_open_console(0);
  err.handle = sh_open_console(1);
  if (out.handle < 0 || err.handle < 0) return BOARD_EXIT_IO;
  if (sh_cmdline(cmdline, sizeof cmdline) < 0) return usage("command line too long");
  for (arg = strchr(cmdline, ' '); arg != NULL; arg = next) {
    *arg++ = '\0';
    next = strchr(arg, ' ');
    if (next != NULL) *next = '\0';
    if (strcmp(arg, "--stats") == 0) {
      want_stats = true;
    } else if (strcmp(arg, "--format=cbor") == 0) {
      message_format = MT_FORMAT_CBOR;
    } else if (strcmp(arg, "--format=json") == 0) {
      message_format = MT_FORMAT_JSON;
    } else if (strcmp(arg, "--check-api") == 0) {
      want_check_api = true;
    } else if (strcmp(arg, "--footprint") == 0) {
      want_footprint = true;
    } else if (strncmp(arg, "--agent-id-hex=", 15) == 0) {
      if (!decode_hex(arg + 15, agent_id, AGENT_ID_BYTES)) {
        return usage("--agent-id-hex: not hex, or longer than 64 bytes");
      }
      have_agent_id = true;
    } else if (arg[0] == '-' || trace_path != NULL) {
      return usage("unknown argument");
    } else {
      trace_path = arg;
    }
    if (next != NULL) *next = ' ';
  }
  if (want_check_api) {
    tx_kernel_enter();
    return BOARD_EXIT_FAULT;
  }
  if (trace_path == NULL) return usage("replay takes exactly one trace file");
  trace_handle = sh_open_read(trace_path);
  if (trace_handle < 0) {
    (void)put_text(&err, "microtally: cannot open the trace ");
    (void)put_text(&err, trace_path);
    (void)put_text(&err, "\n");
    (void)flush(&err);
    return MT_REPLAY_EXIT_USAGE;
  }
  /* Painted so the footprint report can find each stack's high-water mark. */
  memset(agent_stack, STACK_PAINT, sizeof agent_stack);
  memset(feeder_stack, STACK_PAINT, sizeof feeder_stack);
  tx_kernel_enter();
  return BOARD_EXIT_FAULT; /* tx_kernel_enter never returns */
}
