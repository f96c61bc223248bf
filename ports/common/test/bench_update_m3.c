/*
 * The update verifier's cost on the emulated Cortex-M3 board (mps2-an385, QEMU -icount: one
 * instruction per virtual ns, read through SysTick as ports/qemu's bench does): a package read
 * through semihosting and given to mt_update_write in 1 KiB chunks, as a transport would, into
 * a RAM slot. Prints one JSON line: the instructions of the envelope's checks (key id, ES256
 * signature, manifest), of streaming the blob (copy, read back, SHA-256) and of the commit.
 *   -semihosting-config enable=on,target=native,arg=bench,arg=--key=<key.raw>,arg=<package>
 */
#include <stdbool.h>
#include <string.h>

#include "board.h"
#include "console.h"
#include "mt_update.h"
#include "semihost.h"

#define SLOT_BYTES (64u * 1024u)
#define CHUNK 1024u
#define INSTRUCTIONS_PER_TICK (1000000000u / BOARD_CLOCK_HZ)

static uint8_t slots[2][SLOT_BYTES];
static uint8_t record[MT_UPDATE_STATE_BYTES];
static int has_record;
static uint8_t chunk[CHUNK];
static uint8_t key[65];
static const char *key_path;
static mt_update_t u;

static int ram_erase(void *c, int slot, uint32_t bytes) {
  (void)c;
  memset(slots[slot], 0xff, bytes);
  return 0;
}
static int ram_write(void *c, int slot, uint32_t offset, const uint8_t *data, uint32_t length) {
  (void)c;
  memcpy(slots[slot] + offset, data, length);
  return 0;
}
static const uint8_t *ram_read(void *c, int slot) {
  (void)c;
  return slots[slot];
}
static int ram_load(void *c, uint8_t *r, uint32_t length) {
  (void)c;
  if (!has_record) return 1;
  memcpy(r, record, length);
  return 0;
}
static int ram_save(void *c, const uint8_t *r, uint32_t length) {
  (void)c;
  memcpy(record, r, length);
  has_record = 1;
  return 0;
}

static const mt_update_storage_t storage = {NULL,     SLOT_BYTES, ram_erase, ram_write,
                                            ram_read, ram_load,   ram_save};

static bool key_option(const char *arg) {
  if (strncmp(arg, "--key=", 6) != 0) return false;
  key_path = arg + 6;
  return true;
}

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
  if (!key_path || !args.trace) return fail("usage: --key=<key.raw> <package>");
  int k = sh_open_read(key_path);
  if (k < 0 || sh_read(k, key, sizeof key) != (long)sizeof key) return fail("cannot read the key");
  sh_close(k);
  int p = sh_open_read(args.trace);
  if (p < 0) return fail("cannot open the package");
  if (mt_update_open(&u, &storage, key, "rtos", 4, NULL) != MT_UPDATE_OK ||
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
  board_put_text(&board_out, ",\"stackUsed\":");
  board_put_number(&board_out, board_stack_used());
  board_put_text(&board_out, "}\n");
  return board_finish(0);
}
