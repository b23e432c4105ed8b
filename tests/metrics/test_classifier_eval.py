import json
import math

import pytest
import torch
from conftest import gankit_together

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.metrics.classifier import load_classifier, predict, random_shift, train_classifier
from gankit.metrics.evaluate import evaluate_samples, label_agreement


@pytest.fixture(scope="module")
def digits_classifier():
    data = load_dataset(DataConfig(source="digits"))
    return data, *train_classifier(data, epochs=3, holdout=0.2, seed=0, batch_size=64)


def test_classifier_learns_the_embedded_digits(digits_classifier):
    _, _, report = digits_classifier
    assert report.train_size == 1438 and report.holdout_size == 359
    assert report.holdout_accuracy > 0.9


def test_random_shift_moves_content_and_pads_with_background():
    x = torch.full((1, 1, 6, 6), -1.0)
    x[0, 0, 2, 3] = 1.0
    shifted = random_shift(x.expand(50, -1, -1, -1), 2, torch.Generator().manual_seed(0))
    positions = {tuple((s[0] == 1.0).nonzero()[0].tolist()) for s in shifted}
    assert len(positions) > 5 and all(abs(r - 2) <= 2 and abs(c - 3) <= 2 for r, c in positions)
    assert (shifted == 1.0).sum() == 50 and set(shifted.unique().tolist()) == {-1.0, 1.0}


def test_real_data_against_itself_and_against_noise(digits_classifier):
    data, model, _ = digits_classifier
    real = data.all()
    same = evaluate_samples(model, real[:800], real[:800], ["fid", "classes"])
    noise = evaluate_samples(
        model, real[:800], torch.rand(800, 1, 8, 8) * 2 - 1, ["fid", "classes"]
    )
    assert same["fid"] < 1e-3 and same["classes_covered"] == 10
    assert noise["fid"] > 10 * max(same["fid"], 1e-2)


def test_cli_train_classifier_then_eval(tmp_path):
    clf = tmp_path / "clf.safetensors"
    # a conditional model too: label agreement is on by default, -n asked of the classes in turn
    proc, plain, conditional = gankit_together(
        ["train-classifier", "--data", "digits", "--epochs", "1", "-o", clf],
        ["train", "--steps", "10", "--out", tmp_path / "r", "model.width=8"],
        ["train", "--preset", "cgan", "--steps", "10", "--out", tmp_path / "c", "model.width=8"],
    )
    assert proc.returncode == 0 and "held-out accuracy" in proc.stdout, proc.stderr
    load_classifier(clf)
    assert plain.returncode == 0 and conditional.returncode == 0
    proc, not_ours, unknown, labels, conditional = gankit_together(
        ["eval", tmp_path / "r", "--classifier", clf, "-n", "200", "--metrics", "fid,classes,pr"]
        + ["--json", tmp_path / "e.json"],
        ["eval", tmp_path / "r", "--classifier", tmp_path / "r" / "config.yaml"],
        ["eval", tmp_path / "r", "--classifier", clf, "--metrics", "fid,xyz"],
        ["eval", tmp_path / "r", "--classifier", clf, "--metrics", "labels"],
        ["eval", tmp_path / "c", "--classifier", clf, "-n", "200", "--metrics", "classes,labels"]
        + ["--json", tmp_path / "c.json"],
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "e.json").read_text())
    assert (
        result["fid"] > 0 and sum(result["class_counts"]) == 200 and 0 <= result["precision"] <= 1
    )
    assert not_ours.returncode == 2 and "not a gankit classifier" in not_ours.stderr
    assert unknown.returncode == 2 and "unknown metric" in unknown.stderr
    assert labels.returncode == 2 and "needs a class-conditional model" in labels.stderr
    assert conditional.returncode == 0, conditional.stderr
    assert "label_agreement" in conditional.stdout
    result = json.loads((tmp_path / "c.json").read_text())
    per_class = result["label_agreement_per_class"]
    assert len(per_class) == 10 and all(0 <= a <= 1 for a in per_class)
    # 20 asked of each
    assert math.isclose(result["label_agreement"], sum(per_class) / 10, abs_tol=1e-3)


def test_label_agreement_reads_the_asked_class(digits_classifier):
    logits = torch.eye(3)[[0, 1, 2, 2, 1, 0]]  # the classifier reads 0 1 2 2 1 0
    result = label_agreement(logits, torch.tensor([0, 1, 2, 0, 0, 0]))
    assert result["label_agreement"] == pytest.approx(4 / 6)
    assert result["label_agreement_per_class"] == [0.5, 1.0, 1.0]  # 0 asked 4 times, read twice
    assert label_agreement(logits[:2], torch.tensor([1, 1]))["label_agreement_per_class"] == [
        None,
        0.5,
        None,
    ]
    data, model, _ = (
        digits_classifier  # real digits asked for as their own labels, then as shuffled ones
    )
    logits, _ = predict(model, data.all())
    assert label_agreement(logits, data.y)["label_agreement"] > 0.9
    assert (
        label_agreement(
            logits, data.y[torch.randperm(len(data.y), generator=torch.Generator().manual_seed(0))]
        )["label_agreement"]
        < 0.2
    )


def test_health_check_reads_the_class_histogram(digits_classifier, tmp_path):
    from conftest import tiny_config

    from gankit.metrics.classifier import save_classifier
    from gankit.train import Trainer

    data, model, report = digits_classifier
    path = save_classifier(model, report, tmp_path / "clf.safetensors", data.name)
    Trainer(
        tiny_config(steps=10, health_classifier=str(path)), tmp_path / "run", progress=False
    ).run()
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(0.0 < r["top_class_share"] <= 1.0 and 1 <= r["classes_seen"] <= 10 for r in records)


def test_stacked_modes_of_real_stacks_cover_what_they_hold(digits_classifier):
    from gankit.data.stacked_mnist import stack_digits
    from gankit.metrics.evaluate import stacked_mnist_modes

    data, model, _ = digits_classifier
    stacked = stack_digits(data, 3000, seed=0)
    result = stacked_mnist_modes(model, stacked.all())
    true_modes = stacked.y.unique().numel()
    assert result["modes_captured"] >= 0.8 * true_modes and result["kl_to_uniform"] < 0.5
    single = stacked_mnist_modes(model, stacked.all()[:1].expand(500, -1, -1, -1))
    assert single["modes_captured"] == 1 and abs(single["kl_to_uniform"] - math.log(1000)) < 1e-6


def test_stacked_modes_read_blended_digits_as_unclear(digits_classifier):
    """Two digits averaged into one channel are what an unsure G draws: the classifier reads far
    fewer of them with probability >= 0.9 than it reads of the real stacks."""
    from gankit.data.stacked_mnist import stack_digits
    from gankit.metrics.evaluate import CLEAR_DIGIT, stacked_mnist_modes

    data, model, _ = digits_classifier
    images = stack_digits(data, 3000, seed=0).all()
    real = stacked_mnist_modes(model, images)["clear_digits"]
    blended = stacked_mnist_modes(model, (images + images.roll(1, 0)) / 2)["clear_digits"]
    assert CLEAR_DIGIT == 0.9 and real > 0.3 and blended < real / 2
