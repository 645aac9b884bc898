// The fuzz targets over every committed input: the seed corpus and each crash input ever found
// (tests/fuzz/crashes/<target>/), so a fixed parser bug stays fixed.
#include <doctest/doctest.h>

#include <filesystem>

#include "core/fileio.h"
#include "core/limits.h"
#include "tests/fuzz/targets.h"
#include "tests/util.h"

using namespace cnx;

TEST_CASE("fuzz corpus: every seed and every past crash input runs clean through its target") {
    const InputLimits saved = input_limits();
    const std::string root = path_join(test::fixture_path(".."), "fuzz");
    for (const fuzz::Target& t : fuzz::kTargets) {
        int seeds = 0;
        for (const char* kind : {"corpus", "crashes"}) {
            const std::filesystem::path dir = std::filesystem::path(root) / kind / t.name;
            if (!std::filesystem::is_directory(dir)) continue;
            for (const auto& entry : std::filesystem::directory_iterator(dir)) {
                if (!entry.is_regular_file()) continue;
                CAPTURE(entry.path().string());
                const std::string bytes = read_file(entry.path().string());
                CHECK(t.run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()) == 0);
                seeds += std::string(kind) == "corpus";
            }
        }
        CAPTURE(t.name);
        CHECK(seeds > 0);
    }
    input_limits() = saved;
}
