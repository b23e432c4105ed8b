"""bench/few_shot.py: the 100-shot protocol's runs, curves, verdict outcomes and chart, on a few
threes of the embedded digits."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("bench_few_shot", ROOT / "bench" / "few_shot.py")
bench = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = bench
SPEC.loader.exec_module(bench)

POOL = """
from torch import nn

def make():
    return nn.Sequential(nn.AvgPool2d(2), nn.Flatten())
"""


def test_the_protocol_trains_each_arm_and_scores_it_against_the_whole_class(tmp_path, capsys):
    (tmp_path / "pool.py").write_text(POOL)
    argv = ["--data", "digits", "--classes", "3", "--limit", "40", "--steps", "20"]
    argv += ["--points", "2", "--seeds", "0", "--arms", "none,ada", "--curve-n", "64", "-n", "100"]
    argv += ["--features", f"{tmp_path / 'pool.py'}:make", "--out", str(tmp_path / "runs")]
    argv += ["--json", str(tmp_path / "r.json"), "--svg", str(tmp_path / "r.svg")]
    argv += ["model.width=8", "optim.batch_size=16", "train.log_every=5", "train.ema_start=0"]
    bench.main(argv)
    result = json.loads((tmp_path / "r.json").read_text())
    rows = result["rows"]
    assert [r["arm"] for r in rows] == ["none", "ada"]
    for r in rows:
        assert r["training_images"] == 40 and r["reference_images"] == 183  # the digits' threes
        assert [c["steps"] for c in r["curve"]] == [10, 20] and r["steps"] == 20
        assert r["fid"] > 0 and 0 <= r["recall"] <= 1
        assert r["best_fid"] == min(c["fid"] for c in r["curve"])
        # G as trained is scored beside its EMA, on the same latents: they differ
        assert r["ema"] and all(c["fid_raw"] != c["fid"] for c in r["curve"])
        assert r["best_fid_raw"] == min(c["fid_raw"] for c in r["curve"])
        assert r["fid_raw"] != r["fid"] and 0 <= r["recall_raw"] <= 1
        assert r["verdict_outcome_raw"] in ("hit", "late", "missed", "false alarm", "quiet")
        assert r["verdict_outcome"] in ("hit", "late", "missed", "false alarm", "quiet")
        assert (Path(r["run_dir"]) / "metrics.jsonl").is_file()
    # the same seed and images: ADA's pipeline (and its draws) makes the other run
    assert rows[0]["curve"][0]["fid"] != rows[1]["curve"][0]["fid"]
    assert [s["arm"] for s in result["summary"]] == ["none", "ada"]
    svg = (tmp_path / "r.svg").read_text()
    assert svg.count('class="series"') >= 2 and "<style>" in svg
    out = capsys.readouterr().out
    assert "none, seed 0: FID against digits [3] over training" in out
    assert "median of 1 seeds, ada" in out


@pytest.mark.parametrize(
    ("fired", "fids", "outcome"),
    [
        (10, [5.0, 4.0, 6.0], "hit"),  # fired at step 10, FID lowest at step 20, then rose
        (30, [5.0, 4.0, 6.0], "late"),
        (None, [5.0, 4.0, 6.0], "missed"),
        (10, [5.0, 4.0, 3.0], "false alarm"),  # FID fell to the end
        (None, [5.0, 4.0, 3.0], "quiet"),
    ],
)
def test_the_verdict_is_judged_against_when_fid_started_to_rise(fired, fids, outcome):
    curve = [{"steps": 10 * (i + 1), "fid": f} for i, f in enumerate(fids)]
    row = {"overfitting_fired_at": fired, "fid_rose_after_step": bench.rise_step(curve)}
    assert bench.verdict_outcome(row) == outcome


def test_unknown_arms_are_refused(capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(
            ["--data", "digits", "--classes", "3", "--features", "x", "--steps", "2"]
            + ["--arms", "none,mixup"]
        )
    assert "unknown arm mixup" in capsys.readouterr().err
