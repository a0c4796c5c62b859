"""Coarse stage: candidates, IDW field, suppression, refinement, object correspondence."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from scene_analogy.field.model import FieldConfig
from scene_analogy.fixtures.match_inputs import box_keypoint_scene, transformed_copy, true_linear
from scene_analogy.match.coarse import (
    Candidates,
    bearing_mismatch,
    duplicates,
    footprint_iou,
    generate_candidates,
    greedy_keep,
    run_coarse,
    same_turn,
    warped_footprints,
)
from scene_analogy.match.idw import idw_cost, idw_descriptors
from scene_analogy.match.inputs import MatchConfig, pad_objects
from scene_analogy.ops.geometry import yaw_matrix, yaw_rotation
from tests.helpers import random_scene, stub_pool


def _boxes(scene, index):
    return tuple(torch.as_tensor(a[index], dtype=torch.float32) for a in (scene.box_centres, scene.box_sizes, scene.box_rots))


def test_candidate_count_and_exact_seed():
    roi_classes = torch.tensor([1, 2, 1])
    ref_classes = torch.tensor([1, 1, 3, 2, 5])
    centres, sizes = torch.rand(3, 3), torch.rand(3, 3) + 0.5
    linear = torch.as_tensor(true_linear(np.pi, True, 1.3), dtype=torch.float32)
    ref_centres = torch.rand(5, 3)
    ref_centres[3] = linear @ centres[1]  # same height: the seed adds no vertical shift
    ref_sizes = torch.rand(5, 3) + 0.5
    ref_sizes[3] = sizes[1] * torch.tensor([1.3, 1.0, 1.3])
    cands = generate_candidates(roi_classes, centres, sizes, ref_classes, ref_centres, ref_sizes, 4, True)
    pairs = int((roi_classes[:, None] == ref_classes[None]).sum())
    assert len(cands.linear) == pairs * 2 * 4 == 40
    # The pair (1, 3) at yaw pi with mirror is exactly the true map.
    row = torch.nonzero((cands.pair == torch.tensor([1, 3])).all(1) & cands.mirror & (cands.yaw - np.pi).abs().lt(1e-5))[0, 0]
    assert torch.allclose(cands.linear[row], linear, atol=1e-5)
    moved = cands.linear[row] @ centres[1] + cands.offset[row]
    assert torch.allclose(moved, ref_centres[3], atol=1e-5) and cands.offset[row, 1] == 0


def test_idw_cost_matches_explicit_and_has_finite_gradients():
    gen = torch.Generator().manual_seed(0)
    points = torch.rand(1, 40, 3, generator=gen)
    desc = torch.nn.functional.normalize(torch.randn(1, 40, 16, generator=gen), dim=-1)
    f_t = torch.nn.functional.normalize(torch.randn(1, 12, 16, generator=gen), dim=-1)
    query = torch.cat([points[:, :4], torch.rand(1, 8, 3, generator=gen)], 1).requires_grad_(True)  # 4 on keypoints
    explicit = (f_t - idw_descriptors(query, points, desc, 5, 0.01)).norm(dim=-1)
    fast = idw_cost(query, points, f_t @ desc.transpose(1, 2), desc @ desc.transpose(1, 2), 5, 0.01)
    assert torch.allclose(explicit, fast, atol=1e-5)
    fast.sum().backward()
    assert torch.isfinite(query.grad).all() and query.grad.abs().sum() > 0


def test_greedy_keep_equals_sequential_greedy():
    gen = torch.Generator().manual_seed(3)
    for _ in range(20):
        over = torch.rand(15, 15, generator=gen) < 0.3
        over = over | over.T
        keep, expected = greedy_keep(over), []
        for i in range(15):  # brute force reference
            expected.append(not any(expected[j] and bool(over[i, j]) for j in range(i)))
        assert keep.tolist() == expected


def test_footprint_iou_hand_values():
    centres = torch.zeros(1, 3)
    sizes = torch.tensor([[2.0, 1.0, 1.0]])
    rots = torch.eye(3)[None]
    linear = torch.eye(3).expand(3, 3, 3)
    offset = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [10.0, 0, 0]])  # same, half overlap, disjoint
    iou = footprint_iou(warped_footprints(linear, offset, centres, sizes, rots))
    assert iou[0, 0] == pytest.approx(1.0) and iou[0, 2] == 0.0
    assert iou[0, 1] == pytest.approx(1 / 3, abs=0.02) and iou[1, 0] == pytest.approx(iou[0, 1])


def _turned_candidates(yaws_deg, mirrors):
    """Candidates placing one square box at the same spot, turned by `yaws_deg` (mirrored where flagged)."""
    yaw = torch.tensor(np.deg2rad(yaws_deg), dtype=torch.float32)
    mirror = torch.tensor(mirrors)
    flip = torch.diag_embed(torch.stack([torch.where(mirror, -1.0, 1.0), torch.ones(len(yaw)), torch.ones(len(yaw))], -1))
    linear = yaw_rotation(yaw) @ flip
    n = len(yaw)
    return Candidates(linear, torch.zeros(n, 3), yaw, mirror, torch.zeros(n, 3), torch.zeros(n, 2, dtype=torch.long))


def test_suppression_keeps_a_square_box_turned_by_90_degrees():
    """A square footprint turned by 90 degrees covers itself: footprints alone call the two maps one
    hypothesis; the turn tells them apart (and a mirror does), a small turn does not."""
    cands = _turned_candidates([0.0, 90.0, 10.0, 0.0, 355.0], [False, False, False, True, False])
    box = (torch.zeros(1, 3), torch.tensor([[1.0, 0.8, 1.0]]), torch.eye(3)[None])
    quads = warped_footprints(cands.linear, cands.offset, *box)
    assert bool((footprint_iou(quads) >= MatchConfig().nms_iou).all())
    dup = duplicates(cands, quads, MatchConfig())
    assert dup[0].tolist() == [True, False, True, False, True]
    assert greedy_keep(dup).tolist() == [True, True, False, True, False]
    assert bool(duplicates(cands, quads, MatchConfig(nms_max_turn=180.0)).all())  # footprints only
    assert same_turn(cands.yaw, cands.mirror, 45.0)[2, 4]  # 10 and -5 degrees: 15 apart across 0
    with pytest.raises(ValueError, match="nms_max_turn"):
        MatchConfig(nms_max_turn=0.0)


def _copy_inputs(yaw: float, scale: float):
    """run_coarse inputs: RoI objects 0-2 of a random box scene against its copy turned by `yaw`,
    mirrored, scaled by `scale` and shifted (an untrained one-layer field)."""
    torch.manual_seed(0)
    field = FieldConfig(num_layers=1, feedforward=32, max_neighbors=16).build().eval()
    rng = np.random.default_rng(1)
    target = box_keypoint_scene(random_scene(stub_pool(), 8, rng), 30, rng)
    ref = transformed_copy(target, yaw, True, scale, [3.0, 0.0, -2.0])
    roi = np.array([0, 1, 2])
    index, mask = pad_objects(target, roi)
    roi_points = torch.as_tensor(target.points[index[mask]])
    obj = np.nonzero(ref.instance >= 0)[0]
    with torch.no_grad():
        f_roi = field.describe(roi_points, target.points, target.labels)
        f_ref = field.describe(ref.points[obj], ref.points, ref.labels)
    return (roi_points, f_roi, _boxes(target, roi), torch.as_tensor(target.class_ids[roi]),
            torch.as_tensor(ref.points[obj]), f_ref, _boxes(ref, slice(None)), torch.as_tensor(ref.class_ids))


@pytest.fixture(scope="module")
def coarse_inputs():
    return _copy_inputs(np.pi / 2, 1.0)


@pytest.mark.parametrize("mapping", ["scale_rot", "affine"])
def test_true_candidate_survives_refinement(coarse_inputs, mapping):
    cfg = MatchConfig(global_mapping_type=mapping, refine_steps=30)
    result = run_coarse(*coarse_inputs, cfg)
    pairs = int((coarse_inputs[3][:, None] == coarse_inputs[7][None]).sum())
    assert result.num_candidates == pairs * 2 * cfg.global_num_rot
    truth = torch.as_tensor(true_linear(np.pi / 2, True, 1.0), dtype=torch.float32)
    assert len(result.cost) >= 1
    assert torch.allclose(result.linear[0], truth, atol=0.05)
    assert torch.allclose(result.offset[0], torch.tensor([3.0, 0.0, -2.0]), atol=0.1)
    assert result.match[0].tolist() == [0, 1, 2] and int(result.num_inliers[0]) == 3
    assert float(result.cost[0]) < 0.05
    assert (result.num_inliers == result.num_inliers[0]).all()  # only maps with the most inliers


def test_threshold_drops_everything(coarse_inputs):
    cfg = dataclasses.replace(MatchConfig(), global_dist_valid_thres=0.0, refine_steps=2)
    result = run_coarse(*coarse_inputs, cfg)
    assert len(result.cost) == 0 and result.num_candidates > 0


def test_bearing_mismatch_by_hand():
    """Identity: 0. A 90-degree turn of the object: 0.5. A half turn: 1. An x-mirror of a proper box
    frame onto a proper one (handedness differs): 1. Unmatched objects do not count."""
    eye = torch.eye(3)
    yaw90 = yaw_rotation(torch.tensor([math.pi / 2]))[0]
    yaw180 = yaw_rotation(torch.tensor([math.pi]))[0]
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))
    linear = torch.stack([eye, yaw90, yaw180, mirror, eye])
    match = torch.tensor([[0], [0], [0], [0], [-1]])
    got = bearing_mismatch(linear, match, eye[None], eye[None])
    assert torch.allclose(got, torch.tensor([0.0, 0.5, 1.0, 1.0, 0.0]), atol=1e-6)


def _box_pair(yaw, mirror, scale, refit, rng):
    """Two boxes and their images under true_linear(yaw, mirror, scale); refit: the images' frames
    re-fitted as own-data boxes are (proper yaw rotations, any multiple of 90 degrees off)."""
    linear = true_linear(yaw, mirror, scale)
    rots = yaw_matrix(rng.uniform(-np.pi, np.pi, 2))
    ref_rots = np.einsum("ij,njk->nik", linear / scale, rots)
    if refit:
        ref_rots = yaw_matrix(np.arctan2(-ref_rots[:, 2, 0], ref_rots[:, 0, 0]) + rng.integers(0, 4, 2) * np.pi / 2)
    sizes, centres = rng.uniform(0.5, 2.0, (2, 3)), rng.normal(size=(2, 3))
    t = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float32)  # noqa: E731
    classes = torch.tensor([0, 1])
    return (classes, t(centres), t(sizes), classes, t(centres @ linear.T), t(sizes * [scale, 1, scale]),
            t(rots), t(ref_rots)), t(linear)


@pytest.mark.parametrize("refit", [False, True])
def test_box_yaws_hold_the_exact_map_for_any_turn(refit):
    """Off the grid (10, 37, ... degrees), mirrored or not, with oriented frames or frames known only
    modulo 90 degrees (own data): a candidate of the true pair is the true map; the grid has none."""
    rng = np.random.default_rng(5)
    for yaw in np.deg2rad([10.0, 37.0, 90.0, -133.0, 201.5]):
        for mirror in (False, True):
            (rc, c, s, fc, fcen, fs, rots, ref_rots), truth = _box_pair(yaw, mirror, 1.2, refit, rng)
            best = {}
            for source in ("grid", "boxes", "both"):
                cands = generate_candidates(rc, c, s, fc, fcen, fs, 4, True, rots, ref_rots, source)
                same = cands.pair[:, 0] == cands.pair[:, 1]
                best[source] = float((cands.linear[same] - truth).abs().amax((1, 2)).min())
                assert len(cands.linear) == 2 * 4 * 2 * (2 if source == "both" else 1)
            assert best["boxes"] < 1e-4 and best["both"] < 1e-4
            if abs(math.remainder(yaw, math.pi / 2)) > 0.1:
                assert best["grid"] > 0.1


def test_box_yaws_of_a_grid_turn_are_the_grid():
    """Frames turned by a multiple of 90 degrees: the box yaws are the grid's (same candidates)."""
    rng = np.random.default_rng(6)
    args, _ = _box_pair(np.pi / 2, True, 1.0, False, rng)
    args = args[:6] + (torch.eye(3).expand(2, 3, 3), args[7] @ args[6].transpose(1, 2))  # roi frames = I
    grid = generate_candidates(*args[:6], 4, True, *args[6:], "grid")
    boxes = generate_candidates(*args[:6], 4, True, *args[6:], "boxes")
    turn = lambda y: torch.remainder(y + 0.01, 2 * math.pi)  # noqa: E731 (round-off around 0 / 2 pi)
    key = lambda c: sorted(zip(c.pair[:, 0].tolist(), c.pair[:, 1].tolist(), c.mirror.tolist(),  # noqa: E731
                               torch.round(turn(c.yaw), decimals=3).tolist()))
    assert key(grid) == key(boxes)


def test_box_yaws_find_a_37_degree_copy_without_refinement():
    """The coarse stage alone, no refinement step: on a 37-degree, mirrored copy the box-frame
    candidate of the right objects is the true map (cost ~ 0); the best grid candidate is not."""
    yaw = np.deg2rad(37.0)
    inputs = _copy_inputs(yaw, 1.1)
    truth = torch.as_tensor(true_linear(yaw, True, 1.1), dtype=torch.float32)
    boxes = run_coarse(*inputs, MatchConfig(refine_steps=0, candidate_yaws="boxes"))
    assert torch.allclose(boxes.linear[0], truth, atol=1e-3) and boxes.match[0].tolist() == [0, 1, 2]
    assert float(boxes.cost[0]) < 0.02
    grid = run_coarse(*inputs, MatchConfig(refine_steps=0, candidate_yaws="grid"))
    assert float((grid.linear[0] - truth).abs().max()) > 0.1 and float(grid.cost[0]) > float(boxes.cost[0])
