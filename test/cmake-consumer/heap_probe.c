/* What one rtos core takes of wasm3's heap in this build of the package (mt_heap_used),
 * whether the default MT_WASM3_HEAP_BYTES covers it with the 64 bytes wasm3's allocator wants
 * beyond its last block, and whether a core can be unloaded and loaded again in it (mt_unload).
 * Built against the installed package by scripts/test-cmake-consumer.sh (the wasm3 engine: the
 * AOT engine has no heap). */
#include <stdio.h>

#include "microtally.h"
#include "microtally_blobs.h"

int main(void) {
  static mt_core_t core;
  mt_config_t config = {microtally_rtos_wasm, microtally_rtos_wasm_len, microtally_rtos_memory_end};
  if (mt_init(&core, &config) != MT_OK) {
    printf("FAIL the rtos core does not load in MT_WASM3_HEAP_BYTES = %lu\n0 passed, 1 failed\n",
           (unsigned long)MT_WASM3_HEAP_BYTES);
    return 1;
  }
  unsigned long used = (unsigned long)mt_heap_used(&core);
  int fits = used + 64u <= (unsigned long)MT_WASM3_HEAP_BYTES;
  printf("heap: one rtos core %lu B, default MT_WASM3_HEAP_BYTES %lu B (pointers %u bytes)\n", used,
         (unsigned long)MT_WASM3_HEAP_BYTES, (unsigned)sizeof(void *));
  printf("%s the default MT_WASM3_HEAP_BYTES covers one rtos core + 64 B\n",
         fits ? "ok  " : "FAIL");
  /* A core update in that heap: unloaded, then loaded again where it was, never two at once
   * (mt_wasm3_heap.c's rewind, which the package must carry). */
  size_t peak = mt_heap_peak();
  mt_status_t unloaded = mt_unload(&core), reloaded = mt_init(&core, &config);
  int swaps = unloaded == MT_OK && reloaded == MT_OK && mt_heap_used(&core) == used &&
              mt_heap_peak() == peak;
  printf("%s a core unloaded and loaded again in the same heap (%s, %s; peak %lu B)\n",
         swaps ? "ok  " : "FAIL", mt_status_name(unloaded), mt_status_name(reloaded),
         (unsigned long)mt_heap_peak());
  printf("%d passed, %d failed\n", fits + swaps, !fits + !swaps);
  return fits && swaps ? 0 : 1;
}
