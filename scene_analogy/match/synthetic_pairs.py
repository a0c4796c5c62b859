"""Matcher inputs with known answers, for tests and benchmarks: box keypoints for a `Scene` and a
transformed copy of a `MatchScene` (the true map is then known exactly).
"""

from __future__ import annotations

import numpy as np

from ..geometry import MIRROR_X, yaw_matrix
from ..keypoints import FLOOR_LABEL
from ..scene import Scene
from .inputs import MatchScene

__all__ = ["box_keypoint_scene", "transformed_copy", "true_linear", "select_objects"]


def box_keypoint_scene(scene: Scene, num_points: int, rng: np.random.Generator, surface: bool = True) -> MatchScene:
    """A MatchScene whose object keypoints are random points on (surface=True) or inside each
    object's box, plus the floor-plan corners. Vectorised over objects and points."""
    n = len(scene)
    local = rng.random((n, num_points, 3)) - 0.5
    if surface:  # push one random coordinate of each point onto a face of the box
        axis = rng.integers(0, 3, (n, num_points))
        side = rng.integers(0, 2, (n, num_points)) - 0.5
        np.put_along_axis(local, axis[..., None], side[..., None], axis=2)
    world = scene.bbox_centroids[:, None] + np.einsum("nij,nkj->nki", scene.rots, local * scene.bbox_sizes[:, None])
    floor = scene.floor.points
    points = np.concatenate([world.reshape(-1, 3), floor])
    labels = np.concatenate([np.repeat(scene.class_ids + 1, num_points), np.full(len(floor), FLOOR_LABEL)])
    instance = np.concatenate([np.repeat(np.arange(n), num_points), np.full(len(floor), -1)])
    return MatchScene(points, labels, instance, scene.class_ids, scene.bbox_centroids, scene.bbox_sizes, scene.rots)


def true_linear(yaw: float, mirror: bool, scale: float) -> np.ndarray:
    """A = R_yaw . M . diag(s, 1, s): the matcher's own parametrisation."""
    return yaw_matrix(yaw) @ (MIRROR_X if mirror else np.eye(3)) @ np.diag([scale, 1.0, scale])


def transformed_copy(scene: MatchScene, yaw: float, mirror: bool, scale: float, offset) -> MatchScene:
    """The scene moved by x -> A x + b (A = true_linear(...)). Boxes stay exact because A's xz scale
    is uniform and commutes with every rotation about +y: rots -> R M rots, sizes -> sizes * (s, 1, s)."""
    linear = true_linear(yaw, mirror, scale)
    offset = np.asarray(offset, dtype=np.float64)
    rigid = yaw_matrix(yaw) @ (MIRROR_X if mirror else np.eye(3))
    return MatchScene(scene.points.astype(np.float64) @ linear.T + offset, scene.labels, scene.instance,
                      scene.class_ids, scene.box_centres @ linear.T + offset,
                      scene.box_sizes * np.array([scale, 1.0, scale]), rigid @ scene.box_rots)


def select_objects(scene: MatchScene, keep, extra: MatchScene | None = None) -> MatchScene:
    """The objects `keep` of `scene` (renumbered 0..len(keep)-1, floor kept), followed by all objects
    of `extra` (its floor dropped): for distractors added or objects removed."""
    keep = np.asarray(keep, dtype=np.int64)
    new_id = np.full(len(scene) + 1, -2, dtype=np.int64)
    new_id[keep] = np.arange(len(keep))
    new_id[-1] = -1  # instance -1 (floor) reads the last slot
    ids = new_id[scene.instance]
    rows = ids >= -1
    parts = [(scene.points[rows], scene.labels[rows], ids[rows])]
    boxes = [(scene.class_ids[keep], scene.box_centres[keep], scene.box_sizes[keep], scene.box_rots[keep])]
    if extra is not None:
        obj = extra.instance >= 0
        parts.append((extra.points[obj], extra.labels[obj], extra.instance[obj] + len(keep)))
        boxes.append((extra.class_ids, extra.box_centres, extra.box_sizes, extra.box_rots))
    cat = lambda items, k: np.concatenate([item[k] for item in items])  # noqa: E731
    return MatchScene(cat(parts, 0), cat(parts, 1), cat(parts, 2), cat(boxes, 0), cat(boxes, 1),
                      cat(boxes, 2), cat(boxes, 3))
