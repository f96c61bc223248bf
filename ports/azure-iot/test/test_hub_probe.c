/*
 * The Azure IoT middleware over NetX Secure TLS 1.2, on the TAP driver, against the IoT Hub
 * stand-in test/azure-iot/hub.mjs inside the test's namespace (driven by test/azure-iot/e2e.mjs,
 * which checks what the hub saw): DNS, TLS with the test CA, a SAS token from the device key,
 * the full twin, a reported patch, one telemetry message with properties. Prints `probe: ...`
 * lines for the driver, and exits 0 once it has tried (the driver judges).
 *   test_hub_probe <tap> <dns server IPv4> <hub> <device id> <key file> <CA DER file>
 * The key comes from a file: a secret never appears on a command line.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nx_api.h"
#include "nx_azure_iot_hub_client.h"
#include "nx_tap_driver.h"
#include "nxd_dns.h"

/* The TLS 1.2 suite the stand-in offers with its RSA certificate, and X.509 checks with SHA-256. */
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
static ULONG dns_server;
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
static TX_THREAD probe_thread;
static UCHAR probe_stack[32768];
static CHAR twin[2048];

/* Unix time for SAS expiry and certificate dates: the host's clock (the example uses SNTP). */
static UINT unix_time_get(ULONG *unix_time) {
  *unix_time = (ULONG)time(NULL);
  return NX_SUCCESS;
}

static void probe_entry(ULONG unused) {
  (void)unused;
  UINT status = nx_dns_create(&dns, &ip, (UCHAR *)"dns");
  if (status == NX_SUCCESS) status = nx_dns_packet_pool_set(&dns, &pool);
  if (status == NX_SUCCESS) status = nx_dns_server_add(&dns, dns_server);
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
  if (status == NX_SUCCESS) status = nx_azure_iot_hub_client_device_twin_enable(&client);
  printf("probe: setup status=0x%x\n", status);
  if (status != NX_SUCCESS) exit(0);
  status = nx_azure_iot_hub_client_connect(&client, NX_TRUE, 2000);
  printf("probe: connect status=0x%x\n", status);
  fflush(stdout);
  if (status != NX_SUCCESS) exit(0);

  status = nx_azure_iot_hub_client_device_twin_properties_request(&client, 500);
  NX_PACKET *packet = NX_NULL;
  if (status == NX_SUCCESS)
    status = nx_azure_iot_hub_client_device_twin_properties_receive(&client, &packet, 500);
  ULONG length = 0;
  if (status == NX_SUCCESS) {
    status = nx_packet_data_retrieve(packet, twin, &length);
    nx_packet_release(packet);
  }
  twin[length < sizeof twin ? length : sizeof twin - 1] = '\0';
  printf("probe: twin status=0x%x %s\n", status, twin);

  static const char reported[] = "{\"probe\":{\"step\":2}}";
  UINT request_id = 0, response = 0;
  ULONG version = 0;
  status = nx_azure_iot_hub_client_device_twin_reported_properties_send(
      &client, (const UCHAR *)reported, sizeof reported - 1, &request_id, &response, &version, 500);
  printf("probe: reported status=0x%x response=%u version=%lu\n", status, response,
         (unsigned long)version);

  static const char body[] = "{\"probe\":\"telemetry\"}";
  status = nx_azure_iot_hub_client_telemetry_message_create(&client, &packet, 500);
  if (status == NX_SUCCESS)
    status = nx_azure_iot_hub_client_telemetry_property_add(
        packet, (const UCHAR *)"$.ifid", 6, (const UCHAR *)"urn:azureiot:Security:SecurityAgent:1",
        37, 500);
  if (status == NX_SUCCESS)
    status = nx_azure_iot_hub_client_telemetry_send(&client, packet, (const UCHAR *)body,
                                                    sizeof body - 1, 500);
  printf("probe: telemetry status=0x%x\n", status);
  fflush(stdout);
  nx_azure_iot_hub_client_disconnect(&client);
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
      tx_thread_create(&probe_thread, "probe", probe_entry, 0, probe_stack, sizeof probe_stack, 4,
                       4, TX_NO_TIME_SLICE, TX_AUTO_START) != TX_SUCCESS) {
    printf("probe: setup status=NetX Duo on %s failed\n", tap_name);
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
  if (argc != 7 || inet_pton(AF_INET, argv[2], &parsed) != 1) {
    fprintf(
        stderr,
        "usage: test_hub_probe <tap> <dns server IPv4> <hub> <device id> <key file> <CA DER file>\n");
    return 2;
  }
  tap_name = argv[1];
  dns_server = ntohl(parsed.s_addr);
  hub = argv[3];
  device_id = argv[4];
  key_length = read_file(argv[5], key, sizeof key, 1);
  ca_length = read_file(argv[6], ca_der, sizeof ca_der, 0);
  if (key_length == 0 || ca_length == 0) {
    fprintf(stderr, "test_hub_probe: cannot read the key file or the CA file (or too long)\n");
    return 2;
  }
  tx_kernel_enter();
  return 0;
}
