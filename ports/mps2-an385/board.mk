# Make fragment of the QEMU mps2-an385 board (Cortex-M3), for both images (ports/qemu and
# ports/qemu-threadx). Set MT_ROOT, PROFILE (rtos|linux), MT_ENGINE (wasm3|aot), MT_OBJ and,
# for the wasm3 rtos image, HEAP_HEADER before including. Provides the compiler and flags, the
# profile's blob, the bindings (bindings/microtally.mk), BOARD_OBJS (startup, semihosting,
# console, the shared replay loop) with their rules, BOARD_INC and BOARD_HEADERS.
BOARD_DIR := $(MT_ROOT)/ports/mps2-an385
PROBE ?= 0
MT_CONFIG_FILE := $(BOARD_DIR)/microtally_config.h
MT_CONFIG_DEPS := $(MT_CONFIG_FILE) $(HEAP_HEADER)

# The rtos image embeds the rtos core built for size (asconfig.json target rtos-small: same
# source, same output bytes, about a third less wasm and so less compiled code in RAM).
ifeq ($(PROFILE),linux)
LINUX := 1
BLOB_WASM := $(MT_ROOT)/build/microtally-linux.wasm
else ifeq ($(PROFILE),rtos)
LINUX := 0
BLOB_WASM := $(MT_ROOT)/build/microtally-rtos-small.wasm
else
$(error PROFILE must be rtos or linux)
endif

CC := arm-none-eabi-gcc
ARCH := -mcpu=cortex-m3 -mthumb
# Our code is linted; wasm3 is built with the same size optimisation (never -O0: it relies on
# tail calls).
CFLAGS := $(ARCH) -Os -g -std=c99 -Wall -Wextra -Werror -ffunction-sections -fdata-sections
MT_WASM3_CFLAGS := $(ARCH) -Os -g -ffunction-sections -fdata-sections
MT_AOT_CFLAGS := $(ARCH) -Os -g -ffunction-sections -fdata-sections -w -DNDEBUG
MT_BLOBS := $(BLOB_WASM):microtally_$(PROFILE)
MT_EXTRA_CFLAGS := -DMT_QEMU_LINUX=$(LINUX) -DMT_QEMU_AOT=$(if $(filter aot,$(MT_ENGINE)),1,0) \
                   -DMT_QEMU_HEAP_PROBE=$(PROBE) $(if $(HEAP_HEADER),-DMT_QEMU_HEAP_HEADER='"$(HEAP_HEADER)"')
# newlib-nano; no nosys stubs: a call to malloc (or anything needing _sbrk) fails the link.
LDFLAGS := $(ARCH) -nostartfiles --specs=nano.specs -Wl,--gc-sections -T $(BOARD_DIR)/mps2_an385.ld

include $(MT_ROOT)/bindings/microtally.mk

BOARD_INC := -I$(BOARD_DIR) -I$(MT_ROOT)/ports/common
BOARD_HEADERS := $(MT_HEADERS) $(wildcard $(BOARD_DIR)/*.h $(MT_ROOT)/ports/common/*.h)
BOARD_OBJS := $(addprefix $(MT_OBJ)/port/,startup.o semihost.o console.o mt_replay.o)

# Startup runs before .data/.bss exist: freestanding, so its loops are not turned into calls.
$(MT_OBJ)/port/startup.o: $(BOARD_DIR)/startup.c $(BOARD_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -ffreestanding $(BOARD_INC) -c $< -o $@

$(MT_OBJ)/port/%.o: $(BOARD_DIR)/%.c $(BOARD_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(MT_CPPFLAGS) $(BOARD_INC) $(MT_EXTRA_CFLAGS) -c $< -o $@

$(MT_OBJ)/port/mt_%.o: $(MT_ROOT)/ports/common/mt_%.c $(BOARD_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(MT_CPPFLAGS) $(BOARD_INC) $(MT_EXTRA_CFLAGS) -c $< -o $@
