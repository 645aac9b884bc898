// Resampling against Pillow: every result listed in tests/fixtures/pil/manifest.txt (written by
// tests/reference/make_pil_fixtures.py with Debian's Pillow 9.4) must match byte for byte.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/check.h"
#include "tests/util.h"
#include "tools/image.h"
#include "tools/resample.h"

using namespace cnx;

namespace {

// One manifest line: "<output> <source> <channels> <op> <params...>".
struct PilCase {
    std::string out, src, op;
    int channels = 0;
    std::vector<std::string> params;
};

std::vector<PilCase> manifest_cases(const std::string& op) {
    const std::string path = test::fixture_path("pil/manifest.txt");
    std::ifstream f(path);
    REQUIRE_MESSAGE(f.good(), "cannot open " << path << " (run /usr/bin/python3 tests/reference/make_pil_fixtures.py)");
    std::vector<PilCase> cases;
    std::string line;
    while (std::getline(f, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream in(line);
        PilCase c;
        in >> c.out >> c.src >> c.channels >> c.op;
        for (std::string p; in >> p;) c.params.push_back(p);
        if (c.op == op) cases.push_back(c);
    }
    return cases;
}

Interpolation filter_param(const PilCase& c) { return parse_interpolation(c.params.at(0)); }

// The fill colour of affine and rotate lines (params 1..3).
void fill_param(const PilCase& c, uint8_t fill[3]) {
    for (int i = 0; i < 3; i++) fill[i] = (uint8_t)std::stoi(c.params.at((size_t)i + 1));
}

Image run_case(const PilCase& c, const Image& src) {
    auto num = [&](size_t i) { return std::strtod(c.params.at(i).c_str(), nullptr); };
    auto integer = [&](size_t i) { return std::stoi(c.params.at(i)); };
    uint8_t fill[3];
    if (c.op == "resize") return resize_image(src, integer(0), integer(1), parse_interpolation(c.params.at(2)));
    if (c.op == "crop") return crop_image(src, integer(0), integer(1), integer(2), integer(3));
    if (c.op == "affine") {
        fill_param(c, fill);
        const double m[6] = {num(4), num(5), num(6), num(7), num(8), num(9)};
        return affine_image(src, m, filter_param(c), fill);
    }
    REQUIRE(c.op == "rotate");
    fill_param(c, fill);
    return rotate_image(src, num(4), filter_param(c), fill);
}

// Empty when equal, else what differs: the size, or how many values and by how much.
std::string difference(const Image& got, const Image& want) {
    if (got.w != want.w || got.h != want.h || got.c != want.c || got.pixels.size() != want.pixels.size()) {
        return strfmt("size %dx%dx%d, Pillow's %dx%dx%d", got.w, got.h, got.c, want.w, want.h, want.c);
    }
    size_t bad = 0, first = 0;
    int largest = 0;
    for (size_t i = 0; i < got.pixels.size(); i++) {
        const int d = std::abs((int)got.pixels[i] - (int)want.pixels[i]);
        if (d == 0) continue;
        if (bad++ == 0) first = i;
        largest = std::max(largest, d);
    }
    if (bad == 0) return "";
    const size_t px = first / (size_t)got.c;
    return strfmt("%zu of %zu values differ, largest difference %d, first at x=%zu y=%zu channel %zu", bad,
                  got.pixels.size(), largest, px % (size_t)got.w, px / (size_t)got.w, first % (size_t)got.c);
}

// Runs every manifest line of `op`; there must be at least min_cases of them.
void check_against_pillow(const std::string& op, size_t min_cases) {
    const std::vector<PilCase> cases = manifest_cases(op);
    REQUIRE(cases.size() >= min_cases);
    std::map<std::string, Image> sources;
    for (const PilCase& c : cases) {
        if (!sources.count(c.src)) sources[c.src] = read_image(test::fixture_path("pil/" + c.src), c.channels);
        const Image want = read_image(test::fixture_path("pil/" + c.out), c.channels);
        const std::string diff = difference(run_case(c, sources[c.src]), want);
        CHECK_MESSAGE(diff.empty(), c.out << ": " << diff);
    }
}

}  // namespace

TEST_CASE("resample: resize matches Pillow (nearest, bilinear, bicubic; down, up, one axis, same size)") {
    check_against_pillow("resize", 36);
}

TEST_CASE("resample: crop matches Pillow, zero outside the source") { check_against_pillow("crop", 7); }

TEST_CASE("resample: affine transform matches Pillow (shear, translate, scale, general, fill colour)") {
    check_against_pillow("affine", 90);
}

TEST_CASE("resample: rotate matches Pillow (arbitrary angles, quarter turns, zero)") {
    check_against_pillow("rotate", 40);
}

TEST_CASE("resample: a changed pixel is reported") {
    Image a;
    a.w = 2;
    a.h = 1;
    a.c = 3;
    a.pixels = {1, 2, 3, 4, 5, 6};
    Image b = a;
    CHECK(difference(a, b).empty());
    b.pixels[4] = 9;
    CHECK(difference(a, b) == "1 of 6 values differ, largest difference 4, first at x=1 y=0 channel 1");
}

TEST_CASE("resample: parse_interpolation") {
    CHECK(parse_interpolation("nearest") == Interpolation::Nearest);
    CHECK(parse_interpolation("bilinear") == Interpolation::Bilinear);
    CHECK(parse_interpolation("bicubic") == Interpolation::Bicubic);
    CHECK_THROWS_WITH_AS(parse_interpolation("cubic"),
                         "interpolation must be nearest, bilinear or bicubic (got 'cubic')", Error);
    CHECK_THROWS_AS(parse_interpolation("Bicubic"), Error);
}
