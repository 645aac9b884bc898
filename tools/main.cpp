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
#include "core/dist.h"
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
    "  bench     time a training or inference step on synthetic data\n"
    "  convert   a PyTorch .pt/.pth checkpoint (official dense or sparse, or timm) to safetensors\n";

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
    std::string error;
    try {
        cnx::dist_init(&argc, &argv);
        // Under mpirun rank 0 alone writes the output (reports, JSON); every rank may report an error.
        if (!cnx::dist_is_root() && !std::freopen("/dev/null", "w", stdout)) return 1;
        int rc = 2;
        if (cmd == "train") rc = cnx::cmd_train(rest);
        else if (cmd == "pretrain") rc = cnx::cmd_pretrain(rest);
        else if (cmd == "eval") rc = cnx::cmd_eval(rest);
        else if (cmd == "predict") rc = cnx::cmd_predict(rest);
        else if (cmd == "info") rc = cnx::cmd_info(rest);
        else if (cmd == "bench") rc = cnx::cmd_bench(rest);
        else if (cmd == "convert") rc = cnx::cmd_convert(rest);
        else std::fprintf(stderr, "error: unknown command '%s'\n\n%s", cmd.c_str(), kUsage);
        cnx::dist_finalize();
        return rc;
    } catch (const cnx::Error& e) {
        error = e.what();
    } catch (const dnnl::error& e) {
        error = cnx::strfmt("oneDNN: %s (status %d)", e.what(), (int)e.status);
    } catch (const std::bad_alloc&) {
        error = "out of memory (try a smaller --batch-size)";
    } catch (const std::exception& e) {
        error = e.what();
    }
    if (!error.empty()) {
        if (cnx::dist_size() > 1 && error.rfind("rank ", 0) != 0) error = cnx::strfmt("rank %d: ", cnx::dist_rank()) + error;
        std::fprintf(stderr, "error: %s\n", error.c_str());
    }
    // One rank's error stops every rank (none is left waiting in a collective), unless all failed together.
    if (cnx::dist_failing_together()) cnx::dist_finalize();
    else cnx::dist_abort(1);
    return 1;
}
