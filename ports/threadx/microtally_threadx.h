/*
 * microtally on Eclipse ThreadX (Azure RTOS): one agent thread runs the core (wasm3 + the rtos
 * blob, through bindings/microtally.h); capture hooks, NetX Duo callbacks and ISRs post events
 * to it through a ThreadX queue without ever blocking.
 *
 *   static UCHAR agent_stack[MT_TX_MIN_STACK_BYTES];
 *   static ULONG agent_queue[64 * MT_TX_EVENT_ULONGS];
 *   MT_TX_CONFIG cfg = { agent_stack, sizeof agent_stack, 16,
 *                        agent_queue, sizeof agent_queue,
 *                        1700000000000ull, TX_NULL, my_send, TX_NULL, TX_NULL, TX_NULL };
 *   mt_tx_start(&cfg);          // from tx_application_define() or any thread
 *   mt_netx_attach(&ip_0);      // microtally_netx.h: connection events from NetX Duo
 *   ...
 *   mt_tx_configure(json, len); // a device twin's microtally section (SPEC R6), any thread
 *   mt_tx_stop(200);            // before a reboot: everything pending is sent
 *
 * Windows: the agent waits at most MT_TX_WINDOW_CHECK_TICKS for an event; when none comes it
 * lets time pass in the core, which sends every window that has ended (SPEC R5).
 *
 * The core is not thread safe and belongs to the agent thread: a configuration update or a
 * stop is only requested by the caller and carried out by the agent, in queue order.
 */
#ifndef MICROTALLY_THREADX_H
#define MICROTALLY_THREADX_H

#include <stdint.h>

#include "tx_api.h"

#include "microtally_threadx_config_defaults.h"
#include "mt_agent.h"
#include "mt_packet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One queued event (ports/common/mt_agent.h): a connection and the tick it was posted at (the
 * agent stamps it with that time, not with the time it gets round to it). Exposed only to size
 * the queue. */
typedef mt_agent_event_t MT_TX_EVENT;

/* One queued event, in ULONGs (a ThreadX queue message is 1 to 16 ULONGs). */
#define MT_TX_EVENT_ULONGS ((UINT)((sizeof(MT_TX_EVENT) + sizeof(ULONG) - 1) / sizeof(ULONG)))
#define MT_TX_EVENT_BYTES (MT_TX_EVENT_ULONGS * sizeof(ULONG))

/* Agent thread stack: wasm3's interpreter on the rtos blob needs about 2.1 KB on a Cortex-M3
 * (measured by test/target on QEMU, see README); the rest is margin for the ThreadX frame,
 * `send` and other compilers. */
#ifndef MT_TX_MIN_STACK_BYTES
#define MT_TX_MIN_STACK_BYTES 6144u
#endif

/* Return codes of mt_tx_start beyond ThreadX's own (which it passes through): the agent's. */
#define MT_TX_ALREADY_STARTED MT_AGENT_ALREADY_STARTED /* 0x100 */
#define MT_TX_BAD_CONFIG MT_AGENT_BAD_CONFIG           /* 0x101 */
#define MT_TX_ENGINE_ERROR \
  MT_AGENT_ENGINE_ERROR /* 0x102: wasm3 could not load or initialise the core */
#define MT_TX_REJECTED \
  MT_AGENT_REJECTED /* 0x103: the core rejected the agent id or the configuration */
#define MT_TX_PENDING \
  MT_AGENT_PENDING /* 0x104: an update (or the stop) is requested, not yet carried out */
#define MT_TX_TOO_LONG MT_AGENT_TOO_LONG /* 0x105: an update longer than MT_TX_CONFIG_BYTES */
#define MT_TX_STOPPED MT_AGENT_STOPPED   /* 0x106: the agent is stopping or has stopped */

/* Values of `last` in MT_TX_CONFIG.send. */
#define MT_TX_CHUNK_MORE MT_MESSAGE_MORE /* 0: more chunks of this message follow */
#define MT_TX_CHUNK_LAST MT_MESSAGE_LAST /* 1: this chunk completes the message */
#define MT_TX_CHUNK_ABORT \
  MT_MESSAGE_ABORT /* 2: no bytes: the core faulted mid-message; discard the
                                              chunks received since the last MT_TX_CHUNK_LAST (counted in faults) */

typedef struct MT_TX_CONFIG_STRUCT {
  /* The agent thread: stack (>= MT_TX_MIN_STACK_BYTES) and ThreadX priority. TX_NULL stack:
   * no thread is created; the application calls mt_tx_agent_step itself. */
  VOID *stack;
  ULONG stack_size;
  UINT priority;
  /* Event queue storage: queue_size bytes, room for queue_size / MT_TX_EVENT_BYTES events. */
  VOID *queue_storage;
  ULONG queue_size;
  /* Wall-clock time (ms since the Unix epoch) at the moment mt_tx_start is called; the agent
   * adds the ThreadX ticks elapsed since. Ignored when clock_ms is set. */
  uint64_t epoch_ms_at_start;
  /* Optional: the current wall-clock time in ms (e.g. from SNTP). Must never go backwards. */
  uint64_t (*clock_ms)(VOID);
  /* Receives every message, from the agent thread, a chunk at a time (zero-copy: `bytes` is
   * valid only during the call): `last` is MT_TX_CHUNK_LAST on a message's final chunk,
   * MT_TX_CHUNK_MORE before it, MT_TX_CHUNK_ABORT (length 0) if the message was cut short.
   * A message is one JSON object (SPEC R8), without a newline, or one CBOR data item
   * (message_format). May be called from mt_tx_start as well (a configuration sends what is
   * pending first). */
  VOID (*send)(VOID *context, const UCHAR *bytes, ULONG length, UINT last);
  VOID *send_context;
  /* Optional, NUL-terminated: agent id (UUID text) and a JSON configuration update (SPEC R6)
   * applied at start. The configuration must stay valid while the agent runs: it is applied
   * again (followed by every update accepted since, see mt_tx_configure) if the core ever has
   * to be re-initialised after a fault. */
  const CHAR *agent_id;
  const CHAR *configuration;
  /* MT_FORMAT_JSON (0, the default) or MT_FORMAT_CBOR (docs/CBOR.md): the encoding the core
   * starts with; a configuration's messageFormat still changes it. */
  UINT message_format;
} MT_TX_CONFIG;

/* The agent's counters (ports/common/mt_agent.h: posted, dropped, ingested, rejected, messages,
 * faults, updates_applied, updates_rejected, updates_forgotten, lines_accepted, lines_rejected,
 * losses_reported, losses_unreported, updates_unreported, trial_checkpoints, trial_refed; each a
 * uint32_t; the last three are core updates': microtally_threadx_update.h). losses_* count mt_tx_report_loss. updates_* count mt_tx_configure, lines_* mt_tx_post_line; dropped counts
 * events refused (queue full: a post never blocks; agent not started or stopped) and those that
 * raced mt_tx_stop; updates_forgotten, accepted updates dropped from the journal re-applied
 * after a fault (MT_TX_CONFIG_JOURNAL_BYTES too small): a fault would then lose their keys. */
typedef mt_agent_stats_t MT_TX_STATS;

/*
 * Starts the agent: loads the core, applies agent_id and configuration, creates the queue and
 * the agent thread (auto-started, named "microtally agent", no time slice). Call once, from
 * tx_application_define() or a thread. Returns
 *   TX_SUCCESS
 *   MT_TX_ALREADY_STARTED  a previous call succeeded
 *   MT_TX_BAD_CONFIG       config, send or queue_storage NULL; queue_size < MT_TX_EVENT_BYTES;
 *                          a stack smaller than MT_TX_MIN_STACK_BYTES
 *   MT_TX_ENGINE_ERROR     wasm3 could not load the core (MT_WASM3_HEAP_BYTES too small?)
 *   MT_TX_REJECTED         the core refused agent_id or configuration (the core's reason:
 *                          mt_tx_configure_result)
 *   a ThreadX error from tx_queue_create / tx_thread_create (e.g. TX_PRIORITY_ERROR)
 * After a failure nothing runs and mt_tx_start may be called again. Once per program run:
 * after a success (even after mt_tx_stop) it returns MT_TX_ALREADY_STARTED.
 */
UINT mt_tx_start(const MT_TX_CONFIG *config);

/*
 * Queues one connection event for the agent, time-stamped now. Never blocks (TX_NO_WAIT):
 * callable from ISRs, timers, NetX Duo callbacks and the IP thread. Returns TX_SUCCESS;
 * TX_QUEUE_FULL when the queue is full, TX_QUEUE_ERROR before mt_tx_start succeeded, or
 * MT_TX_STOPPED once mt_tx_stop was called (the event is dropped and counted in
 * MT_TX_STATS.dropped in each case); TX_PTR_ERROR for NULL.
 */
UINT mt_tx_post_connection(const mt_packet_conn *connection);

/* Copies the agent's counters. */
VOID mt_tx_stats_get(MT_TX_STATS *stats);

/*
 * Messages your transport could not keep (an outbox full, a message too long for it): the
 * agent gives the count to the core before its next input and the next messages that leave
 * carry it, as a CollectorStats record of Collector "transport" with Dropped = the count (SPEC
 * R5: every loss counted in a message; the record comes last, so in the last message when one
 * input makes several). A message that carries a count and is itself dropped later takes the
 * count with it: report when the transport can send again (the Azure IoT adapter does). Never blocks: callable from any thread, ISRs and
 * `send` itself (the agent thread). Returns TX_SUCCESS; TX_QUEUE_ERROR before mt_tx_start;
 * MT_TX_STOPPED once the agent has stopped (no message leaves any more: not counted).
 */
UINT mt_tx_report_loss(ULONG messages);

/*
 * A configuration update (SPEC R6: a JSON object merged over the current configuration), e.g.
 * the microtally section of a device twin's desired properties. Call from a thread (not from
 * an ISR: it copies up to MT_TX_CONFIG_BYTES). It returns at once, without waiting for the
 * agent: the JSON is copied into the agent's own buffer (the caller's may be reused at once)
 * and a marker is queued behind the events already posted, which are thus aggregated under
 * the old configuration. The agent then applies it with mt_configure at the current time:
 * what the core holds is sent first, then the change applies and windows restart. An invalid
 * update is rejected whole and changes nothing. Read the verdict with mt_tx_configure_result.
 * If the queue is full the marker is not queued; the agent's next turn takes the events that
 * were queued, then applies the update.
 * Returns
 *   TX_SUCCESS      the update is queued (verdict: mt_tx_configure_result)
 *   TX_PTR_ERROR    json NULL
 *   MT_TX_TOO_LONG  length 0 or > MT_TX_CONFIG_BYTES; nothing queued
 *   MT_TX_PENDING   an earlier update is not applied yet: this one is refused (never merged
 *                   or overwritten); try again once mt_tx_configure_result is not MT_TX_PENDING
 *   TX_QUEUE_ERROR  not started;  MT_TX_STOPPED  mt_tx_stop was called
 * Updates the core accepted are kept (MT_TX_CONFIG_JOURNAL_BYTES) and applied again, after
 * MT_TX_CONFIG.configuration, if the core has to be re-initialised after a fault.
 */
UINT mt_tx_configure(const CHAR *json, ULONG length);

/*
 * The verdict on the latest update mt_tx_configure queued. Callable from any thread. reason
 * (optional, reason_size bytes) receives the core's reason, NUL-terminated and cut to fit
 * (e.g. naming the key of a rejected update); "" otherwise. Returns
 *   TX_SUCCESS          the update was applied (or none was ever queued)
 *   MT_TX_PENDING       not applied yet
 *   MT_TX_REJECTED      the core refused it (malformed JSON, unknown key, wrong type, value
 *                       out of range): nothing changed; reason names the key
 *   MT_TX_ENGINE_ERROR  the core faulted while applying it: it was not applied (the core was
 *                       re-initialised with the configuration accepted before)
 *   MT_TX_STOPPED       the agent stopped before it could apply it (a stop that raced the
 *                       call): it was not applied
 */
UINT mt_tx_configure_result(CHAR *reason, ULONG reason_size);

/*
 * One event in the trace format of SPEC R10 (a JSON object with `kind` and `t`, no newline):
 * the way to hand the agent what has no typed call here and carries strings, e.g. a baseline
 * check's result or the system information your platform gathered, or a connection with a host
 * name. The line's own `t` is its time. Like mt_tx_configure (and sharing its buffer: one update
 * or line at a time), from a thread, not an ISR: the line is copied (up to MT_TX_CONFIG_BYTES;
 * a longer one is only measured, its bytes unread, and the core counts it as skipped with its
 * length as the reason: remove a trailing '\r' before, as a line of exactly the core's input
 * area plus '\r' is a valid line; mt_replay does), a marker is queued behind the events already posted, and the verdict is read with
 * mt_tx_configure_result: TX_SUCCESS (taken; a blank line is ignored but counted),
 * MT_TX_REJECTED with the core's reason (malformed, or earlier than the previous input),
 * MT_TX_ENGINE_ERROR, MT_TX_PENDING, MT_TX_STOPPED, or MT_TX_TOO_LONG when MT_TX_CONFIG_BYTES is
 * set below the core's input area and the line falls between the two. A `config` line is
 * applied like an update but not kept for re-application after a fault: send configuration
 * with mt_tx_configure. Stamp lines with the agent's clock (clock_ms, or epoch_ms_at_start plus
 * the ticks since mt_tx_start): the core refuses any input earlier than the one before, so after
 * a line stamped ahead of that clock, events posted with the clock are refused (counted in
 * MT_TX_STATS.rejected) until the clock catches up.
 * Returns TX_SUCCESS, TX_PTR_ERROR (line NULL with a length), MT_TX_PENDING (an update or line
 * is still pending), TX_QUEUE_ERROR (not started), MT_TX_STOPPED.
 */
UINT mt_tx_post_line(const CHAR *line, ULONG length);

/*
 * The core's run summary (one JSON object: lines, accepted, skipped, collector counters, as
 * `microtally replay --stats` prints it), copied into json (size bytes, not NUL-terminated),
 * once the agent has stopped (the core is then no longer in use). Returns TX_SUCCESS with
 * *length set; MT_TX_PENDING (not stopped yet); TX_QUEUE_ERROR (never started); MT_TX_TOO_LONG
 * (size too small); TX_PTR_ERROR; MT_TX_ENGINE_ERROR.
 */
UINT mt_tx_summary_get(CHAR *json, ULONG size, ULONG *length);

/*
 * Stops the agent, e.g. before the device reboots: from now on posts and updates are refused
 * (posts counted in MT_TX_STATS.dropped). The agent then takes every event still queued (and
 * an update queued before the stop), lets time pass to now, calls mt_finish, hands every
 * message to `send`, and never takes input again. Call from a thread, not from an ISR.
 * With an agent thread (a `stack` in MT_TX_CONFIG) and a caller other than that thread, it
 * waits up to wait_ticks for the agent to finish; the agent's entry function then returns and
 * mt_tx_stop terminates and deletes the thread (tx_thread_terminate, tx_thread_delete): its
 * stack and the queue storage are the application's again once this returns TX_SUCCESS.
 * With `stack` TX_NULL, or when called from the agent thread itself (e.g. from `send`), it
 * does not wait: the next mt_tx_agent_step does the work and returns MT_TX_STOPPED.
 * Returns
 *   TX_SUCCESS      everything was sent; the agent is stopped (again TX_SUCCESS if repeated)
 *   MT_TX_PENDING   requested, not finished within wait_ticks: call again to wait more
 *   TX_QUEUE_ERROR  not started
 */
UINT mt_tx_stop(ULONG wait_ticks);

/*
 * One turn of the agent thread's loop: waits up to wait_ticks for an event and gives it to the
 * core, or, when none came, lets time pass; then sends what the core has ready. Applies a
 * pending configuration update in its turn, and carries out a requested stop. Returns
 * TX_SUCCESS (an event or update was handled), TX_QUEUE_EMPTY (time passed), MT_TX_STOPPED
 * (the agent has stopped: this turn or earlier) or TX_QUEUE_ERROR (not started). The agent
 * thread calls it with MT_TX_WINDOW_CHECK_TICKS until MT_TX_STOPPED. With `stack` set to
 * TX_NULL, mt_tx_start creates no thread and the application calls this from one thread of
 * its own instead (never from two at once), until it returns MT_TX_STOPPED; tests call it
 * directly. wait_ticks must be finite (not TX_WAIT_FOREVER): without events, time passes in
 * the core only when a wait times out.
 */
UINT mt_tx_agent_step(ULONG wait_ticks);

#ifdef __cplusplus
}
#endif

#endif
