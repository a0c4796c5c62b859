"""Messages of `python -m scene_analogy.analogy` that name the real problem: a flag against the
checkpoint, an --out that is a file, no candidate map at all."""

from __future__ import annotations

import numpy as np
import pytest

from scene_analogy.analogy import main
from scene_analogy.field.checkpoint import PRETRAINED
from scene_analogy.user_scenes.formats import write_ply_scene


@pytest.fixture
def scenes(tmp_path):
    rng = np.random.default_rng(3)
    points = np.concatenate([rng.random((200, 3)) + [2 * k, 0, 0] for k in range(3)])
    instance = np.repeat([1, 2, 3], 200)
    write_ply_scene(tmp_path / "t.ply", points, instance, np.repeat([4, 4, 6], 200))  # chairs and a table
    write_ply_scene(tmp_path / "r.ply", points, instance, np.repeat([0, 0, 3], 200))  # beds and a sofa
    return tmp_path / "t.ply", tmp_path / "r.ply"


def _fails(argv, capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1, err
    return err


def test_ignore_labels_against_a_labelled_checkpoint_names_the_flag(scenes, tmp_path, capsys):
    target, _ = scenes
    err = _fails(["--tgt", str(target), "--ref", str(target), "--roi_ids", "1", "--out", str(tmp_path / "o"),
                  "--ignore_labels", "--checkpoint", str(PRETRAINED / "synthetic_default")], capsys)
    assert "--ignore_labels" in err and "synthetic_default" in err and "no class labels" not in err


def test_out_that_is_a_file_is_refused_first(scenes, tmp_path, capsys):
    target, _ = scenes
    (tmp_path / "afile").write_text("x")
    err = _fails(["--tgt", str(target), "--ref", str(target), "--roi_ids", "1", "--out", str(tmp_path / "afile")],
                 capsys)
    assert "afile: is a file; --out names the folder" in err


def test_no_candidate_is_not_called_a_cost_above_the_threshold(scenes, tmp_path, capsys):
    target, reference = scenes
    main(["--tgt", str(target), "--ref", str(reference), "--roi_ids", "1", "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert "0 map(s)" in out and "no analogy: no candidate map" in out and "above the threshold" not in out
