#include "convnextv2/torch_import.h"

#include <cmath>

#include "core/check.h"
#include "core/fileio.h"
#include "core/zip.h"

namespace cnx {

const char* torch_layout_name(TorchLayout l) {
    switch (l) {
    case TorchLayout::OfficialDense: return "official dense";
    case TorchLayout::OfficialSparse: return "official sparse (pre-training code)";
    case TorchLayout::Timm: return "timm";
    }
    return "?";
}

namespace {

bool ends_with(const std::string& s, const std::string& t) {
    return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
    return s;
}

// A MinkowskiEngine kernel as a dense conv weight: (kv, C) depthwise -> (C,1,k,k); (kv, in, out) ->
// (out,in,k,k); W[o, i, a, b] = kernel[b*k + a, i, o] (ME's offset index runs H fastest).
NamedTensor dense_kernel(const NamedTensor& t) {
    const int64_t kv = t.shape[0], k = (int64_t)std::llround(std::sqrt((double)kv));
    if (k * k != kv || (t.shape.size() != 2 && t.shape.size() != 3))
        fail("%s: a sparse kernel of shape (%lld, ...) is not a square conv kernel", t.name.c_str(), (long long)kv);
    const bool depthwise = t.shape.size() == 2;
    const int64_t in = depthwise ? 1 : t.shape[1], out = depthwise ? t.shape[1] : t.shape[2];
    NamedTensor d;
    d.name = t.name.substr(0, t.name.size() - 6) + "weight";
    d.shape = {out, in, k, k};
    d.data.resize(t.data.size());
    for (int64_t o = 0; o < out; o++)
        for (int64_t i = 0; i < in; i++)
            for (int64_t a = 0; a < k; a++)
                for (int64_t b = 0; b < k; b++) {
                    const int64_t src = depthwise ? (b * k + a) * out + o : ((b * k + a) * in + i) * out + o;
                    d.data[(size_t)(((o * in + i) * k + a) * k + b)] = t.data[(size_t)src];
                }
    return d;
}

int64_t numel(const NamedTensor& t) { return (int64_t)t.data.size(); }

// timm's names -> the official ones (SPEC: timm vs official); pointwise weights (out,in,1,1) -> (out,in).
std::string from_timm(const std::string& n) {
    auto starts = [](const std::string& s, const char* p) { return s.rfind(p, 0) == 0; };
    if (starts(n, "stem.")) return "downsample_layers.0." + n.substr(5);
    if (starts(n, "head.norm.")) return "norm." + n.substr(10);
    if (starts(n, "head.fc.")) return "head." + n.substr(8);
    const size_t dot = n.find('.', 7);
    if (!starts(n, "stages.") || dot == std::string::npos) return n;
    const std::string stage = n.substr(7, dot - 7), rest = n.substr(dot + 1);  // stages.<stage>.<rest>
    if (starts(rest, "downsample.")) return "downsample_layers." + stage + "." + rest.substr(11);
    const size_t end = rest.find('.', 7);
    if (!starts(rest, "blocks.") || end == std::string::npos) return n;
    const std::string block = rest.substr(7, end - 7), leaf = rest.substr(end + 1);
    static const std::pair<std::string, std::string> parts[] = {{"conv_dw.", "dwconv."},       {"norm.", "norm."},
                                                                {"mlp.fc1.", "pwconv1."},      {"mlp.fc2.", "pwconv2."},
                                                                {"mlp.grn.weight", "grn.gamma"}, {"mlp.grn.bias", "grn.beta"}};
    for (const auto& p : parts)
        if (starts(leaf, p.first.c_str())) return "stages." + stage + "." + block + "." + p.second + leaf.substr(p.first.size());
    return n;
}

}  // namespace

SafetensorsWriter official_weights(const TorchStateDict& sd, TorchLayout* layout_out) {
    TorchLayout layout = TorchLayout::OfficialDense;
    for (const NamedTensor& t : sd.tensors) {
        if (t.name == "stem.0.weight") layout = TorchLayout::Timm;
        if (ends_with(t.name, ".kernel")) layout = TorchLayout::OfficialSparse;
    }
    if (layout_out) *layout_out = layout;
    SafetensorsWriter w;
    for (const NamedTensor& src : sd.tensors) {
        NamedTensor t = ends_with(src.name, ".kernel") ? dense_kernel(src) : src;
        if (layout == TorchLayout::OfficialSparse) {
            t.name = replace_all(replace_all(t.name, ".ln.", "."), ".linear.", ".");
            if (ends_with(t.name, ".bias")) t.shape = {numel(t)};
        }
        if (layout == TorchLayout::Timm) {
            t.name = from_timm(t.name);
            if ((ends_with(t.name, "pwconv1.weight") || ends_with(t.name, "pwconv2.weight")) && t.shape.size() == 4)
                t.shape = {t.shape[0], t.shape[1]};
        }
        if (ends_with(t.name, "grn.gamma") || ends_with(t.name, "grn.beta")) t.shape = {1, 1, 1, numel(t)};
        w.add(t.name, t.shape, std::move(t.data));
    }
    w.set_metadata("format", "pt");
    return w;
}

SafetensorsReader open_weights(const std::string& path) {
    std::string bytes = read_file(path);
    if (!looks_like_torch_file(bytes)) return SafetensorsReader(std::move(bytes), path);
    return SafetensorsReader(official_weights(read_torch_state_dict(std::move(bytes), path)).serialize(), path);
}

}  // namespace cnx
