/*
 * mt_agent.h — the agent, RTOS-neutral: one core (bindings/microtally.h) on one thread, fed
 * through a queue that never blocks its posters (capture hooks, network callbacks, ISRs). It
 * lets time pass in the core when no event comes (windows end, SPEC R5), applies configuration
 * updates and trace lines in queue order, re-applies the configuration after a core fault, and
 * stops cleanly. It runs over the small RTOS layer of mt_os.h; ports/threadx wraps it as the
 * ThreadX API of microtally_threadx.h, which documents each call in full.
 *
 * No allocation: the port hands in every buffer (mt_agent_config_t).
 */
#ifndef MT_AGENT_H
#define MT_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "microtally.h"
#include "mt_message.h"
#include "mt_packet.h"

/* Return codes of the agent's calls beyond 0 (success) and the RTOS's own (passed on). */
#define MT_AGENT_OK 0u
#define MT_AGENT_ALREADY_STARTED 0x100u
#define MT_AGENT_BAD_CONFIG 0x101u
#define MT_AGENT_ENGINE_ERROR 0x102u /* the engine could not load or initialise the core */
#define MT_AGENT_REJECTED 0x103u     /* the core rejected the agent id or the configuration */
#define MT_AGENT_PENDING 0x104u      /* an update (or the stop) is requested, not carried out */
#define MT_AGENT_TOO_LONG 0x105u     /* an update longer than its buffer */
#define MT_AGENT_STOPPED 0x106u      /* the agent is stopping or has stopped */
#define MT_AGENT_NOT_STARTED 0x107u  /* no mt_agent_start succeeded yet */
#define MT_AGENT_NULL 0x108u         /* a NULL pointer */

/* One queued event: a connection, or a marker that wakes the agent for an update or the stop. */
typedef struct mt_agent_event {
  mt_packet_conn connection;
  uint32_t posted_at; /* mt_os_ticks() when posted: the event's time, however long it waited */
  uint32_t kind;
} mt_agent_event_t;

/* A core update's swap (issue 21, docs/UPDATE.md): a verified blob (ports/common/mt_update.h
 * staged it) replaces the running one at the first window boundary after the request. */
typedef struct mt_agent_swap {
  mt_config_t engine;           /* the new blob, read in place (a slot); its memory limit */
  uint8_t self_test_sha256[32]; /* the manifest's digest of the self-test's output */
  uint32_t abi_version;         /* the manifest's: the blob's mt_abi_version() must say it */
  char profile[8]; /* the manifest's, "rtos" or "linux": the blob's memory must be it */
  /* For the AgentUpdate record (docs/FORMATS.md): the running blob's and the package's. */
  char from_version[68];
  char to_version[68];
  uint64_t from_sequence;
  uint64_t to_sequence;
} mt_agent_swap_t;

/* The probation journal (docs/UPDATE.md, "The probation journal"): every input given to a new
 * core since its last checkpoint, to give it again to the previous core if the new one traps.
 * An entry costs MT_AGENT_TRIAL_ENTRY_HEADER bytes plus its payload (a line's or a
 * configuration's text; a connection's fixed record; a tick or the finish: none). An input that
 * would not fit takes a checkpoint first. host/update/swap.ts has the same rule and numbers
 * (TRIAL_ENTRY_HEADER, TRIAL_JOURNAL_BYTES), so a replay checkpoints where the device does. */
#define MT_AGENT_TRIAL_ENTRY_HEADER 12u
#ifndef MT_AGENT_TRIAL_JOURNAL_BYTES
#define MT_AGENT_TRIAL_JOURNAL_BYTES 2048u
#endif

/* How a swap ended (mt_agent_update_hooks_t.outcome). */
#define MT_AGENT_SWAP_APPLIED 0u     /* the new blob runs, on trial */
#define MT_AGENT_SWAP_CONFIRMED 1u   /* its probation is over: trial_windows, no trap */
#define MT_AGENT_SWAP_ROLLED_BACK 2u /* it failed: the previous blob runs again */
#define MT_AGENT_SWAP_REFUSED \
  3u /* nothing changed: the engine cannot swap, or the port could not persist it */

/* What a swap needs from the port: the self-test, SHA-256, and where the outcome goes (the
 * port persists it: mt_update_activate / confirm / roll_back). Called on the agent thread. */
typedef struct mt_agent_update_hooks {
  void *context;
  const char *self_test; /* host/update/selftest.jsonl, embedded */
  size_t self_test_length;
  void (*sha256_begin)(void *context);
  void (*sha256_add)(void *context, const uint8_t *bytes, size_t length);
  void (*sha256_end)(void *context, uint8_t digest[32]);
  /* The old core is about to go, the new one to load: the port persists the swap first. NULL
     goes on; a one-line reason refuses the swap (the old core runs on, a `rejected` record). */
  const char *(*swapping)(void *context);
  void (*outcome)(void *context, unsigned result, const char *reason);
  uint32_t trial_windows; /* probation: a trap within this many window boundaries rolls back */
} mt_agent_update_hooks_t;

typedef struct mt_agent_config {
  mt_config_t engine;    /* the blob */
  uint32_t queue_events; /* the queue's capacity (mt_os_create makes it) */
  uint32_t ticks_per_second;
  /* Wall-clock ms at mt_agent_start, plus the ticks since; or clock_ms (never backwards). */
  uint64_t epoch_ms_at_start;
  uint64_t (*clock_ms)(void);
  /* Every message, a chunk at a time, from the agent thread (`where`: MT_MESSAGE_*). */
  void (*send)(void *context, const uint8_t *bytes, size_t length, unsigned where);
  void *send_context;
  const char *agent_id;      /* optional, NUL-terminated */
  const char *configuration; /* optional, NUL-terminated; kept: re-applied after a fault */
  unsigned message_format;   /* mt_format_t */
  char *update;              /* update_bytes + 1: the pending update or trace line */
  size_t update_bytes;
  uint8_t *journal; /* accepted updates and configuration lines (2-byte length, then the JSON),
                       for recovery and a core swap */
  size_t journal_bytes;
  char *reason; /* the latest update's verdict reason, NUL-terminated */
  size_t reason_bytes;
  const mt_agent_update_hooks_t *update_hooks; /* optional: core updates (mt_agent_swap) */
  /* With update_hooks: the probation journal (MT_AGENT_TRIAL_JOURNAL_BYTES; at least
     MT_AGENT_TRIAL_ENTRY_HEADER + sizeof(mt_packet_conn), at most MT_AGENT_TRIAL_ENTRY_HEADER +
     65,535: an entry's length is 2 bytes; else MT_AGENT_BAD_CONFIG), owned by the agent. */
  uint8_t *trial_inputs;
  size_t trial_inputs_bytes;
} mt_agent_config_t;

typedef struct mt_agent_stats {
  uint32_t posted;   /* events accepted into the queue */
  uint32_t dropped;  /* events refused: queue full (never blocks), agent not started or stopped;
                        also events that raced the stop and were still queued after mt_finish */
  uint32_t ingested; /* events the core accepted */
  uint32_t rejected; /* events the core refused (see the core's diagnostics) */
  uint32_t messages; /* messages handed to `send` */
  uint32_t faults;   /* core traps (the core was re-initialised, the configuration re-applied) */
  uint32_t updates_applied;    /* configuration updates the core accepted */
  uint32_t updates_rejected;   /* ... the core refused (or faulted on); nothing changed */
  uint32_t updates_forgotten;  /* accepted updates dropped from the journal (too small): a fault
                                 would then lose their keys */
  uint32_t lines_accepted;     /* trace lines the core took (blank ones included) */
  uint32_t lines_rejected;     /* ... the core refused (or faulted on) */
  uint32_t losses_reported;    /* transport losses (mt_agent_report_loss) given to the core */
  uint32_t losses_unreported;  /* ... a core without mt_report_loss could not take */
  uint32_t updates_unreported; /* AgentUpdate records that found no room (queue full, refused) */
  uint32_t trial_checkpoints;  /* early checkpoints on probation: the next input did not fit in
                                  the probation journal (not one of the trial's boundaries) */
  uint32_t trial_refed;        /* inputs given again to the previous core after a rollback */
} mt_agent_stats_t;

/* NULL config: the port found it invalid (MT_AGENT_BAD_CONFIG, unless already started). */
unsigned mt_agent_start(const mt_agent_config_t *config);
unsigned mt_agent_post_connection(const mt_packet_conn *connection);
unsigned mt_agent_configure(const char *json, size_t length);
unsigned mt_agent_post_line(const char *line, size_t length);
unsigned mt_agent_result(char *reason, size_t reason_size);
/* Messages the transport could not keep, from any context (ISRs included): the agent thread
 * gives them to the core before its next input (mt_report_loss, MT_LOSS_TRANSPORT) and the next
 * message that leaves carries them. MT_AGENT_OK, MT_AGENT_NOT_STARTED, MT_AGENT_STOPPED. */
unsigned mt_agent_report_loss(uint32_t messages);
/* Stages swap->engine (any thread); the agent swaps it in at the first window boundary after
 * (an input whose call sent a message, once drained; or at the stop, after mt_finish), never
 * during another swap's probation (it waits for its end). Then, as host/update/swap.ts does:
 * what the old core holds is sent (mt_finish, drained) and its state saved (mt_state_save), the
 * old blob is unloaded, the new one loaded (never both: mt_unload), its mt_abi_version() and
 * memory compared with swap->abi_version and swap->profile, run through the self-test (its
 * output's SHA-256 must be swap->self_test_sha256), unloaded, loaded again with the agent id,
 * format and configuration (the start one, then every update and configuration line accepted
 * since) and the saved state, and goes live on probation: at each of its first trial_windows
 * window boundaries a checkpoint; the inputs since the last one kept in trial_inputs. Any
 * failure loads the previous blob again from the last checkpoint; after a trap on probation the
 * kept inputs are given to it again, in order. An AgentUpdate record (applied, rolledBack or
 * rejected, with the reason of docs/UPDATE.md) goes out with the next message; the outcome also
 * goes to the hooks. MT_AGENT_OK, MT_AGENT_PENDING (another swap is staged), MT_AGENT_BAD_CONFIG
 * (no update_hooks or trial_inputs), MT_AGENT_NOT_STARTED, MT_AGENT_STOPPED, MT_AGENT_NULL. */
unsigned mt_agent_swap(const mt_agent_swap_t *swap);
/* A package refused at delivery (docs/UPDATE.md, step 1), from any thread: an AgentUpdate record
 * `rejected` with `reason` (its versions and sequences from `facts`; the engine is not read) goes
 * out with the next message. MT_AGENT_OK, MT_AGENT_PENDING (no room: counted), MT_AGENT_NOT_STARTED,
 * MT_AGENT_STOPPED, MT_AGENT_NULL. */
unsigned mt_agent_report_rejected(const mt_agent_swap_t *facts, const char *reason);
/* The same for a swap the port rolled back itself (a reset during the trial, found at the next
 * start): an AgentUpdate record `rolledBack`, `facts` from the blob running again to the failed one. */
unsigned mt_agent_report_rolled_back(const mt_agent_swap_t *facts, const char *reason);
unsigned mt_agent_stop(uint32_t wait_ticks);
unsigned mt_agent_step(uint32_t wait_ticks);
void mt_agent_stats_get(mt_agent_stats_t *stats);
unsigned mt_agent_summary(char *json, size_t size, size_t *length);

#endif
