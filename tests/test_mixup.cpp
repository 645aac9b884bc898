// Mixup/CutMix against timm's Mixup formulas, the Beta sampler against its moments, and the
// fine-tuning recipes' layer-wise lr decay ('group' mode) against the official layer ids.
#include <doctest/doctest.h>

#include <cmath>

#include "convnextv2/params.h"
#include "core/check.h"
#include "core/rng.h"
#include "tests/util.h"
#include "tools/mixup.h"

using namespace cnx;

TEST_CASE("mixup: Rng::beta and Rng::gamma have the moments of their distributions") {
    const double shapes[][2] = {{0.8, 0.8}, {1, 1}, {0.3, 0.3}, {2, 5}};
    for (const auto& ab : shapes) {
        const double a = ab[0], b = ab[1];
        CAPTURE(a);
        CAPTURE(b);
        Rng rng(stream_key(5, (uint64_t)(a * 10), (uint64_t)(b * 10)));
        const int n = 100000;
        double s = 0, s2 = 0;
        for (int i = 0; i < n; i++) {
            const double x = rng.beta(a, b);
            REQUIRE(x >= 0);
            REQUIRE(x <= 1);
            s += x;
            s2 += x * x;
        }
        const double mean = s / n, var = s2 / n - mean * mean;
        const double want_mean = a / (a + b), want_var = a * b / ((a + b) * (a + b) * (a + b + 1));
        CHECK(std::fabs(mean - want_mean) < 5 * std::sqrt(want_var / n));
        CHECK(var == doctest::Approx(want_var).epsilon(0.03));
    }
    Rng rng(77);
    double s = 0;
    for (int i = 0; i < 100000; i++) s += rng.gamma(0.5);
    CHECK(s / 100000 == doctest::Approx(0.5).epsilon(0.02));  // Gamma(k, 1) has mean k and variance k
}

TEST_CASE("mixup: draws follow prob, switch prob and timm's rand_bbox with the corrected lam") {
    MixupOptions o;
    o.mixup_alpha = 0.8;
    o.cutmix_alpha = 1.0;
    o.prob = 0.7;
    o.switch_prob = 0.3;
    const int S = 20, n = 20000;
    int mixed = 0, cut = 0, centred = 0;
    for (int i = 0; i < n; i++) {
        const MixDraw d = draw_mix(o, S, stream_key(3, (uint64_t)i));
        if (d.lam == 1 && d.beta == 1) continue;
        mixed++;
        if (!d.cutmix) {
            CHECK(d.lam == d.beta);
            continue;
        }
        cut++;
        const int side = (int)(S * std::sqrt(1 - d.beta)) / 2 * 2;  // 2 (cut // 2)
        REQUIRE(d.y0 >= 0);
        REQUIRE(d.y1 <= S);
        REQUIRE(d.x0 >= 0);
        REQUIRE(d.x1 <= S);
        CHECK(d.y1 - d.y0 <= side);
        CHECK(d.x1 - d.x0 <= side);
        if (d.y1 - d.y0 == side && d.x1 - d.x0 == side) centred++;
        CHECK(d.lam == doctest::Approx(1 - (double)(d.y1 - d.y0) * (d.x1 - d.x0) / (S * S)));
    }
    CHECK(std::fabs((double)mixed / n - 0.7) < 0.02);
    CHECK(std::fabs((double)cut / mixed - 0.3) < 0.02);
    CHECK(centred > cut / 10);  // boxes away from the border keep their full side

    o.cutmix_alpha = 0;  // mixup alone never cuts, and lam ~ Beta(0.8, 0.8) has mean 1/2
    o.prob = 1;
    double lam_sum = 0;
    for (int i = 0; i < n; i++) {
        const MixDraw d = draw_mix(o, S, stream_key(4, (uint64_t)i));
        CHECK_FALSE(d.cutmix);
        lam_sum += d.lam;
    }
    CHECK(std::fabs(lam_sum / n - 0.5) < 0.01);
    CHECK_THROWS_WITH_AS(parse_mixup_mode("rows"), "--mixup-mode must be batch, pair or elem (got 'rows')", Error);
}

// A batch [B][S][S][C] whose every value names its sample, row, column and channel.
static std::vector<float> labelled_batch(int B, int S, int C) {
    std::vector<float> x((size_t)B * S * S * C);
    for (size_t i = 0; i < x.size(); i++) x[i] = (float)i * 0.001f - 3.0f;
    return x;
}

TEST_CASE("mixup: mix_batch mixes sample i with B-1-i by the draw of its mode, targets are the mixed smoothed one-hots") {
    const int B = 6, S = 8, C = 3, K = 5;
    const size_t per = (size_t)S * S * C;
    const std::vector<int32_t> labels = {0, 3, 3, 1, 4, 2};
    const uint64_t key = stream_key(11, 2);
    for (MixupMode mode : {MixupMode::Batch, MixupMode::Pair, MixupMode::Elem}) {
        for (double switch_prob : {0.0, 1.0}) {  // all mixup, all cutmix
            CAPTURE((int)mode);
            CAPTURE(switch_prob);
            MixupOptions o;
            o.mixup_alpha = 0.8;
            o.cutmix_alpha = 1.0;
            o.switch_prob = switch_prob;
            o.mode = mode;
            o.smoothing = 0.1;
            const std::vector<float> x0 = labelled_batch(B, S, C);
            std::vector<float> x = x0, t((size_t)B * K);
            mix_batch(x.data(), labels.data(), t.data(), B, S, C, K, o, key);
            for (int i = 0; i < B; i++) {
                const int j = B - 1 - i;
                const MixDraw d = mode == MixupMode::Batch  ? draw_mix(o, S, key)
                                  : mode == MixupMode::Pair ? draw_mix(o, S, stream_key(key, (uint64_t)std::min(i, j)))
                                                            : draw_mix(o, S, stream_key(key, (uint64_t)i));
                CHECK(d.cutmix == (switch_prob == 1.0));
                for (int y = 0; y < S; y++)
                    for (int xx = 0; xx < S; xx++)
                        for (int c = 0; c < C; c++) {
                            const size_t at = ((size_t)y * S + xx) * C + c;
                            const float a = x0[per * i + at], b = x0[per * j + at];
                            float want = a * (float)d.lam + b * (1 - (float)d.lam);
                            if (d.cutmix) want = y >= d.y0 && y < d.y1 && xx >= d.x0 && xx < d.x1 ? b : a;
                            REQUIRE(x[per * i + at] == want);
                        }
                double sum = 0;
                for (int k = 0; k < K; k++) {
                    const double off = 0.1 / K, on = 1 - 0.1 + off;
                    const double want = d.lam * (k == labels[i] ? on : off) + (1 - d.lam) * (k == labels[j] ? on : off);
                    CHECK(t[(size_t)(i * K + k)] == doctest::Approx(want).epsilon(1e-6));
                    sum += t[(size_t)(i * K + k)];
                }
                CHECK(sum == doctest::Approx(1).epsilon(1e-6));
            }
            std::vector<float> again = x0, t2((size_t)B * K);  // a pure function of the key
            mix_batch(again.data(), labels.data(), t2.data(), B, S, C, K, o, key);
            CHECK(again == x);
            CHECK(t2 == t);
        }
    }
}

TEST_CASE("layer decay 'group' gives the official get_num_layer_for_convnext ids; 'single' one per block") {
    const ModelConfig cfg = model_config("base");
    const ParamLayout L = make_param_layout(cfg);
    const double ld = 0.6;
    const std::vector<ParamGroup> g = param_groups(L, 0.05f, (float)ld, LayerDecayMode::Group);
    auto scale_of = [&](const std::string& name) {
        const ParamTensor* t = L.find(name);
        REQUIRE(t);
        for (const ParamGroup& p : g)
            if (t->offset >= p.offset && t->offset < p.offset + p.count) return p.lr_scale;
        FAIL("no group holds " << name);
        return 0.0;
    };
    const struct {
        const char* name;
        int id;
    } want[] = {{"downsample_layers.0.0.weight", 0}, {"stages.0.2.dwconv.weight", 1}, {"downsample_layers.1.1.weight", 2},
                {"stages.1.0.pwconv1.weight", 2},    {"downsample_layers.2.1.bias", 3}, {"stages.2.0.grn.gamma", 3},
                {"stages.2.5.dwconv.bias", 4},       {"stages.2.26.pwconv2.weight", 11}, {"downsample_layers.3.1.weight", 12},
                {"stages.3.2.norm.weight", 12},      {"norm.weight", 13},             {"head.bias", 13}};
    for (const auto& w : want) {
        const std::string name = w.name;
        CAPTURE(name);
        CHECK(scale_of(w.name) == doctest::Approx(std::pow((double)(float)ld, 13 - w.id)).epsilon(1e-12));
    }
    CHECK_THROWS_WITH_AS(parse_layer_decay_mode("layer"), "--layer-decay-type must be single or group (got 'layer')", Error);
}
