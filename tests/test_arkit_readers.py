"""ARKit readers and asset generation on hand-made scans: the y-up conversion (a proper rotation that
keeps box handedness), crops, heights from the scan, splits from folder names, and bad input
(counted skips, or one error line; never a traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from arkit import extract_point_samples, main_asset_gen
from arkit.scans import read_boxes
from scene_analogy.files.mesh import load_mesh
from scene_analogy.files.ply import write_ply
from scene_analogy.files.skips import SkipLog
from scene_analogy.fixtures.arkit import grid_walls
from scene_analogy.fixtures.threed_front import grid_floor
from scene_analogy.ops.geometry import Z_UP_TO_Y_UP, upright_yaw_boxes, yaw_matrix
from scene_analogy.structures.classes import ARKIT

SIGNS = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], dtype=np.float64)
FLOOR_Z, WALL_TOP = -1.3, 2.5  # the room's walls reach 2.5 m above its floor; the table is 0.8 m tall


def _z_rot(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _corners(centre, rot, size) -> np.ndarray:
    """The 8 corners of a box, in SIGNS order: world = local @ rot.T + centre."""
    return (SIGNS * np.asarray(size) / 2) @ np.asarray(rot).T + centre


def _handedness(corners: np.ndarray) -> float:
    """Sign of the triple product of the edges from corner (-,-,-) along the box's 1st, 2nd, 3rd axis."""
    o = corners[0]
    return float(np.sign(np.linalg.det(np.stack([corners[4] - o, corners[2] - o, corners[1] - o]))))


TABLE = {"centroid": [2.0, -1.5, FLOOR_Z + 0.4], "axesLengths": [1.0, 0.6, 0.8], "rot": _z_rot(np.pi / 6)}


def write_scan(root: Path, split: str, video_id: str, entries: list[dict] | None = None, faces: bool = True) -> Path:
    """A 4 x 3 m room (z up, floor at FLOOR_Z, walls WALL_TOP high) with a table; returns its folder."""
    outline = np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 3.0], [0.0, 3.0]])  # (x, z) of the y-up frame: y in [-3, 0] z-up
    parts = [grid_floor(outline, None, 0.1), grid_walls(outline, WALL_TOP)]
    parts = [(v @ Z_UP_TO_Y_UP + [0.0, 0.0, FLOOR_Z], f) for v, f in parts]  # y-up -> z-up
    box = trimesh.creation.box(extents=TABLE["axesLengths"])
    parts.append((np.asarray(box.vertices) @ TABLE["rot"].T + TABLE["centroid"], np.asarray(box.faces)))
    offsets = np.cumsum([0] + [len(v) for v, _ in parts[:-1]])
    vertices = np.concatenate([v for v, _ in parts])
    folder = root / split / video_id
    write_ply(folder / f"{video_id}_3dod_mesh.ply", {"x": vertices[:, 0], "y": vertices[:, 1], "z": vertices[:, 2],
              "red": np.full(len(vertices), 200, np.uint8), "green": np.zeros(len(vertices), np.uint8),
              "blue": np.zeros(len(vertices), np.uint8)},
              faces=np.concatenate([f + o for (_, f), o in zip(parts, offsets)]) if faces else None)
    if entries is None:
        entries = [{"uid": "t1", "label": "table", "segments": {"obbAligned": {
            "centroid": TABLE["centroid"], "axesLengths": TABLE["axesLengths"],
            "normalizedAxes": TABLE["rot"].T.reshape(-1).tolist()}}}]
    (folder / f"{video_id}_3dod_annotation.json").write_text(json.dumps({"data": entries}))
    return folder


def test_z_up_to_y_up_is_a_proper_rotation_and_keeps_box_handedness(tmp_path):
    assert np.isclose(np.linalg.det(Z_UP_TO_Y_UP), 1.0)
    np.testing.assert_allclose(Z_UP_TO_Y_UP @ Z_UP_TO_Y_UP.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(np.array([0.0, 0.0, 1.0]) @ Z_UP_TO_Y_UP.T, [0.0, 1.0, 0.0])  # z up -> y up
    rot = _z_rot(0.4)[:, [1, 2, 0]]  # the vertical axis listed second, as files may
    left = rot * [1.0, 1.0, -1.0]  # the same box described by a left-handed triple
    entries = [{"label": label, "segments": {"obbAligned": {"centroid": [1.0, 2.0, 0.3], "axesLengths": [0.5, 0.7, 0.9],
                                                             "normalizedAxes": r.T.reshape(-1).tolist()}}}
               for label, r in (("Chair", rot), ("table", left))]
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"data": entries}))
    boxes = read_boxes(path, SkipLog())
    assert [b.label for b in boxes] == ["chair", "table"]
    z_corners = _corners([1.0, 2.0, 0.3], rot, [0.5, 0.7, 0.9])
    for box in boxes:
        assert np.isclose(np.linalg.det(box.rot), 1.0)
        y_corners = _corners(box.centre, box.rot, box.size)
        np.testing.assert_allclose(y_corners, z_corners @ Z_UP_TO_Y_UP.T, atol=1e-9)  # the same corners, rotated
        assert _handedness(y_corners) == _handedness(z_corners) == 1.0
    swapped = z_corners[:, [0, 2, 1]]  # an axis swap instead of the rotation: a reflection
    assert _handedness(swapped) == -1.0


def test_upright_yaw_boxes_put_the_vertical_axis_second_and_keep_the_box():
    rng = np.random.default_rng(3)
    yaws = rng.uniform(-np.pi, np.pi, 6)
    base = yaw_matrix(yaws)  # columns: x, up, z
    orders = [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 1, 2], [1, 2, 0], [2, 0, 1]]
    flips = [[1, 1, 1], [1, 1, 1], [1, 1, 1], [-1, -1, 1], [1, -1, -1], [-1, 1, -1]]  # up may point down
    rots = np.stack([b[:, o] * f for b, o, f in zip(base, orders, flips)])
    sizes = np.stack([np.array([0.5, 0.8, 1.2])[o] for o in orders])
    assert np.allclose(np.linalg.det(rots), 1.0)
    yaw_rots, yaw_sizes = upright_yaw_boxes(rots, sizes)
    np.testing.assert_allclose(yaw_sizes, np.tile([0.5, 0.8, 1.2], (6, 1)))
    for r, s, yr, ys in zip(rots, sizes, yaw_rots, yaw_sizes):
        assert np.isclose(np.linalg.det(yr), 1.0) and np.allclose(yr[1], [0, 1, 0])
        a, b = _corners(np.zeros(3), r, s), _corners(np.zeros(3), yr, ys)
        assert np.linalg.norm(a[:, None] - b[None], axis=-1).min(1).max() < 1e-9  # the same box


def test_asset_gen_crops_boxes_and_takes_heights_from_the_scan(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_scan(tmp_path / "scans", "train", "100")
    main_asset_gen.main(["--scene_root", "scans", "--save_root", "out", "--quiet"])
    info = json.loads((tmp_path / "out/objects/model_info.json").read_text())["models"]
    (model_id,) = info
    assert model_id.startswith("table_") and info[model_id]["split"] == "train"
    vertices, _ = load_mesh(tmp_path / "out/objects/train" / f"{model_id}.ply")
    # canonical frame: the box's vertical axis (0.8 m) is y, the others follow in cyclic order (0.6 m, 1 m);
    # the floor under the table is not part of the crop
    np.testing.assert_allclose(vertices.max(0) - vertices.min(0), [0.6, 0.8, 1.0], atol=1e-5)
    np.testing.assert_allclose((vertices.max(0) + vertices.min(0)) / 2, 0.0, atol=1e-5)
    scene = np.load(tmp_path / "out/scenes/train/100.npz")
    assert list(scene["obj_classes_str"]) == ["table"] and scene["obj_classes"][0] == ARKIT.id_of("table")
    fp = scene["fp_points"]
    half = len(fp) // 2
    np.testing.assert_allclose(fp[:half, 1], 0.0, atol=1e-6)  # floor moved to y = 0
    np.testing.assert_allclose(fp[half:, 1], WALL_TOP, atol=1e-6)  # walls' top, not the table's 0.8 m
    assert half == 4 and scene["fp_lines"].shape == (12, 2)
    np.testing.assert_allclose(np.sort(fp[:half, [0, 2]], axis=0), [[0, 0], [0, 0], [4, 3], [4, 3]], atol=1e-6)
    # box corners from the scene file (rot, trans, asset box) are the annotation's corners, rotated to y-up
    rot, trans = scene["rot"][0], scene["trans"][0]
    assert np.isclose(np.linalg.det(rot), 1.0)
    lo, hi = vertices.min(0), vertices.max(0)
    scene_corners = _corners(trans + rot @ ((lo + hi) / 2), rot, hi - lo)
    truth = _corners(TABLE["centroid"], TABLE["rot"], TABLE["axesLengths"]) @ Z_UP_TO_Y_UP.T - [0.0, FLOOR_Z, 0.0]
    dist = np.linalg.norm(scene_corners[:, None] - truth[None], axis=-1)
    assert dist.min(1).max() < 1e-4  # the same 8 corners
    assert _handedness(scene_corners) == 1.0


def test_split_comes_from_the_folder_under_the_root_and_bad_input_is_counted(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "test_runs" / "arkit"  # "test" elsewhere in the path must not make scans test scans
    write_scan(root, "train", "1")
    write_scan(root, "Training", "2")
    write_scan(root, "test", "3", faces=False)  # a point cloud, not a mesh
    write_scan(root, "test", "4", entries=[{"uid": "a", "label": "plant", "segments": {"obbAligned": {
        "centroid": [1, 1, -1], "axesLengths": [1, 1, 1], "normalizedAxes": np.eye(3).reshape(-1).tolist()}}}])
    bad = [{"uid": "z", "label": "chair", "segments": {"obbAligned": {"centroid": [1, 1, -1], "axesLengths": [0, 1, 1],
                                                                       "normalizedAxes": np.eye(3).reshape(-1).tolist()}}},
           {"uid": "n", "label": "chair", "segments": {"obbAligned": {"centroid": [1, float("nan"), -1],
                                                                       "axesLengths": [1, 1, 1],
                                                                       "normalizedAxes": np.eye(3).reshape(-1).tolist()}}}]
    folder = write_scan(root, "test", "5")
    annotation = folder / "5_3dod_annotation.json"
    annotation.write_text(json.dumps({"data": json.loads(annotation.read_text())["data"] + bad}))
    main_asset_gen.main(["--scene_root", str(root), "--save_root", "out", "--quiet"])
    err = capsys.readouterr().err
    assert "skipped 1 folders (not named train or test" in err
    assert "skipped 1 scans (unreadable mesh), e.g." in err and "3_3dod_mesh.ply: the PLY file has no faces" in err
    assert "skipped 1 scans (no object with a known label)" in err and "'plant'" in err
    assert "skipped 2 objects (malformed or degenerate box)" in err
    assert sorted(p.name for p in (tmp_path / "out/scenes").rglob("*.npz")) == ["1.npz", "5.npz"]
    assert (tmp_path / "out/scenes/train/1.npz").is_file() and (tmp_path / "out/scenes/test/5.npz").is_file()
    # a second run without scan 5 leaves no trace of it
    (root / "test/5/5_3dod_mesh.ply").unlink()
    main_asset_gen.main(["--scene_root", str(root), "--save_root", "out", "--quiet"])
    assert [p.name for p in (tmp_path / "out/scenes").rglob("*.npz")] == ["1.npz"]
    assert len(list((tmp_path / "out/objects").rglob("*.ply"))) == 1


def test_nothing_usable_and_sampling_before_asset_gen_give_one_error_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_scan(tmp_path / "scans", "train", "1", faces=False)
    with pytest.raises(SystemExit) as stop:
        main_asset_gen.main(["--scene_root", "scans", "--save_root", "out", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and err[-1].startswith("error: scans: no scan gave any object asset")
    assert not (tmp_path / "out/objects/model_info.json").exists()
    with pytest.raises(SystemExit) as stop:
        extract_point_samples.main(["--quiet"])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "\n" not in err and "arkit.main_asset_gen" in err and "arkit_scenes_processed" in err
