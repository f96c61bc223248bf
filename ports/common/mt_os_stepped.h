/*
 * mt_os_stepped.h — mt_os.h without an RTOS: one thread, no agent thread of its own. The
 * program steps the agent itself (mt_os_stepped_run after each post), so every call is handled
 * before the next one is made, in the order made: what a replay needs to print the same bytes
 * on every engine. The clock never moves (mt_os_ticks is 0): the agent's time is the inputs'
 * own (trace lines carry theirs), so no turn without an event makes time pass.
 */
#ifndef MT_OS_STEPPED_H
#define MT_OS_STEPPED_H

#include "mt_os.h"

/* The queue's capacity; mt_agent_config_t.queue_events must not exceed it. */
#ifndef MT_OS_STEPPED_QUEUE
#define MT_OS_STEPPED_QUEUE 8u
#endif

/* Steps the agent until its queue is empty (each queued call handled); never waits. */
void mt_os_stepped_run(void);

#endif
