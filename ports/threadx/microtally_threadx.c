/* The agent: one ThreadX queue feeding one core (bindings/microtally.h) on one thread; see
 * microtally_threadx.h. */
#include "microtally_threadx.h"

#include <string.h>

#include "microtally.h"
#include "microtally_blobs.h"

/* A ThreadX queue message is 1 to 16 ULONGs. */
typedef char mt_tx_event_fits_a_queue_message[(MT_TX_EVENT_ULONGS >= 1u && MT_TX_EVENT_ULONGS <= 16u) ? 1 : -1];

/* Longest agent id / configuration text looked at (the core rejects longer ones anyway). */
#define MT_TX_MAX_TEXT 65535u

/* A journal entry's length prefix is 2 bytes: longer updates are refused (MT_TX_TOO_LONG); the
 * buffer itself may hold a 64 KiB line (the linux core's input area). */
#define MT_TX_UPDATE_MAX (MT_TX_CONFIG_BYTES < 65535 ? MT_TX_CONFIG_BYTES : 65535)
typedef char mt_tx_update_buffer_size[(MT_TX_CONFIG_BYTES <= 65536 && MT_TX_CONFIG_BYTES > 0) ? 1 : -1];

typedef enum { INPUT_CONNECTION, INPUT_TICK, INPUT_CONFIGURE, INPUT_LINE, INPUT_FINISH } mt_tx_input;

/* What a queue message carries (MT_TX_EVENT.kind). */
enum { KIND_CONNECTION = 0, KIND_WAKE = 1 };

/* The agent's life, as posters (ISRs included) and callers of mt_tx_stop see it. */
enum { AGENT_IDLE = 0, AGENT_RUNNING, AGENT_STOPPING, AGENT_STOPPED };

/* A configuration update's way through the agent: claimed by one caller, filled, then taken
 * and applied by the agent. Every transition is a compare-and-set (see transition()). */
enum { UPDATE_FREE = 0, UPDATE_FILLING, UPDATE_PENDING, UPDATE_APPLYING };

typedef struct {
  const char *text;
  size_t length;
} mt_tx_text;

static struct {
  mt_core_t core;
  TX_QUEUE queue;
  TX_THREAD thread;
  TX_SEMAPHORE stopped; /* put once by the agent when the stop is done */
  MT_TX_CONFIG config;
  volatile UINT state;   /* AGENT_*; read by posters in ISRs: RUNNING means the queue exists */
  UINT reaped;           /* mt_tx_stop deleted the thread, queue and semaphore */
  UINT loaded;           /* mt_init done: it may run only once per program */
  UINT in_message;       /* chunks of a message were sent, its last one not yet */
  ULONG clock_ticks;     /* tx_time_get() at the last clock reading */
  uint64_t elapsed_ticks; /* since mt_tx_start, summed reading by reading (survives wrap) */
  int64_t last_input_ms; /* time of the latest input the core accepted */
} agent;

static struct {
  volatile UINT state;   /* UPDATE_* */
  volatile UINT unqueued; /* its wake marker found the queue full: the agent's next turn takes it */
  UINT is_line;          /* a trace line (mt_tx_post_line), not a configuration update */
  ULONG length;          /* a line longer than MT_TX_CONFIG_BYTES is only measured */
  /* One byte more: for a measured line it holds a '\0', so the bindings, which look at the last
   * byte of a line one byte over the core's input area (a trailing '\r'?), read a defined byte. */
  CHAR text[MT_TX_CONFIG_BYTES + 1];
  UINT verdict;          /* of the latest update applied: TX_SUCCESS or an MT_TX_* code */
  CHAR reason[MT_TX_REASON_BYTES];
} update;

/* Accepted updates, back to back, each a 2-byte length then the JSON, oldest first. */
static struct {
  ULONG used;
  UCHAR bytes[MT_TX_CONFIG_JOURNAL_BYTES];
} journal;

static MT_TX_STATS stats;

/* posted and dropped are bumped from any context, ISRs included. */
static VOID count_shared(ULONG *counter) {
  UINT posture = tx_interrupt_control(TX_INT_DISABLE);
  (*counter)++;
  (VOID)tx_interrupt_control(posture);
}

/* Sets *state to `to` if it is `from`, atomically for threads and ISRs alike. */
static UINT transition(volatile UINT *state, UINT from, UINT to) {
  UINT posture = tx_interrupt_control(TX_INT_DISABLE);
  UINT done = *state == from;
  if (done) *state = to;
  (VOID)tx_interrupt_control(posture);
  return done;
}

static mt_tx_text text_of(const CHAR *text) {
  mt_tx_text t = {text, 0};
  while (t.length < MT_TX_MAX_TEXT && text[t.length] != '\0') t.length++;
  return t;
}

/* Wall-clock now, in ms. Called at least once per agent step, so the tick difference below
 * never wraps more than once. */
static int64_t now_ms(VOID) {
  ULONG ticks = tx_time_get();
  agent.elapsed_ticks += (ULONG)(ticks - agent.clock_ticks);
  agent.clock_ticks = ticks;
  if (agent.config.clock_ms != TX_NULL) return (int64_t)agent.config.clock_ms();
  return (int64_t)(agent.config.epoch_ms_at_start +
                   agent.elapsed_ticks * 1000u / MT_TX_TICKS_PER_SECOND);
}

/* The core rejects an input earlier than the previous one: a clock that steps back (SNTP) or
 * an event stamped before the last one handled is given the previous time instead. */
static int64_t not_before_last(int64_t t_ms) {
  return t_ms < agent.last_input_ms ? agent.last_input_ms : t_ms;
}

static VOID send_chunk(const uint8_t *bytes, size_t length, UINT last) {
  agent.config.send(agent.config.send_context, (const UCHAR *)bytes, (ULONG)length, last);
}

/* Hands every pending chunk to `send`. Returns MT_OK, or the error that stopped it. */
static mt_status_t drain(VOID) {
  for (;;) {
    const uint8_t *data;
    size_t length;
    bool ends;
    mt_status_t st = mt_next_chunk(&agent.core, &data, &length, &ends);
    if (st == MT_NO_MESSAGE) return MT_OK;
    if (st != MT_OK) return st;
    send_chunk(data, length, ends ? MT_TX_CHUNK_LAST : MT_TX_CHUNK_MORE);
    agent.in_message = !ends;
    if (ends) stats.messages++;
  }
}

static mt_status_t call_core(mt_tx_input kind, int64_t t_ms, const VOID *arg) {
  switch (kind) {
    case INPUT_CONNECTION:
      return mt_ingest_connection(&agent.core, (const mt_connection_t *)arg);
    case INPUT_CONFIGURE: {
      const mt_tx_text *json = (const mt_tx_text *)arg;
      return mt_configure(&agent.core, t_ms, json->text, json->length);
    }
    case INPUT_LINE: {
      const mt_tx_text *line = (const mt_tx_text *)arg;
      return mt_ingest_line(&agent.core, line->text, line->length);
    }
    case INPUT_FINISH:
      return mt_finish(&agent.core);
    default:
      return mt_tick(&agent.core, t_ms);
  }
}

/* Applies one configuration during recovery; a fault here is not recovered again. */
static VOID reapply(const char *text, size_t length) {
  mt_tx_text json = {text, length};
  if (call_core(INPUT_CONFIGURE, agent.last_input_ms, &json) == MT_OK) (VOID)drain();
}

/* After a trap the bindings re-initialised the core with the profile's defaults: what was
 * begun is void, and the application's configuration, then every update accepted since, must
 * be applied again (updates are merged, so all of them, in order). */
static VOID recover(VOID) {
  stats.faults++;
  if (agent.in_message) {
    send_chunk(TX_NULL, 0, MT_TX_CHUNK_ABORT);
    agent.in_message = 0;
  }
  if (agent.config.configuration != TX_NULL) {
    mt_tx_text start = text_of(agent.config.configuration);
    reapply(start.text, start.length);
  }
  for (ULONG at = 0; at + 2 <= journal.used;) {
    ULONG length = (ULONG)journal.bytes[at] | ((ULONG)journal.bytes[at + 1] << 8);
    reapply((const char *)&journal.bytes[at + 2], length);
    at += 2 + length;
  }
}

/* Keeps an accepted update for recover(), forgetting the oldest ones if it does not fit. */
static VOID journal_append(const CHAR *text, ULONG length) {
  ULONG need = 2 + length;
  if (need > sizeof journal.bytes) { /* not even alone (a tunable set too small): not kept */
    stats.updates_forgotten += 1;
    need = 0;
  }
  ULONG drop = 0;
  while (journal.used - drop + need > sizeof journal.bytes) {
    drop += 2 + ((ULONG)journal.bytes[drop] | ((ULONG)journal.bytes[drop + 1] << 8));
    stats.updates_forgotten++;
  }
  memmove(journal.bytes, journal.bytes + drop, journal.used - drop);
  journal.used -= drop;
  if (need == 0) return;
  journal.bytes[journal.used] = (UCHAR)(length & 0xFFu);
  journal.bytes[journal.used + 1] = (UCHAR)(length >> 8);
  memcpy(journal.bytes + journal.used + 2, text, length);
  journal.used += need;
}

/*
 * Gives one input to the core. MT_BUSY (messages pending from an earlier input) is answered by
 * sending them and trying again; after the input, what it made pending is sent at once.
 */
static mt_status_t give(mt_tx_input kind, int64_t t_ms, const VOID *arg) {
  mt_status_t st = call_core(kind, t_ms, arg);
  if (st == MT_BUSY) {
    st = drain();
    if (st == MT_OK) st = call_core(kind, t_ms, arg);
  }
  if (st == MT_OK) {
    agent.last_input_ms = t_ms;
    st = drain();
  }
  if (st == MT_ERR_TRAP) recover();
  return st;
}

static VOID ingest(const MT_TX_EVENT *event, int64_t now) {
  const mt_packet_conn *c = &event->connection;
  /* The event happened when it was posted, however long it waited in the queue. */
  uint64_t waited_ms = (uint64_t)(ULONG)(agent.clock_ticks - event->posted_at) * 1000u /
                       MT_TX_TICKS_PER_SECOND;
  int64_t t_ms = (uint64_t)now > waited_ms ? now - (int64_t)waited_ms : 0;

  mt_connection_t record;
  memset(&record, 0, sizeof record);
  record.t_ms = not_before_last(t_ms);
  memcpy(record.local, c->local, sizeof record.local);
  memcpy(record.remote, c->remote, sizeof record.remote);
  record.local_port = c->local_port;
  record.remote_port = c->remote_port;
  /* mt_packet's protocol, direction and family values are the record's (docs/ABI.md). */
  record.protocol = c->protocol;
  record.direction = c->direction;
  record.family = c->family;
  if (c->direction == MT_PACKET_IN) {
    record.bytes_in = c->bytes;
  } else {
    record.bytes_out = c->bytes;
  }
  if (c->app == MT_PACKET_APP_DNS) {
    record.app = "dns";
    record.app_len = 3;
  }
  if (give(INPUT_CONNECTION, record.t_ms, &record) == MT_OK) {
    stats.ingested++;
  } else {
    stats.rejected++;
  }
}

/* Records a verdict and the core's reason (cut to fit) for mt_tx_configure_result. */
static VOID set_verdict(UINT verdict, const char *why, size_t why_len) {
  if (why_len >= sizeof update.reason) why_len = sizeof update.reason - 1;
  UINT posture = tx_interrupt_control(TX_INT_DISABLE);
  update.verdict = verdict;
  memcpy(update.reason, why, why_len);
  update.reason[why_len] = '\0';
  (VOID)tx_interrupt_control(posture);
}

/* A start refused by the core: its reason, for mt_tx_configure_result. */
static UINT refused_at_start(VOID) {
  const char *why = "";
  size_t why_len = 0;
  (VOID)mt_last_error(&agent.core, &why, &why_len);
  set_verdict(MT_TX_REJECTED, why, why_len);
  return MT_TX_REJECTED;
}

/* Applies the pending update, if there is one, and records the verdict for
 * mt_tx_configure_result. */
static VOID apply_update(VOID) {
  if (!transition(&update.state, UPDATE_PENDING, UPDATE_APPLYING)) return;
  mt_tx_text json = {update.text, update.length};
  const char *why = "";
  size_t why_len = 0;
  UINT verdict = TX_SUCCESS;
  UINT taken = 0;
  size_t capacity = mt_input_capacity(&agent.core);
  /* A line longer than MT_TX_CONFIG_BYTES is not copied; the core still reads one of up to its
   * input area (its bytes), or of one byte more (that byte: a trailing '\r' is dropped). Refused
   * here unless all the core reads is in the buffer (the '\0' past MT_TX_CONFIG_BYTES). */
  if (update.is_line && update.length > MT_TX_CONFIG_BYTES &&
      (update.length <= capacity || (update.length == capacity + 1 && capacity > MT_TX_CONFIG_BYTES))) {
    static const char too_long[] = "line longer than MT_TX_CONFIG_BYTES";
    verdict = MT_TX_TOO_LONG;
    why = too_long;
    why_len = sizeof too_long - 1;
  } else {
    /* A line carries its own time: the agent's clock has no say (and last_input_ms stays). */
    mt_status_t st = update.is_line ? give(INPUT_LINE, agent.last_input_ms, &json)
                                    : give(INPUT_CONFIGURE, not_before_last(now_ms()), &json);
    taken = st == MT_OK || (update.is_line && st == MT_BLANK);
    if (!taken) {
      /* Refused by the core (its reason), or the engine failed (the status's name). */
      if (st == MT_SKIPPED) {
        verdict = MT_TX_REJECTED;
        (VOID)mt_last_error(&agent.core, &why, &why_len);
      } else {
        verdict = MT_TX_ENGINE_ERROR;
        why = mt_status_name(st);
        why_len = strlen(why);
      }
    }
  }
  if (update.is_line) {
    if (taken) stats.lines_accepted++; else stats.lines_rejected++;
  } else if (taken) {
    journal_append(update.text, update.length);
    stats.updates_applied++;
  } else {
    stats.updates_rejected++;
  }
  set_verdict(verdict, why, why_len);
  update.unqueued = 0;
  (VOID)transition(&update.state, UPDATE_APPLYING, UPDATE_FREE);
}

/* After the stop: an update still pending will never be applied; its verdict says so. Both the
 * agent (finish) and mt_tx_configure call it, since either may be last; only one succeeds. */
static UINT cancel_update(VOID) {
  static const char why[] = "the agent stopped before applying it";
  if (!transition(&update.state, UPDATE_PENDING, UPDATE_FREE)) return 0;
  UINT posture = tx_interrupt_control(TX_INT_DISABLE);
  update.verdict = MT_TX_STOPPED;
  size_t n = sizeof why - 1 < sizeof update.reason - 1 ? sizeof why - 1 : sizeof update.reason - 1;
  memcpy(update.reason, why, n);
  update.reason[n] = '\0';
  (VOID)tx_interrupt_control(posture);
  return 1;
}

static VOID handle(const ULONG message[MT_TX_EVENT_ULONGS], int64_t now) {
  MT_TX_EVENT event;
  memcpy(&event, message, sizeof event);
  if (event.kind == KIND_CONNECTION) {
    ingest(&event, now);
  } else {
    apply_update(); /* a wake marker: the update it stands for, if still pending */
  }
}

/* Handles what is in the queue now, without waiting: at most its capacity, so that posters
 * cannot keep the agent here. */
static VOID take_queued(VOID) {
  ULONG message[MT_TX_EVENT_ULONGS];
  for (ULONG n = agent.config.queue_size / MT_TX_EVENT_BYTES; n > 0; n--) {
    if (tx_queue_receive(&agent.queue, message, TX_NO_WAIT) != TX_SUCCESS) return;
    handle(message, now_ms());
  }
}

/* The end: what was queued before the stop, time up to now, then everything the core holds. */
static VOID finish(VOID) {
  take_queued();
  apply_update(); /* one queued before the stop whose marker found the queue full */
  /* A tick to the time of the last input closes nothing: skipped, so the core's run summary
   * counts only real inputs. */
  int64_t end = not_before_last(now_ms());
  if (end > agent.last_input_ms) (VOID)give(INPUT_TICK, end, TX_NULL);
  (VOID)give(INPUT_FINISH, agent.last_input_ms, TX_NULL);
  agent.state = AGENT_STOPPED;
  (VOID)cancel_update(); /* handed over after apply_update above: it comes too late */
  /* A poster that checked the state just before the stop may still have queued an event. */
  ULONG message[MT_TX_EVENT_ULONGS];
  while (tx_queue_receive(&agent.queue, message, TX_NO_WAIT) == TX_SUCCESS) {
    MT_TX_EVENT event;
    memcpy(&event, message, sizeof event);
    if (event.kind == KIND_CONNECTION) count_shared(&stats.dropped);
  }
  (VOID)tx_semaphore_put(&agent.stopped);
}

UINT mt_tx_agent_step(ULONG wait_ticks) {
  if (agent.state == AGENT_STOPPED) return MT_TX_STOPPED;
  if (agent.state == AGENT_IDLE) return TX_QUEUE_ERROR;
  if (agent.state == AGENT_STOPPING) {
    finish();
    return MT_TX_STOPPED;
  }
  if (update.state == UPDATE_PENDING && update.unqueued) { /* no marker will come */
    take_queued();
    apply_update();
    return TX_SUCCESS;
  }
  ULONG message[MT_TX_EVENT_ULONGS];
  UINT status = tx_queue_receive(&agent.queue, message, wait_ticks);
  int64_t now = now_ms();
  if (status == TX_SUCCESS) {
    handle(message, now);
  } else if (status == TX_QUEUE_EMPTY) {
    (VOID)give(INPUT_TICK, not_before_last(now), TX_NULL);
  }
  if (agent.state == AGENT_STOPPING) { /* woken by mt_tx_stop: no need to wait another turn */
    finish();
    return MT_TX_STOPPED;
  }
  return status;
}

/* Returning from its entry function leaves the thread completed; mt_tx_stop deletes it. */
static VOID agent_thread(ULONG input) {
  (VOID)input;
  while (mt_tx_agent_step(MT_TX_WINDOW_CHECK_TICKS) != MT_TX_STOPPED) {
  }
}

/* Queues one message without blocking; a wake marker carries no connection. */
static UINT enqueue(const mt_packet_conn *connection, ULONG kind) {
  MT_TX_EVENT event;
  ULONG message[MT_TX_EVENT_ULONGS];
  memset(&event, 0, sizeof event);
  memset(message, 0, sizeof message);
  if (connection != TX_NULL) event.connection = *connection;
  event.posted_at = tx_time_get();
  event.kind = kind;
  memcpy(message, &event, sizeof event);
  return tx_queue_send(&agent.queue, message, TX_NO_WAIT);
}

UINT mt_tx_post_connection(const mt_packet_conn *connection) {
  if (connection == TX_NULL) return TX_PTR_ERROR;
  UINT state = agent.state;
  if (state != AGENT_RUNNING) {
    count_shared(&stats.dropped);
    return state == AGENT_IDLE ? TX_QUEUE_ERROR : MT_TX_STOPPED;
  }
  UINT status = enqueue(connection, KIND_CONNECTION);
  count_shared(status == TX_SUCCESS ? &stats.posted : &stats.dropped);
  return status;
}

/* Hands an update or a line over to the agent (see mt_tx_configure and mt_tx_post_line). */
static UINT hand_over(const CHAR *text, ULONG length, UINT is_line) {
  if (text == TX_NULL && !(is_line && length == 0)) return TX_PTR_ERROR;
  if (agent.state == AGENT_IDLE) return TX_QUEUE_ERROR;
  if (agent.state != AGENT_RUNNING) return MT_TX_STOPPED;
  if (!is_line && (length == 0 || length > MT_TX_UPDATE_MAX)) return MT_TX_TOO_LONG;
  if (!transition(&update.state, UPDATE_FREE, UPDATE_FILLING)) return MT_TX_PENDING;
  if (length > 0 && length <= MT_TX_CONFIG_BYTES) memcpy(update.text, text, length);
  if (length > MT_TX_CONFIG_BYTES) update.text[MT_TX_CONFIG_BYTES] = '\0';
  update.is_line = is_line;
  update.length = length;
  update.unqueued = 0;
  UINT posture = tx_interrupt_control(TX_INT_DISABLE);
  update.verdict = MT_TX_PENDING;
  update.reason[0] = '\0';
  (VOID)tx_interrupt_control(posture);
  update.state = UPDATE_PENDING;
  /* A stop may have finished since the check above: then nobody will apply it. */
  if (agent.state == AGENT_STOPPED && cancel_update()) return MT_TX_STOPPED;
  if (enqueue(TX_NULL, KIND_WAKE) != TX_SUCCESS) update.unqueued = 1;
  return TX_SUCCESS;
}

UINT mt_tx_configure(const CHAR *json, ULONG length) {
  return hand_over(json, length, 0);
}

UINT mt_tx_post_line(const CHAR *line, ULONG length) {
  return hand_over(line, length, 1);
}

UINT mt_tx_configure_result(CHAR *reason, ULONG reason_size) {
  UINT posture = tx_interrupt_control(TX_INT_DISABLE);
  UINT verdict = update.verdict;
  if (reason != TX_NULL && reason_size > 0) {
    ULONG n = 0;
    while (n + 1 < reason_size && update.reason[n] != '\0') n++;
    memcpy(reason, update.reason, n);
    reason[n] = '\0';
  }
  (VOID)tx_interrupt_control(posture);
  return verdict;
}

/* Once the agent has stopped: frees the thread, the queue and the semaphore (once). */
static VOID reap(VOID) {
  if (!transition(&agent.reaped, 0, 1)) return;
  if (agent.config.stack != TX_NULL) {
    (VOID)tx_thread_terminate(&agent.thread); /* it may not have returned yet */
    (VOID)tx_thread_delete(&agent.thread);
  }
  (VOID)tx_queue_delete(&agent.queue);
  (VOID)tx_semaphore_delete(&agent.stopped);
}

UINT mt_tx_stop(ULONG wait_ticks) {
  if (agent.state == AGENT_IDLE) return TX_QUEUE_ERROR;
  if (transition(&agent.state, AGENT_RUNNING, AGENT_STOPPING)) {
    (VOID)enqueue(TX_NULL, KIND_WAKE); /* queue full: the agent is busy and sees it soon */
  }
  UINT agent_is_caller = agent.config.stack != TX_NULL && tx_thread_identify() == &agent.thread;
  if (agent.state != AGENT_STOPPED && agent.config.stack != TX_NULL && !agent_is_caller) {
    (VOID)tx_semaphore_get(&agent.stopped, wait_ticks);
  }
  if (agent.state != AGENT_STOPPED) return MT_TX_PENDING;
  if (!agent_is_caller) reap();
  return TX_SUCCESS;
}

static UINT valid(const MT_TX_CONFIG *c) {
  if (c == TX_NULL || c->send == TX_NULL) return 0;
  if (c->queue_storage == TX_NULL || c->queue_size < MT_TX_EVENT_BYTES) return 0;
  if (c->stack != TX_NULL && c->stack_size < MT_TX_MIN_STACK_BYTES) return 0;
  return 1;
}

/* Loads the core (or, on a later attempt, resets it) and applies the agent id and the
 * configuration. Returns TX_SUCCESS or an MT_TX_* code. */
static UINT prepare_core(VOID) {
  mt_status_t st;
  if (!agent.loaded) {
    mt_config_t engine = {MT_TX_BLOB, MT_TX_BLOB_LEN, MT_TX_BLOB_MEMORY_END};
    st = mt_init(&agent.core, &engine);
    if (st != MT_OK) return MT_TX_ENGINE_ERROR;
    agent.loaded = 1;
  } else if (mt_reset(&agent.core) != MT_OK) {
    return MT_TX_ENGINE_ERROR;
  }
  if (agent.config.agent_id != TX_NULL) {
    mt_tx_text id = text_of(agent.config.agent_id);
    st = mt_set_agent_id(&agent.core, id.text, id.length);
    if (st == MT_SKIPPED) return refused_at_start();
    if (st != MT_OK) return MT_TX_ENGINE_ERROR;
  }
  if (agent.config.message_format != MT_FORMAT_JSON &&
      mt_set_format(&agent.core, (mt_format_t)agent.config.message_format) != MT_OK) {
    return MT_TX_BAD_CONFIG;
  }
  if (agent.config.configuration != TX_NULL) {
    mt_tx_text json = text_of(agent.config.configuration);
    st = give(INPUT_CONFIGURE, not_before_last(now_ms()), &json);
    if (st == MT_SKIPPED) return refused_at_start();
    if (st != MT_OK) return MT_TX_ENGINE_ERROR;
  }
  return TX_SUCCESS;
}

UINT mt_tx_start(const MT_TX_CONFIG *config) {
  if (agent.state != AGENT_IDLE) return MT_TX_ALREADY_STARTED;
  if (!valid(config)) return MT_TX_BAD_CONFIG;
  agent.config = *config;
  agent.clock_ticks = tx_time_get();
  agent.elapsed_ticks = 0;
  agent.last_input_ms = 0;
  agent.in_message = 0;
  UINT status = prepare_core();
  if (status != TX_SUCCESS) return status;

  status = tx_queue_create(&agent.queue, (CHAR *)"microtally events", MT_TX_EVENT_ULONGS,
                           config->queue_storage, config->queue_size);
  if (status != TX_SUCCESS) return status;
  status = tx_semaphore_create(&agent.stopped, (CHAR *)"microtally stopped", 0);
  if (status != TX_SUCCESS) {
    (VOID)tx_queue_delete(&agent.queue);
    return status;
  }
  agent.state = AGENT_RUNNING; /* before the thread: it may preempt this caller at once */
  if (config->stack != TX_NULL) {
    status = tx_thread_create(&agent.thread, (CHAR *)"microtally agent", agent_thread, 0,
                              config->stack, config->stack_size, config->priority,
                              config->priority, TX_NO_TIME_SLICE, TX_AUTO_START);
    if (status != TX_SUCCESS) {
      agent.state = AGENT_IDLE;
      (VOID)tx_semaphore_delete(&agent.stopped);
      (VOID)tx_queue_delete(&agent.queue);
    }
  }
  return status;
}

VOID mt_tx_stats_get(MT_TX_STATS *out) {
  if (out == TX_NULL) return;
  UINT posture = tx_interrupt_control(TX_INT_DISABLE);
  *out = stats;
  (VOID)tx_interrupt_control(posture);
}

UINT mt_tx_summary_get(CHAR *json, ULONG size, ULONG *length) {
  if (json == TX_NULL || length == TX_NULL) return TX_PTR_ERROR;
  *length = 0;
  if (agent.state != AGENT_STOPPED) return agent.state == AGENT_IDLE ? TX_QUEUE_ERROR : MT_TX_PENDING;
  const char *text;
  size_t n;
  if (mt_stats(&agent.core, &text, &n) != MT_OK) return MT_TX_ENGINE_ERROR;
  if (n > size) return MT_TX_TOO_LONG;
  memcpy(json, text, n);
  *length = (ULONG)n;
  return TX_SUCCESS;
}
