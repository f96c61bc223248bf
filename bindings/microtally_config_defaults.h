/*
 * microtally_config_defaults.h — every compile-time tunable of the bindings, with its
 * default. Override any of them in ONE header of your own, named by defining
 * MT_CONFIG_FILE when compiling the bindings AND wasm3, e.g.
 *     -DMT_CONFIG_FILE='"my_microtally_config.h"'
 * (ports/posix/microtally_config.h is an example). Values given with -D win as well.
 */
#ifndef MICROTALLY_CONFIG_DEFAULTS_H
#define MICROTALLY_CONFIG_DEFAULTS_H

#include <stdint.h> /* UINTPTR_MAX */

#ifdef MT_CONFIG_FILE
#include MT_CONFIG_FILE
#endif

/** Bytes of wasm3's one static heap (d_m3FixedHeap). It holds, per core: the blob's linear
 *  memory (see MT_LINEAR_MEMORY_LIMIT), the interpreter stack (MT_WASM3_STACK_BYTES), the
 *  compiled code pages and wasm3's module tables. mt_heap_used() reports the real need. */
/*  The default is one rtos-small core (the blob ports/threadx embeds) with the default stack,
 *  all code compiled at init, plus a few KiB: measured 206,976 B on Cortex-M3 with ABI 5
 *  (`bash scripts/test-threadx.sh`, its `target: wasm3 heap of one rtos core` line, on QEMU),
 *  345,936 B on x86-64 (`bash scripts/test-cmake-consumer.sh`, its `heap:` line; pointers
 *  double the code pages); both scripts fail when the default no longer covers it. The rtos
 *  (-O3) blob needs ~353 KiB on x86-64, the linux core ~3 MiB: set your own for those. */
#ifndef MT_WASM3_HEAP_BYTES
#if UINTPTR_MAX > 0xFFFFFFFFu
#define MT_WASM3_HEAP_BYTES (352u * 1024u)
#else
#define MT_WASM3_HEAP_BYTES (208u * 1024u)
#endif
#endif

/** Bytes of wasm3's value stack for one core (m3_NewRuntime). */
#ifndef MT_WASM3_STACK_BYTES
#define MT_WASM3_STACK_BYTES (16u * 1024u)
#endif

/** Bytes of linear memory actually reserved for the blob. 0: the module's initial size
 *  (initial == maximum pages, docs/ABI.md). A smaller value must still cover everything the
 *  blob touches, or its accesses trap. */
#ifndef MT_LINEAR_MEMORY_LIMIT
#define MT_LINEAR_MEMORY_LIMIT 0u
#endif

/** 1: compile every function of the blob in mt_init, so the heap use is fixed from then on
 *  (mt_heap_used() never grows). 0: wasm3 compiles a function on its first call, which saves
 *  heap for code never run but allocates (from the fixed heap, never malloc) during a run. */
#ifndef MT_WASM3_COMPILE_AT_INIT
#define MT_WASM3_COMPILE_AT_INIT 1
#endif

/** wasm3 code page size (d_m3CodePageAlignSize): smaller pages waste less RAM. */
#ifndef MT_WASM3_CODE_PAGE_BYTES
#define MT_WASM3_CODE_PAGE_BYTES 1024u
#endif

/** wasm3's per-function stack height limit at compile time (d_m3MaxFunctionStackHeight). */
#ifndef MT_WASM3_MAX_FUNCTION_STACK_HEIGHT
#define MT_WASM3_MAX_FUNCTION_STACK_HEIGHT 256u
#endif

/** 1: wasm3 keeps long error texts (bigger flash); 0: short ones. The bindings do not depend
 *  on the text. */
#ifndef MT_WASM3_VERBOSE_ERRORS
#define MT_WASM3_VERBOSE_ERRORS 0
#endif

/** 0: build wasm3 without floating point (smaller flash, and newlib's float support stays
 *  out). The microtally blobs use no float instruction; a blob that did would fail mt_init
 *  with MT_ERR_ENGINE. */
#ifndef MT_WASM3_HAS_FLOAT
#define MT_WASM3_HAS_FLOAT 1
#endif

#endif /* MICROTALLY_CONFIG_DEFAULTS_H */
