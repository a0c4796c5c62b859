"""Eval-pair-like triplets (`data.triplet_layout_changes`): each option does what it says, its queries stay
valid (dropped objects and distractors give none), and the default config is today's triplets."""

from pathlib import Path

import numpy as np
import pytest

from scene_analogy.data.eval_pairs import inside_floor
from scene_analogy.data.queries import QueryConfig, triplet_queries
from scene_analogy.data.triplets import SwapSampler, TripletConfig, make_triplet, make_triplet_with_links
from scene_analogy.ops.geometry import box_corners_xz, yaw_of
from scene_analogy.structures.samples import PointSamples
from tests.helpers import random_scene, stub_pool, write_box_samples

SHARED_SCENES = Path(__file__).resolve().parents[1] / "data" / "synthetic_scenes"  # made by the default command


def _triplet(cfg, seed=0, num_objects=14):
    pool = stub_pool()
    rng = np.random.default_rng(seed)
    anchor = random_scene(pool, num_objects, rng)
    return pool, anchor, *make_triplet_with_links(anchor, pool, SwapSampler(pool, "train", cfg), cfg, rng)


def test_default_config_writes_no_links():
    cfg = TripletConfig()
    _, anchor, t, links = _triplet(cfg)
    assert links == {}
    pool = stub_pool()
    rng = np.random.default_rng(0)
    again = make_triplet(random_scene(pool, 14, rng), pool, SwapSampler(pool, "train", cfg), cfg, rng)
    for p in ("pair_pos", "neg"):
        np.testing.assert_array_equal(again[p].bbox_centroids, t[p].bbox_centroids)
        np.testing.assert_array_equal(again[p].model_ids, t[p].model_ids)
    with pytest.raises(ValueError, match="make_triplet_with_links"):
        make_triplet(anchor, pool, SwapSampler(pool, "train", cfg), TripletConfig(neg_swap_rate=0.5), rng)


@pytest.mark.skipif(not (SHARED_SCENES / "train_scene_0").is_dir(), reason="no shared data/synthetic_scenes")
def test_default_synthetic_triplets_are_bit_identical_to_the_shared_dataset(tmp_path):
    from scene_analogy.synthetic.dataset import SyntheticConfig, generate_dataset

    # scene i draws from (seed, split, i) only, so the first scenes of a small root are those of the large one
    generate_dataset(tmp_path, SyntheticConfig(num_scenes=10, seed=0, sample_counts=(50,), make_augment=False),
                     progress=False)
    for name in ("train_scene_0", "train_scene_8", "test_scene_0"):
        with np.load(tmp_path / name / "scene.npz") as new, np.load(SHARED_SCENES / name / "scene.npz") as old:
            assert sorted(new.files) == sorted(old.files)
            for k in old.files:
                np.testing.assert_array_equal(new[k], old[k], err_msg=f"{name}: {k}")


def test_layout_changes_keep_the_default_draws():
    """Swaps and Gaussian moves are the default triplet's; only the layout changes come on top."""
    _, _, base, _ = _triplet(TripletConfig())
    _, _, t, links = _triplet(TripletConfig(pos_drop_rate=0.4, neg_swap_rate=1.0))
    idx = links["pair_pos_idx_map"]
    np.testing.assert_array_equal(t["pair_pos"].model_ids, base["pair_pos"].model_ids[idx])
    still = ~links["neg_swapped"]
    np.testing.assert_array_equal(t["neg"].bbox_centroids[still], base["neg"].bbox_centroids[still])


def test_dropped_objects_give_no_queries(tmp_path):
    pool, anchor, t, links = _triplet(TripletConfig(pos_drop_rate=0.5), seed=3)
    idx = links["pair_pos_idx_map"]
    dropped = np.setdiff1d(np.arange(len(anchor)), idx)
    assert len(dropped) >= 3 and len(t["pair_pos"]) == len(idx) >= 2
    write_box_samples(pool, tmp_path, 20)
    points, owner = triplet_queries(t, PointSamples(tmp_path, 20), QueryConfig(add_bbox_grid=True, grid_size=3), links)
    assert not np.isin(owner, dropped).any()
    assert set(owner.tolist()) == set(idx.tolist())
    assert points.shape == (3, len(idx) * (20 + 27), 3)
    # every positive row lies in the box of the positive object linked to its anchor object
    back = {int(a): k for k, a in enumerate(idx)}
    pos = t["pair_pos"]
    for q in range(points.shape[1]):
        k = back[int(owner[q])]
        local = pos.rots[k].T @ (points[1, q] - pos.bbox_centroids[k])
        assert (np.abs(local) <= pos.bbox_sizes[k] / 2 + 1e-9).all()


def test_positive_pose_noise_is_bounded_and_carries_the_grid(tmp_path):
    pool, anchor, t, links = _triplet(TripletConfig(pos_trans_noise=0.05, pos_rot_noise_deg=10.0))
    pos = t["pair_pos"]
    np.testing.assert_array_equal(links["pair_pos_idx_map"], np.arange(len(anchor)))
    dxz = (pos.bbox_centroids - anchor.bbox_centroids)[:, [0, 2]]
    dyaw = np.rad2deg(np.angle(np.exp(1j * (yaw_of(pos.rots) - yaw_of(anchor.rots)))))
    assert (np.abs(dxz) <= 0.05 + 1e-12).all() and np.abs(dxz).max() > 0.01
    assert (np.abs(dyaw) <= 10.0 + 1e-9).all() and np.abs(dyaw).max() > 2.0
    write_box_samples(pool, tmp_path, 20)
    points, owner = triplet_queries(t, PointSamples(tmp_path, 20), QueryConfig(query_point_type="bbox_grid", grid_size=3), links)
    # the grid has the same box coordinates in anchor and positive, the anchor place in the negative
    for k in range(len(anchor)):
        a_local = (points[0, owner == k] - anchor.bbox_centroids[k]) @ anchor.rots[k]
        p_local = (points[1, owner == k] - pos.bbox_centroids[k]) @ pos.rots[k]
        np.testing.assert_allclose(p_local, a_local, atol=1e-9)
    np.testing.assert_array_equal(points[2], points[0])


def test_distractors_are_unlinked_lookalikes_inside_the_floor(tmp_path):
    pool, anchor, t, links = _triplet(TripletConfig(pos_distractors=(2, 3)), num_objects=5)
    pos, idx = t["pair_pos"], links["pair_pos_idx_map"]
    added = idx == -1
    assert 2 <= added.sum() <= 3 and (idx[~added] == np.arange(len(anchor))).all()
    assert set(pos.class_ids[added]) <= set(anchor.class_ids)  # look like the room's own objects
    assert all(pool[m].split == "train" for m in pos.model_ids[added])
    corners = box_corners_xz(pos.bbox_sizes[added], pos.bbox_centroids[added], pos.rots[added]).reshape(-1, 2)
    assert inside_floor(corners, pos.floor.polygons()).all()
    write_box_samples(pool, tmp_path, 20)
    points, owner = triplet_queries(t, PointSamples(tmp_path, 20), QueryConfig(add_bbox_grid=True, grid_size=3), links)
    assert points.shape[1] == len(anchor) * (20 + 27)  # a distractor has no anchor object: no queries


def test_floor_jitter_moves_the_outline_of_the_positive_only():
    _, anchor, t, _ = _triplet(TripletConfig(pos_floor_jitter=0.3), num_objects=4)
    assert t["pair_pos"].floor.points.shape == anchor.floor.points.shape
    assert np.abs(t["pair_pos"].floor.points - anchor.floor.points).max() > 0.01
    np.testing.assert_array_equal(t["neg"].floor.points, anchor.floor.points)


def test_swapped_negative_puts_each_object_on_the_others_place(tmp_path):
    pool, anchor, t, links = _triplet(TripletConfig(neg_swap_rate=1.0), num_objects=16)
    neg, swapped = t["neg"], links["neg_swapped"]
    classes, counts = np.unique(anchor.class_ids, return_counts=True)
    assert swapped.sum() == 2 * (counts >= 2).sum()  # one pair per class with two or more objects
    for c in classes[counts >= 2]:
        a, b = np.flatnonzero(swapped & (anchor.class_ids == c))
        np.testing.assert_allclose(neg.bbox_centroids[a], anchor.bbox_centroids[b], atol=1e-12)
        np.testing.assert_allclose(neg.bbox_centroids[b], anchor.bbox_centroids[a], atol=1e-12)
        np.testing.assert_allclose(neg.rots[a], anchor.rots[b], atol=1e-12)
        assert neg.model_ids[a] == anchor.model_ids[a]  # the object keeps its model and size
        np.testing.assert_array_equal(neg.bbox_sizes[a], anchor.bbox_sizes[a])
    # the model's own box, posed, is where the box says (origins re-solved from the box)
    np.testing.assert_allclose(neg.canonical_box_centres(), pool.centres(neg.model_ids), atol=1e-9)
    write_box_samples(pool, tmp_path, 20)
    samples = PointSamples(tmp_path, 20)
    points, owner = triplet_queries(t, samples, QueryConfig(add_bbox_grid=True, grid_size=3), links)
    surf, grid = slice(0, 20 * len(anchor)), slice(20 * len(anchor), None)
    a = int(np.flatnonzero(swapped)[0])
    on_a = owner[surf] == a
    np.testing.assert_allclose(points[2, surf][on_a], neg.object(a).world_points(samples[anchor.model_ids[a]]), atol=1e-9)
    # grid queries: a swapped object's follow it into the negative, the others stay at the anchor place
    g_owner, g = owner[grid], points[:, grid]
    local = np.einsum("qji,qj->qi", neg.rots[g_owner], g[2] - neg.bbox_centroids[g_owner])
    anchor_local = np.einsum("qji,qj->qi", anchor.rots[g_owner], g[0] - anchor.bbox_centroids[g_owner])
    np.testing.assert_allclose(local[swapped[g_owner]], anchor_local[swapped[g_owner]], atol=1e-9)
    np.testing.assert_array_equal(g[2][~swapped[g_owner]], g[0][~swapped[g_owner]])


def test_cli_refuses_eval_pairs_from_changed_positives(tmp_path):
    from scene_analogy.synthetic.__main__ import main

    with pytest.raises(SystemExit, match="--no_augment"):
        main(["--save_root", str(tmp_path / "x"), "--num_scenes", "4", "--pos_drop_rate", "0.3", "--quiet"])
    with pytest.raises(SystemExit, match="pos_drop_rate"):
        main(["--save_root", str(tmp_path / "x"), "--num_scenes", "4", "--pos_drop_rate", "1.5", "--no_augment"])


def test_scene_gen_root_carries_links_and_refuses_eval_pairs(tmp_path):
    from scene_analogy.data.eval_pairs import AugmentConfig, augment_triplet_root
    from scene_analogy.data.triplet_layout_changes import read_triplet_links
    from scene_analogy.data.triplets import SceneGenConfig, generate_triplet_root
    from scene_analogy.files.errors import DataError

    pool = stub_pool()
    rng = np.random.default_rng(0)
    sources = [(f"room{i}", random_scene(pool, 8, rng)) for i in range(6)]
    cfg = SceneGenConfig(train_ratio=0.5, triplet=TripletConfig(pos_drop_rate=0.4, neg_swap_rate=1.0))
    generate_triplet_root(tmp_path / "root", sources, pool, cfg, progress=False)
    links = read_triplet_links(tmp_path / "root" / "test_scene_0" / "scene.npz")
    assert set(links) == {"pair_pos_idx_map", "neg_swapped"} and (links["pair_pos_idx_map"] >= 0).all()
    with pytest.raises(DataError, match="layout changes"):
        augment_triplet_root(tmp_path / "root", tmp_path / "aug", AugmentConfig(), 0, 8, progress=False)
