// The arithmetic a model's GEMMs run in: fp32, or bf16 inputs with fp32 accumulation and output
// (mixed precision: master weights, gradients and optimizer state stay fp32).
#pragma once

#include <string>

namespace cnx {

enum class Precision { kFp32, kBf16 };

const char* precision_name(Precision p);
// "fp32" or "bf16"; throws cnx::Error otherwise.
Precision parse_precision(const std::string& name);

}  // namespace cnx
