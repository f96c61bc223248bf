/* The direct method `microtally-update` (mt_azure_iot_update.h): the payload read with the Azure
 * SDK for C's JSON reader and base64 decoder (linked with NetX Duo's Azure IoT middleware). */
#include "mt_azure_iot_update.h"

#include <stdio.h>
#include <string.h>

#include <azure/core/az_base64.h>
#include <azure/core/az_json.h>

static UCHAR az_chunk[MT_AZ_UPDATE_CHUNK_BYTES];
static UCHAR az_chunk_text[(MT_AZ_UPDATE_CHUNK_BYTES + 2u) / 3u * 4u];

/* `text` as a JSON string's contents (quotes and backslashes escaped, control bytes blanked). */
static ULONG az_escape(const CHAR *text, CHAR *out, ULONG size) {
  ULONG n = 0;
  for (; *text != '\0' && n + 2u < size; text++) {
    if (*text == '"' || *text == '\\') out[n++] = '\\';
    out[n++] = (*text >= 0 && *text < 0x20) ? ' ' : *text;
  }
  out[n] = '\0';
  return n;
}

static UINT az_answer(CHAR *answer, ULONG size, ULONG *length, UINT status, const char *json) {
  size_t n = strlen(json);
  if (n >= size) n = 0; /* the caller's buffer is too small even for the answer: an empty one */
  memcpy(answer, json, n);
  answer[n] = '\0';
  *length = (ULONG)n;
  return status;
}

UINT mt_azure_iot_update_method(const MT_AZ_UPDATE_OPS *ops, const UCHAR *payload, ULONG length,
                                CHAR *answer, ULONG size, ULONG *answer_length) {
  CHAR text[400], reason[160], escaped[2 * sizeof reason];
  if (ops == TX_NULL || payload == TX_NULL || answer == TX_NULL || answer_length == TX_NULL ||
      size == 0u)
    return 500u;
  /* the SDK's preconditions (a non-empty buffer) spin forever when they fail: refused first */
  if (length == 0u)
    return az_answer(answer, size, answer_length, 400u, "{\"error\":\"empty payload\"}");
  /* the payload's members: offset, chunk, commit */
  az_json_reader reader;
  int have_offset = 0, have_chunk = 0, chunk_too_long = 0, chunk_bad_length = 0;
  bool commit = false;
  uint32_t offset = 0;
  int32_t chunk_length = 0;
  az_result r = az_json_reader_init(
      &reader, az_span_create((uint8_t *)(uintptr_t)payload, (int32_t)length), NULL);
  if (az_result_succeeded(r)) r = az_json_reader_next_token(&reader);
  if (az_result_succeeded(r) && reader.token.kind != AZ_JSON_TOKEN_BEGIN_OBJECT)
    r = AZ_ERROR_UNEXPECTED_CHAR;
  while (az_result_succeeded(r) && az_result_succeeded(r = az_json_reader_next_token(&reader)) &&
         reader.token.kind == AZ_JSON_TOKEN_PROPERTY_NAME) {
    az_json_token name = reader.token;
    if (az_result_failed(r = az_json_reader_next_token(&reader))) break;
    if (az_json_token_is_text_equal(&name, AZ_SPAN_FROM_STR("offset"))) {
      r = az_json_token_get_uint32(&reader.token, &offset);
      have_offset = 1;
    } else if (az_json_token_is_text_equal(&name, AZ_SPAN_FROM_STR("chunk")) &&
               reader.token.kind == AZ_JSON_TOKEN_STRING) {
      if (reader.token.size > (int32_t)sizeof az_chunk_text) {
        chunk_too_long = 1;
      } else {
        az_span b64 =
            az_json_token_copy_into_span(&reader.token, AZ_SPAN_FROM_BUFFER(az_chunk_text));
        int32_t b64_length = (int32_t)(az_span_ptr(b64) - az_chunk_text);
        /* az_base64_decode's precondition (whole groups of 4) would spin forever: refused here */
        if (b64_length == 0 || b64_length % 4 != 0)
          chunk_bad_length = 1;
        else
          r = az_base64_decode(AZ_SPAN_FROM_BUFFER(az_chunk),
                               az_span_create(az_chunk_text, b64_length), &chunk_length);
        have_chunk = 1;
      }
    } else if (az_json_token_is_text_equal(&name, AZ_SPAN_FROM_STR("commit"))) {
      r = az_json_token_get_boolean(&reader.token, &commit);
    } else {
      r = az_json_reader_skip_children(&reader);
    }
  }
  if (chunk_too_long)
    return az_answer(answer, size, answer_length, 413u,
                     "{\"error\":\"chunk larger than MT_AZ_UPDATE_CHUNK_BYTES\"}");
  if (chunk_bad_length)
    return az_answer(answer, size, answer_length, 400u,
                     "{\"error\":\"chunk is not base64: its length is 0 or not a multiple of 4\"}");
  if (az_result_failed(r) || reader.token.kind != AZ_JSON_TOKEN_END_OBJECT ||
      have_offset != have_chunk || (commit && have_chunk)) {
    return az_answer(
        answer, size, answer_length, 400u,
        "{\"error\":\"expected {\\\"offset\\\":n,\\\"chunk\\\":\\\"base64\\\"}, {\\\"commit\\\":true} or {}\"}");
  }

  if (have_chunk) {
    UINT st = ops->write(offset, az_chunk, (ULONG)chunk_length);
    if (st != TX_SUCCESS && st != ops->repeated && offset == 0u && ops->begin() == TX_SUCCESS) {
      st = ops->write(0, az_chunk, (ULONG)chunk_length); /* no transfer open: this one begins it */
    }
    if (st == TX_SUCCESS || st == ops->repeated) {
      snprintf(text, sizeof text, "{\"next\":%lu%s}", (unsigned long)ops->expected_offset(),
               st == ops->repeated ? ",\"repeated\":true" : "");
      return az_answer(answer, size, answer_length, 200u, text);
    }
    (void)ops->result(reason, sizeof reason);
    az_escape(reason, escaped, sizeof escaped);
    snprintf(text, sizeof text, "{\"error\":\"%s\",\"next\":%lu}", escaped,
             (unsigned long)ops->expected_offset());
    return az_answer(answer, size, answer_length, 400u, text);
  }
  if (commit) {
    UINT st = ops->commit();
    if (st == ops->pending)
      return az_answer(answer, size, answer_length, 202u, "{\"result\":\"pending\"}");
    (void)ops->result(reason, sizeof reason);
    az_escape(reason, escaped, sizeof escaped);
    snprintf(text, sizeof text, "{\"error\":\"%s\"}", escaped);
    return az_answer(answer, size, answer_length, 400u, text);
  }
  UINT st = ops->result(reason, sizeof reason);
  az_escape(reason, escaped, sizeof escaped);
  snprintf(text, sizeof text, "{\"result\":\"%s\",\"reason\":\"%s\",\"coreSequence\":%llu}",
           st == TX_SUCCESS     ? "applied"
           : st == ops->pending ? "pending"
                                : "refused",
           escaped, (unsigned long long)ops->sequence());
  return az_answer(answer, size, answer_length, 200u, text);
}
