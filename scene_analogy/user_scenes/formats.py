"""The user's own instance-labelled scenes (DESIGN §8.3 "Own data"): readers, writers, up axis, labels.

A scene is a point cloud in which every point carries an instance id (and maybe a class label).
Accepted inputs (`load_scene`), units metres:
- PLY with vertex properties x, y, z and `instance` (aliases `instance_id`, `object_id`), optional
  `label` (aliases `class`, `semantic`, `category`): integer class ids.
- Grey-coded PLY: no instance property, but red = green = blue = round(255 * id / N) at every
  vertex (as the published demo clouds are). N is the smallest number of levels that explains every
  grey value exactly (|255 k / N - grey| <= 0.5 for an integer k), unless `grey_levels` gives it
  (needed when ids are missing from 0..N: {0, 2, 4} of N = 4 would decode as {0, 1, 2}). Colours
  are 8-bit 0..255 (floats holding whole numbers 0..255 too); float colours in [0, 1] are refused.
- NPZ with `points` (P, 3), `instance` (P,), optional `label` (P,): integer ids or class names.
- A folder with one mesh (or point) file per object, any format trimesh reads (.obj, .ply, .stl,
  .off, .glb): the stem is `<id>` or `<id>_<label>` (label: a class name or an integer id); surfaces
  are sampled area-weighted, `points_per_mesh` points per object (seeded).
Points whose instance id is negative (e.g. -1 for walls or unlabelled points) are dropped.

Frames: the core works with +y up (DESIGN §1); `up="z"` data are turned by the proper rotation
(x, y, z) -> (x, z, -y) (det +1). `OwnScene.points` is y-up; `to_user` / `UP_ROTATIONS` convert back.

Labels: per point (majority per instance, ties to the smallest). `object_classes(scene, table)` maps
them onto a checkpoint's class table: an integer must be a class id of the table; a name must equal
a class name or one of its '/'-separated parts, case-insensitively ("stool" -> "pier/stool"). Anything
else is a DataError naming the file and the label.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scene_analogy.files import atomic
from scene_analogy.files.errors import DataError
from scene_analogy.files.mesh import load_trimesh
from scene_analogy.files.ply import read_ply_vertices, write_ply
from scene_analogy.ops.geometry import Z_UP_TO_Y_UP
from scene_analogy.structures.classes import ClassTable

__all__ = ["OwnScene", "UP_ROTATIONS", "load_scene", "object_classes", "decode_grey", "grey_values",
           "write_ply_scene", "write_npz_scene", "MESH_SUFFIXES"]

UP_ROTATIONS = {  # user frame -> y-up frame, both proper rotations
    "y": np.eye(3),
    "z": Z_UP_TO_Y_UP,
}
INSTANCE_KEYS = ("instance", "instance_id", "object_id")
LABEL_KEYS = ("label", "class", "semantic", "category")
MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off", ".glb", ".gltf")
_STEM = re.compile(r"^(\d+)(?:_(.+))?$")


@dataclass(frozen=True, eq=False)
class OwnScene:
    """points (P, 3) float64 y-up; instance (P,) int64 ids >= 0; labels (P,) int64 or str per point,
    or None when the file has none; path: the file it came from; up: the file's up axis."""

    points: np.ndarray
    instance: np.ndarray
    labels: np.ndarray | None
    path: str
    up: str = "y"

    @property
    def object_ids(self) -> np.ndarray:
        """The distinct instance ids, sorted: object index i of the matcher is object_ids[i]."""
        return np.unique(self.instance)

    def object_labels(self) -> np.ndarray | None:
        """(N,) the majority label of each object (order of `object_ids`), or None."""
        if self.labels is None:
            return None
        _, obj = np.unique(self.instance, return_inverse=True)
        values, lab = np.unique(self.labels, return_inverse=True)
        counts = np.zeros((obj.max() + 1, len(values)), dtype=np.int64)
        np.add.at(counts, (obj, lab), 1)
        return values[counts.argmax(1)]

    def to_user(self, points: np.ndarray) -> np.ndarray:
        """y-up points (M, 3) back into the file's frame."""
        return np.asarray(points, dtype=np.float64) @ UP_ROTATIONS[self.up]


def _checked(path, points, instance, labels, up: str) -> OwnScene:
    """Validate raw arrays, drop negative instances, rotate to y-up."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise DataError(path, f"points must have shape (P, 3), got {points.shape}")
    if len(points) == 0:
        raise DataError(path, "the scene has no points")
    if points.dtype.kind not in "iuf":
        raise DataError(path, f"points must be numbers, got dtype {points.dtype}")
    points = points.astype(np.float64)
    if not np.isfinite(points).all():
        raise DataError(path, "points contain NaN or inf")
    instance = np.asarray(instance).reshape(-1)
    if len(instance) != len(points):
        raise DataError(path, f"{len(points)} points but {len(instance)} instance ids")
    if instance.dtype.kind not in "iuf" or (instance.dtype.kind == "f" and (instance != np.round(instance)).any()):
        raise DataError(path, f"instance ids must be integers, got {instance.dtype}")
    instance = instance.astype(np.int64)
    keep = instance >= 0
    if not keep.any():
        raise DataError(path, "no point carries an instance id >= 0 (the scene is unlabelled)")
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(points):
            raise DataError(path, f"{len(points)} points but {len(labels)} labels")
        if labels.dtype.kind in "iuf":
            if (labels != np.round(labels)).any() or (labels[keep] < 0).any():
                raise DataError(path, "integer labels must be whole numbers >= 0")
            labels = labels.astype(np.int64)
        elif labels.dtype.kind in "US":
            labels = np.char.strip(labels.astype(str))
        else:
            raise DataError(path, f"labels must be integers or strings, got {labels.dtype}")
        labels = labels[keep]
    if up not in UP_ROTATIONS:
        raise ValueError(f"up must be one of {sorted(UP_ROTATIONS)}, got {up!r}")
    _check_extents(path, points[keep], instance[keep])
    return OwnScene(points[keep] @ UP_ROTATIONS[up].T, instance[keep], labels, os.fspath(path), up)


def _check_extents(path, points: np.ndarray, instance: np.ndarray) -> None:
    """An object whose points all coincide has no size, no orientation and no neighbourhood to
    describe: refuse it (a broken export) rather than match it to anything."""
    order = np.argsort(instance, kind="stable")
    ids, starts = np.unique(instance[order], return_index=True)
    sorted_points = points[order]
    extent = np.maximum.reduceat(sorted_points, starts) - np.minimum.reduceat(sorted_points, starts)
    flat = np.flatnonzero((extent == 0).all(axis=1))
    if len(flat):
        i = flat[0]
        count = (len(points) if i == len(ids) - 1 else starts[i + 1]) - starts[i]
        raise DataError(path, f"instance {ids[i]} has all its {count} points at a single point (zero size): "
                              "a broken export, or give the object its surface points")


def grey_values(ids: np.ndarray, levels: int) -> np.ndarray:
    """The grey-coded colour of each id: round(255 * id / levels) as uint8 (half away from zero)."""
    return np.floor(255.0 * np.asarray(ids) / levels + 0.5).astype(np.uint8)


def decode_grey(path, grey: np.ndarray, levels: int | None = None) -> np.ndarray:
    """Instance ids from grey values (see the module docstring for how N is chosen)."""
    grey = np.asarray(grey)
    if grey.dtype.kind == "f" and not (np.isfinite(grey).all() and (grey == np.round(grey)).all()):
        raise DataError(path, "the grey values are not whole numbers 0..255 (grey coding needs 8-bit colours)")
    values, inverse = np.unique(grey.astype(np.int64), return_inverse=True)
    candidates = [levels] if levels else range(max(1, len(values) - 1), 256)
    for n in candidates:
        k = np.round(values * n / 255.0)
        if np.all(np.abs(255.0 * k / n - values) <= 0.5 + 1e-9) and len(np.unique(k)) == len(values):
            return k.astype(np.int64)[inverse]
    why = f"with {levels} levels" if levels else "with any number of levels up to 255"
    raise DataError(path, f"the grey values are not of the form round(255 * id / N) {why}")


def _first(props: dict, keys) -> np.ndarray | None:
    return next((props[k] for k in keys if k in props), None)


def _read_ply(path, up: str, grey_levels: int | None) -> OwnScene:
    props = read_ply_vertices(path)
    missing = [axis for axis in "xyz" if axis not in props]
    if missing:
        raise DataError(path, f"PLY vertices lack the coordinate(s) {', '.join(missing)}")
    points = np.stack([props["x"], props["y"], props["z"]], 1)
    instance = _first(props, INSTANCE_KEYS)
    labels = _first(props, LABEL_KEYS)
    if instance is None:
        rgb = [props.get(c) for c in ("red", "green", "blue")]
        if any(c is None for c in rgb) or not (np.array_equal(rgb[0], rgb[1]) and np.array_equal(rgb[1], rgb[2])):
            raise DataError(path, "unlabelled scene: no 'instance' vertex property and the colours are not "
                                  "grey-coded instance ids (red = green = blue = round(255 * id / N))")
        if rgb[0].dtype.kind == "f" and rgb[0].size and np.nanmax(np.abs(rgb[0])) <= 1.0:
            raise DataError(path, f"the vertex colours are floats in [0, 1] ({rgb[0].dtype}); grey-coded instance ids "
                                  "need 8-bit (uchar) colours 0..255: write red, green, blue as uchar, or give an "
                                  "'instance' vertex property")
        instance = decode_grey(path, rgb[0], grey_levels)
    return _checked(path, points, instance, labels, up)


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive's first bytes (np.savez writes zips)


def _check_npz_magic(path) -> None:
    """np.load takes any file that is neither a zip nor an NPY for a pickle, so a text or damaged
    file would be reported as pickled data: tell what the file really is first."""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as exc:
        raise DataError(path, f"cannot read the file ({exc.strerror or exc})") from None
    if not head:
        raise DataError(path, "the file is empty")
    if head == b"\x93NUMPY":
        raise DataError(path, "is a single NPY array, not an NPZ file (save the scene with np.savez)")
    if head[:1] == b"\x80":  # pickle protocol 2+
        raise DataError(path, "is a pickle file, not an NPZ file; refusing to load it")
    if head[:4] not in _ZIP_MAGIC:
        raise DataError(path, "not an NPZ file (not a zip archive); an own-data NPZ is written by np.savez")


def _read_npz(path, up: str) -> OwnScene:
    _check_npz_magic(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            if "points" not in keys or "instance" not in keys:
                what = "no 'instance' array (the scene is unlabelled)" if "points" in keys else "no 'points' array"
                raise DataError(path, f"{what}; an own-data NPZ holds 'points' (P, 3), 'instance' (P,) and "
                                      f"optionally 'label' (P,)")
            arrays = {k: data[k] for k in ("points", "instance", "label") if k in keys}
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(path, f"holds a pickled object or bad data; refusing to load it ({exc})") from None
    except Exception as exc:  # zipfile/numpy raise many types for damaged files
        raise DataError(path, f"not a readable .npz file ({type(exc).__name__}: {exc})") from None
    return _checked(path, arrays["points"], arrays["instance"], arrays.get("label"), up)


def _read_mesh_folder(path: Path, up: str, points_per_mesh: int, seed: int) -> OwnScene:
    import trimesh

    files = sorted(f for f in path.iterdir() if f.suffix.lower() in MESH_SUFFIXES)
    if not files:
        raise DataError(path, f"the folder holds no mesh files ({', '.join(MESH_SUFFIXES)})")
    stems = [_STEM.match(f.stem) for f in files]
    for f, match in zip(files, stems):
        if match is None:
            raise DataError(f, "a mesh file name must be '<instance id>.<ext>' or '<instance id>_<label>.<ext>'")
    ids = [int(m.group(1)) for m in stems]
    labels = [m.group(2) or "" for m in stems]
    if len(set(ids)) != len(ids):
        raise DataError(path, "two mesh files share an instance id")
    if any(labels) and not all(labels):
        raise DataError(path, "either every mesh file name carries a label or none does")
    points = []
    for f, object_id in zip(files, ids):
        geometry = load_trimesh(f)
        vertices = np.asarray(geometry.vertices, dtype=np.float64)
        if len(getattr(geometry, "faces", ())) and float(geometry.area) > 0:
            rng = np.random.default_rng([seed, object_id])
            vertices, _ = trimesh.sample.sample_surface(geometry, points_per_mesh, seed=rng)
        points.append(np.asarray(vertices, dtype=np.float64))  # a file without faces is a point set
    counts = [len(p) for p in points]
    flat = None
    if all(labels):
        flat = np.repeat(np.array(labels), counts)
        if all(label.isdigit() for label in labels):
            flat = flat.astype(np.int64)
    return _checked(path, np.concatenate(points), np.repeat(ids, counts), flat, up)


def load_scene(path: str | os.PathLike, up: str = "y", grey_levels: int | None = None,
               points_per_mesh: int = 2000, seed: int = 0) -> OwnScene:
    """Read one instance-labelled scene (any format of the module docstring) into y-up metres."""
    path = Path(path)
    if up not in UP_ROTATIONS:
        raise DataError(path, f"--up must be one of {', '.join(sorted(UP_ROTATIONS))}, got {up!r}")
    if path.is_dir():
        return _read_mesh_folder(path, up, points_per_mesh, seed)
    if not path.exists():
        raise DataError(path, "no such file or folder")
    suffix = path.suffix.lower()
    if suffix == ".ply":
        return _read_ply(path, up, grey_levels)
    if suffix == ".npz":
        return _read_npz(path, up)
    raise DataError(path, "unknown scene format (expected .ply, .npz or a folder of per-object meshes)")


def object_classes(scene: OwnScene, table: ClassTable) -> np.ndarray:
    """(N,) class ids of the scene's objects in `table` (rules in the module docstring)."""
    labels = scene.object_labels()
    if labels is None:
        raise DataError(scene.path, "the scene has no class labels")
    if labels.dtype.kind in "iu":
        bad = labels[(labels < 0) | (labels >= len(table))]
        if len(bad):
            raise DataError(scene.path, f"class label {int(bad[0])} is not a class id of the {table.name} "
                                        f"table (0..{len(table) - 1}: {', '.join(table.names)})")
        return labels.astype(np.int64)
    lookup = {}
    for class_id, name in enumerate(table.names):
        for key in [name] + name.split("/"):
            lookup.setdefault(key.lower(), class_id)
    out = np.array([lookup.get(str(label).lower(), -1) for label in labels], dtype=np.int64)  # one per object
    if (out < 0).any():
        raise DataError(scene.path, f"class label '{labels[out < 0][0]}' is not a class of the {table.name} "
                                    f"table ({', '.join(table.names)}); rename it to one of them, or leave the "
                                    f"labels out to use the semantics-free checkpoint")
    return out


def write_ply_scene(path, points, instance=None, labels=None, grey_levels: int | None = None) -> None:
    """A scene PLY in the file's own frame: with `instance` (and `label`) properties, or, with
    `grey_levels`, the grey-coded form (red = green = blue = round(255 * id / grey_levels))."""
    points = np.asarray(points, dtype=np.float32)
    columns = {"x": points[:, 0], "y": points[:, 1], "z": points[:, 2]}
    if grey_levels:
        grey = grey_values(instance, grey_levels)
        columns.update(red=grey, green=grey, blue=grey)
    else:
        if instance is not None:
            columns["instance"] = np.asarray(instance, dtype=np.int32)
        if labels is not None:
            columns["label"] = np.asarray(labels, dtype=np.int32)
    write_ply(path, columns)


def write_npz_scene(path, points, instance, labels=None) -> None:
    """An own-data NPZ: `points`, `instance` and, when given, `label` (integers or names)."""
    arrays = {"points": np.asarray(points, dtype=np.float32), "instance": np.asarray(instance, dtype=np.int64)}
    if labels is not None:
        arrays["label"] = np.asarray(labels)
    atomic.save_npz(path, arrays)
