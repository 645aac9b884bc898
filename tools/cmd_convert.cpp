// convnextv2 convert IN OUT.safetensors: a PyTorch checkpoint (torch.save's zip format; the official
// dense or sparse layout, or timm's) or a safetensors file, to safetensors under the official dense
// names, with the model config and where it came from in the metadata.
#include <cstdio>

#include "convnextv2/checkpoint.h"
#include "convnextv2/torch_import.h"
#include "core/check.h"
#include "core/fileio.h"
#include "core/torch_file.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace cnx {

int cmd_convert(const Argv& argv) {
    Args a("convert", argv);
    if (a.help()) {
        std::printf("%s", a.usage("IN.pt|IN.pth|IN.safetensors OUT.safetensors").c_str());
        return 0;
    }
    a.finish(true);
    const std::vector<std::string> files = a.positional();
    if (files.size() != 2) fail("convert: takes IN and OUT.safetensors (got %zu paths)", files.size());
    const std::string &in = files[0], &out = files[1];
    std::string bytes = read_file(in);
    SafetensorsWriter w;
    std::string what;
    if (looks_like_torch_file(bytes)) {
        const TorchStateDict sd = read_torch_state_dict(std::move(bytes), in);
        TorchLayout layout;
        w = official_weights(sd, &layout);
        what = strfmt("%zu tensors, %s layout%s", sd.tensors.size(), torch_layout_name(layout),
                      sd.source.empty() ? "" : (", from its '" + sd.source + "' entry").c_str());
        w.set_metadata("convnextv2.layout", torch_layout_name(layout));
    } else {
        const SafetensorsReader f(std::move(bytes), in);
        for (const SafetensorsEntry& e : f.entries()) w.add(e.name, e.shape, f.read_f32(e.name));
        for (const auto& kv : f.metadata()) w.set_metadata(kv.first, kv.second);
        what = strfmt("%zu tensors, safetensors", f.entries().size());
    }
    // The config the weights imply (the encoder of a pre-training file under its prefix), checked now.
    const SafetensorsReader check(w.serialize(), in);
    const std::string prefix = check.has("encoder.downsample_layers.0.0.weight") ? "encoder." : "";
    const ModelConfig cfg = read_config(check, prefix);
    w.set_metadata("convnextv2.converted_from", in);
    w.write(out);
    std::printf("%s: %s; ConvNeXt V2 %s%s -> %s\n", in.c_str(), what.c_str(), cfg.name.c_str(),
                prefix.empty() ? "" : " encoder with the FCMAE decoder", out.c_str());
    return 0;
}

}  // namespace cnx
