// Data-parallel runs under Open MPI's mpirun (several ranks on this machine, --oversubscribe): they
// follow the one-process run of the same recipe up to summation order, repeat bit for bit, resume
// exactly, stop every rank when one dies, and refuse ranks that disagree.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>

#include "core/check.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "tests/runs.h"
#include "tests/util.h"

using namespace cnx;

namespace {

// tests/runs.h's tiny runs as flags, 1 thread per rank, a global batch of 48 (2 and 3 ranks divide
// it): 8 steps per epoch.
const std::string kTinyTrain =
    " --model atto --dataset synthetic --synthetic-train 384 --synthetic-test 96 --synthetic-size 16"
    " --synthetic-channels 3 --synthetic-classes 4 --input-size 16 --stem-stride 2 --batch-size 48 --lr 2e-3"
    " --warmup-epochs 0.2 --drop-path 0.1 --ema 0.9 --seed 7 --threads 1";
// FCMAE on 32x32 images (a 4x4 patch grid), global batch 24: 20 steps in one epoch.
const std::string kTinyPretrain =
    " --model atto --dataset synthetic --synthetic-train 480 --synthetic-test 96 --synthetic-size 32"
    " --synthetic-channels 3 --synthetic-classes 4 --input-size 32 --stem-stride 1 --batch-size 24 --epochs 1"
    " --lr 1e-3 --beta2 0.95 --mask-ratio 0.6 --seed 7 --threads 1";

// Root may run mpirun only when told so (Open MPI refuses otherwise).
const std::string kMpirun = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe --bind-to none";

int run(int ranks, const std::string& args, std::string* out) {
    const std::string bin = test::binary_path("convnextv2");
    if (ranks == 0) return test::run_command(bin + args, out);
    return test::run_command(kMpirun + " -np " + std::to_string(ranks) + " " + bin + args, out);
}

void run_ok(int ranks, const std::string& args) {
    std::string out;
    const int rc = run(ranks, args, &out);
    INFO(out);
    REQUIRE(rc == 0);
}

Json last_metrics(const std::string& dir) {
    const std::string text = read_file(path_join(dir, "metrics.jsonl"));
    const size_t end = text.find_last_of('\n', text.size() - 2);
    return Json::parse(text.substr(end == std::string::npos ? 0 : end + 1));
}

double metric(const std::string& dir, const char* key) { return last_metrics(dir).find(key)->as_number(); }

// The largest difference of any tensor relative to that tensor's largest value, and of all of them
// together (root of the summed squares).
struct WeightGap {
    double tensor = 0, global = 0;
};
WeightGap weight_gap(const std::string& a, const std::string& b) {
    SafetensorsReader fa(path_join(a, "last.safetensors")), fb(path_join(b, "last.safetensors"));
    WeightGap g;
    double sq = 0, sq_diff = 0;
    for (const auto& e : fa.entries()) {
        const std::vector<float> x = fa.read_f32(e.name), y = fb.read_f32(e.name);
        REQUIRE(x.size() == y.size());
        double m = 0, d = 0;
        for (size_t i = 0; i < x.size(); i++) {
            m = std::max(m, (double)std::fabs(x[i]));
            d = std::max(d, (double)std::fabs(x[i] - y[i]));
            sq += (double)x[i] * x[i];
            sq_diff += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        }
        g.tensor = std::max(g.tensor, d / std::max(m, 1e-30));
    }
    g.global = std::sqrt(sq_diff / sq);
    return g;
}

// The same run alone, then under mpirun with 2 and 3 ranks: their output folders, in that order.
std::vector<std::string> alone_and_under_mpirun(const std::string& args, const std::string& tag) {
    std::vector<std::string> dirs;
    for (int ranks : {0, 2, 3}) {
        dirs.push_back(test::temp_dir(tag + "-" + std::to_string(ranks)));
        run_ok(ranks, args + " --out " + dirs.back());
    }
    return dirs;
}

}  // namespace

TEST_CASE("mpirun -np 2 and 3 train as one process does, up to summation order (24 steps)") {
    const std::vector<std::string> runs = alone_and_under_mpirun(" train" + kTinyTrain + " --epochs 3", "mpi");
    const std::string& one = runs[0];
    for (const std::string& d : {runs[1], runs[2]}) {
        CAPTURE(d);
        const WeightGap g = weight_gap(one, d);
        CHECK(g.tensor < 1e-3);  // measured 2.4e-4 (3 ranks, Intel Xeon)
        CHECK(g.global < 1e-4);  // measured 8.9e-6
        // the same test predictions, give or take one of 96 images at a near tie
        CHECK(std::fabs(metric(d, "test_acc") - metric(one, "test_acc")) <= 1.0 / 96 + 1e-12);
        CHECK(metric(d, "train_loss") == doctest::Approx(metric(one, "train_loss")).epsilon(1e-4));
        CHECK(last_metrics(d).find("ranks") != nullptr);
    }
}

TEST_CASE("mpirun -np 2 and 3 pre-train (FCMAE) as one process does: masks drawn per global sample") {
    const std::vector<std::string> runs = alone_and_under_mpirun(" pretrain" + kTinyPretrain, "mpi-pre");
    const std::string& one = runs[0];
    for (const std::string& d : {runs[1], runs[2]}) {
        CAPTURE(d);
        const WeightGap g = weight_gap(one, d);
        CHECK(g.tensor < 1e-3);  // measured 3.3e-5
        CHECK(g.global < 1e-5);  // measured 1.7e-7
        CHECK(metric(d, "test_loss") == doctest::Approx(metric(one, "test_loss")).epsilon(1e-5));
    }
}

TEST_CASE("two mpirun -np 2 runs are bit-identical; --resume under mpirun equals the uninterrupted run (3 ranks: up to summation order)") {
    const std::string a = test::temp_dir("mpi-det-a"), b = test::temp_dir("mpi-det-b"), part = test::temp_dir("mpi-part");
    const std::string args = " train" + kTinyTrain + " --epochs 2";
    run_ok(2, args + " --out " + a);
    run_ok(2, args + " --out " + b);
    CHECK(test::weights_bytes(a, "last.safetensors") == test::weights_bytes(b, "last.safetensors"));
    std::string out;
    REQUIRE(run(2, args + " --out " + part + " --stop-after-steps 11", &out) == 0);
    CHECK(out.find("continue with: mpirun -np 2 convnextv2 train --resume") != std::string::npos);
    run_ok(2, " train --resume --threads 1 --out " + part);
    CHECK(test::weights_bytes(a, "last.safetensors") == test::weights_bytes(part, "last.safetensors"));
    CHECK(test::weights_bytes(a, "state.safetensors") == test::weights_bytes(part, "state.safetensors"));

    // with another rank count the continuation differs by summation order only
    const std::string other = test::temp_dir("mpi-part3");
    REQUIRE(run(2, args + " --out " + other + " --stop-after-steps 11", &out) == 0);
    run_ok(3, " train --resume --threads 1 --out " + other);
    const WeightGap g = weight_gap(a, other);
    CHECK(g.tensor < 1e-3);
    CHECK(g.global < 1e-4);
}

TEST_CASE("a rank killed mid-run stops every rank within seconds; the saved state resumes") {
    const std::string dir = test::temp_dir("mpi-kill");
    // rank 1 (found by its environment) is killed once the first state is saved
    const std::string script =
        kMpirun + " -np 2 " + test::binary_path("convnextv2") + " train" + kTinyTrain + " --epochs 40 --save-every 2 --out " +
        dir + " > " + dir + "/log 2>&1 & MP=$!\n"
        "for i in $(seq 400); do [ -f " + dir + "/state.safetensors ] && break; sleep 0.05; done\n"
        "victim=; for p in $(pgrep -f -- '--out " + dir + "'); do\n"
        "  tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && victim=$p; done\n"
        "[ -n \"$victim\" ] || { kill $MP; echo no rank 1; exit 3; }\n"
        "t0=$(date +%s%N); kill -9 $victim; wait $MP; rc=$?; t1=$(date +%s%N)\n"
        "echo \"rc=$rc ms=$(( (t1 - t0) / 1000000 ))\"; cat " + dir + "/log\n";
    write_file_atomic(path_join(dir, "kill.sh"), script);
    std::string out;
    REQUIRE(test::run_command("bash " + path_join(dir, "kill.sh"), &out) == 0);
    INFO(out);
    const size_t at = out.find("rc=");
    REQUIRE(at != std::string::npos);
    CHECK(std::atoi(out.c_str() + at + 3) != 0);
    CHECK(std::atoi(out.c_str() + out.find("ms=") + 3) < 10000);
    CHECK(out.find("rank 1") != std::string::npos);  // mpirun names the rank that died
    // the last saved state is whole: one process continues it (the global batch divides over 1)
    run_ok(0, " train --resume --threads 1 --stop-after-steps 1 --out " + dir);
}

TEST_CASE("ranks that disagree are refused with one line naming the difference") {
    const std::string dir = test::temp_dir("mpi-mismatch");
    const std::string bin = test::binary_path("convnextv2");
    std::string out;
    const std::string args = " train" + kTinyTrain + " --epochs 1 --out " + dir;
    int rc = test::run_command(kMpirun + " -np 1 " + bin + args + " : -np 1 " + bin + args + " --lr 1e-3", &out);
    CHECK(rc != 0);
    CHECK(out.find("error: rank 1 has recipe lr = 0.001 where rank 0 has 0.002") != std::string::npos);
    CHECK_FALSE(file_exists(path_join(dir, "state.safetensors")));

    rc = run(5, args, &out);
    CHECK(rc != 0);
    CHECK(out.find("error: rank 0: --batch-size 48 (the global batch) does not divide over 5 ranks") != std::string::npos);
}
