"""scripts/calibrate_threshold.py: the threshold is measured the way pairs are evaluated (disjoint
reference keypoints by default) and written beside a copy of the checkpoint."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from scene_analogy.synthetic.dataset import ensure_eval_pairs

REPO = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("calibrate_threshold", REPO / "scripts" / "calibrate_threshold.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scene_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("calib") / "synthetic"
    ensure_eval_pairs(root, 3, 0)
    return root


def test_references_reach_the_matcher_at_the_protocol_keypoints(scene_root):
    from scene_analogy.field.checkpoint import load_field

    script = _script()
    field = load_field(REPO / "pretrained" / "synthetic_default")
    disjoint, _ = script.best_costs(field, str(scene_root), 3, "disjoint")
    shared, _ = script.best_costs(field, str(scene_root), 3, "shared")
    assert np.isfinite(disjoint).all() and np.isfinite(shared).all()
    assert not np.allclose(disjoint, shared)  # other keypoints, other costs


def test_write_records_the_protocol_and_a_threshold_above_every_true_cost(scene_root, tmp_path, capsys):
    checkpoint = tmp_path / "field"
    shutil.copytree(REPO / "pretrained" / "synthetic_default", checkpoint)
    (checkpoint / "calibration.json").unlink(missing_ok=True)
    _script().main(["--checkpoint", str(checkpoint), "--scene_root", str(scene_root), "--num_pairs", "3", "--write"])
    record = json.loads((checkpoint / "calibration.json").read_text())
    assert record["keypoints"] == "disjoint" and record["pairs"] == 3
    assert record["true_cost"]["max"] < record["local_valid_thres"] <= record["true_cost"]["max"] + 0.1 + 1e-9
    assert "threshold" in capsys.readouterr().out


def test_boxes_without_a_front_turn_off_the_bearing_and_relation_terms(scene_root, monkeypatch):
    """`--dataset arkit` calibrates with the match config of the ARKit commands (no bearing or
    relation term: its boxes have no front), the synthetic and 3D-FRONT trees with the default."""
    from types import SimpleNamespace

    from scene_analogy.field.checkpoint import load_field
    from scene_analogy.match.inputs import MatchConfig

    script = _script()
    seen = []
    real = script.find_analogy
    monkeypatch.setattr(script, "find_analogy", lambda *a: seen.append(a[-1]) or real(*a))
    field = load_field(REPO / "pretrained" / "synthetic_default")
    for canonical in (True, False):
        spec = SimpleNamespace(classes=None, canonical_boxes=canonical)
        true, _ = script.best_costs(field, str(scene_root), 2, "disjoint", spec=spec)
        assert np.isfinite(true).all()
    weights = [(cfg.bearing_weight, cfg.relation_weight) for cfg in seen]
    defaults = (MatchConfig.bearing_weight, MatchConfig.relation_weight)
    assert defaults != (0.0, 0.0)
    assert weights == [defaults] * 4 + [(0.0, 0.0)] * 4
