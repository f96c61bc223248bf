/* mt_os.h on one thread, stepped by the program (mt_os_stepped.h). */
#include "mt_os_stepped.h"

static mt_agent_event_t queue[MT_OS_STEPPED_QUEUE];
static unsigned head, queued;

uint32_t mt_os_ticks(void) { return 0; }
unsigned mt_os_lock(void) { return 0; }
void mt_os_unlock(unsigned posture) { (void)posture; }
unsigned mt_os_create(void) {
  head = queued = 0;
  return 0;
}
unsigned mt_os_start_thread(void) { return 0; } /* the program steps the agent */
void mt_os_delete(void) {}

unsigned mt_os_post(const mt_agent_event_t *event) {
  if (queued == MT_OS_STEPPED_QUEUE) return 1;
  queue[(head + queued++) % MT_OS_STEPPED_QUEUE] = *event;
  return 0;
}

/* Never waits: with nothing queued the turn is a timeout, at once. */
unsigned mt_os_receive(mt_agent_event_t *event, uint32_t wait_ticks) {
  (void)wait_ticks;
  if (queued == 0) return 1;
  *event = queue[head];
  head = (head + 1u) % MT_OS_STEPPED_QUEUE;
  queued--;
  return 0;
}

void mt_os_signal_stopped(void) {}
void mt_os_wait_stopped(uint32_t wait_ticks) { (void)wait_ticks; }
int mt_os_in_agent_thread(void) { return 1; }

void mt_os_stepped_run(void) {
  while (queued > 0) {
    if (mt_agent_step(0) == MT_AGENT_STOPPED) return;
  }
}
