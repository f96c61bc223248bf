/*
 * wasm-rt.h — microtally's own runtime interface for C translated from the blob by wasm2c
 * (Debian wabt 1.0.32). The generated code includes this header by name; this one replaces
 * wabt's stock runtime, which allocates with malloc and assumes 64 KiB pages:
 *  - linear memory is one static array of exactly the blob's fixed size (mt_memory_end),
 *    inside the module's static instance;
 *  - every access is bounds-checked against that size (a Cortex-M has no MMU to catch one);
 *  - a trap longjmps back to the engine's call, which reports MT_ERR_TRAP;
 *  - nothing allocates, and memory.grow always fails.
 * Only what wasm2c's output for a blob without imports or exceptions needs is here; function
 * tables (call_indirect) live in static storage the engine hands over before instantiation.
 */
#ifndef WASM_RT_H_
#define WASM_RT_H_

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define WASM_RT_NO_RETURN __attribute__((noreturn))
#define wasm_rt_memcpy __builtin_memcpy
#else
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#define WASM_RT_NO_RETURN
#define wasm_rt_memcpy memcpy
#endif

/* No guard pages and no signal handler: the generated code checks every access itself. */
#define WASM_RT_MEMCHECK_SIGNAL_HANDLER 0

/* Call depth counting guards blobs that recurse. The build turns it off (-D...=0) for a blob
 * whose call graph has no cycle and no indirect call (scripts/aot-translate.mjs proves it),
 * since its depth is then bounded by the code itself. */
#ifndef WASM_RT_USE_STACK_DEPTH_COUNT
#define WASM_RT_USE_STACK_DEPTH_COUNT 1
#endif
#ifndef WASM_RT_MAX_CALL_STACK_DEPTH
#define WASM_RT_MAX_CALL_STACK_DEPTH 200
#endif
#if WASM_RT_USE_STACK_DEPTH_COUNT
extern uint32_t wasm_rt_call_stack_depth;
#endif

typedef enum {
  WASM_RT_TRAP_NONE,
  WASM_RT_TRAP_OOB,
  WASM_RT_TRAP_INT_OVERFLOW,
  WASM_RT_TRAP_DIV_BY_ZERO,
  WASM_RT_TRAP_INVALID_CONVERSION,
  WASM_RT_TRAP_UNREACHABLE,
  WASM_RT_TRAP_CALL_INDIRECT,
  WASM_RT_TRAP_UNCAUGHT_EXCEPTION,
  WASM_RT_TRAP_EXHAUSTION
} wasm_rt_trap_t;

typedef enum {
  WASM_RT_I32,
  WASM_RT_I64,
  WASM_RT_F32,
  WASM_RT_F64,
  WASM_RT_FUNCREF,
  WASM_RT_EXTERNREF
} wasm_rt_type_t;

typedef void (*wasm_rt_function_ptr_t)(void);

typedef struct {
  uint32_t func_type;
  wasm_rt_function_ptr_t func;
  void *module_instance;
} wasm_rt_funcref_t;

static const wasm_rt_funcref_t wasm_rt_funcref_null_value = {0, NULL, NULL};

typedef void *wasm_rt_externref_t;

static const wasm_rt_externref_t wasm_rt_externref_null_value = NULL;

/* In the translated blob (its C file defines MT_AOT_MEMORY_BYTES, the blob's mt_memory_end):
 * the linear memory is an array inside the module instance, not a pointer to one. An access
 * is then an offset from the instance, and since a store into the array cannot touch `size`,
 * the compiler keeps the bound in a register instead of reloading it after every store.
 * The generated code reads data and size; pages and max_pages only for memory.size/grow. */
#ifdef MT_AOT_MEMORY_BYTES
typedef struct {
  uint32_t pages, max_pages;
  uint32_t size;
  uint8_t data[MT_AOT_MEMORY_BYTES] __attribute__((aligned(8)));
} wasm_rt_memory_t;

/* Defined by the translated blob's C file (scripts/aot-translate.mjs), one per blob. */
static void wasm_rt_allocate_memory(wasm_rt_memory_t *memory, uint32_t initial_pages,
                                    uint32_t max_pages);
/* Always fails (returns UINT32_MAX): the blob's memory has a fixed size (SPEC R7). */
static uint32_t wasm_rt_grow_memory(wasm_rt_memory_t *memory, uint32_t pages);
static void wasm_rt_free_memory(wasm_rt_memory_t *memory);
#endif

typedef struct {
  wasm_rt_funcref_t *data;
  uint32_t max_size;
  uint32_t size;
} wasm_rt_funcref_table_t;

typedef struct {
  wasm_rt_externref_t *data;
  uint32_t max_size;
  uint32_t size;
} wasm_rt_externref_table_t;

void wasm_rt_init(void);
bool wasm_rt_is_initialized(void);
WASM_RT_NO_RETURN void wasm_rt_trap(wasm_rt_trap_t trap);
uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...);

/* Tables take their entries from the storage the engine handed over; they never grow. */
void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t *table, uint32_t elements,
                                    uint32_t max_elements);
void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t *table);
uint32_t wasm_rt_grow_funcref_table(wasm_rt_funcref_table_t *table, uint32_t delta,
                                    wasm_rt_funcref_t init);

#ifdef __cplusplus
}
#endif

/* In the translated blob itself (scripts/aot-translate.mjs sets MT_AOT_TRANSLATION): the
 * load/store helpers wasm2c defines `static inline` are a few instructions each, but gcc -Os
 * keeps them out of line, making every memory access a call. Forcing them inline halves the
 * instructions per event on Cortex-M3 (bench: engines.qemuAot). After every system header. */
#if defined(MT_AOT_TRANSLATION) && defined(__GNUC__)
#define inline __inline__ __attribute__((always_inline))
#endif

#endif /* WASM_RT_H_ */
