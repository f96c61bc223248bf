/* microtally's agent on Azure IoT Hub: see mt_azure_iot.h. */
#include "mt_azure_iot.h"

#include <stdio.h>
#include <string.h>

#include "azure/core/az_json.h"
#include "microtally_threadx.h"

#define MT_AZ_IFID "urn%3Aazureiot%3ASecurity%3ASecurityAgent%3A1"

typedef struct {
  ULONG start;
  ULONG length;
} MT_AZ_SLOT;

static NX_AZURE_IOT_HUB_CLIENT *az_client;
static MT_AZURE_IOT_CONFIG az_config;
static TX_THREAD az_thread;
static TX_MUTEX az_mutex;
static UINT az_started;
static volatile UINT az_link_lost;

/* The outbox: messages laid one after another in a byte ring, in order. */
static UCHAR az_ring[MT_AZ_OUTBOX_BYTES];
static MT_AZ_SLOT az_slots[MT_AZ_OUTBOX_MESSAGES];
static ULONG az_head;     /* oldest waiting message */
static ULONG az_count;    /* messages waiting */
static ULONG az_used;     /* their bytes */
static ULONG az_tail;     /* ring offset after the newest */
static ULONG az_building; /* bytes of the message the agent is handing over */
static UINT az_building_dropped;

/* The message being sent (out of the outbox: it is never dropped for room, only retried). */
static UCHAR az_inflight[MT_AZ_MESSAGE_BYTES];
static ULONG az_inflight_length;

static CHAR az_twin[MT_AZ_TWIN_BYTES];
static CHAR az_section[MT_TX_CONFIG_BYTES];
static CHAR az_reported[MT_TX_CONFIG_BYTES / 2u + 256u];
static MT_AZURE_IOT_STATS az_stats;
static ULONG az_unreported; /* drops not yet handed to the agent (mt_tx_report_loss) */
static ULONG az_failures;   /* consecutive failures: the backoff's exponent */
static ULONG az_seed;

static VOID az_drop_oldest(VOID) {
  az_used -= az_slots[az_head].length;
  az_head = (az_head + 1u) % MT_AZ_OUTBOX_MESSAGES;
  az_count--;
  az_stats.dropped++;
  az_unreported++;
}

VOID mt_azure_iot_send(VOID *context, const UCHAR *bytes, ULONG length, UINT last) {
  (void)context;
  if (!az_started) return;
  tx_mutex_get(&az_mutex, TX_WAIT_FOREVER); /* held only for copies, never across the network */
  if (last == MT_TX_CHUNK_ABORT) {
    az_building = 0;
    az_building_dropped = 0;
    az_stats.aborted++;
    tx_mutex_put(&az_mutex);
    return;
  }
  if (!az_building_dropped && length > 0u) {
    if (az_building + length > MT_AZ_MESSAGE_BYTES) {
      az_building_dropped = 1u; /* longer than the adapter carries: counted once, at its end */
    } else {
      while (az_count > 0u && az_used + az_building + length > MT_AZ_OUTBOX_BYTES) az_drop_oldest();
      ULONG at = (az_tail + az_building) % MT_AZ_OUTBOX_BYTES;
      ULONG first = MT_AZ_OUTBOX_BYTES - at < length ? MT_AZ_OUTBOX_BYTES - at : length;
      memcpy(az_ring + at, bytes, first);
      memcpy(az_ring, bytes + first, length - first);
      az_building += length;
    }
  }
  if (last == MT_TX_CHUNK_LAST) {
    if (az_building_dropped || az_building == 0u) {
      if (az_building_dropped) {
        az_stats.dropped++;
        az_unreported++;
      }
    } else {
      if (az_count == MT_AZ_OUTBOX_MESSAGES) az_drop_oldest();
      MT_AZ_SLOT *slot = &az_slots[(az_head + az_count) % MT_AZ_OUTBOX_MESSAGES];
      slot->start = az_tail;
      slot->length = az_building;
      az_tail = (az_tail + az_building) % MT_AZ_OUTBOX_BYTES;
      az_used += az_building;
      az_count++;
      if (az_used > az_stats.high_water_bytes) az_stats.high_water_bytes = az_used;
      if (az_count > az_stats.high_water_messages) az_stats.high_water_messages = az_count;
    }
    az_building = 0;
    az_building_dropped = 0;
  }
  tx_mutex_put(&az_mutex);
}

VOID mt_azure_iot_stats_get(MT_AZURE_IOT_STATS *stats) {
  if (stats == TX_NULL) return;
  if (!az_started) {
    memset(stats, 0, sizeof *stats);
    return;
  }
  tx_mutex_get(&az_mutex, TX_WAIT_FOREVER);
  az_stats.queued = az_count + (az_inflight_length > 0u ? 1u : 0u);
  *stats = az_stats;
  tx_mutex_put(&az_mutex);
}

/* Takes the oldest waiting message into the in-flight buffer. */
static UINT az_take(VOID) {
  tx_mutex_get(&az_mutex, TX_WAIT_FOREVER);
  UINT took = 0;
  if (az_count > 0u) {
    MT_AZ_SLOT slot = az_slots[az_head];
    ULONG first = MT_AZ_OUTBOX_BYTES - slot.start < slot.length ? MT_AZ_OUTBOX_BYTES - slot.start
                                                                : slot.length;
    memcpy(az_inflight, az_ring + slot.start, first);
    memcpy(az_inflight + first, az_ring, slot.length - first);
    az_inflight_length = slot.length;
    az_used -= slot.length;
    az_head = (az_head + 1u) % MT_AZ_OUTBOX_MESSAGES;
    az_count--;
    took = 1u;
  }
  tx_mutex_put(&az_mutex);
  return took;
}

static VOID az_set(UINT state, UINT error) {
  tx_mutex_get(&az_mutex, TX_WAIT_FOREVER);
  az_stats.state = state;
  if (error != 0u) az_stats.last_error = error;
  tx_mutex_put(&az_mutex);
}

static ULONG az_random(VOID) {
  if (az_config.random != TX_NULL) return az_config.random();
  az_seed = az_seed * 1103515245u + 12345u;
  return az_seed >> 8;
}

/* Waits the next backoff: FIRST * 2^failures seconds, capped, plus up to JITTER percent. */
static VOID az_backoff(VOID) {
  ULONG seconds = MT_AZ_BACKOFF_FIRST_SECONDS;
  for (ULONG i = 0; i < az_failures && seconds < MT_AZ_BACKOFF_MAX_SECONDS; i++) seconds *= 2u;
  if (seconds > MT_AZ_BACKOFF_MAX_SECONDS) seconds = MT_AZ_BACKOFF_MAX_SECONDS;
  ULONG ticks = seconds * TX_TIMER_TICKS_PER_SECOND;
  ULONG jitter = ticks * MT_AZ_BACKOFF_JITTER_PERCENT / 100u;
  if (jitter > 0u) ticks += az_random() % (jitter + 1u);
  az_failures++;
  tx_mutex_get(&az_mutex, TX_WAIT_FOREVER);
  az_stats.backoff_ticks = ticks;
  tx_mutex_put(&az_mutex);
  tx_thread_sleep(ticks);
}

static VOID az_connection_status(NX_AZURE_IOT_HUB_CLIENT *client, UINT status) {
  (void)client;
  if (status != NX_AZURE_IOT_SUCCESS) az_link_lost = 1u;
}

/* Finds, in a JSON object (inside `outer` when given), the raw text of its `microtally` object
 * and its `$version`. Returns 1 when the section is there. */
static UINT az_find_section(const CHAR *json, ULONG length, const CHAR *outer, const CHAR **section,
                            ULONG *section_length, uint64_t *version) {
  az_json_reader reader;
  if (az_result_failed(
          az_json_reader_init(&reader, az_span_create((uint8_t *)json, (int32_t)length), NULL)) ||
      az_result_failed(az_json_reader_next_token(&reader)) ||
      reader.token.kind != AZ_JSON_TOKEN_BEGIN_OBJECT) {
    return 0;
  }
  if (outer != TX_NULL) {
    UINT found = 0;
    while (!found && !az_result_failed(az_json_reader_next_token(&reader)) &&
           reader.token.kind == AZ_JSON_TOKEN_PROPERTY_NAME) {
      found = az_json_token_is_text_equal(&reader.token,
                                          az_span_create((uint8_t *)outer, (int32_t)strlen(outer)));
      if (az_result_failed(az_json_reader_next_token(&reader))) return 0;
      if (!found && az_result_failed(az_json_reader_skip_children(&reader))) return 0;
    }
    if (!found || reader.token.kind != AZ_JSON_TOKEN_BEGIN_OBJECT) return 0;
  }
  UINT have = 0;
  *version = 0;
  while (!az_result_failed(az_json_reader_next_token(&reader)) &&
         reader.token.kind == AZ_JSON_TOKEN_PROPERTY_NAME) {
    UINT is_section = az_json_token_is_text_equal(&reader.token, AZ_SPAN_FROM_STR("microtally"));
    UINT is_version = az_json_token_is_text_equal(&reader.token, AZ_SPAN_FROM_STR("$version"));
    if (az_result_failed(az_json_reader_next_token(&reader))) return 0;
    if (is_section && reader.token.kind == AZ_JSON_TOKEN_BEGIN_OBJECT) {
      const uint8_t *start = az_span_ptr(reader.token.slice);
      if (az_result_failed(az_json_reader_skip_children(&reader))) return 0;
      *section = (const CHAR *)start;
      *section_length =
          (ULONG)(az_span_ptr(reader.token.slice) + az_span_size(reader.token.slice) - start);
      have = 1u;
    } else if (is_version) {
      if (az_result_failed(az_json_token_get_uint64(&reader.token, version))) *version = 0;
    } else if (az_result_failed(az_json_reader_skip_children(&reader))) {
      return 0;
    }
  }
  return have;
}

/* The installed core's sequence: the update API's, or the configured one. */
static unsigned long az_core_sequence(VOID) {
  return az_config.update != TX_NULL ? (unsigned long)az_config.update->sequence()
                                     : (unsigned long)az_config.core_sequence;
}

/* Direct methods: `microtally-update` goes to the update API (mt_azure_iot_update.c), any
 * other is answered 404. */
static VOID az_methods(VOID) {
  const UCHAR *name;
  USHORT name_length, context_length;
  VOID *context;
  NX_PACKET *packet;
  static UCHAR payload[MT_AZ_UPDATE_CHUNK_BYTES / 3u * 4u + 256u];
  static CHAR answer[512];
  while (az_config.update != TX_NULL &&
         nx_azure_iot_hub_client_direct_method_message_receive(
             az_client, &name, &name_length, &context, &context_length, &packet, NX_NO_WAIT) ==
             NX_AZURE_IOT_SUCCESS) {
    ULONG length = 0, answer_length = 0;
    UINT status = 404u;
    static const CHAR method[] = "microtally-update";
    if (name_length == sizeof method - 1u && memcmp(name, method, name_length) == 0) {
      if (packet->nx_packet_length >= sizeof payload ||
          nx_packet_data_retrieve(packet, payload, &length) != NX_SUCCESS) {
        status = 413u;
        answer_length = (ULONG)snprintf(answer, sizeof answer, "{\"error\":\"payload too large\"}");
      } else {
        status = mt_azure_iot_update_method(az_config.update, payload, length, answer,
                                            sizeof answer, &answer_length);
      }
    } else {
      answer_length = (ULONG)snprintf(answer, sizeof answer, "{\"error\":\"no such method\"}");
    }
    nx_packet_release(packet);
    nx_azure_iot_hub_client_direct_method_message_response(az_client, status, context,
                                                           context_length, (const UCHAR *)answer,
                                                           (UINT)answer_length, MT_AZ_CALL_TICKS);
  }
}

/* After a swap: the new coreSequence in the reported properties (once per change). */
static VOID az_report_core_sequence(VOID) {
  static unsigned long reported;
  static UINT done;
  if (az_config.update == TX_NULL) return;
  unsigned long sequence = az_core_sequence();
  if (done && sequence == reported) return;
  int n = snprintf(az_reported, sizeof az_reported, "{\"microtally\":{\"coreSequence\":%lu}}",
                   sequence);
  UINT request_id = 0, response = 0;
  ULONG reported_version = 0;
  if (nx_azure_iot_hub_client_device_twin_reported_properties_send(
          az_client, (const UCHAR *)az_reported, (UINT)n, &request_id, &response, &reported_version,
          MT_AZ_CALL_TICKS) == NX_AZURE_IOT_SUCCESS) {
    reported = sequence;
    done = 1u;
  }
}

/* Applies a `microtally` section through the agent and reports the verdict. */
static VOID az_apply(const CHAR *section, ULONG length, uint64_t version) {
  if (length >= sizeof az_section) length = sizeof az_section - 1u; /* the agent then rejects it */
  memcpy(az_section, section, length);
  az_section[length] = '\0';
  UINT status = mt_tx_configure(az_section, length);
  for (UINT i = 0; status == MT_TX_PENDING && i < 10u * TX_TIMER_TICKS_PER_SECOND; i++) {
    tx_thread_sleep(1); /* an earlier update is still being applied */
    status = mt_tx_configure(az_section, length);
  }
  CHAR reason[160] = "";
  if (status == TX_SUCCESS) {
    do {
      tx_thread_sleep(1);
      status = mt_tx_configure_result(reason, sizeof reason);
    } while (status == MT_TX_PENDING);
  } else if (status == MT_TX_TOO_LONG) {
    snprintf(reason, sizeof reason, "the section is longer than MT_TX_CONFIG_BYTES (%u)",
             (unsigned)MT_TX_CONFIG_BYTES);
  } else {
    snprintf(reason, sizeof reason, "the agent did not take it (status 0x%x)", status);
  }
  int n;
  if (status == TX_SUCCESS) {
    /* reason null: reported properties merge, so a rejection's reason would stay otherwise. */
    az_stats.twin_applied++;
    n = snprintf(
        az_reported, sizeof az_reported,
        "{\"microtally\":{\"configuration\":{\"version\":%llu,\"status\":\"applied\",\"reason\":null},"
        "\"agentVersion\":\"%s\",\"coreSequence\":%lu}}",
        (unsigned long long)version, az_config.agent_version, az_core_sequence());
  } else {
    az_stats.twin_rejected++;
    CHAR escaped[2 * sizeof reason];
    ULONG e = 0;
    for (const CHAR *r = reason; *r != '\0' && e + 2u < sizeof escaped; r++) {
      if (*r == '"' || *r == '\\') escaped[e++] = '\\';
      escaped[e++] = (*r >= 0 && *r < 0x20) ? ' ' : *r;
    }
    escaped[e] = '\0';
    n = snprintf(
        az_reported, sizeof az_reported,
        "{\"microtally\":{\"configuration\":{\"version\":%llu,\"status\":\"rejected\",\"reason\":\"%s\"},"
        "\"agentVersion\":\"%s\",\"coreSequence\":%lu}}",
        (unsigned long long)version, escaped, az_config.agent_version, az_core_sequence());
  }
  if (n <= 0 || (ULONG)n >= sizeof az_reported) return;
  UINT request_id = 0, response = 0;
  ULONG reported_version = 0;
  nx_azure_iot_hub_client_device_twin_reported_properties_send(
      az_client, (const UCHAR *)az_reported, (UINT)n, &request_id, &response, &reported_version,
      MT_AZ_CALL_TICKS);
}

/* Copies a twin packet's JSON into az_twin; returns its length (0: none or too long). */
static ULONG az_twin_copy(NX_PACKET *packet) {
  ULONG length = 0;
  if (packet->nx_packet_length >= sizeof az_twin ||
      nx_packet_data_retrieve(packet, az_twin, &length) != NX_SUCCESS) {
    length = 0;
  }
  nx_packet_release(packet);
  return length;
}

static VOID az_twin_on_connect(VOID) {
  NX_PACKET *packet;
  if (nx_azure_iot_hub_client_device_twin_properties_request(az_client, MT_AZ_CALL_TICKS) !=
          NX_AZURE_IOT_SUCCESS ||
      nx_azure_iot_hub_client_device_twin_properties_receive(
          az_client, &packet, MT_AZ_CALL_TICKS) != NX_AZURE_IOT_SUCCESS) {
    return;
  }
  ULONG length = az_twin_copy(packet);
  const CHAR *section;
  ULONG section_length;
  uint64_t version;
  if (length > 0u &&
      az_find_section(az_twin, length, "desired", &section, &section_length, &version)) {
    az_apply(section, section_length, version);
  }
}

static VOID az_twin_patches(VOID) {
  NX_PACKET *packet;
  while (nx_azure_iot_hub_client_device_twin_desired_properties_receive(
             az_client, &packet, NX_NO_WAIT) == NX_AZURE_IOT_SUCCESS) {
    ULONG length = az_twin_copy(packet);
    const CHAR *section;
    ULONG section_length;
    uint64_t version;
    if (length > 0u &&
        az_find_section(az_twin, length, TX_NULL, &section, &section_length, &version)) {
      az_apply(section, section_length, version);
    }
  }
}

static UINT az_send_inflight(VOID) {
  NX_PACKET *packet;
  UINT json = az_inflight_length > 0u && az_inflight[0] == '{';
  UINT status =
      nx_azure_iot_hub_client_telemetry_message_create(az_client, &packet, MT_AZ_CALL_TICKS);
  if (status != NX_AZURE_IOT_SUCCESS) return status;
  status = nx_azure_iot_hub_client_telemetry_property_add(packet, (const UCHAR *)"$.ifid", 6,
                                                          (const UCHAR *)MT_AZ_IFID,
                                                          sizeof MT_AZ_IFID - 1u, MT_AZ_CALL_TICKS);
  if (status == NX_AZURE_IOT_SUCCESS) {
    status = json ? nx_azure_iot_hub_client_telemetry_property_add(
                        packet, (const UCHAR *)"$.ct", 4, (const UCHAR *)"application%2Fjson", 18,
                        MT_AZ_CALL_TICKS)
                  : nx_azure_iot_hub_client_telemetry_property_add(
                        packet, (const UCHAR *)"$.ct", 4, (const UCHAR *)"application%2Fcbor", 18,
                        MT_AZ_CALL_TICKS);
  }
  if (status == NX_AZURE_IOT_SUCCESS && json) {
    status = nx_azure_iot_hub_client_telemetry_property_add(
        packet, (const UCHAR *)"$.ce", 4, (const UCHAR *)"utf-8", 5, MT_AZ_CALL_TICKS);
  }
  if (status == NX_AZURE_IOT_SUCCESS) {
    status = nx_azure_iot_hub_client_telemetry_send(az_client, packet, az_inflight,
                                                    (UINT)az_inflight_length, MT_AZ_CALL_TICKS);
  }
  if (status != NX_AZURE_IOT_SUCCESS) nx_azure_iot_hub_client_telemetry_message_delete(packet);
  return status;
}

static VOID az_thread_entry(ULONG unused) {
  (void)unused;
  UINT connected = 0;
  for (;;) {
    if (connected && az_link_lost) {
      nx_azure_iot_hub_client_disconnect(az_client);
      connected = 0;
      az_set(MT_AZ_DISCONNECTED, 0);
    }
    if (!connected) {
      az_set(MT_AZ_CONNECTING, 0);
      az_link_lost = 0;
      tx_mutex_get(&az_mutex, TX_WAIT_FOREVER);
      az_stats.connects++;
      tx_mutex_put(&az_mutex);
      UINT status = nx_azure_iot_hub_client_connect(az_client, NX_TRUE, MT_AZ_CALL_TICKS);
      if (status != NX_AZURE_IOT_SUCCESS && status != NX_AZURE_IOT_ALREADY_CONNECTED) {
        nx_azure_iot_hub_client_disconnect(az_client);
        az_set(MT_AZ_DISCONNECTED, status);
        az_backoff();
        continue;
      }
      connected = 1u;
      az_failures = 0;
      tx_mutex_get(&az_mutex, TX_WAIT_FOREVER);
      az_stats.connected++;
      tx_mutex_put(&az_mutex);
      az_set(MT_AZ_CONNECTED, 0);
      az_twin_on_connect();
    }
    az_twin_patches();
    az_methods();
    az_report_core_sequence();
    if (az_inflight_length == 0u) az_take();
    if (az_inflight_length == 0u) {
      tx_thread_sleep(MT_AZ_IDLE_TICKS);
      continue;
    }
    UINT status = az_send_inflight();
    if (status == NX_AZURE_IOT_SUCCESS) {
      az_inflight_length = 0;
      az_failures = 0;
      tx_mutex_get(&az_mutex, TX_WAIT_FOREVER);
      az_stats.sent++;
      /* The drops go to the agent once the hub takes messages and the outbox has room: the
       * message carrying their count is then not itself dropped for room (or never leaves). */
      ULONG drops = az_count < MT_AZ_OUTBOX_MESSAGES ? az_unreported : 0u;
      az_unreported -= drops;
      tx_mutex_put(&az_mutex);
      if (drops > 0u && mt_tx_report_loss(drops) == TX_SUCCESS) {
        tx_mutex_get(&az_mutex, TX_WAIT_FOREVER);
        az_stats.drops_reported += drops;
        tx_mutex_put(&az_mutex);
      }
    } else {
      tx_mutex_get(&az_mutex, TX_WAIT_FOREVER);
      az_stats.retried++;
      az_stats.last_error = status;
      tx_mutex_put(&az_mutex);
      az_link_lost = 1u; /* the message stays in flight: sent again after the reconnect */
      az_backoff();
    }
  }
}

UINT mt_azure_iot_start(NX_AZURE_IOT_HUB_CLIENT *client, const MT_AZURE_IOT_CONFIG *config) {
  if (az_started) return MT_AZ_ALREADY_STARTED;
  if (client == TX_NULL || config == TX_NULL || config->stack == TX_NULL ||
      config->stack_size < MT_AZ_MIN_STACK_BYTES || config->agent_version == TX_NULL) {
    return MT_AZ_BAD_CONFIG;
  }
  az_client = client;
  az_config = *config;
  az_seed = tx_time_get() ^ 0x5eedu;
  UINT status = nx_azure_iot_hub_client_device_twin_enable(client);
  if (status == NX_AZURE_IOT_SUCCESS && config->update != TX_NULL)
    status = nx_azure_iot_hub_client_direct_method_enable(client);
  if (status == NX_AZURE_IOT_SUCCESS)
    status = nx_azure_iot_hub_client_connection_status_callback_set(client, az_connection_status);
  if (status != NX_AZURE_IOT_SUCCESS) return status;
  status = tx_mutex_create(&az_mutex, "microtally azure iot", TX_INHERIT);
  if (status != TX_SUCCESS) return status;
  az_started = 1u;
  status = tx_thread_create(&az_thread, "microtally azure iot", az_thread_entry, 0, config->stack,
                            config->stack_size, config->priority, config->priority,
                            TX_NO_TIME_SLICE, TX_AUTO_START);
  if (status != TX_SUCCESS) {
    az_started = 0;
    tx_mutex_delete(&az_mutex);
  }
  return status;
}
