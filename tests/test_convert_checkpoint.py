"""Converting the authors' pickled KeyPointFeatureField into our checkpoint, and refusing hostile pickles."""

import argparse
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scene_analogy.field.authors import convert_checkpoint, read_authors_checkpoint
from scene_analogy.field.checkpoint import load_field
from scene_analogy.files.errors import DataError

REPO = Path(__file__).resolve().parents[1]
AUTHORS_MODULE = "threed_front.feature_field"


def _authors_classes():
    """Stand-ins for the authors' classes, importable as threed_front.feature_field.* for pickling."""

    class DistanceEmbedding(nn.Module):
        def __init__(self):
            super().__init__()
            self.dist_mlp = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 32))

    class KeyPointFeatureField(nn.Module):
        def __init__(self, cfg, device):
            super().__init__()
            self.cfg, self.device = cfg, device
            self.semantics_emb = nn.Embedding(cfg.num_classes + 1, cfg.semantics_emb_size)
            self.semantics_emb.weight.requires_grad_(False)
            self.dist_emb = DistanceEmbedding()
            width = cfg.semantics_emb_size + cfg.distance_emb_size
            self.summary_emb = nn.Embedding(1, width)
            layer = nn.TransformerEncoderLayer(width, cfg.transformer_num_heads, 2048, batch_first=True)
            self.feat_transformer = nn.TransformerEncoder(layer, cfg.transformer_num_layers, norm=nn.LayerNorm(width))
            self.final_lin = nn.Linear(width, cfg.out_dim)

    for cls in (DistanceEmbedding, KeyPointFeatureField):
        cls.__module__, cls.__qualname__ = AUTHORS_MODULE, cls.__name__
    return DistanceEmbedding, KeyPointFeatureField


@pytest.fixture
def authors_file(tmp_path, monkeypatch):
    """(path of a torch.save'd whole authors' module, the module itself)."""
    fake = types.ModuleType(AUTHORS_MODULE)
    fake.DistanceEmbedding, fake.KeyPointFeatureField = _authors_classes()
    # Only the submodule name is registered (the real threed_front package stays); undone after the test.
    monkeypatch.setitem(sys.modules, AUTHORS_MODULE, fake)
    cfg = argparse.Namespace(agg_radius=0.75, agg_radius_limit=100, transformer_num_layers=6, transformer_num_heads=8,
                             semantics_emb_size=32, distance_emb_size=32, out_dim=256, num_classes=8,
                             normalize_feats=True, scene_root="./data/x", epochs=10)
    torch.manual_seed(0)
    module = fake.KeyPointFeatureField(cfg, torch.device("cpu")).eval()
    path = tmp_path / "authors_model.pth"
    torch.save(module, path)
    return path, module


def _reference_descriptor(module, q, points, labels):
    """The authors' computation for one query, written out with their submodules."""
    dist = (points - q).norm(dim=-1)
    keep = torch.argsort(dist)[: 100]
    keep = keep[dist[keep] <= 0.75]
    tokens = torch.cat([module.dist_emb.dist_mlp(dist[keep, None] / 0.75), module.semantics_emb(labels[keep])], -1)
    x = torch.cat([module.summary_emb.weight, tokens])[None]
    return F.normalize(module.final_lin(module.feat_transformer(x)[0, 0]), dim=-1)


def test_convert_in_process_matches_authors_module(authors_file, tmp_path):
    path, module = authors_file
    field = convert_checkpoint(path, tmp_path / "out.pth")
    raw = torch.load(tmp_path / "out.pth", weights_only=True)
    assert set(raw["state_dict"]) == set(module.state_dict())
    for key, tensor in module.state_dict().items():
        assert torch.equal(raw["state_dict"][key], tensor), key
    cfg = field.cfg
    assert (cfg.radius, cfg.max_neighbors, cfg.num_layers, cfg.num_heads, cfg.width, cfg.feedforward, cfg.out_dim,
            cfg.num_classes, cfg.train_class_embedding) == (0.75, 100, 6, 8, 64, 2048, 256, 8, False)
    assert raw["source_config"]["agg_radius"] == 0.75 and raw["converted_from"] == path.name
    gen = torch.Generator().manual_seed(0)
    points = torch.rand(200, 3, generator=gen) * 2
    labels = torch.randint(0, 9, (200,), generator=gen)
    loaded = load_field(tmp_path / "out.pth")
    with torch.inference_mode():
        ours = loaded.describe(points[:3], points, labels)
        for i in range(3):
            torch.testing.assert_close(ours[i], _reference_descriptor(module, points[i], points, labels),
                                       atol=2e-5, rtol=0)


def test_a_trained_class_embedding_is_read_from_the_authors_file(authors_file, tmp_path):
    """The flag comes from the pickled parameter (the collected copies are all detached: it read False)."""
    path, module = authors_file
    module.semantics_emb.weight.requires_grad_(True)
    torch.save(module, tmp_path / "trained_classes.pth")
    assert convert_checkpoint(tmp_path / "trained_classes.pth", tmp_path / "out.pth").cfg.train_class_embedding


def test_load_field_on_authors_file_points_to_converter(authors_file):
    with pytest.raises(DataError, match="convert_checkpoint"):
        load_field(authors_file[0])


def test_convert_cli_to_folder(authors_file, tmp_path):
    path, module = authors_file
    out = tmp_path / "pretrained" / "paper"
    # A fresh interpreter: the fake authors' module does not exist there, and need not.
    result = subprocess.run([sys.executable, "-m", "scene_analogy.convert_checkpoint", str(path), str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (out / "config.json").is_file() and "6 layers" in result.stdout
    loaded = load_field(out)
    for key, tensor in module.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key


class _Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _HostileEval:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w')",))


@pytest.mark.parametrize("hostile_cls, refused", [(_Hostile, "system"), (_HostileEval, "builtins.eval")])
def test_hostile_pickle_refused_in_process(tmp_path, hostile_cls, refused):
    marker = tmp_path / "pwned"
    bad = tmp_path / "bad.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": hostile_cls(marker)}, bad)
    with pytest.raises(DataError) as err:
        convert_checkpoint(bad, tmp_path / "out.pth")
    message = str(err.value)
    assert str(bad) in message and "refused" in message and refused in message
    assert not marker.exists() and not (tmp_path / "out.pth").exists()


def test_hostile_pickle_refused_by_cli(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "bad.pth"
    torch.save(_Hostile(marker), bad)
    result = subprocess.run([sys.executable, "-m", "scene_analogy.convert_checkpoint", str(bad), str(tmp_path / "o.pth")],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "refused" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists() and not (tmp_path / "o.pth").exists()


def test_not_a_pytorch_file(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00\x01 definitely not a checkpoint")
    with pytest.raises(DataError, match="not a readable PyTorch file"):
        read_authors_checkpoint(junk)
