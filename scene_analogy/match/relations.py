"""Relational consistency of object correspondences: the scene graph's node and edge costs (DESIGN §7a),
shared by the coarse ranking (`coarse.run_coarse`, `MatchConfig.relation_weight`) and the scene-graph
baseline (`baselines/scene_graph.py`).

A correspondence is a row of `match` (K, Nr): the reference object of each RoI object, -1 unmatched.
- Node cost of a row: mean over matched RoI objects of the mean |log(size ratio)| over the box axes.
- Edge cost of a row: mean over ordered pairs (a, b) of matched RoI objects of
  |d - d'| / max(d, d', 0.5 m) + 0.25 (1 - cos(bearing - m bearing')), with d the floor-plane (xz)
  distance between the box centres and bearing the xz direction of b seen from a in a's own box frame
  (unchanged by moving, turning or scaling the whole scene); primes are the matched reference objects.
  m = +1, or -1 for a mirrored layout whose box frames were not mirrored with it; `edge_costs` gives both.
- `relation_mismatch` (coarse ranking): node + the better edge cost. Both are 0 for a row with one
  matched object (no edge), so the term only tells apart correspondences of two or more objects.
Rows are scored at once as tensors (no loop over correspondences or pairs). Why these terms and the
weight: docs/decisions.md, "Matcher: relational term" and "Scene-graph baseline: cost terms".
"""

from __future__ import annotations

import itertools

import torch

__all__ = ["floor_bearing", "node_cost", "edge_costs", "relation_mismatch"]

MIN_EDGE_DIST = 0.5  # metres: distances below it are compared as if this far apart


def floor_bearing(centres: torch.Tensor, rots: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """xz angle of object b's centre seen from object a in a's box frame, for index tensors a, b (same shape)."""
    rel = centres[b] - centres[a]
    local = torch.einsum("...ji,...j->...i", rots[a], rel)  # R_a^T rel
    return torch.atan2(local[..., 2], local[..., 0])


def node_cost(roi_sizes: torch.Tensor, ref_sizes: torch.Tensor, match: torch.Tensor) -> torch.Tensor:
    """(K,) mean over matched RoI objects of mean |log(size ratio)|; roi_sizes (Nr, 3), ref_sizes (Nf, 3)."""
    matched = match >= 0
    ratio = torch.log(ref_sizes[match.clamp_min(0)].clamp_min(1e-3) / roi_sizes.clamp_min(1e-3))  # (K, Nr, 3)
    per_object = torch.where(matched, ratio.abs().mean(-1), torch.zeros_like(ratio[..., 0]))
    return per_object.sum(1) / matched.sum(1).clamp_min(1)


def edge_costs(roi_centres, roi_rots, ref_centres, ref_rots, match: torch.Tensor) -> torch.Tensor:
    """(K, 2) mean edge cost over pairs of matched RoI objects for m = +1 (column 0) and m = -1 (column 1).

    roi_centres (Nr, 3), roi_rots (Nr, 3, 3) of the RoI objects; ref_* (Nf, ...) of all reference objects."""
    num, num_roi = match.shape
    pairs = torch.tensor(list(itertools.permutations(range(num_roi), 2)), dtype=torch.long,
                         device=match.device).reshape(-1, 2)
    out = torch.zeros(num, 2, dtype=roi_centres.dtype, device=roi_centres.device)
    if len(pairs) == 0 or num == 0:
        return out
    a, b = pairs[:, 0], pairs[:, 1]
    matched = match >= 0
    both = matched[:, a] & matched[:, b]  # (K, E)
    safe = match.clamp_min(0)
    ref_a, ref_b = safe[:, a], safe[:, b]
    d_t = (roi_centres[b] - roi_centres[a])[:, [0, 2]].norm(dim=-1)  # (E,)
    d_r = (ref_centres[ref_b] - ref_centres[ref_a])[..., [0, 2]].norm(dim=-1)  # (K, E)
    dist_cost = (d_t - d_r).abs() / torch.maximum(torch.maximum(d_t.expand_as(d_r), d_r),
                                                  torch.full_like(d_r, MIN_EDGE_DIST))
    bear_t = floor_bearing(roi_centres, roi_rots, a, b)  # (E,)
    bear_r = floor_bearing(ref_centres, ref_rots, ref_a, ref_b)  # (K, E)
    count = both.sum(1).clamp_min(1)
    for k, m in enumerate((1.0, -1.0)):  # two columns, not a loop over data
        angle_cost = 0.25 * (1.0 - torch.cos(bear_t - m * bear_r))
        out[:, k] = torch.where(both, dist_cost + angle_cost, torch.zeros_like(d_r)).sum(1) / count
    return out


def relation_mismatch(match: torch.Tensor, roi_boxes, ref_boxes) -> torch.Tensor:
    """(K,) node cost + the better edge cost of each correspondence row (module docstring).

    roi_boxes / ref_boxes: (centres, sizes, rots) of the RoI objects (Nr) and of all reference objects (Nf)."""
    edge = edge_costs(roi_boxes[0], roi_boxes[2], ref_boxes[0], ref_boxes[2], match)
    return node_cost(roi_boxes[1], ref_boxes[1], match) + edge.min(1).values
