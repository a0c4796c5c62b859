"""ARKitScenes 3DOD files -> `scan_assets.Scan`s (DESIGN §8.2).

- `<video_id>_3dod_mesh.ply`: the fused mesh, z up, with vertex colours (`red green blue`).
- `<video_id>_3dod_annotation.json`: `data[i]` {`uid`, `label`, `segments.obbAligned` {`centroid` (3),
  `axesLengths` (3), `normalizedAxes` (9, row-major; reshaped 3x3 and transposed it is R with
  world = local @ R.T + centroid)}}.
Both are turned from z-up to y-up by the proper rotation `geometry.Z_UP_TO_Y_UP`.

The split is the name of the folder directly under the scene root (`train` or `test`), never a
word found elsewhere in the path. Bad input is skipped with a count (`SkipLog`): a scan folder
without its two files, a mesh that cannot be read or has no faces, a malformed annotation file;
per object, a box with a zero, negative or non-finite size, centre or axes. A left-handed axes
triple (det -1) describes the same box as its proper twin with the third axis negated, so it is
read as that.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from scene_analogy.data.scans import Scan, ScanBox
from scene_analogy.files.errors import DataError
from scene_analogy.files.json_files import read_json
from scene_analogy.files.ply import read_ply_mesh
from scene_analogy.files.skips import SkipLog
from scene_analogy.ops.geometry import Z_UP_TO_Y_UP
from scene_analogy.structures.pool import SPLITS

MESH = "{}_3dod_mesh.ply"
ANNOTATION = "{}_3dod_annotation.json"


def scan_folders(scene_root: str | Path, skips: SkipLog) -> list[tuple[str, Path]]:
    """(split, folder) of every `<scene_root>/{train,test}/<video_id>/` folder."""
    root = Path(scene_root)
    if not root.is_dir():
        raise DataError(root, "ARKitScenes folder not found")
    for other in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in SPLITS):
        skips.add("folders", "not named train or test (rename Training to train, Validation to test)", other)
    found = [(s, d) for s in SPLITS if (root / s).is_dir() for d in sorted((root / s).iterdir()) if d.is_dir()]
    if not found:
        raise DataError(root, "no scan folders under train/ or test/ directly below this folder")
    return found


def _box(entry: dict) -> ScanBox:
    """One annotation entry as a y-up box; ValueError/KeyError/TypeError when malformed."""
    obb = entry["segments"]["obbAligned"]
    centre = np.asarray(obb["centroid"], dtype=np.float64).reshape(3)
    size = np.asarray(obb["axesLengths"], dtype=np.float64).reshape(3)
    rot = np.asarray(obb["normalizedAxes"], dtype=np.float64).reshape(3, 3).T
    if not (np.isfinite(centre).all() and np.isfinite(size).all() and np.isfinite(rot).all()):
        raise ValueError("a NaN or infinite centroid, size or axis")
    if (size <= 0).any():
        raise ValueError(f"axesLengths {size.tolist()} are not all positive")
    if np.abs(rot.T @ rot - np.eye(3)).max() > 1e-3:
        raise ValueError("normalizedAxes are not orthonormal")
    if np.linalg.det(rot) < 0:
        rot = rot * [1.0, 1.0, -1.0]
    return ScanBox(str(entry["label"]).strip().lower(), str(entry.get("uid", "")), centre @ Z_UP_TO_Y_UP.T,
                   Z_UP_TO_Y_UP @ rot, size)


def read_boxes(path: Path, skips: SkipLog) -> list[ScanBox] | None:
    """The valid boxes of an annotation file (bad ones counted), or None when the file is unusable."""
    try:
        entries = read_json(path, "annotation")["data"]
        if not isinstance(entries, list):
            raise TypeError(f"'data' is a {type(entries).__name__}, not a list")
    except (DataError, KeyError, TypeError) as exc:
        detail = exc.problem if isinstance(exc, DataError) else f"{type(exc).__name__}: {exc}"
        skips.add("scans", "malformed annotation JSON", path, detail)
        return None
    boxes = []
    for i, entry in enumerate(entries):
        try:
            box = _box(entry)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            skips.add("objects", "malformed or degenerate box", path, f"data[{i}]: {exc}")
            continue
        boxes.append(box if box.uid else ScanBox(box.label, str(i), box.centre, box.rot, box.size))
    return boxes


def read_scan(split: str, folder: Path, skips: SkipLog) -> Scan | None:
    """The scan of one video folder, y-up, or None (counted) when it cannot be used."""
    mesh, annotation = folder / MESH.format(folder.name), folder / ANNOTATION.format(folder.name)
    for path in (mesh, annotation):
        if not path.is_file():
            skips.add("scans", "missing mesh or annotation file", path)
            return None
    boxes = read_boxes(annotation, skips)
    if boxes is None:
        return None
    try:
        columns, faces = read_ply_mesh(mesh)
        vertices = np.stack([columns[k] for k in "xyz"], 1).astype(np.float64) @ Z_UP_TO_Y_UP.T
    except DataError as exc:
        skips.add("scans", "unreadable mesh", mesh, exc.problem)
        return None
    except KeyError:
        skips.add("scans", "unreadable mesh", mesh, "no x, y, z vertex properties")
        return None
    if not np.isfinite(vertices).all():
        skips.add("scans", "unreadable mesh", mesh, "NaN or infinite vertex coordinates")
        return None
    colours = np.stack([columns[k] for k in ("red", "green", "blue")], 1).astype(np.uint8) \
        if {"red", "green", "blue"} <= set(columns) else None
    return Scan(folder.name, split, vertices, faces, colours, boxes)


def list_scans(args, skips: SkipLog) -> list:
    """(folder, loader) of every scan under --scene_root; each loader reads one scan when called."""
    return [(folder, partial(read_scan, split, folder, skips)) for split, folder in scan_folders(args.scene_root, skips)]
