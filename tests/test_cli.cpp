// build/convnextv2 as a user runs it: every user error is one clear line and a non-zero exit;
// info, bench, train, eval and predict produce what the README promises.
#include <doctest/doctest.h>

#include "convnextv2/summary.h"
#include "core/check.h"
#include "core/fileio.h"
#include "core/json.h"
#include "tests/data_files.h"
#include "tests/runs.h"
#include "tests/util.h"
#include "tools/image.h"
#include "tools/train.h"

using namespace cnx;
using test::cli;
using test::Run;

namespace {

// The output is exactly one line "error: ...", containing `what`.
void expect_error(const std::string& args, const std::string& what) {
    Run r = cli(args + " --threads 1");
    CAPTURE(args);
    CAPTURE(r.out);
    CHECK(r.status == 1);
    CHECK(r.out.rfind("error: ", 0) == 0);
    CHECK(r.out.find('\n') == r.out.size() - 1);
    CHECK(r.out.find(what) != std::string::npos);
}

}  // namespace

TEST_CASE("info: totals equal the paper's parameter and MAC counts for all eight models at 224") {
    const struct {
        const char* name;
        int64_t params;
        double gmacs;  // the paper's table, computed column
    } want[] = {{"atto", 3708400, 0.547},  {"femto", 5233240, 0.780},    {"pico", 9066280, 1.367},
                {"nano", 15623800, 2.446}, {"tiny", 28635496, 4.456},    {"base", 88717800, 15.355},
                {"large", 197956840, 34.361}, {"huge", 660289640, 114.92}};
    for (const auto& w : want) {
        ModelSummary m = summarize(model_config(w.name));
        CAPTURE(w.name);
        CHECK(m.params == w.params);
        CHECK((double)m.macs / 1e9 == doctest::Approx(w.gmacs).epsilon(0.0006));
    }
    Run r = cli("info --model atto --json");
    REQUIRE(r.status == 0);
    Json j = Json::parse(r.out);
    CHECK(j.find("params")->as_number() == 3708400);
    CHECK(j.find("macs")->as_number() == 547332480);
    CHECK(j.find("stages")->size() == 6);
    CHECK(j.find("stages")->items()[1].find("resolution")->as_number() == 56);
}

TEST_CASE("user errors: one line, non-zero exit") {
    expect_error("train --model nope", "unknown model 'nope'");
    expect_error("train --bogus 3", "unknown flag --bogus");
    expect_error("train --epochs x", "--epochs expects an integer");
    expect_error("train --dataset fashion-mnist --data /nonexistent", "Fashion-MNIST not found");
    expect_error("train --dataset mnist2", "unknown dataset 'mnist2'");
    expect_error("train --input-size 30", "not a positive multiple of the total stride 16");
    expect_error("train --resume --out /nonexistent/run", "no saved run to resume");
    expect_error("eval", "--weights CKPT is required");
    expect_error("eval --weights /nonexistent.safetensors", "cannot open");
    expect_error("predict --weights x.safetensors", "no images given");
    expect_error("bench --mode sideways", "--mode must be train, infer or pretrain");
    // a bad --precision is named before any file is read
    expect_error("eval --weights /nonexistent.safetensors --precision bf17", "unknown precision 'bf17'");
    expect_error("predict --weights /nonexistent.safetensors --precision bf17 x.png", "unknown precision 'bf17'");
    std::string dir = test::temp_dir("cli-err");
    std::string junk = path_join(dir, "junk.safetensors");
    write_file_atomic(junk, "this is not a checkpoint at all");
    expect_error("eval --weights " + junk, "junk.safetensors: bad header length");
    Run u = cli("frobnicate");
    CHECK(u.status == 2);
}

TEST_CASE("bench --json prints the documented fields, for training and pre-training") {
    Run r = cli("bench --model atto --batch-size 2 --input-size 32 --steps 2 --warmup 1 --json --threads 1");
    REQUIRE(r.status == 0);
    Json j = Json::parse(r.out);
    CHECK(j.find("images_per_s")->as_number() > 0);
    CHECK(j.find("ms_per_step")->as_number() > 0);
    CHECK(j.find("peak_rss_mb")->as_number() > 0);
    Run p = cli("bench --mode pretrain --mask-ratio 0.6 --model atto --batch-size 2 --input-size 64 --steps 2 --warmup 1 --json --threads 1");
    CAPTURE(p.out);
    REQUIRE(p.status == 0);
    Json pj = Json::parse(p.out);
    CHECK(pj.find("encoder_ms")->as_number() > 0);
    CHECK(pj.find("encoder_ms")->as_number() < pj.find("ms_per_step")->as_number());
    CHECK(j.find("precision")->as_string() == "fp32");
    Run b = cli("bench --mode pretrain --precision bf16 --model atto --batch-size 2 --input-size 64 --steps 1 --warmup 0 --json --threads 1");
    CAPTURE(b.out);
    REQUIRE(b.status == 0);
    CHECK(Json::parse(b.out).find("precision")->as_string() == "bf16");
    Run bad = cli("bench --precision fp16 --model atto --batch-size 2 --input-size 32 --steps 1");
    CHECK(bad.status != 0);
    CHECK(bad.out.find("unknown precision 'fp16' (fp32 or bf16)") != std::string::npos);
    // oneDNN kept below AVX-512 (as on an AVX2 CPU) has no bf16 matmul: one clear line
    std::string out;
    const int status = test::run_command("DNNL_MAX_CPU_ISA=AVX2 " + test::binary_path("convnextv2") +
                                             " bench --precision bf16 --model atto --batch-size 2 --input-size 32 --steps 1",
                                         &out);
    CHECK(status != 0);
    CHECK(out.find("error: --precision bf16: oneDNN has no bf16 matmul on this CPU") != std::string::npos);
}

TEST_CASE("pretrain through the command line writes checkpoints and reconstruction pictures") {
    std::string out = path_join(test::temp_dir("cli-pre"), "run");
    Run r = cli("pretrain --model atto --dataset synthetic --synthetic-train 64 --synthetic-test 32 --synthetic-size 32 "
                "--input-size 32 --stem-stride 1 --batch-size 16 --epochs 1 --threads 1 --out " + out);
    CAPTURE(r.out);
    REQUIRE(r.status == 0);
    CHECK(r.out.find("fine-tune with: convnextv2 train --init") != std::string::npos);
    CHECK(file_exists(path_join(out, "reconstructions-1.png")));
    CHECK(file_exists(path_join(out, "best.safetensors")));
    Run bad = cli("pretrain --mask-ratio 0 --dataset synthetic --threads 1 --out " + path_join(out, "x"));
    CHECK(bad.status == 1);
    CHECK(bad.out.find("--mask-ratio 0: pre-training needs a ratio in (0, 1]") != std::string::npos);
    Run wrong = cli("train --resume --out " + out);
    CHECK(wrong.status == 1);
    CHECK(wrong.out.find("holds a 'pretrain' run") != std::string::npos);
}

TEST_CASE("train, eval and predict through the command line") {
    std::string dir = test::temp_dir("cli-run");
    std::string out = path_join(dir, "run");
    const std::string data = "--dataset synthetic --synthetic-train 256 --synthetic-test 64 --synthetic-size 16 "
                             "--synthetic-classes 3 --input-size 16 --stem-stride 2";
    Run t = cli("train --model atto " + data + " --epochs 1 --batch-size 32 --threads 1 --out " + out);
    CAPTURE(t.out);
    REQUIRE(t.status == 0);
    CHECK(t.out.find("test accuracy") != std::string::npos);
    // resuming with the original flags is fine (nothing left to do); changing the recipe is an error
    Run same = cli("train --model atto " + data + " --epochs 1 --batch-size 32 --threads 1 --out " + out + " --resume");
    CAPTURE(same.out);
    CHECK(same.status == 0);
    Run again = cli("train --model atto " + data + " --epochs 2 --threads 1 --out " + out + " --resume");
    CHECK(again.status == 1);
    CHECK(again.out.find("--epochs 2 differs from the saved 1") != std::string::npos);
    // a new run into a folder that holds one is refused without --overwrite
    Run fresh = cli("train --model atto " + data + " --epochs 1 --threads 1 --out " + out);
    CHECK(fresh.status == 1);
    CHECK(fresh.out.find("already holds a run") != std::string::npos);

    Run e = cli("eval --weights " + path_join(out, "best.safetensors") + " " +
                "--dataset synthetic --synthetic-test 64 --synthetic-size 16 --synthetic-classes 3 --json --threads 1");
    CAPTURE(e.out);
    REQUIRE(e.status == 0);
    Json ej = Json::parse(e.out);
    CHECK(ej.find("images")->as_number() == 64);
    CHECK(ej.find("top1")->as_number() >= 0);
    // per class and the confusion matrix: every image once, its diagonal the top-1 count
    const std::vector<Json>& rows = ej.find("confusion")->items();
    REQUIRE(rows.size() == 3);
    double total = 0, diagonal = 0;
    for (size_t k = 0; k < rows.size(); k++) {
        REQUIRE(rows[k].items().size() == 3);
        double row = 0;
        for (const Json& v : rows[k].items()) row += v.as_number();
        const Json& pc = ej.find("per_class")->items()[k];
        CHECK(pc.find("images")->as_number() == row);
        if (row > 0) CHECK(pc.find("top1")->as_number() == doctest::Approx(rows[k].items()[k].as_number() / row));
        total += row;
        diagonal += rows[k].items()[k].as_number();
    }
    CHECK(total == 64);
    CHECK(diagonal / 64 == doctest::Approx(ej.find("top1")->as_number()));

    Image img;
    img.h = 20;
    img.w = 24;
    img.c = 3;
    for (int i = 0; i < 20 * 24 * 3; i++) img.pixels.push_back((uint8_t)(i % 251));
    std::string png = path_join(dir, "x.png");
    write_png(png, img);
    Run p = cli("predict --weights " + path_join(out, "last.safetensors") + " --json --top 2 --threads 1 " + png + " " + png);
    CAPTURE(p.out);
    REQUIRE(p.status == 0);
    size_t nl = p.out.find('\n');
    Json pj = Json::parse(p.out.substr(0, nl));
    CHECK(pj.find("file")->as_string() == png);
    CHECK(pj.find("logits")->size() == 3);
    REQUIRE(pj.find("top")->size() == 2);
    double p0 = pj.find("top")->items()[0].find("probability")->as_number();
    double p1 = pj.find("top")->items()[1].find("probability")->as_number();
    CHECK(p0 >= p1);
    CHECK(p0 <= 1.0);
    // a small-image model evaluated whole images, and says so: predict's default crop is its 1, not 0.875
    CHECK(SafetensorsReader(path_join(out, "last.safetensors")).meta("convnextv2.eval_crop_pct") == "1");
    const std::string predict_png = "predict --weights " + path_join(out, "last.safetensors") + " --json --threads 1 " + png;
    const Run whole = cli(predict_png + " --crop-pct 1"), cropped = cli(predict_png + " --crop-pct 0.875");
    REQUIRE(whole.status == 0);
    REQUIRE(cropped.status == 0);
    CHECK(Json::parse(whole.out).find("logits")->dump() == pj.find("logits")->dump());
    CHECK(Json::parse(cropped.out).find("logits")->dump() != pj.find("logits")->dump());
    Run missing = cli("predict --weights " + path_join(out, "last.safetensors") + " " + path_join(dir, "nope.png"));
    CHECK(missing.status == 1);
    CHECK(missing.out.find("nope.png: cannot open") != std::string::npos);

    // at scale: a folder (its subfolders too) and a list file, in batches of 2, as CSV
    const std::string folder = path_join(dir, "imgs");
    make_dirs(path_join(folder, "sub"));
    for (const char* name : {"a.png", "b.png", "sub/c.png"}) write_png(path_join(folder, name), img);
    const std::string list = path_join(dir, "list.txt");
    write_file_atomic(list, "# images\n" + png + "\n\n" + png + "\n");
    Run csv = cli("predict --weights " + path_join(out, "last.safetensors") + " --format csv --top 2 --batch-size 2 --threads 1 --list " +
                  list + " " + folder);
    CAPTURE(csv.out);
    REQUIRE(csv.status == 0);
    CHECK(csv.out.find("file,label1,probability1,label2,probability2\n") == 0);
    for (const std::string& f : {path_join(folder, "sub/c.png"), path_join(folder, "a.png"), path_join(folder, "b.png"), png})
        CHECK(csv.out.find("\n" + f + ",") != std::string::npos);
    CHECK(csv.out.find("5 images in") != std::string::npos);  // the summary on stderr
    Run bad = cli("predict --weights " + path_join(out, "last.safetensors") + " --format xml " + png);
    CHECK(bad.status == 1);
    CHECK(bad.out.find("--format must be text, json or csv") != std::string::npos);
}

TEST_CASE("train's defaults for a short run from scratch are the quick recipe of README") {
    const std::string dir = test::temp_dir("defaults");
    const std::string data = " --model atto --dataset synthetic --synthetic-train 128 --synthetic-test 32 --synthetic-size 28"
                             " --synthetic-channels 1 --synthetic-classes 3 --epochs 2 --threads 1 --batch-size 32";
    const std::string a = path_join(dir, "a"), b = path_join(dir, "b"), c = path_join(dir, "c");
    REQUIRE(cli("train" + data + " --out " + a).status == 0);
    REQUIRE(cli("train" + data + " --input-size 32 --stem-stride 2 --pad 0 --drop-path 0 --smoothing 0 --head-init-scale 1 --out " + b)
                .status == 0);
    CHECK(test::weights_bytes(a, "last.safetensors") == test::weights_bytes(b, "last.safetensors"));
    // past 10 epochs the regularisers come back (the saved recipe says so)
    REQUIRE(cli("train" + data + " --epochs 11 --stop-after-steps 1 --out " + c).status == 0);
    const Json saved = read_train_options(SafetensorsReader(path_join(c, "state.safetensors"))).to_json();
    CHECK(saved.find("drop_path")->as_number() == doctest::Approx(0.1));
    CHECK(saved.find("smoothing")->as_number() == doctest::Approx(0.1));
    CHECK(saved.find("pad")->as_number() == 2);
    CHECK(saved.find("head_init_scale")->as_number() == 1);
}

TEST_CASE("--recipe finetune-<model> sets the paper's fine-tuning values as defaults; flags still win") {
    const std::string dir = test::temp_dir("recipe");
    const std::string data = " --dataset synthetic --synthetic-train 64 --synthetic-test 16 --synthetic-size 28"
                             " --synthetic-channels 1 --synthetic-classes 3 --threads 1 --batch-size 32 --stop-after-steps 1";
    const std::string a = path_join(dir, "a"), b = path_join(dir, "b");
    Run r = cli("train --recipe finetune-femto" + data + " --out " + a);
    CAPTURE(r.out);
    REQUIRE(r.status == 0);
    const Json j = read_train_options(SafetensorsReader(path_join(a, "state.safetensors"))).to_json();
    CHECK(j.find("model")->as_string() == "femto");
    CHECK(j.find("epochs")->as_number() == 600);
    CHECK(j.find("lr")->as_number() == doctest::Approx(2e-4 * 32 / 256));  // blr x batch / 256
    CHECK(j.find("warmup_epochs")->as_number() == 0);
    CHECK(j.find("weight_decay")->as_number() == doctest::Approx(0.05));
    CHECK(j.find("layer_decay")->as_number() == doctest::Approx(0.9));
    CHECK(j.find("drop_path")->as_number() == 0);
    CHECK(j.find("smoothing")->as_number() == doctest::Approx(0.2));
    CHECK(j.find("mixup")->as_number() == doctest::Approx(0.3));
    CHECK(j.find("cutmix")->as_number() == doctest::Approx(0.3));
    CHECK(j.find("aa")->as_string() == "rand-m9-mstd0.5-inc1");
    CHECK(j.find("reprob")->as_number() == doctest::Approx(0.25));
    CHECK(j.find("ema")->as_number() == doctest::Approx(0.9999));
    CHECK(j.find("head_init_scale")->as_number() == doctest::Approx(0.001));
    CHECK(j.find("train_interpolation")->as_string() == "bicubic");
    CHECK(j.find("crop_pct")->as_number() == doctest::Approx(0.875));
    // explicit flags override the recipe; base uses the 'group' layer decay
    REQUIRE(cli("train --recipe finetune-base --input-size 32 --stem-stride 2 --epochs 2 --lr 1e-3 --mixup 0 --cutmix 0" + data +
                " --out " + b).status == 0);
    const Json k = read_train_options(SafetensorsReader(path_join(b, "state.safetensors"))).to_json();
    CHECK(k.find("epochs")->as_number() == 2);
    CHECK(k.find("lr")->as_number() == doctest::Approx(1e-3));
    CHECK(k.find("mixup")->as_number() == 0);
    CHECK(k.find("layer_decay")->as_number() == doctest::Approx(0.6));
    CHECK(k.find("layer_decay_type")->as_string() == "group");
    CHECK(k.find("smoothing")->as_number() == doctest::Approx(0.1));  // not the short-run default: the recipe's
    expect_error("train --recipe finetune-atto --model tiny", "--recipe finetune-atto is the recipe of atto, but --model is tiny");
    expect_error("train --recipe finetune-giant", "--recipe 'finetune-giant' is unknown");
    expect_error("train --aa auto-m9" + data + " --out " + path_join(dir, "c"), "RandAugment");
    std::string odd = data;
    odd.replace(odd.find("--batch-size 32"), 15, "--batch-size 31");
    expect_error("train --mixup 0.8" + odd + " --out " + path_join(dir, "d"), "even batch");
    expect_error("train --train-interpolation lanczos", "interpolation must be nearest, bilinear or bicubic (got 'lanczos')");
    expect_error("eval --weights x.safetensors --interpolation area", "interpolation must be nearest, bilinear or bicubic (got 'area')");
}
