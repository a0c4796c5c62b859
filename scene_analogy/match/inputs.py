"""What the matcher takes in: `MatchScene` (one scene's keypoints and object boxes) and `MatchConfig`
(every knob of DESIGN §5, named after the published `main_field_match` flags where one exists).

Box convention (the same as `Scene`): an object's box is (centre (3,), size (3,), rot (3, 3)) with
world = centre + rot @ (local * size) for local in [-0.5, 0.5]^3; `rot` may be improper (det -1)
after a mirrored transform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from scene_analogy.files.errors import DataError
from scene_analogy.structures.keypoints import FLOOR_LABEL, Keypoints
from scene_analogy.structures.scene import Scene

__all__ = ["MatchScene", "MatchConfig", "pad_objects", "DEFAULT_VALID_THRES", "LOCAL_ASSIGN_MODES", "CANDIDATE_YAWS",
           "LOCAL_DISPLACEMENTS"]

# MatchConfig.local_assign: what the fine stage assigns to reference keypoints (`local.py`, step 3).
LOCAL_ASSIGN_MODES = ("snap", "optimised", "none")
# MatchConfig.candidate_yaws: where the coarse candidates' yaws come from (`coarse.generate_candidates`).
CANDIDATE_YAWS = ("grid", "boxes", "both")
# MatchConfig.local_displacement: the form of d(x) (`local.py`, step 4).
LOCAL_DISPLACEMENTS = ("parts", "spline")

# The no-analogy threshold of a field without its own calibration: measured for the `fast`
# architecture (`pipeline.py`).
DEFAULT_VALID_THRES = 0.6


@dataclass(frozen=True)
class MatchConfig:
    """Matcher settings (DESIGN §5). Distances are metres, costs are descriptor distances in [0, 2].

    local_steps = 25, local_lr = 4e-3: Adam moves a coordinate by at most ~lr per step, so the steps
    bound the drift of a point to ~0.1 m per axis, as 100 steps of 1e-3 did (the earlier default: the
    same maps and nearly the same costs on the calibration pairs in a quarter of the time,
    docs/decisions.md "Speed: fewer steps"). With local_assign "snap" the points only measure the
    field's cost near the snap; with "optimised" / "none" they are the map (lr 1e-3 x 100 was measured
    for those modes). The box snap already lands within centimetres when the coarse map is right, so
    the field only has to polish. On a 1.2x-rescaled, rotated, mirrored
    copy of a scene (untrained field: descriptors no longer agree exactly) PCP@0.10 of the final
    map was 0.98 / 0.94 / 0.89 for local_lr 1e-3 / 2e-3 / 5e-3: larger steps let the points wander
    onto neighbouring keypoints with similar descriptors.
    max_spline_centres = 1024: the spline's system is (K + 4) square in float64 and its LU costs K^3,
    so a RoI of 20,000 points would need 3.2 GB per map and hours of CPU; a larger RoI fits the
    spline through a farthest-point subset of this many of its points (all other stages use every
    point). Evaluation RoIs (2-3 objects x 50 points) are far below it: their maps are unchanged.
    local_valid_thres = None: the no-analogy cost threshold is a property of the local field (its
    costs' scale), so by default it is the one calibrated for the field's weights (`calibration.json`
    beside the checkpoint, read by `load_field`), else `DEFAULT_VALID_THRES` = 0.6, calibrated for the
    `fast` architecture; a number given here wins. fine_candidates = 1: see `pipeline.py`.
    bearing_weight = 0.5 and local_assign = "snap": chosen on 60 synthetic calibration pairs (seed 1,
    not the scored pairs); see `pipeline.py`. The bearing term
    reads the box rotations as the objects' own frames (front +z, handedness kept by mirrors), which
    holds for 3D-FRONT and the synthetic data; ARKit boxes and boxes fitted to one's own point clouds
    have no front, so their commands set it to 0.
    relation_weight = 1.0: the scene graph's node + edge cost of each map's matched objects joins the
    coarse ranking (`relations.py`); chosen on the calibration pairs (docs/decisions.md, "Matcher:
    relational term"); like the bearing term it reads box fronts, so own-data boxes set it to 0.
    refine_points = 16: the refinement's cost is a mean over RoI points, and 16 farthest-point
    samples per object estimate it well: on 100 held-out synthetic pairs PCP@0.25 was 0.586 with 16
    and 0.587 with all 50, for 24 % less CPU per pair. The final costs use every point.
    rank_points = 64: the first ranking of all candidates reads at most this many points per RoI
    object, so a RoI of thousands of points is ranked at the cost of a small one; evaluation RoIs (50
    per object) use all of theirs (the 16-point subset there lost 0.007 PCP@0.25 on the calibration
    pairs, docs/decisions.md "Speed: fewer steps").
    refine_steps = 0: with candidate yaws from the box frames and the box snap of the fine stage, the
    100 Adam steps of the refinement changed no metric on the calibration pairs (docs/decisions.md,
    "Speed: fewer steps") and took 40 % of a pair; own-data pairs (axis-aligned fitted boxes) gave the
    same maps without them too (`benchmarks/own_data.py`).
    candidate_yaws = "boxes": the grid of global_num_rot yaws turned to each object pair's relative box
    yaw (`coarse.generate_candidates`); chosen over the plain grid, grid + boxes and a grid of 8 on
    the calibration sets (docs/decisions.md, "Coarse stage: candidate yaws").
    local_displacement = "parts", part_blend = (0.1, 0.5, 1.5), bump_width = 0.2, bump_smoothing = 1:
    the space within 0.5 m of the RoI boxes follows the objects' box maps, beyond 1.5 m the global
    map; smooth bumps carry the RoI points towards their assigned keypoints. Chosen on the
    calibration sets (docs/decisions.md, "Fine stage: open space follows the objects"). Boxes fitted
    to point clouds (axis-aligned, `MatchScene.from_points`) are not the objects' frames: their box
    maps would round the map's yaw to 90 degrees, so own-data matching keeps local_displacement "spline".
    nms_max_turn = 45: the overlap suppression treats two candidates as one hypothesis only when their
    footprints overlap and they are turned alike (same mirror, yaws within 45 degrees, half a box's
    90-degree symmetry); footprints alone (180) let a near-square RoI's wrong yaw suppress its right
    one: on the 300 calibration pairs PCP@0.25 0.773 -> 0.836, free-PCP 0.882 -> 0.984, right objects
    0.950 -> 0.993 at the same seconds (docs/decisions.md, "Coarse stage: overlap suppression").
    context_probe_weight = 0 (off), context_probe_maps = 8, context_probe_margin = 0.3: with a weight,
    the best 8 coarse maps are re-ranked by key + weight x the field's descriptor distance at 16
    probes per RoI object, 0.3 m outside its box, carried by the map's box map (`probes.py`). On the
    calibration pairs 1.0 lifted single-object RoIs' right objects 0.880 -> 0.930 and left the usual
    RoIs as they were; on the scored pairs (+0.015 single, -0.015 usual) and on own data (grey PLY 7 ->
    5 of 10) it did not hold, so it stays off (docs/decisions.md, "Coarse stage: context probes").
    fine = False is the coarse-only ablation (`pipeline._coarse_only`): the refined coarse maps are
    returned as they are, without the fine stage.
    """

    global_num_rot: int = 4
    candidate_yaws: str = "boxes"  # coarse candidates' yaws: "grid" | "boxes" | "both" (coarse.py)
    mirror: bool = True
    global_dist_valid_thres: float = 1.5
    global_mapping_type: str = "scale_rot"
    global_topk: int = 30
    nms_iou: float = 0.5
    nms_max_turn: float = 45.0  # degrees: candidates turned further apart are never duplicates (coarse.duplicates); 180: footprints only
    refine_steps: int = 0  # Adam steps on the coarse survivors; 0: box-frame candidates as they are (see above)
    refine_lr: float = 1e-3
    refine_points: int = 16  # per RoI object: farthest-point subset driving the refinement (0 = all)
    rank_points: int = 64  # per RoI object: farthest-point subset ranking all candidates first (0 = all)
    idw_k: int = 5
    idw_eps: float = 0.01  # metres; w = 1 / sqrt(d^2 + eps^2): finite weights and gradients at d = 0
    inlier_dist: float = 2.0
    local_steps: int = 25
    local_lr: float = 4e-3
    local_rbf_smoothing: float = 0.5
    max_spline_centres: int = 1024  # larger RoIs: the spline goes through a farthest-point subset
    local_valid_thres: float | None = None  # None: the local field's calibrated threshold (see above)
    bearing_weight: float = 0.5  # coarse ranking: cost + this x `coarse.bearing_mismatch`; 0 for boxes without a front
    relation_weight: float = 1.0  # coarse ranking: + this x `relations.relation_mismatch`; 0 for boxes without a front
    local_assign: str = "snap"  # one-to-one assignment onto reference keypoints: "snap" | "optimised" | "none" (local.py)
    assign_max_points: int = 512  # per RoI object; larger objects keep their optimised points
    local_displacement: str = "parts"  # d(x): "parts" (object box maps blended by distance + bumps, blend.py) | "spline"
    part_blend: tuple = (0.1, 0.5, 1.5)  # metres: (sharpness, inner, outer) of the object parts' weights (blend.py)
    bump_width: float = 0.2  # metres: Gaussian bumps carrying the RoI points towards their final points; 0: none
    bump_smoothing: float = 1.0  # ridge of the bumps' fit (kernel diagonal 1): larger = smoother, less exact
    context_probe_weight: float = 0.0  # coarse re-ranking: key + this x the field's cost at probes around the RoI (probes.py)
    context_probe_maps: int = 8  # best coarse maps the probes re-rank
    context_probe_margin: float = 0.3  # metres: probes stand this far outside each RoI box's footprint
    topk_maps: int = 1
    fine_candidates: int = 1  # best coarse maps (most inliers, then cost) through the fine stage (>= topk_maps)
    context_keypoints: int = 64  # per object: denser objects reach the field through an FPS subset (MatchScene.context)
    duplicate_dist: float = 0.1  # maps whose mapped RoI points differ by less (mean, metres) are duplicates
    fine: bool = True  # False: the coarse-only ablation (maps = refined coarse maps, see pipeline.py)
    device: str = "cpu"

    def __post_init__(self):
        if self.local_assign not in LOCAL_ASSIGN_MODES:
            raise ValueError(f"local_assign must be one of {LOCAL_ASSIGN_MODES}, got {self.local_assign!r}")
        if self.candidate_yaws not in CANDIDATE_YAWS:
            raise ValueError(f"candidate_yaws must be one of {CANDIDATE_YAWS}, got {self.candidate_yaws!r}")
        if self.local_displacement not in LOCAL_DISPLACEMENTS:
            raise ValueError(f"local_displacement must be one of {LOCAL_DISPLACEMENTS}, got {self.local_displacement!r}")
        sharpness, inner, outer = self.part_blend
        if not (sharpness > 0 and 0 <= inner < outer) or self.bump_width < 0 or not self.bump_smoothing > 0:
            raise ValueError(f"part_blend must be (sharpness > 0, 0 <= inner < outer), bump_width >= 0 and "
                             f"bump_smoothing > 0, got {self.part_blend}, {self.bump_width}, {self.bump_smoothing}")
        if not 0 < self.nms_max_turn <= 180:
            raise ValueError(f"nms_max_turn must lie in (0, 180] degrees, got {self.nms_max_turn}")
        if self.global_mapping_type not in ("scale_rot", "affine"):
            raise ValueError(f"global_mapping_type must be 'scale_rot' or 'affine', got {self.global_mapping_type!r}")
        if self.context_probe_weight < 0 or not self.context_probe_margin > 0:
            raise ValueError(f"context_probe_weight must be >= 0 and context_probe_margin > 0, got "
                             f"{self.context_probe_weight}, {self.context_probe_margin}")
        for name in ("global_num_rot", "global_topk", "idw_k", "topk_maps", "fine_candidates", "max_spline_centres",
                     "context_probe_maps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("refine_steps", "local_steps", "refine_points", "rank_points", "context_keypoints"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @classmethod
    def front_terms(cls, canonical_boxes: bool) -> dict:
        """`bearing_weight` and `relation_weight` for boxes with or without a front: the defaults for
        boxes in the objects' own frames (3D-FRONT, synthetic), 0 for boxes without a front (ARKitScenes'
        oriented boxes, own data's fitted boxes), whose bearings say nothing (the relation term's
        bearings read the fronts too). The one statement of that rule."""
        if canonical_boxes:
            return {"bearing_weight": cls.bearing_weight, "relation_weight": cls.relation_weight}
        return {"bearing_weight": 0.0, "relation_weight": 0.0}

    def valid_threshold(self, local_field) -> float:
        """The no-analogy cost threshold: `local_valid_thres` if set, else the local field's calibrated
        one (`valid_threshold`, from `calibration.json` beside its checkpoint), else DEFAULT_VALID_THRES."""
        if self.local_valid_thres is not None:
            return float(self.local_valid_thres)
        calibrated = getattr(local_field, "valid_threshold", None)
        return DEFAULT_VALID_THRES if calibrated is None else float(calibrated)


@dataclass(frozen=True, eq=False)
class MatchScene:
    """One scene as the matcher sees it.

    points (P, 3) float32 keypoints; labels (P,) int64 embedding indices (0 floor plan, c + 1 class c);
    instance (P,) int64 object index, -1 for the floor plan; per object n: class_ids (N,),
    box_centres (N, 3), box_sizes (N, 3), box_rots (N, 3, 3).
    """

    points: np.ndarray
    labels: np.ndarray
    instance: np.ndarray
    class_ids: np.ndarray
    box_centres: np.ndarray
    box_sizes: np.ndarray
    box_rots: np.ndarray

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        set_("points", np.asarray(self.points, dtype=np.float32).reshape(-1, 3))
        set_("labels", np.asarray(self.labels, dtype=np.int64).reshape(-1))
        set_("instance", np.asarray(self.instance, dtype=np.int64).reshape(-1))
        set_("class_ids", np.asarray(self.class_ids, dtype=np.int64).reshape(-1))
        n = len(self.class_ids)
        set_("box_centres", np.asarray(self.box_centres, dtype=np.float64).reshape(n, 3))
        set_("box_sizes", np.asarray(self.box_sizes, dtype=np.float64).reshape(n, 3))
        set_("box_rots", np.asarray(self.box_rots, dtype=np.float64).reshape(n, 3, 3))
        p = len(self.points)
        if self.labels.shape != (p,) or self.instance.shape != (p,):
            raise ValueError(f"labels {self.labels.shape} and instance {self.instance.shape} must be ({p},)")
        if p and (self.instance.min() < -1 or self.instance.max() >= n):
            raise ValueError(f"instance ids must lie in [-1, {n - 1}]")

    def __len__(self) -> int:
        return len(self.class_ids)

    @classmethod
    def from_scene(cls, scene: Scene, keypoints: Keypoints) -> "MatchScene":
        """From a `Scene` and its `Keypoints` (scene_keypoints): boxes are the scene's oriented boxes."""
        return cls(keypoints.points, keypoints.labels, keypoints.instance, scene.class_ids,
                   scene.bbox_centroids, scene.bbox_sizes, scene.rots)

    @classmethod
    def from_points(cls, points, instance, labels=None, class_ids=None, floor_points=None,
                    path: str = "<points>") -> "MatchScene":
        """From raw instance-labelled points (e.g. a scan); boxes are axis-aligned (rot = I).

        points (P, 3); instance (P,) ids 0..N-1 (-1 = unlabelled, dropped); per-point class ids
        `labels` (P,) (class c, NOT the embedding index) or per-object `class_ids` (N,); without
        either every object is class 0 (use a semantics-free field). floor_points (F, 3) optional
        floor-plan keypoints (label 0). A box is the min/max extent of its points on every axis.
        Problems with the data raise DataError(path, ...).
        """
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        instance = np.asarray(instance).astype(np.int64).reshape(-1)
        if len(instance) != len(points):
            raise DataError(path, f"{len(points)} points but {len(instance)} instance ids")
        if not np.isfinite(points).all():
            raise DataError(path, "points contain NaN or inf")
        keep = instance >= 0
        points, instance = points[keep], instance[keep]
        if len(points) == 0:
            raise DataError(path, "no point carries an instance id >= 0")
        ids, instance = np.unique(instance, return_inverse=True)  # compact ids 0..N-1
        n = len(ids)
        if class_ids is not None:
            class_ids = np.asarray(class_ids, dtype=np.int64).reshape(-1)
            if len(class_ids) != n:
                raise DataError(path, f"{n} objects but {len(class_ids)} class ids")
        elif labels is not None:
            labels = np.asarray(labels).astype(np.int64).reshape(-1)[keep]
            class_ids = np.zeros(n, dtype=np.int64)
            class_ids[instance] = labels  # one write per point; the last wins
            if (labels != class_ids[instance]).any():
                raise DataError(path, "an instance carries more than one class label")
        else:
            class_ids = np.zeros(n, dtype=np.int64)
        if (class_ids < 0).any():
            raise DataError(path, "class labels must be >= 0")
        lo = np.full((n, 3), np.inf)
        hi = np.full((n, 3), -np.inf)
        np.minimum.at(lo, instance, points)
        np.maximum.at(hi, instance, points)
        point_labels = class_ids[instance] + 1
        if floor_points is not None:
            floor_points = np.asarray(floor_points, dtype=np.float64).reshape(-1, 3)
            points = np.concatenate([points, floor_points])
            point_labels = np.concatenate([point_labels, np.full(len(floor_points), FLOOR_LABEL)])
            instance = np.concatenate([instance, np.full(len(floor_points), -1)])
        return cls(points, point_labels, instance, class_ids, (lo + hi) / 2, hi - lo,
                   np.broadcast_to(np.eye(3), (n, 3, 3)))

    def tensors(self, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(points (P, 3) float32, labels (P,) long) on `device`."""
        return (torch.as_tensor(self.points, device=device),
                torch.as_tensor(self.labels, device=device))

    def context(self, per_object: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """The keypoints the field reads as context, as `tensors`: every object with more than
        `per_object` keypoints is seen through a farthest-point subset of that many (the floor plan
        and smaller objects whole; 0: everything). The descriptor reads the nearest keypoints, so a
        densely sampled object would otherwise fill every token and change what the field sees."""
        points, labels = self.tensors(device)
        counts = np.bincount(self.instance[self.instance >= 0], minlength=len(self))
        if per_object <= 0 or counts.max(initial=0) <= per_object:
            return points, labels
        from scene_analogy.ops.point_sets import farthest_point_sample

        dense = np.nonzero(counts > per_object)[0]
        index, _ = pad_objects(self, dense)
        lengths = torch.as_tensor(counts[dense], device=device)
        picks = farthest_point_sample(points[torch.as_tensor(index, device=device)], per_object, lengths)
        keep = ~np.isin(self.instance, dense)
        keep[np.take_along_axis(index, picks.cpu().numpy(), 1).reshape(-1)] = True
        keep = torch.as_tensor(keep, device=device)
        return points[keep], labels[keep]


def pad_objects(scene: MatchScene, objects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint indices of the given objects, padded: (len(objects), M) int64 and a (.., M) bool mask.

    M is the largest keypoint count among them; padding slots hold index 0 and mask False. Points keep
    their order in the scene. Vectorised: a stable sort by object slot, then ranks within each slot.
    """
    objects = np.asarray(objects, dtype=np.int64).reshape(-1)
    slot_of_object = np.full(len(scene) + 1, -1, dtype=np.int64)
    slot_of_object[objects] = np.arange(len(objects))
    slot = slot_of_object[scene.instance]  # instance -1 reads the sentinel at index N: -1
    picked = np.nonzero(slot >= 0)[0]
    order = picked[np.argsort(slot[picked], kind="stable")]
    slots = slot[order]
    counts = np.bincount(slots, minlength=len(objects))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(order)) - starts[slots]
    width = int(counts.max()) if len(objects) else 0
    index = np.zeros((len(objects), width), dtype=np.int64)
    mask = np.zeros((len(objects), width), dtype=bool)
    index[slots, rank] = order
    mask[slots, rank] = True
    return index, mask
