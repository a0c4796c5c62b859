"""3D-FUTURE models: the model folder, `model_info.json` (classes, subclasses) and the object pool.

`model_info.json` is a list of {`model_id`, `super-category`, `category`, `style`, `theme`,
`material`}; the lower-cased super-category names the class (`classes.THREED_FRONT`), the lower-cased
category is the subclass that swaps prefer. A model's mesh is `<obj_root>/<model_id>/raw_model.obj`
in its own canonical frame (`scene_analogy.mesh_io`).

Decisions: a model whose box is flatter than `MIN_SIZE` along an axis (a rug, a wall panel) gets its
box widened to `MIN_SIZE` there, so rescaling a swap to that box never divides by zero. Models are
split between train and test per class (`scene_gen.model_splits`), so positives of train and test
triplets use disjoint models.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from scene_analogy.data.model_samples import model_boxes
from scene_analogy.data.triplets import model_splits
from scene_analogy.files.errors import DataError
from scene_analogy.files.json_files import read_json
from scene_analogy.files.skips import SkipLog
from scene_analogy.structures.classes import THREED_FRONT
from scene_analogy.structures.pool import ModelInfo, ObjectPool

from . import MODEL_ROOTS

MESH_NAME = "raw_model.obj"
MIN_SIZE = 0.01  # metres


def find_model_root(obj_root: str | os.PathLike | None, verbose: bool = True) -> Path:
    """`--obj_root` when given; else the first of data/3D-FUTURE-model, data/3D-FRONT-model that exists."""
    if obj_root is not None:
        if not Path(obj_root).is_dir():
            raise DataError(obj_root, "model folder not found")
        return Path(obj_root)
    for candidate in MODEL_ROOTS:
        if Path(candidate).is_dir():
            if verbose:
                print(f"using the model folder {candidate}")
            return Path(candidate)
    raise DataError(None, f"no model folder: looked for {' and '.join(MODEL_ROOTS)} (or pass --obj_root)")


def model_folders(obj_root: Path, skips: SkipLog) -> list[tuple[str, str]]:
    """(model id, mesh path relative to obj_root) of every model folder holding a raw_model.obj."""
    found = []
    for folder in sorted(p for p in obj_root.iterdir() if p.is_dir()):
        if (folder / MESH_NAME).is_file():
            found.append((folder.name, f"{folder.name}/{MESH_NAME}"))
        else:
            skips.add("model folders", f"no {MESH_NAME}", folder)
    return found


def read_model_info(path: str | os.PathLike, skips: SkipLog) -> dict[str, tuple[int, str]]:
    """model id -> (class id, subclass); entries with an unknown super-category are skipped."""
    path = Path(path)
    rows = read_json(path, "file", missing="model_info.json not found")
    if not isinstance(rows, list):
        raise DataError(path, f"expected a list of models, found {type(rows).__name__}")
    info = {}
    for row in rows:
        try:
            model_id, super_category = str(row["model_id"]), str(row["super-category"]).strip().lower()
        except (KeyError, TypeError):
            skips.add("model_info entries", "no model_id or super-category", path)
            continue
        if super_category not in THREED_FRONT.names:
            skips.add("models", "unknown super-category", path, f"'{row['super-category']}' of {model_id}")
            continue
        info[model_id] = (THREED_FRONT.id_of(super_category), str(row.get("category") or "").strip().lower())
    if not info:
        raise DataError(path, "no model with a known super-category")
    return info


def build_pool(info: dict[str, tuple[int, str]], obj_root: Path, boxes_cache: str | os.PathLike | None,
               skips: SkipLog, train_ratio: float, seed: int, progress: bool = True) -> ObjectPool:
    """The object pool of every listed model whose mesh exists and loads (boxes from the cache if current)."""
    present = {}
    for model_id in info:
        if (obj_root / model_id / MESH_NAME).is_file():
            present[model_id] = f"{model_id}/{MESH_NAME}"
        else:
            skips.add("models", "model folder or raw_model.obj missing", obj_root / model_id)
    boxes = model_boxes(present, obj_root, boxes_cache, skips, progress)
    ids = sorted(boxes)
    if not ids:
        raise DataError(obj_root, "no listed model has a loadable raw_model.obj")
    splits = model_splits(ids, [info[m][0] for m in ids], train_ratio, seed)
    models = []
    for model_id, split in zip(ids, splits):
        lo, hi = boxes[model_id]
        pad = np.maximum(MIN_SIZE - (hi - lo), 0.0) / 2
        class_id, subclass = info[model_id]
        models.append(ModelInfo(model_id, class_id, THREED_FRONT.name_of(class_id), subclass, split,
                                tuple((lo - pad).tolist()), tuple((hi + pad).tolist())))
    return ObjectPool(models)
