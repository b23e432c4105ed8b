#!/usr/bin/env bash
# Issue 6's GPU checks in one go (about 7 minutes on one H100 before the step-compiled bench run was added):
#   1. the CUDA trainer tests (device, exact resume, bf16/fp16, compile) and the DDP/speed tests,
#   2. `gankit bench speed` on cuda in fp32 and bf16 (images/s against the plain loop, peak share),
#   3. bench/step_profile.py: how busy the GPU is in a step, and deterministic cuDNN's cost,
#      then the fp32 speed bench with the whole step compiled (train.compile=step),
#   4. with several GPUs, 1-vs-N process scaling of `gankit train` under torchrun (NCCL).
# Usage: bash bench/gpu_check.sh [MNIST_DIR]   (default ../shared/data/mnist); results in runs/gpu-check/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src"
DATA="${1:-../shared/data/mnist}"
OUT=runs/gpu-check
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"

python3 -m pytest -q tests/train/test_cuda.py tests/train/test_distributed.py tests/test_speed.py 2>&1 | tail -15 \
  || echo "some GPU tests failed (above); the benches run anyway"

for amp in none bf16; do
  python3 -m gankit bench speed --data-dir "$DATA" --device cuda --amp "$amp" --repeats 3 \
    --steps-per-repeat 200 --out "$OUT/speed-$amp" --json "$OUT/speed-$amp.json"
done

python3 bench/step_profile.py --data-dir "$DATA" --device cuda --steps 100 | tee "$OUT/step_profile.txt"

# never run on a GPU yet: a failure must not cost the checks above or below
python3 -m gankit bench speed --data-dir "$DATA" --device cuda --presets seed-mlp,dcgan,hinge-resnet --repeats 3 \
  --steps-per-repeat 200 --out "$OUT/speed-step" --json "$OUT/speed-step.json" train.compile=step \
  || echo "the step-compiled speed bench failed (rc $?)"

GPUS=$(python3 -c "import torch; print(torch.cuda.device_count())")
if [ "$GPUS" -gt 1 ]; then
  for n in 1 "$GPUS"; do  # the same per-GPU batch: N GPUs train on N x 64 images a step
    rm -rf "$OUT/ddp-$n"
    torchrun --standalone --nproc_per_node="$n" -m gankit train --preset dcgan --data mnist --data-dir "$DATA" \
      --steps 600 --out "$OUT/ddp-$n" --no-progress train.log_every=200 train.amp=bf16
    echo "$n GPU(s): $(tail -n 1 "$OUT/ddp-$n/metrics.jsonl")"
  done
fi
