import numpy as np

from scene_analogy.data.eval_pairs import AugmentConfig, augment_scene, class_histograms, nearest_histogram_scene
from scene_analogy.ops.geometry import box_corners_xz, points_in_polygon
from tests.helpers import random_scene, stub_pool


def _spread_scene(pool, rng, n=8):
    """A scene whose objects do not overlap (placed on a grid) so augmentation has room."""
    scene = random_scene(pool, n, rng)
    grid = np.stack(np.meshgrid(np.linspace(1, 5, 4), np.linspace(1.2, 3.8, 2)), -1).reshape(-1, 2)[:n]
    shift = np.zeros((n, 3))
    shift[:, [0, 2]] = grid - scene.bbox_centroids[:, [0, 2]]
    scene.trans += shift
    scene.bbox_centroids += shift
    scene.bbox_sizes = np.minimum(scene.bbox_sizes, 0.9)
    return scene


def test_kept_objects_recover_original_poses_through_inverse_transform():
    pool = stub_pool()
    cfg = AugmentConfig()
    mirrored = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        source, other = _spread_scene(pool, rng), _spread_scene(pool, rng)
        pair = augment_scene(source, other, cfg, rng)
        inv = np.linalg.inv(pair.global_rot)
        back = pair.scene.transformed(inv)
        kept = pair.idx_map >= 0
        assert kept.sum() >= 2
        # the kept group (exact) is the first `keep` objects; re-inserted ones carry small noise
        orig = pair.idx_map[kept]
        exact = np.isclose(back.trans[kept], source.trans[orig], atol=1e-5).all(1) & \
            np.isclose(back.rots[kept], source.rots[orig], atol=1e-5).all((1, 2))
        assert exact.sum() >= min(2, len(source))
        np.testing.assert_array_equal(back.model_ids[kept], source.model_ids[orig])
        noisy = ~exact
        if noisy.any():  # re-inserted: within the noise bounds
            d = np.linalg.norm((back.bbox_centroids[kept] - source.bbox_centroids[orig])[noisy][:, [0, 2]], axis=1)
            assert (d <= np.sqrt(2) * cfg.max_trans_noise + 1e-9).all()
        assert (pair.idx_map[~kept] == -1).all()
        mirrored += np.linalg.det(pair.global_rot) < 0
        # every object, distractors included, lies inside the (jittered) outline
        poly = back.floor.polygons()[0]
        corners = box_corners_xz(back.bbox_sizes, back.bbox_centroids, back.rots).reshape(-1, 2)
        assert points_in_polygon(corners, poly).all()
    assert 0 < mirrored < 40


def test_distractors_come_from_nearest_histogram_scene():
    pool = stub_pool()
    rng = np.random.default_rng(0)
    scenes = [random_scene(pool, 6, rng) for _ in range(5)]
    hist = class_histograms(scenes, 8)
    for i in range(5):
        j = nearest_histogram_scene(hist, i)
        assert j != i
        d = np.abs(hist - hist[i]).sum(1)
        d[i] = np.inf
        assert d[j] == d.min()


def test_floors_with_holes_and_disjoint_parts():
    from scene_analogy.data.eval_pairs import inside_floor, jitter_outline
    from scene_analogy.structures.scene import FloorPlan

    outer = np.array([[0, 0], [6, 0], [6, 5], [0, 5]], dtype=float)
    hole = np.array([[2, 2], [3, 2], [3, 3], [2, 3]], dtype=float)
    patch = np.array([[8, 0], [9, 0], [9, 1], [8, 1]], dtype=float)
    probes = np.array([[1.0, 1.0], [2.5, 2.5], [8.5, 0.5], [7.0, 0.5]])
    np.testing.assert_array_equal(inside_floor(probes, [outer, hole, patch]), [True, False, True, False])
    pool = stub_pool()
    scene = _spread_scene(pool, np.random.default_rng(0), n=2)
    scene.floor = FloorPlan.from_polygons([outer, hole, patch], 0.0, 2.8)
    cfg = AugmentConfig(fp_max_perturb_rate=1.0)
    loops = jitter_outline(scene, cfg, np.random.default_rng(1)).polygons()
    assert len(loops) == 3
    np.testing.assert_array_equal(loops[1], hole)  # a hole never moves
    assert not np.allclose(loops[0], outer)
