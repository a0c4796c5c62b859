"""Transfer inputs that must be refused (one line, exit 2, before the matcher where the problem is
knowable then) or written without loss: integer NPY lists, clashing output names, JSON point lists
whose items disagree, --use_map beyond the maps found."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from scene_analogy.analogy import main
from scene_analogy.files.errors import DataError
from scene_analogy.match.analogy_map import AnalogyMap
from scene_analogy.ops.geometry import yaw_matrix
from scene_analogy.user_scenes.transfer import read_points, transfer_points, write_points
from tests.own_cli import no_matching, refused, SCENES  # noqa: F401 (no_matching: a fixture)



def _map() -> AnalogyMap:
    return AnalogyMap(1.3 * yaw_matrix(0.7), np.array([1.0, 0.2, -3.0]))






# 1. Integer NPY input: the mapped points are not whole numbers, so they must not be truncated.

def test_integer_npy_is_written_as_float64(tmp_path):
    np.save(tmp_path / "traj_int.npy", np.array([[-2, 0, -3], [-2, 1, -2]]))
    moved = transfer_points(_map(), read_points(tmp_path / "traj_int.npy"), "y")
    write_points(tmp_path / "out.npy", moved)
    out = np.load(tmp_path / "out.npy")
    assert out.dtype == np.float64 and out.shape == (2, 3)
    np.testing.assert_array_equal(out, _map().apply(np.array([[-2.0, 0, -3], [-2, 1, -2]])))


# 2. Two --transfer files with one base name would both be written to transferred_<name>.

def test_two_transfer_files_with_one_name_are_refused_before_matching(tmp_path, capsys, no_matching):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "traj.csv").write_text("x,y,z\n-2,0,-3\n-2,1,-2\n")
    first, second = tmp_path / "a" / "traj.csv", tmp_path / "b" / "traj.csv"
    err = refused(SCENES + ["--out", str(tmp_path / "out"), "--transfer", str(first), str(second)], capsys)
    assert str(first) in err and str(second) in err and "transferred_traj.csv" in err
    assert not (tmp_path / "out").exists()
    err = refused(SCENES + ["--out", str(tmp_path / "out"), "--transfer", str(first), str(first)], capsys)
    assert str(first) in err and "twice" in err


# 3. JSON point lists: every item must have the first item's form (the writer relies on it).

@pytest.mark.parametrize("items, point, problem", [
    ([{"position": [-2, 0, -3]}, {"position": [-2, 1, -2], "yaw": 0.3}], 2, "yaw"),
    ([{"position": [-2, 0, -3], "yaw": 0.1}, {"position": [-2, 1, -2]}], 2, "yaw"),
    ([{"position": [-2, 0], "yaw": 0.3}, {"position": [-2, 1], "yaw": 0.2}], 1, "2 values"),
    ([{"position": [-2, 0, -3, 1]}], 1, "4 values"),
    ([{"position": [0, 0, 0], "quaternion": [0, 0, 0, 1]}, {"position": [1, 0, 0], "yaw": 0.2}], 2, "quaternion"),
    ([{"position": [0, 0, 0], "yaw": 0.1, "quaternion": [0, 0, 0, 1]}], 1, "both"),
    ([{"position": [0, 0, 0], "quaternion": [0, 0, 1]}], 1, "quaternion"),
    ([{"position": [0, 0, 0], "yaw": "0.1"}], 1, "yaw"),
    ([{"position": ["0", 0, 0]}], 1, "position"),
    ([{"position": [0, 0, 0]}, [1, 2, 3]], 2, "object"),
    ([[0, 0, 0], [1, 2, 3, 0.5]], 2, "4 values"),
])
def test_json_items_that_disagree_name_the_file_and_the_item(tmp_path, items, point, problem):
    (tmp_path / "p.json").write_text(json.dumps(items))
    with pytest.raises(DataError) as info:
        read_points(tmp_path / "p.json")
    assert re.match(rf"point {point}\b.*{problem}", info.value.problem), info.value.problem
    assert info.value.path == str(tmp_path / "p.json") and "\n" not in info.value.problem


def test_mixed_json_items_are_refused_before_matching(tmp_path, capsys, no_matching):
    (tmp_path / "mixed.json").write_text(json.dumps([{"position": [-2, 0, -3]}, {"position": [-2, 1, -2], "yaw": 0.3}]))
    err = refused(SCENES + ["--out", str(tmp_path / "out"), "--transfer", str(tmp_path / "mixed.json")], capsys)
    assert str(tmp_path / "mixed.json") in err and "point 2" in err


def test_consistent_json_objects_still_round_trip(tmp_path):
    items = [{"id": 1, "position": [0, 0, 0], "yaw": 0.1}, {"position": [1.5, 0, 2], "yaw": 0, "id": 2}]
    (tmp_path / "p.json").write_text(json.dumps(items))
    write_points(tmp_path / "o.json", transfer_points(_map(), read_points(tmp_path / "p.json"), "y"))
    back = json.loads((tmp_path / "o.json").read_text())
    assert [list(b) for b in back] == [list(i) for i in items]
    np.testing.assert_allclose([b["yaw"] for b in back], [0.1 + 0.7, 0.7])


# 4. --use_map beyond the maps: an input error (exit 2) that says how many maps there are.

def test_use_map_beyond_topk_is_refused_before_matching(tmp_path, capsys, no_matching):
    np.save(tmp_path / "p.npy", np.zeros((2, 3)))
    err = refused(SCENES + ["--out", str(tmp_path / "out"), "--transfer", str(tmp_path / "p.npy"),
                             "--topk", "2", "--use_map", "3"], capsys)
    assert "--use_map 3" in err and "--topk 2" in err


def test_use_map_beyond_the_maps_found_exits_2_and_counts_them(tmp_path, capsys):
    np.save(tmp_path / "p.npy", np.array([[-2.0, 0.5, -2.6]]))
    with pytest.raises(SystemExit) as info:
        main(SCENES + ["--out", str(tmp_path / "out"), "--transfer", str(tmp_path / "p.npy"),
                       "--topk", "3", "--use_map", "3"])
    out = capsys.readouterr()
    found = int(re.search(r"(\d+) map\(s\)", out.out).group(1))
    assert found < 3, "the sample pair now yields 3 maps: the test needs a larger --use_map"
    assert info.value.code == 2 and out.err.count("\n") == 1
    assert "--use_map 3" in out.err and f"{found} map" in out.err
    assert (tmp_path / "out" / "maps.json").is_file() and not (tmp_path / "out" / "transferred_p.npy").exists()
