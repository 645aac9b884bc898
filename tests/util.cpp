#include "tests/util.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/check.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/rng.h"

namespace cnx {
namespace test {

static uint64_t fnv1a64(const std::string& s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

std::vector<float> formula_uniform(const std::string& name, int64_t n) {
    std::vector<float> out((size_t)n);
    const uint64_t h = fnv1a64(name);
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = h + (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z = z ^ (z >> 31);
        out[(size_t)i] = (float)((double)(z >> 40) / 8388608.0 - 1.0);
    }
    return out;
}

static bool ends_with(const std::string& s, const std::string& t) {
    return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

std::vector<float> formula_values(const std::string& name, const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> u = formula_uniform(name, n);
    if (name == "images") return u;
    for (float& v : u) {
        if (ends_with(name, "grn.gamma")) {
            v = v * 0.5f;
        } else if (ends_with(name, "grn.beta") || ends_with(name, ".bias")) {
            v = v * 0.1f;
        } else if (shape.size() == 1) {
            v = 1.0f + v * 0.2f;
        } else {
            int64_t fan_in = 1;
            for (size_t k = 1; k < shape.size(); k++) fan_in *= shape[k];
            v = v * (float)std::sqrt(3.0 / (double)fan_in);
        }
    }
    return u;
}

void fill_formula(float* params, const ParamLayout& layout) {
    for (const ParamTensor& t : layout.tensors) {
        std::vector<float> v = formula_values(t.name, t.shape);
        tensor_from_official(t, v.data(), params + t.offset);
    }
}

std::vector<int64_t> sample_indices(int64_t n) {
    std::vector<int64_t> idx;
    if (n <= 256) {
        for (int64_t i = 0; i < n; i++) idx.push_back(i);
    } else {
        for (int64_t k = 0; k < 256; k++) idx.push_back((k * 104729) % n);
    }
    return idx;
}

std::vector<float> random_vector(int64_t n, uint64_t seed, float lo, float hi) {
    std::vector<float> v((size_t)n);
    Rng rng(stream_key(seed, 77));
    for (float& x : v) x = lo + (hi - lo) * rng.uniform();
    return v;
}

template <class T>
static Compare compare_impl(const float* got, const T* want, int64_t n, double rtol, double atol, double min_cos) {
    Compare c;
    double dot = 0, ng = 0, nw = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = (double)want[i];
        double err = std::fabs(g - w);
        if (!(err <= atol + rtol * std::fabs(w))) {  // also catches NaN
            if (c.first_bad < 0) c.first_bad = i;
            c.bad++;
        }
        c.max_abs_err = std::max(c.max_abs_err, err);
        if (std::fabs(w) > atol) c.max_rel_err = std::max(c.max_rel_err, err / std::fabs(w));
        if (g != 0.0) c.nonzero++;
        dot += g * w;
        ng += g * g;
        nw += w * w;
    }
    // A zero reference (e.g. a gradient that vanishes exactly) has no direction: elementwise only.
    c.cosine = nw == 0 ? 1.0 : dot / std::sqrt(ng * nw + 1e-300);
    c.ok = c.bad == 0 && c.cosine >= min_cos;
    return c;
}

Compare compare(const float* got, const float* want, int64_t n, double rtol, double atol, double min_cos) {
    return compare_impl(got, want, n, rtol, atol, min_cos);
}

Compare compare(const float* got, const double* want, int64_t n, double rtol, double atol, double min_cos) {
    return compare_impl(got, want, n, rtol, atol, min_cos);
}

std::string describe(const Compare& c, const float* got, const float* want) {
    std::string s = strfmt("bad=%lld max_abs=%.3g max_rel=%.3g cos=%.9f", (long long)c.bad, c.max_abs_err,
                           c.max_rel_err, c.cosine);
    if (c.first_bad >= 0 && got && want)
        s += strfmt(" first bad [%lld]: got %.9g want %.9g", (long long)c.first_bad, got[c.first_bad],
                    want[c.first_bad]);
    return s;
}

std::string fixture_path(const std::string& file) {
    const char* dir = std::getenv("CNX_FIXTURE_DIR");
    return path_join(dir ? dir : "tests/fixtures", file);
}

ModelConfig fixture_config(const SafetensorsReader& f, int64_t* batch) {
    if (!f.has_meta("magic") || f.meta("magic") != "convnextv2-fixture")
        fail("%s is not a fixture (regenerate with /usr/bin/python3 tests/reference/make_fixtures.py)", f.path().c_str());
    const Json c = Json::parse(f.meta("config"));
    auto get = [&](const char* key) { return (int)c.find(key)->as_number(); };
    ModelConfig cfg;
    cfg.name = "custom";
    for (int s = 0; s < kStages; s++) {
        cfg.depths[s] = (int)c.find("depths")->items()[(size_t)s].as_number();
        cfg.dims[s] = (int)c.find("dims")->items()[(size_t)s].as_number();
    }
    cfg.in_chans = get("in_chans");
    if (c.find("num_classes")) cfg.num_classes = get("num_classes");
    cfg.stem_stride = get("stem_stride");
    cfg.input_size = get("input_size");
    cfg.mean.assign((size_t)cfg.in_chans, 0.0f);
    cfg.std.assign((size_t)cfg.in_chans, 1.0f);
    *batch = (int64_t)c.find("batch")->as_number();
    return cfg;
}

std::string binary_path(const std::string& name) {
    const char* dir = std::getenv("CNX_TEST_BIN_DIR");
    return path_join(dir ? dir : "build", name);
}

namespace {
// The folders temp_dir made, removed at exit.
struct TempDirs {
    std::mutex mu;
    std::vector<std::string> dirs;
    ~TempDirs() {
        const char* keep = std::getenv("CNX_KEEP_TEST_DIRS");
        if (keep && *keep && std::string(keep) != "0") return;
        std::error_code ec;
        for (const std::string& d : dirs) std::filesystem::remove_all(d, ec);
    }
};
TempDirs& temp_dirs() {
    static TempDirs t;
    return t;
}
}  // namespace

std::string temp_dir(const std::string& tag) {
    std::string base = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/cnx-test-" + tag +
                       "-XXXXXX";
    std::vector<char> buf(base.begin(), base.end());
    buf.push_back('\0');
    char* d = mkdtemp(buf.data());
    CNX_CHECK(d != nullptr, "mkdtemp failed");
    TempDirs& t = temp_dirs();
    std::lock_guard<std::mutex> lock(t.mu);
    t.dirs.push_back(d);
    return d;
}

int run_command(const std::string& cmd, std::string* output) {
    std::string full = cmd + " 2>&1";
    FILE* p = popen(full.c_str(), "r");
    if (!p) return -1;
    std::array<char, 4096> buf;
    std::string out;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    int status = pclose(p);
    if (output) *output = out;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

ChildRun run_in_child(const std::function<void(int fd)>& body) {
    int fds[2];
    CNX_CHECK(pipe(fds) == 0, "pipe");
    std::fflush(nullptr);
    const pid_t pid = fork();
    CNX_CHECK(pid >= 0, "fork");
    if (pid == 0) {
        for (int sig : {SIGABRT, SIGSEGV, SIGFPE, SIGILL, SIGBUS}) std::signal(sig, SIG_DFL);
        close(fds[0]);
        body(fds[1]);
        _exit(0);
    }
    close(fds[1]);
    ChildRun r;
    char buf[4096];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) r.output.append(buf, (size_t)n);
    close(fds[0]);
    CNX_CHECK(waitpid(pid, &r.status, 0) == pid, "waitpid");
    return r;
}

}  // namespace test
}  // namespace cnx
