"""Relation term (match/relations.py): node and edge costs by hand, invariance, the coarse ranking's hook."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from scene_analogy.fixtures.match_inputs import box_keypoint_scene
from scene_analogy.match.coarse import run_coarse
from scene_analogy.match.inputs import MatchConfig
from scene_analogy.match.relations import edge_costs, floor_bearing, node_cost, relation_mismatch
from scene_analogy.ops.geometry import yaw_rotation
from tests.helpers import random_scene, stub_pool
from tests.test_match_coarse import coarse_inputs  # noqa: F401 (fixture)


def _layout():
    """Three objects in a row along x (0, 2, 3 m), proper frames facing +z; sizes 1, 1, 2."""
    centres = torch.tensor([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [3.0, 0.0, 0.0]], dtype=torch.float64)
    sizes = torch.tensor([[1.0] * 3, [1.0] * 3, [2.0] * 3], dtype=torch.float64)
    rots = torch.eye(3, dtype=torch.float64).expand(3, 3, 3).clone()
    return centres, sizes, rots


def test_bearing_and_costs_by_hand():
    centres, sizes, rots = _layout()
    a, b = torch.tensor([0, 1]), torch.tensor([1, 0])
    assert torch.allclose(floor_bearing(centres, rots, a, b), torch.tensor([0.0, math.pi], dtype=torch.float64))
    # Identity: 0; objects 0 and 1 swapped: distances agree, both bearings turn by pi: 0.25 * 2 per edge.
    match = torch.tensor([[0, 1], [1, 0], [0, -1]])
    edge = edge_costs(centres[:2], rots[:2], centres, rots, match)
    assert torch.allclose(edge[:, 0], torch.tensor([0.0, 0.5, 0.0], dtype=torch.float64))
    # 0 -> 0, 1 -> 2: d = 2 against 3: |2 - 3| / 3; bearings agree.
    far = edge_costs(centres[:2], rots[:2], centres, rots, torch.tensor([[0, 2]]))
    assert torch.allclose(far, torch.full((1, 2), 1 / 3, dtype=torch.float64))
    # Node: object 1 (size 1) on object 2 (size 2): |log 2|, averaged over the two matched objects.
    node = node_cost(sizes[:2], sizes, torch.tensor([[0, 2], [0, -1]]))
    assert torch.allclose(node, torch.tensor([math.log(2) / 2, 0.0], dtype=torch.float64))


def test_invariant_to_moving_the_reference_and_mirror_allowed():
    """Turning, shifting the reference changes nothing; mirroring its layout (proper frames kept) is
    the m = -1 column, so `relation_mismatch` (the better column) is 0 for the true rows either way."""
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(5, 3, generator=gen, dtype=torch.float64) * 2
    rots = yaw_rotation(torch.rand(5, generator=gen) * 6.28).double()
    sizes = torch.rand(5, 3, generator=gen, dtype=torch.float64) + 0.5
    turn = yaw_rotation(torch.tensor([1.1]))[0].double()
    match = torch.tensor([[0, 1, 2], [1, 0, 2], [2, 1, 0]])
    roi = (centres[:3], sizes[:3], rots[:3])
    moved = (centres @ turn.T + torch.tensor([4.0, 0.0, -1.0], dtype=torch.float64), sizes, turn @ rots)
    same = relation_mismatch(match, roi, (centres, sizes, rots))
    assert torch.allclose(relation_mismatch(match, roi, moved), same, atol=1e-6) and same[0].abs() < 1e-9 and (same[1:] > 0.05).all()
    flip = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))  # z-mirror of the layout
    mirrored_rots = flip @ rots @ flip  # frames mirrored too, made proper again: bearings change sign
    edge = edge_costs(roi[0], roi[2], centres @ flip, mirrored_rots, match)
    assert edge[0, 1].abs() < 1e-6 and edge[0, 0] > 0.05


def test_scene_graph_costs_are_the_shared_terms():
    """The scene-graph baseline scores assignments by these very terms (plus its unmatched penalty)."""
    from scene_analogy.baselines.scene_graph import SceneGraphMatcher

    rng = np.random.default_rng(3)
    target = box_keypoint_scene(random_scene(stub_pool(), 8, rng), 10, rng)
    roi = np.array([0, 1, 2])
    matcher = SceneGraphMatcher()
    grid = matcher.assignments(target, target, roi)
    cost, _ = matcher.costs(target, target, roi, grid)
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    boxes = lambda idx: tuple(t(a[idx]) for a in (target.box_centres, target.box_sizes, target.box_rots))  # noqa: E731
    expected = relation_mismatch(torch.as_tensor(grid), boxes(roi), boxes(slice(None))).numpy()
    assert np.allclose(cost, expected + matcher.unmatched_penalty * (grid < 0).mean(1))
    assert grid[np.argmin(cost)].tolist() == roi.tolist()


def test_relation_weight_hook_keeps_the_true_map_first(coarse_inputs):  # noqa: F811
    """The hook only reorders the same maps, and keeps the exact map first (its relation cost is 0)."""
    cfg = MatchConfig(refine_steps=5, relation_weight=0.0)
    off = run_coarse(*coarse_inputs, cfg)
    on = run_coarse(*coarse_inputs, dataclasses.replace(cfg, relation_weight=1.0))
    assert on.match[0].tolist() == off.match[0].tolist() == [0, 1, 2]
    assert len(on.cost) == len(off.cost) and sorted(on.cost.tolist()) == sorted(off.cost.tolist())
