# scripts/trees.sh for make: THREADX_DIR, NETXDUO_DIR and WASM3_DIR located the one way (a value
# given to make or in the environment wins), and MT_TREES_REFUSAL, the line said without ThreadX.
MT_TREES := $(shell THREADX_DIR='$(THREADX_DIR)' NETXDUO_DIR='$(NETXDUO_DIR)' WASM3_DIR='$(WASM3_DIR)' bash $(MT_ROOT)/scripts/trees.sh)
THREADX_DIR := $(patsubst THREADX_DIR=%,%,$(filter THREADX_DIR=%,$(MT_TREES)))
NETXDUO_DIR := $(patsubst NETXDUO_DIR=%,%,$(filter NETXDUO_DIR=%,$(MT_TREES)))
WASM3_DIR := $(patsubst WASM3_DIR=%,%,$(filter WASM3_DIR=%,$(MT_TREES)))
MT_TREES_REFUSAL = $(shell THREADX_DIR='$(THREADX_DIR)' bash $(MT_ROOT)/scripts/trees.sh --refusal threadx)
