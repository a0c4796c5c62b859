"""DESIGN §6 metrics end to end through `evaluate_method`: a method returning the ground truth scores 1
everywhere, the identity map scores what a hand computation (numpy, none of metrics.py) says, and
"no map" follows the no-analogy rules."""

from __future__ import annotations

import numpy as np
import pytest

from scene_analogy.baselines.common import map_from_pairs, nearest_objects
from scene_analogy.evaluation.examples import EvalExample, PairSource, augment_examples, choose_roi, load_examples
from scene_analogy.evaluation.loop import evaluate_method, ground_truth, pair_rows
from scene_analogy.match.analogy_map import AnalogyMap
from scene_analogy.match.pipeline import AnalysisResult
from scene_analogy.ops.geometry import global_transform
from scene_analogy.structures.samples import PointSamples
from scene_analogy.structures.scene import read_triplet, scene_dirs
from scene_analogy.synthetic.dataset import ensure_eval_pairs

PCP_T, BI_T, CHAMFER_T = (0.25, 0.5, 0.75), (0.25, 0.5, 0.75), (0.15, 0.2, 0.25)  # DESIGN §6 defaults
YAW = np.deg2rad(37.0)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("evalscores") / "synthetic"
    ensure_eval_pairs(path, 4, 0)
    return path


@pytest.fixture(scope="module")
def samples(root):
    return PointSamples(root / "point_samples", 50)


@pytest.fixture(scope="module")
def references(root):
    return [read_triplet(d / "scene.npz", ("pos",))["pos"] for d in scene_dirs(root, "test")]


def _result(amap: AnalogyMap | None, roi) -> AnalysisResult:
    return AnalysisResult([] if amap is None else [amap], amap, np.asarray(roi))


class Replay:
    """A test oracle: for each example in order, answers the forward call with its forward map and
    the backward call (Bi-PCP) with its backward map, checking the RoI each call is given."""

    def __init__(self, plans):
        self.plans, self.calls = plans, 0  # plans: (forward roi, forward map, backward roi, backward map)

    def __call__(self, target, reference, roi):
        fwd_roi, fwd, back_roi, back = self.plans[self.calls // 2]
        forward, self.calls = self.calls % 2 == 0, self.calls + 1
        np.testing.assert_array_equal(roi, fwd_roi if forward else back_roi)
        return _result(fwd if forward else back, roi)


class Identity:
    """F(x) = x, with the nearest same-class reference object as each RoI object's partner."""

    def __call__(self, target, reference, roi):
        corr = nearest_objects(AnalogyMap.identity(), target, reference, roi)
        return _result(AnalogyMap(np.eye(3), np.zeros(3), correspondence=corr), roi)


def _metric_values(metrics: dict, name: str, thresholds) -> list[float]:
    return [metrics[f"{name}@{t:g}"] for t in thresholds]


def test_exact_rigid_map_scores_one_everywhere(references, samples):
    """Target = a mirrored, 37-degree-turned, shifted and reordered copy; the method returns the exact
    inverse motion (and the motion itself backwards), built without the ground-truth code."""
    linear, shift = global_transform(YAW, True), np.array([1.7, 0.0, -0.6])
    examples, plans = [], []
    for i, reference in enumerate(references):
        perm = np.random.default_rng(i).permutation(len(reference))
        target = reference.subset(perm).transformed(linear, shift)
        roi = choose_roi(np.arange(len(target)), target.bbox_centroids, np.random.default_rng(i))
        examples.append(EvalExample(f"copy_{i}", target, reference, roi, perm[roi]))
        # p = q L^T + s  =>  q = (p - s) L  (A = L^T, b = -s L);  backwards A = L, b = s
        fwd = AnalogyMap(linear.T, -shift @ linear, correspondence=np.stack([roi, perm[roi]], 1))
        back = AnalogyMap(linear, shift, correspondence=np.stack([perm[roi], roi], 1))
        plans.append((roi, fwd, perm[roi], back))
    metrics, records, results = evaluate_method(examples, samples, Replay(plans), progress=False)
    for name, thresholds in (("pcp", PCP_T), ("bi_pcp", BI_T), ("chamfer_acc", CHAMFER_T),
                             ("sem_chamfer_acc", CHAMFER_T)):
        assert _metric_values(metrics, name, thresholds) == [1.0] * 3, name
    assert metrics["num_pairs"] == len(references)
    # Open space: a rigid copy's free points have the motion itself as ground truth (box frames move with
    # it), so the exact map scores 1 there too and never carries a free point into a reference box.
    assert _metric_values(metrics, "free_pcp", PCP_T) == [1.0] * 3
    assert metrics["free_collision_rate"] == 0.0 and metrics["right_objects"] == 1.0
    assert all(len(r.free_points) == 64 * len(ex.roi) for r, ex in zip(records, examples))
    rows = pair_rows(examples, records, results)
    assert all(r["map"] and r["pcp@0.25"] == 1.0 and r["objects_correct"] for r in rows)


def test_ground_truth_oracle_scores_one_on_augmented_pairs(root, samples):
    """Other models, pose noise, distractors, a k x 90 degree turn (maybe mirrored): a map fitted to
    interpolate the ground truth (similarity + thin-plate spline) still scores 1 on every metric."""
    examples = augment_examples(root, seed=0)
    plans = []
    for ex in examples:
        roi_points, _, gt = ground_truth(ex, samples)
        fwd = map_from_pairs(roi_points, gt, 0.0, correspondence=np.stack([ex.roi, ex.gt_objects], 1))
        back = map_from_pairs(gt, roi_points, 0.0, correspondence=np.stack([ex.gt_objects, ex.roi], 1))
        assert np.abs(fwd.apply(roi_points) - gt).max() < 1e-3  # the oracle does interpolate
        plans.append((ex.roi, fwd, ex.gt_objects, back))
    metrics, records, results = evaluate_method(examples, samples, Replay(plans), progress=False)
    for name, thresholds in (("pcp", PCP_T), ("bi_pcp", BI_T), ("chamfer_acc", CHAMFER_T),
                             ("sem_chamfer_acc", CHAMFER_T)):
        assert _metric_values(metrics, name, thresholds) == [1.0] * 3, name
    assert all(r["objects_correct"] for r in pair_rows(examples, records, results))
    assert metrics["right_objects"] == 1.0


def _turned_examples(references, samples, linear):
    """Each reference turned by `linear` about its RoI's box centre, plus a 0.1 m shift (target object
    k = reference object k). Also, per example and computed here: the RoI points, their owner and
    their ground truth (the reference's own copy of each point)."""
    examples, truth = [], []
    for i, reference in enumerate(references):
        roi = choose_roi(np.arange(len(reference)), reference.bbox_centroids, np.random.default_rng(10 + i))
        centre = reference.bbox_centroids[roi].mean(0)
        offset = centre - centre @ linear.T + np.array([0.1, 0.0, -0.05])
        examples.append(EvalExample(f"turned_{i}", reference.transformed(linear, offset), reference, roi, roi))
        gt = reference.subset(roi).world_points(samples.stack(reference.model_ids[roi])).reshape(-1, 3)
        truth.append((gt @ linear.T + offset, np.repeat(roi, 50), gt))
    return examples, truth


def _hand_chamfer_acc(examples, samples, truth):
    """Chamfer accuracy of the identity map: per pair, each RoI object's (unmoved) points against the
    reference object whose keypoint centroid is nearest; symmetric chamfer = mean of the two
    directional mean NN distances, averaged over RoI objects; a hit below tau; mean over pairs."""
    hits, sem_hits = [], []
    for ex, (roi_points, owner, _) in zip(examples, truth):
        ref = ex.reference.world_points(samples.stack(ex.reference.model_ids))  # (N, 50, 3)
        chamfers, same_class = [], True
        for k in ex.roi:
            m = roi_points[owner == k]
            j = int(np.argmin(np.linalg.norm(ref.mean(1) - m.mean(0), axis=1)))
            d = np.linalg.norm(m[:, None] - ref[j][None], axis=-1)
            chamfers.append(0.5 * (d.min(1).mean() + d.min(0).mean()))
            same_class &= bool(ex.target.class_ids[k] == ex.reference.class_ids[j])
        hits.append([np.mean(chamfers) < t for t in CHAMFER_T])
        sem_hits.append([np.mean(chamfers) < t and same_class for t in CHAMFER_T])
    return np.mean(hits, 0), np.mean(sem_hits, 0)


def _check_identity_scores(examples, samples, truth, errors):
    """evaluate_method with the identity map against PCP from per-point `errors`, pooled over all
    points of all pairs; Bi-PCP is 1 (G(F(p)) = p); Chamfer accuracy by hand."""
    metrics, _, _ = evaluate_method(examples, samples, Identity(), progress=False)
    pooled = np.concatenate(errors)
    expected = [float(np.mean(pooled < t)) for t in PCP_T]
    assert any(0.0 < e < 1.0 for e in expected), expected  # a case that tells right from wrong
    np.testing.assert_allclose(_metric_values(metrics, "pcp", PCP_T), expected, rtol=0, atol=1e-12)
    assert _metric_values(metrics, "bi_pcp", BI_T) == [1.0] * 3
    chamfer, semantic = _hand_chamfer_acc(examples, samples, truth)
    np.testing.assert_allclose(_metric_values(metrics, "chamfer_acc", CHAMFER_T), chamfer, atol=1e-12)
    np.testing.assert_allclose(_metric_values(metrics, "sem_chamfer_acc", CHAMFER_T), semantic, atol=1e-12)
    return expected


def test_identity_map_on_a_turned_copy_scores_the_hand_computed_values(references, samples):
    """A proper 37-degree turn: no reflection is optimal, so each error is the raw ||p - p_gt||."""
    examples, truth = _turned_examples(references, samples, global_transform(YAW, False))
    errors = [np.linalg.norm(roi_points - gt, axis=1) for roi_points, _, gt in truth]
    _check_identity_scores(examples, samples, truth, errors)


def test_identity_map_on_a_mirrored_copy_gets_the_reflection_allowance_by_hand(references, samples):
    """Mirrored and turned about the RoI: the best orthogonal fit of the (identity-)mapped RoI points
    onto their ground truth is the reflection itself, which carries the centred points exactly onto
    the centred ground truth. Where that set is reflection-symmetric (sqrt of the summed directional
    mean squared NN distances between it and its mirror image < 0.4 m) a point's error is the smaller
    of raw and the leftover translation; elsewhere raw."""
    examples, truth = _turned_examples(references, samples, global_transform(YAW, True))
    errors, symmetric = [], []
    for roi_points, _, gt in truth:
        raw = np.linalg.norm(roi_points - gt, axis=1)
        a, b = roi_points - roi_points.mean(0), gt - gt.mean(0)  # b = the reflected image of a
        d2 = ((a[:, None] - b[None]) ** 2).sum(-1)
        symmetric.append(np.sqrt(d2.min(1).mean() + d2.min(0).mean()) < 0.4)
        shift = np.linalg.norm(roi_points.mean(0) - gt.mean(0))
        errors.append(np.minimum(raw, shift) if symmetric[-1] else raw)
    _check_identity_scores(examples, samples, truth, errors)
    assert len(set(symmetric)) == 2, symmetric  # both branches of the rule are exercised


def test_no_map_follows_the_no_analogy_rules(root, references, samples):
    """Never answering: pairs with ground truth score 0, a known no-analogy pair scores 1 on PCP and
    Bi-PCP for its points and on Chamfer accuracy; pairs of unknown analogy leave PCP out (NaN alone)."""
    identical = load_examples(PairSource("identical", str(root)), seed=0)[:2]
    none = EvalExample("no_analogy", references[2], references[3], np.array([0, 1, 2]), None)
    never = lambda target, reference, roi: _result(None, roi)  # noqa: E731
    metrics, _, _ = evaluate_method(identical + [none], samples, never, progress=False)
    share = 150 / (150 + 50 * sum(len(ex.roi) for ex in identical))
    np.testing.assert_allclose(_metric_values(metrics, "pcp", PCP_T), [share] * 3)
    np.testing.assert_allclose(_metric_values(metrics, "bi_pcp", BI_T), [share] * 3)
    np.testing.assert_allclose(_metric_values(metrics, "chamfer_acc", CHAMFER_T), [1 / 3] * 3)
    unknown = load_examples(PairSource("random", str(root)), seed=0)
    metrics, _, _ = evaluate_method(unknown, samples, never, progress=False)
    assert all(np.isnan(v) for v in _metric_values(metrics, "pcp", PCP_T))
    assert _metric_values(metrics, "bi_pcp", BI_T) == [0.0] * 3
