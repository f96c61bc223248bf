/*
 * microtally_blobs.h — the blobs, embedded as const arrays by scripts/embed-blob.mjs
 * (build/blobs/microtally-<profile>.c). Link the file of the profile you use.
 */
#ifndef MICROTALLY_BLOBS_H
#define MICROTALLY_BLOBS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* For each profile: the module bytes, their count, and the end of the core's static data
 * (mt_memory_end(), measured by the generator): pass it as mt_config_t.memory_limit. */
extern const uint8_t microtally_rtos_wasm[];
extern const size_t microtally_rtos_wasm_len;
extern const uint32_t microtally_rtos_memory_end;

extern const uint8_t microtally_linux_wasm[];
extern const size_t microtally_linux_wasm_len;
extern const uint32_t microtally_linux_memory_end;

#ifdef __cplusplus
}
#endif

#endif /* MICROTALLY_BLOBS_H */
