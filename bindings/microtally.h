/*
 * microtally.h — C API of the microtally aggregation core (the WebAssembly blob of
 * docs/ABI.md) running under the wasm3 interpreter.
 *
 * Memory: the caller owns every object this API uses: one mt_core_t per core (a static
 * variable is fine) and, for mt_next_message(), the message buffer. The only storage the
 * library does not receive from the caller is wasm3's fixed heap (one static array of
 * MT_WASM3_HEAP_BYTES, built with d_m3FixedHeap), which holds the blob's linear memory,
 * the interpreter stack and the compiled code. Nothing calls malloc() after start.
 *
 * Threads: a core is not thread safe; call it from one thread (or serialise the calls).
 * Nothing here knows an RTOS: ports/ add queues, timers and sinks around it.
 *
 * Call sequence:
 *
 *     static mt_core_t core;
 *     mt_config_t cfg = { microtally_rtos_wasm, microtally_rtos_wasm_len,
 *                         microtally_rtos_memory_end };
 *     mt_init(&core, &cfg);                       // once per core per program run
 *     mt_set_agent_id(&core, id, 36);             // optional, before the first input
 *     mt_set_format(&core, MT_FORMAT_CBOR);       // optional (default JSON), before the first input
 *     rc = mt_ingest_connection(&core, &conn);    // or _line/_process/_baseline/_sysinfo/
 *                                                 //    mt_configure/mt_tick/mt_finish
 *     while (mt_next_message(&core, buf, sizeof buf, &n) == MT_OK) send(buf, n);
 *
 * Draining: when an input reaches a window's end (or is a configuration change, or
 * mt_finish), the core first has messages to send; the input takes effect once they have
 * all been taken. Until then every input call (ingest, configure, tick, finish, agent id)
 * and mt_stats return MT_BUSY and change nothing; the bindings do not even touch the core's
 * input area, which the pending input may still occupy. MT_BUSY means exactly "messages are
 * pending": after an input call returns MT_OK the bindings look at once. Take
 * them either whole (mt_next_message, copied into a caller buffer of at least the configured
 * maxMessageBytes) or as zero-copy chunks (mt_next_chunk, for streaming into a packet
 * chain). Both end with MT_NO_MESSAGE, at which point the pending input has been applied.
 * Messages carry no trailing newline.
 *
 * Traps: if the blob traps (a bug in the core, or an engine fault), the call returns
 * MT_ERR_TRAP, the trap is counted, and the core is re-initialised in place (the blob's
 * mt_init, then the agent id given to mt_set_agent_id). What was aggregated but not yet sent
 * is lost and counted (mt_get_counters). A configuration applied with mt_configure is NOT
 * re-applied: after MT_ERR_TRAP the core runs with the profile defaults until the caller
 * configures it again. If even re-initialisation traps, the core answers MT_ERR_ENGINE from
 * then on.
 */
#ifndef MICROTALLY_H
#define MICROTALLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "microtally_config_defaults.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Return codes. Values 0..3 are the blob's own codes (docs/ABI.md); errors are negative. */
typedef enum mt_status {
  MT_OK = 0,         /**< accepted; messages may now be pending */
  MT_SKIPPED = 1,    /**< input rejected; nothing changed; reason from mt_last_error() */
  MT_BLANK = 2,      /**< blank trace line (mt_ingest_line only): ignored */
  MT_BUSY = 3,       /**< messages are pending: drain first; nothing changed */
  MT_NO_MESSAGE = 4, /**< drain calls: nothing (more) pending; the pending input is applied */

  MT_ERR_PARAM = -1,  /**< NULL pointer or invalid argument; nothing changed */
  MT_ERR_STATE = -2,  /**< core not initialised (or mt_init on a core already initialised) */
  MT_ERR_ENGINE = -3, /**< wasm3 could not load the blob (heap too small, not a blob of ABI 1,
                           missing export), or the core could not be recovered after a trap */
  MT_ERR_TRAP = -4,   /**< the blob trapped; the core was re-initialised; losses counted */
  MT_ERR_BUFFER = -5  /**< mt_next_message: the message was larger than the caller's buffer;
                           it was discarded (counted) and the next call continues draining */
} mt_status_t;

/* Enumerations of the typed records (docs/ABI.md). */
enum { MT_PROTO_TCP = 0, MT_PROTO_UDP = 1, MT_PROTO_ICMP = 2 };
enum { MT_DIR_IN = 0, MT_DIR_OUT = 1 };
enum { MT_FAMILY_IPV4 = 4, MT_FAMILY_IPV6 = 6 };
enum { MT_PROCESS_FORK = 0, MT_PROCESS_EXEC = 1 };
enum { MT_RESULT_PASS = 0, MT_RESULT_FAIL = 1, MT_RESULT_ERROR = 2 };
enum {
  MT_SEVERITY_CRITICAL = 0,
  MT_SEVERITY_IMPORTANT = 1,
  MT_SEVERITY_WARNING = 2,
  MT_SEVERITY_INFORMATIONAL = 3
};

/*
 * Typed records. Times are milliseconds since the Unix epoch. Strings are UTF-8 given as
 * pointer + length (no terminator needed); a NULL pointer is allowed when the length is 0.
 * The strings need to live only for the duration of the call.
 */
typedef struct mt_connection {
  int64_t t_ms;
  uint64_t bytes_in;  /**< <= 2^53 - 1 */
  uint64_t bytes_out; /**< <= 2^53 - 1 */
  uint8_t local[16];  /**< IPv4: first 4 bytes, network order */
  uint8_t remote[16];
  uint16_t local_port;
  uint16_t remote_port;
  uint8_t protocol;      /**< MT_PROTO_* */
  uint8_t direction;     /**< MT_DIR_* */
  uint8_t family;        /**< of the local address: MT_FAMILY_IPV4 or MT_FAMILY_IPV6 */
  uint8_t remote_family; /**< of the remote address; 0: the same as the local one */
  const char *app;       /**< application protocol, e.g. "dns"; optional */
  size_t app_len;
  const char *host; /**< host name; optional */
  size_t host_len;
} mt_connection_t;

typedef struct mt_process {
  int64_t t_ms;
  uint32_t pid;
  uint32_t ppid;
  uint32_t uid;
  uint8_t type; /**< MT_PROCESS_* */
  const char *cmd;
  size_t cmd_len;
  const char *exe; /**< optional */
  size_t exe_len;
  const char *user; /**< optional */
  size_t user_len;
} mt_process_t;

typedef struct mt_baseline {
  int64_t t_ms;
  uint8_t result;   /**< MT_RESULT_* */
  uint8_t severity; /**< MT_SEVERITY_* */
  const char *id;
  size_t id_len;
  const char *group;
  size_t group_len;
  const char *error; /**< optional */
  size_t error_len;
  const char *description;
  size_t description_len;
  const char *remediation;
  size_t remediation_len;
} mt_baseline_t;

typedef struct mt_sysinfo {
  int64_t t_ms;
  uint64_t mem_total; /**< bytes, <= 2^53 - 1 */
  const char *os;
  size_t os_len;
  const char *os_version;
  size_t os_version_len;
  const char *kernel;
  size_t kernel_len;
  const char *hw;
  size_t hw_len;
} mt_sysinfo_t;

/** Start-up configuration. */
typedef struct mt_config {
  /** The blob (e.g. microtally_rtos_wasm from microtally_blobs.h). It must stay valid and
     *  unchanged for the life of the core: wasm3 reads it in place, so it can sit in flash. */
  const uint8_t *blob;
  size_t blob_size;
  /** Bytes of linear memory to reserve in wasm3's heap; 0: the module's full memory.
     *  Pass the generated microtally_<profile>_memory_end (the blob's mt_memory_end(): nothing
     *  above it is ever touched) to save RAM. mt_init fails with MT_ERR_ENGINE if the blob
     *  reports needing more than this. */
  uint32_t memory_limit;
} mt_config_t;

/** Loss and fault counters, kept by the bindings across re-initialisations, and cumulative
 *  across mt_unload and the next mt_init of the same core (a core update's swap keeps the old
 *  core's losses); a core never loaded starts from zero. */
typedef struct mt_counters {
  uint32_t traps;              /**< blob calls that trapped */
  uint32_t lost_inputs;        /**< inputs accepted since the last completed message and lost
                                    to a trap (an upper bound: some may already have been
                                    sent), including the input whose call trapped */
  uint32_t lost_messages;      /**< messages partly taken when a trap struck */
  uint32_t discarded_messages; /**< messages dropped by mt_next_message as MT_ERR_BUFFER */
} mt_counters_t;

/** Number of blob exports the bindings call (private). */
#define MT_PRIV_FUNCTION_COUNT 30

/**
 * One core. Allocate it yourself (static storage is fine); its members are private and may
 * change between versions: use the functions below.
 */
typedef struct mt_core {
  uint32_t priv_magic;
  uint32_t priv_flags;
  void *priv_env;
  void *priv_runtime;
  void *priv_fn[MT_PRIV_FUNCTION_COUNT];
  uint32_t priv_input_ptr;
  uint32_t priv_input_capacity;
  uint32_t priv_output_ptr;
  uint32_t priv_output_capacity;
  uint32_t priv_error_ptr;
  uint32_t priv_prefetched;
  uintptr_t priv_heap_start;
  uint32_t priv_inputs_at_risk;
  uint32_t priv_host_error_len;
  char priv_host_error[64];
  uint8_t priv_agent_id_len;
  char priv_agent_id[36];
  uint8_t priv_format;
  mt_counters_t priv_counters;
} mt_core_t;

/**
 * Loads the blob into wasm3 and resets the core to its profile's defaults.
 * Call once per core and program run: wasm3's fixed heap is a bump allocator, so the memory
 * of a core is never given back (mt_reset() restarts a core without reloading).
 *
 * @return MT_OK; MT_ERR_PARAM (core or config or blob NULL, blob_size 0 or > 4 GiB);
 *         MT_ERR_STATE (this core is already initialised); MT_ERR_ENGINE (wasm3 rejected the
 *         blob, the heap is too small, an export is missing, or the ABI version is not 3).
 */
mt_status_t mt_init(mt_core_t *core, const mt_config_t *config);

/**
 * Returns an initialised core to the profile's defaults (everything pending or aggregated is
 * dropped; the agent id is kept). No allocation.
 * @return MT_OK; MT_ERR_PARAM; MT_ERR_STATE; MT_ERR_TRAP / MT_ERR_ENGINE (see header comment).
 */
mt_status_t mt_reset(mt_core_t *core);

/**
 * Sets the agent id (UUID text, 8-4-4-4-12 hex digits, 36 bytes) used in messages and event
 * ids. Only before the first input; it survives mt_reset() and trap recovery.
 * @return MT_OK; MT_SKIPPED (malformed id, or input already seen; see mt_last_error);
 *         MT_BUSY; MT_ERR_PARAM (NULL id); MT_ERR_STATE; MT_ERR_TRAP; MT_ERR_ENGINE.
 */
mt_status_t mt_set_agent_id(mt_core_t *core, const char *id, size_t len);

/**
 * One trace line (SPEC R10), without its newline; a trailing '\r' is ignored (so a line of
 * mt_input_capacity() bytes plus '\r' is accepted). A longer line is counted as skipped by the
 * core (MT_SKIPPED, with its length as the reason) without reading it (one byte too long: only
 * its last byte is read, to see whether it is that '\r').
 * @return MT_OK; MT_SKIPPED; MT_BLANK; MT_BUSY; MT_ERR_PARAM (line NULL with len > 0);
 *         MT_ERR_STATE; MT_ERR_TRAP; MT_ERR_ENGINE.
 */
mt_status_t mt_ingest_line(mt_core_t *core, const char *line, size_t len);

/** Message formats (SPEC R8, configuration key messageFormat). */
typedef enum mt_format {
  MT_FORMAT_JSON = 0, /**< one JSON object per message */
  MT_FORMAT_CBOR = 1  /**< one CBOR data item per message (RFC 8949; layout in docs/CBOR.md) */
} mt_format_t;

/**
 * Sets the format the core starts with: the default of the configuration key messageFormat
 * (a configuration update may still change it). Only before the first input; it survives
 * mt_reset() and trap recovery. A JSON message's chunks are UTF-8 text; a CBOR message's are
 * binary (do not treat them as strings).
 * @return MT_OK; MT_SKIPPED (input already seen; see mt_last_error); MT_BUSY;
 *         MT_ERR_PARAM (unknown format); MT_ERR_STATE; MT_ERR_TRAP; MT_ERR_ENGINE.
 */
mt_status_t mt_set_format(mt_core_t *core, mt_format_t format);

/**
 * Typed events (layouts in docs/ABI.md). A record whose strings do not fit the input area
 * (or a string longer than 65535 bytes) is MT_SKIPPED with a reason and not counted by the
 * core; otherwise the core checks it like a trace line.
 * @return MT_OK; MT_SKIPPED; MT_BUSY; MT_ERR_PARAM (NULL record, or NULL string with a
 *         non-zero length); MT_ERR_STATE; MT_ERR_TRAP; MT_ERR_ENGINE.
 */
mt_status_t mt_ingest_connection(mt_core_t *core, const mt_connection_t *event);
mt_status_t mt_ingest_process(mt_core_t *core, const mt_process_t *event);
mt_status_t mt_ingest_baseline(mt_core_t *core, const mt_baseline_t *event);
mt_status_t mt_ingest_sysinfo(mt_core_t *core, const mt_sysinfo_t *event);

/**
 * Many connection records at once, already in the typed layout of docs/ABI.md (68-byte header,
 * then app and host), laid back to back: e.g. what an event queue collected. As many whole
 * records as fit the input area go to the core in one call (mt_ingest_batch); it stops early
 * after a record that made messages pending. Drain, then call again with the rest
 * (records + *consumed) until everything is consumed.
 * A record larger than the input area is consumed and counted in *skipped (reason from
 * mt_last_error), as mt_ingest_connection would reject it.
 * @param consumed bytes of whole records used (> 0 on MT_OK)
 * @param skipped  records rejected in this call (reason of the last from mt_last_error)
 * @return MT_OK; MT_BUSY; MT_ERR_PARAM (NULL pointer, len 0, or len not holding one whole
 *         record); MT_ERR_STATE; MT_ERR_TRAP; MT_ERR_ENGINE (also: the blob lacks the batch
 *         export).
 */
mt_status_t mt_ingest_connection_records(mt_core_t *core, const uint8_t *records, size_t len,
                                         size_t *consumed, size_t *skipped);

/**
 * A configuration update (SPEC R6, a JSON object merged over the current configuration)
 * applied at time t_ms. Pending data is sent first (drain), then the change applies.
 * @return MT_OK; MT_SKIPPED (invalid update, rejected whole; reason names the key; also when
 *         the JSON is larger than the input area); MT_BUSY; MT_ERR_PARAM; MT_ERR_STATE;
 *         MT_ERR_TRAP; MT_ERR_ENGINE.
 */
mt_status_t mt_configure(mt_core_t *core, int64_t t_ms, const char *json, size_t len);

/**
 * Time passes to t_ms: windows that ended are sent.
 * @return MT_OK; MT_SKIPPED (time earlier than the last input); MT_BUSY; MT_ERR_STATE;
 *         MT_ERR_TRAP; MT_ERR_ENGINE.
 */
mt_status_t mt_tick(mt_core_t *core, int64_t t_ms);

/**
 * End of input (agent stops): everything pending is sent, time-stamped with the last input's
 * time. Drain afterwards.
 * @return MT_OK; MT_BUSY; MT_ERR_STATE; MT_ERR_TRAP; MT_ERR_ENGINE.
 */
mt_status_t mt_finish(mt_core_t *core);

/**
 * Takes the next chunk of pending output, zero-copy: *data points into the core's memory and
 * stays valid until the next call on this core. A chunk ends on a record boundary;
 * *ends_message is true when it completes a message (concatenate chunks up to there).
 * @return MT_OK (a chunk, *len > 0); MT_NO_MESSAGE (nothing pending; the pending input has
 *         been applied; *data NULL, *len 0); MT_ERR_PARAM; MT_ERR_STATE; MT_ERR_TRAP;
 *         MT_ERR_ENGINE.
 */
mt_status_t mt_next_chunk(mt_core_t *core, const uint8_t **data, size_t *len, bool *ends_message);

/**
 * Takes the next whole message into buf (no newline, not NUL-terminated).
 * A buffer of the configured maxMessageBytes always suffices.
 * @return MT_OK (*len bytes in buf); MT_NO_MESSAGE (nothing pending, *len 0; the pending input
 *         has been applied); MT_ERR_BUFFER (the message did not fit: it was discarded and
 *         counted, *len is how many bytes it had; call again for the next one);
 *         MT_ERR_PARAM; MT_ERR_STATE; MT_ERR_TRAP; MT_ERR_ENGINE.
 *         Do not mix with mt_next_chunk in the middle of a message.
 */
mt_status_t mt_next_message(mt_core_t *core, uint8_t *buf, size_t capacity, size_t *len);

/**
 * The reason the last MT_SKIPPED call rejected its input (UTF-8, not NUL-terminated, no
 * "line N:" prefix). Valid until the next call on this core.
 * @return MT_OK; MT_ERR_PARAM; MT_ERR_STATE.
 */
mt_status_t mt_last_error(mt_core_t *core, const char **text, size_t *len);

/**
 * Writes the core's one-line JSON summary of the run (lines, accepted, skipped, collector
 * counters). *json is valid until the next call on this core.
 * @return MT_OK; MT_BUSY (messages pending: it would overwrite a chunk in the output area);
 *         MT_ERR_PARAM; MT_ERR_STATE; MT_ERR_TRAP; MT_ERR_ENGINE.
 */
mt_status_t mt_stats(mt_core_t *core, const char **json, size_t *len);

/** Who lost what the core did not see (mt_report_loss, mt_report_gap). */
typedef enum mt_loss_source {
  MT_LOSS_PROCESS = 0, /**< process events, before they reached the core (linux profile) */
  MT_LOSS_NETWORK = 1, /**< connection events, before they reached the core (linux profile) */
  MT_LOSS_TRANSPORT =
      3 /**< messages the outbox could not keep (mt_report_loss only; every profile) */
} mt_loss_source_t;

/** mt_report_loss count: a loss happened, its size unknown (linux profile; not for MT_LOSS_TRANSPORT). */
#define MT_LOSS_UNKNOWN (-1)

/**
 * Counts a loss the core could not see, so that a message reports it (SPEC R5, R8): count
 * messages the transport's outbox could not keep (every profile: a device's outbox calls it for
 * every message it drops), or, with the linux profile, count events of source lost on their way
 * to the core (an event queue overflowed; MT_LOSS_UNKNOWN when the source cannot tell how
 * many). The transport's get a CollectorStats record of their own ("Collector": "transport",
 * "Dropped": count, warning "N messages dropped by the outbox") in the next message that leaves;
 * events join the open window's counters of their collector (Received and Dropped) with the
 * warning "N events lost at the source". Not an input: no time passes, nothing is sent now.
 * @return MT_OK; MT_SKIPPED (a source the profile does not count: reason
 *         "field \"Collector\": out of range"; count below 0 (-1 allowed for events) or above
 *         2^53 - 1: "field \"Dropped\": out of range"); MT_BUSY; MT_ERR_STATE; MT_ERR_TRAP;
 *         MT_ERR_ENGINE (also: a blob without the export).
 */
mt_status_t mt_report_loss(mt_core_t *core, mt_loss_source_t source, int64_t count);

/**
 * The event source of MT_LOSS_PROCESS or MT_LOSS_NETWORK was down for ms milliseconds (e.g.
 * its driver restarted; linux profile): the open window's CollectorStats record carries the time
 * in a warning ("event source down 3.2 s: events of that time may be missing"). Not an input,
 * as above. The same export as mt_report_loss.
 * @return MT_OK; MT_SKIPPED (another source or profile: "field \"Collector\": out of range"; ms
 *         outside 0 .. 2^53 - 1: "field \"ms\": out of range"); MT_BUSY; MT_ERR_STATE;
 *         MT_ERR_TRAP; MT_ERR_ENGINE (also: a blob without the export).
 */
mt_status_t mt_report_gap(mt_core_t *core, mt_loss_source_t source, int64_t ms);

/**
 * A core swap, step 1 (docs/ABI.md, "Swapping cores"): once everything was sent (mt_finish and a
 * drain to MT_NO_MESSAGE), copies the run's carry-over record (event number, time, window
 * starts, totals; at most MT_STATE_RECORD_MAX bytes) into buf. The new core continues it with
 * mt_state_restore after its agent id, format and configuration.
 * @param len set to the record's length
 * @return MT_OK; MT_SKIPPED (something still waits to be sent: a window's records or counters,
 *         a diagnostic; reason from mt_last_error); MT_BUSY; MT_ERR_BUFFER (cap too small);
 *         MT_ERR_PARAM; MT_ERR_STATE; MT_ERR_TRAP; MT_ERR_ENGINE (also: a blob before ABI 5).
 */
mt_status_t mt_state_save(mt_core_t *core, uint8_t *buf, size_t cap, size_t *len);

/** The largest carry-over record (ABI 5 writes 280 bytes). */
#define MT_STATE_RECORD_MAX 512u

/**
 * A core swap, step 2: the new core continues the run of a record mt_state_save gave (call it
 * after mt_set_agent_id, mt_set_format and the configuration, before any other input).
 * @return MT_OK; MT_SKIPPED (malformed, another version, profile or agent id; reason from
 *         mt_last_error); MT_BUSY; MT_ERR_PARAM; MT_ERR_STATE; MT_ERR_TRAP; MT_ERR_ENGINE.
 */
mt_status_t mt_state_restore(mt_core_t *core, const uint8_t *record, size_t len);

/**
 * One core-update attempt as an AgentUpdate record in the next message that leaves: json is
 * one object {"FromVersion","ToVersion","FromSequence","ToSequence","Result":
 * "applied"|"rejected"|"rolledBack","Reason" (absent when applied)}. Not an input. One record
 * waits at a time.
 * @return MT_OK; MT_SKIPPED (a bad field, or a record already waiting; reason from
 *         mt_last_error); MT_BUSY; MT_ERR_PARAM; MT_ERR_STATE; MT_ERR_TRAP; MT_ERR_ENGINE.
 */
mt_status_t mt_report_update(mt_core_t *core, const char *json, size_t len);

/**
 * A Heartbeat at t_ms (linux profile; the rtos one refuses it): json is one object
 * {"UptimeSeconds","EventsSeen","OutboxMessages","OutboxBytes"}. An input: the windows it
 * closes are sent, then a message holding it (drain as after mt_tick).
 * @return as mt_tick, MT_SKIPPED also for a bad field or the rtos profile.
 */
mt_status_t mt_heartbeat(mt_core_t *core, int64_t t_ms, const char *json, size_t len);

/** Copies the trap and loss counters. @return MT_OK; MT_ERR_PARAM. */
mt_status_t mt_get_counters(const mt_core_t *core, mt_counters_t *counters);

/** Bytes of the blob's input area (longest line or typed record); 0 if not initialised. */
size_t mt_input_capacity(const mt_core_t *core);

/**
 * The blob's input area itself, for a caller that assembles a trace line, configuration or
 * batch of connection records in place instead of in a buffer of its own (saves that buffer's
 * RAM): pass the same pointer to mt_ingest_line, mt_configure or mt_ingest_connection_records
 * and nothing is copied (a batch further along the area is moved to its start). Write it only
 * while no message is pending (after a drain ended with MT_NO_MESSAGE); the core may rewrite a
 * line it was given, so assemble it again before ingesting it again.
 * @param capacity set to mt_input_capacity(core) (may be NULL)
 * @return the area; NULL if the core is not initialised or unusable.
 */
uint8_t *mt_input_area(mt_core_t *core, size_t *capacity);

/**
 * Bytes of wasm3's fixed heap from where this core's mt_init started to the heap's current top:
 * the core's linear memory, stack, compiled code and tables (plus anything allocated by cores
 * initialised after it). For sizing MT_WASM3_HEAP_BYTES; constant after mt_init (nothing is
 * allocated later). 0 if not initialised or wasm3 was built without d_m3FixedHeap.
 */
size_t mt_heap_used(const mt_core_t *core);

/**
 * Most bytes of the engine's own stack this core has used so far: wasm3's interpreter stack
 * (MT_WASM3_STACK_BYTES, painted at mt_init), for sizing it from a representative run. 0 if
 * not initialised, and with the ahead-of-time engine, whose code runs on the caller's stack.
 */
size_t mt_engine_stack_used(const mt_core_t *core);

/**
 * Unloads a core (initialised, or whose mt_init failed after loading): the engine's RAM is
 * given back, and the core may be given to mt_init again, with another blob. This is how a
 * core update swaps blobs without ever holding both (ports/common/mt_agent.c). wasm3: its fixed
 * heap is rewound to where this core's load began, so the core must be the one loaded last.
 * The trap and loss counters (mt_get_counters) are kept: the next mt_init goes on from them.
 * @return MT_OK; MT_ERR_PARAM (NULL); MT_ERR_STATE (never loaded); MT_ERR_ENGINE (the
 *         ahead-of-time engine: its blob is compiled in, it cannot be replaced).
 */
mt_status_t mt_unload(mt_core_t *core);

/**
 * Whether this build's engine can load another blob after mt_unload (a core update): true with
 * wasm3, false with the ahead-of-time engine (its blob is compiled in). Known before any core
 * is loaded, so a port can refuse an update before a package is transferred.
 */
bool mt_engine_can_swap(void);

/**
 * The most engine RAM (wasm3's fixed heap) in use at once since the program started: across
 * a swap, the larger of the two blobs' loads, never their sum. 0 with the ahead-of-time engine.
 */
size_t mt_heap_peak(void);

/** A constant name for a status ("MT_OK", "MT_ERR_TRAP", …); never NULL. */
const char *mt_status_name(mt_status_t status);

#ifdef __cplusplus
}
#endif

#endif /* MICROTALLY_H */
