#include "tools/data_parallel.h"

#include "core/check.h"
#include "core/dist.h"
#include "core/fileio.h"

namespace cnx {

int64_t local_batch(int64_t batch) {
    const int n = dist_size();
    if (batch % n != 0) {  // every rank finds this: rank 0 says it
        dist_mark_failing_together();
        fail("%s", dist_is_root() ? strfmt("--batch-size %lld (the global batch) does not divide over %d ranks",
                                           (long long)batch, n).c_str() : "");
    }
    return batch / n;
}

static uint64_t fnv1a(const void* data, size_t n, uint64_t h = 1469598103934665603ull) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static Json data_fingerprint(const Dataset& d) {
    Json j = Json::object();
    j.set("images", d.size()).set("classes", d.num_classes);
    j.set("label_checksum", std::to_string(fnv1a(d.labels.data(), d.labels.size() * sizeof(int32_t))));
    return j;
}

void check_same_run(const Json& recipe, const DataSplits& data) {
    if (dist_size() == 1) return;
    Json mine = Json::object();
    const std::string exe = read_file("/proc/self/exe");
    mine.set("binary", std::to_string(fnv1a(exe.data(), exe.size())));
    mine.set("recipe", recipe).set("train", data_fingerprint(data.train)).set("test", data_fingerprint(data.test));
    const Json root = Json::parse(dist_broadcast(mine.dump()), "rank 0's run");
    std::string diff;
    for (const auto& group : mine.members()) {
        const Json* theirs = root.find(group.first);
        if (!theirs || theirs->dump() == group.second.dump()) continue;
        if (group.first == "binary") {
            diff = "runs a different convnextv2 binary than rank 0";
            break;
        }
        for (const auto& kv : group.second.members()) {
            const Json* t = theirs->find(kv.first);
            if (t && t->dump() == kv.second.dump()) continue;
            diff = strfmt("has %s %s = %s where rank 0 has %s", group.first.c_str(), kv.first.c_str(), kv.second.dump().c_str(),
                          t ? t->dump().c_str() : "nothing");
            break;
        }
        break;
    }
    int64_t differs[1] = {diff.empty() ? 0 : 1};
    dist_sum(differs, 1);
    if (!differs[0]) return;
    dist_mark_failing_together();
    if (!diff.empty()) fail("rank %d %s: every rank must run the same binary, flags and data", dist_rank(), diff.c_str());
    // rank 0 says how many; the others have nothing to add
    fail("%s", dist_is_root() ? strfmt("%lld of %d ranks run another binary, flags or data than this one", (long long)differs[0], dist_size()).c_str() : "");
}

StepTotals sum_step(double loss, int64_t correct, bool stop) {
    if (dist_size() == 1) return StepTotals{loss, correct, stop};
    double v[3] = {loss, (double)correct, stop ? 1.0 : 0.0};
    dist_sum(v, 3);
    return StepTotals{v[0] / dist_size(), (int64_t)v[1], v[2] > 0};
}

}  // namespace cnx
