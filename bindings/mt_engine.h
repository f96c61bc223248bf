/*
 * mt_engine.h — the seam between the C API (microtally.c, written once) and the engine that
 * runs the blob. A build links exactly one implementation:
 *   mt_engine_wasm3.c  the blob under the wasm3 interpreter (replaceable without reflashing)
 *   mt_engine_aot.c    the same blob translated to C ahead of time by wasm2c (in flash)
 * Private to bindings/: applications use microtally.h only.
 */
#ifndef MT_ENGINE_H
#define MT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "microtally.h"

/* The blob exports the bindings call (docs/ABI.md), by index. */
enum mt_fn {
  MT_FN_INIT,
  MT_FN_SET_AGENT_ID,
  MT_FN_INGEST_LINE,
  MT_FN_OVERSIZED_LINE,
  MT_FN_INGEST_CONNECTION,
  MT_FN_INGEST_PROCESS,
  MT_FN_INGEST_BASELINE,
  MT_FN_INGEST_SYSINFO,
  MT_FN_CONFIGURE,
  MT_FN_TICK,
  MT_FN_FINISH,
  MT_FN_NEXT_CHUNK,
  MT_FN_CHUNK_ENDS_MESSAGE,
  MT_FN_STATS,
  MT_FN_ERROR_LENGTH,
  /* asked once at start */
  MT_FN_ABI_VERSION,
  MT_FN_INPUT_PTR,
  MT_FN_INPUT_CAPACITY,
  MT_FN_OUTPUT_PTR,
  MT_FN_OUTPUT_CAPACITY,
  MT_FN_ERROR_PTR,
  MT_FN_REQUIRED, /* the ones below may be missing (older or stand-in blobs) */
  MT_FN_MEMORY_END = MT_FN_REQUIRED,
  MT_FN_INGEST_BATCH,
  MT_FN_PENDING,
  MT_FN_SET_FORMAT,
  MT_FN_REPORT_LOSS,
  MT_FN_STATE_SAVE, /* ABI 5: a core swap's carry-over, the AgentUpdate and Heartbeat records */
  MT_FN_STATE_RESTORE,
  MT_FN_REPORT_UPDATE,
  MT_FN_HEARTBEAT,
  MT_FN_COUNT
};

/* Parameters of an export: every one returns an i32 (docs/ABI.md). */
enum mt_fn_params {
  MT_PARAMS_NONE,    /* () */
  MT_PARAMS_I32,     /* (a) */
  MT_PARAMS_I64,     /* (a) */
  MT_PARAMS_I64_I32, /* (a, b) */
  MT_PARAMS_I32_I32  /* (a, b) */
};

/* The export names and their parameters, indexed by enum mt_fn (defined in microtally.c). */
extern const char *const mt_fn_names[MT_FN_COUNT];
extern const uint8_t mt_fn_params[MT_FN_COUNT];

/**
 * Loads the blob of config for this core (the core was zeroed by the caller). Runs nothing of
 * the blob but its start function.
 * @return true when every required export is there; false otherwise (MT_ERR_ENGINE).
 */
bool mt_engine_load(mt_core_t *core, const mt_config_t *config);

/** Whether the loaded blob has the export fn. */
bool mt_engine_has(const mt_core_t *core, unsigned fn);

/**
 * Whether the engine still belongs to this core (an ahead-of-time build runs one core per
 * translated blob: a later mt_init of another core on the same blob takes it over).
 */
bool mt_engine_owned(const mt_core_t *core);

/**
 * Calls export fn with the arguments its parameters take (an i32 parameter is the low 32
 * bits of a), storing its i32 result.
 * @return false when the blob trapped (the engine is ready for the next call).
 */
bool mt_engine_call(mt_core_t *core, unsigned fn, int64_t a, int32_t b, int32_t *result);

/** The blob's linear memory and its usable size in bytes. */
uint8_t *mt_engine_memory(mt_core_t *core, uint32_t *size);

/** RAM this core's engine took at mt_init (see mt_heap_used in microtally.h). */
size_t mt_engine_ram(const mt_core_t *core);

/** High-water mark of the engine's own stack (see mt_engine_stack_used in microtally.h). */
size_t mt_engine_stack(const mt_core_t *core);

#endif /* MT_ENGINE_H */
