# ConvNeXt V2 on CPUs. `make run` and `make test` install missing Debian packages first (deps);
# `make` alone only builds. Objects go to build/, header dependencies are tracked (-MMD -MP).
#
# ISA policy: the project builds for baseline x86-64; only kernel files named *_avx2.cpp and
# *_avx512.cpp get their ISA flags, and the right variant is picked at run time (simd/kernels.h).
# No -ffast-math: GELU is the exact erf, and NaN checks must work. -fno-math-errno only lets sqrt
# inline. ISO C++ mode keeps floating-point contraction off, so FMA happens only where a kernel
# asks for it explicitly.

CXX      ?= g++
BUILD    ?= build
OPT      ?= -O2
CXXFLAGS ?=
CXXFLAGS += -std=c++17 $(OPT) -Wall -Wextra -fopenmp -fno-math-errno -I. -MMD -MP
LDLIBS   += -ldnnl -lpng -ljpeg -lz -fopenmp
AVX2_FLAGS   := -mavx2 -mfma
# -Wno-(maybe-)uninitialized: GCC 12 warns inside its own avx512fintrin.h, whose unmasked intrinsics
# (min, max, roundscale, reduce_add...) start from _mm512_undefined_ps() (GCC bug 105593).
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -Wno-maybe-uninitialized -Wno-uninitialized

LIB_SRCS   := $(wildcard core/*.cpp simd/*.cpp simd/*/*.cpp nn/*.cpp convnextv2/*.cpp) \
              $(filter-out tools/main.cpp,$(wildcard tools/*.cpp))
TEST_SRCS  := $(wildcard tests/*.cpp)
BENCH_SRCS := $(wildcard bench/*.cpp)

OBJ        := $(BUILD)/obj
LIB_OBJS   := $(LIB_SRCS:%.cpp=$(OBJ)/%.o)
TEST_OBJS  := $(TEST_SRCS:%.cpp=$(OBJ)/%.o)
BENCH_OBJS := $(BENCH_SRCS:%.cpp=$(OBJ)/%.o)

DEB_PACKAGES := g++ make libdnnl-dev doctest-dev libbenchmark-dev zlib1g-dev libpng-dev libjpeg-dev \
                dataset-fashion-mnist

# The default job of `make run`: atto on Fashion-MNIST, the quick recipe of README.md (about 7 minutes
# on 2 cores): 32x32 input, stem stride 2, no crop augmentation or regularisers for so short a run.
RUN_ARGS ?= train --model atto --dataset fashion-mnist --epochs 5 --input-size 32 --stem-stride 2 --pad 0 \
            --drop-path 0 --smoothing 0 --head-init-scale 1 --out runs/fashion-mnist-atto --overwrite
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps run test bench check clean
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

$(OBJ)/%_avx2.o: %_avx2.cpp
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(AVX2_FLAGS) -c $< -o $@

$(OBJ)/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -c $< -o $@

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(BENCH_OBJS:.o=.d) $(OBJ)/tools/main.d
