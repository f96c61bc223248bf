/*
 * microtally_wasm3_options.h — wasm3's compile-time options, derived from the microtally
 * configuration. Force-include it when compiling wasm3's sources (-include) AND include it
 * before any wasm3 header in the bindings, so both agree on wasm3's struct layouts.
 */
#ifndef MICROTALLY_WASM3_OPTIONS_H
#define MICROTALLY_WASM3_OPTIONS_H

#include "microtally_config_defaults.h"

/* One static heap, no malloc (SPEC R7 on the C side). */
#define d_m3FixedHeap MT_WASM3_HEAP_BYTES
#define d_m3CodePageAlignSize MT_WASM3_CODE_PAGE_BYTES
#define d_m3MaxFunctionStackHeight MT_WASM3_MAX_FUNCTION_STACK_HEIGHT
#define d_m3VerboseErrorMessages MT_WASM3_VERBOSE_ERRORS
#define d_m3HasFloat MT_WASM3_HAS_FLOAT
/* binaryen may merge identical exported functions into one with several names; wasm3 keeps
 * only this many names per function (default 3), so a 4th export would not be found. */
#define d_m3MaxDuplicateFunctionImpl 8
/* No backtraces: they allocate on every trap. */
#define d_m3RecordBacktraces 0

#endif /* MICROTALLY_WASM3_OPTIONS_H */
