// core/: JSON, safetensors (round trip and every malformation), RNG, arena, CPU detection.
#include <doctest/doctest.h>

#include <cstring>

#include "core/arena.h"
#include "core/check.h"
#include "core/cpu.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "tests/util.h"

using namespace cnx;

TEST_CASE("json: parse, dump, and clear errors") {
    Json j = Json::parse(R"({"a": [1, 2.5, -3e2, true, null], "b": {"c": "x\"y\u00e9"}, "d": ""})");
    REQUIRE(j.is_object());
    CHECK(j.find("a")->items()[2].as_number() == -300);
    CHECK(j.find("b")->find("c")->as_string() == "x\"y\xc3\xa9");
    CHECK(Json::parse(j.dump()).dump() == j.dump());
    for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,\"a\":2}", "tru", "\"abc", "1 2", "{\"x\":01x}"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(Json::parse(bad, "test"), Error);
    }
    try {
        Json::parse("[1, ?]", "hdr");
        FAIL("no throw");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("hdr: unexpected character at offset 4") != std::string::npos);
    }
}

namespace {

std::string header_file(const std::string& header, size_t data_bytes) {
    std::string out;
    uint64_t n = header.size();
    for (int i = 0; i < 8; i++) out += (char)((n >> (8 * i)) & 0xff);
    out += header;
    out += std::string(data_bytes, '\0');
    return out;
}

std::string error_of(const std::string& bytes) {
    try {
        SafetensorsReader r(bytes, "f.safetensors");
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("safetensors: round trip with metadata, and f16/bf16 reading") {
    SafetensorsWriter w;
    std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 1e-20f, -7.0f};
    w.add("layer.weight", {2, 3}, a);
    w.add("scalar", {}, std::vector<float>{42.0f});
    w.set_metadata("k", "v \"quoted\"");
    SafetensorsReader r(w.serialize(), "mem");
    CHECK(r.meta("k") == "v \"quoted\"");
    CHECK(r.find("layer.weight")->shape == std::vector<int64_t>{2, 3});
    CHECK(r.read_f32("layer.weight") == a);
    CHECK(r.read_f32("scalar") == std::vector<float>{42.0f});
    // hand-made f16 and bf16 tensors
    std::string hdr = R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[6,10]}})";
    std::string f = header_file(hdr, 0);
    const uint16_t h[3] = {0x3c00, 0xc000, 0x0001};  // 1, -2, smallest subnormal
    const uint16_t b[2] = {0x3f80, 0xc0a0};           // 1, -5
    f.append(reinterpret_cast<const char*>(h), 6);
    f.append(reinterpret_cast<const char*>(b), 4);
    SafetensorsReader r2(f, "mem");
    std::vector<float> hv = r2.read_f32("h");
    CHECK(hv[0] == 1.0f);
    CHECK(hv[1] == -2.0f);
    CHECK(hv[2] == doctest::Approx(5.960464477539063e-08));
    CHECK(r2.read_f32("b") == std::vector<float>{1.0f, -5.0f});
}

TEST_CASE("safetensors: malformed files are rejected with clear errors") {
    CHECK(error_of("abc").find("shorter than the 8-byte header length") != std::string::npos);
    std::string huge = header_file("{}", 0);
    huge[0] = (char)0xff;
    CHECK(error_of(huge).find("bad header length") != std::string::npos);
    CHECK(error_of(header_file("{not json", 0)).find("header") != std::string::npos);
    CHECK(error_of(header_file("[1]", 0)).find("not a JSON object") != std::string::npos);
    CHECK(error_of(header_file(R"({"t":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}})", 4)).find("unknown dtype 'F99'") !=
          std::string::npos);
    CHECK(error_of(header_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", 8)).find("out of range") !=
          std::string::npos);
    CHECK(error_of(header_file(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)).find("needs 12 bytes") !=
          std::string::npos);
    CHECK(error_of(header_file(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4)).find("bad shape") !=
          std::string::npos);
    CHECK(error_of(header_file(R"({"t":{"dtype":"F32","shape":[1]}})", 4)).find("data_offsets") != std::string::npos);
    CHECK(error_of(header_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12))
              .find("overlap") != std::string::npos);
    CHECK(error_of(header_file(R"({"__metadata__":{"k":1}})", 0)).find("__metadata__.k is not a string") != std::string::npos);
    // every error names the file
    CHECK(error_of("abc").rfind("f.safetensors:", 0) == 0);
    // a missing file
    CHECK_THROWS_WITH_AS(SafetensorsReader("/nonexistent/x.safetensors"), doctest::Contains("cannot open"), Error);
}

TEST_CASE("atomic writes replace the file only when complete") {
    std::string dir = test::temp_dir("atomic");
    std::string p = path_join(dir, "f.bin");
    write_file_atomic(p, "first");
    CHECK(read_file(p) == "first");
    write_file_atomic(p, "second");
    CHECK(read_file(p) == "second");
    // writing into a folder that does not exist fails and leaves nothing behind
    CHECK_THROWS_AS(write_file_atomic(path_join(dir, "no/such/f.bin"), "x"), Error);
    CHECK(read_file(p) == "second");
}

TEST_CASE("rng: counter-based streams are reproducible and independent") {
    Rng a(stream_key(1, 2, 3)), b(stream_key(1, 2, 3)), c(stream_key(1, 2, 4));
    bool differ = false;
    for (int i = 0; i < 100; i++) {
        uint64_t x = a.next_u64();
        CHECK(x == b.next_u64());
        differ |= x != c.next_u64();
    }
    CHECK(differ);
    // moments of uniform and normal draws
    Rng r(stream_key(5));
    double s = 0, s2 = 0, n1 = 0, n2 = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double u = r.uniform();
        CHECK_FALSE((u < 0 || u >= 1));
        s += u;
        s2 += u * u;
        double z = r.normal();
        n1 += z;
        n2 += z * z;
    }
    CHECK(s / n == doctest::Approx(0.5).epsilon(0.01));
    CHECK(s2 / n == doctest::Approx(1.0 / 3).epsilon(0.01));
    CHECK(n1 / n == doctest::Approx(0.0).scale(1.0).epsilon(0.01));
    CHECK(n2 / n == doctest::Approx(1.0).epsilon(0.01));
    for (int i = 0; i < 1000; i++) {
        double t = r.trunc_normal(0, 1, -0.5, 0.5);
        CHECK_FALSE((t < -0.5 || t > 0.5));
    }
}

TEST_CASE("arena: counting pass then exact real pass, 64-byte alignment, zeroed") {
    Arena count = Arena::counting();
    for (size_t n : {1, 100, 17, 4096}) CHECK(count.alloc_floats(n) == nullptr);
    Arena a;
    a.reserve(count.used());
    for (size_t n : {1, 100, 17, 4096}) {
        float* p = a.alloc_floats(n);
        REQUIRE(p != nullptr);
        CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
        for (size_t i = 0; i < n; i++) CHECK(p[i] == 0.0f);
    }
    CHECK(a.used() == count.used());
}

TEST_CASE("cpu features: AVX-512 implies AVX2 support in our dispatch") {
    const CpuFeatures& f = cpu_features();
    if (f.has_avx512()) CHECK(f.has_avx2());
    CHECK(!cpu_features_string().empty());
}
