/*
 * microtally's agent on Azure IoT Hub, over NetX Duo's Azure IoT middleware
 * (nx_azure_iot_hub_client): the ThreadX agent (ports/threadx) hands its messages to
 * mt_azure_iot_send, its `send` callback, which only copies them into a bounded outbox in static
 * memory; the adapter's own thread connects, sends them as device-to-cloud telemetry, retries
 * with capped, jittered backoff across disconnects, and keeps the device twin's `microtally`
 * section applied through mt_tx_configure, reporting the verdict. The agent never waits on the
 * network.
 *
 *   // hub client initialised by the application: credentials (symmetric key or X.509 device
 *   // certificate, nx_azure_iot_hub_client_device_cert_set), trusted CA, unix-time callback
 *   static UCHAR adapter_stack[MT_AZ_MIN_STACK_BYTES * 2];
 *   MT_AZURE_IOT_CONFIG az = { adapter_stack, sizeof adapter_stack, 10, "1.0.0", TX_NULL, 0, TX_NULL };
 *   mt_azure_iot_start(&hub_client, &az);
 *   MT_TX_CONFIG cfg = { ..., mt_azure_iot_send, TX_NULL, ... };   // the agent's send
 *   mt_tx_start(&cfg);
 *
 * Every message leaves with the properties `$.ifid` = urn:azureiot:Security:SecurityAgent:1,
 * `$.ct` (content type: application/json or application/cbor, from the message's first byte)
 * and, for JSON, `$.ce` = utf-8. Outbox full: the oldest waiting message is dropped (counted in
 * MT_AZURE_IOT_STATS.dropped) and the count handed to the agent (mt_tx_report_loss) after the
 * next message the hub takes, with room in the outbox: a later message carries it as the
 * transport's CollectorStats record (Dropped).
 */
#ifndef MT_AZURE_IOT_H
#define MT_AZURE_IOT_H

#include "nx_azure_iot_hub_client.h"

#include "mt_azure_iot_config_defaults.h"
#include "mt_azure_iot_update.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MT_AZ_ALREADY_STARTED 0x200u
#define MT_AZ_BAD_CONFIG 0x201u

/* Connection states (MT_AZURE_IOT_STATS.state). */
#define MT_AZ_DISCONNECTED 0u
#define MT_AZ_CONNECTING 1u
#define MT_AZ_CONNECTED 2u

typedef struct MT_AZURE_IOT_CONFIG_STRUCT {
  /* The adapter thread: stack (>= MT_AZ_MIN_STACK_BYTES) and ThreadX priority (below NetX
   * Duo's IP thread and the middleware's, like any application thread). */
  VOID *stack;
  ULONG stack_size;
  UINT priority;
  /* Reported as microtally.agentVersion (NUL-terminated, kept by reference). */
  const CHAR *agent_version;
  /* Optional: random numbers for the backoff's jitter (default: a linear congruential
   * generator seeded from the tick count). */
  ULONG (*random)(VOID);
  /* Reported as microtally.coreSequence: the sequence number of the installed core update
   * (SPEC R12), 0 for the core built into the firmware; `update`'s sequence when it is set. */
  ULONG core_sequence;
  /* Optional: core updates through the direct method `microtally-update`
   * (mt_azure_iot_update.h); TX_NULL: direct methods stay off. */
  const MT_AZ_UPDATE_OPS *update;
} MT_AZURE_IOT_CONFIG;

typedef struct MT_AZURE_IOT_STATS_STRUCT {
  UINT state;      /* MT_AZ_DISCONNECTED, MT_AZ_CONNECTING, MT_AZ_CONNECTED */
  UINT last_error; /* the middleware's status of the last failed connect or send (0: none) */
  ULONG connects;  /* connect attempts (each failed one waits its backoff first) */
  ULONG connected; /* successful connects */
  ULONG sent;      /* messages the hub took */
  ULONG retried;   /* sends that failed and were tried again */
  ULONG dropped; /* messages the outbox could not keep (full, or longer than MT_AZ_MESSAGE_BYTES) */
  ULONG drops_reported; /* ... handed to the agent (mt_tx_report_loss): in a later message */
  ULONG aborted; /* messages the core cut short (MT_TX_CHUNK_ABORT): never whole, never sent */
  ULONG queued;  /* messages waiting now, the one in flight included */
  ULONG high_water_bytes; /* the most bytes ever waiting */
  ULONG high_water_messages;
  ULONG twin_applied; /* twin `microtally` sections applied / rejected */
  ULONG twin_rejected;
  ULONG backoff_ticks; /* the current (last) backoff delay */
} MT_AZURE_IOT_STATS;

/* Starts the adapter's thread on an initialised hub client (not yet connected: the adapter
 * connects, enables the twin and reconnects). Returns TX_SUCCESS, MT_AZ_ALREADY_STARTED,
 * MT_AZ_BAD_CONFIG, or a ThreadX / middleware error. */
UINT mt_azure_iot_start(NX_AZURE_IOT_HUB_CLIENT *client, const MT_AZURE_IOT_CONFIG *config);

/* MT_TX_CONFIG.send: copies the chunk into the outbox; never blocks on the network. */
VOID mt_azure_iot_send(VOID *context, const UCHAR *bytes, ULONG length, UINT last);

VOID mt_azure_iot_stats_get(MT_AZURE_IOT_STATS *stats);

#ifdef __cplusplus
}
#endif

#endif
