/*
 * TEST DOUBLE — NOT ThreadX. Single-threaded host implementation of the services declared in
 * common/inc/tx_api.h, for ports/threadx tests. See ports/threadx/shim/README.md.
 */
#include <string.h>

#include "tx_api.h"

/* Bare-metal test images (ports/threadx/test/target) have no stdio. */
#if defined(__arm__) && !defined(__linux__)
#define SHIM_BARE_METAL 1
#else
#include <stdio.h>
#include <stdlib.h>
#endif

#define QUEUE_ID 0x51554555UL /* marks a created queue */
#define THREAD_ID 0x54485244UL
#define SEMAPHORE_ID 0x53454D41UL

static ULONG now_ticks;
static TX_THREAD *last_thread;
static TX_THREAD *current_thread;
static ULONG threads_deleted;
static UINT posture = TX_INT_ENABLE;

void shim_time_set(ULONG ticks) { now_ticks = ticks; }
void shim_time_advance(ULONG ticks) { now_ticks += ticks; }
UINT shim_interrupt_posture(void) { return posture; }
TX_THREAD *shim_thread_last_created(void) { return last_thread; }
void shim_thread_set_current(TX_THREAD *thread) { current_thread = thread; }
ULONG shim_threads_deleted(void) { return threads_deleted; }

ULONG tx_time_get(VOID) { return now_ticks; }

UINT tx_interrupt_control(UINT new_posture) {
  UINT old = posture;
  posture = new_posture;
  return old;
}

UINT tx_queue_create(TX_QUEUE *q, CHAR *name, UINT message_size, VOID *start, ULONG size) {
  if (q == TX_NULL || q->tx_queue_id == QUEUE_ID) return TX_QUEUE_ERROR;
  if (start == TX_NULL) return TX_PTR_ERROR;
  if (message_size < TX_1_ULONG || message_size > TX_16_ULONG) return TX_SIZE_ERROR;
  ULONG capacity = size / (message_size * (ULONG)sizeof(ULONG));
  if (capacity == 0) return TX_SIZE_ERROR;
  q->tx_queue_id = QUEUE_ID;
  q->tx_queue_name = name;
  q->tx_queue_message_size = message_size;
  q->tx_queue_capacity = capacity;
  q->tx_queue_enqueued = 0;
  q->tx_queue_read = 0;
  q->tx_queue_start = start;
  return TX_SUCCESS;
}

UINT tx_queue_delete(TX_QUEUE *q) {
  if (q == TX_NULL || q->tx_queue_id != QUEUE_ID) return TX_QUEUE_ERROR;
  q->tx_queue_id = 0;
  return TX_SUCCESS;
}

/* A wait no other thread could ever end, in a single-threaded test: stop loudly (on bare
 * metal with a fault, which the board reports). */
static void deadlock(const char *what) {
#ifdef SHIM_BARE_METAL
  (void)what;
  __builtin_trap();
#else
  fprintf(stderr, "tx_shim: %s would deadlock\n", what);
  abort();
#endif
}

static ULONG *slot(TX_QUEUE *q, ULONG n) {
  return q->tx_queue_start + (n % q->tx_queue_capacity) * q->tx_queue_message_size;
}

UINT tx_queue_send(TX_QUEUE *q, VOID *src, ULONG wait_option) {
  if (q == TX_NULL || q->tx_queue_id != QUEUE_ID) return TX_QUEUE_ERROR;
  if (src == TX_NULL) return TX_PTR_ERROR;
  if (q->tx_queue_enqueued - q->tx_queue_read == q->tx_queue_capacity) {
    if (wait_option != TX_NO_WAIT) deadlock("a blocking send on a full queue");
    return TX_QUEUE_FULL;
  }
  memcpy(slot(q, q->tx_queue_enqueued), src, q->tx_queue_message_size * sizeof(ULONG));
  q->tx_queue_enqueued++;
  return TX_SUCCESS;
}

UINT tx_queue_receive(TX_QUEUE *q, VOID *dst, ULONG wait_option) {
  if (q == TX_NULL || q->tx_queue_id != QUEUE_ID) return TX_QUEUE_ERROR;
  if (dst == TX_NULL) return TX_PTR_ERROR;
  if (q->tx_queue_enqueued == q->tx_queue_read) {
    if (wait_option == TX_WAIT_FOREVER) deadlock("waiting forever on an empty queue");
    now_ticks += wait_option; /* the wait times out: time passes */
    return TX_QUEUE_EMPTY;
  }
  memcpy(dst, slot(q, q->tx_queue_read), q->tx_queue_message_size * sizeof(ULONG));
  q->tx_queue_read++;
  return TX_SUCCESS;
}

UINT tx_thread_create(TX_THREAD *t, CHAR *name, VOID (*entry)(ULONG), ULONG input, VOID *stack,
                      ULONG stack_size, UINT priority, UINT preempt_threshold, ULONG time_slice,
                      UINT auto_start) {
  if (t == TX_NULL || entry == TX_NULL || stack == TX_NULL) return TX_PTR_ERROR;
  if (stack_size < 256) return TX_SIZE_ERROR;
  if (t->tx_thread_id == THREAD_ID) return TX_THREAD_ERROR;
  if (priority >= TX_MAX_PRIORITIES) return TX_PRIORITY_ERROR;
  t->tx_thread_id = THREAD_ID;
  t->tx_thread_name = name;
  t->tx_thread_entry = entry;
  t->tx_thread_entry_parameter = input;
  t->tx_thread_stack_start = stack;
  t->tx_thread_stack_size = stack_size;
  t->tx_thread_priority = priority;
  t->tx_thread_preempt_threshold = preempt_threshold;
  t->tx_thread_time_slice = time_slice;
  t->tx_thread_auto_start = auto_start;
  t->tx_thread_shim_state = 0;
  last_thread = t;
  return TX_SUCCESS;
}

TX_THREAD *tx_thread_identify(VOID) { return current_thread; }

/* Nothing ever runs a thread here: auto-started is TX_READY, else TX_SUSPENDED. */
UINT tx_thread_info_get(TX_THREAD *t, CHAR **name, UINT *state, ULONG *run_count, UINT *priority,
                        UINT *preemption_threshold, ULONG *time_slice, TX_THREAD **next_thread,
                        TX_THREAD **next_suspended_thread) {
  if (t == TX_NULL || t->tx_thread_id != THREAD_ID) return TX_THREAD_ERROR;
  if (name) *name = t->tx_thread_name;
  if (state)
    *state = t->tx_thread_shim_state == 1               ? TX_TERMINATED
             : t->tx_thread_auto_start == TX_AUTO_START ? TX_READY
                                                        : TX_SUSPENDED;
  if (run_count) *run_count = 0;
  if (priority) *priority = t->tx_thread_priority;
  if (preemption_threshold) *preemption_threshold = t->tx_thread_preempt_threshold;
  if (time_slice) *time_slice = t->tx_thread_time_slice;
  if (next_thread) *next_thread = TX_NULL;
  if (next_suspended_thread) *next_suspended_thread = TX_NULL;
  return TX_SUCCESS;
}

UINT tx_thread_terminate(TX_THREAD *t) {
  if (t == TX_NULL || t->tx_thread_id != THREAD_ID) return TX_THREAD_ERROR;
  t->tx_thread_shim_state = 1;
  return TX_SUCCESS;
}

/* Only a terminated (or, in ThreadX, completed) thread may be deleted. */
UINT tx_thread_delete(TX_THREAD *t) {
  if (t == TX_NULL || t->tx_thread_id != THREAD_ID) return TX_THREAD_ERROR;
  if (t->tx_thread_shim_state != 1) return TX_DELETE_ERROR;
  t->tx_thread_id = 0;
  t->tx_thread_shim_state = 0;
  if (last_thread == t) last_thread = TX_NULL;
  threads_deleted++;
  return TX_SUCCESS;
}

UINT tx_semaphore_create(TX_SEMAPHORE *s, CHAR *name, ULONG initial_count) {
  if (s == TX_NULL || s->tx_semaphore_id == SEMAPHORE_ID) return TX_SEMAPHORE_ERROR;
  s->tx_semaphore_id = SEMAPHORE_ID;
  s->tx_semaphore_name = name;
  s->tx_semaphore_count = initial_count;
  return TX_SUCCESS;
}

UINT tx_semaphore_delete(TX_SEMAPHORE *s) {
  if (s == TX_NULL || s->tx_semaphore_id != SEMAPHORE_ID) return TX_SEMAPHORE_ERROR;
  s->tx_semaphore_id = 0;
  return TX_SUCCESS;
}

/* As a queue receive: a finite wait on a zero count times out (time passes); forever aborts. */
UINT tx_semaphore_get(TX_SEMAPHORE *s, ULONG wait_option) {
  if (s == TX_NULL || s->tx_semaphore_id != SEMAPHORE_ID) return TX_SEMAPHORE_ERROR;
  if (s->tx_semaphore_count == 0) {
    if (wait_option == TX_WAIT_FOREVER) deadlock("waiting forever on a semaphore");
    now_ticks += wait_option;
    return TX_NO_INSTANCE;
  }
  s->tx_semaphore_count--;
  return TX_SUCCESS;
}

UINT tx_semaphore_put(TX_SEMAPHORE *s) {
  if (s == TX_NULL || s->tx_semaphore_id != SEMAPHORE_ID) return TX_SEMAPHORE_ERROR;
  s->tx_semaphore_count++;
  return TX_SUCCESS;
}
