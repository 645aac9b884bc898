#include "tools/runtime.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>

#include <oneapi/dnnl/dnnl.hpp>

#include "core/check.h"
#include "core/cpu.h"
#include "core/dist.h"
#include "core/limits.h"
#include "nn/parallel.h"
#include "simd/kernels.h"

namespace cnx {

double peak_rss_mb() {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

std::string runtime_summary() {
    const dnnl_version_t* v = dnnl_version();
    return strfmt("kernels %s, oneDNN %d.%d.%d, %d threads", isa_name(kernels().isa), v->major, v->minor, v->patch,
                  num_threads());
}

std::string runtime_details(const char* gemm_impl) {
    return strfmt("cpu: %s\nAMX: %s\nkernels: %s\noneDNN matmul: %s\n", cpu_features_string().c_str(), amx_permission().c_str(),
                  kernel_report().c_str(), gemm_impl);
}

int apply_threads(int64_t requested, bool quiet) {
    // More threads than CPUs only add per-thread buffers and contention.
    const int cpus = usable_cpus();
    // by default the ranks of a data-parallel run on this host share its CPUs
    const int64_t want = requested > 0 ? requested : std::max(1, std::min(num_threads(), cpus / dist_local_size()));
    const int used = set_num_threads((int)std::min<int64_t>(want, cpus));
    if (want > used && !quiet)
        std::fprintf(stderr, "note: %lld threads asked for, but this process may use %d CPUs; using %d\n",
                     (long long)want, cpus, used);
    return used;
}

void check_model_fits(const ModelConfig& cfg, int64_t batch, const ModelOptions& model, int param_copies) {
    const uint64_t have = physical_memory_bytes();
    const double need = (double)ConvNeXtV2::planned_bytes(cfg, batch, model) +
                        (double)make_param_layout(cfg).total * sizeof(float) * param_copies;
    if (have && need > (double)have)
        fail("a %s model at %dx%d input with a batch of %lld needs %.1f GB of memory, more than this machine's %.1f GB "
             "(use a smaller batch or input size)",
             cfg.name.c_str(), cfg.input_size, cfg.input_size, (long long)batch, need / 1e9, (double)have / 1e9);
}


}  // namespace cnx
