/* `replay --update-at` through the agent (mt_replay_update.h). */
#include "mt_replay_update.h"

#include <string.h>

#include "mt_agent.h"
#include "mt_message.h"
#include "mt_os_stepped.h"
#include "mt_update.h"
#include "mt_update_ram.h"

/* The ABI the bindings drive (bindings/microtally.c checks mt_abi_version at mt_init). */
#define ABI_VERSION 5u
/* The agent's queue: a line, a swap and the stop at most wait at once. */
#define QUEUE_EVENTS MT_OS_STEPPED_QUEUE
/* Probation, as on V8 (docs/UPDATE.md step 7). */
#define TRIAL_WINDOWS 2u

static const mt_replay_updates_t *ups;
static const mt_replay_io_t *out_io;
static size_t next_update;
static mt_update_t update;
static mt_message_framing_t framing;

/* ---- the swap's hooks: SHA-256 (mt_update.h's, over the hash here) and the bookkeeping of
 * mt_update.c ---- */

static mt_update_sha256_t self_test_hash;
static const char *h_swapping(void *c) {
  (void)c;
  return mt_update_activate(&update) == MT_UPDATE_OK
             ? NULL
             : "the swap's state record could not be saved (storage)";
}
static void h_outcome(void *c, unsigned result, const char *reason) {
  (void)c;
  if (result == MT_AGENT_SWAP_CONFIRMED) {
    (void)mt_update_confirm(&update);
  } else if (result == MT_AGENT_SWAP_ROLLED_BACK) {
    (void)mt_update_roll_back(&update, reason);
  } else if (result == MT_AGENT_SWAP_REFUSED) {
    (void)mt_update_discard(&update, reason);
  }
}
static mt_agent_update_hooks_t hooks = {&self_test_hash,
                                        NULL,
                                        0,
                                        mt_update_hook_sha256_begin,
                                        mt_update_hook_sha256_add,
                                        mt_update_hook_sha256_end,
                                        h_swapping,
                                        h_outcome,
                                        TRIAL_WINDOWS};

/* ---- delivery (docs/UPDATE.md step 1) ---- */

/* The running blob's version and sequence, and the package's once its signature verified. */
static void copy_text(char *to, size_t size, const char *from) {
  size_t n = strlen(from);
  if (n >= size) n = size - 1;
  memcpy(to, from, n);
  to[n] = '\0';
}

static void facts(mt_agent_swap_t *f, const mt_update_image_t *to) {
  const mt_update_image_t *running = &update.state.running;
  memset(f, 0, sizeof *f);
  copy_text(f->from_version, sizeof f->from_version,
            running->slot == MT_UPDATE_BUILT_IN ? ups->built_in_version : running->agent_version);
  f->from_sequence = running->sequence;
  if (to != NULL) {
    copy_text(f->to_version, sizeof f->to_version, to->agent_version);
    f->to_sequence = to->sequence;
  } else if (update.manifest_read) {
    copy_text(f->to_version, sizeof f->to_version, update.manifest.agent_version);
    f->to_sequence = update.manifest.sequence;
  }
}

static int io_failed;

static void put_err(const char *text) {
  if (out_io->write(out_io->ctx, MT_REPLAY_STDERR, text, strlen(text)) != 0) io_failed = 1;
}

/* One package: streamed in chunks through mt_update (a device's transport does the same), then
 * the swap requested, or the refusal reported. */
static void deliver_one(const char *name) {
  const mt_replay_package_io_t *pio = &ups->package_io;
  int handle = pio->open(pio->ctx, name);
  if (handle < 0) {
    put_err("microtally: cannot read the update package ");
    put_err(name);
    put_err("\n");
    io_failed = 1;
    return;
  }
  int rc = mt_update_begin(&update);
  int began = rc == MT_UPDATE_OK;
  uint32_t offset = 0;
  while (rc == MT_UPDATE_OK || rc == MT_UPDATE_REPEATED) {
    long got = pio->read(pio->ctx, handle, ups->chunk, ups->chunk_bytes);
    if (got < 0) {
      put_err("microtally: cannot read the update package ");
      put_err(name);
      put_err("\n");
      io_failed = 1;
      pio->close(pio->ctx, handle);
      if (began) (void)mt_update_abort(&update, "the package could not be read to its end");
      return;
    }
    if (got == 0) {
      rc = mt_update_commit(&update);
      break;
    }
    rc = mt_update_write(&update, offset, ups->chunk, (uint32_t)got);
    offset += (uint32_t)got;
  }
  pio->close(pio->ctx, handle);
  mt_update_image_t staged;
  mt_agent_swap_t f;
  if (rc == MT_UPDATE_OK && mt_update_staged(&update, &staged)) {
    facts(&f, &staged);
    f.engine.blob = ups->slots[staged.slot];
    f.engine.blob_size = staged.blob_size;
    f.engine.memory_limit = ups->memory_limit;
    memcpy(f.self_test_sha256, staged.self_test_sha256, 32);
    f.abi_version = update.manifest.abi_version; /* the blob must say the same (at the swap) */
    copy_text(f.profile, sizeof f.profile, update.manifest.profile);
    if (mt_agent_swap(&f) == MT_AGENT_OK) return; /* staged: swapped at the next window boundary */
    (void)mt_update_discard(&update, "the agent could not take the swap");
  }
  facts(&f, NULL);
  if (!began) { /* refused before its manifest was read (one is staged): none to name */
    f.to_version[0] = '\0';
    f.to_sequence = 0;
  }
  (void)mt_agent_report_rejected(&f, mt_update_reason(&update));
}

/* The packages due before line `line_no` (at_end: all that are left). */
static void deliver(unsigned long line_no, bool at_end) {
  while (next_update < ups->count && (at_end || ups->at[next_update].line <= line_no)) {
    deliver_one(ups->at[next_update++].package);
  }
}

/* ---- the replay target: lines to the agent ---- */

static void on_send(void *context, const uint8_t *bytes, size_t length, unsigned where) {
  (void)context;
  if (length > 0 && out_io->write(out_io->ctx, MT_REPLAY_STDOUT, bytes, length) != 0) io_failed = 1;
  if (mt_message_ends_line(&framing, bytes, length, where) &&
      out_io->write(out_io->ctx, MT_REPLAY_STDOUT, "\n", 1) != 0)
    io_failed = 1;
}

static char reason[512];
static size_t reason_len;

/* The replay loop gives every line, in order: this counts them as it numbers them. */
static unsigned long lines_given;

static mt_status_t agent_line(void *ctx, const char *line, size_t len) {
  (void)ctx;
  deliver(++lines_given, false);
  if (mt_agent_post_line(line, len) != MT_AGENT_OK) return MT_ERR_ENGINE;
  mt_os_stepped_run();
  unsigned verdict = mt_agent_result(reason, sizeof reason);
  reason_len = strlen(reason);
  /* an output that failed ends the run with 74 once the program sees it (as without updates) */
  switch (verdict) {
    case MT_AGENT_OK:
      return MT_OK;
    case MT_AGENT_REJECTED:
    case MT_AGENT_TOO_LONG:
      return MT_SKIPPED;
    case MT_AGENT_ENGINE_ERROR:
      return MT_ERR_TRAP; /* the agent re-initialised the core and goes on */
    default:
      return MT_ERR_ENGINE;
  }
}

static void agent_reason(void *ctx, const char **text, size_t *len) {
  (void)ctx;
  *text = reason;
  *len = reason_len;
}

static mt_status_t agent_finish(void *ctx) {
  (void)ctx;
  deliver(lines_given + 1u, true); /* N past the last line: at the end of input, before mt_finish */
  (void)mt_agent_stop(0);
  mt_os_stepped_run();
  return mt_agent_step(0) == MT_AGENT_STOPPED ? MT_OK : MT_ERR_ENGINE;
}

static char summary[2048];

static mt_status_t agent_summary(void *ctx, const char **json, size_t *len) {
  (void)ctx;
  if (mt_agent_summary(summary, sizeof summary, len) != MT_AGENT_OK) return MT_ERR_ENGINE;
  *json = summary;
  return MT_OK;
}

static uint8_t journal[4098];
/* The probation journal: V8's replay keeps the same (host/update/swap.ts, TRIAL_JOURNAL_BYTES),
   so both take an early checkpoint at the same input. */
static uint8_t trial_inputs[MT_AGENT_TRIAL_JOURNAL_BYTES];

int mt_replay_update(const mt_replay_options_t *options, const mt_replay_updates_t *updates,
                     const mt_replay_io_t *io) {
  ups = updates;
  out_io = io;
  const mt_update_storage_t *storage =
      mt_update_ram(updates->slots[0], updates->slots[1], updates->slot_bytes);
  hooks.self_test = updates->self_test;
  hooks.self_test_length = updates->self_test_length;
  if (mt_update_open(&update, storage, updates->public_key, updates->profile, ABI_VERSION, NULL) !=
          MT_UPDATE_OK ||
      (updates->installed_sequence > 0 &&
       mt_update_set_built_in_sequence(&update, updates->installed_sequence) != MT_UPDATE_OK)) {
    put_err("microtally: the update state could not be set up\n");
    return MT_REPLAY_EXIT_ENGINE;
  }
  static char agent_id[80];
  mt_agent_config_t config;
  memset(&config, 0, sizeof config);
  config.engine = *options->config;
  config.queue_events = QUEUE_EVENTS;
  config.ticks_per_second = 1000;
  config.send = on_send;
  if (options->agent_id != NULL) {
    /* the agent takes it NUL-terminated; a longer one is refused by the core all the same */
    size_t n =
        options->agent_id_len < sizeof agent_id - 1 ? options->agent_id_len : sizeof agent_id - 1;
    memcpy(agent_id, options->agent_id, n);
    agent_id[n] = '\0';
    config.agent_id = agent_id;
  }
  config.message_format = options->format;
  config.update = updates->agent_line;
  config.update_bytes = updates->agent_line_bytes;
  config.journal = journal;
  config.journal_bytes = sizeof journal;
  config.reason = reason;
  config.reason_bytes = sizeof reason;
  config.update_hooks = &hooks;
  config.trial_inputs = trial_inputs;
  config.trial_inputs_bytes = sizeof trial_inputs;
  unsigned st = mt_agent_start(&config);
  if (st == MT_AGENT_REJECTED) {
    (void)mt_agent_result(reason, sizeof reason);
    put_err("microtally: --agent-id: ");
    put_err(reason);
    put_err("\n");
    return MT_REPLAY_EXIT_USAGE;
  }
  if (st != MT_AGENT_OK) {
    put_err(st == MT_AGENT_ENGINE_ERROR
                ? "microtally: wasm3 could not load the "
                : "microtally: the agent refused its configuration for the ");
    put_err(updates->profile);
    put_err(" blob\n");
    return MT_REPLAY_EXIT_ENGINE;
  }
  const mt_replay_target_t target = {NULL,          agent_line, agent_reason, agent_finish,
                                     agent_summary, NULL,       NULL};
  int status = mt_replay_to(&target, options, io);
  return io_failed && status < MT_REPLAY_EXIT_TRAPPED ? MT_REPLAY_EXIT_IO : status;
}
