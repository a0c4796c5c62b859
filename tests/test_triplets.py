import numpy as np
import pytest

from scene_analogy.data.triplets import SwapSampler, TripletConfig, make_triplet
from scene_analogy.ops.geometry import yaw_of
from tests.helpers import random_scene, stub_pool


@pytest.mark.parametrize("method", ["box_scale", "optimal_scalar"])
def test_positive_keeps_every_box_and_pose(method):
    pool = stub_pool()
    cfg = TripletConfig(rescaling_method=method)
    rng = np.random.default_rng(1)
    anchor = random_scene(pool, 12, rng)
    pos = make_triplet(anchor, pool, SwapSampler(pool, "train", cfg), cfg, rng)["pair_pos"]
    np.testing.assert_array_equal(pos.class_ids, anchor.class_ids)
    assert (pos.model_ids != anchor.model_ids).all()
    assert all(pool[m].split == "train" for m in pos.model_ids)
    np.testing.assert_allclose(pos.bbox_centroids, anchor.bbox_centroids, atol=1e-12)
    np.testing.assert_allclose(pos.rots, anchor.rots)
    if method == "box_scale":
        np.testing.assert_allclose(pos.bbox_sizes, anchor.bbox_sizes, atol=1e-12)
    # the world box of the new model (its canonical box, scaled and posed) sits on the anchor's box
    centres = pool.centres(pos.model_ids) * pos.scales
    np.testing.assert_allclose(np.einsum("nij,nj->ni", pos.rots, centres) + pos.trans, anchor.bbox_centroids, atol=1e-12)
    np.testing.assert_allclose(pool.sizes(pos.model_ids) * pos.scales, pos.bbox_sizes, atol=1e-12)
    np.testing.assert_allclose(pos.canonical_box_centres(), pool.centres(pos.model_ids), atol=1e-12)


def test_negative_noise_matches_requested_sigma():
    pool = stub_pool()
    cfg = TripletConfig(trans_noise=0.5, rot_noise_deg=30.0)
    rng = np.random.default_rng(2)
    sampler = SwapSampler(pool, "train", cfg)
    dyaw, dxz = [], []
    for _ in range(100):  # 1,500 objects
        anchor = random_scene(pool, 15, rng)
        t = make_triplet(anchor, pool, sampler, cfg, rng)
        neg = t["neg"]
        dyaw.append(np.angle(np.exp(1j * (yaw_of(neg.rots) - yaw_of(anchor.rots)))))
        dxz.append((neg.bbox_centroids - anchor.bbox_centroids)[:, [0, 2]])
        np.testing.assert_array_equal(neg.model_ids, anchor.model_ids)
        np.testing.assert_array_equal(neg.bbox_sizes, anchor.bbox_sizes)
        np.testing.assert_array_equal(neg.bbox_centroids[:, 1], anchor.bbox_centroids[:, 1])
        for p in ("pair_pos", "neg"):  # the floor plan never moves
            np.testing.assert_array_equal(t[p].floor.points, anchor.floor.points)
            np.testing.assert_array_equal(t[p].floor.lines, anchor.floor.lines)
    dyaw, dxz = np.concatenate(dyaw), np.concatenate(dxz)
    assert len(dyaw) >= 1000
    assert abs(np.rad2deg(dyaw).std() / 30.0 - 1) < 0.1
    assert abs(dxz.std(0) / 0.5 - 1).max() < 0.1
    assert abs(dxz.mean()) < 0.05


def test_swaps_prefer_subclass_with_enough_models():
    pool = stub_pool(models_per_class=14)  # 12 train models per class: 6 per subclass
    cfg = TripletConfig(min_subclass_models=5)
    sampler = SwapSampler(pool, "train", cfg)
    rng = np.random.default_rng(0)
    for m in pool.select(split="train"):
        for _ in range(5):
            assert pool[sampler.draw(m, m.size, rng).model_id].subclass == m.subclass
    loose = SwapSampler(pool, "train", TripletConfig(ignore_subclass=True))
    subs = {loose.draw(m, m.size, rng).subclass for m in pool.select(split="train") for _ in range(5)}
    assert subs == {"sub0", "sub1"}


def test_topk_aspect_restricts_candidates():
    pool = stub_pool(models_per_class=10)
    cfg = TripletConfig(topk_aspect_sampling=1, ignore_subclass=True)
    sampler = SwapSampler(pool, "train", cfg)
    m = pool.select(split="train", class_id=3)[0]
    drawn = {sampler.draw(m, m.size, np.random.default_rng(s)).model_id for s in range(20)}
    assert len(drawn) == 1 and m.model_id not in drawn
