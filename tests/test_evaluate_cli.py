"""`python -m scene_analogy.evaluate`: several methods on the same pairs, one report; bad input in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scene_analogy import evaluate
from scene_analogy.evaluation.metrics import MAP_ACC_THRES
from scene_analogy.synthetic.dataset import ensure_eval_pairs

METHODS = ["scene_graph", "registration", "ours_coarse"]


@pytest.fixture(scope="module")
def scene_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "synthetic"
    ensure_eval_pairs(root, 2, 0)
    return root


def test_every_method_on_the_same_pairs(scene_root, tmp_path, capsys):
    out = tmp_path / "out"
    evaluate.main(["--scene_root", str(scene_root), "--methods", ",".join(METHODS), "--num_pairs", "2",
                   "--out", str(out), "--num_pictures", "1"])
    results = json.loads((out / "results.json").read_text())
    assert list(results) == METHODS
    for name in METHODS:
        metrics = results[name]
        assert metrics["num_pairs"] == 2
        assert all(f"pcp@{t:g}" in metrics for t in MAP_ACC_THRES) and "chamfer_acc@0.15" in metrics
        assert 0.0 <= metrics["pcp@0.25"] <= 1.0
        assert (out / name / "pair_0.png").stat().st_size > 20_000
        assert json.loads((out / name / "metrics.json").read_text()) == metrics
        pairs = json.loads((out / name / "pairs.json").read_text())
        assert len(pairs) == 2 and all(isinstance(p["objects_correct"], bool) for p in pairs)
        assert np.mean([p["pcp@0.25"] for p in pairs]) == pytest.approx(metrics["pcp@0.25"], abs=0.2)
        errors = np.load(out / name / "errors.npz", allow_pickle=False)  # the curves' input agrees with the table
        assert (errors["roi"] < 0.25).mean() == pytest.approx(metrics["pcp@0.25"])
        assert (errors["free"] < 0.25).mean() == pytest.approx(metrics["free_pcp@0.25"])
        assert metrics["protocol"] == {"keypoints": "disjoint", "pairs": "augment", "global_yaw": "grid"}
    table = (out / "results.md").read_text()
    assert all(f"| {name} |" in table for name in METHODS) and "pcp@0.25" in table
    assert "results.md" in capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--methods", "ours,magic"], "magic"),
    (["--methods", "ours_paper"], "paper_checkpoint"),
    (["--num_pairs", "0"], "num_pairs"),
])
def test_bad_input_is_one_line(scene_root, tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as stop:
        evaluate.main(["--scene_root", str(scene_root), "--out", str(tmp_path / "o"), *flags])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err and "Traceback" not in err
    assert not (tmp_path / "o" / "results.json").exists()


def test_missing_pairs_name_the_folder(tmp_path, capsys):
    with pytest.raises(SystemExit):
        evaluate.main(["--scene_root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert "nowhere" in err and err.count("\n") == 1
