# Make fragment of the update images (UPDATE=1: `replay --update-at` on the board), after
# board.mk: mt_update.c over NetX Duo's nx_crypto (its crypto_libraries, standalone, the
# cortex_m3/gnu port header), the command line's update options (board_update.c), a longer
# command line, wasm3's heap for the blobs packages carry, and FromVersion of the built-in blob
# (package.json's version, as on V8). Provides UPDATE_OBJS.
include $(MT_ROOT)/scripts/trees.mk
ifeq ($(wildcard $(NETXDUO_DIR)/crypto_libraries),)
$(error no NetX Duo tree (its crypto_libraries, for mt_update.c): set NETXDUO_DIR)
endif
NXC := $(NETXDUO_DIR)/crypto_libraries
NXFLAGS := -DNX_CRYPTO_STANDALONE_ENABLE -I$(NXC)/inc -I$(NXC)/ports/cortex_m3/gnu/inc
NX_SOURCES := ecdsa ec ec_secp192r1_fixed_points ec_secp224r1_fixed_points ec_secp256r1_fixed_points \
  ec_secp384r1_fixed_points ec_secp521r1_fixed_points huge_number huge_number_extended sha2 initialize
MT_VERSION := $(shell sed -n 's/^  "version": "\(.*\)",$$/\1/p' $(MT_ROOT)/package.json)
MT_EXTRA_CFLAGS += -DMT_QEMU_UPDATE=1 -DBOARD_CMDLINE_BYTES=1024u -DMT_BUILT_IN_VERSION='"$(MT_VERSION)"' \
  -DMT_TX_UPDATE_BUILT_IN_VERSION='"$(MT_VERSION)"'
# ES256 over nx_crypto (3.5 KB of stack, bench_update_m3) on top of the replay and the agent.
LDFLAGS += -Wl,--defsym=STACK_SIZE=0x4000
UPDATE_OBJS := $(MT_OBJ)/port/board_update.o $(MT_OBJ)/port/mt_replay_update_args.o $(MT_OBJ)/port/mt_update.o $(MT_OBJ)/port/mt_update_ram.o $(MT_OBJ)/update/mt_update_nx_crypto.o \
  $(NX_SOURCES:%=$(MT_OBJ)/nx/nx_crypto_%.o)

$(MT_OBJ)/nx/%.o: $(NXC)/src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ARCH) -Os -g -ffunction-sections -fdata-sections $(NXFLAGS) -w -c $< -o $@
$(MT_OBJ)/update/mt_update_nx_crypto.o: $(MT_ROOT)/ports/common/mt_update_nx_crypto.c $(BOARD_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BOARD_INC) $(NXFLAGS) -c $< -o $@
