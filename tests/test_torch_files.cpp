// PyTorch checkpoints (torch.save's zip format) read without Python: the official dense and sparse
// layouts and timm's give the reference weights and PyTorch's logits; hostile files are refused
// (tests/fixtures/pt, written by tests/reference/make_torch_files.py).
#include <doctest/doctest.h>

#include <cmath>

#include "convnextv2/checkpoint.h"
#include "convnextv2/model.h"
#include "convnextv2/torch_import.h"
#include "core/check.h"
#include "core/fileio.h"
#include "core/pickle.h"
#include "tests/util.h"
#include "tools/commands.h"

using namespace cnx;

namespace {

std::string pt(const std::string& name) { return test::fixture_path("pt/" + name); }

// Every weight of the reference (under `prefix` in the converted file) within rtol of its value;
// the final norm and head are skipped where the file has none (an encoder).
int check_weights(const SafetensorsReader& got, const std::string& prefix, double rtol) {
    const SafetensorsReader ref(pt("reference.safetensors"));
    int checked = 0;
    for (const SafetensorsEntry& e : ref.entries()) {
        if (e.name.rfind("weight.", 0) != 0) continue;
        const std::string name = prefix + e.name.substr(7);
        if (!prefix.empty() && (name.find("encoder.norm.") == 0 || name.find("encoder.head.") == 0)) continue;
        CAPTURE(name);
        const SafetensorsEntry* g = got.find(name);
        REQUIRE(g != nullptr);
        CHECK(g->shape == e.shape);
        const std::vector<float> a = got.read_f32(name), b = ref.read_f32(e.name);
        REQUIRE(a.size() == b.size());
        int64_t off = 0;  // beyond rtol, and beyond half precision's subnormal spacing when rtol > 0
        for (size_t i = 0; i < a.size(); i++)
            off += std::fabs((double)a[i] - b[i]) > rtol * std::fabs(b[i]) + (rtol > 0 ? 6e-8 : 0.0);
        CHECK(off == 0);
        checked++;
    }
    return checked;
}

// The model the converted file describes, on the reference images, against PyTorch's logits.
void check_logits(const SafetensorsReader& f) {
    const SafetensorsReader ref(pt("reference.safetensors"));
    const ModelConfig cfg = checkpoint_config(f, 32);
    ConvNeXtV2 net(cfg, 2, false);
    FloatBuffer P((size_t)net.layout().total);
    load_params(f, net.layout(), P.data());
    const std::vector<float> images = ref.read_f32("images"), want = ref.read_f32("logits");
    const float* z = net.forward(P.data(), images.data());
    for (size_t i = 0; i < want.size(); i++) {
        CAPTURE(i);
        CHECK(z[i] == doctest::Approx(want[i]).epsilon(1e-5).scale(1.0));
    }
}

std::string error_of(const std::string& file) {
    try {
        open_weights(pt(file));
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE(".pt files: the official dense layout gives the weights and PyTorch's logits") {
    const SafetensorsReader f = open_weights(pt("dense.pt"));
    CHECK(check_weights(f, "", 0.0) == 70);
    check_logits(f);
    // float16, with a transposed (non-contiguous) view
    CHECK(check_weights(open_weights(pt("dense_f16.pt")), "", 1.0 / 1024) == 70);
}

TEST_CASE(".pt files: timm's names and the official sparse pre-training layout give the same weights") {
    const SafetensorsReader timm = open_weights(pt("timm.pt"));
    CHECK(check_weights(timm, "", 0.0) == 70);
    check_logits(timm);
    // MinkowskiEngine kernels remapped as the official code does; the decoder side kept by name
    const SafetensorsReader sparse = open_weights(pt("sparse.pt"));
    CHECK(check_weights(sparse, "encoder.", 0.0) == 66);
    for (const char* name : {"mask_token", "proj.weight", "proj.bias", "decoder.0.dwconv.weight", "pred.weight"})
        CHECK(sparse.has(name));
    // and it loads as the backbone of a fine-tuning run
    const ModelConfig cfg = read_config(sparse, "encoder.", 5);
    const ParamLayout L = make_param_layout(cfg);
    FloatBuffer P((size_t)L.total);
    CHECK(load_params(sparse, L, P.data(), "encoder.", LoadMode::Backbone).loaded == 66);
}

TEST_CASE(".pt files: hostile or broken files are refused with one line, nothing executed") {
    CHECK(error_of("hostile_system.pt").find("refuses the pickled global posix.system") != std::string::npos);
    CHECK(error_of("hostile_reduce.pt").find("refuses the pickled global evil_module.Payload") != std::string::npos);
    CHECK(error_of("truncated.pt").find("not a zip archive") != std::string::npos);
    CHECK(error_of("legacy.pt").find("a torch.save file in the legacy format (before PyTorch 1.6)") != std::string::npos);
    CHECK(error_of("storage_small.pt").find("w reads past its storage") != std::string::npos);
    CHECK(error_of("dotdot.pt").find("refuses the zip entry name '../escape/data.pkl'") != std::string::npos);
    // a flipped byte in a storage fails its CRC
    std::string bytes = read_file(pt("dense.pt"));
    bytes[bytes.size() / 2] ^= 0x40;
    const std::string dir = test::temp_dir("pt-crc"), path = path_join(dir, "flipped.pt");
    write_file_atomic(path, bytes);
    try {
        open_weights(path);
        FAIL("a corrupt storage was read");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("CRC-32 mismatch") != std::string::npos);
    }
}

TEST_CASE("the restricted unpickler bounds what a pickle can make it do") {
    auto refuses = [](const std::string& bytes, const std::string& what) {
        CAPTURE(what);
        try {
            unpickle(bytes, "test");
            FAIL("accepted");
        } catch (const Error& e) {
            INFO(std::string(e.what()));
            CHECK(std::string(e.what()).find(what) != std::string::npos);
        }
    };
    std::string deep = "\x80\x02";
    for (int i = 0; i < 200; i++) deep += "]";              // 200 empty lists...
    for (int i = 0; i < 199; i++) deep += "a";              // ...each appended into the one below
    refuses(deep + ".", "nested too deep");
    refuses("\x80\x02h\x05.", "never stored");            // BINGET of an empty memo
    refuses("\x80\x02X\xff\xff\xff\x7f", "past the end");   // a string longer than the file
    refuses("\x80\x02\x8c\x02os\x94\x8c\x06system\x94\x93.", "os.system");  // STACK_GLOBAL
    refuses("\x80\x02I1\n.", "unsupported pickle opcode");  // text INT
    refuses("\x80\x02}", "ends before STOP");

    // a list appended into itself (found by the torch fuzz target as a leak): freed with its handle
    std::weak_ptr<const PyValue> weak;
    {
        const std::shared_ptr<const PyValue> cycle = unpickle("\x80\x02]q\x01h\x01" "a.", "test");
        REQUIRE(cycle->items.size() == 1);
        CHECK(cycle->items[0] == cycle.get());
        weak = cycle;
    }
    CHECK(weak.expired());
}

TEST_CASE("convnextv2 convert and eval read .pt files") {
    const std::string dir = test::temp_dir("convert");
    const std::string bin = test::binary_path("convnextv2"), out = path_join(dir, "w.safetensors");
    std::string log;
    REQUIRE(test::run_command(bin + " convert " + pt("timm.pt") + " " + out, &log) == 0);
    CHECK(log.find("timm layout") != std::string::npos);
    check_weights(SafetensorsReader(out), "", 0.0);
    CHECK(SafetensorsReader(out).meta("convnextv2.layout") == "timm");
    REQUIRE(test::run_command(bin + " eval --weights " + pt("dense.pt") +
                                  " --dataset synthetic --synthetic-classes 5 --synthetic-size 32 --synthetic-channels 3",
                              &log) == 0);
    CHECK(test::run_command(bin + " convert " + pt("hostile_system.pt") + " " + out, &log) != 0);
    CHECK(log.find("error: ") == 0);
    CHECK(test::run_command(bin + " convert " + pt("legacy.pt") + " " + out, &log) != 0);
    CHECK(log.find("a torch.save file in the legacy format") != std::string::npos);
}
