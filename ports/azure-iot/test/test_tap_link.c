/*
 * NetX Duo on ThreadX's Linux port over the TAP driver (ports/netxduo-tap), against the peer
 * scripts/test-azure-iot.sh runs inside the same network namespace (test/azure-iot/peer.mjs):
 * ARP and ICMP, a UDP and a TCP exchange with known bytes echoed back, and NetX Duo's DNS client
 * resolving the hub's name at the namespace's resolver. Ends with `N passed, M failed`.
 *   test_tap_link <tap device> <peer IPv4> <hub host name>
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nx_api.h"
#include "nxd_dns.h"
#include "nx_tap_driver.h"

#define DEVICE_ADDRESS IP_ADDRESS(10, 77, 0, 2)
#define UDP_ECHO_PORT 7000u
#define TCP_ECHO_PORT 7001u
#define UDP_BYTES 100u
#define TCP_BYTES 3000u

static int passed, failed;
static void check(int ok, const char *what) {
  if (ok) {
    passed++;
    printf("ok   %s\n", what);
  } else {
    failed++;
    printf("FAIL %s\n", what);
  }
  fflush(stdout);
}

static const char *tap_name;
static ULONG peer;
static const char *hub_name;

static NX_PACKET_POOL pool;
static UCHAR pool_memory[64 * (1536 + sizeof(NX_PACKET))];
static NX_IP ip;
static UCHAR ip_stack[16384];
static UCHAR arp_cache[1024];
static TX_THREAD test_thread;
static UCHAR test_stack[32768];
static NX_UDP_SOCKET udp;
static NX_TCP_SOCKET tcp;
static NX_DNS dns;
static UCHAR payload[TCP_BYTES], echoed[TCP_BYTES];

static UINT send_bytes_udp(void) {
  NX_PACKET *packet;
  if (nx_packet_allocate(&pool, &packet, NX_UDP_PACKET, NX_WAIT_FOREVER) != NX_SUCCESS)
    return NX_NOT_SUCCESSFUL;
  if (nx_packet_data_append(packet, payload, UDP_BYTES, &pool, NX_WAIT_FOREVER) != NX_SUCCESS) {
    nx_packet_release(packet);
    return NX_NOT_SUCCESSFUL;
  }
  UINT status = nx_udp_socket_send(&udp, packet, peer, UDP_ECHO_PORT);
  if (status != NX_SUCCESS) nx_packet_release(packet);
  return status;
}

static void test_entry(ULONG unused) {
  (void)unused;
  ULONG actual;
  for (ULONG i = 0; i < TCP_BYTES; i++) payload[i] = (UCHAR)(i * 7u + 3u);

  check(nx_ip_status_check(&ip, NX_IP_LINK_ENABLED, &actual, 500) == NX_SUCCESS,
        "the TAP link is up");

  /* One ping, the program's first packet: it waits in NetX Duo's ARP queue while ARP resolves.
   * A lost ARP reply (a TAP device not yet transmitting) is retried only after
   * NX_ARP_UPDATE_RATE (10 s), so 3 s tell a working first exchange from a lost one. */
  NX_PACKET *reply = NX_NULL;
  UINT status = nx_icmp_ping(&ip, peer, "microtally", 10, &reply, 3u * TX_TIMER_TICKS_PER_SECOND);
  char ping_what[160];
  snprintf(ping_what, sizeof ping_what,
           "ARP and ICMP: the first ping is answered, ARP resolved on its first request "
           "(status 0x%x)",
           status);
  check(status == NX_SUCCESS, ping_what);
  if (reply) nx_packet_release(reply);

  /* UDP: 100 known bytes out, the same 100 back. */
  int udp_ok = nx_udp_socket_create(&ip, &udp, "udp", NX_IP_NORMAL, NX_FRAGMENT_OKAY, 0x80, 8) ==
                   NX_SUCCESS &&
               nx_udp_socket_bind(&udp, 40001, NX_NO_WAIT) == NX_SUCCESS &&
               send_bytes_udp() == NX_SUCCESS;
  NX_PACKET *in = NX_NULL;
  udp_ok = udp_ok && nx_udp_socket_receive(&udp, &in, 500) == NX_SUCCESS;
  ULONG got = 0;
  if (in) {
    udp_ok = udp_ok && nx_packet_data_retrieve(in, echoed, &got) == NX_SUCCESS &&
             got == UDP_BYTES && memcmp(echoed, payload, UDP_BYTES) == 0;
    nx_packet_release(in);
  }
  check(udp_ok, "UDP: 100 bytes to the peer's echo port come back unchanged");

  /* TCP: 3000 known bytes out (several segments), the same 3000 back. */
  int tcp_ok = nx_tcp_socket_create(&ip, &tcp, "tcp", NX_IP_NORMAL, NX_FRAGMENT_OKAY, 0x80, 8192,
                                    NX_NULL, NX_NULL) == NX_SUCCESS &&
               nx_tcp_client_socket_bind(&tcp, 40002, NX_NO_WAIT) == NX_SUCCESS &&
               nx_tcp_client_socket_connect(&tcp, peer, TCP_ECHO_PORT, 500) == NX_SUCCESS;
  if (tcp_ok) {
    NX_PACKET *packet;
    tcp_ok = nx_packet_allocate(&pool, &packet, NX_TCP_PACKET, NX_WAIT_FOREVER) == NX_SUCCESS;
    if (tcp_ok &&
        (nx_packet_data_append(packet, payload, TCP_BYTES, &pool, NX_WAIT_FOREVER) != NX_SUCCESS ||
         nx_tcp_socket_send(&tcp, packet, 500) != NX_SUCCESS)) {
      nx_packet_release(packet);
      tcp_ok = 0;
    }
    ULONG total = 0;
    while (tcp_ok && total < TCP_BYTES) {
      if (nx_tcp_socket_receive(&tcp, &in, 500) != NX_SUCCESS) {
        tcp_ok = 0;
        break;
      }
      for (NX_PACKET *p = in; p != NX_NULL && total < TCP_BYTES; p = p->nx_packet_next) {
        ULONG n = (ULONG)(p->nx_packet_append_ptr - p->nx_packet_prepend_ptr);
        if (total + n > TCP_BYTES) n = TCP_BYTES - total;
        memcpy(echoed + total, p->nx_packet_prepend_ptr, n);
        total += n;
      }
      nx_packet_release(in);
    }
    tcp_ok = tcp_ok && total == TCP_BYTES && memcmp(echoed, payload, TCP_BYTES) == 0;
    nx_tcp_socket_disconnect(&tcp, 200);
    nx_tcp_client_socket_unbind(&tcp);
  }
  check(tcp_ok, "TCP: 3000 bytes to the peer's echo port come back unchanged");

  /* DNS: NetX Duo's client asks the namespace's resolver for the hub. */
  ULONG address = 0;
  int dns_ok = nx_dns_create(&dns, &ip, (UCHAR *)"dns") == NX_SUCCESS &&
               nx_dns_packet_pool_set(&dns, &pool) == NX_SUCCESS &&
               nx_dns_server_add(&dns, peer) == NX_SUCCESS &&
               nx_dns_host_by_name_get(&dns, (UCHAR *)hub_name, &address, 300) == NX_SUCCESS;
  char what[200];
  snprintf(what, sizeof what,
           "DNS: NetX Duo's client resolves %s to the peer (got %lu.%lu.%lu.%lu)", hub_name,
           (unsigned long)(address >> 24) & 255, (unsigned long)(address >> 16) & 255,
           (unsigned long)(address >> 8) & 255, (unsigned long)address & 255);
  check(dns_ok && address == peer, what);
  ULONG missing = 0;
  check(
      nx_dns_host_by_name_get(&dns, (UCHAR *)"no-such-host.invalid", &missing, 300) != NX_SUCCESS &&
          missing == 0,
      "DNS: an unknown name is not resolved");

  NX_TAP_STATS stats;
  nx_tap_driver_stats_get(&stats);
  printf("   tap: %lu frames sent, %lu received, %lu send errors, %lu receive drops\n",
         (unsigned long)stats.frames_sent, (unsigned long)stats.frames_received,
         (unsigned long)stats.send_errors, (unsigned long)stats.receive_dropped);
  check(stats.send_errors == 0, "the driver wrote every frame");
  printf("%d passed, %d failed\n", passed, failed);
  fflush(stdout);
  exit(failed ? 1 : 0);
}

void tx_application_define(void *first_unused_memory) {
  (void)first_unused_memory;
  nx_system_initialize();
  if (nx_packet_pool_create(&pool, "pool", 1536, pool_memory, sizeof pool_memory) != NX_SUCCESS ||
      nx_tap_driver_configure(tap_name, 0x0200u, 0x4d540002u) != NX_SUCCESS ||
      nx_ip_create(&ip, "ip", DEVICE_ADDRESS, 0xFFFFFF00u, &pool, nx_tap_driver, ip_stack,
                   sizeof ip_stack, 1) != NX_SUCCESS ||
      nx_arp_enable(&ip, arp_cache, sizeof arp_cache) != NX_SUCCESS ||
      nx_icmp_enable(&ip) != NX_SUCCESS || nx_udp_enable(&ip) != NX_SUCCESS ||
      nx_tcp_enable(&ip) != NX_SUCCESS ||
      tx_thread_create(&test_thread, "test", test_entry, 0, test_stack, sizeof test_stack, 4, 4,
                       TX_NO_TIME_SLICE, TX_AUTO_START) != TX_SUCCESS) {
    printf("FAIL NetX Duo setup on TAP device %s\n0 passed, 1 failed\n", tap_name);
    exit(1);
  }
}

int main(int argc, char **argv) {
  struct in_addr parsed;
  if (argc != 4 || inet_pton(AF_INET, argv[2], &parsed) != 1) {
    fprintf(stderr, "usage: test_tap_link <tap device> <peer IPv4> <hub host name>\n");
    return 2;
  }
  tap_name = argv[1];
  peer = ntohl(parsed.s_addr);
  hub_name = argv[3];
  tx_kernel_enter();
  return 0;
}
