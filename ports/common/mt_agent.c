/* The agent: one queue feeding one core on one thread, over the RTOS layer of mt_os.h; see
 * mt_agent.h (and microtally_threadx.h, its ThreadX face, for each call in full). */
#include "mt_agent.h"

#include <string.h>

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

/* A core update's swap (mt_agent_swap): requested from any thread, carried out by the agent. */
static struct {
  volatile unsigned state;    /* UPDATE_FREE, _FILLING, _PENDING, _APPLYING (the swap is done) */
  volatile unsigned unqueued; /* its wake marker found the queue full */
  mt_agent_swap_t request;
  mt_config_t previous; /* the blob before the swap: what a rollback loads again */
  uint32_t trial_left;  /* window boundaries the new core must pass before its trial is over */
  unsigned on_trial;
  unsigned boundary; /* a message left the core on trial this turn: a checkpoint is due */
  unsigned trapped;  /* the new core trapped on trial: roll back at the end of this turn */
} swap;

/* Delivery refusals (mt_agent_report_rejected) and a port's own rollbacks
 * (mt_agent_report_rolled_back) waiting to become AgentUpdate records: the core keeps one record
 * until a message leaves, so they go in one at a time, oldest first. */
#define REJECTED_WAITING 4u
static struct {
  mt_agent_swap_t facts;
  const char *result; /* "rejected", or "rolledBack" (mt_agent_report_rolled_back) */
  char reason[160];
} rejected[REJECTED_WAITING];
static volatile unsigned rejected_head, rejected_count, rejected_filling;

/* The self-test's agent id (docs/UPDATE.md), so its digest does not depend on the device's. */
static const char self_test_agent_id[] = "00000000-0000-4000-8000-000000000012";

/* Accepted updates, back to back, each a 2-byte length then the JSON, oldest first. */
static size_t journal_used;

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
  if (ends) {
    stats.messages++;
    if (swap.on_trial) swap.boundary = 1;
  }
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

/* Applies one configuration during recovery; a fault here is not recovered again. */
static void reapply(const char *text, size_t length) {
  text_t json = {text, length};
  if (call_core(INPUT_CONFIGURE, agent.last_input_ms, &json) == MT_OK) (void)drain();
}

/* After a trap the bindings re-initialised the core with the profile's defaults: what was
 * begun is void, and the application's configuration, then every update accepted since, must
 * be applied again (updates are merged, so all of them, in order). */
static void recover(void) {
  const uint8_t *journal = agent.config.journal;
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
  if (agent.config.configuration != NULL) {
    text_t start = text_of(agent.config.configuration);
    reapply(start.text, start.length);
  }
  for (size_t at = 0; at + 2 <= journal_used;) {
    size_t length = (size_t)journal[at] | ((size_t)journal[at + 1] << 8);
    reapply((const char *)&journal[at + 2], length);
    at += 2 + length;
  }
}

/* Keeps an accepted update for recover(), forgetting the oldest ones if it does not fit. */
static void journal_append(const char *text, size_t length) {
  uint8_t *journal = agent.config.journal;
  size_t need = 2 + length;
  if (need > agent.config.journal_bytes) { /* not even alone (a tunable set too small): not kept */
    stats.updates_forgotten += 1;
    need = 0;
  }
  size_t drop = 0;
  while (journal_used - drop + need > agent.config.journal_bytes) {
    drop += 2 + ((size_t)journal[drop] | ((size_t)journal[drop + 1] << 8));
    stats.updates_forgotten++;
  }
  memmove(journal, journal + drop, journal_used - drop);
  journal_used -= drop;
  if (need == 0) return;
  journal[journal_used] = (uint8_t)(length & 0xFFu);
  journal[journal_used + 1] = (uint8_t)(length >> 8);
  memcpy(journal + journal_used + 2, text, length);
  journal_used += need;
}

/* A call into the core failed with `st`: a trap is recovered from. On probation a trap, or a
 * re-initialisation that failed after one (MT_ERR_ENGINE: no working core), rolls the swap back
 * at the end of the turn. */
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
  mt_status_t st = call_core(kind, t_ms, arg);
  if (st == MT_BUSY) {
    st = drain();
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

static void ingest(const mt_agent_event_t *event, int64_t now) {
  const mt_packet_conn *c = &event->connection;
  /* The event happened when it was posted, however long it waited in the queue. */
  uint64_t waited_ms = (uint64_t)(uint32_t)(agent.clock_ticks - event->posted_at) * 1000u /
                       agent.config.ticks_per_second;
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
    mt_status_t st = update.is_line ? give(INPUT_LINE, agent.last_input_ms, &json)
                                    : give(INPUT_CONFIGURE, not_before_last(now_ms()), &json);
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
    journal_append(agent.config.update, update.length);
    stats.updates_applied++;
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
static void end_trial(void);
static void take_rejected(void);
static void swap_outcome(unsigned result, const char *reason);

static void handle(const mt_agent_event_t *event, int64_t now) {
  if (event->kind == KIND_CONNECTION) {
    ingest(event, now);
  } else {
    apply_update();   /* a wake marker: the update it stands for, if still pending */
    carry_out_swap(); /* or the swap */
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

/* The end: what was queued before the stop, time up to now, then everything the core holds. */
static void finish(void) {
  take_queued();
  apply_update(); /* one queued before the stop whose marker found the queue full */
  pass_losses();  /* the last messages carry what was lost so far */
  take_rejected();
  /* A tick to the time of the last input closes nothing: skipped, so the core's run summary
   * counts only real inputs. */
  int64_t end = not_before_last(now_ms());
  if (end > agent.last_input_ms) (void)give(INPUT_TICK, end, NULL);
  (void)give(INPUT_FINISH, agent.last_input_ms, NULL);
  agent.state = AGENT_STOPPED;
  (void)cancel_update(); /* handed over after apply_update above: it comes too late */
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
  if (swap.state == UPDATE_PENDING && swap.unqueued) {
    take_queued();
    carry_out_swap();
    return MT_AGENT_OK;
  }
  mt_agent_event_t event;
  unsigned status = mt_os_receive(&event, wait_ticks);
  int64_t now = now_ms();
  pass_losses(); /* before the input: a message it makes carries them */
  take_rejected();
  if (status == 0) {
    handle(&event, now);
  } else {
    (void)give(INPUT_TICK, not_before_last(now), NULL); /* none came: time passes */
  }
  end_trial();
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
  faulted(st); /* a trap here on probation rolls back too */
  return st == MT_OK;
}

/* A swap's record: the core is fresh or just sent everything, so it takes it. */
static void report_update(const char *result, const char *reason) {
  if (!report_facts(&swap.request, result, reason)) stats.updates_unreported++;
}

/* The oldest delivery refusal waiting, into the running core (it stays if a record waits there). */
static void take_rejected(void) {
  if (rejected_count == 0u || rejected_filling) return;
  unsigned at = rejected_head;
  if (!report_facts(&rejected[at].facts, rejected[at].result, rejected[at].reason)) return;
  unsigned posture = mt_os_lock();
  rejected_head = (rejected_head + 1u) % REJECTED_WAITING;
  rejected_count--;
  mt_os_unlock(posture);
}

static unsigned report_waiting(const mt_agent_swap_t *facts, const char *result,
                               const char *reason) {
  if (facts == NULL || reason == NULL) return MT_AGENT_NULL;
  if (agent.state == AGENT_IDLE) return MT_AGENT_NOT_STARTED;
  if (agent.state != AGENT_RUNNING) return MT_AGENT_STOPPED;
  unsigned posture = mt_os_lock();
  unsigned full = rejected_count == REJECTED_WAITING || rejected_filling;
  unsigned at = (rejected_head + rejected_count) % REJECTED_WAITING;
  if (!full) rejected_filling = 1;
  mt_os_unlock(posture);
  if (full) {
    count_shared(&stats.updates_unreported);
    return MT_AGENT_PENDING;
  }
  rejected[at].facts = *facts;
  rejected[at].result = result;
  size_t n = strlen(reason);
  if (n >= sizeof rejected[at].reason) n = sizeof rejected[at].reason - 1;
  memcpy(rejected[at].reason, reason, n);
  rejected[at].reason[n] = '\0';
  posture = mt_os_lock();
  rejected_count++;
  rejected_filling = 0;
  mt_os_unlock(posture);
  return MT_AGENT_OK;
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
 * configuration, every update accepted since (merged, so all of them, in order), then the
 * carry-over record. 0, or 1 with live_reason. */
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
  const uint8_t *journal = agent.config.journal;
  for (size_t at = 0; at + 2 <= journal_used;) {
    size_t length = (size_t)journal[at] | ((size_t)journal[at + 1] << 8);
    reapply((const char *)&journal[at + 2], length);
    at += 2 + length;
  }
  if (mt_state_restore(&agent.core, state_record, state_record_length) != MT_OK) {
    live_refused("the new core refuses the carried-over state: ");
    return 1;
  }
  return 0;
}

/* A checkpoint: what the core holds is sent, and its state saved (the previous blob would go
 * on from there). */
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
  return 1;
}

/* The previous blob again, from the last checkpoint; `why` in the AgentUpdate record. */
static void roll_back(const char *why) {
  swap.on_trial = 0;
  swap.trapped = 0;
  if (load_live(&swap.previous) != 0) stats.faults++; /* the blob that ran before */
  report_update("rolledBack", why);
  swap_outcome(MT_AGENT_SWAP_ROLLED_BACK, why);
}

/* The swap requested by mt_agent_swap, if one is pending (docs/UPDATE.md, "On a device"). */
static void carry_out_swap(void) {
  if (!transition(&swap.state, UPDATE_PENDING, UPDATE_APPLYING)) return;
  swap.unqueued = 0;
  /* The ahead-of-time engine's blob is code in flash: there is nothing to unload or load. */
  if (!mt_engine_can_swap()) {
    static const char aot[] =
        "this image runs its core ahead of time (compiled in): it cannot load another blob";
    report_update("rejected", aot);
    swap_outcome(MT_AGENT_SWAP_REFUSED, aot);
    swap.state = UPDATE_FREE;
    return;
  }
  /* Send, then swap: everything the old core holds leaves first, then its state is saved. */
  pass_losses();
  int64_t end = not_before_last(now_ms());
  if (end > agent.last_input_ms) (void)give(INPUT_TICK, end, NULL);
  if (!checkpoint()) {
    static const char unsaved[] = "the running core cannot save its state";
    report_update("rejected", unsaved);
    swap_outcome(MT_AGENT_SWAP_REFUSED, unsaved);
    swap.state = UPDATE_FREE;
    return;
  }
  swap.previous = agent.config.engine;
  const mt_agent_update_hooks_t *h = agent.config.update_hooks;
  const char *unpersisted = h->swapping != NULL ? h->swapping(h->context) : NULL;
  if (unpersisted != NULL) { /* the old core is still loaded: it runs on */
    report_update("rejected", unpersisted);
    swap_outcome(MT_AGENT_SWAP_REFUSED, unpersisted);
    swap.state = UPDATE_FREE;
    return;
  }

  /* The new blob alone: loaded, self-tested, unloaded, then loaded to continue the run. */
  const char *why = NULL;
  (void)mt_unload(&agent.core);
  agent.loaded = 0;
  if (mt_init(&agent.core, &swap.request.engine) != MT_OK) {
    why = "the new core does not load";
  } else {
    why = self_test(swap.request.self_test_sha256);
  }
  if (why == NULL && load_live(&swap.request.engine) != 0) why = live_reason;
  if (why != NULL) {
    roll_back(why);
    swap.state = UPDATE_FREE;
    return;
  }
  swap.on_trial = 1; /* before its record: a trap taking it rolls back */
  swap.trial_left = h->trial_windows;
  report_update("applied", NULL);
  swap.boundary = 0;
  swap_outcome(MT_AGENT_SWAP_APPLIED, "");
  end_trial();
}

/* After each turn on probation: a trap rolls back from the last checkpoint; each window
 * boundary (a message left) is a checkpoint; after trial_windows of them the trial is over. */
static void end_trial(void) {
  if (!swap.on_trial) return;
  if (swap.trapped) {
    roll_back("the new core trapped within 2 windows of the swap");
  } else if (swap.trial_left == 0) {
    swap.on_trial = 0;
    swap_outcome(MT_AGENT_SWAP_CONFIRMED, "");
  } else if (swap.boundary) {
    if (checkpoint()) swap.trial_left--;
    swap.boundary = 0; /* what the checkpoint itself sent is not a window boundary */
    if (swap.trapped) {
      roll_back("the new core trapped within 2 windows of the swap");
    } else if (swap.trial_left == 0) {
      swap.on_trial = 0;
      swap_outcome(MT_AGENT_SWAP_CONFIRMED, "");
    } else {
      return;
    }
  } else {
    return;
  }
  swap.state = UPDATE_FREE;
}

unsigned mt_agent_swap(const mt_agent_swap_t *request) {
  if (request == NULL || request->engine.blob == NULL) return MT_AGENT_NULL;
  if (agent.state == AGENT_IDLE) return MT_AGENT_NOT_STARTED;
  if (agent.state != AGENT_RUNNING) return MT_AGENT_STOPPED;
  const mt_agent_update_hooks_t *h = agent.config.update_hooks;
  if (h == NULL || h->sha256_begin == NULL || h->sha256_add == NULL || h->sha256_end == NULL ||
      h->self_test == NULL)
    return MT_AGENT_BAD_CONFIG;
  if (!transition(&swap.state, UPDATE_FREE, UPDATE_FILLING)) return MT_AGENT_PENDING;
  swap.request = *request;
  swap.unqueued = 0;
  swap.state = UPDATE_PENDING;
  if (enqueue(NULL, KIND_WAKE) != 0) swap.unqueued = 1;
  return MT_AGENT_OK;
}

static int valid(const mt_agent_config_t *c) {
  return c != NULL && c->send != NULL && c->queue_events > 0 && c->ticks_per_second > 0 &&
         c->update != NULL && c->update_bytes > 0 && c->update_bytes <= 65536 &&
         c->journal != NULL && c->reason != NULL && c->reason_bytes > 0;
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
