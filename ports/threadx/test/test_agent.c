/* The agent (microtally_threadx.c) with the real core under wasm3, on the ThreadX/NetX Duo test
 * double: start-up checks, the never-blocking queue and its drop count, events stamped when
 * posted, windows closed by time passing on the double's clock, packets through the NetX Duo
 * hook, configuration updates while running (applied in queue order, refused whole, one at a
 * time), the stop that sends the last window, and every message checked as JSON with the hit
 * counts it must carry.
 * Built twice: with the tick clock (epoch_ms_at_start) and, with MT_TEST_WALL_CLOCK, with an
 * application clock (clock_ms). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "messages.h"
#include "microtally_netx.h"
#include "microtally_threadx.h"
#include "packets.h"

#define EPOCH_MS 1700000000000ll /* 2023-11-14T22:13:20.000Z */
#define MS_PER_TICK (1000 / MT_TX_TICKS_PER_SECOND)
#define QUEUE_EVENTS 8
#define WINDOW_TICKS (5 * MT_TX_TICKS_PER_SECOND) /* "high" = 5 s in CONFIGURATION */
#define AGENT_ID "0123abcd-4567-89ef-0123-456789abcdef"
#define CONFIGURATION \
  "{\"network\":{\"priority\":\"high\"},\"priorityIntervals\":{\"high\":5},\"maxMessageBytes\":1024}"

/* ---- what the agent sends ------------------------------------------------------------- */

#define MAX_MESSAGES 64
#define MAX_MESSAGE_BYTES 1024

static char messages[MAX_MESSAGES][MAX_MESSAGE_BYTES + 1];
static size_t message_len[MAX_MESSAGES];
static unsigned message_count; /* complete messages since the last forget_messages() */
static char partial[MAX_MESSAGE_BYTES + 1];
static size_t partial_len;
static unsigned send_problems; /* wrong context, oversized message, unknown `last` */
static unsigned aborts;
static int send_context;
static ULONG loss_from_send; /* reported by on_send itself, on the next end */

static VOID on_send(VOID *context, const UCHAR *bytes, ULONG length, UINT last) {
  if (context != &send_context) send_problems++;
  if (last == MT_TX_CHUNK_ABORT) {
    aborts++;
    partial_len = 0;
    return;
  }
  if (last != MT_TX_CHUNK_MORE && last != MT_TX_CHUNK_LAST) send_problems++;
  if (length == 0 || partial_len + length > MAX_MESSAGE_BYTES) {
    send_problems++;
    return;
  }
  memcpy(partial + partial_len, bytes, length);
  partial_len += length;
  if (last != MT_TX_CHUNK_LAST) return;
  if (loss_from_send > 0) {
    if (mt_tx_report_loss(loss_from_send) != TX_SUCCESS) send_problems++;
    loss_from_send = 0;
  }
  if (message_count < MAX_MESSAGES) {
    memcpy(messages[message_count], partial, partial_len);
    messages[message_count][partial_len] = '\0';
    message_len[message_count] = partial_len;
  } else {
    send_problems++;
  }
  message_count++;
  partial_len = 0;
}

static void forget_messages(void) {
  message_count = 0;
  partial_len = 0;
}

/* The first message holding `needle` (a window may span several messages); "" if none. */
static const char *message_with(const char *needle) {
  for (unsigned i = 0; i < message_count && i < MAX_MESSAGES; i++) {
    if (strstr(messages[i], needle) != NULL) return messages[i];
  }
  return "";
}

/* Sum of the integers after `key` over all messages. */
static long long total_of(const char *key) {
  long long sum = 0;
  for (unsigned i = 0; i < message_count && i < MAX_MESSAGES; i++) sum += sum_of(messages[i], key);
  return sum;
}

/* ---- time, connections, packets -------------------------------------------------------- */

#ifdef MT_TEST_WALL_CLOCK
static int64_t clock_offset_ms; /* lets the application clock step back */
static uint64_t wall_clock(VOID) {
  return (uint64_t)(EPOCH_MS + (int64_t)tx_time_get() * MS_PER_TICK + clock_offset_ms);
}
#endif

static int64_t tick_ms(ULONG ticks) { return EPOCH_MS + (int64_t)ticks * MS_PER_TICK; }

/* The agent's time at `ticks`, once the tick counter has wrapped (tick_counter_wraps). */
static int64_t wrapped_ms;
static int64_t agent_ms(ULONG ticks) { return tick_ms(ticks) + wrapped_ms; }

static mt_packet_conn connection(const uint8_t local[4], uint16_t lport, const uint8_t remote[4],
                                 uint16_t rport, uint8_t protocol, uint8_t direction,
                                 uint32_t bytes) {
  mt_packet_conn c;
  memset(&c, 0, sizeof c);
  memcpy(c.local, local, 4);
  memcpy(c.remote, remote, 4);
  c.local_port = lport;
  c.remote_port = rport;
  c.protocol = protocol;
  c.direction = direction;
  c.family = 4;
  c.bytes = bytes;
  return c;
}

static MT_TX_STATS stats_now(void) {
  MT_TX_STATS s;
  mt_tx_stats_get(&s);
  return s;
}

/* Steps the agent on an empty queue (each wait times out and a second passes) until a message
 * arrives; returns the steps taken, or 0 if none came within `max_steps`. */
static unsigned step_until_message(unsigned max_steps) {
  unsigned before = message_count;
  for (unsigned i = 1; i <= max_steps; i++) {
    if (mt_tx_agent_step(MT_TX_WINDOW_CHECK_TICKS) != TX_QUEUE_EMPTY) return 0;
    if (message_count != before) return i;
  }
  return 0;
}

/* Every message so far is one JSON object within maxMessageBytes. */
static void check_messages_are_json(void) {
  unsigned n = message_count < MAX_MESSAGES ? message_count : MAX_MESSAGES;
  for (unsigned i = 0; i < n; i++) {
    CHECK(json_object(messages[i], message_len[i]));
    CHECK(message_len[i] <= 1024);
    CHECK(strstr(messages[i], "\"AgentId\":\"" AGENT_ID "\"") != NULL);
  }
}

static UCHAR agent_stack[MT_TX_MIN_STACK_BYTES];
static ULONG agent_queue[QUEUE_EVENTS * MT_TX_EVENT_ULONGS];

static MT_TX_CONFIG good_config(void) {
  MT_TX_CONFIG c;
  memset(&c, 0, sizeof c);
  c.stack = agent_stack;
  c.stack_size = sizeof agent_stack;
  c.priority = 16;
  c.queue_storage = agent_queue;
  c.queue_size = sizeof agent_queue;
  c.epoch_ms_at_start = (uint64_t)EPOCH_MS;
#ifdef MT_TEST_WALL_CLOCK
  c.epoch_ms_at_start = 0; /* ignored when clock_ms is set */
  c.clock_ms = wall_clock;
#endif
  c.send = on_send;
  c.send_context = &send_context;
  c.agent_id = AGENT_ID;
  c.configuration = CONFIGURATION;
  return c;
}

/* ---- the tests ------------------------------------------------------------------------- */

static void before_start(void) {
  mt_packet_conn c = connection(V4_DEVICE, 50000, V4_PEER, 443, MT_PACKET_TCP, MT_PACKET_OUT, 40);
  CHECK(mt_tx_post_connection(NULL) == TX_PTR_ERROR);
  CHECK(mt_tx_post_connection(&c) == TX_QUEUE_ERROR);
  MT_TX_STATS s = stats_now();
  CHECK(s.dropped == 1 && s.posted == 0);
  CHECK(mt_tx_agent_step(0) == TX_QUEUE_ERROR);
  mt_tx_stats_get(NULL); /* ignored, no crash */
  CHECK(mt_tx_configure("{}", 2) == TX_QUEUE_ERROR);
  CHECK(mt_tx_report_loss(1) == TX_QUEUE_ERROR);
  CHECK(mt_tx_stop(0) == TX_QUEUE_ERROR);
  char reason[8] = "x";
  CHECK(mt_tx_configure_result(reason, sizeof reason) == TX_SUCCESS && reason[0] == '\0');
}

static void bad_configurations(void) {
  CHECK(mt_tx_start(NULL) == MT_TX_BAD_CONFIG);
  MT_TX_CONFIG c = good_config();
  c.send = NULL;
  CHECK(mt_tx_start(&c) == MT_TX_BAD_CONFIG);
  c = good_config();
  c.queue_storage = NULL;
  CHECK(mt_tx_start(&c) == MT_TX_BAD_CONFIG);
  c = good_config();
  c.queue_size = MT_TX_EVENT_BYTES - 1; /* not even one event */
  CHECK(mt_tx_start(&c) == MT_TX_BAD_CONFIG);
  c = good_config();
  c.stack_size = MT_TX_MIN_STACK_BYTES - 1;
  CHECK(mt_tx_start(&c) == MT_TX_BAD_CONFIG);

  /* The core refuses: the start fails whole, and a later start may still succeed. */
  c = good_config();
  c.agent_id = "not-a-uuid";
  CHECK(mt_tx_start(&c) == MT_TX_REJECTED);
  c = good_config();
  c.configuration = "{\"network\":{\"cacheSize\":0}}";
  CHECK(mt_tx_start(&c) == MT_TX_REJECTED);
  c.configuration = "{\"network\":";
  CHECK(mt_tx_start(&c) == MT_TX_REJECTED);
  c.configuration = "{\"noSuchKey\":1}";
  CHECK(mt_tx_start(&c) == MT_TX_REJECTED);

  /* ThreadX refuses the thread: its error comes back and the queue is deleted again (else the
   * next start's tx_queue_create would fail on a queue already created). */
  c = good_config();
  c.priority = TX_MAX_PRIORITIES;
  CHECK(mt_tx_start(&c) == TX_PRIORITY_ERROR);

  CHECK(shim_thread_last_created() == NULL);
  CHECK(mt_tx_agent_step(0) == TX_QUEUE_ERROR);
  mt_packet_conn conn = connection(V4_DEVICE, 1, V4_PEER, 2, MT_PACKET_UDP, MT_PACKET_OUT, 28);
  CHECK(mt_tx_post_connection(&conn) == TX_QUEUE_ERROR);
  CHECK(stats_now().dropped == 2 && stats_now().posted == 0);
  CHECK(message_count == 0 && send_problems == 0);
}

static void starts_once(void) {
  MT_TX_CONFIG c = good_config();
  CHECK(mt_tx_start(&c) == TX_SUCCESS);
  TX_THREAD *t = shim_thread_last_created();
  CHECK(t != NULL);
  if (t != NULL) {
    /* Members the real TX_THREAD has too, and the rest through ThreadX's own API. */
    CHECK(t->tx_thread_entry != NULL);
    CHECK(t->tx_thread_stack_start == agent_stack && t->tx_thread_stack_size == sizeof agent_stack);
    CHECK(t->tx_thread_priority == 16 && t->tx_thread_preempt_threshold == 16);
    CHAR *name = NULL;
    UINT state = 99, priority = 0, threshold = 0;
    ULONG slice = 99;
    CHECK(tx_thread_info_get(t, &name, &state, NULL, &priority, &threshold, &slice, NULL, NULL) ==
          TX_SUCCESS);
    CHECK(name != NULL && strcmp(name, "microtally agent") == 0);
    CHECK(state == TX_READY && priority == 16 && threshold == 16 && slice == TX_NO_TIME_SLICE);
  }
  CHECK(mt_tx_start(&c) == MT_TX_ALREADY_STARTED);
  CHECK(message_count == 0); /* nothing aggregated yet, nothing to send */
  /* Empty windows send nothing (sendEmptyWindows is false). */
  CHECK(mt_tx_agent_step(0) == TX_QUEUE_EMPTY && message_count == 0);
}

/* A full queue refuses at once (the double aborts on a blocking send to a full queue); events
 * carry the time they were posted; the window closes when its 5 s have passed. */
static void full_queue_and_one_window(void) {
  MT_TX_STATS before = stats_now();
  mt_packet_conn c = connection(V4_DEVICE, 50000, V4_PEER, 443, MT_PACKET_TCP, MT_PACKET_OUT, 40);
  ULONG first_tick = tx_time_get();
  for (int i = 0; i < QUEUE_EVENTS; i++) {
    CHECK(mt_tx_post_connection(&c) == TX_SUCCESS);
    shim_time_advance(10); /* 100 ms between events */
  }
  ULONG last_tick = tx_time_get() - 10;
  CHECK(mt_tx_post_connection(&c) == TX_QUEUE_FULL);
  CHECK(mt_tx_post_connection(&c) == TX_QUEUE_FULL);
  CHECK(shim_interrupt_posture() == TX_INT_ENABLE);
  MT_TX_STATS s = stats_now();
  CHECK(s.posted == before.posted + QUEUE_EVENTS);
  CHECK(s.dropped == before.dropped + 2);

  /* The agent takes them one per step, and says when the queue is empty. */
  for (int i = 0; i < QUEUE_EVENTS; i++) CHECK(mt_tx_agent_step(0) == TX_SUCCESS);
  CHECK(mt_tx_agent_step(0) == TX_QUEUE_EMPTY);
  s = stats_now();
  CHECK(s.ingested == before.ingested + QUEUE_EVENTS && s.rejected == before.rejected);
  CHECK(message_count == 0);

  /* The window began at the start (the configuration's time, tick 0) and lasts 5 s: the
   * message comes with the first step that reaches tick 500, not one before. */
  unsigned steps = step_until_message(10);
  CHECK(steps > 0);
  CHECK(tx_time_get() >= WINDOW_TICKS && tx_time_get() - MT_TX_WINDOW_CHECK_TICKS < WINDOW_TICKS);
  CHECK(message_count >= 1);
  check_messages_are_json();
  const char *rec =
      "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":50000,\"RemoteAddress\":\"93.184.216.34\","
      "\"RemotePort\":443,\"Protocol\":\"tcp\",\"Direction\":\"Out\"";
  const char *m = message_with(rec);
  CHECK(strstr(m, "\"Name\":\"ConnectionCreate\"") != NULL);
  CHECK(record_number(m, rec, "\"HitCount\":") == QUEUE_EVENTS);
  CHECK(record_number(m, rec, "\"BytesOut\":") == QUEUE_EVENTS * 40);
  CHECK(record_number(m, rec, "\"BytesIn\":") == 0);
  char got[64], want[64];
  iso8601(tick_ms(first_tick), want);
  CHECK(record_text(m, rec, "\"FirstSeenUTC\":\"", got, sizeof got) && strcmp(got, want) == 0);
  iso8601(tick_ms(last_tick), want); /* posted at 0.7 s, ingested later */
  CHECK(record_text(m, rec, "\"LastSeenUTC\":\"", got, sizeof got) && strcmp(got, want) == 0);
  iso8601(tick_ms(WINDOW_TICKS), want);
  char stamp[96];
  snprintf(stamp, sizeof stamp, "\"TimestampUTC\":\"%s\"", want);
  CHECK(strstr(m, stamp) != NULL);
  /* The core's own count of what it received matches what the agent ingested. */
  CHECK(total_of("\"HitCount\":") == QUEUE_EVENTS);
  CHECK(record_number(message_with("\"Collector\":\"network\""), "\"Collector\":\"network\"",
                      "\"Received\":") == QUEUE_EVENTS);
  CHECK(stats_now().messages == before.messages + message_count);
  forget_messages();
}

/* Packets through the NetX Duo hook end up in the message; the application's filter is still
 * called for each of them. */
static unsigned app_filter_calls;
static UINT app_filter(NX_IP *ip, NX_PACKET *packet, UINT direction) {
  (void)ip;
  (void)packet;
  (void)direction;
  app_filter_calls++;
  return NX_SUCCESS;
}

static UINT deliver(NX_IP *ip, uint8_t *bytes, size_t n, UINT direction) {
  NX_PACKET p;
  memset(&p, 0, sizeof p);
  p.nx_packet_data_start = p.nx_packet_prepend_ptr = bytes;
  p.nx_packet_data_end = p.nx_packet_append_ptr = bytes + n;
  p.nx_packet_length = (ULONG)n;
  return ip->nx_ip_packet_filter_extended(ip, &p, direction);
}

static void packets_through_netx(void) {
  NX_IP ip;
  memset(&ip, 0, sizeof ip);
  ip.nx_ip_packet_filter_extended = app_filter;
  CHECK(mt_netx_attach(&ip) == MT_NETX_SUCCESS);
  uint8_t b[96];
  size_t n;
  for (int i = 0; i < 3; i++) { /* DNS answers over IPv6 */
    n = ipv6_header(b, 17, V6_PEER, V6_DEVICE, 8 + 4);
    n += udp_header(b + n, 53, 40000, 12) + 4;
    CHECK(deliver(&ip, b, n, NX_IP_PACKET_IN) == NX_SUCCESS);
  }
  n = ipv4_header(b, 1, V4_DEVICE, V4_PEER, 8, 5, 0); /* a ping out */
  n += icmp_echo(b + n);
  CHECK(deliver(&ip, b, n, NX_IP_PACKET_OUT) == NX_SUCCESS);
  CHECK(deliver(&ip, b, 12, NX_IP_PACKET_OUT) == NX_SUCCESS); /* truncated: not an event */
  CHECK(app_filter_calls == 5);
  MT_NETX_STATS ns;
  mt_netx_stats_get(&ns);
  CHECK(ns.connections == 4 && ns.truncated == 1 && ns.not_queued == 0);

  while (mt_tx_agent_step(0) == TX_SUCCESS) {}
  CHECK(step_until_message(10) > 0);
  check_messages_are_json();
  const char *dns =
      "\"LocalAddress\":\"fe80::1\",\"LocalPort\":40000,\"RemoteAddress\":\"2001:db8::53\","
      "\"RemotePort\":53,\"Protocol\":\"udp\",\"Direction\":\"In\"";
  const char *m = message_with(dns);
  CHECK(record_number(m, dns, "\"HitCount\":") == 3);
  CHECK(record_number(m, dns, "\"BytesIn\":") == 3 * 52);
  char app[8];
  CHECK(record_text(m, dns, "\"ApplicationProtocol\":\"", app, sizeof app) &&
        strcmp(app, "dns") == 0);
  const char *ping =
      "\"RemoteAddress\":\"93.184.216.34\",\"RemotePort\":0,\"Protocol\":\"icmp\",\"Direction\":\"Out\"";
  CHECK(record_number(message_with(ping), ping, "\"HitCount\":") == 1);
  CHECK(total_of("\"HitCount\":") == 4);
  CHECK(mt_netx_detach(&ip) == MT_NETX_SUCCESS && ip.nx_ip_packet_filter_extended == app_filter);
  forget_messages();
}

/* An event the core refuses is counted, and the agent goes on. */
static void rejected_events(void) {
  MT_TX_STATS before = stats_now();
  mt_packet_conn bad =
      connection(V4_DEVICE, 1, V4_PEER, 2, 9 /* no such protocol */, MT_PACKET_OUT, 28);
  mt_packet_conn family = connection(V4_DEVICE, 1, V4_PEER, 2, MT_PACKET_UDP, MT_PACKET_OUT, 28);
  family.family = 5;
  mt_packet_conn good = connection(V4_DEVICE, 1, V4_PEER, 2, MT_PACKET_UDP, MT_PACKET_OUT, 28);
  CHECK(mt_tx_post_connection(&bad) == TX_SUCCESS);
  CHECK(mt_tx_post_connection(&family) == TX_SUCCESS);
  CHECK(mt_tx_post_connection(&good) == TX_SUCCESS);
  while (mt_tx_agent_step(0) == TX_SUCCESS) {}
  MT_TX_STATS s = stats_now();
  CHECK(s.rejected == before.rejected + 2);
  CHECK(s.ingested == before.ingested + 1);
  CHECK(step_until_message(10) > 0);
  check_messages_are_json();
  CHECK(total_of("\"HitCount\":") == 1);
  forget_messages();
}

/* A window larger than maxMessageBytes (1024) goes out as several messages, each valid on its
 * own; no record is lost: the hit counts add up to what was posted. */
static void window_split_across_messages(void) {
  unsigned posted = 0;
  for (unsigned i = 0; i < 40; i++) {
    mt_packet_conn c = connection(V4_DEVICE, 40000, V4_PEER, (uint16_t)(1000 + i), MT_PACKET_TCP,
                                  MT_PACKET_OUT, 60);
    for (unsigned k = 0; k <= i % 3; k++) {
      if (mt_tx_post_connection(&c) != TX_SUCCESS) { /* full: let the agent catch up */
        while (mt_tx_agent_step(0) == TX_SUCCESS) {}
        CHECK(mt_tx_post_connection(&c) == TX_SUCCESS);
      }
      posted++;
    }
  }
  while (mt_tx_agent_step(0) == TX_SUCCESS) {}
  CHECK(message_count == 0);
  CHECK(step_until_message(10) > 0);
  CHECK(message_count > 1);
  check_messages_are_json();
  unsigned records = 0;
  for (unsigned i = 0; i < message_count && i < MAX_MESSAGES; i++) {
    records += occurrences(messages[i], "\"LocalPort\":40000");
  }
  CHECK(total_of("\"HitCount\":") == (long long)posted);
  CHECK(records == 40);
  forget_messages();
}

#ifdef MT_TEST_WALL_CLOCK
/* The application's clock steps back (an SNTP correction): events keep being accepted, at the
 * latest time the core has seen, instead of being refused as out of order. */
static void clock_steps_back(void) {
  MT_TX_STATS before = stats_now();
  mt_packet_conn c = connection(V4_DEVICE, 50001, V4_PEER, 443, MT_PACKET_TCP, MT_PACKET_OUT, 40);
  CHECK(mt_tx_post_connection(&c) == TX_SUCCESS);
  CHECK(mt_tx_agent_step(0) == TX_SUCCESS);
  clock_offset_ms = -10000;
  CHECK(mt_tx_post_connection(&c) == TX_SUCCESS);
  CHECK(mt_tx_agent_step(0) == TX_SUCCESS);
  CHECK(mt_tx_agent_step(0) == TX_QUEUE_EMPTY); /* a tick at the earlier time is not refused */
  MT_TX_STATS s = stats_now();
  CHECK(s.ingested == before.ingested + 2 && s.rejected == before.rejected);
  clock_offset_ms = 0;
  CHECK(step_until_message(10) > 0);
  check_messages_are_json();
  CHECK(record_number(message_with("\"LocalPort\":50001"), "\"LocalPort\":50001",
                      "\"HitCount\":") == 2);
  forget_messages();
}
#else
/* ThreadX's tick counter wraps (after 497 days at 100 Hz): time keeps running forward. */
static void tick_counter_wraps(void) {
  /* Walk up to just below the wrap in steps of less than 2^32 ticks, as a running agent would
   * (its waits time out at least once per MT_TX_WINDOW_CHECK_TICKS). */
  int64_t start_ms = tick_ms(0);
  uint64_t walked = tx_time_get();
  while (tx_time_get() < 0xFFFFFF00u) {
    ULONG step = 0xFFFFFF00u - tx_time_get();
    if (step > 0x40000000u) step = 0x40000000u;
    shim_time_advance(step);
    walked += step;
    CHECK(mt_tx_agent_step(0) == TX_QUEUE_EMPTY);
  }
  forget_messages();
  mt_packet_conn c = connection(V4_DEVICE, 50002, V4_PEER, 443, MT_PACKET_TCP, MT_PACKET_OUT, 40);
  CHECK(mt_tx_post_connection(&c) == TX_SUCCESS); /* at tick 0xFFFFFF00 */
  CHECK(mt_tx_agent_step(0) == TX_SUCCESS);
  shim_time_advance(0x180); /* past the wrap, within the same 5 s window */
  CHECK(tx_time_get() == 0x80);
  wrapped_ms = (int64_t)0x100000000ll * MS_PER_TICK;
  CHECK(mt_tx_post_connection(&c) == TX_SUCCESS);
  CHECK(mt_tx_agent_step(0) == TX_SUCCESS);
  CHECK(step_until_message(10) > 0);
  check_messages_are_json();
  const char *rec = "\"LocalPort\":50002";
  char got[64], want[64];
  iso8601(start_ms + (int64_t)walked * MS_PER_TICK, want);
  const char *m = message_with(rec);
  CHECK(record_text(m, rec, "\"FirstSeenUTC\":\"", got, sizeof got) && strcmp(got, want) == 0);
  iso8601(start_ms + (int64_t)(walked + 0x180) * MS_PER_TICK, want);
  CHECK(record_text(m, rec, "\"LastSeenUTC\":\"", got, sizeof got) && strcmp(got, want) == 0);
  CHECK(record_number(m, rec, "\"HitCount\":") == 2);
  forget_messages();
}
#endif

/* ---- configuration updates and the stop ---------------------------------------------- */

#define UPDATE(json) json, (ULONG)(sizeof json - 1)

static unsigned records_with(const char *needle) {
  unsigned n = 0;
  for (unsigned i = 0; i < message_count && i < MAX_MESSAGES; i++)
    n += occurrences(messages[i], needle);
  return n;
}

static long long network_stat(const char *key) {
  return record_number(message_with("\"Collector\":\"network\""), "\"Collector\":\"network\"", key);
}

static void post_flow(uint16_t local_port) {
  mt_packet_conn c =
      connection(V4_DEVICE, local_port, V4_PEER, 443, MT_PACKET_TCP, MT_PACKET_OUT, 40);
  CHECK(mt_tx_post_connection(&c) == TX_SUCCESS);
}

/* cacheSize 1 takes effect between two events, in queue order: what the core held is sent
 * first (stamped with the change's time), a second distinct flow is then dropped and counted;
 * a second update while the first is pending is refused and does not overwrite it. */
static void update_applies_in_queue_order(void) {
  MT_TX_STATS before = stats_now();
  char reason[MT_TX_REASON_BYTES];
  post_flow(51000);
  CHECK(mt_tx_configure(UPDATE("{\"network\":{\"cacheSize\":1}}")) == TX_SUCCESS);
  CHECK(mt_tx_configure(UPDATE("{\"network\":{\"cacheSize\":256}}")) == MT_TX_PENDING);
  CHECK(mt_tx_configure_result(reason, sizeof reason) == MT_TX_PENDING);
  post_flow(51001);
  post_flow(51002);

  CHECK(mt_tx_agent_step(0) == TX_SUCCESS); /* 51000, under the old configuration */
  CHECK(message_count == 0);
  ULONG change_tick = tx_time_get();
  CHECK(mt_tx_agent_step(0) == TX_SUCCESS); /* the update: 51000 is sent first */
  CHECK(message_count == 1);
  CHECK(record_number(message_with("\"LocalPort\":51000"), "\"LocalPort\":51000",
                      "\"HitCount\":") == 1);
  char want[64], stamp[96];
  iso8601(agent_ms(change_tick), want);
  snprintf(stamp, sizeof stamp, "\"TimestampUTC\":\"%s\"", want);
  CHECK(strstr(message_with("\"LocalPort\":51000"), stamp) != NULL);
  CHECK(mt_tx_configure_result(reason, sizeof reason) == TX_SUCCESS && reason[0] == '\0');
  forget_messages();

  CHECK(mt_tx_agent_step(0) == TX_SUCCESS && mt_tx_agent_step(0) == TX_SUCCESS);
  CHECK(step_until_message(10) > 0);
  check_messages_are_json();
  CHECK(records_with("\"LocalPort\":51001") == 1);
  CHECK(records_with("\"LocalPort\":51002") == 0); /* cache full: dropped, not lost silently */
  CHECK(network_stat("\"Received\":") == 2 && network_stat("\"Dropped\":") == 1);
  MT_TX_STATS s = stats_now();
  CHECK(s.updates_applied == before.updates_applied + 1 &&
        s.updates_rejected == before.updates_rejected);
  CHECK(s.ingested == before.ingested + 3);
  forget_messages();
}

/* Invalid updates are rejected whole with a reason naming the key: nothing is sent early and
 * cacheSize 1 stays in force (even an update that sets cacheSize and also has a bad key). */
static void invalid_updates_change_nothing(void) {
  static const struct {
    const char *json;
    const char *key;
  } bad[] = {
      {"{\"network\":{\"cacheSize\":256,\"bogus\":1}}", "network.bogus"},
      {"{\"network\":{\"cacheSize\":0}}", "network.cacheSize"},
      {"{\"network\":{\"cacheSize\":\"256\"}}", "network.cacheSize"},
      {"{\"network\":{\"priority\":7}}", "network.priority"},
      {"{\"noSuchKey\":1}", "noSuchKey"},
      {"{\"network\":", "JSON"},
  };
  MT_TX_STATS before = stats_now();
  post_flow(52000);
  CHECK(mt_tx_agent_step(0) == TX_SUCCESS);
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char reason[MT_TX_REASON_BYTES] = "";
    CHECK(mt_tx_configure(bad[i].json, (ULONG)strlen(bad[i].json)) == TX_SUCCESS);
    CHECK(mt_tx_agent_step(0) == TX_SUCCESS);
    CHECK(mt_tx_configure_result(reason, sizeof reason) == MT_TX_REJECTED);
    if (strstr(reason, bad[i].key) == NULL) {
      fprintf(stderr, "reason for %s: \"%s\" does not name %s\n", bad[i].json, reason, bad[i].key);
      CHECK(0);
    }
    CHECK(message_count == 0); /* nothing sent early */
  }
  /* Refused before reaching the agent; the verdict of the last update stays. */
  static char too_long[MT_TX_CONFIG_BYTES + 1];
  memset(too_long, ' ', sizeof too_long);
  too_long[0] = '{';
  too_long[MT_TX_CONFIG_BYTES] = '}';
  CHECK(mt_tx_configure(too_long, sizeof too_long) == MT_TX_TOO_LONG);
  CHECK(mt_tx_configure("{}", 0) == MT_TX_TOO_LONG);
  CHECK(mt_tx_configure(NULL, 2) == TX_PTR_ERROR);
  char cut[8];
  CHECK(mt_tx_configure_result(cut, sizeof cut) == MT_TX_REJECTED && strlen(cut) == sizeof cut - 1);
  CHECK(mt_tx_agent_step(0) == TX_QUEUE_EMPTY); /* nothing was queued */

  post_flow(52001); /* cacheSize is still 1: dropped */
  CHECK(mt_tx_agent_step(0) == TX_SUCCESS);
  CHECK(step_until_message(10) > 0);
  check_messages_are_json();
  CHECK(records_with("\"LocalPort\":52000") == 1 && records_with("\"LocalPort\":52001") == 0);
  CHECK(network_stat("\"Dropped\":") == 1);
  MT_TX_STATS s = stats_now();
  CHECK(s.updates_rejected == before.updates_rejected + 6 &&
        s.updates_applied == before.updates_applied);
  forget_messages();
}

/* An update whose wake marker finds the queue full: the agent's next turn takes the events
 * queued before it, then applies it (cacheSize back to 256). */
static void update_with_queue_full(void) {
  for (unsigned i = 0; i < QUEUE_EVENTS; i++) post_flow(53000);
  CHECK(mt_tx_configure(UPDATE("{\"network\":{\"cacheSize\":256}}")) == TX_SUCCESS);
  CHECK(mt_tx_configure_result(NULL, 0) == MT_TX_PENDING);
  CHECK(mt_tx_agent_step(0) == TX_SUCCESS);
  CHECK(mt_tx_configure_result(NULL, 0) == TX_SUCCESS);
  CHECK(message_count == 1); /* the queued events, sent before the change */
  CHECK(record_number(message_with("\"LocalPort\":53000"), "\"LocalPort\":53000",
                      "\"HitCount\":") == QUEUE_EVENTS);
  CHECK(mt_tx_agent_step(0) == TX_QUEUE_EMPTY);
  forget_messages();
  post_flow(53001);
  post_flow(53002);
  while (mt_tx_agent_step(0) == TX_SUCCESS) {}
  CHECK(step_until_message(10) > 0);
  CHECK(records_with("\"LocalPort\":53001") == 1 && records_with("\"LocalPort\":53002") == 1);
  CHECK(network_stat("\"Received\":") == 2 && network_stat("\"Dropped\":") == 0);
  forget_messages();
}

static long long transport_dropped(unsigned i) {
  return record_number(messages[i], "\"Collector\":\"transport\"", "\"Dropped\":");
}

/* Sum of the transport's Dropped over the messages so far. */
static long long transport_total(void) {
  long long sum = 0;
  for (unsigned i = 0; i < message_count && i < MAX_MESSAGES; i++)
    if (transport_dropped(i) > 0) sum += transport_dropped(i);
  return sum;
}

/* Messages the transport lost reach the next messages as the transport's CollectorStats record
 * (Dropped = the count, summed until the agent's turn); a loss reported from `send` itself (the
 * agent thread, inside the core's drain) goes with the messages of the next input. */
static void transport_losses_in_the_next_message(void) {
  forget_messages();
  CHECK(mt_tx_report_loss(2) == TX_SUCCESS);
  CHECK(mt_tx_report_loss(1) == TX_SUCCESS);
  post_flow(55000);
  CHECK(mt_tx_agent_step(0) == TX_SUCCESS);
  CHECK(step_until_message(10) > 0);
  CHECK(transport_total() == 3 && records_with("\"Collector\":\"transport\"") == 1);
  CHECK(records_with("\"3 messages dropped by the outbox\"") == 1);
  CHECK(stats_now().losses_reported == 3 && stats_now().losses_unreported == 0);

  forget_messages();
  loss_from_send = 4; /* reported while the next window's messages are handed over */
  post_flow(55001);
  CHECK(mt_tx_agent_step(0) == TX_SUCCESS);
  CHECK(step_until_message(10) > 0);
  CHECK(transport_total() == 0 && loss_from_send == 0);
  unsigned first = message_count;
  post_flow(55002);
  CHECK(mt_tx_agent_step(0) == TX_SUCCESS);
  CHECK(step_until_message(10) > 0);
  CHECK(message_count > first && transport_total() == 4);
  CHECK(stats_now().losses_reported == 7);
  check_messages_are_json();
  forget_messages();
}

/* The stop: never waits on the agent thread itself; from another thread it waits (the double
 * times the wait out, nothing runs the thread); the thread's loop then finishes: the events
 * still queued and the open window are sent at the stop's time; posts and updates after the
 * stop are refused and counted; the thread is deleted. Must run last. */
static void stop_sends_the_last_window(void) {
  MT_TX_STATS before = stats_now();
  post_flow(54000);
  CHECK(mt_tx_agent_step(0) == TX_SUCCESS);
  post_flow(54000); /* still queued when the stop comes */
  TX_THREAD *thread = shim_thread_last_created();
  CHECK(thread != NULL);
  if (thread == NULL) return;

  ULONG t0 = tx_time_get();
  shim_thread_set_current(thread);
  CHECK(mt_tx_stop(100) == MT_TX_PENDING); /* from the agent thread: no wait */
  shim_thread_set_current(NULL);
  CHECK(tx_time_get() == t0 && message_count == 0);

  mt_packet_conn c = connection(V4_DEVICE, 54001, V4_PEER, 443, MT_PACKET_TCP, MT_PACKET_OUT, 40);
  CHECK(mt_tx_post_connection(&c) == MT_TX_STOPPED);
  CHECK(mt_tx_configure(UPDATE("{}")) == MT_TX_STOPPED);
  CHECK(stats_now().dropped == before.dropped + 1);
  CHECK(mt_tx_report_loss(5) == TX_SUCCESS); /* stopping, not stopped: the last message has it */

  CHECK(mt_tx_stop(50) == MT_TX_PENDING); /* waited 50 ticks: the agent did not run */
  CHECK(tx_time_get() == t0 + 50 && message_count == 0);
  thread->tx_thread_entry(thread->tx_thread_entry_parameter); /* returns once stopped */
  ULONG stop_tick = tx_time_get();
  CHECK(message_count >= 1);
  check_messages_are_json();
  const char *m = message_with("\"LocalPort\":54000");
  CHECK(record_number(m, "\"LocalPort\":54000", "\"HitCount\":") == 2);
  char want[64], stamp[96];
  iso8601(agent_ms(stop_tick), want);
  snprintf(stamp, sizeof stamp, "\"TimestampUTC\":\"%s\"", want);
  CHECK(strstr(m, stamp) != NULL);
  CHECK(records_with("\"LocalPort\":54001") == 0);
  long long last_loss = -1;
  for (unsigned i = 0; i < message_count; i++)
    if (transport_dropped(i) >= 0) last_loss = transport_dropped(i);
  CHECK(last_loss == 5);

  CHECK(mt_tx_stop(0) == TX_SUCCESS);
  CHECK(shim_threads_deleted() == 1 && shim_thread_last_created() == NULL);
  CHECK(mt_tx_stop(0) == TX_SUCCESS && shim_threads_deleted() == 1);
  unsigned sent = message_count;
  CHECK(mt_tx_agent_step(0) == MT_TX_STOPPED && message_count == sent);
  CHECK(mt_tx_post_connection(&c) == MT_TX_STOPPED);
  CHECK(mt_tx_report_loss(1) == MT_TX_STOPPED);
  MT_TX_CONFIG again = good_config();
  CHECK(mt_tx_start(&again) == MT_TX_ALREADY_STARTED);
  MT_TX_STATS s = stats_now();
  CHECK(s.dropped == before.dropped + 2 && s.posted == before.posted + 2);
  CHECK(s.ingested == before.ingested + 2 && s.messages == before.messages + message_count);
  forget_messages();
}

int main(void) {
  before_start();
  bad_configurations();
  starts_once();
  full_queue_and_one_window();
  packets_through_netx();
  rejected_events();
  window_split_across_messages();
#ifdef MT_TEST_WALL_CLOCK
  clock_steps_back();
#else
  tick_counter_wraps();
#endif
  update_applies_in_queue_order();
  invalid_updates_change_nothing();
  update_with_queue_full();
  transport_losses_in_the_next_message();
  stop_sends_the_last_window();
  MT_TX_STATS s = stats_now();
  CHECK(s.faults == 0 && aborts == 0 && send_problems == 0);
  CHECK(partial_len == 0); /* no message left half-sent */
#ifdef MT_TEST_WALL_CLOCK
  return check_report("agent (application clock)");
#else
  return check_report("agent (tick clock)");
#endif
}
