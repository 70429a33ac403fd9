#!/usr/bin/env bash
# The device checks, as one short script for a lent GPU machine (H100/H200, 16 CPU cores):
#
#   bash benchmarks/device_suite.sh            # prints everything; ~8 min
#
# Each part prints ratios measured in the same run on the same machine:
#   1. EMD: batched Sinkhorn on the GPU vs the exact CPU solver on all cores (pairs/s, accuracy);
#   2. the Interaction Network VICReg train step (jets/s, float32 and bfloat16 matmuls; no PyTorch);
#   3. generation scaling with 1, 2, 4, 8, 16 workers (jets/s and speed-up against 1 worker).
# Results go to stdout and, when $OUT is set (the device tool's output folder), to $OUT/*.txt.
# Record the figures in benchmarks/RESULTS.md with the device named (nvidia-smi's first line).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-/tmp/codec_jax_device_suite}
mkdir -p "$OUT"
run() {  # run NAME TIMEOUT COMMAND...: one part, its own time limit, output kept
    local name=$1 limit=$2
    shift 2
    echo "== $name ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))"
    timeout "$limit" "$@" 2>&1 | grep -v -i warning | tee "$OUT/$name.txt"
    echo "-- $name exit ${PIPESTATUS[0]}"
}
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU"; nproc; } | tee "$OUT/device.txt"
test -x "$PY" || { python3.11 -m venv .venv && .venv/bin/pip install -q -e '.[generate,dev]' 'jax[cuda12]'; }
run emd 240 "$PY" benchmarks/emd.py --batches 1024 8192 --particles 30 100 --accuracy-pairs 256
for precision in float32 bfloat16; do
    run "train_step_$precision" 150 "$PY" benchmarks/train_step.py --no-torch --compare "" --batch 1024 --steps 10 \
        --matmul-precision "$precision"
done
for workers in 1 2 4 8 16; do
    run "generation_w$workers" 120 "$PY" benchmarks/generation.py --jets $((60 * workers)) --workers "$workers"
done
