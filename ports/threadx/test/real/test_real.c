/* The port on the real Eclipse ThreadX kernel (its Linux port) and two real NetX Duo IP
 * instances that talk through NetX Duo's RAM test driver: the device (ip_0, 10.0.0.1,
 * 2001:db8::1) and its peer (ip_1, 10.0.0.2, 2001:db8::2), both with an application filter
 * installed first and the hook attached after it. Traffic: UDP, UDP datagrams larger than
 * the MTU in both directions (IP fragments), TCP, ICMP, the same over IPv6, datagrams the
 * application's filter drops; a configuration update while running; detach; the stop. Every
 * packet is seen by both ends, so each flow's BytesOut on one peer must equal its BytesIn on
 * the other, and the messages must say exactly what was sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tx_api.h"
#include "nx_api.h"

#include "check.h"
#include "messages.h"
#include "microtally_netx.h"
#include "microtally_threadx.h"

VOID _nx_ram_network_driver_1500(NX_IP_DRIVER *driver_req_ptr); /* NetX Duo's test driver */

#define SECONDS(s) ((ULONG)((s)*NX_IP_PERIODIC_RATE))
#define DROPPED_PORT 7777 /* inbound UDP to this port of the device: the application drops it */

/* ---- the two hosts ------------------------------------------------------------------ */

static NX_PACKET_POOL pool;
static UCHAR pool_area[200 * (1536 + sizeof(NX_PACKET) + 16)];
static NX_IP ip_0, ip_1;
static UCHAR ip_stack[2][16384];
static UCHAR arp_area[2][1024];
static TX_THREAD test_thread, server_thread;
static UCHAR test_stack[65536], server_stack[32768];
static TX_SEMAPHORE server_done;

static UCHAR agent_stack[4 * MT_TX_MIN_STACK_BYTES];
static ULONG agent_queue[512 * MT_TX_EVENT_ULONGS];

/* ---- the application's own filter, installed before the hook --------------------------- */

static ULONG app_calls[2]; /* per IP instance */
static ULONG app_dropped;

static UINT app_filter(NX_IP *ip, NX_PACKET *packet, UINT direction) {
  unsigned which = ip == &ip_0 ? 0u : 1u;
  app_calls[which]++;
  /* Drops inbound UDP to DROPPED_PORT on the device (whole datagrams and first fragments). */
  const UCHAR *b = packet->nx_packet_prepend_ptr;
  ULONG n = (ULONG)(packet->nx_packet_append_ptr - b);
  if (which == 0 && direction == NX_IP_PACKET_IN && n >= 28 && (b[0] >> 4) == 4 && b[9] == 17 &&
      ((b[6] & 0x1f) | b[7]) == 0) {
    ULONG ihl = (ULONG)(b[0] & 0x0f) * 4u;
    if (n >= ihl + 4 && ((b[ihl + 2] << 8) | b[ihl + 3]) == DROPPED_PORT) {
      app_dropped++;
      return NX_NOT_SUCCESSFUL;
    }
  }
  return NX_SUCCESS;
}

/* ---- what the agent sends (on its own thread; read only after mt_tx_stop) ---------------- */

#define MAX_MESSAGES 64
#define MAX_MESSAGE_BYTES 16384
static char messages[MAX_MESSAGES][MAX_MESSAGE_BYTES + 1];
static size_t message_len[MAX_MESSAGES];
static unsigned message_count, send_problems, aborts;
static char partial[MAX_MESSAGE_BYTES + 1];
static size_t partial_len;

static VOID on_send(VOID *context, const UCHAR *bytes, ULONG length, UINT last) {
  (void)context;
  if (last == MT_TX_CHUNK_ABORT) {
    aborts++;
    partial_len = 0;
    return;
  }
  if (partial_len + length > MAX_MESSAGE_BYTES) {
    send_problems++;
    return;
  }
  memcpy(partial + partial_len, bytes, length);
  partial_len += length;
  if (last != MT_TX_CHUNK_LAST) return;
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

/* The anchor of one connection's ConnectionCreate record as one host reports it (the core
 * keeps one record per connection and window: Direction is the first packet's, BytesIn and
 * BytesOut both ways). */
static const char *anchor_of(const char *local, unsigned lport, const char *remote, unsigned rport,
                             const char *protocol) {
  static char anchor[256];
  snprintf(anchor, sizeof anchor,
           "\"LocalAddress\":\"%s\",\"LocalPort\":%u,\"RemoteAddress\":\"%s\",\"RemotePort\":%u,"
           "\"Protocol\":\"%s\"",
           local, lport, remote, rport, protocol);
  return anchor;
}

/* `key` of that record, summed over all messages (-1: no such record). */
static long long flow(const char *local, unsigned lport, const char *remote, unsigned rport,
                      const char *protocol, const char *key) {
  const char *anchor = anchor_of(local, lport, remote, rport, protocol);
  long long sum = -1;
  for (unsigned i = 0; i < message_count && i < MAX_MESSAGES; i++) {
    long long v = record_number(messages[i], anchor, key);
    if (v >= 0) sum = (sum < 0 ? 0 : sum) + v;
  }
  return sum;
}

/* Whether that record's Direction (its first packet's) is `direction`. */
static int first_direction(const char *local, unsigned lport, const char *remote, unsigned rport,
                           const char *protocol, const char *direction) {
  const char *anchor = anchor_of(local, lport, remote, rport, protocol);
  char got[8];
  for (unsigned i = 0; i < message_count && i < MAX_MESSAGES; i++) {
    if (record_text(messages[i], anchor, "\"Direction\":\"", got, sizeof got))
      return strcmp(got, direction) == 0;
  }
  return 0;
}

static long long network_stat(const char *key) {
  long long sum = 0;
  for (unsigned i = 0; i < message_count && i < MAX_MESSAGES; i++) {
    long long v = record_number(messages[i], "\"Collector\":\"network\"", key);
    if (v > 0) sum += v;
  }
  return sum;
}

/* ---- traffic helpers ------------------------------------------------------------------ */

static UCHAR payload[8192];

static UINT udp_send(NX_UDP_SOCKET *s, NXD_ADDRESS *to, UINT port, ULONG bytes) {
  NX_PACKET *p;
  UINT status = nx_packet_allocate(&pool, &p, NX_UDP_PACKET, SECONDS(1));
  if (status != NX_SUCCESS) return status;
  status = nx_packet_data_append(p, payload, bytes, &pool, SECONDS(1));
  if (status == NX_SUCCESS) status = nxd_udp_socket_send(s, p, to, port);
  if (status != NX_SUCCESS) nx_packet_release(p);
  return status;
}

/* Length of the next datagram on s, 0 if none came within `wait`. */
static ULONG udp_receive(NX_UDP_SOCKET *s, ULONG wait) {
  NX_PACKET *p;
  if (nx_udp_socket_receive(s, &p, wait) != NX_SUCCESS) return 0;
  ULONG n = p->nx_packet_length;
  nx_packet_release(p);
  return n;
}

static NXD_ADDRESS v4(ULONG a) {
  NXD_ADDRESS x;
  memset(&x, 0, sizeof x);
  x.nxd_ip_version = NX_IP_VERSION_V4;
  x.nxd_ip_address.v4 = a;
  return x;
}

static NXD_ADDRESS v6(ULONG last) {
  NXD_ADDRESS x;
  memset(&x, 0, sizeof x);
  x.nxd_ip_version = NX_IP_VERSION_V6;
  x.nxd_ip_address.v6[0] = 0x20010db8;
  x.nxd_ip_address.v6[3] = last;
  return x;
}

/* ---- the TCP server on the peer ----------------------------------------------------------- */

static NX_TCP_SOCKET server;
static ULONG server_received;

static VOID serve(ULONG unused) {
  (void)unused;
  UINT status = nx_tcp_socket_create(&ip_1, &server, "server", NX_IP_NORMAL, NX_FRAGMENT_OKAY, 0x80,
                                     8192, NX_NULL, NX_NULL);
  if (status == NX_SUCCESS) status = nx_tcp_server_socket_listen(&ip_1, 80, &server, 2, NX_NULL);
  if (status == NX_SUCCESS) status = nx_tcp_server_socket_accept(&server, SECONDS(20));
  while (status == NX_SUCCESS && server_received < 1000) {
    NX_PACKET *p;
    status = nx_tcp_socket_receive(&server, &p, SECONDS(5));
    if (status == NX_SUCCESS) {
      server_received += p->nx_packet_length;
      nx_packet_release(p);
    }
  }
  if (status == NX_SUCCESS) { /* a 200-byte answer */
    NX_PACKET *p;
    status = nx_packet_allocate(&pool, &p, NX_TCP_PACKET, SECONDS(1));
    if (status == NX_SUCCESS) status = nx_packet_data_append(p, payload, 200, &pool, SECONDS(1));
    if (status == NX_SUCCESS) status = nx_tcp_socket_send(&server, p, SECONDS(5));
  }
  /* Wait for the client's FIN, then close. */
  NX_PACKET *p;
  while (nx_tcp_socket_receive(&server, &p, SECONDS(5)) == NX_SUCCESS) nx_packet_release(p);
  nx_tcp_socket_disconnect(&server, SECONDS(2));
  nx_tcp_server_socket_unaccept(&server);
  nx_tcp_server_socket_unlisten(&ip_1, 80);
  tx_semaphore_put(&server_done);
}

/* ---- the test --------------------------------------------------------------------------- */

static UINT wait_for_verdict(CHAR *reason, ULONG size) {
  UINT verdict = MT_TX_PENDING;
  for (int i = 0; i < 300 && verdict == MT_TX_PENDING; i++) {
    tx_thread_sleep(1);
    verdict = mt_tx_configure_result(reason, size);
  }
  return verdict;
}

static int ipv6_ready(NX_IP *ip, UINT index) {
  return ip->nx_ipv6_address[index].nxd_ipv6_address_state == NX_IPV6_ADDR_STATE_VALID;
}

static VOID run(ULONG unused) {
  (void)unused;
  for (size_t i = 0; i < sizeof payload; i++) payload[i] = (UCHAR)i;

  /* IPv6: link-local and global addresses (duplicate address detection runs meanwhile). */
  NXD_ADDRESS a0 = v6(1), a1 = v6(2);
  UINT index0 = 0, index1 = 0;
  CHECK(nxd_ipv6_address_set(&ip_0, 0, NX_NULL, 10, NX_NULL) == NX_SUCCESS);
  CHECK(nxd_ipv6_address_set(&ip_1, 0, NX_NULL, 10, NX_NULL) == NX_SUCCESS);
  CHECK(nxd_ipv6_address_set(&ip_0, 0, &a0, 64, &index0) == NX_SUCCESS);
  CHECK(nxd_ipv6_address_set(&ip_1, 0, &a1, 64, &index1) == NX_SUCCESS);

  /* The application's filter first, then the agent and the hook. */
  ip_0.nx_ip_packet_filter_extended = app_filter;
  ip_1.nx_ip_packet_filter_extended = app_filter;
  MT_TX_CONFIG cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.stack = agent_stack;
  cfg.stack_size = sizeof agent_stack;
  cfg.priority = 10;
  cfg.queue_storage = agent_queue;
  cfg.queue_size = sizeof agent_queue;
  cfg.epoch_ms_at_start = 1700000000000ull;
  cfg.send = on_send;
  cfg.agent_id = "0123abcd-4567-89ef-0123-456789abcdef";
  /* One window for the whole run: the stop sends it. */
  cfg.configuration =
      "{\"network\":{\"priority\":\"high\"},\"priorityIntervals\":{\"high\":3600},"
      "\"maxMessageBytes\":16384}";
  CHECK(mt_tx_start(&cfg) == TX_SUCCESS);
  CHECK(mt_tx_start(&cfg) == MT_TX_ALREADY_STARTED);
  CHAR *name = NX_NULL;
  UINT state = 0;
  CHECK(mt_netx_attach(&ip_0) == MT_NETX_SUCCESS);
  CHECK(mt_netx_attach(&ip_1) == MT_NETX_SUCCESS);
  CHECK(mt_netx_attach(&ip_1) == MT_NETX_ALREADY_ATTACHED);
  CHECK(ip_0.nx_ip_packet_filter_extended != app_filter &&
        ip_1.nx_ip_packet_filter_extended != app_filter);

  /* A configuration update on the running agent thread: a bad one refused whole with the
   * key named, a good one applied. */
  CHAR reason[MT_TX_REASON_BYTES];
  CHECK(mt_tx_configure("{\"network\":{\"cacheSize\":0}}", 27) == TX_SUCCESS);
  CHECK(wait_for_verdict(reason, sizeof reason) == MT_TX_REJECTED);
  CHECK(strstr(reason, "network.cacheSize") != NULL);
  CHECK(mt_tx_configure("{\"network\":{\"cacheSize\":200}}", 29) == TX_SUCCESS);
  CHECK(wait_for_verdict(reason, sizeof reason) == TX_SUCCESS);

  NX_UDP_SOCKET s0, s1, s2, s3, s4, s5, s6;
  NX_UDP_SOCKET *all[] = {&s0, &s1, &s2, &s3, &s4, &s5, &s6};
  NX_IP *owner[] = {&ip_0, &ip_1, &ip_0, &ip_1, &ip_0, &ip_0, &ip_1};
  UINT port[] = {5000, 6000, 5001, 6001, DROPPED_PORT, 5100, 6100};
  for (unsigned i = 0; i < 7; i++) {
    CHECK(nx_udp_socket_create(owner[i], all[i], "udp", NX_IP_NORMAL, NX_FRAGMENT_OKAY, 0x80, 8) ==
          NX_SUCCESS);
    CHECK(nx_udp_socket_bind(all[i], port[i], SECONDS(1)) == NX_SUCCESS);
  }
  NXD_ADDRESS device = v4(IP_ADDRESS(10, 0, 0, 1)), peer = v4(IP_ADDRESS(10, 0, 0, 2));

  /* UDP within the MTU: 3 datagrams out, 1 back. */
  for (int i = 0; i < 3; i++) CHECK(udp_send(&s0, &peer, 6000, 100) == NX_SUCCESS);
  for (int i = 0; i < 3; i++) CHECK(udp_receive(&s1, SECONDS(1)) == 100);
  CHECK(udp_send(&s1, &device, 5000, 50) == NX_SUCCESS);
  CHECK(udp_receive(&s0, SECONDS(1)) == 50);

  /* UDP larger than the MTU (1500): fragmented by the sender, reassembled by the receiver. */
  CHECK(udp_send(&s2, &peer, 6001, 4000) == NX_SUCCESS);
  CHECK(udp_receive(&s3, SECONDS(2)) == 4000);
  CHECK(udp_send(&s3, &device, 5001, 3000) == NX_SUCCESS);
  CHECK(udp_receive(&s2, SECONDS(2)) == 3000);

  /* The application drops inbound UDP to DROPPED_PORT: its drop holds (nothing arrives), and
   * the attempt is still reported. One datagram fits the MTU, one is fragmented. */
  CHECK(udp_send(&s3, &device, DROPPED_PORT, 20) == NX_SUCCESS);
  CHECK(udp_send(&s3, &device, DROPPED_PORT, 2000) == NX_SUCCESS);
  CHECK(udp_receive(&s4, SECONDS(1)) == 0);
  CHECK(app_dropped == 2);

  /* To an mDNS-style group that never leaves the link: the link's noise, not a connection. */
  NXD_ADDRESS group = v4(IP_ADDRESS(224, 0, 0, 251));
  MT_NETX_STATS before_noise;
  mt_netx_stats_get(&before_noise);
  CHECK(udp_send(&s1, &group, 5353, 40) == NX_SUCCESS);
  tx_thread_sleep(SECONDS(0.1));
  MT_NETX_STATS after_noise;
  mt_netx_stats_get(&after_noise);
  CHECK(after_noise.ignored_link_multicast > before_noise.ignored_link_multicast);
  CHECK(after_noise.connections == before_noise.connections);

  /* ICMP echo, both hosts see request and reply. */
  NX_PACKET *response;
  CHECK(nx_icmp_ping(&ip_0, IP_ADDRESS(10, 0, 0, 2), (CHAR *)payload, 32, &response, SECONDS(1)) ==
        NX_SUCCESS);
  nx_packet_release(response);

  /* TCP: connect, 1,000 bytes out, 200 back, close. */
  NX_TCP_SOCKET client;
  CHECK(nx_tcp_socket_create(&ip_0, &client, "client", NX_IP_NORMAL, NX_FRAGMENT_OKAY, 0x80, 8192,
                             NX_NULL, NX_NULL) == NX_SUCCESS);
  CHECK(nx_tcp_client_socket_bind(&client, 40000, SECONDS(1)) == NX_SUCCESS);
  CHECK(nxd_tcp_client_socket_connect(&client, &peer, 80, SECONDS(5)) == NX_SUCCESS);
  NX_PACKET *p;
  CHECK(nx_packet_allocate(&pool, &p, NX_TCP_PACKET, SECONDS(1)) == NX_SUCCESS);
  CHECK(nx_packet_data_append(p, payload, 1000, &pool, SECONDS(1)) == NX_SUCCESS);
  CHECK(nx_tcp_socket_send(&client, p, SECONDS(5)) == NX_SUCCESS);
  ULONG answer = 0;
  while (answer < 200 && nx_tcp_socket_receive(&client, &p, SECONDS(5)) == NX_SUCCESS) {
    answer += p->nx_packet_length;
    nx_packet_release(p);
  }
  CHECK(answer == 200);
  CHECK(nx_tcp_socket_disconnect(&client, SECONDS(5)) == NX_SUCCESS);
  CHECK(tx_semaphore_get(&server_done, SECONDS(20)) == TX_SUCCESS);
  CHECK(server_received == 1000);
  nx_tcp_client_socket_unbind(&client);

  /* IPv6, once duplicate address detection has made both addresses valid. */
  for (int i = 0; i < 1000 && !(ipv6_ready(&ip_0, index0) && ipv6_ready(&ip_1, index1)); i++)
    tx_thread_sleep(1);
  CHECK(ipv6_ready(&ip_0, index0) && ipv6_ready(&ip_1, index1));
  for (int i = 0; i < 2; i++) CHECK(udp_send(&s5, &a1, 6100, 100) == NX_SUCCESS);
  for (int i = 0; i < 2; i++) CHECK(udp_receive(&s6, SECONDS(1)) == 100);
  CHECK(udp_send(&s5, &a1, 6100, 3000) == NX_SUCCESS);
  CHECK(udp_receive(&s6, SECONDS(2)) == 3000);
  CHECK(udp_send(&s6, &a0, 5100, 2500) == NX_SUCCESS);
  CHECK(udp_receive(&s5, SECONDS(2)) == 2500);
  CHECK(nxd_icmp_ping(&ip_0, &a1, (CHAR *)payload, 32, &response, SECONDS(1)) == NX_SUCCESS);
  nx_packet_release(response);

  /* The application's filter saw every packet the hook saw, on both hosts. */
  tx_thread_sleep(SECONDS(0.2));
  MT_NETX_STATS ns;
  mt_netx_stats_get(&ns);
  CHECK(ns.packets == app_calls[0] + app_calls[1]);

  /* Detach from the peer: its filter is the application's again, and its packets are no
   * longer reported while the device's still are. */
  CHECK(mt_netx_detach(&ip_1) == MT_NETX_SUCCESS);
  CHECK(ip_1.nx_ip_packet_filter_extended == app_filter);
  CHECK(mt_netx_detach(&ip_1) == MT_NETX_NOT_ATTACHED);
  ULONG peer_calls = app_calls[1];
  CHECK(udp_send(&s0, &peer, 6000, 100) == NX_SUCCESS);
  CHECK(udp_receive(&s1, SECONDS(1)) == 100);
  CHECK(app_calls[1] > peer_calls);

  /* Stop: everything queued is aggregated and the open window sent. */
  tx_thread_sleep(SECONDS(0.2));
  CHECK(mt_tx_stop(SECONDS(10)) == TX_SUCCESS);
  mt_packet_conn late;
  memset(&late, 0, sizeof late);
  CHECK(mt_tx_post_connection(&late) == MT_TX_STOPPED);
  CHECK(tx_thread_info_get(&test_thread, &name, &state, NX_NULL, NX_NULL, NX_NULL, NX_NULL, NX_NULL,
                           NX_NULL) == TX_SUCCESS &&
        state == TX_READY);

  MT_TX_STATS ts;
  mt_tx_stats_get(&ts);
  mt_netx_stats_get(&ns);
  printf(
      "real: hook %lu packets: %lu events, %lu later fragments, %lu neighbour discovery, "
      "%lu MLD, %lu link multicast, %lu unsupported; agent %lu ingested, %u messages\n",
      (unsigned long)ns.packets, (unsigned long)ns.connections, (unsigned long)ns.fragments,
      (unsigned long)ns.ignored_neighbour_discovery, (unsigned long)ns.ignored_mld,
      (unsigned long)ns.ignored_link_multicast, (unsigned long)ns.unsupported,
      (unsigned long)ts.ingested, message_count);
  CHECK(ts.faults == 0 && ts.dropped == 1 && ts.rejected == 0 && aborts == 0 && send_problems == 0);
  CHECK(ts.posted == ts.ingested && ts.ingested == ns.connections);
  CHECK(ns.malformed == 0 && ns.truncated == 0 && ns.not_queued == 0);
  CHECK(ns.fragments >= 2 + 1 + 2 + 1);      /* later fragments of the six fragmented datagrams */
  CHECK(ns.ignored_neighbour_discovery > 0); /* IPv6 needs it; none of it became a record */
  CHECK(ns.ignored_link_multicast >= 1);
  /* Every packet the hook saw is in exactly one of its counters. */
  CHECK(ns.packets == ns.connections + ns.not_queued + ns.truncated + ns.malformed + ns.fragments +
                          ns.unsupported + ns.ignored_neighbour_discovery + ns.ignored_mld +
                          ns.ignored_link_multicast);
  CHECK(ts.updates_applied == 1 && ts.updates_rejected == 1);
  CHECK(message_count > 0 && partial_len == 0);
  for (unsigned i = 0; i < message_count && i < MAX_MESSAGES; i++)
    CHECK(json_object(messages[i], message_len[i]));

  /* The core received every event, and nothing is unaccounted for. */
  long long hits = 0;
  for (unsigned i = 0; i < message_count && i < MAX_MESSAGES; i++)
    hits += sum_of(messages[i], "\"HitCount\":");
  CHECK(network_stat("\"Received\":") == (long long)ts.ingested);
  CHECK(network_stat("\"Received\":") == hits + network_stat("\"Discarded\":") +
                                             network_stat("\"Dropped\":") +
                                             network_stat("\"Ignored\":"));
  CHECK(network_stat("\"Dropped\":") == 0 && network_stat("\"Discarded\":") == 0);
  for (unsigned i = 0; i < message_count && i < MAX_MESSAGES; i++) {
    CHECK(strstr(messages[i], "ff02:") == NULL && strstr(messages[i], "fe80:") == NULL);
    CHECK(strstr(messages[i], "224.0.0.251") == NULL);
  }

  const char *D = "10.0.0.1", *P = "10.0.0.2", *D6 = "2001:db8::1", *P6 = "2001:db8::2";
  const char *HITS = "\"HitCount\":", *IN = "\"BytesIn\":", *OUT = "\"BytesOut\":";
  /* UDP within the MTU (28 + payload bytes): 3 out and 1 back, then 1 more out after the
   * peer's detach, which only the device reports. */
  CHECK(flow(D, 5000, P, 6000, "udp", HITS) == 5 &&
        first_direction(D, 5000, P, 6000, "udp", "Out"));
  CHECK(flow(D, 5000, P, 6000, "udp", OUT) == 4 * 128 && flow(D, 5000, P, 6000, "udp", IN) == 78);
  CHECK(flow(P, 6000, D, 5000, "udp", HITS) == 4 && first_direction(P, 6000, D, 5000, "udp", "In"));
  CHECK(flow(P, 6000, D, 5000, "udp", IN) == 3 * 128 && flow(P, 6000, D, 5000, "udp", OUT) == 78);
  /* Datagrams larger than the MTU, both ways: one hit each, the whole datagram's bytes, the
   * same on both peers. */
  CHECK(flow(D, 5001, P, 6001, "udp", HITS) == 2 && flow(P, 6001, D, 5001, "udp", HITS) == 2);
  CHECK(flow(D, 5001, P, 6001, "udp", OUT) == 4028 && flow(P, 6001, D, 5001, "udp", IN) == 4028);
  CHECK(flow(P, 6001, D, 5001, "udp", OUT) == 3028 && flow(D, 5001, P, 6001, "udp", IN) == 3028);
  /* Dropped by the application, reported all the same: an attempt to connect. */
  CHECK(flow(D, DROPPED_PORT, P, 6001, "udp", HITS) == 2);
  CHECK(first_direction(D, DROPPED_PORT, P, 6001, "udp", "In"));
  CHECK(flow(D, DROPPED_PORT, P, 6001, "udp", IN) == 48 + 2028);
  CHECK(flow(D, DROPPED_PORT, P, 6001, "udp", OUT) == 0);
  CHECK(flow(P, 6001, D, DROPPED_PORT, "udp", OUT) == 48 + 2028);
  /* ICMP echo: 20 + 8 + 32 bytes each way. */
  CHECK(flow(D, 0, P, 0, "icmp", HITS) == 2 && flow(P, 0, D, 0, "icmp", HITS) == 2);
  CHECK(flow(D, 0, P, 0, "icmp", OUT) == 60 && flow(D, 0, P, 0, "icmp", IN) == 60);
  CHECK(flow(P, 0, D, 0, "icmp", IN) == 60 && flow(P, 0, D, 0, "icmp", OUT) == 60);
  CHECK(first_direction(D, 0, P, 0, "icmp", "Out") && first_direction(P, 0, D, 0, "icmp", "In"));
  /* TCP: handshake, data, close; each direction agrees between the peers. */
  long long tcp_out = flow(D, 40000, P, 80, "tcp", OUT), tcp_in = flow(D, 40000, P, 80, "tcp", IN);
  CHECK(flow(D, 40000, P, 80, "tcp", HITS) >= 6);
  CHECK(tcp_out >= 1000 + 3 * 40 && tcp_in >= 200 + 3 * 40);
  CHECK(flow(P, 80, D, 40000, "tcp", IN) == tcp_out && flow(P, 80, D, 40000, "tcp", OUT) == tcp_in);
  CHECK(flow(P, 80, D, 40000, "tcp", HITS) == flow(D, 40000, P, 80, "tcp", HITS));
  CHECK(first_direction(D, 40000, P, 80, "tcp", "Out") &&
        first_direction(P, 80, D, 40000, "tcp", "In"));
  /* IPv6: 40 + 8 + payload; fragmented ones whole, as sent (without the fragment header). */
  CHECK(flow(D6, 5100, P6, 6100, "udp", HITS) == 4 && flow(P6, 6100, D6, 5100, "udp", HITS) == 4);
  CHECK(flow(D6, 5100, P6, 6100, "udp", OUT) == 2 * 148 + 3048);
  CHECK(flow(P6, 6100, D6, 5100, "udp", IN) == 2 * 148 + 3048);
  CHECK(flow(P6, 6100, D6, 5100, "udp", OUT) == 2548 &&
        flow(D6, 5100, P6, 6100, "udp", IN) == 2548);
  CHECK(flow(D6, 0, P6, 0, "icmp", HITS) == 2 && flow(P6, 0, D6, 0, "icmp", HITS) == 2);
  CHECK(flow(D6, 0, P6, 0, "icmp", OUT) == 80 && flow(D6, 0, P6, 0, "icmp", IN) == 80);
  CHECK(flow(P6, 0, D6, 0, "icmp", IN) == 80 && flow(P6, 0, D6, 0, "icmp", OUT) == 80);

  /* MT_REAL_DUMP=1 prints the messages, to see what a failed check looked at. */
  if (getenv("MT_REAL_DUMP"))
    for (unsigned i = 0; i < message_count && i < MAX_MESSAGES; i++) printf("%s\n", messages[i]);
  int failed = check_report("real ThreadX + NetX Duo");
  fflush(stdout);
  exit(failed);
}

VOID tx_application_define(VOID *first_unused_memory) {
  (void)first_unused_memory;
  nx_system_initialize();
  UINT status = nx_packet_pool_create(&pool, "pool", 1536, pool_area, sizeof pool_area);
  status |= nx_ip_create(&ip_0, "device", IP_ADDRESS(10, 0, 0, 1), 0xFFFFFF00UL, &pool,
                         _nx_ram_network_driver_1500, ip_stack[0], sizeof ip_stack[0], 1);
  status |= nx_ip_create(&ip_1, "peer", IP_ADDRESS(10, 0, 0, 2), 0xFFFFFF00UL, &pool,
                         _nx_ram_network_driver_1500, ip_stack[1], sizeof ip_stack[1], 1);
  NX_IP *ips[2] = {&ip_0, &ip_1};
  for (int i = 0; i < 2; i++) {
    status |= nx_arp_enable(ips[i], arp_area[i], sizeof arp_area[i]);
    status |= nx_icmp_enable(ips[i]);
    status |= nx_udp_enable(ips[i]);
    status |= nx_tcp_enable(ips[i]);
    status |= nx_ip_fragment_enable(ips[i]);
    status |= nxd_ipv6_enable(ips[i]);
    status |= nxd_icmp_enable(ips[i]);
  }
  status |= tx_semaphore_create(&server_done, "server done", 0);
  status |= tx_thread_create(&server_thread, "server", serve, 0, server_stack, sizeof server_stack,
                             15, 15, TX_NO_TIME_SLICE, TX_AUTO_START);
  status |= tx_thread_create(&test_thread, "test", run, 0, test_stack, sizeof test_stack, 16, 16,
                             TX_NO_TIME_SLICE, TX_AUTO_START);
  if (status != NX_SUCCESS) {
    printf("real: setting up ThreadX / NetX Duo failed (0x%x)\n", status);
    exit(1);
  }
}

int main(void) {
  tx_kernel_enter();
  return 1; /* never reached: the test thread exits */
}
