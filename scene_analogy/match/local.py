"""Fine stage of the matcher (DESIGN §5.4): box snap, free-point optimisation against each matched
reference object's own field, and the thin-plate-spline displacement. Batched over all candidate maps
x RoI objects ("slots") at once; loops run only over optimisation steps.

For a slot (map c, RoI object i matched to reference object j):
1. Box snap. With the RoI box (c_i, S_i, R_i) and the reference box (c_j, S_j, R_j), a point p gets
   box coordinates u = R_i^{-1} (p - c_i) / S_i in [-0.5, 0.5]^3 and is snapped to
   c_j + R_j (S_j * (Q u)), where Q is one of the 8 symmetries of the unit cube that keep +y
   (yaw k 90 degrees, optionally an x-mirror) with det(R_j Q) of the same sign as det(A R_i) (the
   map's mirror is kept) and R_j Q closest (Frobenius) to the warped orientation A R_i with its
   columns normalised. Degenerate box sizes are clamped at 1 mm.
2. Optimisation. The snapped points are free variables; Adam (local_lr, local_steps) minimises the
   mean over the object's points of ||f_tgt(p) - f_j(x)||, f_j the IDW field over the keypoints of
   reference object j only (`idw.py`; descriptors computed in the full reference scene).
3. Assignment (`local_assign`, default "snap"): the snapped points move onto distinct keypoints of
   the reference object, the one-to-one assignment of least total squared distance
   (`assign_points`); "optimised" assigns the optimised points, "none" keeps them (DESIGN §5.4 as
   written). Why and the numbers: docs/decisions.md, "bearing term and one-to-one point assignment".
4. Spline. Over ALL RoI points (K = R centres): values = x_final - (A p + b) for matched objects and
   0 for unmatched ones (they follow the global map), fitted with smoothing local_rbf_smoothing, so
   F(x) = A x + b + d(x) and F(p) ~ x_final (exactly with smoothing 0).
Cost of a slot = the mean descriptor distance after optimisation (step 2, whatever step 3 does); an
unmatched RoI object keeps its coarse (global-field) cost under the global map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from scene_analogy.match.coarse import _REFRESH
from scene_analogy.match.idw import idw_cost, nearest_candidates
from scene_analogy.match.inputs import MatchConfig
from scene_analogy.match.rbf import BatchedThinPlateSpline, fit_thin_plate_batched
from scene_analogy.ops.geometry import yaw_rotation
from scene_analogy.ops.neighbors import farthest_point_sample

__all__ = ["cube_symmetries", "box_snap", "optimise_points", "assign_points", "run_fine", "FineResult"]

_STAY_COST = 1e6  # m^2: above any sum of real squared distances, so rows take keypoints first


def cube_symmetries(device=None) -> torch.Tensor:
    """(8, 3, 3): yaw k * 90 degrees (k = 0..3), each without and with an x-mirror (mirror applied first)."""
    yaws = yaw_rotation(torch.arange(4, dtype=torch.float32, device=device) * (math.pi / 2)).round()
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0], device=device))
    return torch.cat([yaws, yaws @ mirror])


def box_snap(points, linear, roi_box, ref_box) -> torch.Tensor:
    """Snap points (S, M, 3) of S slots onto the reference boxes (module docstring, step 1).

    linear (S, 3, 3) the slot's map A; roi_box and ref_box are (centres (S, 3), sizes (S, 3),
    rots (S, 3, 3)). Returns (S, M, 3).
    """
    (ci, si, ri), (cj, sj, rj) = roi_box, ref_box
    u = torch.einsum("sij,smj->smi", torch.linalg.inv(ri), points - ci[:, None]) / si.clamp_min(1e-3)[:, None]
    warped = linear @ ri
    warped = warped / warped.norm(dim=1, keepdim=True).clamp_min(1e-12)  # unit columns
    q = cube_symmetries(points.device)  # (8, 3, 3)
    cand = rj[:, None] @ q[None]  # (S, 8, 3, 3)
    score = (cand - warped[:, None]).square().sum((-1, -2))
    same_hand = torch.sign(torch.linalg.det(cand)) == torch.sign(torch.linalg.det(warped))[:, None]
    best = torch.where(same_hand, score, torch.full_like(score, float("inf"))).argmin(1)
    qu = torch.einsum("sij,smj->smi", q[best], u)
    return cj[:, None] + torch.einsum("sij,smj->smi", rj, qu * sj.clamp_min(1e-3)[:, None])


def optimise_points(start, ref_points, ref_lengths, dots, gram, gram_batch, query_mask, cfg: MatchConfig):
    """Adam on free points start (S, M, 3) against the slots' object fields (module docstring, step 2).

    ref_points (S, Mr, 3) with ref_lengths (S,); dots (S, M, Mr); gram (U, Mr, Mr) read at
    gram_batch (S,); query_mask (S, M) marks real RoI points. Returns (points (S, M, 3), costs (S, M)).
    """
    x = start.detach().clone().requires_grad_(True)
    weight = query_mask.float() / query_mask.sum(1, keepdim=True).clamp_min(1).float()

    def cost_of(points, candidates=None):
        return idw_cost(points, ref_points, dots, gram, cfg.idw_k, cfg.idw_eps, points_lengths=ref_lengths,
                        gram_batch=gram_batch, candidates=candidates)

    if cfg.local_steps > 0 and len(x):
        optimiser = torch.optim.Adam([x], lr=cfg.local_lr)
        near = None
        for step in range(cfg.local_steps):
            if step % _REFRESH == 0:  # neighbour set kept for _REFRESH steps, as in coarse.refine_maps
                near = nearest_candidates(x.detach(), ref_points, cfg.idw_k, ref_lengths)
            optimiser.zero_grad(set_to_none=True)
            (cost_of(x, near) * weight).sum().backward()  # per-slot means, summed: slots stay independent
            optimiser.step()
    with torch.no_grad():
        return x.detach(), cost_of(x.detach())


def assign_points(points, ref_points, ref_lengths, query_mask, max_points: int) -> torch.Tensor:
    """Move each slot's points (S, M, 3) onto distinct keypoints of its reference object (S, Mr, 3):
    the one-to-one assignment of least total squared distance (module docstring, step 3).

    All slots are solved in one `linear_sum_assignment` over a block-diagonal cost (other slots'
    keypoints forbidden); each row also has its own "stay" column, dearer than any real keypoint,
    taken only when its object has fewer keypoints than points. Slots with more than `max_points`
    points are left as they are (the dense cost would be M^2 per slot)."""
    from scipy.optimize import linear_sum_assignment

    mr = ref_points.shape[1]
    rows_ok = (query_mask & (query_mask.sum(1, keepdim=True) <= max_points)).cpu().numpy()
    cols_ok = (torch.arange(mr, device=points.device)[None] < ref_lengths[:, None]).cpu().numpy()
    row_slot, row_pt = np.nonzero(rows_ok)
    col_slot, col_pt = np.nonzero(cols_ok & rows_ok.any(1, keepdims=True))
    if len(row_slot) == 0 or len(col_slot) == 0:
        return points
    pts, ref = points.detach().double().cpu().numpy(), ref_points.detach().double().cpu().numpy()
    sq = ((pts[row_slot, row_pt][:, None] - ref[col_slot, col_pt][None]) ** 2).sum(-1)  # (rows, cols)
    sq[row_slot[:, None] != col_slot[None]] = np.inf
    stay = np.full((len(row_slot), len(row_slot)), np.inf)
    np.fill_diagonal(stay, _STAY_COST)
    rows, cols = linear_sum_assignment(np.concatenate([sq, stay], axis=1))
    moved = cols < len(col_slot)
    out = points.clone()
    target = torch.as_tensor(ref[col_slot[cols[moved]], col_pt[cols[moved]]], dtype=points.dtype, device=points.device)
    out[torch.as_tensor(row_slot[rows[moved]]), torch.as_tensor(row_pt[rows[moved]])] = target
    return out


@dataclass
class FineResult:
    """Per map c and RoI object i: snapped / optimised (C, Nr, M, 3) points (unmatched objects: the
    global warp), object_cost (C, Nr), cost (C,) = mean over RoI objects, values (C, R, 3) spline
    targets and `spline` (BatchedThinPlateSpline over the R flat RoI points; valid (C,) False where
    the system was degenerate)."""

    snapped: torch.Tensor
    optimised: torch.Tensor
    object_cost: torch.Tensor
    cost: torch.Tensor
    spline: BatchedThinPlateSpline


def run_fine(linear, offset, match, coarse_point_cost, roi_points, roi_mask, f_roi, roi_box,
             ref_points, ref_lengths, f_ref, ref_box, ref_slot, cfg: MatchConfig) -> FineResult:
    """The fine stage for C maps.

    linear (C, 3, 3), offset (C, 3), match (C, Nr) reference object per RoI object (-1 none),
    coarse_point_cost (C, R) over the flat RoI points; roi_points (Nr, M, 3) padded with roi_mask
    (Nr, M) and local descriptors f_roi (Nr, M, D); roi_box = (centres, sizes, rots) of the Nr RoI
    objects. The U reference objects that occur in `match`: ref_points (U, Mr, 3) with ref_lengths
    (U,), f_ref (U, Mr, D), ref_box per U; ref_slot (Nf,) maps a reference object to its U row.
    """
    num_maps, num_roi = match.shape
    device = roi_points.device
    warped = torch.einsum("cij,nmj->cnmi", linear, roi_points) + offset[:, None, None]  # (C, Nr, M, 3)
    active = torch.nonzero(match >= 0)  # (Sa, 2): (map, RoI object)
    c_idx, i_idx = active[:, 0], active[:, 1]
    u_idx = ref_slot[match[c_idx, i_idx]]
    with torch.no_grad():
        snapped = box_snap(roi_points[i_idx], linear[c_idx], tuple(b[i_idx] for b in roi_box),
                           tuple(b[u_idx] for b in ref_box))
        dots = torch.einsum("smd,snd->smn", f_roi[i_idx], f_ref[u_idx])
        gram = f_ref @ f_ref.transpose(1, 2)
    final, point_cost = optimise_points(snapped, ref_points[u_idx], ref_lengths[u_idx], dots, gram, u_idx,
                                        roi_mask[i_idx], cfg)
    if cfg.local_assign != "none" and len(final):
        final = assign_points(snapped if cfg.local_assign == "snap" else final, ref_points[u_idx],
                              ref_lengths[u_idx], roi_mask[i_idx], cfg.assign_max_points)
    with torch.no_grad():
        optimised = warped.clone()
        optimised[c_idx, i_idx] = final
        snapped_all = warped.clone()
        snapped_all[c_idx, i_idx] = snapped
        # Object costs: coarse per-point costs by default, fine costs where the object was matched.
        per_point = torch.zeros(num_maps, num_roi, roi_mask.shape[1], dtype=point_cost.dtype, device=device)
        per_point[:, roi_mask] = coarse_point_cost.to(point_cost.dtype)
        per_point[c_idx, i_idx] = point_cost
        counts = roi_mask.sum(1).clamp_min(1).to(point_cost.dtype)
        object_cost = (per_point * roi_mask).sum(2) / counts
        cost = object_cost.mean(1)
        centres = roi_points[roi_mask].to(torch.float64)  # (R, 3), the flat RoI order
        values = (optimised - warped)[:, roi_mask].to(torch.float64)  # (C, R, 3)
        if len(centres) > cfg.max_spline_centres:  # bounded memory and K^3 time (MatchConfig)
            keep = farthest_point_sample(centres[None].float(), cfg.max_spline_centres)[0]
            centres, values = centres[keep], values[:, keep]
        spline = fit_thin_plate_batched(centres[None].expand(num_maps, -1, -1).contiguous(), values.contiguous(),
                                        cfg.local_rbf_smoothing, strict=False)
    return FineResult(snapped_all, optimised, object_cost, cost, spline)
