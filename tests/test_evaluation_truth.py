"""The evaluation's ground truth (DESIGN §6): `loop.ground_truth` on pairs whose answer is known by
construction, and the RoI of generated pairs (`choose_roi`, `data.eval_pairs`) never holding a
distractor. Scores through `evaluate_method`: tests/test_evaluation_scores.py."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from scene_analogy.data.eval_pairs import AugmentConfig, augment_scene
from scene_analogy.evaluation.examples import EvalExample, augment_examples, choose_roi, load_examples, PairSource
from scene_analogy.evaluation.loop import ground_truth
from scene_analogy.ops.geometry import global_transform, yaw_matrix
from scene_analogy.structures.samples import PointSamples, write_samples
from scene_analogy.structures.scene import FloorPlan, Scene, read_eval_pair, read_triplet, scene_dirs
from scene_analogy.synthetic.dataset import ensure_eval_pairs

YAW = np.deg2rad(37.0)  # off the k x 90 degree grid
SHIFT = np.array([1.7, 0.0, -0.6])


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("evaltruth") / "synthetic"
    ensure_eval_pairs(path, 4, 0)  # 4 held-out triplets + their evaluation pairs, ~2 s
    return path


@pytest.fixture(scope="module")
def samples(root):
    return PointSamples(root / "point_samples", 50)


def _positive(root, name: str) -> Scene:
    return read_triplet(root / name / "scene.npz", ("pos",))["pos"]


def moved_copy(scene: Scene, linear: np.ndarray, offset: np.ndarray, perm: np.ndarray) -> Scene:
    """The objects `perm` of `scene` (target object k = scene object perm[k]), moved as a whole."""
    return scene.subset(perm).transformed(linear, offset)


def test_identical_pair_has_zero_ground_truth_error(root, samples):
    examples = load_examples(PairSource("identical", str(root)), seed=0)
    assert len(examples) == 4
    for ex in examples:
        roi_points, owner, gt = ground_truth(ex, samples)
        assert gt is not None and roi_points.shape == gt.shape == (50 * len(ex.roi), 3)
        np.testing.assert_allclose(gt, roi_points, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(owner, np.repeat(ex.roi, 50))


@pytest.mark.parametrize("mirror", [False, True])
def test_moved_mirrored_permuted_copy_has_the_moved_points_as_ground_truth(root, samples, mirror):
    """Yaw 37 degrees (+ x-mirror) and a shift, objects reordered: with the mirror in each object's
    rot matrix the box-frame points of target and reference are identical, so the Hungarian match
    is the identity and the ground truth is the reference's own copy of each RoI point."""
    linear = global_transform(YAW, mirror)
    for d in scene_dirs(root, "test"):
        reference = _positive(root, d.name)
        perm = np.random.default_rng(len(reference)).permutation(len(reference))
        assert (perm != np.arange(len(perm))).any()
        target = moved_copy(reference, linear, SHIFT, perm)
        assert np.allclose(np.linalg.det(target.rots), -1.0 if mirror else 1.0)
        roi = choose_roi(np.arange(len(target)), target.bbox_centroids, np.random.default_rng(7))
        ex = EvalExample(d.name, target, reference, roi, perm[roi])
        roi_points, owner, gt = ground_truth(ex, samples)
        expected = reference.subset(perm[roi]).world_points(samples.stack(reference.model_ids[perm[roi]]))
        expected = expected.reshape(-1, 3)
        np.testing.assert_allclose(gt, expected, rtol=0, atol=1e-9)
        np.testing.assert_allclose(roi_points, expected @ linear.T + SHIFT, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(owner, np.repeat(roi, 50))


def _one_object_scene(model_id: str, scale, yaw: float, trans, box_centre) -> Scene:
    """One object whose canonical box centre is `box_centre` (unscaled), posed by yaw and trans."""
    scale, trans = np.asarray(scale, float), np.asarray(trans, float)
    rot = yaw_matrix(yaw)
    centroid = rot @ (np.asarray(box_centre) * scale) + trans
    outline = np.array([[-5, -5], [5, -5], [5, 5], [-5, 5]], dtype=float)
    return Scene([model_id], [3], ["chair"], np.ones((1, 3)) * scale, centroid[None], scale[None], rot[None],
                 trans[None], FloorPlan.from_polygons([outline], 0.0, 2.8))


def _brute_force_match(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The permutation s minimising sum_i ||a_i - b_s(i)||^2 by trying all of them."""
    perms = np.array(list(itertools.permutations(range(len(a)))))
    costs = ((a[:, None] - b[perms.T]) ** 2).sum(-1).sum(0)
    return perms[int(np.argmin(costs))]


def test_ground_truth_matches_scaled_box_centred_points_of_different_models(tmp_path):
    """Two different models: the ground truth is the Hungarian match of (canonical - box centre) x
    own per-axis scale, found here by brute force over all 6! matchings, then posed by the reference.
    (The box centring cannot change a matching: it shifts every point of a set alike.)"""
    rng = np.random.default_rng(6)
    a, b = rng.uniform(-1, 1, (2, 6, 3))
    centre_a, centre_b = np.array([0.3, 0.5, -0.2]), np.array([-0.4, 0.5, 0.1])
    write_samples(tmp_path, "A", {6: a + centre_a})
    write_samples(tmp_path, "B", {6: b + centre_b})
    scale_a, scale_b = np.array([2.5, 1.0, 0.4]), np.array([0.5, 1.2, 2.0])
    target = _one_object_scene("A", scale_a, 1.1, [2.0, 0.0, 1.0], centre_a)
    reference = _one_object_scene("B", scale_b, -0.4, [-1.0, 0.0, 3.0], centre_b)
    match = _brute_force_match(a * scale_a, b * scale_b)
    # each object's own scale decides the match here: no scale, or one scale for both, match differently
    assert (match != _brute_force_match(a, b)).any()
    assert (match != _brute_force_match(a * scale_a, b * scale_a)).any()
    ex = EvalExample("hand", target, reference, np.array([0]), np.array([0]))
    roi_points, _, gt = ground_truth(ex, PointSamples(tmp_path, 6))
    np.testing.assert_allclose(roi_points, target.world_points((a + centre_a)[None])[0], atol=1e-9)
    np.testing.assert_allclose(gt, reference.world_points((b + centre_b)[match][None])[0], atol=1e-9)


def test_no_analogy_has_no_ground_truth(root, samples):
    reference = _positive(root, "test_scene_0")
    ex = EvalExample("none", reference, reference, np.array([0, 1]), None)
    roi_points, owner, gt = ground_truth(ex, samples)
    assert gt is None and roi_points.shape == (100, 3) and owner.tolist() == [0] * 50 + [1] * 50


# ----------------------------------------------------------------------------- the RoI of generated pairs


def test_choose_roi_takes_a_kept_object_and_its_nearest_kept_neighbours():
    # distractors (-1) sit right next to every kept object: they must still never be picked
    kept_xz = np.array([[0.0, 0.0], [1.0, 0.0], [2.5, 0.0], [6.0, 0.0], [9.0, 0.0]])
    xz = np.concatenate([kept_xz, kept_xz + 0.05])
    centroids = np.c_[xz[:, 0], np.full(len(xz), 0.4), xz[:, 1]]
    idx_map = np.array([4, 0, 3, 1, 2, -1, -1, -1, -1, -1])
    sizes = set()
    for seed in range(60):
        roi = choose_roi(idx_map, centroids, np.random.default_rng(seed))
        assert (idx_map[roi] >= 0).all() and len(set(roi.tolist())) == len(roi)
        sizes.add(len(roi))
        seed_obj = roi[0]
        dist = np.abs(kept_xz[:, 0] - kept_xz[seed_obj, 0])
        assert set(roi.tolist()) == set(np.argsort(dist, kind="stable")[: len(roi)].tolist())
    assert sizes == {2, 3}
    with pytest.raises(ValueError, match="no kept object"):
        choose_roi(np.full(3, -1), centroids[:3], np.random.default_rng(0))


def _check_pair_links(pair, source: Scene, distractor_models: set, cfg: AugmentConfig) -> None:
    """Independently of the idx_map's own code: a linked object is its source object (same model and
    class, at the source place up to the pose noise once the global orientation is undone); every
    object marked -1 is a model of the distractor scene."""
    linked = np.flatnonzero(pair.idx_map >= 0)
    src = pair.idx_map[linked]
    assert len(set(src.tolist())) == len(src) and src.max() < len(source)
    np.testing.assert_array_equal(pair.scene.model_ids[linked], source.model_ids[src])
    np.testing.assert_array_equal(pair.scene.class_ids[linked], source.class_ids[src])
    back = pair.scene.bbox_centroids[linked] @ pair.global_rot  # undo world' = world @ rot^T
    drift = np.linalg.norm(back - source.bbox_centroids[src], axis=1)
    assert drift.max() <= cfg.max_trans_noise * np.sqrt(2) + 1e-9
    assert (drift < 1e-9).sum() >= min(cfg.num_group_keep_range[0], len(source))  # the group kept exactly
    assert set(pair.scene.model_ids[pair.idx_map < 0].tolist()) <= distractor_models


def test_generated_rois_never_hold_a_distractor(root):
    """100 freshly generated pairs x 5 RoI seeds: every RoI object is a linked (idx_map >= 0) object
    whose ground-truth reference object has its class."""
    names = [d.name for d in scene_dirs(root, "test")]
    triplets = [read_triplet(root / n / "scene.npz", ("pos", "pair_pos")) for n in names]
    cfg = AugmentConfig()
    distractors_seen = 0
    for i, triplet in enumerate(triplets):
        other = triplets[(i + 1) % len(triplets)]["pair_pos"]
        for seed in range(25):
            pair = augment_scene(triplet["pair_pos"], other, cfg, np.random.default_rng([seed, i]))
            _check_pair_links(pair, triplet["pair_pos"], set(other.model_ids.tolist()), cfg)
            distractors_seen += int((pair.idx_map < 0).sum())
            for roi_seed in range(5):
                roi = choose_roi(pair.idx_map, pair.scene.bbox_centroids, np.random.default_rng(roi_seed))
                assert 1 <= len(roi) <= 3 and (pair.idx_map[roi] >= 0).all()
                # the reference is the triplet's pos scene, index-aligned with pair_pos
                np.testing.assert_array_equal(pair.scene.class_ids[roi], triplet["pos"].class_ids[pair.idx_map[roi]])
    assert distractors_seen > 100  # the check above had distractors to avoid


def test_written_pairs_link_their_roi_to_same_class_reference_objects(root, samples):
    for seed in range(10):
        for ex in augment_examples(root, seed=seed):
            pair = read_eval_pair(root.parent / f"{root.name}_augment" / ex.name / "scene.npz")
            assert (pair.idx_map[ex.roi] >= 0).all()
            np.testing.assert_array_equal(ex.gt_objects, pair.idx_map[ex.roi])
            np.testing.assert_array_equal(ex.target.class_ids[ex.roi], ex.reference.class_ids[ex.gt_objects])
    # the ground truth of each RoI object is a one-to-one match onto its reference object's points
    for ex in augment_examples(root, seed=0):
        _, owner, gt = ground_truth(ex, samples)
        for k, j in zip(ex.roi, ex.gt_objects):
            own = ex.reference.subset([j]).world_points(samples.stack(ex.reference.model_ids[[j]]))[0]
            rows = gt[owner == k]
            order = np.lexsort(rows.T), np.lexsort(own.T)
            np.testing.assert_allclose(rows[order[0]], own[order[1]], atol=1e-9)
