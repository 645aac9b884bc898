# ConvNeXt V2 on CPUs. `make run` and `make test` install missing Debian packages first (deps);
# `make` alone only builds. Objects go to build/, header dependencies are tracked (-MMD -MP).
#
# ISA policy: the project builds for baseline x86-64; only the files named *_avx2.cpp, *_avx512.cpp
# and *_avx512bf16.cpp (simd/kernels_<isa>.cpp) get their ISA flags, and the right variant is
# picked at run time (simd/kernels.h).
# No -ffast-math: GELU is the exact erf, and NaN checks must work. -fno-math-errno only lets sqrt
# inline. ISO C++ mode keeps floating-point contraction off, so FMA happens only where a kernel
# asks for it explicitly.

CXX      ?= g++
BUILD    ?= build
# Release builds compile CNX_DCHECK (the kernels' preconditions) out; `make check` and the fuzzers
# set their own OPT without -DNDEBUG, so they run with every check.
OPT      ?= -O2 -DNDEBUG
CXXFLAGS ?=
OMPFLAGS ?= -fopenmp
# Open MPI (data-parallel runs under mpirun): its C API, located by pkg-config once installed (deps).
MPI_CFLAGS = $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_LIBS   = $(shell pkg-config --libs ompi-c 2>/dev/null || echo -lmpi)
CXXFLAGS += -std=c++17 $(OPT) -Wall -Wextra $(OMPFLAGS) -fno-math-errno -I. $(MPI_CFLAGS) -MMD -MP
LDLIBS   += -ldnnl -lpng -ljpeg -lz $(MPI_LIBS) $(OMPFLAGS)
AVX2_FLAGS   := -mavx2 -mfma
# -Wno-(maybe-)uninitialized: GCC 12 warns inside its own avx512fintrin.h, whose unmasked intrinsics
# (min, max, roundscale, reduce_add...) start from _mm512_undefined_ps() (GCC bug 105593).
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -Wno-maybe-uninitialized -Wno-uninitialized
AVX512BF16_FLAGS := $(AVX512_FLAGS) -mavx512bf16

LIB_SRCS   := $(wildcard core/*.cpp simd/*.cpp simd/*/*.cpp nn/*.cpp convnextv2/*.cpp) \
              $(filter-out tools/main.cpp,$(wildcard tools/*.cpp))
TEST_SRCS  := $(wildcard tests/*.cpp) tests/fuzz/targets.cpp
BENCH_SRCS := $(wildcard bench/*.cpp)

OBJ        := $(BUILD)/obj
LIB_OBJS   := $(LIB_SRCS:%.cpp=$(OBJ)/%.o)
TEST_OBJS  := $(TEST_SRCS:%.cpp=$(OBJ)/%.o)
BENCH_OBJS := $(BENCH_SRCS:%.cpp=$(OBJ)/%.o)

DEB_PACKAGES := g++ make pkg-config libdnnl-dev doctest-dev libbenchmark-dev zlib1g-dev libpng-dev libjpeg-dev \
                libopenmpi-dev openmpi-bin dataset-fashion-mnist

# The default job of `make run`: atto on Fashion-MNIST, 5 epochs of train's defaults, which are the
# quick recipe of README.md for so short a run (32x32 input, stem stride 2, no crop padding, drop
# path or label smoothing, head init 1): about 7 minutes on 2 cores.
RUN_ARGS ?= train --model atto --dataset fashion-mnist --epochs 5 --out runs/fashion-mnist-atto --overwrite
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps run test bench check fuzz fuzzers fuzz-seeds clean
all: $(BUILD)/convnextv2 $(BUILD)/tests $(BUILD)/bench_kernels

deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

run: deps
	$(MAKE) -j$(JOBS) $(BUILD)/convnextv2
	$(BUILD)/convnextv2 $(RUN_ARGS)

test: deps
	$(MAKE) -j$(JOBS) all
	$(BUILD)/tests

bench: $(BUILD)/bench_kernels $(BUILD)/convnextv2
	$(BUILD)/bench_kernels --benchmark_counters_tabular=true

# Tests under AddressSanitizer + UndefinedBehaviorSanitizer (separate build tree).
check: deps
	$(MAKE) -j$(JOBS) BUILD=$(BUILD)/asan OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  LDLIBS="$(LDLIBS) -fsanitize=address,undefined" $(BUILD)/asan/tests $(BUILD)/asan/convnextv2
	ASAN_OPTIONS=detect_leaks=0 CNX_TEST_BIN_DIR=$(BUILD)/asan $(BUILD)/asan/tests

# libFuzzer, one binary per parser (tests/fuzz/targets.h), built with clang under ASan+UBSan in
# build/fuzz. `make fuzz FUZZ_SECONDS=N` runs each target N seconds from the committed seed corpus
# (tests/fuzz/corpus/<target>, new inputs kept in build/fuzz/corpus/<target>); a crash input lands in
# build/fuzz/crashes/<target>/: add it to tests/fuzz/crashes/<target>/, where `make test` replays it.
# OpenMP pragmas are left serial (-fopenmp=libgomp), so the one OpenMP runtime is oneDNN's libgomp.
FUZZ_TARGETS  := safetensors json idx cifar image state torch
FUZZ_SECONDS  ?= 60
FUZZ_PACKAGES := clang libclang-rt-14-dev
FUZZ_OPT      := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
                 -fno-omit-frame-pointer -Wno-unknown-warning-option

fuzz: deps
	@$(MAKE) --no-print-directory DEB_PACKAGES="$(FUZZ_PACKAGES)" deps
	$(MAKE) -j$(JOBS) BUILD=$(BUILD)/fuzz CXX=clang++ OPT="$(FUZZ_OPT)" OMPFLAGS=-fopenmp=libgomp \
	  LDLIBS="-ldnnl -lpng -ljpeg -lz $(MPI_LIBS) -fopenmp=libgomp -fsanitize=fuzzer,address,undefined" fuzzers
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(BUILD)/fuzz/corpus/$$t $(BUILD)/fuzz/crashes/$$t; \
	  echo "fuzz $$t: $(FUZZ_SECONDS) s (log: $(BUILD)/fuzz/$$t.log)"; \
	  $(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
	    -artifact_prefix=$(BUILD)/fuzz/crashes/$$t/ -print_final_stats=1 \
	    $(BUILD)/fuzz/corpus/$$t tests/fuzz/corpus/$$t > $(BUILD)/fuzz/$$t.log 2>&1; status=$$?; \
	  grep -E "^#[0-9]+ +DONE|^stat::(number_of_executed_units|peak_rss_mb)" $(BUILD)/fuzz/$$t.log; \
	  if [ $$status -ne 0 ]; then tail -n 40 $(BUILD)/fuzz/$$t.log; exit 1; fi; \
	done

fuzzers: $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%)

# Rewrites the seed corpus (tests/fuzz/corpus) from tests/fuzz/make_seeds.cpp.
fuzz-seeds: $(BUILD)/make_fuzz_seeds
	$(BUILD)/make_fuzz_seeds

$(BUILD)/make_fuzz_seeds: tests/fuzz/make_seeds.cpp $(OBJ)/tests/data_files.o $(OBJ)/tests/util.o $(BUILD)/libconvnextv2.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz_%: tests/fuzz/libfuzzer_main.cpp $(OBJ)/tests/fuzz/targets.o $(BUILD)/libconvnextv2.a
	$(CXX) $(CXXFLAGS) -DFUZZ_TARGET=$* -o $@ $^ $(LDLIBS)

$(BUILD)/libconvnextv2.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/convnextv2: $(OBJ)/tools/main.o $(BUILD)/libconvnextv2.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests: $(TEST_OBJS) $(BUILD)/libconvnextv2.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench_kernels: $(BENCH_OBJS) $(BUILD)/libconvnextv2.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(LDLIBS) -lbenchmark -lpthread

$(OBJ)/%_avx512.o: %_avx512.cpp
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(AVX512_FLAGS) -c $< -o $@

$(OBJ)/%_avx512bf16.o: %_avx512bf16.cpp
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(AVX512BF16_FLAGS) -c $< -o $@

$(OBJ)/%_avx2.o: %_avx2.cpp
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(AVX2_FLAGS) -c $< -o $@

$(OBJ)/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -c $< -o $@

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(BENCH_OBJS:.o=.d) $(OBJ)/tools/main.d
