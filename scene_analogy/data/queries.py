"""Training query points for a triplet (DESIGN §4).

- `obj_match_points`: surface samples of each anchor object matched to the positive's replacement
  model by Hungarian assignment in the shared box frame (canonical, scaled, box-centred), and carried
  into the negative by that object's noisy pose;
- box grid (`--query_obj_match_add_bbox`): a regular grid inside each anchor box, at the same world
  location in all three scenes (it asks "what is here?" where the negative moved things away).
Queries of one triplet come as a (3, Q, 3) array: anchor, positive, negative rows of the same points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from scene_analogy.structures.samples import PointSamples
from scene_analogy.structures.scene import Scene

QUERY_POINT_TYPES = ("obj_match_points", "bbox_grid")


@dataclass(frozen=True)
class QueryConfig:
    query_point_type: str = "obj_match_points"
    add_bbox_grid: bool = False
    grid_size: int = 7

    def __post_init__(self) -> None:
        if self.query_point_type not in QUERY_POINT_TYPES:
            raise ValueError(f"query_point_type must be one of {QUERY_POINT_TYPES}, got '{self.query_point_type}'")


def box_frame_points(scene: Scene, canonical: np.ndarray) -> np.ndarray:
    """Per-object canonical points (N, P, 3), scaled and centred on the object's box."""
    return (canonical - scene.canonical_box_centres()[:, None, :]) * scene.scales[:, None, :]


def match_objects(anchor_pts: np.ndarray, positive_pts: np.ndarray) -> np.ndarray:
    """For each object, the Hungarian assignment (N, P) of anchor points to positive points.

    One small assignment per object (scipy has no batched solver); costs are squared distances.
    """
    cost = ((anchor_pts[:, :, None, :] - positive_pts[:, None, :, :]) ** 2).sum(-1)  # (N, P, P)
    return np.stack([linear_sum_assignment(c)[1] for c in cost]) if len(cost) else np.zeros((0, 0), int)


def matched_surface_queries(triplet: dict[str, Scene], samples: PointSamples) -> tuple[np.ndarray, np.ndarray]:
    """(3, N*P, 3) matched surface queries and the (N*P,) object index of each."""
    anchor, positive, negative = triplet["pos"], triplet["pair_pos"], triplet["neg"]
    canon_a = samples.stack(anchor.model_ids)
    canon_p = samples.stack(positive.model_ids)
    match = match_objects(box_frame_points(anchor, canon_a), box_frame_points(positive, canon_p))
    canon_p = np.take_along_axis(canon_p, match[..., None], axis=1)
    out = np.stack([anchor.world_points(canon_a), positive.world_points(canon_p), negative.world_points(canon_a)])
    n, p = canon_a.shape[:2]
    return out.reshape(3, n * p, 3), np.repeat(np.arange(n), p)


def box_grid_queries(scene: Scene, grid_size: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """(N * g^3, 3) points on a regular grid inside each oriented box, and their object index."""
    ticks = (np.arange(grid_size) + 0.5) / grid_size - 0.5
    unit = np.stack(np.meshgrid(ticks, ticks, ticks, indexing="ij"), -1).reshape(-1, 3)  # (g^3, 3)
    local = unit[None] * scene.bbox_sizes[:, None, :]
    world = local @ np.swapaxes(scene.rots, 1, 2) + scene.bbox_centroids[:, None, :]
    return world.reshape(-1, 3), np.repeat(np.arange(len(scene)), len(unit))


def triplet_queries(triplet: dict[str, Scene], samples: PointSamples, cfg: QueryConfig,
                    links: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All query points of a triplet: (3, Q, 3) for anchor / positive / negative, and (Q,) object ids.

    `links` (`triplet_layout_changes.read_triplet_links`) are needed for triplets with layout changes;
    without any, the objects are index-aligned in all three scenes (default triplets)."""
    if links:
        return _linked_queries(triplet, samples, cfg, links)
    parts = []
    if cfg.query_point_type == "obj_match_points":
        parts.append(matched_surface_queries(triplet, samples))
    if cfg.query_point_type == "bbox_grid" or cfg.add_bbox_grid:
        grid, owner = box_grid_queries(triplet["pos"], cfg.grid_size)
        parts.append((np.repeat(grid[None], 3, axis=0), owner))
    points = np.concatenate([p for p, _ in parts], axis=1)
    owners = np.concatenate([o for _, o in parts])
    return points, owners


def _linked_queries(triplet, samples, cfg, links) -> tuple[np.ndarray, np.ndarray]:
    """Queries of a triplet with layout changes: only anchor objects that have a positive give queries
    (a dropped object's points would be matched to nothing; a distractor has no anchor object).

    Box grids: the anchor box's grid, carried into the positive by its object's (perturbed) pose; in the
    negative at the anchor place, except for swapped objects, where it follows the object."""
    anchor, positive, negative = triplet["pos"], triplet["pair_pos"], triplet["neg"]
    idx_map = links.get("pair_pos_idx_map", np.arange(len(positive)))
    swapped = links.get("neg_swapped", np.zeros(len(anchor), dtype=bool))
    in_pos = np.flatnonzero(idx_map >= 0)
    kept = idx_map[in_pos]  # anchor object of each used positive object
    aligned = {"pos": anchor.subset(kept), "pair_pos": positive.subset(in_pos), "neg": negative.subset(kept)}
    parts = []
    if cfg.query_point_type == "obj_match_points":
        points, owner = matched_surface_queries(aligned, samples)
        parts.append((points, kept[owner]))
    if cfg.query_point_type == "bbox_grid" or cfg.add_bbox_grid:
        local, owner = _box_grid_local(aligned["pos"].bbox_sizes, cfg.grid_size)
        neg_frame = np.where(swapped[kept][owner, None, None], aligned["neg"].rots[owner], aligned["pos"].rots[owner])
        neg_centre = np.where(swapped[kept][owner, None], aligned["neg"].bbox_centroids[owner],
                              aligned["pos"].bbox_centroids[owner])
        rows = [_posed(local, aligned[p].rots[owner], aligned[p].bbox_centroids[owner]) for p in ("pos", "pair_pos")]
        parts.append((np.stack(rows + [_posed(local, neg_frame, neg_centre)]), kept[owner]))
    points = np.concatenate([p for p, _ in parts], axis=1)
    owners = np.concatenate([o for _, o in parts])
    return points, owners


def _box_grid_local(sizes: np.ndarray, grid_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(N * g^3, 3) grid points in box coordinates (box-centred, unrotated) and their object index."""
    ticks = (np.arange(grid_size) + 0.5) / grid_size - 0.5
    unit = np.stack(np.meshgrid(ticks, ticks, ticks, indexing="ij"), -1).reshape(-1, 3)
    local = unit[None] * sizes[:, None, :]
    return local.reshape(-1, 3), np.repeat(np.arange(len(sizes)), len(unit))


def _posed(local: np.ndarray, rots: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return np.einsum("qij,qj->qi", rots, local) + centres
