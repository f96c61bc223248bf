/*
 * mt_engine_wasm3.c — the engine seam (mt_engine.h) over the wasm3 interpreter: the blob is
 * parsed in place (it may sit in flash) and compiled into wasm3's one static heap
 * (d_m3FixedHeap), which also holds the linear memory and the interpreter stack.
 */
#include "microtally_wasm3_options.h"

#include "mt_engine.h"

#include <string.h>

#include "wasm3.h"
#include "m3_env.h" /* runtime->memoryLimit (no public setter in wasm3 0.5.0) */

#define STACK_PAINT 0xa5

/* Top of wasm3's fixed heap, probed with a one-byte allocation that is given straight back
 * (the bump allocator frees its last chunk). 0 without a fixed heap. */
static uintptr_t heap_top(void) {
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

/* In mt_wasm3_heap.c, which compiles wasm3's allocator. */
void mt_wasm3_heap_rewind(void *mark);
size_t mt_wasm3_heap_in_use(void);

/* The most of the fixed heap in use at once: wasm3 allocates only while it loads a blob. */
static size_t heap_peak;

static void note_peak(void) {
  size_t used = mt_wasm3_heap_in_use();
  if (used > heap_peak) {
    heap_peak = used;
  }
}

static bool load(mt_core_t *core, const mt_config_t *config);

bool mt_engine_load(mt_core_t *core, const mt_config_t *config) {
  bool ok = load(core, config);
  note_peak();
  return ok;
}

bool mt_engine_unload(mt_core_t *core) {
  note_peak();
  /* Everything this core's load allocated lies above the mark it started from. */
  mt_wasm3_heap_rewind((void *)core->priv_heap_start);
  return true;
}

/* The blob is data: another one loads in its place. */
bool mt_engine_can_swap(void) { return true; }

size_t mt_engine_ram_peak(void) {
  note_peak();
  return heap_peak;
}

static bool load(mt_core_t *core, const mt_config_t *config) {
  IM3Environment env;
  IM3Runtime runtime;
  IM3Module module = NULL;
  unsigned i;

  core->priv_heap_start = heap_top();
  env = m3_NewEnvironment();
  if (env == NULL) {
    return false;
  }
  runtime = m3_NewRuntime(env, MT_WASM3_STACK_BYTES, core);
  if (runtime == NULL) {
    return false;
  }
  runtime->memoryLimit = config->memory_limit;
  /* Painted, so its high-water mark can be measured (wasm3 zeroes a function's locals on entry
     * and writes every other slot before reading it). */
  memset(runtime->stack, STACK_PAINT, runtime->numStackSlots * sizeof(m3slot_t));
  if (m3_ParseModule(env, &module, config->blob, (uint32_t)config->blob_size) != m3Err_none) {
    return false;
  }
  if (m3_LoadModule(runtime, module) != m3Err_none) {
    return false;
  }
#if MT_WASM3_COMPILE_AT_INIT
  /* Compile everything now, so no code page is allocated later, in the middle of a run. */
  if (m3_CompileModule(module) != m3Err_none) {
    return false;
  }
#endif
  for (i = 0; i < MT_FN_COUNT; i++) {
    IM3Function f = NULL;
    /* The first lookup runs the blob's start function. */
    if (m3_FindFunction(&f, runtime, mt_fn_names[i]) != m3Err_none) {
      if (i < MT_FN_REQUIRED) {
        return false;
      }
      f = NULL;
    }
    core->priv_fn[i] = f;
  }
  core->priv_env = env;
  core->priv_runtime = runtime;
  return true;
}

bool mt_engine_has(const mt_core_t *core, unsigned fn) {
  return fn < MT_FN_COUNT && core->priv_fn[fn] != NULL;
}

bool mt_engine_owned(const mt_core_t *core) {
  (void)core; /* every core has its own runtime */
  return true;
}

bool mt_engine_call(mt_core_t *core, unsigned fn, int64_t a, int32_t b, int32_t *result) {
  IM3Function f = (IM3Function)core->priv_fn[fn];
  M3Result r;
  if (f == NULL) {
    return false;
  }
  switch (mt_fn_params[fn]) {
    case MT_PARAMS_I32:
      r = m3_CallV(f, (int32_t)a);
      break;
    case MT_PARAMS_I64:
      r = m3_CallV(f, a);
      break;
    case MT_PARAMS_I64_I32:
      r = m3_CallV(f, a, b);
      break;
    case MT_PARAMS_I32_I32:
      r = m3_CallV(f, (int32_t)a, b);
      break;
    default:
      r = m3_CallV(f);
      break;
  }
  if (r == m3Err_none) {
    r = m3_GetResultsV(f, result);
  }
  return r == m3Err_none;
}

uint8_t *mt_engine_memory(mt_core_t *core, uint32_t *size) {
  return m3_GetMemory((IM3Runtime)core->priv_runtime, size, 0);
}

size_t mt_engine_ram(const mt_core_t *core) {
  uintptr_t top;
  if (core->priv_heap_start == 0u) {
    return 0;
  }
  top = heap_top();
  return top > core->priv_heap_start ? (size_t)(top - core->priv_heap_start) : 0u;
}

size_t mt_engine_stack(const mt_core_t *core) {
  IM3Runtime runtime = (IM3Runtime)core->priv_runtime;
  const uint8_t *stack = (const uint8_t *)runtime->stack;
  size_t n = runtime->numStackSlots * sizeof(m3slot_t);
  /* wasm3's stack grows upwards from runtime->stack. */
  while (n > 0u && stack[n - 1u] == STACK_PAINT) {
    n--;
  }
  return n;
}
