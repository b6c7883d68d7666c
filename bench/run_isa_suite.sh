#!/usr/bin/env bash
# Every CPU benchmark on both ISA paths of this machine, each side forced to the same ISA:
#   avx512: neuraxon's AVX-512 path, OpenBLAS's own choice (SkylakeX), torch/MKL at AVX-512
#   avx2:   neuraxon --isa avx2, OPENBLAS_CORETYPE=Haswell, torch (ATen, MKL, oneDNN) limited to AVX2
# Writes bench/results/<op>_<tag>_<isa>.json (tag: a short machine name, default "xeon"), then
# the full table in bench/RESULTS.md and README's summary from them (bench/report.py). Needs a quiet machine: run
# nothing else meanwhile (the 1-minute load average is recorded with every result).
#   bash bench/run_isa_suite.sh [tag] [threads]          # defaults: xeon 1,2
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-xeon}
THREADS=${2:-1,2}
for isa in avx512 avx2; do
  if [ $isa = avx2 ]; then
    envs=(MKL_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell)
  else
    envs=()
  fi
  for op in gemm conv2d pool2d activation batchnorm lstm train; do
    echo "== $op $isa threads $THREADS"
    env "${envs[@]}" python bench/bench_$op.py --threads "$THREADS" --isa $isa \
      --out bench/results/${op}_${TAG}_${isa}.json
  done
done
python bench/report.py --tag "$TAG" --readme bench/RESULTS.md
python bench/report.py --tag "$TAG" --summary --readme README.md
