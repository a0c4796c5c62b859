"""The reference field between keypoints (DESIGN §5): inverse-distance weighting (IDW) of the
descriptors of the k nearest reference keypoints, and its distance to target descriptors.

    f_ref(x) = sum_k w_k f_k / sum_k w_k,   w_k = 1 / sqrt(d_k^2 + eps^2)

d_k = |x - p_k| over the k nearest keypoints p_k. The eps (metres) keeps weights and gradients
finite when x lies on a keypoint (plain 1/d would be infinite there). f_ref is NOT re-normalised:
a blend of unit vectors is shorter than 1, which makes points between dissimilar keypoints cost more
(and keeps the cost a smooth function of x).

Cost without 256-d gathers: with f_t the target descriptor and w^ the normalised weights,

    ||f_t - f_ref(x)||^2 = |f_t|^2 - 2 sum_k w^_k (f_t . f_k) + sum_kl w^_k w^_l (f_k . f_l),

so the optimisation loops only gather scalars from two precomputed matrices: dots = f_t . f_k per
(target point, reference keypoint) and the Gram matrix f_k . f_l of the reference keypoints. This is
what makes 100 Adam steps over hundreds of candidates cheap on a CPU.
"""

from __future__ import annotations

import torch

from scene_analogy.ops.neighbors import gather, knn

__all__ = ["idw_descriptors", "idw_cost", "nearest_candidates"]


def _weights(query, points, idx, mask, eps):
    """Normalised IDW weights (B, Q, k), differentiable in query (and points)."""
    sq = (query[:, :, None, :] - gather(points, idx)).square().sum(-1)
    w = torch.rsqrt(sq + eps * eps) * mask
    return w / w.sum(-1, keepdim=True).clamp_min(1e-30)


def _select(query, points, k, points_lengths, candidates):
    """Indices and mask (B, Q, k) of the k nearest keypoints, exactly, or among `candidates`
    (B, Q, kc) (a superset found earlier, so the step only measures kc distances; with kc <= k the
    candidates are used as they are)."""
    with torch.no_grad():
        if candidates is None:
            _, idx, mask = knn(query.detach(), points.detach(), k, points_lengths)
            return idx, mask
        cand_idx, cand_mask = candidates
        if cand_idx.shape[-1] <= k:  # a neighbour set fixed for a few steps: nothing to choose
            return cand_idx, cand_mask
        sq = (query.detach()[:, :, None, :] - gather(points.detach(), cand_idx)).square().sum(-1)
        sq = sq.masked_fill(~cand_mask, float("inf"))
        k_eff = min(k, cand_idx.shape[-1])
        best, order = torch.topk(sq, k_eff, dim=-1, largest=False)
        return torch.gather(cand_idx, 2, order), torch.isfinite(best)


def nearest_candidates(query, points, k, points_lengths=None):
    """(idx, mask) of the k nearest keypoints, for reuse as `candidates` over a few steps."""
    _, idx, mask = knn(query.detach(), points.detach(), k, points_lengths)
    return idx, mask


def idw_descriptors(query, points, desc, k, eps, points_lengths=None):
    """IDW descriptors (B, Q, D) at query (B, Q, 3) from keypoints (B, P, 3) with desc (B, P, D)."""
    idx, mask = _select(query, points, k, points_lengths, None)
    w = _weights(query, points, idx, mask, eps)
    return (w[..., None] * gather(desc, idx)).sum(2)


def idw_cost(query, points, dots, gram, k, eps, points_lengths=None, dots_batch=None, dots_rows=None,
             gram_batch=None, target_sq=None, candidates=None, ref_desc=None):
    """||f_t(q) - f_ref(query)|| per query point: (B, Q), differentiable in query.

    query (B, Q, 3); points (B, P, 3) reference keypoints (padding beyond points_lengths);
    dots (Bd, Qd, P) = f_t . f_k per target point and keypoint: query (b, q) reads
    dots[dots_batch[b], dots_rows[q]] (defaults: arange, i.e. dots is (B, Q, P)), which lets many
    candidate warps of the same RoI points share one dots matrix; gram (Bg, P, P) = f_k . f_l, read
    at gram_batch[b] (default arange); target_sq (Bd, Qd) = |f_t|^2 (None: 1, unit descriptors).
    gram None: the k x k entries come from ref_desc (Bg, P, D) as dot products of the gathered
    descriptors (Q k^2 D work instead of a P x P matrix: what large reference scenes need).
    """
    batch, num_query = query.shape[:2]
    device = query.device
    idx, mask = _select(query, points, k, points_lengths, candidates)
    w = _weights(query, points, idx, mask, eps)
    db = torch.arange(batch, device=device) if dots_batch is None else dots_batch
    gb = torch.arange(batch, device=device) if gram_batch is None else gram_batch
    rows = torch.arange(num_query, device=device) if dots_rows is None else dots_rows
    # Flat `take` instead of multi-tensor advanced indexing: several times faster on CPU (dots and
    # gram are constants, so no gradient flows into them).
    num_points = points.shape[1]
    dots_at = (db[:, None, None] * dots.shape[1] + rows[None, :, None]) * dots.shape[2] + idx
    picked_dots = torch.take(dots, dots_at)  # (B, Q, k)
    if gram is None:
        near = ref_desc[gb[:, None, None], idx]  # (B, Q, k, D)
        picked_gram = torch.einsum("bqkd,bqld->bqkl", near, near)
    else:
        gram_at = (gb[:, None, None, None] * num_points + idx[..., :, None]) * num_points + idx[..., None, :]
        picked_gram = torch.take(gram, gram_at)  # (B, Q, k, k)
    self_sq = 1.0 if target_sq is None else target_sq[db[:, None], rows[None, :]]
    sq = self_sq - 2 * (w * picked_dots).sum(-1) + torch.einsum("bqk,bqkl,bql->bq", w, picked_gram, w)
    # Clamp away from 0: sqrt has an infinite slope there (a perfect match is the common case).
    return sq.clamp_min(1e-12).sqrt()
