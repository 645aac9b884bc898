#include "tests/kernel_testers.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <type_traits>

#include "core/check.h"
#include "core/rng.h"

namespace cnx {
namespace test {

// ---------------------------------------------------------------------------------------------
// Shared helpers

std::vector<KernelRow> runnable(const char* family) {
    static std::set<std::string> warned;
    std::vector<KernelRow> out;
    for (const KernelRow& r : kernel_rows(family)) {
        if (isa_supported(r.isa)) {
            out.push_back(r);
        } else if (warned.insert(r.name).second) {
            std::printf("SKIPPED %s: this CPU/OS lacks %s\n", r.name.c_str(), isa_name(r.isa));
        }
    }
    REQUIRE(!out.empty());
    return out;
}

std::vector<int64_t> channel_counts() {
    std::vector<int64_t> c;
    for (int64_t i = 1; i <= 33; i++) c.push_back(i);
    for (int64_t p : {37, 61, 97, 127}) c.push_back(p);
    for (int64_t w : {40, 48, 64, 80, 96, 128, 160, 192, 320, 384, 640, 768, 1536, 3072}) c.push_back(w);
    return c;
}

void check_canaries(std::initializer_list<const Buf*> bufs) {
    for (const Buf* b : bufs) CHECK(b->canaries_intact());
}

void fill(float* p, int64_t n, uint64_t seed, float lo, float hi) {
    const std::vector<float> v = random_vector(n, seed, lo, hi);
    std::copy(v.begin(), v.end(), p);
}

Compare expect_close(const char* what, const float* got, const double* want, int64_t n, double rtol, double atol) {
    INFO(what);
    const Compare c = compare(got, want, n, rtol, atol);
    CHECK_CLOSE(c, got, (const float*)nullptr);
    return c;
}

void expect_rounded(const char* what, const bf16* got, const float* twin, int64_t n) {
    INFO(what);
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++)
        if (got[i] != bf16_from_float(twin[i])) bad++, first = first < 0 ? i : first;
    CAPTURE(first);
    CHECK(bad == 0);
}

void check_trustworthy(const Compare& c, int64_t n) { CHECK_MESSAGE(c.nonzero * 10 >= n, "output mostly zero: untrustworthy"); }

namespace {

// The double-precision GELU and its derivative (Phi from erfc keeps its precision in the left tail).
double gelu(double v) { return 0.5 * v * std::erfc(-v / std::sqrt(2.0)); }
double gelu_grad(double v) { return 0.5 * std::erfc(-v / std::sqrt(2.0)) + v * std::exp(-0.5 * v * v) / std::sqrt(2 * M_PI); }

// f(i, c) over the elements of a rows x C matrix.
template <class F>
void each_element(int64_t rows, int64_t C, F&& f) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < C; c++) f(r * C + c, c);
}

std::vector<double> widen(const Buf& b) { return std::vector<double>(b.p(), b.p() + b.n); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// GELU

Buf GeluTester::inputs(int k, uint64_t seed) const {
    Buf x = input(k, n_, seed, -9.0f, 9.0f);
    if (n_ > 8) {  // the tails and the origin exactly
        x.p()[0] = -15.0f;
        x.p()[1] = 0.0f;
        x.p()[2] = -5.5f;
        x.p()[3] = 12.0f;
    }
    return x;
}

void GeluTester::check(gelu_fwd_fn fwd) const {
    CAPTURE(n_);
    CAPTURE(misalign_);
    const Buf x = inputs(1, (uint64_t)n_);
    Buf y = buf(0, n_);
    fwd(y.p(), x.p(), n_);
    std::vector<double> want((size_t)n_);
    for (int64_t i = 0; i < n_; i++) want[(size_t)i] = gelu(x.p()[i]);
    check_trustworthy(expect_close("y", y.p(), want.data(), n_, 6e-7, 1e-37), n_);
    check_canaries({&y, &x});
    Buf io = x;
    fwd(io.p(), io.p(), n_);
    CHECK(std::equal(y.p(), y.p() + n_, io.p()));
}

void GeluTester::check(gelu_bwd_fn bwd) const {
    CAPTURE(n_);
    CAPTURE(misalign_);
    const Buf dy = input(1, n_, 13 + (uint64_t)n_), x = inputs(2, 11 + (uint64_t)n_);
    Buf dx = buf(0, n_);
    bwd(dx.p(), dy.p(), x.p(), n_);
    std::vector<double> want((size_t)n_);
    for (int64_t i = 0; i < n_; i++) want[(size_t)i] = dy.p()[i] * gelu_grad(x.p()[i]);
    check_trustworthy(expect_close("dx", dx.p(), want.data(), n_, 1e-6, 1e-7), n_);
    check_canaries({&dx, &dy, &x});
    Buf io = dy;
    bwd(io.p(), io.p(), x.p(), n_);
    CHECK(std::equal(dx.p(), dx.p() + n_, io.p()));
}

// ---------------------------------------------------------------------------------------------
// LayerNorm

namespace {

constexpr float kLnEps = 1e-6f;

// The mean and 1 / sqrt(biased variance + eps) of a row.
void ln_stats(const float* x, int64_t C, double* mu, double* rs) {
    double m = 0, var = 0;
    for (int64_t c = 0; c < C; c++) m += x[c];
    m /= (double)C;
    for (int64_t c = 0; c < C; c++) var += (x[c] - m) * (x[c] - m);
    *mu = m;
    *rs = 1.0 / std::sqrt(var / (double)C + kLnEps);
}

}  // namespace

std::string LayerNormTester::describe() const {
    return strfmt("%lld rows x %lld channels%s misalign %lld", (long long)rows_, (long long)C_, gathered_ ? " gathered" : "",
                  (long long)misalign_);
}

// Gathered: stride 2C, reversed, every other row shifted by C.
std::vector<int64_t> LayerNormTester::offsets() const {
    std::vector<int64_t> off((size_t)rows_);
    for (int64_t r = 0; r < rows_; r++) off[(size_t)r] = gathered_ ? (rows_ - 1 - r) * 2 * C_ + (r % 2) * C_ : r * C_;
    return off;
}

void LayerNormTester::check(layernorm_fwd_fn fwd) const {
    const std::string what = describe();
    CAPTURE(what);
    const std::vector<int64_t> off = offsets();
    const int64_t n = span(), seed = C_ * 3;
    const Buf x = input(3, n, seed + 1, -2.0f, 3.0f), g = input(4, C_, seed + 2, 0.5f, 1.5f), b = input(5, C_, seed + 3);
    Buf y = buf(0, n), mean = buf(1, rows_), rstd = buf(2, rows_);
    fwd(Rows(y.p(), at(off)), mean.p(), rstd.p(), ConstRows(x.p(), at(off)), g.p(), b.p(), rows_, C_, kLnEps);
    std::vector<double> want((size_t)n, 0.0);  // zero between gathered rows
    for (int64_t r = 0; r < rows_; r++) {
        const int64_t o = off[(size_t)r];
        double mu, rs;
        ln_stats(x.p() + o, C_, &mu, &rs);
        CHECK(mean.p()[r] == doctest::Approx(mu).epsilon(1e-5).scale(1.0));
        CHECK(rstd.p()[r] == doctest::Approx(rs).epsilon(1e-5));
        for (int64_t c = 0; c < C_; c++) want[(size_t)(o + c)] = (x.p()[o + c] - mu) * rs * g.p()[c] + b.p()[c];
    }
    expect_close("y", y.p(), want.data(), n, 2e-5, 2e-5);
    check_canaries({&y, &mean, &rstd, &x, &g, &b});
}

// The input's values are bf16's either way; a bf16 input (In = bf16) is passed as such, else widened.
template <class In, class Fn>
void LayerNormTester::check_bf16_out(Fn fwd, layernorm_fwd_fn twin) const {
    const std::string what = describe();
    CAPTURE(what);
    const std::vector<int64_t> off = offsets();
    const int64_t n = span(), seed = C_ * 3;
    const Input16 x = input16(3, n, seed + 1, -2.0f, 3.0f);
    const Buf g = input(4, C_, seed + 2, 0.5f, 1.5f), b = input(5, C_, seed + 3);
    BufOf<bf16> y = buf_of<bf16>(0, n, bf16(0x7fc1));  // gathered: the elements between rows stay
    Buf want = buf(0, n), mean = buf(1, rows_), rstd = buf(2, rows_), twin_mean = buf(1, rows_), twin_rstd = buf(2, rows_);
    if constexpr (std::is_same<In, bf16>::value)
        fwd(RowsOf<bf16>(y.p(), at(off)), mean.p(), rstd.p(), RowsOf<const bf16>(x.h.p(), at(off)), g.p(), b.p(), rows_, C_, kLnEps);
    else
        fwd(RowsOf<bf16>(y.p(), at(off)), mean.p(), rstd.p(), ConstRows(x.f.p(), at(off)), g.p(), b.p(), rows_, C_, kLnEps);
    twin(Rows(want.p(), at(off)), twin_mean.p(), twin_rstd.p(), ConstRows(x.f.p(), at(off)), g.p(), b.p(), rows_, C_, kLnEps);
    std::vector<bf16> got;
    std::vector<float> twin_rows;
    for (int64_t r = 0; r < rows_; r++) {
        got.insert(got.end(), y.p() + off[(size_t)r], y.p() + off[(size_t)r] + C_);
        twin_rows.insert(twin_rows.end(), want.p() + off[(size_t)r], want.p() + off[(size_t)r] + C_);
    }
    expect_rounded("y", got.data(), twin_rows.data(), rows_ * C_);
    int64_t untouched = 0;
    for (int64_t i = 0; i < n; i++) untouched += y.p()[i] == bf16(0x7fc1);
    CHECK(untouched == n - rows_ * C_);
    CHECK(std::equal(mean.p(), mean.p() + rows_, twin_mean.p()));
    CHECK(std::equal(rstd.p(), rstd.p() + rows_, twin_rstd.p()));
    CHECK(y.canaries_intact());
    CHECK(x.h.canaries_intact());
}

void LayerNormTester::check(layernorm_fwd_bf16_fn fwd, layernorm_fwd_fn twin) const { check_bf16_out<bf16>(fwd, twin); }
void LayerNormTester::check(layernorm_fwd_to_bf16_fn fwd, layernorm_fwd_fn twin) const { check_bf16_out<float>(fwd, twin); }

void LayerNormTester::check(layernorm_bwd_bf16_fn bwd, layernorm_bwd_fn twin) const {
    const std::string what = describe();
    CAPTURE(what);
    const std::vector<int64_t> off = offsets();
    const int64_t n = span(), seed = C_ * 3;
    const Buf dy = input(3, n, seed + 4), g = input(7, C_, seed + 2, 0.5f, 1.5f), mean = input(5, rows_, seed + 7, 0.0f, 0.5f),
              rstd = input(6, rows_, seed + 8, 0.5f, 2.0f);
    const Input16 x = input16(4, n, seed + 1, -2.0f, 3.0f);
    Buf dx = buf(0, n), dg = input(1, C_, seed + 5), db = input(2, C_, seed + 6);
    Buf dx2 = buf(0, n), dg2 = input(1, C_, seed + 5), db2 = input(2, C_, seed + 6);
    bwd(Rows(dx.p(), at(off)), dg.p(), db.p(), ConstRows(dy.p(), at(off)), RowsOf<const bf16>(x.h.p(), at(off)), mean.p(), rstd.p(),
        g.p(), rows_, C_);
    twin(Rows(dx2.p(), at(off)), dg2.p(), db2.p(), ConstRows(dy.p(), at(off)), ConstRows(x.f.p(), at(off)), mean.p(), rstd.p(), g.p(),
         rows_, C_);
    CHECK(std::memcmp(dx.p(), dx2.p(), sizeof(float) * (size_t)n) == 0);
    CHECK(std::memcmp(dg.p(), dg2.p(), sizeof(float) * (size_t)C_) == 0);
    CHECK(std::memcmp(db.p(), db2.p(), sizeof(float) * (size_t)C_) == 0);
    check_canaries({&dx, &dg, &db, &dy, &mean, &rstd, &g});
    CHECK(x.h.canaries_intact());
}

void LayerNormTester::check(layernorm_bwd_fn bwd) const {
    const std::string what = describe();
    CAPTURE(what);
    const std::vector<int64_t> off = offsets();
    const int64_t n = span(), seed = C_ * 3;
    const Buf dy = input(3, n, seed + 4), x = input(4, n, seed + 1, -2.0f, 3.0f), g = input(7, C_, seed + 2, 0.5f, 1.5f);
    Buf dx = buf(0, n), dg = input(1, C_, seed + 5), db = input(2, C_, seed + 6), mean = buf(5, rows_), rstd = buf(6, rows_);
    std::vector<double> want_dx((size_t)n, 0.0), want_dg = widen(dg), want_db = widen(db);
    for (int64_t r = 0; r < rows_; r++) {
        const int64_t o = off[(size_t)r];
        double mu, rs;
        ln_stats(x.p() + o, C_, &mu, &rs);
        mean.p()[r] = (float)mu;
        rstd.p()[r] = (float)rs;
        // the formula from the mean and rstd as given
        auto xhat = [&](int64_t c) { return ((double)x.p()[o + c] - mean.p()[r]) * rstd.p()[r]; };
        double sg = 0, sgx = 0;
        for (int64_t c = 0; c < C_; c++) {
            const double d = dy.p()[o + c];
            sg += d * g.p()[c];
            sgx += d * g.p()[c] * xhat(c);
            want_dg[(size_t)c] += d * xhat(c);
            want_db[(size_t)c] += d;
        }
        for (int64_t c = 0; c < C_; c++)
            want_dx[(size_t)(o + c)] = rstd.p()[r] * ((double)dy.p()[o + c] * g.p()[c] - sg / (double)C_ - xhat(c) * sgx / (double)C_);
    }
    bwd(Rows(dx.p(), at(off)), dg.p(), db.p(), ConstRows(dy.p(), at(off)), ConstRows(x.p(), at(off)), mean.p(), rstd.p(), g.p(), rows_, C_);
    const Compare c = expect_close("dx", dx.p(), want_dx.data(), n, 1e-4, 1e-4);
    if (C_ > 1) check_trustworthy(c, rows_ * C_);  // one channel: xhat = 0, so dx = 0
    expect_close("dg", dg.p(), want_dg.data(), C_, 1e-4, 1e-4);
    expect_close("db", db.p(), want_db.data(), C_, 1e-4, 1e-4);
    check_canaries({&dx, &dg, &db, &dy, &x, &mean, &rstd, &g});
}

// ---------------------------------------------------------------------------------------------
// GRN: rows of x and dy from the case's seed, per-channel vectors from fixed seeds (nx in [0.2, 2)).

void GrnTester::check(grn_sumsq_fn sumsq) const {
    CAPTURE(C_);
    CAPTURE(rows_);
    Buf ss = input(0, C_, 7, 0.0f, 1.0f);
    const Buf x = input(1, rows_ * C_, seed());
    std::vector<double> want = widen(ss);
    each_element(rows_, C_, [&](int64_t i, int64_t c) { want[(size_t)c] += (double)x.p()[i] * x.p()[i]; });
    sumsq(ss.p(), x.p(), rows_, C_);
    expect_close("ss", ss.p(), want.data(), C_, 1e-5, 1e-5);
    check_canaries({&ss, &x});
}

void GrnTester::check(grn_apply_fn apply) const {
    CAPTURE(C_);
    CAPTURE(rows_);
    const int64_t n = rows_ * C_;
    Buf y = buf(0, n);
    const Buf x = input(1, n, seed()), nx = input(2, C_, 3, 0.2f, 2.0f), ga = input(3, C_, 4), be = input(4, C_, 5);
    std::vector<double> want((size_t)n);
    each_element(rows_, C_, [&](int64_t i, int64_t c) {
        want[(size_t)i] = ga.p()[c] * ((double)x.p()[i] * nx.p()[c]) + be.p()[c] + x.p()[i];
    });
    apply(y.p(), x.p(), nx.p(), ga.p(), be.p(), rows_, C_);
    check_trustworthy(expect_close("y", y.p(), want.data(), n, 1e-5, 1e-6), n);
    check_canaries({&y, &x, &nx, &ga, &be});
}

void GrnTester::check(grn_apply_bf16_fn apply, grn_apply_fn twin) const {
    CAPTURE(C_);
    CAPTURE(rows_);
    const int64_t n = rows_ * C_;
    const Input16 x = input16(1, n, seed());
    const Buf nx = input(2, C_, 3, 0.2f, 2.0f), ga = input(3, C_, 4), be = input(4, C_, 5);
    BufOf<bf16> got = buf_of<bf16>(0, n);
    Buf want = buf(0, n);
    apply(got.p(), x.h.p(), nx.p(), ga.p(), be.p(), rows_, C_);
    twin(want.p(), x.f.p(), nx.p(), ga.p(), be.p(), rows_, C_);
    expect_rounded("y", got.p(), want.p(), n);
    CHECK(got.canaries_intact());
    CHECK(x.h.canaries_intact());
}
void GrnTester::check(grn_bwd_reduce_bf16_fn reduce, grn_bwd_reduce_fn twin) const {
    CAPTURE(C_);
    CAPTURE(rows_);
    const int64_t n = rows_ * C_;
    Buf s = input(0, C_, 8), b = input(1, C_, 9), s2 = input(0, C_, 8), b2 = input(1, C_, 9);
    const Buf dy = input(2, n, seed() + 1);
    const Input16 x = input16(3, n, seed());
    reduce(s.p(), b.p(), dy.p(), x.h.p(), rows_, C_);
    twin(s2.p(), b2.p(), dy.p(), x.f.p(), rows_, C_);
    CHECK(std::memcmp(s.p(), s2.p(), sizeof(float) * (size_t)C_) == 0);
    CHECK(std::memcmp(b.p(), b2.p(), sizeof(float) * (size_t)C_) == 0);
    check_canaries({&s, &b, &dy});
    CHECK(x.h.canaries_intact());
}
void GrnTester::check(grn_gelu_sumsq_bf16_fn sumsq, grn_gelu_sumsq_fn twin) const {
    CAPTURE(C_);
    CAPTURE(rows_);
    const int64_t n = rows_ * C_;
    const Input16 h = input16(2, n, seed(), -4.0f, 4.0f);
    BufOf<bf16> x = buf_of<bf16>(0, n);
    Buf x2 = buf(0, n), ss = input(1, C_, 3, 0.0f, 1.0f), ss2 = input(1, C_, 3, 0.0f, 1.0f);
    std::vector<double> want_ss = widen(ss);
    sumsq(x.p(), ss.p(), h.h.p(), rows_, C_);
    twin(x2.p(), ss2.p(), h.f.p(), rows_, C_);
    expect_rounded("x", x.p(), x2.p(), n);
    // the squares of the values as stored
    each_element(rows_, C_, [&](int64_t i, int64_t c) {
        const double kept = float_from_bf16(x.p()[i]);
        want_ss[(size_t)c] += kept * kept;
    });
    expect_close("ss", ss.p(), want_ss.data(), C_, 1e-5, 1e-6);
    CHECK(x.canaries_intact());
    CHECK(h.h.canaries_intact());
    check_canaries({&ss});
}
void GrnTester::check(grn_bwd_reduce_fn reduce) const {
    CAPTURE(C_);
    CAPTURE(rows_);
    const int64_t n = rows_ * C_;
    Buf s = input(0, C_, 8), b = input(1, C_, 9);
    const Buf dy = input(2, n, seed() + 1), x = input(3, n, seed());
    std::vector<double> want_s = widen(s), want_b = widen(b);
    each_element(rows_, C_, [&](int64_t i, int64_t c) {
        want_s[(size_t)c] += (double)dy.p()[i] * x.p()[i];
        want_b[(size_t)c] += dy.p()[i];
    });
    reduce(s.p(), b.p(), dy.p(), x.p(), rows_, C_);
    expect_close("s", s.p(), want_s.data(), C_, 1e-4, 1e-5);
    expect_close("b", b.p(), want_b.data(), C_, 1e-4, 1e-5);
    check_canaries({&s, &b, &dy, &x});
}

void GrnTester::check(grn_bwd_apply_fn apply) const {
    CAPTURE(C_);
    CAPTURE(rows_);
    const int64_t n = rows_ * C_;
    Buf dx = buf(0, n);
    const Buf dy = input(1, n, seed() + 1), x = input(2, n, seed()), nx = input(3, C_, 3, 0.2f, 2.0f), ga = input(4, C_, 4),
              k = input(5, C_, 6);
    std::vector<double> want((size_t)n);
    each_element(rows_, C_, [&](int64_t i, int64_t c) {
        want[(size_t)i] = dy.p()[i] * (1.0 + (double)ga.p()[c] * nx.p()[c]) + (double)x.p()[i] * k.p()[c];
    });
    apply(dx.p(), dy.p(), x.p(), nx.p(), ga.p(), k.p(), rows_, C_);
    expect_close("dx", dx.p(), want.data(), n, 1e-5, 1e-6);
    check_canaries({&dx, &dy, &x, &nx, &ga, &k});
}

void GrnTester::check(grn_gelu_sumsq_fn sumsq) const {
    CAPTURE(C_);
    CAPTURE(rows_);
    const int64_t n = rows_ * C_;
    Buf x = buf(0, n), ss = input(1, C_, 3, 0.0f, 1.0f);
    const Buf h = input(2, n, seed(), -4.0f, 4.0f);
    std::vector<double> want_x((size_t)n), want_ss = widen(ss);
    each_element(rows_, C_, [&](int64_t i, int64_t c) {
        want_x[(size_t)i] = gelu(h.p()[i]);
        want_ss[(size_t)c] += want_x[(size_t)i] * want_x[(size_t)i];
    });
    sumsq(x.p(), ss.p(), h.p(), rows_, C_);
    check_trustworthy(expect_close("x", x.p(), want_x.data(), n, 1e-6, 1e-7), n);
    expect_close("ss", ss.p(), want_ss.data(), C_, 1e-5, 1e-6);
    check_canaries({&x, &ss, &h});
}

void GrnTester::check(grn_bwd_apply_gelu_fn apply) const {
    CAPTURE(C_);
    CAPTURE(rows_);
    const int64_t n = rows_ * C_;
    Buf dh = buf(0, n), x = buf(2, n);
    const Buf dy = input(1, n, seed() + 1), h = input(3, n, seed(), -4.0f, 4.0f), nx = input(4, C_, 4, 0.2f, 2.0f),
              ga = input(5, C_, 5), k = input(6, C_, 6);
    // x is the forward's output as stored
    for (int64_t i = 0; i < n; i++) x.p()[i] = (float)gelu(h.p()[i]);
    std::vector<double> want((size_t)n);
    each_element(rows_, C_, [&](int64_t i, int64_t c) {
        const double dx = dy.p()[i] * (1.0 + (double)ga.p()[c] * nx.p()[c]) + (double)x.p()[i] * k.p()[c];
        want[(size_t)i] = dx * gelu_grad(h.p()[i]);
    });
    apply(dh.p(), dy.p(), x.p(), h.p(), nx.p(), ga.p(), k.p(), rows_, C_);
    check_trustworthy(expect_close("dh", dh.p(), want.data(), n, 2e-5, 1e-6), n);
    check_canaries({&dh, &dy, &x, &h, &nx, &ga, &k});
}

void GrnTester::check(grn_bwd_apply_gelu_bf16_fn apply, grn_bwd_apply_gelu_fn twin) const {
    CAPTURE(C_);
    CAPTURE(rows_);
    const int64_t n = rows_ * C_;
    const Buf dy = input(1, n, seed() + 1), nx = input(4, C_, 4, 0.2f, 2.0f), ga = input(5, C_, 5), k = input(6, C_, 6);
    const Input16 x = input16(2, n, seed()), h = input16(3, n, seed(), -4.0f, 4.0f);
    BufOf<bf16> got = buf_of<bf16>(0, n);
    Buf want = buf(0, n);
    apply(got.p(), dy.p(), x.h.p(), h.h.p(), nx.p(), ga.p(), k.p(), rows_, C_);
    twin(want.p(), dy.p(), x.f.p(), h.f.p(), nx.p(), ga.p(), k.p(), rows_, C_);
    expect_rounded("dh", got.p(), want.p(), n);
    CHECK(got.canaries_intact());
    CHECK(x.h.canaries_intact());
    CHECK(h.h.canaries_intact());
}

// ---------------------------------------------------------------------------------------------
// AdamW

AdamWTester::State AdamWTester::state() const {
    return State{input(0, n_, 1), input(1, n_, 2, -0.1f, 0.1f), input(2, n_, 3, 0.0f, 0.01f)};
}

void AdamWTester::check(adamw_fn fn) const {
    CAPTURE(n_);
    const double lr = 1e-3, wd = 0.05, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    const int64_t step = 3;
    State st = state();
    Buf &p = st.p, &m = st.m, &v = st.v;
    const Buf g = input(3, n_, 4);
    std::vector<double> want_p((size_t)n_), want_m((size_t)n_), want_v((size_t)n_);
    const double bc1 = 1 - std::pow(beta1, (double)step), bc2 = 1 - std::pow(beta2, (double)step);
    for (int64_t i = 0; i < n_; i++) {
        const double gi = g.p()[i];
        const double mi = beta1 * m.p()[i] + (1 - beta1) * gi;
        const double vi = beta2 * v.p()[i] + (1 - beta2) * gi * gi;
        want_p[(size_t)i] = (double)p.p()[i] * (1.0 - lr * wd) - (lr / bc1) * mi / (std::sqrt(vi) / std::sqrt(bc2) + eps);
        want_m[(size_t)i] = mi;
        want_v[(size_t)i] = vi;
    }
    const AdamWStep s = adamw_step(lr, wd, beta1, beta2, eps, step);
    fn(p.p(), m.p(), v.p(), g.p(), n_, &s);
    expect_close("p", p.p(), want_p.data(), n_, 1e-6, 1e-7);
    expect_close("m", m.p(), want_m.data(), n_, 1e-6, 1e-8);
    expect_close("v", v.p(), want_v.data(), n_, 1e-6, 1e-10);
    check_canaries({&p, &m, &v, &g});
}

void AdamWTester::check(adamw_bf16_fn fn, adamw_fn twin) const {
    CAPTURE(n_);
    const AdamWStep s = adamw_step(1e-3, 0.05, 0.9, 0.999, 1e-8, 3);
    State got = state(), want = state();
    BufOf<bf16> p16 = buf_of<bf16>(4, n_);
    const Buf g = input(3, n_, 4);
    fn(got.p.p(), p16.p(), got.m.p(), got.v.p(), g.p(), n_, &s);
    twin(want.p.p(), want.m.p(), want.v.p(), g.p(), n_, &s);
    CHECK(std::memcmp(got.p.p(), want.p.p(), sizeof(float) * (size_t)n_) == 0);
    CHECK(std::memcmp(got.m.p(), want.m.p(), sizeof(float) * (size_t)n_) == 0);
    CHECK(std::memcmp(got.v.p(), want.v.p(), sizeof(float) * (size_t)n_) == 0);
    expect_rounded("param16", p16.p(), want.p.p(), n_);
    CHECK(p16.canaries_intact());
    check_canaries({&got.p, &got.m, &got.v, &g});
}

// ---------------------------------------------------------------------------------------------
// bf16

namespace {

uint32_t bits_of(float x) {
    uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}

}  // namespace

std::vector<uint32_t> fp32_patterns(int64_t n, uint64_t seed) {
    static const uint32_t special[] = {
        0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x00800000, 0x80800001,  // zeros, denormals, smallest normals
        0x3f808000, 0x3f818000, 0x3f807fff, 0x3f808001,                          // ties to even and their neighbours
        0x7f7fffff, 0x7f7f7fff, 0x7f7f8000, 0xff7fffff,                          // the largest finite values
        0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xff812345, 0x7fffffff}; // infinities, NaNs
    const int64_t kSpecial = (int64_t)(sizeof special / sizeof special[0]);
    Rng r(stream_key(seed, 11));
    std::vector<uint32_t> v((size_t)n);
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)r.next_u64();
        if (i % 3 == 0) u = (u & 0xffff0000u) | (0x7fffu + (uint32_t)(r.next_u64() % 3));  // at or beside a tie
        v[(size_t)i] = i < kSpecial ? special[i] : u;
    }
    return v;
}

BufOf<float> Bf16Tester::floats(int k) const {
    Buf x = buf(k, n_);
    const std::vector<uint32_t> bits = fp32_patterns(n_, (uint64_t)n_);
    std::memcpy(x.p(), bits.data(), sizeof(float) * (size_t)n_);
    return x;
}

void Bf16Tester::check(bf16_from_f32_fn fn) const {
    CAPTURE(n_);
    CAPTURE(misalign_);
    const Buf x = floats(1);
    BufOf<bf16> y = buf_of<bf16>(0, n_);
    fn(y.p(), x.p(), n_);
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n_; i++)
        if (y.p()[i] != bf16_from_float(x.p()[i])) bad++, first = first < 0 ? i : first;
    const std::string mismatch = first < 0 ? "none" : strfmt("at %lld, fp32 bits %08x", (long long)first, bits_of(x.p()[first]));
    CAPTURE(mismatch);
    CHECK(bad == 0);
    CHECK(y.canaries_intact());
    CHECK(x.canaries_intact());
}

void Bf16Tester::check(f32_from_bf16_fn fn) const {
    CAPTURE(n_);
    CAPTURE(misalign_);
    const Buf wide = floats(2);
    BufOf<bf16> x = buf_of<bf16>(1, n_);
    for (int64_t i = 0; i < n_; i++) x.p()[i] = (bf16)(bits_of(wide.p()[i]) >> 16);
    Buf y = buf(0, n_);
    fn(y.p(), x.p(), n_);
    int64_t bad = 0;
    for (int64_t i = 0; i < n_; i++) bad += bits_of(y.p()[i]) != (uint32_t)x.p()[i] << 16;
    CHECK(bad == 0);
    CHECK(y.canaries_intact());
    CHECK(x.canaries_intact());
}

// ---------------------------------------------------------------------------------------------
// Depthwise 7x7

namespace {

template <class Fn>
Fn row_of(const char* family, Isa isa) {
    for (const KernelRow& r : kernel_rows(family))
        if (r.isa == isa) return kernel_fn<Fn>(r);
    FAIL(family << " has no " << isa_name(isa) << " row");
    return nullptr;
}

// The formula's own reading of the window (not the kernels' dw_in_window): input rows above the
// region (before band_h0, by default h0) read the top band's columns, rows below it (from band_h1,
// by default h1) the bottom band's, the others [iw0, iw1).
bool in_window(const DwGeom& g, int64_t h, int64_t w) {
    int64_t lo = g.iw0, hi = g.iw1;
    if (h < (g.band_h0 >= 0 ? g.band_h0 : g.h0) && g.tw0 >= 0) lo = g.tw0, hi = g.tw1;
    if (h >= (g.band_h1 >= 0 ? g.band_h1 : g.h1) && g.bw0 >= 0) lo = g.bw0, hi = g.bw1;
    return h >= g.ih0 && h < g.ih1 && w >= lo && w < hi;
}

// f(o, c) over the region's elements (o: the element offset, c its channel).
template <class F>
void each_region_element(const DwGeom& g, F&& f) {
    for (int64_t h = g.h0; h < g.h1; h++)
        for (int64_t w = g.w0; w < g.w1; w++)
            for (int64_t c = 0; c < g.C; c++) f((h * g.W + w) * g.C + c, c);
}

// f(o, i, t) over the products of the region's outputs: output element o reads input element i
// through tap element t (input site h + a - 3, w + b - 3 through tap (a, b); with flip, the sites
// that read the output through it, h - a + 3, w - b + 3), inside the window.
template <class F>
void each_product(const DwGeom& g, bool flip, F&& f) {
    const int64_t sign = flip ? -1 : 1;
    for (int64_t h = g.h0; h < g.h1; h++)
        for (int64_t w = g.w0; w < g.w1; w++)
            for (int a = 0; a < kDwK; a++)
                for (int b = 0; b < kDwK; b++) {
                    const int64_t ih = h + sign * (a - kDwPad), iw = w + sign * (b - kDwPad);
                    if (!in_window(g, ih, iw)) continue;
                    for (int64_t c = 0; c < g.C; c++)
                        f((h * g.W + w) * g.C + c, (ih * g.W + iw) * g.C + c, (a * kDwK + b) * g.C + c);
                }
}

}  // namespace

std::vector<DwKernels> dw_kernels() {
    std::vector<DwKernels> out;
    for (const KernelRow& f : runnable("dwconv_fwd")) {
        const Isa isa = f.isa;
        out.push_back(DwKernels{
            isa_name(isa),
            {row_of<dwconv_fwd_fn>("dwconv_fwd", isa), row_of<dwconv_bwd_data_fn>("dwconv_bwd_data", isa),
             row_of<dwconv_bwd_wei_fn>("dwconv_bwd_wei", isa)},
            {row_of<dwconv_sparse_fwd_fn>("dwconv_sparse_fwd", isa), row_of<dwconv_sparse_bwd_data_fn>("dwconv_sparse_bwd_data", isa),
             row_of<dwconv_sparse_bwd_wei_fn>("dwconv_sparse_bwd_wei", isa)},
            {row_of<dwconv_pairs_fwd_fn>("dwconv_pairs_fwd", isa), row_of<dwconv_pairs_bwd_data_fn>("dwconv_pairs_bwd_data", isa),
             row_of<dwconv_pairs_bwd_wei_fn>("dwconv_pairs_bwd_wei", isa)}});
    }
    return out;
}

void dw_fwd_formula(double* out, const float* src, const float* wei, const float* bias, const DwGeom& g) {
    each_region_element(g, [&](int64_t o, int64_t c) { out[o] = bias[c]; });
    each_product(g, false, [&](int64_t o, int64_t i, int64_t t) { out[o] += (double)wei[t] * src[i]; });
}

void dw_bwd_data_formula(double* d_src, const float* d_dst, const float* wei, const DwGeom& g) {
    each_product(g, true, [&](int64_t o, int64_t i, int64_t t) { d_src[o] += (double)wei[t] * d_dst[i]; });
}

void dw_bwd_wei_formula(double* d_wei, double* d_bias, const float* d_dst, const float* src, const DwGeom& g) {
    each_region_element(g, [&](int64_t o, int64_t c) { d_bias[c] += d_dst[o]; });
    each_product(g, false, [&](int64_t o, int64_t i, int64_t t) { d_wei[t] += (double)d_dst[o] * src[i]; });
}

DwGeom DwconvTester::geom() const {
    const std::vector<int64_t> r = region_.empty() ? std::vector<int64_t>{0, H_, 0, W_} : region_;
    const std::vector<int64_t> w = window_.empty() ? std::vector<int64_t>{0, H_, 0, W_} : window_;
    DwGeom g{H_, W_, C_, r[0], r[1], r[2], r[3], w[0], w[1], w[2], w[3]};
    if (!bands_.empty()) {
        g.tw0 = bands_[0];
        g.tw1 = bands_[1];
        g.bw0 = bands_[2];
        g.bw1 = bands_[3];
    }
    return g;
}

uint64_t DwconvTester::seed() const {
    const DwGeom g = geom();
    return stream_key((uint64_t)(H_ * 1000 + W_), (uint64_t)C_, (uint64_t)(g.h0 * 1000 + g.w0), (uint64_t)(g.ih0 * 1000 + g.iw1));
}

std::string DwconvTester::describe() const {
    const DwGeom g = geom();
    return strfmt("%lldx%lldx%lld region [%lld,%lld)x[%lld,%lld) window [%lld,%lld)x[%lld,%lld) bands [%lld,%lld) [%lld,%lld) misalign %lld%s",
                  (long long)g.H, (long long)g.W, (long long)g.C, (long long)g.h0, (long long)g.h1, (long long)g.w0,
                  (long long)g.w1, (long long)g.ih0, (long long)g.ih1, (long long)g.iw0, (long long)g.iw1, (long long)g.tw0,
                  (long long)g.tw1, (long long)g.bw0, (long long)g.bw1, (long long)misalign_, integers_ ? " integers" : "");
}

// Small integers in [-3, 3] (integers()), else uniform in [-1, 1), from the case's seed + salt.
Buf DwconvTester::inputs(int k, int64_t n, uint64_t salt) const {
    const uint64_t seed = this->seed() + salt;
    if (!integers_) return input(k, n, seed);
    Buf b = buf(k, n);
    Rng r(stream_key(seed, 5));
    for (int64_t i = 0; i < n; i++) b.p()[i] = (float)((int)r.below(7) - 3);
    return b;
}

void DwconvTester::check(dwconv_fwd_fn fwd) const {
    const std::string what = describe();
    CAPTURE(what);
    const DwGeom g = geom();
    const int64_t n = H_ * W_ * C_;
    const Buf src = inputs(1, n, 1), wei = inputs(2, kDwTaps * C_, 2), bias = inputs(3, C_, 3);
    Buf dst = buf(0, n, -777.0f);  // written only inside the region
    std::vector<double> want((size_t)n, -777.0);
    dw_fwd_formula(want.data(), src.p(), wei.p(), bias.p(), g);
    fwd(dst.p(), src.p(), wei.p(), bias.p(), g);
    const double tol = integers_ ? 0 : 2e-5;
    expect_close("dst", dst.p(), want.data(), n, tol, tol);
    check_canaries({&dst, &src, &wei, &bias});
}

void DwconvTester::check(dwconv_fwd_bf16_fn fwd, dwconv_fwd_fn twin) const {
    const std::string what = describe();
    CAPTURE(what);
    const DwGeom g = geom();
    const int64_t n = H_ * W_ * C_;
    const Buf src = inputs(1, n, 1), wei = inputs(2, kDwTaps * C_, 2), bias = inputs(3, C_, 3);
    BufOf<bf16> dst = buf_of<bf16>(0, n, bf16(0x7fc1));  // written only inside the region
    Buf want = buf(0, n, -777.0f);
    fwd(dst.p(), src.p(), wei.p(), bias.p(), g);
    twin(want.p(), src.p(), wei.p(), bias.p(), g);
    int64_t inside = 0, wrong = 0;
    for (int64_t i = 0; i < n; i++) {
        const bool written = want.p()[i] != -777.0f;
        inside += written;
        wrong += dst.p()[i] != (written ? bf16_from_float(want.p()[i]) : bf16(0x7fc1));
    }
    CHECK(wrong == 0);
    CHECK(inside == (g.h1 - g.h0) * (g.w1 - g.w0) * C_);
    CHECK(dst.canaries_intact());
    check_canaries({&src, &wei, &bias});
}

void DwconvTester::check(dwconv_bwd_data_fn bwd_data) const {
    const std::string what = describe();
    CAPTURE(what);
    const DwGeom g = geom();
    const int64_t n = H_ * W_ * C_;
    Buf d_src = inputs(0, n, 5);  // accumulated into
    const Buf d_dst = inputs(1, n, 4), wei = inputs(2, kDwTaps * C_, 2);
    std::vector<double> want = widen(d_src);
    dw_bwd_data_formula(want.data(), d_dst.p(), wei.p(), g);
    bwd_data(d_src.p(), d_dst.p(), wei.p(), g);
    const double tol = integers_ ? 0 : 2e-5;
    expect_close("d_src", d_src.p(), want.data(), n, tol, tol);
    check_canaries({&d_src, &d_dst, &wei});
}

void DwconvTester::check(dwconv_bwd_wei_fn bwd_wei) const {
    const std::string what = describe();
    CAPTURE(what);
    const DwGeom g = geom();
    const int64_t n = H_ * W_ * C_, taps = kDwTaps * C_;
    Buf d_wei = inputs(0, taps, 6), d_bias = inputs(1, C_, 7);  // accumulated into
    const Buf d_dst = inputs(2, n, 4), src = inputs(3, n, 1);
    std::vector<double> want_wei = widen(d_wei), want_bias = widen(d_bias);
    dw_bwd_wei_formula(want_wei.data(), want_bias.data(), d_dst.p(), src.p(), g);
    bwd_wei(d_wei.p(), d_bias.p(), d_dst.p(), src.p(), g);
    const double tol = integers_ ? 0 : 1e-4;
    check_trustworthy(expect_close("d_wei", d_wei.p(), want_wei.data(), taps, tol, tol), taps);
    expect_close("d_bias", d_bias.p(), want_bias.data(), C_, tol, tol);
    check_canaries({&d_wei, &d_bias, &d_dst, &src});
}

}  // namespace test
}  // namespace cnx
