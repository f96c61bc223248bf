# Make fragment for programs that link the C bindings (ports/posix, test/c; firmware can reuse it).
# Set before including:
#   MT_ROOT        repository root
#   MT_OBJ         folder for this program's objects (wasm3 is compiled per configuration)
#   MT_CONFIG_FILE optional: your config header (see microtally_config_defaults.h)
#   WASM3_DIR      optional: a wasm3 source folder (wasm3.h, m3_*.c), e.g. your own checkout's
#                  source/; default: the pinned 0.5.0 copy that scripts/build-wasm3.sh unpacks
# Provides MT_OBJS (bindings + wasm3 objects), MT_CPPFLAGS and the rules that build them.

MT_BINDINGS_DIR := $(MT_ROOT)/bindings
WASM3_DIR ?= $(MT_ROOT)/third_party/pywasm3-0.5.0/wasm3

# wasm3's core only: no WASI, no libc bindings (the blob has no imports).
MT_WASM3_FILES := m3_bind m3_code m3_compile m3_core m3_emit m3_env m3_exec m3_function \
                  m3_info m3_module m3_parse

MT_CPPFLAGS = -I$(MT_BINDINGS_DIR) -I$(WASM3_DIR) \
              $(if $(MT_CONFIG_FILE),-DMT_CONFIG_FILE='"$(MT_CONFIG_FILE)"')
# wasm3 needs the optimiser for its tail calls (never -O0) and is not ours to lint.
MT_WASM3_CFLAGS ?= -O2
# -fwrapv: wasm3 computes wasm's wrapping i32/i64 arithmetic with signed C operators; without
# it an overflow is undefined behaviour the optimiser may exploit (UBSan reports it).
MT_WASM3_FLAGS = $(MT_WASM3_CFLAGS) -fwrapv -w -include $(MT_BINDINGS_DIR)/microtally_wasm3_options.h

MT_WASM3_OBJS := $(addprefix $(MT_OBJ)/wasm3/,$(addsuffix .o,$(MT_WASM3_FILES)))
MT_BINDINGS_OBJS := $(MT_OBJ)/microtally.o
MT_OBJS = $(MT_BINDINGS_OBJS) $(MT_WASM3_OBJS)

MT_HEADERS := $(wildcard $(MT_BINDINGS_DIR)/*.h) $(MT_CONFIG_DEPS)

$(MT_OBJ)/wasm3/%.o: $(WASM3_DIR)/%.c $(MT_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(MT_WASM3_FLAGS) $(MT_CPPFLAGS) $(MT_EXTRA_CFLAGS) $(MT_WASM3_EXTRA_CFLAGS) -c $< -o $@

$(MT_OBJ)/microtally.o: $(MT_BINDINGS_DIR)/microtally.c $(MT_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(MT_CPPFLAGS) $(MT_EXTRA_CFLAGS) -c $< -o $@

# Blobs as C arrays (scripts/embed-blob.mjs), named as bindings/microtally_blobs.h declares.
$(MT_OBJ)/blobs/microtally-%.c: $(MT_ROOT)/build/microtally-%.wasm $(MT_ROOT)/scripts/embed-blob.mjs
	@mkdir -p $(dir $@)
	node $(MT_ROOT)/scripts/embed-blob.mjs $< $@ microtally_$*

$(MT_OBJ)/blobs/%.o: $(MT_OBJ)/blobs/%.c
	$(CC) -c $< -o $@
