// build/convnextv2: ConvNeXt V2 training, evaluation, prediction and benchmarks on CPUs.
// User errors (cnx::Error, bad flags, unreadable files) print one line and exit 1.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>

#include <oneapi/dnnl/dnnl.hpp>

#include "core/check.h"
#include "core/cpu.h"
#include "tools/commands.h"

static const char* kUsage =
    "usage: convnextv2 <command> [options]   (convnextv2 <command> --help for its options)\n"
    "\n"
    "commands:\n"
    "  train     supervised training or fine-tuning (--init CKPT)\n"
    "  pretrain  FCMAE masked-autoencoder pre-training\n"
    "  eval      top-1/top-5 accuracy and loss of a checkpoint\n"
    "  predict   classify image files with a checkpoint\n"
    "  info      model summary: resolution, channels, parameters, MACs, activation memory\n"
    "  bench     time a training or inference step on synthetic data\n";

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
        std::fputs(kUsage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    // Over a file-size limit (RLIMIT_FSIZE) a write then fails with EFBIG and is reported like a full
    // disk, instead of the signal killing the process mid-save.
    std::signal(SIGXFSZ, SIG_IGN);
    // Before oneDNN looks for AMX: without the permission its bf16 GEMMs fall back to AVX-512.
    cnx::amx_permission();
    std::string cmd = argv[1];
    cnx::Argv rest(argv + 2, argv + argc);
    try {
        if (cmd == "train") return cnx::cmd_train(rest);
        if (cmd == "pretrain") return cnx::cmd_pretrain(rest);
        if (cmd == "eval") return cnx::cmd_eval(rest);
        if (cmd == "predict") return cnx::cmd_predict(rest);
        if (cmd == "info") return cnx::cmd_info(rest);
        if (cmd == "bench") return cnx::cmd_bench(rest);
        std::fprintf(stderr, "error: unknown command '%s'\n\n%s", cmd.c_str(), kUsage);
        return 2;
    } catch (const cnx::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
    } catch (const dnnl::error& e) {
        std::fprintf(stderr, "error: oneDNN: %s (status %d)\n", e.what(), (int)e.status);
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "error: out of memory (try a smaller --batch-size)\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
    }
    return 1;
}
