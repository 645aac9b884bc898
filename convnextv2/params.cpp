#include "convnextv2/params.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "core/check.h"
#include "core/rng.h"

namespace cnx {

int64_t add_param(ParamLayout& L, const std::string& name, std::vector<int64_t> shape, TensorLayout layout,
                  bool no_decay, int layer_id) {
    ParamTensor t;
    t.name = name;
    t.shape = std::move(shape);
    t.numel = 1;
    for (int64_t d : t.shape) t.numel *= d;
    t.offset = L.total;
    t.layout = layout;
    t.no_decay = no_decay;
    t.layer_id = layer_id;
    L.total += t.numel;
    L.tensors.push_back(t);
    return t.offset;
}

BlockParams add_block_params(ParamLayout& L, const std::string& p, int64_t C, int id) {
    const TensorLayout plain = TensorLayout::Plain;
    BlockParams bp;
    bp.dw_w = add_param(L, p + "dwconv.weight", {C, 1, 7, 7}, TensorLayout::Depthwise, false, id);
    bp.dw_b = add_param(L, p + "dwconv.bias", {C}, plain, true, id);
    bp.ln_w = add_param(L, p + "norm.weight", {C}, plain, true, id);
    bp.ln_b = add_param(L, p + "norm.bias", {C}, plain, true, id);
    bp.pw1_w = add_param(L, p + "pwconv1.weight", {4 * C, C}, plain, false, id);
    bp.pw1_b = add_param(L, p + "pwconv1.bias", {4 * C}, plain, true, id);
    bp.grn_gamma = add_param(L, p + "grn.gamma", {1, 1, 1, 4 * C}, plain, true, id);
    bp.grn_beta = add_param(L, p + "grn.beta", {1, 1, 1, 4 * C}, plain, true, id);
    bp.pw2_w = add_param(L, p + "pwconv2.weight", {C, 4 * C}, plain, false, id);
    bp.pw2_b = add_param(L, p + "pwconv2.bias", {C}, plain, true, id);
    return bp;
}

namespace {

struct LayoutBuilder {
    ParamLayout& L;
    int64_t add(const std::string& name, std::vector<int64_t> shape, TensorLayout layout, bool no_decay,
                int layer_id) {
        return add_param(L, name, std::move(shape), layout, no_decay, layer_id);
    }
};

}  // namespace

ParamLayout make_param_layout(const ModelConfig& cfg, bool with_head) {
    ParamLayout L;
    LayoutBuilder b{L};
    const auto& D = cfg.dims;
    int before[kStages + 1] = {0};
    for (int s = 0; s < kStages; s++) before[s + 1] = before[s] + cfg.depths[s];
    L.num_layers = before[kStages];
    const TensorLayout plain = TensorLayout::Plain;
    const int k = cfg.stem_stride;

    L.stem_w = b.add("downsample_layers.0.0.weight", {D[0], cfg.in_chans, k, k}, TensorLayout::ConvOIHW, false, 1);
    L.stem_b = b.add("downsample_layers.0.0.bias", {D[0]}, plain, true, 1);
    L.stem_ln_w = b.add("downsample_layers.0.1.weight", {D[0]}, plain, true, 1);
    L.stem_ln_b = b.add("downsample_layers.0.1.bias", {D[0]}, plain, true, 1);
    for (int s = 1; s < kStages; s++) {
        std::string p = "downsample_layers." + std::to_string(s) + ".";
        int id = before[s] + 1;
        L.ds_ln_w[s] = b.add(p + "0.weight", {D[s - 1]}, plain, true, id);
        L.ds_ln_b[s] = b.add(p + "0.bias", {D[s - 1]}, plain, true, id);
        L.ds_w[s] = b.add(p + "1.weight", {D[s], D[s - 1], 2, 2}, TensorLayout::ConvOIHW, false, id);
        L.ds_b[s] = b.add(p + "1.bias", {D[s]}, plain, true, id);
    }
    for (int s = 0; s < kStages; s++) {
        const int64_t C = D[s];
        for (int j = 0; j < cfg.depths[s]; j++) {
            std::string p = "stages." + std::to_string(s) + "." + std::to_string(j) + ".";
            L.blocks[s].push_back(add_block_params(L, p, C, before[s] + j + 1));
        }
    }
    L.has_head = with_head;
    if (with_head) {
        int id = L.num_layers + 1;
        L.norm_w = b.add("norm.weight", {D[3]}, plain, true, id);
        L.norm_b = b.add("norm.bias", {D[3]}, plain, true, id);
        L.head_w = b.add("head.weight", {cfg.num_classes, D[3]}, plain, false, id);
        L.head_b = b.add("head.bias", {cfg.num_classes}, plain, true, id);
    }
    return L;
}

const ParamTensor* ParamLayout::find(const std::string& name) const {
    for (const ParamTensor& t : tensors)
        if (t.name == name) return &t;
    return nullptr;
}

std::pair<int64_t, int64_t> ParamLayout::span(std::initializer_list<const char*> prefixes) const {
    int64_t begin = total, end = 0, count = 0;
    for (const ParamTensor& t : tensors)
        for (const char* p : prefixes)
            if (t.name.rfind(p, 0) == 0) {
                begin = std::min(begin, t.offset);
                end = std::max(end, t.offset + t.numel);
                count += t.numel;
                break;
            }
    CNX_CHECK(count > 0 && count == end - begin, "parameter span not contiguous");
    return {begin, end};
}

std::vector<std::pair<int64_t, int64_t>> ParamLayout::tensor_spans() const {
    std::vector<std::pair<int64_t, int64_t>> spans;
    for (const ParamTensor& t : tensors) spans.push_back({t.offset, t.offset + t.numel});
    return spans;
}

static bool ends_with(const std::string& s, const char* suffix) {
    size_t n = std::char_traits<char>::length(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// Kind of initialisation a tensor gets, from its official name.
enum class InitKind { TruncNormal, Zero, One };

static InitKind init_kind(const ParamTensor& t) {
    if (ends_with(t.name, ".bias") || ends_with(t.name, ".gamma") || ends_with(t.name, ".beta")) return InitKind::Zero;
    if (t.shape.size() == 1) return InitKind::One;  // LayerNorm weights
    return InitKind::TruncNormal;
}

static void init_tensor(float* params, const ParamTensor& t, uint64_t seed, size_t index, float std) {
    float* p = params + t.offset;
    switch (init_kind(t)) {
        case InitKind::Zero:
            for (int64_t i = 0; i < t.numel; i++) p[i] = 0.0f;
            break;
        case InitKind::One:
            for (int64_t i = 0; i < t.numel; i++) p[i] = 1.0f;
            break;
        case InitKind::TruncNormal: {
            // Draw in PyTorch's element order so the values do not depend on our layout.
            std::vector<float> official((size_t)t.numel);
            Rng rng(stream_key(seed, kRngInit, index));
            for (float& v : official) v = (float)rng.trunc_normal(0.0, std, -2.0, 2.0);
            tensor_from_official(t, official.data(), p);
            break;
        }
    }
}

void init_params(float* params, const ParamLayout& layout, uint64_t seed, float weight_std, float head_init_scale) {
    for (size_t i = 0; i < layout.tensors.size(); i++) init_tensor(params, layout.tensors[i], seed, i, weight_std);
    if (layout.has_head && head_init_scale != 1.0f) {
        const ParamTensor* w = layout.find("head.weight");
        const ParamTensor* b = layout.find("head.bias");
        for (int64_t i = 0; i < w->numel; i++) params[w->offset + i] *= head_init_scale;
        for (int64_t i = 0; i < b->numel; i++) params[b->offset + i] *= head_init_scale;
    }
}

void reinit_head(float* params, const ParamLayout& layout, uint64_t seed, float head_std) {
    CNX_CHECK(layout.has_head, "reinit_head on a layout without a head");
    for (size_t i = 0; i < layout.tensors.size(); i++) {
        const ParamTensor& t = layout.tensors[i];
        if (t.name.rfind("head.", 0) == 0) init_tensor(params, t, seed ^ 0x4ead, i, head_std);
    }
}

// The official get_num_layer_for_convnext ('group' mode, 12 layers): stem 0; downsample 1, 2 with
// stages 1, 2 -> 2, 3; stage 0 -> 1; stage 2 block j -> 3 + j / 3; downsample 3 and stage 3 -> 12;
// final norm and head -> 13.
static int group_layer_id(const std::string& name) {
    int stage = 0, block = 0;
    if (std::sscanf(name.c_str(), "downsample_layers.%d.", &stage) == 1) return stage == 0 ? 0 : stage == 3 ? 12 : stage + 1;
    if (std::sscanf(name.c_str(), "stages.%d.%d.", &stage, &block) == 2) return stage < 2 ? stage + 1 : stage == 2 ? 3 + block / 3 : 12;
    return 13;
}

LayerDecayMode parse_layer_decay_mode(const std::string& name) {
    if (name == "single") return LayerDecayMode::Single;
    if (name == "group") return LayerDecayMode::Group;
    fail("--layer-decay-type must be single or group (got '%s')", name.c_str());
}

std::vector<ParamGroup> param_groups(const ParamLayout& layout, float weight_decay, float layer_decay, LayerDecayMode mode) {
    std::vector<ParamGroup> groups;
    for (const ParamTensor& t : layout.tensors) {
        ParamGroup g;
        g.offset = t.offset;
        g.count = t.numel;
        g.weight_decay = t.no_decay ? 0.0 : (double)weight_decay;
        const int depth = mode == LayerDecayMode::Group ? 13 - group_layer_id(t.name) : layout.num_layers + 1 - t.layer_id;
        g.lr_scale = std::pow((double)layer_decay, (double)depth);
        // Adjacent tensors with equal settings merge into one range.
        if (!groups.empty()) {
            ParamGroup& last = groups.back();
            if (last.offset + last.count == g.offset && last.weight_decay == g.weight_decay &&
                last.lr_scale == g.lr_scale) {
                last.count += g.count;
                continue;
            }
        }
        groups.push_back(g);
    }
    return groups;
}

// Index in our layout of element i of the PyTorch layout.
static int64_t our_index(const ParamTensor& t, int64_t i) {
    switch (t.layout) {
        case TensorLayout::Plain:
            return i;
        case TensorLayout::ConvOIHW: {  // (o, i, a, b) -> [o][a][b][i]
            const int64_t I = t.shape[1], K = t.shape[2];
            const int64_t b = i % K, a = (i / K) % K, ci = (i / (K * K)) % I, o = i / (K * K * I);
            return ((o * K + a) * K + b) * I + ci;
        }
        case TensorLayout::Depthwise: {  // (c, 0, a, b) -> [a][b][c]
            const int64_t C = t.shape[0];
            return (i % 49) * C + i / 49;
        }
    }
    return i;
}

void tensor_to_official(const ParamTensor& t, const float* ours, float* official) {
    for (int64_t i = 0; i < t.numel; i++) official[i] = ours[our_index(t, i)];
}

void tensor_from_official(const ParamTensor& t, const float* official, float* ours) {
    for (int64_t i = 0; i < t.numel; i++) ours[our_index(t, i)] = official[i];
}

}  // namespace cnx
