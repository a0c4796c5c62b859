"""RANSAC for a 3D similarity over feature matches, in torch: seeded and batched, so a run repeats
exactly (open3d's parallel RANSAC did not: the same seed gave PCP@0.25 0.199 and 0.187 on the same
40 pairs).

1. Matches: mutual nearest neighbours in descriptor space.
2. Hypotheses: `iterations` triples of matches drawn from a seeded generator, all at once (in chunks);
   a triple is kept when each edge has about the same length in both clouds (ratio >= `edge_ratio`,
   open3d's edge-length check: scales near 1 only), then the similarity (Umeyama: scale, proper rotation,
   translation) of each triple is fitted by a batched SVD.
3. Score: per chunk, the `shortlist` hypotheses that carry the most matches within `max_dist` of
   their partner are scored by fitness = the fraction of ALL source points with a destination point
   within `max_dist` (as open3d's RANSAC ranks results); the best (fitness, then matches) is refitted
   on its geometric inliers (source points and their nearest destination point within `max_dist`),
   the refit kept unless it loses fitness. No consensus: fitness 0.
"""

from __future__ import annotations

import torch

__all__ = ["mutual_matches", "umeyama", "ransac_similarity"]


def mutual_matches(src_desc: torch.Tensor, dst_desc: torch.Tensor, min_mutual: int = 9
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (i, j) with dst j the nearest feature of src i and src i the nearest of dst j; with fewer
    than `min_mutual` such pairs, every src point with its nearest dst feature."""
    dist = torch.cdist(src_desc, dst_desc)
    fwd, bwd = dist.argmin(1), dist.argmin(0)
    i = torch.nonzero(bwd[fwd] == torch.arange(len(src_desc)))[:, 0]
    if len(i) < min_mutual:  # too few to sample from (open3d falls back the same way)
        i = torch.arange(len(src_desc))
    return i, fwd[i]


def umeyama(src: torch.Tensor, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched similarity (B, K, 3) -> (B, K, 3): A (B, 3, 3) = s R with det R = +1 and b (B, 3), so that
    dst ~ src A^T + b in the least-squares sense."""
    mu_s, mu_d = src.mean(1), dst.mean(1)
    sc, dc = src - mu_s[:, None], dst - mu_d[:, None]
    cov = dc.transpose(1, 2) @ sc / src.shape[1]  # mean of dst_c src_c^T
    u, sig, vt = torch.linalg.svd(cov)
    d = torch.ones_like(sig)
    d[:, 2] = torch.sign(torch.linalg.det(u @ vt))
    rot = u @ torch.diag_embed(d) @ vt
    var = sc.square().sum(-1).mean(1).clamp_min(1e-12)
    scale = (sig * d).sum(1) / var
    linear = scale[:, None, None] * rot
    return linear, mu_d - torch.einsum("bij,bj->bi", linear, mu_s)


def ransac_similarity(src, src_desc, dst, dst_desc, max_dist: float, iterations: int, seed: int = 0,
                      edge_ratio: float = 0.9, chunk: int = 8192,
                      shortlist: int = 256) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(A (3, 3), b (3,), fitness) carrying src (S, 3) onto dst (D, 3): float64 fits, float32 overlap scores."""
    src, dst = torch.as_tensor(src, dtype=torch.float64), torch.as_tensor(dst, dtype=torch.float64)
    i, j = mutual_matches(torch.as_tensor(src_desc, dtype=torch.float64),
                          torch.as_tensor(dst_desc, dtype=torch.float64))
    eye, zero = torch.eye(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    if len(i) < 3:
        return eye, zero, 0.0
    ms, md = src[i], dst[j]  # (C, 3) matched pairs
    src32, dst32 = src.float(), dst.float()

    def fitness(linear, offset):  # (B,) share of ALL source points landing near some destination point
        moved = torch.einsum("bij,sj->bsi", linear.float(), src32) + offset.float()[:, None]
        return (torch.cdist(moved, dst32[None].expand(len(moved), -1, -1)).amin(2) < max_dist).float().mean(1)

    gen = torch.Generator().manual_seed(seed)
    best_key, best = (0.0, 0), None
    for start in range(0, iterations, chunk):  # chunks of hypotheses, each chunk one batch
        pick = torch.randint(len(i), (min(chunk, iterations - start), 3), generator=gen)
        s3, d3 = ms[pick], md[pick]  # (B, 3, 3)
        es = (s3 - s3.roll(1, dims=1)).norm(dim=-1)
        ed = (d3 - d3.roll(1, dims=1)).norm(dim=-1)
        # Edges of about the same length in both clouds (open3d's check). A scale-free version let
        # hypotheses shrink the RoI into a dense spot of the reference, which scores high fitness.
        ok = ((es > edge_ratio * ed) & (ed > edge_ratio * es)).all(1) & (es.amin(1) > 1e-6)
        if not ok.any():
            continue
        linear, offset = umeyama(s3[ok], d3[ok])
        moved = torch.einsum("bij,cj->bci", linear, ms) + offset[:, None]
        counts = ((moved - md).norm(dim=-1) < max_dist).sum(1)
        # The matches pre-select; the geometric overlap of the whole clouds decides (as open3d's fitness).
        top = torch.argsort(counts, descending=True, stable=True)[:shortlist]
        fit = fitness(linear[top], offset[top])
        k = int(torch.argmax(fit))  # first of the best: deterministic
        key = (float(fit[k]), int(counts[top[k]]))
        if key > best_key:
            best_key, best = key, (linear[top[k]], offset[top[k]])
    if best is None or best_key[1] < 3:
        return eye, zero, 0.0
    # Refit on geometric correspondences (each source point and its nearest destination point within
    # max_dist), as open3d refines its RANSAC result: the feature matches are too few and too noisy.
    gap, near = torch.cdist(src @ best[0].T + best[1], dst).min(1)
    inliers = gap < max_dist
    if int(inliers.sum()) < 3:
        return best[0], best[1], best_key[0]
    linear, offset = umeyama(src[inliers][None], dst[near[inliers]][None])
    refit = float(fitness(linear, offset)[0])
    if refit < best_key[0]:  # the refit must not lose overlap
        return best[0], best[1], best_key[0]
    return linear[0], offset[0], refit
