"""The table recipes: training-by-sampling, conditional sampling, resume, both models learning."""

import numpy as np
import pandas as pd
import pytest
import torch

import gankit.tabular as tabular
from gankit.data.table import TableTransformer, infer_kinds
from gankit.errors import ConfigError, DataError, GankitError
from gankit.recipes.tabular import TableLayout

pytestmark = pytest.mark.oldest_deps  # .ci/run runs these on the oldest numpy/pandas too

TINY = [
    "model.hidden=[32,32]",
    "model.d_hidden=[32]",
    "model.z_dim=8",
    "optim.batch_size=40",
    "model.pack=4",
    "train.threads=1",
    "train.log_every=10",
    "train.checkpoint_every=10",
    "train.device=cpu",
]
TINY_VAE = [
    "model.hidden=[32,32]",
    "model.z_dim=8",
    "optim.batch_size=40",
    "train.threads=1",
    "train.log_every=50",
    "train.checkpoint_every=1000",
    "train.device=cpu",
]


def make_table(n=200, seed=0):
    r = np.random.default_rng(seed)
    fraud = r.random(n) < 0.08
    amount = np.where(fraud, r.normal(500, 30, n), r.lognormal(3, 0.5, n))
    amount[r.random(n) < 0.3] = np.nan
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "amount": amount,
            "channel": np.where(
                fraud, "web", r.choice(["shop", "phone", "web"], n, p=[0.6, 0.3, 0.1])
            ),
            "is_fraud": fraud.astype(int),
        }
    )


def layout_of(table):
    tr = TableTransformer.fit(table, infer_kinds(table, discrete=["is_fraud"]))
    return (
        TableLayout(tr.spans, [c.counts for c in tr.discrete]),
        torch.from_numpy(tr.transform(table)),
        tr,
    )


def test_training_by_sampling_gives_each_category_its_log_frequency():
    """Rows drawn by `row_weights`, then a column from each row's posterior: category c of column
    j is the condition with probability log-frequency(c) / number of columns, as in CTGAN."""
    layout, rows, tr = layout_of(make_table())
    weights = layout.row_weights(rows)
    posterior = layout._ratios(rows) / layout._ratios(rows).sum(1, keepdim=True)
    joint = weights[:, None] / weights.sum() * posterior  # P(row, column)
    for j, sl in enumerate(layout.discrete):
        cats = rows[:, sl].argmax(1)
        for c in range(sl.stop - sl.start):
            got = float(joint[cats == c, j].sum())
            assert got == pytest.approx(
                float(layout.log_freq[j][c]) / len(layout.discrete), rel=1e-9
            )
    # the rare class is drawn far above its 8% share
    fraud = tr.discrete.index(tr.column("is_fraud"))
    share = float(weights[rows[:, layout.discrete[fraud]].argmax(1) == 1].sum() / weights.sum())
    assert share > 0.2


def test_a_target_is_the_condition_of_its_share_of_training_rows_and_of_every_sample():
    """With a target, training-by-sampling picks its column with `model.target_share` and the
    others evenly; unconditional samples are all conditioned on it, at its real frequencies.
    Share 0 is CTGAN's uniform choice, for training and sampling."""
    share = 0.3  # not 1/2: with two columns the uniform choice would pass too
    table = make_table(n=2000)
    tr = TableTransformer.fit(table, infer_kinds(table, discrete=["is_fraud"]))
    target = [c.name for c in tr.discrete].index("is_fraud")
    layout = TableLayout(tr.spans, [c.counts for c in tr.discrete], target, share)
    rows = torch.from_numpy(tr.transform(table))
    weights = layout.row_weights(rows)
    assert float(weights.sum()) == pytest.approx(1.0, rel=1e-9)  # P(row) under training-by-sampling
    posterior = layout._ratios(rows) / layout._ratios(rows).sum(1, keepdim=True)
    joint = weights[:, None] / weights.sum() * posterior
    assert float(joint[:, target].sum()) == pytest.approx(share, rel=1e-9)
    assert float(joint[:, 1 - target].sum()) == pytest.approx(1 - share, rel=1e-9)
    cond = layout.sample_condition(4000, torch.Generator().manual_seed(0))
    on_target = cond[:, layout.cond_offsets[target] : layout.cond_offsets[target + 1]]
    assert torch.all(on_target.sum(1) == 1)
    real_share = float((table["is_fraud"] == 1).mean())
    assert float(on_target[:, 1].mean()) == pytest.approx(real_share, abs=0.015)
    uniform = TableLayout(tr.spans, [c.counts for c in tr.discrete], target, 0.0)
    assert uniform.target is None and torch.equal(
        uniform.column_probs, torch.full((2,), 0.5, dtype=torch.float64)
    )
    cond = uniform.sample_condition(4000, torch.Generator().manual_seed(0))
    on_target = cond[:, uniform.cond_offsets[target] : uniform.cond_offsets[target + 1]].sum(1)
    assert float(on_target.mean()) == pytest.approx(0.5, abs=0.03)


def test_target_share_is_a_checked_option_of_the_run(tmp_path):
    table = make_table()
    with pytest.raises(ConfigError, match="target_share"):
        tabular.fit(
            table,
            tmp_path / "bad",
            model="tvae",
            target="is_fraud",
            epochs=1,
            overrides=[*TINY_VAE, "model.target_share=1"],
        )
    tabular.fit(
        table,
        tmp_path / "run",
        model="tvae",
        target="is_fraud",
        epochs=1,
        overrides=[*TINY_VAE, "model.target_share=0.3"],
    )
    loaded = tabular.load(tmp_path / "run")
    assert float(loaded.layout.column_probs[loaded.layout.target]) == pytest.approx(0.3)


def test_few_valued_integers_are_one_hot_but_not_conditions():
    """A count with few values keeps its exact values (one-hot) but stays out of the conditional
    vector, unless declared discrete."""
    r = np.random.default_rng(0)
    table = pd.DataFrame({"visits": r.poisson(1.0, 300), "channel": r.choice(["web", "shop"], 300)})
    tr = TableTransformer.fit(table, infer_kinds(table))
    assert [(s.column, s.role) for s in tr.spans] == [("visits", "level"), ("channel", "category")]
    assert [c.name for c in tr.discrete] == ["channel"]
    with pytest.raises(DataError, match="declared discrete"):
        tr.category_index("visits", 1)
    declared = TableTransformer.fit(table, infer_kinds(table, discrete=["visits"]))
    assert [c.name for c in declared.discrete] == ["visits", "channel"]
    assert declared.category_index("visits", 1)[0] == 0


def test_condition_vector_matches_the_rows_own_category():
    layout, rows, _ = layout_of(make_table())
    columns, cond = layout.condition(rows[:50], torch.Generator().manual_seed(0))
    assert torch.all(cond.sum(1) == 1)
    for i in range(50):
        j = int(columns[i])
        part = cond[i, layout.cond_offsets[j] : layout.cond_offsets[j + 1]]
        assert torch.equal(part, rows[i, layout.discrete[j]])


@pytest.mark.parametrize("model, overrides", [("ctgan", TINY), ("tvae", TINY_VAE)])
def test_fit_sample_conditionally_by_construction(tmp_path, model, overrides):
    table = make_table()
    fitted = tabular.fit(
        table, tmp_path / model, model=model, target="is_fraud", epochs=2, overrides=overrides
    )
    assert fitted.result.status == "completed"
    assert fitted.metadata == {
        "id": "id",
        "amount": "continuous",
        "channel": "categorical",
        "is_fraud": "categorical",
    }
    loaded = tabular.load(tmp_path / model)
    rows = loaded.sample(300, where={"is_fraud": 1}, seed=3)
    assert list(rows.columns) == list(table.columns) and len(rows) == 300
    assert (rows["is_fraud"] == 1).all()
    assert rows["id"].is_unique
    assert loaded.sample(50, seed=1).equals(loaded.sample(50, seed=1))
    assert not loaded.sample(50, seed=1).equals(loaded.sample(50, seed=2))
    with pytest.raises(DataError, match="never occurs"):
        loaded.sample(5, where={"is_fraud": 7})
    with pytest.raises(DataError, match="unknown column"):
        loaded.sample(5, where={"nope": 1})


def test_tvae_learns_the_rare_class_and_the_missing_values(tmp_path):
    table = make_table(400)
    fitted = tabular.fit(table, tmp_path / "v", model="tvae", epochs=60, overrides=TINY_VAE)
    rows = fitted.sample(2000, seed=0)
    assert 0.15 < rows["amount"].isna().mean() < 0.45  # 30% missing in the data
    assert 0.03 < (rows["is_fraud"] == 1).mean() < 0.16  # 8% fraud in the data
    fraud = fitted.sample(500, where={"is_fraud": 1}, seed=1)
    # conditioned on fraud, the other columns follow: fraud is always "web" with amounts near 500
    assert (fraud["channel"] == "web").mean() > 0.7
    assert fraud["amount"].median() > 200 > rows["amount"].median()


def test_resume_is_bit_exact(tmp_path):
    table = make_table()
    straight = tabular.fit(table, tmp_path / "a", epochs=4, overrides=TINY)  # 20 steps
    tabular.fit(table, tmp_path / "b", epochs=2, overrides=TINY)  # 10 steps ...
    resumed = tabular.fit(table, tmp_path / "b", epochs=4, resume=True)  # ... then 10 more
    assert straight.step == resumed.step == 20
    for name, net in straight.recipe.nets.items():
        for key, value in net.state_dict().items():
            assert torch.equal(value, resumed.recipe.nets[name].state_dict()[key]), (name, key)
    with pytest.raises(DataError, match="other data"):
        tabular.fit(make_table(seed=1), tmp_path / "b", epochs=6, resume=True)
    with pytest.raises(GankitError, match="already holds"):
        tabular.fit(table, tmp_path / "b", epochs=2, overrides=TINY)


def test_bad_options(tmp_path):
    with pytest.raises(ConfigError, match="unknown model"):
        tabular.fit(make_table(), tmp_path / "x", model="gan")
    with pytest.raises(DataError, match="unknown target"):
        tabular.fit(make_table(), tmp_path / "x", target="nope")
    assert not (tmp_path / "x").exists()


def test_samples_come_from_the_averaged_generator_when_ema_is_on(tmp_path):
    from gankit.train import checkpoint as ckpt

    fitted = tabular.fit(make_table(), tmp_path / "e", epochs=2, overrides=[*TINY, "train.ema=0.9"])
    _, state = ckpt.load_latest(tmp_path / "e")
    loaded = fitted.recipe.nets["G"].state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state["ema"]["G"].items())
    assert not all(torch.equal(loaded[k], v) for k, v in state["nets"]["G"].items())


@pytest.mark.parametrize("model, overrides", [("ctgan", TINY), ("tvae", TINY_VAE)])
def test_bf16_autocast_trains_and_logs(tmp_path, model, overrides):
    """TVAE's sampled rows mixed bf16 outputs with float32 noise and
    failed at the first log step."""
    fitted = tabular.fit(
        make_table(),
        tmp_path / model,
        model=model,
        epochs=1,
        overrides=[*overrides, "train.amp=bf16", "train.log_every=2"],
    )
    assert fitted.result.status == "completed" and len(fitted.sample(20, seed=0)) == 20


@pytest.mark.parametrize("beta", [1.0, 3.0])
def test_tvae_weighs_its_kl_term_by_vae_beta(tmp_path, beta):
    import json

    overrides = [*TINY_VAE, "train.log_every=5", f"vae.beta={beta}"]
    tabular.fit(make_table(), tmp_path / "run", model="tvae", epochs=1, overrides=overrides)
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["loss_kl"] > 0.01
    assert row["loss"] == pytest.approx(row["loss_recon"] + beta * row["loss_kl"], rel=1e-3)


def test_each_rows_condition_is_drawn_from_its_posterior():
    """One uniform per row through the posterior's inverse CDF: each column as often as its
    posterior says, and never a column of probability 0 (target share 1)."""
    table = make_table()
    tr = TableTransformer.fit(table, infer_kinds(table, discrete=["is_fraud"]))
    target = [c.name for c in tr.discrete].index("is_fraud")
    for share in (0.3, 1.0):
        layout = TableLayout(tr.spans, [c.counts for c in tr.discrete], target, share)
        rows = torch.from_numpy(tr.transform(table))[:6].repeat(3000, 1)
        columns, _ = layout.condition(rows, torch.Generator().manual_seed(0))
        posterior = layout._ratios(rows[:6]) / layout._ratios(rows[:6]).sum(1, keepdim=True)
        for i in range(6):
            got = torch.bincount(columns[i::6], minlength=len(layout.discrete)).double() / 3000
            assert torch.allclose(got, posterior[i], atol=0.03), (share, i)
        if share == 1.0:
            assert torch.all(columns == target)


def _table_recipe(model, overrides):
    from gankit.recipes import build_table_recipe

    table = make_table()
    tr = TableTransformer.fit(table, infer_kinds(table, discrete=["is_fraud"]))
    cfg = tabular.table_config(
        model, len(table), epochs=1, minutes=None, seed=0, overrides=overrides
    )
    layout = tabular._layout(tr, "is_fraud", cfg)
    return build_table_recipe(cfg, layout), torch.from_numpy(tr.transform(table))[:40]


def _grads(recipe):
    return {
        f"{n}.{k}": p.grad.clone()
        for n, net in recipe.nets.items()
        for k, p in net.named_parameters()
        if p.grad is not None
    }


def _as_ranks(model, overrides, step):
    """`step(recipe, rows, rng)` on the whole batch in one process, and on each half as one of two
    ranks (`shard`), from the same weights and noise streams: the gradients of each."""
    import copy

    recipe, rows = _table_recipe(model, overrides)
    outcomes = []
    for shard, part in [((0, 1), rows), ((0, 2), rows[:20]), ((1, 2), rows[20:])]:
        r = copy.deepcopy(recipe)
        r.shard = shard
        step(r, part, torch.Generator().manual_seed(5))  # CTGAN seeds D's dropout from this stream
        outcomes.append(_grads(r))
    return outcomes


def test_two_ranks_of_tvae_average_to_one_process_gradients():
    """Conditions and posterior noise are sliced from the global draws (`shard`), so the mean of
    two ranks' gradients is one process's on the whole batch."""
    whole, *ranks = _as_ranks(
        "tvae", TINY_VAE, lambda r, x, rng: r.train_step(x, None, rng, want_stats=False)
    )
    assert whole.keys() == ranks[0].keys() and len(whole) > 4
    for k in whole:
        torch.testing.assert_close((ranks[0][k] + ranks[1][k]) / 2, whole[k], rtol=1e-4, atol=1e-6)


def test_two_ranks_of_ctgan_average_to_one_process_gradients():
    """A whole CTGAN step (conditions, z, Gumbel noise, packed rows, D's dropout masks, the GP's
    points: all sliced from global draws). G's batch norm runs in eval mode here, so each row's
    output is its own; in training it normalises each rank's slice, as DDP without SyncBatchNorm."""

    def step(recipe, x, rng):
        recipe.nets["G"].eval()
        # ranks simulated in one process average no gradients: keep D as it was for G's step
        recipe.optimizers["D"].param_groups[0]["lr"] = 0.0
        recipe.train_step(x, None, rng, want_stats=False)

    whole, *ranks = _as_ranks("ctgan", TINY, step)
    assert (
        sum(k.startswith("D.") for k in whole) == 4 and sum(k.startswith("G.") for k in whole) > 4
    )
    for k in whole:
        torch.testing.assert_close((ranks[0][k] + ranks[1][k]) / 2, whole[k], rtol=1e-4, atol=1e-6)
