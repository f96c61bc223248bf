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
#include <time.h>

#include "microtally_netx.h"
#include "microtally_threadx.h"
#include "microtally_threadx_update.h"
#include "mt_azure_iot.h"
#include "nx_api.h"
#include "nx_azure_iot_hub_client.h"
#include "nx_tap_driver.h"
#include "nxd_dns.h"

extern NX_CRYPTO_METHOD crypto_method_hmac, crypto_method_hmac_sha256, crypto_method_tls_prf_sha256,
    crypto_method_sha256, crypto_method_aes_cbc_128, crypto_method_rsa;
extern const NX_CRYPTO_CIPHERSUITE nx_crypto_tls_rsa_with_aes_128_cbc_sha256,
    nx_crypto_x509_rsa_sha_256;
static const NX_CRYPTO_METHOD *crypto_methods[] = {
    &crypto_method_hmac,   &crypto_method_hmac_sha256, &crypto_method_tls_prf_sha256,
    &crypto_method_sha256, &crypto_method_aes_cbc_128, &crypto_method_rsa};
static const NX_CRYPTO_CIPHERSUITE *cipher_map[] = {&nx_crypto_tls_rsa_with_aes_128_cbc_sha256,
                                                    &nx_crypto_x509_rsa_sha_256};

static const char *tap_name, *hub, *device_id;
static ULONG peer;
static UINT cbor;
static ULONG run_seconds;
static char configuration[160];
static UCHAR key[128];
static UINT key_length;
static UCHAR ca_der[4096];
static UINT ca_length;

static NX_PACKET_POOL pool;
static UCHAR pool_memory[96 * (1536 + sizeof(NX_PACKET))];
static NX_IP ip;
static UCHAR ip_stack[16384];
static UCHAR arp_cache[1024];
static NX_DNS dns;
static NX_AZURE_IOT iot;
static UCHAR iot_stack[32768];
static NX_AZURE_IOT_HUB_CLIENT client;
static UCHAR tls_metadata[16 * 1024];
static NX_SECURE_X509_CERT ca_cert;
static TX_THREAD main_thread;
static UCHAR main_stack[32768];
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
static UCHAR slots[2][64 * 1024], state_record[MT_UPDATE_STATE_BYTES];
static int has_state;
static int s_erase(void *c, int slot, uint32_t n) {
  (void)c;
  memset(slots[slot], 0xff, n);
  return 0;
}
static int s_write(void *c, int slot, uint32_t at, const uint8_t *d, uint32_t n) {
  (void)c;
  memcpy(slots[slot] + at, d, n);
  return 0;
}
static const uint8_t *s_read(void *c, int slot) {
  (void)c;
  return slots[slot];
}
static int s_load(void *c, uint8_t *r, uint32_t n) {
  (void)c;
  if (!has_state) return 1;
  memcpy(r, state_record, n);
  return 0;
}
static int s_save(void *c, const uint8_t *r, uint32_t n) {
  (void)c;
  memcpy(state_record, r, n);
  has_state = 1;
  return 0;
}
static const mt_update_storage_t storage = {NULL,   sizeof slots[0], s_erase, s_write,
                                            s_read, s_load,          s_save};
static const MT_AZ_UPDATE_OPS update_ops = {
    mt_tx_update_begin,  mt_tx_update_write,    mt_tx_update_commit, mt_tx_update_expected_offset,
    mt_tx_update_result, mt_tx_update_sequence, MT_TX_PENDING,       MT_TX_UPDATE_REPEATED};

/* Unix time for SAS expiry, certificate dates and the agent: the host's clock (the example
 * firmware uses SNTP). */
static UINT unix_time_get(ULONG *unix_time) {
  *unix_time = (ULONG)time(NULL);
  return NX_SUCCESS;
}
static uint64_t clock_ms(VOID) {
  struct timeval now;
  gettimeofday(&now, NULL);
  return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_usec / 1000u;
}

static void flows(void) {
  NX_PACKET *packet, *in;
  ULONG got;
  for (ULONG i = 0; i < sizeof payload; i++) payload[i] = (UCHAR)(i * 7u + 3u);
  if (nx_udp_socket_create(&ip, &udp, "udp", NX_IP_NORMAL, NX_FRAGMENT_OKAY, 0x80, 8) ==
          NX_SUCCESS &&
      nx_udp_socket_bind(&udp, 40001, NX_NO_WAIT) == NX_SUCCESS &&
      nx_packet_allocate(&pool, &packet, NX_UDP_PACKET, NX_WAIT_FOREVER) == NX_SUCCESS) {
    nx_packet_data_append(packet, payload, 100, &pool, NX_WAIT_FOREVER);
    if (nx_udp_socket_send(&udp, packet, peer, 7000) != NX_SUCCESS) nx_packet_release(packet);
    if (nx_udp_socket_receive(&udp, &in, 500) == NX_SUCCESS) {
      printf("flow: udp echoed %lu\n", (unsigned long)in->nx_packet_length);
      nx_packet_release(in);
    }
  }
  if (nx_tcp_socket_create(&ip, &tcp, "tcp", NX_IP_NORMAL, NX_FRAGMENT_OKAY, 0x80, 8192, NX_NULL,
                           NX_NULL) == NX_SUCCESS &&
      nx_tcp_client_socket_bind(&tcp, 40002, NX_NO_WAIT) == NX_SUCCESS &&
      nx_tcp_client_socket_connect(&tcp, peer, 7001, 500) == NX_SUCCESS &&
      nx_packet_allocate(&pool, &packet, NX_TCP_PACKET, NX_WAIT_FOREVER) == NX_SUCCESS) {
    nx_packet_data_append(packet, payload, sizeof payload, &pool, NX_WAIT_FOREVER);
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
  UINT status = nx_dns_create(&dns, &ip, (UCHAR *)"dns");
  if (status == NX_SUCCESS) status = nx_dns_packet_pool_set(&dns, &pool);
  if (status == NX_SUCCESS) status = nx_dns_server_add(&dns, peer);
  if (status == NX_SUCCESS)
    status = nx_azure_iot_create(&iot, (UCHAR *)"iot", &ip, &pool, &dns, iot_stack,
                                 sizeof iot_stack, 3, unix_time_get);
  if (status == NX_SUCCESS)
    status = nx_secure_x509_certificate_initialize(&ca_cert, ca_der, (USHORT)ca_length, NX_NULL, 0,
                                                   NX_NULL, 0, NX_SECURE_X509_KEY_TYPE_NONE);
  if (status == NX_SUCCESS)
    status = nx_azure_iot_hub_client_initialize(
        &client, &iot, (const UCHAR *)hub, (UINT)strlen(hub), (const UCHAR *)device_id,
        (UINT)strlen(device_id), (const UCHAR *)"", 0, crypto_methods,
        sizeof crypto_methods / sizeof crypto_methods[0], cipher_map,
        sizeof cipher_map / sizeof cipher_map[0], tls_metadata, sizeof tls_metadata, &ca_cert);
  if (status == NX_SUCCESS)
    status = nx_azure_iot_hub_client_symmetric_key_set(&client, key, key_length);
  MT_AZURE_IOT_CONFIG az = {adapter_stack, sizeof adapter_stack, 6, "e2e-1.0", TX_NULL, 0u,
                            TX_NULL};
  if (updates) {
    az.update = &update_ops;
    if (status == NX_SUCCESS)
      status = mt_tx_update_open(&storage, update_key, self_test, self_test_length);
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
  if (status == NX_SUCCESS) status = mt_netx_attach(&ip);
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
  nx_system_initialize();
  if (nx_packet_pool_create(&pool, "pool", 1536, pool_memory, sizeof pool_memory) != NX_SUCCESS ||
      nx_tap_driver_configure(tap_name, 0x0200u, 0x4d540002u) != NX_SUCCESS ||
      nx_ip_create(&ip, "ip", IP_ADDRESS(10, 77, 0, 2), 0xFFFFFF00u, &pool, nx_tap_driver, ip_stack,
                   sizeof ip_stack, 1) != NX_SUCCESS ||
      nx_arp_enable(&ip, arp_cache, sizeof arp_cache) != NX_SUCCESS ||
      nx_icmp_enable(&ip) != NX_SUCCESS || nx_udp_enable(&ip) != NX_SUCCESS ||
      nx_tcp_enable(&ip) != NX_SUCCESS ||
      tx_thread_create(&main_thread, "main", main_entry, 0, main_stack, sizeof main_stack, 4, 4,
                       TX_NO_TIME_SLICE, TX_AUTO_START) != TX_SUCCESS) {
    printf("device: setup status=NetX Duo on %s failed\n", tap_name);
    exit(1);
  }
}

static UINT read_file(const char *path, UCHAR *into, UINT capacity, int text) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(into, 1, capacity, f);
  fclose(f);
  while (text && n > 0 && (into[n - 1] == '\n' || into[n - 1] == '\r' || into[n - 1] == ' ')) n--;
  return n == capacity ? 0 : (UINT)n;
}

int main(int argc, char **argv) {
  struct in_addr parsed;
  if ((argc != 10 && argc != 12) || inet_pton(AF_INET, argv[2], &parsed) != 1) {
    fprintf(
        stderr,
        "usage: test_agent_hub <tap> <peer IPv4> <hub> <device id> <key file> <CA DER file> <json|cbor> <seconds> <window s> [<update key.raw> <selftest.jsonl>]\n");
    return 2;
  }
  tap_name = argv[1];
  peer = ntohl(parsed.s_addr);
  hub = argv[3];
  device_id = argv[4];
  key_length = read_file(argv[5], key, sizeof key, 1);
  ca_length = read_file(argv[6], ca_der, sizeof ca_der, 0);
  cbor = strcmp(argv[7], "cbor") == 0;
  run_seconds = (ULONG)strtoul(argv[8], NULL, 10);
  snprintf(configuration, sizeof configuration,
           "{\"network\":{\"priority\":\"high\"},\"priorityIntervals\":{\"high\":%lu}}",
           strtoul(argv[9], NULL, 10));
  if (argc == 12) {
    static UCHAR key_file[sizeof update_key + 1u]; /* one more: a longer file is refused */
    updates = read_file(argv[10], key_file, sizeof key_file, 0) == sizeof update_key;
    memcpy(update_key, key_file, sizeof update_key);
    self_test_length = read_file(argv[11], (UCHAR *)self_test, sizeof self_test, 0);
    if (!updates || self_test_length == 0) {
      fprintf(stderr, "test_agent_hub: cannot read the update key (65 bytes) or the self-test\n");
      return 2;
    }
  }
  if (key_length == 0 || ca_length == 0) {
    fprintf(stderr, "test_agent_hub: cannot read the key file or the CA file (or too long)\n");
    return 2;
  }
  tx_kernel_enter();
  return 0;
}
