# slimbench — see README.md. Objects go to build/ (or build-asan/ for the sanitizer variant).
# `make run` and `make test` install missing Debian packages first (scripts/deps.sh, needs root).

BUILD    ?= build
CC       ?= gcc
ONNX_PROTO ?= /usr/include/onnx/onnx.proto

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter -Wpointer-arith -Wformat=2
# -march stays generic: wide SIMD kernels are compiled per function with target attributes
# and chosen at run time, so one binary runs on any x86-64.
# -O3 for the vectoriser on elementwise loops; never -ffast-math (results must stay exact).
OPT      ?= -O3 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -fopenmp -MMD -MP \
            -I$(BUILD)/gen -Iengine -Iui -Isrc
LDLIBS   += -fopenmp -lprotobuf-c -lcsv -lz -lm -lpthread
UI_LIBS  := $(shell pkg-config --libs ncursesw 2>/dev/null || echo -lncursesw)
TEST_LIBS := -lcriterion

GEN_C    := $(BUILD)/gen/onnx.pb-c.c
ENGINE_SRC := $(wildcard engine/*.c engine/kernels/*.c)
UI_SRC   := $(wildcard ui/*.c)
CLI_SRC  := $(wildcard src/*.c)
TEST_SRC := $(wildcard tests/test_*.c)

ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/onnx.pb-c.o
UI_OBJ   := $(UI_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

LIB      := $(BUILD)/libslimbench.a
BIN      := $(BUILD)/slimbench

MODEL    ?= sample_models/resnet8.onnx
DATA     ?= /usr/share/datasets/fashion-mnist

.PHONY: all deps deps-test run test unit e2e asan check-asan tsan check-tsan check-tsan-omp bench \
        fuzz fuzz-bins clean format
.DEFAULT_GOAL := all

all: $(BIN)

deps:
	@scripts/deps.sh build
deps-test:
	@scripts/deps.sh test

$(BUILD)/gen/onnx.pb-c.c $(BUILD)/gen/onnx.pb-c.h &: $(ONNX_PROTO)
	@mkdir -p $(BUILD)/gen
	cp $(ONNX_PROTO) $(BUILD)/gen/onnx.proto
	cd $(BUILD)/gen && protoc-c --c_out=. onnx.proto

$(BUILD)/gen/onnx.pb-c.o: $(BUILD)/gen/onnx.pb-c.c
	$(CC) -std=c11 $(OPT) $(filter -fsanitize%,$(CFLAGS)) -I$(BUILD)/gen -c $< -o $@

# Every engine object may include the generated header.
$(ENGINE_SRC:%.c=$(BUILD)/%.o): $(BUILD)/gen/onnx.pb-c.h

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(ENGINE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(UI_OBJ) $(LIB)
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(UI_OBJ) $(LIB) $(LDLIBS) $(UI_LIBS)

# Engine tests link the engine only; the UI state tests also link the UI (not its curses loop).
$(BUILD)/tests/%: tests/%.c $(LIB) tests/testutil.h tests/kernel_ref.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(LIB) $(LDLIBS) $(TEST_LIBS)

$(BUILD)/tests/test_ui_%: tests/test_ui_%.c $(LIB) $(UI_OBJ) tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(filter-out $(BUILD)/ui/main_loop.o,$(UI_OBJ)) $(LIB) \
	    $(LDLIBS) $(UI_LIBS) $(TEST_LIBS)

# The fuzz-replay test runs every committed corpus and regression input through the harnesses.
FUZZ_HARNESS := $(BUILD)/tests/fuzz/harness.o
$(BUILD)/tests/test_fuzz_replay: tests/test_fuzz_replay.c $(FUZZ_HARNESS) $(LIB) tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -Itests/fuzz -o $@ $< $(FUZZ_HARNESS) $(LIB) $(LDLIBS) $(TEST_LIBS)

run: deps
	@$(MAKE) --no-print-directory all
	$(BIN) $(MODEL) --data $(DATA)

# The whole suite: unit + conformance + oracle tests, CLI end-to-end, then the same under
# ASan+UBSan.
test: deps-test
	@bench/install_ort.sh
	@$(MAKE) --no-print-directory unit e2e
	@$(MAKE) --no-print-directory check-asan
	@$(MAKE) --no-print-directory check-tsan
	@echo "make test: all suites passed"

unit: $(BIN) $(TEST_BIN)
	@scripts/run_tests.sh $(BUILD)

e2e: $(BIN)
	@BUILD=$(BUILD) tests/e2e/run.sh

# The sanitizer pass runs every suite; the PyTorch-oracle suites evaluate 500 images there
# (their exact full-set comparisons are made by the normal pass: see tests/testutil.h).
check-asan asan:
	@SB_TEST_LIMIT=500 $(MAKE) --no-print-directory BUILD=build-asan \
	    OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    LDLIBS="-fsanitize=address,undefined $(LDLIBS)" unit e2e

# The data-race pass: the workbench under ThreadSanitizer through the TUI end-to-end suites
# (the UI main thread, the worker thread and their mailbox in ui/ui_worker.c). libgomp is not
# instrumented, so OpenMP runs one thread here (OMP_NUM_THREADS=1): races inside parallel
# kernels are not covered by this pass (they are by construction disjoint writes, see
# docs/architecture.md "Threads"). Reports go to files; any report fails the target.
check-tsan tsan:
	@$(MAKE) --no-print-directory BUILD=build-tsan \
	    OPT="-O1 -g -fsanitize=thread -fno-omit-frame-pointer -Wno-maybe-uninitialized" \
	    LDLIBS="-fsanitize=thread $(LDLIBS)" build-tsan/slimbench
	@scripts/check_tsan.sh build-tsan

# Optional (not in `make test`: a second full build): the same suites with clang, LLVM's libomp
# and its TSan tool (archer), which makes OpenMP's synchronisation visible, at 2 OpenMP threads.
LLVM_LIB ?= /usr/lib/llvm-14/lib
check-tsan-omp:
	@$(MAKE) --no-print-directory CC=clang BUILD=build-tsan-omp \
	    OPT="-O1 -g -fsanitize=thread -fno-omit-frame-pointer" \
	    LDLIBS="-fsanitize=thread -L$(LLVM_LIB) -Wl,-rpath,$(LLVM_LIB) $(LDLIBS)" \
	    build-tsan-omp/slimbench
	@TSAN_OMP_TOOL=$(LLVM_LIB)/libarcher.so scripts/check_tsan.sh build-tsan-omp

$(BUILD)/bench_gemm: bench/gemm_peak.c $(LIB)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/bench_actcache: bench/actcache_bench.c $(LIB)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

bench: all $(BUILD)/bench_gemm
	@scripts/deps.sh bench
	@bench/run.sh $(BUILD)

# libFuzzer targets (tests/fuzz/fuzz_*.c), built by clang into build-fuzz/ and run for
# FUZZ_SECONDS each from their seed corpora (docs/fuzzing.md).
FUZZ_TARGETS := onnx config_csv idx npy
FUZZ_SECONDS ?= 60
FUZZ_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
fuzz:
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang \
	    OPT="-O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
	    LDLIBS="-fsanitize=fuzzer $(FUZZ_SAN) $(LDLIBS)" fuzz-bins
	@scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_HARNESS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/fuzz -o $@ $< $(FUZZ_HARNESS) $(LIB) $(LDLIBS)

format:
	clang-format -i $(ENGINE_SRC) $(UI_SRC) $(CLI_SRC) $(TEST_SRC) engine/*.h engine/kernels/*.h

clean:
	rm -rf build build-asan build-tsan build-tsan-omp build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
