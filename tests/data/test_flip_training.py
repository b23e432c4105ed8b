"""data.flip in training: a random half of each batch mirrored, from (seed, step), so a resumed run
trains on exactly the batches an uninterrupted one does."""

import torch
from conftest import tiny_config

from gankit.data import load_dataset, to_float
from gankit.train import Trainer


def test_flipped_batches_and_an_exact_resume(tmp_path):
    cfg = tiny_config(steps=20)
    cfg.data.flip = True
    whole = Trainer(cfg, tmp_path / "whole", progress=False)
    whole.run()
    whole.close()
    index = whole.sampler.indices(5)
    plain = to_float(load_dataset(cfg.data).x[index])
    batch, _ = whole.batch(5)
    mirrored = (batch != plain).flatten(1).any(1)
    assert 0 < int(mirrored.sum()) < len(index)
    assert torch.equal(batch[mirrored], plain[mirrored].flip(-1))

    cfg.train.steps = 10
    half = Trainer(cfg, tmp_path / "resumed", progress=False)
    half.run()
    half.close()
    cfg.train.steps = 20
    resumed = Trainer(cfg, tmp_path / "resumed", resume=True, progress=False)
    resumed.run()
    resumed.close()
    for name, net in whole.nets.items():
        for key, value in net.state_dict().items():
            assert torch.equal(value, resumed.nets[name].state_dict()[key]), (name, key)
