"""FPFH descriptors (Rusu et al. 2009, open3d's implementation) and a descriptor "field" made of them.

open3d is imported lazily (only when a descriptor is computed): it needs the system library
libusb-1.0 at import time, and nothing else in the package does.

Choices (the design is silent):
- The cloud is the scene's keypoints (objects and floor-plan corners): the same points the learned
  field sees. A query point that lies on a keypoint (within 1 mm) reads that keypoint's FPFH; other
  queries are added to the cloud first.
- Normals: principal axis of the `normal_knn` nearest points, flipped to point away from the centroid
  of those neighbours (outward on convex parts; the same rule in both scenes, so a moved copy gets
  moved normals). FPFH then uses all neighbours within `radius` (at most `max_nn`).
- Descriptors are L2-normalised (33-d), so the matcher's costs live in [0, 2] as with the learned
  field. FPFH is invariant to rotations but not to mirrors (one of its angles changes sign).
"""

from __future__ import annotations

import numpy as np
import torch

from scene_analogy.files.errors import DataError
from scene_analogy.ops.neighbors import knn

__all__ = ["fpfh", "FPFHField", "import_open3d"]

FPFH_DIM = 33


def import_open3d():
    """open3d, or a DataError saying what to install."""
    try:
        import open3d
    except ImportError as error:  # also OSError-like failures surface as ImportError (missing libusb)
        raise DataError(None, f"the FPFH baselines need open3d (pip install open3d-cpu; apt-get install "
                              f"libusb-1.0-0): {error}") from None
    return open3d


def outward_normals(points: np.ndarray, k: int) -> np.ndarray:
    """(P, 3) unit normals: smallest principal axis of the k nearest points, pointing away from their
    centroid. Batched over points (one eigen-decomposition call)."""
    pts = torch.as_tensor(points, dtype=torch.float64)
    k = max(3, min(k, len(pts)))
    _, idx, _ = knn(pts[None], pts[None], k)
    neigh = pts[idx[0]]  # (P, k, 3)
    centroid = neigh.mean(1)
    centred = neigh - centroid[:, None]
    _, vecs = torch.linalg.eigh(centred.transpose(1, 2) @ centred)
    normal = vecs[..., 0]
    flip = ((pts - centroid) * normal).sum(-1) < 0
    normal = torch.where(flip[:, None], -normal, normal)
    return normal.numpy()


def fpfh(points: np.ndarray, radius: float, max_nn: int, normal_knn: int) -> np.ndarray:
    """Unit-length FPFH descriptors (P, 33) of every point of the cloud."""
    o3d = import_open3d()
    points = np.asarray(points, dtype=np.float64)
    if len(points) == 0:
        return np.zeros((0, FPFH_DIM))
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    cloud.normals = o3d.utility.Vector3dVector(outward_normals(points, normal_knn))
    feature = o3d.pipelines.registration.compute_fpfh_feature(
        cloud, o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=max_nn))
    desc = np.asarray(feature.data).T.copy()
    norm = np.linalg.norm(desc, axis=1, keepdims=True)
    return np.where(norm > 0, desc / np.maximum(norm, 1e-12), 1.0 / np.sqrt(FPFH_DIM))


class FPFHField:
    """Stands in for `ContextDescriptorField` in the matcher: `field(query (B, Q, 3), points (B, P, 3),
    labels (B, P)) -> (B, Q, 33)`; labels are ignored (geometry only)."""

    device = torch.device("cpu")

    def __init__(self, radius: float = 0.75, max_nn: int = 100, normal_knn: int = 12):
        self.radius, self.max_nn, self.normal_knn = radius, max_nn, normal_knn

    def describe(self, query: np.ndarray, points: np.ndarray) -> np.ndarray:
        """FPFH (Q, 33) at query points within the cloud `points` (module docstring)."""
        query, points = np.asarray(query, np.float64), np.asarray(points, np.float64)
        dist, idx, _ = knn(torch.as_tensor(query)[None], torch.as_tensor(points)[None], 1)
        on_cloud = dist[0, :, 0].numpy() < 1e-3 if len(points) else np.zeros(len(query), bool)
        row = np.where(on_cloud, idx[0, :, 0].numpy() if len(points) else 0, 0)
        extra = np.flatnonzero(~on_cloud)
        row[extra] = len(points) + np.arange(len(extra))
        desc = fpfh(np.concatenate([points, query[extra]]), self.radius, self.max_nn, self.normal_knn)
        return desc[row]

    def __call__(self, query, points, labels=None) -> torch.Tensor:
        out = [self.describe(q.detach().cpu().numpy(), p.detach().cpu().numpy()) for q, p in zip(query, points)]
        return torch.as_tensor(np.stack(out), dtype=torch.float32)
