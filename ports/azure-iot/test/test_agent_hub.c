/*
 * The device as a firmware runs it: the ThreadX agent (ports/threadx) with its NetX Duo hook,
 * its messages carried to IoT Hub by the Azure IoT adapter (ports/azure-iot) over NetX Secure,
 * on the TAP driver. Driven by test/azure-iot/e2e.mjs (which plays the hub and checks what
 * arrives): makes a UDP and a TCP flow with known bytes to the namespace's echo peers, then runs
 * for the given seconds and prints the adapter's and the agent's counters as `stats: ...`.
 *   test_agent_hub <tap> <peer IPv4> <hub> <device id> <key file> <CA DER file> <json|cbor> <seconds> <window s>
 *                  [<update key.raw> <selftest.jsonl>]
 * With the last two, core updates are on (microtally_threadx_update.h, RAM slots): the direct
 * method `microtally-update` takes packages signed with that key.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "microtally_netx.h"
#include "microtally_threadx.h"
#include "microtally_threadx_update.h"
#include "mt_azure_iot.h"
#include "test_device.h"
#include "test_storage.h"

static TEST_DEVICE device = {.program = "test_agent_hub"};
static ULONG peer;
static UINT cbor;
static ULONG run_seconds;
static char configuration[160];

static NX_AZURE_IOT_HUB_CLIENT client;
static UCHAR adapter_stack[65536];
static UCHAR agent_stack[65536];
static ULONG agent_queue[256 * MT_TX_EVENT_ULONGS];
static NX_UDP_SOCKET udp;
static NX_TCP_SOCKET tcp;
static UCHAR payload[3000];

/* Core updates (optional): the public key, the self-test, two RAM slots and the state record. */
static UCHAR update_key[65];
static CHAR self_test[4096];
static UINT self_test_length, updates;
static UCHAR slots[2][64 * 1024];
static test_storage_t storage; /* RAM (ports/common/test/test_storage.c) */
static const MT_AZ_UPDATE_OPS update_ops = {
    mt_tx_update_begin,  mt_tx_update_write,    mt_tx_update_commit, mt_tx_update_expected_offset,
    mt_tx_update_result, mt_tx_update_sequence, MT_TX_PENDING,       MT_TX_UPDATE_REPEATED};

/* The agent's clock: the host's (the example firmware uses SNTP). */
static uint64_t clock_ms(VOID) {
  struct timeval now;
  gettimeofday(&now, NULL);
  return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_usec / 1000u;
}

static void flows(void) {
  NX_PACKET *packet, *in;
  ULONG got;
  for (ULONG i = 0; i < sizeof payload; i++) payload[i] = (UCHAR)(i * 7u + 3u);
  if (nx_udp_socket_create(&test_ip, &udp, "udp", NX_IP_NORMAL, NX_FRAGMENT_OKAY, 0x80, 8) ==
          NX_SUCCESS &&
      nx_udp_socket_bind(&udp, 40001, NX_NO_WAIT) == NX_SUCCESS &&
      nx_packet_allocate(&test_pool, &packet, NX_UDP_PACKET, NX_WAIT_FOREVER) == NX_SUCCESS) {
    nx_packet_data_append(packet, payload, 100, &test_pool, NX_WAIT_FOREVER);
    if (nx_udp_socket_send(&udp, packet, peer, 7000) != NX_SUCCESS) nx_packet_release(packet);
    if (nx_udp_socket_receive(&udp, &in, 500) == NX_SUCCESS) {
      printf("flow: udp echoed %lu\n", (unsigned long)in->nx_packet_length);
      nx_packet_release(in);
    }
  }
  if (nx_tcp_socket_create(&test_ip, &tcp, "tcp", NX_IP_NORMAL, NX_FRAGMENT_OKAY, 0x80, 8192,
                           NX_NULL, NX_NULL) == NX_SUCCESS &&
      nx_tcp_client_socket_bind(&tcp, 40002, NX_NO_WAIT) == NX_SUCCESS &&
      nx_tcp_client_socket_connect(&tcp, peer, 7001, 500) == NX_SUCCESS &&
      nx_packet_allocate(&test_pool, &packet, NX_TCP_PACKET, NX_WAIT_FOREVER) == NX_SUCCESS) {
    nx_packet_data_append(packet, payload, sizeof payload, &test_pool, NX_WAIT_FOREVER);
    if (nx_tcp_socket_send(&tcp, packet, 500) != NX_SUCCESS) nx_packet_release(packet);
    ULONG total = 0;
    while (total < sizeof payload && nx_tcp_socket_receive(&tcp, &in, 500) == NX_SUCCESS) {
      total += in->nx_packet_length;
      nx_packet_release(in);
    }
    printf("flow: tcp echoed %lu\n", (unsigned long)total);
    nx_tcp_socket_disconnect(&tcp, 200);
    nx_tcp_client_socket_unbind(&tcp);
  }
  (void)got;
  fflush(stdout);
}

static void main_entry(ULONG unused) {
  (void)unused;
  UINT status = test_device_hub_client(&device, &client);
  MT_AZURE_IOT_CONFIG az = {adapter_stack, sizeof adapter_stack, 6, "e2e-1.0", TX_NULL, 0u,
                            TX_NULL};
  if (updates) {
    az.update = &update_ops;
    if (status == NX_SUCCESS)
      status = mt_tx_update_open(test_storage_init(&storage, slots[0], sizeof slots[0]), update_key,
                                 self_test, self_test_length);
  }
  if (status == NX_SUCCESS) status = mt_azure_iot_start(&client, &az);
  MT_TX_CONFIG cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.stack = agent_stack;
  cfg.stack_size = sizeof agent_stack;
  cfg.priority = 8;
  cfg.queue_storage = agent_queue;
  cfg.queue_size = sizeof agent_queue;
  cfg.clock_ms = clock_ms;
  cfg.send = mt_azure_iot_send;
  cfg.agent_id = "0123abcd-4567-89ef-0123-456789abcdef";
  cfg.configuration = configuration;
  cfg.message_format = cbor ? 1u : 0u;
  if (status == NX_SUCCESS) status = mt_tx_start(&cfg);
  if (status == NX_SUCCESS) status = mt_netx_attach(&test_ip);
  printf("device: setup status=0x%x\n", status);
  fflush(stdout);
  if (status != NX_SUCCESS) exit(1);
  flows();
  for (ULONG s = 0; s < run_seconds; s++) {
    tx_thread_sleep(TX_TIMER_TICKS_PER_SECOND);
    MT_AZURE_IOT_STATS st;
    mt_azure_iot_stats_get(&st);
    printf(
        "stats: t=%lu state=%u last_error=0x%x connects=%lu connected=%lu sent=%lu retried=%lu dropped=%lu "
        "queued=%lu high_water_bytes=%lu high_water_messages=%lu twin_applied=%lu twin_rejected=%lu\n",
        (unsigned long)s, st.state, st.last_error, (unsigned long)st.connects,
        (unsigned long)st.connected, (unsigned long)st.sent, (unsigned long)st.retried,
        (unsigned long)st.dropped, (unsigned long)st.queued, (unsigned long)st.high_water_bytes,
        (unsigned long)st.high_water_messages, (unsigned long)st.twin_applied,
        (unsigned long)st.twin_rejected);
    fflush(stdout);
  }
  /* The end: the agent sends what it holds, the adapter empties its outbox (up to 20 s) unless
   * it never got through. */
  mt_tx_stop(5u * TX_TIMER_TICKS_PER_SECOND);
  MT_AZURE_IOT_STATS st;
  for (UINT i = 0; i < 200u; i++) {
    mt_azure_iot_stats_get(&st);
    if (st.queued == 0u || st.connected == 0u) break;
    tx_thread_sleep(TX_TIMER_TICKS_PER_SECOND / 10u);
  }
  MT_TX_STATS agent;
  mt_tx_stats_get(&agent);
  printf(
      "final: made=%lu sent=%lu dropped=%lu drops_reported=%lu queued=%lu retried=%lu connected=%lu connects=%lu state=%u last_error=%u\n",
      (unsigned long)agent.messages, (unsigned long)st.sent, (unsigned long)st.dropped,
      (unsigned long)st.drops_reported, (unsigned long)st.queued, (unsigned long)st.retried,
      (unsigned long)st.connected, (unsigned long)st.connects, st.state, st.last_error);
  fflush(stdout);
  exit(0);
}

void tx_application_define(void *first_unused_memory) {
  (void)first_unused_memory;
  test_device_netx_start(&device, main_entry);
}

int main(int argc, char **argv) {
  struct in_addr parsed;
  if ((argc != 10 && argc != 12) || inet_pton(AF_INET, argv[2], &parsed) != 1) {
    fprintf(
        stderr,
        "usage: test_agent_hub <tap> <peer IPv4> <hub> <device id> <key file> <CA DER file> <json|cbor> <seconds> <window s> [<update key.raw> <selftest.jsonl>]\n");
    return 2;
  }
  device.tap = argv[1];
  peer = ntohl(parsed.s_addr);
  device.dns_server = peer;
  device.hub = argv[3];
  device.device_id = argv[4];
  cbor = strcmp(argv[7], "cbor") == 0;
  run_seconds = (ULONG)strtoul(argv[8], NULL, 10);
  snprintf(configuration, sizeof configuration,
           "{\"network\":{\"priority\":\"high\"},\"priorityIntervals\":{\"high\":%lu}}",
           strtoul(argv[9], NULL, 10));
  if (test_device_read_credentials(&device, argv[5], argv[6]) != 0) return 2;
  if (argc == 12) {
    static UCHAR key_file[sizeof update_key + 1u]; /* one more: a longer file is refused */
    updates = test_device_read_file(argv[10], key_file, sizeof key_file, 0) == sizeof update_key;
    memcpy(update_key, key_file, sizeof update_key);
    self_test_length = test_device_read_file(argv[11], (UCHAR *)self_test, sizeof self_test, 0);
    if (!updates || self_test_length == 0) {
      fprintf(stderr, "test_agent_hub: cannot read the update key (65 bytes) or the self-test\n");
      return 2;
    }
  }
  tx_kernel_enter();
  return 0;
}
