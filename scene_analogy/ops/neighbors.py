"""Neighbour search on batched point clouds: k nearest, ball query, gather, nearest neighbour
(farthest-point sampling and chamfer distance, built on it: `point_sets.py`). Pure torch; the same
code runs on CPU and CUDA.

Conventions
- Clouds are batched with a leading B: query (B, Q, D), points (B, P, D). D is 3 for every caller
  in this project, but any D >= 1 works (e.g. nearest neighbours in a descriptor space).
- `*_lengths` (B,) integer tensors give the number of valid points per batch element; points at
  index >= length are padding and are never returned.
- Result slots that hold no neighbour have mask False, idx 0 (so `gather` is always safe) and
  dist = inf.

Accuracy (why no `torch.cdist`): the descriptor field must be rotation invariant to 1e-5, but
`cdist`'s default mode expands |q - p|^2 = |q|^2 + |p|^2 - 2 q.p, which loses ~1e-3 near zero
distance. We sum squared coordinate differences instead, so identical points give exactly 0.
The squared distances used for selection and the returned distances come from the same float
operations in the same order, so they agree bit for bit (sorting and radius tests are consistent).

Autograd: selection runs under `no_grad`; when the inputs require grad, the distances of the k
selected pairs are recomputed differentiably. That keeps the memory of the graph at B*Q*k instead
of B*Q*P, which matters when the matcher optimises warped query points through the field.

Memory: queries are processed `chunk_size` at a time, so at most about 2 * chunk_size * P distances
are alive at once (one buffer plus one scratch buffer).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "knn",
    "ball_query",
    "spread_by_rank",
    "gather",
    "masked_gather",
    "nearest_neighbor",
]


# ----------------------------------------------------------------------------- input checks


def _check_cloud(name: str, cloud: torch.Tensor) -> None:
    if not isinstance(cloud, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(cloud).__name__}")
    if cloud.dim() != 3 or cloud.shape[-1] < 1:
        raise ValueError(f"{name} must have shape (B, N, D), got {tuple(cloud.shape)}")
    if not cloud.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {cloud.dtype}")


def _check_pair(query_name: str, query: torch.Tensor, points_name: str, points: torch.Tensor) -> None:
    _check_cloud(query_name, query)
    _check_cloud(points_name, points)
    if query.shape[0] != points.shape[0] or query.shape[-1] != points.shape[-1]:
        raise ValueError(
            f"{query_name} {tuple(query.shape)} and {points_name} {tuple(points.shape)} must share "
            "the batch size B and the coordinate size D"
        )
    if query.device != points.device:
        raise ValueError(f"{query_name} is on {query.device} but {points_name} is on {points.device}")


def _check_lengths(name: str, lengths: torch.Tensor | None, cloud: torch.Tensor) -> torch.Tensor | None:
    """Validate (B,) lengths against a (B, N, D) cloud; None means every point is valid."""
    if lengths is None:
        return None
    if not isinstance(lengths, torch.Tensor) or lengths.shape != (cloud.shape[0],):
        shape = tuple(lengths.shape) if isinstance(lengths, torch.Tensor) else type(lengths).__name__
        raise ValueError(f"{name} must be a tensor of shape ({cloud.shape[0]},), got {shape}")
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor, got {lengths.dtype}")
    lengths = lengths.to(device=cloud.device, dtype=torch.long)
    # One host sync; cheap next to the search itself and it turns silent garbage into an error.
    if bool(((lengths < 0) | (lengths > cloud.shape[1])).any()):
        raise ValueError(f"{name} must lie in [0, {cloud.shape[1]}], got {lengths.tolist()}")
    return lengths


def _check_chunk(chunk_size: int) -> None:
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")


# ----------------------------------------------------------------------------- distances


def _pairwise_sq_dist(query: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Exact squared distances (B, Q, P) as a sum of squared coordinate differences.

    Built coordinate by coordinate with in-place ops so only two (B, Q, P) buffers exist. Must
    perform the same float operations, in the same order, as `_paired_sq_dist`.
    """
    sq = query[:, :, None, 0] - points[:, None, :, 0]
    sq.square_()
    scratch = torch.empty_like(sq) if query.shape[-1] > 1 else None
    for c in range(1, query.shape[-1]):
        torch.sub(query[:, :, None, c], points[:, None, :, c], out=scratch)
        scratch.square_()
        sq.add_(scratch)
    return sq


def _paired_sq_dist(query: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
    """Squared distances between query (B, Q, D) and its gathered neighbours (B, Q, k, D).

    Differentiable, and bit-identical to the matching `_pairwise_sq_dist` entries.
    """
    sq = (query[:, :, None, 0] - neighbours[..., 0]).square()
    for c in range(1, query.shape[-1]):
        sq = sq + (query[:, :, None, c] - neighbours[..., c]).square()
    return sq


def _select_nearest(
    query: torch.Tensor,
    points: torch.Tensor,
    k: int,
    points_lengths: torch.Tensor | None,
    chunk_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared distances and indices (B, Q, k) of the k nearest valid points, ascending.

    Missing neighbours (k > number of valid points) have squared distance inf; their indices are
    arbitrary and fixed by the caller.
    """
    batch, num_query, num_points = query.shape[0], query.shape[1], points.shape[1]
    k_found = min(k, num_points)
    sq_out = torch.full((batch, num_query, k), float("inf"), dtype=query.dtype, device=query.device)
    idx_out = torch.zeros((batch, num_query, k), dtype=torch.long, device=query.device)
    if k_found == 0 or num_query == 0:
        return sq_out, idx_out
    if query.device.type == "cpu" and num_points * num_query >= TREE_MIN_PAIRS:
        return _select_nearest_tree(query, points, k, k_found, points_lengths, sq_out, idx_out)
    padding = None
    if points_lengths is not None:
        arange = torch.arange(num_points, device=points.device)
        padding = (arange[None, :] >= points_lengths[:, None])[:, None, :]  # (B, 1, P)
    with torch.no_grad():
        query_d, points_d = query.detach(), points.detach()
        for start in range(0, num_query, chunk_size):
            stop = min(start + chunk_size, num_query)
            sq = _pairwise_sq_dist(query_d[:, start:stop], points_d)
            if padding is not None:
                sq.masked_fill_(padding, float("inf"))
            # topk on squared distances: sqrt is monotone, and skipping it over (chunk, P) saves time.
            values, indices = torch.topk(sq, k_found, dim=-1, largest=False, sorted=True)
            sq_out[:, start:stop, :k_found] = values
            idx_out[:, start:stop, :k_found] = indices
    return sq_out, idx_out


# On the CPU a k-d tree per cloud (scipy) replaces the Q x P distances, so a search grows as Q log P
# rather than Q P: 9,600 queries in 750 points took 10 ms instead of 55, 50,000 in 10,000 66 ms
# instead of 4.3 s (one thread). Below this many query-point pairs the two cost the same.
TREE_MIN_PAIRS = 1 << 17


def _select_nearest_tree(query, points, k, k_found, points_lengths, sq_out, idx_out):
    """`_select_nearest` through scipy's cKDTree: the tree picks the k nearest, and their squared
    distances are recomputed as `_paired_sq_dist` does, so selection and returned distances stay the
    same float operations (ties between equal distances may order differently from brute force)."""
    from scipy.spatial import cKDTree

    with torch.no_grad():
        for b in range(query.shape[0]):  # one tree per cloud: clouds differ
            length = points.shape[1] if points_lengths is None else int(points_lengths[b])
            found = min(k_found, length)
            if found == 0:
                continue
            cloud = points[b, :length].detach().double().numpy()
            queries = query[b].detach().double().numpy()
            # scipy refuses non-finite queries; the brute path finds no neighbour for them: the same here.
            finite = np.isfinite(queries).all(1)
            idx = np.zeros((query.shape[1], found), dtype=np.int64)
            if finite.any():
                idx[finite] = cKDTree(cloud).query(queries[finite], k=found)[1].reshape(-1, found)
            idx = torch.as_tensor(idx, dtype=torch.long)
            sq = _paired_sq_dist(query[b:b + 1].detach(), gather(points[b:b + 1].detach(), idx[None]))[0]
            sq[torch.as_tensor(~finite)] = float("inf")
            sq, order = torch.sort(sq, dim=-1)
            sq_out[b, :, :found], idx_out[b, :, :found] = sq, torch.gather(idx, 1, order)
    return sq_out, idx_out


# Queries per slab in `_select_within` (sorted along one axis): narrower slabs prune more points,
# more of them cost more calls; 64 of 1,250 queries in a 6 m room keep ~30% of the points.
_SLAB_QUERIES = 64


def _select_within(
    query: torch.Tensor, points: torch.Tensor, k: int, radius: float, chunk_size: int
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """`_select_nearest` for one CPU cloud (B = 1, no padding), for a ball query of `radius`.

    Queries are sorted along the axis where the points spread most and taken `_SLAB_QUERIES` at a
    time; only the points whose coordinate on that axis lies within the slab's range +- radius (a
    contiguous run of the points sorted the same way) are searched. Every point within `radius` of a
    query is in its slab (slabs are padded to the widest and searched together), and the distances
    are the same float operations as in `_pairwise_sq_dist`,
    so the selected points inside the ball and their distances are those of the full search (ties
    between equal distances aside); slots beyond the slab's points get inf, as padding. Returns None
    where the pruning cannot pay off (then the caller searches everything). A slab holds at most
    `chunk_size` queries, so memory stays within the caller's bound.
    """
    num_query, num_points = query.shape[1], points.shape[1]
    slab = min(_SLAB_QUERIES, chunk_size)
    if query.device.type != "cpu" or query.shape[0] != 1 or num_query <= slab or num_points <= 2 * k:
        return None
    with torch.no_grad():
        q, p = query[0].detach(), points[0].detach()
        axis = int(torch.argmax(p.amax(0) - p.amin(0)))
        p_key, p_order = torch.sort(p[:, axis])
        q_key, q_order = torch.sort(q[:, axis])
        # A margin for rounding: a point whose computed distance is <= radius lies within
        # radius (1 + a few ulp) on every axis; 1e-5 relative (and of the coordinates) is ample.
        margin = radius * (1 + 1e-5) + 1e-5 * float(p_key.abs().max().clamp_min(1.0))
        starts = torch.arange(0, num_query, slab)
        stops = (starts + slab).clamp_max(num_query) - 1
        lo = torch.searchsorted(p_key, q_key[starts] - margin, side="left").tolist()
        hi = torch.searchsorted(p_key, q_key[stops] + margin, side="right").tolist()
        if sum(h - l for l, h in zip(lo, hi)) > 0.8 * len(lo) * num_points:
            return None  # slabs nearly as wide as the cloud: nothing to prune
        q_sorted, p_sorted = q[q_order], p[p_order]
        lo_t, hi_t = torch.tensor(lo), torch.tensor(hi)
        width = max(1, max(h - l for l, h in zip(lo, hi)))
        found = min(k, width)
        sq_rows, idx_rows = [], []
        # All slabs at once (each padded to the widest): a few ops, not a few per slab, since on a
        # loaded machine every op's thread barrier costs. Groups bound memory by chunk_size x width.
        group = max(1, chunk_size // slab)
        for first in range(0, len(lo), group):
            g_lo, g_hi = lo_t[first:first + group], hi_t[first:first + group]
            num = len(g_lo)
            rows = torch.arange(first * slab, (first + num) * slab).clamp_max(num_query - 1)
            cand = g_lo[:, None] + torch.arange(width)  # (num, width) positions in the sorted points
            outside = cand >= g_hi[:, None]
            cand = cand.clamp_max(num_points - 1)
            sq = _pairwise_sq_dist(q_sorted[rows].view(num, slab, -1), p_sorted[cand])  # (num, slab, width)
            sq.masked_fill_(outside[:, None, :], float("inf"))
            values, indices = torch.topk(sq, found, dim=-1, largest=False, sorted=True)
            sq_rows.append(values.reshape(num * slab, found))
            idx_rows.append(p_order[cand.gather(1, indices.view(num, -1))].view(num * slab, found))
        sq_out = torch.full((num_query, k), float("inf"), dtype=query.dtype)
        idx_out = torch.zeros((num_query, k), dtype=torch.long)
        sq_out[q_order, :found] = torch.cat(sq_rows)[:num_query]
        idx_out[q_order, :found] = torch.cat(idx_rows)[:num_query]
    return sq_out[None], idx_out[None]


def _finish(
    query: torch.Tensor,
    points: torch.Tensor,
    sq: torch.Tensor,
    idx: torch.Tensor,
    valid: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Turn selected squared distances into (dist, idx, mask), padding slots as documented."""
    idx = idx.masked_fill(~valid, 0)
    if torch.is_grad_enabled() and (query.requires_grad or points.requires_grad):
        sq = _paired_sq_dist(query, gather(points, idx))
    dist = _safe_sqrt(sq).masked_fill(~valid, float("inf"))
    return dist, idx, valid


def _safe_sqrt(sq: torch.Tensor) -> torch.Tensor:
    """sqrt with gradient 0 (not NaN) at 0: a query lying on a keypoint is the common case."""
    positive = sq > 0
    return torch.where(positive, torch.where(positive, sq, torch.ones_like(sq)).sqrt(), torch.zeros_like(sq))


# ----------------------------------------------------------------------------- public ops


def knn(
    query: torch.Tensor,
    points: torch.Tensor,
    k: int,
    points_lengths: torch.Tensor | None = None,
    chunk_size: int = 4096,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The k nearest valid points of every query point.

    Args:
        query: (B, Q, D) query points.
        points: (B, P, D) searched points.
        k: number of neighbours (>= 1); may exceed the number of valid points.
        points_lengths: optional (B,) valid-point counts of `points`.
        chunk_size: queries processed at once (bounds memory at ~chunk_size * P distances).

    Returns:
        dist (B, Q, k) Euclidean distances sorted ascending; idx (B, Q, k) long indices into
        `points`; mask (B, Q, k) bool, False where fewer than k valid points exist (there idx = 0,
        dist = inf). Ties between equal distances are ordered arbitrarily.
    """
    _check_pair("query", query, "points", points)
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    _check_chunk(chunk_size)
    points_lengths = _check_lengths("points_lengths", points_lengths, points)
    sq, idx = _select_nearest(query, points, int(k), points_lengths, int(chunk_size))
    return _finish(query, points, sq, idx, torch.isfinite(sq))


def ball_query(
    query: torch.Tensor,
    points: torch.Tensor,
    radius: float,
    k: int,
    points_lengths: torch.Tensor | None = None,
    chunk_size: int = 4096,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The nearest (not the first stored) up to k valid points within `radius` of each query.

    A point at distance exactly `radius` counts as inside. Because the points inside the ball are
    exactly a prefix of the ascending neighbour list, this is `knn` followed by a radius mask.

    Returns (dist, idx, mask) shaped (B, Q, k) as in `knn`; slots beyond the points in the ball
    have mask False, idx 0 and dist inf.
    """
    _check_pair("query", query, "points", points)
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    radius = float(radius)
    if not radius >= 0.0:  # also rejects NaN
        raise ValueError(f"radius must be >= 0, got {radius}")
    _check_chunk(chunk_size)
    points_lengths = _check_lengths("points_lengths", points_lengths, points)
    selected = None if points_lengths is not None else _select_within(query, points, int(k), radius,
                                                                          int(chunk_size))
    sq, idx = selected if selected is not None else _select_nearest(query, points, int(k), points_lengths,
                                                                    int(chunk_size))
    # Compare the rounded distance itself (not sq <= radius**2) so that `dist <= radius` holds
    # exactly for every returned slot.
    valid = torch.isfinite(sq) & (sq.sqrt() <= radius)
    return _finish(query, points, sq, idx, valid)


def spread_by_rank(
    dist: torch.Tensor, idx: torch.Tensor, mask: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Thin an ascending neighbour list (from `knn` / `ball_query`) to at most k slots per query,
    spread evenly over the distance ranks of its valid neighbours.

    A query with c valid neighbours keeps them all when c <= k, else the ranks floor(j c / k),
    j = 0..k-1: always the nearest, then every (c / k)-th. This covers the whole ball with k tokens
    where the k nearest would see only the closest object. Deterministic and a function of the
    distance order only, so it keeps a descriptor's rotation and mirror invariance.
    Returns (dist, idx, mask) shaped (B, Q, min(k, K)), padding as in `ball_query`.
    """
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not (dist.shape == idx.shape == mask.shape and dist.dim() == 3):
        raise ValueError(f"dist, idx and mask must share one (B, Q, K) shape, got {tuple(dist.shape)}, "
                         f"{tuple(idx.shape)} and {tuple(mask.shape)}")
    k = min(int(k), dist.shape[-1])
    counts = mask.sum(-1, keepdim=True)  # (B, Q, 1); valid slots are a prefix
    slot = torch.arange(k, device=dist.device)
    ranks = torch.where(counts > k, torch.div(slot * counts, k, rounding_mode="floor"), slot)
    keep = slot < counts
    return dist.gather(-1, ranks), idx.gather(-1, ranks), mask.gather(-1, ranks) & keep


def gather(values: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Pick per-neighbour values: values (B, P, C) or (B, P), idx (B, Q, k) -> (B, Q, k, C) or
    (B, Q, k). Differentiable in `values`. Indices must lie in [0, P)."""
    if not isinstance(values, torch.Tensor) or values.dim() not in (2, 3):
        shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
        raise ValueError(f"values must have shape (B, P, C) or (B, P), got {shape}")
    if not isinstance(idx, torch.Tensor) or idx.dim() != 3 or idx.shape[0] != values.shape[0]:
        shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
        raise ValueError(f"idx must have shape ({values.shape[0]}, Q, k) to match values, got {shape}")
    if idx.is_floating_point() or idx.dtype == torch.bool:
        raise ValueError(f"idx must be an integer tensor, got {idx.dtype}")
    batch, num_query, k = idx.shape
    flat = idx.reshape(batch, num_query * k).to(device=values.device, dtype=torch.long)
    if values.dim() == 2:
        return torch.gather(values, 1, flat).reshape(batch, num_query, k)
    channels = values.shape[-1]
    picked = torch.gather(values, 1, flat[:, :, None].expand(-1, -1, channels))
    return picked.reshape(batch, num_query, k, channels)


def masked_gather(
    values: torch.Tensor, idx: torch.Tensor, mask: torch.Tensor, fill: float = 0.0
) -> torch.Tensor:
    """`gather`, with slots where `mask` (B, Q, k) is False set to `fill`."""
    picked = gather(values, idx)
    if not isinstance(mask, torch.Tensor) or mask.shape != idx.shape or mask.dtype != torch.bool:
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"mask must be a bool tensor of shape {tuple(idx.shape)}, got {shape}")
    mask = mask.to(picked.device)
    keep = mask if picked.dim() == 3 else mask[..., None]
    return torch.where(keep, picked, torch.tensor(fill, dtype=picked.dtype, device=picked.device))


def nearest_neighbor(
    a: torch.Tensor, b: torch.Tensor, b_lengths: torch.Tensor | None = None, chunk_size: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance (B, N) and index (B, N) of each point of `a`'s nearest valid point in `b`
    (inf and 0 when b has no valid point)."""
    dist, idx, _ = knn(a, b, 1, points_lengths=b_lengths, chunk_size=chunk_size)
    return dist[..., 0], idx[..., 0]
