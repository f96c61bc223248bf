/* Configuration of the bindings for the C tests (MT_CONFIG_FILE): room for several cores,
 * the linux one included, and for the failed loads the tests make on purpose. */
#ifndef MICROTALLY_TEST_CONFIG_H
#define MICROTALLY_TEST_CONFIG_H

#define MT_WASM3_HEAP_BYTES (8u * 1024u * 1024u)

#endif
