// Each nn layer's backward against central finite differences of L = <dy, f(x)> (accumulated in
// double, on small sizes so the fp32 forward noise stays far below the tolerance).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>

#include "core/rng.h"
#include "nn/dwconv.h"
#include "nn/gelu.h"
#include "nn/grn.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "simd/bf16/bf16.h"
#include "nn/loss.h"
#include "nn/patchify.h"
#include "nn/pool.h"
#include "nn/residual.h"
#include "tests/util.h"

using namespace cnx;

namespace {

double dot(const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); i++) s += (double)a[i] * b[i];
    return s;
}

// Compares grad[i] with (L(x + e_i h) - L(x - e_i h)) / 2h at up to `samples` coordinates.
void fd_check(const char* what, std::vector<float>& x, const std::vector<float>& grad, const std::function<double()>& loss,
              double h = 1e-2, double tol = 2e-3, int samples = 40) {
    CAPTURE(what);
    REQUIRE(grad.size() == x.size());
    Rng rng(stream_key(99, x.size()));
    int nonzero = 0;
    for (int s = 0; s < samples; s++) {
        size_t i = x.size() <= (size_t)samples ? (size_t)s % x.size() : (size_t)rng.below(x.size());
        const float x0 = x[i];
        x[i] = x0 + (float)h;
        const double lp = loss();
        x[i] = x0 - (float)h;
        const double lm = loss();
        x[i] = x0;
        const double fd = (lp - lm) / (2 * h);
        CAPTURE(i);
        CHECK(grad[i] == doctest::Approx(fd).epsilon(tol).scale(1.0));
        if (grad[i] != 0) nonzero++;
    }
    CHECK_MESSAGE(nonzero > samples / 2, "gradient mostly zero: untrustworthy");
}

}  // namespace

TEST_CASE("layernorm backward vs finite differences, plain and with scattered rows") {
    for (bool scatter : {false, true}) {
        const int64_t rows = 6, C = 13;
        std::vector<float> x = test::random_vector(rows * C, 1, -2, 3), g = test::random_vector(C, 2, 0.5f, 1.5f),
                           b = test::random_vector(C, 3), dy = test::random_vector(rows * C, 4);
        // scatter: row r is written at row (r * 5) % rows of the output (a permutation)
        std::vector<int64_t> off((size_t)rows);
        for (int64_t r = 0; r < rows; r++) off[(size_t)r] = ((r * 5) % rows) * C;
        const int64_t* o = scatter ? off.data() : nullptr;
        LayerNorm ln;
        ln.init(rows, C);
        std::vector<float> y((size_t)(rows * C)), mean((size_t)rows), rstd((size_t)rows);
        auto loss = [&]() {
            ln.forward(Rows(y.data(), o), mean.data(), rstd.data(), x.data(), g.data(), b.data());
            return dot(y, dy);
        };
        loss();
        std::vector<float> dx((size_t)(rows * C)), dg((size_t)C, 0.0f), db((size_t)C, 0.0f);
        ln.backward(dx.data(), dg.data(), db.data(), ConstRows(dy.data(), o), x.data(), mean.data(), rstd.data(), g.data());
        fd_check("dx", x, dx, loss);
        fd_check("dgamma", g, dg, loss);
        fd_check("dbeta", b, db, loss);
    }
}

TEST_CASE("gelu backward vs finite differences") {
    std::vector<float> x = test::random_vector(300, 5, -4, 4), dy = test::random_vector(300, 6), y(300), dx(300);
    auto loss = [&]() {
        gelu_forward(y.data(), x.data(), 300);
        return dot(y, dy);
    };
    gelu_backward(dx.data(), dy.data(), x.data(), 300);
    fd_check("dx", x, dx, loss, 1e-3, 2e-3);
}

TEST_CASE("grn backward vs finite differences (per-sample statistics)") {
    const int64_t N = 3, R = 7, C = 10;
    std::vector<float> x = test::random_vector(N * R * C, 7), ga = test::random_vector(C, 8), be = test::random_vector(C, 9),
                       dy = test::random_vector(N * R * C, 10);
    Grn grn;
    grn.init(N, R, C);
    std::vector<float> y((size_t)(N * R * C)), gx((size_t)(N * C)), nx((size_t)(N * C));
    auto loss = [&]() {
        grn.forward(y.data(), gx.data(), nx.data(), x.data(), ga.data(), be.data());
        return dot(y, dy);
    };
    loss();
    std::vector<float> dx((size_t)(N * R * C)), dga((size_t)C, 0.0f), dbe((size_t)C, 0.0f);
    grn.backward(dx.data(), dga.data(), dbe.data(), dy.data(), x.data(), gx.data(), nx.data(), ga.data());
    fd_check("dx", x, dx, loss, 1e-2, 3e-3);
    fd_check("dgamma", ga, dga, loss);
    fd_check("dbeta", be, dbe, loss);
}

TEST_CASE("grn fused with gelu: backward vs finite differences") {
    const int64_t N = 2, R = 6, C = 9;
    std::vector<float> h = test::random_vector(N * R * C, 31, -2, 2), ga = test::random_vector(C, 32), be = test::random_vector(C, 33),
                       dy = test::random_vector(N * R * C, 34);
    Grn grn;
    grn.init(N, R, C);
    std::vector<float> y(h.size()), x(h.size()), gx((size_t)(N * C)), nx((size_t)(N * C));
    auto loss = [&]() {
        grn.forward_gelu(y.data(), x.data(), gx.data(), nx.data(), h.data(), ga.data(), be.data());
        return dot(y, dy);
    };
    loss();
    std::vector<float> dh(h.size()), dga((size_t)C, 0.0f), dbe((size_t)C, 0.0f);
    grn.backward_gelu(dh.data(), dga.data(), dbe.data(), dy.data(), x.data(), h.data(), gx.data(), nx.data(), ga.data());
    fd_check("dh", h, dh, loss, 1e-2, 3e-3);
    fd_check("dgamma", ga, dga, loss);
    fd_check("dbeta", be, dbe, loss);
}

TEST_CASE("dwconv backward vs finite differences") {
    const int64_t N = 2, H = 9, W = 8, C = 5;
    std::vector<float> x = test::random_vector(N * H * W * C, 11), w = test::random_vector(49 * C, 12),
                       b = test::random_vector(C, 13), dy = test::random_vector(N * H * W * C, 14);
    DwConv dw;
    dw.init(N, H, W, C);
    std::vector<float> y(x.size());
    auto loss = [&]() {
        dw.forward(y.data(), x.data(), w.data(), b.data());
        return dot(y, dy);
    };
    std::vector<float> dx(x.size(), 0.0f), dwt(w.size(), 0.0f), db(b.size(), 0.0f);
    dw.backward_data(dx.data(), dy.data(), w.data());
    dw.backward_weights(dwt.data(), db.data(), dy.data(), x.data());
    fd_check("dx", x, dx, loss);
    fd_check("dweight", w, dwt, loss);
    fd_check("dbias", b, db, loss);
}

TEST_CASE("linear (oneDNN matmul) backward vs finite differences, and accumulation") {
    const int64_t M = 7, K = 6, N = 5;
    std::vector<float> x = test::random_vector(M * K, 15), W = test::random_vector(N * K, 16), b = test::random_vector(N, 17),
                       dy = test::random_vector(M * N, 18), y((size_t)(M * N));
    Linear lin;
    lin.init(M, K, N);
    auto loss = [&]() {
        lin.forward(y.data(), x.data(), W.data(), b.data());
        return dot(y, dy);
    };
    std::vector<float> dx((size_t)(M * K)), dW((size_t)(N * K), 0.0f), db((size_t)N, 0.0f);
    lin.backward(dx.data(), dW.data(), db.data(), dy.data(), x.data(), W.data(), false);
    fd_check("dx", x, dx, loss, 1e-2, 1e-3);
    fd_check("dW", W, dW, loss, 1e-2, 1e-3);
    fd_check("db", b, db, loss, 1e-2, 1e-3);
    // backward accumulates: a second call doubles the weight gradient; accumulate=true adds to dx
    std::vector<float> dW2 = dW, dx2 = dx;
    lin.backward(dx2.data(), dW2.data(), nullptr, dy.data(), x.data(), W.data(), true);
    for (size_t i = 0; i < dW.size(); i++) CHECK(dW2[i] == doctest::Approx(2 * dW[i]));
    for (size_t i = 0; i < dx.size(); i++) CHECK(dx2[i] == doctest::Approx(2 * dx[i]));
}

TEST_CASE("linear in bf16: each product is the fp32 product of the inputs rounded to bf16") {
    const int64_t M = 37, K = 19, N = 23;
    const std::vector<float> x = test::random_vector(M * K, 25), W = test::random_vector(N * K, 26), b = test::random_vector(N, 27),
                             dy = test::random_vector(M * N, 28);
    auto rounded = [](const std::vector<float>& v) {
        std::vector<double> r(v.size());
        for (size_t i = 0; i < v.size(); i++) r[i] = float_from_bf16(bf16_from_float(v[i]));
        return r;
    };
    const std::vector<double> xr = rounded(x), Wr = rounded(W), dyr = rounded(dy);
    Linear lin;
    lin.init(M, K, N, Precision::kBf16);
    std::vector<float> y((size_t)(M * N)), dx((size_t)(M * K), 0.5f), dW((size_t)(N * K), 0.25f), db((size_t)N, 0.0f);
    lin.forward(y.data(), x.data(), W.data(), b.data());
    lin.backward(dx.data(), dW.data(), db.data(), dy.data(), x.data(), W.data(), true);
    std::vector<double> want_y((size_t)(M * N)), want_dx((size_t)(M * K), 0.5), want_dW((size_t)(N * K), 0.25), want_db((size_t)N, 0.0);
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double acc = b[(size_t)n];
            for (int64_t k = 0; k < K; k++) {
                acc += xr[(size_t)(m * K + k)] * Wr[(size_t)(n * K + k)];
                want_dx[(size_t)(m * K + k)] += dyr[(size_t)(m * N + n)] * Wr[(size_t)(n * K + k)];
                want_dW[(size_t)(n * K + k)] += dyr[(size_t)(m * N + n)] * xr[(size_t)(m * K + k)];
            }
            want_y[(size_t)(m * N + n)] = acc;
            want_db[(size_t)n] += dy[(size_t)(m * N + n)];  // the bias gradient sums the fp32 gradient
        }
    CHECK_CLOSE(test::compare(y.data(), want_y.data(), M * N, 1e-5, 1e-5), y.data(), (const float*)nullptr);
    CHECK_CLOSE(test::compare(dx.data(), want_dx.data(), M * K, 1e-5, 1e-5), dx.data(), (const float*)nullptr);
    CHECK_CLOSE(test::compare(dW.data(), want_dW.data(), N * K, 1e-5, 1e-5), dW.data(), (const float*)nullptr);
    CHECK_CLOSE(test::compare(db.data(), want_db.data(), N, 1e-5, 1e-5), db.data(), (const float*)nullptr);
    // inputs already in bf16 give the same products (fp32 inputs are rounded the same way);
    // the bias gradient then sums the rounded gradient
    std::vector<bf16> x16((size_t)(M * K)), dy16((size_t)(M * N));
    for (size_t i = 0; i < x16.size(); i++) x16[i] = bf16_from_float(x[i]);
    for (size_t i = 0; i < dy16.size(); i++) dy16[i] = bf16_from_float(dy[i]);
    std::vector<float> y16((size_t)(M * N)), dx16((size_t)(M * K), 0.5f), dW16((size_t)(N * K), 0.25f), db16((size_t)N, 0.0f);
    lin.forward(y16.data(), x16.data(), W.data(), b.data());
    lin.backward(dx16.data(), dW16.data(), db16.data(), dy16.data(), x16.data(), W.data(), true);
    CHECK(y16 == y);
    CHECK(dx16 == dx);
    CHECK(dW16 == dW);
    std::vector<double> want_db16((size_t)N, 0.0);
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) want_db16[(size_t)n] += dyr[(size_t)(m * N + n)];
    CHECK_CLOSE(test::compare(db16.data(), want_db16.data(), N, 1e-5, 1e-5), db16.data(), (const float*)nullptr);
    // a bf16 output is the fp32 output rounded to nearest: within half a bf16 step of the exact sum
    // (plus the fp32 sum's own error), and the rounded fp32 output wherever the two sums agree
    std::vector<bf16> yb((size_t)(M * N));
    lin.forward(yb.data(), x.data(), W.data(), b.data());
    int64_t same = 0;
    for (size_t i = 0; i < yb.size(); i++) {
        CAPTURE(i);
        CHECK(std::fabs(float_from_bf16(yb[i]) - want_y[i]) <= std::ldexp(std::fabs(want_y[i]), -8) + 1e-5);
        same += yb[i] == bf16_from_float(y[i]);
    }
    CHECK(same >= M * N * 95 / 100);
    // and the rounding is visible: the fp32 layer's output differs
    Linear fp32;
    fp32.init(M, K, N);
    std::vector<float> y32((size_t)(M * N));
    fp32.forward(y32.data(), x.data(), W.data(), b.data());
    CHECK(y32 != y);
    CHECK(std::string(precision_name(Precision::kBf16)) == "bf16");
    CHECK(parse_precision("fp32") == Precision::kFp32);
    CHECK_THROWS_AS(parse_precision("fp16"), Error);
}

TEST_CASE("patch gather and offsets agree: a row-wise copy through the offsets equals the gather") {
    const int64_t N = 2, H = 6, W = 4, C = 3, k = 2;
    std::vector<float> x = test::random_vector(N * H * W * C, 19), gathered(x.size()), scattered(x.size());
    patch_gather(gathered.data(), x.data(), N, H, W, C, k);
    std::vector<int64_t> off((size_t)(N * H * W));
    patch_offsets(off.data(), N, H, W, C, k);
    for (int64_t t = 0; t < N * H * W; t++)
        for (int64_t c = 0; c < C; c++) scattered[(size_t)(off[(size_t)t] + c)] = x[(size_t)(t * C + c)];
    CHECK(gathered == scattered);
    // patch (n=1, ho=2, wo=1) row: (kh, kw, c) order
    const int64_t row = (1 * 3 + 2) * 2 + 1;
    CHECK(gathered[(size_t)(row * k * k * C + (1 * k + 0) * C + 2)] == x[(size_t)(((1 * H + 5) * W + 2) * C + 2)]);
}

TEST_CASE("average pool and residual/drop-path backward vs finite differences") {
    const int64_t N = 3, R = 5, C = 4;
    std::vector<float> x = test::random_vector(N * R * C, 20), dy = test::random_vector(N * C, 21), y((size_t)(N * C));
    auto loss = [&]() {
        avgpool_forward(y.data(), x.data(), N, R, C);
        return dot(y, dy);
    };
    std::vector<float> dx(x.size());
    avgpool_backward(dx.data(), dy.data(), N, R, C);
    fd_check("avgpool dx", x, dx, loss, 1e-2, 1e-3);

    // drop path: scales 0 or 1/keep per sample; the branch gradient is scaled the same way
    std::vector<float> scale((size_t)N);
    drop_path_scales(scale.data(), N, 0.5f, stream_key(3, 4));
    for (float s : scale) CHECK((s == 0.0f || s == 2.0f));
    // a slice of the batch (a data-parallel rank's) draws the same scales as the whole
    std::vector<float> tail((size_t)N - 1);
    drop_path_scales(tail.data(), N - 1, 0.5f, stream_key(3, 4), 1);
    CHECK(std::equal(tail.begin(), tail.end(), scale.begin() + 1));
    std::vector<float> br = test::random_vector(N * R * C, 22), dout = test::random_vector(N * R * C, 23), out(br.size());
    auto loss2 = [&]() {
        residual_forward(out.data(), x.data(), br.data(), scale.data(), N, R * C);
        return dot(out, dout);
    };
    std::vector<float> dbr(br.size());
    residual_branch_grad(dbr.data(), dout.data(), scale.data(), N, R * C);
    for (size_t i = 0; i < br.size(); i++) {
        const float b0 = br[i];
        br[i] = b0 + 0.01f;
        const double lp = loss2();
        br[i] = b0 - 0.01f;
        const double lm = loss2();
        br[i] = b0;
        CHECK(dbr[i] == doctest::Approx((lp - lm) / 0.02).epsilon(1e-3).scale(1.0));
    }
}

TEST_CASE("patch gather in bf16 rounds the fp32 gather") {
    const int64_t N = 2, H = 6, W = 4, C = 3, k = 2;
    const std::vector<float> x = test::random_vector(N * H * W * C, 33);
    std::vector<float> p(x.size());
    std::vector<bf16> p16(x.size());
    patch_gather(p.data(), x.data(), N, H, W, C, k);
    patch_gather(p16.data(), x.data(), N, H, W, C, k);
    CHECK(p != x);  // the layout changed
    for (size_t i = 0; i < p.size(); i++) CHECK(p16[i] == bf16_from_float(p[i]));
}

TEST_CASE("residual with a bf16 branch equals the fp32 residual of the widened branch, dense and on rows") {
    const int64_t N = 3, R = 5, C = 7;
    const std::vector<float> x = test::random_vector(N * R * C, 30), y = test::random_vector(N * R * C, 31);
    std::vector<float> scale = {2.0f, 0.0f, 2.0f}, wide(y.size());
    std::vector<bf16> y16(y.size());
    for (size_t i = 0; i < y.size(); i++) {
        y16[i] = bf16_from_float(y[i]);
        wide[i] = float_from_bf16(y16[i]);
    }
    for (const float* s : {(const float*)nullptr, (const float*)scale.data()}) {
        std::vector<float> got(x.size()), want(x.size());
        residual_forward(got.data(), x.data(), y16.data(), s, N, R * C);
        residual_forward(want.data(), x.data(), wide.data(), s, N, R * C);
        CHECK(got == want);
        CHECK(got != x);
        // rows 0, 2, 4, ... of the branch into the dense stream at reversed sites
        const int64_t rows = N * R;
        std::vector<int64_t> off((size_t)rows);
        for (int64_t r = 0; r < rows; r++) off[(size_t)r] = (rows - 1 - r) * C;
        std::vector<float> got_rows = x, want_rows = x;
        residual_forward_rows(got_rows.data(), x.data(), y16.data(), s, off.data(), rows, R, C);
        residual_forward_rows(want_rows.data(), x.data(), wide.data(), s, off.data(), rows, R, C);
        CHECK(got_rows == want_rows);
    }
}

TEST_CASE("cross-entropy with label smoothing: value and gradient") {
    const int64_t N = 4, K = 6;
    std::vector<float> z = test::random_vector(N * K, 24, -3, 3), dz((size_t)(N * K));
    std::vector<int32_t> labels = {0, 5, 2, 2};
    const float eps = 0.1f;
    const double l = cross_entropy(dz.data(), z.data(), labels.data(), N, K, eps);
    double want = 0;
    for (int64_t n = 0; n < N; n++) {
        double mx = -1e30, se = 0;
        for (int64_t k = 0; k < K; k++) mx = std::max(mx, (double)z[(size_t)(n * K + k)]);
        for (int64_t k = 0; k < K; k++) se += std::exp(z[(size_t)(n * K + k)] - mx);
        for (int64_t k = 0; k < K; k++) {
            double logp = z[(size_t)(n * K + k)] - mx - std::log(se);
            double target = eps / K + (k == labels[(size_t)n] ? 1 - eps : 0);
            want -= target * logp;
        }
    }
    CHECK(l == doctest::Approx(want / N).epsilon(1e-6));
    fd_check("dlogits", z, dz, [&]() { return cross_entropy(nullptr, z.data(), labels.data(), N, K, eps); }, 1e-3, 1e-3);
    CHECK(count_topk_correct(z.data(), labels.data(), N, K, K) == N);
}

TEST_CASE("soft-target cross-entropy: value, gradient, and equal to label smoothing on smoothed one-hot targets") {
    const int64_t N = 4, K = 6;
    std::vector<float> z = test::random_vector(N * K, 25, -3, 3), dz((size_t)(N * K)), t((size_t)(N * K));
    for (int64_t n = 0; n < N; n++) {  // rows that mix two classes, one not summing to 1
        t[(size_t)(n * K + n)] = 0.7f;
        t[(size_t)(n * K + (n + 3) % K)] = n == 2 ? 0.5f : 0.3f;
    }
    const double l = soft_cross_entropy(dz.data(), z.data(), t.data(), N, K);
    double want = 0;
    for (int64_t n = 0; n < N; n++) {
        double mx = -1e30, se = 0;
        for (int64_t k = 0; k < K; k++) mx = std::max(mx, (double)z[(size_t)(n * K + k)]);
        for (int64_t k = 0; k < K; k++) se += std::exp(z[(size_t)(n * K + k)] - mx);
        for (int64_t k = 0; k < K; k++) want -= t[(size_t)(n * K + k)] * (z[(size_t)(n * K + k)] - mx - std::log(se));
    }
    CHECK(l == doctest::Approx(want / N).epsilon(1e-6));
    fd_check("dlogits", z, dz, [&]() { return soft_cross_entropy(nullptr, z.data(), t.data(), N, K); }, 1e-3, 1e-3);

    const std::vector<int32_t> labels = {0, 5, 2, 2};
    const float eps = 0.2f;
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++) t[(size_t)(n * K + k)] = eps / K + (k == labels[(size_t)n] ? 1 - eps : 0);
    std::vector<float> dz_hard((size_t)(N * K));
    CHECK(soft_cross_entropy(dz.data(), z.data(), t.data(), N, K) ==
          doctest::Approx(cross_entropy(dz_hard.data(), z.data(), labels.data(), N, K, eps)).epsilon(1e-6));  // float targets
    for (size_t i = 0; i < dz.size(); i++) CHECK(dz[i] == doctest::Approx(dz_hard[i]).epsilon(1e-5).scale(1e-6));
}

TEST_CASE("parallel_for_weighted: contiguous slices that cover every item once, split by cost") {
    const int saved = num_threads();
    // item costs 1, 4, 9, ..., 41^2 (an equal count per thread would be far off) and one heavy item
    std::vector<int64_t> prefix(1, 0);
    for (int64_t i = 0; i < 41; i++) prefix.push_back(prefix.back() + (i == 20 ? 5000 : (i + 1) * (i + 1)));
    const int64_t total = prefix.back();
    for (int threads : {1, 2, 3, 5}) {
        set_num_threads(threads);
        CAPTURE(threads);
        std::vector<int> owner(41, -1);
        std::vector<int64_t> begin(threads, -1), end(threads, -1);
        parallel_for_weighted(prefix, [&](int64_t b, int64_t e, int t) {
            begin[(size_t)t] = b;
            end[(size_t)t] = e;
            for (int64_t i = b; i < e; i++) owner[(size_t)i] = t;
        });
        int64_t next = 0;
        for (int t = 0; t < threads; t++) {
            if (begin[(size_t)t] < 0) continue;  // a thread may get nothing behind a heavy item
            CHECK(begin[(size_t)t] == next);     // slices in thread order, no gaps
            next = end[(size_t)t];
            // a slice exceeds an equal share by at most its last item
            const int64_t cost = prefix[(size_t)end[(size_t)t]] - prefix[(size_t)begin[(size_t)t]];
            const int64_t last = prefix[(size_t)end[(size_t)t]] - prefix[(size_t)end[(size_t)t] - 1];
            CHECK(cost <= total / threads + last);
        }
        CHECK(next == 41);
        for (int o : owner) CHECK(o >= 0);
    }
    set_num_threads(saved);
}
