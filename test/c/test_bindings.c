/*
 * Tests of the C API (bindings/microtally.h) on the real blobs and on a stand-in blob that
 * traps on demand (test/c/fixtures/standin_blob.ts). Ends with "N passed, M failed".
 *
 * Built twice by scripts/test-c.sh: plain, with malloc/calloc/realloc/free interposed to prove
 * that nothing allocates after mt_init; and under ASan + UBSan (MT_TEST_SANITIZED: the
 * sanitizer owns malloc, so the interposition is left out).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microtally.h"
#include "microtally_blobs.h"

extern const uint8_t standin_wasm[];
extern const size_t standin_wasm_len;
extern const uint32_t standin_memory_end;

/* ---- a tiny runner ---------------------------------------------------------------------- */

static int checks_failed;
static int tests_passed, tests_failed;

#define CHECK(cond)                                                       \
  do {                                                                    \
    if (!(cond)) {                                                        \
      checks_failed++;                                                    \
      printf("    %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                     \
  } while (0)

#define CHECK_ST(expr, want)                                                    \
  do {                                                                          \
    mt_status_t got_ = (expr);                                                  \
    if (got_ != (want)) {                                                       \
      checks_failed++;                                                          \
      printf("    %s:%d: %s gave %s, expected %s\n", __FILE__, __LINE__, #expr, \
             mt_status_name(got_), mt_status_name(want));                       \
    }                                                                           \
  } while (0)

static void run(const char *name, void (*fn)(void)) {
  int before = checks_failed;
  fn();
  if (checks_failed == before) {
    tests_passed++;
    printf("ok   %s\n", name);
  } else {
    tests_failed++;
    printf("FAIL %s\n", name);
  }
}

/* ---- malloc interposition (glibc) -------------------------------------------------------- */

static long allocations; /* malloc-family calls while watching */
static int watching;

#ifndef MT_TEST_SANITIZED
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

void *malloc(size_t n) {
  allocations += watching;
  return __libc_malloc(n);
}
void *calloc(size_t n, size_t m) {
  allocations += watching;
  return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n) {
  allocations += watching;
  return __libc_realloc(p, n);
}
void free(void *p) {
  allocations += watching && p != NULL;
  __libc_free(p);
}
#endif

/* ---- fixtures ------------------------------------------------------------------------------ */

static mt_core_t rtos; /* the real rtos core, reset between tests */
static mt_core_t linux_core;
static int rtos_ready, linux_ready;

static mt_status_t init_real(mt_core_t *core, const uint8_t *blob, size_t size, uint32_t end) {
  mt_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.blob = blob;
  cfg.blob_size = size;
  cfg.memory_limit = end;
  return mt_init(core, &cfg);
}

static mt_core_t *fresh_rtos(void) {
  if (!rtos_ready) {
    CHECK_ST(init_real(&rtos, microtally_rtos_wasm, microtally_rtos_wasm_len,
                       microtally_rtos_memory_end),
             MT_OK);
    rtos_ready = 1;
  } else {
    CHECK_ST(mt_reset(&rtos), MT_OK);
  }
  return &rtos;
}

static mt_core_t *fresh_linux(void) {
  if (!linux_ready) {
    CHECK_ST(init_real(&linux_core, microtally_linux_wasm, microtally_linux_wasm_len,
                       microtally_linux_memory_end),
             MT_OK);
    linux_ready = 1;
  } else {
    CHECK_ST(mt_reset(&linux_core), MT_OK);
  }
  return &linux_core;
}

static mt_status_t line(mt_core_t *core, const char *text) {
  return mt_ingest_line(core, text, strlen(text));
}

/* All pending output, messages separated by '\n' (as replay prints them). */
static char drained[256 * 1024];
static size_t drained_len;

static size_t drain(mt_core_t *core) {
  size_t messages = 0;
  drained_len = 0;
  for (;;) {
    const uint8_t *data;
    size_t n;
    bool ends;
    mt_status_t st = mt_next_chunk(core, &data, &n, &ends);
    if (st != MT_OK) {
      CHECK_ST(st, MT_NO_MESSAGE);
      break;
    }
    CHECK(n > 0 && drained_len + n + 1 < sizeof drained);
    if (drained_len + n + 1 >= sizeof drained) {
      break;
    }
    memcpy(drained + drained_len, data, n);
    drained_len += n;
    if (ends) {
      drained[drained_len++] = '\n';
      messages++;
    }
  }
  drained[drained_len] = '\0';
  return messages;
}

static int error_is(mt_core_t *core, const char *want) {
  const char *text;
  size_t len;
  if (mt_last_error(core, &text, &len) != MT_OK) {
    return 0;
  }
  if (len != strlen(want) || memcmp(text, want, len) != 0) {
    printf("    reason was \"%.*s\", expected \"%s\"\n", (int)len, text, want);
    return 0;
  }
  return 1;
}

static int stats_has(mt_core_t *core, const char *needle) {
  const char *json;
  size_t len;
  static char copy[4096];
  if (mt_stats(core, &json, &len) != MT_OK || len >= sizeof copy) {
    return 0;
  }
  memcpy(copy, json, len);
  copy[len] = '\0';
  if (strstr(copy, needle) == NULL) {
    printf("    stats %s lack %s\n", copy, needle);
    return 0;
  }
  return 1;
}

#define T0 "1700000000000"
static const char conn_line[] =
    "{\"kind\":\"connection\",\"t\":" T0
    ",\"proto\":\"tcp\",\"dir\":\"out\",\"local\":\"10.0.0.2\","
    "\"lport\":50000,\"remote\":\"52.1.2.3\",\"rport\":443,\"bytesIn\":100,\"bytesOut\":200,"
    "\"app\":\"https\",\"host\":\"example.com\"}";

static mt_connection_t conn_record(void) {
  mt_connection_t c;
  static const uint8_t local[4] = {10, 0, 0, 2}, remote[4] = {52, 1, 2, 3};
  memset(&c, 0, sizeof c);
  c.t_ms = 1700000000000LL;
  c.bytes_in = 100;
  c.bytes_out = 200;
  memcpy(c.local, local, 4);
  memcpy(c.remote, remote, 4);
  c.local_port = 50000;
  c.remote_port = 443;
  c.protocol = MT_PROTO_TCP;
  c.direction = MT_DIR_OUT;
  c.family = MT_FAMILY_IPV4;
  c.app = "https";
  c.app_len = 5;
  c.host = "example.com";
  c.host_len = 11;
  return c;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_null_arguments(void) {
  mt_config_t cfg = {microtally_rtos_wasm, 0, 0};
  mt_core_t *core = fresh_rtos();
  const uint8_t *data;
  const char *text;
  size_t len;
  bool ends;
  uint8_t buf[8];
  mt_counters_t counters;

  CHECK_ST(mt_init(NULL, &cfg), MT_ERR_PARAM);
  CHECK_ST(mt_init(core, NULL), MT_ERR_PARAM);
  CHECK_ST(mt_init(core, &cfg), MT_ERR_PARAM); /* size 0 */
  cfg.blob = NULL;
  cfg.blob_size = 10;
  CHECK_ST(mt_init(core, &cfg), MT_ERR_PARAM);

  CHECK_ST(mt_reset(NULL), MT_ERR_PARAM);
  CHECK_ST(mt_set_agent_id(NULL, "x", 1), MT_ERR_PARAM);
  CHECK_ST(mt_set_agent_id(core, NULL, 36), MT_ERR_PARAM);
  CHECK_ST(mt_ingest_line(NULL, "x", 1), MT_ERR_PARAM);
  CHECK_ST(mt_ingest_line(core, NULL, 5), MT_ERR_PARAM);
  CHECK_ST(mt_ingest_connection(core, NULL), MT_ERR_PARAM);
  CHECK_ST(mt_ingest_process(core, NULL), MT_ERR_PARAM);
  CHECK_ST(mt_ingest_baseline(core, NULL), MT_ERR_PARAM);
  CHECK_ST(mt_ingest_sysinfo(core, NULL), MT_ERR_PARAM);
  CHECK_ST(mt_configure(core, 0, NULL, 3), MT_ERR_PARAM);
  CHECK_ST(mt_tick(NULL, 0), MT_ERR_PARAM);
  CHECK_ST(mt_finish(NULL), MT_ERR_PARAM);
  CHECK_ST(mt_next_chunk(core, NULL, &len, &ends), MT_ERR_PARAM);
  CHECK_ST(mt_next_chunk(core, &data, NULL, &ends), MT_ERR_PARAM);
  CHECK_ST(mt_next_chunk(core, &data, &len, NULL), MT_ERR_PARAM);
  CHECK_ST(mt_next_message(core, NULL, 8, &len), MT_ERR_PARAM);
  CHECK_ST(mt_next_message(core, buf, sizeof buf, NULL), MT_ERR_PARAM);
  CHECK_ST(mt_next_message(NULL, buf, sizeof buf, &len), MT_ERR_PARAM);
  CHECK_ST(mt_last_error(core, NULL, &len), MT_ERR_PARAM);
  CHECK_ST(mt_last_error(core, &text, NULL), MT_ERR_PARAM);
  CHECK_ST(mt_stats(core, NULL, &len), MT_ERR_PARAM);
  CHECK_ST(mt_stats(NULL, &text, &len), MT_ERR_PARAM);
  CHECK_ST(mt_get_counters(NULL, &counters), MT_ERR_PARAM);
  CHECK_ST(mt_get_counters(core, NULL), MT_ERR_PARAM);
  CHECK(mt_input_capacity(NULL) == 0);
  CHECK(mt_heap_used(NULL) == 0);
  /* Nothing above reached the core: it is still at its start. */
  CHECK(stats_has(core, "\"lines\":0,\"accepted\":0,\"skipped\":0"));
}

static void test_calls_before_init(void) {
  mt_core_t core;
  mt_connection_t c = conn_record();
  const uint8_t *data;
  const char *text;
  size_t len;
  bool ends;
  uint8_t buf[8];
  memset(&core, 0, sizeof core);

  CHECK_ST(mt_reset(&core), MT_ERR_STATE);
  CHECK_ST(mt_set_agent_id(&core, "12345678-1234-1234-1234-123456789abc", 36), MT_ERR_STATE);
  CHECK_ST(line(&core, conn_line), MT_ERR_STATE);
  CHECK_ST(mt_ingest_connection(&core, &c), MT_ERR_STATE);
  CHECK_ST(mt_configure(&core, 0, "{}", 2), MT_ERR_STATE);
  CHECK_ST(mt_tick(&core, 0), MT_ERR_STATE);
  CHECK_ST(mt_finish(&core), MT_ERR_STATE);
  CHECK_ST(mt_next_chunk(&core, &data, &len, &ends), MT_ERR_STATE);
  CHECK(data == NULL && len == 0 && !ends);
  CHECK_ST(mt_next_message(&core, buf, sizeof buf, &len), MT_ERR_STATE);
  CHECK_ST(mt_last_error(&core, &text, &len), MT_ERR_STATE);
  CHECK_ST(mt_stats(&core, &text, &len), MT_ERR_STATE);
  CHECK(mt_input_capacity(&core) == 0);
  CHECK(mt_heap_used(&core) == 0);
}

static void test_bad_blobs(void) {
  static const uint8_t garbage[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00,
                                    0x00, 0x00, 0x99, 0x42, 0x17};
  static const uint8_t empty_module[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
  mt_core_t core;
  memset(&core, 0, sizeof core);
  CHECK_ST(init_real(&core, garbage, sizeof garbage, 0), MT_ERR_ENGINE);
  CHECK_ST(mt_tick(&core, 0), MT_ERR_STATE); /* a failed init leaves the core unusable */
  CHECK_ST(init_real(&core, empty_module, sizeof empty_module, 0), MT_ERR_ENGINE); /* no exports */
  /* A limit below what the blob says it touches is refused, not run into traps. */
  CHECK_ST(init_real(&core, microtally_rtos_wasm, microtally_rtos_wasm_len,
                     microtally_rtos_memory_end - 16),
           MT_ERR_ENGINE);
  CHECK_ST(mt_finish(&core), MT_ERR_STATE);
}

static void test_double_init(void) {
  mt_core_t *core = fresh_rtos();
  CHECK_ST(
      init_real(core, microtally_rtos_wasm, microtally_rtos_wasm_len, microtally_rtos_memory_end),
      MT_ERR_STATE);
  CHECK_ST(line(core, conn_line), MT_OK); /* still the same working core */
}

static void test_line_aggregates_and_finishes(void) {
  mt_core_t *core = fresh_rtos();
  CHECK_ST(line(core, conn_line), MT_OK);
  CHECK(drain(core) == 0);
  CHECK_ST(line(core, conn_line), MT_OK);
  CHECK(drain(core) == 0);
  CHECK_ST(mt_finish(core), MT_OK);
  CHECK(drain(core) == 1);
  CHECK(strstr(drained, "\"HitCount\":2") != NULL);
  CHECK(strstr(drained, "\"BytesIn\":200,\"BytesOut\":400") != NULL);
  CHECK(stats_has(core, "\"lines\":2,\"accepted\":2,\"skipped\":0"));
}

static void test_blank_and_skipped_lines(void) {
  mt_core_t *core = fresh_rtos();
  CHECK_ST(mt_ingest_line(core, NULL, 0), MT_BLANK);
  CHECK_ST(line(core, "   "), MT_BLANK);
  CHECK_ST(line(core, "not json"), MT_SKIPPED);
  CHECK(error_is(core, "invalid JSON: expected an object at column 1"));
  CHECK_ST(line(core, "{\"kind\":\"tick\",\"t\":-5}"), MT_SKIPPED);
  CHECK(stats_has(core, "\"lines\":4,\"accepted\":0,\"skipped\":2,\"blank\":2"));
}

static void test_oversized_line(void) {
  static char big[8192];
  mt_core_t *core = fresh_rtos();
  size_t cap = mt_input_capacity(core);
  CHECK(cap > 0 && cap < sizeof big);
  memset(big, 'x', sizeof big);
  CHECK_ST(mt_ingest_line(core, big, cap + 1), MT_SKIPPED);
  CHECK(error_is(core, "line too long (4097 bytes; the limit is 4096)"));
  /* A length far beyond any buffer: the bindings pass only the length, never read it; the
     * core reports it exactly (64 bits), past 2 GiB too. */
  CHECK_ST(mt_ingest_line(core, big, (size_t)-1), MT_SKIPPED);
  CHECK(error_is(core, SIZE_MAX == UINT64_MAX
                           ? "line too long (18446744073709551615 bytes; the limit is 4096)"
                           : "line too long (4294967295 bytes; the limit is 4096)"));
  CHECK(stats_has(core, "\"lines\":2,\"accepted\":0,\"skipped\":2"));
  if (SIZE_MAX > 0x7fffffffu) {
    CHECK_ST(mt_ingest_line(core, big, (size_t)0x80000000u), MT_SKIPPED);
    CHECK(error_is(core, "line too long (2147483648 bytes; the limit is 4096)"));
  }
  if (SIZE_MAX == UINT64_MAX) {
    CHECK_ST(mt_ingest_line(core, big, (size_t)(((uint64_t)1 << 32) + 5u)), MT_SKIPPED);
    CHECK(error_is(core, "line too long (4294967301 bytes; the limit is 4096)"));
    CHECK_ST(mt_configure(core, 0, big, (size_t)(((uint64_t)3 << 31))), MT_SKIPPED);
    CHECK(error_is(core, "line too long (6442450944 bytes; the limit is 4096)"));
  }
  /* A trailing '\r' that is the only byte over the capacity is ignored, as the core ignores it. */
  big[cap] = '\r';
  CHECK_ST(mt_ingest_line(core, big, cap + 1), MT_SKIPPED);
  CHECK(error_is(core, "invalid JSON: expected an object at column 1"));
  CHECK_ST(mt_ingest_line(core, big, cap + 2), MT_SKIPPED);
  CHECK(error_is(core, "line too long (4098 bytes; the limit is 4096)"));
  big[cap] = 'x';
  /* The exact capacity is still a normal line (here: not JSON). */
  CHECK_ST(mt_ingest_line(core, big, cap), MT_SKIPPED);
  CHECK(error_is(core, "invalid JSON: expected an object at column 1"));
}

static void test_typed_connection_equals_line(void) {
  static char by_line[8192];
  mt_core_t *core = fresh_rtos();
  mt_connection_t c = conn_record();
  CHECK_ST(line(core, conn_line), MT_OK);
  CHECK_ST(mt_finish(core), MT_OK);
  CHECK(drain(core) == 1);
  CHECK(drained_len < sizeof by_line);
  memcpy(by_line, drained, drained_len + 1);

  core = fresh_rtos();
  CHECK_ST(mt_ingest_connection(core, &c), MT_OK);
  CHECK_ST(mt_finish(core), MT_OK);
  CHECK(drain(core) == 1);
  CHECK(strcmp(by_line, drained) == 0);
  CHECK(strstr(drained, "\"ApplicationProtocol\":\"https\"") != NULL);
}

static void test_typed_records_checked(void) {
  static char huge[70000];
  mt_core_t *core = fresh_rtos();
  mt_connection_t c = conn_record();
  c.protocol = 7;
  CHECK_ST(mt_ingest_connection(core, &c), MT_SKIPPED);
  CHECK(error_is(core, "field \"proto\": out of range"));
  c = conn_record();
  c.family = 5;
  CHECK_ST(mt_ingest_connection(core, &c), MT_SKIPPED);
  c = conn_record();
  c.host = NULL; /* with a length: a caller bug */
  CHECK_ST(mt_ingest_connection(core, &c), MT_ERR_PARAM);
  c = conn_record();
  c.host = NULL;
  c.host_len = 0; /* absent: fine */
  CHECK_ST(mt_ingest_connection(core, &c), MT_OK);
  CHECK(drain(core) == 0);
  c = conn_record();
  memset(huge, 'h', sizeof huge);
  c.host = huge;
  c.host_len = 5000; /* larger than the rtos input area */
  CHECK_ST(mt_ingest_connection(core, &c), MT_SKIPPED);
  CHECK(error_is(core, "record larger than the input area (4096 bytes)"));
  c.host_len = sizeof huge; /* beyond a u16 length */
  CHECK_ST(mt_ingest_connection(core, &c), MT_SKIPPED);
  CHECK(error_is(core, "record larger than the input area (4096 bytes)"));
  /* Rejected records never reached the core's counters; the one good one did. */
  CHECK(stats_has(core, "\"network\":{\"received\":1"));
}

static void test_typed_process_baseline_sysinfo(void) {
  static const char lines[] =
      "{\"kind\":\"process\",\"t\":" T0
      ",\"pid\":42,\"ppid\":1,\"uid\":0,\"type\":\"exec\",\"cmd\":\"/bin/sh -c true\",\"exe\":\"/bin/sh\",\"user\":\"root\"}\n"
      "{\"kind\":\"baseline\",\"t\":" T0
      ",\"id\":\"CIS-1.1\",\"group\":\"fs\",\"result\":\"fail\",\"severity\":\"critical\",\"description\":\"d\",\"remediation\":\"r\",\"error\":\"e\"}\n"
      "{\"kind\":\"sysinfo\",\"t\":" T0
      ",\"os\":\"Linux\",\"osVersion\":\"12\",\"kernel\":\"6.1\",\"hw\":\"x86_64\",\"memTotal\":1024}\n";
  static char by_line[16384];
  const char *p = lines;
  mt_core_t *core = fresh_linux();
  mt_process_t pr;
  mt_baseline_t b;
  mt_sysinfo_t s;

  while (*p != '\0') {
    const char *end = strchr(p, '\n');
    CHECK_ST(mt_ingest_line(core, p, (size_t)(end - p)), MT_OK);
    CHECK(drain(core) == 0);
    p = end + 1;
  }
  CHECK_ST(mt_finish(core), MT_OK);
  CHECK(drain(core) >= 1);
  CHECK(drained_len < sizeof by_line);
  memcpy(by_line, drained, drained_len + 1);
  CHECK(strstr(by_line, "\"CommandLine\":\"/bin/sh -c true\"") != NULL);
  CHECK(strstr(by_line, "\"CheckId\":\"CIS-1.1\"") != NULL);
  CHECK(strstr(by_line, "\"OSName\":\"Linux\"") != NULL);

  core = fresh_linux();
  memset(&pr, 0, sizeof pr);
  pr.t_ms = 1700000000000LL;
  pr.pid = 42;
  pr.ppid = 1;
  pr.uid = 0;
  pr.type = MT_PROCESS_EXEC;
  pr.cmd = "/bin/sh -c true";
  pr.cmd_len = 15;
  pr.exe = "/bin/sh";
  pr.exe_len = 7;
  pr.user = "root";
  pr.user_len = 4;
  CHECK_ST(mt_ingest_process(core, &pr), MT_OK);
  CHECK(drain(core) == 0);
  memset(&b, 0, sizeof b);
  b.t_ms = 1700000000000LL;
  b.result = MT_RESULT_FAIL;
  b.severity = MT_SEVERITY_CRITICAL;
  b.id = "CIS-1.1";
  b.id_len = 7;
  b.group = "fs";
  b.group_len = 2;
  b.error = "e";
  b.error_len = 1;
  b.description = "d";
  b.description_len = 1;
  b.remediation = "r";
  b.remediation_len = 1;
  CHECK_ST(mt_ingest_baseline(core, &b), MT_OK);
  CHECK(drain(core) == 0);
  memset(&s, 0, sizeof s);
  s.t_ms = 1700000000000LL;
  s.mem_total = 1024;
  s.os = "Linux";
  s.os_len = 5;
  s.os_version = "12";
  s.os_version_len = 2;
  s.kernel = "6.1";
  s.kernel_len = 3;
  s.hw = "x86_64";
  s.hw_len = 6;
  CHECK_ST(mt_ingest_sysinfo(core, &s), MT_OK);
  CHECK(drain(core) == 0);
  CHECK_ST(mt_finish(core), MT_OK);
  drain(core);
  CHECK(strcmp(by_line, drained) == 0);

  /* Enumerations out of range are the core's to reject. */
  pr.type = 2;
  CHECK_ST(mt_ingest_process(core, &pr), MT_SKIPPED);
  CHECK(error_is(core, "field \"type\": out of range"));
  b.severity = 9;
  CHECK_ST(mt_ingest_baseline(core, &b), MT_SKIPPED);
  CHECK(error_is(core, "field \"severity\": out of range"));
  s.mem_total = (uint64_t)1 << 60;
  CHECK_ST(mt_ingest_sysinfo(core, &s), MT_SKIPPED);
  CHECK(error_is(core, "field \"memTotal\": out of range"));
}

static void test_busy_until_drained(void) {
  mt_core_t *core = fresh_rtos();
  mt_connection_t c = conn_record();
  const char *json;
  size_t len;
  const uint8_t *data;
  bool ends;
  CHECK_ST(line(core, conn_line), MT_OK);
  CHECK(drain(core) == 0);
  /* 30 s later the rtos network window (medium priority) has ended: a message is due. */
  CHECK_ST(mt_tick(core, 1700000030000LL), MT_OK);
  CHECK_ST(line(core, conn_line), MT_BUSY);
  CHECK_ST(mt_ingest_connection(core, &c), MT_BUSY);
  CHECK_ST(mt_tick(core, 1700000031000LL), MT_BUSY);
  CHECK_ST(mt_configure(core, 1700000031000LL, "{}", 2), MT_BUSY);
  CHECK_ST(mt_finish(core), MT_BUSY);
  CHECK_ST(mt_set_agent_id(core, "12345678-1234-1234-1234-123456789abc", 36), MT_BUSY);
  CHECK_ST(mt_stats(core, &json, &len), MT_BUSY);
  /* Draining frees it; the BUSY calls changed nothing. */
  CHECK(drain(core) == 1);
  CHECK(strstr(drained, "\"HitCount\":1") != NULL);
  CHECK_ST(mt_next_chunk(core, &data, &len, &ends), MT_NO_MESSAGE);
  CHECK(stats_has(core, "\"lines\":1,\"accepted\":2"));
  CHECK_ST(line(core, conn_line), MT_SKIPPED); /* its time is now in the past */
  CHECK_ST(mt_tick(core, 1700000031000LL), MT_OK);
}

static void test_next_message_buffers(void) {
  static char line_buf[4096];
  static uint8_t msg[64 * 1024];
  mt_core_t *core = fresh_rtos();
  int i;
  size_t len = 1, first_len = 0;
  uint8_t tiny[100];
  mt_counters_t before, after;
  /* Enough distinct connections for a message larger than the 1536-byte output area. */
  for (i = 0; i < 40; i++) {
    snprintf(line_buf, sizeof line_buf,
             "{\"kind\":\"connection\",\"t\":" T0
             ",\"proto\":\"udp\",\"dir\":\"in\",\"local\":\"10.0.0.2\","
             "\"lport\":%d,\"remote\":\"10.9.9.9\",\"rport\":53,\"bytesIn\":1,\"bytesOut\":2}",
             1000 + i);
    CHECK_ST(line(core, line_buf), MT_OK);
    CHECK(drain(core) == 0);
  }
  CHECK_ST(mt_finish(core), MT_OK);
  CHECK_ST(mt_get_counters(core, &before), MT_OK);
  /* Too small: discarded and counted, then the drain goes on. */
  CHECK_ST(mt_next_message(core, tiny, sizeof tiny, &len), MT_ERR_BUFFER);
  first_len = len;
  CHECK(first_len > 1536); /* it spanned chunks */
  CHECK_ST(mt_get_counters(core, &after), MT_OK);
  CHECK(after.discarded_messages == before.discarded_messages + 1);
  for (;;) {
    mt_status_t st = mt_next_message(core, msg, sizeof msg, &len);
    if (st == MT_NO_MESSAGE) {
      CHECK(len == 0);
      break;
    }
    CHECK_ST(st, MT_OK);
    CHECK(len > 0 && msg[0] == '{' && msg[len - 1] == '}');
    if (st != MT_OK) {
      break;
    }
  }

  /* The same run taken whole into a big buffer equals the chunks joined. */
  core = fresh_rtos();
  for (i = 0; i < 40; i++) {
    snprintf(line_buf, sizeof line_buf,
             "{\"kind\":\"connection\",\"t\":" T0
             ",\"proto\":\"udp\",\"dir\":\"in\",\"local\":\"10.0.0.2\","
             "\"lport\":%d,\"remote\":\"10.9.9.9\",\"rport\":53,\"bytesIn\":1,\"bytesOut\":2}",
             1000 + i);
    CHECK_ST(line(core, line_buf), MT_OK);
    CHECK(drain(core) == 0);
  }
  CHECK_ST(mt_finish(core), MT_OK);
  CHECK_ST(mt_next_message(core, msg, sizeof msg, &len), MT_OK);
  CHECK(len == first_len);
  core = fresh_rtos();
  for (i = 0; i < 40; i++) {
    snprintf(line_buf, sizeof line_buf,
             "{\"kind\":\"connection\",\"t\":" T0
             ",\"proto\":\"udp\",\"dir\":\"in\",\"local\":\"10.0.0.2\","
             "\"lport\":%d,\"remote\":\"10.9.9.9\",\"rport\":53,\"bytesIn\":1,\"bytesOut\":2}",
             1000 + i);
    CHECK_ST(line(core, line_buf), MT_OK);
    CHECK(drain(core) == 0);
  }
  CHECK_ST(mt_finish(core), MT_OK);
  drain(core);
  CHECK(drained_len > first_len && memcmp(drained, msg, first_len) == 0 &&
        drained[first_len] == '\n');
}

static void test_agent_id(void) {
  static const char id[] = "0123abcd-4567-89ef-0123-456789abcdef";
  mt_core_t *core = fresh_rtos();
  CHECK_ST(mt_set_agent_id(core, "not-a-uuid", 10), MT_SKIPPED);
  CHECK(error_is(core, "agent id must be a UUID (8-4-4-4-12 hexadecimal digits)"));
  CHECK_ST(mt_set_agent_id(core, id, 36), MT_OK);
  CHECK_ST(line(core, conn_line), MT_OK);
  CHECK_ST(mt_set_agent_id(core, id, 36), MT_SKIPPED); /* after the first input */
  CHECK(error_is(core, "the agent id must be set before the first input"));
  CHECK_ST(mt_finish(core), MT_OK);
  drain(core);
  CHECK(strstr(drained, "\"AgentId\":\"0123abcd-4567-89ef-0123-456789abcdef\"") != NULL);
  /* mt_reset keeps it. */
  CHECK_ST(mt_reset(core), MT_OK);
  CHECK_ST(line(core, conn_line), MT_OK);
  CHECK_ST(mt_finish(core), MT_OK);
  drain(core);
  CHECK(strstr(drained, "\"AgentId\":\"0123abcd-4567-89ef-0123-456789abcdef\"") != NULL);
}

static void test_format(void) {
  static const uint8_t cbor_agent[] = {0x01, 0x50}; /* key 1, a 16-byte string: the agent id */
  static const uint8_t namespace_map[] = {0xd9, 0x01, 0x00,
                                          0xa6}; /* tag 256 (stringref namespace), a map of six */
  mt_core_t *core = fresh_rtos();
  CHECK_ST(mt_set_format(core, (mt_format_t)7), MT_ERR_PARAM);
  CHECK_ST(mt_set_format(core, MT_FORMAT_CBOR), MT_OK);
  CHECK_ST(line(core, conn_line), MT_OK);
  CHECK_ST(mt_set_format(core, MT_FORMAT_JSON), MT_SKIPPED); /* after the first input */
  CHECK(error_is(core, "only before the first input"));
  CHECK_ST(mt_finish(core), MT_OK);
  CHECK(drain(core) == 1);
  /* Tag 256 around one CBOR map of six entries (docs/CBOR.md): key 0 "0.1.0" (7 bytes), then key 1, the id. */
  CHECK(memcmp(drained, namespace_map, 4) == 0 && drained[4] == 0 &&
        memcmp(drained + 11, cbor_agent, 2) == 0);
  /* mt_reset keeps it, as trap recovery does (the same reinit). */
  CHECK_ST(mt_reset(core), MT_OK);
  CHECK_ST(line(core, conn_line), MT_OK);
  CHECK_ST(mt_finish(core), MT_OK);
  CHECK(drain(core) == 1 && memcmp(drained, namespace_map, 4) == 0);
}

static void test_configure(void) {
  static const char good[] = "{\"network\":{\"priority\":\"high\"}}";
  static const char bad[] = "{\"network\":{\"cacheSize\":0}}";
  mt_core_t *core = fresh_rtos();
  CHECK_ST(mt_configure(core, 1700000000000LL, bad, strlen(bad)), MT_SKIPPED);
  {
    const char *text;
    size_t len;
    CHECK_ST(mt_last_error(core, &text, &len), MT_OK);
    CHECK(len > 0 && memchr(text, 'c', len) != NULL);
  }
  CHECK_ST(mt_configure(core, 1700000000000LL, good, strlen(good)), MT_OK);
  drain(core);
  CHECK_ST(line(core, conn_line), MT_OK);
  CHECK(drain(core) == 0);
  /* high priority: a 10 s window now. */
  CHECK_ST(mt_tick(core, 1700000010000LL), MT_OK);
  CHECK(drain(core) == 1);
}

static void test_no_allocation_after_init(void) {
  static char line_buf[512];
  mt_core_t *core = fresh_rtos();
  size_t heap_before = mt_heap_used(core);
  int i;
  CHECK(heap_before > 0);
  allocations = 0;
  for (i = 0; i < 2000; i++) {
    /* 300 distinct connections over 200 s: windows close, the table fills and cycles. */
    snprintf(
        line_buf, sizeof line_buf,
        "{\"kind\":\"connection\",\"t\":%lld,\"proto\":\"tcp\",\"dir\":\"out\",\"local\":\"10.0.0.2\","
        "\"lport\":%d,\"remote\":\"52.1.2.3\",\"rport\":443,\"bytesIn\":1,\"bytesOut\":2}",
        1700000000000LL + i * 100LL, 20000 + i % 300);
    watching = 1; /* only around the bindings' calls: snprintf is not under test */
    (void)line(core, line_buf);
    drain(core);
    watching = 0;
  }
  watching = 1;
  CHECK_ST(mt_finish(core), MT_OK);
  drain(core);
  watching = 0;
  CHECK(allocations == 0);
  CHECK(mt_heap_used(core) == heap_before);
  CHECK(stats_has(core, "\"accepted\":2000"));
}

/* The ABI layout of a connection record, encoded here independently of the bindings. */
static size_t encode_connection(uint8_t *p, const mt_connection_t *c) {
  size_t i;
  uint64_t t = (uint64_t)c->t_ms;
  for (i = 0; i < 8; i++) {
    p[i] = (uint8_t)(t >> (8 * i));
    p[8 + i] = (uint8_t)(c->bytes_in >> (8 * i));
    p[16 + i] = (uint8_t)(c->bytes_out >> (8 * i));
  }
  memcpy(p + 24, c->local, 16);
  memcpy(p + 40, c->remote, 16);
  p[56] = (uint8_t)c->local_port;
  p[57] = (uint8_t)(c->local_port >> 8);
  p[58] = (uint8_t)c->remote_port;
  p[59] = (uint8_t)(c->remote_port >> 8);
  p[60] = c->protocol;
  p[61] = c->direction;
  p[62] = c->family;
  p[63] = c->remote_family;
  p[64] = (uint8_t)c->app_len;
  p[65] = (uint8_t)(c->app_len >> 8);
  p[66] = (uint8_t)c->host_len;
  p[67] = (uint8_t)(c->host_len >> 8);
  memcpy(p + 68, c->app, c->app_len);
  memcpy(p + 68 + c->app_len, c->host, c->host_len);
  return 68 + c->app_len + c->host_len;
}

static void test_connection_records_batch(void) {
  static uint8_t records[64 * 1024];
  static char one_by_one[256 * 1024];
  static char huge_host[5000];
  size_t len = 0, at = 0, consumed = 0, skipped = 0, total_skipped = 0;
  int i, calls = 0;
  mt_core_t *core = fresh_rtos();
  mt_connection_t c;

  /* 300 records over 100 s (windows close on the way), one of them malformed. */
  for (i = 0; i < 300; i++) {
    c = conn_record();
    c.t_ms += (int64_t)i * 333;
    c.local_port = (uint16_t)(1000 + i % 120);
    if (i == 77) {
      c.protocol = 9;
    }
    len += encode_connection(records + len, &c);
  }
  for (i = 0; i < 300; i++) {
    c = conn_record();
    c.t_ms += (int64_t)i * 333;
    c.local_port = (uint16_t)(1000 + i % 120);
    if (i == 77) {
      c.protocol = 9;
    }
    (void)mt_ingest_connection(core, &c);
    drain(core);
    CHECK(drained_len == 0 || drained_len + strlen(one_by_one) < sizeof one_by_one);
    strcat(one_by_one, drained);
  }
  CHECK_ST(mt_finish(core), MT_OK);
  drain(core);
  strcat(one_by_one, drained);

  core = fresh_rtos();
  drained[0] = '\0';
  {
    static char batched[256 * 1024];
    batched[0] = '\0';
    while (at < len) {
      mt_status_t st =
          mt_ingest_connection_records(core, records + at, len - at, &consumed, &skipped);
      CHECK_ST(st, MT_OK);
      if (st != MT_OK || consumed == 0) {
        break;
      }
      calls++;
      at += consumed;
      total_skipped += skipped;
      /* A batch that made messages pending leaves the core busy until drained. */
      drain(core);
      strcat(batched, drained);
    }
    CHECK_ST(mt_finish(core), MT_OK);
    drain(core);
    strcat(batched, drained);
    CHECK(at == len);
    CHECK(total_skipped == 1);
    CHECK(calls > 1 && calls < 300); /* batched, and stopped at window ends / area size */
    CHECK(strlen(batched) > 0 && strcmp(batched, one_by_one) == 0);
  }
  CHECK(stats_has(core, "\"network\":{\"received\":299"));

  /* Bad input: a truncated record, NULL pointers, a record larger than the input area. */
  CHECK_ST(mt_ingest_connection_records(core, records, 67, &consumed, &skipped), MT_ERR_PARAM);
  CHECK_ST(mt_ingest_connection_records(core, records, 80, &consumed, &skipped), MT_ERR_PARAM);
  CHECK_ST(mt_ingest_connection_records(core, NULL, 80, &consumed, &skipped), MT_ERR_PARAM);
  CHECK_ST(mt_ingest_connection_records(core, records, len, NULL, &skipped), MT_ERR_PARAM);
  CHECK_ST(mt_ingest_connection_records(core, records, len, &consumed, NULL), MT_ERR_PARAM);
  c = conn_record();
  c.t_ms += 200000;
  memset(huge_host, 'h', sizeof huge_host);
  c.host = huge_host;
  c.host_len = sizeof huge_host;
  len = encode_connection(records, &c);
  CHECK_ST(mt_ingest_connection_records(core, records, len, &consumed, &skipped), MT_OK);
  CHECK(consumed == len && skipped == 1);
  CHECK(error_is(core, "record larger than the input area (4096 bytes)"));
}

/* ---- traps (stand-in blob) -------------------------------------------------------------------- */

static mt_status_t init_standin(mt_core_t *core) {
  mt_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.blob = standin_wasm;
  cfg.blob_size = standin_wasm_len;
  return mt_init(core, &cfg);
}

static void test_trap_recovery(void) {
  static mt_core_t core;
  static const char id[] = "0123abcd-4567-89ef-0123-456789abcdef";
  mt_counters_t c;
  CHECK_ST(init_standin(&core), MT_OK);
  CHECK(stats_has(&core, "{\"inits\":1,"));
  CHECK_ST(mt_set_agent_id(&core, id, 36), MT_OK);
  CHECK_ST(line(&core, "a"), MT_OK);
  CHECK_ST(line(&core, "b"), MT_OK);
  CHECK_ST(line(&core, "trap"), MT_ERR_TRAP);
  CHECK_ST(mt_get_counters(&core, &c), MT_OK);
  CHECK(c.traps == 1 && c.lost_inputs == 3 && c.lost_messages == 0);
  /* Re-initialised through mt_init, agent id re-applied, and working. */
  CHECK(stats_has(&core, "{\"inits\":2,\"accepted\":0,\"agent\":36}"));
  CHECK_ST(line(&core, "c"), MT_OK);
  CHECK(stats_has(&core, "\"accepted\":1,"));

  /* Unbounded recursion overflows the engine's stack (wasm3's, or the translated blob's call
     * depth limit): a trap, not a crash. */
  CHECK_ST(line(&core, "recurse"), MT_ERR_TRAP);
  CHECK_ST(mt_get_counters(&core, &c), MT_OK);
  CHECK(c.traps == 2 && c.lost_inputs == 5);
  CHECK_ST(line(&core, "c"), MT_OK);

  /* An access outside linear memory is caught by every engine's bounds check. */
  CHECK_ST(line(&core, "oob"), MT_ERR_TRAP);
  CHECK_ST(mt_get_counters(&core, &c), MT_OK);
  CHECK(c.traps == 3 && c.lost_inputs == 7);
  CHECK(stats_has(&core, "{\"inits\":4,\"accepted\":0,"));
  CHECK_ST(line(&core, "c"), MT_OK);

  /* The stand-in has no batch export: refused, and the core is not harmed. */
  {
    uint8_t rec[68];
    mt_connection_t conn = conn_record();
    size_t consumed = 1, skipped = 1;
    conn.app_len = 0;
    conn.host_len = 0;
    (void)encode_connection(rec, &conn);
    CHECK_ST(mt_ingest_connection_records(&core, rec, sizeof rec, &consumed, &skipped),
             MT_ERR_ENGINE);
    CHECK(consumed == 0 && skipped == 0);
    CHECK_ST(line(&core, "c"), MT_OK);
  }

  /* A trap in a typed-input path (mt_tick with a negative time in the stand-in). */
  CHECK_ST(mt_tick(&core, -1), MT_ERR_TRAP);
  CHECK_ST(mt_tick(&core, 5), MT_OK);
}

static void test_trap_while_draining(void) {
  static mt_core_t core;
  mt_counters_t c;
  const uint8_t *data;
  size_t len;
  bool ends;
  CHECK_ST(init_standin(&core), MT_OK);
  CHECK_ST(line(&core, "drain-trap"), MT_OK);
  CHECK_ST(mt_next_chunk(&core, &data, &len, &ends), MT_OK); /* chunk 0, message not ended */
  CHECK(len == 2 && memcmp(data, "c0", 2) == 0 && !ends);
  CHECK_ST(mt_next_chunk(&core, &data, &len, &ends), MT_ERR_TRAP);
  CHECK_ST(mt_get_counters(&core, &c), MT_OK);
  CHECK(c.traps == 1 && c.lost_messages == 1 && c.lost_inputs == 1);
  /* Nothing pending any more; inputs flow again. */
  CHECK_ST(mt_next_chunk(&core, &data, &len, &ends), MT_NO_MESSAGE);
  CHECK_ST(line(&core, "flush:3"), MT_OK);
  CHECK(drain(&core) == 2);
  CHECK(strcmp(drained, "c0c1\nc2\n") == 0);
}

static void test_trap_in_reinit_is_fatal_but_safe(void) {
  static mt_core_t core;
  const char *text;
  size_t len;
  CHECK_ST(init_standin(&core), MT_OK);
  CHECK_ST(line(&core, "poison"), MT_OK);
  CHECK_ST(line(&core, "trap"), MT_ERR_ENGINE); /* recovery itself trapped */
  CHECK_ST(line(&core, "a"), MT_ERR_ENGINE);
  CHECK_ST(mt_finish(&core), MT_ERR_ENGINE);
  CHECK_ST(mt_reset(&core), MT_ERR_ENGINE);
  CHECK_ST(mt_stats(&core, &text, &len), MT_ERR_ENGINE);
  CHECK_ST(init_standin(&core), MT_ERR_STATE);
}

/* Losses the core did not see (mt_report_loss, mt_report_gap): the same calls as test/losses.test.ts's
 * last test, the same bytes as V8 prints there (TRANSPORT_MESSAGE), on the linux core; the rtos
 * core counts the transport's only. */
static void test_report_loss(void) {
  static const char expected[] =
      "{\"AgentVersion\":\"0.1.0\",\"AgentId\":\"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\",\"MessageSchemaVersion\":\"1.1\","
      "\"Events\":[{\"EventType\":\"Diagnostic\",\"Category\":\"Periodic\",\"Name\":\"CollectorStats\",\"IsEmpty\":false,\"PayloadSchemaVersion\":\"1.0\","
      "\"Id\":\"325ecc63-0606-8660-84f0-843d21fecad1\",\"TimestampLocal\":\"2023-11-15T00:13:20.000Z\",\"TimestampUTC\":\"2023-11-15T00:13:20.000Z\","
      "\"Payload\":[{\"Collector\":\"network\",\"Received\":3,\"Discarded\":0,\"Dropped\":3,\"Ignored\":0,\"Warnings\":[\"3 events lost at the source\","
      "\"2 losses of unknown size at the source\",\"event source down 1.3 s: events of that time may be missing\"]},"
      "{\"Collector\":\"transport\",\"Received\":0,\"Discarded\":0,\"Dropped\":7,\"Ignored\":0,\"Warnings\":[\"7 messages dropped by the outbox\"]}]}]}\n";
  static mt_core_t standin;
  mt_core_t *core = fresh_linux();

  CHECK_ST(mt_report_loss(NULL, MT_LOSS_TRANSPORT, 1), MT_ERR_PARAM);
  CHECK_ST(mt_set_format(core, MT_FORMAT_JSON), MT_OK);
  CHECK_ST(mt_set_agent_id(core, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", 36), MT_OK);
  CHECK_ST(mt_tick(core, 1700000000000LL), MT_OK);
  CHECK_ST(mt_report_loss(core, MT_LOSS_NETWORK, 3), MT_OK);
  CHECK_ST(mt_report_loss(core, MT_LOSS_NETWORK, MT_LOSS_UNKNOWN), MT_OK);
  CHECK_ST(mt_report_loss(core, MT_LOSS_NETWORK, MT_LOSS_UNKNOWN), MT_OK);
  CHECK_ST(mt_report_gap(core, MT_LOSS_NETWORK, 1201), MT_OK);
  CHECK_ST(mt_report_loss(core, MT_LOSS_TRANSPORT, 7), MT_OK);
  /* Refused, naming why, and nothing counted. */
  CHECK_ST(mt_report_loss(core, (mt_loss_source_t)2, 1), MT_SKIPPED);
  CHECK(error_is(core, "field \"Collector\": out of range"));
  CHECK_ST(mt_report_loss(core, MT_LOSS_TRANSPORT, MT_LOSS_UNKNOWN), MT_SKIPPED);
  CHECK(error_is(core, "field \"Dropped\": out of range"));
  CHECK_ST(mt_report_loss(core, MT_LOSS_PROCESS, -2), MT_SKIPPED);
  CHECK(error_is(core, "field \"Dropped\": out of range"));
  CHECK_ST(mt_report_gap(core, MT_LOSS_TRANSPORT, 5), MT_SKIPPED);
  CHECK(error_is(core, "field \"Collector\": out of range"));
  CHECK_ST(mt_report_gap(core, MT_LOSS_PROCESS, 9007199254740992LL), MT_SKIPPED);
  CHECK(error_is(core, "field \"ms\": out of range"));
  /* Nothing is sent before the window ends; then one message carries it all, once. */
  CHECK(drain(core) == 0);
  CHECK_ST(mt_tick(core, 1700007200000LL), MT_OK);
  CHECK_ST(mt_report_loss(core, MT_LOSS_TRANSPORT, 1), MT_BUSY);
  CHECK_ST(mt_report_gap(core, MT_LOSS_PROCESS, 1), MT_BUSY);
  CHECK(drain(core) == 1);
  CHECK(drained_len == sizeof expected - 1 && memcmp(drained, expected, drained_len) == 0);
  if (drained_len != sizeof expected - 1 || memcmp(drained, expected, drained_len) != 0) {
    printf("    got %s", drained);
  }
  CHECK_ST(mt_tick(core, 1700014400000LL), MT_OK);
  CHECK(drain(core) == 0);

  /* rtos: the transport's losses only (a device's RAM pays for nothing else). */
  core = fresh_rtos();
  CHECK_ST(mt_set_format(core, MT_FORMAT_JSON), MT_OK);
  CHECK_ST(mt_report_loss(core, MT_LOSS_NETWORK, 1), MT_SKIPPED);
  CHECK(error_is(core, "field \"Collector\": out of range"));
  CHECK_ST(mt_report_gap(core, MT_LOSS_NETWORK, 1), MT_SKIPPED);
  CHECK(error_is(core, "field \"Collector\": out of range"));
  CHECK_ST(mt_report_loss(core, MT_LOSS_TRANSPORT, 5), MT_OK);
  CHECK_ST(mt_tick(core, 1700000000000LL), MT_OK);
  CHECK_ST(mt_tick(core, 1700000030000LL), MT_OK);
  CHECK(drain(core) == 1);
  CHECK(
      strstr(
          drained,
          "{\"Collector\":\"transport\",\"Received\":0,\"Discarded\":0,\"Dropped\":5,\"Ignored\":0,"
          "\"Warnings\":[\"5 messages dropped by the outbox\"]}") != NULL);

  /* A blob without the export (an older core) says so. */
  CHECK_ST(init_standin(&standin), MT_OK);
  CHECK_ST(mt_report_loss(&standin, MT_LOSS_TRANSPORT, 1), MT_ERR_ENGINE);
  CHECK_ST(mt_report_gap(&standin, MT_LOSS_PROCESS, 1), MT_ERR_ENGINE);
}

/* ---- ABI 5: a core swap, AgentUpdate, Heartbeat (test/swap.test.ts runs the same steps on V8) ---- */

/* FNV-1a, 64 bits, over everything drained: test/swap.test.ts checks the same digests. */
static uint64_t digest = 0xcbf29ce484222325ull;
static void digest_drained(void) {
  size_t i;
  for (i = 0; i < drained_len; i++) {
    digest = (digest ^ (uint8_t)drained[i]) * 0x100000001b3ull;
  }
}

static mt_status_t conn_at(mt_core_t *core, long long t) {
  char text[512];
  int n = snprintf(
      text, sizeof text,
      "{\"kind\":\"connection\",\"t\":%lld,\"proto\":\"tcp\",\"dir\":\"out\",\"local\":\"10.0.0.2\","
      "\"lport\":50000,\"remote\":\"52.1.2.3\",\"rport\":443,\"bytesIn\":100,\"bytesOut\":200,"
      "\"app\":\"https\",\"host\":\"example.com\"}",
      t);
  return mt_ingest_line(core, text, (size_t)n);
}

#define AGENT "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define SWAP_T0 1700000000000LL
static const char rejected_json[] =
    "{\"FromVersion\":\"0.1.0\",\"ToVersion\":\"0.2.0\",\"FromSequence\":1,\"ToSequence\":2,\"Result\":\"rejected\","
    "\"Reason\":\"bad signature: the envelope is not signed by this agent's key\"}";
static const char applied_json[] =
    "{\"FromVersion\":\"0.1.0\",\"ToVersion\":\"0.2.0\",\"FromSequence\":1,\"ToSequence\":2,\"Result\":\"applied\"}";
static const char heartbeat_json[] =
    "{\"UptimeSeconds\":3600,\"EventsSeen\":12,\"OutboxMessages\":3,\"OutboxBytes\":4096}";

static void test_swap_state(void) {
  static uint8_t record[MT_STATE_RECORD_MAX];
  static mt_core_t standin;
  size_t len = 0, messages = 0;
  mt_core_t *core = fresh_rtos();

  digest = 0xcbf29ce484222325ull;
  CHECK_ST(mt_set_format(core, MT_FORMAT_JSON), MT_OK);
  CHECK_ST(mt_set_agent_id(core, AGENT, 36), MT_OK);
  CHECK_ST(conn_at(core, SWAP_T0), MT_OK);
  CHECK_ST(mt_report_update(core, rejected_json, sizeof rejected_json - 1), MT_OK);
  CHECK_ST(mt_report_update(core, rejected_json, sizeof rejected_json - 1), MT_SKIPPED);
  CHECK(error_is(core, "an AgentUpdate record waits"));
  CHECK_ST(mt_state_save(core, record, sizeof record, &len), MT_SKIPPED);
  CHECK(error_is(core, "data waits to be sent (mt_finish)"));
  CHECK_ST(mt_tick(core, SWAP_T0 + 30000), MT_OK);
  messages += drain(core);
  digest_drained();
  CHECK_ST(conn_at(core, SWAP_T0 + 31000), MT_OK);
  CHECK_ST(mt_finish(core), MT_OK);
  CHECK_ST(mt_state_save(core, record, sizeof record, &len), MT_BUSY);
  messages += drain(core);
  digest_drained();
  CHECK_ST(mt_state_save(core, record, 10, &len), MT_ERR_BUFFER);
  CHECK_ST(mt_state_save(core, record, sizeof record, &len), MT_OK);
  CHECK(len == 280);

  /* The new core (the same blob here: on the ahead-of-time engine one core has it at a time). */
  core = fresh_rtos();
  CHECK_ST(mt_state_restore(core, record, len - 1), MT_SKIPPED);
  CHECK(error_is(core, "state record malformed"));
  CHECK_ST(mt_state_restore(core, record, len), MT_OK);
  CHECK_ST(mt_report_update(core, applied_json, sizeof applied_json - 1), MT_OK);
  CHECK_ST(conn_at(core, SWAP_T0 + 40000), MT_OK);
  CHECK_ST(mt_tick(core, SWAP_T0 + 61000), MT_OK);
  messages += drain(core);
  digest_drained();
  CHECK_ST(mt_heartbeat(core, SWAP_T0 + 62000, heartbeat_json, sizeof heartbeat_json - 1),
           MT_SKIPPED);
  CHECK(error_is(core, "the heartbeat is linux only"));
  CHECK_ST(mt_finish(core), MT_OK);
  messages += drain(core);
  digest_drained();
  CHECK(messages == 3);
  CHECK(digest == 0x4f7386ef08e5f643ull);
  if (digest != 0x4f7386ef08e5f643ull) {
    printf("    digest %016llx\n", (unsigned long long)digest);
  }

  /* A blob before ABI 5 says so. */
  CHECK_ST(init_standin(&standin), MT_OK);
  CHECK_ST(mt_state_save(&standin, record, sizeof record, &len), MT_ERR_ENGINE);
  CHECK_ST(mt_state_restore(&standin, record, 280), MT_ERR_ENGINE);
  CHECK_ST(mt_report_update(&standin, applied_json, sizeof applied_json - 1), MT_ERR_ENGINE);
  CHECK_ST(mt_heartbeat(&standin, SWAP_T0, heartbeat_json, sizeof heartbeat_json - 1),
           MT_ERR_ENGINE);
}

static void test_heartbeat(void) {
  mt_core_t *core = fresh_linux();
  size_t messages = 0;
  digest = 0xcbf29ce484222325ull;
  CHECK_ST(mt_set_format(core, MT_FORMAT_JSON), MT_OK);
  CHECK_ST(mt_set_agent_id(core, AGENT, 36), MT_OK);
  CHECK_ST(conn_at(core, SWAP_T0), MT_OK);
  CHECK_ST(mt_heartbeat(core, SWAP_T0 + 5000, heartbeat_json, sizeof heartbeat_json - 1), MT_OK);
  messages += drain(core);
  digest_drained();
  CHECK_ST(mt_finish(core), MT_OK);
  messages += drain(core);
  digest_drained();
  CHECK(messages == 2);
  CHECK(digest == 0x6bb6a2a03793ed5bull);
  if (digest != 0x6bb6a2a03793ed5bull) {
    printf("    digest %016llx\n", (unsigned long long)digest);
  }
}

static void test_status_names(void) {
  CHECK(strcmp(mt_status_name(MT_ERR_TRAP), "MT_ERR_TRAP") == 0);
  CHECK(strcmp(mt_status_name(MT_BUSY), "MT_BUSY") == 0);
  CHECK(strcmp(mt_status_name((mt_status_t)99), "MT_UNKNOWN") == 0);
}

/* A core update's swap: the old blob unloaded, then the new one loaded where it was (never both).
 * Runs last: wasm3 can unload only the core it loaded last. */
static void test_unload_gives_the_heap_back(void) {
  static mt_core_t swap;
  memset(&swap, 0, sizeof swap);
  CHECK_ST(mt_unload(NULL), MT_ERR_PARAM);
  CHECK_ST(mt_unload(&swap), MT_ERR_STATE);
  CHECK_ST(
      init_real(&swap, microtally_rtos_wasm, microtally_rtos_wasm_len, microtally_rtos_memory_end),
      MT_OK);
  if (!mt_engine_can_swap()) { /* ahead of time: the blob is compiled in, nothing to swap */
    CHECK(mt_heap_peak() == 0);
    CHECK_ST(mt_unload(&swap), MT_ERR_ENGINE);
    CHECK_ST(line(&swap, conn_line), MT_OK);
    return;
  }
  size_t one = mt_heap_used(&swap), peak = mt_heap_peak();
  for (int i = 0; i < 3; i++) {
    CHECK_ST(mt_unload(&swap), MT_OK);
    CHECK_ST(mt_tick(&swap, 0), MT_ERR_STATE);
    CHECK_ST(init_real(&swap, microtally_rtos_wasm, microtally_rtos_wasm_len,
                       microtally_rtos_memory_end),
             MT_OK);
    CHECK(mt_heap_used(&swap) == one);
    CHECK(mt_heap_peak() == peak);
    CHECK_ST(line(&swap, conn_line), MT_OK);
    CHECK(drain(&swap) == 0);
    CHECK_ST(mt_finish(&swap), MT_OK);
    CHECK(drain(&swap) == 1);
    CHECK(strstr(drained, "\"HitCount\":1") != NULL);
  }
  /* the counters outlive an unload and the next mt_init of the same core: an old core's losses
     at a swap stay in what the application reports */
  mt_counters_t c;
  CHECK_ST(mt_unload(&swap), MT_OK);
  CHECK_ST(init_standin(&swap), MT_OK);
  CHECK_ST(line(&swap, "a"), MT_OK);
  CHECK_ST(line(&swap, "trap"), MT_ERR_TRAP);
  CHECK_ST(mt_get_counters(&swap, &c), MT_OK);
  CHECK(c.traps == 1 && c.lost_inputs == 2);
  CHECK_ST(mt_unload(&swap), MT_OK);
  CHECK_ST(mt_get_counters(&swap, &c), MT_OK);
  CHECK(c.traps == 1 && c.lost_inputs == 2);
  /* a load that failed half way is given back too, the counters kept */
  CHECK_ST(init_real(&swap, microtally_rtos_wasm, microtally_rtos_wasm_len,
                     microtally_rtos_memory_end - 16),
           MT_ERR_ENGINE);
  CHECK_ST(mt_unload(&swap), MT_OK);
  CHECK_ST(
      init_real(&swap, microtally_rtos_wasm, microtally_rtos_wasm_len, microtally_rtos_memory_end),
      MT_OK);
  CHECK(mt_heap_used(&swap) == one && mt_heap_peak() == peak);
  CHECK_ST(mt_get_counters(&swap, &c), MT_OK);
  CHECK(c.traps == 1 && c.lost_inputs == 2 && c.lost_messages == 0);
  /* a core never loaded starts from none, whatever its memory held */
  static mt_core_t fresh;
  memset(&fresh, 0x5a, sizeof fresh);
  CHECK_ST(init_standin(&fresh), MT_OK);
  CHECK_ST(mt_get_counters(&fresh, &c), MT_OK);
  CHECK(c.traps == 0 && c.lost_inputs == 0 && c.lost_messages == 0 && c.discarded_messages == 0);
}

int main(void) {
  /* Heap figures per core need each core measured alone: the rtos core first, by itself. */
  static mt_core_t measure;
  CHECK_ST(init_real(&measure, microtally_rtos_wasm, microtally_rtos_wasm_len,
                     microtally_rtos_memory_end),
           MT_OK);
  printf("info: engine RAM for one rtos core: %lu bytes\n", (unsigned long)mt_heap_used(&measure));

  (void)fresh_linux();
  printf("info: engine RAM for one linux core: %lu bytes\n",
         (unsigned long)mt_heap_used(&linux_core));
  printf("info: sizeof(mt_core_t): %lu bytes; MT_WASM3_HEAP_BYTES here: %lu\n",
         (unsigned long)sizeof(mt_core_t), (unsigned long)MT_WASM3_HEAP_BYTES);

  run("null arguments", test_null_arguments);
  run("calls before init", test_calls_before_init);
  run("bad blobs", test_bad_blobs);
  run("double init", test_double_init);
  run("trace lines aggregate and finish", test_line_aggregates_and_finishes);
  run("blank and skipped lines", test_blank_and_skipped_lines);
  run("oversized lines", test_oversized_line);
  run("typed connection equals its trace line", test_typed_connection_equals_line);
  run("typed records are checked", test_typed_records_checked);
  run("typed process/baseline/sysinfo equal their lines", test_typed_process_baseline_sysinfo);
  run("busy until drained", test_busy_until_drained);
  run("whole messages into caller buffers", test_next_message_buffers);
  run("agent id", test_agent_id);
  run("format", test_format);
  run("configure", test_configure);
  run("connection records in batches", test_connection_records_batch);
  run("no allocation after init", test_no_allocation_after_init);
  run("trap recovery", test_trap_recovery);
  run("trap while draining", test_trap_while_draining);
  run("trap in re-init", test_trap_in_reinit_is_fatal_but_safe);
  run("core swap: carry-over record and AgentUpdate (ABI 5)", test_swap_state);
  run("heartbeat (ABI 5)", test_heartbeat);
  run("status names", test_status_names);
  run("losses the core did not see", test_report_loss);
  run("unload gives the heap back (a core update's swap)", test_unload_gives_the_heap_back);
  printf("%d passed, %d failed\n", tests_passed, tests_failed);
  return tests_failed == 0 ? 0 : 1;
}
