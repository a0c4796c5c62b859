"""Small rigid-geometry helpers shared by generators, readers and the matcher.

Conventions (DESIGN §1, §8.3): +y is up, metres, right-handed. An object's world points are
`(canonical * scale) @ rot.T + trans`. Rotations act on row vectors through their transpose.
"""

from __future__ import annotations

import numpy as np

MIRROR_X = np.diag([-1.0, 1.0, 1.0])


def yaw_matrix(theta: float | np.ndarray) -> np.ndarray:
    """Rotation(s) about +y by `theta` radians: (3, 3), or (..., 3, 3) for an array of angles."""
    theta = np.asarray(theta, dtype=np.float64)
    c, s = np.cos(theta), np.sin(theta)
    zero, one = np.zeros_like(theta), np.ones_like(theta)
    rows = [np.stack([c, zero, s], -1), np.stack([zero, one, zero], -1), np.stack([-s, zero, c], -1)]
    return np.stack(rows, -2)


def yaw_of(rot: np.ndarray) -> np.ndarray:
    """The yaw angle of (..., 3, 3) rotations about +y (inverse of `yaw_matrix` for proper ones)."""
    return np.arctan2(rot[..., 0, 2], rot[..., 0, 0])


def global_transform(yaw: float, mirror: bool) -> np.ndarray:
    """A global orientation used for evaluation pairs: yaw · (optional x-mirror). det = -1 if mirrored."""
    return yaw_matrix(yaw) @ (MIRROR_X if mirror else np.eye(3))


def pose_points(canonical: np.ndarray, scale: np.ndarray, rot: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """World points of objects: canonical (..., P, 3), scale (..., 3), rot (..., 3, 3), trans (..., 3)."""
    scaled = canonical * scale[..., None, :]
    return scaled @ np.swapaxes(rot, -1, -2) + trans[..., None, :]


def box_centroids(trans: np.ndarray, rots: np.ndarray, scaled_box_centres: np.ndarray) -> np.ndarray:
    """World box centres (N, 3) of objects whose canonical box centre, already scaled, is given."""
    return np.einsum("nij,nj->ni", rots, scaled_box_centres) + trans


def origins_from_box(centroids: np.ndarray, rots: np.ndarray, scaled_box_centres: np.ndarray) -> np.ndarray:
    """The translations (N, 3) that put each object's (scaled) canonical box centre at `centroids`."""
    return centroids - np.einsum("nij,nj->ni", rots, scaled_box_centres)


def box_corners_xz(size: np.ndarray, centre: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Footprint rectangles on the floor: (..., 4, 2) xz corners of oriented boxes, counter-clockwise
    in the (x, z) plane for a proper rotation."""
    half = size[..., [0, 2]] / 2.0
    signs = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    local = np.zeros(half.shape[:-1] + (4, 3))
    local[..., [0, 2]] = signs * half[..., None, :]
    world = local @ np.swapaxes(rot, -1, -2) + centre[..., None, :]
    return world[..., [0, 2]]


def polygon_area_xz(polygon: np.ndarray) -> float:
    """Signed area of a closed (C, 2) polygon (shoelace)."""
    x, z = polygon[:, 0], polygon[:, 1]
    return 0.5 * float(np.dot(x, np.roll(z, -1)) - np.dot(z, np.roll(x, -1)))


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd test of (M, 2) points against a (C, 2) polygon; vectorised over points and edges."""
    a = polygon[None, :, :]
    b = np.roll(polygon, -1, axis=0)[None, :, :]
    p = points[:, None, :]
    crosses = (a[..., 1] > p[..., 1]) != (b[..., 1] > p[..., 1])
    denom = np.where(b[..., 1] == a[..., 1], 1e-12, b[..., 1] - a[..., 1])
    x_at = a[..., 0] + (p[..., 1] - a[..., 1]) * (b[..., 0] - a[..., 0]) / denom
    return (crosses & (p[..., 0] < x_at)).sum(-1) % 2 == 1


def rectangles_overlap(a: np.ndarray, b: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Separating-axis test between convex quads a (..., 4, 2) and b (..., 4, 2), broadcast.

    `margin` > 0 demands that much clearance (both shapes are grown by margin / 2 along each axis).
    """
    a, b = np.broadcast_arrays(a, b)
    axes = np.concatenate([_edge_normals(a), _edge_normals(b)], axis=-2)  # (..., 8, 2)
    proj_a = np.einsum("...kd,...ad->...ak", a, axes)  # (..., 8 axes, 4 corners)
    proj_b = np.einsum("...kd,...ad->...ak", b, axes)
    gap = np.maximum(proj_b.min(-1) - proj_a.max(-1), proj_a.min(-1) - proj_b.max(-1))
    return ~(gap >= margin).any(-1)


def _edge_normals(quad: np.ndarray) -> np.ndarray:
    edges = np.roll(quad, -1, axis=-2) - quad
    normals = np.stack([-edges[..., 1], edges[..., 0]], -1)
    return normals / np.maximum(np.linalg.norm(normals, axis=-1, keepdims=True), 1e-12)
