// The subcommands of build/convnextv2; each parses its own flags and returns the exit status.
#pragma once

#include <string>
#include <vector>

namespace cnx {

using Argv = std::vector<std::string>;

int cmd_train(const Argv& argv);
int cmd_pretrain(const Argv& argv);
int cmd_eval(const Argv& argv);
int cmd_predict(const Argv& argv);
int cmd_info(const Argv& argv);
int cmd_bench(const Argv& argv);

// Peak resident set size of this process, in MB.
double peak_rss_mb();
// "kernels avx512, oneDNN 2.6.3, 2 threads" for logs.
std::string runtime_summary();
// The --verbose lines: CPU features, every kernel variant in use, the oneDNN GEMM implementation.
std::string runtime_details(const char* gemm_impl);

}  // namespace cnx
