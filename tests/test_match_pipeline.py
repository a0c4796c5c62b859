"""The whole matcher on pairs with known answers, and the batched assignment solver vs scipy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from scene_analogy.field.model import FieldConfig
from scene_analogy.fixtures.match_inputs import box_keypoint_scene, select_objects, transformed_copy, true_linear
from scene_analogy.match.analogy_map import AnalogyMap
from scene_analogy.match.assignment import batched_assignment
from scene_analogy.match.inputs import MatchConfig, MatchScene
from scene_analogy.match.pipeline import find_analogy, inverse
from tests.helpers import random_scene, stub_pool

YAW, MIRROR, SCALE, OFFSET = np.pi / 2, True, 1.2, np.array([3.0, 0.0, -2.0])


@pytest.fixture(scope="module")
def tiny_field():
    torch.manual_seed(0)
    return FieldConfig(num_layers=1, feedforward=32, max_neighbors=16).build().eval()


@pytest.fixture(scope="module")
def target():
    rng = np.random.default_rng(1)
    return box_keypoint_scene(random_scene(stub_pool(), 8, rng), 30, rng)


def _pcp(result_map: AnalogyMap, truth: np.ndarray, tau: float) -> float:
    return float((np.linalg.norm(result_map.apply(result_map.roi_points) - truth, axis=1) < tau).mean())


def _truth(points, yaw=YAW, mirror=MIRROR, scale=SCALE, offset=OFFSET):
    return points @ true_linear(yaw, mirror, scale).T + offset


def test_field_is_invariant(tiny_field, target):
    # The premise of the copy tests: a rotated + mirrored copy has the same descriptors.
    ref = transformed_copy(target, YAW, MIRROR, 1.0, OFFSET)
    with torch.no_grad():
        a = tiny_field.describe(target.points[:50], target.points, target.labels)
        b = tiny_field.describe(ref.points[:50], ref.points, ref.labels)
    assert torch.allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("scale", [1.0, SCALE])
def test_copy_is_found(tiny_field, target, scale):
    ref = transformed_copy(target, YAW, MIRROR, scale, OFFSET)
    result = find_analogy(target, ref, [0, 1, 2], tiny_field, tiny_field, MatchConfig())
    assert result.best is not None
    truth = _truth(result.best.roi_points, scale=scale)
    assert _pcp(result.best, truth, 0.10) >= 0.95
    assert result.best.correspondence.tolist() == [[0, 0], [1, 1], [2, 2]]
    assert set(result.timings) == {"coarse", "fine", "total"}
    assert result.candidate_boxes.shape[1:] == (3, 4, 2)


def test_copy_with_objects_added_and_removed(tiny_field, target):
    rng = np.random.default_rng(7)
    extra = box_keypoint_scene(random_scene(stub_pool(), 4, rng), 30, rng)
    # Drop objects 5 and 7, add four others: the RoI objects 0, 1, 2 keep their indices.
    edited = select_objects(target, [0, 1, 2, 3, 4, 6], extra)
    ref = transformed_copy(edited, YAW, MIRROR, 1.0, OFFSET)
    result = find_analogy(target, ref, [0, 1, 2], tiny_field, tiny_field, MatchConfig(topk_maps=3))
    assert result.best is not None
    assert _pcp(result.best, _truth(result.best.roi_points, scale=1.0), 0.10) >= 0.95
    costs = [m.cost for m in result.maps]
    assert costs == sorted(costs)


def test_absent_classes_give_no_analogy(tiny_field, target):
    ref = transformed_copy(target, YAW, MIRROR, 1.0, OFFSET)
    absent = np.setdiff1d(ref.class_ids, target.class_ids[:2])
    others = np.nonzero(np.isin(ref.class_ids, absent))[0]
    result = find_analogy(target, select_objects(ref, others), [0, 1], tiny_field, tiny_field, MatchConfig())
    assert result.best is None and result.maps == []


def test_high_threshold_and_inverse_roundtrip(tiny_field, target, tmp_path):
    ref = transformed_copy(target, YAW, MIRROR, 1.0, OFFSET)
    cfg = MatchConfig(refine_steps=20, local_steps=20)
    forward = find_analogy(target, ref, [0, 1], tiny_field, tiny_field, cfg)
    backward = inverse(forward, target, ref, tiny_field, tiny_field, cfg)
    assert backward.best is not None
    roi = forward.best.roi_points
    roundtrip = backward.best.apply(forward.best.apply(roi))
    assert np.median(np.linalg.norm(roundtrip - roi, axis=1)) < 0.05
    path = tmp_path / "map.npz"
    forward.best.save(path)
    np.testing.assert_allclose(AnalogyMap.load(path).apply(roi), forward.best.apply(roi))
    strict = find_analogy(target, ref, [0, 1], tiny_field, tiny_field, MatchConfig(refine_steps=5, local_steps=5,
                                                                                    local_valid_thres=-1.0))
    assert strict.best is None and len(strict.maps) == 1
    # Without a number in the config, the field's own calibrated threshold decides.
    tiny_field.valid_threshold = -1.0
    try:
        calibrated = find_analogy(target, ref, [0, 1], tiny_field, tiny_field, MatchConfig(refine_steps=5, local_steps=5))
    finally:
        tiny_field.valid_threshold = None
    assert calibrated.best is None and len(calibrated.maps) == 1


def test_from_points_boxes():
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.random((20, 3)), rng.random((10, 3)) + 5])
    inst = np.r_[np.full(20, 4), np.full(10, 9), ]
    scene = MatchScene.from_points(pts, inst, labels=np.r_[np.full(20, 2), np.full(10, 3)])
    assert scene.class_ids.tolist() == [2, 3]
    np.testing.assert_allclose(scene.box_centres[1], (pts[20:].min(0) + pts[20:].max(0)) / 2, rtol=1e-6)
    np.testing.assert_allclose(scene.box_sizes[0], pts[:20].max(0) - pts[:20].min(0), rtol=1e-6)
    assert scene.labels.tolist() == [3] * 20 + [4] * 10


@pytest.mark.parametrize("rows,cols", [(3, 5), (5, 5), (8, 100), (10, 30), (6, 4)])
def test_assignment_matches_scipy(rows, cols):
    gen = torch.Generator().manual_seed(rows * 100 + cols)
    cost = torch.rand(40, rows, cols, generator=gen, dtype=torch.float64) * 10
    forbidden = torch.rand(40, rows, cols, generator=gen) < 0.3
    col, total = batched_assignment(cost, forbidden)
    checked = 0
    for b in range(40):  # the reference solver, one problem at a time
        picked = col[b][col[b] >= 0]
        assert len(set(picked.tolist())) == len(picked)
        assert not forbidden[b, torch.nonzero(col[b] >= 0)[:, 0], picked].any()
        matrix = cost[b].numpy().copy()
        matrix[forbidden[b].numpy()] = np.inf
        try:
            r, c = linear_sum_assignment(matrix)
        except ValueError:  # infeasible for scipy: we must still assign as many rows as possible
            continue
        if rows <= cols:
            assert (col[b] >= 0).all()
            assert abs(matrix[r, c].sum() - float(total[b])) < 1e-9
            checked += 1
    assert checked > 0 or rows > cols


def test_assignment_rectangular_tall_and_capped():
    cost = torch.tensor([[[1.0, 5.0], [2.0, 1.0], [0.5, 0.2]]], dtype=torch.float64)
    col, total = batched_assignment(cost)
    r, c = linear_sum_assignment(cost[0].numpy())  # scipy assigns 2 of 3 rows, optimally
    assert abs(float(total[0]) - cost[0].numpy()[r, c].sum()) < 1e-12 and (col >= 0).sum() == 2
    col, total = batched_assignment(cost, unassigned_cost=0.6)
    assert col[0].tolist() == [-1, -1, 1] and abs(float(total[0]) - 0.2) < 1e-12
