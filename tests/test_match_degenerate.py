"""The matcher on degenerate inputs: unnormalised fields, boxes without a footprint, reference objects
without keypoints, local and global fields of different widths, RoI objects of very different sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scene_analogy.field.model import FieldConfig
from scene_analogy.fixtures.match_inputs import box_keypoint_scene, transformed_copy, true_linear
from scene_analogy.match.coarse import MIN_HALF_DIAGONAL, generate_candidates
from scene_analogy.match.inputs import MatchConfig, MatchScene
from scene_analogy.match.pipeline import find_analogy, refine_subset
from tests.helpers import random_scene, stub_pool

YAW, MIRROR, OFFSET = np.pi / 2, True, np.array([3.0, 0.0, -2.0])


def _field(**overrides):
    torch.manual_seed(0)
    return FieldConfig(num_layers=1, feedforward=32, max_neighbors=16, **overrides).build().eval()


@pytest.fixture(scope="module")
def target():
    rng = np.random.default_rng(1)
    return box_keypoint_scene(random_scene(stub_pool(), 8, rng), 30, rng)


def _without_points(scene: MatchScene, objects) -> MatchScene:
    """The scene with the keypoints of `objects` removed (their boxes kept)."""
    rows = ~np.isin(scene.instance, objects)
    return MatchScene(scene.points[rows], scene.labels[rows], scene.instance[rows], scene.class_ids,
                      scene.box_centres, scene.box_sizes, scene.box_rots)


def test_unnormalised_field_costs_are_those_of_unit_descriptors(target):
    """normalize=False: descriptors of norm ~8 once made every IDW cost 1e-6 (|f_t|^2 read as 1), so
    no threshold could reject anything. The matcher normalises them: same maps and costs as the
    normalised field, and an unrelated scene is rejected at the same threshold."""
    plain, raw = _field(), _field(normalize=False)
    raw.load_state_dict(plain.state_dict())
    ref = transformed_copy(target, YAW, MIRROR, 1.0, OFFSET)
    a = find_analogy(target, ref, [0, 1, 2], plain, plain, MatchConfig())
    b = find_analogy(target, ref, [0, 1, 2], raw, raw, MatchConfig())
    assert b.best is not None and b.best.cost == pytest.approx(a.best.cost, abs=1e-5)
    assert b.best.correspondence.tolist() == a.best.correspondence.tolist()
    rng = np.random.default_rng(7)
    other = box_keypoint_scene(random_scene(stub_pool(), 8, rng), 30, rng)
    strict = MatchConfig(local_valid_thres=0.05)
    costs = [find_analogy(target, other, [0, 1, 2], f, f, strict) for f in (plain, raw)]
    assert all(r.best is None for r in costs)
    assert min(m.cost for m in costs[1].maps) > 1e-3


def test_boxes_without_a_footprint_get_scale_one():
    """A one-point object's box has size 0: its candidates' scale is 1, not a ratio of 1e6 or 0."""
    classes = torch.tensor([1])
    centres = torch.zeros(1, 3)
    rots = torch.eye(3)[None]
    for roi_size, ref_size in (([0.0, 0.0, 0.0], [1.0, 1.0, 1.0]), ([1.0, 1.0, 1.0], [0.0, 0.5, 0.0])):
        cands = generate_candidates(classes, centres, torch.tensor([roi_size]), classes, centres,
                                    torch.tensor([ref_size]), 4, True, rots, rots, "boxes")
        singular = torch.linalg.svdvals(cands.linear)
        assert torch.allclose(singular, torch.ones_like(singular), atol=1e-5)
    tiny = float(2 * MIN_HALF_DIAGONAL / np.sqrt(2) * 1.01)  # just above the limit: the ratio again
    cands = generate_candidates(classes, centres, torch.tensor([[tiny, 1.0, tiny]]), classes, centres,
                                torch.tensor([[2 * tiny, 1.0, 2 * tiny]]), 4, False, rots, rots, "boxes")
    assert torch.allclose(torch.linalg.svdvals(cands.linear)[:, 0], torch.tensor(2.0), atol=1e-4)


def test_one_point_roi_object_maps_near_its_partner(target):
    """A one-point RoI object (fitted box of size 0): a map that keeps the scale, not one that sends
    the point 1e5 m away (the candidates' scale ratio was 1e6)."""
    ref = transformed_copy(target, YAW, False, 1.0, OFFSET)
    objects = target.instance >= 0
    points, instance = target.points[objects], target.instance[objects]
    keep = np.ones(len(points), bool)
    keep[np.nonzero(instance == 0)[0][1:]] = False
    floor = target.points[~objects]
    one_point = MatchScene.from_points(points[keep], instance[keep], class_ids=target.class_ids, floor_points=floor)
    reference = MatchScene.from_points(ref.points[ref.instance >= 0], ref.instance[ref.instance >= 0],
                                       class_ids=ref.class_ids, floor_points=ref.points[ref.instance < 0])
    assert np.allclose(one_point.box_sizes[0], 0.0)
    result = find_analogy(one_point, reference, [0], _field(), _field(), MatchConfig(local_displacement="spline"))
    best = result.best or result.maps[0]
    moved = best.apply(best.roi_points)
    truth = best.roi_points @ true_linear(YAW, False, 1.0).T + OFFSET
    assert np.isfinite(moved).all() and np.linalg.norm(moved - truth, axis=1).max() < 3.0
    assert np.allclose(np.linalg.svd(best.linear, compute_uv=False), 1.0, atol=0.05)


@pytest.mark.parametrize("roi", [[0], [0, 1]])
def test_reference_objects_without_keypoints_are_never_matched(target, roi):
    """Reference object 0 keeps its box but loses its keypoints: it used to crash the fine stage
    (RoI [0]) or be matched with a placeholder cost (RoI [0, 1])."""
    ref = _without_points(transformed_copy(target, YAW, MIRROR, 1.0, OFFSET), [0])
    field = _field()
    result = find_analogy(target, ref, roi, field, field, MatchConfig())
    for m in result.maps:
        assert 0 not in m.correspondence[:, 1].tolist()


def test_local_field_of_another_width(target):
    ref = transformed_copy(target, YAW, MIRROR, 1.0, OFFSET)
    wide, narrow = _field(), _field(out_dim=64)
    for local, global_ in ((narrow, wide), (wide, narrow)):
        result = find_analogy(target, ref, [0, 1, 2], local, global_, MatchConfig())
        assert result.best is not None
        assert result.best.correspondence.tolist() == [[0, 0], [1, 1], [2, 2]]


def test_subset_keeps_each_objects_own_share():
    """At most per_object points of every object: a 2-point object no longer shrinks the others' share."""
    points = torch.rand(2, 200, 3)
    mask = torch.zeros(2, 200, dtype=torch.bool)
    mask[0, :2], mask[1] = True, True
    rows = refine_subset(points, mask, 64)
    assert rows[:2].tolist() == [0, 1]
    assert len(rows) == 66 and len(set(rows.tolist())) == 66 and bool((rows[2:] >= 2).all())
    mask[0, :100] = True
    rows = refine_subset(points, mask, 64)
    assert len(rows) == 128 and bool((rows[:64] < 100).all()) and bool((rows[64:] >= 100).all())
    mask[0], mask[1, 60:] = True, False
    assert refine_subset(points[:, :60], mask[:, :60], 64) is None
