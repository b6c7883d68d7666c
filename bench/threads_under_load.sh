#!/usr/bin/env bash
# LeNet-5 MNIST epoch seconds (neuraxon train, batch 64, 1 epoch) by GOMP_SPINCOUNT on 2 threads,
# and on 1 thread, first on the idle machine, then beside a competing 2-thread training job.
# The numbers behind neuraxon's spin default (python/neuraxon/_ext.py). Needs the train extra.
#   bash bench/threads_under_load.sh [spin counts...]      # default: 300000 10000 3000 0
set -uo pipefail
SPINS=${*:-300000 10000 3000 0}
OUT=$(mktemp -d)
run() {  # spin threads -> the epoch's seconds
  GOMP_SPINCOUNT=$1 python -m neuraxon train --model lenet --data mnist --epochs 1 --threads $2 --quiet \
    --out "$OUT/m" --overwrite 2>&1 | grep "^epoch 1/1" | sed 's/.*, \([0-9.]*\)s$/\1/'
}
for cond in idle busy; do
  if [ $cond = busy ]; then
    OMP_NUM_THREADS=2 python -m neuraxon train --model lenet --data mnist --epochs 1000 --quiet \
      --out "$OUT/load" --overwrite >/dev/null 2>&1 &
    LOAD=$!
    sleep 8
  fi
  for round in 1 2; do
    line="$cond round $round: 1 thread $(run 3000 1) s"
    for spin in $SPINS; do line="$line | spin $spin, 2 threads $(run $spin 2) s"; done
    echo "$line (load $(cut -d' ' -f1 /proc/loadavg))"
  done
  [ $cond = busy ] && kill $LOAD
done
rm -rf "$OUT"
