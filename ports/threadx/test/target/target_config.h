/* Bindings configuration of the Cortex-M3 test image (MT_CONFIG_FILE): heap for the agent's
 * core plus the probe core whose footprint the image reports. */
#ifndef MT_TX_TARGET_CONFIG_H
#define MT_TX_TARGET_CONFIG_H

#define MT_WASM3_HEAP_BYTES (1024u * 1024u)

#endif
