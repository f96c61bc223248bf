/* The NetX Duo hook on the test double: crafted packets in NX_PACKETs (single buffers and
 * chains), both directions, garbage, and an application filter that must keep being called
 * with its verdict honoured. The agent's queue is replaced by a recorder here. */
#include <stdlib.h>

#include "check.h"
#include "microtally_netx.h"
#include "microtally_threadx.h"
#include "packets.h"

/* ---- the agent's post, recorded ------------------------------------------------------ */

static mt_packet_conn posted[64];
static unsigned posted_count;
static int queue_full;

UINT mt_tx_post_connection(const mt_packet_conn *c) {
  if (queue_full || posted_count == 64) return TX_QUEUE_FULL;
  posted[posted_count++] = *c;
  return TX_SUCCESS;
}

/* ---- an application's own filter ------------------------------------------------------ */

static unsigned app_calls;
static NX_IP *app_last_ip;
static NX_PACKET *app_last_packet;
static UINT app_last_direction;
static UINT app_verdict = NX_SUCCESS;

static UINT app_filter(NX_IP *ip, NX_PACKET *packet, UINT direction) {
  app_calls++;
  app_last_ip = ip;
  app_last_packet = packet;
  app_last_direction = direction;
  return app_verdict;
}

static UINT legacy_filter(VOID *ip_header, UINT direction) {
  (void)ip_header;
  (void)direction;
  return NX_SUCCESS;
}

/* NetX Duo calls the extended filter like this for each packet. */
static UINT deliver(NX_IP *ip, NX_PACKET *packet, UINT direction) {
  return ip->nx_ip_packet_filter_extended ? ip->nx_ip_packet_filter_extended(ip, packet, direction)
                                          : NX_SUCCESS;
}

/* A packet in one buffer of exactly its size (AddressSanitizer catches reads past it). */
static NX_PACKET *packet_of(const uint8_t *bytes, size_t n) {
  NX_PACKET *p = calloc(1, sizeof *p);
  UCHAR *data = malloc(n ? n : 1);
  memcpy(data, bytes, n);
  p->nx_packet_data_start = data;
  p->nx_packet_prepend_ptr = data;
  p->nx_packet_append_ptr = data + n;
  p->nx_packet_data_end = data + n;
  p->nx_packet_length = (ULONG)n;
  return p;
}

/* The same bytes split over buffers at the given cut points. */
static NX_PACKET *chain_of(const uint8_t *bytes, size_t n, const size_t *cuts, int ncuts) {
  NX_PACKET *head = NX_NULL, *tail = NX_NULL;
  size_t from = 0;
  for (int i = 0; i <= ncuts; i++) {
    size_t to = i < ncuts ? cuts[i] : n;
    NX_PACKET *p = packet_of(bytes + from, to - from);
    if (tail)
      tail->nx_packet_next = p;
    else
      head = p;
    tail = p;
    from = to;
  }
  head->nx_packet_length = (ULONG)n;
  return head;
}

static void release(NX_PACKET *p) {
  while (p) {
    NX_PACKET *next = p->nx_packet_next;
    free(p->nx_packet_data_start);
    free(p);
    p = next;
  }
}

static MT_NETX_STATS stats_now(void) {
  MT_NETX_STATS s;
  mt_netx_stats_get(&s);
  return s;
}

static void chains_the_application_filter(void) {
  NX_IP ip;
  memset(&ip, 0, sizeof ip);
  ip.nx_ip_packet_filter = legacy_filter;
  ip.nx_ip_packet_filter_extended = app_filter;
  CHECK(mt_netx_attach(&ip) == MT_NETX_SUCCESS);
  CHECK(ip.nx_ip_packet_filter_extended != app_filter); /* the hook is in place */
  CHECK(ip.nx_ip_packet_filter == legacy_filter);       /* the legacy filter is untouched */
  CHECK(mt_netx_attach(&ip) == MT_NETX_ALREADY_ATTACHED);

  uint8_t b[64];
  size_t n = ipv4_header(b, 6, V4_DEVICE, V4_PEER, 20, 5, 0);
  n += tcp_header(b + n, 50000, 443, 5);
  NX_PACKET *p = packet_of(b, n);
  posted_count = 0;
  app_calls = 0;

  CHECK(deliver(&ip, p, NX_IP_PACKET_OUT) == NX_SUCCESS);
  CHECK(app_calls == 1 && app_last_ip == &ip && app_last_packet == p);
  CHECK(app_last_direction == NX_IP_PACKET_OUT);
  CHECK(posted_count == 1 && posted[0].direction == MT_PACKET_OUT);

  /* The application drops: NetX Duo gets its verdict, and the packet was still observed. */
  app_verdict = NX_NOT_SUCCESSFUL;
  CHECK(deliver(&ip, p, NX_IP_PACKET_IN) == NX_NOT_SUCCESSFUL);
  CHECK(app_calls == 2 && app_last_direction == NX_IP_PACKET_IN && posted_count == 2);
  app_verdict = NX_SUCCESS;

  /* Garbage still reaches the application's filter, which may want to see it most of all. */
  uint8_t junk[3] = {0x45, 0, 0};
  NX_PACKET *g = packet_of(junk, sizeof junk);
  CHECK(deliver(&ip, g, NX_IP_PACKET_IN) == NX_SUCCESS && app_calls == 3 && posted_count == 2);
  release(g);

  CHECK(mt_netx_detach(&ip) == MT_NETX_SUCCESS);
  CHECK(ip.nx_ip_packet_filter_extended == app_filter); /* given back */
  CHECK(mt_netx_detach(&ip) == MT_NETX_NOT_ATTACHED);
  CHECK(shim_interrupt_posture() == TX_INT_ENABLE);
  release(p);
}

static void never_drops_without_an_application_filter(void) {
  NX_IP ip;
  memset(&ip, 0, sizeof ip);
  CHECK(mt_netx_attach(&ip) == MT_NETX_SUCCESS);
  MT_NETX_STATS before = stats_now();
  uint32_t seed = 7;
  unsigned refused = 0;
  for (int i = 0; i < 2000; i++) {
    uint8_t b[80];
    size_t n = (seed >> 8) % sizeof b;
    for (size_t k = 0; k < n; k++) {
      seed = seed * 1664525u + 1013904223u;
      b[k] = (uint8_t)(seed >> 24);
    }
    seed = seed * 1664525u + 1013904223u;
    if (n) b[0] = (uint8_t)((seed & 1) ? 0x45 : 0x60); /* mostly plausible versions */
    NX_PACKET *p = packet_of(b, n);
    if (deliver(&ip, p, (seed >> 3) & 1) != NX_SUCCESS) refused++;
    release(p);
  }
  MT_NETX_STATS after = stats_now();
  CHECK(refused == 0);
  CHECK(after.packets - before.packets == 2000);
  /* Every packet ends up in exactly one bucket. */
  ULONG buckets = (after.connections - before.connections) + (after.truncated - before.truncated) +
                  (after.malformed - before.malformed) + (after.fragments - before.fragments) +
                  (after.unsupported - before.unsupported) +
                  (after.not_queued - before.not_queued) +
                  (after.ignored_neighbour_discovery - before.ignored_neighbour_discovery) +
                  (after.ignored_mld - before.ignored_mld) +
                  (after.ignored_link_multicast - before.ignored_link_multicast);
  CHECK(buckets == 2000);
  CHECK(after.truncated > before.truncated && after.malformed > before.malformed);
  CHECK(mt_netx_detach(&ip) == MT_NETX_SUCCESS && ip.nx_ip_packet_filter_extended == NX_NULL);
}

static void events_from_each_protocol(void) {
  NX_IP ip;
  memset(&ip, 0, sizeof ip);
  CHECK(mt_netx_attach(&ip) == MT_NETX_SUCCESS);
  uint8_t b[128];
  posted_count = 0;

  size_t n = ipv6_header(b, 17, V6_PEER, V6_DEVICE, 8 + 4);
  n += udp_header(b + n, 53, 40000, 12) + 4;
  NX_PACKET *p = packet_of(b, n);
  CHECK(deliver(&ip, p, NX_IP_PACKET_IN) == NX_SUCCESS);
  release(p);
  CHECK(posted_count == 1);
  CHECK(posted[0].family == 6 && posted[0].protocol == MT_PACKET_UDP &&
        posted[0].app == MT_PACKET_APP_DNS);
  CHECK(posted[0].direction == MT_PACKET_IN && posted[0].local_port == 40000 &&
        posted[0].bytes == 52);
  CHECK(memcmp(posted[0].local, V6_DEVICE, 16) == 0 && memcmp(posted[0].remote, V6_PEER, 16) == 0);

  n = ipv4_header(b, 1, V4_DEVICE, V4_PEER, 8, 5, 0);
  n += icmp_echo(b + n);
  p = packet_of(b, n);
  CHECK(deliver(&ip, p, NX_IP_PACKET_OUT) == NX_SUCCESS);
  release(p);
  CHECK(posted_count == 2 && posted[1].protocol == MT_PACKET_ICMP && posted[1].family == 4);

  /* IPv6 + hop-by-hop + TCP split across three buffers, cuts inside both headers. */
  n = ipv6_header(b, 0, V6_DEVICE, V6_PEER, 8 + 20);
  n += ipv6_ext(b + n, 6, 1);
  n += tcp_header(b + n, 40123, 8883, 5);
  size_t cuts[2] = {13, 51};
  p = chain_of(b, n, cuts, 2);
  CHECK(deliver(&ip, p, NX_IP_PACKET_OUT) == NX_SUCCESS);
  release(p);
  CHECK(posted_count == 3 && posted[2].remote_port == 8883 && posted[2].local_port == 40123);
  CHECK(posted[2].protocol == MT_PACKET_TCP && posted[2].bytes == 68);

  /* A chain that ends before its stated length: truncated, nothing read past. */
  MT_NETX_STATS before = stats_now();
  size_t cut1[1] = {30};
  p = chain_of(b, 45, cut1, 1);
  p->nx_packet_length = (ULONG)n; /* claims more than the buffers hold */
  CHECK(deliver(&ip, p, NX_IP_PACKET_OUT) == NX_SUCCESS);
  release(p);
  CHECK(stats_now().truncated == before.truncated + 1 && posted_count == 3);

  /* Broken buffer pointers and empty packets are counted, not followed. */
  p = packet_of(b, n);
  UCHAR *keep = p->nx_packet_prepend_ptr;
  p->nx_packet_prepend_ptr = p->nx_packet_append_ptr + 1;
  CHECK(deliver(&ip, p, NX_IP_PACKET_IN) == NX_SUCCESS);
  p->nx_packet_prepend_ptr = NX_NULL;
  CHECK(deliver(&ip, p, NX_IP_PACKET_IN) == NX_SUCCESS);
  p->nx_packet_prepend_ptr = keep;
  p->nx_packet_length = 0;
  CHECK(deliver(&ip, p, NX_IP_PACKET_IN) == NX_SUCCESS);
  CHECK(deliver(&ip, NX_NULL, NX_IP_PACKET_IN) == NX_SUCCESS);
  release(p);
  CHECK(stats_now().malformed == before.malformed + 4 && posted_count == 3);

  /* A full agent queue: counted, packet still passes. */
  queue_full = 1;
  n = ipv4_header(b, 17, V4_DEVICE, V4_PEER, 8, 5, 0);
  n += udp_header(b + n, 1, 2, 8);
  p = packet_of(b, n);
  CHECK(deliver(&ip, p, NX_IP_PACKET_OUT) == NX_SUCCESS);
  release(p);
  queue_full = 0;
  CHECK(stats_now().not_queued == before.not_queued + 1 && posted_count == 3);
  CHECK(mt_netx_detach(&ip) == MT_NETX_SUCCESS);
}

/* The link's noise is counted by reason and never posted; a fragmented datagram is one event. */
static void noise_and_fragments(void) {
  static const uint8_t SOLICITED[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 1};
  static const uint8_t MDNS_V4[4] = {224, 0, 0, 251};
  NX_IP ip;
  memset(&ip, 0, sizeof ip);
  ip.nx_ip_packet_filter_extended = app_filter;
  CHECK(mt_netx_attach(&ip) == MT_NETX_SUCCESS);
  MT_NETX_STATS before = stats_now();
  posted_count = 0;
  app_calls = 0;
  uint8_t b[96];
  size_t n = ipv6_header(b, 58, V6_DEVICE, SOLICITED, 24); /* neighbour solicitation */
  n += icmp_echo(b + n) + 16;
  b[40] = 135;
  NX_PACKET *p = packet_of(b, n);
  CHECK(deliver(&ip, p, NX_IP_PACKET_OUT) == NX_SUCCESS);
  release(p);
  b[40] = 143; /* MLDv2 report */
  p = packet_of(b, n);
  CHECK(deliver(&ip, p, NX_IP_PACKET_OUT) == NX_SUCCESS);
  release(p);
  n = ipv4_header(b, 17, V4_PEER, MDNS_V4, 8, 5, 0);
  n += udp_header(b + n, 5353, 5353, 8);
  p = packet_of(b, n);
  CHECK(deliver(&ip, p, NX_IP_PACKET_IN) == NX_SUCCESS);
  release(p);
  /* A 2,000-byte UDP datagram arriving in two fragments: one event with its whole length. */
  n = ipv4_header(b, 17, V4_PEER, V4_DEVICE, 8 + 40, 5, 0x2000);
  n += udp_header(b + n, 5000, 6000, 2000) + 40;
  p = packet_of(b, n);
  CHECK(deliver(&ip, p, NX_IP_PACKET_IN) == NX_SUCCESS);
  release(p);
  n = ipv4_header(b, 17, V4_PEER, V4_DEVICE, 40, 5, 0x0006);
  memset(b + n, 0x11, 40);
  p = packet_of(b, n + 40);
  CHECK(deliver(&ip, p, NX_IP_PACKET_IN) == NX_SUCCESS);
  release(p);
  MT_NETX_STATS after = stats_now();
  CHECK(app_calls == 5); /* the application's filter saw every one */
  CHECK(after.ignored_neighbour_discovery == before.ignored_neighbour_discovery + 1);
  CHECK(after.ignored_mld == before.ignored_mld + 1);
  CHECK(after.ignored_link_multicast == before.ignored_link_multicast + 1);
  CHECK(after.fragments == before.fragments + 1 && after.malformed == before.malformed);
  CHECK(after.connections == before.connections + 1 && after.packets == before.packets + 5);
  CHECK(posted_count == 1 && posted[0].bytes == 2020 && posted[0].local_port == 6000);
  CHECK(posted[0].direction == MT_PACKET_IN && posted[0].protocol == MT_PACKET_UDP);
  CHECK(mt_netx_detach(&ip) == MT_NETX_SUCCESS);
}

static void several_instances_and_overwrites(void) {
  NX_IP a, b, c;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  memset(&c, 0, sizeof c);
  b.nx_ip_packet_filter_extended = app_filter;
  CHECK(mt_netx_attach(NX_NULL) == MT_NETX_PTR_ERROR);
  CHECK(mt_netx_attach(&a) == MT_NETX_SUCCESS);
  CHECK(mt_netx_attach(&b) == MT_NETX_SUCCESS);
  CHECK(mt_netx_attach(&c) == MT_NETX_NO_ROOM && c.nx_ip_packet_filter_extended == NX_NULL);

  /* Each instance chains to its own saved filter. */
  uint8_t buf[64];
  size_t n = ipv4_header(buf, 17, V4_DEVICE, V4_PEER, 8, 5, 0);
  n += udp_header(buf + n, 1, 2, 8);
  NX_PACKET *p = packet_of(buf, n);
  app_calls = 0;
  CHECK(deliver(&a, p, NX_IP_PACKET_OUT) == NX_SUCCESS && app_calls == 0);
  CHECK(deliver(&b, p, NX_IP_PACKET_OUT) == NX_SUCCESS && app_calls == 1 && app_last_ip == &b);

  /* The application overwrites the hook later: detach leaves its filter alone. */
  a.nx_ip_packet_filter_extended = app_filter;
  CHECK(mt_netx_detach(&a) == MT_NETX_REPLACED && a.nx_ip_packet_filter_extended == app_filter);
  CHECK(mt_netx_attach(&c) == MT_NETX_SUCCESS); /* the slot was freed */
  CHECK(mt_netx_detach(&b) == MT_NETX_SUCCESS && b.nx_ip_packet_filter_extended == app_filter);
  CHECK(mt_netx_detach(&c) == MT_NETX_SUCCESS);
  release(p);
}

int main(void) {
  chains_the_application_filter();
  never_drops_without_an_application_filter();
  events_from_each_protocol();
  noise_and_fragments();
  several_instances_and_overwrites();
  CHECK(shim_interrupt_posture() == TX_INT_ENABLE);
  return check_report("netx hook");
}
