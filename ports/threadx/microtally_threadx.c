/* The agent of ports/common/mt_agent.c on ThreadX: its RTOS layer (mt_os.h) and the ThreadX
 * API of microtally_threadx.h over it. */
#include "microtally_threadx.h"

#include <string.h>

#include "microtally_blobs.h"
#include "mt_os.h"

/* A ThreadX queue message is 1 to 16 ULONGs. */
typedef char mt_tx_event_fits[(MT_TX_EVENT_ULONGS >= 1u && MT_TX_EVENT_ULONGS <= 16u) ? 1 : -1];
typedef char mt_tx_update_size[(MT_TX_CONFIG_BYTES <= 65536 && MT_TX_CONFIG_BYTES > 0) ? 1 : -1];

static TX_QUEUE queue;
static TX_THREAD thread;
static TX_SEMAPHORE stopped; /* put once by the agent when the stop is done */
static UINT thread_made;
static MT_TX_CONFIG tx_config;
/* The agent's buffers: one byte more than an update, for a measured line's '\0'. */
static CHAR update_text[MT_TX_CONFIG_BYTES + 1];
static UCHAR journal[MT_TX_CONFIG_JOURNAL_BYTES];
static CHAR reason[MT_TX_REASON_BYTES];

uint32_t mt_os_ticks(void) { return (uint32_t)tx_time_get(); }
unsigned mt_os_lock(void) { return tx_interrupt_control(TX_INT_DISABLE); }
void mt_os_unlock(unsigned posture) { (void)tx_interrupt_control(posture); }

unsigned mt_os_create(void) {
  UINT status = tx_queue_create(&queue, (CHAR *)"microtally events", MT_TX_EVENT_ULONGS,
                                tx_config.queue_storage, tx_config.queue_size);
  if (status != TX_SUCCESS) return status;
  status = tx_semaphore_create(&stopped, (CHAR *)"microtally stopped", 0);
  if (status != TX_SUCCESS) (void)tx_queue_delete(&queue);
  return status;
}

/* Returning from its entry function leaves the thread completed; mt_tx_stop deletes it. */
static VOID agent_thread(ULONG input) {
  (void)input;
  while (mt_agent_step(MT_TX_WINDOW_CHECK_TICKS) != MT_AGENT_STOPPED) {}
}

unsigned mt_os_start_thread(void) {
  if (tx_config.stack == TX_NULL) return TX_SUCCESS;
  UINT status = tx_thread_create(&thread, (CHAR *)"microtally agent", agent_thread, 0,
                                 tx_config.stack, tx_config.stack_size, tx_config.priority,
                                 tx_config.priority, TX_NO_TIME_SLICE, TX_AUTO_START);
  thread_made = status == TX_SUCCESS;
  return status;
}

void mt_os_delete(void) {
  if (thread_made) {
    (void)tx_thread_terminate(&thread); /* it may not have returned yet */
    (void)tx_thread_delete(&thread);
  }
  (void)tx_queue_delete(&queue);
  (void)tx_semaphore_delete(&stopped);
}

unsigned mt_os_post(const mt_agent_event_t *event) {
  ULONG message[MT_TX_EVENT_ULONGS];
  memset(message, 0, sizeof message);
  memcpy(message, event, sizeof *event);
  return tx_queue_send(&queue, message, TX_NO_WAIT);
}

unsigned mt_os_receive(mt_agent_event_t *event, uint32_t wait_ticks) {
  ULONG message[MT_TX_EVENT_ULONGS];
  UINT status = tx_queue_receive(&queue, message, wait_ticks);
  if (status == TX_SUCCESS) memcpy(event, message, sizeof *event);
  return status;
}

void mt_os_signal_stopped(void) { (void)tx_semaphore_put(&stopped); }

void mt_os_wait_stopped(uint32_t wait_ticks) {
  if (thread_made) (void)tx_semaphore_get(&stopped, wait_ticks);
}

int mt_os_in_agent_thread(void) { return thread_made && tx_thread_identify() == &thread; }

/* The agent's codes are MT_TX_*'s; these two have ThreadX's own names. */
static UINT tx(unsigned status) {
  if (status == MT_AGENT_NOT_STARTED) return TX_QUEUE_ERROR;
  return status == MT_AGENT_NULL ? TX_PTR_ERROR : status;
}

/* Set by microtally_threadx_update.c (mt_tx_update_open) when core updates are linked in. */
void (*mt_tx_priv_update_start)(mt_agent_config_t *agent) = TX_NULL;
/* ... and called once the agent runs (what the update layer must report goes in then). */
void (*mt_tx_priv_update_started)(void) = TX_NULL;

static VOID send_chunk(void *context, const uint8_t *bytes, size_t length, unsigned where) {
  (void)context;
  tx_config.send(tx_config.send_context, (const UCHAR *)bytes, (ULONG)length, where);
}

UINT mt_tx_start(const MT_TX_CONFIG *c) {
  if (c == TX_NULL || c->queue_storage == TX_NULL ||
      (c->stack != TX_NULL && c->stack_size < MT_TX_MIN_STACK_BYTES)) {
    return tx(mt_agent_start(TX_NULL));
  }
  mt_agent_config_t agent = {
      .engine = {MT_TX_BLOB, MT_TX_BLOB_LEN, MT_TX_BLOB_MEMORY_END},
      .queue_events = c->queue_size / MT_TX_EVENT_BYTES,
      .ticks_per_second = MT_TX_TICKS_PER_SECOND,
      .epoch_ms_at_start = c->epoch_ms_at_start,
      .clock_ms = c->clock_ms,
      .send = c->send != TX_NULL ? send_chunk : TX_NULL,
      .agent_id = c->agent_id,
      .configuration = c->configuration,
      .message_format = c->message_format,
      .update = update_text,
      .update_bytes = MT_TX_CONFIG_BYTES,
      .journal = journal,
      .journal_bytes = sizeof journal,
      .reason = reason,
      .reason_bytes = sizeof reason,
  };
  /* Probed first: the running agent still uses tx_config. */
  if (mt_agent_start(TX_NULL) == MT_AGENT_ALREADY_STARTED) return MT_TX_ALREADY_STARTED;
  if (mt_tx_priv_update_start != TX_NULL) mt_tx_priv_update_start(&agent);
  tx_config = *c;
  UINT status = tx(mt_agent_start(&agent));
  if (status == TX_SUCCESS && mt_tx_priv_update_started != TX_NULL) mt_tx_priv_update_started();
  return status;
}

UINT mt_tx_post_connection(const mt_packet_conn *c) { return tx(mt_agent_post_connection(c)); }
UINT mt_tx_configure(const CHAR *json, ULONG length) {
  return tx(mt_agent_configure(json, length));
}
UINT mt_tx_post_line(const CHAR *line, ULONG length) {
  return tx(mt_agent_post_line(line, length));
}
UINT mt_tx_configure_result(CHAR *why, ULONG size) { return tx(mt_agent_result(why, size)); }
UINT mt_tx_report_loss(ULONG messages) { return tx(mt_agent_report_loss((uint32_t)messages)); }
UINT mt_tx_stop(ULONG wait_ticks) { return tx(mt_agent_stop(wait_ticks)); }
UINT mt_tx_agent_step(ULONG wait_ticks) { return tx(mt_agent_step(wait_ticks)); }
VOID mt_tx_stats_get(MT_TX_STATS *stats) { mt_agent_stats_get(stats); }

UINT mt_tx_summary_get(CHAR *json, ULONG size, ULONG *length) {
  size_t n = 0;
  UINT status = tx(mt_agent_summary(json, size, length == TX_NULL ? TX_NULL : &n));
  if (length != TX_NULL) *length = (ULONG)n;
  return status;
}
