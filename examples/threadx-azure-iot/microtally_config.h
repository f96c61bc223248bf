/* The bindings' settings for the Cortex-M3 image (MT_CONFIG_FILE): the wasm3 heap sized to
 * what one rtos-small core needs (197,472 B measured on ThreadX, ports/threadx/README.md) plus
 * a little, not the 448 KiB default. The Linux port keeps the default: wasm3's compiled code
 * takes more room with 64-bit pointers. */
#ifndef EXAMPLE_MICROTALLY_CONFIG_H
#define EXAMPLE_MICROTALLY_CONFIG_H
#define MT_WASM3_HEAP_BYTES (200u * 1024u)
#endif
