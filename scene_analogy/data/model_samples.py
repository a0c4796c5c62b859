"""Object models as mesh files: point samples of a whole model folder, and their boxes.

The generic half of every dataset's `extract_point_samples`: a dataset lists its models as
(model id, mesh path relative to its object root); this module samples each mesh (DESIGN §8.3
layout, `samples.surface_samples`) and records each model's canonical box in
`<samples_root>/model_boxes.json`, so scene generation does not parse every mesh again. A mesh that
fails to load is skipped with a counted warning.

`model_boxes.json`: {"obj_root": str, "models": {id: {"mesh": relative path, "bbox_min": [3],
"bbox_max": [3], "bytes": int, "mtime_ns": int}}}; an entry whose mesh file changed size or time
since is ignored (the mesh is read again).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from scene_analogy.files import atomic
from scene_analogy.files.errors import DataError
from scene_analogy.files.json_files import read_json
from scene_analogy.files.mesh import load_mesh
from scene_analogy.files.skips import SkipLog
from scene_analogy.structures.samples import model_seed, surface_samples, write_samples

BOXES_FILE = "model_boxes.json"


def _stamp(path: Path) -> dict:
    stat = path.stat()
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def sample_model_files(models: list[tuple[str, str]], obj_root: str | os.PathLike, save_root: str | os.PathLike,
                       counts: list[int], mesh_num_samples: int = 10000, seed: int = 0,
                       skips: SkipLog | None = None, progress: bool = True) -> dict:
    """Sample every (model id, relative mesh path); returns {"sampled", "skipped", "seconds"}."""
    obj_root, save_root = Path(obj_root), Path(save_root)
    skips = skips if skips is not None else SkipLog()
    if not models:
        raise DataError(obj_root, "no model meshes found")
    if mesh_num_samples < 2 * max(counts):
        raise DataError(None, f"--mesh_num_samples {mesh_num_samples} is below twice the largest --save_num_samples "
                              f"{max(counts)} (sample_<2N> holds the disjoint keypoints of sample_<N>)")
    boxes, start = {}, time.perf_counter()
    for model_id, rel in tqdm(models, desc="point samples", disable=not progress):
        path = obj_root / rel
        try:
            vertices, faces = load_mesh(path)
            samples = surface_samples(vertices, faces, mesh_num_samples, list(counts), model_seed(seed, model_id))
        except (DataError, ValueError) as exc:
            skips.add("models", "mesh failed to load", path, getattr(exc, "problem", str(exc)))
            continue
        write_samples(save_root, model_id, samples)
        boxes[model_id] = {"mesh": str(rel), "bbox_min": vertices.min(0).tolist(),
                           "bbox_max": vertices.max(0).tolist(), **_stamp(path)}
    if not boxes:
        raise DataError(obj_root, "no model mesh could be loaded")
    atomic.write_json(save_root / BOXES_FILE, {"obj_root": str(obj_root), "models": boxes})
    return {"sampled": len(boxes), "skipped": len(models) - len(boxes), "seconds": time.perf_counter() - start}


def model_boxes(models: dict[str, str], obj_root: str | os.PathLike, cache: str | os.PathLike | None,
                skips: SkipLog, progress: bool = True) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Canonical (bbox_min, bbox_max) of each model id -> relative mesh path, from the cache written
    by `sample_model_files` where it is current, else from the mesh; unreadable meshes are skipped."""
    obj_root = Path(obj_root)
    cached = {}
    if cache is not None and Path(cache).is_file():
        try:
            cached = read_json(cache, "box cache")["models"]
        except (DataError, KeyError, TypeError):
            cached = {}  # a broken cache only costs time: the meshes are read again
    out, todo = {}, []
    for model_id, rel in models.items():
        entry, path = cached.get(model_id), obj_root / rel
        if entry and path.is_file() and {k: entry.get(k) for k in ("bytes", "mtime_ns")} == _stamp(path):
            out[model_id] = (np.asarray(entry["bbox_min"], float), np.asarray(entry["bbox_max"], float))
        else:
            todo.append((model_id, path))
    for model_id, path in tqdm(todo, desc="model boxes", disable=not progress or not todo):
        try:
            vertices, _ = load_mesh(path)
        except DataError as exc:
            skips.add("models", "mesh failed to load", path, exc.problem)
            continue
        out[model_id] = (vertices.min(0), vertices.max(0))
    return out
