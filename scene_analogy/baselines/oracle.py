"""`oracle_objects`, an evaluation-only method: our matcher handed the true object correspondence, so a
table can tell object choice (which it gets for free) from point placement (ours' own fine stage).

How the truth reaches it, and the only way any method can get it: `OracleObjects.needs_truth` is True,
so `evaluation.loop.evaluate_method` calls `with_truth(example)` once per example and runs what that
returns; called without it, the oracle raises. The bound callable knows the pairs (RoI object,
`gt_objects` object), and their reverse for the backward run of Bi-PCP, nothing else: the scenes it
sees are the method's usual inputs (disjoint reference keypoints, the same MatchConfig and fields).

Restriction: RoI object k and its true partner get class k of their own (every other reference
object a class no RoI object has), so our candidates are seeded only from true pairs and the object
correspondence can only pick the true partner; the field still reads the real labels. Global map:
- "coarse" (default): our coarse stage on those candidates (yaws x mirrors x true pairs, refinement,
  ranking), every object matched to its partner however far the map puts it (no `inlier_dist`);
  "coarse_inliers" keeps our inlier rule (an object mapped past `inlier_dist` stays unmatched);
- "boxes": one map, the similarity fitted to the true matched box centres (mirrored when the matched
  box frames differ in handedness), every object matched to its partner.
Each then runs our fine stage. It never answers "no analogy" from the cost (the caller sets a threshold
no cost reaches): it knows the pair has one. Which global map and why: docs/decisions.md, "Evaluation-only methods".
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from scene_analogy.baselines.common import fit_similarity
from scene_analogy.match.coarse import CoarseResult, run_coarse, score_maps, warped_footprints
from scene_analogy.match.inputs import MatchConfig, MatchScene
from scene_analogy.match.pipeline import AnalysisResult, find_analogy

__all__ = ["OracleObjects", "GLOBAL_MAPS", "restrict_to_partners", "box_fit_stage"]

GLOBAL_MAPS = ("coarse", "coarse_inliers", "boxes")
_OTHER_TARGET, _OTHER_REFERENCE = -1, -2  # classes no RoI object has


def restrict_to_partners(target: MatchScene, reference: MatchScene, roi, partners) -> tuple[MatchScene, MatchScene]:
    """Both scenes with object classes rewritten so RoI object roi[k] can only pair with partners[k]
    (class k for both; -1 partner: none); keypoint labels, which the field reads, are unchanged."""
    roi, partners = np.asarray(roi, np.int64), np.asarray(partners, np.int64)
    tgt = np.full(len(target), _OTHER_TARGET, np.int64)
    ref = np.full(len(reference), _OTHER_REFERENCE, np.int64)
    tgt[roi] = np.arange(len(roi))
    ref[partners[partners >= 0]] = np.flatnonzero(partners >= 0)
    return dataclasses.replace(target, class_ids=tgt), dataclasses.replace(reference, class_ids=ref)


def box_fit_stage(roi_points, f_roi, roi_boxes, roi_classes, ref_points, f_ref, ref_boxes, ref_classes,
                  cfg: MatchConfig, refine_subset=None, rank_subset=None) -> CoarseResult:
    """A coarse stage (`run_coarse`'s signature) of one map: the similarity fitted to the box centres of
    each RoI object and the reference object of its class (`restrict_to_partners`), all matched."""
    with torch.no_grad():
        same = roi_classes[:, None] == ref_classes[None]
        partner = torch.where(same.any(1), same.int().argmax(1), torch.full_like(roi_classes, -1))
        ok = partner >= 0
        src, dst = roi_boxes[0][ok], ref_boxes[0][partner[ok]]
        hand = lambda rots: torch.sign(torch.linalg.det(rots))  # noqa: E731
        flipped = hand(roi_boxes[2][ok]) != hand(ref_boxes[2][partner[ok]])
        votes = int(flipped.sum()) * 2 - len(flipped)
        linear, offset = fit_similarity(src.cpu().numpy(), dst.cpu().numpy(), None if votes == 0 else votes > 0)
        linear = torch.as_tensor(linear, dtype=torch.float32, device=roi_points.device)[None]
        offset = torch.as_tensor(offset, dtype=torch.float32, device=roi_points.device)[None]
        point_cost = score_maps(linear, offset, roi_points, ref_points, f_roi @ f_ref.T, f_ref, cfg)
        boxes = warped_footprints(linear, offset, *roi_boxes).cpu().numpy()
    return CoarseResult(linear, offset, (torch.linalg.det(linear) < 0), point_cost.mean(1), point_cost,
                        partner[None], ok.sum()[None], 1, boxes, boxes)


class OracleObjects:
    """Evaluation-only (module docstring): `with_truth(example)` is the callable to evaluate."""

    needs_truth = True

    def __init__(self, local_field, global_field, cfg: MatchConfig, global_map: str = "coarse"):
        if global_map not in GLOBAL_MAPS:
            raise ValueError(f"global_map must be one of {GLOBAL_MAPS}, got {global_map!r}")
        self.local_field, self.global_field, self.cfg, self.global_map = local_field, global_field, cfg, global_map

    def with_truth(self, example) -> "_WithTruth":
        return _WithTruth(self, example)

    def __call__(self, target, reference, roi):
        raise RuntimeError("oracle_objects is evaluation-only: it runs through evaluation.loop.evaluate_method, "
                           "which hands it the ground truth (with_truth)")


class _WithTruth:
    """The oracle bound to one example's object pairs: forward when called on the example's target,
    backward (Bi-PCP, pairs reversed) when called on its reference."""

    def __init__(self, oracle: OracleObjects, example):
        self.oracle = oracle
        self.target_centres = np.asarray(example.target.bbox_centroids, np.float64)
        gt = example.gt_objects
        self.forward = None if gt is None else dict(zip(map(int, example.roi), map(int, gt)))
        self.backward = None if gt is None else {j: i for i, j in self.forward.items()}

    def __call__(self, target: MatchScene, reference: MatchScene, roi) -> AnalysisResult:
        roi = np.asarray(roi, np.int64).reshape(-1)
        forward = target.box_centres.shape == self.target_centres.shape and np.array_equal(
            target.box_centres, self.target_centres)
        pairs = self.forward if forward else self.backward
        if pairs is None:  # the truth says: no analogy
            return AnalysisResult([], None, roi)
        partners = np.array([pairs.get(int(i), -1) for i in roi], np.int64)  # RoI objects, not points
        o = self.oracle
        stage = box_fit_stage if o.global_map == "boxes" else run_coarse
        cfg = o.cfg if o.global_map == "coarse_inliers" else dataclasses.replace(o.cfg, inlier_dist=float("inf"))
        return find_analogy(*restrict_to_partners(target, reference, roi, partners), roi, o.local_field,
                            o.global_field, cfg, coarse_stage=stage)
