/* The config header scripts/test-cmake-consumer.sh builds the wasm3 package with (as
 * MT_CONFIG_FILE and MT_TX_CONFIG_FILE): a larger agent stack minimum than the default. The
 * firmware sizes its stack with MT_TX_MIN_STACK_BYTES as it sees it, and mt_tx_start refuses
 * a stack below the library's: the firmware starts only if the installed copy of this header
 * reached it. */
#ifndef MY_MICROTALLY_CONFIG_H
#define MY_MICROTALLY_CONFIG_H

#define MT_TX_MIN_STACK_BYTES 8192u

#endif
