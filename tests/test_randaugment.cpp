// RandAugment (tools/randaugment.h): every op against Pillow's bytes and timm's level functions
// (tests/fixtures/randaugment, from tests/reference/make_randaugment_fixtures.py), the config
// parser with timm's quirks, and the statistics of the draws through the trace.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>

#include "core/check.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "tests/util.h"
#include "tools/image.h"
#include "tools/randaugment.h"
#include "tools/resample.h"

using namespace cnx;

namespace {

const uint8_t kFill[3] = {124, 116, 104};

std::string fixture(const std::string& file) { return test::fixture_path("randaugment/" + file); }

// The manifest lines starting with `kind`, split on spaces.
std::vector<std::vector<std::string>> manifest(const std::string& kind) {
    std::istringstream in(read_file(fixture("manifest.txt")));
    std::vector<std::vector<std::string>> rows;
    for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        std::vector<std::string> w;
        for (std::string s; words >> s;) w.push_back(s);
        if (!w.empty() && w[0] == kind) rows.push_back(w);
    }
    return rows;
}

// Differing bytes and their largest difference; empty when equal.
std::string difference(const Image& got, const Image& want) {
    if (got.h != want.h || got.w != want.w || got.c != want.c) {
        return strfmt("shape %dx%dx%d, want %dx%dx%d", got.h, got.w, got.c, want.h, want.w, want.c);
    }
    int64_t n = 0;
    int worst = 0;
    for (size_t i = 0; i < got.pixels.size(); i++) {
        int d = std::abs((int)got.pixels[i] - (int)want.pixels[i]);
        n += d != 0;
        worst = std::max(worst, d);
    }
    return n ? strfmt("%lld of %zu bytes differ, by up to %d", (long long)n, got.pixels.size(), worst) : "";
}

bool is_geometric(const std::string& op) {
    return op == "Rotate" || op == "ShearX" || op == "ShearY" || op == "TranslateXRel" || op == "TranslateYRel";
}

// Checks every `apply` fixture whose op is (not) geometric; returns how many it checked.
int check_fixtures(bool geometric) {
    int checked = 0;
    for (const auto& w : manifest("apply")) {
        REQUIRE(w.size() == 8);
        if (is_geometric(w[4]) != geometric) continue;
        const int channels = std::atoi(w[3].c_str());
        Image img = read_image(fixture(w[2]), channels);
        const Image want = read_image(fixture(w[1]), channels);
        const Interpolation f = w[6] == "-" ? Interpolation::Bicubic : parse_interpolation(w[6]);
        apply_rand_op(img, parse_rand_op(w[4]), std::strtod(w[5].c_str(), nullptr), kFill, f);
        INFO(w[1], ": ", w[4], "(", w[5], ") ", w[6]);
        CHECK(difference(img, want) == "");
        checked++;
    }
    return checked;
}

// Whether a signed op's argument came out negated (the enhance factors are 1 +- level).
bool is_negated(const RandAugmentStep& s) { return s.arg < (is_geometric(rand_op_name(s.op)) ? 0.0 : 1.0); }

std::string parse_error(const std::string& config) {
    try {
        parse_rand_augment(config, kFill, Interpolation::Bicubic);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

RandAugmentPolicy parse(const std::string& config) {
    return parse_rand_augment(config, kFill, Interpolation::Bicubic);
}

Image noise_image(int h, int w, uint64_t seed) {
    Image img;
    img.h = h;
    img.w = w;
    img.c = 3;
    Rng rng(stream_key(seed));
    for (int i = 0; i < h * w * 3; i++) img.pixels.push_back((uint8_t)rng.below(256));
    return img;
}

// The steps of `calls` RandAugment calls on a small image.
std::vector<RandAugmentStep> draw_steps(const RandAugmentPolicy& p, int calls) {
    std::vector<RandAugmentStep> trace;
    Rng rng(stream_key(11, kRngAugment));
    const Image src = noise_image(6, 7, 3);
    for (int i = 0; i < calls; i++) {
        Image img = src;
        rand_augment(img, p, rng, &trace);
    }
    return trace;
}

struct Moments {
    double mean = 0, std = 0, at_max = 0, lo = 1e9, hi = -1e9;
};

Moments magnitude_moments(const std::vector<RandAugmentStep>& steps, double max) {
    Moments m;
    double s = 0, s2 = 0, n = 0, top = 0;
    for (const RandAugmentStep& st : steps) {
        if (!st.applied) continue;
        s += st.magnitude;
        s2 += st.magnitude * st.magnitude;
        top += st.magnitude == max;
        n++;
        m.lo = std::min(m.lo, st.magnitude);
        m.hi = std::max(m.hi, st.magnitude);
    }
    m.mean = s / n;
    m.std = std::sqrt(s2 / n - m.mean * m.mean);
    m.at_max = top / n;
    return m;
}

}  // namespace

TEST_CASE("randaugment: pixel ops match Pillow bit for bit") {
    CHECK(check_fixtures(false) >= 70);
}

TEST_CASE("randaugment: geometric ops match Pillow bit for bit") {
    CHECK(check_fixtures(true) >= 20);
}

TEST_CASE("randaugment: level functions give timm's arguments exactly") {
    const auto rows = manifest("level");
    CHECK(rows.size() >= 300);
    for (const auto& w : rows) {
        REQUIRE(w.size() == 5);
        const RandOp op = parse_rand_op(w[1]);
        const double m = std::strtod(w[2].c_str(), nullptr), want = std::strtod(w[4].c_str(), nullptr);
        INFO(w[1], " at ", w[2], " negate ", w[3]);
        CHECK(rand_op_argument(op, m, w[3] == "1") == want);
        if (!rand_op_is_signed(op)) CHECK(rand_op_argument(op, m, true) == want);
    }
}

TEST_CASE("randaugment: op lists and names are timm's") {
    const std::vector<RandOp> inc = rand_augment_ops(true), plain = rand_augment_ops(false);
    REQUIRE(inc.size() == 15);
    REQUIRE(plain.size() == 15);
    const char* want_inc[15] = {"AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing",
                                "SolarizeIncreasing", "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing",
                                "BrightnessIncreasing", "SharpnessIncreasing", "ShearX", "ShearY",
                                "TranslateXRel", "TranslateYRel"};
    for (int i = 0; i < 15; i++) {
        CHECK(std::string(rand_op_name(inc[(size_t)i])) == want_inc[i]);
        CHECK(parse_rand_op(rand_op_name(plain[(size_t)i])) == plain[(size_t)i]);
    }
    CHECK(std::string(rand_op_name(plain[4])) == "Posterize");
    CHECK(std::string(rand_op_name(plain[10])) == "Sharpness");
    CHECK_THROWS_WITH_AS(parse_rand_op("Cutout"), doctest::Contains("unknown RandAugment op 'Cutout'"), Error);
}

TEST_CASE("randaugment: the parser follows timm, quirks included") {
    RandAugmentPolicy p = parse("rand-m9-mstd0.5-inc1");
    CHECK(p.magnitude == 9);
    CHECK(p.magnitude_std == 0.5);
    CHECK(p.num_layers == 2);
    CHECK(p.prob == 0.5);
    CHECK(p.magnitude_max == 0);
    CHECK(p.increasing);
    CHECK(p.ops == rand_augment_ops(true));
    CHECK((p.fill[0] == 124 && p.fill[1] == 116 && p.fill[2] == 104));
    CHECK(p.interpolation == Interpolation::Bicubic);
    CHECK(parse_rand_augment("rand", kFill, Interpolation::Bilinear).interpolation == Interpolation::Bilinear);

    p = parse("rand");
    CHECK((p.magnitude == 10 && p.num_layers == 2 && p.magnitude_std == 0 && !p.increasing));
    CHECK(p.ops == rand_augment_ops(false));
    p = parse("rand-n3-m7-mstd101-mmax12-p0.25");
    CHECK((p.num_layers == 3 && p.magnitude == 7 && std::isinf(p.magnitude_std) && p.magnitude_max == 12));
    CHECK(p.prob == 0.25);
    CHECK(parse("rand-mstd100").magnitude_std == 100);
    CHECK(parse("rand-mstd1e1").magnitude_std == 10);

    CHECK(parse("rand-inc0").increasing);   // bool("0") is True
    CHECK(!parse("rand-inc").increasing);   // no digit: the section is skipped
    CHECK(parse("rand-m").magnitude == 10); // likewise
    CHECK(parse("rand--foo-m4").magnitude == 4);
    CHECK(parse("rand-mstd0.5-mstd1").magnitude_std == 0.5);  // hparams.setdefault: first wins
    CHECK(parse("rand-mmax20-mmax5").magnitude_max == 20);
    CHECK(parse("rand-m5-m7").magnitude == 7);                 // plain assignment: last wins

    for (const char* s : {"", "augmix-m5", "v0", "original-mstd0.5", "3a"}) {
        INFO(s);
        CHECK(parse_error(s).find("only RandAugment ('rand-...') is supported") != std::string::npos);
    }
    CHECK(parse_error("randm9").find("must start with 'rand-'") != std::string::npos);
    CHECK(parse_error("rand-m9.5").find("section 'm9.5' needs an integer") != std::string::npos);
    CHECK(parse_error("rand-n101").find("101 ops per image is more than the 100 allowed") != std::string::npos);
    CHECK(parse("rand-n100").num_layers == 100);
    CHECK(parse_error("rand-n3x").find("needs an integer") != std::string::npos);
    CHECK(parse_error("rand-mstd0x1").find("section 'mstd0x1' needs a number") != std::string::npos);
    CHECK(parse_error("rand-mstd1e").find("needs a number") != std::string::npos);
    CHECK(parse_error("rand-w0").find("weighted op choice ('w0') is not supported") != std::string::npos);
    CHECK(parse_error("rand-tweights").find("op sets ('tweights') are not supported") != std::string::npos);
    CHECK(parse_error("rand-q5").find("unknown section 'q5'") != std::string::npos);
    for (const char* s : {"augmix-m5", "rand-m9.5", "rand-w0", "rand-q5"}) {
        CHECK(parse_error(s).find('\n') == std::string::npos);
    }
}

TEST_CASE("randaugment: the fill is timm's img_mean") {
    uint8_t f[3];
    rand_augment_fill({0.485f, 0.456f, 0.406f}, f);
    CHECK((f[0] == 124 && f[1] == 116 && f[2] == 104));
    rand_augment_fill({0.5f}, f);
    CHECK((f[0] == 128 && f[1] == 128 && f[2] == 128));
    rand_augment_fill({1.2f, 0.0f, 0.002f}, f);
    CHECK((f[0] == 255 && f[1] == 0 && f[2] == 1));
}

TEST_CASE("randaugment: ops are chosen uniformly and applied with probability p") {
    const int calls = 20000;
    const RandAugmentPolicy p = parse("rand-m9-mstd0.5-inc1");
    const std::vector<RandAugmentStep> steps = draw_steps(p, calls);
    REQUIRE(steps.size() == (size_t)2 * calls);
    std::map<RandOp, int> count;
    int applied = 0, signed_applied = 0, negated = 0;
    for (const RandAugmentStep& s : steps) {
        count[s.op]++;
        applied += s.applied;
        if (s.applied && rand_op_is_signed(s.op)) {
            signed_applied++;
            negated += is_negated(s);
        }
    }
    // Counts are binomial(40000, 1/15): sd 50; 5 sd tolerance.
    CHECK(count.size() == 15);
    for (RandOp op : p.ops) {
        INFO(rand_op_name(op), ": ", count[op]);
        CHECK(std::abs(count[op] - 2.0 * calls / 15) < 250);
    }
    CHECK(std::abs(applied / (2.0 * calls) - 0.5) < 0.0125);
    CHECK(signed_applied > 10000);
    CHECK(std::abs((double)negated / signed_applied - 0.5) < 0.025);

    RandAugmentPolicy q = parse("rand-n3-p1");
    std::vector<RandAugmentStep> all = draw_steps(q, 100);
    CHECK(all.size() == 300);
    for (const RandAugmentStep& s : all) CHECK(s.applied);
    q = parse("rand-p0");
    for (const RandAugmentStep& s : draw_steps(q, 100)) CHECK(!s.applied);
}

TEST_CASE("randaugment: magnitudes follow gauss(m, mstd) clipped, or uniform(0, m)") {
    // gauss(9, 0.5) clipped to [0, 10]: with Z ~ N(0,1) and a = 2, E[min(Z, a)] = -phi(a) + a Q(a)
    // and E[min(Z, a)^2] = 1 - Q(a) - a phi(a) + a^2 Q(a), Q the upper tail.
    const double a = 2, phi = std::exp(-a * a / 2) / std::sqrt(2 * M_PI), Q = 0.5 * std::erfc(a / std::sqrt(2.0));
    const double m1 = -phi + a * Q, m2 = 1 - Q - a * phi + a * a * Q;
    Moments g = magnitude_moments(draw_steps(parse("rand-m9-mstd0.5-inc1"), 20000), 10);
    CHECK(g.mean == doctest::Approx(9 + 0.5 * m1).epsilon(0.002));
    CHECK(g.std == doctest::Approx(0.5 * std::sqrt(m2 - m1 * m1)).epsilon(0.03));
    CHECK(std::abs(g.at_max - Q) < 0.006);
    CHECK(g.lo >= 0);
    CHECK(g.hi == 10);

    Moments u = magnitude_moments(draw_steps(parse("rand-m9-mstd101"), 20000), 9);
    CHECK(std::abs(u.mean - 4.5) < 0.06);
    CHECK(std::abs(u.std - 9 / std::sqrt(12.0)) < 0.05);
    CHECK((u.lo >= 0 && u.hi < 9));

    Moments fixed = magnitude_moments(draw_steps(parse("rand-m7"), 200), 7);
    CHECK((fixed.lo == 7 && fixed.hi == 7));
    Moments capped = magnitude_moments(draw_steps(parse("rand-m15-mmax0"), 200), 10);
    CHECK((capped.lo == 10 && capped.hi == 10));  // mmax0 reads as 10
    Moments high = magnitude_moments(draw_steps(parse("rand-m15-mmax20"), 200), 15);
    CHECK((high.lo == 15 && high.hi == 15));
}

TEST_CASE("randaugment: deterministic in the Rng, and the trace replays the image") {
    const RandAugmentPolicy p = parse("rand-m9-mstd0.5-inc1");
    const Image src = noise_image(12, 10, 5);
    int changed_by_seed = 0;
    for (uint64_t seed = 0; seed < 20; seed++) {
        Image a = src, b = src, c = src;
        std::vector<RandAugmentStep> trace;
        Rng r1(stream_key(seed, kRngAugment)), r2(stream_key(seed, kRngAugment)), r3(stream_key(seed + 100, kRngAugment));
        rand_augment(a, p, r1, &trace);
        rand_augment(b, p, r2);
        rand_augment(c, p, r3);
        CHECK(a.pixels == b.pixels);
        changed_by_seed += a.pixels != c.pixels;
        Image replay = src;
        for (const RandAugmentStep& s : trace) {
            if (s.applied) apply_rand_op(replay, s.op, s.arg, p.fill, p.interpolation);
        }
        CHECK(replay.pixels == a.pixels);
    }
    CHECK(changed_by_seed >= 15);
}
