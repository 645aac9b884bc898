// Hostile and broken inputs, faults while saving, concurrent runs: a clear error or the right answer,
// never a crash, a silent wrong answer or a lost file.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "convnextv2/checkpoint.h"
#include "core/check.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/limits.h"
#include "nn/loss.h"
#include "nn/parallel.h"
#include "tests/data_files.h"
#include "tests/runs.h"
#include "tests/util.h"
#include "tools/commands.h"
#include "tools/image.h"

using namespace cnx;
using test::cli;
using test::Run;

namespace {

// The output ends in exactly one line "error: ...", which contains `what`.
void check_error_line(const Run& r, const std::string& what) {
    CAPTURE(r.out);
    CHECK(r.status == 1);
    const size_t last = r.out.rfind("error: ");
    REQUIRE(last != std::string::npos);
    CHECK(r.out.find('\n', last) == r.out.size() - 1);
    CHECK(r.out.find(what, last) != std::string::npos);
}

// A copy of a safetensors file with its tensors and metadata edited.
void rewrite(const std::string& from, const std::string& to,
             const std::function<void(const SafetensorsEntry&, std::vector<int64_t>&, std::vector<float>&)>& tensor,
             const std::function<void(const std::string&, std::string&)>& meta = nullptr) {
    SafetensorsReader f(from);
    SafetensorsWriter w;
    for (const auto& kv : f.metadata()) {
        std::string v = kv.second;
        if (meta) meta(kv.first, v);
        w.set_metadata(kv.first, v);
    }
    for (const SafetensorsEntry& e : f.entries()) {
        std::vector<int64_t> shape = e.shape;
        std::vector<float> v = f.read_f32(e.name);
        if (tensor) tensor(e, shape, v);
        w.add(e.name, shape, std::move(v));
    }
    w.write(to);
}

// A copy of a run's state file with field `key` of the metadata JSON `meta_key` set to `value`.
void edit_saved(const std::string& state, const char* meta_key, const char* key, Json value) {
    rewrite(state, state, nullptr, [&](const std::string& k, std::string& v) {
        if (k != meta_key) return;
        Json j = Json::parse(v);
        j.set(key, value);
        v = j.dump();
    });
}

std::vector<std::string> lines_of(const std::string& path) {
    std::vector<std::string> out;
    const std::string text = read_file(path);
    size_t start = 0;
    for (size_t p; (p = text.find('\n', start)) != std::string::npos; start = p + 1) out.push_back(text.substr(start, p - start));
    return out;
}

// A metrics line without the fields that measure time.
std::string metrics_without_times(const std::string& line) {
    Json j = Json::parse(line), out = Json::object();
    for (const auto& kv : j.members())
        if (kv.first != "images_per_s" && kv.first != "epoch_time_s" && kv.first != "elapsed_s") out.set(kv.first, kv.second);
    return out.dump();
}

int count_temp_files(const std::string& dir) {
    std::string out;
    test::run_command("ls -A " + dir, &out);
    int n = 0;
    size_t start = 0;
    for (size_t p; (p = out.find('\n', start)) != std::string::npos; start = p + 1)
        if (out.substr(start, p - start).find(".tmp.") != std::string::npos) n++;
    return n;
}

const char* kSynthetic = "--dataset synthetic --synthetic-train 384 --synthetic-test 96 --synthetic-size 16 "
                         "--synthetic-classes 4 --input-size 16 --stem-stride 2 --batch-size 32";

}  // namespace

// ------------------------------------------------------------------------------------------------
// checkpoints

TEST_CASE("reliability: a metadata-less checkpoint with a rank-0 depthwise weight is refused, not a crash") {
    std::string dir = test::temp_dir("rank0");
    std::string bad = path_join(dir, "rank0.safetensors");
    rewrite(test::fixture_path("tiny_state_dict.safetensors"), bad,
            [](const SafetensorsEntry& e, std::vector<int64_t>& shape, std::vector<float>& v) {
                if (e.name != "stages.0.0.dwconv.weight") return;
                shape.clear();
                v.resize(1);
            });
    SafetensorsReader f(bad);
    CHECK_THROWS_WITH_AS(read_config(f), doctest::Contains("'stages.0.0.dwconv.weight' has shape (), expected (C, 1, 7, 7)"), Error);
    Image img;
    img.h = img.w = 8;
    img.c = 3;
    img.pixels.assign(8 * 8 * 3, 100);
    write_png(path_join(dir, "x.png"), img);
    check_error_line(cli("predict --weights " + bad + " " + path_join(dir, "x.png")), "has shape ()");
    check_error_line(cli("eval --weights " + bad + " --dataset synthetic"), "has shape ()");
    check_error_line(cli(std::string("train ") + kSynthetic + " --model atto --epochs 1 --init " + bad + " --out " +
                         path_join(dir, "run")),
                     "has shape ()");
}

TEST_CASE("reliability: a checkpoint whose config promises a model its tensors do not hold is refused before it is built") {
    SafetensorsReader tiny(test::fixture_path("tiny_state_dict.safetensors"));
    ModelConfig cfg = read_config(tiny);
    for (int s = 0; s < kStages; s++) {  // hundreds of GB of parameters, in a file of kilobytes
        cfg.depths[s] = kMaxDepth;
        cfg.dims[s] = kMaxWidth;
    }
    SafetensorsWriter w;
    w.set_metadata(kConfigKey, cfg.to_json().dump());
    for (const SafetensorsEntry& e : tiny.entries()) w.add(e.name, e.shape, tiny.read_f32(e.name));
    const std::string bad = path_join(test::temp_dir("bigcfg"), "big.safetensors");
    w.write(bad);
    check_error_line(cli("predict --weights " + bad + " nothing.png"),
                     "tensor 'downsample_layers.0.0.weight' has shape (8, 3, 2, 2), the model needs (8192, 3, 2, 2)");
    check_error_line(cli("eval --weights " + bad + " --dataset synthetic"), "the model needs (8192, 3, 2, 2)");
    // a model asked for by flags that no memory holds: refused before it is built, not an out-of-memory kill
    check_error_line(cli("bench --model huge --input-size 8192 --batch-size 4096 --steps 1"), "more than this machine's");
}

TEST_CASE("reliability: non-finite weights are refused at load with the tensor's name; non-finite logits are an error") {
    std::string dir = test::temp_dir("nanw");
    TrainOptions o = test::tiny_run(path_join(dir, "run"));
    o.epochs = 1;
    run_train(o, false);
    const std::string good = path_join(o.out, "last.safetensors");
    const std::string nan_file = path_join(dir, "nan.safetensors");
    rewrite(good, nan_file, [](const SafetensorsEntry& e, std::vector<int64_t>&, std::vector<float>& v) {
        if (e.name == "stages.1.0.pwconv1.weight") v[3] = std::numeric_limits<float>::quiet_NaN();
    });
    SafetensorsReader f(nan_file);
    ParamLayout L = make_param_layout(read_config(f));
    FloatBuffer P((size_t)L.total);
    CHECK_THROWS_WITH_AS(load_params(f, L, P.data()),
                         doctest::Contains("tensor 'stages.1.0.pwconv1.weight' holds a non-finite value (nan at index 3)"), Error);

    Image img;
    img.h = img.w = 16;
    img.c = 3;
    img.pixels.assign(16 * 16 * 3, 100);
    const std::string png = path_join(dir, "x.png");
    write_png(png, img);
    const std::string data = "--dataset synthetic --synthetic-test 96 --synthetic-size 16 --synthetic-classes 4";
    check_error_line(cli("eval --weights " + nan_file + " " + data), "stages.1.0.pwconv1.weight' holds a non-finite value");
    check_error_line(cli("predict --weights " + nan_file + " " + png), "stages.1.0.pwconv1.weight' holds a non-finite value");
    check_error_line(cli(std::string("train ") + kSynthetic + " --model atto --epochs 1 --init " + nan_file + " --out " +
                         path_join(dir, "ft")),
                     "stages.1.0.pwconv1.weight' holds a non-finite value");

    // Finite weights whose logits overflow: an error, never a score.
    const std::string huge = path_join(dir, "huge.safetensors");
    rewrite(good, huge, [](const SafetensorsEntry& e, std::vector<int64_t>&, std::vector<float>& v) {
        if (e.name == "head.weight")
            for (size_t i = 0; i < v.size(); i++) v[i] = (i % 2 ? 1 : -1) * 3e38f;
    });
    check_error_line(cli("eval --weights " + huge + " " + data), "is not finite");
    check_error_line(cli("predict --weights " + huge + " " + png), "x.png: the model's output is not finite");

    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float logits[] = {nan, nan, nan, 1.0f, nan, 0.0f};
    const int32_t labels[] = {0, 0};
    CHECK(count_topk_correct(logits, labels, 2, 3, 1) == 0);  // a NaN ranks above the label
    CHECK(count_topk_correct(logits, labels, 2, 3, 3) == 1);  // an all-NaN row is never correct
}

// ------------------------------------------------------------------------------------------------
// parsers

TEST_CASE("reliability: safetensors shapes whose size overflows are refused; headers parse in O(n log n) up to a cap") {
    auto header_file = [](const std::string& header) {
        std::string h = header;
        std::string out(8, '\0');
        for (int i = 0; i < 8; i++) out[(size_t)i] = (char)((h.size() >> (8 * i)) & 0xff);
        return out + h;
    };
    CHECK_THROWS_WITH_AS(SafetensorsReader(header_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}})"), "o"),
                         doctest::Contains("o: tensor 'a': shape [4294967296,4294967296,4] is too large"), Error);
    CHECK_THROWS_WITH_AS(SafetensorsReader(header_file(R"({"a":{"dtype":"F32","shape":[3037000500,3037000500],"data_offsets":[0,0]}})"), "o"),
                         doctest::Contains("is too large"), Error);
    CHECK_THROWS_WITH_AS(SafetensorsReader(header_file(R"({"a":{"dtype":"F32","shape":[1e300],"data_offsets":[0,0]}})"), "o"),
                         doctest::Contains("bad shape dimension"), Error);
    CHECK_THROWS_WITH_AS(SafetensorsReader(header_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,1e19]}})"), "o"),
                         doctest::Contains("bad data_offsets"), Error);

    // As many tensors as the cap allows parse (a linear search per key took minutes at this size)...
    const int64_t cap = input_limits().max_safetensors_entries;
    std::string h = "{";
    for (int64_t i = 0; i < cap; i++)
        h += (i ? ",\"t" : "\"t") + std::to_string(i) + R"(":{"dtype":"F32","shape":[0],"data_offsets":[0,0]})";
    SafetensorsReader ok(header_file(h + "}"), "many");
    CHECK((int64_t)ok.entries().size() == cap);
    CHECK(ok.find("t12345") != nullptr);
    CHECK(ok.find("t" + std::to_string(cap)) == nullptr);
    // ...one more does not.
    h += ",\"extra\":" + std::string(R"({"dtype":"F32","shape":[0],"data_offsets":[0,0]})");
    CHECK_THROWS_WITH_AS(SafetensorsReader(header_file(h + "}"), "many"), doctest::Contains("more than the limit"), Error);
}

TEST_CASE("reliability: JSON refuses out-of-range numbers, duplicate keys in any position, and too many values") {
    CHECK_THROWS_WITH_AS(Json::parse("[1e999]"), doctest::Contains("number out of range"), Error);
    CHECK_THROWS_WITH_AS(Json::parse(R"({"b":1,"a":2,"c":3,"a":4})"), doctest::Contains("duplicate key"), Error);
    CHECK_THROWS_WITH_AS(Json::parse("[0,0,0,0,0]", "t", 5), doctest::Contains("too many values"), Error);
    CHECK(Json::parse("[0,0,0,0]", "t", 5).size() == 4);
    int64_t v = 0;
    CHECK_FALSE(Json(9.3e18).as_integer(INT64_MIN, INT64_MAX, &v));  // past int64: no undefined conversion
    CHECK_FALSE(Json(2.5).as_integer(0, 10, &v));
    CHECK(Json(-3.0).as_integer(-5, 5, &v));
    CHECK(v == -3);
    // doubles read back equal what was written (a resumed run compares saved scores with new ones)
    for (double d : {0.1 + 0.2, 1.0 / 3.0, 0.9123456789123, 1e-300})
        CHECK(Json::parse(Json(d).dump()).as_number() == d);
    CHECK(Json(0.25f).dump() == "0.25");
}

// ------------------------------------------------------------------------------------------------
// the state file and resume

TEST_CASE("reliability: every value read back from a state file gets the checks its flag gets") {
    std::string dir = test::temp_dir("state-vals");
    TrainOptions o = test::tiny_run(dir);
    o.stop_after_steps = 5;
    run_train(o, false);
    const std::string state = path_join(dir, "state.safetensors");
    const std::string pristine = read_file(state);
    TrainOptions again;
    again.out = dir;
    again.quiet = true;
    struct Case {
        const char* meta_key;
        const char* key;
        Json value;
        const char* error;
    } cases[] = {
        {kStateKey, "step", Json(-1), "saved 'step' = -1 is not an integer in [0, 24]"},
        {kStateKey, "step", Json(1000), "saved 'step' = 1000 is not an integer in [0, 24]"},
        {kStateKey, "step", Json(6), "saved 'epoch_seen' = 160 does not match step 6"},
        {kStateKey, "epoch_correct", Json(100000), "saved 'epoch_correct'"},
        {kStateKey, "first_loss_n", Json(-2), "saved 'first_loss_n'"},
        {kStateKey, "best_score", Json("x"), "saved 'best_score'"},
        {kOptionsKey, "mask_ratio", Json(1.5), "saved 'mask_ratio' is 1.5, expected a number in [0, 1]"},
        {kOptionsKey, "eval_batch", Json(0), "saved 'eval_batch' is 0, expected an integer in [1, 65536]"},
        {kOptionsKey, "batch", Json(2.5), "saved 'batch' is 2.5, expected an integer in [1, 65536]"},
        {kOptionsKey, "epochs", Json(1e300), "saved 'epochs'"},
        {kOptionsKey, "input_size", Json(24), "input size 24 is not a positive multiple of the total stride 16"},
        {kOptionsKey, "model", Json(7), "saved 'model' is 7, expected a string"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.key);
        write_file_atomic(state, pristine);
        edit_saved(state, c.meta_key, c.key, c.value);
        CHECK_THROWS_WITH_AS(run_train(again, true), doctest::Contains(c.error), Error);
    }
    // a pre-training state with a mask ratio out of range
    std::string pdir = test::temp_dir("state-mask");
    TrainOptions p = test::tiny_pretrain(pdir);
    p.stop_after_steps = 2;
    run_train(p, false);
    edit_saved(path_join(pdir, "state.safetensors"), kOptionsKey, "mask_ratio", Json(0.0));
    TrainOptions pagain;
    pagain.task = "pretrain";
    pagain.out = pdir;
    pagain.quiet = true;
    CHECK_THROWS_WITH_AS(run_train(pagain, true), doctest::Contains("--mask-ratio 0: pre-training needs a ratio in (0, 1]"), Error);
    // untouched, it resumes
    write_file_atomic(state, pristine);
    CHECK(run_train(again, true).steps == 24);
}

TEST_CASE("reliability: a run stopped right after an epoch's last step evaluates, logs and saves that epoch on resume") {
    std::string full = test::temp_dir("edge-full"), part = test::temp_dir("edge-part");
    TrainOptions o = test::tiny_run(full);
    run_train(o, false);

    o.out = part;
    o.stop_after_steps = 12;  // exactly one epoch
    CHECK(run_train(o, false).stopped_early);
    CHECK(lines_of(path_join(part, "metrics.jsonl")).empty());  // its end is still to do
    TrainOptions again;
    again.out = part;
    again.quiet = true;
    TrainResult r = run_train(again, true);
    CHECK(r.steps == 24);
    const std::vector<std::string> want = lines_of(path_join(full, "metrics.jsonl")), got = lines_of(path_join(part, "metrics.jsonl"));
    REQUIRE(got.size() == 2);
    for (size_t i = 0; i < 2; i++) CHECK(metrics_without_times(got[i]) == metrics_without_times(want[i]));
    for (const char* f : {"best.safetensors", "last.safetensors", "state.safetensors"})
        CHECK(test::weights_bytes(full, f) == test::weights_bytes(part, f));
}

TEST_CASE("reliability: metrics.jsonl keeps one line per epoch the state holds; a failed append is an error") {
    std::string full = test::temp_dir("dup-full"), part = test::temp_dir("dup-part");
    TrainOptions o = test::tiny_run(full);
    run_train(o, false);
    o.out = part;
    o.stop_after_steps = 17;
    run_train(o, false);
    // As if epoch 2 ended and logged, then its state save failed (a full disk): the state says step 17.
    const std::string metrics = path_join(part, "metrics.jsonl");
    append_line(metrics, lines_of(path_join(full, "metrics.jsonl"))[1]);
    append_line(metrics, "{\"epoch\": 2, \"cut");
    TrainOptions again;
    again.out = part;
    again.quiet = true;
    run_train(again, true);
    const std::vector<std::string> want = lines_of(path_join(full, "metrics.jsonl")), got = lines_of(metrics);
    REQUIRE(got.size() == 2);
    CHECK(metrics_without_times(got[1]) == metrics_without_times(want[1]));

    // A write that fails (here: a file-size limit of 0 blocks) stops the run with an error naming the file.
    std::string dir = test::temp_dir("append-fail");
    const std::string bin = test::binary_path("convnextv2");
    Run r;
    r.status = test::run_command("sh -c 'ulimit -f 0; exec " + bin + " train " + kSynthetic +
                                     " --epochs 1 --threads 1 --out " + path_join(dir, "run") + "'",
                                 &r.out);
    check_error_line(r, "metrics.jsonl: appending a line failed (File too large)");
}

TEST_CASE("reliability: resume keeps the saved thread count; the hint names it; --threads is capped at the CPUs") {
    if (usable_cpus() < 2) {
        MESSAGE("one CPU: a different default thread count cannot be tested here");
        return;
    }
    std::string full = test::temp_dir("thr-full"), part = test::temp_dir("thr-part");
    const int saved = num_threads();
    TrainOptions o = test::tiny_run(full);
    o.threads = 1;
    run_train(o, false);
    o.out = part;
    o.stop_after_steps = 17;
    run_train(o, false);
    set_num_threads(usable_cpus());
    TrainOptions again;  // no --threads: the run's own count, not all CPUs
    again.out = part;
    again.quiet = true;
    run_train(again, true);
    set_num_threads(saved);
    CHECK(test::weights_bytes(full, "state.safetensors") == test::weights_bytes(part, "state.safetensors"));

    std::string dir = test::temp_dir("thr-cli");
    Run r = cli(std::string("train ") + kSynthetic + " --epochs 1 --threads 1000 --stop-after-steps 2 --out " + path_join(dir, "run"));
    CAPTURE(r.out);
    CHECK(r.status == 0);
    CHECK(r.out.find(strfmt("note: 1000 threads asked for, but this process may use %d CPUs; using %d", usable_cpus(), usable_cpus())) !=
          std::string::npos);
    CHECK(r.out.find(strfmt("continue with: convnextv2 train --resume --out %s --threads %d", path_join(dir, "run").c_str(),
                            usable_cpus())) != std::string::npos);
}

// ------------------------------------------------------------------------------------------------
// files and concurrency

TEST_CASE("reliability: temporary files are never written through a planted symlink; stale ones are removed at start") {
    std::string dir = test::temp_dir("tmpfiles"), outside = test::temp_dir("outside");
    const std::string victim = path_join(outside, "victim");
    write_file_atomic(victim, "precious");
    const std::string target = path_join(dir, "last.safetensors");
    // the names the previous version used: <file>.tmp.<pid>
    for (long pid : {(long)getpid(), (long)getpid() + 1})
        REQUIRE(symlink(victim.c_str(), (target + ".tmp." + std::to_string(pid)).c_str()) == 0);
    for (bool unnamed : {true, false}) {
        CAPTURE(unnamed);
        const std::string contents = unnamed ? "new contents" : "newer contents";
        write_file_atomic(target, contents, unnamed);
        CHECK(read_file(victim) == "precious");
        CHECK(read_file(target) == contents);
        CHECK(count_temp_files(dir) == 2);  // the planted links only
    }
    // metrics.jsonl as a symlink is not appended through either
    REQUIRE(symlink(victim.c_str(), path_join(dir, "metrics.jsonl").c_str()) == 0);
    CHECK_THROWS_WITH_AS(append_line(path_join(dir, "metrics.jsonl"), "x"), doctest::Contains("cannot open for appending"), Error);
    CHECK(read_file(victim) == "precious");

    // A run removes what dead runs left in its folder (regular files and links; the links' targets stay).
    std::string run = test::temp_dir("stale");
    TrainOptions o = test::tiny_run(run);
    o.stop_after_steps = 2;
    run_train(o, false);
    write_file_atomic(path_join(run, "state.safetensors.tmp.12345"), "half a file");
    write_file_atomic(path_join(run, "last.safetensors.tmp.aB3xY9zQ"), "half a file");
    REQUIRE(symlink(victim.c_str(), path_join(run, "best.safetensors.tmp.Qq1").c_str()) == 0);
    write_file_atomic(path_join(run, "notes.txt"), "mine");
    CHECK(count_temp_files(run) == 3);
    TrainOptions again;
    again.out = run;
    again.quiet = true;
    again.stop_after_steps = 1;
    run_train(again, true);
    CHECK(count_temp_files(run) == 0);
    CHECK(read_file(victim) == "precious");
    CHECK(read_file(path_join(run, "notes.txt")) == "mine");
}

TEST_CASE("reliability: two runs on one --out: the second is refused and touches nothing") {
    std::string dir = test::temp_dir("lock");
    TrainOptions o = test::tiny_run(dir);
    o.stop_after_steps = 2;
    run_train(o, false);
    const std::string metrics = read_file(path_join(dir, "metrics.jsonl")) + "{\"epoch\":0}\n";
    write_file_atomic(path_join(dir, "metrics.jsonl"), metrics);
    const std::string state = read_file(path_join(dir, "state.safetensors"));
    {
        FolderLock held(dir);  // as a run in progress holds it
        CHECK_THROWS_WITH_AS(run_train(o, false), doctest::Contains("is in use by another run"), Error);
        Run r = cli(std::string("train ") + kSynthetic + " --epochs 1 --threads 1 --overwrite --out " + dir);
        check_error_line(r, dir + " is in use by another run (pid " + std::to_string((long)getpid()) + ")");
        check_error_line(cli("train --resume --threads 1 --out " + dir), "is in use by another run");
        CHECK(read_file(path_join(dir, "metrics.jsonl")) == metrics);
        CHECK(read_file(path_join(dir, "state.safetensors")) == state);
    }
    TrainOptions again;  // free again once the holder is gone
    again.out = dir;
    again.quiet = true;
    again.stop_after_steps = 1;
    CHECK(run_train(again, true).steps == 3);
}

namespace {

// Starts `args` in the background; once its log shows a training step's progress line, sends SIGINT; with
// `twice`, sends a second one as soon as the log shows the first was received (the process is then
// inside a step or the save that follows it, which takes far longer than the 10 ms poll). Returns the
// exit status and the log.
Run interrupt_run(const std::string& args, const std::string& log, bool twice) {
    const std::string bin = test::binary_path("convnextv2");
    auto wait_for = [&](const char* text) {
        return "n=0; until grep -q \"" + std::string(text) + "\" " + log + " || [ $n -ge 3000 ]; do sleep 0.01; n=$((n+1)); done; ";
    };
    std::string script = bin + " " + args + " > " + log + " 2>&1 & pid=$!; " + wait_for("  step ") + "kill -INT $pid; ";
    if (twice) script += wait_for("stopping after the current step") + "kill -INT $pid; ";
    script += "wait $pid; status=$?; cat " + log + "; exit $status";
    Run r;
    r.status = test::run_command("sh -c '" + script + "'", &r.out);
    return r;
}

}  // namespace

TEST_CASE("reliability: Ctrl-C saves and exits 130; a second Ctrl-C exits at once; the saved state stays whole") {
    std::string dir = test::temp_dir("sigint");
    const std::string out = path_join(dir, "run");
    const std::string args = std::string("train ") + kSynthetic + " --epochs 3 --threads 1 --out " + out;
    Run once = interrupt_run(args, path_join(dir, "once.log"), false);
    CAPTURE(once.out);
    CHECK(once.status == 130);
    CHECK(once.out.find("stopping after the current step, then saving") != std::string::npos);
    CHECK(once.out.find("interrupted at step") != std::string::npos);
    CHECK(once.out.find("continue with: convnextv2 train --resume --out " + out + " --threads 1") != std::string::npos);
    const std::string saved = read_file(path_join(out, "state.safetensors"));
    CHECK(read_train_options(SafetensorsReader(saved, "state")).epochs == 3);

    // Twice: the second ends the process at once, inside the step or the save; the state saved
    // before stays as it was.
    Run twice = interrupt_run("train --resume --threads 1 --out " + out, path_join(dir, "twice.log"), true);
    CAPTURE(twice.out);
    CHECK(twice.status == 130);
    CHECK(twice.out.find("interrupted again: exiting now") != std::string::npos);
    CHECK(twice.out.find("interrupted at step") == std::string::npos);
    CHECK(read_file(path_join(out, "state.safetensors")) == saved);
    CHECK(count_temp_files(out) == 0);
    // and the run goes on from there to the end
    Run rest = cli("train --resume --threads 1 --out " + out);
    CAPTURE(rest.out);
    CHECK(rest.status == 0);
}

TEST_CASE("reliability: kill -9 at random moments of a saving run never leaves an unreadable checkpoint") {
    // CNX_FAULT_KILLS=100 for the full campaign; the suite runs a few.
    const char* env = std::getenv("CNX_FAULT_KILLS");
    const int kills = env ? std::atoi(env) : 6;
    std::string dir = test::temp_dir("kill9");
    const std::string out = path_join(dir, "run");
    const std::string bin = test::binary_path("convnextv2");
    std::mt19937 gen(12345);
    std::uniform_int_distribution<int> delay_ms(100, 1500);
    int leftovers_seen = 0;
    for (int k = 0; k < kills; k++) {
        const std::string args = file_exists(path_join(out, "state.safetensors"))
                                      ? "train --resume --threads 1 --save-every 1 --out " + out
                                      : std::string("train ") + kSynthetic + " --epochs 1000 --threads 1 --save-every 1 --out " + out;
        std::string log;
        const int status = test::run_command(
            "sh -c '" + bin + " " + args + " & pid=$!; sleep " + strfmt("%.3f", delay_ms(gen) / 1000.0) + "; kill -9 $pid; wait $pid'", &log);
        CAPTURE(k);
        CAPTURE(log);
        CHECK(status == 137);
        leftovers_seen += count_temp_files(out);
        for (const char* f : {"state.safetensors", "last.safetensors", "best.safetensors"}) {
            const std::string path = path_join(out, f);
            if (!file_exists(path)) continue;
            CAPTURE(f);
            SafetensorsReader r(path);
            CHECK_NOTHROW(checkpoint_config(r, 0));
            for (const SafetensorsEntry& e : r.entries()) {
                std::vector<float> v = r.read_f32(e.name);
                CHECK(find_non_finite(v.data(), (int64_t)v.size()) < 0);
            }
        }
    }
    MESSAGE(kills << " kills, " << leftovers_seen << " temporary files seen right after a kill (removed at the next start)");
    REQUIRE(file_exists(path_join(out, "state.safetensors")));
    Run last = cli("train --resume --threads 1 --stop-after-steps 1 --out " + out);
    CAPTURE(last.out);
    CHECK(last.status == 0);
    CHECK(count_temp_files(out) == 0);
}

TEST_CASE("reliability: out of space while saving: an error, and the previous file survives whole") {
    std::string dir = test::temp_dir("fsize");
    const std::string out = path_join(dir, "run");
    Run first = cli(std::string("train ") + kSynthetic + " --epochs 2 --threads 1 --stop-after-steps 3 --out " + out);
    REQUIRE(first.status == 0);
    const std::string before = read_file(path_join(out, "state.safetensors"));
    // 1 MB: the state (about 55 MB) cannot be written
    const std::string bin = test::binary_path("convnextv2");
    Run r;
    r.status = test::run_command("sh -c 'ulimit -f 2048; exec " + bin + " train --resume --threads 1 --stop-after-steps 1 --out " +
                                     out + "'",
                                 &r.out);
    check_error_line(r, "state.safetensors: write failed (File too large); the previous file is unchanged");
    CHECK(read_file(path_join(out, "state.safetensors")) == before);
    CHECK(count_temp_files(out) == 0);
}
