/* Configuration of the Cortex-M3 test image, one header named by both MT_CONFIG_FILE (the
 * bindings) and MT_TX_CONFIG_FILE (the port): heap for the agent's core plus the probe core
 * whose footprint the image reports, and a smaller update buffer (the image checks that the
 * library was built with it). */
#ifndef MT_TX_TARGET_CONFIG_H
#define MT_TX_TARGET_CONFIG_H

#define MT_WASM3_HEAP_BYTES (1024u * 1024u)
#define MT_TX_CONFIG_BYTES 1024

#endif
