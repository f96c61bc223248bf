# Compiles the bindings and an engine (MT_ENGINE=wasm3, the default, or aot: the rtos blob
# translated by wasm2c) for Cortex-M3 (newlib) to prove they build there and to measure their
# flash; scripts/test-c.sh calls it. Not a firmware: ports/qemu links one.
MT_ENGINE ?= wasm3
MT_OBJ := $(MT_ROOT)/build/cortex-m3-$(MT_ENGINE)
CC := arm-none-eabi-gcc
ARCH := -mcpu=cortex-m3 -mthumb
CFLAGS := $(ARCH) -Os -std=c99 -Wall -Wextra -Werror -ffunction-sections -fdata-sections
MT_WASM3_CFLAGS := $(ARCH) -Os -ffunction-sections -fdata-sections
MT_BLOBS := $(MT_ROOT)/build/microtally-rtos-small.wasm:microtally_rtos

all:

include $(MT_ROOT)/bindings/microtally.mk

all: $(MT_OBJS)
