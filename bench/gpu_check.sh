#!/usr/bin/env bash
# Issue 6's GPU checks, in sections ordered by what has never run on a GPU first, so a short lease
# answers the open questions before it re-measures the known ones:
#   stylegan       a few steps of --preset stylegan at 64 px on cuda with AMP (bf16), then
#                  sample --truncation, mix and interpolate on cuda
#   cuda-tests     tests/train/test_cuda.py: exact resume, bf16/fp16, compiled networks (spectral norm
#                  too), the step-compiled step against the eager one, dropout on the GPU, FusedAdam
#   step-compiled  `gankit bench speed` fp32 with the whole step compiled (train.compile=step)
#   speed-fp32     `gankit bench speed` on cuda: images/s against the plain loop, peak share
#   speed-bf16     the same with autocast bf16 in both loops
#   other-tests    the DDP (gloo) and speed tests, with the GPU visible
#   profile        bench/step_profile.py: how busy the GPU is in a step, deterministic cuDNN's cost
#   scaling        with several GPUs, 1-vs-N process scaling of `gankit train` under torchrun (NCCL)
#   progan         `--preset progan` on MNIST 32 px with bf16: every stage (4 to 32 px) a few steps,
#                  stopped mid-fade-in and resumed (equal to an uninterrupted run), `gankit sample`
# Each section runs under its own time limit, a failure does not stop the next, and summary.txt gets
# one line per section (exit status and seconds), so the next lease can be planned from it; the
# script exits 1 when any section failed, 2 on a bad argument.
# Usage: bash bench/gpu_check.sh [MNIST_DIR [SECTION ...]]   (default ../shared/data/mnist, all sections)
# Logs, JSON and summary.txt go to $OUT when it is set (the device tool's folder), else runs/gpu-check.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1
ALL=(stylegan progan cuda-tests step-compiled speed-fp32 speed-bf16 other-tests profile scaling)
DATA="${1:-../shared/data/mnist}"
SECTIONS=("${@:2}")
[ ${#SECTIONS[@]} -eq 0 ] && SECTIONS=("${ALL[@]}")
for s in "${SECTIONS[@]}"; do
  [[ " ${ALL[*]} " == *" $s "* ]] || { echo "gpu_check: unknown section '$s' (one of: ${ALL[*]})" >&2; exit 2; }
done
[ -d "$DATA" ] || { echo "gpu_check: no MNIST folder at '$DATA'" >&2; exit 2; }
RESULTS="${OUT:-runs/gpu-check}"  # small files only: they come back from the device machine
RUNS=runs/gpu-check-runs          # the bench's run folders (samples, checkpoints) stay here
mkdir -p "$RESULTS" "$RUNS"
export DATA RESULTS RUNS
: > "$RESULTS/summary.txt"

bench_speed() {  # name amp [key=value ...]
  local name=$1 amp=$2
  python3 -m gankit bench speed --data-dir "$DATA" --device cuda --amp "$amp" --repeats 3 \
    --steps-per-repeat 200 --out "$RUNS/$name" --json "$RESULTS/$name.json" "${@:3}"
}
scaling() {  # the same per-GPU batch: N GPUs train on N x 64 images a step
  local gpus n
  gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
  [ "$gpus" -gt 1 ] || { echo "fewer than two GPUs: no scaling to measure"; return 0; }
  for n in 1 "$gpus"; do
    rm -rf "$RUNS/ddp-$n"
    torchrun --standalone --nproc_per_node="$n" -m gankit train --preset dcgan --data mnist --data-dir "$DATA" \
      --steps 600 --out "$RUNS/ddp-$n" --no-progress train.log_every=200 train.amp=bf16 || return
    echo "$n GPU(s): $(tail -n 1 "$RUNS/ddp-$n/metrics.jsonl")"
  done
}
stylegan() {  # --preset stylegan at 64 px (MNIST resized), then the w-space commands
  rm -rf "$RUNS/stylegan"
  python3 -m gankit train --preset stylegan --data mnist --data-dir "$DATA" --steps 200 \
    --out "$RUNS/stylegan" --no-progress data.resolution=64 train.device=cuda train.amp=bf16 \
    train.log_every=50 || return
  python3 -m gankit sample "$RUNS/stylegan" -o "$RESULTS/stylegan-psi07.png" --truncation 0.7 \
    --device cuda --no-progress || return
  python3 -m gankit mix "$RUNS/stylegan" -o "$RESULTS/stylegan-mix.png" --device cuda \
    --no-progress || return
  python3 -m gankit interpolate "$RUNS/stylegan" -o "$RESULTS/stylegan-walk.gif" --device cuda \
    --no-progress
}
progan() {  # 128 images a phase: 4 steps a phase up to 8 px, 8 beyond; step 32 is mid-fade-in at 32 px
  local run="$RUNS/progan" opts=(data.resolution=32 train.device=cuda train.amp=bf16
    train.fade_images=128 train.stable_images=128 train.log_every=8 train.checkpoint_every=50)
  rm -rf "$run"
  python3 -m gankit train --preset progan --data mnist --data-dir "$DATA" --steps 32 --out "$run" \
    --no-progress "${opts[@]}" || return
  python3 -m gankit train --preset progan --data mnist --data-dir "$DATA" --steps 60 --out "$run" \
    --no-progress --resume "${opts[@]}" || return
  python3 -c "import json, sys; [print(r['step'], 'stage', r['stage'], 'alpha', r['alpha']) for r in map(json.loads, open(sys.argv[1])) if 'alpha' in r]" "$run/metrics.jsonl"
  rm -rf "$run-whole"
  python3 -m gankit train --preset progan --data mnist --data-dir "$DATA" --steps 60 \
    --out "$run-whole" --no-progress "${opts[@]}" || return
  python3 - "$run" "$run-whole" <<'PY' || return
import sys, torch
from gankit.train import checkpoint as ckpt
(_, a), (_, b) = ckpt.load_latest(sys.argv[1]), ckpt.load_latest(sys.argv[2])
same = all(torch.equal(a[g][n][k], b[g][n][k]) for g in ("nets", "ema") for n in a[g] for k in a[g][n])
print("resumed mid-fade-in == uninterrupted:", same)
sys.exit(0 if same else 1)
PY
  python3 -m gankit sample "$run" -o "$RESULTS/progan-samples.png" --device cuda
}
export -f bench_speed scaling stylegan progan

section() {  # name limit_s command...
  local name=$1 limit=$2 start=$SECONDS rc
  echo "== $name (limit ${limit} s)"
  timeout --kill-after=10 "$limit" "${@:3}" 2>&1 | tee "$RESULTS/$name.log"
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || FAILED=1
  echo "$name: rc $rc$([ "$rc" -eq 124 ] && echo ' (timed out)'), $((SECONDS - start)) s" | tee -a "$RESULTS/summary.txt"
}

FAILED=0
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$RESULTS/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$RESULTS/gpu.txt"
for s in "${SECTIONS[@]}"; do
  case $s in
    stylegan)      section "$s" 240 bash -c stylegan ;;
    cuda-tests)    section "$s" 240 python3 -m pytest -q -rfE tests/train/test_cuda.py ;;
    step-compiled) section "$s" 300 bash -c 'bench_speed speed-step none train.compile=step' ;;
    speed-fp32)    section "$s" 150 bash -c 'bench_speed speed-none none' ;;
    speed-bf16)    section "$s" 150 bash -c 'bench_speed speed-bf16 bf16' ;;
    other-tests)   section "$s" 240 python3 -m pytest -q -rfE tests/train/test_distributed.py tests/experiments/test_speed.py ;;
    profile)       section "$s" 150 python3 bench/step_profile.py --data-dir "$DATA" --device cuda --steps 100 ;;
    scaling)       section "$s" 300 bash -c scaling ;;
    progan)        section "$s" 240 bash -c progan ;;
  esac
done
cat "$RESULTS/summary.txt"
exit $FAILED
