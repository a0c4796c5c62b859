import numpy as np
import pytest

from scene_analogy.files.errors import DataError
from scene_analogy.structures.classes import THREED_FRONT
from scene_analogy.structures.scene import (
    PREFIXES,
    EvalPair,
    FloorPlan,
    read_eval_pair,
    read_triplet,
    scene_dirs,
    write_eval_pair,
    write_triplet,
)
from tests.helpers import random_scene, stub_pool


def _triplet(seed=0):
    rng = np.random.default_rng(seed)
    pool = stub_pool()
    return {p: random_scene(pool, 5 + i, rng) for i, p in enumerate(PREFIXES)}


def test_triplet_round_trip_is_exact(tmp_path):
    triplet = _triplet()
    path = tmp_path / "train_scene_0" / "scene.npz"
    write_triplet(path, triplet)
    back = read_triplet(path, classes=THREED_FRONT)
    for prefix, scene in triplet.items():
        want, got = scene.to_arrays(prefix), back[prefix].to_arrays(prefix)
        assert want.keys() == got.keys()
        for key in want:
            assert got[key].dtype == want[key].dtype, key
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    with np.load(path, allow_pickle=False) as raw:  # the exact key set of DESIGN §8.3
        suffixes = {"fp_points", "fp_lines", "bboxes", "bbox_centroids", "trans", "rot", "obj_scene_scales",
                    "obj_id", "obj_classes", "obj_classes_str"}
        assert set(raw.files) == {f"{p}_{s}" for p in PREFIXES for s in suffixes}
        assert raw["pos_fp_points"].shape[1] == 3 and raw["pos_fp_lines"].shape == (12, 2)
        assert raw["pos_obj_id"].dtype.kind == "U"


def test_floor_plan_layout_and_loops():
    square = np.array([[0, 0], [2, 0], [2, 1], [0, 1]], float)
    tri = np.array([[5, 5], [6, 5], [5, 6]], float)
    plan = FloorPlan.from_polygons([square, tri], 0.0, 3.0)
    assert plan.points.shape == (14, 3) and plan.lines.shape == (21, 2)
    np.testing.assert_array_equal(plan.points[:7, 1], 0.0)
    np.testing.assert_array_equal(plan.points[7:, 1], 3.0)
    np.testing.assert_array_equal(plan.lines[14:], np.stack([np.arange(7), np.arange(7) + 7], 1))
    loops = plan.polygons()
    assert len(loops) == 2  # two loops, never joined into one broken polygon
    np.testing.assert_array_equal(loops[0], square)
    np.testing.assert_array_equal(loops[1], tri)


def _corrupt(tmp_path, key, value):
    triplet = _triplet()
    arrays = {}
    for p, s in triplet.items():
        arrays.update(s.to_arrays(p))
    if value is None:
        del arrays[key]
    else:
        arrays[key] = value(arrays[key])
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("key, change, message", [
    ("neg_rot", None, "missing key 'neg_rot'"),
    ("pos_trans", lambda a: a[:, :2], "key 'pos_trans' has shape"),
    ("pair_pos_bboxes", lambda a: np.where(np.arange(a.size).reshape(a.shape) == 4, np.nan, a), "NaN"),
    ("pos_obj_classes", lambda a: a + 20, "unknown class id"),
    ("pos_obj_classes", lambda a: a.astype(str), "dtype"),
    ("neg_fp_lines", lambda a: a + 100, "indexes corners"),
])
def test_bad_files_name_file_and_key(tmp_path, key, change, message):
    path = _corrupt(tmp_path, key, change)
    with pytest.raises(DataError) as err:
        read_triplet(path, classes=THREED_FRONT)
    assert str(path) in str(err.value) and message in str(err.value)
    assert key in str(err.value)


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_triplet(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="junk.npz"):
        read_triplet(tmp_path / "junk.npz")


def test_eval_pair_round_trip_and_pickled_idx_map(tmp_path):
    scene = _triplet()["pos"]
    pair = EvalPair(scene, np.array([0, -1, 2, 1, -1]), np.eye(3))
    write_eval_pair(tmp_path / "a.npz", pair)
    back = read_eval_pair(tmp_path / "a.npz")
    np.testing.assert_array_equal(back.idx_map, pair.idx_map)
    # the authors' files keep the index map as a pickled dict: refused unless asked for
    arrays = dict(np.load(tmp_path / "a.npz", allow_pickle=False))
    arrays["pair_pos_idx_map"] = np.array({0: 0, 2: 2, 3: 1}, dtype=object)
    np.savez(tmp_path / "b.npz", **arrays)
    with pytest.raises(DataError, match="--allow_pickle"):
        read_eval_pair(tmp_path / "b.npz")
    np.testing.assert_array_equal(read_eval_pair(tmp_path / "b.npz", allow_pickle=True).idx_map, [0, -1, 2, 1, -1])


def test_subset_transform_and_dirs(tmp_path):
    scene = _triplet()["pos"]
    sub = scene.subset([3, 1])
    assert len(scene.subset([])) == 0 and len(scene.subset(np.zeros(len(scene), bool))) == 0  # [] was an IndexError
    assert list(sub.model_ids) == [scene.model_ids[3], scene.model_ids[1]]
    mirror = np.diag([-1.0, 1, 1])
    moved = scene.transformed(mirror, np.array([1.0, 0, 2.0]))
    canon = np.random.default_rng(0).random((len(scene), 4, 3))
    np.testing.assert_allclose(moved.world_points(canon), scene.world_points(canon) @ mirror.T + [1, 0, 2])
    for name in ["test_scene_10", "test_scene_2", "train_scene_0", "test_scene_x"]:
        (tmp_path / name).mkdir()
    assert [d.name for d in scene_dirs(tmp_path)] == ["train_scene_0", "test_scene_2", "test_scene_10"]


def test_convert_scenes_makes_the_authors_files_plain(tmp_path, capsys):
    from scene_analogy import convert_scenes

    pool = stub_pool()
    scene = random_scene(pool, 5, np.random.default_rng(0))
    path = tmp_path / "aug" / "test_scene_0" / "scene.npz"
    path.parent.mkdir(parents=True)
    write_eval_pair(path, EvalPair(scene, np.array([0, -1, 2, 1, -1]), np.eye(3)))
    arrays = dict(np.load(path, allow_pickle=False))
    arrays["pair_pos_idx_map"] = np.array({0: 0, 2: 2, 3: 1}, dtype=object)
    arrays["pair_pos_obj_id"] = arrays["pair_pos_obj_id"].astype(object)
    np.savez(path, **arrays)
    with pytest.raises(DataError, match="convert_scenes"):
        read_eval_pair(path)
    with pytest.raises(SystemExit):
        convert_scenes.main([str(tmp_path / "aug")])  # refused without --allow_pickle
    convert_scenes.main([str(tmp_path / "aug"), "--allow_pickle"])
    assert "converted 1 scene files" in capsys.readouterr().out
    pair = read_eval_pair(path)  # no pickle needed any more
    np.testing.assert_array_equal(pair.idx_map, [0, -1, 2, 1, -1])
    np.testing.assert_array_equal(pair.scene.model_ids, scene.model_ids)
    convert_scenes.main([str(tmp_path / "aug"), "--allow_pickle"])
    assert "0 scene files; 1 were already plain" in capsys.readouterr().out
