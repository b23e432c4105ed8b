"""Markdown tables of `gankit bench mnist|fashion-mnist|cifar10 --json FILE` results, one per
CPU-minute mark, for docs/results.

    python bench/quality_tables.py docs/results/quality_mnist_seed0.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def tables(result: dict) -> str:
    names = list(result["spaces"])
    unit = "CPU minutes" if result["unit"] == "cpu_minutes" else "steps"
    head = "| model | steps | " + " | ".join(
        f"FID ({n}) | precision ({n}) | recall ({n})" for n in names
    )
    head += " | classes (vgg) | rarest class | beats the loop |"
    rule = "|" + " --- |" * (head.count("|") - 1)
    out = []
    for mark in result["marks"]:
        out += [f"At {mark:g} {unit}:", "", head, rule]
        verdict = {v["method"]: v for v in result["verdicts"] if v["at"] == mark}
        for r in (r for r in result["rows"] if r["at"] == mark):
            out.append(_line(r["method"], f"{r['steps']:,}", r, names, verdict.get(r["method"])))
        floor = {n: result["spaces"][n]["floor"] for n in names}
        out.append(_line(floor[names[0]]["method"], "", floor, names, None))
        out.append("")
    return "\n".join(out)


def _line(method: str, steps: str, scores: dict, names: list[str], verdict) -> str:
    cells = [method, steps]
    for n in names:
        s = scores[n]
        cells += [f"{s['fid']:.2f}", f"{s['precision']:.2f}", f"{s['recall']:.2f}"]
    first = scores[names[0]]
    cells += [f"{first['classes_covered']}", f"{100 * first['min_class_share']:.1f}%"]
    if verdict is None:
        cells.append("")
    else:
        cells.append("**yes**" if verdict["beats_reference"] else "no")
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print(tables(json.loads(Path(path).read_text())))
