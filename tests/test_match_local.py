"""Fine stage: box snap, point optimisation, assignment, and the displacement (object parts or spline)
through the final points."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scene_analogy.match.idw import idw_cost
from scene_analogy.match.inputs import MatchConfig
from scene_analogy.match.analogy_map import AnalogyMap
from scene_analogy.match.local import assign_points, box_maps, box_snap, cube_symmetries, optimise_points, run_fine
from scene_analogy.ops.geometry import yaw_rotation

MIRROR = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))


def _yaw(deg):
    return yaw_rotation(torch.tensor(float(np.deg2rad(deg))))


def test_cube_symmetries_are_distinct_and_keep_up():
    q = cube_symmetries()
    assert len({tuple(m.flatten().tolist()) for m in q}) == 8
    assert torch.equal(q[:, 1], torch.tensor([0.0, 1.0, 0.0]).expand(8, 3))


@pytest.mark.parametrize("map_yaw,mirror,expected", [
    (90, False, [5.0, 0.0, 3.0]),    # same orientation as the reference box: Q = I
    (270, False, [5.0, 0.0, 7.0]),   # warped box turned 180 deg: the opposite face
    (90, True, [5.0, 0.0, 3.0]),     # mirrored map: the -x face lands where +x did above
])
def test_box_snap_by_hand(map_yaw, mirror, expected):
    # RoI box: centre 0, size (2, 1, 1), axis-aligned. Reference box: centre (5, 0, 5), size (4, 1, 2),
    # yaw 90 deg: its local +x axis points to world -z.
    roi_box = (torch.zeros(1, 3), torch.tensor([[2.0, 1.0, 1.0]]), torch.eye(3)[None])
    ref_box = (torch.tensor([[5.0, 0.0, 5.0]]), torch.tensor([[4.0, 1.0, 2.0]]), _yaw(90)[None])
    linear = _yaw(map_yaw) @ (MIRROR if mirror else torch.eye(3))
    point = torch.tensor([[[1.0, 0.0, 0.0]]]) if not mirror else torch.tensor([[[-1.0, 0.0, 0.0]]])
    snapped = box_snap(point, linear[None], roi_box, ref_box)
    assert torch.allclose(snapped[0, 0], torch.tensor(expected), atol=1e-5)


def test_box_snap_mirrored_map_keeps_the_mirror():
    roi_box = (torch.zeros(1, 3), torch.tensor([[2.0, 1.0, 1.0]]), torch.eye(3)[None])
    ref_box = (torch.tensor([[5.0, 0.0, 5.0]]), torch.tensor([[4.0, 1.0, 2.0]]), _yaw(90)[None])
    linear = _yaw(90) @ MIRROR
    points = torch.tensor([[[1.0, 0.0, 0.5], [-1.0, 0.5, -0.5]]])
    snapped = box_snap(points, linear[None], roi_box, ref_box)
    # Expected: the same map scaled to the box: p -> c_j + R_90 M diag(2, 1, 2) p
    expected = torch.tensor([5.0, 0.0, 5.0]) + points[0] @ (_yaw(90) @ MIRROR @ torch.diag(torch.tensor([2.0, 1.0, 2.0]))).T
    assert torch.allclose(snapped[0], expected, atol=1e-5)


def _object_problem(seed=0, slots=2, m=12, mr=20, dim=16):
    gen = torch.Generator().manual_seed(seed)
    ref_points = torch.rand(slots, mr, 3, generator=gen)
    ref_desc = torch.nn.functional.normalize(torch.randn(slots, mr, dim, generator=gen), dim=-1)
    pick = torch.randint(0, mr, (slots, m), generator=gen)
    truth = torch.gather(ref_points, 1, pick[..., None].expand(-1, -1, 3))
    f_t = torch.gather(ref_desc, 1, pick[..., None].expand(-1, -1, dim))  # each RoI point has a true match
    return gen, ref_points, ref_desc, truth, f_t


def test_optimisation_lowers_the_cost():
    gen, ref_points, ref_desc, truth, f_t = _object_problem()
    start = truth + 0.05 * torch.randn(truth.shape, generator=gen)
    dots = f_t @ ref_desc.transpose(1, 2)
    gram = ref_desc @ ref_desc.transpose(1, 2)
    lengths = torch.tensor([20, 17])  # second object: 3 padding slots
    mask = torch.ones(truth.shape[:2], dtype=torch.bool)
    mask[1, -2:] = False
    cfg = MatchConfig(local_steps=100, local_lr=2e-3)
    before = idw_cost(start, ref_points, dots, gram, 5, cfg.idw_eps, points_lengths=lengths)
    final, after = optimise_points(start, ref_points, lengths, dots, gram, torch.arange(2), mask, cfg)
    assert (after[mask].mean() < 0.8 * before[mask].mean())
    assert torch.equal(final[1, -2:], start[1, -2:])  # padding never moves


def _fine_roi_points():
    return torch.rand(2, 10, 3, generator=torch.Generator().manual_seed(5)) + torch.tensor([[[0.0, 0, 0]], [[2.0, 0, 0]]])


def _fine_problem(**cfg):
    gen = torch.Generator().manual_seed(5)
    roi_points = torch.rand(2, 10, 3, generator=gen) + torch.tensor([[[0.0, 0, 0]], [[2.0, 0, 0]]])
    roi_mask = torch.ones(2, 10, dtype=torch.bool)
    roi_mask[1, 8:] = False
    f_roi = torch.nn.functional.normalize(torch.randn(2, 10, 8, generator=gen), dim=-1)
    ref_points = torch.rand(1, 15, 3, generator=gen) + 4
    f_ref = torch.nn.functional.normalize(torch.randn(1, 15, 8, generator=gen), dim=-1)
    box = lambda c: (c, torch.ones(len(c), 3), torch.eye(3).expand(len(c), 3, 3))  # noqa: E731
    linear = (_yaw(30) * torch.tensor([1.1, 1.0, 1.1]))[None]
    offset = torch.tensor([[4.0, 0.0, 0.0]])
    match = torch.tensor([[0, -1]])  # object 1 unmatched: it follows the global map
    fine = run_fine(linear, offset, match, torch.full((1, 18), 0.7), roi_points, roi_mask, f_roi,
                    box(torch.tensor([[0.5, 0.5, 0.5], [2.5, 0.5, 0.5]])), ref_points, torch.tensor([15]), f_ref,
                    box(torch.tensor([[4.5, 0.5, 0.5]])), torch.tensor([0]), MatchConfig(**cfg))
    amap = AnalogyMap(linear[0].double().numpy(), offset[0].double().numpy(), **fine.displacement(0))
    return fine, amap, roi_mask, (ref_points, f_roi, f_ref)


@pytest.mark.parametrize("displacement", ["spline", "parts"])
@pytest.mark.parametrize("assign", ["none", "snap"])
def test_map_carries_the_roi_points_to_their_final_points(displacement, assign):
    """F(p) = final point, for the matched object and the unmatched one (its global warp): the spline
    exactly at smoothing 0; narrow bumps with a small ridge up to that ridge (here, with random points
    as close as a few cm, a fifth of what the box maps alone leave). The AnalogyMap agrees with
    `mapped`."""
    settings = dict(local_displacement=displacement, local_rbf_smoothing=0.0, local_steps=30, local_lr=5e-3,
                    local_assign=assign, bump_smoothing=1e-2)
    fine, amap, mask, _ = _fine_problem(**settings, bump_width=0.1)
    assert bool(fine.valid[0])
    error = float((fine.mapped[0] - fine.optimised[0][mask].double()).abs().max())
    if displacement == "spline":
        assert error < 1e-6
    else:
        no_bumps, _, _, _ = _fine_problem(**{**settings, "bump_width": 0.0})
        assert error < 0.2 * float((no_bumps.mapped[0] - fine.optimised[0][mask].double()).abs().max())
    flat = _fine_roi_points()[mask].double().numpy()
    np.testing.assert_allclose(amap.apply(flat), fine.mapped[0].numpy(), atol=1e-6)  # float32 warp in `mapped`
    assert fine.object_cost[0, 1] == pytest.approx(0.7) and fine.cost[0] == pytest.approx(fine.object_cost[0].mean().item())
    if assign == "none":
        assert not torch.allclose(fine.optimised[0, 0], fine.snapped[0, 0])  # the matched object moved


def test_snap_maps_the_assigned_snap_and_costs_the_optimum():
    """"snap": the map's points are the snapped points assigned to keypoints, whatever the optimisation
    does; the optimisation gives the cost only (lower than at the start). Without bumps nothing reads
    the assigned points, so the final points are the snapped ones."""
    fine, _, _, (ref_points, f_roi, f_ref) = _fine_problem(local_steps=30, local_lr=5e-3)
    still, _, _, _ = _fine_problem(local_steps=0)
    assert torch.equal(fine.optimised, still.optimised) and float(fine.cost[0]) < float(still.cost[0])
    final = fine.optimised[0, 0]
    assert (final[:, None] - ref_points[0][None]).norm(dim=-1).min(1).values.max() < 1e-6  # on keypoints
    plain, _, _, _ = _fine_problem(bump_width=0.0)
    assert torch.equal(plain.optimised, plain.snapped)


def test_parts_keep_open_space_on_the_box_map_and_far_space_on_the_global_map():
    """Off the RoI surface (beyond the bumps) and within `inner` of the matched box, F is that box's
    map (what box snapping does to the object); 3 m away it is the global map A x + b."""
    fine, amap, _, _ = _fine_problem(bump_width=0.05)
    lin, off = box_maps(torch.tensor(amap.linear, dtype=torch.float32)[None],
                        (torch.tensor([[0.5, 0.5, 0.5]]), torch.ones(1, 3), torch.eye(3)[None]),
                        (torch.tensor([[4.5, 0.5, 0.5]]), torch.ones(1, 3), torch.eye(3)[None]))
    free = np.array([[0.5, 0.5, -0.35], [-0.35, 0.8, 0.5], [0.5, 1.4, 0.2]])  # 0.35-0.4 m off box 0, >1.5 m off box 1
    np.testing.assert_allclose(amap.apply(free), free @ lin[0].double().numpy().T + off[0].double().numpy(), atol=1e-4)
    far = np.array([[0.5, 0.5, 5.0], [-4.0, 0.0, 0.0]])
    np.testing.assert_allclose(amap.apply(far), far @ amap.linear.T + amap.offset, atol=1e-12)


def test_assign_points_recovers_a_permutation_and_keeps_extra_points():
    """Slot 0: its points are a shuffled, slightly moved copy of its object's keypoints, so the
    assignment undoes the shuffle (nearest-point snapping would not: two points share a nearest
    keypoint). Slot 1: 4 points, an object of 2 keypoints: two points move, two stay. Padding stays."""
    gen = torch.Generator().manual_seed(0)
    ref = torch.zeros(2, 6, 3)
    ref[0] = torch.tensor([[0.0, 0, 0], [0.3, 0, 0], [0.6, 0, 0], [0.9, 0, 0], [1.2, 0, 0], [1.5, 0, 0]])
    ref[1, :2] = torch.tensor([[5.0, 0, 0], [5.0, 1, 0]])
    perm = torch.randperm(6, generator=gen)
    points = torch.zeros(2, 6, 3)
    points[0] = ref[0, perm] + torch.tensor([0.14, 0.0, 0.0])  # every point nearer the next keypoint
    points[1, :4] = torch.tensor([[5.0, 0.1, 0], [5.0, 0.9, 0], [9.0, 0, 0], [9.0, 1, 0]])
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    out = assign_points(points, ref, torch.tensor([6, 2]), mask, max_points=512)
    assert torch.equal(out[0], ref[0, perm])
    assert torch.equal(out[1, :2], ref[1, :2]) and torch.equal(out[1, 2:], points[1, 2:])
    untouched = assign_points(points, ref, torch.tensor([6, 2]), mask, max_points=5)  # slot 0 too large
    assert torch.equal(untouched[0], points[0]) and torch.equal(untouched[1, :2], ref[1, :2])
