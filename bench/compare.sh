#!/usr/bin/env bash
# End-to-end speed of one ConvNeXt V2 training step, ours beside PyTorch's, in one run on this machine.
#
#   bench/compare.sh [MODEL] [BATCH] [SIZE]            (default: atto 32 224)
#   TORCH_BENCH=/path/to/bench_torch.py bench/compare.sh
#
# Runs build/convnextv2 bench for the supervised step with each kernel ISA this CPU has, the FCMAE
# step at mask ratios 0 and 0.6, the training step, inference and the FCMAE step at 0.6 in fp32 and
# bf16 precision (a CPU without bf16 support prints a skipped line), and, when TORCH_BENCH names a
# PyTorch harness script taking
# --model/--batch/--res/--mode/--steps (one JSON line out), the same supervised step in PyTorch with
# the tuned setup (OpenBLAS for SkylakeX, tcmalloc). Prints one JSON line per case; compare ratios
# measured in the same run, the machine may be shared.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-atto}
batch=${2:-32}
size=${3:-224}
steps=${STEPS:-10}
bin=build/convnextv2
[[ -x $bin ]] || make -s "$bin"

for isa in ref avx2 avx512 avx512_bf16; do
  CONVNEXTV2_ISA=$isa $bin bench --model "$model" --batch-size "$batch" --input-size "$size" --mode train \
    --steps "$steps" --json 2>/dev/null | sed "s/^{/{\"case\":\"ours-$isa\",/" || echo "{\"case\":\"ours-$isa\",\"skipped\":true}"
done
for ratio in 0.0 0.6; do
  $bin bench --model "$model" --batch-size "$batch" --input-size "$size" --mode pretrain --mask-ratio "$ratio" \
    --steps "$steps" --json | sed "s/^{/{\"case\":\"ours-pretrain-$ratio\",/"
done
for mode in train infer pretrain; do
  for precision in fp32 bf16; do
    $bin bench --model "$model" --batch-size "$batch" --input-size "$size" --mode "$mode" --mask-ratio 0.6 \
      --precision "$precision" --steps "$steps" --json 2>/dev/null | sed "s/^{/{\"case\":\"ours-$mode-$precision\",/" ||
      echo "{\"case\":\"ours-$mode-$precision\",\"skipped\":true}"
  done
done
if [[ -n ${TORCH_BENCH:-} ]]; then
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp OPENBLAS_CORETYPE=SkylakeX \
  LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 \
    /usr/bin/python3 "$TORCH_BENCH" --model "$model" --batch "$batch" --res "$size" --mode supervised \
    --steps "$steps" 2>/dev/null | sed 's/^{/{"case":"pytorch",/'
fi
