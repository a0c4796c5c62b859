"""Scene-graph matching baseline (DESIGN §7a): objects as nodes, layout as edges, no learned field.

Graph: a node per object (class, box size); an edge per ordered pair (a, b) with the floor-plane
distance between box centres and the direction of b seen from a, as a bearing in a's own box frame
(so both are unchanged by moving the whole scene).

Matching: every injective assignment of the RoI objects to same-class reference objects (an object
may also stay unmatched, at a fixed penalty) is scored at once, as rows of one array, by node cost
(box size ratios) + edge cost (distances and bearings, a mirrored layout allowed); the cost terms are
in docs/decisions.md, "Scene-graph baseline". An object whose class the reference lacks stays
unmatched.

Map: a similarity (yaw, mirror as found, xz scale) fitted to the matched box centres (for one
matched object: its box frame), then every RoI keypoint is snapped onto its matched reference box by
the cube symmetry closest to that similarity (`match.local.box_snap`, the matcher's own snap), and
the final map is the similarity refitted to all snapped keypoints plus a thin-plate spline over them
(`common.map_from_pairs`). No assignment with a matched object: "no analogy". With `assign=True`
(method `scene_graph_assign`) the snapped keypoints first move onto distinct keypoints of their
reference object (`match.local.assign_points`), as in our fine stage.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from scene_analogy.baselines.common import fit_similarity, map_from_pairs, single_map_result
from scene_analogy.match.inputs import MatchScene, pad_objects
from scene_analogy.match.local import assign_points, box_snap
from scene_analogy.match.relations import edge_costs, node_cost

__all__ = ["SceneGraphMatcher"]

UNMATCHED = -1


class SceneGraphMatcher:
    """`method(target, reference, roi) -> AnalysisResult` (see `evaluation.FieldMethod`)."""

    name = "scene_graph"

    def __init__(self, smoothing: float = 0.5, unmatched_penalty: float = 1.0, max_assignments: int = 200_000,
                 assign: bool = False, assign_max_points: int = 512):
        self.smoothing, self.unmatched_penalty, self.max_assignments = smoothing, unmatched_penalty, max_assignments
        self.assign, self.assign_max_points = assign, assign_max_points
        if assign:
            self.name = "scene_graph_assign"

    def assignments(self, target: MatchScene, reference: MatchScene, roi: np.ndarray) -> np.ndarray:
        """(K, R) reference object (or -1) per RoI object: all injective same-class assignments."""
        options = [np.append(np.flatnonzero(reference.class_ids == target.class_ids[i]), UNMATCHED) for i in roi]
        count = int(np.prod([len(o) for o in options]))
        if count > self.max_assignments:
            raise ValueError(f"{count} assignments exceed max_assignments={self.max_assignments}")
        grid = np.stack(np.meshgrid(*options, indexing="ij"), -1).reshape(-1, len(roi))
        matched = grid >= 0
        # Injective: no reference object twice (unmatched slots never collide).
        same = (grid[:, :, None] == grid[:, None, :]) & matched[:, :, None]
        distinct = ~(same.sum((1, 2)) > matched.sum(1))
        return grid[distinct & matched.any(1)]

    def costs(self, target: MatchScene, reference: MatchScene, roi: np.ndarray, grid: np.ndarray):
        """Cost (K,) of each assignment and its mirror flag (K,) (module docstring; the node and edge
        costs are `match.relations`, shared with our coarse ranking)."""
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731
        rows = torch.as_tensor(grid, dtype=torch.long)
        node = node_cost(t(target.box_sizes[roi]), t(reference.box_sizes), rows).numpy()
        edge = edge_costs(t(target.box_centres[roi]), t(target.box_rots[roi]), t(reference.box_centres),
                          t(reference.box_rots), rows).numpy()
        mirror = edge[:, 1] < edge[:, 0]
        cost = node + edge.min(1) + self.unmatched_penalty * (grid < 0).mean(1)
        return cost, mirror

    def __call__(self, target: MatchScene, reference: MatchScene, roi) -> object:
        start = time.perf_counter()
        roi = np.asarray(roi, dtype=np.int64).reshape(-1)
        grid = self.assignments(target, reference, roi)
        if len(grid) == 0:
            return single_map_result(roi, None, start)
        cost, mirror = self.costs(target, reference, roi, grid)
        best = int(np.argmin(cost))
        match = grid[best]
        used = np.flatnonzero(match >= 0)
        # The map is mirrored when the layout is (bearings flipped) XOR the box frames differ in
        # handedness (a mirrored scene may carry improper box rotations, which un-flip the bearings).
        frames_flip = np.linalg.det(target.box_rots[roi[used[0]]]) * np.linalg.det(reference.box_rots[match[used[0]]]) < 0
        mirrored = bool(mirror[best]) != bool(frames_flip)
        src_c, dst_c = target.box_centres[roi[used]], reference.box_centres[match[used]]
        if len(used) >= 2:
            linear, _ = fit_similarity(src_c, dst_c, reflect=mirrored if len(used) == 2 else None)
        else:  # one object: its box frames give the rotation (mirror when the handedness differs)
            linear = reference.box_rots[match[used[0]]] @ np.linalg.inv(target.box_rots[roi[used[0]]])
        points, dst = self._snap(linear, target, reference, roi[used], match[used],
                                 self.assign_max_points if self.assign else 0)
        corr = np.stack([roi[used], match[used]], 1)
        mirrored = bool(np.linalg.det(linear) < 0)
        amap = map_from_pairs(points, dst, self.smoothing, reflect=mirrored, cost=float(cost[best]),
                              correspondence=corr, meta={"method": self.name, "mirror": mirrored,
                                                         "assignments": int(len(grid))})
        return single_map_result(roi, amap, start)

    @staticmethod
    def _snap(linear, target, reference, roi_objects, ref_objects, assign_max_points: int = 0):
        """The matched RoI objects' keypoints (flat, object by object) and each one snapped onto its
        matched reference box (`box_snap`, all objects in one batched call); with
        `assign_max_points` > 0 then assigned to distinct reference keypoints (`assign_points`)."""
        index, mask = pad_objects(target, roi_objects)
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        box = lambda s, k: tuple(t(a[k]) for a in (s.box_centres, s.box_sizes, s.box_rots))  # noqa: E731
        lin = t(linear)[None].expand(len(roi_objects), 3, 3)
        snapped = box_snap(t(target.points[index]), lin, box(target, roi_objects), box(reference, ref_objects))
        if assign_max_points > 0:
            ref_index, ref_mask = pad_objects(reference, ref_objects)
            snapped = assign_points(snapped, t(reference.points[ref_index]), torch.as_tensor(ref_mask.sum(1)),
                                    torch.as_tensor(mask), assign_max_points)
        return target.points[index][mask].astype(np.float64), snapped.double().numpy()[mask]
