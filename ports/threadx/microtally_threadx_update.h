/*
 * Core updates on ThreadX (issue 21, docs/UPDATE.md): a signed package from any transport (a
 * direct method, a file, a serial line) streamed into a staging slot, verified with NetX Duo's
 * nx_crypto against the public key built in, then swapped in by the agent at the next window
 * boundary (its probation journal: MT_AGENT_TRIAL_JOURNAL_BYTES of static RAM here).
 * Link microtally_threadx_update.c, ../common/mt_update.c, ../common/mt_update_nx_crypto.c and
 * NetX Duo's crypto library. Storage is the application's (mt_update.h: two slots it can erase,
 * write and read in place, and a small state record it replaces atomically).
 *   mt_tx_update_open(&storage, release_key, selftest, selftest_len); // before mt_tx_start:
 *                                                    // the installed blob runs, or the built-in one
 *   mt_tx_start(&cfg);
 *   mt_tx_update_begin(); mt_tx_update_write(offset, chunk, n) ...; mt_tx_update_commit();
 * Each call may take long (the envelope's ES256 check: about 16 M instructions on a Cortex-M3):
 * call them from a thread of the transport, never from an ISR. The outcome of the swap:
 * mt_tx_update_result.
 */
#ifndef MICROTALLY_THREADX_UPDATE_H
#define MICROTALLY_THREADX_UPDATE_H

#include "microtally_threadx.h"
#include "mt_update.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes beyond TX_SUCCESS (0) and ThreadX's own. */
#define MT_TX_UPDATE_REFUSED 0x120u /* the package or chunk is refused: mt_tx_update_result */
#define MT_TX_UPDATE_STORAGE 0x121u /* a storage callback failed (or the state record is damaged) */
#define MT_TX_UPDATE_STATE 0x122u   /* not opened, no transfer, a swap already on its way */
#define MT_TX_UPDATE_REPEATED 0x123u /* a chunk already taken, same bytes: nothing to do */

/*
 * Reads the state record and chooses the blob mt_tx_start loads (the installed one, or the
 * built-in one; a reset during a swap on trial rolls back here). `public_key`: 65 bytes (04 || X
 * || Y, the last 65 bytes of the .pub file's DER); `self_test`: host/update/selftest.jsonl,
 * embedded. All three are kept by pointer. Before mt_tx_start.
 */
UINT mt_tx_update_open(const mt_update_storage_t *storage, const UCHAR *public_key,
                       const CHAR *self_test, ULONG self_test_length);
/* Starts a transfer. MT_TX_UPDATE_REFUSED at once on the ahead-of-time engine
 * (mt_engine_can_swap() false: its blob is compiled in), with an AgentUpdate record `rejected`. */
UINT mt_tx_update_begin(VOID);
/* A chunk at `offset` in the package (the next one starts where it ended; see mt_update.h). */
UINT mt_tx_update_write(ULONG offset, const UCHAR *data, ULONG length);
/* The whole package arrived: the blob is checked and staged, and the swap requested. */
UINT mt_tx_update_commit(VOID);
/* The package cannot arrive whole (the transport failed): the transfer ends, nothing staged, no
   record (nothing was refused). MT_TX_UPDATE_STATE when none is in progress. */
UINT mt_tx_update_abort(VOID);
/* The next offset a transfer expects (a sender resumes there). */
ULONG mt_tx_update_expected_offset(VOID);
/* The latest verdict: TX_SUCCESS, MT_TX_PENDING (a swap requested or on trial),
 * MT_TX_UPDATE_REFUSED (a package refused or a swap rolled back) with its reason. */
UINT mt_tx_update_result(CHAR *reason, ULONG size);
/* The sequence of the blob running (0: the built-in one), for the reported coreSequence. */
uint64_t mt_tx_update_sequence(VOID);

#ifdef __cplusplus
}
#endif

#endif
