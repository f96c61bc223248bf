/* Configuration of the bindings for the fuzz targets (MT_CONFIG_FILE): wasm3's heap holds one
 * rtos and one linux core (each created once per fuzzing process). */
#ifndef MICROTALLY_FUZZ_CONFIG_H
#define MICROTALLY_FUZZ_CONFIG_H

#define MT_WASM3_HEAP_BYTES (8u * 1024u * 1024u)

#endif
