/*
 * microtally on Azure IoT Hub: the firmware a firmware engineer starts from. ThreadX, NetX Duo
 * on the board's Ethernet driver, NetX Duo's SNTP client (the time SAS tokens, certificate
 * dates and messages need) and DNS client (the hub's name), NetX Secure (TLS 1.2), NetX Duo's
 * Azure IoT middleware, and microtally's ThreadX agent with its NetX Duo hook, whose messages
 * the Azure IoT adapter (ports/azure-iot) sends to the hub as device-to-cloud telemetry; the
 * twin's desired `microtally` section configures the agent. Settings: example_config.h.
 * The same file on every board; the board file (board_linux.c, board_mps2_an385.c) gives the
 * network driver, the console and, on Linux, command-line overrides.
 */
#include <stdio.h>
#include <string.h>

#include "example.h"
#include "microtally_netx.h"
#include "microtally_threadx.h"
#include "mt_azure_iot.h"
#include "nx_azure_iot_hub_client.h"
#include "nxd_dns.h"
#include "nxd_sntp_client.h"

/* TLS 1.2 with RSA certificates, AES-128-CBC and SHA-256: what IoT Hub offers, and what the
 * X.509 device certificate signs with. */
extern NX_CRYPTO_METHOD crypto_method_hmac, crypto_method_hmac_sha256, crypto_method_tls_prf_sha256,
    crypto_method_sha256, crypto_method_aes_cbc_128, crypto_method_rsa;
extern const NX_CRYPTO_CIPHERSUITE nx_crypto_tls_rsa_with_aes_128_cbc_sha256,
    nx_crypto_x509_rsa_sha_256;
static const NX_CRYPTO_METHOD *crypto_methods[] = {
    &crypto_method_hmac,   &crypto_method_hmac_sha256, &crypto_method_tls_prf_sha256,
    &crypto_method_sha256, &crypto_method_aes_cbc_128, &crypto_method_rsa};
static const NX_CRYPTO_CIPHERSUITE *cipher_map[] = {&nx_crypto_tls_rsa_with_aes_128_cbc_sha256,
                                                    &nx_crypto_x509_rsa_sha_256};

#define PACKET_BYTES 1536u
#define PACKETS 40u
#define SECONDS_1970_SINCE_1900 2208988800ul

static EXAMPLE_SETTINGS settings;
static const UCHAR config_key[] = EXAMPLE_DEVICE_SYMMETRIC_KEY;
static const UCHAR config_cert[] = EXAMPLE_DEVICE_CERT_DER,
                   config_cert_key[] = EXAMPLE_DEVICE_KEY_DER, config_ca[] = EXAMPLE_TRUSTED_CA_DER;

/* example_config.h's settings, which the board may then override (example_board_settings). */
static VOID settings_from_config(EXAMPLE_SETTINGS *s) {
  s->hub = EXAMPLE_HUB_HOSTNAME;
  s->device_id = EXAMPLE_DEVICE_ID;
  s->key = config_key;
  s->key_length = (UINT)strlen((const char *)config_key);
  s->cert_der = config_cert;
  s->cert_length = sizeof config_cert;
  s->cert_key_der = config_cert_key;
  s->cert_key_length = sizeof config_cert_key;
  s->ca_der = config_ca;
  s->ca_length = sizeof config_ca;
  s->ip = EXAMPLE_IPV4_ADDRESS;
  s->mask = EXAMPLE_IPV4_MASK;
  s->gateway = EXAMPLE_IPV4_GATEWAY;
  s->dns_server = EXAMPLE_DNS_SERVER;
  s->sntp_server = EXAMPLE_SNTP_SERVER;
  s->agent_id = EXAMPLE_AGENT_ID;
  s->configuration = EXAMPLE_AGENT_CONFIGURATION;
  s->message_format = EXAMPLE_MESSAGE_FORMAT;
  s->run_seconds = 0;
}
static NX_PACKET_POOL pool;
static UCHAR pool_memory[PACKETS * (PACKET_BYTES + sizeof(NX_PACKET))];
static NX_IP ip;
static UCHAR ip_stack[4096];
static UCHAR arp_cache[512];
static NX_DNS dns;
static NX_SNTP_CLIENT sntp;
static NX_AZURE_IOT iot;
static UCHAR iot_stack[4096];
static NX_AZURE_IOT_HUB_CLIENT hub_client;
static UCHAR tls_metadata[10 * 1024];
static NX_SECURE_X509_CERT ca_cert;
static NX_SECURE_X509_CERT device_cert;
static TX_THREAD main_thread;
static UCHAR main_stack[4096];
static UCHAR adapter_stack[2 * MT_AZ_MIN_STACK_BYTES];
static UCHAR agent_stack[MT_TX_MIN_STACK_BYTES + 2048u];
static ULONG agent_queue[64 * MT_TX_EVENT_ULONGS];

/* Unix time: the last SNTP answer plus the ThreadX ticks since it. */
static volatile ULONG sntp_unix_seconds;
static volatile ULONG sntp_tick;
static VOID sntp_update(NX_SNTP_TIME_MESSAGE *message, NX_SNTP_TIME *local) {
  (void)message;
  sntp_tick = tx_time_get();
  sntp_unix_seconds = local->seconds - SECONDS_1970_SINCE_1900;
}
static UINT unix_time_get(ULONG *unix_time) {
  if (sntp_unix_seconds == 0u) return NX_NOT_SUCCESSFUL;
  *unix_time = sntp_unix_seconds + (tx_time_get() - sntp_tick) / TX_TIMER_TICKS_PER_SECOND;
  return NX_SUCCESS;
}
static uint64_t clock_ms(VOID) {
  ULONG ticks = tx_time_get() - sntp_tick;
  return (uint64_t)sntp_unix_seconds * 1000u + (uint64_t)ticks * 1000u / TX_TIMER_TICKS_PER_SECOND;
}

static VOID log_status(const CHAR *what, UINT status) {
  CHAR line[96];
  snprintf(line, sizeof line, "example: %s status=0x%x", what, status);
  example_board_log(line);
}

/* Waits for the first SNTP answer (EXAMPLE_SNTP_WAIT_SECONDS at most). */
static UINT sntp_start(VOID) {
  UINT status = nx_sntp_client_create(&sntp, &ip, 0, &pool, NX_NULL, NX_NULL, NX_NULL);
  if (status == NX_SUCCESS) status = nx_sntp_client_set_time_update_notify(&sntp, sntp_update);
  if (status == NX_SUCCESS) status = nx_sntp_client_initialize_unicast(&sntp, settings.sntp_server);
  if (status == NX_SUCCESS) status = nx_sntp_client_set_local_time(&sntp, 0, 0);
  if (status == NX_SUCCESS) status = nx_sntp_client_run_unicast(&sntp);
  for (UINT i = 0; status == NX_SUCCESS && sntp_unix_seconds == 0u; i++) {
    if (i >= EXAMPLE_SNTP_WAIT_SECONDS * 10u) return NX_NOT_SUCCESSFUL;
    tx_thread_sleep(TX_TIMER_TICKS_PER_SECOND / 10u);
  }
  return status;
}

static UINT hub_start(VOID) {
  UINT status = nx_dns_create(&dns, &ip, (UCHAR *)"dns");
  if (status == NX_SUCCESS) status = nx_dns_packet_pool_set(&dns, &pool);
  if (status == NX_SUCCESS) status = nx_dns_server_add(&dns, settings.dns_server);
  if (status == NX_SUCCESS)
    status = nx_azure_iot_create(&iot, (UCHAR *)"azure iot", &ip, &pool, &dns, iot_stack,
                                 sizeof iot_stack, 3, unix_time_get);
  if (status == NX_SUCCESS)
    status = nx_secure_x509_certificate_initialize(&ca_cert, (UCHAR *)settings.ca_der,
                                                   (USHORT)settings.ca_length, NX_NULL, 0, NX_NULL,
                                                   0, NX_SECURE_X509_KEY_TYPE_NONE);
  if (status == NX_SUCCESS)
    status = nx_azure_iot_hub_client_initialize(
        &hub_client, &iot, (const UCHAR *)settings.hub, (UINT)strlen(settings.hub),
        (const UCHAR *)settings.device_id, (UINT)strlen(settings.device_id), (const UCHAR *)"", 0,
        crypto_methods, sizeof crypto_methods / sizeof crypto_methods[0], cipher_map,
        sizeof cipher_map / sizeof cipher_map[0], tls_metadata, sizeof tls_metadata, &ca_cert);
  if (status != NX_SUCCESS) return status;
  if (settings.key_length > 0u) {
    /* SAS tokens, computed on the device from the key and the SNTP time. */
    return nx_azure_iot_hub_client_symmetric_key_set(&hub_client, settings.key,
                                                     settings.key_length);
  }
  /* X.509: the middleware presents the certificate in the TLS handshake. */
  status = nx_secure_x509_certificate_initialize(
      &device_cert, (UCHAR *)settings.cert_der, (USHORT)settings.cert_length, NX_NULL, 0,
      settings.cert_key_der, (USHORT)settings.cert_key_length,
      NX_SECURE_X509_KEY_TYPE_RSA_PKCS1_DER);
  if (status == NX_SUCCESS)
    status = nx_azure_iot_hub_client_device_cert_set(&hub_client, &device_cert);
  return status;
}

static VOID main_entry(ULONG unused) {
  (void)unused;
  UINT status = sntp_start();
  log_status("sntp", status);
  if (status != NX_SUCCESS) example_board_exit(1);

  /* The agent first, so it sees every flow from here on (DNS, the hub's TLS connection). */
  MT_TX_CONFIG agent;
  memset(&agent, 0, sizeof agent);
  agent.stack = agent_stack;
  agent.stack_size = sizeof agent_stack;
  agent.priority = 8;
  agent.queue_storage = agent_queue;
  agent.queue_size = sizeof agent_queue;
  agent.clock_ms = clock_ms;
  agent.send = mt_azure_iot_send;
  agent.agent_id = settings.agent_id;
  agent.configuration = settings.configuration;
  agent.message_format = settings.message_format;
  status = mt_tx_start(&agent);
  if (status == TX_SUCCESS) status = mt_netx_attach(&ip);
  log_status("microtally", status);
  if (status != TX_SUCCESS) example_board_exit(1);

  status = hub_start();
  /* Last, TX_NULL: no core updates (the direct method of mt_azure_iot_update.h). */
  MT_AZURE_IOT_CONFIG adapter = {
      adapter_stack, sizeof adapter_stack, 6, EXAMPLE_AGENT_VERSION, TX_NULL, 0u, TX_NULL};
  if (status == NX_SUCCESS) status = mt_azure_iot_start(&hub_client, &adapter);
  log_status("hub client", status);
  if (status != NX_SUCCESS) example_board_exit(1);

  /* From here the adapter connects (resolving the hub's name), keeps the twin applied and
   * sends what the agent makes. Status once a second. */
  for (ULONG s = 1; settings.run_seconds == 0u || s <= settings.run_seconds; s++) {
    tx_thread_sleep(TX_TIMER_TICKS_PER_SECOND);
    MT_AZURE_IOT_STATS st;
    mt_azure_iot_stats_get(&st);
    CHAR line[256];
    snprintf(line, sizeof line,
             "stats: t=%lu state=%u last_error=0x%x connects=%lu connected=%lu sent=%lu "
             "retried=%lu dropped=%lu queued=%lu twin_applied=%lu twin_rejected=%lu",
             (unsigned long)s, st.state, st.last_error, (unsigned long)st.connects,
             (unsigned long)st.connected, (unsigned long)st.sent, (unsigned long)st.retried,
             (unsigned long)st.dropped, (unsigned long)st.queued, (unsigned long)st.twin_applied,
             (unsigned long)st.twin_rejected);
    example_board_log(line);
  }
  /* A bounded run (tests): the agent sends what it holds, the adapter empties its outbox. */
  mt_tx_stop(5u * TX_TIMER_TICKS_PER_SECOND);
  MT_AZURE_IOT_STATS st;
  for (UINT i = 0; i < 200u; i++) {
    mt_azure_iot_stats_get(&st);
    if (st.queued == 0u || st.connected == 0u) break;
    tx_thread_sleep(TX_TIMER_TICKS_PER_SECOND / 10u);
  }
  MT_TX_STATS made;
  mt_tx_stats_get(&made);
  CHAR line[256];
  snprintf(line, sizeof line,
           "final: made=%lu sent=%lu dropped=%lu queued=%lu retried=%lu connected=%lu connects=%lu "
           "state=%u last_error=%u",
           (unsigned long)made.messages, (unsigned long)st.sent, (unsigned long)st.dropped,
           (unsigned long)st.queued, (unsigned long)st.retried, (unsigned long)st.connected,
           (unsigned long)st.connects, st.state, st.last_error);
  example_board_log(line);
  example_board_exit(0);
}

void tx_application_define(void *first_unused_memory) {
  (void)first_unused_memory;
  nx_system_initialize();
  UINT status = nx_packet_pool_create(&pool, "pool", PACKET_BYTES, pool_memory, sizeof pool_memory);
  if (status == NX_SUCCESS) status = example_board_network_configure();
  if (status == NX_SUCCESS)
    status = nx_ip_create(&ip, "ip", settings.ip, settings.mask, &pool,
                          example_board_network_driver, ip_stack, sizeof ip_stack, 1);
  if (status == NX_SUCCESS) status = nx_ip_gateway_address_set(&ip, settings.gateway);
  if (status == NX_SUCCESS) status = nx_arp_enable(&ip, arp_cache, sizeof arp_cache);
  if (status == NX_SUCCESS) status = nx_icmp_enable(&ip);
  if (status == NX_SUCCESS) status = nx_udp_enable(&ip);
  if (status == NX_SUCCESS) status = nx_tcp_enable(&ip);
  if (status == NX_SUCCESS)
    status = tx_thread_create(&main_thread, "main", main_entry, 0, main_stack, sizeof main_stack, 4,
                              4, TX_NO_TIME_SLICE, TX_AUTO_START);
  if (status != NX_SUCCESS) {
    log_status("NetX Duo", status);
    example_board_exit(1);
  }
}

int example_main(int argc, char **argv) {
  settings_from_config(&settings);
  if (example_board_settings(argc, argv, &settings) != 0) return 2;
  if (settings.ca_length < 2u || (settings.key_length == 0u && settings.cert_length < 2u)) {
    example_board_log(
        "example: no trusted CA, or neither a device key nor a device certificate: see example_config.h");
    return 2;
  }
  tx_kernel_enter();
  return 0;
}
