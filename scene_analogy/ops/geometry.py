"""Small rigid-geometry helpers shared by generators, readers and the matcher.

Conventions (DESIGN §1, §8.3): +y is up, metres, right-handed. An object's world points are
`(canonical * scale) @ rot.T + trans`. Rotations act on row vectors through their transpose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

MIRROR_X = np.diag([-1.0, 1.0, 1.0])
# z-up file frame -> y-up frame: y_up = z_up @ Z_UP_TO_Y_UP.T, i.e. (x, y, z) -> (x, z, -y). A proper
# rotation (det +1: -90 degrees about x); swapping the y and z columns instead would be a reflection.
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def yaw_matrix(theta: float | np.ndarray) -> np.ndarray:
    """Rotation(s) about +y by `theta` radians: (3, 3), or (..., 3, 3) for an array of angles."""
    theta = np.asarray(theta, dtype=np.float64)
    c, s = np.cos(theta), np.sin(theta)
    zero, one = np.zeros_like(theta), np.ones_like(theta)
    rows = [np.stack([c, zero, s], -1), np.stack([zero, one, zero], -1), np.stack([-s, zero, c], -1)]
    return np.stack(rows, -2)


def yaw_rotation(theta: "torch.Tensor") -> "torch.Tensor":
    """`yaw_matrix` for torch: rotations about +y (..., 3, 3) of angles (...), differentiable, on
    theta's device and in its dtype."""
    import torch  # here, not at the top: the numpy users of this module (generators, readers) skip its ~2 s import

    c, s = torch.cos(theta), torch.sin(theta)
    zero, one = torch.zeros_like(theta), torch.ones_like(theta)
    rows = [torch.stack([c, zero, s], -1), torch.stack([zero, one, zero], -1), torch.stack([-s, zero, c], -1)]
    return torch.stack(rows, -2)


def yaw_of(rot: np.ndarray) -> np.ndarray:
    """The yaw about +y of (..., 3, 3) rotations: the inverse of `yaw_matrix`, and for a tilted one
    the twist about +y of its swing-twist decomposition (the nearest yaw rotation; for a quaternion
    2 atan2(q_y, q_w)), whichever side the tilt is applied on. Reading row 0 alone, as before, mixed the
    tilt in (a 90 degree tilt turned a 60 degree yaw into 0). A tilt of 180 degrees leaves the twist
    undefined: then the heading of the object's +x axis."""
    sin2, cos2 = rot[..., 0, 2] - rot[..., 2, 0], rot[..., 0, 0] + rot[..., 2, 2]
    twist = np.arctan2(sin2, cos2)
    heading = np.arctan2(-rot[..., 2, 0], rot[..., 0, 0])
    return np.where(np.hypot(sin2, cos2) > 1e-9, twist, heading)


def upright_yaw_boxes(rots: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Oriented boxes (rotations (N, 3, 3) with the box axes as columns, y-up world; sizes (N, 3))
    as yaw-only boxes: (yaw rotations (N, 3, 3), sizes (N, 3) with the vertical extent second).

    The box axis closest to +y becomes the local y axis; the other two keep their cyclic order, so
    the new frame is proper (det +1) and the same box up to the (dropped) tilt.
    """
    rots, sizes = np.asarray(rots, dtype=np.float64), np.asarray(sizes, dtype=np.float64)
    up = np.argmax(np.abs(rots[:, 1, :]), axis=1)  # which box axis is vertical
    order = np.stack([(up + 2) % 3, up, (up + 1) % 3], 1)  # cyclic: (a, up, b) keeps handedness
    axes = np.take_along_axis(rots, order[:, None, :], axis=2)
    # the local x axis flips with the up axis when that points down (two flips: still proper)
    flip = np.sign(axes[:, 1, 1])[:, None]
    x_axis = axes[:, :, 0] * flip
    return yaw_matrix(np.arctan2(-x_axis[:, 2], x_axis[:, 0])), np.take_along_axis(sizes, order, axis=1)


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


def quaternion_matrix(quat_xyzw: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of quaternions (..., 4) in (x, y, z, w) order; normalised first."""
    q = np.asarray(quat_xyzw, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    x, y, z, w = np.moveaxis(q, -1, 0)
    rows = [
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ]
    return np.stack(rows, -2)


def mesh_boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """Closed loops of vertex indices along the boundary of a triangle mesh (edges used by one face).

    Faces repeated with any winding (double-sided floors) count once; degenerate faces are ignored.
    Each loop is returned on its own (outer outlines, holes and disjoint parts alike). The walk is
    per boundary edge, which is a handful per floor: not a hot path.
    """
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    faces = np.unique(np.sort(faces, axis=1), axis=0)
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    neighbours: dict[int, list[int]] = {}
    for a, b in unique[counts == 1].tolist():
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    loops = []
    while neighbours:
        start = next(iter(neighbours))
        loop, here = [start], start
        while True:
            nxt = neighbours[here].pop()
            neighbours[nxt].remove(here)
            for v in (here, nxt):
                if not neighbours[v]:
                    del neighbours[v]
            if nxt == start or nxt not in neighbours:
                break
            loop.append(nxt)
            here = nxt
        if len(loop) >= 3:
            loops.append(np.asarray(loop, dtype=np.int64))
    return loops


def drop_collinear(polygon: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """A closed (C, 2) polygon without repeated corners and corners on a straight run."""
    poly = np.asarray(polygon, dtype=np.float64)
    while len(poly) >= 3:
        prev, nxt = np.roll(poly, 1, axis=0), np.roll(poly, -1, axis=0)
        a, b = poly - prev, nxt - poly
        cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
        scale = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        straight = (np.abs(cross) <= tol * np.maximum(scale, tol)) & ((a * b).sum(1) >= 0)
        repeated = np.linalg.norm(a, axis=1) < tol
        drop = straight | repeated
        if not drop.any():
            break
        poly = poly[~drop] if not drop.all() else poly[:0]
    return poly


def weld_groups(points: np.ndarray, weld: float) -> np.ndarray:
    """(N,) group ids 0..G-1 (numbered by first appearance) of points joined when closer than `weld`,
    transitively. By distance, not by rounding to a grid: two points 1e-9 apart on either side of a
    grid line stayed apart and split a floor into two polygons."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(points)
    pairs = cKDTree(points).query_pairs(weld, output_type="ndarray") if n else np.zeros((0, 2), np.int64)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first)] = np.arange(len(first))  # groups numbered in order of their first point
    return rank[inverse.reshape(-1)]


def mesh_outline_xz(vertices: np.ndarray, faces: np.ndarray, weld: float = 1e-4) -> list[np.ndarray]:
    """The xz boundary polygons of a (floor) mesh: vertices closer than `weld` are merged first, each
    boundary loop becomes its own (C, 2) polygon, straight runs are reduced to their corners."""
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    inverse = weld_groups(vertices, weld)
    _, first = np.unique(inverse, return_index=True)
    welded = vertices[first]
    polygons = []
    for loop in mesh_boundary_loops(inverse[np.asarray(faces, dtype=np.int64)]):
        poly = drop_collinear(welded[loop][:, [0, 2]])
        if len(poly) >= 3 and abs(polygon_area_xz(poly)) > 1e-6:
            polygons.append(poly)
    return polygons
