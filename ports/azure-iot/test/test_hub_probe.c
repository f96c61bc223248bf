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

#include "test_device.h"

static TEST_DEVICE device = {.program = "test_hub_probe"};
static NX_AZURE_IOT_HUB_CLIENT client;
static CHAR twin[2048];

static void probe_entry(ULONG unused) {
  (void)unused;
  UINT status = test_device_hub_client(&device, &client);
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
  test_device_netx_start(&device, probe_entry);
}

int main(int argc, char **argv) {
  struct in_addr parsed;
  if (argc != 7 || inet_pton(AF_INET, argv[2], &parsed) != 1) {
    fprintf(
        stderr,
        "usage: test_hub_probe <tap> <dns server IPv4> <hub> <device id> <key file> <CA DER file>\n");
    return 2;
  }
  device.tap = argv[1];
  device.dns_server = ntohl(parsed.s_addr);
  device.hub = argv[3];
  device.device_id = argv[4];
  if (test_device_read_credentials(&device, argv[5], argv[6]) != 0) return 2;
  tx_kernel_enter();
  return 0;
}
