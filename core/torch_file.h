// The weights of a file written by torch.save (PyTorch's zip format, .pt / .pth), read without
// Python and without executing anything from the file (core/pickle.h, core/zip.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cnx {

struct NamedTensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> data;  // floating dtypes (f32, f16, bf16, f64) read as fp32
};

struct TorchStateDict {
    std::string source;  // which part of the file: "" (the whole file), "model", "state_dict", ...
    std::vector<NamedTensor> tensors;  // in the file's order; integer tensors left out
};

// Whether bytes start like a torch.save file: the zip format, or the legacy one (before PyTorch 1.6,
// a pickled magic number first), which read_torch_state_dict refuses with a one-line error.
bool looks_like_torch_file(const std::string& bytes);

// The state_dict of a torch.save file: its 'model', 'state_dict', 'model_ema' or 'state_dict_ema'
// entry (the first present, in that order), or the whole file when it is a dict of tensors. Throws
// cnx::Error naming the file on anything malformed, refused or out of bounds.
TorchStateDict read_torch_state_dict(const std::string& path);
// The same from bytes already read; `path` only names them in messages.
TorchStateDict read_torch_state_dict(std::string bytes, const std::string& path);

}  // namespace cnx
