# Compiles the bindings and wasm3 for Cortex-M3 (newlib) to prove they build there and to
# measure their flash; scripts/test-c.sh calls it. Not a firmware: ports/qemu links one.
MT_OBJ := $(MT_ROOT)/build/cortex-m3
CC := arm-none-eabi-gcc
ARCH := -mcpu=cortex-m3 -mthumb
CFLAGS := $(ARCH) -Os -std=c99 -Wall -Wextra -Werror -ffunction-sections -fdata-sections
MT_WASM3_CFLAGS := $(ARCH) -Os -ffunction-sections -fdata-sections

all:

include $(MT_ROOT)/bindings/microtally.mk

all: $(MT_OBJS)
