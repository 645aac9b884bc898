// Processes of a data-parallel run, over MPI (Open MPI). Launched by mpirun, every process is a rank
// of MPI_COMM_WORLD; started alone (no mpirun in its environment) the program never calls MPI and is
// rank 0 of 1. Only the thread that called dist_init calls MPI, and never while a GradientAllreduce
// (nn/allreduce.h) has buckets in flight.
#pragma once

#include <cstdint>
#include <string>

namespace cnx {

// MPI_Init_thread when launched by mpirun (before anything else reads argv); a no-op otherwise.
void dist_init(int* argc, char*** argv);
// MPI_Finalize when initialised.
void dist_finalize();
// Stops every rank after an error on this one (MPI_Abort); returns when running alone.
void dist_abort(int code);
// An error every rank reached together (the ranks disagree at start): they exit without MPI_Abort.
void dist_mark_failing_together();
bool dist_failing_together();

int dist_rank();
int dist_size();
inline bool dist_is_root() { return dist_rank() == 0; }
// Ranks of this run on this host (1 alone): the default thread count divides the cores among them.
int dist_local_size();

// Element-wise sums over every rank, blocking; a no-op alone.
void dist_sum(double* x, int64_t n);
void dist_sum(int64_t* x, int64_t n);
// A non-blocking in-place sum of n floats over every rank (MPI_Iallreduce); alone, done at once.
// Rounding: the same on every rank and in every run with the same number of ranks and n.
class DistSum {
public:
    void start(float* x, int64_t n);
    bool test();  // true once done (also advances MPI's progress)
    void wait();

private:
    void* request_ = nullptr;  // an MPI_Request
    bool active_ = false;
};

// Rank 0's string on every rank.
std::string dist_broadcast(const std::string& s);
// Waits for every rank.
void dist_barrier();

}  // namespace cnx
