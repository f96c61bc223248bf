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

typedef enum { INPUT_CONNECTION, INPUT_TICK, INPUT_CONFIGURE } mt_tx_input;

static struct {
  mt_core_t core;
  TX_QUEUE queue;
  TX_THREAD thread;
  MT_TX_CONFIG config;
  volatile UINT started; /* read by posters in ISRs: the queue exists */
  UINT loaded;           /* mt_init done: it may run only once per program */
  UINT in_message;       /* chunks of a message were sent, its last one not yet */
  ULONG clock_ticks;     /* tx_time_get() at the last clock reading */
  uint64_t elapsed_ticks; /* since mt_tx_start, summed reading by reading (survives wrap) */
  int64_t last_input_ms; /* time of the latest input the core accepted */
} agent;

static MT_TX_STATS stats;

/* posted and dropped are bumped from any context, ISRs included. */
static VOID count_shared(ULONG *counter) {
  UINT posture = tx_interrupt_control(TX_INT_DISABLE);
  (*counter)++;
  (VOID)tx_interrupt_control(posture);
}

static size_t text_length(const CHAR *text) {
  size_t n = 0;
  while (n < MT_TX_MAX_TEXT && text[n] != '\0') n++;
  return n;
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
    case INPUT_CONFIGURE:
      return mt_configure(&agent.core, t_ms, (const char *)arg,
                          text_length((const CHAR *)arg));
    default:
      return mt_tick(&agent.core, t_ms);
  }
}

/* After a trap the bindings re-initialised the core with the profile's defaults: what was
 * begun is void, and the application's configuration must be applied again. */
static VOID recover(VOID) {
  stats.faults++;
  if (agent.in_message) {
    send_chunk(TX_NULL, 0, MT_TX_CHUNK_ABORT);
    agent.in_message = 0;
  }
  if (agent.config.configuration != TX_NULL &&
      call_core(INPUT_CONFIGURE, agent.last_input_ms, agent.config.configuration) == MT_OK) {
    (VOID)drain();
  }
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

UINT mt_tx_agent_step(ULONG wait_ticks) {
  if (!agent.started) return TX_QUEUE_ERROR;
  ULONG message[MT_TX_EVENT_ULONGS];
  UINT status = tx_queue_receive(&agent.queue, message, wait_ticks);
  int64_t now = now_ms();
  if (status == TX_SUCCESS) {
    MT_TX_EVENT event;
    memcpy(&event, message, sizeof event);
    ingest(&event, now);
  } else if (status == TX_QUEUE_EMPTY) {
    (VOID)give(INPUT_TICK, not_before_last(now), TX_NULL);
  }
  return status;
}

static VOID agent_thread(ULONG input) {
  (VOID)input;
  for (;;) (VOID)mt_tx_agent_step(MT_TX_WINDOW_CHECK_TICKS);
}

UINT mt_tx_post_connection(const mt_packet_conn *connection) {
  if (connection == TX_NULL) return TX_PTR_ERROR;
  if (!agent.started) {
    count_shared(&stats.dropped);
    return TX_QUEUE_ERROR;
  }
  MT_TX_EVENT event;
  ULONG message[MT_TX_EVENT_ULONGS];
  memset(message, 0, sizeof message);
  event.connection = *connection;
  event.posted_at = tx_time_get();
  memcpy(message, &event, sizeof event);
  UINT status = tx_queue_send(&agent.queue, message, TX_NO_WAIT);
  count_shared(status == TX_SUCCESS ? &stats.posted : &stats.dropped);
  return status;
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
    mt_config_t engine = {microtally_rtos_wasm, microtally_rtos_wasm_len,
                          microtally_rtos_memory_end};
    st = mt_init(&agent.core, &engine);
    if (st != MT_OK) return MT_TX_ENGINE_ERROR;
    agent.loaded = 1;
  } else if (mt_reset(&agent.core) != MT_OK) {
    return MT_TX_ENGINE_ERROR;
  }
  if (agent.config.agent_id != TX_NULL) {
    st = mt_set_agent_id(&agent.core, agent.config.agent_id, text_length(agent.config.agent_id));
    if (st == MT_SKIPPED) return MT_TX_REJECTED;
    if (st != MT_OK) return MT_TX_ENGINE_ERROR;
  }
  if (agent.config.configuration != TX_NULL) {
    st = give(INPUT_CONFIGURE, not_before_last(now_ms()), agent.config.configuration);
    if (st == MT_SKIPPED) return MT_TX_REJECTED;
    if (st != MT_OK) return MT_TX_ENGINE_ERROR;
  }
  return TX_SUCCESS;
}

UINT mt_tx_start(const MT_TX_CONFIG *config) {
  if (agent.started) return MT_TX_ALREADY_STARTED;
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
  agent.started = 1; /* before the thread: it may preempt this caller at once */
  if (config->stack != TX_NULL) {
    status = tx_thread_create(&agent.thread, (CHAR *)"microtally agent", agent_thread, 0,
                              config->stack, config->stack_size, config->priority,
                              config->priority, TX_NO_TIME_SLICE, TX_AUTO_START);
    if (status != TX_SUCCESS) {
      agent.started = 0;
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
