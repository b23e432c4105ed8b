"""The human line the trainer prints at each log step, shaped by what the recipe reported."""

from __future__ import annotations

from typing import Any


def format_line(r: dict[str, Any]) -> str:
    """One human line per log interval: losses, D's view, gradient norms, diversity, verdict."""

    def f(key: str, fmt: str) -> str:
        v = r.get(key)
        return format(v, fmt) if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"

    if (
        "loss_d" not in r
    ):  # a recipe without a D (vae, diffusion): the figures it reported, in order
        skip = {"step", "time_s", "img_per_s", "verdict", "remedy"}
        shown = [
            f"{k} {f(k, '.4g')}"
            for k, v in r.items()
            if k not in skip and isinstance(v, (int, float))
        ]
        line = " | ".join(
            [
                f"step {r['step']:>7d}",
                *shown,
                f"{f('img_per_s', '.0f')} img/s",
                str(r.get("verdict", "")),
            ]
        )
        return line + (f" -> {r['remedy']}" if r.get("remedy") else "")
    parts = [
        f"step {r['step']:>7d}",
        (
            f"loss D {f('loss_d', '.3f')} G {f('loss_g', '.3f')}"
            if "loss" not in r
            else f"loss {f('loss', '.3f')}"
        ),
        (
            f"D(x) {f('d_real', '.2f')} D(G(z)) {f('d_fake', '.2f')} "
            + (
                f"W1 est {f('critic_gap', '.3f')}"
                if "critic_gap" in r
                else f"acc {f('d_acc', '.2f')}"
            )
        ),
        *([overfitting_part(r, f)] if "rt" in r else []),
        f"|grad| G {f('grad_norm_g', '.1e')} D {f('grad_norm_d', '.1e')}",
        f"div {f('diversity', '.2f')}"
        + (f" top class {r['top_class_share']:.0%}" if "top_class_share" in r else "")
        + (modes_part(r) if "modes_seen" in r else ""),
        f"{f('img_per_s', '.0f')} img/s",
        str(r.get("verdict", "")),
    ]
    line = " | ".join(parts)
    return line + (f" -> {r['remedy']}" if r.get("remedy") else "")


def overfitting_part(r: dict[str, Any], f: Any) -> str:
    """r_t = E[sign(D(x_real))] over the interval, the gap of D's signs between training and
    held-out images (data.holdout), and ADA's p (loss.ada), where the run has them."""
    part = f"r_t {f('rt', '.2f')}"
    if "heldout_gap" in r:
        part += f" held-out gap {f('heldout_gap', '.2f')}"
    if "ada_p" in r:
        part += f" p {f('ada_p', '.3f')}"
    return part


def modes_part(r: dict[str, Any]) -> str:
    """Known modes (toy2d): how many G reaches, its high-quality share, the largest mode's share."""
    part = f" modes {r['modes_seen']:.0f}/{r.get('modes_total', 0):.0f} hq {r['hq_share']:.0%}"
    return part + (f" top {r['top_mode_share']:.0%}" if "top_mode_share" in r else "")
