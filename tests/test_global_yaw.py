"""`--global_yaw grid | continuous` of the evaluation-pair generators: grid pairs stay as they were,
continuous yaws leave the matcher's grid, the ground truth follows the turn exactly, and the augment
root records which protocol made it (`augment_config.json`, `augment_protocol`)."""

import argparse
import json

import numpy as np
import pytest

from scene_analogy.cli import flags
from scene_analogy.data.eval_pairs import (
    AUGMENT_CONFIG_FILE,
    AugmentConfig,
    augment_protocol,
    augment_scene,
    augment_triplet_root,
)
from scene_analogy.evaluation.examples import EvalExample, augment_examples
from scene_analogy.evaluation.loop import ground_truth
from scene_analogy.files.errors import DataError
from scene_analogy.ops.geometry import MIRROR_X, yaw_of
from scene_analogy.structures.samples import PointSamples
from scene_analogy.structures.scene import read_eval_pair, scene_dirs, write_triplet
from tests.helpers import random_scene, stub_pool, write_box_samples, write_tiny_triplet_root
from tests.test_augment import _spread_scene

# Identity layout: every object kept exactly, no re-insertion noise, no distractors, outline unmoved,
# so the target is the reference, reordered and turned.
IDENTITY = dict(num_group_keep_range=(99, 99), num_pose_perturb_rate=0.0, num_match_obj_add_range=(0, 0),
                fp_max_perturb_rate=0.0)


def _yaw_deg(global_rot: np.ndarray) -> float:
    """The yaw of yaw . (optional x-mirror), in degrees in [0, 360)."""
    proper = global_rot @ MIRROR_X if np.linalg.det(global_rot) < 0 else global_rot
    return float(np.rad2deg(yaw_of(proper)) % 360.0)


def _pair(seed: int, cfg: AugmentConfig):
    rng = np.random.default_rng(seed)
    pool = stub_pool()
    source, other = _spread_scene(pool, rng), _spread_scene(pool, rng)
    return source, augment_scene(source, other, cfg, rng), rng


def test_grid_pairs_are_unchanged():
    # (yaw, mirrored, sum of target trans, idx_map) of seeds 0-3, recorded before --global_yaw existed
    before = [(0, False, 46.682462973, [7, 6, 2, -1, 4, -1, 3, 1]),
              (90, True, 58.480708334, [2, -1, 4, -1, 5, -1, -1, 7, 0, -1, 6]),
              (180, True, 5.550249176, [2, -1, -1, 6, 7, 1, 5, 3]),
              (90, True, 40.434818926, [5, 2, 7, 4, 1, -1, 0, -1])]
    for seed, (yaw, mirrored, trans_sum, idx_map) in enumerate(before):
        _, pair, _ = _pair(seed, AugmentConfig(global_yaw="grid"))
        assert round(_yaw_deg(pair.global_rot)) % 360 == yaw
        assert (np.linalg.det(pair.global_rot) < 0) == mirrored
        assert pair.scene.trans.sum() == pytest.approx(trans_sum, abs=1e-8)
        assert pair.idx_map.tolist() == idx_map
    for seed in range(4, 20):
        yaw = _yaw_deg(_pair(seed, AugmentConfig())[1].global_rot)
        assert min(yaw % 90, 90 - yaw % 90) < 1e-9


def test_continuous_yaws_leave_the_grid_and_repeat_by_seed():
    cfg = AugmentConfig(global_yaw="continuous")
    yaws, mirrored = [], 0
    for seed in range(20):
        source, pair, _ = _pair(seed, cfg)
        _, again, _ = _pair(seed, cfg)
        np.testing.assert_array_equal(pair.global_rot, again.global_rot)
        np.testing.assert_array_equal(pair.scene.trans, again.scene.trans)
        yaw = _yaw_deg(pair.global_rot)
        assert min(yaw % 90, 90 - yaw % 90) > 1e-3
        yaws.append(yaw)
        mirrored += np.linalg.det(pair.global_rot) < 0
        # steps 1-4 draw as for grid: turned back, the continuous target is the grid target
        _, grid, _ = _pair(seed, AugmentConfig())
        np.testing.assert_array_equal(pair.idx_map, grid.idx_map)
        back, grid_back = pair.scene.transformed(pair.global_rot.T), grid.scene.transformed(grid.global_rot.T)
        np.testing.assert_allclose(back.trans, grid_back.trans, atol=1e-9)
        np.testing.assert_allclose(back.rots, grid_back.rots, atol=1e-9)
        # object rotations stay orthonormal, about +y, composed with the object's own
        rots = pair.scene.rots
        np.testing.assert_allclose(rots @ np.swapaxes(rots, 1, 2), np.broadcast_to(np.eye(3), rots.shape), atol=1e-12)
        np.testing.assert_allclose(np.linalg.det(rots), np.linalg.det(pair.global_rot), atol=1e-12)
        np.testing.assert_allclose(rots[:, 1], np.broadcast_to([0.0, 1.0, 0.0], (len(rots), 3)), atol=1e-12)
        kept = pair.idx_map >= 0  # the kept group: exactly the turn composed with the source rotation
        exact = np.isclose(rots[kept], pair.global_rot @ source.rots[pair.idx_map[kept]], atol=1e-12).all((1, 2))
        assert exact.sum() >= 2
    assert 0 < mirrored < 20
    assert np.ptp(yaws) > 180  # spread over the circle, not stuck near one angle


def test_config_rejects_other_yaw_modes():
    with pytest.raises(ValueError, match="global_yaw must be one of grid, continuous, got 'random'"):
        AugmentConfig(global_yaw="random")


def test_ground_truth_follows_a_continuous_turn(tmp_path):
    pool = stub_pool()
    write_box_samples(pool, tmp_path / "samples", 50)
    samples = PointSamples(tmp_path / "samples", 50)
    cfg = AugmentConfig(global_yaw="continuous", **IDENTITY)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        reference = random_scene(pool, 6, rng)
        pair = augment_scene(reference, reference, cfg, rng)
        assert (np.sort(pair.idx_map) == np.arange(6)).all()
        roi = np.arange(len(pair.scene))
        roi_points, owner, gt = ground_truth(EvalExample("p", pair.scene, reference, roi, pair.idx_map), samples)
        # the exact answer: each target point turned back by the pair's own transform
        exact = roi_points @ pair.global_rot  # rows: p' = p R^T, so p = p' R (R orthogonal)
        assert np.abs(gt - exact).max() < 1e-6
        assert np.abs(exact - roi_points).max() > 0.1  # the turn did move the points


def test_ground_truth_through_the_files(tmp_path):
    """Through write/read and the evaluation's own loader: the reference is the folder's pos scene."""
    pool = stub_pool()
    root = tmp_path / "scenes"
    write_box_samples(pool, root / "point_samples", 50)
    rng = np.random.default_rng(0)
    for i in range(3):
        scene = random_scene(pool, 5, rng, "test")
        write_triplet(root / f"test_scene_{i}" / "scene.npz", {"pos": scene, "pair_pos": scene, "neg": scene})
    aug, count = augment_triplet_root(root, None, AugmentConfig(global_yaw="continuous", **IDENTITY), 0, 8, progress=False)
    assert count == 3 and augment_protocol(aug) == {"global_yaw": "continuous"}
    samples = PointSamples(root / "point_samples", 50)
    for example, d in zip(augment_examples(root), scene_dirs(aug)):
        rot = read_eval_pair(d / "scene.npz").global_rot
        roi_points, _, gt = ground_truth(example, samples)
        assert np.abs(gt - roi_points @ rot).max() < 1e-6


def test_augment_config_is_written_and_read_back(tmp_path):
    root = write_tiny_triplet_root(tmp_path / "t", num_train=1, num_test=2)
    assert augment_protocol(tmp_path / "t_augment") == {"global_yaw": "grid"}  # no file: written before it existed
    cfg = AugmentConfig(global_yaw="continuous", max_rot_noise=5.0)
    aug, _ = augment_triplet_root(root, None, cfg, 7, 8, progress=False)
    recorded = json.loads((aug / AUGMENT_CONFIG_FILE).read_text())
    assert recorded["global_yaw"] == "continuous" and recorded["max_rot_noise"] == 5.0 and recorded["seed"] == 7
    assert AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items() if k != "seed"}) == cfg
    assert augment_protocol(aug) == {"global_yaw": "continuous"}
    assert not list(aug.glob(".*.tmp*"))
    (aug / AUGMENT_CONFIG_FILE).write_text("{not json")
    with pytest.raises(DataError, match="not a readable JSON augmentation config"):
        augment_protocol(aug)
    (aug / AUGMENT_CONFIG_FILE).write_text(json.dumps({"global_yaw": "sideways"}))
    with pytest.raises(DataError, match="'global_yaw' is 'sideways'"):
        augment_protocol(aug)


def test_flag_parses_and_builds_the_config():
    p = argparse.ArgumentParser()
    flags.add_augment_flags(p)
    assert flags.augment_config_from_args(p.parse_args(["--orig_scene_root", "x"])).global_yaw == "grid"
    args = p.parse_args(["--orig_scene_root", "x", "--global_yaw", "continuous"])
    assert flags.augment_config_from_args(args) == AugmentConfig(global_yaw="continuous")
    with pytest.raises(SystemExit):
        p.parse_args(["--orig_scene_root", "x", "--global_yaw", "random"])
    from scene_analogy.synthetic.__main__ import build_parser

    assert build_parser().parse_args([]).global_yaw == "grid"
    assert build_parser().parse_args(["--global_yaw", "continuous"]).global_yaw == "continuous"
    assert "uniform in [0, 360)" in " ".join(build_parser().format_help().split())


@pytest.mark.parametrize("dataset", ["threed_front", "arkit"])
def test_dataset_augment_commands(tmp_path, dataset, capsys):
    import importlib

    command = importlib.import_module(f"{dataset}.main_scene_augment")
    root = write_tiny_triplet_root(tmp_path / "t", num_train=1, num_test=2)
    command.main(["--orig_scene_root", str(root), "--global_yaw", "continuous", "--quiet"])
    assert "wrote 2 evaluation pairs" in capsys.readouterr().out
    aug = tmp_path / "t_augment"
    assert augment_protocol(aug) == {"global_yaw": "continuous"}
    yaws = [_yaw_deg(read_eval_pair(d / "scene.npz").global_rot) for d in scene_dirs(aug)]
    assert all(min(y % 90, 90 - y % 90) > 1e-3 for y in yaws)
    command.main(["--orig_scene_root", str(root), "--quiet"])
    assert augment_protocol(aug) == {"global_yaw": "grid"}


def test_synthetic_command_and_ensure_eval_pairs(tmp_path):
    from scene_analogy.synthetic.__main__ import main
    from scene_analogy.synthetic.dataset import ensure_eval_pairs

    root = tmp_path / "syn"
    main(["--save_root", str(root), "--num_scenes", "4", "--train_ratio", "0.5", "--save_num_samples", "50",
          "--global_yaw", "continuous", "--quiet"])
    aug = tmp_path / "syn_augment"
    assert augment_protocol(aug) == {"global_yaw": "continuous"}
    yaws = [_yaw_deg(read_eval_pair(d / "scene.npz").global_rot) for d in scene_dirs(aug)]
    assert len(yaws) == 2 and all(min(y % 90, 90 - y % 90) > 1e-3 for y in yaws)
    ensure_eval_pairs(root, 2, 0, "continuous")  # enough pairs of this protocol: nothing regenerated
    assert [_yaw_deg(read_eval_pair(d / "scene.npz").global_rot) for d in scene_dirs(aug)] == yaws
    with pytest.raises(DataError, match="--global_yaw continuous, not grid"):
        ensure_eval_pairs(root, 2, 0)  # grid asked for: the user's pairs are named, never overwritten
    assert augment_protocol(aug) == {"global_yaw": "continuous"}
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(DataError, match="holds 2 evaluation pairs, fewer than the 3 asked for; the demo did not "
                                        "make it, so it is not overwritten: pass --num_pairs 2"):
        ensure_eval_pairs(root, 3, 0)  # too few pairs in the user's root: named, never overwritten
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == before
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("a user's folder")
    with pytest.raises(DataError, match="is not a complete synthetic dataset"):
        ensure_eval_pairs(tmp_path / "other", 2, 0)
    assert [p.name for p in (tmp_path / "other").iterdir()] == ["notes.txt"]


def test_demo_roots_are_made_again_from_nothing(tmp_path):
    """A root the demo made (its marker) is made again when it has too few pairs or another protocol,
    with no scene of the old set left beside the new ones."""
    from scene_analogy.synthetic.dataset import DEMO_MARKER, ensure_eval_pairs

    root, aug = tmp_path / "demo", tmp_path / "demo_augment"
    ensure_eval_pairs(root, 6, 0, "continuous")  # absent: made, and marked
    assert (root / DEMO_MARKER).is_file() and len(scene_dirs(aug, "test")) == 6
    ensure_eval_pairs(root, 2, 0)  # enough pairs but the other protocol: ours, so made again
    assert augment_protocol(aug) == {"global_yaw": "grid"} and len(scene_dirs(aug, "test")) == 4
    yaws = [_yaw_deg(read_eval_pair(d / "scene.npz").global_rot) for d in scene_dirs(aug, "test")]
    assert all(min(y % 90, 90 - y % 90) < 1e-9 for y in yaws)
    assert len(scene_dirs(root, "train")) == 4 and (root / DEMO_MARKER).is_file()
    ensure_eval_pairs(root, 5, 0)  # too few: made again, bigger
    assert len(scene_dirs(aug, "test")) == 5
