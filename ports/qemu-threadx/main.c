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
 * The update image (MT_QEMU_UPDATE: make UPDATE=1, microtally-threadx-update-<profile>.elf) also
 * takes `replay --update-at` (ports/mps2-an385/board_update.h): before its line each package is
 * read through semihosting and handed to the agent through the ThreadX update API
 * (mt_tx_update_begin/write/commit, over RAM slots), as a transport hands it one.
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
#include "console.h"
#include "microtally_threadx.h"
#include "mt_replay.h"
#include "semihost.h"
#if MT_QEMU_UPDATE
#include "board_update.h"
#include "microtally_threadx_update.h"
#include "mt_update_ram.h"
#endif

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
#define AGENT_PRIORITY 10u /* above the feeder: a post is handled before the feeder goes on */
#define FEEDER_PRIORITY 20u
#define FEEDER_STACK_BYTES 8192u /* mt_tx_start runs here: wasm3 compiles the blob */
#define QUEUE_EVENTS 16u

#define READ_BYTES 1024u
#define SUMMARY_BYTES 1024u
#define STACK_PAINT 0xEFu

static board_args_t args;
static bool want_check_api;
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

/* The agent's `send`: messages as replay prints them (mt_message.h). A message cut short by a
 * fault (MT_TX_CHUNK_ABORT) cannot be taken back: its line stays unfinished. */
static mt_message_framing_t framing;

static VOID send_message(VOID *context, const UCHAR *bytes, ULONG length, UINT last) {
  (void)context;
  (void)board_put(&board_out, bytes, length);
  if (mt_message_ends_line(&framing, bytes, length, last)) (void)board_put(&board_out, "\n", 1);
}

static void print_out(const char *text) { board_put_text(&board_out, text); }
static void print_number(unsigned long n) { board_put_number(&board_out, n); }

/* ---- the replay target: lines go to the agent through its public calls ---- */

static size_t reason_len;

#if MT_QEMU_UPDATE
static void deliver(unsigned long line_no, bool at_end);
static unsigned long lines_given; /* the replay loop gives every line, in order */
#endif

static mt_status_t post_line(void *ctx, const char *line, size_t len) {
  (void)ctx;
#if MT_QEMU_UPDATE
  deliver(++lines_given, false);
#endif
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
#if MT_QEMU_UPDATE
  deliver(lines_given + 1u, true); /* N past the last line: at the end of input, before the stop */
#endif
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
  board_put_text(&board_err,
                 "{\"profile\":\"" PROFILE "\",\"engine\":\"" ENGINE "\",\"agentStackUsed\":");
  board_put_number(&board_err, painted_used(agent_stack, sizeof agent_stack));
  board_put_text(&board_err, ",\"agentStackBytes\":");
  board_put_number(&board_err, sizeof agent_stack);
  board_put_text(&board_err, ",\"feederStackUsed\":");
  board_put_number(&board_err, painted_used(feeder_stack, sizeof feeder_stack));
  board_put_text(&board_err, ",\"feederStackBytes\":");
  board_put_number(&board_err, sizeof feeder_stack);
  board_put_text(&board_err, ",\"queueBytes\":");
  board_put_number(&board_err, sizeof agent_queue);
  /* The main stack: ThreadX's system stack once the kernel runs (exceptions, PendSV). */
  board_put_text(&board_err, ",\"stackUsed\":");
  board_put_number(&board_err, board_stack_used());
  board_put_text(&board_err, ",\"stackBytes\":");
  board_put_number(&board_err, board_stack_size());
  board_put_text(&board_err, "}\n");
}

#if MT_QEMU_UPDATE
/* ---- `replay --update-at`: packages through the ThreadX update API ---- */

#define SLOT_BYTES (128u * 1024u)
static uint8_t slots[2][SLOT_BYTES];
static UCHAR chunk[1024];
static size_t next_update;
static int update_io_failed;

/* The installed sequence, then the update layer on the RAM slots; before mt_tx_start. */
static UINT open_updates(VOID) {
  static mt_update_t seed;
  const mt_update_storage_t *storage = mt_update_ram(slots[0], slots[1], SLOT_BYTES);
  if (board_updates.args.installed_sequence > 0 &&
      (mt_update_open(&seed, storage, board_updates.args.public_key, PROFILE, 5u, TX_NULL) !=
           MT_UPDATE_OK ||
       mt_update_set_built_in_sequence(&seed, board_updates.args.installed_sequence) !=
           MT_UPDATE_OK))
    return MT_TX_UPDATE_STORAGE;
  return mt_tx_update_open(storage, board_updates.args.public_key, board_updates.self_test,
                           (ULONG)board_updates.self_test_length);
}

/* One package, chunk by chunk; the update layer reports a refusal (an AgentUpdate record) and
 * requests the swap of a staged one, which the agent (higher priority) carries out at once. */
static void cannot_read(const char *name) {
  board_put_text(&board_err, "microtally: cannot read the update package ");
  board_put_text(&board_err, name);
  board_put_text(&board_err, "\n");
  update_io_failed = 1;
}

static void deliver_one(const char *name) {
  int handle = sh_open_read(name);
  if (handle < 0) {
    cannot_read(name);
    return;
  }
  UINT st = mt_tx_update_begin();
  ULONG offset = 0;
  while (st == TX_SUCCESS || st == MT_TX_UPDATE_REPEATED) {
    long got = sh_read(handle, chunk, sizeof chunk);
    if (got < 0) { /* said as posix and qemu say it; the half-read package is not left open */
      cannot_read(name);
      (void)mt_tx_update_abort();
      break;
    }
    if (got == 0) {
      (void)mt_tx_update_commit();
      break;
    }
    st = mt_tx_update_write(offset, chunk, (ULONG)got);
    offset += (ULONG)got;
  }
  sh_close(handle);
}

/* The packages due before line `line_no` (at_end: all that are left). */
static void deliver(unsigned long line_no, bool at_end) {
  while (next_update < board_updates.args.count &&
         (at_end || board_updates.args.at[next_update].line <= line_no)) {
    deliver_one(board_updates.args.at[next_update++].package);
  }
}
#endif

static void finish(int status) {
  if (args.footprint) report_footprint();
  sh_exit(board_finish(status));
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
  cfg.message_format = args.format;
  cfg.agent_id = args.agent_id_len >= 0 ? args.agent_id : TX_NULL;
  if (want_check_api) {
    check_api_io_t check = {&cfg,     &feeder,         print_out, print_number,
                            line_buf, sizeof line_buf, summary,   sizeof summary};
    finish(check_api(&check));
  }
#if MT_QEMU_UPDATE
  if (board_updates.args.count > 0 && open_updates() != TX_SUCCESS) {
    board_put_text(&board_err, "microtally: the update layer could not open\n");
    finish(BOARD_EXIT_ENGINE);
  }
#endif
  UINT st = mt_tx_start(&cfg);
  if (st == MT_TX_REJECTED) {
    (void)mt_tx_configure_result(reason, sizeof reason);
    board_put_text(&board_err, "microtally: --agent-id: ");
    board_put_text(&board_err, reason);
    board_put_text(&board_err, "\n");
    finish(MT_REPLAY_EXIT_USAGE);
  }
  if (st != TX_SUCCESS) {
    board_put_text(&board_err, "microtally: the agent could not start the " ENGINE
                               " engine on the " PROFILE " blob\n");
    finish(BOARD_EXIT_ENGINE);
  }

  mt_replay_target_t target = {TX_NULL,      post_line, line_reason, stop_agent,
                               core_summary, TX_NULL,   TX_NULL};
  mt_replay_options_t opt;
  mt_replay_io_t io = {(void *)(intptr_t)trace_handle, board_read, board_write};
  memset(&opt, 0, sizeof opt);
  opt.profile = PROFILE;
  opt.stats = args.stats;
  opt.line = line_buf;
  opt.line_capacity = sizeof line_buf;
  opt.read_buffer = read_buf;
  opt.read_capacity = sizeof read_buf;
  int status = mt_replay_to(&target, &opt, &io);
  sh_close(trace_handle);
#if MT_QEMU_UPDATE
  if (update_io_failed && status < MT_REPLAY_EXIT_TRAPPED) status = MT_REPLAY_EXIT_IO;
#endif
  finish(status);
}

VOID tx_application_define(VOID *first_unused_memory) {
  (void)first_unused_memory;
  if (tx_thread_create(&feeder, (CHAR *)"replay feeder", feed, 0, feeder_stack, sizeof feeder_stack,
                       FEEDER_PRIORITY, FEEDER_PRIORITY, TX_NO_TIME_SLICE,
                       TX_AUTO_START) != TX_SUCCESS) {
    board_put_text(&board_err, "microtally: could not create the feeder thread\n");
    finish(BOARD_EXIT_ENGINE);
  }
}

/* `--check-api`, the one option of this image's own (and the update options). */
static bool check_api_option(const char *arg) {
#if MT_QEMU_UPDATE
  if (board_update_option(arg)) return true;
#endif
  want_check_api = strcmp(arg, "--check-api") == 0;
  return want_check_api;
}

int main(void) {
  if (!board_console_open()) return BOARD_EXIT_IO;
  int status = board_parse_args(&args, check_api_option);
  if (status != 0) return status;
  if (want_check_api) {
    tx_kernel_enter();
    return BOARD_EXIT_FAULT;
  }
  if (args.trace == TX_NULL) return board_usage("replay takes exactly one trace file");
#if MT_QEMU_UPDATE
  status = board_updates_ready();
  if (status != 0) return status;
#endif
  trace_handle = board_open_trace(&args);
  if (trace_handle < 0) return MT_REPLAY_EXIT_USAGE;
  /* Painted so the footprint report can find each stack's high-water mark. */
  memset(agent_stack, STACK_PAINT, sizeof agent_stack);
  memset(feeder_stack, STACK_PAINT, sizeof feeder_stack);
  tx_kernel_enter();
  return BOARD_EXIT_FAULT; /* tx_kernel_enter never returns */
}
