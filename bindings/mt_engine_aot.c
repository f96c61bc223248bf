/*
 * mt_engine_aot.c — the engine seam (mt_engine.h) over the blob translated to C ahead of time
 * by wasm2c (scripts/aot-translate.mjs). The code sits in flash; the only RAM a core takes is
 * the blob's linear memory, one static array of exactly mt_memory_end() bytes per translated
 * blob. A trap longjmps back here and becomes a failed call, as a wasm3 trap does.
 * One core runs a translated blob at a time: mt_init of another core on the same blob takes
 * it over, and the previous core answers MT_ERR_STATE from then on. Calls into translated
 * blobs must not run concurrently (one trap target): serialise them, as for one core.
 */
#include "mt_engine.h"

#include <setjmp.h>

#include "aot/mt_aot.h"

static const mt_aot_module_t *module_of(const mt_core_t *core) {
  return (const mt_aot_module_t *)core->priv_env;
}

/* Runs fn(a, b) (or, with fn == MT_FN_COUNT, the module's instantiation) under a trap target. */
static bool guarded(const mt_aot_module_t *m, unsigned fn, int64_t a, int32_t b, int32_t *result) {
  jmp_buf target;
  jmp_buf *volatile outer = mt_aot_trap_target;
  volatile uint32_t depth = wasm_rt_call_stack_depth;
  volatile bool ok = false;
  mt_aot_trap_target = &target;
  if (setjmp(target) == 0) {
    if (fn == MT_FN_COUNT) {
      m->instantiate();
    } else {
      *result = m->call(fn, a, b);
    }
    ok = true;
  } else {
    wasm_rt_call_stack_depth = depth; /* the frames a trap skipped never counted down */
  }
  mt_aot_trap_target = outer;
  return ok;
}

bool mt_engine_load(mt_core_t *core, const mt_config_t *config) {
  const mt_aot_module_t *const *m;
  for (m = mt_aot_modules; *m != NULL; m++) {
    if ((*m)->blob == config->blob) {
      break;
    }
  }
  if (*m == NULL) {
    return false; /* not a blob translated into this program */
  }
  /* Refused before instantiating, which would take the blob from the core that has it. */
  if (config->memory_limit != 0u && config->memory_limit < (*m)->memory_bytes) {
    return false;
  }
  mt_aot_hand_over(*m);
  (*m)->state->owner = NULL;
  if (!guarded(*m, MT_FN_COUNT, 0, 0, NULL)) {
    return false;
  }
  (*m)->state->owner = core;
  core->priv_env = (void *)*m;
  return true;
}

bool mt_engine_has(const mt_core_t *core, unsigned fn) {
  return fn < MT_FN_COUNT && (module_of(core)->exports & (1ul << fn)) != 0u;
}

bool mt_engine_owned(const mt_core_t *core) {
  const mt_aot_module_t *m = module_of(core);
  return m != NULL && m->state->owner == core;
}

bool mt_engine_call(mt_core_t *core, unsigned fn, int64_t a, int32_t b, int32_t *result) {
  if (!mt_engine_has(core, fn)) {
    return false;
  }
  return guarded(module_of(core), fn, a, b, result);
}

uint8_t *mt_engine_memory(mt_core_t *core, uint32_t *size) {
  *size = module_of(core)->memory_bytes;
  return module_of(core)->memory;
}

size_t mt_engine_ram(const mt_core_t *core) { return module_of(core)->memory_bytes; }

size_t mt_engine_stack(const mt_core_t *core) {
  (void)core; /* the translated blob runs on the caller's stack */
  return 0;
}

bool mt_engine_unload(mt_core_t *core) {
  (void)core; /* the translated blob is code in flash: nothing to give back, nothing to load */
  return false;
}

bool mt_engine_can_swap(void) { return false; } /* the blob is code in flash */

size_t mt_engine_ram_peak(void) { return 0; }
