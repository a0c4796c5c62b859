"""threed_front readers on hand-made and fixture files, and what bad input does (counted warnings, or
one error line; never a traceback)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scene_analogy.files.errors import DataError
from scene_analogy.files.skips import SkipLog
from scene_analogy.fixtures.threed_front import write_tree
from scene_analogy.ops.geometry import polygon_area_xz, yaw_of
from scene_analogy.structures.scene import scene_dirs
from threed_front import extract_point_samples, main_scene_gen
from threed_front.houses import house_rooms
from threed_front.models import build_pool, find_model_root, read_model_info

REPO = Path(__file__).resolve().parents[1]
SAMPLE = ["--save_num_samples", "50", "--mesh_num_samples", "200", "--quiet"]


@pytest.fixture(scope="module")
def small_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tdf_small")
    write_tree(root, num_houses=2, seed=1, progress=False)
    return root


@pytest.fixture
def tree(small_tree, tmp_path, monkeypatch):
    """A private copy of the small tree, as the working folder."""
    shutil.copytree(small_tree / "data", tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _pool(root: Path, skips=None):
    skips = skips if skips is not None else SkipLog()
    obj_root = root / "data/3D-FUTURE-model"
    return build_pool(read_model_info(obj_root / "model_info.json", skips), obj_root, None, skips, 0.9, 0, progress=False)


def test_model_folder_may_be_named_3d_front_model(tree, capsys):
    assert find_model_root(None) == Path("./data/3D-FUTURE-model")
    (tree / "data/3D-FUTURE-model").rename(tree / "data/3D-FRONT-model")
    assert find_model_root(None) == Path("./data/3D-FRONT-model")
    assert "using the model folder ./data/3D-FRONT-model" in capsys.readouterr().out
    (tree / "data/3D-FRONT-model").rename(tree / "data/elsewhere")
    with pytest.raises(DataError, match="3D-FUTURE-model and ./data/3D-FRONT-model"):
        find_model_root(None)


def test_hand_written_room_poses_floor_and_height(small_tree, tmp_path):
    pool = _pool(small_tree)
    bed, chair = pool.select(class_id=0)[0], pool.select(class_id=4)[0]
    yaw = np.deg2rad(30.0)
    square = lambda x0, x1: [x0, 0, 0, x1, 0, 0, x1, 0, 3, x0, 0, 3]  # noqa: E731 (xz rectangle at y = 0)
    house = {
        "furniture": [{"uid": "f1", "jid": bed.model_id, "valid": True}, {"uid": "f2", "jid": chair.model_id},
                      {"uid": "f3", "jid": chair.model_id, "valid": False}],
        "mesh": [  # one floor as two meshes sharing the edge x = 2, the second one double-sided
            {"uid": "m1", "type": "Floor", "xyz": square(0, 2), "faces": [0, 2, 1, 0, 3, 2]},
            {"uid": "m2", "type": "Floor", "xyz": square(2, 4), "faces": [0, 2, 1, 0, 3, 2, 0, 1, 2, 0, 2, 3]},
            {"uid": "m3", "type": "WallInner", "xyz": [0, 0, 0, 4, 0, 0, 4, 2.7, 0], "faces": [0, 1, 2]},
            {"uid": "m4", "type": "Ceiling", "xyz": [0, 9, 0, 4, 9, 0, 4, 9, 3], "faces": [0, 1, 2]}],
        "scene": {"room": [{"instanceid": "Bedroom-7", "children": [
            {"ref": "f1", "pos": [1, 0, 1], "rot": [0, np.sin(yaw / 2), 0, np.cos(yaw / 2)], "scale": [1.5, 1, 0.5]},
            {"ref": "f2", "pos": [3, 0, 2], "rot": [0, 0, 0, 1], "scale": [1, 1, 1]},
            {"ref": "f3", "pos": [3, 0, 1], "rot": [0, 0, 0, 1], "scale": [1, 1, 1]},
            {"ref": "m1"}, {"ref": "m2"}, {"ref": "m3"}, {"ref": "m4"}]}]},
    }
    path = tmp_path / "abc.json"
    path.write_text(json.dumps(house))
    skips = SkipLog()
    (name, scene), = house_rooms(path, pool, skips)
    assert name == "abc_Bedroom-7" and list(scene.model_ids) == [bed.model_id, chair.model_id]
    assert skips.lines() == [f"warning: skipped 1 furniture pieces (marked invalid), e.g. {path} room 'Bedroom-7'"]
    np.testing.assert_allclose(yaw_of(scene.rots), [yaw, 0.0], atol=1e-12)
    np.testing.assert_allclose(scene.trans, [[1, 0, 1], [3, 0, 2]])
    np.testing.assert_allclose(scene.bbox_sizes[0], bed.size * [1.5, 1, 0.5])
    np.testing.assert_allclose(scene.bbox_centroids[0], scene.rots[0] @ (bed.centre * [1.5, 1, 0.5]) + [1, 0, 1])
    loops = scene.floor.polygons()
    assert len(loops) == 1 and len(loops[0]) == 4 and abs(polygon_area_xz(loops[0])) == pytest.approx(12.0)
    assert scene.floor.floor_y == 0.0 and scene.floor.ceiling_y == pytest.approx(2.7)


def test_fixture_floors_keep_holes_and_patches_as_loops(small_tree):
    skips = SkipLog()
    pool = _pool(small_tree, skips)
    rooms = [r for p in sorted((small_tree / "data/3D-FRONT").glob("*.json")) for r in house_rooms(p, pool, skips)]
    assert len(rooms) == 5  # 2 + 3 furnished rooms; the hallway is skipped
    assert skips.lines() == [l for l in skips.lines() if "empty: no usable furniture" in l] and skips.count("rooms") == 1
    loops = {name.rsplit("-", 1)[1]: len(scene.floor.polygons()) for name, scene in rooms}
    # room 1: a hole; room 11: two meshes that make one floor, plus a disjoint patch; 0 and 12: plain
    assert loops == {"0": 1, "1": 2, "10": 2, "11": 2, "12": 1}
    assert all(len(scene) >= 4 for _, scene in rooms)


def test_bad_input_is_skipped_with_one_counted_line_per_kind(tree, capsys):
    houses = sorted((tree / "data/3D-FRONT").glob("*.json"))
    (tree / "data/3D-FRONT/broken.json").write_text("{not json")
    (tree / "data/3D-FRONT/also_broken.json").write_text('{"furniture": []}')
    house = json.loads(houses[1].read_text())
    models = [c["jid"] for c in house["furniture"]]
    shutil.rmtree(tree / "data/3D-FUTURE-model" / models[0])  # a missing model folder
    (tree / "data/3D-FUTURE-model" / models[1] / "raw_model.obj").write_text("v 0 0 0\nf 1 2 3\n")  # unreadable
    room = house["scene"]["room"][0]
    child = next(c for c in room["children"] if c["ref"].endswith("/model"))
    child["scale"] = [1.0, 0.0, 1.0]  # a scale outside [1e-5, 5]: the whole room goes
    houses[1].write_text(json.dumps(house))
    extract_point_samples.main(SAMPLE)
    err = capsys.readouterr().err
    assert "warning: skipped 1 models (mesh failed to load)" in err and "Traceback" not in err
    main_scene_gen.main(["--save_root", "./scenes", "--quiet"])
    lines = [l for l in capsys.readouterr().err.splitlines() if l.startswith("warning:")]
    kinds = [l.split(" (")[0] + " (" + l.split(" (")[1].split(")")[0] for l in lines]
    assert len(kinds) == len(set(kinds))  # one line per kind of problem
    text = "\n".join(lines)
    assert "skipped 2 houses (malformed house JSON)" in text
    assert "skipped 1 models (model folder or raw_model.obj missing)" in text
    assert "skipped 1 models (mesh failed to load)" in text
    assert "rooms (a furniture scale outside [1e-05, 5])" in text
    assert "skipped 1 rooms (empty: no usable furniture)" in text
    assert len(scene_dirs("./scenes")) >= 2


def test_unusable_input_ends_in_one_error_line(tree):
    (tree / "empty").mkdir()
    cmd = [sys.executable, "-m", "threed_front.main_scene_gen", "--scene_root", "./empty", "--save_root", "./s", "--quiet"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tree,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == "error: empty: no house JSON files"
    (tree / "data/3D-FUTURE-model/model_info.json").write_text("[{]")
    with pytest.raises(SystemExit) as stop:
        main_scene_gen.main(["--save_root", "./s", "--quiet"])
    assert stop.value.code == 2


def test_model_info_classes_and_unknown_categories(tmp_path):
    rows = [{"model_id": "a", "super-category": "Cabinet/Shelf/Desk", "category": "Wardrobe"},
            {"model_id": "b", "super-category": "Pier/Stool", "category": None},
            {"model_id": "c", "super-category": "Kitchen", "category": "Sink"},
            {"super-category": "Bed"}]
    (tmp_path / "model_info.json").write_text(json.dumps(rows))
    skips = SkipLog()
    info = read_model_info(tmp_path / "model_info.json", skips)
    assert info == {"a": (7, "wardrobe"), "b": (1, "")}
    assert skips.count("models") == 1 and skips.count("model_info entries") == 1
    (tmp_path / "model_info.json").write_text(json.dumps(rows[2:3]))
    with pytest.raises(DataError, match="no model with a known super-category"):
        read_model_info(tmp_path / "model_info.json", SkipLog())
