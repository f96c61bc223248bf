/*
 * The example's settings: edit these for your hub and device (or name your own copy with
 * -DEXAMPLE_CONFIG_FILE=... at configure time). On ThreadX's Linux port the command line can
 * override most of them (README), so a test needs no rebuild; secrets only ever come from files.
 */
#ifndef EXAMPLE_CONFIG_H
#define EXAMPLE_CONFIG_H

/* Your IoT hub's host name and the device's id in it. */
#define EXAMPLE_HUB_HOSTNAME "my-hub.azure-devices.net"
#define EXAMPLE_DEVICE_ID "my-device"

/* Credentials: either the device's symmetric key (base64, as the portal shows it: SAS tokens
 * are computed on the device), or leave it "" and give an X.509 device certificate and its RSA
 * private key (DER bytes, e.g. `xxd -i device.der`), passed to the middleware's
 * nx_azure_iot_hub_client_device_cert_set. */
#define EXAMPLE_DEVICE_SYMMETRIC_KEY ""
#define EXAMPLE_DEVICE_CERT_DER \
  { 0 }
#define EXAMPLE_DEVICE_KEY_DER \
  { 0 }

/* The root CA your hub's TLS certificate chains to (DER bytes: `openssl x509 -outform DER -in
 * ca.pem | xxd -i`): for Azure IoT Hub, DigiCert Global Root G2. The placeholder is refused at
 * start with one line. */
#define EXAMPLE_TRUSTED_CA_DER \
  { 0 }

/* The device's IPv4 configuration, the DNS server that resolves the hub's name, and the SNTP
 * server that gives the time (SAS token expiry, certificate dates, message timestamps). */
#define EXAMPLE_IPV4_ADDRESS IP_ADDRESS(192, 168, 1, 50)
#define EXAMPLE_IPV4_MASK IP_ADDRESS(255, 255, 255, 0)
#define EXAMPLE_IPV4_GATEWAY IP_ADDRESS(192, 168, 1, 1)
#define EXAMPLE_DNS_SERVER IP_ADDRESS(192, 168, 1, 1)
#define EXAMPLE_SNTP_SERVER IP_ADDRESS(192, 168, 1, 1)
/* Seconds to wait for the first SNTP answer before giving up (the device cannot make a valid
 * SAS token or check the hub's certificate dates without the time). */
#define EXAMPLE_SNTP_WAIT_SECONDS 30u

/* microtally: the agent id (UUID text), the configuration it starts with (SPEC R6; the twin's
 * desired `microtally` section overrides it), messages in JSON (0) or CBOR (1), and the
 * version reported in the twin. */
#define EXAMPLE_AGENT_ID "00000000-0000-4000-8000-000000000001"
#define EXAMPLE_AGENT_CONFIGURATION \
  "{\"network\":{\"priority\":\"high\"},\"priorityIntervals\":{\"high\":60}}"
#define EXAMPLE_MESSAGE_FORMAT 0u
#define EXAMPLE_AGENT_VERSION "example-1.0"

#endif
