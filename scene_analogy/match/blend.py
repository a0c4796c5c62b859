"""The object-wise displacement of the fine stage (`local_displacement = "parts"`; why and the numbers:
docs/decisions.md, "Fine stage: open space follows the objects"). For the RoI objects i = 1..P:

    F(x) = G(x) + sum_i w_i(x) (T_i(x) - G(x)) + r(x)

- G(x) = A x + b, the global map; T_i(x) = L_i x + t_i, RoI object i's box map (its box onto its
  matched reference box, what the box snap computes; an unmatched object has T_i = G).
- w_i = a_i g: a_i = softmax_i(-d_i^2 / sharpness^2) picks the nearest box (d_i the distance from x
  to RoI box i, 0 inside); g = 1 - prod_i (1 - s(d_i)), s a smoothstep from 1 at d <= `inner` to 0
  at d >= `outer`. So the space within `inner` of the RoI follows its objects, beyond `outer` of
  every box the global map, and F is C1 in between.
- r(x) = sum_k v_k exp(-|x - c_k|^2 / (2 width^2)): Gaussian bumps at the RoI points carrying them
  towards their final (assigned) points, a ridge-smoothed fit; r vanishes a few widths off the surface.
Float64 torch throughout; everything is pointwise in x (a point maps alike alone or in a cloud).
"""

from __future__ import annotations

import torch

__all__ = ["box_distance", "part_weights", "parts_displacement", "bumps", "fit_bumps"]


def box_distance(points, centres, sizes, rots) -> torch.Tensor:
    """Distance (..., M, P) from points (..., M, 3) to P oriented boxes (0 inside); rots orthogonal
    (possibly mirrored), so R^-1 = R^T. Differentiable everywhere (inside: gradient 0)."""
    diff = points[..., :, None, :] - centres  # (..., M, P, 3); elementwise sums: no matmul blocking
    local = (diff[..., :, None] * rots).sum(-2)  # R^T (x - c): local_i = sum_j R_ji diff_j
    outside = (local.abs() - sizes / 2).clamp_min(0.0)
    return (outside.square().sum(-1) + 1e-24).sqrt()


def part_weights(points, centres, sizes, rots, blend) -> torch.Tensor:
    """w (..., M, P) of the module docstring; blend = (sharpness, inner, outer) in metres."""
    sharpness, inner, outer = (float(v) for v in blend)
    dist = box_distance(points, centres, sizes, rots)
    nearest = torch.softmax(-(dist / sharpness).square(), dim=-1)
    t = ((outer - dist) / (outer - inner)).clamp(0.0, 1.0)
    near = t.square() * (3 - 2 * t)
    return nearest * (1 - torch.prod(1 - near, dim=-1, keepdim=True))


def parts_displacement(points, delta_linear, delta_offset, centres, sizes, rots, blend) -> torch.Tensor:
    """sum_i w_i(x) (T_i(x) - G(x)) (..., M, 3) for points (..., M, 3); delta_linear (..., P, 3, 3) =
    L_i - A and delta_offset (..., P, 3) = t_i - b (leading dims of points and deltas broadcast)."""
    w = part_weights(points, centres, sizes, rots, blend)
    moved = (delta_linear[..., None, :, :, :] * points[..., :, None, None, :]).sum(-1) + delta_offset[..., None, :, :]
    return (w[..., None] * moved).sum(-2)


def bumps(points, centres, weights, width: float) -> torch.Tensor:
    """r(x) (..., M, 3) at points (..., M, 3): centres (..., K, 3), weights (..., K, 3)."""
    if centres.shape[-2] == 0:
        return torch.zeros_like(points)
    sq = (points[..., :, None, :] - centres[..., None, :, :]).square().sum(-1)
    return (torch.exp(-sq / (2 * width ** 2))[..., None] * weights[..., None, :, :]).sum(-2)


def fit_bumps(centres, values, width: float, smoothing: float = 1e-2) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights (B, K, 3) with r(c_k) ~ values (B, K, 3) at centres (B, K, 3): ridge `smoothing` on
    the kernel's diagonal (1; > 0 keeps near-duplicate points solvable, larger smooths the values);
    valid (B,): False where the Cholesky factorisation failed (weights NaN then)."""
    sq = (centres[:, :, None] - centres[:, None]).square().sum(-1)
    kernel = torch.exp(-sq / (2 * width ** 2))
    kernel.diagonal(dim1=1, dim2=2).add_(smoothing)
    factor, info = torch.linalg.cholesky_ex(kernel)
    weights = torch.cholesky_solve(values, factor)
    valid = (info == 0) & torch.isfinite(weights).flatten(1).all(1)
    return torch.where(valid[:, None, None], weights, torch.full_like(weights, float("nan"))), valid
