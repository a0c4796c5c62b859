"""Evaluation pairs with ground truth, from a triplet's positive scene (DESIGN §6, §8.3).

The target is the triplet's `pair_pos` scene changed so that only part of it still corresponds to the
reference (the triplet's `pos` scene):
1. keep a group of 2-4 neighbouring objects exactly;
2. re-insert about `pose_perturb_rate` of the removed objects with small pose noise;
3. add 2-5 distractor objects (idx_map = -1) taken from another scene, placed inside the outline
   without collisions;
4. jitter the floor outline: a fraction of its edges moves along its normal (never inward past an
   object);
5. turn the whole scene by a yaw (+ optional x-mirror): `global_yaw="grid"` picks one of k x 360 /
   `global_num_rot` degrees (the matcher's own candidates), "continuous" any yaw in [0, 360).
Pose noise here is uniform in [-max, max] (these flags are bounds), unlike the triplets' Gaussian
sigmas. The augment root records its config in `augment_config.json` (`augment_protocol` reads it).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from scene_analogy.files import atomic
from scene_analogy.files.errors import DataError
from scene_analogy.files.json_files import read_json
from scene_analogy.ops.geometry import (
    box_corners_xz,
    global_transform,
    origins_from_box,
    points_in_polygon,
    polygon_area_xz,
    rectangles_overlap,
    yaw_matrix,
)
from scene_analogy.structures.scene import (
    SCENE_FILE,
    EvalPair,
    FloorPlan,
    Scene,
    _pickled_idx_map,
    open_npz,
    read_triplet,
    remove_other_scene_dirs,
    scene_dirs,
    write_eval_pair,
)

SPLIT_CODES = {"train": 0, "test": 1}
GLOBAL_YAWS = ("grid", "continuous")
AUGMENT_CONFIG_FILE = "augment_config.json"  # in the augment root: the config the pairs were made with


@dataclass(frozen=True)
class AugmentConfig:
    global_num_rot: int = 4
    fp_max_perturb_rate: float = 0.4
    fp_max_noise: float = 0.3
    num_group_keep_range: tuple[int, int] = (2, 4)
    num_pose_perturb_rate: float = 0.5
    max_trans_noise: float = 0.05
    max_rot_noise: float = 10.0  # degrees
    num_match_obj_add_range: tuple[int, int] = (2, 5)
    placement_tries: int = 200
    clearance: float = 0.02
    global_yaw: str = "grid"  # "grid": k x 360 / global_num_rot degrees; "continuous": uniform in [0, 360)

    def __post_init__(self) -> None:
        if self.global_yaw not in GLOBAL_YAWS:
            raise ValueError(f"global_yaw must be one of {', '.join(GLOBAL_YAWS)}, got {self.global_yaw!r}")


def class_histograms(scenes: list[Scene], num_classes: int) -> np.ndarray:
    """(S, C) normalised class histograms, to find each scene's most similar other scene."""
    hist = np.zeros((len(scenes), num_classes))
    for i, s in enumerate(scenes):
        np.add.at(hist[i], s.class_ids, 1.0)
    return hist / np.maximum(hist.sum(1, keepdims=True), 1.0)


def nearest_histogram_scene(histograms: np.ndarray, index: int) -> int:
    """The other scene whose class histogram is nearest (L1); never the scene itself."""
    dist = np.abs(histograms - histograms[index]).sum(1)
    dist[index] = np.inf
    return int(np.argmin(dist))


def augment_scene(
    source: Scene, distractor_source: Scene, cfg: AugmentConfig, rng: np.random.Generator
) -> EvalPair:
    n = len(source)
    lo, hi = cfg.num_group_keep_range
    keep_count = min(n, int(rng.integers(lo, hi + 1)))
    seed_obj = int(rng.integers(n))
    dist = np.linalg.norm(source.bbox_centroids[:, [0, 2]] - source.bbox_centroids[seed_obj, [0, 2]], axis=1)
    kept = np.argsort(dist, kind="stable")[:keep_count]
    removed = np.setdiff1d(np.arange(n), kept)
    reinserted = removed[rng.random(len(removed)) < cfg.num_pose_perturb_rate]
    scene = source.subset(np.concatenate([kept, reinserted]))
    idx_map = np.concatenate([kept, reinserted]).astype(np.int64)
    scene = _perturb_poses(scene, np.arange(len(kept), len(scene)), cfg, rng)

    scene.floor = jitter_outline(scene, cfg, rng)
    lo, hi = cfg.num_match_obj_add_range
    wanted = int(rng.integers(lo, hi + 1))
    scene, added = _add_distractors(scene, distractor_source, wanted, cfg, rng)
    idx_map = np.concatenate([idx_map, -np.ones(added, dtype=np.int64)])

    order = rng.permutation(len(scene))  # so object order says nothing about correspondence
    scene, idx_map = scene.subset(order), idx_map[order]
    if cfg.global_yaw == "grid":  # the same draws as before continuous yaws existed: grid pairs stay byte-identical
        yaw = 2 * np.pi * int(rng.integers(cfg.global_num_rot)) / cfg.global_num_rot
    else:
        yaw = rng.uniform(0.0, 2 * np.pi)
    rot = global_transform(yaw, mirror=bool(rng.integers(2)))
    return EvalPair(scene.transformed(rot), idx_map, rot)


def _perturb_poses(scene: Scene, which: np.ndarray, cfg: AugmentConfig, rng) -> Scene:
    """Turn and move the objects `which` about their box centres by uniform noise."""
    if len(which) == 0:
        return scene
    yaw = np.deg2rad(cfg.max_rot_noise) * rng.uniform(-1, 1, len(which))
    shift = np.zeros((len(which), 3))
    shift[:, [0, 2]] = cfg.max_trans_noise * rng.uniform(-1, 1, (len(which), 2))
    _set_pose(scene, which, yaw_matrix(yaw) @ scene.rots[which], scene.bbox_centroids[which] + shift)
    return scene


def _set_pose(scene: Scene, which, rots: np.ndarray, centroids: np.ndarray) -> None:
    """Give objects new rotations and box centres; the origin follows from the model's box centre."""
    centres = scene.canonical_box_centres()[which] * scene.scales[which]
    scene.rots[which] = rots
    scene.bbox_centroids[which] = centroids
    scene.trans[which] = origins_from_box(centroids, rots, centres)


def _footprints(scene: Scene) -> np.ndarray:
    return box_corners_xz(scene.bbox_sizes, scene.bbox_centroids, scene.rots)


def jitter_outline(scene: Scene, cfg: AugmentConfig, rng: np.random.Generator) -> FloorPlan:
    """Move a random fraction of each loop's edges along their outward normals.

    Corners are re-solved as the intersection of their two (moved) edges, so straight walls stay
    straight. An inward move stops before any object footprint corner (minus the clearance); a
    footprint already across a wall (a re-inserted object's pose noise, `_perturb_poses`, is not
    checked against the walls) is not brought back inside.
    """
    polygons = []
    corners = _footprints(scene).reshape(-1, 2)
    loops = scene.floor.polygons()
    for k, poly in enumerate(loops):
        if _is_hole(loops, k):  # a hole's edges stay put: moving them could swallow an object
            polygons.append(poly)
            continue
        sign = 1.0 if polygon_area_xz(poly) > 0 else -1.0
        a, b = poly, np.roll(poly, -1, axis=0)
        edge = b - a
        normal = sign * np.stack([edge[:, 1], -edge[:, 0]], 1) / np.linalg.norm(edge, axis=1, keepdims=True)
        # distance of every footprint corner inside each edge's line (how far the wall may come in)
        depth = ((corners[None] - a[:, None]) * -normal[:, None]).sum(-1)
        room_in = depth.min(1) - cfg.clearance if len(corners) else np.full(len(poly), np.inf)
        offset = cfg.fp_max_noise * rng.uniform(-1, 1, len(poly))
        offset = np.where(rng.random(len(poly)) < cfg.fp_max_perturb_rate, offset, 0.0)
        offset = np.maximum(offset, -np.maximum(room_in, 0.0))
        polygons.append(_offset_polygon(a, edge, normal, offset))
    return FloorPlan.from_polygons(polygons, scene.floor.floor_y, scene.floor.ceiling_y)


def _is_hole(loops: list[np.ndarray], k: int) -> bool:
    """Whether loop k lies inside an odd number of the other loops (even-odd rule)."""
    probe = loops[k].mean(0, keepdims=True) * 1e-3 + loops[k][:1] * (1 - 1e-3)  # just off its first corner
    return sum(bool(points_in_polygon(probe, p)[0]) for j, p in enumerate(loops) if j != k) % 2 == 1


def inside_floor(points: np.ndarray, polygons: list[np.ndarray]) -> np.ndarray:
    """Even-odd test of (M, 2) points against all loops of a floor: holes and disjoint parts count."""
    inside = np.zeros(len(points), dtype=bool)
    for poly in polygons:
        inside ^= points_in_polygon(points, poly)
    return inside


def _offset_polygon(a: np.ndarray, edge: np.ndarray, normal: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Corner i joins edge i-1 and edge i, each moved by its offset along its normal."""
    p0, d0 = np.roll(a + normal * offset[:, None], 1, axis=0), np.roll(edge, 1, axis=0)
    p1, d1 = a + normal * offset[:, None], edge
    cross = d0[:, 0] * d1[:, 1] - d0[:, 1] * d1[:, 0]
    diff = p1 - p0
    t = (diff[:, 0] * d1[:, 1] - diff[:, 1] * d1[:, 0]) / np.where(np.abs(cross) < 1e-9, 1.0, cross)
    meet = p0 + t[:, None] * d0
    collinear = np.abs(cross) < 1e-9  # nothing to intersect: move the corner with both edges' mean
    return np.where(collinear[:, None], a + 0.5 * (np.roll(normal * offset[:, None], 1, 0) + normal * offset[:, None]), meet)


def _add_distractors(scene: Scene, other: Scene, wanted: int, cfg: AugmentConfig, rng):
    """Place up to `wanted` objects of `other` at free spots inside the outline (rejection sampling)."""
    if wanted == 0 or len(other) == 0:
        return scene, 0
    picks = rng.choice(len(other), size=min(wanted, len(other)), replace=False)
    polygons = scene.floor.polygons()
    allxz = np.concatenate(polygons)
    lo, hi = allxz.min(0), allxz.max(0)
    placed = []
    current = scene
    for j in picks:  # a handful of objects; each placement is vectorised over its tries
        obj = other.subset([j])
        tries = cfg.placement_tries
        yaw = rng.uniform(0, 2 * np.pi, tries)
        xz = rng.uniform(lo, hi, (tries, 2))
        rots = yaw_matrix(yaw) @ obj.rots[0]
        centroids = np.repeat(obj.bbox_centroids, tries, 0)
        centroids[:, [0, 2]] = xz
        boxes = box_corners_xz(np.repeat(obj.bbox_sizes, tries, 0), centroids, rots)  # (T, 4, 2)
        inside = inside_floor(boxes.reshape(-1, 2), polygons).reshape(tries, 4).all(1)
        if len(current):
            hit = rectangles_overlap(boxes[:, None], _footprints(current)[None], cfg.clearance)
            y_lo = current.bbox_centroids[:, 1] - current.bbox_sizes[:, 1] / 2
            y_hi = current.bbox_centroids[:, 1] + current.bbox_sizes[:, 1] / 2
            oy_lo = obj.bbox_centroids[0, 1] - obj.bbox_sizes[0, 1] / 2
            oy_hi = obj.bbox_centroids[0, 1] + obj.bbox_sizes[0, 1] / 2
            hit &= ((y_lo < oy_hi) & (oy_lo < y_hi))[None]
            inside &= ~hit.any(1)
        ok = np.flatnonzero(inside)
        if len(ok) == 0:
            continue
        t = ok[0]
        _set_pose(obj, np.array([0]), rots[t : t + 1], centroids[t : t + 1])
        current = Scene.concat([current, obj])
        placed.append(j)
    return current, len(placed)


def write_eval_pairs(aug_root: str | os.PathLike, names: list[str], positives: list[Scene], cfg: AugmentConfig,
                     seed: int, num_classes: int, progress: bool = True) -> int:
    """Augment each `{split}_scene_<i>` positive into `<aug_root>/<name>/scene.npz`; distractors come
    from the scene of the set with the nearest class histogram. Pair i draws from a generator seeded
    by (seed, split, i), but its distractor source is chosen among all the positives given, so a pair
    is the same for the same set of positives (the same scenes and seed), not when others are added
    or removed. The config goes to `<aug_root>/augment_config.json` first, so pairs of an
    interrupted run are described too; pair folders of an earlier set not in `names` are removed."""
    atomic.write_json(Path(aug_root) / AUGMENT_CONFIG_FILE, {**asdict(cfg), "seed": seed})
    hist = class_histograms(positives, num_classes)
    for i, (name, positive) in enumerate(tqdm(list(zip(names, positives)), desc="evaluation pairs", disable=not progress)):
        split, _, index = name.rpartition("_scene_")
        rng = np.random.default_rng([seed, SPLIT_CODES[split], int(index), 2])
        other = positives[nearest_histogram_scene(hist, i)] if len(positives) > 1 else positive
        pair = augment_scene(positive, other, cfg, rng)
        with atomic.atomic_dir(Path(aug_root) / name) as folder:  # never a half-written pair folder
            write_eval_pair(folder / SCENE_FILE, pair)
    remove_other_scene_dirs(aug_root, names)  # an old set's pairs would be scored under this config
    return len(positives)


def augment_triplet_root(orig_root: str | os.PathLike, save_root: str | os.PathLike | None, cfg: AugmentConfig,
                         seed: int, num_classes: int, progress: bool = True) -> tuple[Path, int]:
    """Evaluation pairs of a triplet root's held-out folders (all folders when it has no `test_*`),
    written to `save_root` (default `<orig_root>_augment`); returns (that folder, number of pairs)."""
    root = Path(orig_root)
    dirs = scene_dirs(root, "test") or scene_dirs(root)
    if not dirs:
        raise DataError(root, "no {train,test}_scene_<i> folders to augment (run the scene generator first)")
    with open_npz(dirs[0] / SCENE_FILE) as first:
        if "pair_pos_idx_map" in first.files:  # a changed positive (triplet_layout_changes): its objects are not the anchor's
            raise DataError(dirs[0] / SCENE_FILE, "the positives have layout changes (pair_pos_idx_map); make evaluation "
                                                  "pairs from a root generated without the --pos_* flags")
    positives = [read_triplet(d / SCENE_FILE, ("pair_pos",))["pair_pos"] for d in dirs]
    empty = [d for d, p in zip(dirs, positives) if len(p) == 0]
    if empty:
        raise DataError(empty[0] / SCENE_FILE, "the scene has no objects to build an evaluation pair from")
    aug_root = Path(save_root) if save_root else root.parent / f"{root.name}_augment"
    return aug_root, write_eval_pairs(aug_root, [d.name for d in dirs], positives, cfg, seed, num_classes, progress)


def augment_protocol(augment_root: str | os.PathLike) -> dict[str, str]:
    """{"global_yaw": "grid" | "continuous"} of an augment root, from its `augment_config.json`;
    "grid" when the file is missing (roots written before the file existed had grid yaws)."""
    path = Path(augment_root) / AUGMENT_CONFIG_FILE
    if not path.is_file():
        return {"global_yaw": "grid"}
    recorded = read_json(path, "augmentation config")
    yaw = recorded.get("global_yaw", "grid") if isinstance(recorded, dict) else None
    if yaw not in GLOBAL_YAWS:
        raise DataError(path, f"'global_yaw' is {yaw!r}; expected one of {', '.join(GLOBAL_YAWS)}")
    return {"global_yaw": yaw}


# -- the authors' pre-generated files: object arrays made plain, once (python -m scene_analogy.convert_scenes) --


def plain_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The file's arrays with every object array made plain, or None when it has none."""
    try:
        with np.load(path, allow_pickle=True) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(path, f"not a readable .npz file ({exc})") from None
    objects = [key for key, value in arrays.items() if value.dtype == object]
    if not objects:
        return None
    for key in objects:
        if key == "pair_pos_idx_map":
            count = len(arrays["pair_pos_obj_id"]) if "pair_pos_obj_id" in arrays else None
            if count is None:
                raise DataError(path, "has pair_pos_idx_map but no pair_pos_obj_id to size it")
            arrays[key] = _pickled_idx_map(path, count)
        elif all(isinstance(v, str) for v in arrays[key].reshape(-1)):
            arrays[key] = arrays[key].astype(str)
        else:
            raise DataError(path, f"key '{key}' holds objects other than strings; cannot convert it")
    return arrays


def convert_authors_scenes(folders: list[str]) -> tuple[int, int]:
    """(files converted, files already plain) over every scene folder under `folders`."""
    converted = plain = 0
    for folder in folders:
        dirs = scene_dirs(folder)
        if not dirs:
            raise DataError(folder, "no {train,test}_scene_<i> folders")
        for d in dirs:
            arrays = plain_arrays(d / SCENE_FILE)
            if arrays is None:
                plain += 1
            else:
                atomic.save_npz(d / SCENE_FILE, arrays)
                converted += 1
    return converted, plain
