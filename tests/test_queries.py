import numpy as np
from scipy.optimize import linear_sum_assignment

from scene_analogy.data.queries import QueryConfig, box_grid_queries, triplet_queries
from scene_analogy.data.triplets import SwapSampler, TripletConfig, make_triplet
from scene_analogy.structures.samples import PointSamples
from tests.helpers import random_scene, stub_pool, write_box_samples


def test_surface_queries_are_matched_and_carried(tmp_path):
    pool = stub_pool()
    write_box_samples(pool, tmp_path, 20)
    samples = PointSamples(tmp_path, 20)
    rng = np.random.default_rng(0)
    cfg = TripletConfig()
    t = make_triplet(random_scene(pool, 4, rng), pool, SwapSampler(pool, "train", cfg), cfg, rng)
    points, owner = triplet_queries(t, samples, QueryConfig(add_bbox_grid=True, grid_size=3))
    assert points.shape == (3, 4 * 20 + 4 * 27, 3) and owner.shape == (points.shape[1],)
    surf = points[:, : 4 * 20]
    # anchor and negative rows are the same canonical points under the two poses
    for k in range(4):
        a, n = t["pos"].object(k), t["neg"].object(k)
        canon = samples[a.model_id]
        np.testing.assert_allclose(surf[0, owner[:80] == k], a.world_points(canon), atol=1e-9)
        np.testing.assert_allclose(surf[2, owner[:80] == k], n.world_points(canon), atol=1e-9)
        # positive rows: an optimal assignment in the box frame (brute-force check of its cost)
        p = t["pair_pos"].object(k)
        box_a = (canon - pool[a.model_id].centre) * a.scale
        box_p = (samples[p.model_id] - pool[p.model_id].centre) * p.scale
        cost = ((box_a[:, None] - box_p[None]) ** 2).sum(-1)
        best = cost[linear_sum_assignment(cost)].sum()
        got = ((surf[0, owner[:80] == k] - surf[1, owner[:80] == k]) ** 2).sum(-1).sum()
        np.testing.assert_allclose(got, best, rtol=1e-9)
    grid = points[:, 80:]
    np.testing.assert_array_equal(grid[0], grid[1])
    np.testing.assert_array_equal(grid[0], grid[2])


def test_box_grid_inside_boxes():
    pool = stub_pool()
    scene = random_scene(pool, 3, np.random.default_rng(3))
    pts, owner = box_grid_queries(scene, 7)
    assert pts.shape == (3 * 343, 3)
    local = np.einsum("qj,qjk->qk", pts - scene.bbox_centroids[owner], scene.rots[owner])
    assert (np.abs(local) <= scene.bbox_sizes[owner] / 2 + 1e-9).all()
