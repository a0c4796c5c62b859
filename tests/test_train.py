import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from scene_analogy.field.checkpoint import load_field
from scene_analogy.field.model import FieldConfig
from scene_analogy.training.loop import TrainConfig, infonce, train
from tests.helpers import write_tiny_triplet_root

TINY = FieldConfig(radius=0.75, max_neighbors=16, num_layers=1, num_heads=2, feedforward=32, out_dim=32)


def _cfg(root, log_dir, **kw):
    base = dict(scene_root=str(root), log_dir=str(log_dir), steps=60, batch_size=2, learning_rate=1e-3,
                num_cache_query=100, val_every=20, ckpt_every=20, val_scenes=4, num_workers=0, seed=0)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    return write_tiny_triplet_root(tmp_path_factory.mktemp("tiny"))


def test_infonce_hand_values():
    a, n = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    feats = torch.stack([a, a, n])  # positive identical (cos 1), negative orthogonal (cos 0): (3, 1, 2)
    loss, acc = infonce(feats, 0.2)
    assert acc.item() == 1.0
    np.testing.assert_allclose(loss.item(), np.log1p(np.exp(-1.0 / 0.2)), rtol=1e-5)
    loss_swapped, acc_swapped = infonce(torch.stack([a, n, a]), 0.2)
    assert acc_swapped.item() == 0.0 and loss_swapped.item() > loss.item()


def test_loss_falls_and_checkpoint_loads(tiny_root, tmp_path):
    # box-grid queries: the positive keeps every box where the negative moved it, a clear signal
    cfg = _cfg(tiny_root, tmp_path / "run", steps=150, learning_rate=3e-3, query_point_type="bbox_grid")
    summary = train(cfg, TINY, progress=False)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    first = np.mean([h["loss"] for h in history[:10]])
    last = np.mean([h["loss"] for h in history[-10:]])
    assert last < 0.85 * first, (first, last)
    assert summary["val_acc"] > 0.6  # held-out triplets: better than chance
    field = load_field(tmp_path / "run" / "model.pth")
    assert field.cfg == TINY
    for name in ("config.json", "train_state.pth", "curve.png", "summary.json"):
        assert (tmp_path / "run" / name).is_file(), name


def test_resume_continues_from_saved_step(tiny_root, tmp_path, capsys):
    train(_cfg(tiny_root, tmp_path / "run", steps=20), TINY, progress=False)
    train(_cfg(tiny_root, tmp_path / "run", steps=30), TINY, progress=False)
    assert "resuming" in capsys.readouterr().out
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["step"] for h in history] == list(range(1, 31))


def test_two_process_ddp_replicas_end_identical(tiny_root, tmp_path):
    log_dir = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "scene_analogy.train", "--scene_root", str(tiny_root), "--log_dir", str(log_dir), "--steps", "6",
           "--batch_size", "2", "--transformer_num_layers", "1", "--transformer_feedforward", "32",
           "--agg_radius_limit", "16", "--num_workers", "0", "--val_every", "3", "--val_scenes", "2"]
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads((log_dir / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["replicas_identical"] is True
    assert summary["steps"] == 6
