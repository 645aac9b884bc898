// bf16 conversions: the scalar conversion against an independent rounding oracle and the special
// values, then every variant of simd/kernels.inc against it, bit for bit (tests/kernel_testers.h).
#include <cmath>
#include <cstring>

#include "nn/convert.h"
#include "tests/kernel_testers.h"

using namespace cnx;
using namespace cnx::test;

namespace {

float float_of(uint32_t u) {
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

// The nearest bf16 to a finite normal x by distances in double, ties to the even mantissa; past the
// largest bf16, the next step up is Inf (2^128).
bf16 nearest_bf16(float x) {
    uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    const uint32_t down = u & 0xffff0000u, up = down + 0x10000u;
    const double lo = std::fabs((double)float_of(down));
    const double hi = (up & 0x7f800000u) == 0x7f800000u ? std::ldexp(1.0, 128) : std::fabs((double)float_of(up));
    const double a = std::fabs((double)x);
    const bool take_up = a - lo > hi - a || (a - lo == hi - a && ((down >> 16) & 1u));
    return (bf16)((take_up ? up : down) >> 16);
}

}  // namespace

TEST_CASE("bf16: the scalar conversion rounds to nearest even, keeps NaN and infinities, flushes denormals") {
    auto to = [](uint32_t u) { return bf16_from_float(float_of(u)); };
    CHECK(to(0x3f808000) == 0x3f80);  // a tie rounds to the even mantissa: down...
    CHECK(to(0x3f818000) == 0x3f82);  // ...and up
    CHECK(to(0x3f807fff) == 0x3f80);
    CHECK(to(0x3f808001) == 0x3f81);
    CHECK(to(0xbf808001) == 0xbf81);  // the same for negative values
    CHECK(to(0x7f7f7fff) == 0x7f7f);  // the largest bf16
    CHECK(to(0x7f7f8000) == 0x7f80);  // a tie above it, and the largest fp32, round to Inf
    CHECK(to(0x7f7fffff) == 0x7f80);
    CHECK(to(0xff7fffff) == 0xff80);
    CHECK(to(0x7f800000) == 0x7f80);
    CHECK(to(0xff800000) == 0xff80);
    CHECK(to(0x7f800001) == 0x7fc0);  // a NaN whose payload lies in the low half stays NaN (quiet)
    CHECK(to(0xff812345) == 0xffc1);
    CHECK(to(0x7fc00000) == 0x7fc0);
    CHECK(to(0x00000001) == 0x0000);  // denormals become zeros of their sign
    CHECK(to(0x807fffff) == 0x8000);
    CHECK(to(0x00800000) == 0x0080);  // the smallest normal stays

    // random normal values against the oracle
    const std::vector<uint32_t> bits = fp32_patterns(1 << 20, 7);
    int64_t bad = 0, tested = 0;
    for (uint32_t u : bits) {
        const uint32_t exponent = u & 0x7f800000u;
        if (exponent == 0 || exponent == 0x7f800000u) continue;
        tested++;
        bad += bf16_from_float(float_of(u)) != nearest_bf16(float_of(u));
    }
    CHECK(tested > 900000);
    CHECK(bad == 0);

    // every bf16 widens exactly and narrows back to itself (NaNs stay NaN, denormals are flushed)
    int64_t widen_bad = 0, trip_bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        const float x = float_from_bf16((bf16)h);
        uint32_t xb;
        std::memcpy(&xb, &x, sizeof xb);
        widen_bad += xb != h << 16;
        const bf16 back = bf16_from_float(x);
        if (std::isnan(x)) trip_bad += !std::isnan(float_from_bf16(back));
        else if ((h & 0x7f80u) == 0) trip_bad += back != (h & 0x8000u);
        else trip_bad += back != h;
    }
    CHECK(widen_bad == 0);
    CHECK(trip_bad == 0);
}

TEST_CASE("bf16: every variant of each conversion equals the scalar conversion bit for bit") {
    for_each_variant<bf16_from_f32_fn>("bf16_from_f32", [](bf16_from_f32_fn fn) {
        for (int64_t n : {1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 4099})
            for (int64_t misalign : {0, 1, 3}) Bf16Tester().n(n).misalign(misalign).staggered().check(fn);
    });
    for_each_variant<f32_from_bf16_fn>("f32_from_bf16", [](f32_from_bf16_fn fn) {
        for (int64_t n : {1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 4099})
            for (int64_t misalign : {0, 1, 3}) Bf16Tester().n(n).misalign(misalign).staggered().check(fn);
    });
}

TEST_CASE("bf16: every variant narrows every exponent and sign the same way at and beside the ties") {
    // each bf16 pattern with low halves 0, 1, just below, at and just above the tie, and all ones
    std::vector<float> x;
    for (uint32_t high = 0; high < 0x10000; high++)
        for (uint32_t low : {0x0000u, 0x0001u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu}) x.push_back(float_of(high << 16 | low));
    const int64_t n = (int64_t)x.size();
    std::vector<bf16> want((size_t)n);
    for (int64_t i = 0; i < n; i++) want[(size_t)i] = bf16_from_float(x[(size_t)i]);
    for_each_variant<bf16_from_f32_fn>("bf16_from_f32", [&](bf16_from_f32_fn fn) {
        std::vector<bf16> got((size_t)n);
        fn(got.data(), x.data(), n);
        CHECK(got == want);
    });
}

TEST_CASE("bf16: the threaded conversions (nn/convert.h) equal the scalar conversion") {
    const int64_t n = 100003;  // not a whole number of chunks
    const std::vector<uint32_t> bits = fp32_patterns(n, 3);
    std::vector<float> x((size_t)n), back((size_t)n);
    std::memcpy(x.data(), bits.data(), sizeof(float) * (size_t)n);
    std::vector<bf16> h((size_t)n);
    to_bf16(h.data(), x.data(), n);
    from_bf16(back.data(), h.data(), n);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        const bf16 want = bf16_from_float(x[(size_t)i]);
        const float widened = float_from_bf16(want);
        bad += h[(size_t)i] != want || std::memcmp(&back[(size_t)i], &widened, sizeof widened) != 0;
    }
    CHECK(bad == 0);
}
