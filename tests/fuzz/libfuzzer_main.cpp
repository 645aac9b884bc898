// One libFuzzer binary per target: built with -DFUZZ_TARGET=<name> (see `make fuzz`).
#include "tests/fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return cnx::fuzz::FUZZ_TARGET(data, size); }
