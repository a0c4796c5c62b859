"""Transfer through analogy maps: frames, orientations, point-list formats, placements, bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from scene_analogy.files.errors import DataError
from scene_analogy.match.analogy_map import AnalogyMap
from scene_analogy.ops.geometry import MIRROR_X, yaw_matrix
from scene_analogy.user_scenes.formats import UP_ROTATIONS
from scene_analogy.user_scenes.transfer import (
    carry_frames,
    map_in_frame,
    place_mesh,
    read_placement,
    read_points,
    transfer_points,
    write_points,
)

A, B, SCALE = 0.7, np.array([1.0, 0.2, -3.0]), 1.3


def _similarity(mirror: bool = False) -> AnalogyMap:
    linear = SCALE * yaw_matrix(A) @ (MIRROR_X if mirror else np.eye(3))
    return AnalogyMap(linear, B)


def _wavy_map() -> AnalogyMap:
    rng = np.random.default_rng(0)
    centres = rng.random((12, 3)) * 2
    return AnalogyMap(_similarity().linear, B, centres, 0.05 * rng.standard_normal((12, 3)),
                      0.01 * rng.standard_normal((4, 3)))


def test_map_in_frame_is_the_conjugate():
    m, cz, cy = _wavy_map(), UP_ROTATIONS["z"], UP_ROTATIONS["y"]
    x_file = np.random.default_rng(1).random((30, 3)) * 2
    for into_source, into_target in ((cz, cz), (cz, cy), (cy, cz)):
        g = map_in_frame(m, into_source, into_target)
        np.testing.assert_allclose(g.apply(x_file), m.apply(x_file @ into_source.T) @ into_target, atol=1e-10)
        np.testing.assert_allclose(g.jacobian(x_file), into_target.T @ m.jacobian(x_file @ into_source.T) @ into_source,
                                   atol=1e-10)
        np.testing.assert_allclose(g.roi_points, m.roi_points @ into_source)


def test_up_rotation_is_proper_and_lifts_z():
    c = UP_ROTATIONS["z"]
    assert np.isclose(np.linalg.det(c), 1.0) and np.allclose(c @ c.T, np.eye(3))
    np.testing.assert_allclose(c @ [0, 0, 1], [0, 1, 0])


@pytest.mark.parametrize("up", ["y", "z"])
def test_carried_frames_follow_rotations_and_stay_proper_under_mirrors(up):
    rng = np.random.default_rng(2)
    rots = Rotation.random(20, random_state=3).as_matrix()
    turn = Rotation.from_rotvec(np.eye(3)[1 if up == "y" else 2] * 0.4).as_matrix()
    carried = carry_frames(np.broadcast_to(2.0 * turn, (20, 3, 3)), rots, up)
    np.testing.assert_allclose(carried, turn @ rots, atol=1e-12)  # a similarity: exactly the rotation
    skew = np.broadcast_to(np.diag([-1.0, 1.0, 1.0]) @ np.diag(rng.uniform(0.5, 2, 3)), (20, 3, 3))
    mirrored = carry_frames(skew, rots, up)
    np.testing.assert_allclose(np.linalg.det(mirrored), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.einsum("mji,mjk->mik", mirrored, mirrored), np.broadcast_to(np.eye(3), (20, 3, 3)),
                               atol=1e-12)
    forward = np.einsum("mij,mj->mi", skew, rots[:, :, 0])
    np.testing.assert_allclose(mirrored[:, :, 0], forward / np.linalg.norm(forward, axis=1, keepdims=True), atol=1e-12)


def test_csv_with_header_keeps_extra_columns_and_turns_yaw(tmp_path):
    xyz = np.random.default_rng(4).random((5, 3))
    lines = ["t,x,y,z,yaw,name"] + [f"{i},{p[0]},{p[1]},{p[2]},0.1,p{i}" for i, p in enumerate(xyz)]
    (tmp_path / "path.csv").write_text("\n".join(lines) + "\n")
    moved = transfer_points(_similarity(), read_points(tmp_path / "path.csv"), "y")
    write_points(tmp_path / "out.csv", moved)
    rows = [line.split(",") for line in (tmp_path / "out.csv").read_text().splitlines()]
    assert rows[0] == ["t", "x", "y", "z", "yaw", "name"]
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(5)] and rows[3][5] == "p2"
    out = np.array([[float(v) for v in r[1:5]] for r in rows[1:]])
    np.testing.assert_allclose(out[:, :3], xyz @ _similarity().linear.T + B, atol=1e-7)
    np.testing.assert_allclose(out[:, 3], 0.1 + A, atol=1e-7)


def test_mirrored_yaw(tmp_path):
    np.save(tmp_path / "p.npy", np.array([[0.0, 0.0, 0.0, 0.3]]))
    moved = transfer_points(_similarity(mirror=True), read_points(tmp_path / "p.npy"), "y")
    # heading (cos t, 0, -sin t) -> mirror x -> (-cos t, 0, -sin t) = heading of pi - t; then the yaw A
    assert np.isclose(np.angle(np.exp(1j * (moved.yaw[0] - (np.pi - 0.3 + A)))), 0.0, atol=1e-9)


def test_json_objects_with_quaternions_and_plain_lists(tmp_path):
    quat = Rotation.random(3, random_state=5).as_quat()
    items = [{"id": i, "position": [i, 0.5, -i], "quaternion": q.tolist()} for i, q in enumerate(quat)]
    (tmp_path / "poses.json").write_text(json.dumps(items))
    moved = transfer_points(_similarity(), read_points(tmp_path / "poses.json"), "z")
    write_points(tmp_path / "out.json", moved)
    back = json.loads((tmp_path / "out.json").read_text())
    assert [list(b) for b in back] == [["id", "position", "quaternion"]] * 3 and [b["id"] for b in back] == [0, 1, 2]
    rot = Rotation.from_quat([b["quaternion"] for b in back]).as_matrix()
    np.testing.assert_allclose(rot, yaw_matrix(A) @ Rotation.from_quat(quat).as_matrix(), atol=1e-9)
    (tmp_path / "plain.json").write_text(json.dumps([[0, 0, 0], [1, 2, 3]]))
    write_points(tmp_path / "plain_out.json", transfer_points(_similarity(), read_points(tmp_path / "plain.json"), "y"))
    np.testing.assert_allclose(json.loads((tmp_path / "plain_out.json").read_text())[1],
                               _similarity().apply(np.array([[1.0, 2, 3]]))[0])


def test_npy_keeps_its_dtype_and_headerless_csv_with_quaternions(tmp_path):
    np.save(tmp_path / "p.npy", np.random.default_rng(6).random((4, 3)).astype(np.float32))
    write_points(tmp_path / "o.npy", transfer_points(_wavy_map(), read_points(tmp_path / "p.npy"), "y"))
    assert np.load(tmp_path / "o.npy").dtype == np.float32 and np.load(tmp_path / "o.npy").shape == (4, 3)
    (tmp_path / "q.csv").write_text("1,2,3,0,0,0,1\n4,5,6,0,0,0.7071068,0.7071068\n")
    moved = transfer_points(_similarity(), read_points(tmp_path / "q.csv"), "y")
    assert moved.quat.shape == (2, 4) and moved.yaw is None


@pytest.mark.parametrize("name, content, problem", [
    ("a.csv", "", "empty"),
    ("a.csv", "1,2\n", "expected 3"),
    ("a.csv", "x,y,yaw\n1,2,3\n", "lacks the column"),
    ("a.csv", "1,2,nan\n", "NaN"),
    ("a.json", "{not json", "not a readable JSON point list"),
    ("a.json", '[{"pos": [1, 2, 3]}]', "not \\[x, y, z"),
    ("a.csv", "0,0,0,0,0,0,0\n", "zero length"),
    ("a.txt", "1,2,3\n", "unknown point-list format"),
])
def test_bad_point_lists_name_the_file(tmp_path, name, content, problem):
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=problem) as info:
        read_points(tmp_path / name)
    assert info.value.path == str(tmp_path / name)


def test_placement_moves_the_mesh_rigidly_and_keeps_its_scale(tmp_path):
    trimesh.creation.box(extents=[0.4, 0.8, 0.2]).export(tmp_path / "box.ply")
    (tmp_path / "pose.json").write_text(json.dumps({"position": [1.0, 0.0, 2.0], "yaw": 0.25, "scale": 2.0}))
    placement = read_placement(tmp_path / "box.ply", tmp_path / "pose.json", "y")
    mesh_out, pose_out = place_mesh(_similarity(), placement, "y", tmp_path / "out")
    moved = trimesh.load(mesh_out, process=False)
    local = np.asarray(trimesh.load(tmp_path / "box.ply", process=False).vertices)
    expected = (2.0 * local) @ yaw_matrix(0.25 + A).T + _similarity().apply(np.array([[1.0, 0.0, 2.0]]))[0]
    np.testing.assert_allclose(moved.vertices, expected, atol=1e-6)
    pose = json.loads(pose_out.read_text())
    assert np.isclose(pose["yaw"], 0.25 + A) and pose["scale"] == 2.0
    (tmp_path / "bad.json").write_text(json.dumps({"matrix": np.diag([2.0, 2, 2, 1]).tolist()}))
    with pytest.raises(DataError, match="not a proper rotation"):
        read_placement(tmp_path / "box.ply", tmp_path / "bad.json", "y")
    with pytest.raises(DataError, match="no such file"):
        read_placement(tmp_path / "none.obj", tmp_path / "pose.json", "y")
