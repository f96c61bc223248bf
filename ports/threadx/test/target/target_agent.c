/* The agent on a Cortex-M3 (QEMU mps2-an385, with ports/qemu's startup and semihosting), on
 * the ThreadX test double: starts it, feeds it connections, lets a window close, and measures
 * what the README quotes: the stack mt_tx_start and mt_tx_agent_step need, and the wasm3 heap
 * of one rtos core. Prints `target: N passed, M failed` and exits with the failure count. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "microtally.h"
#include "microtally_blobs.h"
#include "microtally_threadx.h"
#include "semihost.h"

#define QUEUE_EVENTS 16
#define PAINT 0xC0FFEE11u

extern uint32_t __stack_limit[], __stack_top[];

static int out = -1;
static unsigned passed, failed;
static unsigned messages, message_bytes, bad_chunks;

static void say(const char *s) {
  if (out >= 0) (void)sh_write(out, s, strlen(s));
}

static void say_number(unsigned long v) {
  char digits[12];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10u);
    v /= 10u;
  } while (v != 0 && n < (int)sizeof digits);
  char text[12];
  for (int i = 0; i < n; i++) text[i] = digits[n - 1 - i];
  if (out >= 0) (void)sh_write(out, text, (size_t)n);
}

static void check(int ok, const char *what) {
  if (ok) {
    passed++;
    return;
  }
  failed++;
  say("FAIL target: ");
  say(what);
  say("\n");
}

/* Stack high-water mark between paint() and used(): paint every word below the caller's frame
 * (less a margin for paint's own), later count how far down the pattern was overwritten. */
static __attribute__((noinline)) void paint(void) {
  uint32_t *sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  for (uint32_t *p = __stack_limit; p < sp - 16;) *p++ = PAINT;
}

static size_t used(void) {
  const uint32_t *p = __stack_limit;
  while (p < __stack_top && *p == PAINT) p++;
  return (size_t)((const uint8_t *)__stack_top - (const uint8_t *)p);
}

static VOID on_send(VOID *context, const UCHAR *bytes, ULONG length, UINT last) {
  (void)context;
  if (length == 0 || bytes == NULL) bad_chunks++;
  message_bytes += length;
  if (last == MT_TX_CHUNK_LAST) messages++;
}

static ULONG queue_storage[QUEUE_EVENTS * MT_TX_EVENT_ULONGS];

/* Posts a trace line and runs the agent until it has a verdict on it (NOT_POSTED: refused at once). */
#define NOT_POSTED 0xFFFFu
static UINT line_verdict(const CHAR *line, ULONG length) {
  CHAR reason[96];
  UINT verdict = MT_TX_PENDING;
  if (mt_tx_post_line(line, length) != TX_SUCCESS) return NOT_POSTED;
  for (int i = 0;
       i < 10 && (verdict = mt_tx_configure_result(reason, sizeof reason)) == MT_TX_PENDING; i++) {
    (void)mt_tx_agent_step(0);
  }
  return verdict;
}

int main(void) {
  out = sh_open_console(0);
  MT_TX_CONFIG config;
  memset(&config, 0, sizeof config);
  config.queue_storage = queue_storage;
  config.queue_size = sizeof queue_storage;
  config.epoch_ms_at_start = 1700000000000ull;
  config.send = on_send;
  config.agent_id = "0123abcd-4567-89ef-0123-456789abcdef";
  config.configuration = "{\"network\":{\"priority\":\"high\"},\"priorityIntervals\":{\"high\":5}}";

  paint();
  check(mt_tx_start(&config) == TX_SUCCESS, "mt_tx_start");
  size_t start_stack = used();
  /* The port's tunables came from MT_TX_CONFIG_FILE, in the library too: an update one byte
   * longer than its MT_TX_CONFIG_BYTES (1,024 here, 4,096 by default) is refused. */
  static CHAR long_update[1025];
  memset(long_update, ' ', sizeof long_update);
  long_update[0] = '{';
  long_update[sizeof long_update - 1] = '}';
  check(MT_TX_CONFIG_BYTES == 1024 &&
            mt_tx_configure(long_update, sizeof long_update) == MT_TX_TOO_LONG,
        "port tunables from MT_TX_CONFIG_FILE");

  /* The agent thread's work: events (one per step) and windows that close. */
  paint();
  mt_packet_conn c;
  memset(&c, 0, sizeof c);
  c.local[0] = 10, c.local[3] = 2, c.remote[0] = 93, c.remote[3] = 34;
  c.local_port = 50000;
  c.protocol = MT_PACKET_TCP;
  c.direction = MT_PACKET_OUT;
  c.family = 4;
  c.bytes = 40;
  unsigned posted = 0;
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < QUEUE_EVENTS; i++) {
      c.remote_port = (uint16_t)(1000 + i);
      if (mt_tx_post_connection(&c) == TX_SUCCESS) posted++;
    }
    while (mt_tx_agent_step(0) == TX_SUCCESS) {}
    shim_time_advance(MT_TX_TICKS_PER_SECOND);
  }
  for (int i = 0; i < 10 && messages == 0; i++) (void)mt_tx_agent_step(MT_TX_WINDOW_CHECK_TICKS);
  size_t step_stack = used();

  MT_TX_STATS s;
  mt_tx_stats_get(&s);
  check(posted == 4 * QUEUE_EVENTS && s.ingested == posted, "every event ingested");
  check(s.rejected == 0 && s.dropped == 0 && s.faults == 0, "nothing rejected, dropped or faulted");
  check(messages >= 1 && s.messages == messages && bad_chunks == 0, "a window's messages sent");
  check(step_stack <= MT_TX_MIN_STACK_BYTES, "agent step within MT_TX_MIN_STACK_BYTES");

  /* One more rtos core on the same heap: what it takes is one core's footprint. */
  static mt_core_t probe;
  mt_config_t engine = {microtally_rtos_wasm, microtally_rtos_wasm_len, microtally_rtos_memory_end};
  check(mt_init(&probe, &engine) == MT_OK, "probe core loads");

  /* Lines longer than MT_TX_CONFIG_BYTES are not copied: one the core would still read (up to
   * one byte past its input area) is refused by the port, never read past the port's buffer; a
   * longer one is the core's to report, from its length alone. */
  static CHAR long_line[4098];
  size_t capacity = mt_input_capacity(&probe);
  memset(long_line, 'a', sizeof long_line);
  check(capacity + 2 <= sizeof long_line &&
            line_verdict(long_line, MT_TX_CONFIG_BYTES + 1) == MT_TX_TOO_LONG &&
            line_verdict(long_line, (ULONG)capacity) == MT_TX_TOO_LONG,
        "a line over MT_TX_CONFIG_BYTES that the core would read is refused by the port");
  check(line_verdict(long_line, (ULONG)capacity + 1) == MT_TX_TOO_LONG,
        "so is one of the input area and one byte (the core reads that byte)");
  check(line_verdict(long_line, (ULONG)capacity + 2) == MT_TX_REJECTED,
        "a longer line is the core's to refuse");

  say("target: stack of mt_tx_start ");
  say_number(start_stack);
  say(" B, of the agent steps ");
  say_number(step_stack);
  say(" B (MT_TX_MIN_STACK_BYTES ");
  say_number(MT_TX_MIN_STACK_BYTES);
  say(")\ntarget: wasm3 heap of one rtos core ");
  say_number(mt_heap_used(&probe));
  say(" B; ");
  say_number(messages);
  say(" messages, ");
  say_number(message_bytes);
  say(" bytes\ntarget: ");
  say_number(passed);
  say(" passed, ");
  say_number(failed);
  say(" failed\n");
  return (int)failed;
}
