"""The whole matcher (DESIGN §5): `find_analogy(target, reference, roi, local_field, global_field, cfg)`.

Result maps are `AnalogyMap`s: F(x) = A x + b + d(x) for ANY point x (rows: x A^T + b + d(x)), with
- A = `linear`: the refined coarse map: R_yaw(theta) . M . diag(exp(l)) (`scale_rot`, M the x-mirror
  or I) or a free 3x3 (`affine`);
- b = `offset`, so that A x + b carries the RoI onto the reference;
- d = the fine stage's displacement (`local.py`, step 4), with F(p) ~ the final point of every RoI
  point p: by default each RoI object's box map blended by distance to the RoI boxes plus small
  Gaussian bumps (`blend.py`), so the space around the RoI follows its objects and F is the global
  map A x + b far from them; or a thin-plate spline over the RoI points (`local_displacement`).
`map.correspondence` rows are (target object index, reference object index) of the matched RoI
objects; `map.cost` is the mean over RoI objects of their fine costs; `map.roi_points` the RoI
keypoints (flat, object by object, in scene order).

Timed stages: coarse = descriptors, candidates, refinement, object correspondence; fine = the rest.

Selection (§5.5): the coarse maps are ranked by most inliers, then coarse cost + the bearing and
relation terms (`coarse.bearing_mismatch`, `relations.py`) (with `context_probe_weight` > 0, off by
default, the best `context_probe_maps` are re-ranked by the field at probes around the RoI, `probes.py`); the best `max(fine_candidates,
topk_maps)` of them go through the fine stage and are ranked by fine cost; a
map is a near-duplicate of a better one when it has the same object correspondence or its mapped RoI
points lie within `duplicate_dist` (mean) of the better map's; the best `topk_maps` survivors are
returned. `best` is the first one unless its cost exceeds `local_valid_thres` ("no analogy").
Why these choices, with numbers and commands: docs/decisions.md ("Matcher", "Coarse stage" sections).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from scene_analogy.match.analogy_map import AnalogyMap
from scene_analogy.match.coarse import greedy_keep, run_coarse
from scene_analogy.match.inputs import MatchConfig, MatchScene, pad_objects
from scene_analogy.match.local import box_snap, run_fine
from scene_analogy.match.probes import box_probes, probe_costs
from scene_analogy.ops.point_sets import farthest_point_sample

__all__ = ["AnalysisResult", "find_analogy", "inverse", "inverse_with"]


@dataclass
class AnalysisResult:
    """maps: best first (at most topk_maps); best: maps[0] or None ("no analogy"); object_costs:
    (Nr,) per map; timings: seconds for "coarse", "fine", "total"; candidate_boxes (S, Nr, 4, 2) and
    refined_boxes: xz footprints of the RoI boxes under the coarse candidates that survived
    suppression, before / after refinement (for pictures); num_candidates: all candidates scored."""

    maps: list[AnalogyMap]
    best: AnalogyMap | None
    roi: np.ndarray
    object_costs: list[np.ndarray] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    candidate_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 4, 2)))
    refined_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 4, 2)))
    num_candidates: int = 0


def _describe(field_module, scene: MatchScene, query, device, context_keypoints: int = 0) -> torch.Tensor:
    """Unit descriptors (Q, D) at query points in the scene's context (`MatchScene.context`), on `device`.

    Every cost of the matcher (the IDW cost reads |f_t|^2 as 1) and every threshold is on the scale of
    unit descriptors (DESIGN §3), so a field built with `normalize=False` (e.g. converted authors'
    weights trained without --normalize_feats) is normalised here; normalised fields pass as they are."""
    points, labels = scene.context(context_keypoints, field_module.device)
    q = torch.as_tensor(query, dtype=torch.float32, device=field_module.device)
    with torch.no_grad():
        out = field_module(q[None], points[None], labels[None])[0]
        if not getattr(getattr(field_module, "cfg", None), "normalize", True):
            out = F.normalize(out, dim=-1)
    return out.to(device=device, dtype=torch.float32)


def _boxes(scene: MatchScene, index, device):
    # A copy (a few boxes): the scene's arrays may be read-only, which torch cannot share.
    return tuple(torch.tensor(a[index], dtype=torch.float32, device=device)
                 for a in (scene.box_centres, scene.box_sizes, scene.box_rots))


def refine_subset(roi_points: torch.Tensor, roi_mask: torch.Tensor, per_object: int) -> torch.Tensor | None:
    """Flat RoI rows (object by object, as `roi_flat`) of a farthest-point subset of at most
    `per_object` points per RoI object, or None for all points (per_object = 0, or no fewer)."""
    counts = roi_mask.sum(1)
    large = counts > per_object
    if per_object <= 0 or not bool(large.any()):
        return None
    # Each object keeps min(per_object, its own count): the small ones all their points, the others a
    # farthest-point subset (one batched FPS: every one of them has more than per_object points).
    slots = torch.arange(per_object, device=roi_points.device).expand(len(counts), per_object)
    picked = slots.clone()
    picked[large] = farthest_point_sample(roi_points[large], per_object, counts[large])
    starts = torch.cumsum(counts, 0) - counts
    return (starts[:, None] + picked)[slots < counts[:, None]]  # object by object, as roi_flat


def find_analogy(target: MatchScene, reference: MatchScene, roi, local_field, global_field,
                 cfg: MatchConfig = MatchConfig(), coarse_stage=run_coarse) -> AnalysisResult:
    """Map the RoI objects `roi` (target object indices) into `reference` (module docstring).
    `coarse_stage`: a callable with `run_coarse`'s signature and result; only the evaluation-only
    oracle (`baselines.oracle`) passes another one."""
    start = time.perf_counter()
    device = torch.device(cfg.device)
    roi = np.asarray(roi, dtype=np.int64).reshape(-1)
    if len(roi) == 0 or roi.min() < 0 or roi.max() >= len(target) or len(np.unique(roi)) != len(roi):
        raise ValueError(f"roi must be distinct target object indices in [0, {len(target)}), got {roi.tolist()}")
    roi_index, roi_mask_np = pad_objects(target, roi)
    if not roi_mask_np.any(1).all():
        raise ValueError(f"RoI objects {roi[~roi_mask_np.any(1)].tolist()} have no keypoints")
    roi_flat = target.points[roi_index[roi_mask_np]]  # (R, 3): object by object, scene order
    roi_points = torch.as_tensor(target.points[roi_index], device=device)  # (Nr, M, 3)
    roi_mask = torch.as_tensor(roi_mask_np, device=device)
    result = AnalysisResult([], None, roi)

    ref_obj = np.nonzero(reference.instance >= 0)[0]
    # Reference objects without keypoints have no descriptors to compare: never candidates.
    ref_has_points = np.isin(np.arange(len(reference)), reference.instance[ref_obj])
    if len(ref_obj) == 0 or len(reference) == 0:
        result.timings = {"coarse": time.perf_counter() - start, "fine": 0.0, "total": time.perf_counter() - start}
        return result
    f_roi = _describe(global_field, target, roi_flat, device, cfg.context_keypoints)
    f_ref = _describe(global_field, reference, reference.points[ref_obj], device, cfg.context_keypoints)
    roi_classes = torch.as_tensor(target.class_ids[roi], device=device)
    ref_classes = torch.as_tensor(reference.class_ids, device=device)
    if not ref_has_points.all():  # a class no RoI object has
        never = min(int(target.class_ids.min()), int(reference.class_ids.min())) - 1
        ref_classes = ref_classes.masked_fill(torch.as_tensor(~ref_has_points, device=device), never)
    roi_box = _boxes(target, roi, device)
    ref_box = _boxes(reference, slice(None), device)
    coarse = coarse_stage(torch.as_tensor(roi_flat, device=device), f_roi, roi_box, roi_classes,
                          torch.as_tensor(reference.points[ref_obj], device=device), f_ref, ref_box, ref_classes, cfg,
                          refine_subset(roi_points, roi_mask, cfg.refine_points) if cfg.refine_steps else None,
                          rank_subset=refine_subset(roi_points, roi_mask, cfg.rank_points))
    if cfg.context_probe_weight > 0 and len(coarse.cost) > 1:
        coarse = _rerank_by_probes(coarse, target, reference, roi_box, ref_box, global_field, device, cfg)
    result.candidate_boxes, result.refined_boxes = coarse.boxes, coarse.refined_boxes
    result.num_candidates = coarse.num_candidates
    coarse_done = time.perf_counter()
    keep = min(max(cfg.fine_candidates, cfg.topk_maps), len(coarse.cost))
    if keep == 0:
        result.timings = {"coarse": coarse_done - start, "fine": 0.0, "total": time.perf_counter() - start}
        return result

    if not cfg.fine:
        return _coarse_only(result, coarse, roi, roi_flat, cfg, start, coarse_done)
    match = coarse.match[:keep]
    used = np.unique(match[match >= 0].cpu().numpy())
    ref_index, ref_mask = pad_objects(reference, used)
    if local_field is global_field:  # reuse: row of each reference object keypoint in f_ref
        row = np.full(len(reference.points), 0, dtype=np.int64)
        row[ref_obj] = np.arange(len(ref_obj))
        f_ref_local = f_ref[torch.as_tensor(row[ref_index], device=device)]
        f_roi_local = f_roi
    else:
        described = _describe(local_field, reference, reference.points[ref_index[ref_mask]], device,
                              cfg.context_keypoints)  # the local field's width, not the global one's
        f_ref_local = described.new_zeros(len(used), ref_index.shape[1], described.shape[1])
        f_ref_local[torch.as_tensor(ref_mask, device=device)] = described
        f_roi_local = _describe(local_field, target, roi_flat, device, cfg.context_keypoints)
    f_roi_pad = torch.zeros(roi_mask.shape + (f_roi_local.shape[1],), device=device)
    f_roi_pad[roi_mask] = f_roi_local
    ref_slot = torch.full((len(reference),), -1, dtype=torch.long, device=device)
    ref_slot[torch.as_tensor(used, device=device)] = torch.arange(len(used), device=device)
    fine = run_fine(coarse.linear[:keep], coarse.offset[:keep], match, coarse.point_cost[:keep], roi_points,
                    roi_mask, f_roi_pad, roi_box,
                    torch.as_tensor(reference.points[ref_index], device=device),
                    torch.as_tensor(ref_mask.sum(1), device=device), f_ref_local,
                    _boxes(reference, used, device), ref_slot, cfg)

    with torch.no_grad():
        # Mapped RoI points of each map, for duplicate suppression (a degenerate spline counts as 0).
        linear64, offset64 = coarse.linear[:keep].double(), coarse.offset[:keep].double()
        mapped = fine.mapped
        order = torch.argsort(fine.cost)
        m, mp = match[order], mapped[order]
        same_match = (m[:, None] == m[None, :]).all(-1)
        close = (mp[:, None] - mp[None, :]).norm(dim=-1).mean(-1) < cfg.duplicate_dist
        order = order[greedy_keep(same_match | close)][:cfg.topk_maps]

    order_list = order.cpu().tolist()  # building the output objects: at most topk_maps of them
    for c in order_list:
        corr, meta = _coarse_description(coarse, c, roi, cfg)
        meta.update(displacement=cfg.local_displacement, displacement_valid=bool(fine.valid[c]))
        if cfg.local_displacement == "spline":
            meta.update(smoothing=float(cfg.local_rbf_smoothing))
        result.maps.append(AnalogyMap(
            linear64[c].cpu().numpy(), offset64[c].cpu().numpy(), cost=float(fine.cost[c]), roi_points=roi_flat,
            correspondence=corr, meta=meta, **fine.displacement(c)))
        result.object_costs.append(fine.object_cost[c].cpu().numpy())
    if result.maps and result.maps[0].cost <= cfg.valid_threshold(local_field):
        result.best = result.maps[0]
    end = time.perf_counter()
    result.timings = {"coarse": coarse_done - start, "fine": end - coarse_done, "total": end - start}
    return result


def _rerank_by_probes(coarse, target: MatchScene, reference: MatchScene, roi_box, ref_box, field_module, device,
                      cfg: MatchConfig):
    """The best `context_probe_maps` coarse maps re-ranked by key + weight x probe cost (`probes.py`)."""
    k = min(cfg.context_probe_maps, len(coarse.cost))
    match = coarse.match[:k]
    valid = match >= 0
    with torch.no_grad():
        probes = box_probes(*roi_box, cfg.context_probe_margin)  # (Nr, 16, 3)
        f_target = _describe(field_module, target, probes.reshape(-1, 3), device,
                             cfg.context_keypoints).reshape(*probes.shape[:2], -1)
        c_idx, i_idx = torch.nonzero(valid, as_tuple=True)
        carried = box_snap(probes[i_idx], coarse.linear[c_idx], tuple(b[i_idx] for b in roi_box),
                           tuple(b[match[c_idx, i_idx]] for b in ref_box))  # (S, 16, 3)
        f_reference = f_target.new_zeros(k, *f_target.shape)
        f_reference[c_idx, i_idx] = _describe(field_module, reference, carried.reshape(-1, 3), device,
                                              cfg.context_keypoints).reshape(*carried.shape[:2], -1)
        key = (coarse.cost if coarse.key is None else coarse.key)[:k].double()
        key = key + cfg.context_probe_weight * probe_costs(f_target, f_reference, valid).double()
        order = torch.cat([torch.argsort(key, stable=True), torch.arange(k, len(coarse.cost), device=key.device)])
    return coarse.take(order)


def _coarse_description(coarse, c: int, roi: np.ndarray, cfg: MatchConfig) -> tuple[np.ndarray, dict]:
    """Of coarse map c: its object correspondence rows (RoI object, reference object) and the
    coarse stage's part of the map's meta."""
    matched = coarse.match[c].cpu().numpy()
    meta = {"mirror": bool(coarse.mirror[c]), "coarse_cost": float(coarse.cost[c]),
            "num_inliers": int(coarse.num_inliers[c]), "mapping_type": cfg.global_mapping_type}
    return np.stack([roi, matched], 1)[matched >= 0], meta


def _coarse_only(result: AnalysisResult, coarse, roi, roi_flat, cfg: MatchConfig, start: float,
                 coarse_done: float) -> AnalysisResult:
    """The coarse-only ablation (cfg.fine False): the refined coarse maps A x + b themselves, ranked as
    the coarse stage ranks them (most inliers, then coarse cost), one per object correspondence, with
    the coarse cost as map cost. Validity is the coarse stage's own (global_dist_valid_thres, already
    applied to the candidates), so a surviving map is returned."""
    with torch.no_grad():
        match = coarse.match
        keep = greedy_keep((match[:, None] == match[None, :]).all(-1))
        order = torch.nonzero(keep)[:, 0][:cfg.topk_maps].cpu().tolist()
    for c in order:
        corr, meta = _coarse_description(coarse, c, roi, cfg)
        result.maps.append(AnalogyMap.from_spline(
            coarse.linear[c].double(), coarse.offset[c].double(), None, float(coarse.cost[c]), roi_points=roi_flat,
            correspondence=corr, meta={**meta, "coarse_only": True}))
        result.object_costs.append(np.zeros(len(roi)))
    result.best = result.maps[0] if result.maps else None
    end = time.perf_counter()
    result.timings = {"coarse": coarse_done - start, "fine": 0.0, "total": end - start}
    return result


class FieldMethod:
    """Our matcher as an evaluation method: `method(target, reference, roi) -> AnalysisResult`.

    Any callable with that signature (MatchScenes in, `AnalysisResult` out, maps as
    `AnalogyMap`s, `best` None for "no analogy") can be evaluated by `evaluation.loop.evaluate_method`; the
    baselines in `scene_analogy.baselines` are such callables."""

    def __init__(self, local_field, global_field, cfg: MatchConfig = MatchConfig()):
        self.local_field, self.global_field, self.cfg = local_field, global_field, cfg

    def __call__(self, target: MatchScene, reference: MatchScene, roi) -> AnalysisResult:
        return find_analogy(target, reference, roi, self.local_field, self.global_field, self.cfg)


def inverse_with(method, result: AnalysisResult, target: MatchScene, reference: MatchScene) -> AnalysisResult:
    """The backward run for Bi-PCP with any method `method(target, reference, roi) -> AnalysisResult`:
    RoI = the reference objects that `result.best` matched (each once, in order), other scene = the
    target. With no forward map (or no matched object) the result has no maps."""
    if result.best is None or len(result.best.correspondence) == 0:
        return AnalysisResult([], None, np.zeros(0, dtype=np.int64))
    matched = result.best.correspondence[:, 1]
    return method(reference, target, matched[np.sort(np.unique(matched, return_index=True)[1])])


def inverse(result: AnalysisResult, target: MatchScene, reference: MatchScene, local_field, global_field,
            cfg: MatchConfig = MatchConfig()) -> AnalysisResult:
    """The backward run of this matcher (`inverse_with` `find_analogy`)."""
    return inverse_with(lambda t, r, roi: find_analogy(t, r, roi, local_field, global_field, cfg),
                        result, target, reference)
