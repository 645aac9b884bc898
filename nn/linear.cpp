#include "nn/linear.h"

#include "core/check.h"

namespace cnx {

using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;

dnnl::engine& dnnl_cpu_engine() {
    static dnnl::engine e(dnnl::engine::kind::cpu, 0);
    return e;
}

dnnl::stream& dnnl_cpu_stream() {
    static dnnl::stream s(dnnl_cpu_engine());
    return s;
}

static dnnl::memory::desc md(dims d, dims strides) { return dnnl::memory::desc(d, dt::f32, strides); }

static dnnl::matmul make_matmul(const dnnl::memory::desc& src, const dnnl::memory::desc& wei,
                                const dnnl::memory::desc* bias, const dnnl::memory::desc& dst, bool sum,
                                dnnl::matmul::primitive_desc* pd_out = nullptr) {
    dnnl::primitive_attr attr;
    if (sum) {
        dnnl::post_ops po;
        po.append_sum(1.0f);
        attr.set_post_ops(po);
    }
    dnnl::matmul::desc d = bias ? dnnl::matmul::desc(src, wei, *bias, dst) : dnnl::matmul::desc(src, wei, dst);
    dnnl::matmul::primitive_desc pd(d, attr, dnnl_cpu_engine());
    if (pd_out) *pd_out = pd;
    return dnnl::matmul(pd);
}

void Linear::init(int64_t M, int64_t K, int64_t N) {
    CNX_CHECK(K > 0 && N > 0 && M >= 0, "bad Linear shape");
    M_ = M;
    K_ = K;
    N_ = N;
    db_partials_.init(N);
    if (M == 0) return;
    dnnl::engine& eng = dnnl_cpu_engine();
    // forward: src x [M,K], weights W^T [K,N] (W stored [N,K]), dst y [M,N]
    auto x_md = md({M, K}, {K, 1});
    auto wT_md = md({K, N}, {1, K});
    auto b_md = md({1, N}, {N, 1});
    auto y_md = md({M, N}, {N, 1});
    fwd_ = make_matmul(x_md, wT_md, &b_md, y_md, false, &fwd_pd_);
    fwd_nobias_ = make_matmul(x_md, wT_md, nullptr, y_md, false);
    x_mem_ = dnnl::memory(x_md, eng, DNNL_MEMORY_NONE);
    w_fwd_mem_ = dnnl::memory(wT_md, eng, DNNL_MEMORY_NONE);
    b_mem_ = dnnl::memory(b_md, eng, DNNL_MEMORY_NONE);
    y_mem_ = dnnl::memory(y_md, eng, DNNL_MEMORY_NONE);
    // backward data: src dy [M,N], weights W [N,K], dst dx [M,K]
    auto dy_md = md({M, N}, {N, 1});
    auto w_md = md({N, K}, {K, 1});
    auto dx_md = md({M, K}, {K, 1});
    bwd_data_ = make_matmul(dy_md, w_md, nullptr, dx_md, false);
    bwd_data_acc_ = make_matmul(dy_md, w_md, nullptr, dx_md, true);
    dy_mem_ = dnnl::memory(dy_md, eng, DNNL_MEMORY_NONE);
    w_mem_ = dnnl::memory(w_md, eng, DNNL_MEMORY_NONE);
    dx_mem_ = dnnl::memory(dx_md, eng, DNNL_MEMORY_NONE);
    // backward weights: src dy^T [N,M], weights x [M,K], dst dW [N,K] (+= via the sum post-op)
    auto dyT_md = md({N, M}, {1, N});
    auto xw_md = md({M, K}, {K, 1});
    auto dw_md = md({N, K}, {K, 1});
    bwd_wei_ = make_matmul(dyT_md, xw_md, nullptr, dw_md, true);
    dyT_mem_ = dnnl::memory(dyT_md, eng, DNNL_MEMORY_NONE);
    xw_mem_ = dnnl::memory(xw_md, eng, DNNL_MEMORY_NONE);
    dw_mem_ = dnnl::memory(dw_md, eng, DNNL_MEMORY_NONE);
}

const char* Linear::forward_impl() const { return M_ ? fwd_pd_.impl_info_str() : "none"; }

void Linear::forward(float* y, const float* x, const float* W, const float* b) {
    if (M_ == 0) return;
    x_mem_.set_data_handle(const_cast<float*>(x));
    w_fwd_mem_.set_data_handle(const_cast<float*>(W));
    y_mem_.set_data_handle(y);
    if (b) {
        b_mem_.set_data_handle(const_cast<float*>(b));
        fwd_.execute(dnnl_cpu_stream(), {{DNNL_ARG_SRC, x_mem_},
                                         {DNNL_ARG_WEIGHTS, w_fwd_mem_},
                                         {DNNL_ARG_BIAS, b_mem_},
                                         {DNNL_ARG_DST, y_mem_}});
    } else {
        fwd_nobias_.execute(dnnl_cpu_stream(),
                            {{DNNL_ARG_SRC, x_mem_}, {DNNL_ARG_WEIGHTS, w_fwd_mem_}, {DNNL_ARG_DST, y_mem_}});
    }
    dnnl_cpu_stream().wait();
}

void Linear::backward_data(float* dx, const float* dy, const float* W, bool accumulate) {
    if (M_ == 0) return;
    dy_mem_.set_data_handle(const_cast<float*>(dy));
    w_mem_.set_data_handle(const_cast<float*>(W));
    dx_mem_.set_data_handle(dx);
    (accumulate ? bwd_data_acc_ : bwd_data_)
        .execute(dnnl_cpu_stream(), {{DNNL_ARG_SRC, dy_mem_}, {DNNL_ARG_WEIGHTS, w_mem_}, {DNNL_ARG_DST, dx_mem_}});
    dnnl_cpu_stream().wait();
}

void Linear::backward_weights(float* dW, float* db, const float* dy, const float* x) {
    if (M_ == 0) return;
    dyT_mem_.set_data_handle(const_cast<float*>(dy));
    xw_mem_.set_data_handle(const_cast<float*>(x));
    dw_mem_.set_data_handle(dW);
    bwd_wei_.execute(dnnl_cpu_stream(), {{DNNL_ARG_SRC, dyT_mem_}, {DNNL_ARG_WEIGHTS, xw_mem_}, {DNNL_ARG_DST, dw_mem_}});
    dnnl_cpu_stream().wait();
    if (!db) return;
    db_partials_.clear();
    const int64_t N = N_;
    parallel_for(M_, [&](int64_t b, int64_t e, int t) {
        float* acc = db_partials_.slice(t);
        for (int64_t r = b; r < e; r++) {
            const float* row = dy + r * N;
            for (int64_t c = 0; c < N; c++) acc[c] += row[c];
        }
    });
    db_partials_.reduce_into(db);
}

}  // namespace cnx
