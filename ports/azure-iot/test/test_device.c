/* The start-up test_hub_probe and test_agent_hub share (test_device.h). */
#include "test_device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

NX_PACKET_POOL test_pool;
NX_IP test_ip;
static UCHAR pool_memory[96 * (1536 + sizeof(NX_PACKET))];
static UCHAR ip_stack[16384];
static UCHAR arp_cache[1024];
static NX_DNS dns;
static NX_AZURE_IOT iot;
static UCHAR iot_stack[32768];
static UCHAR tls_metadata[16 * 1024];
static NX_SECURE_X509_CERT ca_cert;
static TX_THREAD main_thread;
static UCHAR main_stack[32768];

/* Unix time for SAS expiry and certificate dates: the host's clock (the example uses SNTP). */
static UINT unix_time_get(ULONG *unix_time) {
  *unix_time = (ULONG)time(NULL);
  return NX_SUCCESS;
}

UINT test_device_read_file(const char *path, UCHAR *into, UINT capacity, int text) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(into, 1, capacity, f);
  fclose(f);
  while (text && n > 0 && (into[n - 1] == '\n' || into[n - 1] == '\r' || into[n - 1] == ' ')) n--;
  return n == capacity ? 0 : (UINT)n;
}

int test_device_read_credentials(TEST_DEVICE *device, const char *key_file, const char *ca_file) {
  device->key_length = test_device_read_file(key_file, device->key, sizeof device->key, 1);
  device->ca_length = test_device_read_file(ca_file, device->ca_der, sizeof device->ca_der, 0);
  if (device->key_length == 0 || device->ca_length == 0) {
    fprintf(stderr, "%s: cannot read the key file or the CA file (or too long)\n", device->program);
    return 2;
  }
  return 0;
}

VOID test_device_netx_start(const TEST_DEVICE *device, VOID (*entry)(ULONG)) {
  nx_system_initialize();
  if (nx_packet_pool_create(&test_pool, "pool", 1536, pool_memory, sizeof pool_memory) !=
          NX_SUCCESS ||
      nx_tap_driver_configure(device->tap, 0x0200u, 0x4d540002u) != NX_SUCCESS ||
      nx_ip_create(&test_ip, "ip", IP_ADDRESS(10, 77, 0, 2), 0xFFFFFF00u, &test_pool, nx_tap_driver,
                   ip_stack, sizeof ip_stack, 1) != NX_SUCCESS ||
      nx_arp_enable(&test_ip, arp_cache, sizeof arp_cache) != NX_SUCCESS ||
      nx_icmp_enable(&test_ip) != NX_SUCCESS || nx_udp_enable(&test_ip) != NX_SUCCESS ||
      nx_tcp_enable(&test_ip) != NX_SUCCESS ||
      tx_thread_create(&main_thread, "main", entry, 0, main_stack, sizeof main_stack, 4, 4,
                       TX_NO_TIME_SLICE, TX_AUTO_START) != TX_SUCCESS) {
    printf("%s: setup status=NetX Duo on %s failed\n", device->program, device->tap);
    exit(1);
  }
}

UINT test_device_hub_client(const TEST_DEVICE *device, NX_AZURE_IOT_HUB_CLIENT *client) {
  UINT status = nx_dns_create(&dns, &test_ip, (UCHAR *)"dns");
  if (status == NX_SUCCESS) status = nx_dns_packet_pool_set(&dns, &test_pool);
  if (status == NX_SUCCESS) status = nx_dns_server_add(&dns, device->dns_server);
  if (status == NX_SUCCESS)
    status = nx_azure_iot_create(&iot, (UCHAR *)"iot", &test_ip, &test_pool, &dns, iot_stack,
                                 sizeof iot_stack, 3, unix_time_get);
  if (status == NX_SUCCESS)
    status = nx_secure_x509_certificate_initialize(&ca_cert, (UCHAR *)device->ca_der,
                                                   (USHORT)device->ca_length, NX_NULL, 0, NX_NULL,
                                                   0, NX_SECURE_X509_KEY_TYPE_NONE);
  if (status == NX_SUCCESS)
    status = nx_azure_iot_hub_client_initialize(
        client, &iot, (const UCHAR *)device->hub, (UINT)strlen(device->hub),
        (const UCHAR *)device->device_id, (UINT)strlen(device->device_id), (const UCHAR *)"", 0,
        crypto_methods, sizeof crypto_methods / sizeof crypto_methods[0], cipher_map,
        sizeof cipher_map / sizeof cipher_map[0], tls_metadata, sizeof tls_metadata, &ca_cert);
  if (status == NX_SUCCESS)
    status = nx_azure_iot_hub_client_symmetric_key_set(client, device->key, device->key_length);
  return status;
}
