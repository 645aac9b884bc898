// Kernel testers: one builder per kernel family, in XNNPACK's style, so that a test reads like the
// family's contract:
//
//   DwconvTester().size(28).channels(40).region(2, 26, 1, 25).window(2, 27, 0, 25).misalign(1).check(k.regions);
//
// The setters name a case (shape, layout; every one has a default); check(fn) runs one variant of
// the kernel list (simd/kernels.inc) on it and compares with a double-precision formula at the
// family's tolerance, checks the canaries around every buffer and, where an output could pass by
// being zero, that it is not mostly zero. Inputs come from seeds derived from the case, so a failing
// case reproduces alone.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "simd/kernels.h"
#include "tests/util.h"

namespace cnx {
namespace test {

// ---------------------------------------------------------------------------------------------
// Shared helpers

// Rows of the family the CPU can run; prints the skipped ones once (never passed silently).
std::vector<KernelRow> runnable(const char* family);

// f(fn, isa) for every variant of `family` the CPU runs, fn its kernel as Fn, the variant's name
// captured.
template <class Fn, class F>
void for_each_variant_isa(const char* family, F&& f) {
    for (const KernelRow& row : runnable(family)) {
        CAPTURE(row.name);
        f(kernel_fn<Fn>(row), row.isa);
    }
}

// The same without the ISA: f(fn).
template <class Fn, class F>
void for_each_variant(const char* family, F&& f) {
    for_each_variant_isa<Fn>(family, [&](Fn fn, Isa) { f(fn); });
}

// A bf16-output variant against its fp32 twin (the fp32 kernel the same ISA runs): every output is
// the twin's rounded to nearest even, bit for bit.
void expect_rounded(const char* what, const bf16* got, const float* twin, int64_t n);

// Channel counts that probe every tail: 1..33, primes, and the ConvNeXt widths (x4 for MLP widths).
std::vector<int64_t> channel_counts();

// n elements between canaries, `offset` elements further into their allocation than with offset 0.
template <class T>
struct BufOf {
    static constexpr T kCanary = T(12345);
    static constexpr int64_t kCanaries = 16;  // on each side
    std::vector<T> mem;
    int64_t off, n;
    BufOf(int64_t n_, int64_t offset, T fill = T(0))
        : mem((size_t)(n_ + offset + 2 * kCanaries), kCanary), off(offset + kCanaries), n(n_) {
        std::fill(mem.begin() + off, mem.begin() + off + n, fill);
    }
    T* p() { return mem.data() + off; }
    const T* p() const { return mem.data() + off; }
    bool canaries_intact() const {
        auto intact = [](T v) { return v == kCanary; };
        return std::all_of(mem.begin(), mem.begin() + off, intact) && std::all_of(mem.begin() + off + n, mem.end(), intact);
    }
};
using Buf = BufOf<float>;
void check_canaries(std::initializer_list<const Buf*> bufs);

// Uniform values in [lo, hi) from a seed.
void fill(float* p, int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

// CHECKs output `what`: |got - want| <= atol + rtol |want| over n elements (and the cosine); returns
// the comparison.
Compare expect_close(const char* what, const float* got, const double* want, int64_t n, double rtol, double atol);
// At least a tenth of the outputs must be non-zero for a comparison to prove anything.
void check_trustworthy(const Compare& c, int64_t n);

// What every tester sets: where its buffers sit.
template <class Self>
class KernelTester {
public:
    // Every buffer `m` floats off (0: as the allocator aligns).
    Self& misalign(int64_t m) {
        misalign_ = m;
        return static_cast<Self&>(*this);
    }
    // Buffer k of a call (in the kernel's argument order) m + k floats off: misaligned against each
    // other too.
    Self& staggered(bool on = true) {
        staggered_ = on;
        return static_cast<Self&>(*this);
    }

protected:
    template <class T>
    BufOf<T> buf_of(int k, int64_t n, T value = T(0)) const {
        return BufOf<T>(n, misalign_ + (staggered_ ? k : 0), value);
    }
    Buf buf(int k, int64_t n, float value = 0.0f) const { return buf_of<float>(k, n, value); }
    // A bf16-output variant against its fp32 twin on the same inputs (the arguments after the
    // output): the n outputs, each the twin's rounded, bit for bit.
    template <class Fn16, class Fn32, class... In>
    void expect_twin_rounded(const char* what, int64_t n, Fn16 fn, Fn32 twin, In... in) const {
        BufOf<bf16> got = buf_of<bf16>(0, n);
        Buf want = buf(0, n);
        fn(got.p(), in...);
        twin(want.p(), in...);
        expect_rounded(what, got.p(), want.p(), n);
        CHECK(got.canaries_intact());
    }
    Buf input(int k, int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) const {
        Buf b = buf(k, n);
        fill(b.p(), n, seed, lo, hi);
        return b;
    }
    // A bf16 input (uniform values rounded) and its exact widening, the fp32 twin's input.
    struct Input16 {
        BufOf<bf16> h;
        Buf f;
    };
    Input16 input16(int k, int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) const {
        Input16 in{buf_of<bf16>(k, n), input(k, n, seed, lo, hi)};
        for (int64_t i = 0; i < n; i++) {
            in.h.p()[i] = bf16_from_float(in.f.p()[i]);
            in.f.p()[i] = float_from_bf16(in.h.p()[i]);
        }
        return in;
    }
    int64_t misalign_ = 0;
    bool staggered_ = false;
};

// What testers of flat arrays set besides: their length.
template <class Self>
class FlatTester : public KernelTester<Self> {
public:
    Self& n(int64_t v) { n_ = v; return static_cast<Self&>(*this); }

protected:
    int64_t n_ = 1;
};

// ---------------------------------------------------------------------------------------------
// One tester per family

// GELU (simd/gelu/gelu.h) over n inputs in [-9, 9), with the tails (-15, 12), -5.5 and the origin in
// front when n > 8. Forward: 6e-7 relative; backward: 1e-6 relative, 1e-7 absolute (gelu' crosses
// zero near -0.75). Both also in place, equal to the out-of-place result bit for bit.
class GeluTester : public FlatTester<GeluTester> {
public:
    void check(gelu_fwd_fn fwd) const;
    void check(gelu_bwd_fn bwd) const;

private:
    Buf inputs(int k, uint64_t seed) const;
};

// LayerNorm (simd/layernorm/layernorm.h), eps 1e-6, over rows of C channels with a non-zero mean:
// contiguous, or gathered (rows at scattered offsets of a buffer twice their size, in reverse order;
// the elements between them stay untouched). Forward: y 2e-5, mean and rstd 1e-5. Backward, from the
// mean and rstd it is given: dx, and d_gamma and d_beta (accumulated), 1e-4.
class LayerNormTester : public KernelTester<LayerNormTester> {
public:
    LayerNormTester& rows(int64_t v) { rows_ = v; return *this; }
    LayerNormTester& channels(int64_t v) { C_ = v; return *this; }
    LayerNormTester& gathered(bool on = true) { gathered_ = on; return *this; }
    void check(layernorm_fwd_fn fwd) const;
    void check(layernorm_bwd_fn bwd) const;
    // bf16 input and output: the twin's on the widened input, rounded (and so the formula's within
    // bf16's rounding).
    void check(layernorm_fwd_bf16_fn fwd, layernorm_fwd_fn twin) const;
    // fp32 input, bf16 output: the twin's rounded.
    void check(layernorm_fwd_to_bf16_fn fwd, layernorm_fwd_fn twin) const;
    // bf16 input: the twin's on the widened input, bit for bit.
    void check(layernorm_bwd_bf16_fn bwd, layernorm_bwd_fn twin) const;

private:
    template <class In, class Fn>
    void check_bf16_out(Fn fwd, layernorm_fwd_fn twin) const;
    std::string describe() const;
    std::vector<int64_t> offsets() const;  // of each row's first element
    // What the kernels take for rows at `off`: null when contiguous.
    const int64_t* at(const std::vector<int64_t>& off) const { return gathered_ ? off.data() : nullptr; }
    int64_t span() const { return gathered_ ? rows_ * 2 * C_ : rows_ * C_; }
    int64_t rows_ = 1, C_ = 1;
    bool gathered_ = false;
};

// The GRN passes (simd/grn/grn.h) over rows x C. The reductions accumulate into what is there.
// Tolerances (relative, absolute): sum of squares 1e-5, 1e-5 (fused with GELU: 1e-6 absolute);
// apply and backward apply 1e-5, 1e-6; backward reduce 1e-4, 1e-5; fused GELU output 1e-6, 1e-7;
// fused backward 2e-5, 1e-6.
class GrnTester : public KernelTester<GrnTester> {
public:
    GrnTester& rows(int64_t v) { rows_ = v; return *this; }
    GrnTester& channels(int64_t v) { C_ = v; return *this; }
    void check(grn_sumsq_fn sumsq) const;
    void check(grn_apply_fn apply) const;
    void check(grn_apply_bf16_fn apply, grn_apply_fn twin) const;
    void check(grn_bwd_reduce_fn reduce) const;
    void check(grn_bwd_reduce_bf16_fn reduce, grn_bwd_reduce_fn twin) const;
    void check(grn_gelu_sumsq_bf16_fn sumsq, grn_gelu_sumsq_fn twin) const;
    void check(grn_bwd_apply_fn apply) const;
    void check(grn_gelu_sumsq_fn sumsq) const;
    void check(grn_bwd_apply_gelu_fn apply) const;
    void check(grn_bwd_apply_gelu_bf16_fn apply, grn_bwd_apply_gelu_fn twin) const;

private:
    uint64_t seed() const { return (uint64_t)(C_ * 7 + rows_); }
    int64_t rows_ = 1, C_ = 1;
};

// AdamW (simd/adamw/adamw.h) against PyTorch's update formula: lr 1e-3, weight decay 0.05, betas
// 0.9 and 0.999, eps 1e-8, at step 3. param 1e-6, 1e-7; m 1e-6, 1e-8; v 1e-6, 1e-10.
// With the bf16 copy: param, m and v bit for bit the twin's, and the copy the twin's param rounded.
class AdamWTester : public FlatTester<AdamWTester> {
public:
    void check(adamw_fn fn) const;
    void check(adamw_bf16_fn fn, adamw_fn twin) const;

private:
    struct State {
        Buf p, m, v;
    };
    State state() const;
};

// The fp32 <-> bf16 conversions (simd/bf16/bf16.h), bit for bit against the scalar conversion that
// matches VCVTNEPS2BF16 (bf16_from_float, float_from_bf16), on n fp32 bit patterns: the special
// ones first (zeros, denormals, ties to even, the largest finite values, infinities, quiet and
// signalling NaNs), then random ones, a third of them at or beside a tie; for the widening, the bf16
// halves of those patterns.
std::vector<uint32_t> fp32_patterns(int64_t n, uint64_t seed);
class Bf16Tester : public FlatTester<Bf16Tester> {
public:
    void check(bf16_from_f32_fn fn) const;
    void check(f32_from_bf16_fn fn) const;

private:
    BufOf<float> floats(int k) const;
};

// The depthwise kernels of one ISA, by algorithm (simd/dwconv/dwconv_algo.h).
struct DwRegionKernels {
    dwconv_fwd_fn fwd;
    dwconv_bwd_data_fn bwd_data;
    dwconv_bwd_wei_fn bwd_wei;
};
struct DwListKernels {
    dwconv_sparse_fwd_fn fwd;
    dwconv_sparse_bwd_data_fn bwd_data;
    dwconv_sparse_bwd_wei_fn bwd_wei;
};
struct DwPairKernels {
    dwconv_pairs_fwd_fn fwd;
    dwconv_pairs_bwd_data_fn bwd_data;
    dwconv_pairs_bwd_wei_fn bwd_wei;
};
struct DwKernels {
    std::string isa;
    DwRegionKernels regions;
    DwListKernels lists;
    DwPairKernels pairs;
};
// Per ISA the CPU runs.
std::vector<DwKernels> dw_kernels();

// The depthwise 7x7 in double over the output region of g, reading the input inside its window
// (simd/dwconv/dwconv_regions.h): out = ..., d_src += ..., d_wei and d_bias += ... at the region.
void dw_fwd_formula(double* out, const float* src, const float* wei, const float* bias, const DwGeom& g);
void dw_bwd_data_formula(double* d_src, const float* d_dst, const float* wei, const DwGeom& g);
void dw_bwd_wei_formula(double* d_wei, double* d_bias, const float* d_dst, const float* src, const DwGeom& g);

// The region kernels (simd/dwconv/dwconv_regions.h) on one image: an output region (default the
// whole image), the input window it reads (default the whole image), and top and bottom bands with
// columns of their own (default none). Forward: written only inside the region; backward-data:
// accumulated there; 2e-5. Weight and bias gradients (accumulated): 1e-4. With integers(), inputs
// are small integers and every result must be exact (fp32 accumulates them exactly).
class DwconvTester : public KernelTester<DwconvTester> {
public:
    DwconvTester& size(int64_t side) { return size(side, side); }
    DwconvTester& size(int64_t H, int64_t W) {
        H_ = H;
        W_ = W;
        return *this;
    }
    DwconvTester& channels(int64_t v) { C_ = v; return *this; }
    DwconvTester& region(int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
        region_ = {h0, h1, w0, w1};
        return *this;
    }
    DwconvTester& window(int64_t ih0, int64_t ih1, int64_t iw0, int64_t iw1) {
        window_ = {ih0, ih1, iw0, iw1};
        return *this;
    }
    DwconvTester& bands(int64_t tw0, int64_t tw1, int64_t bw0, int64_t bw1) {
        bands_ = {tw0, tw1, bw0, bw1};
        return *this;
    }
    DwconvTester& integers(bool on = true) { integers_ = on; return *this; }
    DwGeom geom() const;
    void check(dwconv_fwd_fn fwd) const;
    // bf16 output: the twin's rounded inside the region, nothing written outside.
    void check(dwconv_fwd_bf16_fn fwd, dwconv_fwd_fn twin) const;
    void check(dwconv_bwd_data_fn bwd_data) const;
    void check(dwconv_bwd_wei_fn bwd_wei) const;
    // All three directions.
    void check(const DwRegionKernels& k) const {
        check(k.fwd);
        check(k.bwd_data);
        check(k.bwd_wei);
    }

private:
    Buf inputs(int k, int64_t n, uint64_t salt) const;
    uint64_t seed() const;
    std::string describe() const;
    int64_t H_ = 7, W_ = 7, C_ = 1;
    std::vector<int64_t> region_, window_, bands_;  // empty: the default
    bool integers_ = false;
};

}  // namespace test
}  // namespace cnx
