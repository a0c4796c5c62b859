"""Free points around the RoI and their ground truth: the open space a map must carry straight (DESIGN §6).

What users transfer (trajectories, placements) lies mostly between objects, where no keypoint is. Per
RoI object, `FREE_POINTS_PER_OBJECT` seeded points are drawn outside every target box, within
`FREE_MARGIN` of the RoI object's box horizontally and `FREE_HEIGHT` above the floor. A free point's
ground truth is its position in the box frame of its nearest RoI object (per-axis size ratio), carried
to that object's ground-truth reference box: c_ref + R_ref D R_tgt^-1 (p - c_tgt). Boxes are upright
(rotations about +y, possibly mirrored), as every scene of DESIGN §8 has them.
"""

from __future__ import annotations

import numpy as np

from scene_analogy.structures.scene import Scene

FREE_POINTS_PER_OBJECT = 64
FREE_MARGIN = 0.5  # metres, horizontally around the RoI object's box
FREE_HEIGHT = (0.05, 2.0)  # metres above the floor
_DRAWS_PER_ROUND = 4  # candidates per wanted point and rejection round
_MAX_ROUNDS = 50


def box_local(points: np.ndarray, centres: np.ndarray, rots: np.ndarray) -> np.ndarray:
    """Points (M, 3) in the frames of N boxes: (N, M, 3) = R^-1 (p - c). Box rotations are orthogonal
    (a mirror has det -1), so R^-1 = R^T."""
    return np.einsum("nji,nmj->nmi", rots, points[None] - centres[:, None])


def box_distances(points: np.ndarray, scene: Scene) -> np.ndarray:
    """Euclidean distance (N, M) of every point to every oriented box of the scene (0 inside)."""
    local = box_local(points, scene.bbox_centroids, scene.rots)
    outside = np.maximum(np.abs(local) - scene.bbox_sizes[:, None] / 2, 0.0)
    return np.linalg.norm(outside, axis=-1)


def inside_any_box(points: np.ndarray, scene: Scene) -> np.ndarray:
    """(M,) whether each point lies inside (or on) some box of the scene."""
    if len(scene) == 0:
        return np.zeros(len(points), bool)
    return (box_distances(points, scene) == 0.0).any(axis=0)


def _candidates(scene: Scene, obj: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` points drawn uniformly in the box's footprint grown by the margin (box frame), at a
    uniform height above the floor; those farther than the margin from the footprint are dropped."""
    half = scene.bbox_sizes[obj, [0, 2]] / 2 + FREE_MARGIN
    uw = rng.uniform(-half, half, size=(count, 2))
    footprint = scene.bbox_sizes[obj, [0, 2]] / 2
    near = np.linalg.norm(np.maximum(np.abs(uw) - footprint, 0.0), axis=1) <= FREE_MARGIN
    floor = scene.floor.floor_y
    height = rng.uniform(floor + FREE_HEIGHT[0], floor + FREE_HEIGHT[1], size=count)
    centre, rot = scene.bbox_centroids[obj], scene.rots[obj]
    local = np.stack([uw[:, 0], height - centre[1], uw[:, 1]], 1)  # upright box: local y is world y - c_y
    return (local @ rot.T + centre)[near]


def free_points(scene: Scene, roi: np.ndarray, rng: np.random.Generator,
                per_object: int = FREE_POINTS_PER_OBJECT) -> tuple[np.ndarray, np.ndarray]:
    """Free points around each RoI object: (K, 3) world points and (K,) the RoI object each was drawn
    around. Fewer than `per_object` only when the space around an object is nearly all furniture."""
    points, owners = [], []
    for obj in np.asarray(roi):  # 2-3 objects per pair; the points of one object are drawn as arrays
        kept = np.zeros((0, 3))
        for _ in range(_MAX_ROUNDS):
            draw = _candidates(scene, int(obj), _DRAWS_PER_ROUND * per_object, rng)
            kept = np.concatenate([kept, draw[~inside_any_box(draw, scene)]])[:per_object]
            if len(kept) == per_object:
                break
        points.append(kept)
        owners.append(np.full(len(kept), int(obj)))
    return np.concatenate(points), np.concatenate(owners)


def free_ground_truth(points: np.ndarray, target: Scene, roi: np.ndarray, reference: Scene,
                      gt_objects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth (K, 3) of free points (module docstring) and (K,) whether it is free in the reference
    (outside every reference box). `gt_objects[i]` is the reference object of RoI object `roi[i]`."""
    roi, gt_objects = np.asarray(roi), np.asarray(gt_objects)
    nearest = np.argmin(box_distances(points, target.subset(roi)), axis=0)  # index into roi
    t_size, r_size = target.bbox_sizes[roi[nearest]], reference.bbox_sizes[gt_objects[nearest]]
    ratio = np.divide(r_size, t_size, out=np.ones_like(r_size), where=t_size > 0)
    local = np.einsum("mji,mj->mi", target.rots[roi[nearest]], points - target.bbox_centroids[roi[nearest]])
    gt = np.einsum("mij,mj->mi", reference.rots[gt_objects[nearest]], local * ratio)
    gt += reference.bbox_centroids[gt_objects[nearest]]
    return gt, ~inside_any_box(gt, reference)
