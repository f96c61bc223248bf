/* Configuration of the bindings on the QEMU board (MT_CONFIG_FILE), per image profile. */
#ifndef MICROTALLY_QEMU_CONFIG_H
#define MICROTALLY_QEMU_CONFIG_H

#if MT_QEMU_AOT
/* No interpreter: the translated blob's only RAM is its linear memory. */
#elif MT_QEMU_LINUX
#define MT_WASM3_HEAP_BYTES (2880u * 1024u)
/* The linux blob's parser frames are larger: 7 KiB overflows at 16 levels of nesting. 10 KiB:
 * what the footprint run of that nesting measures (wasmStackUsed, 7,404 B with ABI 5), plus a
 * quarter. */
#define MT_WASM3_STACK_BYTES (10u * 1024u)
#elif MT_QEMU_UPDATE
/* The update images (`replay --update-at`): a swap loads the blob a package carries, the test
 * packages' built from the larger rtos target; one core at a time (mt_unload). */
#define MT_WASM3_HEAP_BYTES (1024u * 1024u)
#elif MT_QEMU_HEAP_PROBE
/* The probe image of scripts/build-firmware.sh: room to measure what mt_init takes. */
#define MT_WASM3_HEAP_BYTES (512u * 1024u)
#elif defined(MT_QEMU_HEAP_HEADER)
/* The rtos heap is exactly what the probe image measured: all code is compiled at init, so
 * after mt_init nothing more is ever allocated, whatever the input. */
#include MT_QEMU_HEAP_HEADER
#else
#error "the rtos image's heap is measured by scripts/build-firmware.sh (MT_QEMU_HEAP_HEADER)"
#endif

/* wasm3's value stack: scripts/build-firmware.sh reports its high-water mark on a run that
 * includes the deepest JSON nesting the core accepts (size.json, interpreterStackUsed; the
 * firmware test keeps a quarter of it spare). */
#ifndef MT_WASM3_STACK_BYTES
#define MT_WASM3_STACK_BYTES (7u * 1024u)
#endif
#define MT_WASM3_HAS_FLOAT 0
/* Measured: 2048-byte code pages leave 5 KB less heap unused at page ends than 512 (and need
 * fewer bridges between pages); 256 is too small for wasm3 to compile the blob. */
#define MT_WASM3_CODE_PAGE_BYTES 2048u

#endif
