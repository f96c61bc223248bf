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
 * The update image (MT_QEMU_UPDATE: make UPDATE=1, microtally-qemu-update-<profile>.elf) also
 * takes `replay --update-at` (ports/mps2-an385/board_update.h): the trace then goes through the
 * agent (ports/common/mt_replay_update.h) and each package through mt_update.c into RAM slots.
 *
 * The profile is the image's: MT_QEMU_LINUX selects the blob linked in. Nothing allocates:
 * every buffer below is static and counted in the footprint.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "console.h"
#include "microtally.h"
#include "microtally_blobs.h"
#include "mt_replay.h"
#include "semihost.h"
#if MT_QEMU_UPDATE
#include "board_update.h"
#include "mt_replay_update.h"
#endif

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

static mt_core_t core;
static char read_buf[READ_BYTES];
static const char *bench_path;

/* The image's one blob. */
static void engine_config(mt_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->blob = BLOB;
  cfg->blob_size = BLOB_LEN;
  cfg->memory_limit = MEMORY_END;
}

/* One JSON line: what this run needed of the static RAM reserved for it. */
static void report_footprint(void) {
#if MT_QEMU_AOT
  /* The translated blob's only RAM is its linear memory (mt_heap_used). */
  board_put_text(&board_err, "{\"profile\":\"" PROFILE "\",\"engine\":\"aot\",\"engineRam\":");
  board_put_number(&board_err, mt_heap_used(&core));
#else
  board_put_text(&board_err, "{\"profile\":\"" PROFILE "\",\"engine\":\"wasm3\",\"heapUsed\":");
  board_put_number(&board_err, mt_heap_used(&core));
  board_put_text(&board_err, ",\"heapBytes\":");
  board_put_number(&board_err, MT_WASM3_HEAP_BYTES);
  board_put_text(&board_err, ",\"wasmStackBytes\":");
  board_put_number(&board_err, MT_WASM3_STACK_BYTES);
  board_put_text(&board_err, ",\"wasmStackUsed\":");
  board_put_number(&board_err, mt_engine_stack_used(&core));
#endif
  board_put_text(&board_err, ",\"linearMemory\":");
  board_put_number(&board_err, MEMORY_END);
  board_put_text(&board_err, ",\"stackUsed\":");
  board_put_number(&board_err, board_stack_used());
  board_put_text(&board_err, ",\"stackBytes\":");
  board_put_number(&board_err, board_stack_size());
  board_put_text(&board_err, "}\n");
}

/* Instructions per SysTick tick under -icount shift=0 (one instruction per virtual ns). */
#define INSTRUCTIONS_PER_TICK (1000000000u / BOARD_CLOCK_HZ)

/* Records arrive in the read buffer (replay's, unused here: no extra RAM); a record split by a
 * read is carried over. Each batch is copied into the core's input area, as on every engine. */
static int bench_connections(const char *path) {
  mt_config_t cfg;
  uint64_t ingest = 0, send = 0, events = 0;
  size_t have = 0, walked = 0;
  const char *json = NULL;
  size_t json_len = 0;
  bool eof = false;
  int handle = sh_open_read(path);
  if (handle < 0) {
    board_put_text(&board_err, "microtally: cannot open the records file\n");
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
    /* Count the whole records now in the buffer. */
    for (;;) {
      size_t size = mt_replay_record_size((const uint8_t *)read_buf + walked, have - walked);
      if (size == 0 || walked + size > have) {
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
        board_put_text(&board_err, "microtally: a record is cut short or larger than the buffer\n");
        return BOARD_EXIT_IO;
      }
      continue;
    }
    while (used < walked) {
      const uint8_t *data;
      size_t consumed = 0, skipped = 0, n;
      bool ends;
      uint64_t t0 = board_clock_ticks(), t1;
      mt_status_t st = mt_ingest_connection_records(&core, (const uint8_t *)read_buf + used,
                                                    walked - used, &consumed, &skipped);
      t1 = board_clock_ticks();
      ingest += t1 - t0;
      if (st != MT_OK) {
        return BOARD_EXIT_ENGINE;
      }
      used += consumed;
      while (mt_next_chunk(&core, &data, &n, &ends) == MT_OK) {}
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
    while (mt_next_chunk(&core, &data, &n, &ends) == MT_OK) {}
  }
  if (mt_stats(&core, &json, &json_len) != MT_OK) {
    return BOARD_EXIT_ENGINE;
  }
  board_put_text(&board_out, "{\"events\":");
  board_put_number(&board_out, events);
  board_put_text(&board_out, ",\"instructions\":");
  board_put_number(&board_out, ingest * INSTRUCTIONS_PER_TICK);
  board_put_text(&board_out, ",\"sendInstructions\":");
  board_put_number(&board_out, send * INSTRUCTIONS_PER_TICK);
  board_put_text(&board_out, ",\"stats\":");
  (void)board_put(&board_out, json, json_len);
  board_put_text(&board_out, "}\n");
  return board_flush(&board_out) == 0 ? 0 : BOARD_EXIT_IO;
}

/* `--bench-connections=<file>`, the one option of this image's own (and the update options). */
static bool bench_option(const char *arg) {
#if MT_QEMU_UPDATE
  if (board_update_option(arg)) {
    return true;
  }
#endif
  if (strncmp(arg, "--bench-connections=", 20) != 0) {
    return false;
  }
  bench_path = arg + 20;
  return true;
}

#if MT_QEMU_UPDATE
/* The staging slots: the largest blob a test package carries, with room. */
#define SLOT_BYTES (128u * 1024u)
static uint8_t slots[2][SLOT_BYTES];
static uint8_t chunk[1024];
/* the core's input area (rtos 4 KiB, linux 64 KiB), and a byte beyond it */
static char line_buf[(MT_QEMU_LINUX ? 65536u : 4096u) + 2u];
/* the agent's copy of a line: the input area and one byte (the agent takes at most 64 KiB) */
static char agent_line[(MT_QEMU_LINUX ? 65536u : 4097u) + 1u];

static int replay_with_updates(mt_replay_options_t *opt, const mt_replay_io_t *io) {
  static mt_replay_updates_t ups;
  ups.at = board_updates.args.at;
  ups.count = board_updates.args.count;
  ups.public_key = board_updates.args.public_key;
  ups.installed_sequence = board_updates.args.installed_sequence;
  ups.built_in_version = MT_BUILT_IN_VERSION;
  ups.profile = PROFILE;
  ups.self_test = board_updates.self_test;
  ups.self_test_length = board_updates.self_test_length;
  ups.package_io = board_package_io;
  ups.chunk = chunk;
  ups.chunk_bytes = sizeof chunk;
  ups.slots[0] = slots[0];
  ups.slots[1] = slots[1];
  ups.slot_bytes = SLOT_BYTES;
  ups.memory_limit = MEMORY_END + 1024u; /* the device's budget (MT_TX_UPDATE_MEMORY_LIMIT) */
  ups.agent_line = agent_line;
  ups.agent_line_bytes = sizeof agent_line - 1u;
  opt->line = line_buf;
  opt->line_capacity = sizeof line_buf - 1u;
  return mt_replay_update(opt, &ups, io);
}
#endif

int main(void) {
  mt_config_t cfg;
  mt_replay_options_t opt;
  mt_replay_io_t io = {NULL, board_read, board_write};
  board_args_t args;
  int status;
  int trace;

  if (!board_console_open()) {
    return BOARD_EXIT_IO;
  }
  status = board_parse_args(&args, bench_option);
  if (status != 0) {
    return status;
  }
  if (bench_path != NULL) {
    status = bench_connections(bench_path);
    (void)board_flush(&board_err);
    return status;
  }
  if (args.trace == NULL) {
    return board_usage("replay takes exactly one trace file");
  }
#if MT_QEMU_UPDATE
  status = board_updates_ready();
  if (status != 0) {
    return status;
  }
#endif
  trace = board_open_trace(&args);
  if (trace < 0) {
    return MT_REPLAY_EXIT_USAGE;
  }

  engine_config(&cfg);
  memset(&opt, 0, sizeof opt);
  opt.config = &cfg;
  opt.profile = PROFILE;
  opt.stats = args.stats;
  opt.format = args.format;
  if (args.agent_id_len >= 0) {
    opt.agent_id = args.agent_id;
    opt.agent_id_len = (size_t)args.agent_id_len;
  }
  opt.line = NULL; /* lines are assembled in the core's input area: no 4 KB buffer of ours */
  opt.read_buffer = read_buf;
  opt.read_capacity = sizeof read_buf;
  io.ctx = (void *)(intptr_t)trace;
#if MT_QEMU_UPDATE
  if (board_updates.args.count > 0) {
    status = replay_with_updates(&opt, &io);
  } else
#endif
    status = mt_replay(&core, &opt, &io);
  sh_close(trace);
  if (args.footprint) {
    report_footprint();
  }
  return board_finish(status);
}
