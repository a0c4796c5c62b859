"""Own-data readers: every format reads back what was written, labels map onto class tables, and bad
inputs stop the command with one line naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from scene_analogy.analogy import main
from scene_analogy.files.errors import DataError
from scene_analogy.files.ply import write_ply
from scene_analogy.structures.classes import ARKIT, THREED_FRONT
from scene_analogy.user_scenes.formats import (
    UP_ROTATIONS,
    OwnScene,
    decode_grey,
    grey_values,
    load_scene,
    object_classes,
    write_npz_scene,
    write_ply_scene,
)


@pytest.fixture(scope="module")
def cloud():
    """Three objects (ids 2, 5, 7) of 40 points each, z-up file coordinates, classes 4, 6, 4."""
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.random((40, 3)) + [k, 0, 0] for k in range(3)])
    return points, np.repeat([2, 5, 7], 40), np.repeat([4, 6, 4], 40)


def test_ply_npz_round_trip_in_the_y_up_frame(tmp_path, cloud):
    points, instance, labels = cloud
    write_ply_scene(tmp_path / "s.ply", points, instance, labels)
    write_npz_scene(tmp_path / "s.npz", points, instance, np.where(labels == 4, "chair", " Stool"))
    ply, npz = load_scene(tmp_path / "s.ply", up="z"), load_scene(tmp_path / "s.npz", up="z")
    for scene in (ply, npz):
        np.testing.assert_allclose(scene.points, points @ UP_ROTATIONS["z"].T, atol=1e-6)
        np.testing.assert_allclose(scene.to_user(scene.points), points, atol=1e-6)
        assert scene.object_ids.tolist() == [2, 5, 7] and scene.up == "z"
    assert object_classes(ply, THREED_FRONT).tolist() == [4, 6, 4]
    assert object_classes(npz, THREED_FRONT).tolist() == [4, THREED_FRONT.id_of("pier/stool"), 4]


def test_grey_codes_are_decoded_and_levels_inferred(tmp_path, cloud):
    points, instance, _ = cloud
    write_ply_scene(tmp_path / "g.ply", points, instance, grey_levels=7)  # ids 2, 5, 7 of N = 7: grey 73, 182, 255
    assert grey_values(np.array([2, 5, 7]), 7).tolist() == [73, 182, 255]
    scene = load_scene(tmp_path / "g.ply")
    assert scene.object_ids.tolist() == [2, 5, 7] and scene.labels is None
    ids = np.arange(13)
    assert decode_grey("x", grey_values(ids, 12)).tolist() == ids.tolist()  # ids 0..N: N inferred exactly
    assert decode_grey("x", grey_values(np.array([0, 2, 4]), 4)).tolist() == [0, 1, 2]  # the documented ambiguity
    assert decode_grey("x", grey_values(np.array([0, 2, 4]), 4), levels=4).tolist() == [0, 2, 4]
    with pytest.raises(DataError, match="round"):
        decode_grey("x", np.array([0, 1, 2, 200]), levels=3)


def test_mesh_folder(tmp_path):
    folder = tmp_path / "meshes"
    folder.mkdir()
    trimesh.creation.box(extents=[1, 1, 1]).export(folder / "3_chair.obj")
    trimesh.creation.icosphere().apply_translation([3, 0, 0]).export(folder / "11_table.ply")
    scene = load_scene(folder, points_per_mesh=300)
    assert scene.object_ids.tolist() == [3, 11] and len(scene.points) == 600
    assert object_classes(scene, THREED_FRONT).tolist() == [4, 6]
    assert np.abs(scene.points[scene.instance == 3]).max() <= 0.5 + 1e-9  # samples lie on the unit box
    (folder / "12.obj").write_text("v 0 0 0\n")
    with pytest.raises(DataError, match="every mesh file name carries a label"):
        load_scene(folder)


def test_labels_by_majority_and_class_tables():
    scene = OwnScene(np.zeros((5, 3)), np.array([1, 1, 1, 4, 4]), np.array([3, 3, 0, 16, 16]), "s.npz")
    assert scene.object_labels().tolist() == [3, 16]
    assert object_classes(scene, ARKIT).tolist() == [3, 16]
    with pytest.raises(DataError, match="class label 16 is not a class id"):
        object_classes(scene, THREED_FRONT)
    named = OwnScene(np.zeros((2, 3)), np.array([0, 1]), np.array(["desk", "fridge"]), "n.npz")
    with pytest.raises(DataError, match="'fridge' is not a class"):
        object_classes(named, THREED_FRONT)


def _run(capsys, argv) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code, capsys.readouterr().err


def _bad_inputs(tmp_path, cloud) -> dict:
    points, instance, labels = cloud
    bad = {}
    bad["unlabelled.ply"] = lambda p: write_ply(p, {"x": points[:, 0], "y": points[:, 1], "z": points[:, 2]})
    bad["coloured.ply"] = lambda p: write_ply(p, {"x": points[:, 0], "y": points[:, 1], "z": points[:, 2],
                                                  "red": np.full(len(points), 9, np.uint8), "green": np.zeros(len(points), np.uint8),
                                                  "blue": np.zeros(len(points), np.uint8)})
    bad["minus_one.ply"] = lambda p: write_ply_scene(p, points, np.full(len(points), -1))
    bad["no_instance.npz"] = lambda p: np.savez(p, points=points)
    bad["empty.ply"] = lambda p: p.write_bytes(b"")
    bad["empty.npz"] = lambda p: p.write_bytes(b"")
    bad["garbage.ply"] = lambda p: p.write_bytes(b"\x89PNG not a cloud")
    bad["garbage.npz"] = lambda p: p.write_bytes(b"PK\x03\x04 broken zip")
    bad["nan.npz"] = lambda p: np.savez(p, points=np.full((3, 3), np.nan), instance=np.zeros(3))
    bad["scene.xyz"] = lambda p: p.write_text("1 2 3\n")
    return bad


def test_bad_inputs_give_one_line_naming_the_file(tmp_path, capsys, cloud):
    points, instance, labels = cloud
    good = tmp_path / "good.ply"
    write_ply_scene(good, points, instance, labels)
    for name, write in _bad_inputs(tmp_path, cloud).items():
        path = tmp_path / name
        write(path)
        for argv in (["--tgt", str(path), "--ref", str(good)], ["--tgt", str(good), "--ref", str(path)]):
            code, err = _run(capsys, argv + ["--roi_ids", "2", "--out", str(tmp_path / "out")])
            assert code == 2 and err.count("\n") == 1 and err.startswith(f"error: {path}:"), (name, err)
    code, err = _run(capsys, ["--tgt", str(tmp_path / "missing.ply"), "--ref", str(good), "--roi_ids", "2",
                              "--out", str(tmp_path / "out")])
    assert code == 2 and f"{tmp_path / 'missing.ply'}: no such file" in err
    assert not (tmp_path / "out").exists()  # nothing is written when an input is bad


def test_absent_roi_id_names_the_target(tmp_path, capsys, cloud):
    points, instance, labels = cloud
    write_ply_scene(tmp_path / "t.ply", points, instance, labels)
    code, err = _run(capsys, ["--tgt", str(tmp_path / "t.ply"), "--ref", str(tmp_path / "t.ply"),
                              "--roi_ids", "2", "6", "--out", str(tmp_path / "out")])
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {tmp_path / 't.ply'}: RoI instance id 6 is not in the scene (its instance ids: 2, 5, 7)")
