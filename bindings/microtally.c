/*
 * microtally.c — the C API of microtally.h, written once over the engine seam (mt_engine.h):
 * writes inputs into the blob's input area (docs/ABI.md), calls its exports, and turns traps
 * into a status plus a re-init. Which engine runs the blob (wasm3 or the ahead-of-time
 * translation) is a build option. Standard C99: no POSIX, no RTOS, no libc allocation.
 */
#include "microtally.h"
#include "mt_record_layout.h"

#include <limits.h>
#include <string.h>

#include "mt_engine.h"

#define MT_MAGIC 0x6d74616cu    /* "mtal": set while a core is initialised */
#define MT_UNLOADED 0x6d74756eu /* "mtun": unloaded (or its load failed): counters kept */

/* priv_flags */
#define FLAG_PENDING 0x1u    /* chunks are pending: inputs answer MT_BUSY */
#define FLAG_IN_MESSAGE 0x2u /* some chunks of a message were taken, not its last one */
#define FLAG_BROKEN 0x4u     /* re-initialisation after a trap failed */

const char *const mt_fn_names[MT_FN_COUNT] = {
    "mt_init",
    "mt_set_agent_id",
    "mt_ingest_line",
    "mt_oversized_line",
    "mt_ingest_connection",
    "mt_ingest_process",
    "mt_ingest_baseline",
    "mt_ingest_sysinfo",
    "mt_configure",
    "mt_tick",
    "mt_finish",
    "mt_next_chunk",
    "mt_chunk_ends_message",
    "mt_stats",
    "mt_error_length",
    "mt_abi_version",
    "mt_input_ptr",
    "mt_input_capacity",
    "mt_output_ptr",
    "mt_output_capacity",
    "mt_error_ptr",
    "mt_memory_end",
    "mt_ingest_batch",
    "mt_pending",
    "mt_set_format",
    "mt_report_loss",
    "mt_state_save",
    "mt_state_restore",
    "mt_report_update",
    "mt_heartbeat",
};

const uint8_t mt_fn_params[MT_FN_COUNT] = {
    [MT_FN_SET_AGENT_ID] = MT_PARAMS_I32,
    [MT_FN_SET_FORMAT] = MT_PARAMS_I32,
    [MT_FN_INGEST_LINE] = MT_PARAMS_I32,
    [MT_FN_OVERSIZED_LINE] = MT_PARAMS_I64, /* a u64 length, passed bit for bit */
    [MT_FN_CONFIGURE] = MT_PARAMS_I64_I32,
    [MT_FN_TICK] = MT_PARAMS_I64,
    [MT_FN_INGEST_BATCH] = MT_PARAMS_I32_I32,
    [MT_FN_REPORT_LOSS] = MT_PARAMS_I64_I32, /* (value, what) */
    [MT_FN_STATE_RESTORE] = MT_PARAMS_I32,
    [MT_FN_REPORT_UPDATE] = MT_PARAMS_I32,
    [MT_FN_HEARTBEAT] = MT_PARAMS_I64_I32, /* (t, len) */
};

/* C89-style static assertion: the private array must hold one slot per export. */
typedef char mt_fn_table_fits[(MT_FN_COUNT <= MT_PRIV_FUNCTION_COUNT) ? 1 : -1];

/* ---- small helpers ------------------------------------------------------------------- */

static bool ready(const mt_core_t *core) {
  return core != NULL && core->priv_magic == MT_MAGIC && mt_engine_owned(core);
}

static uint8_t *linear_memory(mt_core_t *core, uint32_t *size) {
  return mt_engine_memory(core, size);
}

static uint8_t *input_area(mt_core_t *core) {
  uint32_t size = 0;
  return linear_memory(core, &size) + core->priv_input_ptr;
}

/* Puts caller bytes into the input area; they may already be there, assembled in place through
 * mt_input_area (then nothing moves), or lie further along it (then they move down). */
static void copy_in(mt_core_t *core, const void *src, size_t len) {
  uint8_t *area = input_area(core);
  const uint8_t *from = (const uint8_t *)src;
  if (from == area) {
    return;
  }
  /* memcpy unless the bytes overlap the area (newlib-nano's memmove copies byte by byte). */
  if (from + len <= area || from >= area + core->priv_input_capacity) {
    memcpy(area, from, len);
  } else {
    memmove(area, from, len);
  }
}

static void put_u16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
  put_u16(p, v & 0xffffu);
  put_u16(p + 2, v >> 16);
}

static void put_u64(uint8_t *p, uint64_t v) {
  put_u32(p, (uint32_t)v);
  put_u32(p + 4, (uint32_t)(v >> 32));
}

/* Sets the reason of a rejection decided here, not by the blob: prefix, number (unless
 * with_number is false), suffix. */
static void host_error(mt_core_t *core, const char *prefix, bool with_number, uint32_t number,
                       const char *suffix) {
  char digits[10];
  size_t n = 0;
  size_t at = 0;
  const size_t cap = sizeof core->priv_host_error;
  do {
    digits[n++] = (char)('0' + number % 10u);
    number /= 10u;
  } while (with_number && number != 0u && n < sizeof digits);
  if (!with_number) {
    n = 0;
  }
  while (*prefix != '\0' && at < cap) {
    core->priv_host_error[at++] = *prefix++;
  }
  while (n > 0u && at < cap) {
    core->priv_host_error[at++] = digits[--n];
  }
  while (*suffix != '\0' && at < cap) {
    core->priv_host_error[at++] = *suffix++;
  }
  core->priv_host_error_len = (uint32_t)at;
}

/* ---- calling the blob ---------------------------------------------------------------- */

/* One export call with its i32 result; false when the blob trapped (or the engine failed). */
static bool call_raw(mt_core_t *core, unsigned fn, int32_t *result, int64_t a, int32_t b) {
  return mt_engine_call(core, fn, a, b, result);
}

/* The blob's mt_init, then the agent id the caller set: the state after mt_init + set id. */
static bool reinit(mt_core_t *core) {
  int32_t rc = -1;
  core->priv_flags &= ~(FLAG_PENDING | FLAG_IN_MESSAGE);
  core->priv_prefetched = 0;
  core->priv_inputs_at_risk = 0;
  core->priv_host_error_len = 0;
  if (!call_raw(core, MT_FN_INIT, &rc, 0, 0) || rc != 0) {
    return false;
  }
  if (core->priv_format != 0u &&
      (!call_raw(core, MT_FN_SET_FORMAT, &rc, (int32_t)core->priv_format, 0) || rc != 0)) {
    return false;
  }
  if (core->priv_agent_id_len > 0u) {
    memcpy(input_area(core), core->priv_agent_id, core->priv_agent_id_len);
    if (!call_raw(core, MT_FN_SET_AGENT_ID, &rc, (int32_t)core->priv_agent_id_len, 0) || rc != 0) {
      return false;
    }
  }
  return true;
}

/* A call trapped: count what is lost, bring the core back, tell the caller. */
static mt_status_t recover(mt_core_t *core, bool lost_input) {
  mt_counters_t *c = &core->priv_counters;
  c->traps++;
  c->lost_inputs += core->priv_inputs_at_risk + (lost_input ? 1u : 0u);
  if ((core->priv_flags & FLAG_IN_MESSAGE) != 0u) {
    c->lost_messages++;
  }
  if (!reinit(core)) {
    core->priv_flags |= FLAG_BROKEN;
    return MT_ERR_ENGINE;
  }
  return MT_ERR_TRAP;
}

static mt_status_t usable(const mt_core_t *core) {
  if (core == NULL) {
    return MT_ERR_PARAM;
  }
  if (!ready(core)) {
    return MT_ERR_STATE;
  }
  if ((core->priv_flags & FLAG_BROKEN) != 0u) {
    return MT_ERR_ENGINE;
  }
  return MT_OK;
}

/* Precondition shared by every input: usable, and nothing pending (the input area is the
 * blob's until the drain ends, docs/ABI.md). */
static mt_status_t input_allowed(mt_core_t *core) {
  mt_status_t st = usable(core);
  if (st != MT_OK) {
    return st;
  }
  if ((core->priv_flags & FLAG_PENDING) != 0u) {
    return MT_BUSY;
  }
  core->priv_host_error_len = 0;
  return MT_OK;
}

/* Finishes an input call: maps the blob's code, and on MT_OK looks whether chunks are now
 * pending by taking the first one early (kept for mt_next_chunk), so MT_BUSY is exact. */
static mt_status_t look_for_chunks(mt_core_t *core) {
  int32_t n = 0;
  if (mt_engine_has(core, MT_FN_PENDING)) {
    /* Blobs that export mt_pending say whether a send has begun; nothing to ask otherwise. */
    if (!call_raw(core, MT_FN_PENDING, &n, 0, 0) || n < 0 || n > 1) {
      return recover(core, false);
    }
    if (n == 0) {
      return MT_OK;
    }
  }
  /* A send can begin with nothing to send (an empty window, mt_finish with nothing pending):
     * taking the first chunk now keeps MT_BUSY to "messages are pending", exactly. */
  if (!call_raw(core, MT_FN_NEXT_CHUNK, &n, 0, 0)) {
    return recover(core, false);
  }
  if (n < 0 || (uint32_t)n > core->priv_output_capacity) {
    return recover(core, false);
  }
  if (n > 0) {
    core->priv_flags |= FLAG_PENDING;
    core->priv_prefetched = (uint32_t)n;
  }
  return MT_OK;
}

static mt_status_t input_done(mt_core_t *core, bool ok, int32_t rc) {
  if (!ok) {
    return recover(core, true);
  }
  if (rc < MT_OK || rc > MT_BUSY) {
    return recover(core, true); /* not a code of ABI 1: treat as a fault of the core */
  }
  if (rc != MT_OK) {
    return (mt_status_t)rc;
  }
  core->priv_inputs_at_risk++;
  return look_for_chunks(core);
}

/* ---- start-up ------------------------------------------------------------------------ */

/* An export that returns one i32 and takes none, called once at start. */
static bool query(mt_core_t *core, unsigned fn, int32_t *value) {
  return mt_engine_call(core, fn, 0, 0, value);
}

static bool area_inside(int32_t ptr, int32_t len, uint32_t memory_size) {
  return ptr >= 0 && len > 0 && (uint64_t)(uint32_t)ptr + (uint32_t)len <= memory_size;
}

mt_status_t mt_init(mt_core_t *core, const mt_config_t *config) {
  int32_t version = 0, in_ptr = 0, in_cap = 0, out_ptr = 0, out_cap = 0, err_ptr = 0;
  int32_t memory_end = 0;
  uint32_t memory_size = 0;
  mt_counters_t counters = {0, 0, 0, 0};

  if (core == NULL || config == NULL || config->blob == NULL || config->blob_size == 0u ||
      config->blob_size > UINT32_MAX) {
    return MT_ERR_PARAM;
  }
  if (ready(core)) {
    return MT_ERR_STATE;
  }
  if (core->priv_magic == MT_UNLOADED) {
    counters = core->priv_counters;
  }
  memset(core, 0, sizeof *core);
  core->priv_counters = counters; /* cumulative across a swap's unload and load */
  core->priv_magic = MT_UNLOADED;
  if (!mt_engine_load(core, config)) {
    return MT_ERR_ENGINE;
  }
  if (!query(core, MT_FN_ABI_VERSION, &version) || version < 4 || version > 5 ||
      !mt_engine_has(core, MT_FN_SET_FORMAT) || !query(core, MT_FN_INPUT_PTR, &in_ptr) ||
      !query(core, MT_FN_INPUT_CAPACITY, &in_cap) || !query(core, MT_FN_OUTPUT_PTR, &out_ptr) ||
      !query(core, MT_FN_OUTPUT_CAPACITY, &out_cap) || !query(core, MT_FN_ERROR_PTR, &err_ptr)) {
    return MT_ERR_ENGINE;
  }
  (void)mt_engine_memory(core, &memory_size);
  /* With a limit, the blob must vouch that it never goes above it. */
  if (config->memory_limit != 0u &&
      (!mt_engine_has(core, MT_FN_MEMORY_END) || !query(core, MT_FN_MEMORY_END, &memory_end) ||
       memory_end < 0 || (uint32_t)memory_end > config->memory_limit)) {
    return MT_ERR_ENGINE;
  }
  /* The bindings write these areas directly: they must lie inside linear memory. The
     * input area needs room for the agent id and the fixed header of every typed record. */
  if (!area_inside(in_ptr, in_cap, memory_size) || !area_inside(out_ptr, out_cap, memory_size) ||
      !area_inside(err_ptr, 1, memory_size) || in_cap < (int32_t)MT_CONN_HEADER) {
    return MT_ERR_ENGINE;
  }
  core->priv_input_ptr = (uint32_t)in_ptr;
  core->priv_input_capacity = (uint32_t)in_cap;
  core->priv_output_ptr = (uint32_t)out_ptr;
  core->priv_output_capacity = (uint32_t)out_cap;
  core->priv_error_ptr = (uint32_t)err_ptr;
  core->priv_magic = MT_MAGIC;
  if (!reinit(core)) {
    core->priv_magic = MT_UNLOADED;
    return MT_ERR_ENGINE;
  }
  return MT_OK;
}

mt_status_t mt_reset(mt_core_t *core) {
  mt_status_t st = usable(core);
  if (st != MT_OK) {
    return st;
  }
  if (!reinit(core)) {
    return recover(core, false);
  }
  return MT_OK;
}

/* ---- inputs -------------------------------------------------------------------------- */

mt_status_t mt_set_agent_id(mt_core_t *core, const char *id, size_t len) {
  int32_t rc = 0;
  bool ok;
  mt_status_t st = input_allowed(core);
  if (st != MT_OK) {
    return st;
  }
  if (id == NULL) {
    return MT_ERR_PARAM;
  }
  if (len > core->priv_input_capacity) {
    host_error(core, "agent id too long", false, 0, ""); /* as host/core.ts words it */
    return MT_SKIPPED;
  }
  memcpy(input_area(core), id, len);
  ok = call_raw(core, MT_FN_SET_AGENT_ID, &rc, (int32_t)len, 0);
  if (!ok) {
    return recover(core, false);
  }
  if (rc == MT_OK && len == sizeof core->priv_agent_id) {
    memcpy(core->priv_agent_id, id, len);
    core->priv_agent_id_len = (uint8_t)len;
  }
  return rc == MT_OK ? MT_OK : MT_SKIPPED;
}

mt_status_t mt_set_format(mt_core_t *core, mt_format_t format) {
  int32_t rc = 0;
  mt_status_t st = input_allowed(core);
  if (st != MT_OK) {
    return st;
  }
  if (format != MT_FORMAT_JSON && format != MT_FORMAT_CBOR) {
    return MT_ERR_PARAM;
  }
  if (!call_raw(core, MT_FN_SET_FORMAT, &rc, (int32_t)format, 0)) {
    return recover(core, false);
  }
  if (rc == MT_OK) {
    core->priv_format = (uint8_t)format;
  }
  return rc == MT_OK ? MT_OK : MT_SKIPPED;
}

mt_status_t mt_ingest_line(mt_core_t *core, const char *line, size_t len) {
  int32_t rc = 0;
  bool ok;
  mt_status_t st = input_allowed(core);
  if (st != MT_OK) {
    return st;
  }
  if (line == NULL && len > 0u) {
    return MT_ERR_PARAM;
  }
  if (len == core->priv_input_capacity + 1u && line[len - 1u] == '\r') {
    len--; /* the core ignores a trailing '\r': alone it never makes a line too long */
  }
  if (len > core->priv_input_capacity) {
    /* The core counts it and words the reason (the exact length, as u64); its bytes never
         * enter the blob. */
    ok = call_raw(core, MT_FN_OVERSIZED_LINE, &rc, (int64_t)(uint64_t)len, 0);
  } else {
    if (len > 0u) {
      copy_in(core, line, len);
    }
    ok = call_raw(core, MT_FN_INGEST_LINE, &rc, (int32_t)len, 0);
  }
  return input_done(core, ok, rc);
}

mt_status_t mt_configure(mt_core_t *core, int64_t t_ms, const char *json, size_t len) {
  int32_t rc = 0;
  bool ok;
  mt_status_t st = input_allowed(core);
  if (st != MT_OK) {
    return st;
  }
  if (json == NULL && len > 0u) {
    return MT_ERR_PARAM;
  }
  if (len > core->priv_input_capacity) {
    ok = call_raw(core, MT_FN_OVERSIZED_LINE, &rc, (int64_t)(uint64_t)len, 0);
  } else {
    if (len > 0u) {
      copy_in(core, json, len);
    }
    ok = call_raw(core, MT_FN_CONFIGURE, &rc, t_ms, (int32_t)len);
  }
  return input_done(core, ok, rc);
}

mt_status_t mt_tick(mt_core_t *core, int64_t t_ms) {
  int32_t rc = 0;
  bool ok;
  mt_status_t st = input_allowed(core);
  if (st != MT_OK) {
    return st;
  }
  ok = call_raw(core, MT_FN_TICK, &rc, t_ms, 0);
  return input_done(core, ok, rc);
}

mt_status_t mt_finish(mt_core_t *core) {
  int32_t rc = 0;
  bool ok;
  mt_status_t st = input_allowed(core);
  if (st != MT_OK) {
    return st;
  }
  ok = call_raw(core, MT_FN_FINISH, &rc, 0, 0);
  return input_done(core, ok, rc);
}

/* mt_report_loss's "what": the source, plus this flag when the value is a downtime in ms. */
#define MT_LOSS_DOWNTIME 0x100

/* A loss or a downtime the core did not see: counted into its window, never a send. */
static mt_status_t report(mt_core_t *core, int64_t value, int32_t what) {
  const unsigned fn = MT_FN_REPORT_LOSS;
  int32_t rc = 0;
  mt_status_t st = input_allowed(core);
  if (st != MT_OK) {
    return st;
  }
  if (!mt_engine_has(core, fn)) {
    return MT_ERR_ENGINE;
  }
  if (!call_raw(core, fn, &rc, value, what)) {
    return recover(core, false);
  }
  if (rc != MT_OK && rc != MT_SKIPPED) {
    return recover(core, false);
  }
  if (rc == MT_OK) {
    core->priv_inputs_at_risk++; /* a trap before the next message would lose it too */
  }
  return (mt_status_t)rc;
}

mt_status_t mt_report_loss(mt_core_t *core, mt_loss_source_t source, int64_t count) {
  return report(core, count, (int32_t)source);
}

mt_status_t mt_report_gap(mt_core_t *core, mt_loss_source_t source, int64_t ms) {
  return report(core, ms, (int32_t)source | MT_LOSS_DOWNTIME);
}

/* Whether `fn` may be called now with `len` bytes at `bytes`: MT_OK or why not. */
static mt_status_t call_allowed(mt_core_t *core, unsigned fn, const void *bytes, size_t len) {
  mt_status_t st = input_allowed(core);
  if (st != MT_OK) {
    return st;
  }
  if (bytes == NULL && len > 0u) {
    return MT_ERR_PARAM;
  }
  return mt_engine_has(core, fn) ? MT_OK : MT_ERR_ENGINE;
}

/* A call that is not an input (no time passes): its bytes in the input area, MT_OK or MT_SKIPPED. */
static mt_status_t not_input(mt_core_t *core, unsigned fn, const void *bytes, size_t len) {
  int32_t rc = 0;
  mt_status_t st = call_allowed(core, fn, bytes, len);
  if (st != MT_OK) {
    return st;
  }
  if (len > core->priv_input_capacity) {
    host_error(core, "longer than the input area", false, 0, "");
    return MT_SKIPPED;
  }
  if (len > 0u) {
    copy_in(core, bytes, len);
  }
  if (!call_raw(core, fn, &rc, (int32_t)len, 0) || (rc != MT_OK && rc != MT_SKIPPED)) {
    return recover(core, false);
  }
  return (mt_status_t)rc;
}

mt_status_t mt_report_update(mt_core_t *core, const char *json, size_t len) {
  mt_status_t st = not_input(core, MT_FN_REPORT_UPDATE, json, len);
  if (st == MT_OK) {
    core->priv_inputs_at_risk++; /* a trap before the next message would lose it too */
  }
  return st;
}

mt_status_t mt_state_restore(mt_core_t *core, const uint8_t *record, size_t len) {
  return not_input(core, MT_FN_STATE_RESTORE, record, len);
}

mt_status_t mt_state_save(mt_core_t *core, uint8_t *buf, size_t cap, size_t *len) {
  int32_t n = 0;
  uint32_t size = 0;
  mt_status_t st = input_allowed(core);
  if (buf == NULL || len == NULL) {
    return MT_ERR_PARAM;
  }
  *len = 0;
  if (st != MT_OK) {
    return st;
  }
  if (!mt_engine_has(core, MT_FN_STATE_SAVE)) {
    return MT_ERR_ENGINE;
  }
  if (!call_raw(core, MT_FN_STATE_SAVE, &n, 0, 0)) {
    return recover(core, false);
  }
  if (n < 0 || (uint32_t)n > core->priv_output_capacity) {
    return recover(core, false);
  }
  if (n == 0) {
    return MT_SKIPPED; /* something still waits to be sent: the reason is in the error area */
  }
  if ((size_t)n > cap) {
    return MT_ERR_BUFFER;
  }
  memcpy(buf, linear_memory(core, &size) + core->priv_output_ptr, (size_t)n);
  *len = (size_t)n;
  return MT_OK;
}

mt_status_t mt_heartbeat(mt_core_t *core, int64_t t_ms, const char *json, size_t len) {
  int32_t rc = 0;
  bool ok;
  mt_status_t st = call_allowed(core, MT_FN_HEARTBEAT, json, len);
  if (st != MT_OK) {
    return st;
  }
  if (len > core->priv_input_capacity) {
    ok = call_raw(core, MT_FN_OVERSIZED_LINE, &rc, (int64_t)(uint64_t)len, 0);
  } else {
    if (len > 0u) {
      copy_in(core, json, len);
    }
    ok = call_raw(core, MT_FN_HEARTBEAT, &rc, t_ms, (int32_t)len);
  }
  return input_done(core, ok, rc);
}

/* Typed records: a fixed header, then the strings back to back. */
typedef struct text {
  const char *ptr;
  size_t len;
} text_t;

/* Checks the strings and lays them after the header; NULL (with the reason set) when they do
 * not fit the input area. The header bytes are zeroed for the caller to fill. */
static uint8_t *typed_record(mt_core_t *core, uint32_t header, const text_t *texts, unsigned count,
                             mt_status_t *st) {
  size_t total = header;
  uint8_t *at;
  uint8_t *rec;
  unsigned i;
  for (i = 0; i < count; i++) {
    if (texts[i].ptr == NULL && texts[i].len > 0u) {
      *st = MT_ERR_PARAM;
      return NULL;
    }
  }
  for (i = 0; i < count; i++) {
    if (texts[i].len > 0xffffu || texts[i].len > core->priv_input_capacity) {
      total = (size_t)core->priv_input_capacity + 1u;
      break;
    }
    total += texts[i].len;
  }
  if (total > core->priv_input_capacity) {
    /* Same words as the V8 host (host/core.ts), so every engine reports it alike. */
    host_error(core, "record larger than the input area (", true, core->priv_input_capacity,
               " bytes)");
    *st = MT_SKIPPED;
    return NULL;
  }
  rec = input_area(core);
  memset(rec, 0, header);
  at = rec + header;
  for (i = 0; i < count; i++) {
    if (texts[i].len > 0u) {
      memcpy(at, texts[i].ptr, texts[i].len);
    }
    at += texts[i].len;
  }
  *st = MT_OK;
  return rec;
}

mt_status_t mt_ingest_connection(mt_core_t *core, const mt_connection_t *e) {
  text_t texts[2];
  uint8_t *rec;
  int32_t rc = 0;
  bool ok;
  mt_status_t st = input_allowed(core);
  if (st != MT_OK) {
    return st;
  }
  if (e == NULL) {
    return MT_ERR_PARAM;
  }
  texts[0].ptr = e->app;
  texts[0].len = e->app_len;
  texts[1].ptr = e->host;
  texts[1].len = e->host_len;
  rec = typed_record(core, MT_CONN_HEADER, texts, 2, &st);
  if (rec == NULL) {
    return st;
  }
  put_u64(rec + MT_CONN_T, (uint64_t)e->t_ms);
  put_u64(rec + MT_CONN_BYTES_IN, e->bytes_in);
  put_u64(rec + MT_CONN_BYTES_OUT, e->bytes_out);
  memcpy(rec + MT_CONN_LOCAL, e->local, 16);
  memcpy(rec + MT_CONN_REMOTE, e->remote, 16);
  put_u16(rec + MT_CONN_LPORT, e->local_port);
  put_u16(rec + MT_CONN_RPORT, e->remote_port);
  rec[MT_CONN_PROTO] = e->protocol;
  rec[MT_CONN_DIR] = e->direction;
  rec[MT_CONN_FAMILY] = e->family;
  rec[MT_CONN_REMOTE_FAMILY] = e->remote_family;
  put_u16(rec + MT_CONN_APP_LEN, (uint32_t)e->app_len);
  put_u16(rec + MT_CONN_HOST_LEN, (uint32_t)e->host_len);
  ok = call_raw(core, MT_FN_INGEST_CONNECTION, &rc, 0, 0);
  return input_done(core, ok, rc);
}

mt_status_t mt_ingest_process(mt_core_t *core, const mt_process_t *e) {
  text_t texts[3];
  uint8_t *rec;
  int32_t rc = 0;
  bool ok;
  mt_status_t st = input_allowed(core);
  if (st != MT_OK) {
    return st;
  }
  if (e == NULL) {
    return MT_ERR_PARAM;
  }
  texts[0].ptr = e->cmd;
  texts[0].len = e->cmd_len;
  texts[1].ptr = e->exe;
  texts[1].len = e->exe_len;
  texts[2].ptr = e->user;
  texts[2].len = e->user_len;
  rec = typed_record(core, MT_PROC_HEADER, texts, 3, &st);
  if (rec == NULL) {
    return st;
  }
  put_u64(rec + MT_PROC_T, (uint64_t)e->t_ms);
  put_u32(rec + MT_PROC_PID, e->pid);
  put_u32(rec + MT_PROC_PPID, e->ppid);
  put_u32(rec + MT_PROC_UID, e->uid);
  rec[MT_PROC_TYPE] = e->type;
  put_u16(rec + MT_PROC_CMD_LEN, (uint32_t)e->cmd_len);
  put_u16(rec + MT_PROC_EXE_LEN, (uint32_t)e->exe_len);
  put_u16(rec + MT_PROC_USER_LEN, (uint32_t)e->user_len);
  ok = call_raw(core, MT_FN_INGEST_PROCESS, &rc, 0, 0);
  return input_done(core, ok, rc);
}

mt_status_t mt_ingest_baseline(mt_core_t *core, const mt_baseline_t *e) {
  text_t texts[5];
  uint8_t *rec;
  int32_t rc = 0;
  bool ok;
  unsigned i;
  mt_status_t st = input_allowed(core);
  if (st != MT_OK) {
    return st;
  }
  if (e == NULL) {
    return MT_ERR_PARAM;
  }
  texts[0].ptr = e->id;
  texts[0].len = e->id_len;
  texts[1].ptr = e->group;
  texts[1].len = e->group_len;
  texts[2].ptr = e->error;
  texts[2].len = e->error_len;
  texts[3].ptr = e->description;
  texts[3].len = e->description_len;
  texts[4].ptr = e->remediation;
  texts[4].len = e->remediation_len;
  rec = typed_record(core, MT_BASE_HEADER, texts, 5, &st);
  if (rec == NULL) {
    return st;
  }
  put_u64(rec + MT_BASE_T, (uint64_t)e->t_ms);
  rec[MT_BASE_RESULT] = e->result;
  rec[MT_BASE_SEVERITY] = e->severity;
  for (i = 0; i < 5u; i++) {
    put_u16(rec + MT_BASE_ID_LEN + 2 * i, (uint32_t)texts[i].len);
  }
  ok = call_raw(core, MT_FN_INGEST_BASELINE, &rc, 0, 0);
  return input_done(core, ok, rc);
}

mt_status_t mt_ingest_sysinfo(mt_core_t *core, const mt_sysinfo_t *e) {
  text_t texts[4];
  uint8_t *rec;
  int32_t rc = 0;
  bool ok;
  unsigned i;
  mt_status_t st = input_allowed(core);
  if (st != MT_OK) {
    return st;
  }
  if (e == NULL) {
    return MT_ERR_PARAM;
  }
  texts[0].ptr = e->os;
  texts[0].len = e->os_len;
  texts[1].ptr = e->os_version;
  texts[1].len = e->os_version_len;
  texts[2].ptr = e->kernel;
  texts[2].len = e->kernel_len;
  texts[3].ptr = e->hw;
  texts[3].len = e->hw_len;
  rec = typed_record(core, MT_SYS_HEADER, texts, 4, &st);
  if (rec == NULL) {
    return st;
  }
  put_u64(rec + MT_SYS_T, (uint64_t)e->t_ms);
  put_u64(rec + MT_SYS_MEM_TOTAL, e->mem_total);
  for (i = 0; i < 4u; i++) {
    put_u16(rec + MT_SYS_OS_LEN + 2 * i, (uint32_t)texts[i].len);
  }
  ok = call_raw(core, MT_FN_INGEST_SYSINFO, &rc, 0, 0);
  return input_done(core, ok, rc);
}

static uint32_t get_u16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }

mt_status_t mt_ingest_connection_records(mt_core_t *core, const uint8_t *records, size_t len,
                                         size_t *consumed, size_t *skipped) {
  size_t n = 0;
  int32_t count = 0, used = 0, end = 0, rejected = 0, packed = 0;
  mt_status_t st;
  if (consumed != NULL) {
    *consumed = 0;
  }
  if (skipped != NULL) {
    *skipped = 0;
  }
  st = input_allowed(core);
  if (st != MT_OK) {
    return st;
  }
  if (records == NULL || len == 0u || consumed == NULL || skipped == NULL) {
    return MT_ERR_PARAM;
  }
  if (!mt_engine_has(core, MT_FN_INGEST_BATCH)) {
    return MT_ERR_ENGINE;
  }
  /* Whole records that fit the input area together. */
  while (n + MT_CONN_HEADER <= len) {
    size_t size = MT_CONN_HEADER + get_u16(records + n + MT_CONN_APP_LEN) +
                  get_u16(records + n + MT_CONN_HOST_LEN);
    if (n + size > len) {
      break;
    }
    if (size > core->priv_input_capacity) {
      if (n > 0u) {
        break; /* ingest those before it first */
      }
      host_error(core, "record larger than the input area (", true, core->priv_input_capacity,
                 " bytes)");
      *consumed = size;
      *skipped = 1;
      return MT_OK;
    }
    if (n + size > core->priv_input_capacity) {
      break;
    }
    n += size;
    count++;
  }
  if (n == 0u) {
    return MT_ERR_PARAM; /* not even one whole record */
  }
  copy_in(core, records, n);
  records = input_area(core); /* the core only reads typed records: walk them there */
  /* One call per batch: the blob packs where it stopped, how many it rejected and whether
     * chunks are pending into its result (docs/ABI.md). */
  if (!call_raw(core, MT_FN_INGEST_BATCH, &packed, (int32_t)0, (int32_t)n)) {
    return recover(core, true);
  }
  end = packed & 0x1ffff;
  rejected = (packed >> 17) & 0x7ff;
  /* Records consumed: all of them, or those before where the core stopped (walked again). */
  if ((size_t)end == n) {
    used = count;
  }
  for (size_t at = 0; (size_t)end < n && at < (size_t)end && at + MT_CONN_HEADER <= n; used++) {
    at += MT_CONN_HEADER + get_u16(records + at + MT_CONN_APP_LEN) +
          get_u16(records + at + MT_CONN_HOST_LEN);
  }
  if (packed < 0 || used <= 0 || end <= 0 || (size_t)end > n || rejected > used) {
    return recover(core, true); /* the core broke the ABI's promises */
  }
  *consumed = (size_t)end;
  *skipped = (size_t)rejected;
  core->priv_inputs_at_risk += (uint32_t)(used - rejected);
  if ((packed & (1 << 28)) != 0) {
    return look_for_chunks(core);
  }
  return MT_OK;
}

/* ---- output -------------------------------------------------------------------------- */

mt_status_t mt_next_chunk(mt_core_t *core, const uint8_t **data, size_t *len, bool *ends_message) {
  int32_t n = 0;
  int32_t ends = 0;
  uint32_t size = 0;
  mt_status_t st = usable(core);
  if (data == NULL || len == NULL || ends_message == NULL) {
    return MT_ERR_PARAM;
  }
  *data = NULL;
  *len = 0;
  *ends_message = false;
  if (st != MT_OK) {
    return st;
  }
  if ((core->priv_flags & FLAG_PENDING) == 0u) {
    return MT_NO_MESSAGE;
  }
  if (core->priv_prefetched > 0u) {
    n = (int32_t)core->priv_prefetched;
    core->priv_prefetched = 0;
  } else {
    if (!call_raw(core, MT_FN_NEXT_CHUNK, &n, 0, 0)) {
      return recover(core, false);
    }
    if (n < 0 || (uint32_t)n > core->priv_output_capacity) {
      return recover(core, false);
    }
    if (n == 0) {
      /* The pending input has now been applied. */
      core->priv_flags &= ~(FLAG_PENDING | FLAG_IN_MESSAGE);
      return MT_NO_MESSAGE;
    }
  }
  if (!call_raw(core, MT_FN_CHUNK_ENDS_MESSAGE, &ends, 0, 0)) {
    return recover(core, false);
  }
  if (ends != 0) {
    core->priv_flags &= ~FLAG_IN_MESSAGE;
    core->priv_inputs_at_risk = 0;
  } else {
    core->priv_flags |= FLAG_IN_MESSAGE;
  }
  *data = linear_memory(core, &size) + core->priv_output_ptr;
  *len = (size_t)n;
  *ends_message = ends != 0;
  return MT_OK;
}

mt_status_t mt_next_message(mt_core_t *core, uint8_t *buf, size_t capacity, size_t *len) {
  size_t total = 0;
  if (buf == NULL || len == NULL) {
    return MT_ERR_PARAM;
  }
  *len = 0;
  for (;;) {
    const uint8_t *chunk = NULL;
    size_t n = 0;
    bool ends = false;
    mt_status_t st = mt_next_chunk(core, &chunk, &n, &ends);
    if (st != MT_OK) {
      /* A drain that ends mid-message would be a core fault; NO_MESSAGE is normal. */
      return st;
    }
    if (total <= capacity && n <= capacity - total) {
      memcpy(buf + total, chunk, n);
    }
    total += n;
    if (ends) {
      *len = total;
      if (total > capacity) {
        core->priv_counters.discarded_messages++;
        return MT_ERR_BUFFER;
      }
      return MT_OK;
    }
  }
}

mt_status_t mt_last_error(mt_core_t *core, const char **text, size_t *len) {
  int32_t n = 0;
  uint32_t size = 0;
  mt_status_t st = usable(core);
  if (text == NULL || len == NULL) {
    return MT_ERR_PARAM;
  }
  *text = "";
  *len = 0;
  if (st != MT_OK) {
    return st;
  }
  if (core->priv_host_error_len > 0u) {
    *text = core->priv_host_error;
    *len = core->priv_host_error_len;
    return MT_OK;
  }
  if (!call_raw(core, MT_FN_ERROR_LENGTH, &n, 0, 0)) {
    return recover(core, false);
  }
  {
    uint8_t *mem = linear_memory(core, &size);
    if (n < 0 || (uint64_t)core->priv_error_ptr + (uint32_t)n > size) {
      return recover(core, false);
    }
    *text = (const char *)(mem + core->priv_error_ptr);
    *len = (size_t)n;
  }
  return MT_OK;
}

mt_status_t mt_stats(mt_core_t *core, const char **json, size_t *len) {
  int32_t n = 0;
  uint32_t size = 0;
  mt_status_t st = usable(core);
  if (json == NULL || len == NULL) {
    return MT_ERR_PARAM;
  }
  *json = "";
  *len = 0;
  if (st != MT_OK) {
    return st;
  }
  if ((core->priv_flags & FLAG_PENDING) != 0u) {
    return MT_BUSY; /* it would overwrite a chunk still in the output area */
  }
  if (!call_raw(core, MT_FN_STATS, &n, 0, 0)) {
    return recover(core, false);
  }
  if (n < 0 || (uint32_t)n > core->priv_output_capacity) {
    return recover(core, false);
  }
  *json = (const char *)(linear_memory(core, &size) + core->priv_output_ptr);
  *len = (size_t)n;
  return MT_OK;
}

/* ---- information --------------------------------------------------------------------- */

mt_status_t mt_get_counters(const mt_core_t *core, mt_counters_t *counters) {
  if (core == NULL || counters == NULL) {
    return MT_ERR_PARAM;
  }
  *counters = core->priv_counters;
  return MT_OK;
}

uint8_t *mt_input_area(mt_core_t *core, size_t *capacity) {
  if (capacity != NULL) {
    *capacity = ready(core) ? core->priv_input_capacity : 0u;
  }
  if (!ready(core) || (core->priv_flags & FLAG_BROKEN) != 0u) {
    return NULL;
  }
  return input_area(core);
}

size_t mt_input_capacity(const mt_core_t *core) {
  return ready(core) ? core->priv_input_capacity : 0u;
}

mt_status_t mt_unload(mt_core_t *core) {
  if (core == NULL) {
    return MT_ERR_PARAM;
  }
  if (core->priv_runtime == NULL && core->priv_heap_start == 0u && core->priv_magic != MT_MAGIC) {
    return MT_ERR_STATE;
  }
  if (!mt_engine_unload(core)) {
    return MT_ERR_ENGINE;
  }
  mt_counters_t counters = core->priv_counters;
  memset(core, 0, sizeof *core);
  core->priv_counters = counters; /* the next mt_init of this core goes on counting */
  core->priv_magic = MT_UNLOADED;
  return MT_OK;
}

size_t mt_heap_peak(void) { return mt_engine_ram_peak(); }

size_t mt_heap_used(const mt_core_t *core) { return ready(core) ? mt_engine_ram(core) : 0u; }

size_t mt_engine_stack_used(const mt_core_t *core) {
  return ready(core) ? mt_engine_stack(core) : 0u;
}

const char *mt_status_name(mt_status_t status) {
  switch (status) {
    case MT_OK:
      return "MT_OK";
    case MT_SKIPPED:
      return "MT_SKIPPED";
    case MT_BLANK:
      return "MT_BLANK";
    case MT_BUSY:
      return "MT_BUSY";
    case MT_NO_MESSAGE:
      return "MT_NO_MESSAGE";
    case MT_ERR_PARAM:
      return "MT_ERR_PARAM";
    case MT_ERR_STATE:
      return "MT_ERR_STATE";
    case MT_ERR_ENGINE:
      return "MT_ERR_ENGINE";
    case MT_ERR_TRAP:
      return "MT_ERR_TRAP";
    case MT_ERR_BUFFER:
      return "MT_ERR_BUFFER";
    default:
      return "MT_UNKNOWN";
  }
}
