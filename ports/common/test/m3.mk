# The update verifier's bench image for the QEMU mps2-an385 board (Cortex-M3): mt_update.c and
# nx_crypto (standalone, its cortex_m3/gnu port header) on ports/mps2-an385's startup and
# semihosting console. make -f ports/common/test/m3.mk MT_ROOT=$PWD
PROFILE := rtos
MT_ENGINE := wasm3
# wasm3's heap: what scripts/build-firmware.sh measured for the rtos image (a swap must fit in
# it), else the probe image's large one.
HEAP_HEADER ?= $(wildcard $(MT_ROOT)/build/firmware/wasm3-heap-rtos.h)
PROBE := $(if $(HEAP_HEADER),0,1)
MT_OBJ := $(MT_ROOT)/build/update-c/m3
all:
include $(MT_ROOT)/ports/mps2-an385/board.mk
NXC := $(NETXDUO_DIR)/crypto_libraries
NXFLAGS := -DNX_CRYPTO_STANDALONE_ENABLE -I$(NXC)/inc -I$(NXC)/ports/cortex_m3/gnu/inc
NX_SOURCES := ecdsa ec ec_secp192r1_fixed_points ec_secp224r1_fixed_points ec_secp256r1_fixed_points \
  ec_secp384r1_fixed_points ec_secp521r1_fixed_points huge_number huge_number_extended sha2 initialize
NX_OBJS := $(NX_SOURCES:%=$(MT_OBJ)/nx/nx_crypto_%.o)
UPDATE_OBJS := $(MT_OBJ)/mt_update.o $(MT_OBJ)/mt_update_nx_crypto.o $(MT_OBJ)/bench_update_m3.o $(MT_OBJ)/test_storage.o \
  $(MT_OBJ)/port/mt_agent.o $(MT_OBJ)/port/mt_message.o
IMAGE := $(MT_ROOT)/build/update-c/bench-update-m3.elf

all: $(IMAGE)

$(MT_OBJ)/nx/%.o: $(NXC)/src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ARCH) -Os -g -ffunction-sections -fdata-sections $(NXFLAGS) -w -c $< -o $@
$(MT_OBJ)/mt_update.o: $(MT_ROOT)/ports/common/mt_update.c $(BOARD_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BOARD_INC) -c $< -o $@
$(MT_OBJ)/mt_update_nx_crypto.o: $(MT_ROOT)/ports/common/mt_update_nx_crypto.c $(BOARD_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BOARD_INC) $(NXFLAGS) -c $< -o $@
$(MT_OBJ)/test_storage.o: $(MT_ROOT)/ports/common/test/test_storage.c $(MT_ROOT)/ports/common/test/test_storage.h $(BOARD_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BOARD_INC) -c $< -o $@
$(MT_OBJ)/bench_update_m3.o: $(MT_ROOT)/ports/common/test/bench_update_m3.c $(MT_ROOT)/ports/common/test/test_storage.h $(BOARD_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(MT_CPPFLAGS) $(BOARD_INC) $(MT_EXTRA_CFLAGS) -c $< -o $@
$(IMAGE): $(UPDATE_OBJS) $(NX_OBJS) $(BOARD_OBJS) $(MT_OBJS)
	$(CC) $(LDFLAGS) -Wl,-Map=$(@:.elf=.map) -o $@ $(filter %.o,$^)
.PHONY: all
