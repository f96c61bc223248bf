/*
 * mt_aot_runtime.c — the runtime that C translated from the blob by wasm2c calls
 * (bindings/aot/wasm-rt.h): static memory, traps by longjmp, no allocator.
 */
#include "wasm-rt.h"

#include <stdarg.h>

#include "mt_aot.h"

jmp_buf *mt_aot_trap_target;
uint32_t wasm_rt_call_stack_depth;

/* Signatures too long for a 31-bit code, over all translated blobs together. */
#define LONG_SIGNATURES_MAX 8u

static bool initialized;
static wasm_rt_funcref_t *next_table;
static uint32_t next_table_entries;
static uint64_t long_signatures[LONG_SIGNATURES_MAX];
static uint32_t long_signature_count;

void wasm_rt_init(void) { initialized = true; }

bool wasm_rt_is_initialized(void) { return initialized; }

void mt_aot_hand_over(const mt_aot_module_t *module) {
  next_table = (wasm_rt_funcref_t *)module->tables;
  next_table_entries = module->table_entries;
}

void wasm_rt_trap(wasm_rt_trap_t trap) {
  jmp_buf *target = mt_aot_trap_target;
  if (target == NULL) {
    /* The engine calls the blob only inside its setjmp; anything else is a bug. */
    for (;;) {}
  }
  longjmp(*target, trap == WASM_RT_TRAP_NONE ? (int)WASM_RT_TRAP_UNREACHABLE : (int)trap);
}

/* The same number for the same signature, a different one otherwise (call_indirect compares
 * them): a signature is coded in 3 bits a type with a separator between parameters and
 * results; a code below 2^31 is the number itself, a longer one is registered. */
uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  uint64_t code = 1u;
  va_list types;
  uint32_t i;
  if (params + results > 19u) {
    wasm_rt_trap(WASM_RT_TRAP_CALL_INDIRECT); /* longer than 64 bits hold */
  }
  va_start(types, results);
  for (i = 0; i < params + results; i++) {
    if (i == params) {
      code = code * 8u + 7u;
    }
    code = code * 8u + (uint64_t)(va_arg(types, int) + 1);
  }
  va_end(types);
  if (results == 0u) {
    code = code * 8u + 7u;
  }
  if (code < 0x80000000u) {
    return (uint32_t)code;
  }
  for (i = 0; i < long_signature_count; i++) {
    if (long_signatures[i] == code) {
      return 0x80000000u | i;
    }
  }
  if (long_signature_count == LONG_SIGNATURES_MAX) {
    wasm_rt_trap(WASM_RT_TRAP_CALL_INDIRECT);
  }
  long_signatures[long_signature_count] = code;
  return 0x80000000u | long_signature_count++;
}

void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t *table, uint32_t elements,
                                    uint32_t max_elements) {
  uint32_t i;
  (void)max_elements;
  if (elements > next_table_entries) {
    wasm_rt_trap(WASM_RT_TRAP_OOB);
  }
  for (i = 0; i < elements; i++) {
    next_table[i] = wasm_rt_funcref_null_value;
  }
  table->data = next_table;
  table->size = elements;
  table->max_size = elements;
  next_table += elements;
  next_table_entries -= elements;
}

void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t *table) {
  table->data = NULL;
  table->size = 0;
}

uint32_t wasm_rt_grow_funcref_table(wasm_rt_funcref_table_t *table, uint32_t delta,
                                    wasm_rt_funcref_t init) {
  (void)table;
  (void)delta;
  (void)init;
  return UINT32_MAX;
}
