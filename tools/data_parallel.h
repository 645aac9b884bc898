// What a data-parallel run (mpirun -np N convnextv2 train|pretrain ...) adds to the training loop:
// each rank trains on its share of the global batch, and they agree at start on the binary, the
// recipe and the data, and at each step on the loss, the correct count and whether to stop.
#pragma once

#include <cstdint>
#include <string>

#include "core/json.h"
#include "tools/dataset.h"

namespace cnx {

// The local share of a global batch of `batch` (a clear error when the ranks do not divide it).
int64_t local_batch(int64_t batch);

// Fails on every rank, naming the first difference, unless every rank runs the same binary with
// the same recipe on the same data (sizes and labels) as rank 0.
void check_same_run(const Json& recipe, const DataSplits& data);

// The step's loss (mean over ranks), correct count and stop request (any rank's), summed over ranks.
struct StepTotals {
    double loss;
    int64_t correct;
    bool stop;
};
StepTotals sum_step(double loss, int64_t correct, bool stop);

}  // namespace cnx
