/*
 * Core updates through the ThreadX API (microtally_threadx_update.c) on the ThreadX test double,
 * the agent stepped by the test (no thread): a package streamed in chunks, verified (nx_crypto),
 * staged, swapped in at the next window boundary, on trial, confirmed after its messages; the next
 * package in the other slot; refusals (another key, a changed blob byte, an older sequence) leave
 * the running blob in place and say why. Then the same through the direct method's handler
 * (ports/azure-iot/mt_azure_iot_update.c): base64 chunks, a gap, a repeat, a bad payload, the
 * commit and the status with coreSequence. Built on the ahead-of-time engine too
 * (test_update_tx_aot): there mt_tx_update_begin and the method's first chunk are refused at
 * once. Built by ports/common/test/Makefile (it links nx_crypto and the Azure SDK for C's core).
 *   test_update_tx <folder of packages> <host/update/selftest.jsonl>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "microtally_threadx_update.h"
#include "mt_azure_iot_update.h"
#include "test_storage.h"

#include <azure/core/az_base64.h>
#include <azure/core/az_precondition.h>

/* the SDK's default spins forever on a failed precondition: here the test fails instead */
static void precondition_failed(void) {
  fprintf(stderr, "test_update_tx: an Azure SDK precondition failed (the device would hang)\n");
  exit(1);
}

static uint8_t *load(const char *dir, const char *name, size_t *length) {
  char path[512];
  snprintf(path, sizeof path, "%s%s%s", dir, name ? "/" : "", name ? name : "");
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "test_update_tx: cannot open %s\n", path);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  *length = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(*length + 1);
  if (!b || fread(b, 1, *length, f) != *length) exit(2);
  fclose(f);
  return b;
}

#define SLOT_MAX (64u * 1024u)
static uint8_t slots[2][SLOT_MAX];
static test_storage_t device; /* RAM (test_storage.c) */
static const mt_update_storage_t *storage;

/* The running sequence the saved state record holds (what a reset would run). */
static const uint8_t *look_key;
static uint64_t update_state_running(void) {
  static mt_update_t look;
  return mt_update_open(&look, storage, look_key, "rtos", 5, NULL) == MT_UPDATE_OK
             ? look.state.running.sequence
             : 99u;
}

static unsigned messages;
static char sent[1 << 18];
static size_t sent_len;
static VOID on_send(VOID *context, const UCHAR *bytes, ULONG length, UINT last) {
  (void)context;
  if (sent_len + length + 1 < sizeof sent) {
    memcpy(sent + sent_len, bytes, length);
    sent_len += length;
    sent[sent_len] = 0;
  }
  if (last == MT_TX_CHUNK_LAST) messages++;
}
static int has(const char *needle) { return strstr(sent, needle) != NULL; }

static ULONG queue[32 * MT_TX_EVENT_ULONGS];

/* The direct method's handler over the ThreadX API. */
static const MT_AZ_UPDATE_OPS ops = {
    mt_tx_update_begin,  mt_tx_update_write,    mt_tx_update_commit, mt_tx_update_expected_offset,
    mt_tx_update_result, mt_tx_update_sequence, MT_TX_PENDING,       MT_TX_UPDATE_REPEATED};

/* Streams a package in 700-byte chunks; the first status that is not TX_SUCCESS, or the commit's. */
static UINT send_package(const uint8_t *p, size_t n) {
  UINT st = mt_tx_update_begin();
  if (st != TX_SUCCESS) return st;
  for (size_t at = 0; at < n; at += 700) {
    st = mt_tx_update_write((ULONG)at, p + at, (ULONG)(n - at < 700 ? n - at : 700));
    if (st != TX_SUCCESS) return st;
  }
  return mt_tx_update_commit();
}

static void post_one(uint16_t port) {
  mt_packet_conn c;
  memset(&c, 0, sizeof c);
  c.local[0] = 10, c.remote[0] = 192;
  c.local_port = port, c.remote_port = 443, c.bytes = 60;
  c.protocol = MT_PACKET_TCP, c.direction = MT_PACKET_OUT, c.family = 4;
  CHECK(mt_tx_post_connection(&c) == TX_SUCCESS);
}

/* `n` windows, each with one event (from `port` on): a message each. */
static void windows(unsigned n, uint16_t port) {
  for (unsigned w = 0; w < n; w++) {
    unsigned want = messages + 1;
    post_one((uint16_t)(port + w));
    for (unsigned i = 0; i < 200 && messages < want; i++)
      (void)mt_tx_agent_step(MT_TX_WINDOW_CHECK_TICKS);
    CHECK(messages == want);
  }
}

int main(int argc, char **argv) {
  if (argc != 3 && !(argc == 4 && strcmp(argv[3], "reset") == 0)) {
    fprintf(stderr, "usage: test_update_tx <folder of packages> <selftest.jsonl> [reset]\n");
    return 2;
  }
  int reset = argc == 4; /* the last run reset while good.pkg was on trial */
  size_t key_n, self_n, good_n, next_n, other_n, low_n;
  uint8_t *key = load(argv[1], "key.raw", &key_n);
  look_key = key;
  uint8_t *good = load(argv[1], "good.pkg", &good_n);
  uint8_t *next = load(argv[1], "next.pkg", &next_n);
  uint8_t *other = load(argv[1], "other-key.pkg", &other_n);
  uint8_t *low = load(argv[1], "low.pkg", &low_n);
  uint8_t *self_test = load(argv[2], NULL, &self_n);
  char why[160];

  storage = test_storage_init(&device, slots[0], SLOT_MAX);
  CHECK(mt_tx_update_begin() == MT_TX_UPDATE_STATE); /* not opened */
  {
    /* the last run committed good.pkg and reset before the swap (dropped at open), or with
       `reset` during its trial (rolled back at open) */
    static mt_update_t before;
    CHECK(mt_update_open(&before, storage, key, "rtos", 5, NULL) == MT_UPDATE_OK);
    CHECK(mt_update_begin(&before) == MT_UPDATE_OK);
    CHECK(mt_update_write(&before, 0, good, (uint32_t)good_n) == MT_UPDATE_OK);
    CHECK(mt_update_commit(&before) == MT_UPDATE_OK && mt_update_staged(&before, NULL));
    if (reset) CHECK(mt_update_activate(&before) == MT_UPDATE_OK); /* swapped in, on trial */
  }
  CHECK(mt_tx_update_open(storage, key, (const CHAR *)self_test, (ULONG)self_n) == TX_SUCCESS);
  CHECK(mt_tx_update_sequence() == 0); /* the built-in blob */
  /* rolled back at open (reset), or the staged package dropped: the verdict says so */
  static const char rolled[] = "rolled back: the device reset during the swap to sequence 5";
  CHECK(mt_tx_update_result(why, sizeof why) == MT_TX_UPDATE_REFUSED &&
        strcmp(why, reset ? rolled : MT_UPDATE_DROPPED_REASON) == 0);

  MT_TX_CONFIG cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.queue_storage = queue;
  cfg.queue_size = sizeof queue;
  cfg.epoch_ms_at_start = 1700000000000ull;
  cfg.send = on_send;
  cfg.configuration = "{\"network\":{\"priority\":\"high\"},\"priorityIntervals\":{\"high\":5}}";
  CHECK(mt_tx_start(&cfg) == TX_SUCCESS);
  az_precondition_failed_set_callback(precondition_failed);
  static char payload[8192], answer[512];
  ULONG answer_n = 0;
#define METHOD(text)                                                                   \
  mt_azure_iot_update_method(&ops, (const UCHAR *)(text), (ULONG)strlen(text), answer, \
                             sizeof answer, &answer_n)

  if (reset) {
    /* once the agent runs, the rollback's record, from the blob running again to the failed one */
    windows(2, 40001);
    static const char record[] =
        "\"FromVersion\":\"built-in\",\"ToVersion\":\"0.1.0\",\"FromSequence\":0,\"ToSequence\":5,"
        "\"Result\":\"rolledBack\",\"Reason\":\"rolled back: the device reset during the swap to "
        "sequence 5\"}";
    CHECK(has(record) && strstr(strstr(sent, record) + 1, record) == NULL); /* once */
    CHECK(!has("\"Result\":\"rejected\"")); /* nothing was staged: nothing dropped */
    /* its sequence stays the highest: updates go on above it */
    CHECK(send_package(good, good_n) == MT_TX_UPDATE_REFUSED);
    CHECK(send_package(next, next_n) == MT_TX_PENDING);
    (void)mt_tx_agent_step(0);
    windows(1, 40010); /* the swap's boundary: on trial */
    CHECK(mt_tx_update_result(why, sizeof why) == MT_TX_PENDING && mt_tx_update_sequence() == 6);
    /* a clean stop on trial keeps the new blob: confirmed, not rolled back at the next open */
    (void)mt_tx_stop(0);
    CHECK(mt_tx_agent_step(0) == MT_TX_STOPPED);
    CHECK(mt_tx_update_result(why, sizeof why) == TX_SUCCESS);
    {
      static mt_update_t after;
      int rolled = -1;
      CHECK(mt_update_open(&after, storage, key, "rtos", 5, &rolled) == MT_UPDATE_OK);
      CHECK(rolled == 0 && after.state.running.sequence == 6 && after.state.trial == 0);
      CHECK(mt_update_begin(&after) == MT_UPDATE_OK); /* not refused as on trial */
    }
    MT_TX_STATS st;
    mt_tx_stats_get(&st);
    CHECK(st.faults == 0 && st.updates_unreported == 0);
    free(key), free(good), free(next), free(other), free(low), free(self_test);
    return check_report(
        "a reset during the trial: rolled back at open, reported; a stop on trial keeps the new "
        "blob (ThreadX API)");
  }
  if (!mt_engine_can_swap()) {
    /* the ahead-of-time engine: refused at the first call, before a byte of the package */
    static const char aot[] =
        "this image runs its core ahead of time (compiled in): it cannot load another blob";
    CHECK(mt_tx_update_begin() == MT_TX_UPDATE_REFUSED);
    CHECK(mt_tx_update_result(why, sizeof why) == MT_TX_UPDATE_REFUSED && strcmp(why, aot) == 0);
    CHECK(mt_tx_update_write(0, good, 700) == MT_TX_UPDATE_STATE); /* no transfer was opened */
    CHECK(mt_tx_update_expected_offset() == 0);
    snprintf(payload, sizeof payload, "{\"offset\":0,\"chunk\":\"%s\"}", "0oRDoQEmoQRI");
    CHECK(METHOD(payload) == 400 &&
          strncmp(answer, "{\"error\":\"this image runs its core ahead", 40) == 0);
    CHECK(METHOD("{}") == 200 && strstr(answer, "\"result\":\"refused\"") != NULL &&
          strstr(answer, "\"coreSequence\":0}") != NULL);
    windows(3, 40001); /* one record a message: the package dropped at open, then these two */
    CHECK(
        has("\"FromVersion\":\"built-in\",\"ToVersion\":\"\",\"FromSequence\":0,\"ToSequence\":0,"
            "\"Result\":\"rejected\",\"Reason\":\"this image runs its core ahead of time"));
    CHECK(strstr(strstr(sent, "its core ahead of time") + 1, "its core ahead of time") != NULL);
    MT_TX_STATS s;
    mt_tx_stats_get(&s);
    CHECK(s.faults == 0 && s.updates_unreported == 0);
    free(key), free(good), free(next), free(other), free(low), free(self_test);
    return check_report("core updates refused at once ahead of time (ThreadX API, aot)");
  }

  /* refused before anything is written: the running blob stays, the reason says why */
  CHECK(send_package(other, other_n) == MT_TX_UPDATE_REFUSED);
  CHECK(mt_tx_update_result(why, sizeof why) == MT_TX_UPDATE_REFUSED &&
        strncmp(why, "wrong key:", 10) == 0);
  good[good_n - 10] ^= 1;
  CHECK(send_package(good, good_n) == MT_TX_UPDATE_REFUSED);
  CHECK(mt_tx_update_result(why, sizeof why) == MT_TX_UPDATE_REFUSED &&
        strncmp(why, "blob digest mismatch", 20) == 0);
  good[good_n - 10] ^= 1;

  /* the good package: staged, swapped at the next window boundary, on trial, then confirmed */
  post_one(40001);
  CHECK(send_package(good, good_n) == MT_TX_PENDING);
  CHECK(mt_tx_update_begin() == MT_TX_UPDATE_STATE); /* one at a time */
  unsigned before = messages;
  (void)mt_tx_agent_step(0); /* the event */
  (void)mt_tx_agent_step(0);
  CHECK(mt_tx_update_sequence() == 0); /* no message left yet: no boundary, no swap */
  for (unsigned i = 0; i < 200 && messages == before; i++)
    (void)mt_tx_agent_step(MT_TX_WINDOW_CHECK_TICKS);
  CHECK(messages == before + 1); /* the event's window leaves first, then the swap */
  CHECK(mt_tx_update_result(why, sizeof why) == MT_TX_PENDING); /* on trial */
  CHECK(mt_tx_update_sequence() == 5);
  windows(MT_TX_UPDATE_TRIAL_WINDOWS - 1, 40010);
  CHECK(mt_tx_update_result(why, sizeof why) == MT_TX_PENDING); /* one message short */
  windows(1, 40020);
  CHECK(mt_tx_update_result(why, sizeof why) == TX_SUCCESS);

  /* an older sequence is refused; the next one goes to the other slot and runs */
  CHECK(send_package(low, low_n) == MT_TX_UPDATE_REFUSED);
  CHECK(mt_tx_update_result(why, sizeof why) == MT_TX_UPDATE_REFUSED &&
        strncmp(why, "sequence 3 is not above the installed 5", 39) == 0);
  CHECK(send_package(next, next_n) == MT_TX_PENDING);
  windows(1 + MT_TX_UPDATE_TRIAL_WINDOWS, 40030); /* the swap's boundary, then its trial */
  CHECK(mt_tx_update_result(why, sizeof why) == TX_SUCCESS && mt_tx_update_sequence() == 6);

  /* the swap's state record cannot be saved: the swap does not start, the running blob runs on */
  {
    size_t n9;
    uint8_t *p9 = load(argv[1], "nine.pkg", &n9);
    CHECK(send_package(p9, n9) == MT_TX_PENDING);
    device.failing_saves = 1; /* mt_update_activate's */
    windows(1, 40035);
    CHECK(device.failing_saves == 0);
    CHECK(mt_tx_update_result(why, sizeof why) == MT_TX_UPDATE_REFUSED &&
          strcmp(why, "the swap's state record could not be saved (storage)") == 0);
    CHECK(mt_tx_update_sequence() == 6 && update_state_running() == 6);
    free(p9);
  }

  /* the direct method: nine.pkg (sequence 9) in base64 chunks of 1,000 bytes */
  size_t nine_n;
  uint8_t *nine = load(argv[1], "nine.pkg", &nine_n);
  for (size_t at = 0; at < nine_n; at += 1000) {
    size_t n = nine_n - at < 1000 ? nine_n - at : 1000;
    int32_t b64 = 0;
    char encoded[1400];
    CHECK(az_result_succeeded(az_base64_encode(AZ_SPAN_FROM_BUFFER(encoded),
                                               az_span_create(nine + at, (int32_t)n), &b64)));
    snprintf(payload, sizeof payload, "{\"offset\":%lu,\"chunk\":\"%.*s\"}", (unsigned long)at,
             (int)b64, encoded);
    UINT code = METHOD(payload);
    char next[48];
    snprintf(next, sizeof next, "{\"next\":%lu}", (unsigned long)(at + n));
    CHECK(code == 200 && strcmp(answer, next) == 0);
    if (at == 2000) {
      CHECK(METHOD(payload) == 200 && strstr(answer, "\"repeated\":true") != NULL); /* a retry */
      snprintf(payload, sizeof payload, "{\"offset\":%lu,\"chunk\":\"AAAA\"}",
               (unsigned long)(at + 5000));
      CHECK(METHOD(payload) == 400 && strstr(answer, "\"error\":\"chunk out of order") != NULL &&
            strstr(answer, next + 1) != NULL); /* a gap: refused, resume from "next" */
    }
  }
  CHECK(METHOD("{\"offset\":1}") == 400 && strncmp(answer, "{\"error\":", 9) == 0); /* no chunk */
  CHECK(METHOD("[1,2]") == 400);
  /* what the SDK's preconditions refuse (it would spin forever) is refused before it */
  CHECK(METHOD("") == 400 && strcmp(answer, "{\"error\":\"empty payload\"}") == 0);
  CHECK(METHOD("{\"offset\":0,\"chunk\":\"\"}") == 400 && strstr(answer, "not a multiple of 4"));
  CHECK(METHOD("{\"offset\":0,\"chunk\":\"QQ\"}") == 400 && strstr(answer, "not a multiple of 4"));
  CHECK(METHOD("{}") == 200 && strstr(answer, "\"coreSequence\":6") != NULL); /* nothing lost */
  CHECK(METHOD("{}") == 200 && strstr(answer, "\"coreSequence\":6") != NULL);
  CHECK(METHOD("{\"commit\":true}") == 202 && strcmp(answer, "{\"result\":\"pending\"}") == 0);
  CHECK(METHOD("{}") == 200 && strncmp(answer, "{\"result\":\"pending\"", 19) == 0);
  windows(1 + MT_TX_UPDATE_TRIAL_WINDOWS, 40040);
  CHECK(METHOD("{}") == 200 && strncmp(answer, "{\"result\":\"applied\"", 19) == 0 &&
        strstr(answer, "\"coreSequence\":9}") != NULL);
  /* a package refused through the method: its reason comes back */
  snprintf(payload, sizeof payload, "{\"offset\":0,\"chunk\":\"%s\"}", "0oRDoQEmoQRI");
  CHECK(METHOD(payload) == 200);
  CHECK(METHOD("{\"commit\":true}") == 400 &&
        strstr(answer, "truncated: the COSE_Sign1 envelope is cut short") != NULL);
  free(nine);

  /* every attempt reached a message as an AgentUpdate record (docs/UPDATE.md) */
  windows(1, 40050);
  CHECK(
      has("\"FromVersion\":\"built-in\",\"ToVersion\":\"\",\"FromSequence\":0,\"ToSequence\":0,"
          "\"Result\":\"rejected\",\"Reason\":\"wrong key: signed by key "));
  CHECK(has(
      "\"FromSequence\":0,\"ToSequence\":5,\"Result\":\"rejected\",\"Reason\":\"blob digest mismatch"));
  CHECK(has(
      "\"FromSequence\":0,\"ToSequence\":5,\"Result\":\"rejected\",\"Reason\":\"" MT_UPDATE_DROPPED_REASON));
  CHECK(has("\"FromSequence\":0,\"ToSequence\":5,\"Result\":\"applied\"}"));
  CHECK(has(
      "\"FromSequence\":5,\"ToSequence\":3,\"Result\":\"rejected\",\"Reason\":\"sequence 3 is not above the installed 5"));
  CHECK(has("\"FromSequence\":5,\"ToSequence\":6,\"Result\":\"applied\"}"));
  CHECK(has(
      "\"FromSequence\":6,\"ToSequence\":9,\"Result\":\"rejected\",\"Reason\":\"the swap's state "
      "record could not be saved (storage)\"}"));
  CHECK(has("\"FromSequence\":6,\"ToSequence\":9,\"Result\":\"applied\"}"));
  CHECK(has(
      "\"FromSequence\":9,\"ToSequence\":0,\"Result\":\"rejected\",\"Reason\":\"truncated: the COSE_Sign1"));
  CHECK(!has("chunk out of order")); /* refused alone, the transfer went on: no record */
  MT_TX_STATS s;
  mt_tx_stats_get(&s);
  CHECK(s.faults == 0 && s.ingested == 5 + 3 * MT_TX_UPDATE_TRIAL_WINDOWS &&
        s.updates_unreported == 0);
  free(key), free(good), free(next), free(other), free(low), free(self_test);
  return check_report("core updates through the ThreadX API (test double)");
}
