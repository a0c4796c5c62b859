"""Scene analogies between the user's own scenes: keypoints, boxes, checkpoint choice, the matcher.

`find_analogy(target, reference, roi_ids)` takes two `OwnScene`s (`own_data.load_scene`) and the
target instance ids of the region of interest, and runs the whole coarse-to-fine matcher
(`match.pipeline.find_analogy`). Decisions where the design is silent:

- Keypoints: per object, at most `max_points` of its points (a seeded random subset) are kept, then
  farthest-point sampling picks `num_keypoints` of them (50, the density the shipped fields were
  trained on: `sample_50` per object). Objects with fewer points keep them all. No floor outline:
  own scenes need none, so the scene keypoints are object keypoints only.
- Boxes: oriented boxes per object, yaw about +y only (furniture stands upright): the footprint is
  the minimum-area rectangle of the object's xz points over yaws in [0, 90) degrees in steps of 1
  degree (a square footprint's yaw is arbitrary: any of them fits), and the vertical extent is the
  object's y-range. Computed from (at most 512 points of) the same random subset as the keypoints.
- Checkpoint: `checkpoint=None` picks `pretrained/synthetic_default` when both scenes carry class
  labels, else `pretrained/no_semantic` (labels are then ignored). A semantics-free checkpoint
  ignores labels; a checkpoint with class embeddings needs labelled scenes. Labels are mapped onto
  the class table of the checkpoint's size (8: 3D-FRONT, 17: ARKitScenes; `own_data.object_classes`).
- Frames: matching runs in y-up coordinates; `OwnAnalogy.maps` are the same maps expressed in the
  files' own frames (target file -> reference file), ready for the user's points.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from scene_analogy.field.checkpoint import PRETRAINED
from scene_analogy.files.errors import DataError
from scene_analogy.match.analogy_map import AnalogyMap
from scene_analogy.match.inputs import MatchConfig, MatchScene
from scene_analogy.match.pipeline import AnalysisResult
from scene_analogy.match.pipeline import find_analogy as match_analogy
from scene_analogy.ops.geometry import yaw_matrix
from scene_analogy.ops.point_sets import farthest_point_sample
from scene_analogy.structures.classes import TABLES, ClassTable
from scene_analogy.user_scenes.formats import UP_ROTATIONS, OwnScene, object_classes
from scene_analogy.user_scenes.transfer import map_in_frame

__all__ = ["OwnAnalogy", "find_analogy", "match_scene", "oriented_boxes", "choose_checkpoint",
           "SEMANTIC_CHECKPOINT", "PLAIN_CHECKPOINT"]

SEMANTIC_CHECKPOINT = PRETRAINED / "synthetic_default"
PLAIN_CHECKPOINT = PRETRAINED / "no_semantic"
_YAW_STEPS = 90
_MIN_SIZE = 0.01  # metres
_BOX_POINTS = 512  # (objects x points x yaw steps) floats per array in oriented_boxes


def oriented_boxes(points: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upright minimum-footprint boxes of padded objects: points (N, M, 3), mask (N, M) bool ->
    centres (N, 3), sizes (N, 3), rots (N, 3, 3) with world = centre + rot @ (local * size)."""
    theta = np.arange(_YAW_STEPS) * (np.pi / 2 / _YAW_STEPS)
    axes = yaw_matrix(-theta)  # (A, 3, 3): turns local x onto (cos t, 0, sin t), local z onto (-sin t, 0, cos t)
    x, y, z = (points[..., k, None] for k in range(3))
    u = x * axes[:, 0, 0] + z * axes[:, 2, 0]  # (N, M, A): coordinate along the box's local x axis
    v = x * axes[:, 0, 2] + z * axes[:, 2, 2]  # along its local z axis
    m = mask[..., None]
    lo_u, hi_u = np.where(m, u, np.inf).min(1), np.where(m, u, -np.inf).max(1)
    lo_v, hi_v = np.where(m, v, np.inf).min(1), np.where(m, v, -np.inf).max(1)
    best = ((hi_u - lo_u) * (hi_v - lo_v)).argmin(1)  # (N,)
    rows = np.arange(len(points))
    pick = lambda a: a[rows, best]  # noqa: E731
    rots = axes[best]
    mid_u, mid_v = (pick(lo_u) + pick(hi_u)) / 2, (pick(lo_v) + pick(hi_v)) / 2
    y_lo, y_hi = np.where(mask, y[..., 0], np.inf).min(1), np.where(mask, y[..., 0], -np.inf).max(1)
    centres = np.einsum("nij,nj->ni", rots, np.stack([mid_u, (y_lo + y_hi) / 2, mid_v], 1))
    sizes = np.stack([pick(hi_u) - pick(lo_u), y_hi - y_lo, pick(hi_v) - pick(lo_v)], 1)
    sizes = np.maximum(sizes, _MIN_SIZE)  # a flat or one-point object still has a box (the matcher divides by sizes)
    return centres, sizes, rots


def _padded_objects(scene: OwnScene, max_points: int, width: int, seed: int):
    """Each object's points (a seeded random subset of at most max_points), padded to (N, W, 3),
    with its real count (N,). Objects with fewer than `width` points repeat theirs cyclically."""
    _, obj = np.unique(scene.instance, return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(obj))
    order = order[np.argsort(obj[order], kind="stable")]  # by object, random within each
    counts = np.bincount(obj)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    kept = np.minimum(counts, max_points)
    w = max(width, int(kept.max()))
    rank = np.arange(w)[None, :] % np.maximum(kept, 1)[:, None]  # cycle short objects
    index = order[starts[:, None] + rank]
    return scene.points[index], kept


def match_scene(scene: OwnScene, class_ids: np.ndarray | None, num_keypoints: int = 50,
                max_points: int = 2000, seed: int = 0) -> MatchScene:
    """The matcher's view of an own scene: FPS keypoints and oriented boxes per object (module
    docstring); class_ids (N,) in the order of `scene.object_ids`, or None (semantics-free)."""
    padded, kept = _padded_objects(scene, max_points, num_keypoints, seed)
    n, w = padded.shape[:2]
    mask = np.arange(w)[None, :] < kept[:, None]
    # Boxes from the first _BOX_POINTS of each random subset: plenty for extents, bounded memory.
    centres, sizes, rots = oriented_boxes(padded[:, :_BOX_POINTS], mask[:, :_BOX_POINTS])
    lengths = torch.as_tensor(np.maximum(kept, num_keypoints))  # cycled copies fill short objects
    picks = farthest_point_sample(torch.as_tensor(padded), num_keypoints, lengths).numpy()
    take = np.arange(num_keypoints)[None, :] < np.minimum(kept, num_keypoints)[:, None]  # distinct picks first
    obj = np.broadcast_to(np.arange(n)[:, None], take.shape)[take]
    points = padded[obj, picks[take]]
    classes = np.zeros(n, dtype=np.int64) if class_ids is None else np.asarray(class_ids, dtype=np.int64)
    return MatchScene(points, classes[obj] + 1, obj, classes, centres, sizes, rots)


def choose_checkpoint(target: OwnScene, reference: OwnScene, checkpoint=None,
                      ignore_labels: bool = False) -> tuple[Path, bool]:
    """(checkpoint path, whether class labels are used): the rule of the module docstring."""
    labelled = target.labels is not None and reference.labels is not None and not ignore_labels
    if checkpoint is None:
        return (SEMANTIC_CHECKPOINT if labelled else PLAIN_CHECKPOINT), labelled
    return Path(checkpoint), labelled


def _class_table(num_classes: int, path) -> ClassTable:
    for table in TABLES.values():
        if len(table) == num_classes:
            return table
    return ClassTable(f"{num_classes}-class", tuple(str(i) for i in range(num_classes)))


@dataclass
class OwnAnalogy:
    """The outcome on own scenes. `result` holds the y-up maps; `maps` the same maps in the files'
    frames (target file -> reference file); `roi` the RoI object indices (rows of `target_match`'s
    objects), `roi_ids` the user's instance ids."""

    target: OwnScene
    reference: OwnScene
    target_match: MatchScene
    reference_match: MatchScene
    roi_ids: np.ndarray
    roi: np.ndarray
    result: AnalysisResult
    checkpoint: str
    semantic: bool
    threshold: float
    maps: list[AnalogyMap] = field(default_factory=list)

    @property
    def best(self) -> AnalogyMap | None:
        """The best map in the files' frames, or None ("no analogy": its cost is above threshold)."""
        return self.maps[0] if self.result.best is not None else None

    def correspondence_ids(self, k: int) -> list[list[int]]:
        """Map k's object correspondences as [target instance id, reference instance id] pairs."""
        corr = self.result.maps[k].correspondence
        return [[int(self.target.object_ids[t]), int(self.reference.object_ids[r])] for t, r in corr]


def find_analogy(target: OwnScene, reference: OwnScene, roi_ids, checkpoint: str | os.PathLike | None = None,
                 topk: int = 3, cfg: MatchConfig | None = None, num_keypoints: int = 50,
                 ignore_labels: bool = False, device: str = "cpu", seed: int = 0) -> OwnAnalogy:
    """Map the target objects `roi_ids` (instance ids) into `reference`; up to `topk` distinct maps."""
    from scene_analogy.field.checkpoint import load_field

    roi_ids = np.asarray(roi_ids, dtype=np.int64).reshape(-1)
    roi_ids = roi_ids[np.sort(np.unique(roi_ids, return_index=True)[1])]  # a repeated id counts once
    absent = np.setdiff1d(roi_ids, target.object_ids)
    if len(roi_ids) == 0 or len(absent):
        raise DataError(target.path, f"RoI instance id {int(absent[0]) if len(absent) else '(none)'} is not in the "
                                     f"scene (its instance ids: {_id_list(target.object_ids)})")
    path, semantic = choose_checkpoint(target, reference, checkpoint, ignore_labels)
    field_module = load_field(path, map_location=device)
    if field_module.cfg.uses_semantics and not semantic:
        if ignore_labels:  # both scenes may have labels: the flag is what conflicts with the checkpoint
            raise DataError(path, "needs class labels, but --ignore_labels matches without them; drop "
                                  "--ignore_labels, or leave --checkpoint out to use the semantics-free one")
        unlabelled = target if target.labels is None else reference
        raise DataError(unlabelled.path, f"the scene has no class labels but checkpoint {path} needs them; "
                                         f"leave --checkpoint out to use the semantics-free one")
    semantic = semantic and field_module.cfg.uses_semantics
    table = _class_table(field_module.cfg.num_classes, path)
    classes = [object_classes(s, table) if semantic else None for s in (target, reference)]
    torch.manual_seed(seed)
    tgt, ref = (match_scene(s, c, num_keypoints, seed=seed) for s, c in zip((target, reference), classes))
    # Boxes fitted to the clouds: axis-aligned, no front, not the objects' frames, so neither bearing nor
    # relation term, and the spline displacement rather than box-map parts (MatchConfig).
    cfg = cfg or MatchConfig(**MatchConfig.front_terms(canonical_boxes=False), local_displacement="spline")
    cfg = dataclasses.replace(cfg, topk_maps=topk, fine_candidates=max(cfg.fine_candidates, topk), device=device)
    roi = np.searchsorted(target.object_ids, roi_ids)
    result = match_analogy(tgt, ref, roi, field_module, field_module, cfg)
    into_files = (UP_ROTATIONS[target.up], UP_ROTATIONS[reference.up])
    maps = [map_in_frame(m, *into_files) for m in result.maps]
    return OwnAnalogy(target, reference, tgt, ref, roi_ids, roi, result, str(path), semantic,
                      cfg.valid_threshold(field_module), maps)


def _id_list(ids: np.ndarray, most: int = 20) -> str:
    shown = ", ".join(str(int(i)) for i in ids[:most])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > most else "")
