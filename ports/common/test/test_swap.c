/*
 * A core update's swap in the RTOS-neutral agent (ports/common/mt_agent.c) with the real core
 * under wasm3, over a single-threaded mt_os.h of this test (a ring queue, a tick counter the
 * test advances): a package staged by mt_update.c (good.pkg from scripts/test-update-c.sh) is
 * swapped in at the first window boundary after the request (not before), every event posted
 * before it leaves in a message first, the new blob goes live on trial and is confirmed; a
 * self-test mismatch, a blob that does not load, a heap too small for it, a manifest whose ABI
 * or profile is not the blob's roll back to the running blob, which keeps working; the engine's
 * RAM never holds both blobs (mt_heap_peak).
 * `test_swap --replay <trace> <pub.pem> <selftest.jsonl> <built-in version> [<N>:<package>...]`
 * prints what mt_agent sends for a trace's lines with those packages delivered before line N,
 * for scripts/test-update-c.sh to compare with V8's `replay --update-at` byte for byte.
 * With a third argument, the packages of scripts/make-test-packages.mjs (signed with its test
 * key) go through staging and the swap by name: each refusal at delivery, changed-2 applied (its
 * AgentVersion in the messages after), trap-load-5, trap-after-6 (traps on probation),
 * selftest-mismatch-7, trap-broken-8 (traps on probation, then its re-initialisation traps) and
 * trap-finish-9 (its checkpoint traps) rolled back with docs/UPDATE.md's reasons, the previous
 * blob running on from its last good checkpoint with the inputs since given to it again: every
 * event posted is in a message, once (trap-finish-9: at least once, docs/UPDATE.md), no Id sent
 * twice; then trap-after-6's blob again with more inputs in a window than the probation
 * journal holds: an early checkpoint, the trap, nothing lost or sent twice.
 *   test_swap <folder of packages> <host/update/selftest.jsonl> [<build/test-packages>]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "microtally_blobs.h"
#include "mt_agent.h"
#include "mt_os.h"
#include "mt_update.h"
#include "test_storage.h"

/* ---- mt_os.h, single-threaded ---- */

#define QUEUE 64
static mt_agent_event_t queue[QUEUE];
static unsigned q_head, q_len;
static uint32_t ticks;

uint32_t mt_os_ticks(void) { return ticks; }
unsigned mt_os_lock(void) { return 0; }
void mt_os_unlock(unsigned posture) { (void)posture; }
unsigned mt_os_create(void) { return 0; }
unsigned mt_os_start_thread(void) { return 0; } /* the test steps the agent itself */
void mt_os_delete(void) {}
unsigned mt_os_post(const mt_agent_event_t *event) {
  if (q_len == QUEUE) return 1;
  queue[(q_head + q_len++) % QUEUE] = *event;
  return 0;
}
unsigned mt_os_receive(mt_agent_event_t *event, uint32_t wait_ticks) {
  if (q_len == 0) {
    ticks += wait_ticks; /* the wait times out: that much time passes */
    return 1;
  }
  *event = queue[q_head];
  q_head = (q_head + 1) % QUEUE;
  q_len--;
  return 0;
}
void mt_os_signal_stopped(void) {}
void mt_os_wait_stopped(uint32_t wait_ticks) { (void)wait_ticks; }
int mt_os_in_agent_thread(void) { return 1; }

/* ---- what leaves ---- */

static char sent[1 << 20];
static size_t sent_len;
static unsigned messages;

static void on_send(void *context, const uint8_t *bytes, size_t length, unsigned where) {
  (void)context;
  if (sent_len + length + 1 < sizeof sent) {
    memcpy(sent + sent_len, bytes, length);
    sent_len += length;
    if (where == MT_MESSAGE_LAST) sent[sent_len++] = '\n';
    sent[sent_len] = 0;
  }
  if (where == MT_MESSAGE_LAST) messages++;
}

static unsigned count(const char *needle) {
  unsigned n = 0;
  for (const char *p = sent; (p = strstr(p, needle)) != NULL; p++) n++;
  return n;
}

/* Where trap-finish-9's swap began: a failed checkpoint rolls back to the one before it, so the
   Ids the new core sent since may be sent again (docs/UPDATE.md); none from before it. */
static size_t before_trap_finish;

/* 1 when no "Id" sent from `from` on was already sent before `before` (Ids never repeat). */
static int ids_new_since(size_t before, size_t from) {
  char keep = sent[before], needle[120];
  int fresh = 1;
  sent[before] = 0;
  for (const char *p = sent + from; fresh && (p = strstr(p, "\"Id\":\"")) != NULL; p += 6) {
    const char *end = strchr(p + 6, '"');
    if (end == NULL || end - p + 2 > (long)sizeof needle) break;
    snprintf(needle, sizeof needle, "%.*s", (int)(end - p + 1), p);
    if (strstr(sent, needle) != NULL) fresh = 0;
  }
  sent[before] = keep;
  return fresh;
}

/* ---- the update hooks, over mt_update.c's SHA-256 ---- */

static mt_update_sha256_t hash; /* the hooks' context: mt_update_hook_sha256_* */
static unsigned outcomes[4], swapping_calls;
static char last_reason[200];

/* --replay: the swap's bookkeeping in mt_update, as microtally_threadx_update.c keeps it */
static mt_update_t *replay_update;
static const char *h_swapping(void *c) {
  (void)c;
  swapping_calls++;
  if (replay_update != NULL && mt_update_activate(replay_update) != MT_UPDATE_OK)
    return "the swap's state record could not be saved (storage)";
  return NULL;
}
static char order[64]; /* the outcomes in turn, one digit each */
static void h_outcome(void *c, unsigned result, const char *reason) {
  (void)c;
  if (result < 4) outcomes[result]++;
  size_t n = strlen(order);
  if (n + 1 < sizeof order) order[n] = (char)('0' + result), order[n + 1] = '\0';
  snprintf(last_reason, sizeof last_reason, "%s", reason);
  if (replay_update == NULL) return;
  if (result == MT_AGENT_SWAP_CONFIRMED) (void)mt_update_confirm(replay_update);
  if (result == MT_AGENT_SWAP_ROLLED_BACK) (void)mt_update_roll_back(replay_update, reason);
  if (result == MT_AGENT_SWAP_REFUSED) (void)mt_update_discard(replay_update, reason);
}

/* ---- storage for mt_update: RAM (test_storage.c) ---- */

#define SLOT_MAX (64u * 1024u)
static uint8_t slots[2][SLOT_MAX];
static test_storage_t device;
/* A second device's storage, for the named packages' own key (never the running blob's slots). */
static uint8_t slots2[2][SLOT_MAX];
static test_storage_t device2;

static uint8_t *load(const char *path, size_t *length) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "test_swap: cannot open %s\n", path);
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

#define CONFIGURATION "{\"network\":{\"priority\":\"high\"},\"priorityIntervals\":{\"high\":5}}"
#define AGENT_ID "0123abcd-4567-89ef-0123-456789abcdef"

static char update_text[4097], reason[256];
static uint8_t journal[4096];
/* The probation journal: smaller than MT_AGENT_TRIAL_JOURNAL_BYTES, so that a window's inputs
   can fill it (18 connections; a probation window of ticks at 0.1 s fits) */
static uint8_t trial_inputs[1024];
static mt_agent_update_hooks_t hooks = {&hash,
                                        NULL,
                                        0,
                                        mt_update_hook_sha256_begin,
                                        mt_update_hook_sha256_add,
                                        mt_update_hook_sha256_end,
                                        h_swapping,
                                        h_outcome,
                                        1};

static uint16_t next_port = 40000;
/* Posts `n` connections of distinct local ports; returns the first port. */
static uint16_t post(unsigned n) {
  uint16_t first = next_port;
  for (unsigned i = 0; i < n; i++) {
    mt_packet_conn c;
    memset(&c, 0, sizeof c);
    c.local[0] = 10, c.local[3] = 2, c.remote[0] = 192, c.remote[3] = 7;
    c.local_port = next_port++;
    c.remote_port = 443;
    c.bytes = 60;
    c.protocol = MT_PACKET_TCP;
    c.direction = MT_PACKET_OUT;
    c.family = 4;
    CHECK(mt_agent_post_connection(&c) == 0);
  }
  return first;
}

/* Steps until the queue is empty and one more (timed-out) turn passed. */
static void run_queue(void) {
  while (q_len > 0) (void)mt_agent_step(0);
}

/* Steps `ticks_per_turn` at a time until a message more left (at most `turns`). */
static void until_message(uint32_t ticks_per_turn, int turns) {
  unsigned m = messages;
  for (int k = 0; k < turns && messages == m; k++) (void)mt_agent_step(ticks_per_turn);
}

/* Every port of [first, first + n) is in exactly `times` records sent (0: at least one). */
static int sent_times(uint16_t first, unsigned n, unsigned times) {
  for (unsigned i = 0; i < n; i++) {
    char needle[32];
    snprintf(needle, sizeof needle, "\"LocalPort\":%u", (unsigned)(first + i));
    unsigned c = count(needle);
    if (times == 0 ? c == 0 : c != times) return 0;
  }
  return 1;
}
static int all_sent(uint16_t first, unsigned n) { return sent_times(first, n, 1); }

/* 1 when no "Id" of sent[from..] appears twice in it. */
static int ids_unique_from(size_t from) {
  char needle[120];
  for (const char *p = sent + from; (p = strstr(p, "\"Id\":\"")) != NULL; p += 6) {
    const char *end = strchr(p + 6, '"');
    if (end == NULL || end - p + 2 > (long)sizeof needle) return 0;
    snprintf(needle, sizeof needle, "%.*s", (int)(end - p + 1), p);
    if (strstr(p + 1, needle) != NULL) return 0;
  }
  return 1;
}

static unsigned outcomes_total(void) {
  return outcomes[0] + outcomes[1] + outcomes[2] + outcomes[3];
}

/* The blob of trap-after-6.pkg and its self-test digest, kept for the journal test. */
static uint8_t trap_after_blob[SLOT_MAX], trap_after_digest[32];
static uint32_t trap_after_size;

static void pem_point(const char *path, uint8_t point[65]);

/* scripts/make-test-packages.mjs's packages, by name (index.json's outcomes). */
static void named_packages(const char *dir) {
  char path[512];
  size_t n;
  snprintf(path, sizeof path, "%s/test.pub", dir);
  static uint8_t point[65];
  pem_point(path, point);
  static mt_update_t t;
  CHECK(mt_update_open(&t, test_storage_init(&device2, slots2[0], SLOT_MAX), point, "rtos", 5,
                       NULL) == MT_UPDATE_OK);
  hooks.trial_windows = 2; /* docs/UPDATE.md's probation */
  static const struct {
    const char *file, *reason;
  } refused[] = {{"tampered-blob-2.pkg", "blob digest mismatch"},
                 {"tampered-manifest-2.pkg", "bad signature"},
                 {"bad-signature-2.pkg", "bad signature"},
                 {"other-key-3.pkg", "wrong key"},
                 {"truncated-3.pkg", "truncated"},
                 {"linux-4.pkg", "wrong profile"}};
  for (unsigned i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, refused[i].file);
    uint8_t *p = load(path, &n);
    int rc = mt_update_begin(&t);
    if (rc == MT_UPDATE_OK) rc = mt_update_write(&t, 0, p, (uint32_t)n);
    if (rc == MT_UPDATE_OK) rc = mt_update_commit(&t);
    CHECK(rc == MT_UPDATE_REFUSED &&
          strncmp(mt_update_reason(&t), refused[i].reason, strlen(refused[i].reason)) == 0);
    if (rc != MT_UPDATE_REFUSED)
      fprintf(stderr, "  %s: %s\n", refused[i].file, mt_update_reason(&t));
    free(p);
  }
  static const struct {
    const char *file;
    unsigned outcome;
    const char *reason;
  } swaps[] = {
      {"changed-2.pkg", MT_AGENT_SWAP_CONFIRMED, ""},
      {"changed-1.pkg", 99, "sequence 1 is not above the installed 2"},
      {"trap-load-5.pkg", MT_AGENT_SWAP_ROLLED_BACK, "the new core does not load"},
      {"trap-after-6.pkg", MT_AGENT_SWAP_ROLLED_BACK,
       "the new core trapped within 2 windows of the swap"},
      {"selftest-mismatch-7.pkg", MT_AGENT_SWAP_ROLLED_BACK,
       "self-test mismatch: the blob's self-test output is not the digest in the manifest"},
      /* traps, then its re-initialisation traps (MT_ERR_ENGINE): rolled back all the same */
      {"trap-broken-8.pkg", MT_AGENT_SWAP_ROLLED_BACK,
       "the new core trapped within 2 windows of the swap"},
      /* its checkpoint's mt_finish traps: the last good checkpoint is the one rolled back to */
      {"trap-finish-9.pkg", MT_AGENT_SWAP_ROLLED_BACK,
       "the new core trapped within 2 windows of the swap"}};
  for (unsigned i = 0; i < sizeof swaps / sizeof swaps[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, swaps[i].file);
    uint8_t *p = load(path, &n);
    int rc = mt_update_begin(&t);
    if (rc == MT_UPDATE_OK) rc = mt_update_write(&t, 0, p, (uint32_t)n);
    if (rc == MT_UPDATE_OK) rc = mt_update_commit(&t);
    free(p);
    if (swaps[i].outcome == 99) { /* refused at delivery: anti-rollback after changed-2 */
      CHECK(rc == MT_UPDATE_REFUSED &&
            strncmp(mt_update_reason(&t), swaps[i].reason, strlen(swaps[i].reason)) == 0);
      continue;
    }
    CHECK(rc == MT_UPDATE_OK);
    mt_update_image_t staged;
    CHECK(mt_update_staged(&t, &staged) == 1);
    static mt_agent_swap_t request;
    memset(&request, 0, sizeof request);
    request.engine.blob = slots2[staged.slot];
    request.engine.blob_size = staged.blob_size;
    request.engine.memory_limit = microtally_rtos_memory_end + 1024u; /* room for a grown core */
    memcpy(request.self_test_sha256, staged.self_test_sha256, 32);
    request.abi_version = t.manifest.abi_version;
    memcpy(request.profile, t.manifest.profile, sizeof request.profile);
    snprintf(request.to_version, sizeof request.to_version, "%s", staged.agent_version);
    request.to_sequence = staged.sequence;
    if (strcmp(swaps[i].file, "trap-after-6.pkg") == 0) {
      trap_after_size = staged.blob_size;
      memcpy(trap_after_blob, request.engine.blob, staged.blob_size);
      memcpy(trap_after_digest, staged.self_test_sha256, 32);
    }
    unsigned before[4];
    memcpy(before, outcomes, sizeof before);
    char needle[200];
    snprintf(needle, sizeof needle, "\"ToSequence\":%u,\"Result\":\"%s\"",
             (unsigned)staged.sequence,
             swaps[i].outcome == MT_AGENT_SWAP_CONFIRMED ? "applied" : "rolledBack");
    unsigned records_before = count(needle);
    size_t at_swap = sent_len;
    uint16_t first = next_port;
    if (strcmp(swaps[i].file, "trap-finish-9.pkg") == 0) before_trap_finish = at_swap;
    CHECK(mt_agent_swap(&request) == 0);
    CHECK(mt_update_activate(&t) == MT_UPDATE_OK);
    run_queue();
    /* the swap at the first boundary, then probation: windows with events; trap-after traps on
       its 30th input */
    for (int w = 0;
         w < 5 && (outcomes[MT_AGENT_SWAP_CONFIRMED] + outcomes[MT_AGENT_SWAP_ROLLED_BACK] ==
                   before[MT_AGENT_SWAP_CONFIRMED] + before[MT_AGENT_SWAP_ROLLED_BACK]);
         w++) {
      (void)post(2);
      run_queue();
      /* 0.1 s per turn: trap-after traps on its 30th accepted input (ticks count) */
      until_message(10, 200);
    }
    CHECK(outcomes[swaps[i].outcome] == before[swaps[i].outcome] + 1);
    CHECK(strcmp(last_reason, swaps[i].reason) == 0);
    if (strcmp(last_reason, swaps[i].reason) != 0)
      fprintf(stderr, "  %s: %s\n", swaps[i].file, last_reason);
    if (swaps[i].outcome == MT_AGENT_SWAP_CONFIRMED) {
      CHECK(mt_update_confirm(&t) == MT_UPDATE_OK);
      /* the changed blob runs: its AgentVersion in what it sends */
      (void)post(1);
      run_queue();
      until_message(100, 40);
      CHECK(count("\"AgentVersion\":\"0.1.0-changed\"") >= 1);
    } else {
      CHECK(mt_update_roll_back(&t, last_reason) == MT_UPDATE_OK);
    }
    (void)post(1);
    run_queue();
    until_message(100, 40);
    CHECK(count(needle) == records_before + 1);
    /* every event posted since the request is in a message once (trap-finish-9: what its
       boundary sent before the checkpoint trapped is sent again by the previous core) */
    int trap_finish = strcmp(swaps[i].file, "trap-finish-9.pkg") == 0;
    CHECK(sent_times(first, (unsigned)(uint16_t)(next_port - first), trap_finish ? 0 : 1));
    if (!sent_times(first, (unsigned)(uint16_t)(next_port - first), trap_finish ? 0 : 1))
      fprintf(stderr, "  %s: events lost or sent twice\n", swaps[i].file);
    /* the blob that runs on does not issue again an Id sent before the swap */
    CHECK(ids_new_since(at_swap, at_swap));
    if (!trap_finish) CHECK(ids_unique_from(at_swap));
    if (!ids_new_since(at_swap, at_swap)) fprintf(stderr, "  %s: Ids repeated\n", swaps[i].file);
  }
}

/* A request waits for the first window boundary after it: events taken meanwhile go to the old
   core, and the swap comes right after the first message that leaves. */
static void test_swap_at_first_boundary(const mt_agent_swap_t *request, uint16_t *before) {
  unsigned m = messages;
  *before = post(2);
  CHECK(mt_agent_swap(request) == 0);
  CHECK(mt_agent_swap(request) == MT_AGENT_PENDING); /* one staged at a time */
  run_queue();
  for (int k = 0; k < 3; k++) (void)mt_agent_step(10); /* time passes, no window ends */
  CHECK(messages == m && outcomes[MT_AGENT_SWAP_APPLIED] == 0 && swapping_calls == 0);
  until_message(100, 20);
  CHECK(messages > m);
  /* carried out in the turn whose input sent that message */
  CHECK(outcomes[MT_AGENT_SWAP_APPLIED] == 1 && outcomes[MT_AGENT_SWAP_ROLLED_BACK] == 0);
  if (outcomes[MT_AGENT_SWAP_ROLLED_BACK]) fprintf(stderr, "  rolled back: %s\n", last_reason);
  CHECK(swapping_calls == 1);
  CHECK(all_sent(*before, 2)); /* sent by the old core, before the swap */
}

/* A swap requested during another's probation is staged: it waits for the end of that
   probation (host/update/swap.ts: never during another swap's probation). */
static void test_swap_staged_during_probation(const mt_agent_swap_t *request) {
  CHECK(mt_agent_swap(request) == 0);
  (void)post(1);
  run_queue();
  until_message(100, 20); /* the first swap's boundary: its probation (1 window) is over */
  for (int k = 0; k < 3 && outcomes[MT_AGENT_SWAP_APPLIED] < 3; k++) {
    (void)post(1); /* a window without events sends nothing: no boundary */
    run_queue();
    until_message(100, 20);
  }
  CHECK(strncmp(order, "010", 3) == 0); /* applied, confirmed, then the second applied */
  (void)post(1);
  run_queue();
  until_message(100, 20);
  CHECK(strcmp(order, "0101") == 0);
  if (strcmp(order, "0101") != 0) fprintf(stderr, "  outcomes in turn: %s\n", order);
}

/* Requests a swap and steps through the first window boundary after it. */
static void swap_through_boundary(const mt_agent_swap_t *request) {
  unsigned before = outcomes_total();
  CHECK(mt_agent_swap(request) == 0);
  (void)post(1);
  run_queue();
  for (int k = 0; k < 40 && outcomes_total() == before; k++) (void)mt_agent_step(100);
  CHECK(outcomes_total() == before + 1);
}

/* The blob checked against its manifest as V8 checks it, with V8's reasons, in its order. */
static void test_manifest_abi_and_profile(const mt_agent_swap_t *request) {
  mt_agent_swap_t bad = *request;
  bad.abi_version = 4;
  swap_through_boundary(&bad);
  CHECK(strcmp(last_reason, "wrong ABI: the blob reports 5, the manifest says 4") == 0);
  bad = *request;
  memcpy(bad.profile, "linux", 6);
  swap_through_boundary(&bad);
  CHECK(strcmp(last_reason, "wrong profile: the blob is a rtos blob, the manifest says linux") ==
        0);
  /* ABI first, as V8: a blob that fails both is refused for its ABI */
  bad.abi_version = 7;
  swap_through_boundary(&bad);
  CHECK(strcmp(last_reason, "wrong ABI: the blob reports 5, the manifest says 7") == 0);
  if (strncmp(last_reason, "wrong ABI", 9) != 0) fprintf(stderr, "  %s\n", last_reason);
}

/* More inputs in a probation window than the journal holds: a checkpoint first (counted, not a
   trial boundary), then trap-after-6's trap: rolled back from that checkpoint, the inputs since
   given to the previous core: every event in a message once. */
static void test_journal_full_then_trap(void) {
  static const char cache[] = "{\"network\":{\"cacheSize\":64}}";
  CHECK(mt_agent_configure(cache, sizeof cache - 1) == 0);
  run_queue();
  mt_agent_stats_t s0;
  mt_agent_stats_get(&s0);
  static mt_agent_swap_t request;
  memset(&request, 0, sizeof request);
  request.engine.blob = trap_after_blob;
  request.engine.blob_size = trap_after_size;
  request.engine.memory_limit = microtally_rtos_memory_end + 1024u;
  memcpy(request.self_test_sha256, trap_after_digest, 32);
  request.abi_version = 5;
  memcpy(request.profile, "rtos", 5);
  snprintf(request.to_version, sizeof request.to_version, "trap-after");
  request.to_sequence = 11;
  unsigned rolled = outcomes[MT_AGENT_SWAP_ROLLED_BACK], applied = outcomes[MT_AGENT_SWAP_APPLIED];
  CHECK(mt_agent_swap(&request) == 0);
  (void)post(1);
  run_queue();
  until_message(100, 40);
  CHECK(outcomes[MT_AGENT_SWAP_APPLIED] == applied + 1);
  size_t at_swap = sent_len;
  /* 20 connections at once: the journal (1024 bytes, 56 each) is full at the 19th */
  uint16_t first = post(20);
  run_queue();
  mt_agent_stats_t s1;
  mt_agent_stats_get(&s1);
  CHECK(s1.trial_checkpoints == s0.trial_checkpoints + 1);
  CHECK(outcomes[MT_AGENT_SWAP_ROLLED_BACK] == rolled); /* 21 inputs: no trap yet */
  for (int k = 0; k < 40 && outcomes[MT_AGENT_SWAP_ROLLED_BACK] == rolled; k++)
    (void)mt_agent_step(10); /* ticks: its 30th input traps */
  CHECK(outcomes[MT_AGENT_SWAP_ROLLED_BACK] == rolled + 1);
  CHECK(strcmp(last_reason, "the new core trapped within 2 windows of the swap") == 0);
  until_message(100, 40);
  mt_agent_stats_get(&s1);
  CHECK(s1.trial_refed > s0.trial_refed);
  CHECK(all_sent(first, 20)); /* none lost, none twice */
  if (!all_sent(first, 20)) fprintf(stderr, "  journal full: events lost or sent twice\n");
  CHECK(ids_new_since(at_swap, at_swap) && ids_unique_from(at_swap));
  CHECK(count("\"ToVersion\":\"trap-after\",\"FromSequence\":0,\"ToSequence\":11,\"Result\":"
              "\"rolledBack\"") == 1);
}

/* A swap staged when the agent stops: carried out after the last mt_finish, and the new core
   finishes again, so its applied record is sent (host/update/swap.ts's finish()). */
static void test_swap_at_stop(const mt_agent_swap_t *request) {
  unsigned applied = outcomes[MT_AGENT_SWAP_APPLIED], refused = outcomes[MT_AGENT_SWAP_REFUSED];
  unsigned confirmed = outcomes[MT_AGENT_SWAP_CONFIRMED];
  uint16_t first = post(1);
  run_queue();
  CHECK(mt_agent_swap(request) == 0);
  size_t at_stop = sent_len;
  (void)mt_agent_stop(0);
  (void)mt_agent_step(0);
  CHECK(outcomes[MT_AGENT_SWAP_APPLIED] == applied + 1 &&
        outcomes[MT_AGENT_SWAP_REFUSED] == refused);
  /* a clean stop on trial keeps the new core (swap.ts's endProbation): confirmed, not left on
     trial for the next start to roll back */
  CHECK(outcomes[MT_AGENT_SWAP_CONFIRMED] == confirmed + 1);
  CHECK(all_sent(first, 1));
  CHECK(strstr(sent + at_stop, "\"ToSequence\":5,\"Result\":\"applied\"") != NULL);
}

/* The 65-byte point of a PEM public key (its DER's last 65 bytes). */
static void pem_point(const char *path, uint8_t point[65]) {
  size_t n;
  uint8_t *pem = load(path, &n);
  static uint8_t der[256];
  int32_t der_len = 0;
  char b64[400];
  size_t k = 0;
  for (const char *p = strchr((char *)pem, '\n') + 1; *p && *p != '-' && k + 1 < sizeof b64; p++)
    if (*p != '\n') b64[k++] = *p;
  b64[k] = 0;
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < k && b64[i] != '='; i++) {
    acc = acc << 6 | (uint32_t)(strchr(alphabet, b64[i]) - alphabet);
    bits += 6;
    if (bits >= 8) der[der_len++] = (uint8_t)(acc >> (bits -= 8));
  }
  free(pem);
  memcpy(point, der + der_len - 65, 65);
}

static uint64_t replay_clock(void) { return 0; } /* lines carry their time: the agent's stays 0 */

/* Delivers a package as `replay --update-at` does (docs/UPDATE.md step 1): staged and handed to
   the agent, or refused at once with an AgentUpdate record. */
static void replay_deliver(mt_update_t *t, const char *file, const char *built_in) {
  size_t n;
  uint8_t *p = load(file, &n);
  const mt_update_image_t *running = &t->state.running;
  mt_agent_swap_t facts;
  memset(&facts, 0, sizeof facts);
  snprintf(facts.from_version, sizeof facts.from_version, "%s",
           running->slot == MT_UPDATE_BUILT_IN ? built_in : running->agent_version);
  facts.from_sequence = running->sequence;
  int rc = mt_update_begin(t);
  if (rc == MT_UPDATE_OK) rc = mt_update_write(t, 0, p, (uint32_t)n);
  if (rc == MT_UPDATE_OK) rc = mt_update_commit(t);
  free(p);
  if (t->manifest_read) {
    snprintf(facts.to_version, sizeof facts.to_version, "%s", t->manifest.agent_version);
    facts.to_sequence = t->manifest.sequence;
  }
  if (rc != MT_UPDATE_OK) {
    (void)mt_agent_report_rejected(&facts, mt_update_reason(t));
    return;
  }
  mt_update_image_t staged;
  (void)mt_update_staged(t, &staged);
  facts.engine.blob = slots2[staged.slot];
  facts.engine.blob_size = staged.blob_size;
  facts.engine.memory_limit = microtally_rtos_memory_end + 1024u; /* room for a grown core */
  memcpy(facts.self_test_sha256, staged.self_test_sha256, 32);
  facts.abi_version = t->manifest.abi_version;
  memcpy(facts.profile, t->manifest.profile, sizeof facts.profile);
  if (mt_agent_swap(&facts) != MT_AGENT_OK) fprintf(stderr, "test_swap --replay: not staged\n");
}

/* test_swap --replay <trace> <pub.pem> <selftest.jsonl> <built-in version> [<N>:<package>...]:
   the trace's lines through mt_agent with each package delivered before line N (past the last:
   at the end), printing the messages as `microtally replay --update-at` does on V8. */
static int replay(int argc, char **argv) {
  static uint8_t point[65];
  static mt_update_t t;
  size_t trace_len, self_len;
  char *trace = (char *)load(argv[2], &trace_len);
  trace[trace_len] = '\0';
  pem_point(argv[3], point);
  hooks.self_test = (const char *)load(argv[4], &self_len);
  hooks.self_test_length = self_len;
  hooks.trial_windows = 2;
  if (mt_update_open(&t, test_storage_init(&device2, slots2[0], SLOT_MAX), point, "rtos", 5,
                     NULL) != MT_UPDATE_OK)
    return 2;
  replay_update = &t;
  mt_agent_config_t config;
  memset(&config, 0, sizeof config);
  config.engine.blob = microtally_rtos_wasm;
  config.engine.blob_size = microtally_rtos_wasm_len;
  config.engine.memory_limit = microtally_rtos_memory_end;
  config.queue_events = QUEUE;
  config.ticks_per_second = 100;
  config.clock_ms = replay_clock;
  config.send = on_send;
  config.update = update_text;
  config.update_bytes = sizeof update_text - 1;
  config.journal = journal;
  config.journal_bytes = sizeof journal;
  config.reason = reason;
  config.reason_bytes = sizeof reason;
  config.update_hooks = &hooks;
  static uint8_t device_journal[MT_AGENT_TRIAL_JOURNAL_BYTES]; /* the device's, as V8's replay */
  config.trial_inputs = device_journal;
  config.trial_inputs_bytes = sizeof device_journal;
  if (mt_agent_start(&config) != 0) return 2;
  unsigned line_no = 0;
  int first_update = 6;
  for (char *line = trace; *line != '\0';) {
    char *nl = strchr(line, '\n');
    size_t n = nl != NULL ? (size_t)(nl - line) : strlen(line);
    line_no++;
    for (int i = first_update; i < argc; i++)
      if (strtoul(argv[i], NULL, 10) == line_no)
        replay_deliver(&t, strchr(argv[i], ':') + 1, argv[5]);
    if (mt_agent_post_line(line, n) != 0) return 2;
    while (q_len > 0) (void)mt_agent_step(0); /* never a turn without an input: no tick */
    line = nl != NULL ? nl + 1 : line + n;
  }
  for (int i = first_update; i < argc; i++)
    if (strtoul(argv[i], NULL, 10) > line_no) replay_deliver(&t, strchr(argv[i], ':') + 1, argv[5]);
  (void)mt_agent_stop(0);
  (void)mt_agent_step(0);
  fwrite(sent, 1, sent_len, stdout);
  mt_agent_stats_t st;
  mt_agent_stats_get(&st);
  fprintf(stderr, "trial_checkpoints %u trial_refed %u faults %u\n", (unsigned)st.trial_checkpoints,
          (unsigned)st.trial_refed, (unsigned)st.faults);
  free(trace);
  free((void *)hooks.self_test);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 6 && strcmp(argv[1], "--replay") == 0) return replay(argc, argv);
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: test_swap <folder of packages> <selftest.jsonl>\n");
    return 2;
  }
  char path[512];
  size_t key_len, pkg_len, self_len;
  snprintf(path, sizeof path, "%s/key.raw", argv[1]);
  uint8_t *key = load(path, &key_len);
  snprintf(path, sizeof path, "%s/good.pkg", argv[1]);
  uint8_t *pkg = load(path, &pkg_len);
  hooks.self_test = (const char *)load(argv[2], &self_len);
  hooks.self_test_length = self_len;

  mt_agent_config_t config;
  memset(&config, 0, sizeof config);
  config.engine.blob = microtally_rtos_wasm;
  config.engine.blob_size = microtally_rtos_wasm_len;
  config.engine.memory_limit = microtally_rtos_memory_end;
  config.queue_events = QUEUE;
  config.ticks_per_second = 100;
  config.epoch_ms_at_start = 1700000000000ull;
  config.send = on_send;
  config.agent_id = AGENT_ID;
  config.configuration = CONFIGURATION;
  config.update = update_text;
  config.update_bytes = sizeof update_text - 1;
  config.journal = journal;
  config.journal_bytes = sizeof journal;
  config.reason = reason;
  config.reason_bytes = sizeof reason;
  config.update_hooks = &hooks;
  config.trial_inputs = trial_inputs;
  config.trial_inputs_bytes = sizeof trial_inputs;
  static mt_agent_swap_t none; /* no blob */
  CHECK(mt_agent_swap(&none) == MT_AGENT_NULL);
  {
    /* a probation journal whose entries could outgrow their 2-byte length: refused at start */
    mt_agent_config_t too_big = config;
    too_big.trial_inputs_bytes = MT_AGENT_TRIAL_ENTRY_HEADER + 65536u;
    CHECK(mt_agent_start(&too_big) == MT_AGENT_BAD_CONFIG);
    too_big.trial_inputs_bytes = 1; /* not even one connection's entry */
    CHECK(mt_agent_start(&too_big) == MT_AGENT_BAD_CONFIG);
  }
  CHECK(mt_agent_start(&config) == 0);
  size_t one_core = mt_heap_peak();
  if (one_core == 0) { /* the ahead-of-time engine: its blob is compiled in */
    static mt_agent_swap_t request;
    request.engine = config.engine;
    uint16_t first = post(2);
    CHECK(mt_agent_swap(&request) == 0);
    run_queue();
    for (int i = 0; i < 20 && outcomes_total() == 0; i++) (void)mt_agent_step(100);
    CHECK(outcomes[MT_AGENT_SWAP_REFUSED] == 1 && outcomes[MT_AGENT_SWAP_APPLIED] == 0 &&
          swapping_calls == 0);
    CHECK(strncmp(last_reason, "this image runs its core ahead of time", 38) == 0);
    until_message(100, 20);
    CHECK(all_sent(first, 2)); /* the running core was never stopped */
    CHECK(count("\"Result\":\"rejected\",\"Reason\":\"this image runs its core ahead of time") ==
          1);
    free(key);
    free(pkg);
    free((void *)hooks.self_test);
    return check_report("core swap refused ahead of time (mt_agent.c, aot)");
  }

  /* a configuration update accepted before the swap must hold after it */
  static const char cache1[] = "{\"network\":{\"cacheSize\":2}}";
  CHECK(mt_agent_configure(cache1, sizeof cache1 - 1) == 0);
  run_queue();

  /* stage the package */
  static mt_update_t u;
  CHECK(mt_update_open(&u, test_storage_init(&device, slots[0], SLOT_MAX), key, "rtos", 5, NULL) ==
        MT_UPDATE_OK);
  CHECK(mt_update_begin(&u) == MT_UPDATE_OK);
  CHECK(mt_update_write(&u, 0, pkg, (uint32_t)pkg_len) == MT_UPDATE_OK);
  CHECK(mt_update_commit(&u) == MT_UPDATE_OK);
  mt_update_image_t staged;
  CHECK(mt_update_staged(&u, &staged) == 1);

  mt_agent_swap_t request;
  memset(&request, 0, sizeof request);
  snprintf(request.from_version, sizeof request.from_version, "built-in");
  snprintf(request.to_version, sizeof request.to_version, "%s", staged.agent_version);
  request.to_sequence = staged.sequence;
  request.engine.blob = slots[staged.slot];
  request.engine.blob_size = staged.blob_size;
  request.engine.memory_limit = microtally_rtos_memory_end;
  memcpy(request.self_test_sha256, staged.self_test_sha256, 32);
  request.abi_version = u.manifest.abi_version;
  memcpy(request.profile, u.manifest.profile, sizeof request.profile);
  CHECK(request.abi_version == 5 && strcmp(request.profile, "rtos") == 0);
  uint16_t before;
  test_swap_at_first_boundary(&request, &before);
  CHECK(mt_heap_peak() == one_core); /* never both blobs at once */

  /* the new core runs with the agent id and the configuration: a window's message ends the trial */
  unsigned sent_before = messages;
  uint16_t after = post(3);
  run_queue();
  until_message(100, 20);
  CHECK(messages > sent_before);
  CHECK(outcomes[MT_AGENT_SWAP_CONFIRMED] == 1);
  CHECK(strstr(sent + 0, "\"AgentId\":\"" AGENT_ID "\"") != NULL);
  CHECK(count("\"AgentId\":\"00000000-0000-4000-8000-000000000012\"") ==
        0);                       /* the self-test's stay inside */
  CHECK(all_sent(after, 2));      /* cacheSize 2 still in force after the swap: */
  CHECK(!all_sent(after + 2, 1)); /* the third flow is dropped and counted */

  /* staged during a probation: waits for its end (the new core is confirmed first) */
  order[0] = '\0';
  swap_through_boundary(&request);
  CHECK(outcomes[MT_AGENT_SWAP_APPLIED] == 2);
  test_swap_staged_during_probation(&request);

  /* a self-test mismatch rolls back; the running blob keeps working */
  request.self_test_sha256[0] ^= 1;
  swap_through_boundary(&request);
  CHECK(outcomes[MT_AGENT_SWAP_ROLLED_BACK] == 1);
  CHECK(strncmp(last_reason, "self-test mismatch", 18) == 0);
  request.self_test_sha256[0] ^= 1;

  /* a blob that does not load, and one the heap is too small for */
  static const uint8_t garbage[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x99};
  mt_agent_swap_t bad = request;
  bad.engine.blob = garbage;
  bad.engine.blob_size = sizeof garbage;
  swap_through_boundary(&bad);
  CHECK(outcomes[MT_AGENT_SWAP_ROLLED_BACK] == 2 &&
        strcmp(last_reason, "the new core does not load") == 0);
  bad = request;
  bad.engine.memory_limit = microtally_rtos_memory_end - 16;
  swap_through_boundary(&bad);
  CHECK(outcomes[MT_AGENT_SWAP_ROLLED_BACK] == 3 &&
        strcmp(last_reason, "the new core does not load") == 0);
  test_manifest_abi_and_profile(&request);
  CHECK(outcomes[MT_AGENT_SWAP_ROLLED_BACK] == 6);
  CHECK(mt_heap_peak() == one_core);

  /* still running, same configuration: events go out */
  uint16_t last = post(2);
  run_queue();
  until_message(100, 20);
  CHECK(all_sent(last, 2));
  unsigned trap_faults = 0;
  if (argc == 4) {
    named_packages(argv[3]);
    test_journal_full_then_trap();
    /* trap-after-6's, trap-broken-8's and trap-finish-9's traps, and trap-after's again */
    trap_faults = 4;
  }
  test_swap_at_stop(&request);
  mt_agent_stats_t s;
  mt_agent_stats_get(&s);
  CHECK(s.faults == trap_faults && s.dropped == 0);
  if (s.faults != trap_faults) fprintf(stderr, "  faults %u\n", (unsigned)s.faults);
  CHECK(outcomes[MT_AGENT_SWAP_APPLIED] == 4 + 5 * (argc == 4) &&
        outcomes[MT_AGENT_SWAP_REFUSED] == 0);
  /* every attempt is an AgentUpdate record in a message */
  char applied[160];
  snprintf(
      applied, sizeof applied,
      "{\"FromVersion\":\"built-in\",\"ToVersion\":\"%s\",\"FromSequence\":0,\"ToSequence\":5,\"Result\":\"applied\"}",
      staged.agent_version);
  CHECK(count(applied) == 4);
  CHECK(
      count(
          "\"Result\":\"rolledBack\",\"Reason\":\"self-test mismatch: the blob's self-test output is not the digest in the manifest\"") ==
      1u + (argc == 4));
  CHECK(count("\"Result\":\"rolledBack\",\"Reason\":\"the new core does not load\"") ==
        2u + (argc == 4));
  CHECK(
      count(
          "\"Result\":\"rolledBack\",\"Reason\":\"wrong ABI: the blob reports 5, the manifest says 4\"") ==
      1);
  CHECK(s.updates_unreported == 0);
  if (s.updates_unreported)
    fprintf(stderr, "  updates_unreported %u\n", (unsigned)s.updates_unreported);
  /* the new core continued the run: no event Id was sent twice (the carry-over record), up to
     trap-finish-9's swap (after it, ids_new_since above) */
  unsigned ids = 0, repeated = 0;
  if (before_trap_finish > 0) sent[before_trap_finish] = 0;
  for (const char *p = sent; (p = strstr(p, "\"Id\":\"")) != NULL; p += 6) {
    char id[64];
    size_t n = strcspn(p + 6, "\"");
    snprintf(id, sizeof id, "\"Id\":\"%.*s\"", (int)(n < 40 ? n : 40), p + 6);
    ids++;
    if (count(id) != 1) repeated++;
  }
  CHECK(ids >= 10 && repeated == 0);
  free(key);
  free(pkg);
  free((void *)hooks.self_test);
  return check_report("core swap in the agent (mt_agent.c, wasm3)");
}
