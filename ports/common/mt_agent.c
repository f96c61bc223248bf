/* The agent: one queue feeding one core on one thread, over the RTOS layer of mt_os.h; see
 * mt_agent.h (and microtally_threadx.h, its ThreadX face, for each call in full). */
#include "mt_agent.h"

#include <string.h>

#include "mt_engine.h" /* mt_engine_call: the new blob's mt_abi_version(), as V8 reads it */
#include "mt_os.h"

/* Longest agent id / configuration text looked at (the core rejects longer ones anyway). */
#define MAX_TEXT 65535u

typedef enum { INPUT_CONNECTION, INPUT_TICK, INPUT_CONFIGURE, INPUT_LINE, INPUT_FINISH } input_kind;

/* What a queued event carries (mt_agent_event_t.kind). */
enum { KIND_CONNECTION = 0, KIND_WAKE = 1 };

/* The agent's life, as posters (ISRs included) and callers of mt_agent_stop see it. */
enum { AGENT_IDLE = 0, AGENT_RUNNING, AGENT_STOPPING, AGENT_STOPPED };

/* A configuration update's way through the agent: claimed by one caller, filled, then taken
 * and applied by the agent. Every transition is a compare-and-set (see transition()). */
enum { UPDATE_FREE = 0, UPDATE_FILLING, UPDATE_PENDING, UPDATE_APPLYING };

typedef struct {
  const char *text;
  size_t length;
} text_t;

static struct {
  mt_core_t core;
  mt_agent_config_t config;
  volatile unsigned state; /* AGENT_*; read by posters in ISRs: RUNNING means the queue exists */
  unsigned reaped;         /* mt_agent_stop deleted the thread, queue and signal */
  unsigned loaded;         /* mt_init done: it may run only once per program */
  unsigned in_message;     /* chunks of a message were sent, its last one not yet */
  uint32_t last_chunks;    /* chunks the latest input's call sent: more than 0 is a boundary */
  uint32_t clock_ticks;    /* mt_os_ticks() at the last clock reading */
  uint64_t elapsed_ticks;  /* since mt_agent_start, summed reading by reading (survives wrap) */
  int64_t last_input_ms;   /* time of the latest input the core accepted */
  size_t update_max;       /* a journal entry's length prefix is 2 bytes */
  uint64_t loss_in_core;   /* transport losses given to the core, not yet in a message */
} agent;

/* Transport losses reported from any context (mt_agent_report_loss), for the agent thread to
 * give the core before its next input: the core is the agent thread's alone. */
static volatile uint64_t loss_pending;

static struct {
  volatile unsigned state; /* UPDATE_* */
  volatile unsigned
      unqueued;     /* its wake marker found the queue full: the agent's next turn takes it */
  unsigned is_line; /* a trace line (mt_agent_post_line), not a configuration update */
  size_t length;    /* a line longer than the update buffer is only measured */
  unsigned verdict; /* of the latest update applied: 0 or an MT_AGENT_* code */
} update;

/* A core update's swap (mt_agent_swap): staged from any thread, carried out by the agent at
 * the first window boundary after, outside another swap's probation. */
static struct {
  volatile unsigned state; /* the staged request: UPDATE_FREE, _FILLING, _PENDING, _APPLYING */
  mt_agent_swap_t request;
  mt_agent_swap_t current; /* the swap being carried out or on trial (its record's facts) */
  mt_config_t previous;    /* the blob before the swap: what a rollback loads again */
  uint32_t trial_left;     /* window boundaries the new core must pass before its trial is over */
  unsigned on_trial;
  unsigned trapped;  /* the new core trapped on trial: roll back before anything else */
  size_t trial_used; /* bytes of trial_inputs in use: the inputs since the last checkpoint */
} swap;

/* AgentUpdate records waiting for the core, oldest first (host/update/swap.ts's `reports`):
 * delivery refusals (mt_agent_report_rejected, any thread), a port's own rollbacks
 * (mt_agent_report_rolled_back: a reset on trial) and the swap's outcomes. The core
 * keeps one record until a message leaves, so they go in one at a time. */
#define RECORDS_WAITING 4u
static struct {
  mt_agent_swap_t facts;
  const char *result;
  char reason[160];
  volatile unsigned ready; /* filled: the agent may offer it */
} records[RECORDS_WAITING];
static volatile unsigned records_head, records_count;

/* The self-test's agent id (docs/UPDATE.md), so its digest does not depend on the device's. */
static const char self_test_agent_id[] = "00000000-0000-4000-8000-000000000012";

/* Accepted updates and configuration lines, back to back, each a 2-byte length then the JSON,
 * oldest first. A configuration line is told from an update by its top-level "kind" (an update
 * with that key is refused by the core). */
#define CONFIG_HEADER 2u
static size_t journal_used;
static int is_config_line(const char *p, size_t n);

static mt_agent_stats_t stats;

/* posted and dropped are bumped from any context, ISRs included. */
static void count_shared(uint32_t *counter) {
  unsigned posture = mt_os_lock();
  (*counter)++;
  mt_os_unlock(posture);
}

/* Sets *state to `to` if it is `from`, atomically for threads and ISRs alike. */
static unsigned transition(volatile unsigned *state, unsigned from, unsigned to) {
  unsigned posture = mt_os_lock();
  unsigned done = *state == from;
  if (done) *state = to;
  mt_os_unlock(posture);
  return done;
}

static text_t text_of(const char *text) {
  text_t t = {text, 0};
  while (t.length < MAX_TEXT && text[t.length] != '\0') t.length++;
  return t;
}

/* Wall-clock now, in ms. Called at least once per agent step, so the tick difference below
 * never wraps more than once. */
static int64_t now_ms(void) {
  uint32_t ticks = mt_os_ticks();
  agent.elapsed_ticks += (uint32_t)(ticks - agent.clock_ticks);
  agent.clock_ticks = ticks;
  if (agent.config.clock_ms != NULL) return (int64_t)agent.config.clock_ms();
  return (int64_t)(agent.config.epoch_ms_at_start +
                   agent.elapsed_ticks * 1000u / agent.config.ticks_per_second);
}

/* The core rejects an input earlier than the previous one: a clock that steps back (SNTP) or
 * an event stamped before the last one handled is given the previous time instead. */
static int64_t not_before_last(int64_t t_ms) {
  return t_ms < agent.last_input_ms ? agent.last_input_ms : t_ms;
}

static bool send_chunk(void *ctx, const uint8_t *data, size_t length, bool ends) {
  (void)ctx;
  agent.config.send(agent.config.send_context, data, length,
                    ends ? MT_MESSAGE_LAST : MT_MESSAGE_MORE);
  agent.in_message = !ends;
  agent.last_chunks++;
  if (ends) stats.messages++;
  return true;
}

/* Hands every pending chunk to `send`. Returns MT_OK, or the error that stopped it. */
static mt_status_t drain(void) { return mt_message_drain(&agent.core, send_chunk, NULL); }

static mt_status_t call_core(input_kind kind, int64_t t_ms, const void *arg) {
  const text_t *text = (const text_t *)arg;
  switch (kind) {
    case INPUT_CONNECTION:
      return mt_ingest_connection(&agent.core, (const mt_connection_t *)arg);
    case INPUT_CONFIGURE:
      return mt_configure(&agent.core, t_ms, text->text, text->length);
    case INPUT_LINE:
      return mt_ingest_line(&agent.core, text->text, text->length);
    case INPUT_FINISH:
      return mt_finish(&agent.core);
    default:
      return mt_tick(&agent.core, t_ms);
  }
}

/* Applies one configuration again (an update, or a configuration line: as it came); a fault
 * here is not recovered again. */
static void reapply(const char *text, size_t length) {
  text_t json = {text, length};
  input_kind kind = is_config_line(text, length) ? INPUT_LINE : INPUT_CONFIGURE;
  if (call_core(kind, agent.last_input_ms, &json) == MT_OK) (void)drain();
}

/* Every configuration of the journal again, oldest first (updates are merged: all of them). */
static void reapply_journal(void) {
  const uint8_t *journal = agent.config.journal;
  for (size_t at = 0; at + CONFIG_HEADER <= journal_used;) {
    size_t length = (size_t)journal[at] | ((size_t)journal[at + 1] << 8);
    reapply((const char *)&journal[at + CONFIG_HEADER], length);
    at += CONFIG_HEADER + length;
  }
}

/* After a trap the bindings re-initialised the core with the profile's defaults: what was
 * begun is void, and the application's configuration, then every update accepted since, must
 * be applied again (updates are merged, so all of them, in order). */
static void recover(void) {
  stats.faults++;
  /* Losses the re-initialised core forgot: given again before the next input. */
  unsigned posture = mt_os_lock();
  loss_pending += agent.loss_in_core;
  mt_os_unlock(posture);
  agent.loss_in_core = 0;
  if (agent.in_message) {
    agent.config.send(agent.config.send_context, NULL, 0, MT_MESSAGE_ABORT);
    agent.in_message = 0;
  }
  if (swap.on_trial) return; /* the previous core takes over from the last checkpoint */
  if (agent.config.configuration != NULL) {
    text_t start = text_of(agent.config.configuration);
    reapply(start.text, start.length);
  }
  reapply_journal();
}

/* Keeps an accepted configuration for recover() and a swap, forgetting the oldest ones if it
 * does not fit. */
static void journal_append(const char *text, size_t length) {
  uint8_t *journal = agent.config.journal;
  size_t need = CONFIG_HEADER + length;
  if (need > agent.config.journal_bytes) { /* not even alone (a tunable set too small): not kept */
    stats.updates_forgotten += 1;
    need = 0;
  }
  size_t drop = 0;
  while (journal_used - drop + need > agent.config.journal_bytes) {
    drop += CONFIG_HEADER + ((size_t)journal[drop] | ((size_t)journal[drop + 1] << 8));
    stats.updates_forgotten++;
  }
  memmove(journal, journal + drop, journal_used - drop);
  journal_used -= drop;
  if (need == 0) return;
  journal[journal_used] = (uint8_t)(length & 0xFFu);
  journal[journal_used + 1] = (uint8_t)(length >> 8);
  memcpy(journal + journal_used + CONFIG_HEADER, text, length);
  journal_used += need;
}

/* A call into the core failed with `st`: a trap is recovered from. On probation a trap, or a
 * re-initialisation that failed after one (MT_ERR_ENGINE: no working core), rolls the swap back
 * before anything else reaches the core. */
static void faulted(mt_status_t st) {
  if (st == MT_ERR_TRAP) {
    if (swap.on_trial) swap.trapped = 1;
    recover();
  } else if (st == MT_ERR_ENGINE && swap.on_trial && !swap.trapped) {
    swap.trapped = 1;
    stats.faults++;
  }
}

/*
 * Gives one input to the core. MT_BUSY (messages pending from an earlier input) is answered by
 * sending them and trying again; after the input, what it made pending is sent at once.
 */
static mt_status_t give(input_kind kind, int64_t t_ms, const void *arg) {
  uint32_t messages_before = stats.messages;
  agent.last_chunks = 0;
  mt_status_t st = call_core(kind, t_ms, arg);
  if (st == MT_BUSY) {
    st = drain();
    agent.last_chunks = 0; /* those were an earlier input's */
    if (st == MT_OK) st = call_core(kind, t_ms, arg);
  }
  if (st == MT_OK) {
    agent.last_input_ms = t_ms;
    st = drain();
  }
  /* Messages left and all the core had is sent: the transport's record was among them. */
  if (st == MT_OK && stats.messages != messages_before) agent.loss_in_core = 0;
  faulted(st);
  return st;
}

/* Gives the core the transport losses reported since the last turn, so that the next message
 * that leaves carries them (a CollectorStats record of the transport, SPEC R5). */
static void pass_losses(void) {
  unsigned posture = mt_os_lock();
  uint64_t n = loss_pending;
  loss_pending = 0;
  mt_os_unlock(posture);
  if (n == 0) return;
  mt_status_t st = mt_report_loss(&agent.core, MT_LOSS_TRANSPORT, (int64_t)n);
  if (st == MT_BUSY) {
    st = drain();
    if (st == MT_OK) st = mt_report_loss(&agent.core, MT_LOSS_TRANSPORT, (int64_t)n);
  }
  if (st == MT_OK) {
    agent.loss_in_core += n;
    stats.losses_reported += (uint32_t)n;
    return;
  }
  faulted(st);
  if (st == MT_ERR_TRAP || st == MT_BUSY || (st == MT_ERR_ENGINE && swap.on_trial)) {
    /* not taken now: the next turn (or the core rolled back to) tries again */
    posture = mt_os_lock();
    loss_pending += n;
    mt_os_unlock(posture);
  } else {
    stats.losses_unreported += (uint32_t)n; /* a core that cannot count them (no export) */
  }
}

/* One input as it came: what the probation journal keeps to give it again. */
typedef struct {
  input_kind kind;
  int64_t t_ms;
  text_t text;                  /* a line or a configuration (a line's length may exceed it) */
  const mt_packet_conn *packet; /* a connection */
} input_t;

/* The connection record of an event (the core's typed record, docs/ABI.md). */
static void connection_of(const mt_packet_conn *c, int64_t t_ms, mt_connection_t *record) {
  memset(record, 0, sizeof *record);
  record->t_ms = t_ms;
  memcpy(record->local, c->local, sizeof record->local);
  memcpy(record->remote, c->remote, sizeof record->remote);
  record->local_port = c->local_port;
  record->remote_port = c->remote_port;
  /* mt_packet's protocol, direction and family values are the record's (docs/ABI.md). */
  record->protocol = c->protocol;
  record->direction = c->direction;
  record->family = c->family;
  if (c->direction == MT_PACKET_IN) {
    record->bytes_in = c->bytes;
  } else {
    record->bytes_out = c->bytes;
  }
  if (c->app == MT_PACKET_APP_DNS) {
    record->app = "dns";
    record->app_len = 3;
  }
}

static mt_status_t give_input(const input_t *in) {
  if (in->kind == INPUT_CONNECTION) {
    mt_connection_t record;
    connection_of(in->packet, in->t_ms, &record);
    return give(INPUT_CONNECTION, in->t_ms, &record);
  }
  return give(in->kind, in->t_ms, &in->text);
}

static mt_status_t feed(const input_t *in);

static void ingest(const mt_agent_event_t *event, int64_t now) {
  /* The event happened when it was posted, however long it waited in the queue. */
  uint64_t waited_ms = (uint64_t)(uint32_t)(agent.clock_ticks - event->posted_at) * 1000u /
                       agent.config.ticks_per_second;
  int64_t t_ms = (uint64_t)now > waited_ms ? now - (int64_t)waited_ms : 0;
  input_t in = {INPUT_CONNECTION, not_before_last(t_ms), {NULL, 0}, &event->connection};
  if (feed(&in) == MT_OK) {
    stats.ingested++;
  } else {
    stats.rejected++;
  }
}

/* Records a verdict and its reason (cut to fit) for mt_agent_result. */
static void set_verdict(unsigned verdict, const char *why, size_t why_len) {
  if (why_len >= agent.config.reason_bytes) why_len = agent.config.reason_bytes - 1;
  unsigned posture = mt_os_lock();
  update.verdict = verdict;
  memcpy(agent.config.reason, why, why_len);
  agent.config.reason[why_len] = '\0';
  mt_os_unlock(posture);
}

/* A start refused by the core: its reason, for mt_agent_result. */
static unsigned refused_at_start(void) {
  const char *why = "";
  size_t why_len = 0;
  (void)mt_last_error(&agent.core, &why, &why_len);
  set_verdict(MT_AGENT_REJECTED, why, why_len);
  return MT_AGENT_REJECTED;
}

/* Applies the pending update, if there is one, and records the verdict for mt_agent_result. */
static void apply_update(void) {
  if (!transition(&update.state, UPDATE_PENDING, UPDATE_APPLYING)) return;
  size_t bytes = agent.config.update_bytes;
  text_t json = {agent.config.update, update.length};
  const char *why = "";
  size_t why_len = 0;
  unsigned verdict = MT_AGENT_OK;
  unsigned taken = 0;
  size_t capacity = mt_input_capacity(&agent.core);
  /* A line longer than the update buffer is not copied; the core still reads one of up to its
   * input area (its bytes), or of one byte more (that byte: a trailing '\r' is dropped). Refused
   * here unless all the core reads is in the buffer (the '\0' past its end). */
  if (update.is_line && update.length > bytes &&
      (update.length <= capacity || (update.length == capacity + 1 && capacity > bytes))) {
    static const char too_long[] = "line longer than the agent's line buffer";
    verdict = MT_AGENT_TOO_LONG;
    why = too_long;
    why_len = sizeof too_long - 1;
  } else {
    /* A line carries its own time: the agent's clock has no say (and last_input_ms stays). */
    input_t in = {update.is_line ? INPUT_LINE : INPUT_CONFIGURE,
                  update.is_line ? agent.last_input_ms : not_before_last(now_ms()), json, NULL};
    mt_status_t st = feed(&in);
    taken = st == MT_OK || (update.is_line && st == MT_BLANK);
    if (!taken) {
      /* Refused by the core (its reason), or the engine failed (the status's name). */
      if (st == MT_SKIPPED) {
        verdict = MT_AGENT_REJECTED;
        (void)mt_last_error(&agent.core, &why, &why_len);
      } else {
        verdict = MT_AGENT_ENGINE_ERROR;
        why = mt_status_name(st);
        why_len = strlen(why);
      }
    }
  }
  if (update.is_line) {
    if (taken)
      stats.lines_accepted++;
    else
      stats.lines_rejected++;
  } else if (taken) {
    stats.updates_applied++; /* feed() kept it in the journal */
  } else {
    stats.updates_rejected++;
  }
  set_verdict(verdict, why, why_len);
  update.unqueued = 0;
  (void)transition(&update.state, UPDATE_APPLYING, UPDATE_FREE);
}

/* After the stop: an update still pending will never be applied; its verdict says so. Both the
 * agent (finish) and mt_agent_configure call it, since either may be last; only one succeeds. */
static unsigned cancel_update(void) {
  static const char why[] = "the agent stopped before applying it";
  if (!transition(&update.state, UPDATE_PENDING, UPDATE_FREE)) return 0;
  set_verdict(MT_AGENT_STOPPED, why, sizeof why - 1);
  return 1;
}

static void carry_out_swap(void);
static void offer_records(void);
/* Swaps carried out (any outcome): finish() finishes again after one. */
static unsigned swap_attempts_count;
static void swap_outcome(unsigned result, const char *reason);

static void handle(const mt_agent_event_t *event, int64_t now) {
  if (event->kind == KIND_CONNECTION) {
    ingest(event, now);
  } else {
    apply_update(); /* a wake marker: the update it stands for, if still pending */
  }
}

/* Handles what is in the queue now, without waiting: at most its capacity, so that posters
 * cannot keep the agent here. */
static void take_queued(void) {
  mt_agent_event_t event;
  for (uint32_t n = agent.config.queue_events; n > 0; n--) {
    if (mt_os_receive(&event, 0) != 0) return;
    handle(&event, now_ms());
  }
}

/* The end: what was queued before the stop, time up to now, then everything the core holds.
 * A swap staged and not on hold behind a probation is carried out then (host/update/swap.ts's
 * finish()), and the core it leaves running finishes again: its record goes out. */
static void finish(void) {
  take_queued();
  apply_update(); /* one queued before the stop whose marker found the queue full */
  pass_losses();  /* the last messages carry what was lost so far */
  offer_records();
  /* A tick to the time of the last input closes nothing: skipped, so the core's run summary
   * counts only real inputs. */
  int64_t end = not_before_last(now_ms());
  input_t in = {INPUT_TICK, end, {NULL, 0}, NULL};
  if (end > agent.last_input_ms) (void)feed(&in);
  in.kind = INPUT_FINISH;
  in.t_ms = agent.last_input_ms;
  unsigned attempts = swap_attempts_count;
  (void)feed(&in); /* at a boundary, the swap is carried out in there */
  if (!swap.on_trial && swap.state == UPDATE_PENDING) carry_out_swap();
  if (swap_attempts_count != attempts) {
    in.t_ms = agent.last_input_ms;
    (void)feed(&in);
  }
  /* A clean stop on probation, no trap: the new core stays (swap.ts's endProbation); left on
     trial, the port's state record would roll it back at the next start. */
  if (swap.on_trial && !swap.trapped) {
    swap.on_trial = 0;
    swap.trial_used = 0;
    swap_outcome(MT_AGENT_SWAP_CONFIRMED, "");
  }
  agent.state = AGENT_STOPPED;
  (void)cancel_update(); /* handed over after apply_update above: it comes too late */
  /* one that came during a probation still running: it stays staged (the port keeps it) */
  if (transition(&swap.state, UPDATE_PENDING, UPDATE_FREE))
    swap_outcome(MT_AGENT_SWAP_REFUSED, "the agent stopped before the swap");
  /* A poster that checked the state just before the stop may still have queued an event. */
  mt_agent_event_t event;
  while (mt_os_receive(&event, 0) == 0) {
    if (event.kind == KIND_CONNECTION) count_shared(&stats.dropped);
  }
  mt_os_signal_stopped();
}

unsigned mt_agent_step(uint32_t wait_ticks) {
  if (agent.state == AGENT_STOPPED) return MT_AGENT_STOPPED;
  if (agent.state == AGENT_IDLE) return MT_AGENT_NOT_STARTED;
  if (agent.state == AGENT_STOPPING) {
    finish();
    return MT_AGENT_STOPPED;
  }
  if (update.state == UPDATE_PENDING && update.unqueued) { /* no marker will come */
    take_queued();
    apply_update();
    return MT_AGENT_OK;
  }
  mt_agent_event_t event;
  unsigned status = mt_os_receive(&event, wait_ticks);
  int64_t now = now_ms();
  pass_losses(); /* before the input: a message it makes carries them */
  if (status == 0) {
    handle(&event, now);
  } else {
    input_t in = {INPUT_TICK, not_before_last(now), {NULL, 0}, NULL};
    (void)feed(&in); /* none came: time passes */
  }
  if (agent.state == AGENT_STOPPING) { /* woken by mt_agent_stop: no need to wait another turn */
    finish();
    return MT_AGENT_STOPPED;
  }
  return status;
}

/* Queues one event without blocking; a wake marker carries no connection. */
static unsigned enqueue(const mt_packet_conn *connection, uint32_t kind) {
  mt_agent_event_t event;
  memset(&event, 0, sizeof event);
  if (connection != NULL) event.connection = *connection;
  event.posted_at = mt_os_ticks();
  event.kind = kind;
  return mt_os_post(&event);
}

unsigned mt_agent_post_connection(const mt_packet_conn *connection) {
  if (connection == NULL) return MT_AGENT_NULL;
  unsigned state = agent.state;
  if (state != AGENT_RUNNING) {
    count_shared(&stats.dropped);
    return state == AGENT_IDLE ? MT_AGENT_NOT_STARTED : MT_AGENT_STOPPED;
  }
  unsigned status = enqueue(connection, KIND_CONNECTION);
  count_shared(status == 0 ? &stats.posted : &stats.dropped);
  return status;
}

/* Hands an update or a line over to the agent (see mt_agent_configure and mt_agent_post_line). */
static unsigned hand_over(const char *text, size_t length, unsigned is_line) {
  size_t bytes = agent.config.update_bytes;
  if (text == NULL && !(is_line && length == 0)) return MT_AGENT_NULL;
  if (agent.state == AGENT_IDLE) return MT_AGENT_NOT_STARTED;
  if (agent.state != AGENT_RUNNING) return MT_AGENT_STOPPED;
  if (!is_line && (length == 0 || length > agent.update_max)) return MT_AGENT_TOO_LONG;
  if (!transition(&update.state, UPDATE_FREE, UPDATE_FILLING)) return MT_AGENT_PENDING;
  if (length > 0 && length <= bytes) memcpy(agent.config.update, text, length);
  if (length > bytes) agent.config.update[bytes] = '\0';
  update.is_line = is_line;
  update.length = length;
  update.unqueued = 0;
  set_verdict(MT_AGENT_PENDING, "", 0);
  update.state = UPDATE_PENDING;
  /* A stop may have finished since the check above: then nobody will apply it. */
  if (agent.state == AGENT_STOPPED && cancel_update()) return MT_AGENT_STOPPED;
  if (enqueue(NULL, KIND_WAKE) != 0) update.unqueued = 1;
  return MT_AGENT_OK;
}

unsigned mt_agent_configure(const char *json, size_t length) { return hand_over(json, length, 0); }

unsigned mt_agent_post_line(const char *line, size_t length) { return hand_over(line, length, 1); }

unsigned mt_agent_report_loss(uint32_t messages) {
  unsigned state = agent.state;
  if (state == AGENT_IDLE) return MT_AGENT_NOT_STARTED;
  if (state == AGENT_STOPPED) return MT_AGENT_STOPPED; /* no message will leave any more */
  unsigned posture = mt_os_lock();
  loss_pending += messages;
  mt_os_unlock(posture);
  return MT_AGENT_OK;
}

unsigned mt_agent_result(char *reason, size_t reason_size) {
  unsigned posture = mt_os_lock();
  unsigned verdict = update.verdict;
  if (reason != NULL && reason_size > 0) {
    size_t n = 0;
    const char *kept = agent.config.reason != NULL ? agent.config.reason : "";
    while (n + 1 < reason_size && kept[n] != '\0') n++;
    memcpy(reason, kept, n);
    reason[n] = '\0';
  }
  mt_os_unlock(posture);
  return verdict;
}

unsigned mt_agent_stop(uint32_t wait_ticks) {
  if (agent.state == AGENT_IDLE) return MT_AGENT_NOT_STARTED;
  if (transition(&agent.state, AGENT_RUNNING, AGENT_STOPPING)) {
    (void)enqueue(NULL, KIND_WAKE); /* queue full: the agent is busy and sees it soon */
  }
  int agent_is_caller = mt_os_in_agent_thread();
  if (agent.state != AGENT_STOPPED && !agent_is_caller) mt_os_wait_stopped(wait_ticks);
  if (agent.state != AGENT_STOPPED) return MT_AGENT_PENDING;
  if (!agent_is_caller && transition(&agent.reaped, 0, 1)) mt_os_delete();
  return MT_AGENT_OK;
}

/* Loads the core (or, on a later attempt, resets it) and applies the agent id and the
 * configuration. Returns 0 or an MT_AGENT_* code. */
static unsigned prepare_core(void) {
  mt_status_t st;
  if (!agent.loaded) {
    if (mt_init(&agent.core, &agent.config.engine) != MT_OK) return MT_AGENT_ENGINE_ERROR;
    agent.loaded = 1;
  } else if (mt_reset(&agent.core) != MT_OK) {
    return MT_AGENT_ENGINE_ERROR;
  }
  if (agent.config.agent_id != NULL) {
    text_t id = text_of(agent.config.agent_id);
    st = mt_set_agent_id(&agent.core, id.text, id.length);
    if (st == MT_SKIPPED) return refused_at_start();
    if (st != MT_OK) return MT_AGENT_ENGINE_ERROR;
  }
  if (agent.config.message_format != MT_FORMAT_JSON &&
      mt_set_format(&agent.core, (mt_format_t)agent.config.message_format) != MT_OK) {
    return MT_AGENT_BAD_CONFIG;
  }
  if (agent.config.configuration != NULL) {
    text_t json = text_of(agent.config.configuration);
    st = give(INPUT_CONFIGURE, not_before_last(now_ms()), &json);
    if (st == MT_SKIPPED) return refused_at_start();
    if (st != MT_OK) return MT_AGENT_ENGINE_ERROR;
  }
  return MT_AGENT_OK;
}

/* ---- core updates (mt_agent_swap; docs/UPDATE.md, "Installing: the swap") ---- */

/* The carry-over record (mt_state_save), and the AgentUpdate record's JSON being written. */
static uint8_t state_record[MT_STATE_RECORD_MAX];
static size_t state_record_length;
static char update_record[512];

static void swap_outcome(unsigned result, const char *reason) {
  const mt_agent_update_hooks_t *h = agent.config.update_hooks;
  if (h->outcome != NULL) h->outcome(h->context, result, reason);
}

typedef struct {
  char *p;
  size_t size, len;
} json_t;

static void json_raw(json_t *j, const char *s) {
  while (*s != '\0' && j->len + 1 < j->size) j->p[j->len++] = *s++;
  j->p[j->len] = '\0';
}

static void json_text(json_t *j, const char *s) {
  char one[3] = {0, 0, 0};
  json_raw(j, "\"");
  for (; *s != '\0'; s++) {
    one[0] = (*s == '"' || *s == '\\') ? '\\' : ((unsigned char)*s < 0x20 ? ' ' : *s);
    one[1] = (*s == '"' || *s == '\\') ? *s : '\0';
    json_raw(j, one);
  }
  json_raw(j, "\"");
}

static void json_uint(json_t *j, uint64_t v) {
  char digits[21];
  int n = 20;
  digits[n] = '\0';
  do {
    digits[--n] = (char)('0' + v % 10u);
    v /= 10u;
  } while (v != 0u);
  json_raw(j, digits + n);
}

/* The AgentUpdate record (docs/FORMATS.md) into the running core: it leaves with the next message. */
static int report_facts(const mt_agent_swap_t *r, const char *result, const char *reason) {
  json_t j = {update_record, sizeof update_record, 0};
  json_raw(&j, "{\"FromVersion\":");
  json_text(&j, r->from_version);
  json_raw(&j, ",\"ToVersion\":");
  json_text(&j, r->to_version);
  json_raw(&j, ",\"FromSequence\":");
  json_uint(&j, r->from_sequence);
  json_raw(&j, ",\"ToSequence\":");
  json_uint(&j, r->to_sequence);
  json_raw(&j, ",\"Result\":");
  json_text(&j, result);
  if (reason != NULL) {
    json_raw(&j, ",\"Reason\":");
    json_text(&j, reason);
  }
  json_raw(&j, "}");
  mt_status_t st = mt_report_update(&agent.core, update_record, j.len);
  if (st == MT_BUSY) {
    st = drain();
    if (st == MT_OK) st = mt_report_update(&agent.core, update_record, j.len);
  }
  if (st == MT_OK) return 1;
  if (st == MT_SKIPPED) {
    static const char waits[] = "an AgentUpdate record waits";
    const char *why = "";
    size_t n = 0;
    (void)mt_last_error(&agent.core, &why, &n);
    return n == sizeof waits - 1 && memcmp(why, waits, n) == 0 ? 0 : -1;
  }
  faulted(st); /* a trap here on probation rolls back too */
  return st == MT_ERR_TRAP || st == MT_ERR_ENGINE ? 0 : -1;
}

/* Queues an AgentUpdate record (any thread); 0 when there is no room (counted). */
static int queue_record(const mt_agent_swap_t *facts, const char *result, const char *reason) {
  unsigned posture = mt_os_lock();
  unsigned full = records_count == RECORDS_WAITING;
  unsigned at = (records_head + records_count) % RECORDS_WAITING;
  if (!full) {
    records_count++;
    records[at].ready = 0;
  }
  mt_os_unlock(posture);
  if (full) {
    count_shared(&stats.updates_unreported);
    return 0;
  }
  records[at].facts = *facts;
  records[at].result = result;
  size_t n = reason != NULL ? strlen(reason) : 0;
  if (n >= sizeof records[at].reason) n = sizeof records[at].reason - 1;
  if (n > 0) memcpy(records[at].reason, reason, n);
  records[at].reason[n] = '\0';
  records[at].ready = reason != NULL ? 1u : 2u; /* 2: no reason (applied) */
  return 1;
}

/* Hands waiting records to the core, oldest first, while it takes them (a record it refuses
 * for good is counted and not offered again; one it cannot take yet waits). */
static void offer_records(void) {
  while (records_count > 0u && records[records_head].ready != 0u) {
    unsigned at = records_head;
    int taken = report_facts(&records[at].facts, records[at].result,
                             records[at].ready == 1u ? records[at].reason : NULL);
    if (taken == 0) return;
    if (taken < 0) count_shared(&stats.updates_unreported);
    unsigned posture = mt_os_lock();
    records[at].ready = 0;
    records_head = (records_head + 1u) % RECORDS_WAITING;
    records_count--;
    mt_os_unlock(posture);
  }
}

/* A swap's outcome: its record into the running core (after those waiting), and the hooks. */
static void swap_done(unsigned result, const char *record_result, const char *reason) {
  (void)queue_record(&swap.current, record_result, reason);
  offer_records();
  swap_outcome(result, reason != NULL ? reason : "");
}

static unsigned report_waiting(const mt_agent_swap_t *facts, const char *result,
                               const char *reason) {
  if (facts == NULL || reason == NULL) return MT_AGENT_NULL;
  if (agent.state == AGENT_IDLE) return MT_AGENT_NOT_STARTED;
  if (agent.state != AGENT_RUNNING) return MT_AGENT_STOPPED;
  return queue_record(facts, result, reason) ? MT_AGENT_OK : MT_AGENT_PENDING;
}

unsigned mt_agent_report_rejected(const mt_agent_swap_t *facts, const char *reason) {
  return report_waiting(facts, "rejected", reason);
}

unsigned mt_agent_report_rolled_back(const mt_agent_swap_t *facts, const char *reason) {
  return report_waiting(facts, "rolledBack", reason);
}

/* The self-test's output, hashed as it is drained (each JSON message followed by '\n'). */
static bool hash_chunk(void *ctx, const uint8_t *data, size_t length, bool ends) {
  const mt_agent_update_hooks_t *h = ctx;
  h->sha256_add(h->context, data, length);
  if (ends) h->sha256_add(h->context, (const uint8_t *)"\n", 1);
  return true;
}

/* Runs the self-test trace through the freshly loaded core; NULL, or why it failed. */
static const char *self_test(const uint8_t expected[32]) {
  const mt_agent_update_hooks_t *h = agent.config.update_hooks;
  static const char fails[] = "the new core fails its self-test";
  if (mt_set_agent_id(&agent.core, self_test_agent_id, sizeof self_test_agent_id - 1) != MT_OK)
    return fails;
  h->sha256_begin(h->context);
  const char *line = h->self_test, *end = h->self_test + h->self_test_length;
  mt_status_t st = MT_OK;
  while (line < end && st == MT_OK) {
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    size_t n = nl != NULL ? (size_t)(nl - line) : (size_t)(end - line);
    if (n > 0) {
      st = mt_ingest_line(&agent.core, line, n);
      if (st == MT_OK) st = mt_message_drain(&agent.core, hash_chunk, (void *)h);
    }
    line += n + 1;
  }
  if (st == MT_OK) st = mt_finish(&agent.core);
  if (st == MT_OK) st = mt_message_drain(&agent.core, hash_chunk, (void *)h);
  uint8_t digest[32];
  h->sha256_end(h->context, digest);
  if (st != MT_OK) return fails;
  if (memcmp(digest, expected, sizeof digest) != 0)
    return "self-test mismatch: the blob's self-test output is not the digest in the manifest";
  return NULL;
}

/* An unsigned LEB128 of the blob at *at (at most 32 bits); 0 past its end. */
static uint32_t leb_u32(const uint8_t *b, size_t size, size_t *at) {
  uint32_t v = 0;
  for (unsigned shift = 0; *at < size && shift < 35; shift += 7) {
    uint8_t byte = b[(*at)++];
    v |= (uint32_t)(byte & 0x7fu) << shift;
    if ((byte & 0x80u) == 0) return v;
  }
  return 0;
}

/* The pages of linear memory the blob declares (its memory section's minimum: V8's memory at
 * instantiation, which never grows); 0 when it declares none. */
static uint32_t blob_memory_pages(const uint8_t *b, size_t size) {
  size_t at = 8; /* magic and version */
  while (at < size) {
    uint8_t id = b[at++];
    uint32_t length = leb_u32(b, size, &at);
    if (length > size - at) return 0;
    if (id == 5) { /* memory: a count, then each one's limits (flags, minimum[, maximum]) */
      size_t m = at;
      if (leb_u32(b, size, &m) == 0 || m >= size) return 0;
      m++; /* flags */
      return leb_u32(b, size, &m);
    }
    at += length;
  }
  return 0;
}

/* The loaded new blob against its manifest, as V8's swap checks it: NULL, or the reason. */
static char check_reason[96];
static const char *check_manifest(const mt_agent_swap_t *r) {
  json_t j = {check_reason, sizeof check_reason, 0};
  int32_t abi = 0;
  if (!mt_engine_call(&agent.core, MT_FN_ABI_VERSION, 0, 0, &abi))
    return "the new core does not load";
  if ((uint32_t)abi != r->abi_version) {
    json_raw(&j, "wrong ABI: the blob reports ");
    json_uint(&j, (uint32_t)abi);
    json_raw(&j, ", the manifest says ");
    json_uint(&j, r->abi_version);
    return check_reason;
  }
  const char *profile =
      blob_memory_pages(r->engine.blob, r->engine.blob_size) == 1u ? "rtos" : "linux";
  if (strncmp(profile, r->profile, sizeof r->profile) != 0) {
    json_raw(&j, "wrong profile: the blob is a ");
    json_raw(&j, profile);
    json_raw(&j, " blob, the manifest says ");
    char named[sizeof r->profile + 1];
    memcpy(named, r->profile, sizeof r->profile);
    named[sizeof r->profile] = '\0';
    json_raw(&j, named);
    return check_reason;
  }
  return NULL;
}

/* Why a load_live failed, for the AgentUpdate record. */
static char live_reason[160];

static void live_refused(const char *what) {
  const char *why = "";
  size_t n = 0;
  (void)mt_last_error(&agent.core, &why, &n);
  json_t j = {live_reason, sizeof live_reason, 0};
  json_raw(&j, what);
  for (size_t i = 0; i < n && j.len + 1 < j.size; i++) j.p[j.len++] = why[i];
  j.p[j.len] = '\0';
}

/* Unloads whatever core there is and loads `engine` to continue the run: agent id, format, the
 * configuration, every update and configuration line accepted since (merged, so all of them,
 * in order), then the carry-over record. 0, or 1 with live_reason. */
static unsigned load_live(const mt_config_t *engine) {
  (void)mt_unload(&agent.core);
  agent.loaded = 0;
  agent.in_message = 0;
  agent.config.engine = *engine;
  unsigned status = prepare_core();
  if (status != MT_AGENT_OK) {
    if (status == MT_AGENT_ENGINE_ERROR) {
      live_refused("the new core does not load");
    } else {
      live_refused("the new core refuses the configuration: ");
    }
    return 1;
  }
  reapply_journal();
  if (mt_state_restore(&agent.core, state_record, state_record_length) != MT_OK) {
    live_refused("the new core refuses the carried-over state: ");
    return 1;
  }
  return 0;
}

/* A checkpoint: what the core holds is sent, and its state saved (the previous blob would go
 * on from there); the probation journal starts again. 1, or 0 when it failed (trapped). */
static int checkpoint(void) {
  /* saved aside: a trap in between re-initialised the core, whose fresh state must not replace
     the last good checkpoint (its event numbers would start again) */
  static uint8_t saving[MT_STATE_RECORD_MAX];
  size_t length = 0;
  if (give(INPUT_FINISH, agent.last_input_ms, NULL) != MT_OK ||
      mt_state_save(&agent.core, saving, sizeof saving, &length) != MT_OK)
    return 0;
  memcpy(state_record, saving, length);
  state_record_length = length;
  swap.trial_used = 0;
  return 1;
}

/* ---- the probation journal (agent.config.trial_inputs) ---- */

/* An entry: kind, a flag (1: a line only measured, its length in place of the time), the
 * payload's length (2 bytes), the time (8 bytes), then the payload. */
#define TRIAL_MEASURED 1u

static void put_le(uint8_t *p, uint64_t v, unsigned n) {
  for (unsigned i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8u * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = n; i > 0; i--) v = v << 8 | p[i - 1];
  return v;
}

/* Whether the core only measures a line: longer than its input area once a trailing '\r' that
 * is the one byte too many is dropped (the bindings' rule; apply_update let it through only if
 * that byte is in the update buffer). Not the agent's line buffer: it differs per port. */
static int line_measured(const text_t *line) {
  size_t capacity = mt_input_capacity(&agent.core), n = line->length;
  if (n == capacity + 1u && line->text[n - 1u] == '\r') n--;
  return n > capacity;
}

/* The payload an input keeps: a line's or a configuration's text (none for a line the core only
 * measures: its length), a connection's event, nothing for a tick or the finish. */
static size_t trial_payload(const input_t *in, const void **bytes, unsigned *flags) {
  *flags = 0;
  *bytes = NULL;
  if (in->kind == INPUT_CONNECTION) {
    *bytes = in->packet;
    return sizeof *in->packet;
  }
  if (in->kind == INPUT_LINE && line_measured(&in->text)) {
    *flags = TRIAL_MEASURED;
    return 0;
  }
  if (in->kind == INPUT_LINE || in->kind == INPUT_CONFIGURE) {
    *bytes = in->text.text;
    return in->text.length;
  }
  return 0;
}

/* Keeps an input (the caller made room: it fits). */
static void trial_keep(const input_t *in) {
  const void *bytes;
  unsigned flags;
  size_t n = trial_payload(in, &bytes, &flags);
  uint8_t *e = agent.config.trial_inputs + swap.trial_used;
  e[0] = (uint8_t)in->kind;
  e[1] = (uint8_t)flags;
  put_le(e + 2, n, 2);
  put_le(e + 4, flags == TRIAL_MEASURED ? (uint64_t)in->text.length : (uint64_t)in->t_ms, 8);
  if (n > 0) memcpy(e + MT_AGENT_TRIAL_ENTRY_HEADER, bytes, n);
  swap.trial_used += MT_AGENT_TRIAL_ENTRY_HEADER + n;
}

/* Gives every kept input again, in order, to the core now running (the previous one); the
 * status of the last one. */
static mt_status_t trial_refeed(void) {
  mt_status_t st = MT_OK;
  size_t used = swap.trial_used;
  swap.trial_used = 0;
  agent.last_chunks = 0; /* nothing given again: no boundary (V8: the record reset it) */
  for (size_t at = 0; at + MT_AGENT_TRIAL_ENTRY_HEADER <= used;) {
    const uint8_t *e = agent.config.trial_inputs + at;
    size_t n = (size_t)get_le(e + 2, 2);
    uint64_t t = get_le(e + 4, 8);
    mt_packet_conn packet;
    input_t in = {
        (input_kind)e[0], (int64_t)t, {(const char *)e + MT_AGENT_TRIAL_ENTRY_HEADER, n}, &packet};
    if (in.kind == INPUT_CONNECTION)
      memcpy(&packet, e + MT_AGENT_TRIAL_ENTRY_HEADER, sizeof packet);
    if (e[1] == TRIAL_MEASURED) { /* a line the core only measures: its bytes are not read */
      in.t_ms = agent.last_input_ms;
      in.text.text = agent.config.update;
      in.text.length = (size_t)t;
    } else if (in.kind == INPUT_LINE) {
      in.t_ms = agent.last_input_ms; /* a line carries its own time */
    }
    st = give_input(&in);
    stats.trial_refed++;
    at += MT_AGENT_TRIAL_ENTRY_HEADER + n;
  }
  return st;
}

/* The previous blob again, from the last checkpoint; `why` in the AgentUpdate record. */
static void roll_back(const char *why) {
  swap.on_trial = 0;
  swap.trapped = 0;
  if (load_live(&swap.previous) != 0) stats.faults++; /* the blob that ran before */
  swap_done(MT_AGENT_SWAP_ROLLED_BACK, "rolledBack", why);
}

/* A trap on probation: the previous core from the last checkpoint, then the inputs since. */
static mt_status_t roll_back_and_refeed(void) {
  roll_back("the new core trapped within 2 windows of the swap");
  return trial_refeed();
}

/* One input on probation (host/update/swap.ts's onProbation): kept, given, and at a window
 * boundary a checkpoint; a trap rolls back and gives the kept inputs to the previous core. */
static mt_status_t on_probation(const input_t *in) {
  const void *bytes;
  unsigned flags;
  size_t cost = MT_AGENT_TRIAL_ENTRY_HEADER + trial_payload(in, &bytes, &flags);
  size_t capacity = agent.config.trial_inputs_bytes;
  if (swap.trial_used > 0 && swap.trial_used + cost > capacity) {
    /* full: a checkpoint first (an early window end, not one of the trial's boundaries) */
    if (!checkpoint()) {
      (void)roll_back_and_refeed();
      return give_input(in);
    }
    stats.trial_checkpoints++;
  }
  unsigned kept = cost <= capacity;
  if (kept) trial_keep(in); /* else given after a checkpoint, not kept */
  mt_status_t st = give_input(in);
  if (swap.trapped) {
    st = roll_back_and_refeed(); /* a kept input is the journal's last entry: given again */
    /* one not kept is given to the previous core here (swap.ts the same): never lost */
    return kept ? st : give_input(in);
  }
  if (agent.last_chunks == 0) return st;
  /* a window boundary: the boundary's messages left, then the checkpoint */
  if (!checkpoint()) return roll_back_and_refeed();
  if (--swap.trial_left == 0) {
    swap.on_trial = 0;
    swap_outcome(MT_AGENT_SWAP_CONFIRMED, "");
  }
  return st;
}

/* Whether an accepted line is a configuration line (its top-level "kind" is "config"), as
 * V8's replay tells: such a line is applied again to every core that follows. */
static int is_config_line(const char *p, size_t n) {
  static const char kind[] = "\"kind\"", config[] = "\"config\"";
  int depth = 0, is_config = 0, key = 1;
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (c == '"') {
      size_t end = i + 1;
      while (end < n && p[end] != '"') end += p[end] == '\\' ? 2 : 1;
      if (end >= n) return 0;
      if (depth == 1 && key && end - i + 1 == sizeof kind - 1 &&
          memcmp(p + i, kind, sizeof kind - 1) == 0) {
        size_t v = end + 1;
        while (v < n &&
               (p[v] == ' ' || p[v] == '\t' || p[v] == '\r' || p[v] == '\n' || p[v] == ':'))
          v++;
        is_config = n - v >= sizeof config - 1 && memcmp(p + v, config, sizeof config - 1) == 0;
      }
      i = end;
    } else if (c == '{' || c == '[') {
      depth++;
      key = c == '{';
    } else if (c == '}' || c == ']') {
      depth--;
      key = 0;
    } else if (c == ',') {
      key = 1;
    } else if (c == ':') {
      key = 0;
    }
  }
  return is_config;
}

/*
 * One input through the swap's rules (host/update/swap.ts's UpdatableCore.call): the waiting
 * records first; on probation kept and checkpointed; a configuration accepted is kept for the
 * cores that follow; after a window boundary outside a probation, a staged swap is carried out.
 */
static mt_status_t feed(const input_t *in) {
  offer_records();
  if (swap.on_trial && swap.trapped) (void)roll_back_and_refeed(); /* a trap offering a record */
  mt_status_t st = swap.on_trial ? on_probation(in) : give_input(in);
  if (st == MT_OK && in->kind == INPUT_CONFIGURE) {
    journal_append(in->text.text, in->text.length);
  } else if (st == MT_OK && in->kind == INPUT_LINE &&
             in->text.length <= agent.config.update_bytes &&
             is_config_line(in->text.text, in->text.length)) {
    journal_append(in->text.text, in->text.length);
  }
  if (!swap.on_trial && swap.state == UPDATE_PENDING && agent.last_chunks > 0) carry_out_swap();
  offer_records();
  return st;
}

/* The swap staged by mt_agent_swap (docs/UPDATE.md, "Installing: the swap", steps 3 to 7). */
static void carry_out_swap(void) {
  if (!transition(&swap.state, UPDATE_PENDING, UPDATE_APPLYING)) return;
  swap.current = swap.request;
  swap.state = UPDATE_FREE; /* another may be staged now: it waits for this one's probation */
  swap_attempts_count++;
  /* The ahead-of-time engine's blob is code in flash: there is nothing to unload or load. */
  if (!mt_engine_can_swap()) {
    static const char aot[] =
        "this image runs its core ahead of time (compiled in): it cannot load another blob";
    swap_done(MT_AGENT_SWAP_REFUSED, "rejected", aot);
    return;
  }
  /* Send, then swap: everything the old core holds leaves first, then its state is saved. */
  pass_losses();
  if (!checkpoint()) {
    static const char unsaved[] = "the running core cannot save its state";
    swap_done(MT_AGENT_SWAP_REFUSED, "rejected", unsaved);
    return;
  }
  swap.previous = agent.config.engine;
  const mt_agent_update_hooks_t *h = agent.config.update_hooks;
  const char *unpersisted = h->swapping != NULL ? h->swapping(h->context) : NULL;
  if (unpersisted != NULL) { /* the old core is still loaded: it runs on */
    swap_done(MT_AGENT_SWAP_REFUSED, "rejected", unpersisted);
    return;
  }

  /* The new blob alone: loaded, checked against its manifest, self-tested, unloaded, then
     loaded to continue the run (V8's order: load, ABI, profile, self-test). */
  const char *why = NULL;
  (void)mt_unload(&agent.core);
  agent.loaded = 0;
  if (mt_init(&agent.core, &swap.current.engine) != MT_OK) {
    why = "the new core does not load";
  } else {
    why = check_manifest(&swap.current);
    if (why == NULL) why = self_test(swap.current.self_test_sha256);
  }
  if (why == NULL && load_live(&swap.current.engine) != 0) why = live_reason;
  if (why != NULL) {
    roll_back(why);
    return;
  }
  swap.on_trial = 1; /* before its record: a trap taking it rolls back */
  swap.trapped = 0;
  swap.trial_left = h->trial_windows;
  swap.trial_used = 0;
  swap_done(MT_AGENT_SWAP_APPLIED, "applied", NULL);
  if (swap.trial_left == 0 && swap.on_trial) { /* no probation asked for */
    swap.on_trial = 0;
    swap_outcome(MT_AGENT_SWAP_CONFIRMED, "");
  }
}

unsigned mt_agent_swap(const mt_agent_swap_t *request) {
  if (request == NULL || request->engine.blob == NULL) return MT_AGENT_NULL;
  if (agent.state == AGENT_IDLE) return MT_AGENT_NOT_STARTED;
  if (agent.state != AGENT_RUNNING) return MT_AGENT_STOPPED;
  const mt_agent_update_hooks_t *h = agent.config.update_hooks;
  if (h == NULL || h->sha256_begin == NULL || h->sha256_add == NULL || h->sha256_end == NULL ||
      h->self_test == NULL || agent.config.trial_inputs == NULL ||
      agent.config.trial_inputs_bytes < MT_AGENT_TRIAL_ENTRY_HEADER + sizeof(mt_packet_conn))
    return MT_AGENT_BAD_CONFIG;
  if (!transition(&swap.state, UPDATE_FREE, UPDATE_FILLING)) return MT_AGENT_PENDING;
  swap.request = *request;
  swap.state = UPDATE_PENDING; /* carried out at the first window boundary from now */
  return MT_AGENT_OK;
}

static int valid(const mt_agent_config_t *c) {
  /* a probation journal entry's payload length is 2 bytes: no entry may be longer than that */
  size_t trial = c != NULL ? c->trial_inputs_bytes : 0;
  return c != NULL && c->send != NULL && c->queue_events > 0 && c->ticks_per_second > 0 &&
         c->update != NULL && c->update_bytes > 0 && c->update_bytes <= 65536 &&
         c->journal != NULL && c->reason != NULL && c->reason_bytes > 0 &&
         (c->trial_inputs == NULL ||
          (trial >= MT_AGENT_TRIAL_ENTRY_HEADER + sizeof(mt_packet_conn) &&
           trial <= MT_AGENT_TRIAL_ENTRY_HEADER + 65535u));
}

unsigned mt_agent_start(const mt_agent_config_t *config) {
  if (agent.state != AGENT_IDLE) return MT_AGENT_ALREADY_STARTED;
  if (!valid(config)) return MT_AGENT_BAD_CONFIG;
  agent.config = *config;
  agent.update_max = config->update_bytes < 65535 ? config->update_bytes : 65535;
  agent.clock_ticks = mt_os_ticks();
  agent.elapsed_ticks = 0;
  agent.last_input_ms = 0;
  agent.in_message = 0;
  unsigned status = prepare_core();
  if (status != MT_AGENT_OK) return status;
  status = mt_os_create();
  if (status != 0) return status;
  agent.state = AGENT_RUNNING; /* before the thread: it may preempt this caller at once */
  status = mt_os_start_thread();
  if (status != 0) {
    agent.state = AGENT_IDLE;
    mt_os_delete();
  }
  return status;
}

void mt_agent_stats_get(mt_agent_stats_t *out) {
  if (out == NULL) return;
  unsigned posture = mt_os_lock();
  *out = stats;
  mt_os_unlock(posture);
}

unsigned mt_agent_summary(char *json, size_t size, size_t *length) {
  if (json == NULL || length == NULL) return MT_AGENT_NULL;
  *length = 0;
  if (agent.state != AGENT_STOPPED) {
    return agent.state == AGENT_IDLE ? MT_AGENT_NOT_STARTED : MT_AGENT_PENDING;
  }
  const char *text;
  size_t n;
  if (mt_stats(&agent.core, &text, &n) != MT_OK) return MT_AGENT_ENGINE_ERROR;
  if (n > size) return MT_AGENT_TOO_LONG;
  memcpy(json, text, n);
  *length = n;
  return MT_AGENT_OK;
}
