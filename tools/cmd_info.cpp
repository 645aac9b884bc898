// convnextv2 info: per-stage summary of a model at an input size.
#include <cstdio>

#include "convnextv2/summary.h"
#include "core/check.h"
#include "core/json.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace cnx {

int cmd_info(const Argv& argv) {
    Args a("info", argv);
    ModelConfig cfg = architecture_flags(a);
    bool json = a.flag("json", "print one JSON object");
    if (a.help()) {
        std::printf("%s", a.usage("--model M [--input-size S] [--json]").c_str());
        return 0;
    }
    a.finish();
    cfg.validate();
    ModelSummary m = summarize(cfg);
    if (json) {
        Json j = Json::object();
        j.set("model", cfg.name).set("input_size", cfg.input_size).set("stem_stride", cfg.stem_stride);
        j.set("num_classes", cfg.num_classes).set("in_chans", cfg.in_chans);
        Json rows = Json::array();
        for (const StageSummary& r : m.rows) {
            Json o = Json::object();
            o.set("name", r.name).set("resolution", r.resolution).set("channels", r.channels).set("blocks", r.blocks);
            o.set("params", r.params).set("macs", r.macs).set("activation_bytes", r.activation_bytes);
            rows.push(o);
        }
        j.set("stages", rows);
        j.set("params", m.params).set("macs", m.macs).set("gmacs", (double)m.macs / 1e9);
        j.set("train_arena_bytes_per_image", m.train_arena_bytes);
        std::printf("%s\n", j.dump().c_str());
        return 0;
    }
    std::printf("ConvNeXt V2 %s, input %dx%dx%d, stem stride %d, %d classes\n\n", cfg.name.c_str(), cfg.input_size,
                cfg.input_size, cfg.in_chans, cfg.stem_stride, cfg.num_classes);
    std::printf("%-8s %10s %8s %6s %14s %14s %16s\n", "part", "resolution", "channels", "blocks", "params", "MACs",
                "train act/image");
    for (const StageSummary& r : m.rows) {
        std::string res = r.resolution ? strfmt("%dx%d", r.resolution, r.resolution) : "-";
        std::printf("%-8s %10s %8d %6d %14lld %14lld %13.2f MB\n", r.name.c_str(), res.c_str(), r.channels, r.blocks,
                    (long long)r.params, (long long)r.macs, (double)r.activation_bytes / (1 << 20));
    }
    std::printf("%-8s %10s %8s %6d %14lld %14lld\n", "total", "", "", cfg.num_blocks(), (long long)m.params,
                (long long)m.macs);
    std::printf("\n%.3f M parameters, %.3f GMACs per image; training arena %.1f MB per image\n", (double)m.params / 1e6,
                (double)m.macs / 1e9, (double)m.train_arena_bytes / (1 << 20));
    return 0;
}

}  // namespace cnx
