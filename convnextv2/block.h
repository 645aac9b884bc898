// One ConvNeXt V2 block, forward and backward side by side:
//   x_out = x_in + DropPath(pwconv2(GRN(GELU(pwconv1(LN(dwconv7x7(x_in)))))))
//
// Dense stages run every token in NHWC order. Masked stages (FCMAE) take the stage's ActiveSet:
// the depthwise conv walks the visible tiles of the dense map (whose masked sites hold zeros), the
// LayerNorm gathers the visible tokens into compact rows, the GEMMs, GELU and GRN (per-sample
// statistics over visible tokens) run on those rows, and the residual writes them back, leaving
// masked sites zero. Nothing is computed for a fully masked tile.
#pragma once

#include <cstdint>

#include "convnextv2/mask.h"
#include "convnextv2/params.h"
#include "core/arena.h"
#include "nn/dwconv.h"
#include "nn/grn.h"
#include "nn/layernorm.h"
#include "nn/linear.h"

namespace cnx {

// The parameters a pass reads: the flat fp32 buffer and, in bf16 precision, optionally its bf16
// copy kept by the optimizer (simd/adamw: adamw_bf16), which the GEMMs then read as it is instead
// of rounding their weights before each product. Both give the same bits.
struct Weights {
    const float* f32;
    const bf16* b16 = nullptr;
    Weights(const float* p, const bf16* p16 = nullptr) : f32(p), b16(p16) {}
    const float* operator+(int64_t offset) const { return f32 + offset; }
    // A GEMM's weight operand at `offset`.
    LinearInput gemm(int64_t offset) const { return b16 ? LinearInput(b16 + offset) : LinearInput(f32 + offset); }
};

struct BlockActs {
    float* x_in = nullptr;   // [N,H,W,C] dense block input (the previous block's x_out or the stage input)
    float* dw = nullptr;     // [N,H,W,C] dense depthwise output (visible sites only when masked)
    float* ln = nullptr;     // [rows, C] LayerNorm output (pwconv1 input)
    float* mean = nullptr;   // [rows]
    float* rstd = nullptr;   // [rows]
    float* h = nullptr;      // [rows, 4C] pwconv1 output (GELU input)
    float* g = nullptr;      // [rows, 4C] GELU output (GRN input)
    float* r = nullptr;      // [rows, 4C] GRN output (pwconv2 input)
    float* gx = nullptr;     // [N, 4C] GRN L2 norms
    float* nx = nullptr;     // [N, 4C] GRN normalised norms
    float* y = nullptr;      // [rows, C] branch output (forward only: shared by the blocks of a stage)
    float* x_out = nullptr;  // [N,H,W,C] dense
    // bf16 precision: dw, ln, h, g, r and y held in bf16 alone (their fp32 pointers stay null)
    bf16* dw16 = nullptr;
    bf16* ln16 = nullptr;
    bf16* h16 = nullptr;
    bf16* g16 = nullptr;
    bf16* r16 = nullptr;
    bf16* y16 = nullptr;
    float* drop_scale = nullptr;  // [N] DropPath scales of this step
    float drop_rate = 0.0f;       // this step's rate (0: the branch is always kept)
};

// Plans a block's activations from the arena (all but x_in and x_out, which the caller wires):
// dense maps of T tokens, `rows` computed tokens, width C, batch N; dw, ln, h, g, r and y in
// `precision`. The branch output y, which backward never reads, is same_stage's when given.
void alloc_block_acts(BlockActs& b, Arena& a, int64_t N, int64_t T, int64_t rows, int64_t C, Precision precision,
                      const BlockActs* same_stage = nullptr);

// Layers of one stage; the blocks of a stage have equal shapes and share them (they hold scratch only).
struct StageLayers {
    DwConv dw;
    LayerNorm ln;
    Linear pw1, pw2;
    Grn grn;

    // rows: tokens computed (all N*H*W, or the visible ones); rows_per_sample for the GRN.
    void init(int64_t N, int64_t H, int64_t W, int64_t C, int64_t rows, int64_t rows_per_sample, Precision precision);
};

struct BlockShape {
    int64_t N, H, W, C;
    const ActiveSet* active;  // null: dense
    int64_t rows() const { return active ? active->rows : N * H * W; }
};

// Backward scratch, shared by all blocks.
struct BlockScratch {
    float* d_c;    // [rows, C]
    float* d_4c;   // [rows, 4C]
    float* d_dw;   // [N,H,W,C] dense, masked stages only: zero at masked tiles before the stage's blocks
    bf16* d_4c16;  // [rows, 4C] bf16 precision: d(pwconv1 output), the GEMMs' input; else null
};
// d_4c16 for a block of `rows_4c` = rows * 4C values in `precision` (null in fp32).
bf16* alloc_block_scratch16(Arena& a, int64_t rows_4c, Precision precision);

void block_forward(StageLayers& L, const BlockActs& b, const BlockParams& w, Weights params, const BlockShape& s);
// dx holds d(x_out) on entry (dense) and d(x_in) on return (at the computed sites). Parameter
// gradients accumulate into grads.
void block_backward(StageLayers& L, const BlockActs& b, const BlockParams& w, Weights params, float* grads,
                    const BlockShape& s, float* dx, const BlockScratch& scratch);

}  // namespace cnx
