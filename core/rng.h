// Seeded, counter-based random numbers.
//
// Every random draw in a run is a pure function of (seed, purpose, indices): a stream is keyed by
// hashing those together, and a stream's i-th value is splitmix64(key + i * golden). So the data
// order of epoch e, the augmentation of sample i, or the drop-path mask of step s never depend on
// how many threads ran or what happened before, and resuming a run needs only its seed and step.
#pragma once

#include <cmath>
#include <cstdint>

namespace cnx {

inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// Key of a stream: hash of a seed and up to three indices (purpose tag, epoch, sample, ...).
inline uint64_t stream_key(uint64_t seed, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0) {
    uint64_t k = mix64(seed + 0x9e3779b97f4a7c15ULL);
    k = mix64(k ^ (a + 0x632be59bd9b4e019ULL));
    k = mix64(k ^ (b + 0x85157af5ULL));
    k = mix64(k ^ (c + 0x2545f4914f6cdd1dULL));
    return k;
}

// Purpose tags for stream_key, so that streams of different uses never coincide.
enum RngPurpose : uint64_t {
    kRngInit = 1,
    kRngShuffle = 2,
    kRngAugment = 3,
    kRngDropPath = 4,
    kRngMask = 5,
    kRngSynthetic = 6,
    kRngMixup = 7,
};

class Rng {
public:
    explicit Rng(uint64_t key) : key_(key) {}

    uint64_t next_u64() { return mix64(key_ + (++counter_) * 0x9e3779b97f4a7c15ULL); }
    // Uniform in [0, 1) with 24 random bits (exact in float).
    float uniform() { return (float)(next_u64() >> 40) * (1.0f / 16777216.0f); }
    // Uniform in [0, 1) with 53 random bits.
    double uniform_double() { return (double)(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
    // Integer in [0, n).
    uint64_t below(uint64_t n) { return (uint64_t)(uniform_double() * (double)n) % n; }
    // Standard normal (Box-Muller in double precision; one value per call).
    double normal() {
        double u1 = uniform_double();
        double u2 = uniform_double();
        if (u1 < 1e-300) u1 = 1e-300;
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }
    // Normal(mean, std) redrawn until it falls in [lo, hi] (timm trunc_normal_: absolute bounds).
    double trunc_normal(double mean, double std, double lo, double hi) {
        for (;;) {
            double v = mean + std * normal();
            if (v >= lo && v <= hi) return v;
        }
    }

    // Gamma(shape, 1): Marsaglia and Tsang's method; for shape < 1, Gamma(shape + 1) * U^(1/shape).
    double gamma(double shape) {
        if (shape < 1) {
            const double u = uniform_double();
            return gamma(shape + 1) * std::pow(u > 0 ? u : 1e-300, 1 / shape);
        }
        const double d = shape - 1.0 / 3, c = 1 / std::sqrt(9 * d);
        for (;;) {
            double x, v;
            do {
                x = normal();
                v = 1 + c * x;
            } while (v <= 0);
            v = v * v * v;
            const double u = uniform_double();
            if (u < 1 - 0.0331 * x * x * x * x || std::log(u > 0 ? u : 1e-300) < 0.5 * x * x + d * (1 - v + std::log(v)))
                return d * v;
        }
    }
    // Beta(a, b) as X / (X + Y) of two Gamma draws.
    double beta(double a, double b) {
        const double x = gamma(a), y = gamma(b);
        return x + y > 0 ? x / (x + y) : 0.5;
    }

private:
    uint64_t key_;
    uint64_t counter_ = 0;
};

}  // namespace cnx
