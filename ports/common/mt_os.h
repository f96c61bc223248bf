/*
 * mt_os.h — the RTOS under the agent (mt_agent.c). Porting the agent to an RTOS is writing these
 * functions in one file (ports/threadx/microtally_threadx.c does it for ThreadX). There is one
 * agent per program: the file keeps the queue, the stop signal and the agent thread itself.
 * Functions returning unsigned give 0 on success, else the RTOS's own code, which the agent
 * hands on to the application unchanged.
 */
#ifndef MT_OS_H
#define MT_OS_H

#include <stdint.h>

#include "mt_agent.h"

/* The RTOS clock, in ticks (mt_agent_config_t.ticks_per_second); it may wrap. From any context. */
uint32_t mt_os_ticks(void);

/* A critical section against other threads and ISRs: mt_os_unlock(mt_os_lock()). */
unsigned mt_os_lock(void);
void mt_os_unlock(unsigned posture);

/* Creates the event queue (room for mt_agent_config_t.queue_events mt_agent_event_t) and the
 * stop signal (a semaphore or an event flag, initially clear). */
unsigned mt_os_create(void);
/* Starts the agent thread, which calls mt_agent_step until it returns MT_AGENT_STOPPED; 0
 * without starting one when the application runs mt_agent_step itself. */
unsigned mt_os_start_thread(void);
/* Once the agent has stopped (never from the agent thread): deletes the thread, the queue and
 * the signal. */
void mt_os_delete(void);

/* Queues one event without blocking (ISRs included); nonzero (e.g. queue full): not queued. */
unsigned mt_os_post(const mt_agent_event_t *event);
/* Takes the oldest event, waiting up to wait_ticks: 0, or nonzero when none came. */
unsigned mt_os_receive(mt_agent_event_t *event, uint32_t wait_ticks);

/* The agent thread says the stop is done; mt_os_wait_stopped waits up to wait_ticks for that
 * (at once when there is no agent thread). */
void mt_os_signal_stopped(void);
void mt_os_wait_stopped(uint32_t wait_ticks);

/* Whether the caller is the agent thread (never, without one). */
int mt_os_in_agent_thread(void);

#endif
