/* Configuration of the bindings for the POSIX replay program (MT_CONFIG_FILE). */
#ifndef MICROTALLY_POSIX_CONFIG_H
#define MICROTALLY_POSIX_CONFIG_H

/* Room for the linux blob: its static data (mt_memory_end, ~2.7 MB) plus stack and code. */
#define MT_WASM3_HEAP_BYTES (4u * 1024u * 1024u)

#endif
