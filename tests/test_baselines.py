"""Baselines and ablations: each recovers an easy pair (a scene and its rigidly moved copy), scored by
the project's own metrics; the pieces they are built from; the no-analogy paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scene_analogy.baselines import NoSemantics, build_method, without_classes
from scene_analogy.baselines.common import fit_similarity, map_from_pairs, object_points
from scene_analogy.baselines.fpfh import FPFHField
from scene_analogy.baselines.registration import cpd_nonrigid
from scene_analogy.baselines.scene_graph import SceneGraphMatcher
from scene_analogy.evaluation.metrics import PairRecord, summarise
from scene_analogy.field.model import FieldConfig
from scene_analogy.fixtures.match_inputs import box_keypoint_scene, select_objects, transformed_copy, true_linear
from scene_analogy.match.inputs import MatchConfig
from scene_analogy.match.pipeline import find_analogy
from tests.helpers import random_scene, stub_pool

YAW, OFFSET = 1.1, np.array([2.0, 0.0, -1.0])


@pytest.fixture(scope="module")
def target():
    rng = np.random.default_rng(4)
    return box_keypoint_scene(random_scene(stub_pool(), 8, rng), 40, rng)


def roi_of(scene, size=3):
    """Object 0 and its nearest neighbours, as in evaluation."""
    return np.argsort(np.linalg.norm(scene.box_centres - scene.box_centres[0], axis=1), kind="stable")[:size]


def pcp_on_copy(method, target, yaw=YAW, mirror=False) -> float:
    """PCP@0.25 of `method` on target -> its copy moved by (yaw, mirror), via metrics.summarise."""
    reference = transformed_copy(target, yaw, mirror, 1.0, OFFSET)
    roi = roi_of(target)
    result = method(target, reference, roi)
    assert result.best is not None
    points, owner = object_points(target, roi)
    truth = points @ true_linear(yaw, mirror, 1.0).T + OFFSET
    classes = dict(enumerate(target.class_ids.tolist()))
    obj = reference.instance >= 0
    record = PairRecord(points, truth, result.best.apply(points), None, owner, classes,
                        reference.points[obj], reference.instance[obj], classes)
    return summarise([record])["pcp@0.25"]


@pytest.mark.parametrize("name", ["scene_graph", "scene_graph_assign", "point_feature", "registration"])
def test_baseline_recovers_a_rigidly_moved_copy(target, name):
    assert pcp_on_copy(build_method(name), target) >= 0.9


def test_scene_graph_recovers_a_mirrored_copy_and_its_objects(target):
    assert pcp_on_copy(SceneGraphMatcher(), target, yaw=2.0, mirror=True) >= 0.9
    reference = transformed_copy(target, 2.0, True, 1.0, OFFSET)
    result = SceneGraphMatcher()(target, reference, roi_of(target))
    assert sorted(result.best.correspondence.tolist()) == sorted([[i, i] for i in roi_of(target).tolist()])


def test_scene_graph_without_shared_classes_finds_no_analogy(target):
    roi = roi_of(target, 2)
    others = np.flatnonzero(~np.isin(target.class_ids, target.class_ids[roi]))
    reference = select_objects(transformed_copy(target, YAW, False, 1.0, OFFSET), others)
    result = SceneGraphMatcher()(target, reference, roi)
    assert result.best is None and result.maps == []


def test_fit_similarity_recovers_yaw_mirror_and_scale():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(20, 3))
    for mirror in (False, True):
        linear = true_linear(0.7, mirror, 1.3)
        dst = src @ linear.T + [1.0, 0.5, -2.0]
        a, b = fit_similarity(src, dst)
        np.testing.assert_allclose(a, linear, atol=1e-9)
        np.testing.assert_allclose(b, [1.0, 0.5, -2.0], atol=1e-9)
    # Residual bends are taken up by the spline: the map interpolates its point pairs closely.
    bent = src @ true_linear(0.7, False, 1.0).T + 0.05 * np.sin(src)
    amap = map_from_pairs(src, bent, smoothing=0.0)
    np.testing.assert_allclose(amap.apply(src), bent, atol=1e-6)


def test_cpd_recovers_a_smooth_bend():
    rng = np.random.default_rng(0)
    y = torch.as_tensor(rng.uniform(-1, 1, (120, 3)))
    x = y + 0.08 * torch.sin(2 * y)  # smooth displacement, up to 8 cm
    moved = cpd_nonrigid(y, x, beta=1.0, lam=1.0, w=0.1, iterations=60, sigma2=0.01)
    before, after = (y - x).norm(dim=1).mean(), (moved - x).norm(dim=1).mean()
    assert after < 0.3 * before


def test_fpfh_field_reads_keypoints_and_is_rotation_invariant(target):
    field = FPFHField()
    reference = transformed_copy(target, YAW, False, 1.0, OFFSET)
    a = field(torch.as_tensor(target.points[:30])[None], torch.as_tensor(target.points)[None])[0]
    b = field(torch.as_tensor(reference.points[:30])[None], torch.as_tensor(reference.points)[None])[0]
    assert a.shape == (30, 33)
    torch.testing.assert_close(a.norm(dim=1), torch.ones(30))
    # Equal up to float32 rounding of the moved copy (a neighbour on the radius may flip).
    assert (a * b).sum(1).mean() > 0.99
    off = field(torch.as_tensor(target.points[:5] + 0.37)[None], torch.as_tensor(target.points)[None])[0]
    assert not torch.allclose(off, a[:5], atol=1e-3)  # off-cloud queries are added, not snapped


def test_coarse_only_ablation_returns_the_refined_coarse_map(target):
    torch.manual_seed(0)
    field = FieldConfig(num_layers=1, feedforward=32, max_neighbors=16).build().eval()
    reference = transformed_copy(target, np.pi / 2, False, 1.0, OFFSET)  # a coarse yaw: no fine stage needed
    roi = roi_of(target)
    result = find_analogy(target, reference, roi, field, field, MatchConfig(fine=False))
    best = result.best
    assert best is not None and best.meta["coarse_only"] and len(best.centres) == 0
    assert result.timings["fine"] == 0.0
    points = best.roi_points
    truth = points @ true_linear(np.pi / 2, False, 1.0).T + OFFSET
    assert (np.linalg.norm(best.apply(points) - truth, axis=1) < 0.25).mean() >= 0.9


def test_no_semantics_erases_classes(target):
    plain = without_classes(target)
    assert (plain.class_ids == 0).all()
    assert ((plain.labels == 0) == (target.instance < 0)).all() and (plain.labels <= 1).all()
    seen = {}
    NoSemantics(lambda t, r, roi: seen.setdefault("classes", (t.class_ids, r.class_ids)))(target, target, [0])
    assert all((c == 0).all() for c in seen["classes"])


def test_paper_ablation_needs_a_checkpoint():
    from scene_analogy.files.errors import DataError

    with pytest.raises(DataError, match="paper_checkpoint"):
        build_method("ours_paper")
    with pytest.raises(DataError, match="unknown method"):
        build_method("nope")
