/* The rest of the firmware around the README's start code, as a user writes it: main() enters
 * ThreadX, network_start() creates the IP instance ip_0 the start code attaches the hook to
 * (on a driver that only counts what it would put on the wire), and a thread of the firmware
 * sends UDP datagrams through it. scripts/test-cmake-consumer.sh builds it with
 * microtally_start.c and CMakeLists.txt, both taken from ports/threadx/README.md as they stand,
 * against the installed package, and runs it: the agent started, the hook saw every datagram,
 * the core took each event and messages reached the start code's publish(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microtally_netx.h"
#include "microtally_threadx.h"
#include "nx_api.h"
#include "tx_api.h"

#define DATAGRAMS 3u
#define PAYLOAD 100u
#define SECOND ((ULONG)TX_TIMER_TICKS_PER_SECOND)

NX_IP ip_0;
VOID network_start(VOID *first_unused_memory);

static NX_PACKET_POOL pool;
static UCHAR pool_area[32 * (1536 + sizeof(NX_PACKET) + 16)];
static UCHAR ip_stack[16384];
static TX_THREAD app_thread;
static UCHAR app_stack[65536];
static ULONG wire_packets, wire_bytes;
static unsigned passed, failed;

static void check(int ok, const char *what) {
  if (ok) {
    passed++;
    printf("ok   %s\n", what);
  } else {
    failed++;
    printf("FAIL %s\n", what);
  }
}

/* A link that carries nothing: every packet is counted and released (no address mapping, so
 * NetX Duo sends IP datagrams straight to it). */
static VOID counting_driver(NX_IP_DRIVER *request) {
  NX_INTERFACE *link = request->nx_ip_driver_interface;
  request->nx_ip_driver_status = NX_SUCCESS;
  switch (request->nx_ip_driver_command) {
    case NX_LINK_INITIALIZE:
      link->nx_interface_ip_mtu_size = 1500;
      link->nx_interface_physical_address_msw = 0x0002;
      link->nx_interface_physical_address_lsw = 0x00000001;
      link->nx_interface_address_mapping_needed = NX_FALSE;
      break;
    case NX_LINK_ENABLE:
      link->nx_interface_link_up = NX_TRUE;
      break;
    case NX_LINK_DISABLE:
      link->nx_interface_link_up = NX_FALSE;
      break;
    case NX_LINK_PACKET_SEND:
    case NX_LINK_PACKET_BROADCAST:
    case NX_LINK_ARP_SEND:
    case NX_LINK_ARP_RESPONSE_SEND:
    case NX_LINK_RARP_SEND:
      wire_packets++;
      wire_bytes += request->nx_ip_driver_packet->nx_packet_length;
      nx_packet_transmit_release(request->nx_ip_driver_packet);
      break;
    default:
      break;
  }
}

static VOID app_entry(ULONG input) {
  NX_UDP_SOCKET socket;
  UCHAR payload[PAYLOAD];
  MT_TX_STATS stats;
  MT_NETX_STATS hook;
  CHAR reason[MT_TX_REASON_BYTES];
  (void)input;
  memset(payload, 'x', sizeof payload);

  /* The start code's mt_tx_start succeeded: only a started agent answers ALREADY_STARTED. */
  check(mt_tx_start(TX_NULL) == MT_TX_ALREADY_STARTED, "the start code started the agent");
  check(mt_tx_configure_result(reason, sizeof reason) == TX_SUCCESS,
        "the start code's configuration was accepted");
  check(nx_udp_socket_create(&ip_0, &socket, "app", NX_IP_NORMAL, NX_FRAGMENT_OKAY, 64, 4) ==
                NX_SUCCESS &&
            nx_udp_socket_bind(&socket, 5000, TX_WAIT_FOREVER) == NX_SUCCESS,
        "UDP socket of the firmware");
  for (unsigned i = 0; i < DATAGRAMS; i++) {
    NX_PACKET *packet;
    UINT status = nx_packet_allocate(&pool, &packet, NX_UDP_PACKET, SECOND);
    if (status == NX_SUCCESS) {
      status = nx_packet_data_append(packet, payload, sizeof payload, &pool, SECOND);
    }
    if (status == NX_SUCCESS) {
      status = nx_udp_socket_send(&socket, packet, IP_ADDRESS(10, 0, 0, 2), 6000);
    }
    check(status == NX_SUCCESS, "a UDP datagram sent through ip_0");
  }
  /* Windows are whole seconds: the one holding the datagrams is sent at most a second late. */
  for (unsigned waited = 0; waited < 10; waited++) {
    mt_tx_stats_get(&stats);
    if (stats.messages > 0 && stats.ingested >= DATAGRAMS) {
      break;
    }
    tx_thread_sleep(SECOND);
  }
  check(mt_tx_stop(10 * SECOND) == TX_SUCCESS, "mt_tx_stop sent everything");
  mt_tx_stats_get(&stats);
  mt_netx_stats_get(&hook);
  printf(
      "     agent: posted %u, ingested %u, dropped %u, rejected %u, messages %u, faults %u; "
      "hook: packets %lu, connections %lu; link: %lu packets, %lu bytes\n",
      (unsigned)stats.posted, (unsigned)stats.ingested, (unsigned)stats.dropped,
      (unsigned)stats.rejected, (unsigned)stats.messages, (unsigned)stats.faults,
      (unsigned long)hook.packets, (unsigned long)hook.connections, (unsigned long)wire_packets,
      (unsigned long)wire_bytes);
  check(wire_packets == DATAGRAMS && wire_bytes == DATAGRAMS * (20u + 8u + PAYLOAD),
        "every datagram left on the link (the hook never drops)");
  check(hook.packets == DATAGRAMS && hook.connections == DATAGRAMS,
        "the hook saw each datagram and posted it");
  check(stats.posted == DATAGRAMS && stats.ingested == DATAGRAMS && stats.dropped == 0 &&
            stats.rejected == 0,
        "the core took every event");
  check(stats.messages >= 1 && stats.faults == 0, "messages reached publish(), no fault");
  printf("%u passed, %u failed\n", passed, failed);
  fflush(stdout);
  exit(failed == 0 ? 0 : 1);
}

VOID network_start(VOID *first_unused_memory) {
  (void)first_unused_memory;
  nx_system_initialize();
  UINT status = nx_packet_pool_create(&pool, "pool", 1536, pool_area, sizeof pool_area);
  if (status == NX_SUCCESS) {
    status = nx_ip_create(&ip_0, "device", IP_ADDRESS(10, 0, 0, 1), 0xFFFFFF00UL, &pool,
                          counting_driver, ip_stack, sizeof ip_stack, 1);
  }
  if (status == NX_SUCCESS) {
    status = nx_udp_enable(&ip_0);
  }
  if (status == NX_SUCCESS) {
    status = tx_thread_create(&app_thread, "app", app_entry, 0, app_stack, sizeof app_stack, 10, 10,
                              TX_NO_TIME_SLICE, TX_AUTO_START);
  }
  if (status != NX_SUCCESS) {
    printf("network_start: status 0x%x\n0 passed, 1 failed\n", status);
    exit(1);
  }
}

int main(void) {
  tx_kernel_enter();
  return 0;
}
