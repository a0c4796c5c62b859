"""A training run stopped and resumed is the run it would have been; the learning-rate schedule is
that of the resumed command; queries are drawn on the CPU whatever the device; the triplet order of a
fresh run is RandomSampler's (the shipped checkpoints' commands still train on the same order)."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import RandomSampler

from scene_analogy.field.checkpoint import load_field
from scene_analogy.training import loop
from scene_analogy.training.loop import train
from scene_analogy.training.order import TripletOrder
from tests.test_train import TINY, _cfg, tiny_root  # noqa: F401 (tiny_root: a fixture)


def _weights(log_dir):
    return load_field(log_dir).state_dict()


class _Stop(Exception):
    pass


@pytest.mark.parametrize("workers", [0, 1])
def test_stopped_and_resumed_equals_uninterrupted(tiny_root, tmp_path, monkeypatch, workers):
    """8 train triplets in batches of 2: 4 steps an epoch. A 10-step run stopped right after its
    step-6 checkpoint (mid-epoch) and started again gives the weights, losses and learning rates of
    the 10 steps in one go."""
    train(_cfg(tiny_root, tmp_path / "straight", steps=10, ckpt_every=2, val_every=5, num_workers=workers), TINY,
              progress=False)
    save = loop._save

    def save_then_stop(*args, **kwargs):
        save(*args, **kwargs)
        if args[3] == 6:  # the step
            raise _Stop

    monkeypatch.setattr(loop, "_save", save_then_stop)
    with pytest.raises(_Stop):
        train(_cfg(tiny_root, tmp_path / "resumed", steps=10, ckpt_every=2, val_every=5, num_workers=workers), TINY,
              progress=False)
    monkeypatch.setattr(loop, "_save", save)
    train(_cfg(tiny_root, tmp_path / "resumed", steps=10, ckpt_every=2, val_every=5, num_workers=workers), TINY,
              progress=False)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)
    history = [json.loads((tmp_path / d / "history.json").read_text()) for d in ("straight", "resumed")]
    assert [(h["step"], h["loss"], h["lr"]) for h in history[0]] == [(h["step"], h["loss"], h["lr"]) for h in history[1]]


def test_resumed_with_more_steps_follows_the_new_schedule(tiny_root, tmp_path):
    """Milestones at 40 % and 80 % of the *resumed* command's steps, at its learning rate; the lr
    logged for a step is the one that step used."""
    log = tmp_path / "run"
    train(_cfg(tiny_root, log, steps=5, ckpt_every=5, val_every=5, learning_rate=1e-3), TINY, progress=False)
    train(_cfg(tiny_root, log, steps=20, ckpt_every=5, val_every=5, learning_rate=2e-3), TINY, progress=False)
    lr = {h["step"]: h["lr"] for h in json.loads((log / "history.json").read_text())}
    close = lambda a, b: abs(a - b) < 1e-12  # noqa: E731
    assert lr[1] == lr[2] == 1e-3 and close(lr[3], 2e-4) and close(lr[5], 4e-5)  # 5 steps: milestones 2 and 4
    # Resumed at step 5 of 20 at 2e-3: milestones 8 and 16, none passed yet.
    assert lr[6] == lr[8] == 2e-3 and close(lr[9], 4e-4) and close(lr[16], 4e-4) and close(lr[17], 8e-5)


def test_fresh_order_is_random_samplers():
    order, reference = TripletOrder(11, seed=3), RandomSampler(range(11), generator=torch.Generator().manual_seed(3))
    for _ in range(3):  # three epochs
        assert list(order) == list(reference)
    half = TripletOrder(11, seed=3)
    it = iter(half)
    first = [next(it) for _ in range(4)]
    half.advance(4)
    saved = half.state()
    again = TripletOrder(11, seed=3)
    again.restore(saved)
    assert first + list(again) == list(TripletOrder(11, seed=3))


def test_shards_are_distributed_samplers():
    from torch.utils.data import DistributedSampler

    for rank in range(3):
        order, reference = TripletOrder(10, 5, rank, 3), DistributedSampler(range(10), 3, rank, seed=5)
        for epoch in range(2):
            order.set_epoch(epoch)
            reference.set_epoch(epoch)
            assert list(order) == list(reference)
