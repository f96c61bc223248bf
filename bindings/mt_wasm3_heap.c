/*
 * mt_wasm3_heap.c — wasm3's m3_core.c (its allocator over the one fixed heap, d_m3FixedHeap)
 * compiled in this file, unchanged, so that a core's heap can be given back (mt_unload): the
 * bump allocator frees only its last chunk, and a core update must load a new blob where the
 * old one was, never both at once. Built in place of m3_core.c (bindings/microtally.mk,
 * ports/threadx/CMakeLists.txt), with wasm3's flags.
 */
#include "m3_core.c"

#if d_m3FixedHeap
/* Everything allocated from `mark` on is gone: the next allocation starts there. */
void mt_wasm3_heap_rewind(void *mark) {
  u8 *to = (u8 *)mark;
  if (to >= fixedHeap && to <= fixedHeapPtr) {
    fixedHeapPtr = to;
    fixedHeapLast = NULL;
  }
}

/* Bytes of the fixed heap in use now, from its start. */
size_t mt_wasm3_heap_in_use(void) { return (size_t)(fixedHeapPtr - fixedHeap); }
#else
void mt_wasm3_heap_rewind(void *mark) { (void)mark; }
size_t mt_wasm3_heap_in_use(void) { return 0; }
#endif
