/*
 * TEST DOUBLE — NOT ThreadX. Declares the few ThreadX services ports/threadx uses, with the
 * names and signatures of the documented ThreadX API, for host tests and cross-compile checks.
 * See ports/threadx/shim/README.md.
 */
#ifndef TX_API_H
#define TX_API_H

#include "tx_port.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TX_NULL ((void *)0)

#define TX_NO_WAIT ((ULONG)0)
#define TX_WAIT_FOREVER ((ULONG)0xFFFFFFFFUL)
#define TX_AUTO_START ((UINT)1)
#define TX_DONT_START ((UINT)0)
#define TX_NO_TIME_SLICE ((ULONG)0)

#define TX_1_ULONG ((UINT)1)
#define TX_16_ULONG ((UINT)16)

#define TX_SUCCESS ((UINT)0x00)
#define TX_PTR_ERROR ((UINT)0x03)
#define TX_SIZE_ERROR ((UINT)0x05)
#define TX_QUEUE_ERROR ((UINT)0x09)
#define TX_QUEUE_EMPTY ((UINT)0x0A)
#define TX_QUEUE_FULL ((UINT)0x0B)
#define TX_SEMAPHORE_ERROR ((UINT)0x0C)
#define TX_NO_INSTANCE ((UINT)0x0D)
#define TX_THREAD_ERROR ((UINT)0x0E)
#define TX_PRIORITY_ERROR ((UINT)0x0F)
#define TX_DELETE_ERROR ((UINT)0x11)

/* Thread states as tx_thread_info_get reports them. */
#define TX_READY ((UINT)0)
#define TX_COMPLETED ((UINT)1)
#define TX_TERMINATED ((UINT)2)
#define TX_SUSPENDED ((UINT)3)

#ifndef TX_MAX_PRIORITIES
#define TX_MAX_PRIORITIES 32
#endif

#ifndef TX_TIMER_TICKS_PER_SECOND
#define TX_TIMER_TICKS_PER_SECOND ((ULONG)100)
#endif

/* Control blocks: the double's own members; the port never looks inside. */
typedef struct TX_QUEUE_STRUCT {
  ULONG tx_queue_id;
  CHAR *tx_queue_name;
  UINT tx_queue_message_size; /* in ULONGs */
  ULONG tx_queue_capacity;    /* messages */
  ULONG tx_queue_enqueued;
  ULONG tx_queue_read;
  ULONG *tx_queue_start;
} TX_QUEUE;

typedef struct TX_THREAD_STRUCT {
  ULONG tx_thread_id;
  CHAR *tx_thread_name;
  VOID (*tx_thread_entry)(ULONG);
  ULONG tx_thread_entry_parameter;
  VOID *tx_thread_stack_start;
  ULONG tx_thread_stack_size;
  UINT tx_thread_priority;
  UINT tx_thread_preempt_threshold;
  ULONG tx_thread_time_slice;
  UINT tx_thread_auto_start;
  UINT tx_thread_shim_state; /* the double's: 0 created, 1 terminated */
} TX_THREAD;

typedef struct TX_SEMAPHORE_STRUCT {
  ULONG tx_semaphore_id;
  CHAR *tx_semaphore_name;
  ULONG tx_semaphore_count;
} TX_SEMAPHORE;

UINT tx_queue_create(TX_QUEUE *queue_ptr, CHAR *name_ptr, UINT message_size, VOID *queue_start,
                     ULONG queue_size);
UINT tx_queue_delete(TX_QUEUE *queue_ptr);
UINT tx_queue_send(TX_QUEUE *queue_ptr, VOID *source_ptr, ULONG wait_option);
UINT tx_queue_receive(TX_QUEUE *queue_ptr, VOID *destination_ptr, ULONG wait_option);
UINT tx_thread_create(TX_THREAD *thread_ptr, CHAR *name_ptr,
                      VOID (*entry_function)(ULONG entry_input), ULONG entry_input,
                      VOID *stack_start, ULONG stack_size, UINT priority, UINT preempt_threshold,
                      ULONG time_slice, UINT auto_start);
UINT tx_thread_terminate(TX_THREAD *thread_ptr);
UINT tx_thread_delete(TX_THREAD *thread_ptr);
TX_THREAD *tx_thread_identify(VOID);
UINT tx_thread_info_get(TX_THREAD *thread_ptr, CHAR **name, UINT *state, ULONG *run_count,
                        UINT *priority, UINT *preemption_threshold, ULONG *time_slice,
                        TX_THREAD **next_thread, TX_THREAD **next_suspended_thread);
UINT tx_semaphore_create(TX_SEMAPHORE *semaphore_ptr, CHAR *name_ptr, ULONG initial_count);
UINT tx_semaphore_delete(TX_SEMAPHORE *semaphore_ptr);
UINT tx_semaphore_get(TX_SEMAPHORE *semaphore_ptr, ULONG wait_option);
UINT tx_semaphore_put(TX_SEMAPHORE *semaphore_ptr);
ULONG tx_time_get(VOID);
UINT tx_interrupt_control(UINT new_posture);

/* Test controls of the double (not ThreadX API). */
void shim_time_set(ULONG ticks);
void shim_time_advance(ULONG ticks);
UINT shim_interrupt_posture(void);
TX_THREAD *shim_thread_last_created(void);
void shim_thread_set_current(TX_THREAD *thread); /* what tx_thread_identify returns */
ULONG shim_threads_deleted(void);

#ifdef __cplusplus
}
#endif

#endif
