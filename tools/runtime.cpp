#include <sys/resource.h>

#include <oneapi/dnnl/dnnl.hpp>

#include "core/check.h"
#include "core/cpu.h"
#include "nn/parallel.h"
#include "simd/kernels.h"
#include "tools/commands.h"

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
    return strfmt("cpu: %s\nkernels: %s\noneDNN matmul: %s\n", cpu_features_string().c_str(), kernel_report().c_str(),
                  gemm_impl);
}

}  // namespace cnx
