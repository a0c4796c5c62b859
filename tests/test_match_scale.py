"""The matcher's large-input paths: the field's context of densely sampled objects, the k-d tree
neighbour search and the per-slot assignment (issue 18, scale)."""

import numpy as np
import pytest
import torch

from scene_analogy.match.inputs import MatchConfig, MatchScene
from scene_analogy.match.local import assign_points
from scene_analogy.ops import neighbors


def _scene(counts, floor=4, seed=0):
    rng = np.random.default_rng(seed)
    pts = [rng.random((c, 3)) + [3.0 * i, 0, 0] for i, c in enumerate(counts)]
    instance = np.concatenate([np.full(c, i) for i, c in enumerate(counts)] + [np.full(floor, -1)])
    points = np.concatenate(pts + [rng.random((floor, 3))])
    labels = np.where(instance >= 0, instance + 1, 0)
    n = len(counts)
    return MatchScene(points, labels, instance, np.arange(n), np.zeros((n, 3)), np.ones((n, 3)),
                      np.broadcast_to(np.eye(3), (n, 3, 3)))


def test_context_subsamples_only_dense_objects():
    scene = _scene([500, 20, 64])
    points, labels = scene.context(64, "cpu")
    instance_of = {tuple(p): i for p, i in zip(scene.points.tolist(), scene.instance.tolist())}
    kept = np.array([instance_of[tuple(p)] for p in points.tolist()])
    assert (kept == 0).sum() == 64 and (kept == 1).sum() == 20 and (kept == 2).sum() == 64 and (kept == -1).sum() == 4
    assert torch.equal(labels, torch.as_tensor(np.where(kept >= 0, kept + 1, 0)))
    # The subset of the dense object spreads over it: farthest-point picks cover its extent.
    dense = points[torch.as_tensor(kept == 0)]
    assert float(dense[:, 0].max() - dense[:, 0].min()) > 0.9
    all_points, _ = scene.context(0, "cpu")
    assert len(all_points) == len(scene.points)


def test_context_default_leaves_evaluation_scenes_alone():
    scene = _scene([50, 50])
    points, _ = scene.context(MatchConfig().context_keypoints, "cpu")
    assert torch.equal(points, torch.as_tensor(scene.points))


@pytest.mark.parametrize("with_lengths", [False, True])
def test_tree_search_equals_brute_force(with_lengths, monkeypatch):
    g = torch.Generator().manual_seed(0)
    query, points = torch.rand(2, 3000, 3, generator=g), torch.rand(2, 2500, 3, generator=g)
    lengths = torch.tensor([2500, 2200]) if with_lengths else None
    monkeypatch.setattr(neighbors, "TREE_MIN_PAIRS", 1)
    tree = neighbors.knn(query, points, 5, lengths)
    monkeypatch.setattr(neighbors, "TREE_MIN_PAIRS", 10**12)
    brute = neighbors.knn(query, points, 5, lengths)
    for a, b in zip(tree, brute):
        assert torch.equal(a, b)


def test_tree_search_keeps_gradients(monkeypatch):
    monkeypatch.setattr(neighbors, "TREE_MIN_PAIRS", 1)
    query = torch.rand(1, 40, 3, requires_grad=True)
    dist, _, _ = neighbors.knn(query, torch.rand(1, 50, 3), 3)
    dist.sum().backward()
    assert query.grad is not None and torch.isfinite(query.grad).all() and query.grad.abs().sum() > 0


def test_assignment_solves_each_slot_on_its_own():
    g = torch.Generator().manual_seed(1)
    points, ref = torch.rand(3, 6, 3, generator=g), torch.rand(3, 8, 3, generator=g)
    ref_lengths, mask = torch.tensor([8, 6, 4]), torch.ones(3, 6, dtype=torch.bool)
    mask[1, 5] = False
    out = assign_points(points, ref, ref_lengths, mask, max_points=512)
    for s in range(3):
        rows = torch.nonzero(mask[s])[:, 0]
        hits = [int(torch.nonzero((ref[s, : ref_lengths[s]] == out[s, r]).all(1))[0]) for r in rows
                if (ref[s, : ref_lengths[s]] == out[s, r]).all(1).any()]
        # Distinct keypoints of the slot's own object; where it has fewer, the rest stay put.
        assert len(hits) == len(set(hits)) == min(len(rows), int(ref_lengths[s]))
        stayed = [r for r in rows if not (ref[s, : ref_lengths[s]] == out[s, r]).all(1).any()]
        assert all(torch.equal(out[s, r], points[s, r]) for r in stayed)
    assert torch.equal(out[1, 5], points[1, 5])  # padding is never moved
    # Least total squared distance: no swap of two assigned rows lowers the cost (slot 0).
    cost = lambda o: ((o - points[0]) ** 2).sum()  # noqa: E731
    for i in range(6):
        for j in range(i + 1, 6):
            swapped = out[0].clone()
            swapped[[i, j]] = swapped[[j, i]]
            assert cost(out[0]) <= cost(swapped) + 1e-9


def test_idw_cost_from_descriptors_equals_the_gram_matrix():
    from scene_analogy.match.idw import idw_cost

    g = torch.Generator().manual_seed(2)
    query, points = torch.rand(2, 30, 3, generator=g), torch.rand(2, 40, 3, generator=g)
    f_t = torch.nn.functional.normalize(torch.randn(2, 30, 8, generator=g), dim=-1)
    desc = torch.nn.functional.normalize(torch.randn(2, 40, 8, generator=g), dim=-1)
    dots, gram = f_t @ desc.transpose(1, 2), desc @ desc.transpose(1, 2)
    lengths = torch.tensor([40, 25])
    with_gram = idw_cost(query, points, dots, gram, 5, 0.01, points_lengths=lengths)
    from_desc = idw_cost(query, points, dots, None, 5, 0.01, points_lengths=lengths, ref_desc=desc)
    torch.testing.assert_close(from_desc, with_gram, rtol=1e-5, atol=1e-6)
