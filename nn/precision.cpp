#include "nn/precision.h"

#include "core/check.h"

namespace cnx {

const char* precision_name(Precision p) { return p == Precision::kBf16 ? "bf16" : "fp32"; }

Precision parse_precision(const std::string& name) {
    if (name == "fp32") return Precision::kFp32;
    if (name == "bf16") return Precision::kBf16;
    fail("unknown precision '%s' (fp32 or bf16)", name.c_str());
}

}  // namespace cnx
