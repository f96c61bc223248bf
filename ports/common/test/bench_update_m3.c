/*
 * The update verifier's cost on the emulated Cortex-M3 board (mps2-an385, QEMU -icount: one
 * instruction per virtual ns, read through SysTick as ports/qemu's bench does): a package read
 * through semihosting and given to mt_update_write in 1 KiB chunks, as a transport would, into
 * a RAM slot. Prints one JSON line: the instructions of the envelope's checks (key id, ES256
 * signature, manifest), of streaming the blob (copy, read back, SHA-256) and of the commit; then
 * the agent's swap to the staged blob (ports/common/mt_agent.c over a single-threaded mt_os of
 * this bench): its instructions and wasm3's heap at its peak, against one core's.
 *   -semihosting-config enable=on,target=native,arg=bench,arg=--key=<key.raw>,
 *                       arg=--selftest=<selftest.jsonl>,arg=<package>
 */
#include <stdbool.h>
#include <string.h>

#include "board.h"
#include "console.h"
#include "microtally_blobs.h"
#include "mt_agent.h"
#include "mt_os.h"
#include "mt_update.h"
#include "semihost.h"
#include "test_storage.h"

#define SLOT_BYTES (64u * 1024u)
#define CHUNK 1024u
#define INSTRUCTIONS_PER_TICK (1000000000u / BOARD_CLOCK_HZ)

static uint8_t slots[2][SLOT_BYTES];
static test_storage_t storage; /* RAM (test_storage.c) */
static uint8_t chunk[CHUNK];
static uint8_t key[65];
static const char *key_path;
static mt_update_t u;

static const char *self_test_path;
static char self_test[4096];

static bool key_option(const char *arg) {
  if (strncmp(arg, "--key=", 6) == 0) {
    key_path = arg + 6;
    return true;
  }
  if (strncmp(arg, "--selftest=", 11) == 0) {
    self_test_path = arg + 11;
    return true;
  }
  return false;
}

/* ---- mt_os.h, single-threaded: the bench steps the agent itself ---- */

static mt_agent_event_t queue[8];
static unsigned q_head, q_len;
uint32_t mt_os_ticks(void) { return 0; }
unsigned mt_os_lock(void) { return 0; }
void mt_os_unlock(unsigned posture) { (void)posture; }
unsigned mt_os_create(void) { return 0; }
unsigned mt_os_start_thread(void) { return 0; }
void mt_os_delete(void) {}
unsigned mt_os_post(const mt_agent_event_t *event) {
  if (q_len == 8u) return 1;
  queue[(q_head + q_len++) % 8u] = *event;
  return 0;
}
unsigned mt_os_receive(mt_agent_event_t *event, uint32_t wait_ticks) {
  (void)wait_ticks;
  if (q_len == 0) return 1;
  *event = queue[q_head];
  q_head = (q_head + 1u) % 8u;
  q_len--;
  return 0;
}
void mt_os_signal_stopped(void) {}
void mt_os_wait_stopped(uint32_t wait_ticks) { (void)wait_ticks; }
int mt_os_in_agent_thread(void) { return 1; }

static mt_update_sha256_t hash;
static unsigned outcome = 99;
static const char *outcome_reason = "";
static void h_outcome(void *c, unsigned result, const char *reason) {
  (void)c;
  if (outcome == 99u) outcome = result, outcome_reason = reason;
}
static void discard(void *c, const uint8_t *b, size_t n, unsigned where) {
  (void)c, (void)b, (void)n, (void)where;
}

static char update_text[1025], reason[160];
static uint8_t journal[512];
static uint8_t trial_inputs[MT_AGENT_TRIAL_JOURNAL_BYTES];
static mt_agent_update_hooks_t hooks = {&hash,
                                        self_test,
                                        0,
                                        mt_update_hook_sha256_begin,
                                        mt_update_hook_sha256_add,
                                        mt_update_hook_sha256_end,
                                        NULL,
                                        h_outcome,
                                        0};

static int fail(const char *what) {
  board_put_text(&board_err, "bench_update: ");
  board_put_text(&board_err, what);
  board_put_text(&board_err, "\n");
  return board_finish(1);
}

int main(void) {
  board_args_t args;
  if (!board_console_open()) return BOARD_EXIT_IO;
  int status = board_parse_args(&args, key_option);
  if (status != 0) return status;
  if (!key_path || !self_test_path || !args.trace)
    return fail("usage: --key=<key.raw> --selftest=<file> <package>");
  int t = sh_open_read(self_test_path);
  long self_test_length = t < 0 ? -1 : sh_read(t, self_test, sizeof self_test);
  if (self_test_length <= 0 || self_test_length == (long)sizeof self_test)
    return fail("cannot read the self-test");
  sh_close(t);
  hooks.self_test_length = (size_t)self_test_length;
  int k = sh_open_read(key_path);
  if (k < 0 || sh_read(k, key, sizeof key) != (long)sizeof key) return fail("cannot read the key");
  sh_close(k);
  int p = sh_open_read(args.trace);
  if (p < 0) return fail("cannot open the package");
  if (mt_update_open(&u, test_storage_init(&storage, slots[0], SLOT_BYTES), key, "rtos", 5, NULL) !=
          MT_UPDATE_OK ||
      mt_update_begin(&u) != MT_UPDATE_OK)
    return fail("mt_update_open");
  uint64_t envelope = 0, blob = 0, ticks;
  uint32_t at = 0;
  board_clock_start();
  for (;;) {
    long got = sh_read(p, chunk, sizeof chunk);
    if (got < 0) return fail("cannot read the package");
    if (got == 0) break;
    bool checked_before = u.envelope_length != 0;
    ticks = board_clock_ticks();
    int rc = mt_update_write(&u, at, chunk, (uint32_t)got);
    ticks = board_clock_ticks() - ticks;
    if (rc != MT_UPDATE_OK) return fail(mt_update_reason(&u));
    /* the chunk that completed the envelope paid for its checks */
    if (!checked_before && u.envelope_length != 0)
      envelope += ticks;
    else
      blob += ticks;
    at += (uint32_t)got;
  }
  sh_close(p);
  ticks = board_clock_ticks();
  int rc = mt_update_commit(&u);
  ticks = board_clock_ticks() - ticks;
  if (rc != MT_UPDATE_OK) return fail(mt_update_reason(&u));
  /* the swap: the agent runs the built-in blob, then the staged one replaces it */
  mt_agent_config_t config;
  memset(&config, 0, sizeof config);
  config.engine.blob = microtally_rtos_wasm;
  config.engine.blob_size = microtally_rtos_wasm_len;
  config.engine.memory_limit = microtally_rtos_memory_end;
  config.queue_events = 8;
  config.ticks_per_second = 100;
  config.epoch_ms_at_start = 1700000000000ull;
  config.send = discard;
  config.update = update_text;
  config.update_bytes = sizeof update_text - 1;
  config.journal = journal;
  config.journal_bytes = sizeof journal;
  config.reason = reason;
  config.reason_bytes = sizeof reason;
  config.update_hooks = &hooks;
  config.trial_inputs = trial_inputs;
  config.trial_inputs_bytes = sizeof trial_inputs;
  if (mt_agent_start(&config) != 0) return fail("mt_agent_start");
  size_t one_core = mt_heap_peak();
  mt_update_image_t staged;
  if (!mt_update_staged(&u, &staged)) return fail("nothing staged");
  mt_agent_swap_t request;
  memset(&request, 0, sizeof request);
  request.abi_version = u.manifest.abi_version;
  memcpy(request.profile, u.manifest.profile, sizeof request.profile);
  request.engine.blob = storage.storage.read_pointer(&storage, staged.slot);
  request.engine.blob_size = staged.blob_size;
  request.engine.memory_limit = microtally_rtos_memory_end;
  memcpy(request.self_test_sha256, staged.self_test_sha256, 32);
  if (mt_agent_swap(&request) != 0) return fail("mt_agent_swap");
  /* the swap comes at the first window boundary: an event, then a line whose time ends its window */
  static const mt_packet_conn event = {
      {10, 0, 0, 2},     {192, 0, 0, 7}, 40000, 443, 60, MT_PACKET_TCP, MT_PACKET_OUT, 4,
      MT_PACKET_APP_NONE};
  static const char tick[] = "{\"kind\":\"tick\",\"t\":1700000060000}";
  if (mt_agent_post_connection(&event) != 0) return fail("mt_agent_post_connection");
  (void)mt_agent_step(0);
  if (mt_agent_post_line(tick, sizeof tick - 1) != 0) return fail("mt_agent_post_line");
  uint64_t swap = board_clock_ticks();
  (void)mt_agent_step(0); /* the line: its window leaves, then the swap */
  swap = board_clock_ticks() - swap;
  if (outcome != MT_AGENT_SWAP_CONFIRMED && outcome != MT_AGENT_SWAP_APPLIED)
    return fail(outcome_reason);

  board_put_text(&board_out, "{\"packageBytes\":");
  board_put_number(&board_out, at);
  board_put_text(&board_out, ",\"blobBytes\":");
  board_put_number(&board_out, u.manifest.blob_size);
  board_put_text(&board_out, ",\"envelopeInstructions\":");
  board_put_number(&board_out, envelope * INSTRUCTIONS_PER_TICK);
  board_put_text(&board_out, ",\"blobInstructions\":");
  board_put_number(&board_out, blob * INSTRUCTIONS_PER_TICK);
  board_put_text(&board_out, ",\"commitInstructions\":");
  board_put_number(&board_out, ticks * INSTRUCTIONS_PER_TICK);
  board_put_text(&board_out, ",\"contextBytes\":");
  board_put_number(&board_out, sizeof u);
  board_put_text(&board_out, ",\"trialJournalBytes\":");
  board_put_number(&board_out, sizeof trial_inputs);
  board_put_text(&board_out, ",\"swapInstructions\":");
  board_put_number(&board_out, swap * INSTRUCTIONS_PER_TICK);
  board_put_text(&board_out, ",\"heapOneCore\":");
  board_put_number(&board_out, one_core);
  board_put_text(&board_out, ",\"heapPeakSwap\":");
  board_put_number(&board_out, mt_heap_peak());
  board_put_text(&board_out, ",\"heapBytes\":");
  board_put_number(&board_out, MT_WASM3_HEAP_BYTES);
  board_put_text(&board_out, ",\"stackUsed\":");
  board_put_number(&board_out, board_stack_used());
  board_put_text(&board_out, "}\n");
  return board_finish(0);
}
