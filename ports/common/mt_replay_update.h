/*
 * mt_replay_update.h — `replay --update-at` on a C engine without an RTOS (ports/posix,
 * ports/qemu): the trace goes through the agent (mt_agent.c, over mt_os_stepped.c) instead of a
 * core of its own, and each update package is delivered before its line as a device takes one:
 * read in chunks, verified and staged by mt_update.c into RAM slots, then swapped by the agent
 * (mt_agent_swap), or refused (mt_agent_report_rejected). One swap implementation, the device's,
 * serves every C engine; stdout, stderr and the exit status are those of V8's replay
 * (docs/UPDATE.md, "`replay --update-at`").
 *
 * No allocation: the caller passes every buffer (static on the board).
 */
#ifndef MT_REPLAY_UPDATE_H
#define MT_REPLAY_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "microtally.h"
#include "mt_replay.h"

/* One `--update-at N:package`. */
typedef struct mt_replay_update_at {
  unsigned long line; /* delivered before this trace line (past the last: at the end) */
  const char *package;
} mt_replay_update_at_t;

/* The programs' update options (ports/posix, ports/mps2-an385): `--update-at=<N>:<package>`
 * (repeatable, in order), `--pub-hex=<the key's 65-byte point in hex>`,
 * `--installed-sequence=<n>`, `--self-test=<file>`. */
#define MT_REPLAY_UPDATES_MAX 64u /* host/engines/update-args.ts C_UPDATES_MAX */
#define MT_REPLAY_UPDATES_MAX_TEXT "64"
typedef struct mt_replay_update_args {
  mt_replay_update_at_t at[MT_REPLAY_UPDATES_MAX];
  size_t count;
  uint8_t public_key[65];
  int have_key;
  uint64_t installed_sequence;
  const char *self_test; /* the self-test trace's file */
} mt_replay_update_args_t;

/* 1: `arg` is one of those options, taken into `a`; -1: one of them, malformed (*why: the usage
 * message); 0: another option. */
int mt_replay_update_option(mt_replay_update_args_t *a, const char *arg, const char **why);

/* How the program reads a package (posix: a file; the board: semihosting). */
typedef struct mt_replay_package_io {
  void *ctx;
  int (*open)(void *ctx, const char *name);                   /* a handle, or negative */
  long (*read)(void *ctx, int handle, void *buf, size_t cap); /* bytes, 0 at the end, <0 error */
  void (*close)(void *ctx, int handle);
} mt_replay_package_io_t;

typedef struct mt_replay_updates {
  const mt_replay_update_at_t *at; /* in the order given (several at one line: that order) */
  size_t count;
  const uint8_t *public_key; /* 65 bytes: 04 || X || Y (the .pub file's DER, its last 65) */
  uint64_t installed_sequence;
  const char *built_in_version; /* FromVersion while the built-in blob runs */
  const char *profile;          /* "rtos" or "linux" */
  const char *self_test;        /* host/update/selftest.jsonl */
  size_t self_test_length;
  mt_replay_package_io_t package_io;
  uint8_t *chunk; /* a package is read and written in chunks of this size */
  size_t chunk_bytes;
  uint8_t *slots[2]; /* the staging slots (RAM) */
  uint32_t slot_bytes;
  uint32_t memory_limit; /* a new blob's linear memory at most (the device's budget) */
  char *agent_line;      /* the agent's line buffer: agent_line_bytes + 1 */
  size_t agent_line_bytes;
} mt_replay_updates_t;

/* Starts the agent on options->config's blob (agent id, format from options) and replays the
 * trace through it, delivering the packages of `updates`; returns the exit status. A package
 * that cannot be read is reported on stderr (exit MT_REPLAY_EXIT_IO). options->line must hold
 * updates->agent_line_bytes + 1 bytes. */
int mt_replay_update(const mt_replay_options_t *options, const mt_replay_updates_t *updates,
                     const mt_replay_io_t *io);

#endif
