"""Fine stage of the matcher (DESIGN §5.4), batched over all candidate maps x RoI objects ("slots");
loops run only over optimisation steps. For a slot (map c, RoI object i matched to reference object j):
1. Box snap. With the RoI box (c_i, S_i, R_i) and the reference box (c_j, S_j, R_j), a point p gets
   box coordinates u = R_i^{-1} (p - c_i) / S_i and is snapped to c_j + R_j (S_j * (Q u)): the box map
   T_i(p) = L_i p + t_i. Q is one of the 8 symmetries of the unit cube that keep +y (yaw k 90 degrees,
   optionally an x-mirror) with det(R_j Q) of the sign of det(A R_i) (the map's mirror is kept) and
   R_j Q closest (Frobenius) to A R_i with its columns normalised. Box sizes are clamped at 1 mm.
2. Optimisation, which gives the cost: Adam (local_lr, local_steps) moves the snapped points to
   minimise the mean of ||f_tgt(p) - f_j(x)|| (f_j the IDW field over object j's keypoints, `idw.py`).
   Cost of a slot = that mean at the optimum (an unmatched RoI object keeps its coarse, global-field
   cost under the global map): the object's field distance near the snap, the scale the no-analogy
   threshold is calibrated for. With "snap" its points are not part of the map.
3. Final points (`local_assign`, default "snap"): the snapped ("snap") or optimised ("optimised")
   points moved onto distinct keypoints of the reference object, the one-to-one assignment of least
   total squared distance (`assign_points`); "none" keeps the optimised points (DESIGN §5.4 as
   written). Skipped when nothing reads them ("parts" without bumps: the final points are the snap).
4. Displacement (`local_displacement`), F(p) ~ final point at every RoI point p (unmatched objects:
   the global map): "parts" (default) = the box maps T_i blended by distance to the RoI boxes plus
   smooth Gaussian bumps towards the final points (`blend.py`), the global map far away (it needs
   boxes that are the objects' frames; own-data matching keeps the spline); "spline" =
   a thin-plate spline over all RoI points fitted to final - (A p + b), smoothing local_rbf_smoothing.
Why "snap", "parts", the numbers: docs/decisions.md ("bearing term and one-to-one point assignment",
"Fine stage: open space follows the objects").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from scene_analogy.match.coarse import _REFRESH
from scene_analogy.match.idw import idw_cost, nearest_candidates
from scene_analogy.match.inputs import MatchConfig
from scene_analogy.match.blend import bumps, fit_bumps, parts_displacement
from scene_analogy.match.rbf import BatchedThinPlateSpline, fit_thin_plate_batched
from scene_analogy.ops.geometry import yaw_rotation
from scene_analogy.ops.point_sets import farthest_point_sample

__all__ = ["cube_symmetries", "box_maps", "box_snap", "optimise_points", "assign_points", "run_fine", "FineResult"]

_STAY_COST = 1e6  # m^2: above any sum of real squared distances, so rows take keypoints first


def cube_symmetries(device=None) -> torch.Tensor:
    """(8, 3, 3): yaw k * 90 degrees (k = 0..3), each without and with an x-mirror (mirror applied first)."""
    yaws = yaw_rotation(torch.arange(4, dtype=torch.float32, device=device) * (math.pi / 2)).round()
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0], device=device))
    return torch.cat([yaws, yaws @ mirror])


def box_maps(linear, roi_box, ref_box) -> tuple[torch.Tensor, torch.Tensor]:
    """The box maps T(p) = L p + t (L (S, 3, 3), t (S, 3)) of S slots (module docstring, step 1).

    linear (S, 3, 3) the slot's map A; roi_box and ref_box are (centres (S, 3), sizes (S, 3),
    rots (S, 3, 3)).
    """
    (ci, si, ri), (cj, sj, rj) = roi_box, ref_box
    warped = linear @ ri
    warped = warped / warped.norm(dim=1, keepdim=True).clamp_min(1e-12)  # unit columns
    q = cube_symmetries(linear.device)  # (8, 3, 3)
    cand = rj[:, None] @ q[None]  # (S, 8, 3, 3)
    score = (cand - warped[:, None]).square().sum((-1, -2))
    same_hand = torch.sign(torch.linalg.det(cand)) == torch.sign(torch.linalg.det(warped))[:, None]
    best = torch.where(same_hand, score, torch.full_like(score, float("inf"))).argmin(1)
    scale = sj.clamp_min(1e-3)[:, :, None] * q[best] / si.clamp_min(1e-3)[:, None, :]  # diag(S_j) Q diag(1/S_i)
    lin = rj @ scale @ torch.linalg.inv(ri)
    return lin, cj - torch.einsum("sij,sj->si", lin, ci)


def box_snap(points, linear, roi_box, ref_box) -> torch.Tensor:
    """Points (S, M, 3) of S slots snapped onto the reference boxes: T(p) of `box_maps`, (S, M, 3)."""
    lin, off = box_maps(linear, roi_box, ref_box)
    return torch.einsum("sij,smj->smi", lin, points) + off[:, None]


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

    Slots are independent problems, solved one `linear_sum_assignment` each (scipy has no batched
    solver; one block-diagonal problem over all slots cost O((S M)^2) memory and more time). Each row
    also has its own "stay" column, dearer than any real keypoint, taken only when its object has
    fewer keypoints than points. Slots with more than `max_points` points are left as they are (the
    dense cost is M^2 per slot)."""
    from scipy.optimize import linear_sum_assignment

    counts = query_mask.sum(1).cpu().numpy()
    lengths = ref_lengths.cpu().numpy()
    pts, ref = points.detach().double().cpu().numpy(), ref_points.detach().double().cpu().numpy()
    mask = query_mask.cpu().numpy()
    out = points.clone()
    for slot in np.nonzero((counts > 0) & (counts <= max_points) & (lengths > 0))[0]:
        rows_pt = np.nonzero(mask[slot])[0]
        sq = ((pts[slot, rows_pt][:, None] - ref[slot, : lengths[slot]][None]) ** 2).sum(-1)  # (m, mr)
        stay = np.full((len(rows_pt), len(rows_pt)), np.inf)
        np.fill_diagonal(stay, _STAY_COST)
        rows, cols = linear_sum_assignment(np.concatenate([sq, stay], axis=1))
        moved = cols < lengths[slot]
        out[slot, torch.as_tensor(rows_pt[rows[moved]], device=points.device)] = torch.as_tensor(
            ref[slot, cols[moved]], dtype=points.dtype, device=points.device)
    return out


@dataclass
class FineResult:
    """Per map c and RoI object i: snapped / final (C, Nr, M, 3) points (unmatched objects: the global
    warp), object_cost (C, Nr), cost (C,) = mean over RoI objects; mapped (C, R, 3) = F at the R flat
    RoI points; `displacement(c)` the AnalogyMap keyword arguments of map c's d(x)."""

    snapped: torch.Tensor
    optimised: torch.Tensor
    object_cost: torch.Tensor
    cost: torch.Tensor
    mapped: torch.Tensor
    valid: torch.Tensor  # (C,) False: the spline's / bumps' system was degenerate (left out of the map)
    arrays: dict  # AnalogyMap field -> (C, ...) tensor
    bump_width: float = 0.0

    def displacement(self, c: int) -> dict:
        out = {k: v[c].cpu().numpy() for k, v in self.arrays.items() if bool(self.valid[c]) or k.startswith("part_")}
        return {**out, "bump_width": self.bump_width} if "bump_weights" in out else out


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
        part_linear, part_offset = box_maps(linear[c_idx], tuple(b[i_idx] for b in roi_box),
                                            tuple(b[u_idx] for b in ref_box))
        snapped = torch.einsum("sij,smj->smi", part_linear, roi_points[i_idx]) + part_offset[:, None]
        dots = torch.einsum("smd,snd->smn", f_roi[i_idx], f_ref[u_idx])
        gram = f_ref @ f_ref.transpose(1, 2)
    slot_ref = (ref_points[u_idx], ref_lengths[u_idx])
    # The cost (step 3): the field distance the object's points reach near the snap.
    moved, point_cost = optimise_points(snapped, *slot_ref, dots, gram, u_idx, roi_mask[i_idx], cfg)
    final = snapped if cfg.local_assign == "snap" else moved
    if cfg.local_assign != "none" and len(final) and not (cfg.local_displacement == "parts" and cfg.bump_width == 0):
        final = assign_points(final, *slot_ref, roi_mask[i_idx], cfg.assign_max_points)
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
        base = warped[:, roi_mask].to(torch.float64)
        if cfg.local_displacement == "spline":
            return _with_spline(cfg, snapped_all, optimised, object_cost, cost, centres, values, base)
        lin_all = linear.double()[:, None].repeat(1, num_roi, 1, 1)  # unmatched objects: T_i = G
        off_all = offset.double()[:, None].repeat(1, num_roi, 1)
        lin_all[c_idx, i_idx], off_all[c_idx, i_idx] = part_linear.double(), part_offset.double()
        boxes = tuple(b.double() for b in roi_box)
        parts = parts_displacement(centres, lin_all - linear.double()[:, None], off_all - offset.double()[:, None],
                                   *boxes, cfg.part_blend)  # (C, R, 3)
        arrays = {"part_linear": lin_all, "part_offset": off_all,
                  **{k: b[None].expand(num_maps, *b.shape) for k, b in zip(("part_centres", "part_sizes", "part_rots"), boxes)},
                  "part_blend": torch.tensor(cfg.part_blend, dtype=torch.float64).expand(num_maps, 3)}
        valid = torch.ones(num_maps, dtype=torch.bool, device=device)
        mapped = base + parts
        if cfg.bump_width > 0:
            keep = _fit_subset(centres, cfg)
            fit_at = centres[keep][None].expand(num_maps, -1, -1)
            weights, valid = fit_bumps(fit_at, (values - parts)[:, keep], cfg.bump_width, cfg.bump_smoothing)
            mapped = mapped + torch.nan_to_num(bumps(centres, fit_at, weights, cfg.bump_width)) * valid[:, None, None]
            arrays.update(bump_centres=fit_at, bump_weights=weights)
    return FineResult(snapped_all, optimised, object_cost, cost, mapped, valid, arrays, float(cfg.bump_width))


def _fit_subset(centres: torch.Tensor, cfg: MatchConfig) -> torch.Tensor:
    """Rows of the RoI points that carry the spline / bumps: all, or a farthest-point subset of
    max_spline_centres (bounded memory and K^3 time, MatchConfig)."""
    if len(centres) <= cfg.max_spline_centres:
        return torch.arange(len(centres), device=centres.device)
    return farthest_point_sample(centres[None].float(), cfg.max_spline_centres)[0]


def _with_spline(cfg: MatchConfig, snapped, optimised, object_cost, cost, centres, values, base) -> FineResult:
    """`local_displacement = "spline"`: one thin-plate spline over the RoI points (module docstring)."""
    num_maps, keep = len(values), _fit_subset(centres, cfg)
    fit_centres, fit_values = centres[keep], values[:, keep]
    spline = fit_thin_plate_batched(fit_centres[None].expand(num_maps, -1, -1).contiguous(), fit_values.contiguous(),
                                    cfg.local_rbf_smoothing, strict=False)
    mapped = base + torch.nan_to_num(spline(centres)) * spline.valid[:, None, None]
    arrays = {"centres": spline.centres, "weights": spline.weights, "tail": spline.tail}
    return FineResult(snapped, optimised, object_cost, cost, mapped, spline.valid, arrays)
