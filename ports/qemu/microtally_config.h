/* Configuration of the bindings on the QEMU board (MT_CONFIG_FILE), per image profile.
 * The heap is sized from the footprint the image itself reports (`--footprint`, see
 * scripts/build-firmware.sh): all code is compiled at init, so after mt_init its use is fixed. */
#ifndef MICROTALLY_QEMU_CONFIG_H
#define MICROTALLY_QEMU_CONFIG_H

#if MT_QEMU_LINUX
#define MT_WASM3_HEAP_BYTES (2880u * 1024u)
#else
#define MT_WASM3_HEAP_BYTES (208u * 1024u)
#endif

#define MT_WASM3_STACK_BYTES (8u * 1024u)
#define MT_WASM3_HAS_FLOAT 0
/* Measured: 2048-byte code pages leave 5 KB less heap unused at page ends than 512 (and need
 * fewer bridges between pages); 256 is too small for wasm3 to compile the blob. */
#define MT_WASM3_CODE_PAGE_BYTES 2048u

#endif
