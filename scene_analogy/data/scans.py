"""Object assets and scene files from fused scans with oriented boxes (the core of ARKit's asset_gen).

A dataset reader turns each scan into a `Scan`: the fused mesh in the y-up frame (vertices, faces,
optional vertex colours) and its annotated objects as `ScanBox`es (label, centre, box axes, size).
`write_scan_assets` then writes, under a save root,

    objects/<split>/<label>_<hash>.ply   each box's part of the mesh, in the box's canonical frame
    scenes/<split>/<scan>.npz            trans (N,3), rot (N,3,3), obj_ids, obj_classes, obj_classes_str,
                                         fp_points (2H,3), fp_lines (3H,2)   (DESIGN §8.2)
    objects/model_info.json              every asset: class, label, split, scan (written by `finish`)

Floor at the 0.1 % height quantile shifted to y = 0, ceiling at the 99.9 %, outline the convex hull
of the footprint, boxes kept upright (yaw only, centred frames), crops without the floor under the
furniture, stable asset ids: the reasons are in docs/decisions.md, "ARKit scan assets".
Reading back (`asset_meshes`, `asset_pool`, `read_scan_scenes`): the split of an asset or scene is the
folder it lies in; a scene object's box is its asset's canonical box (scale 1).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from scene_analogy.data.model_samples import model_boxes
from scene_analogy.files import atomic
from scene_analogy.files.errors import DataError
from scene_analogy.files.json_files import read_json
from scene_analogy.files.ply import write_ply
from scene_analogy.files.skips import SkipLog
from scene_analogy.ops.geometry import upright_yaw_boxes
from scene_analogy.structures.classes import ClassTable
from scene_analogy.structures.pool import SPLITS, ModelInfo, ObjectPool
from scene_analogy.structures.scene import FloorPlan, Scene, open_npz

HEIGHT_QUANTILES = (0.001, 0.999)
OUTLINE_TOLERANCE = 0.02  # metres
INFO_FILE = "model_info.json"
SCENE_KEYS = ("trans", "rot", "obj_ids", "obj_classes", "obj_classes_str", "fp_points", "fp_lines")


@dataclass(frozen=True)
class ScanBox:
    """An annotated object: y-up centre (3,), rotation (3, 3) whose columns are the box axes, and
    the box's extent along each of them (3,)."""

    label: str
    uid: str
    centre: np.ndarray
    rot: np.ndarray
    size: np.ndarray


@dataclass
class Scan:
    name: str
    split: str
    vertices: np.ndarray  # (V, 3) y-up
    faces: np.ndarray  # (F, 3)
    colours: np.ndarray | None  # (V, 3) uint8
    boxes: list[ScanBox]


def scan_heights(vertices: np.ndarray) -> tuple[float, float]:
    """(floor y, ceiling y) of a scan: robust low and high quantiles of its vertex heights."""
    lo, hi = np.quantile(vertices[:, 1], HEIGHT_QUANTILES)
    return float(lo), float(hi)


def simplify_convex(polygon: np.ndarray, tol: float = OUTLINE_TOLERANCE) -> np.ndarray:
    """Drop, one at a time, the corner nearest the chord of its two neighbours while nearer than `tol`."""
    poly = np.asarray(polygon, dtype=np.float64)
    while len(poly) > 3:
        prev, nxt = np.roll(poly, 1, axis=0), np.roll(poly, -1, axis=0)
        chord = nxt - prev
        cross = np.abs(chord[:, 0] * (poly - prev)[:, 1] - chord[:, 1] * (poly - prev)[:, 0])
        dist = cross / np.maximum(np.linalg.norm(chord, axis=1), 1e-12)
        k = int(np.argmin(dist))
        if dist[k] >= tol:
            break
        poly = np.delete(poly, k, axis=0)
    return poly


def scan_floor_plan(vertices: np.ndarray, floor_y: float, ceiling_y: float) -> FloorPlan:
    """Convex hull of the scan's xz footprint (counter-clockwise) at floor and ceiling height."""
    from scipy.spatial import ConvexHull, QhullError

    xz = vertices[:, [0, 2]]
    try:
        hull = ConvexHull(xz)
    except (QhullError, ValueError) as exc:
        raise ValueError(f"the scan's footprint has no area ({type(exc).__name__})") from None
    corners = xz[hull.vertices]  # counter-clockwise in (x, z) for 2-D hulls
    return FloorPlan.from_polygons([simplify_convex(corners)], floor_y, ceiling_y)


def crop_box(vertices: np.ndarray, faces: np.ndarray, centre: np.ndarray, rot: np.ndarray, size: np.ndarray,
             margin: float, floor_y: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The faces inside the box grown by `margin`, without those lying within `margin` of `floor_y`:
    (canonical vertices (v, 3), faces (f, 3), the kept vertices' indices in the scan), or None when
    no face is left."""
    local = (vertices - centre) @ rot  # world = local @ rot.T + centre
    inside = (np.abs(local) <= size / 2 + margin).all(1)
    keep = inside[faces].all(1)
    if floor_y is not None:
        keep &= ~(vertices[faces, 1] <= floor_y + margin).all(1)
    if not keep.any():
        return None
    used, inverse = np.unique(faces[keep], return_inverse=True)
    return local[used], inverse.reshape(-1, 3).astype(np.int64), used


def asset_id(label: str, scan: str, uid: str) -> str:
    return f"{label}_{hashlib.sha1(f'{scan}/{uid}'.encode()).hexdigest()[:10]}"


class AssetWriter:
    """Writes the assets of one scan after another (`add`), then the asset list (`finish`)."""

    def __init__(self, save_root: str | os.PathLike, classes: ClassTable, margin: float, skips: SkipLog) -> None:
        self.root, self.classes, self.margin, self.skips = Path(save_root), classes, margin, skips
        self.models: dict[str, dict] = {}
        self.scenes = {"train": 0, "test": 0}
        self.scene_files: set[Path] = set()

    def add(self, scan: Scan, where: str | os.PathLike) -> bool:
        """Write one scan's objects and scene file; False (counted) when nothing of it is usable."""
        known = [b for b in scan.boxes if b.label in self.classes.names]
        for box in scan.boxes:
            if box.label not in self.classes.names:
                self.skips.add("objects", f"label not among the {len(self.classes)} {self.classes.name} classes",
                               where, f"'{box.label}'")
        if not known:
            self.skips.add("scans", "no object with a known label", where)
            return False
        floor_y, ceiling_y = scan_heights(scan.vertices)
        try:
            floor = scan_floor_plan(scan.vertices, floor_y, ceiling_y)
        except ValueError as exc:
            self.skips.add("scans", "no floor outline", where, str(exc))
            return False
        rots, sizes = upright_yaw_boxes(np.stack([b.rot for b in known]), np.stack([b.size for b in known]))
        rows, new = [], {}
        for box, rot, size in zip(known, rots, sizes):
            crop = crop_box(scan.vertices, scan.faces, box.centre, rot, size, self.margin, floor_y)
            if crop is None:
                self.skips.add("objects", "no scan face inside the box", where, f"'{box.label}' {box.uid}")
                continue
            local, faces, used = crop
            model_id = asset_id(box.label, scan.name, box.uid)
            columns = {"x": local[:, 0].astype(np.float32), "y": local[:, 1].astype(np.float32),
                       "z": local[:, 2].astype(np.float32)}
            if scan.colours is not None:
                columns.update(zip(("red", "green", "blue"), scan.colours[used].T))
            write_ply(self.root / "objects" / scan.split / f"{model_id}.ply", columns, faces=faces)
            rows.append((model_id, self.classes.id_of(box.label), box.label, rot, box.centre - [0.0, floor_y, 0.0]))
            new[model_id] = {"class_id": self.classes.id_of(box.label), "label": box.label, "split": scan.split,
                             "scan": scan.name, "mesh": f"{scan.split}/{model_id}.ply"}
        if not rows:
            self.skips.add("scans", "no box holds any of the scan's faces", where)
            return False
        floor.points[:, 1] -= floor_y
        scene_file = self.root / "scenes" / scan.split / f"{scan.name}.npz"
        self.scene_files.add(scene_file)
        atomic.save_npz(scene_file, {
            "trans": np.stack([r[4] for r in rows]), "rot": np.stack([r[3] for r in rows]),
            "obj_ids": np.array([r[0] for r in rows]), "obj_classes": np.array([r[1] for r in rows], dtype=np.int64),
            "obj_classes_str": np.array([r[2] for r in rows]), "fp_points": floor.points, "fp_lines": floor.lines,
        })
        self.models.update(new)
        self.scenes[scan.split] += 1
        return True

    def finish(self, source: str | os.PathLike | None = None) -> dict:
        """Write the asset list and remove assets and scenes that an earlier run left (not written now).
        `source` (the scans' folder) is what an error names when no scan gave an asset."""
        if not self.models:
            raise DataError(source or self.root, "no scan gave any object asset; see the warnings above")
        atomic.write_json(self.root / "objects" / INFO_FILE, {"classes": self.classes.name, "models": self.models})
        written = {self.root / "objects" / row["mesh"] for row in self.models.values()} | self.scene_files
        for split in self.scenes:
            for stale in [*(self.root / "objects" / split).glob("*.ply"), *(self.root / "scenes" / split).glob("*.npz")]:
                if stale not in written:
                    stale.unlink()
        return {"objects": len(self.models), **{f"{s}_scenes": n for s, n in self.scenes.items()}}


# -- reading the assets and scan scenes back, with the split each came from --


def asset_meshes(obj_root: str | os.PathLike, classes: ClassTable, hint: str = "") -> list[tuple[str, str]]:
    """(asset id, mesh path relative to obj_root) of every asset in `<obj_root>/model_info.json`
    (the asset writer's list, so files left over from an earlier run are not sampled)."""
    path = Path(obj_root) / INFO_FILE
    if not path.is_file():
        raise DataError(obj_root, f"no object assets ({INFO_FILE} not found)" + (f": {hint}" if hint else ""))
    return [(m, row["mesh"]) for m, row in sorted(read_asset_info(path, classes).items())]


def read_asset_info(path: str | os.PathLike, classes: ClassTable, hint: str = "") -> dict[str, dict]:
    """Asset id -> {class_id, label, split, mesh, scan} from the asset writer's model_info.json."""
    path = Path(path)
    info = read_json(path, "asset list",
                     missing="asset list not found" + (f": {hint}" if hint else " (written by the asset generator)"))
    try:
        models = info["models"]
        bad = [m for m, row in models.items() if not 0 <= int(row["class_id"]) < len(classes)
               or row["split"] not in SPLITS or not isinstance(row["mesh"], str)]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(path, f"not an asset list ({type(exc).__name__}: {exc})") from None
    if bad:
        raise DataError(path, f"asset '{bad[0]}' has a class id outside 0..{len(classes) - 1} or an unknown split")
    return models


def asset_pool(info: dict[str, dict], obj_root: str | os.PathLike, boxes_cache: str | os.PathLike | None,
               classes: ClassTable, skips: SkipLog, progress: bool = True) -> ObjectPool:
    """The pool of every listed asset whose mesh loads (boxes from the point sampler's cache if current)."""
    boxes = model_boxes({m: row["mesh"] for m, row in info.items()}, obj_root, boxes_cache, skips, progress)
    if not boxes:
        raise DataError(obj_root, "no listed asset has a loadable mesh")
    return ObjectPool([
        ModelInfo(m, int(info[m]["class_id"]), classes.name_of(info[m]["class_id"]), "", info[m]["split"],
                  tuple(lo.tolist()), tuple(hi.tolist()))
        for m, (lo, hi) in sorted(boxes.items())
    ])


def read_scan_scene(path: Path, pool: ObjectPool, skips: SkipLog) -> Scene | None:
    """One `scenes/<split>/<scan>.npz` as a Scene; objects missing from the pool are dropped (counted)."""
    with open_npz(path) as npz:
        missing = [k for k in SCENE_KEYS if k not in npz.files]
        if missing:
            raise DataError(path, f"missing key(s) {', '.join(missing)}")
        arrays = {k: npz[k] for k in SCENE_KEYS}
    for key in ("trans", "rot", "fp_points"):
        if not np.isfinite(arrays[key].astype(np.float64)).all():
            raise DataError(path, f"key '{key}' contains NaN or infinite values")
    ids = arrays["obj_ids"].astype(str)
    keep = np.array([m in pool for m in ids], dtype=bool)
    for m in ids[~keep]:
        skips.add("scene objects", "asset not in the pool (no mesh, or not listed)", path, m)
    if keep.sum() < 2:
        skips.add("scenes", "fewer than 2 usable objects", path)
        return None
    rots, trans = arrays["rot"][keep].astype(np.float64), arrays["trans"][keep].astype(np.float64)
    centres = pool.centres(ids[keep])
    return Scene(ids[keep], arrays["obj_classes"][keep], arrays["obj_classes_str"][keep], pool.sizes(ids[keep]),
                 np.einsum("nij,nj->ni", rots, centres) + trans, np.ones((int(keep.sum()), 3)), rots, trans,
                 FloorPlan(arrays["fp_points"].astype(np.float64), arrays["fp_lines"].astype(np.int64)))


def read_scan_scenes(scene_root: str | os.PathLike, pool: ObjectPool, num_load: int, skips: SkipLog,
                     progress: bool = True) -> tuple[list[tuple[str, Scene]], list[str]]:
    """(scan name, Scene) of `<scene_root>/scenes/{train,test}/*.npz` (at most `num_load`; -1: all),
    and the split of each."""
    root = Path(scene_root) / "scenes"
    files = [(split, p) for split in SPLITS for p in sorted((root / split).glob("*.npz"))]
    if not files:
        raise DataError(root, "no scan scenes (scenes/{train,test}/*.npz)")
    sources, splits = [], []
    for split, path in tqdm(files, desc="scenes", disable=not progress):
        scene = read_scan_scene(path, pool, skips)
        if scene is not None:
            sources.append((path.stem, scene))
            splits.append(split)
        if 0 <= num_load <= len(sources):
            break
    if not sources:
        raise DataError(root, "no scan scene has 2 usable objects; see the warnings above")
    return sources, splits
