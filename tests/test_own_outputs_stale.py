"""A reused `--out` folder of `python -m scene_analogy.analogy` keeps no map of an earlier run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scene_analogy.analogy import main
from scene_analogy.fixtures.user_scene_pairs import symmetric_pair, write_scene
from scene_analogy.user_scenes.formats import write_ply_scene


def _run(args):
    try:
        main(args)
    except SystemExit as stop:  # "no analogy" ends with exit code 1 when something was to be carried
        assert stop.code in (0, None, 1)


def test_maps_of_an_earlier_run_are_removed(tmp_path, capsys):
    pair = symmetric_pair(points_per_object=200)  # two equally good analogies: two maps with --topk 3
    target, reference = (write_scene(o, tmp_path / f"{n}.ply", "ply") for n, o in (("t", pair.target),
                                                                                   ("r", pair.reference)))
    rng = np.random.default_rng(3)
    points = np.concatenate([rng.random((200, 3)) + [2 * k, 0, 0] for k in range(3)])
    write_ply_scene(tmp_path / "beds.ply", points, np.repeat([0, 1, 2], 200), np.repeat([0, 0, 3], 200))
    out = tmp_path / "out"
    common = ["--tgt", str(target), "--roi_ids", *map(str, pair.roi_ids), "--out", str(out)]
    _run([*common, "--ref", str(reference), "--topk", "3"])
    assert (out / "map.npz").is_file() and (out / "maps" / "map_2.npz").is_file()
    _run([*common, "--ref", str(reference), "--topk", "1"])
    assert (out / "map.npz").is_file() and not (out / "maps" / "map_2.npz").exists()
    (out / "maps" / "map_notes.npz").write_bytes(b"a user's file")  # not of this layout: stays
    _run([*common, "--ref", str(tmp_path / "beds.ply")])  # no chair, no table: no analogy
    summary = json.loads((out / "maps.json").read_text())
    assert summary["analogy"] is False and summary["maps"] == []
    assert not (out / "map.npz").exists() and not (out / "maps" / "map_1.npz").exists()
    assert (out / "maps" / "map_notes.npz").is_file()
    assert "no analogy" in capsys.readouterr().out
