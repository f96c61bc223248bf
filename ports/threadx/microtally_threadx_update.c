/* Core updates on ThreadX (microtally_threadx_update.h): mt_update.c's transfer and state, the
 * agent's swap (mt_agent_swap), serialised by one semaphore between the transport's thread and
 * the agent thread (the swap's hooks persist its steps). */
#include "microtally_threadx_update.h"

#include <stdio.h>
#include <string.h>

#include "microtally_blobs.h"

/* The agent's words for the same refusal at the swap (ports/common/mt_agent.c). */
#define MT_TX_UPDATE_AOT_REASON \
  "this image runs its core ahead of time (compiled in): it cannot load another blob"

/* The ABI the bindings drive (bindings/microtally.c checks mt_abi_version at mt_init). */
#define MT_TX_UPDATE_ABI 5u

/* microtally_threadx.c calls it from mt_tx_start when set. */
extern void (*mt_tx_priv_update_start)(mt_agent_config_t *agent);
extern void (*mt_tx_priv_update_started)(void);

static mt_update_t update;
static TX_SEMAPHORE lock; /* a binary semaphore: ThreadX mutexes are not in every test double */
static UINT opened;
static mt_update_sha256_t self_test_hash;
static mt_agent_update_hooks_t hooks;
/* The probation journal (mt_agent.h): the inputs since a new core's last checkpoint. */
static uint8_t trial_inputs[MT_AGENT_TRIAL_JOURNAL_BYTES];
static UINT verdict;
static CHAR verdict_reason[160];

static VOID take(VOID) { (void)tx_semaphore_get(&lock, TX_WAIT_FOREVER); }
static VOID give_back(VOID) { (void)tx_semaphore_put(&lock); }

static UINT dropped_unreported;  /* a staged package dropped at open: its record goes in at start */
static UINT rollback_unreported; /* a swap on trial rolled back at open: its record too */
static VOID facts(mt_agent_swap_t *f, const mt_update_image_t *to);

static VOID set_verdict(UINT v, const char *why) {
  size_t n = strlen(why);
  if (n >= sizeof verdict_reason) n = sizeof verdict_reason - 1;
  verdict = v;
  memcpy(verdict_reason, why, n);
  verdict_reason[n] = '\0';
}

static UINT status_of(int rc) {
  switch (rc) {
    case MT_UPDATE_OK:
      return TX_SUCCESS;
    case MT_UPDATE_REPEATED:
      return MT_TX_UPDATE_REPEATED;
    case MT_UPDATE_REFUSED:
      return MT_TX_UPDATE_REFUSED;
    case MT_UPDATE_STORAGE:
      return MT_TX_UPDATE_STORAGE;
    case MT_UPDATE_NULL:
      return TX_PTR_ERROR;
    default:
      return MT_TX_UPDATE_STATE;
  }
}

/* ---- the agent's hooks (agent thread) ---- */

/* Saved before the new blob loads: a reset from here on rolls back at the next open. */
static const char *h_swapping(void *c) {
  (void)c;
  take();
  int rc = mt_update_activate(&update);
  give_back();
  /* not saved: a reset would not roll back, so the swap does not start (the old core runs on) */
  return rc == MT_UPDATE_OK ? NULL : "the swap's state record could not be saved (storage)";
}

static void h_outcome(void *c, unsigned result, const char *reason) {
  (void)c;
  take();
  int rc = MT_UPDATE_OK;
  if (result == MT_AGENT_SWAP_CONFIRMED) {
    rc = mt_update_confirm(&update);
    set_verdict(TX_SUCCESS, "");
  } else if (result == MT_AGENT_SWAP_ROLLED_BACK) {
    rc = mt_update_roll_back(&update, reason);
    set_verdict(MT_TX_UPDATE_REFUSED, reason);
  } else if (result == MT_AGENT_SWAP_REFUSED) {
    rc = mt_update_discard(&update, reason);
    set_verdict(MT_TX_UPDATE_REFUSED, reason);
  } else {
    set_verdict(MT_TX_PENDING, "the new blob runs, on trial");
  }
  /* the outcome ran but its record was not saved: mt_tx_update_result says so */
  if (rc != MT_UPDATE_OK && rc != MT_UPDATE_STATE)
    set_verdict(MT_TX_UPDATE_STORAGE, mt_update_reason(&update));
  give_back();
}

/* mt_tx_start: the installed blob (if any) instead of the built-in one, and the hooks. */
static void on_start(mt_agent_config_t *agent) {
  uint32_t length = 0;
  const uint8_t *blob = mt_update_running_blob(&update, &length);
  if (blob != NULL) {
    agent->engine.blob = blob;
    agent->engine.blob_size = length;
  }
  agent->update_hooks = &hooks;
  agent->trial_inputs = trial_inputs;
  agent->trial_inputs_bytes = sizeof trial_inputs;
}

/* mt_tx_start, once the agent runs: a rollback at open becomes a `rolledBack` record, the
 * package dropped at open a `rejected` one. */
static void on_started(void) {
  mt_update_image_t dropped, failed;
  take();
  if (rollback_unreported && mt_update_rolled_back(&update, &failed)) {
    mt_agent_swap_t f;
    CHAR why[96];
    facts(&f, &failed);
    snprintf(why, sizeof why, "%s%llu", MT_UPDATE_RESET_REASON,
             (unsigned long long)failed.sequence);
    (void)mt_agent_report_rolled_back(&f, why); /* a full queue counts it */
  }
  rollback_unreported = 0;
  if (dropped_unreported && mt_update_dropped(&update, &dropped)) {
    mt_agent_swap_t f;
    facts(&f, &dropped);
    (void)mt_agent_report_rejected(&f, MT_UPDATE_DROPPED_REASON); /* a full queue counts it */
  }
  dropped_unreported = 0;
  give_back();
}

UINT mt_tx_update_open(const mt_update_storage_t *storage, const UCHAR *public_key,
                       const CHAR *self_test, ULONG self_test_length) {
  if (storage == TX_NULL || public_key == TX_NULL || self_test == TX_NULL) return TX_PTR_ERROR;
  if (opened) return MT_TX_UPDATE_STATE;
  UINT status = tx_semaphore_create(&lock, (CHAR *)"microtally update", 1);
  if (status != TX_SUCCESS) return status;
  int rolled_back = 0;
  int rc = mt_update_open(&update, storage, public_key, "rtos", MT_TX_UPDATE_ABI, &rolled_back);
  if (rc != MT_UPDATE_OK) {
    (void)tx_semaphore_delete(&lock);
    return status_of(rc);
  }
  dropped_unreported = (UINT)mt_update_dropped(&update, TX_NULL);
  rollback_unreported = (UINT)mt_update_rolled_back(&update, TX_NULL);
  set_verdict(rolled_back || dropped_unreported ? MT_TX_UPDATE_REFUSED : TX_SUCCESS,
              mt_update_reason(&update));
  hooks.context = &self_test_hash; /* the SHA-256 hooks' (the others take none) */
  hooks.self_test = self_test;
  hooks.self_test_length = self_test_length;
  hooks.sha256_begin = mt_update_hook_sha256_begin;
  hooks.sha256_add = mt_update_hook_sha256_add;
  hooks.sha256_end = mt_update_hook_sha256_end;
  hooks.swapping = h_swapping;
  hooks.outcome = h_outcome;
  hooks.trial_windows = MT_TX_UPDATE_TRIAL_WINDOWS;
  mt_tx_priv_update_start = on_start;
  mt_tx_priv_update_started = on_started;
  opened = 1;
  return TX_SUCCESS;
}

/* The running blob's version and sequence, and the package's once its signature verified. */
static VOID facts(mt_agent_swap_t *f, const mt_update_image_t *to) {
  const mt_update_image_t *running = &update.state.running;
  memset(f, 0, sizeof *f);
  snprintf(
      f->from_version, sizeof f->from_version, "%s",
      running->slot == MT_UPDATE_BUILT_IN ? MT_TX_UPDATE_BUILT_IN_VERSION : running->agent_version);
  f->from_sequence = running->sequence;
  if (to != TX_NULL) {
    snprintf(f->to_version, sizeof f->to_version, "%s", to->agent_version);
    f->to_sequence = to->sequence;
  } else if (update.manifest_read) {
    snprintf(f->to_version, sizeof f->to_version, "%s", update.manifest.agent_version);
    f->to_sequence = update.manifest.sequence;
  }
}

/* A package refused at delivery: the verdict, and an AgentUpdate record `rejected` (step 1). */
static VOID refused(VOID) {
  mt_agent_swap_t f;
  set_verdict(MT_TX_UPDATE_REFUSED, mt_update_reason(&update));
  facts(&f, TX_NULL);
  (void)mt_agent_report_rejected(&f, mt_update_reason(&update));
}

UINT mt_tx_update_begin(VOID) {
  if (!opened) return MT_TX_UPDATE_STATE;
  take();
  if (!mt_engine_can_swap()) { /* refused before a byte is sent: no package could ever load */
    mt_agent_swap_t f;
    set_verdict(MT_TX_UPDATE_REFUSED, MT_TX_UPDATE_AOT_REASON);
    facts(&f, TX_NULL);
    (void)mt_agent_report_rejected(&f, MT_TX_UPDATE_AOT_REASON);
    give_back();
    return MT_TX_UPDATE_REFUSED;
  }
  /* mt_update_begin refuses while one is staged or on trial, with the reason */
  int rc = mt_update_begin(&update);
  if (rc == MT_UPDATE_STATE) {
    /* every refusal is an AgentUpdate record (the Linux agent's rule); this package's manifest
       was never read: no ToVersion / ToSequence */
    mt_agent_swap_t f;
    facts(&f, TX_NULL);
    f.to_version[0] = '\0';
    f.to_sequence = 0;
    (void)mt_agent_report_rejected(&f, mt_update_reason(&update));
  }
  give_back();
  return status_of(rc);
}

UINT mt_tx_update_write(ULONG offset, const UCHAR *data, ULONG length) {
  if (!opened) return MT_TX_UPDATE_STATE;
  take();
  int rc = mt_update_write(&update, (uint32_t)offset, data, (uint32_t)length);
  /* a chunk out of order is refused alone (the transfer goes on: phase not idle): no record */
  if ((rc == MT_UPDATE_REFUSED && update.phase == 0u) || rc == MT_UPDATE_STORAGE) {
    refused();
  } else if (rc == MT_UPDATE_REFUSED) {
    set_verdict(MT_TX_UPDATE_REFUSED, mt_update_reason(&update));
  }
  give_back();
  return status_of(rc);
}

UINT mt_tx_update_abort(VOID) {
  if (!opened) return MT_TX_UPDATE_STATE;
  take();
  int rc = mt_update_abort(&update, "the transfer was abandoned before its end");
  give_back();
  return status_of(rc);
}

UINT mt_tx_update_commit(VOID) {
  if (!opened) return MT_TX_UPDATE_STATE;
  take();
  int rc = mt_update_commit(&update);
  mt_update_image_t staged;
  UINT status = status_of(rc);
  if (rc != MT_UPDATE_OK) {
    refused();
  } else if (mt_update_staged(&update, &staged)) {
    mt_agent_swap_t request;
    request.engine.blob = update.storage->read_pointer(update.storage->context, staged.slot);
    request.engine.blob_size = staged.blob_size;
    request.engine.memory_limit = MT_TX_UPDATE_MEMORY_LIMIT; /* the device's budget */
    memcpy(request.self_test_sha256, staged.self_test_sha256, 32);
    /* the manifest's (delivery checked them against this device's): the swap compares the blob */
    request.abi_version = update.manifest.abi_version;
    memcpy(request.profile, update.manifest.profile, sizeof request.profile);
    const mt_update_image_t *running = &update.state.running;
    /* the built-in blob has no manifest: the version the firmware names for it */
    snprintf(request.from_version, sizeof request.from_version, "%s",
             running->slot == MT_UPDATE_BUILT_IN ? MT_TX_UPDATE_BUILT_IN_VERSION
                                                 : running->agent_version);
    snprintf(request.to_version, sizeof request.to_version, "%s", staged.agent_version);
    request.from_sequence = running->sequence;
    request.to_sequence = staged.sequence;
    unsigned agent_status = mt_agent_swap(&request);
    if (agent_status == MT_AGENT_OK) {
      set_verdict(MT_TX_PENDING, "the swap waits for the next window boundary");
      status = MT_TX_PENDING;
    } else {
      (void)mt_update_discard(&update, "the agent could not take the swap");
      set_verdict(MT_TX_UPDATE_REFUSED, mt_update_reason(&update));
      status = agent_status;
    }
  }
  give_back();
  return status;
}

ULONG mt_tx_update_expected_offset(VOID) {
  return opened ? (ULONG)mt_update_expected_offset(&update) : 0u;
}

UINT mt_tx_update_result(CHAR *reason, ULONG size) {
  if (!opened) return MT_TX_UPDATE_STATE;
  take();
  UINT v = verdict;
  if (reason != TX_NULL && size > 0) {
    size_t n = strlen(verdict_reason);
    if (n >= size) n = size - 1;
    memcpy(reason, verdict_reason, n);
    reason[n] = '\0';
  }
  give_back();
  return v;
}

uint64_t mt_tx_update_sequence(VOID) {
  if (!opened) return 0;
  take();
  uint64_t s = update.state.running.sequence;
  give_back();
  return s;
}
