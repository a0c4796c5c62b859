"""Reading back what `scan_assets` wrote: the object assets (for point samples and the object pool)
and the scan scenes (the sources of `scene_gen`), with the split each came from.

The split of an asset or scene is the folder it lies in (`objects/<split>/`, `scenes/<split>/`),
which the asset writer took from the dataset's own train/test folders; triplets of a split swap
only among that split's assets. A scene object's box is its asset's canonical box (scale 1).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .classes import ClassTable
from .errors import DataError
from .model_files import model_boxes
from .pool import SPLITS, ModelInfo, ObjectPool
from .scan_assets import INFO_FILE, SCENE_KEYS
from .scene import FloorPlan, Scene, open_npz
from .skips import SkipLog


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
    try:
        models = json.loads(path.read_text(encoding="utf-8"))["models"]
        bad = [m for m, row in models.items() if not 0 <= int(row["class_id"]) < len(classes)
               or row["split"] not in SPLITS or not isinstance(row["mesh"], str)]
    except FileNotFoundError:
        raise DataError(path, "asset list not found" + (f": {hint}" if hint else " (written by the asset generator)")) \
            from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
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
