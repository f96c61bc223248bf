/*
 * The direct method `microtally-update` (SPEC R12, docs/UPDATE.md): a core update package sent
 * from the cloud in chunks, handed to the ThreadX layer's update API (microtally_threadx_update.h)
 * through MT_AZ_UPDATE_OPS, so that the adapter links it only when the firmware has updates.
 * Payloads (JSON) and answers (status, JSON):
 *   {"offset": <n>, "chunk": "<base64>"}  200 {"next":<n>} (also a repeat of bytes already taken,
 *                                          with "repeated":true); 400 {"error":"…","next":<n>}
 *                                          (refused: send from "next", or begin again at 0)
 *   {"commit": true}                      202 {"result":"pending"}: verified and staged, the swap
 *                                          waits for the agent; 400 {"error":"…"}
 *   {}                                    200 {"result":"applied"|"pending"|"refused",
 *                                          "reason":"…","coreSequence":<n>}
 * A chunk at offset 0 when no transfer is open begins one. At most MT_AZ_UPDATE_CHUNK_BYTES
 * decoded bytes per chunk (413 otherwise); a payload that is not one of these: 400.
 */
#ifndef MT_AZURE_IOT_UPDATE_H
#define MT_AZURE_IOT_UPDATE_H

#include <stdint.h>

#include "tx_api.h"

/* Decoded bytes one chunk may carry (a static buffer of this size, and one of 4/3 of it for
 * the base64 text). IoT Hub takes direct method payloads of up to 128 KB. */
#ifndef MT_AZ_UPDATE_CHUNK_BYTES
#define MT_AZ_UPDATE_CHUNK_BYTES 4096u
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The ThreadX layer's update calls (microtally_threadx_update.h), as a firmware with updates
 * fills them:
 *   static const MT_AZ_UPDATE_OPS ops = {mt_tx_update_begin, mt_tx_update_write,
 *       mt_tx_update_commit, mt_tx_update_expected_offset, mt_tx_update_result,
 *       mt_tx_update_sequence, MT_TX_PENDING, MT_TX_UPDATE_REPEATED}; */
typedef struct MT_AZ_UPDATE_OPS_STRUCT {
  UINT (*begin)(VOID);
  UINT (*write)(ULONG offset, const UCHAR *data, ULONG length);
  UINT (*commit)(VOID);
  ULONG (*expected_offset)(VOID);
  UINT (*result)(CHAR *reason, ULONG size);
  uint64_t (*sequence)(VOID);
  UINT pending;  /* the status `result` and `commit` give while a swap waits: MT_TX_PENDING */
  UINT repeated; /* `write`'s status for bytes already taken: MT_TX_UPDATE_REPEATED */
} MT_AZ_UPDATE_OPS;

/* Handles one `microtally-update` payload; writes the answer (JSON, at most `size` bytes) and
 * returns its status code. Not thread safe: the adapter's thread calls it. */
UINT mt_azure_iot_update_method(const MT_AZ_UPDATE_OPS *ops, const UCHAR *payload, ULONG length,
                                CHAR *answer, ULONG size, ULONG *answer_length);

#ifdef __cplusplus
}
#endif

#endif
