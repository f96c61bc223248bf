/*
 * For 64-bit hosts only (ThreadX's Linux port on x86_64; never needed on a 32-bit MCU): NetX
 * Duo's Azure IoT middleware (6.4.2) passes the address of a 32-bit UINT where the Azure SDK
 * writes a size_t (nx_azure_iot_hub_client.c: `(size_t *)&topic_length` and the like), so each
 * of these calls overwrites 4 bytes of its caller's stack: the reported-properties send crashes.
 * Linked with `-Wl,--wrap=<name>` for each function below (ports/azure-iot/CMakeLists.txt does
 * it): the SDK writes into a size_t of ours and the caller's UINT gets only its 4 bytes. Every
 * caller of these functions in the middleware passes a UINT (checked: -Wincompatible-pointer-
 * types and the casts), and the SDK's own nested calls pass the same pointer down, which the
 * outer wrapper then owns, so a 4-byte store is right in every case.
 */
#include <stdint.h>
#include <string.h>

#include "azure/iot/az_iot_hub_client.h"

#if SIZE_MAX > UINT32_MAX

static void store_uint(size_t *out, size_t value) {
  uint32_t narrow = (uint32_t)value;
  memcpy(out, &narrow, sizeof narrow); /* the caller's object is a 4-byte UINT */
}

#define MT_LP64_WRAP(name, params, args)       \
  az_result __real_##name params;              \
  az_result __wrap_##name params;              \
  az_result __wrap_##name params {             \
    size_t length = 0;                         \
    size_t *out = out_length;                  \
    out_length = out != NULL ? &length : NULL; \
    az_result result = __real_##name args;     \
    if (out != NULL) store_uint(out, length);  \
    return result;                             \
  }

MT_LP64_WRAP(az_iot_hub_client_get_client_id,
             (az_iot_hub_client const *client, char *text, size_t size, size_t *out_length),
             (client, text, size, out_length))
MT_LP64_WRAP(az_iot_hub_client_get_user_name,
             (az_iot_hub_client const *client, char *text, size_t size, size_t *out_length),
             (client, text, size, out_length))
MT_LP64_WRAP(az_iot_hub_client_sas_get_password,
             (az_iot_hub_client const *client, uint64_t expiry, az_span signature, az_span key_name,
              char *text, size_t size, size_t *out_length),
             (client, expiry, signature, key_name, text, size, out_length))
MT_LP64_WRAP(az_iot_hub_client_telemetry_get_publish_topic,
             (az_iot_hub_client const *client, az_iot_message_properties const *properties,
              char *text, size_t size, size_t *out_length),
             (client, properties, text, size, out_length))
MT_LP64_WRAP(az_iot_hub_client_twin_patch_get_publish_topic,
             (az_iot_hub_client const *client, az_span request_id, char *text, size_t size,
              size_t *out_length),
             (client, request_id, text, size, out_length))
MT_LP64_WRAP(az_iot_hub_client_properties_document_get_publish_topic,
             (az_iot_hub_client const *client, az_span request_id, char *text, size_t size,
              size_t *out_length),
             (client, request_id, text, size, out_length))
MT_LP64_WRAP(az_iot_hub_client_properties_get_reported_publish_topic,
             (az_iot_hub_client const *client, az_span request_id, char *text, size_t size,
              size_t *out_length),
             (client, request_id, text, size, out_length))
MT_LP64_WRAP(az_iot_hub_client_commands_response_get_publish_topic,
             (az_iot_hub_client const *client, az_span request_id, uint16_t status, char *text,
              size_t size, size_t *out_length),
             (client, request_id, status, text, size, out_length))

#endif
