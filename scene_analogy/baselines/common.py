"""What every baseline shares: a similarity fit in the floor plane, the map from point pairs
(similarity + thin-plate spline over the residual), a one-map `AnalysisResult`, and the nearest
reference object of each mapped RoI object (the object correspondence Bi-PCP needs).

The similarity family is the matcher's own (DESIGN §1): yaw rotation, optional mirror and one
scale in the floor plane (xz), the height kept (scale 1 on y) with a vertical shift. Scenes are
y-up, so a free 3D similarity would only add tilts that no analogy has.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from scene_analogy.match.analogy_map import AnalogyMap
from scene_analogy.match.inputs import MatchScene
from scene_analogy.match.pipeline import AnalysisResult
from scene_analogy.match.rbf import fit_thin_plate

__all__ = ["fit_similarity", "map_from_pairs", "single_map_result", "nearest_objects", "object_points"]


def _fit_xz(src: np.ndarray, dst: np.ndarray, reflect: bool) -> tuple[np.ndarray, float]:
    """Umeyama in 2D (rows): the (2, 2) matrix s R (det R = -1 when `reflect`) and its residual."""
    src_c, dst_c = src - src.mean(0), dst - dst.mean(0)
    u, sig, vt = np.linalg.svd(src_c.T @ dst_c)  # rows: dst ~ src @ (s R)^T with R = V D U^T
    d = np.diag([1.0, -1.0 if (np.linalg.det(u @ vt) > 0) == reflect else 1.0])
    rot = vt.T @ d @ u.T
    var = float((src_c ** 2).sum())
    scale = float((sig * np.diag(d)).sum() / var) if var > 1e-12 else 1.0
    scale = max(scale, 1e-3)
    linear = scale * rot
    residual = float(((src_c @ linear.T - dst_c) ** 2).sum())
    return linear, residual


def fit_similarity(src, dst, reflect: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A (3, 3), b (3,) with dst ~ src A^T + b in the module's family; `reflect` None tries both
    handednesses and keeps the better fit. Needs >= 2 points spread in xz for a rotation; with
    fewer, A is the identity and b the mean shift."""
    src, dst = np.asarray(src, np.float64).reshape(-1, 3), np.asarray(dst, np.float64).reshape(-1, 3)
    linear = np.eye(3)
    spread = np.ptp(src[:, [0, 2]], axis=0).max() if len(src) else 0.0
    if len(src) >= 2 and spread > 1e-6:
        options = [False, True] if reflect is None else [reflect]
        fits = [_fit_xz(src[:, [0, 2]], dst[:, [0, 2]], r) for r in options]
        xz = min(fits, key=lambda f: f[1])[0]
        linear[np.ix_([0, 2], [0, 2])] = xz
    offset = dst.mean(0) - src.mean(0) @ linear.T
    return linear, offset


def map_from_pairs(src, dst, smoothing: float, reflect: bool | None = None, cost: float = 0.0,
                   correspondence=None, meta: dict | None = None) -> AnalogyMap:
    """F with F(src) ~ dst: the similarity of `fit_similarity`, plus a thin-plate spline (centres
    `src`) over what is left. A degenerate spline system (e.g. coplanar centres) keeps the similarity."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    linear, offset = fit_similarity(src, dst, reflect)
    residual = dst - (src @ linear.T + offset)
    spline = None
    try:
        spline = fit_thin_plate(torch.from_numpy(src), torch.from_numpy(residual), smoothing)
    except ValueError:
        pass
    meta = {**(meta or {}), "spline_valid": spline is not None, "smoothing": float(smoothing)}
    return AnalogyMap.from_spline(linear, offset, spline, cost, roi_points=src, correspondence=correspondence,
                                  meta=meta)


def single_map_result(roi, amap: AnalogyMap | None, start: float, valid: bool = True) -> AnalysisResult:
    """An AnalysisResult holding one map (best = it when `valid`), timed from `start` (all "coarse")."""
    elapsed = time.perf_counter() - start
    result = AnalysisResult([] if amap is None else [amap], amap if valid else None, np.asarray(roi))
    result.timings = {"coarse": elapsed, "fine": 0.0, "total": elapsed}
    return result


def object_points(scene: MatchScene, objects) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (K, 3) float64 of the given objects, object by object in the given order (for a RoI:
    the order `find_analogy` uses), and the object index of each row."""
    objects = np.asarray(objects, dtype=np.int64).reshape(-1)
    slot = np.full(len(scene) + 1, -1, dtype=np.int64)
    slot[objects] = np.arange(len(objects))
    rows = np.flatnonzero(slot[scene.instance] >= 0)
    rows = rows[np.argsort(slot[scene.instance[rows]], kind="stable")]
    return scene.points[rows].astype(np.float64), scene.instance[rows]


def nearest_objects(amap: AnalogyMap, target: MatchScene, reference: MatchScene, roi) -> np.ndarray:
    """Rows (RoI object, reference object): the reference object whose box centre is nearest to
    each mapped RoI box centre, same class preferred (any class when the reference has none)."""
    roi = np.asarray(roi, dtype=np.int64)
    mapped = amap.apply(target.box_centres[roi])
    dist = np.linalg.norm(mapped[:, None] - reference.box_centres[None], axis=-1)
    other = target.class_ids[roi][:, None] != reference.class_ids[None]
    dist = dist + 1e3 * (other & ~other.all(1, keepdims=True))
    return np.stack([roi, dist.argmin(1)], 1) if len(reference) else np.zeros((0, 2), np.int64)
