"""Own-data inputs that must be refused with one line naming the file and the real problem (exit 2,
before the matcher), not misreported or silently misread: a text file named .npz, grey-coded PLYs
with float colours in [0, 1], CSV point lists with uneven rows, placement poses whose scale is not
positive."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from scene_analogy.files.errors import DataError
from scene_analogy.files.ply import read_ply_vertices, write_ply
from scene_analogy.user_scenes.formats import decode_grey, grey_values, load_scene
from scene_analogy.user_scenes.transfer import read_placement, read_points
from tests.own_cli import no_matching, REF, refused, SAMPLE, SCENES  # noqa: F401 (no_matching: a fixture)







def _problem(call, path) -> str:
    with pytest.raises(DataError) as info:
        call()
    assert info.value.path == str(path) and "\n" not in info.value.problem, info.value
    return info.value.problem


# 1. A file that is not a zip archive is not an NPZ; only real pickled data is called pickled.

def test_text_file_named_npz_is_not_called_a_pickle(tmp_path, capsys, no_matching):
    (tmp_path / "x.npz").write_text("x,y,z\n1,2,3\n")
    err = refused(["--tgt", str(tmp_path / "x.npz")] + REF + ["--out", str(tmp_path / "out")], capsys)
    assert str(tmp_path / "x.npz") in err and "not an NPZ file (not a zip archive)" in err, err
    assert "pickle" not in err, err


def test_npz_lookalikes_say_what_the_file_is(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    assert _problem(lambda: load_scene(tmp_path / "empty.npz"), tmp_path / "empty.npz") == "the file is empty"
    with open(tmp_path / "array.npz", "wb") as f:  # np.save to a file object keeps the name
        np.save(f, np.zeros((4, 3)))
    assert "single NPY array, not an NPZ" in _problem(lambda: load_scene(tmp_path / "array.npz"), tmp_path / "array.npz")
    (tmp_path / "obj.npz").write_bytes(pickle.dumps({"points": [1, 2, 3]}))
    assert "pickle file, not an NPZ" in _problem(lambda: load_scene(tmp_path / "obj.npz"), tmp_path / "obj.npz")


def test_pickled_arrays_in_an_npz_keep_the_pickle_message(tmp_path):
    np.savez(tmp_path / "p.npz", points=np.array([{"a": 1}, None], dtype=object), instance=np.zeros(2))
    problem = _problem(lambda: load_scene(tmp_path / "p.npz"), tmp_path / "p.npz")
    assert problem.startswith("holds a pickled object"), problem


# 2. Grey coding is defined on 8-bit colours: floats in [0, 1] must not decode as ids {0, 1}.

def _grey_ply(path, dtype, scale: float) -> None:
    props = read_ply_vertices(SAMPLE / "target.ply")
    grey = (grey_values(props["instance"].astype(np.int64), 10) / scale).astype(dtype)
    write_ply(path, {"x": props["x"], "y": props["y"], "z": props["z"], "red": grey, "green": grey, "blue": grey})


def test_float_grey_colours_in_unit_range_are_refused(tmp_path, capsys, no_matching):
    _grey_ply(tmp_path / "g.ply", np.float32, 255.0)
    err = refused(["--tgt", str(tmp_path / "g.ply")] + REF + ["--out", str(tmp_path / "out")], capsys)
    assert str(tmp_path / "g.ply") in err and "floats in [0, 1]" in err and "uchar" in err, err
    assert "RoI instance id" not in err, err


def test_grey_colours_as_uchar_or_whole_floats_still_decode(tmp_path):
    ids = read_ply_vertices(SAMPLE / "target.ply")["instance"].astype(np.int64)
    for dtype in (np.uint8, np.float32):
        _grey_ply(tmp_path / "g.ply", dtype, 1.0)
        np.testing.assert_array_equal(load_scene(tmp_path / "g.ply").instance, ids)


def test_fractional_grey_values_are_not_truncated():
    with pytest.raises(DataError, match="not whole numbers"):
        decode_grey("g.ply", np.array([0.0, 127.6, 255.0]))


# 3. Headerless CSV rows of another width than row 1 were read by row 1's layout (a yaw ignored).

def test_csv_rows_of_another_width_are_refused(tmp_path, capsys, no_matching):
    (tmp_path / "uneven.csv").write_text("1,2,3\n4,5,6,0.5\n")
    err = refused(SCENES + ["--out", str(tmp_path / "out"), "--transfer", str(tmp_path / "uneven.csv")], capsys)
    assert str(tmp_path / "uneven.csv") in err and "row 2 has 4 values" in err and "first row has 3" in err, err


def test_csv_row_numbers_are_file_lines_and_headers_count(tmp_path):
    (tmp_path / "h.csv").write_text("x,y,z,yaw\n1,2,3,0.1\n\n4,5,6\n")
    problem = _problem(lambda: read_points(tmp_path / "h.csv"), tmp_path / "h.csv")
    assert problem.startswith("row 4 has 3 values but the header has 4"), problem
    (tmp_path / "ok.csv").write_text("1,2,3,0.1\n\n4,5,6,0.5\n")
    np.testing.assert_array_equal(read_points(tmp_path / "ok.csv").yaw, [0.1, 0.5])


# 4. A placement scale of 0 collapses the mesh, a negative one mirrors it: refuse before matching.

@pytest.mark.parametrize("scale", [0, -1, [1, 0, 1], [1, -2, 1], [1, 1], "2", True, 1e400])
def test_non_positive_or_non_numeric_scales_are_refused(tmp_path, scale):
    pose = dict(json.loads((SAMPLE / "box_pose.json").read_text()), scale=scale)
    (tmp_path / "pose.json").write_text(json.dumps(pose))  # 1e400 is written as Infinity
    problem = _problem(lambda: read_placement(SAMPLE / "box.obj", tmp_path / "pose.json", "y"), tmp_path / "pose.json")
    assert "'scale' must be a positive number or 3 positive numbers" in problem, problem


def test_zero_scale_is_refused_on_the_command_line(tmp_path, capsys, no_matching):
    (tmp_path / "pose.json").write_text(json.dumps(dict(json.loads((SAMPLE / "box_pose.json").read_text()), scale=0)))
    err = refused(SCENES + ["--out", str(tmp_path / "out"), "--place", str(SAMPLE / "box.obj"),
                             "--pose", str(tmp_path / "pose.json")], capsys)
    assert str(tmp_path / "pose.json") in err and "'scale'" in err, err


@pytest.mark.parametrize("scale", [2, [2], [1, 2, 0.5]])
def test_positive_scales_are_kept(tmp_path, scale):
    (tmp_path / "pose.json").write_text(json.dumps(dict(json.loads((SAMPLE / "box_pose.json").read_text()), scale=scale)))
    placement = read_placement(SAMPLE / "box.obj", tmp_path / "pose.json", "y")
    np.testing.assert_array_equal(placement.scale, np.broadcast_to(np.asarray(scale, dtype=float), (3,)))
