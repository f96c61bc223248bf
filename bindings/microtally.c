/*
 * microtally.c — the C API of microtally.h over wasm3: loads the blob, writes inputs into its
 * input area (docs/ABI.md), calls its exports, and turns traps into a status plus a re-init.
 * Standard C99 and wasm3 only: no POSIX, no RTOS, no libc allocation.
 */
#include "microtally_wasm3_options.h"

#include "microtally.h"

#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include "wasm3.h"
#include "m3_env.h" /* runtime->memoryLimit (no public setter in wasm3 0.5.0) */

#define MT_MAGIC 0x6d74616cu /* "mtal": set while a core is initialised */

/* priv_flags */
#define FLAG_PENDING 0x1u    /* chunks are pending: inputs answer MT_BUSY */
#define FLAG_IN_MESSAGE 0x2u /* some chunks of a message were taken, not its last one */
#define FLAG_BROKEN 0x4u     /* re-initialisation after a trap failed */

/* Blob exports kept for calls after mt_init, by index into priv_fn. */
enum {
    FN_INIT,
    FN_SET_AGENT_ID,
    FN_INGEST_LINE,
    FN_OVERSIZED_LINE,
    FN_INGEST_CONNECTION,
    FN_INGEST_PROCESS,
    FN_INGEST_BASELINE,
    FN_INGEST_SYSINFO,
    FN_CONFIGURE,
    FN_TICK,
    FN_FINISH,
    FN_NEXT_CHUNK,
    FN_CHUNK_ENDS_MESSAGE,
    FN_STATS,
    FN_ERROR_LENGTH,
    FN_REQUIRED, /* the ones below may be missing (older or stand-in blobs) */
    FN_INGEST_BATCH = FN_REQUIRED,
    FN_PENDING,
    FN_COUNT
};

static const char *const fn_names[FN_COUNT] = {
    "mt_init",           "mt_set_agent_id",    "mt_ingest_line",    "mt_oversized_line",
    "mt_ingest_connection", "mt_ingest_process", "mt_ingest_baseline", "mt_ingest_sysinfo",
    "mt_configure",      "mt_tick",            "mt_finish",         "mt_next_chunk",
    "mt_chunk_ends_message", "mt_stats",       "mt_error_length",   "mt_ingest_batch",
    "mt_pending",
};

/* C89-style static assertion: the private array must hold every kept export. */
typedef char mt_fn_table_fits[(FN_COUNT <= MT_PRIV_FUNCTION_COUNT) ? 1 : -1];

/* Sizes of the typed records' fixed headers (docs/ABI.md). */
#define CONNECTION_HEADER 68u
#define PROCESS_HEADER 28u
#define BASELINE_HEADER 20u
#define SYSINFO_HEADER 24u

/* ---- small helpers ------------------------------------------------------------------- */

static bool ready(const mt_core_t *core)
{
    return core != NULL && core->priv_magic == MT_MAGIC;
}

static uint8_t *linear_memory(mt_core_t *core, uint32_t *size)
{
    return m3_GetMemory((IM3Runtime)core->priv_runtime, size, 0);
}

static uint8_t *input_area(mt_core_t *core)
{
    uint32_t size = 0;
    return linear_memory(core, &size) + core->priv_input_ptr;
}

static void put_u16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    put_u16(p, v & 0xffffu);
    put_u16(p + 2, v >> 16);
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

/* Top of wasm3's fixed heap, probed with a one-byte allocation that is given straight back
 * (the bump allocator frees its last chunk). 0 without a fixed heap. */
static uintptr_t heap_top(void)
{
#if d_m3FixedHeap
    void *probe = m3_Malloc(1);
    uintptr_t at = (uintptr_t)probe;
    if (probe != NULL) {
        m3_FreeImpl(probe);
    }
    return at;
#else
    return 0;
#endif
}

/* Sets the reason of a rejection decided here, not by the blob: prefix, number (unless
 * with_number is false), suffix. */
static void host_error(mt_core_t *core, const char *prefix, bool with_number, uint32_t number,
                       const char *suffix)
{
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

/* One export call with its i32 result; false when wasm3 reports a trap (or any failure). */
static bool call_raw(mt_core_t *core, unsigned fn, int32_t *result, ...)
{
    IM3Function f = (IM3Function)core->priv_fn[fn];
    va_list args;
    M3Result r;
    va_start(args, result);
    r = m3_CallVL(f, args);
    va_end(args);
    if (r == m3Err_none) {
        r = m3_GetResultsV(f, result);
    }
    return r == m3Err_none;
}

/* The blob's mt_init, then the agent id the caller set: the state after mt_init + set id. */
static bool reinit(mt_core_t *core)
{
    int32_t rc = -1;
    core->priv_flags &= ~(FLAG_PENDING | FLAG_IN_MESSAGE);
    core->priv_prefetched = 0;
    core->priv_inputs_at_risk = 0;
    core->priv_host_error_len = 0;
    if (!call_raw(core, FN_INIT, &rc) || rc != 0) {
        return false;
    }
    if (core->priv_agent_id_len > 0u) {
        memcpy(input_area(core), core->priv_agent_id, core->priv_agent_id_len);
        if (!call_raw(core, FN_SET_AGENT_ID, &rc, (int32_t)core->priv_agent_id_len) || rc != 0) {
            return false;
        }
    }
    return true;
}

/* A call trapped: count what is lost, bring the core back, tell the caller. */
static mt_status_t recover(mt_core_t *core, bool lost_input)
{
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

static mt_status_t usable(const mt_core_t *core)
{
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
static mt_status_t input_allowed(mt_core_t *core)
{
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
static mt_status_t look_for_chunks(mt_core_t *core)
{
    int32_t n = 0;
    if (core->priv_fn[FN_PENDING] != NULL) {
        /* Blobs that export mt_pending say so directly; no message is built before it is asked for. */
        if (!call_raw(core, FN_PENDING, &n) || n < 0 || n > 1) {
            return recover(core, false);
        }
        if (n == 1) {
            core->priv_flags |= FLAG_PENDING;
        }
        return MT_OK;
    }
    if (!call_raw(core, FN_NEXT_CHUNK, &n)) {
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

static mt_status_t input_done(mt_core_t *core, bool ok, int32_t rc)
{
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
static bool query(IM3Runtime runtime, const char *name, int32_t *value)
{
    IM3Function f = NULL;
    if (m3_FindFunction(&f, runtime, name) != m3Err_none) {
        return false;
    }
    if (m3_CallV(f) != m3Err_none) {
        return false;
    }
    return m3_GetResultsV(f, value) == m3Err_none;
}

static bool area_inside(int32_t ptr, int32_t len, uint32_t memory_size)
{
    return ptr >= 0 && len > 0 && (uint64_t)(uint32_t)ptr + (uint32_t)len <= memory_size;
}

mt_status_t mt_init(mt_core_t *core, const mt_config_t *config)
{
    IM3Environment env;
    IM3Runtime runtime;
    IM3Module module = NULL;
    int32_t version = 0, in_ptr = 0, in_cap = 0, out_ptr = 0, out_cap = 0, err_ptr = 0;
    int32_t memory_end = 0;
    uint32_t memory_size = 0;
    unsigned i;

    if (core == NULL || config == NULL || config->blob == NULL || config->blob_size == 0u ||
        config->blob_size > UINT32_MAX) {
        return MT_ERR_PARAM;
    }
    if (ready(core)) {
        return MT_ERR_STATE;
    }
    memset(core, 0, sizeof *core);
    core->priv_heap_start = heap_top();

    env = m3_NewEnvironment();
    if (env == NULL) {
        return MT_ERR_ENGINE;
    }
    runtime = m3_NewRuntime(env, MT_WASM3_STACK_BYTES, core);
    if (runtime == NULL) {
        return MT_ERR_ENGINE;
    }
    runtime->memoryLimit = config->memory_limit;
    if (m3_ParseModule(env, &module, config->blob, (uint32_t)config->blob_size) != m3Err_none) {
        return MT_ERR_ENGINE;
    }
    if (m3_LoadModule(runtime, module) != m3Err_none) {
        return MT_ERR_ENGINE;
    }
#if MT_WASM3_COMPILE_AT_INIT
    /* Compile everything now, so no code page is allocated later, in the middle of a run. */
    if (m3_CompileModule(module) != m3Err_none) {
        return MT_ERR_ENGINE;
    }
#endif
    for (i = 0; i < FN_COUNT; i++) {
        IM3Function f = NULL;
        /* The first lookup runs the blob's start function. */
        if (m3_FindFunction(&f, runtime, fn_names[i]) != m3Err_none) {
            if (i < FN_REQUIRED) {
                return MT_ERR_ENGINE;
            }
            f = NULL;
        }
        core->priv_fn[i] = f;
    }
    if (!query(runtime, "mt_abi_version", &version) || version != 1 ||
        !query(runtime, "mt_input_ptr", &in_ptr) || !query(runtime, "mt_input_capacity", &in_cap) ||
        !query(runtime, "mt_output_ptr", &out_ptr) ||
        !query(runtime, "mt_output_capacity", &out_cap) ||
        !query(runtime, "mt_error_ptr", &err_ptr)) {
        return MT_ERR_ENGINE;
    }
    (void)m3_GetMemory(runtime, &memory_size, 0);
    /* With a limit, the blob must vouch that it never goes above it. */
    if (config->memory_limit != 0u &&
        (!query(runtime, "mt_memory_end", &memory_end) || memory_end < 0 ||
         (uint32_t)memory_end > config->memory_limit)) {
        return MT_ERR_ENGINE;
    }
    /* The bindings write these areas directly: they must lie inside linear memory. The
     * input area needs room for the agent id and the fixed header of every typed record. */
    if (!area_inside(in_ptr, in_cap, memory_size) || !area_inside(out_ptr, out_cap, memory_size) ||
        !area_inside(err_ptr, 1, memory_size) || in_cap < (int32_t)CONNECTION_HEADER) {
        return MT_ERR_ENGINE;
    }
    core->priv_env = env;
    core->priv_runtime = runtime;
    core->priv_input_ptr = (uint32_t)in_ptr;
    core->priv_input_capacity = (uint32_t)in_cap;
    core->priv_output_ptr = (uint32_t)out_ptr;
    core->priv_output_capacity = (uint32_t)out_cap;
    core->priv_error_ptr = (uint32_t)err_ptr;
    core->priv_magic = MT_MAGIC;
    if (!reinit(core)) {
        core->priv_magic = 0;
        return MT_ERR_ENGINE;
    }
    return MT_OK;
}

mt_status_t mt_reset(mt_core_t *core)
{
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

mt_status_t mt_set_agent_id(mt_core_t *core, const char *id, size_t len)
{
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
    ok = call_raw(core, FN_SET_AGENT_ID, &rc, (int32_t)len);
    if (!ok) {
        return recover(core, false);
    }
    if (rc == MT_OK && len == sizeof core->priv_agent_id) {
        memcpy(core->priv_agent_id, id, len);
        core->priv_agent_id_len = (uint8_t)len;
    }
    return rc == MT_OK ? MT_OK : MT_SKIPPED;
}

mt_status_t mt_ingest_line(mt_core_t *core, const char *line, size_t len)
{
    int32_t rc = 0;
    bool ok;
    mt_status_t st = input_allowed(core);
    if (st != MT_OK) {
        return st;
    }
    if (line == NULL && len > 0u) {
        return MT_ERR_PARAM;
    }
    if (len > core->priv_input_capacity) {
        /* The core counts it and words the reason; its bytes never enter the blob. */
        int32_t n = len > (size_t)INT32_MAX ? INT32_MAX : (int32_t)len;
        ok = call_raw(core, FN_OVERSIZED_LINE, &rc, n);
    } else {
        if (len > 0u) {
            memcpy(input_area(core), line, len);
        }
        ok = call_raw(core, FN_INGEST_LINE, &rc, (int32_t)len);
    }
    return input_done(core, ok, rc);
}

mt_status_t mt_configure(mt_core_t *core, int64_t t_ms, const char *json, size_t len)
{
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
        int32_t n = len > (size_t)INT32_MAX ? INT32_MAX : (int32_t)len;
        ok = call_raw(core, FN_OVERSIZED_LINE, &rc, n);
    } else {
        if (len > 0u) {
            memcpy(input_area(core), json, len);
        }
        ok = call_raw(core, FN_CONFIGURE, &rc, t_ms, (int32_t)len);
    }
    return input_done(core, ok, rc);
}

mt_status_t mt_tick(mt_core_t *core, int64_t t_ms)
{
    int32_t rc = 0;
    bool ok;
    mt_status_t st = input_allowed(core);
    if (st != MT_OK) {
        return st;
    }
    ok = call_raw(core, FN_TICK, &rc, t_ms);
    return input_done(core, ok, rc);
}

mt_status_t mt_finish(mt_core_t *core)
{
    int32_t rc = 0;
    bool ok;
    mt_status_t st = input_allowed(core);
    if (st != MT_OK) {
        return st;
    }
    ok = call_raw(core, FN_FINISH, &rc);
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
                             mt_status_t *st)
{
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

mt_status_t mt_ingest_connection(mt_core_t *core, const mt_connection_t *e)
{
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
    rec = typed_record(core, CONNECTION_HEADER, texts, 2, &st);
    if (rec == NULL) {
        return st;
    }
    put_u64(rec + 0, (uint64_t)e->t_ms);
    put_u64(rec + 8, e->bytes_in);
    put_u64(rec + 16, e->bytes_out);
    memcpy(rec + 24, e->local, 16);
    memcpy(rec + 40, e->remote, 16);
    put_u16(rec + 56, e->local_port);
    put_u16(rec + 58, e->remote_port);
    rec[60] = e->protocol;
    rec[61] = e->direction;
    rec[62] = e->family;
    rec[63] = e->remote_family;
    put_u16(rec + 64, (uint32_t)e->app_len);
    put_u16(rec + 66, (uint32_t)e->host_len);
    ok = call_raw(core, FN_INGEST_CONNECTION, &rc);
    return input_done(core, ok, rc);
}

mt_status_t mt_ingest_process(mt_core_t *core, const mt_process_t *e)
{
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
    rec = typed_record(core, PROCESS_HEADER, texts, 3, &st);
    if (rec == NULL) {
        return st;
    }
    put_u64(rec + 0, (uint64_t)e->t_ms);
    put_u32(rec + 8, e->pid);
    put_u32(rec + 12, e->ppid);
    put_u32(rec + 16, e->uid);
    rec[20] = e->type;
    put_u16(rec + 22, (uint32_t)e->cmd_len);
    put_u16(rec + 24, (uint32_t)e->exe_len);
    put_u16(rec + 26, (uint32_t)e->user_len);
    ok = call_raw(core, FN_INGEST_PROCESS, &rc);
    return input_done(core, ok, rc);
}

mt_status_t mt_ingest_baseline(mt_core_t *core, const mt_baseline_t *e)
{
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
    rec = typed_record(core, BASELINE_HEADER, texts, 5, &st);
    if (rec == NULL) {
        return st;
    }
    put_u64(rec + 0, (uint64_t)e->t_ms);
    rec[8] = e->result;
    rec[9] = e->severity;
    for (i = 0; i < 5u; i++) {
        put_u16(rec + 10 + 2 * i, (uint32_t)texts[i].len);
    }
    ok = call_raw(core, FN_INGEST_BASELINE, &rc);
    return input_done(core, ok, rc);
}

mt_status_t mt_ingest_sysinfo(mt_core_t *core, const mt_sysinfo_t *e)
{
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
    rec = typed_record(core, SYSINFO_HEADER, texts, 4, &st);
    if (rec == NULL) {
        return st;
    }
    put_u64(rec + 0, (uint64_t)e->t_ms);
    put_u64(rec + 8, e->mem_total);
    for (i = 0; i < 4u; i++) {
        put_u16(rec + 16 + 2 * i, (uint32_t)texts[i].len);
    }
    ok = call_raw(core, FN_INGEST_SYSINFO, &rc);
    return input_done(core, ok, rc);
}

static uint32_t get_u16(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

mt_status_t mt_ingest_connection_records(mt_core_t *core, const uint8_t *records, size_t len,
                                         size_t *consumed, size_t *skipped)
{
    size_t n = 0;
    int32_t used = 0, end = 0, rejected = 0, packed = 0;
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
    if (core->priv_fn[FN_INGEST_BATCH] == NULL) {
        return MT_ERR_ENGINE;
    }
    /* Whole records that fit the input area together. */
    while (n + CONNECTION_HEADER <= len) {
        size_t size = CONNECTION_HEADER + get_u16(records + n + 64) + get_u16(records + n + 66);
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
    }
    if (n == 0u) {
        return MT_ERR_PARAM; /* not even one whole record */
    }
    memcpy(input_area(core), records, n);
    /* One call per batch: the blob packs where it stopped, how many it rejected and whether
     * chunks are pending into its result (docs/ABI.md). */
    if (!call_raw(core, FN_INGEST_BATCH, &packed, (int32_t)0, (int32_t)n)) {
        return recover(core, true);
    }
    end = packed & 0x1ffff;
    rejected = (packed >> 17) & 0x7ff;
    for (size_t at = 0; at < (size_t)end && at + CONNECTION_HEADER <= n; used++) {
        at += CONNECTION_HEADER + get_u16(records + at + 64) + get_u16(records + at + 66);
    }
    if (packed < 0 || used <= 0 || end <= 0 || (size_t)end > n || rejected > used) {
        return recover(core, true); /* the core broke the ABI's promises */
    }
    *consumed = (size_t)end;
    *skipped = (size_t)rejected;
    core->priv_inputs_at_risk += (uint32_t)(used - rejected);
    if ((packed & (1 << 28)) != 0) {
        core->priv_flags |= FLAG_PENDING;
    }
    return MT_OK;
}

/* ---- output -------------------------------------------------------------------------- */

mt_status_t mt_next_chunk(mt_core_t *core, const uint8_t **data, size_t *len, bool *ends_message)
{
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
        if (!call_raw(core, FN_NEXT_CHUNK, &n)) {
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
    if (!call_raw(core, FN_CHUNK_ENDS_MESSAGE, &ends)) {
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

mt_status_t mt_next_message(mt_core_t *core, uint8_t *buf, size_t capacity, size_t *len)
{
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

mt_status_t mt_last_error(mt_core_t *core, const char **text, size_t *len)
{
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
    if (!call_raw(core, FN_ERROR_LENGTH, &n)) {
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

mt_status_t mt_stats(mt_core_t *core, const char **json, size_t *len)
{
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
    if (!call_raw(core, FN_STATS, &n)) {
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

mt_status_t mt_get_counters(const mt_core_t *core, mt_counters_t *counters)
{
    if (core == NULL || counters == NULL) {
        return MT_ERR_PARAM;
    }
    *counters = core->priv_counters;
    return MT_OK;
}

size_t mt_input_capacity(const mt_core_t *core)
{
    return ready(core) ? core->priv_input_capacity : 0u;
}

size_t mt_heap_used(const mt_core_t *core)
{
    uintptr_t top;
    if (!ready(core) || core->priv_heap_start == 0u) {
        return 0;
    }
    top = heap_top();
    return top > core->priv_heap_start ? (size_t)(top - core->priv_heap_start) : 0u;
}

const char *mt_status_name(mt_status_t status)
{
    switch (status) {
    case MT_OK: return "MT_OK";
    case MT_SKIPPED: return "MT_SKIPPED";
    case MT_BLANK: return "MT_BLANK";
    case MT_BUSY: return "MT_BUSY";
    case MT_NO_MESSAGE: return "MT_NO_MESSAGE";
    case MT_ERR_PARAM: return "MT_ERR_PARAM";
    case MT_ERR_STATE: return "MT_ERR_STATE";
    case MT_ERR_ENGINE: return "MT_ERR_ENGINE";
    case MT_ERR_TRAP: return "MT_ERR_TRAP";
    case MT_ERR_BUFFER: return "MT_ERR_BUFFER";
    default: return "MT_UNKNOWN";
    }
}
