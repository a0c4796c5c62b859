"""Scenes: objects with poses plus a floor outline, and the triplet / evaluation-pair file format.

A `Scene` stores its objects as a structure of arrays (one row per object) so generators and the
matcher can work on whole scenes at once; `Scene.objects` gives per-object `SceneObject` views.

File format (DESIGN §8.3): `<scene_root>/{train,test}_scene_<i>/scene.npz` holds, for each prefix
p in {pos, pair_pos, neg}, the keys `p_fp_points`, `p_fp_lines`, `p_bboxes`, `p_bbox_centroids`,
`p_trans`, `p_rot`, `p_obj_scene_scales`, `p_obj_id`, `p_obj_classes`, `p_obj_classes_str`.
Decisions where the design is silent:
- `bboxes` is the scaled canonical box size; `bbox_centroids` is the box centre in *world*
  coordinates (the canonical box centre, scaled and posed), so a box is fully described in the world
  by (centroid, size, rot) without the model file.
- Poses may be improper (det rot = -1) after a mirrored global transform of an evaluation pair.
- Floats are stored as float64, ids as int64, strings as fixed-width unicode (never object arrays,
  so every file loads with `allow_pickle=False`).
"""

from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scene_analogy.files import atomic
from scene_analogy.files.errors import DataError
from scene_analogy.structures.classes import ClassTable

PREFIXES = ("pos", "pair_pos", "neg")
SCENE_FILE = "scene.npz"


@dataclass(frozen=True)
class SceneObject:
    """One object of a scene (a view on a row of `Scene`)."""

    model_id: str
    class_id: int
    class_name: str
    bbox_size: np.ndarray
    bbox_centroid: np.ndarray
    scale: np.ndarray
    rot: np.ndarray
    trans: np.ndarray

    def world_points(self, canonical: np.ndarray) -> np.ndarray:
        """Pose canonical (unscaled) points of this object's model into the world."""
        return (canonical * self.scale) @ self.rot.T + self.trans


@dataclass
class FloorPlan:
    """Floor outline: corners at floor height then at ceiling height, and the edges between them.

    With C corners in all (one or more closed loops), `points` is (2C, 3) and `lines` is (3C, 2):
    C floor edges, C ceiling edges, then C vertical edges (corner i to corner C + i).
    """

    points: np.ndarray
    lines: np.ndarray

    @classmethod
    def from_polygons(cls, polygons: list[np.ndarray], floor_y: float, ceiling_y: float) -> "FloorPlan":
        """Build from closed xz loops (each (C_i, 2), not repeating the first corner)."""
        xz = np.concatenate([np.asarray(p, dtype=np.float64) for p in polygons])
        count = len(xz)
        starts = np.cumsum([0] + [len(p) for p in polygons[:-1]])
        nxt = np.concatenate([s + (np.arange(len(p)) + 1) % len(p) for s, p in zip(starts, polygons)])
        here = np.arange(count)
        points = np.zeros((2 * count, 3))
        points[:count, [0, 2]] = xz
        points[count:, [0, 2]] = xz
        points[:count, 1] = floor_y
        points[count:, 1] = ceiling_y
        lines = np.concatenate([
            np.stack([here, nxt], 1),
            np.stack([here + count, nxt + count], 1),
            np.stack([here, here + count], 1),
        ]).astype(np.int64)
        return cls(points, lines)

    @property
    def num_corners(self) -> int:
        return len(self.points) // 2

    @property
    def floor_y(self) -> float:
        return float(self.points[: self.num_corners, 1].min())

    @property
    def ceiling_y(self) -> float:
        return float(self.points[self.num_corners:, 1].max())

    def polygons(self) -> list[np.ndarray]:
        """The closed xz loops, recovered by following the floor edges."""
        count = self.num_corners
        nxt = dict(self.lines[:count].tolist())
        seen, loops = set(), []
        for start in range(count):
            if start in seen:
                continue
            loop, i = [], start
            while i not in seen:
                seen.add(i)
                loop.append(i)
                i = nxt[i]
            loops.append(self.points[loop][:, [0, 2]])
        return loops

    def copy(self) -> "FloorPlan":
        return FloorPlan(self.points.copy(), self.lines.copy())

    def transformed(self, linear: np.ndarray, offset: np.ndarray | None = None) -> "FloorPlan":
        offset = np.zeros(3) if offset is None else offset
        return FloorPlan(self.points @ linear.T + offset, self.lines.copy())


@dataclass
class Scene:
    """N objects (structure of arrays) and a floor plan. World = (canonical * scales) @ rots^T + trans."""

    model_ids: np.ndarray  # (N,) str
    class_ids: np.ndarray  # (N,) int64
    class_names: np.ndarray  # (N,) str
    bbox_sizes: np.ndarray  # (N, 3) scaled canonical box size
    bbox_centroids: np.ndarray  # (N, 3) box centre in world coordinates
    scales: np.ndarray  # (N, 3)
    rots: np.ndarray  # (N, 3, 3)
    trans: np.ndarray  # (N, 3)
    floor: FloorPlan

    def __post_init__(self) -> None:
        self.model_ids = np.asarray(self.model_ids, dtype=str)
        self.class_ids = np.asarray(self.class_ids, dtype=np.int64)
        self.class_names = np.asarray(self.class_names, dtype=str)
        for name in ("bbox_sizes", "bbox_centroids", "scales", "rots", "trans"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float64))

    def __len__(self) -> int:
        return len(self.model_ids)

    @property
    def objects(self) -> list[SceneObject]:
        return [self.object(i) for i in range(len(self))]

    def object(self, i: int) -> SceneObject:
        return SceneObject(
            str(self.model_ids[i]), int(self.class_ids[i]), str(self.class_names[i]), self.bbox_sizes[i],
            self.bbox_centroids[i], self.scales[i], self.rots[i], self.trans[i],
        )

    def subset(self, index) -> "Scene":
        """The scene with only the objects at `index` (an index array or boolean mask), same floor."""
        index = np.asarray(index)
        if index.dtype != bool:
            index = index.astype(np.int64)  # an empty list comes as float64, which cannot index
        return Scene(
            self.model_ids[index], self.class_ids[index], self.class_names[index], self.bbox_sizes[index],
            self.bbox_centroids[index], self.scales[index], self.rots[index], self.trans[index],
            self.floor.copy(),
        )

    @classmethod
    def concat(cls, scenes: list["Scene"]) -> "Scene":
        """The objects of several scenes in one, with the first scene's floor plan."""
        fields = ("model_ids", "class_ids", "class_names", "bbox_sizes", "bbox_centroids", "scales", "rots", "trans")
        merged = {f: np.concatenate([getattr(s, f) for s in scenes]) for f in fields}
        return cls(**merged, floor=scenes[0].floor.copy())

    def transformed(self, linear: np.ndarray, offset: np.ndarray | None = None) -> "Scene":
        """The whole scene moved by world' = world @ linear^T + offset (linear may be a mirror)."""
        offset = np.zeros(3) if offset is None else np.asarray(offset, dtype=np.float64)
        return Scene(
            self.model_ids.copy(), self.class_ids.copy(), self.class_names.copy(), self.bbox_sizes.copy(),
            self.bbox_centroids @ linear.T + offset, self.scales.copy(), linear @ self.rots,
            self.trans @ linear.T + offset, self.floor.transformed(linear, offset),
        )

    def canonical_box_centres(self) -> np.ndarray:
        """(N, 3) each model's box centre in its canonical, unscaled frame (inverse of the pose)."""
        local = np.einsum("nji,nj->ni", self.rots, self.bbox_centroids - self.trans)
        return local / self.scales

    def world_points(self, canonical: np.ndarray) -> np.ndarray:
        """Pose per-object canonical points (N, P, 3) into the world: (N, P, 3)."""
        scaled = canonical * self.scales[:, None, :]
        return scaled @ np.swapaxes(self.rots, 1, 2) + self.trans[:, None, :]

    # -- file format ---------------------------------------------------------------------------
    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}_fp_points": self.floor.points.astype(np.float64),
            f"{prefix}_fp_lines": self.floor.lines.astype(np.int64),
            f"{prefix}_bboxes": self.bbox_sizes,
            f"{prefix}_bbox_centroids": self.bbox_centroids,
            f"{prefix}_trans": self.trans,
            f"{prefix}_rot": self.rots,
            f"{prefix}_obj_scene_scales": self.scales,
            f"{prefix}_obj_id": self.model_ids,
            f"{prefix}_obj_classes": self.class_ids,
            f"{prefix}_obj_classes_str": self.class_names,
        }

    @classmethod
    def from_arrays(cls, arrays, prefix: str, path: str | os.PathLike, classes: ClassTable | None = None) -> "Scene":
        """Read and validate one prefix of a scene file; errors name the file and the key."""
        get = _KeyReader(arrays, prefix, path)
        n = len(get.array("obj_id", str, (None,)))
        c2 = len(get.array("fp_points", float, (None, 3)))
        if c2 % 2:
            raise DataError(path, f"key '{prefix}_fp_points' has {c2} rows; expected 2 x corners")
        lines = get.array("fp_lines", int, (3 * (c2 // 2), 2))
        if lines.size and (lines.min() < 0 or lines.max() >= c2):
            raise DataError(path, f"key '{prefix}_fp_lines' indexes corners outside 0..{c2 - 1}")
        class_ids = get.array("obj_classes", int, (n,))
        if class_ids.size and class_ids.min() < 0:
            raise DataError(path, f"key '{prefix}_obj_classes' has a negative class id {class_ids.min()}")
        if classes is not None and class_ids.size and class_ids.max() >= len(classes):
            raise DataError(
                path, f"key '{prefix}_obj_classes' has unknown class id {class_ids.max()} "
                f"({classes.name} has ids 0..{len(classes) - 1})"
            )
        sizes = get.array("bboxes", float, (n, 3))
        # No footprint (or a negative size) would make every scale ratio of the matcher 0/0.
        bad = np.flatnonzero((sizes < 0).any(axis=1) | (sizes[:, [0, 2]] == 0).all(axis=1))
        if len(bad):
            raise DataError(path, f"key '{prefix}_bboxes' has a zero-size box: object {bad[0]} measures "
                                  f"{' x '.join(f'{s:g}' for s in sizes[bad[0]])} m")
        return cls(
            model_ids=get.array("obj_id", str, (n,)),
            class_ids=class_ids,
            class_names=get.array("obj_classes_str", str, (n,)),
            bbox_sizes=sizes,
            bbox_centroids=get.array("bbox_centroids", float, (n, 3)),
            scales=get.array("obj_scene_scales", float, (n, 3)),
            rots=get.array("rot", float, (n, 3, 3)),
            trans=get.array("trans", float, (n, 3)),
            floor=FloorPlan(get.array("fp_points", float, (c2, 3)), lines),
        )


class _KeyReader:
    """Fetches `<prefix>_<key>` from an npz with dtype / shape / finiteness checks."""

    def __init__(self, arrays, prefix: str, path) -> None:
        self.arrays, self.prefix, self.path = arrays, prefix, path

    def array(self, key: str, kind: type, shape: tuple) -> np.ndarray:
        name = f"{self.prefix}_{key}"
        if name not in self.arrays:
            raise DataError(self.path, f"missing key '{name}'")
        try:
            value = np.asarray(self.arrays[name])
        except ValueError as exc:  # an object array refused by allow_pickle=False
            raise DataError(self.path, f"key '{name}' cannot be read without pickle ({exc}); convert the folder once "
                                       "with `python -m scene_analogy.convert_scenes FOLDER --allow_pickle`") from None
        if kind is str:
            ok = value.dtype.kind in "US"
        elif kind is int:
            ok = value.dtype.kind in "iu"
        else:
            ok = value.dtype.kind in "fiu"
        if not ok:
            raise DataError(self.path, f"key '{name}' has dtype {value.dtype}; expected {kind.__name__}")
        if len(value.shape) != len(shape) or any(s is not None and s != v for s, v in zip(shape, value.shape)):
            want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
            raise DataError(self.path, f"key '{name}' has shape {value.shape}; expected {want}")
        if kind is float:
            value = value.astype(np.float64)
            if not np.isfinite(value).all():
                raise DataError(self.path, f"key '{name}' contains NaN or infinite values")
        return value.astype(str) if kind is str else value


def open_npz(path: str | os.PathLike):
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "scene file not found")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(path, f"not a readable .npz file ({exc})") from None


def write_triplet(path: str | os.PathLike, scenes: dict[str, Scene], extra: dict[str, np.ndarray] | None = None) -> None:
    """Write scenes under their prefixes (and any extra keys) to one npz, atomically."""
    arrays: dict[str, np.ndarray] = {}
    for prefix, scene in scenes.items():
        arrays.update(scene.to_arrays(prefix))
    arrays.update(extra or {})
    atomic.save_npz(path, arrays)


def read_triplet(
    path: str | os.PathLike, prefixes=PREFIXES, classes: ClassTable | None = None
) -> dict[str, Scene]:
    """Read the given prefixes of a scene file, validating every key."""
    with open_npz(path) as arrays:
        return {p: Scene.from_arrays(arrays, p, path, classes) for p in prefixes}


@dataclass
class EvalPair:
    """An augmented evaluation target: the transformed `pair_pos` scene and its ground-truth links.

    `idx_map[k]` is the index of target object k in the original scene, or -1 for a distractor;
    `global_rot` is the global orientation applied (yaw, optionally mirrored).
    """

    scene: Scene
    idx_map: np.ndarray
    global_rot: np.ndarray


def write_eval_pair(path: str | os.PathLike, pair: EvalPair) -> None:
    write_triplet(path, {"pair_pos": pair.scene}, {
        "pair_pos_idx_map": np.asarray(pair.idx_map, dtype=np.int64),
        "pair_pos_global_rot": np.asarray(pair.global_rot, dtype=np.float64),
    })


def read_eval_pair(path: str | os.PathLike, classes: ClassTable | None = None, allow_pickle: bool = False) -> EvalPair:
    """Read an augmented scene. The authors' files keep `pair_pos_idx_map` as a pickled dict; that is
    only read with `allow_pickle=True` (pickle can execute code), otherwise a message says so."""
    scene = read_triplet(path, ("pair_pos",), classes)["pair_pos"]
    with open_npz(path) as arrays:
        if "pair_pos_idx_map" not in arrays:
            raise DataError(path, "missing key 'pair_pos_idx_map'")
        try:
            idx_map = arrays["pair_pos_idx_map"]
        except ValueError:
            if not allow_pickle:
                raise DataError(
                    path, "key 'pair_pos_idx_map' is a pickled object (the authors' format); pass "
                    "--allow_pickle to read it, only for files you trust, or convert the folder once with "
                    "`python -m scene_analogy.convert_scenes FOLDER --allow_pickle`"
                ) from None
            idx_map = _pickled_idx_map(path, len(scene))
        global_rot = _KeyReader(arrays, "pair_pos", path).array("global_rot", float, (3, 3))
    idx_map = np.asarray(idx_map)
    if idx_map.shape != (len(scene),) or idx_map.dtype.kind not in "iu":
        raise DataError(path, f"key 'pair_pos_idx_map' has shape {idx_map.shape}, dtype {idx_map.dtype}; "
                        f"expected ({len(scene)},) int")
    if idx_map.size and idx_map.min() < -1:
        raise DataError(path, "key 'pair_pos_idx_map' has values below -1")
    return EvalPair(scene, idx_map.astype(np.int64), global_rot)


def _pickled_idx_map(path, num_objects: int) -> np.ndarray:
    """The authors' {target index: original index} dict as a plain array (-1 where absent)."""
    with np.load(path, allow_pickle=True) as arrays:
        value = arrays["pair_pos_idx_map"]
    value = value.item() if value.dtype == object and value.shape == () else value
    if isinstance(value, dict):
        out = np.full(num_objects, -1, dtype=np.int64)
        for k, v in value.items():
            out[int(k)] = -1 if v is None else int(v)
        return out
    return np.asarray(value, dtype=np.int64)


def scene_dirs(scene_root: str | os.PathLike, split: str | None = None) -> list[Path]:
    """`{train,test}_scene_<i>` folders under a root, in numeric order."""
    root = Path(scene_root)
    if not root.is_dir():
        raise DataError(root, "scene root folder not found")
    splits = (split,) if split else ("train", "test")
    found = []
    for s in splits:
        dirs = [d for d in root.glob(f"{s}_scene_*") if d.is_dir() and d.name.rsplit("_", 1)[-1].isdigit()]
        found += sorted(dirs, key=lambda d: int(d.name.rsplit("_", 1)[-1]))
    return found


def remove_other_scene_dirs(scene_root: str | os.PathLike, keep) -> list[Path]:
    """Remove the `{train,test}_scene_<i>` folders under a root that are not named in `keep`: a set
    written again into the same root (fewer scenes, another seed or yaw) keeps none of the old set's
    folders beside it. Other files and folders stay. Returns the folders removed."""
    root = Path(scene_root)
    if not root.is_dir():
        return []
    stale = [d for d in scene_dirs(root) if d.name not in set(keep)]
    for d in stale:
        shutil.rmtree(d)
    return stale
