"""Evaluation-only methods: the ground truth reaches a method only through `needs_truth` / `with_truth`;
`oracle_objects` finds the right objects and places points with our fine stage; `ours_untrained` has
the shipped architecture with seeded random weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scene_analogy.baselines import BASELINE_THRES, build_method, untrained_field
from scene_analogy.baselines.oracle import OracleObjects, box_fit_stage, restrict_to_partners
from scene_analogy.evaluation.examples import augment_examples
from scene_analogy.evaluation.loop import evaluate_method, match_scene, method_for
from scene_analogy.field.checkpoint import PRETRAINED, load_field
from scene_analogy.fixtures.match_inputs import box_keypoint_scene, transformed_copy, true_linear
from scene_analogy.match.inputs import MatchConfig, MatchScene
from scene_analogy.match.pipeline import AnalysisResult
from scene_analogy.structures.samples import PointSamples
from scene_analogy.synthetic.dataset import ensure_eval_pairs
from tests.helpers import random_scene, stub_pool


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("oracle") / "synthetic"
    ensure_eval_pairs(path, 3, 0)
    return path


@pytest.fixture(scope="module")
def samples(root):
    return PointSamples(root / "point_samples", 50)


@pytest.fixture(scope="module")
def examples(root):
    return augment_examples(root, seed=0)


class Spy:
    """A method recording every call's arguments; `with_truth` must never run unless needs_truth is True."""

    def __init__(self, needs_truth=None):
        if needs_truth is not None:
            self.needs_truth = needs_truth
        self.calls, self.bound = [], []

    def with_truth(self, example):
        if getattr(self, "needs_truth", None) is not True:
            raise AssertionError("with_truth called on a method that does not declare needs_truth = True")
        self.bound.append(example)
        return self

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return AnalysisResult([], None, np.asarray(args[2]))


@pytest.mark.parametrize("flag", [None, False, 1, "yes"])
def test_a_normal_method_never_receives_truth(examples, samples, flag):
    spy = Spy(flag)
    evaluate_method(examples, samples, spy, progress=False)
    assert spy.bound == [] and len(spy.calls) == len(examples)
    for (args, kwargs), ex in zip(spy.calls, examples):
        assert kwargs == {} and len(args) == 3
        assert isinstance(args[0], MatchScene) and isinstance(args[1], MatchScene)
        np.testing.assert_array_equal(args[2], ex.roi)


def test_a_needs_truth_method_is_bound_to_each_example(examples, samples):
    spy = Spy(True)
    evaluate_method(examples, samples, spy, progress=False)
    assert spy.bound == examples and len(spy.calls) == len(examples)
    plain = Spy()
    assert method_for(plain, examples[0]) is plain and plain.bound == []


def test_the_oracle_refuses_to_run_without_truth(examples, samples):
    oracle = build_method("oracle_objects")
    assert isinstance(oracle, OracleObjects) and oracle.cfg.local_valid_thres == BASELINE_THRES
    ex = examples[0]
    with pytest.raises(RuntimeError, match="evaluation-only"):
        oracle(match_scene(ex.target, samples), match_scene(ex.reference, samples), ex.roi)


@pytest.mark.parametrize("global_map", ["coarse", "boxes"])
def test_oracle_finds_the_right_objects_with_our_fine_stage(examples, samples, global_map):
    oracle = build_method("oracle_objects", oracle_global=global_map)
    metrics, records, results = evaluate_method(examples, samples, oracle, progress=False)
    assert metrics["right_objects"] == 1.0 and metrics["pcp@0.25"] > 0.5
    for res, ex in zip(results, examples):
        best = res.best
        assert sorted(best.correspondence.tolist()) == sorted(np.stack([ex.roi, ex.gt_objects], 1).tolist())
        # A fine-stage map: a fitted displacement over the RoI points, not the coarse map alone.
        assert best.meta["displacement_valid"] and not best.meta.get("coarse_only", False)
        # The default displacement (MatchConfig.local_displacement "parts"): a box map per RoI object
        # and a bump at every RoI point; the spline form fits its centres at the RoI points instead.
        assert len(best.part_linear) == len(ex.roi) and len(best.bump_centres) == len(best.roi_points)
        assert res.timings["fine"] > 0
        affine = best.roi_points @ best.linear.T + best.offset
        assert np.abs(best.apply(best.roi_points) - affine).max() > 1e-3


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(3)
    return box_keypoint_scene(random_scene(stub_pool(), 6, rng), 30, rng)


def test_restriction_pairs_each_roi_object_with_its_partner_only(scene):
    roi, partners = np.array([4, 1, 2]), np.array([0, 5, -1])
    t, r = restrict_to_partners(scene, scene, roi, partners)
    assert t.class_ids[roi].tolist() == [0, 1, 2] and r.class_ids[[0, 5]].tolist() == [0, 1]
    pairs = np.argwhere(t.class_ids[roi][:, None] == r.class_ids[None])
    assert pairs.tolist() == [[0, 0], [1, 5]]  # object 2 has no partner; no other pair shares a class
    np.testing.assert_array_equal(t.labels, scene.labels)  # what the field reads is unchanged


@pytest.mark.parametrize("mirror", [False, True])
def test_box_fit_recovers_a_moved_copy(scene, mirror):
    reference = transformed_copy(scene, 0.7, mirror, 1.3, [1.0, 0.0, -2.0])
    roi = np.array([0, 2, 3])
    t, r = restrict_to_partners(scene, reference, roi, roi)
    def boxes(s, i):
        return tuple(torch.as_tensor(a[i], dtype=torch.float32) for a in (s.box_centres, s.box_sizes, s.box_rots))

    feats = torch.nn.functional.normalize(torch.randn(len(scene.points), 8), dim=1)
    pts = torch.as_tensor(scene.points)
    out = box_fit_stage(pts, feats, boxes(t, roi), torch.as_tensor(t.class_ids[roi]), torch.as_tensor(reference.points),
                        feats, boxes(r, slice(None)), torch.as_tensor(r.class_ids), MatchConfig())
    np.testing.assert_allclose(out.linear[0].numpy(), true_linear(0.7, mirror, 1.3), atol=1e-4)
    np.testing.assert_allclose(out.offset[0].numpy(), [1.0, 0.0, -2.0], atol=1e-4)
    assert out.match.tolist() == [roi.tolist()] and bool(out.mirror[0]) == mirror
    assert out.point_cost.shape == (1, len(pts))


def test_untrained_field_differs_from_the_checkpoint_and_repeats_for_a_seed():
    state = torch.get_rng_state()
    a, b, c = untrained_field(0), untrained_field(0), untrained_field(1)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    trained = load_field(PRETRAINED / "synthetic_default")
    assert a.cfg == trained.cfg and a.valid_threshold is None and not a.training
    sa, sb, sc, st = (m.state_dict() for m in (a, b, c, trained))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # Every trained weight differs; the frozen class table is the training's own start (same seed, same
    # build), so seed 0 is the very field training began from.
    frozen = {n for n, p in a.named_parameters() if not p.requires_grad}
    assert frozen == {"semantics_emb.weight"} and all(torch.equal(sa[k], st[k]) for k in frozen)
    assert all(not torch.equal(sa[k], st[k]) for k in sa if k not in frozen)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)
    method = build_method("ours_untrained")
    assert method.cfg.local_valid_thres == BASELINE_THRES and method.local_field.cfg == trained.cfg
    # With another checkpoint, the random field takes that checkpoint's architecture.
    wide = build_method("ours_untrained", checkpoint=PRETRAINED / "synthetic_wide")
    assert wide.local_field.cfg == load_field(PRETRAINED / "synthetic_wide").cfg != trained.cfg
