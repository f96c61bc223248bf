/*
 * What the device programs test_hub_probe and test_agent_hub share: NetX Duo on the TAP driver
 * at 10.77.0.2/24 (pool, IP instance, ARP, ICMP, UDP, TCP) with the program's main thread, and
 * the Azure IoT hub client as both start it (DNS client, middleware, TLS 1.2 with the test CA,
 * SAS from the device key, the host's clock). The example firmware does the same with its own
 * code (examples/threadx-azure-iot/main.c): it is what a firmware engineer copies.
 */
#ifndef MT_TEST_DEVICE_H
#define MT_TEST_DEVICE_H

#include "nx_api.h"
#include "nx_azure_iot_hub_client.h"

extern NX_PACKET_POOL test_pool;
extern NX_IP test_ip;

typedef struct TEST_DEVICE_STRUCT {
  const CHAR *program; /* for its messages */
  const CHAR *tap;
  const CHAR *hub;
  const CHAR *device_id;
  ULONG dns_server;
  UCHAR key[128];
  UINT key_length;
  UCHAR ca_der[4096];
  UINT ca_length;
} TEST_DEVICE;

/* Reads a file into `into` (text: trailing white space dropped); returns its length, or 0 when
 * it cannot be read or fills all `capacity` bytes (too long). */
UINT test_device_read_file(const char *path, UCHAR *into, UINT capacity, int text);

/* Reads argv's key file (text, trailing white space dropped) and CA file (DER) into device;
 * returns 0, or says which failed on stderr and returns 2. */
int test_device_read_credentials(TEST_DEVICE *device, const char *key_file, const char *ca_file);

/* From tx_application_define: NetX Duo on the TAP device, then `entry` on a thread of its own
 * (priority 4). Exits with a `<program>: setup status=...` line when any of it fails. */
VOID test_device_netx_start(const TEST_DEVICE *device, VOID (*entry)(ULONG));

/* From that thread: the DNS client, the middleware and the hub client with the device key and
 * the CA, not yet connected. Returns the first failing status or NX_SUCCESS. */
UINT test_device_hub_client(const TEST_DEVICE *device, NX_AZURE_IOT_HUB_CLIENT *client);

#endif
