#!/usr/bin/env bash
# Runs written by an earlier commit of gankit, resumed by this checkout: the final weights (image
# runs) or the sampled rows (table fits) must equal those of an uninterrupted run of the earlier
# code. Tiny models, CPU, about two minutes.
#   bash bench/cross_version.sh OLD_REV [EMOJI_DIR]   (EMOJI_DIR: a folder of RGBA PNGs, optional)
set -euo pipefail
rev=${1:?usage: bash bench/cross_version.sh OLD_REV [EMOJI_DIR]}
emoji=${2:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$(dirname "$0")/.." archive "$rev" src | tar -x -C "$work"
export PYTHONDONTWRITEBYTECODE=1 GANKIT_CACHE="$work/cache"
old() { PYTHONPATH="$work/src" python3 -m gankit "$@" > /dev/null; }
new() { python3 -m gankit "$@" > /dev/null; }
same_weights() {  # full_run resumed_run label
  python3 - "$1" "$2" "$3" <<'PY'
import sys, torch
from gankit.train import checkpoint as ckpt
a, b = (ckpt.load_latest(p)[1] for p in sys.argv[1:3])
same = all(torch.equal(a["nets"][n][k], b["nets"][n][k]) for n in a["nets"] for k in a["nets"][n])
print(f"{sys.argv[3]}: step {a['step']} vs {b['step']}, bit-equal after an old->new resume: {same}")
sys.exit(0 if same else 1)
PY
}
image_run() {  # label, then train arguments
  local label=$1; shift
  local common=(--data digits train.device=cpu train.threads=1 train.checkpoint_every=5
                train.log_every=5 train.sample_every=100 "$@")
  old train "${common[@]}" --steps 10 --out "$work/$label-full"
  old train "${common[@]}" --steps 5 --out "$work/$label-half"
  new train --out "$work/$label-half" --resume --steps 10
  same_weights "$work/$label-full" "$work/$label-half" "$label"
}
image_run dcgan --preset dcgan model.width=8
image_run ddpm --preset ddpm model.width=8 diffusion.timesteps=50
image_run vae --preset vae model.width=8
if [ -n "$emoji" ]; then
  mkdir -p "$work/imgs"
  for f in $(find "$emoji" -name '*.png' | sort | sed -n 1,24p); do cp "$f" "$work/imgs/"; done
  image_run folder --preset dcgan --data folder --data-dir "$work/imgs" model.width=8 \
    optim.batch_size=8
fi
python3 - "$work/t.csv" <<'PY'
import sys, numpy as np, pandas as pd
rng = np.random.default_rng(0)
pd.DataFrame({"a": rng.normal(size=200), "b": rng.choice(["x", "y", "z"], 200),
              "c": rng.integers(0, 9, 200)}).to_csv(sys.argv[1], index=False)
PY
for m in ctgan tvae; do
  opts=(--model "$m" --seed 1 model.hidden=[16,16] model.z_dim=8 optim.batch_size=40
        train.threads=1 train.checkpoint_every=3)
  [ "$m" = ctgan ] && opts+=(model.d_hidden=[16] model.pack=2)
  old tabular fit "$work/t.csv" "${opts[@]}" --epochs 2 --out "$work/$m-full"
  old tabular fit "$work/t.csv" "${opts[@]}" --epochs 1 --out "$work/$m-half"
  new tabular fit "$work/t.csv" "${opts[@]}" --epochs 2 --out "$work/$m-half" --resume
  new tabular sample "$work/$m-full" -n 20 --seed 3 -o "$work/$m-full.csv"
  new tabular sample "$work/$m-half" -n 20 --seed 3 -o "$work/$m-half.csv"
  cmp -s "$work/$m-full.csv" "$work/$m-half.csv"
  echo "$m: fitted by the old code, resumed by the new: the same sampled rows"
done
