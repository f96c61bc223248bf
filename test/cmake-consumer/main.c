/* The rest of the firmware around the README's start code, as a user writes it: main() enters
 * ThreadX, network_start() creates the IP instance ip_0 the start code attaches the hook to
 * (on a driver that only counts what it would put on the wire) and opens core updates (before
 * the start code's mt_tx_start, as ports/threadx/README.md says), publish() keeps the messages,
 * and a thread of the firmware sends UDP datagrams through ip_0. scripts/test-cmake-consumer.sh
 * builds it with microtally_start.c and CMakeLists.txt, both taken from ports/threadx/README.md
 * as they stand, against the installed package, and runs it: the agent started, the hook saw
 * every datagram, the core took each event and messages reached publish(). Then a core update:
 * the package ($MT_CONSUMER_PACKAGE, make-test-packages' changed-small-2.pkg) streamed through
 * mt_tx_update_begin/write/commit is swapped in (wasm3: an AgentUpdate `applied` in a message,
 * the new core's AgentVersion after it), or refused at once (aot). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microtally_netx.h"
#include "microtally_threadx.h"
#include "microtally_threadx_update.h"
#include "nx_api.h"
#include "tx_api.h"
/* Beside main.c, copied by the test: the update tests' RAM storage (the README's CMakeLists.txt
 * builds main.c and microtally_start.c only), and the test key's point, built in. */
#include "test_storage.c"
#include "update_key.h"

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

/* What publish() was given: every message, one a line. */
static char messages[1 << 18];
static ULONG messages_length, message_start, messages_sent;

VOID publish(VOID *ctx, const UCHAR *bytes, ULONG len, UINT last) {
  (void)ctx;
  if (last == MT_TX_CHUNK_ABORT) { /* a trap: the message being built is dropped */
    messages_length = message_start;
    return;
  }
  if (messages_length + len + 2 < sizeof messages) {
    memcpy(messages + messages_length, bytes, len);
    messages_length += len;
  }
  if (last == MT_TX_CHUNK_LAST) {
    messages[messages_length++] = '\n';
    messages[messages_length] = '\0';
    message_start = messages_length;
    messages_sent++;
  }
}

/* Core updates: two RAM slots and a state record (a flash partition on a board). */
static uint8_t update_slots[2][128 * 1024];
static test_storage_t update_storage;
static CHAR self_test[4096];
static uint8_t package[128 * 1024];
static size_t self_test_length, package_length;

static size_t read_file(const char *variable, void *into, size_t size) {
  const char *path = getenv(variable);
  FILE *f = path != NULL ? fopen(path, "rb") : NULL;
  size_t n = f != NULL ? fread(into, 1, size, f) : 0;
  if (f != NULL) fclose(f);
  if (n == 0 || n == size) {
    printf("FAIL %s (%s): not read, or larger than %lu bytes\n0 passed, 1 failed\n", variable,
           path != NULL ? path : "not set", (unsigned long)size);
    exit(1);
  }
  return n;
}

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

static NX_UDP_SOCKET udp;
static UCHAR payload[PAYLOAD];
static unsigned datagrams;

static UINT send_datagram(VOID) {
  NX_PACKET *packet;
  UINT status = nx_packet_allocate(&pool, &packet, NX_UDP_PACKET, SECOND);
  if (status == NX_SUCCESS) {
    status = nx_packet_data_append(packet, payload, sizeof payload, &pool, SECOND);
  }
  if (status == NX_SUCCESS) {
    status = nx_udp_socket_send(&udp, packet, IP_ADDRESS(10, 0, 0, 2), 6000);
  }
  datagrams += status == NX_SUCCESS;
  return status;
}

/* The package in 1 KiB chunks, as a transport hands them over; the commit's status. */
static UINT stream_package(VOID) {
  UINT status = mt_tx_update_begin();
  for (size_t at = 0; status == TX_SUCCESS && at < package_length; at += 1024) {
    size_t n = package_length - at < 1024 ? package_length - at : 1024;
    status = mt_tx_update_write((ULONG)at, package + at, (ULONG)n);
  }
  return status == TX_SUCCESS ? mt_tx_update_commit() : status;
}

static void core_update(VOID) {
  static const char aot[] =
      "this image runs its core ahead of time (compiled in): it cannot load another blob";
  CHAR reason[MT_TX_REASON_BYTES];
  /* one-second windows: the trial's window boundaries come soon */
  static const char fast[] =
      "{\"network\":{\"priority\":\"high\"},\"priorityIntervals\":{\"high\":1}}";
  check(mt_tx_configure(fast, sizeof fast - 1) == TX_SUCCESS, "a configuration update sent");
  UINT status = stream_package();
  if (!mt_engine_can_swap()) {
    check(status == MT_TX_UPDATE_REFUSED &&
              mt_tx_update_result(reason, sizeof reason) == MT_TX_UPDATE_REFUSED &&
              strcmp(reason, aot) == 0,
          "aot: the update refused at mt_tx_update_begin, with the reason");
    for (unsigned waited = 0; waited < 10 && !strstr(messages, aot); waited++) {
      (void)send_datagram();
      tx_thread_sleep(SECOND);
    }
    check(strstr(messages, "\"Result\":\"rejected\",\"Reason\":\"this image runs its core ahead") !=
              NULL,
          "aot: an AgentUpdate rejected with the reason in a message publish() sent");
    return;
  }
  check(status == MT_TX_PENDING, "the package streamed, verified and staged: the swap requested");
  /* the swap at the agent's next turn, then two windows on trial: a datagram a second */
  for (unsigned waited = 0; waited < 20; waited++) {
    if (mt_tx_update_result(reason, sizeof reason) != MT_TX_PENDING) break;
    (void)send_datagram();
    tx_thread_sleep(SECOND);
  }
  status = mt_tx_update_result(reason, sizeof reason);
  printf("     update: result 0x%x (%s), sequence %lu\n", status, reason,
         (unsigned long)mt_tx_update_sequence());
  check(status == TX_SUCCESS && mt_tx_update_sequence() == 2,
        "the agent swapped the package in and confirmed it after its trial (sequence 2)");
  const char *applied =
      strstr(messages, "\"FromSequence\":0,\"ToSequence\":2,\"Result\":\"applied\"}");
  check(applied != NULL, "an AgentUpdate applied in a message publish() sent");
  check(applied != NULL && strstr(applied, "\"AgentVersion\":\"0.1.0-changed\"") != NULL,
        "the messages after it come from the new core (its AgentVersion)");
}

static VOID app_entry(ULONG input) {
  MT_TX_STATS stats;
  MT_NETX_STATS hook;
  CHAR reason[MT_TX_REASON_BYTES];
  (void)input;
  memset(payload, 'x', sizeof payload);

  /* The start code's mt_tx_start succeeded: only a started agent answers ALREADY_STARTED. */
  check(mt_tx_start(TX_NULL) == MT_TX_ALREADY_STARTED, "the start code started the agent");
  check(mt_tx_configure_result(reason, sizeof reason) == TX_SUCCESS,
        "the start code's configuration was accepted");
  check(nx_udp_socket_create(&ip_0, &udp, "app", NX_IP_NORMAL, NX_FRAGMENT_OKAY, 64, 4) ==
                NX_SUCCESS &&
            nx_udp_socket_bind(&udp, 5000, TX_WAIT_FOREVER) == NX_SUCCESS,
        "UDP socket of the firmware");
  for (unsigned i = 0; i < DATAGRAMS; i++) {
    check(send_datagram() == NX_SUCCESS, "a UDP datagram sent through ip_0");
  }
  /* Windows are whole seconds: the one holding the datagrams is sent at most a second late. */
  for (unsigned waited = 0; waited < 10; waited++) {
    mt_tx_stats_get(&stats);
    if (stats.messages > 0 && stats.ingested >= DATAGRAMS) {
      break;
    }
    tx_thread_sleep(SECOND);
  }
  core_update();
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
  check(wire_packets == datagrams && wire_bytes == datagrams * (20u + 8u + PAYLOAD),
        "every datagram left on the link (the hook never drops)");
  check(hook.packets == datagrams && hook.connections == datagrams,
        "the hook saw each datagram and posted it");
  check(stats.posted == datagrams && stats.ingested == datagrams && stats.dropped == 0 &&
            stats.rejected == 0,
        "the core took every event");
  check(stats.messages >= 1 && stats.messages == messages_sent && stats.faults == 0,
        "messages reached publish(), no fault");
  check(strstr(messages, "\"RemotePort\":6000,\"Protocol\":\"udp\"") != NULL,
        "the datagrams' connection in a message publish() was given");
  printf("%u passed, %u failed\n", passed, failed);
  fflush(stdout);
  exit(failed == 0 ? 0 : 1);
}

VOID network_start(VOID *first_unused_memory) {
  (void)first_unused_memory;
  /* Core updates open before mt_tx_start: the installed blob (none yet: the built-in one) runs. */
  self_test_length = read_file("MT_CONSUMER_SELFTEST", self_test, sizeof self_test);
  package_length = read_file("MT_CONSUMER_PACKAGE", package, sizeof package);
  check(
      mt_tx_update_open(test_storage_init(&update_storage, update_slots[0], sizeof update_slots[0]),
                        update_key, self_test, (ULONG)self_test_length) == TX_SUCCESS,
      "core updates opened (mt_tx_update_open) before the start code's mt_tx_start");
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
