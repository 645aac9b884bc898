#include "core/dist.h"

#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

// the C API alone (Open MPI's deprecated C++ bindings do not compile warning-free)
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>

#include "core/check.h"

namespace cnx {

static bool g_mpi = false;
static int g_rank = 0, g_size = 1, g_local_size = 1;

static_assert(sizeof(MPI_Request) <= sizeof(void*), "MPI_Request must fit a pointer");

static int env_int(const char* name, int fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::atoi(v) : fallback;
}

void dist_init(int* argc, char*** argv) {
    // mpirun (Open MPI's, or another PMIx launcher) sets these; alone, MPI is never touched.
    if (!std::getenv("OMPI_COMM_WORLD_SIZE") && !std::getenv("PMIX_RANK")) return;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
        fail("MPI_Init_thread failed");
    g_mpi = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    // Errors return codes instead of aborting inside MPI, so they reach our one-line message.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    g_local_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", g_size);
    if (provided < MPI_THREAD_SERIALIZED) fail("MPI provides thread level %d, below MPI_THREAD_SERIALIZED", provided);
}

void dist_finalize() {
    if (g_mpi) MPI_Finalize();
    g_mpi = false;
}

void dist_abort(int code) {
    if (g_mpi) MPI_Abort(MPI_COMM_WORLD, code);
}

static bool g_failing_together = false;
void dist_mark_failing_together() { g_failing_together = true; }
bool dist_failing_together() { return g_failing_together; }

int dist_rank() { return g_rank; }
int dist_size() { return g_size; }
int dist_local_size() { return g_local_size; }

static void check_mpi(int rc, const char* what) {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    fail("%s failed on rank %d: %.*s", what, g_rank, len, msg);
}

static int count_of(int64_t n) {
    CNX_CHECK(n >= 0 && n <= INT_MAX, "MPI message too large");
    return (int)n;
}

void dist_sum(double* x, int64_t n) {
    if (g_mpi) check_mpi(MPI_Allreduce(MPI_IN_PLACE, x, count_of(n), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
}

void dist_sum(int64_t* x, int64_t n) {
    if (g_mpi) check_mpi(MPI_Allreduce(MPI_IN_PLACE, x, count_of(n), MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
}

std::string dist_broadcast(const std::string& s) {
    if (!g_mpi) return s;
    int64_t n = (int64_t)s.size();
    check_mpi(MPI_Bcast(&n, 1, MPI_INT64_T, 0, MPI_COMM_WORLD), "MPI_Bcast");
    std::vector<char> buf((size_t)n);
    if (g_rank == 0) std::memcpy(buf.data(), s.data(), (size_t)n);
    check_mpi(MPI_Bcast(buf.data(), count_of(n), MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
    return std::string(buf.begin(), buf.end());
}

void dist_barrier() {
    if (g_mpi) check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

static MPI_Request* request_of(void** p) { return reinterpret_cast<MPI_Request*>(p); }

void DistSum::start(float* x, int64_t n) {
    CNX_CHECK(!active_, "DistSum started twice");
    if (!g_mpi) return;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, x, count_of(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, request_of(&request_)),
              "MPI_Iallreduce");
    active_ = true;
}

bool DistSum::test() {
    if (!active_) return true;
    int done = 0;
    check_mpi(MPI_Test(request_of(&request_), &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) active_ = false;
    return done != 0;
}

void DistSum::wait() {
    if (!active_) return;
    check_mpi(MPI_Wait(request_of(&request_), MPI_STATUS_IGNORE), "MPI_Wait");
    active_ = false;
}

}  // namespace cnx
