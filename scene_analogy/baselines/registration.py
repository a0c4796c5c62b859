"""Classical registration baseline (DESIGN §7c): RANSAC on FPFH matches for a global similarity,
then coherent-point-drift (CPD) non-rigid refinement, written in torch. No learned field, no classes.

1. Global: FPFH (`fpfh.FPFHField`, computed in each whole scene so the RoI keeps its context) of the
   RoI keypoints and of every reference object keypoint; RANSAC over mutual nearest-feature matches
   for a 3D similarity with an edge-length check (`ransac.py`: torch, seeded, batched; open3d's own
   RANSAC is parallel and did not repeat exactly for a given seed).
2. Non-rigid: CPD (Myronenko & Song 2010) moves the similarity-warped RoI points Y towards the
   reference points X near them (within `crop` metres, default the RANSAC inlier distance, of a
   warped RoI point; with a box-shaped crop the neighbouring objects' points dragged an exactly
   aligned RoI by up to 1 m, since CPD tries to explain every point of X):
   EM with Gaussian posteriors (uniform outlier weight `w` = 0.8: much of X is other objects), displacement G W with the Gaussian
   kernel G of width `beta` over Y, regularised by `lam`. All points are tensor dimensions. The
   variance starts at the RANSAC inlier distance squared, not at CPD's data-wide estimate: the
   global alignment is done already, and a wide start pulls the RoI towards the crop's centre of mass
   (measured: a perfectly aligned RoI drifted by up to 1.5 m).
3. The map: the similarity plus a thin-plate spline from the RoI keypoints to their CPD positions
   (`common.map_from_pairs` after the similarity). Its object correspondence (for Bi-PCP) is the
   nearest same-class reference object of each mapped RoI object (`common.nearest_objects`).
RANSAC finding no consensus gives "no analogy".
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from scene_analogy.baselines.common import nearest_objects, object_points, single_map_result
from scene_analogy.baselines.fpfh import FPFHField
from scene_analogy.baselines.ransac import ransac_similarity
from scene_analogy.match.analogy_map import AnalogyMap
from scene_analogy.match.inputs import MatchScene
from scene_analogy.match.rbf import fit_thin_plate

__all__ = ["Registration", "cpd_nonrigid"]


def cpd_nonrigid(y: torch.Tensor, x: torch.Tensor, beta: float = 0.5, lam: float = 2.0, w: float = 0.1,
                 iterations: int = 50, tol: float = 1e-6, sigma2: float | None = None) -> torch.Tensor:
    """CPD non-rigid: the moved copy (M, 3) of y (M, 3) fitted to x (N, 3) (module docstring).
    `sigma2`: the initial variance (m^2); None = CPD's own data-wide estimate."""
    y, x = y.double(), x.double()
    m, n, d = len(y), len(x), y.shape[1]
    if m == 0 or n == 0:
        return y.clone()
    g = torch.exp(-torch.cdist(y, y).square() / (2 * beta * beta))  # (M, M)
    weights = torch.zeros_like(y)
    t = y.clone()
    if sigma2 is None:
        sigma2 = torch.cdist(x, y).square().sum() / (d * m * n)
    sigma2 = torch.as_tensor(sigma2, dtype=y.dtype)
    for _ in range(iterations):  # EM iterations (not points)
        sq = torch.cdist(x, t).square()  # (N, M)
        num = torch.exp(-sq / (2 * sigma2))
        c = (2 * torch.pi * sigma2) ** (d / 2) * w / (1 - w) * m / n
        p = num / (num.sum(1, keepdim=True) + c)  # (N, M) posterior of y_m given x_n
        p1, pt1, px = p.sum(0), p.sum(1), p.T @ x  # (M,), (N,), (M, 3)
        a = g * p1[:, None] + lam * sigma2 * torch.eye(m, dtype=y.dtype)
        weights = torch.linalg.solve(a, px - p1[:, None] * y)
        t = y + g @ weights
        np_total = p1.sum().clamp_min(1e-12)
        new_sigma2 = ((pt1 * x.square().sum(1)).sum() - 2 * (px * t).sum() + (p1 * t.square().sum(1)).sum()) / (np_total * d)
        new_sigma2 = new_sigma2.clamp_min(1e-8)
        if (sigma2 - new_sigma2).abs() < tol:
            sigma2 = new_sigma2
            break
        sigma2 = new_sigma2
    return t


class Registration:
    """`method(target, reference, roi) -> AnalysisResult` (see `evaluation.FieldMethod`)."""

    name = "registration"

    def __init__(self, max_corr_dist: float = 0.3, ransac_iterations: int = 50_000,
                 beta: float = 1.0, lam: float = 3.0, outlier: float = 0.8, cpd_iterations: int = 50,
                 crop: float | None = None, smoothing: float = 0.5, seed: int = 0, field: FPFHField | None = None):
        self.max_corr_dist, self.ransac_iterations = max_corr_dist, ransac_iterations
        self.beta, self.lam, self.outlier, self.cpd_iterations = beta, lam, outlier, cpd_iterations
        self.crop = max_corr_dist if crop is None else crop
        self.smoothing, self.seed = smoothing, seed
        self.field = field or FPFHField()

    def global_similarity(self, src, src_desc, dst, dst_desc) -> tuple[np.ndarray, np.ndarray, float]:
        """RANSAC similarity (A (3, 3), b (3,), inlier fitness) carrying src onto dst (`ransac.py`)."""
        linear, offset, fitness = ransac_similarity(src, src_desc, dst, dst_desc, self.max_corr_dist,
                                                    self.ransac_iterations, self.seed)
        return linear.numpy(), offset.numpy(), fitness

    def __call__(self, target: MatchScene, reference: MatchScene, roi) -> object:
        start = time.perf_counter()
        roi = np.asarray(roi, dtype=np.int64).reshape(-1)
        src, _ = object_points(target, roi)
        dst, _ = object_points(reference, np.arange(len(reference)))
        if len(src) < 3 or len(dst) < 3:
            return single_map_result(roi, None, start)
        src_desc = self.field.describe(src, target.points)
        dst_desc = self.field.describe(dst, reference.points)
        linear, offset, fitness = self.global_similarity(src, src_desc, dst, dst_desc)
        if fitness <= 0:
            return single_map_result(roi, None, start)
        warped = src @ linear.T + offset
        gap = torch.cdist(torch.from_numpy(dst), torch.from_numpy(warped)).min(1).values.numpy()
        near = dst[gap < self.crop]
        moved = cpd_nonrigid(torch.from_numpy(warped), torch.from_numpy(near), self.beta, self.lam, self.outlier,
                             self.cpd_iterations, sigma2=self.max_corr_dist ** 2).numpy()
        spline = None
        try:
            spline = fit_thin_plate(torch.from_numpy(src), torch.from_numpy(moved - warped), self.smoothing)
        except ValueError:
            pass
        cost = float(np.linalg.norm(moved - warped, axis=1).mean()) + (1.0 - fitness)
        meta = {"method": self.name, "ransac_fitness": fitness, "cpd_points": int(len(near)),
                "spline_valid": spline is not None}
        amap = AnalogyMap.from_spline(linear, offset, spline, cost, roi_points=src, meta=meta)
        amap = dataclasses.replace(amap, correspondence=nearest_objects(amap, target, reference, roi))
        return single_map_result(roi, amap, start)
