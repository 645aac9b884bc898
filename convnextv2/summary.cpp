#include "convnextv2/summary.h"

#include "convnextv2/model.h"

namespace cnx {

ModelSummary summarize(const ModelConfig& cfg) {
    ModelSummary m;
    const int64_t k = cfg.stem_stride, Cin = cfg.in_chans;
    StageSummary stem;
    stem.name = "stem";
    stem.resolution = cfg.stage_size(0);
    stem.channels = cfg.dims[0];
    const int64_t T0 = (int64_t)stem.resolution * stem.resolution, C0 = cfg.dims[0];
    stem.params = C0 * Cin * k * k + C0 + 2 * C0;
    stem.macs = T0 * C0 * Cin * k * k;
    // patches, conv output, LayerNorm statistics
    stem.activation_bytes = 4 * (T0 * (Cin * k * k + C0 + 2));
    m.rows.push_back(stem);
    for (int s = 0; s < kStages; s++) {
        StageSummary r;
        r.name = "stage" + std::to_string(s + 1);
        r.resolution = cfg.stage_size(s);
        r.channels = cfg.dims[s];
        r.blocks = cfg.depths[s];
        const int64_t T = (int64_t)r.resolution * r.resolution, C = cfg.dims[s];
        int64_t act = T * C;  // stage input
        if (s > 0) {
            const int64_t Cp = cfg.dims[s - 1], Tp = 4 * T;
            r.params += 2 * Cp + 4 * Cp * C + C;
            r.macs += T * 4 * Cp * C;
            act += Tp * Cp + 2 * Tp;  // LayerNorm output in patch layout + statistics
        }
        r.params += (int64_t)cfg.depths[s] * (8 * C * C + 65 * C);
        r.macs += (int64_t)cfg.depths[s] * T * (49 * C + 8 * C * C);
        // per block: dwconv, LN out, 2 stats, pwconv1 out, GELU out, GRN out, branch, block out
        act += (int64_t)cfg.depths[s] * (T * (16 * C + 2) + 8 * C + 1);
        r.activation_bytes = 4 * act;
        m.rows.push_back(r);
    }
    StageSummary head;
    head.name = "head";
    head.channels = cfg.num_classes;
    const int64_t C3 = cfg.dims[3], K = cfg.num_classes;
    head.params = 2 * C3 + C3 * K + K;
    head.macs = C3 * K;
    head.activation_bytes = 4 * (2 * C3 + 2 + K);
    m.rows.push_back(head);
    for (const StageSummary& r : m.rows) {
        m.params += r.params;
        m.macs += r.macs;
    }
    m.train_arena_bytes = (int64_t)ConvNeXtV2::planned_bytes(cfg, 1, ModelOptions{true});
    return m;
}

}  // namespace cnx
