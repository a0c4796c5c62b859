"""Tests for scene_analogy.metrics: every rule of DESIGN §6 on tiny hand-computed cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scene_analogy.evaluation.metrics import (
    PairRecord,
    aligned_errors,
    format_table,
    reflection_alignment,
    reflection_aware_errors,
    summarise,
    write_metrics_json,
)
from scene_analogy.ops.geometry import yaw_matrix

# Asymmetric, non-planar shape (no reflection maps it onto itself).
ASYM = np.array([[0, 0, 0], [3, 0, 0], [0, 1, 0], [0, 0, 2], [2.5, 0.5, 1.5]], dtype=float)
# Symmetric about the plane x = 0 (and non-planar).
SYM = np.array([[-0.5, 0, 0], [0.5, 0, 0], [-0.5, 0, 1], [0.5, 0, 1], [-0.3, 1, 0.2], [0.3, 1, 0.2],
                [0, 0.5, 0.6]], dtype=float)
MIRROR = np.diag([-1.0, 1.0, 1.0])


def _mirror_in_place(points):
    """Mirror x about the set's own centroid (so the set does not move as a whole)."""
    centroid = points.mean(0)
    return (points - centroid) @ MIRROR + centroid


def _record(gt, mapped, roundtrip=None, roi=None, ids=None, ref=None, ref_ids=None,
            roi_classes=None, ref_classes=None, seconds=1.0):
    """A record whose single RoI object (id 0) maps onto a single reference object unless given."""
    base = gt if gt is not None else mapped if mapped is not None else ASYM
    roi = np.zeros_like(base) if roi is None else roi
    ref = base if ref is None else ref
    return PairRecord(
        roi_points=roi, gt_points=gt, mapped=mapped, roundtrip=roundtrip,
        roi_object_ids=np.zeros(len(roi), int) if ids is None else ids,
        roi_classes={0: 3} if roi_classes is None else roi_classes,
        reference_points=ref, reference_object_ids=np.zeros(len(ref), int) if ref_ids is None else ref_ids,
        reference_classes={0: 3} if ref_classes is None else ref_classes, seconds=seconds,
    )


def _offsets(shape, errors):
    """Move point i of `shape` by errors[i] along +y (small, so no reflection is ever optimal)."""
    return shape + np.asarray(errors)[:, None] * np.array([0.0, 1.0, 0.0])


# ----------------------------------------------------------------------------- reflection allowance


def test_raw_errors_without_reflection():
    mapped = _offsets(ASYM, [0.1, 0.6, 0.0, 0.3, 0.2])
    np.testing.assert_allclose(reflection_aware_errors(mapped, ASYM), [0.1, 0.6, 0.0, 0.3, 0.2])


def test_mirrored_set_in_the_wrong_place_keeps_its_translation_error():
    mapped = ASYM @ MIRROR  # mirrored about x = 0, not about the centroid: the set moved 2.2 m
    errors = reflection_aware_errors(mapped, ASYM, sym_thresh=100.0)
    np.testing.assert_allclose(errors, np.minimum(np.linalg.norm(mapped - ASYM, axis=1), 2.2), atol=1e-12)


def test_mirrored_symmetric_set_gets_credit_but_not_for_translation():
    shift = np.array([0.0, 0.0, 0.3])
    mapped = SYM @ MIRROR + shift  # the same set, but each point paired with its mirror twin
    raw = np.linalg.norm(mapped - SYM, axis=1)
    assert raw.max() > 0.9
    # Reflected in place the set lines up with the ground truth; only the 0.3 m shift remains.
    np.testing.assert_allclose(reflection_aware_errors(mapped, SYM), np.minimum(raw, 0.3), atol=1e-12)
    np.testing.assert_allclose(reflection_aware_errors(mapped, SYM), 0.3, atol=1e-12)


def test_mirrored_symmetric_set_after_yaw_gets_credit():
    rot = yaw_matrix(0.8)
    gt = SYM @ rot.T
    mapped = SYM @ MIRROR @ rot.T  # the mirror plane turns with the object
    np.testing.assert_allclose(reflection_aware_errors(mapped, gt), 0.0, atol=1e-9)


def test_mirrored_asymmetric_set_gets_no_credit():
    mapped = _mirror_in_place(ASYM)
    raw = np.linalg.norm(mapped - ASYM, axis=1)
    assert raw.max() > 1.0
    np.testing.assert_array_equal(reflection_aware_errors(mapped, ASYM), raw)
    # ... unless the symmetry test is switched off: proves the symmetry check is the gate.
    np.testing.assert_allclose(reflection_aware_errors(mapped, ASYM, sym_thresh=100.0), 0.0, atol=1e-12)


def test_proper_rotation_never_triggers_allowance():
    square = np.array([[x, y, z] for y, h in ((0.0, 1.0), (1.0, 0.5)) for x in (-h, h) for z in (-h, h)])
    mapped = square @ yaw_matrix(np.pi / 2).T  # a 4-fold (and mirror) symmetric set, turned 90 deg
    raw = np.linalg.norm(mapped - square, axis=1)
    assert raw.min() > 0.5
    np.testing.assert_array_equal(reflection_aware_errors(mapped, square, sym_thresh=100.0), raw)


def _squared_chamfer_sum(a, b):
    """Brute force: mean squared NN distance a->b plus b->a."""
    d2 = ((a[:, None] - b[None]) ** 2).sum(-1)
    return d2.min(1).mean() + d2.min(0).mean()


def test_symmetry_threshold_uses_sqrt_of_summed_squared_chamfer():
    gt = np.vstack([SYM, [[0.4, 0.3, 0.9]]])  # nearly symmetric: one extra point breaks it
    mapped = _mirror_in_place(gt)
    centred = mapped - mapped.mean(0)
    # For this full-rank set the Procrustes optimum is exactly the mirror (mapped_c @ MIRROR = gt_c).
    value = np.sqrt(_squared_chamfer_sum(centred, centred @ MIRROR))
    assert 0.05 < value < 0.4
    raw = np.linalg.norm(mapped - gt, axis=1)
    assert raw.max() > 0.5
    credited = reflection_aware_errors(mapped, gt, sym_thresh=value * 1.001)
    assert credited.max() < 1e-9
    # Just below the value: no credit. A mean (0.5x) convention would still give credit here.
    np.testing.assert_array_equal(reflection_aware_errors(mapped, gt, sym_thresh=value * 0.999), raw)


# ----------------------------------------------------------------------------- PCP and Bi-PCP


def test_pcp_pools_points_over_pairs():
    a = _record(ASYM[:4], _offsets(ASYM[:4], [0.1, 0.6, 0.0, 0.9]))
    b = _record(ASYM, _offsets(ASYM, [0.3, 0.8, 0.2, 0.4, 0.7]))
    r = summarise([a, b])
    # Hits at 0.25: a {0.1, 0.0}, b {0.2} -> 3/9; at 0.5: + b {0.3, 0.4} -> 5/9; at 0.75: + a 0.6, b 0.7 -> 7/9.
    assert r["pcp@0.25"] == pytest.approx(3 / 9)
    assert r["pcp@0.5"] == pytest.approx(5 / 9)
    assert r["pcp@0.75"] == pytest.approx(7 / 9)
    # Pooling is not the mean of per-pair fractions ((2/4 + 1/5) / 2 = 0.35 at 0.25).
    assert r["pcp@0.25"] != pytest.approx(0.35)


def test_no_map_and_no_ground_truth_rules():
    with_gt_no_map = _record(ASYM[:4], None)
    no_gt_no_map = _record(None, None, roi=ASYM[:3])
    no_gt_with_map = _record(None, ASYM[:2], roundtrip=np.zeros((2, 3)), roi=np.zeros((2, 3)))
    r = summarise([with_gt_no_map, no_gt_no_map, no_gt_with_map])
    for key in ("pcp@0.25", "pcp@0.75", "bi_pcp@0.5"):
        assert r[key] == pytest.approx(3 / 9)  # only the 3 points of the "no analogy, no map" pair
    for key in ("chamfer_acc@0.15", "chamfer_acc@0.25", "sem_chamfer_acc@0.2"):
        assert r[key] == pytest.approx(1 / 3)
    assert summarise([no_gt_no_map])["pcp@0.25"] == 1.0
    assert summarise([no_gt_with_map])["pcp@0.75"] == 0.0
    assert summarise([with_gt_no_map])["bi_pcp@0.75"] == 0.0


def test_bi_pcp_roundtrip_and_missing_inverse():
    roi = ASYM
    roundtrip = _offsets(roi, [0.1, 0.3, 0.6, 0.0, 0.2])
    with_inverse = _record(ASYM, ASYM, roundtrip=roundtrip, roi=roi)
    without_inverse = _record(ASYM[:3], ASYM[:3], roundtrip=None, roi=ASYM[:3])
    r = summarise([with_inverse, without_inverse])
    assert r["bi_pcp@0.25"] == pytest.approx(3 / 8)
    assert r["bi_pcp@0.5"] == pytest.approx(4 / 8)
    assert r["bi_pcp@0.75"] == pytest.approx(5 / 8)
    assert r["pcp@0.25"] == 1.0  # the forward maps are perfect


def test_bi_pcp_reflection_allowance():
    mirrored_back = SYM @ MIRROR  # G(F(p)) lands on p's mirror twin of a symmetric RoI
    r = summarise([_record(SYM, SYM, roundtrip=mirrored_back, roi=SYM)])
    assert r["bi_pcp@0.25"] == 1.0
    r = summarise([_record(ASYM, ASYM, roundtrip=_mirror_in_place(ASYM), roi=ASYM)])
    assert r["bi_pcp@0.75"] < 1.0


# ----------------------------------------------------------------------------- Chamfer accuracy


def _grid_object(origin):
    """8 corners of a unit cube at `origin`: NN inside one object is 1 m away."""
    corners = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=float)
    return corners + origin


def test_chamfer_accuracy_picks_nearest_centroid_object():
    ref_a, ref_b = _grid_object([0, 0, 0]), _grid_object([5, 0, 0])
    far = _grid_object([10, 0, 0])  # never the nearest centroid
    reference = np.vstack([ref_a, ref_b, far])
    ref_ids = np.repeat([0, 1, 2], 8)
    mapped = np.vstack([ref_a + [0.1, 0, 0], ref_b + [0, 0, 0.35]])  # chamfers 0.1 and 0.35
    ids = np.repeat([0, 1], 8)
    record = _record(mapped, mapped, roi=mapped, ids=ids, ref=reference, ref_ids=ref_ids,
                     roi_classes={0: 1, 1: 2}, ref_classes={0: 1, 1: 2, 2: 1})
    r = summarise([record])
    # Mean chamfer 0.225: a miss at 0.15 and 0.2, a hit at 0.25.
    assert (r["chamfer_acc@0.15"], r["chamfer_acc@0.2"], r["chamfer_acc@0.25"]) == (0.0, 0.0, 1.0)
    assert r["sem_chamfer_acc@0.25"] == 1.0


def test_chamfer_uses_centroid_not_best_chamfer():
    small = _grid_object([0, 0, 0]) * 0.2  # a 20 cm cube
    big = (_grid_object([0, 0, 0]) - 0.5) * 3 + small.mean(0)  # same centroid, 3 m cube
    copy = small + [0.3, 0, 0]  # chamfer 0.3 but centroid 0.3 m away
    reference = np.vstack([copy, big])
    ref_ids = np.repeat([0, 1], 8)
    record = _record(small, small, roi=small, ref=reference, ref_ids=ref_ids,
                     roi_classes={0: 1}, ref_classes={0: 1, 1: 1})
    d2 = ((small[:, None] - big[None]) ** 2).sum(-1)
    expected = 0.5 * (np.sqrt(d2.min(1)).mean() + np.sqrt(d2.min(0)).mean())
    assert expected > 1.0
    r = summarise([record], chamfer_thresholds=(expected * 0.999, expected * 1.001))
    assert list(r.values())[6:8] == [0.0, 1.0]


def test_semantic_mismatch_fails_the_pair():
    ref_a, ref_b = _grid_object([0, 0, 0]), _grid_object([5, 0, 0])
    mapped = np.vstack([ref_a, ref_b])
    ids = np.repeat([4, 9], 8)  # RoI object ids need not be 0..n-1
    record = _record(mapped, mapped, roi=mapped, ids=ids, ref=mapped, ref_ids=np.repeat([0, 1], 8),
                     roi_classes={4: "bed", 9: "chair"}, ref_classes=np.array(["bed", "table"]))
    r = summarise([record])
    assert r["chamfer_acc@0.15"] == 1.0
    assert r["sem_chamfer_acc@0.15"] == 0.0


# ----------------------------------------------------------------------------- summary and output


def test_keys_exact_and_configurable():
    r = summarise([_record(ASYM, ASYM, seconds=2.0), _record(ASYM, ASYM, seconds=4.0)])
    assert list(r) == [
        "pcp@0.25", "pcp@0.5", "pcp@0.75", "bi_pcp@0.25", "bi_pcp@0.5", "bi_pcp@0.75",
        "chamfer_acc@0.15", "chamfer_acc@0.2", "chamfer_acc@0.25",
        "sem_chamfer_acc@0.15", "sem_chamfer_acc@0.2", "sem_chamfer_acc@0.25",
        "free_pcp@0.25", "free_pcp@0.5", "free_pcp@0.75", "free_collision_rate", "right_objects",
        "seconds_per_pair", "num_pairs",
    ]
    assert r["seconds_per_pair"] == 3.0 and r["num_pairs"] == 2
    # Records without free points or object verdicts leave the open-space keys unscored, not zero.
    assert np.isnan(r["free_pcp@0.25"]) and np.isnan(r["free_collision_rate"]) and np.isnan(r["right_objects"])
    custom = summarise([_record(ASYM, ASYM)], map_thresholds=(0.1,), bijectivity_thresholds=(1.0, 2.0),
                       chamfer_thresholds=(0.3,))
    assert list(custom)[:5] == ["pcp@0.1", "bi_pcp@1", "bi_pcp@2", "chamfer_acc@0.3", "sem_chamfer_acc@0.3"]
    with pytest.raises(ValueError, match="no pairs"):
        summarise([])


def test_record_validation():
    with pytest.raises(ValueError, match="mapped"):
        _record(ASYM, ASYM[:3])
    with pytest.raises(ValueError, match="roi_classes"):
        _record(ASYM, ASYM, roi_classes={7: 1})


def test_table_and_json(tmp_path):
    r = summarise([_record(ASYM, ASYM, seconds=0.5)])
    table = format_table(r)
    lines = table.splitlines()
    assert len(lines) == len(r) + 2 and len({len(line) for line in lines}) == 1  # aligned
    assert "pcp@0.25" in table and "1.0000" in table and "0.500 s" in table
    path = tmp_path / "out" / "metrics.json"
    write_metrics_json(path, r)
    assert json.loads(path.read_text()) == {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in r.items()}
    assert json.loads(path.read_text())["free_pcp@0.25"] is None  # unscored: null, never NaN in JSON


def test_pairs_with_unknown_analogy_leave_pcp_and_keep_the_rest():
    known = _record(ASYM, ASYM, roundtrip=np.zeros_like(ASYM))  # perfect on every metric
    unknown = PairRecord(roi_points=np.zeros_like(ASYM), gt_points=None, mapped=ASYM + 5.0, roundtrip=None,
                         roi_object_ids=np.zeros(5, int), roi_classes={0: 3}, reference_points=ASYM,
                         reference_object_ids=np.zeros(5, int), reference_classes={0: 3}, analogy_known=False)
    both = summarise([known, unknown])
    assert both["pcp@0.25"] == 1.0  # only the known pair's points count for PCP
    assert both["bi_pcp@0.25"] == 0.5 and both["chamfer_acc@0.25"] == 0.5  # the unknown pair has no inverse and is far off
    alone = summarise([unknown])
    assert np.isnan(alone["pcp@0.25"]) and "n/a" in format_table(alone)
    with pytest.raises(ValueError, match="known analogy"):
        PairRecord(ASYM, ASYM, None, None, np.zeros(5, int), {0: 3}, ASYM, np.zeros(5, int), {0: 3}, analogy_known=False)


# ----------------------------------------------------------------------------- open space


FREE = np.array([[5.0, 0.5, 0.0], [5.5, 0.5, 1.0], [6.0, 1.0, 0.0], [4.0, 0.2, 2.0]])


def _free_record(gt, mapped, free_gt, free_mapped, gt_free=None, inside=None, right=True):
    record = _record(gt, mapped)
    record.free_points = FREE
    record.free_gt, record.free_gt_free = free_gt, np.ones(len(FREE), bool) if gt_free is None else gt_free
    if free_mapped is not None:
        record.free_mapped = free_mapped
        record.free_mapped_inside = np.zeros(len(FREE), bool) if inside is None else inside
    record.objects_right = right
    record._check_free()
    return record


def test_free_pcp_collisions_and_right_objects_by_hand():
    # Errors of the four free images: 0.1, 0.3, 0.6, 0.9 (along +y, no reflection: the RoI map is exact).
    free_mapped = _offsets(FREE, [0.1, 0.3, 0.6, 0.9])
    first = _free_record(ASYM, ASYM, FREE, free_mapped, gt_free=np.array([True, True, False, True]),
                         inside=np.array([True, False, True, False]), right=True)
    # A pair with ground truth and no map: its four free points all miss; no collision counted; wrong objects.
    second = _free_record(ASYM, None, FREE, None, right=False)
    r = summarise([first, second])
    assert r["free_pcp@0.25"] == pytest.approx(1 / 8)  # 0.1 only
    assert r["free_pcp@0.5"] == pytest.approx(2 / 8)
    assert r["free_pcp@0.75"] == pytest.approx(3 / 8)
    # Inside a box: points 0 (ground truth free: counts) and 2 (ground truth not free: does not).
    assert r["free_collision_rate"] == pytest.approx(1 / 3)
    assert r["right_objects"] == pytest.approx(0.5)
    assert r["pcp@0.25"] == pytest.approx(0.5)  # the RoI points: all of the first pair, none of the second


def test_free_points_use_the_reflection_decided_on_the_roi():
    # The RoI map is the symmetric set mirrored in place: the allowance applies and forgives it.
    mapped = _mirror_in_place(SYM)
    alignment = reflection_alignment(mapped, SYM)
    assert alignment is not None
    rot, centroid = alignment
    # Free points carried by the same reflection are forgiven too; raw they are far off.
    free_gt = FREE
    free_mapped = (FREE - centroid) @ rot.T + centroid  # rot is its own inverse (a reflection), so this undoes it
    assert np.linalg.norm(free_mapped - free_gt, axis=1).max() > 1.0
    np.testing.assert_allclose(aligned_errors(free_mapped, free_gt, alignment), 0.0, atol=1e-9)
    r = summarise([_free_record(SYM, mapped, free_gt, free_mapped)])
    assert r["pcp@0.25"] == 1.0 and r["free_pcp@0.25"] == 1.0
    # An asymmetric RoI gets no allowance, so the same free images count as misses.
    assert reflection_alignment(_mirror_in_place(ASYM), ASYM) is None


def test_free_fields_validated():
    with pytest.raises(ValueError, match="free_mapped"):
        _free_record(ASYM, ASYM, FREE, None)  # a map but no free images
    with pytest.raises(ValueError, match="free_gt_free"):
        _free_record(ASYM, ASYM, FREE, FREE, gt_free=np.ones(3, bool))
