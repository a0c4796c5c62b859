"""Coarse stage of the matcher (DESIGN §5.1-5.3): candidate global maps, batched refinement and
object correspondence. Every candidate is a tensor row; loops run only over optimisation steps.

Map convention, used everywhere in the matcher: points are rows, x' = x A^T + b (i.e. A x + b).
- Candidate (RoI object i, reference object j, yaw theta, mirror m):
  A = R_yaw(theta) . M . diag(s, 1, s), M = diag(-1, 1, 1) if mirrored else I,
  theta = k 2pi/n (`candidate_yaws` "grid"), or k 2pi/n + theta_ij,m ("boxes"): theta_ij,m turns the
  box frame of i, mirrored by M, onto that of j (exact for oriented boxes; n = 4 covers a box's
  90-degree symmetry, so boxes without a front lose nothing), or both sets ("both");
  s = (xz half-diagonal of box j) / (xz half-diagonal of box i);
  b = c_j - A c_i with b_y = 0 (no vertical shift; A keeps y, so heights stay as they are).
- Refinement parametrises x' = (x - mu) A^T + t about the RoI centroid mu, so a yaw or scale
  update turns the RoI in place instead of swinging it around the world origin; b = t - A mu.
  `scale_rot`: A = R_yaw(theta) . M . diag(exp(l)) with theta, l (3,), t free and the mirror fixed;
  `affine`: A (3, 3) and t free.
- Cost of a map = mean over all RoI points p of ||f_tgt(p) - f_ref(A p + b)||_2 (`idw.py`).

Overlap suppression (footprint IoU on an 8 x 8 grid, greedy NMS as a fixed-point iteration), the
bearing term and the neighbour refresh every `_REFRESH` steps: docs/decisions.md.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from scene_analogy.match.assignment import batched_assignment
from scene_analogy.match.idw import idw_cost, nearest_candidates
from scene_analogy.match.inputs import MatchConfig
from scene_analogy.match.relations import relation_mismatch
from scene_analogy.ops.geometry import yaw_rotation

__all__ = ["box_yaw", "generate_candidates", "greedy_keep", "footprint_iou", "same_turn", "duplicates", "refine_maps",
           "correspond_objects", "score_maps", "run_coarse", "CoarseResult"]

_REFRESH = 10
_GRID = 8
# Metres: a box whose floor footprint's half diagonal is below this gets scale 1 in its candidates.
MIN_HALF_DIAGONAL = 0.005


def _mirror(flags: torch.Tensor) -> torch.Tensor:
    """diag(-1 if mirrored else 1, 1, 1) for flags (C,) bool -> (C, 3, 3)."""
    d = torch.ones(flags.shape + (3,), dtype=torch.float32, device=flags.device)
    d[..., 0] = torch.where(flags, -1.0, 1.0)
    return torch.diag_embed(d)


@dataclass
class Candidates:
    """C candidate maps: linear (C, 3, 3), offset (C, 3), yaw (C,), mirror (C,) bool,
    log_scale (C, 3), pair (C, 2) (RoI slot, reference object) they were seeded from."""

    linear: torch.Tensor
    offset: torch.Tensor
    yaw: torch.Tensor
    mirror: torch.Tensor
    log_scale: torch.Tensor
    pair: torch.Tensor

    def take(self, index: torch.Tensor) -> "Candidates":
        return Candidates(*(getattr(self, f)[index] for f in ("linear", "offset", "yaw", "mirror", "log_scale", "pair")))


def box_yaw(rots: torch.Tensor) -> torch.Tensor:
    """Yaw (N,) of (N, 3, 3) upright box frames modulo 90 degrees: of the box's local x axis, or of
    its local z axis turned by +90 degrees where that lies flatter (both agree mod 90)."""
    x, z = rots[..., [0, 2], 0], rots[..., [0, 2], 2]
    from_x = torch.atan2(-x[..., 1], x[..., 0])
    from_z = torch.atan2(-z[..., 1], z[..., 0]) + math.pi / 2
    return torch.where(x.norm(dim=-1) >= z.norm(dim=-1), from_x, from_z)


def generate_candidates(roi_classes, roi_centres, roi_sizes, ref_classes, ref_centres, ref_sizes,
                        num_rot: int, mirror: bool, roi_rots=None, ref_rots=None, yaws: str = "grid") -> Candidates:
    """All same-class (RoI object, reference object) pairs x yaws x {no mirror, mirror}.

    Inputs are tensors: classes (Nr,), (Nf,); centres and sizes (Nr, 3), (Nf, 3); rots (Nr, 3, 3),
    (Nf, 3, 3) (needed for yaws "boxes" / "both", module docstring). Order: pair-major, then yaw
    (the grid first for "both"), then mirror. C = pairs * num_rot * (2 if "both") * (2 if mirror).
    """
    device = roi_centres.device
    pair = torch.nonzero(roi_classes[:, None] == ref_classes[None, :])  # (Np, 2)
    grid = torch.arange(num_rot, device=device, dtype=torch.float32) * (2 * math.pi / num_rot)
    flips = torch.tensor([False, True] if mirror else [False], device=device)
    n_pair, n_flip = len(pair), len(flips)
    if yaws == "grid":
        yaw = grid[None, :, None].expand(n_pair, num_rot, n_flip)
    else:
        # R(t) M R_i x = R_j x for the box x axes: t = yaw(R_j) - yaw(M R_i), yaw(M R_i) = -yaw(R_i) + pi.
        ref_yaw, roi_yaw = box_yaw(ref_rots)[pair[:, 1]], box_yaw(roi_rots)[pair[:, 0]]
        shift = ref_yaw[:, None] - torch.where(flips[None], math.pi - roi_yaw[:, None], roi_yaw[:, None])  # (Np, F)
        yaw = grid[None, :, None] + shift[:, None, :]  # (Np, n, F)
        if yaws == "both":
            yaw = torch.cat([grid[None, :, None].expand_as(yaw), yaw], 1)
        yaw = torch.remainder(yaw, 2 * math.pi)
    n_yaw = yaw.shape[1]
    pair = pair[:, None, None, :].expand(n_pair, n_yaw, n_flip, 2).reshape(-1, 2)
    yaw = yaw.reshape(-1)
    flip = flips[None, None, :].expand(n_pair, n_yaw, n_flip).reshape(-1)
    half_diag = lambda sizes: 0.5 * torch.sqrt(sizes[:, 0] ** 2 + sizes[:, 2] ** 2)  # noqa: E731
    ref_half, roi_half = half_diag(ref_sizes)[pair[:, 1]], half_diag(roi_sizes)[pair[:, 0]]
    # A box without a floor footprint (a one-point object, a pole) says nothing about scale: 1 then,
    # not a ratio that sends the map to 1e6 or collapses it.
    flat = (ref_half < MIN_HALF_DIAGONAL) | (roi_half < MIN_HALF_DIAGONAL)
    s = torch.where(flat, torch.ones_like(ref_half), ref_half / roi_half.clamp_min(MIN_HALF_DIAGONAL))
    log_scale = torch.stack([s.log(), torch.zeros_like(s), s.log()], -1)
    linear = yaw_rotation(yaw) @ _mirror(flip) @ torch.diag_embed(log_scale.exp())
    offset = ref_centres[pair[:, 1]] - (linear @ roi_centres[pair[:, 0], :, None])[..., 0]
    offset[:, 1] = 0.0
    return Candidates(linear, offset, yaw, flip, log_scale, pair)


def greedy_keep(overlap: torch.Tensor) -> torch.Tensor:
    """Greedy suppression: overlap (C, C) bool for candidates sorted best first -> keep (C,) bool.

    keep_i = not any(keep_j and overlap_ij for j < i). Solved as a fixed-point iteration (Jacobi):
    after t sweeps the first t entries are final, so it stops after at most C sweeps, usually a few.
    """
    n = overlap.shape[0]
    earlier = torch.tril(overlap, diagonal=-1).to(torch.float32)
    keep = torch.ones(n, dtype=torch.bool, device=overlap.device)
    for _ in range(n + 1):
        new = (earlier @ keep.to(torch.float32)) == 0
        if bool((new == keep).all()):
            break
        keep = new
    return keep


def same_turn(yaw: torch.Tensor, mirror: torch.Tensor, max_turn_deg: float) -> torch.Tensor:
    """(C, C) bool: candidates of the same mirror whose yaws differ by less than max_turn_deg (mod 360)."""
    turn = torch.remainder(yaw[:, None] - yaw[None, :] + math.pi, 2 * math.pi) - math.pi
    return (mirror[:, None] == mirror[None, :]) & (turn.abs() < math.radians(max_turn_deg))


def duplicates(cands: Candidates, quads: torch.Tensor, cfg: MatchConfig) -> torch.Tensor:
    """(C, C) bool, which candidates the greedy suppression treats as one hypothesis: warped footprints
    overlapping by IoU >= nms_iou, and turned alike (same mirror, yaws within nms_max_turn degrees).
    Footprints alone cannot tell a map from the same map turned by 90 degrees when the boxes are
    near square: the suppression then dropped the right yaw for a wrong one at the same place
    (docs/decisions.md, "Coarse stage: overlap suppression")."""
    overlap = footprint_iou(quads) >= cfg.nms_iou
    if cfg.nms_max_turn >= 180.0:
        return overlap
    return overlap & same_turn(cands.yaw, cands.mirror, cfg.nms_max_turn)


def warped_footprints(linear, offset, centres, sizes, rots) -> torch.Tensor:
    """xz corners (C, N, 4, 2) of N boxes (centres, sizes, rots) warped by C maps."""
    signs = torch.tensor([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=centres.dtype, device=centres.device)
    local = torch.zeros(4, 3, dtype=centres.dtype, device=centres.device)
    local[:, [0, 2]] = 0.5 * signs
    corners = centres[:, None] + torch.einsum("nij,nkj->nki", rots, local[None] * sizes[:, None])  # (N, 4, 3)
    warped = torch.einsum("cij,nkj->cnki", linear, corners) + offset[:, None, None]
    return warped[..., [0, 2]]


def footprint_iou(quads: torch.Tensor) -> torch.Tensor:
    """Mean over the N objects of the estimated IoU between candidates: quads (C, N, 4, 2) -> (C, C)."""
    u = (torch.arange(_GRID, dtype=quads.dtype, device=quads.device) + 0.5) / _GRID
    a, b, d = quads[:, :, 0], quads[:, :, 1], quads[:, :, 3]  # corners 0, 1, 3 span the parallelogram
    grid = torch.stack(torch.meshgrid(u, u, indexing="ij"), -1).reshape(-1, 2)  # (G, 2)
    samples = a[:, :, None] + grid[None, None, :, :1] * (b - a)[:, :, None] + grid[None, None, :, 1:] * (d - a)[:, :, None]
    edge = torch.roll(quads, -1, dims=2) - quads  # (C, N, 4, 2)
    # rel[c1, c2, n, g, e] = sample g of (c1, n) relative to corner e of (c2, n)
    rel = samples[:, None, :, :, None, :] - quads[None, :, :, None, :, :]
    cross = edge[None, :, :, None, :, 0] * rel[..., 1] - edge[None, :, :, None, :, 1] * rel[..., 0]
    inside = (cross >= 0).all(-1) | (cross <= 0).all(-1)  # (C, C, N, G)
    frac = inside.float().mean(-1)  # share of c1's footprint inside c2's
    e1, e2 = b - a, d - a
    area = (e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]).abs()  # (C, N)
    inter = 0.5 * (frac * area[:, None] + frac.transpose(0, 1) * area[None, :])
    union = area[:, None] + area[None, :] - inter
    return (inter / union.clamp_min(1e-12)).mean(-1)


def refine_maps(cands: Candidates, roi_points, ref_points, dots, ref_desc, cfg: MatchConfig, subset=None):
    """Batched Adam on the coarse cost (module docstring). Returns linear (C, 3, 3), offset (C, 3),
    per-point costs (C, R) of the refined maps (exact neighbour search, no grad).

    subset (R',) long: the RoI rows whose cost drives the optimisation (None: all). The final costs
    are always over all R points."""
    mu = roi_points.mean(0)
    num = len(cands.linear)
    all_points, all_dots = roi_points, dots
    if subset is not None:
        roi_points, dots = roi_points[subset], dots[subset]
    t = (cands.linear @ mu + cands.offset).clone().requires_grad_(True)
    if cfg.global_mapping_type == "affine":
        free = [cands.linear.clone().requires_grad_(True), t]

        def linear_of():
            return free[0]
    else:
        free = [cands.yaw.clone().requires_grad_(True), cands.log_scale.clone().requires_grad_(True), t]
        mirror = _mirror(cands.mirror)

        def linear_of():
            return yaw_rotation(free[0]) @ mirror @ torch.diag_embed(free[1].exp())

    centred = roi_points - mu
    num_roi = len(roi_points)
    # All C x R warped points form one query cloud (B = 1): memory stays at one chunk x P distances.
    points = ref_points[None]
    rows = torch.arange(num * num_roi, device=mu.device) % num_roi  # query (c, r) reads dots row r
    zero = torch.zeros(1, dtype=torch.long, device=mu.device)

    def warp(linear, offset):
        return (torch.einsum("cij,rj->cri", linear, centred) + offset[:, None]).reshape(1, -1, 3)

    def cost_of(linear, offset, candidates=None):
        cost = idw_cost(warp(linear, offset), points, dots[None], gram[None], cfg.idw_k, cfg.idw_eps,
                        dots_batch=zero, dots_rows=rows, gram_batch=zero, candidates=candidates)
        return cost.reshape(num, num_roi)

    if cfg.refine_steps > 0 and num > 0:
        with torch.no_grad():
            gram = ref_desc @ ref_desc.T  # (P, P): read by every step, so formed once
        optimiser = torch.optim.Adam(free, lr=cfg.refine_lr)
        near = None
        for step in range(cfg.refine_steps):
            linear = linear_of()
            if step % _REFRESH == 0:
                with torch.no_grad():
                    near = nearest_candidates(warp(linear, free[-1]), points, cfg.idw_k)
            optimiser.zero_grad(set_to_none=True)
            # Sum over candidates: each candidate's gradient is that of its own mean cost.
            cost_of(linear, free[-1], near).mean(1).sum().backward()
            optimiser.step()
    with torch.no_grad():
        linear = linear_of().detach()
        offset = free[-1].detach() - linear @ mu
        point_cost = score_maps(linear, offset, all_points, ref_points, all_dots, ref_desc, cfg)
    return linear, offset, point_cost


def correspond_objects(linear, offset, roi_centres, roi_classes, ref_centres, ref_classes, inlier_dist):
    """Hungarian matching of warped RoI box centres to reference box centres for C maps at once.

    Returns match (C, Nr) long: the reference object of each RoI object if it is an inlier (matched,
    same class, within inlier_dist), else -1; and num_inliers (C,).
    """
    warped = torch.einsum("cij,nj->cni", linear, roi_centres) + offset[:, None]
    dist = (warped[:, :, None, :] - ref_centres[None, None]).square().sum(-1).sqrt()  # (C, Nr, Nf)
    forbidden = (roi_classes[:, None] != ref_classes[None, :]).expand_as(dist)
    col, _ = batched_assignment(dist, forbidden)
    picked = torch.gather(dist, 2, col.clamp_min(0)[..., None])[..., 0]
    match = torch.where((col >= 0) & (picked.to(dist.dtype) < inlier_dist), col, torch.full_like(col, -1))
    return match, (match >= 0).sum(1)


def bearing_mismatch(linear, match, roi_rots, ref_rots) -> torch.Tensor:
    """How far C maps turn the matched objects away from their reference objects' bearings, (C,) in [0, 1].

    Per matched RoI object i -> j: 1 if the warped box frame A R_i and R_j differ in handedness (a
    mirrored map onto an unmirrored layout, or the reverse), else (1 - cos t) / 2 with t the xz angle
    between the warped front axis A R_i z and R_j z. Mean over matched objects (0 when none).
    """
    ok = match >= 0
    ref = ref_rots[match.clamp_min(0)]  # (C, Nr, 3, 3)
    warped = linear[:, None] @ roi_rots[None]  # (C, Nr, 3, 3)
    flipped = torch.sign(torch.linalg.det(warped)) != torch.sign(torch.linalg.det(ref))
    front_w, front_r = warped[..., [0, 2], 2], ref[..., [0, 2], 2]
    cos = torch.nn.functional.cosine_similarity(front_w, front_r, dim=-1, eps=1e-9)
    per_object = torch.where(flipped, torch.ones_like(cos), (1 - cos) / 2)
    return (per_object * ok).sum(1) / ok.sum(1).clamp_min(1)


@dataclass
class CoarseResult:
    """Surviving coarse maps: those with the most inliers, lowest cost (+ bearing penalty) first.

    linear (C, 3, 3), offset (C, 3), mirror (C,) bool, cost (C,), point_cost (C, R) per RoI point,
    match (C, Nr) reference object per RoI object (-1 none), num_inliers (C,);
    num_candidates = all same-class candidates scored; boxes (S, Nr, 4, 2) warped RoI footprints of
    the candidates that survived suppression (before refinement) and refined_boxes (S, Nr, 4, 2)."""

    linear: torch.Tensor
    offset: torch.Tensor
    mirror: torch.Tensor
    cost: torch.Tensor
    point_cost: torch.Tensor
    match: torch.Tensor
    num_inliers: torch.Tensor
    num_candidates: int
    boxes: np.ndarray
    refined_boxes: np.ndarray
    key: torch.Tensor | None = None  # (C,) the ranking key (cost + bearing + relation terms); None: cost

    def take(self, index: torch.Tensor) -> "CoarseResult":
        """The maps `index` (reordered or a subset); the pictures' boxes stay those of the candidates."""
        fields = ("linear", "offset", "mirror", "cost", "point_cost", "match", "num_inliers")
        picked = {f: getattr(self, f)[index] for f in fields}
        return dataclasses.replace(self, **picked, key=None if self.key is None else self.key[index])


# Warped points scored at once by `score_maps`: its intermediates take ~6 kB per point (the k
# gathered D-dim reference descriptors, k = 5, D = 256), so 2^15 points keep it near 0.2 GB.
SCORE_CHUNK_POINTS = 1 << 15


# Reference keypoints up to which `score_maps` reads a precomputed P x P Gram matrix (64 MB at 4,096):
# cheaper than gathering k D-dim descriptors per point, but quadratic in the reference's size.
GRAM_MAX_POINTS = 4096


def score_maps(linear, offset, roi_points, ref_points, dots, ref_desc, cfg: MatchConfig) -> torch.Tensor:
    """Per-point coarse costs (C, R) of C fixed maps (exact neighbours, no grad), a chunk of
    candidates at a time (each point's cost depends on its own map only, so chunking changes nothing).
    ref_desc (P, D): the reference descriptors; above GRAM_MAX_POINTS keypoints their Gram entries are
    formed where needed instead of as one P x P matrix."""
    num, num_roi = len(linear), len(roi_points)
    if num == 0:
        return roi_points.new_zeros(0, num_roi)
    step = max(1, SCORE_CHUNK_POINTS // max(num_roi, 1))
    zero = torch.zeros(1, dtype=torch.long, device=roi_points.device)
    out = []
    with torch.no_grad():
        gram = ref_desc @ ref_desc.T if len(ref_desc) <= GRAM_MAX_POINTS else None
        for start in range(0, num, step):
            chunk = slice(start, min(start + step, num))
            count = chunk.stop - chunk.start
            warped = (torch.einsum("cij,rj->cri", linear[chunk], roi_points) + offset[chunk, None]).reshape(1, -1, 3)
            rows = torch.arange(count * num_roi, device=roi_points.device) % num_roi
            cost = idw_cost(warped, ref_points[None], dots[None], None if gram is None else gram[None], cfg.idw_k, cfg.idw_eps,
                            dots_batch=zero, dots_rows=rows, gram_batch=zero, ref_desc=ref_desc[None])
            out.append(cost.reshape(count, num_roi))
    return torch.cat(out)


def run_coarse(roi_points, f_roi, roi_boxes, roi_classes, ref_points, f_ref, ref_boxes, ref_classes,
               cfg: MatchConfig, refine_subset=None, rank_subset=None) -> CoarseResult:
    """The whole coarse stage on tensors (all on one device).

    roi_points (R, 3) and their descriptors f_roi (R, D); ref_points (Pf, 3) the reference object
    keypoints and f_ref (Pf, D); boxes are (centres (N, 3), sizes (N, 3), rots (N, 3, 3)) of the RoI
    objects and of all reference objects; classes (Nr,), (Nf,). refine_subset (R',) optional rows
    of roi_points that drive the refinement (see `refine_maps`); rank_subset (R'',) optional rows that
    rank all candidates first (the survivors' costs read every point).
    """
    with torch.no_grad():
        dots = f_roi @ f_ref.T  # (R, Pf)
        cands = generate_candidates(roi_classes, roi_boxes[0], roi_boxes[1], ref_classes, ref_boxes[0],
                                    ref_boxes[1], cfg.global_num_rot, cfg.mirror, roi_boxes[2], ref_boxes[2],
                                    cfg.candidate_yaws)
        num_candidates = len(cands.linear)
        # The first ranking of all candidates reads at most MatchConfig.rank_points per RoI object
        # (`rank_subset`): with thousands of RoI points x hundreds of candidates, scoring every point
        # was most of a large pair's time.
        rows = slice(None) if rank_subset is None else rank_subset
        cost = score_maps(cands.linear, cands.offset, roi_points[rows], ref_points, dots[rows], f_ref, cfg).mean(1)
        ranked = torch.argsort(torch.where(cost < cfg.global_dist_valid_thres, cost, torch.full_like(cost, float("inf"))))
        num_valid = int((cost < cfg.global_dist_valid_thres).sum())
        cands = cands.take(ranked[:min(cfg.global_topk, num_valid)])
        quads = warped_footprints(cands.linear, cands.offset, *roi_boxes)
        if len(quads):
            cands = cands.take(greedy_keep(duplicates(cands, quads, cfg)))
        boxes = warped_footprints(cands.linear, cands.offset, *roi_boxes)
    linear, offset, point_cost = refine_maps(cands, roi_points, ref_points, dots, f_ref, cfg, refine_subset)
    with torch.no_grad():
        cost = point_cost.mean(1) if len(point_cost) else point_cost.new_zeros(0)
        match, num_inliers = correspond_objects(linear, offset, roi_boxes[0], roi_classes, ref_boxes[0],
                                                ref_classes, cfg.inlier_dist)
        # Keep only the maps with the most inliers (>= 1), ordered by cost + the bearing penalty
        # (+ the relation penalty of the matched objects, `relations.py`).
        key = cost.double() + cfg.bearing_weight * bearing_mismatch(linear, match, roi_boxes[2], ref_boxes[2]).double()
        if cfg.relation_weight:
            key = key + cfg.relation_weight * relation_mismatch(match, roi_boxes, ref_boxes).double()
        order = torch.argsort(key)
        best = int(num_inliers.max()) if len(num_inliers) else 0
        order = order[num_inliers[order] == best] if best > 0 else order[:0]
        refined = warped_footprints(linear, offset, *roi_boxes)
    return CoarseResult(linear[order], offset[order], cands.mirror[order], cost[order], point_cost[order],
                        match[order], num_inliers[order], num_candidates, boxes.cpu().numpy(),
                        refined.cpu().numpy(), key[order])
