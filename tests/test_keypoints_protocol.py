"""The honest evaluation's inputs: reference keypoints that share no point with the ground truth's."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from scene_analogy.evaluation.examples import augment_examples
from scene_analogy.evaluation.loop import evaluate_method, ground_truth
from scene_analogy.files.errors import DataError
from scene_analogy.match.pipeline import AnalysisResult
from scene_analogy.structures.samples import PointSamples, surface_samples, with_disjoint_counts, write_samples
from scene_analogy.synthetic.dataset import ensure_eval_pairs


def _nearest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from each row of a to its nearest row of b."""
    return np.linalg.norm(a[:, None] - b[None], axis=-1).min(1)


def test_samplers_write_twice_each_count_as_one_ordering():
    box = trimesh.creation.box(extents=(1.0, 0.5, 2.0))
    samples = surface_samples(box.vertices, box.faces, 2000, [50, 100], seed=3)
    assert sorted(samples) == with_disjoint_counts([50, 100]) == [50, 100, 200]
    np.testing.assert_array_equal(samples[100][:50], samples[50])  # one farthest-point ordering
    disjoint = samples[100][50:]
    assert _nearest(disjoint, samples[50]).min() > 1e-4  # no point of the ground truth's sample is reused
    assert _nearest(samples[50], disjoint).max() < 0.5  # and the other sample covers the same model


def test_point_samples_read_the_disjoint_rows(tmp_path):
    points = np.random.default_rng(0).random((100, 3)).astype(np.float32)
    write_samples(tmp_path, "m", {50: points[:50], 100: points})
    shared, disjoint = PointSamples(tmp_path, 50), PointSamples(tmp_path, 50, disjoint=True)
    np.testing.assert_array_equal(shared["m"], points[:50])
    np.testing.assert_array_equal(disjoint["m"], points[50:])
    assert shared.with_keypoints("disjoint").disjoint and shared.with_keypoints("shared") is shared
    with pytest.raises(DataError, match="keypoints shared"):
        PointSamples(tmp_path, 100, disjoint=True)  # no sample_200
    with pytest.raises(ValueError, match="keypoints"):
        shared.with_keypoints("other")


class _Spy:
    """A method that records what it was shown and returns no map."""

    def __init__(self):
        self.references = []

    def __call__(self, target, reference, roi):
        self.references.append(reference.points[reference.instance >= 0])
        return AnalysisResult([], None, np.zeros(0, dtype=np.int64))


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "synthetic"
    ensure_eval_pairs(root, 3, 0)
    return root, PointSamples(root / "point_samples", 50), augment_examples(root, seed=0, limit=3)


@pytest.mark.parametrize("keypoints", ["disjoint", "shared"])
def test_the_method_sees_the_reference_at_the_chosen_keypoints(pairs, keypoints):
    _, samples, examples = pairs
    spy = _Spy()
    metrics, records, _ = evaluate_method(examples, samples, spy, progress=False, keypoints=keypoints,
                                          protocol={"global_yaw": "grid"})
    assert metrics["protocol"] == {"keypoints": keypoints, "global_yaw": "grid"}
    for example, seen, record in zip(examples, spy.references, records):
        gt = ground_truth(example, samples)[2]
        gap = _nearest(gt, seen)
        if keypoints == "disjoint":
            assert gap.min() > 1e-4, "a ground-truth point reached the method"
        else:
            assert gap.max() < 1e-5  # the paper's protocol: the ground truth lies on the keypoints
        # Scoring always reads the evaluation's own (shared) reference points.
        assert _nearest(gt, record.reference_points).max() < 1e-5
