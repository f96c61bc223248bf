/*
 * Tunables of the ThreadX / NetX Duo port. Each has a default here; override any of them in
 * ONE header of your own, named by defining MT_TX_CONFIG_FILE (the same convention as the
 * bindings' MT_CONFIG_FILE), e.g. -DMT_TX_CONFIG_FILE='"my_microtally_threadx_config.h"', or
 * the CMake option of the same name with a path. Values given with -D win as well.
 */
#ifndef MICROTALLY_THREADX_CONFIG_DEFAULTS_H
#define MICROTALLY_THREADX_CONFIG_DEFAULTS_H

#ifdef MT_TX_CONFIG_FILE
#include MT_TX_CONFIG_FILE
#endif

/* ThreadX ticks per second, to turn tx_time_get() into milliseconds. */
#ifndef MT_TX_TICKS_PER_SECOND
#ifdef TX_TIMER_TICKS_PER_SECOND
#define MT_TX_TICKS_PER_SECOND ((ULONG)TX_TIMER_TICKS_PER_SECOND)
#else
#define MT_TX_TICKS_PER_SECOND ((ULONG)100)
#endif
#endif

/* How long the agent thread waits for an event before it lets time pass in the core (closing
 * any window that has ended). Windows are whole seconds, so one second is precise enough. */
#ifndef MT_TX_WINDOW_CHECK_TICKS
#define MT_TX_WINDOW_CHECK_TICKS MT_TX_TICKS_PER_SECOND
#endif

/* Longest configuration update mt_tx_configure takes (bytes of JSON): the agent keeps a copy
 * until it has applied it. The rtos core's input area (mt_input_capacity) is 4096 bytes, so a
 * longer update could never be applied anyway. */
#ifndef MT_TX_CONFIG_BYTES
#define MT_TX_CONFIG_BYTES 4096
#endif

/* Accepted updates the agent keeps, back to back (2 bytes of length each), to apply them again
 * in order if the core ever has to be re-initialised after a fault. When a new one does not
 * fit, the oldest are forgotten (counted in MT_TX_STATS.updates_forgotten). */
#ifndef MT_TX_CONFIG_JOURNAL_BYTES
#define MT_TX_CONFIG_JOURNAL_BYTES (MT_TX_CONFIG_BYTES + 2)
#endif

/* Longest reason kept for a rejected update (the core's text naming the key), with its NUL. */
#ifndef MT_TX_REASON_BYTES
#define MT_TX_REASON_BYTES 128
#endif

/* The blob the agent runs (microtally_blobs.h): the rtos core by default. A board with the RAM
 * for it may run another profile's (e.g. microtally_linux_wasm, with MT_TX_CONFIG_BYTES raised
 * to its input area). */
#ifndef MT_TX_BLOB
#define MT_TX_BLOB microtally_rtos_wasm
#define MT_TX_BLOB_LEN microtally_rtos_wasm_len
#define MT_TX_BLOB_MEMORY_END microtally_rtos_memory_end
#endif

/* NX_IP instances the NetX Duo hook can be attached to at once. */
#ifndef MT_NETX_MAX_IP
#define MT_NETX_MAX_IP 2
#endif

/* Leading bytes of a packet the hook looks at: the IP header, IPv6 extension headers and the
 * transport header must fit (a packet whose headers do not is counted as truncated). */
#ifndef MT_NETX_HEADER_BYTES
#define MT_NETX_HEADER_BYTES 128
#endif

/* Buffers of a packet chain the hook follows to gather MT_NETX_HEADER_BYTES. */
#ifndef MT_NETX_MAX_CHAIN
#define MT_NETX_MAX_CHAIN 4
#endif

/* Core updates (microtally_threadx_update.h): the new blob's probation, in window boundaries
 * (docs/UPDATE.md: 2); a trap before its end loads the previous blob again. */
/* Linear memory a new blob may use (its mt_memory_end): the built-in blob's and 1 KiB for a
 * core that grew; a larger one is rolled back (`the new core does not load`). wasm3's heap
 * (MT_WASM3_HEAP_BYTES) must have room for it. */
#ifndef MT_TX_UPDATE_MEMORY_LIMIT
#define MT_TX_UPDATE_MEMORY_LIMIT (MT_TX_BLOB_MEMORY_END + 1024u)
#endif
/* The AgentVersion of the blob built into the firmware, for AgentUpdate records (FromVersion). */
#ifndef MT_TX_UPDATE_BUILT_IN_VERSION
#define MT_TX_UPDATE_BUILT_IN_VERSION "built-in"
#endif
#ifndef MT_TX_UPDATE_TRIAL_WINDOWS
#define MT_TX_UPDATE_TRIAL_WINDOWS 2u
#endif

#endif
