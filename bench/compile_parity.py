"""Does a compiled run train as the eager one? For every preset (tiny networks on the embedded
digits; the table models on a small synthetic table), the same seed trained eagerly and with
`train.compile=MODE`; prints the largest gap between their logged losses over the first steps.

    python bench/compile_parity.py --mode step --json docs/results/compile_parity_step_cpu.json

A gap at float rounding (1e-7 relative for fp32) means the same random draws and the same
arithmetic up to the order of operations; a wrong draw or a lost gradient shows as 1e-2 or more.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import pandas as pd
import torch
import torch._dynamo

import gankit
import gankit.tabular as tabular
from gankit.config import PRESETS
from gankit.train import Trainer

STEPS = 4
#: presets with a change that the 8 x 8 digits or a quick run need, and variants of `dcgan`
CASES: dict[str, tuple[str, dict]] = {
    **{
        name: (name, {}) for name in PRESETS if PRESETS[name].get("recipe") not in ("ctgan", "tvae")
    },
    "sagan": ("sagan", {"model": {"attention_res": 4}}),
    "dcgan+diffaugment": ("dcgan", {"loss": {"diffaugment": "color,translation,cutout"}}),
    "dcgan+fp16": ("dcgan", {"train": {"amp": "fp16"}}),
    "dcgan+bf16": ("dcgan", {"train": {"amp": "bf16"}}),
    "dcgan+r1": ("dcgan", {"loss": {"r1": 1.0}, "model": {"d_norm": "none"}}),
    "seed-mlp+dropout": ("seed-mlp", {"model": {"d_dropout": 0.3}}),
}


def _merge(a: dict, b: dict) -> dict:
    return {k: {**a.get(k, {}), **b.get(k, {})} for k in {*a, *b}}


def image_losses(preset: str, changes: dict, compile) -> list[list[float]]:
    small = {
        "model": {"width": 8, "hidden": [32, 64]},
        "data": {"source": "digits"},
        "train": {
            "steps": STEPS,
            "log_every": 1,
            "sample_every": 10**6,
            "checkpoint_every": 10**6,
            "device": "cpu",
            "compile": compile,
        },
    }
    cfg = gankit.make_config(preset, **_merge(small, changes))
    folder = tempfile.mkdtemp(prefix="gankit-parity-")
    trainer = Trainer(cfg, folder, progress=False, echo=lambda line: None)
    trainer.run()
    rows = [json.loads(line) for line in open(f"{folder}/metrics.jsonl")]
    return [[v for k, v in r.items() if k.startswith("loss")] for r in rows]


def table_losses(model: str, compile) -> list[list[float]]:
    r = np.random.default_rng(0)
    n = 200
    fraud = r.random(n) < 0.1
    table = pd.DataFrame(
        {
            "amount": np.where(fraud, r.normal(500, 30, n), r.lognormal(3, 0.5, n)),
            "channel": np.where(fraud, "web", r.choice(["shop", "phone", "web"], n)),
            "is_fraud": fraud.astype(int),
        }
    )
    options = [
        "model.hidden=[16,16]",
        "model.z_dim=8",
        "optim.batch_size=40",
        "train.log_every=1",
        "train.device=cpu",
        f"train.compile={str(compile).lower()}",
    ]
    if model == "ctgan":
        options += ["model.d_hidden=[16]", "model.pack=4"]
    folder = tempfile.mkdtemp(prefix="gankit-parity-")
    tabular.fit(
        table, folder, model=model, target="is_fraud", epochs=STEPS * 40 / n, overrides=options
    )
    rows = [json.loads(line) for line in open(f"{folder}/metrics.jsonl")]
    return [[v for k, v in r.items() if k.startswith("loss")] for r in rows]


def gap(a: list[list[float]], b: list[list[float]]) -> float:
    if len(a) != len(b):
        return float("inf")
    return max(
        abs(x - y) / max(abs(x), 1e-3)
        for ra, rb in zip(a, b, strict=True)
        for x, y in zip(ra, rb, strict=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("nets", "step"), default="step")
    parser.add_argument("--only", help="comma list of cases (default: all)")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    mode = True if args.mode == "nets" else "step"
    names = args.only.split(",") if args.only else [*CASES, "ctgan", "tvae"]
    rows = []
    print(f"{'case':20} {'steps':>5} {'largest relative loss gap':>26} {'compiled s':>10}")
    for name in names:
        preset, changes = CASES.get(name, (name, {}))
        penalty = PRESETS[preset].get("loss", {}).get("gp") or changes.get("loss", {}).get("r1")
        # refused by the config: a compiled D cannot be differentiated twice
        if args.mode == "nets" and penalty:
            print(f"{name:20} {'refused: a penalty needs --mode step':>43}")
            continue
        # each trainer compiles anew: without a reset, Dynamo's recompile limit (8 per function)
        # would leave later cases quietly eager
        torch._dynamo.reset()
        if name in ("ctgan", "tvae"):
            eager = table_losses(name, False)
            start = time.perf_counter()
            compiled = table_losses(name, mode)
        else:
            eager = image_losses(preset, changes, False)
            start = time.perf_counter()
            compiled = image_losses(preset, changes, mode)
        seconds = time.perf_counter() - start
        row = {
            "case": name,
            "steps": len(eager),
            "relative_gap": gap(eager, compiled),
            "compiled_seconds": round(seconds, 1),
            "eager_last": eager[-1],
            "compiled_last": compiled[-1],
        }
        rows.append(row)
        print(
            f"{name:20} {row['steps']:>5} {row['relative_gap']:>26.2e} {seconds:>10.1f}", flush=True
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"mode": args.mode, "torch": torch.__version__, "rows": rows}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
