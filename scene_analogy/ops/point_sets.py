"""Farthest-point sampling and chamfer distance on batched point clouds, on top of the neighbour
search (`neighbors.py`, whose conventions they follow: (B, N, D) clouds, `*_lengths` for padding).
Pure torch; the same code runs on CPU and CUDA.
"""

from __future__ import annotations

import torch

from scene_analogy.ops.neighbors import _check_cloud, _check_lengths, _check_pair, nearest_neighbor

__all__ = ["farthest_point_sample", "chamfer_distance"]


def farthest_point_sample(
    points: torch.Tensor,
    n: int,
    points_lengths: torch.Tensor | None = None,
    start_idx: int | None = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Farthest-point sampling: indices (B, n) long of n valid points per batch element.

    The first sample is `start_idx` (default 0, deterministic) or, with `start_idx=None`, a uniform
    random valid index drawn from `generator`. Each next sample is the point whose distance to the
    already chosen set is largest (first such index on ties). Chosen points are excluded from later
    picks, so the indices are distinct even when the cloud holds duplicate points.

    Raises ValueError if n exceeds a batch element's number of valid points.
    """
    _check_cloud("points", points)
    points_lengths = _check_lengths("points_lengths", points_lengths, points)
    batch, num_points = points.shape[0], points.shape[1]
    device = points.device
    lengths = points_lengths if points_lengths is not None else torch.full(
        (batch,), num_points, dtype=torch.long, device=device
    )
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    fewest = int(lengths.min()) if batch > 0 else num_points
    if n > fewest:
        raise ValueError(f"cannot sample {n} points: a batch element has only {fewest} valid points")
    if start_idx is None:
        gen_device = generator.device if generator is not None else torch.device("cpu")
        draw = torch.rand(batch, generator=generator, device=gen_device, dtype=torch.float64)
        start = (draw.to(device) * lengths.double()).long().clamp_max(lengths - 1)
    else:
        if not 0 <= int(start_idx) < fewest:
            raise ValueError(f"start_idx must lie in [0, {fewest}), got {start_idx}")
        start = torch.full((batch,), int(start_idx), dtype=torch.long, device=device)

    with torch.no_grad():
        cloud = points.detach()
        batch_ids = torch.arange(batch, device=device)
        # Squared distance to the chosen set; padding gets -inf so argmax never picks it.
        nearest_sq = torch.full((batch, num_points), float("inf"), dtype=cloud.dtype, device=device)
        padding = torch.arange(num_points, device=device)[None, :] >= lengths[:, None]
        nearest_sq.masked_fill_(padding, float("-inf"))
        chosen = torch.empty((batch, n), dtype=torch.long, device=device)
        current = start
        for i in range(n):
            chosen[:, i] = current
            newest = cloud[batch_ids, current]  # (B, D)
            sq = ((cloud - newest[:, None, :]) ** 2).sum(-1)
            nearest_sq = torch.minimum(nearest_sq, sq)
            # -1 marks chosen points: below any real distance, above padding.
            nearest_sq[batch_ids, current] = -1.0
            current = nearest_sq.argmax(dim=1)
    return chosen


def _masked_mean(values: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Mean over the first lengths[b] entries of each row of values (B, N)."""
    if lengths is None:
        return values.mean(dim=1)
    keep = torch.arange(values.shape[1], device=values.device)[None, :] < lengths[:, None]
    total = torch.where(keep, values, torch.zeros_like(values)).sum(dim=1)
    return total / lengths.to(values.dtype)


def chamfer_distance(
    a: torch.Tensor,
    b: torch.Tensor,
    a_lengths: torch.Tensor | None = None,
    b_lengths: torch.Tensor | None = None,
    squared: bool = False,
    chunk_size: int = 4096,
) -> torch.Tensor:
    """Symmetric chamfer distance (B,): 0.5 * (mean over valid a of the distance to the nearest
    valid b + mean over valid b of the distance to the nearest valid a). Plain Euclidean
    distances unless `squared`. Raises ValueError if a batch element of a or b has no valid point.
    """
    _check_pair("a", a, "b", b)
    a_lengths = _check_lengths("a_lengths", a_lengths, a)
    b_lengths = _check_lengths("b_lengths", b_lengths, b)
    for name, cloud, lengths in (("a", a, a_lengths), ("b", b, b_lengths)):
        empty = cloud.shape[1] == 0 if lengths is None else bool((lengths == 0).any())
        if empty and cloud.shape[0] > 0:
            raise ValueError(f"chamfer_distance: {name} has a batch element with no valid points")
    a_to_b, _ = nearest_neighbor(a, b, b_lengths, chunk_size)
    b_to_a, _ = nearest_neighbor(b, a, a_lengths, chunk_size)
    # Padding rows of a (or b) may see inf; they are excluded by the masked mean.
    if squared:
        a_to_b, b_to_a = a_to_b.square(), b_to_a.square()
    return 0.5 * (_masked_mean(a_to_b, a_lengths) + _masked_mean(b_to_a, b_lengths))
