#!/usr/bin/env bash
# gpu_check.sh OUTDIR — everything the CUDA backend needs checked on a GPU machine, in ONE
# call of the device tool (at most 10 minutes per call, ~15 minutes of device time per
# session, start-up included), so the budgets below add up to 8 minutes at worst:
#   0. environment (nvidia-smi, nvcc, torch)                                      15 s
#   1. build + install with the CUDA backend for sm_90 only (no network:
#      --no-deps --no-build-isolation; all cores for nvcc)                         120 s
#   2. `python -m neuraxon info`                                                   15 s
#   3. the whole pytest suite (the `dev` fixture runs every kernel test on cuda;   120 s
#      tests/test_distributed_nccl.py first, by itself: the NCCL backend's GPU tests,
#      never run on a GPU before, so their result is in the log even if the rest is slow)
#   4. compute-sanitizer memcheck (kernel tests of a few stems), racecheck
#      (kernels that share memory: tiled GEMM, block reductions, pooling scatter)  75 + 45 s
#   5. bench/bench_gpu.py: our kernels vs PyTorch (cuBLAS/cuDNN)                  75 s
#   6. a short `neuraxon train --device cuda` (MLP on digits, else synthetic)     25 s
# Every log, the junit XML and the benchmark JSON go to a work folder that is packed into
# OUTDIR/gpu_check.tar.gz at the end (the device tool brings back only a few files); the
# summary (step, exit code, seconds) is also left as OUTDIR/summary.txt. (If the pip build
# fails, a 90 s development build is tried instead: 9.7 minutes at worst, still one call.) A failing step does
# not stop the others. Stages after the build can be chosen:
#   bench/gpu_check.sh OUTDIR [STAGES]      STAGES: comma-separated of test,sanitize,bench,train
# (default all). It builds in ./build-gpu, so a second call on a warm machine is incremental.
set -u
OUT=${1:?usage: bench/gpu_check.sh OUTDIR [test,sanitize,bench,train]}
STAGES=",${2:-test,sanitize,bench,train},"
want() { [[ $STAGES == *",$1,"* ]]; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DEST=$OUT
OUT=$(mktemp -d)/gpu_check  # the work folder: packed into $DEST/gpu_check.tar.gz at the end
mkdir -p "$OUT/results"
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"

step() {  # step NAME TIMEOUT_S COMMAND...
  local name=$1 limit=$2
  shift 2
  local t0=$(date +%s)
  echo "=== $name (limit ${limit}s): $*" | tee -a "$OUT/$name.log"
  timeout --signal=TERM --kill-after=10 "$limit" "$@" >> "$OUT/$name.log" 2>&1
  local rc=$?
  local dt=$(( $(date +%s) - t0 ))
  printf '%-28s rc=%-4s %4ss\n' "$name" "$rc" "$dt" | tee -a "$SUMMARY"
  tail -n 25 "$OUT/$name.log"
  return $rc
}

step 0_env 15 bash -c "nvidia-smi; nvcc --version; $PY -c 'import torch, sys; print(sys.version); print(torch.__version__, torch.cuda.get_device_name(0))'; cmake --version; ninja --version; \
  $PY -c 'import importlib.util as u; n = u.find_spec(\"nvidia\") and u.find_spec(\"nvidia.nccl\"); print(\"nvidia.nccl wheel (libnccl for backend nccl):\", n and list(n.submodule_search_locations))'; \
  $PY -c 'import torch; print(\"torch NCCL:\", torch.cuda.nccl.version())' || true"

# 1. Build. NEURAXON_CUDA reaches CMake through pyproject's cmake.define; the architecture
# through CUDAARCHS (CMake's own variable) and an explicit define; all cores for nvcc.
export NEURAXON_CUDA=ON CUDAARCHS=90 CMAKE_BUILD_PARALLEL_LEVEL=$(nproc)
step 1_build 120 $PY -m pip install --no-build-isolation --no-deps -v \
  --config-settings=cmake.define.CMAKE_CUDA_ARCHITECTURES=90 --config-settings=build-dir=build-gpu .
if ! $PY -c "import neuraxon._cuda" 2>/dev/null; then
  # Fallback: a development build in place (same CMake project), used through NEURAXON_DEV_BUILD.
  step 1_build_dev 90 bash -c "cmake -S . -B build-gpu-dev -G Ninja -DNEURAXON_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
      -DNEURAXON_DEV_OUTPUT=$PWD/_dev-gpu -Dpybind11_DIR=\$($PY -m pybind11 --cmakedir) && ninja -C build-gpu-dev"
  export NEURAXON_DEV_BUILD=$PWD/_dev-gpu PYTHONPATH=$PWD/python
fi

# 2. What was built, and the device it sees.
step 2_info 15 $PY -m neuraxon info

# 3. The whole suite (cpu and cuda parametrisations).
TIMEOUT_OPT=""
$PY -c "import pytest_timeout" 2>/dev/null && TIMEOUT_OPT="--timeout=120"
NCCL_TESTS=tests/test_distributed_nccl.py
want test && step 3_pytest 120 bash -c "$PY -m pytest -q -rs -p no:cacheprovider $TIMEOUT_OPT $NCCL_TESTS \
  --junitxml=$OUT/results/pytest_nccl.xml; a=\$?; $PY -m pytest -q -rs -p no:cacheprovider $TIMEOUT_OPT tests \
  --ignore=$NCCL_TESTS --junitxml=$OUT/results/pytest.xml; b=\$?; exit \$(( a > b ? a : b ))"

# 4. compute-sanitizer over the CUDA-side tests of a few stems (small shapes; slow under the tool).
SAN_TESTS="tests/test_cuda.py tests/test_gemm.py tests/test_pool2d.py tests/test_index.py tests/test_softmax.py tests/test_conv2d.py"
SAN_K="cuda and not out_of_memory and not slow"
want sanitize && step 4_memcheck 75 compute-sanitizer --tool memcheck --error-exitcode 99 --print-limit 20 \
  $PY -m pytest -q -x -p no:cacheprovider $SAN_TESTS -k "$SAN_K"
# racecheck: the kernels that share memory between threads (tiled GEMM, block reductions,
# the warp-ordered pooling scatter).
want sanitize && step 4_racecheck 45 compute-sanitizer --tool racecheck --error-exitcode 99 --print-limit 20 \
  $PY -m pytest -q -x -p no:cacheprovider tests/test_cuda.py tests/test_pool2d.py tests/test_softmax.py -k "$SAN_K"

# 5. Benchmarks vs PyTorch.
want bench && step 5_bench 75 $PY bench/bench_gpu.py --out "$OUT/results/bench_gpu.json"

# 6. A short training run on the GPU, if the command exists.
if ! want train; then
  :
elif $PY -m neuraxon train --help > "$OUT/6_train_help.log" 2>&1; then
  # Offline data only (no network on that machine): scikit-learn's digits, else synthetic.
  step 6_train_digits 25 $PY -m neuraxon train --model mlp --data digits --device cuda --epochs 3 --quiet \
         --out "$OUT/train_mlp_digits" \
    || step 6_train_synthetic 25 $PY -m neuraxon train --model mlp --data synthetic --device cuda --epochs 1 \
         --quiet --out "$OUT/train_mlp_synth"
else
  echo "6_train                      skipped: no train command" | tee -a "$SUMMARY"
fi

echo "=== summary"
cat "$SUMMARY"
cp "$SUMMARY" "$DEST/summary.txt"
tar czf "$DEST/gpu_check.tar.gz" -C "$(dirname "$OUT")" gpu_check && echo "packed: $DEST/gpu_check.tar.gz"
