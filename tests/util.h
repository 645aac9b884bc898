// Test helpers: deterministic fills, tolerant comparison (per element and by cosine), finite
// differences, fixture files, and paths of the built binaries.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "convnextv2/config.h"
#include "convnextv2/params.h"
#include "core/safetensors.h"

namespace cnx {
namespace test {

// Uniform values in [-1, 1) from the fixture formula (tests/reference/make_fixtures.py: uniform()).
std::vector<float> formula_uniform(const std::string& name, int64_t n);
// The fixture value formula for a parameter or "images" (official element order).
std::vector<float> formula_values(const std::string& name, const std::vector<int64_t>& shape);
// Fills every tensor of `layout` with the fixture formula (converted to our layout).
void fill_formula(float* params, const ParamLayout& layout);
// The gradient sample indices of make_fixtures.py's sample_indices().
std::vector<int64_t> sample_indices(int64_t n);

// Random values, uniform in [lo, hi), from a seed.
std::vector<float> random_vector(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

struct Compare {
    double max_abs_err = 0, max_rel_err = 0, cosine = 1;
    int64_t bad = 0, first_bad = -1, nonzero = 0;
    bool ok = true;
};
// Element i passes when |got - want| <= atol + rtol*|want|; the whole needs cosine >= min_cos.
Compare compare(const float* got, const float* want, int64_t n, double rtol, double atol, double min_cos = 0.99999);
Compare compare(const float* got, const double* want, int64_t n, double rtol, double atol, double min_cos = 0.99999);
std::string describe(const Compare& c, const float* got, const float* want);

// Folder of the fixtures and of the built binaries.
std::string fixture_path(const std::string& file);
// The model config a PyTorch fixture was made with (its "config" metadata; inputs unnormalised), and
// its batch; throws cnx::Error with a hint when the file is not a fixture.
ModelConfig fixture_config(const SafetensorsReader& f, int64_t* batch);
std::string binary_path(const std::string& name);  // $CNX_TEST_BIN_DIR or build/
// A fresh empty temporary folder, removed with its contents when the test program exits
// (CNX_KEEP_TEST_DIRS=1 keeps them for a look after a failure).
std::string temp_dir(const std::string& tag);
// Runs a shell command; returns its exit status and captured stdout+stderr.
int run_command(const std::string& cmd, std::string* output);

// What a forked child wrote to the pipe it was given, and its wait status.
struct ChildRun {
    std::string output;
    int status = 0;
};
// Runs body(fd) in a forked child that exits 0 when body returns; fd is the write end of a pipe the
// parent reads to the end. An abort stays the child's own (doctest's signal handlers are reset).
ChildRun run_in_child(const std::function<void(int fd)>& body);

}  // namespace test
}  // namespace cnx

// CHECK that a Compare passed, printing what failed.
#define CHECK_CLOSE(cmp, got, want)                                    \
    do {                                                               \
        const auto& cnx_c_ = (cmp);                                    \
        INFO(::cnx::test::describe(cnx_c_, (got), (want)));            \
        CHECK(cnx_c_.ok);                                              \
    } while (0)
