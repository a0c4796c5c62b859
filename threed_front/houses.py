"""3D-FRONT house files -> rooms as `Scene`s (DESIGN §8.1).

A house JSON has `furniture[]` {uid, jid (the 3D-FUTURE model id), valid}, `mesh[]` {uid, jid, type,
xyz (flat), faces (flat)} and `scene.room[]` {instanceid, type, children[] {ref, pos, rot (unit
quaternion x, y, z, w), scale}}. A room's children name furniture pieces and meshes by uid.

- Furniture pose: world = (canonical * scale) @ R^T + pos with R the yaw part of `rot` (only the
  yaw about +y matters; a tilt in the file is dropped). Meshes get their child transform in full.
- Floor outline: the room's `Floor` meshes, merged; every boundary loop becomes its own polygon
  (`geometry.mesh_outline_xz`), so holes and disjoint floor parts stay separate loops.
- Height: the y-range of the room's `WallInner` meshes (3.0 m without walls), above the floor's
  lowest point.
- Room filters: at least 2 furniture pieces with a model in the pool, every furniture scale in
  [1e-5, 5], a floor outline. Room id = `<house stem>_<instanceid>`.
Anything else that is wrong with one house or room skips it with a counted warning (`SkipLog`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from scene_analogy.files.errors import DataError
from scene_analogy.files.json_files import read_json
from scene_analogy.files.skips import SkipLog
from scene_analogy.ops.geometry import mesh_outline_xz, quaternion_matrix, yaw_matrix, yaw_of
from scene_analogy.structures.pool import ObjectPool
from scene_analogy.structures.scene import FloorPlan, Scene

DEFAULT_HEIGHT = 3.0
SCALE_RANGE = (1e-5, 5.0)
MIN_FURNITURE = 2


def _pose(child: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pos (3,), rotation (3, 3), scale (3,)) of a room child; ValueError when malformed."""
    pos = np.asarray(child.get("pos", [0, 0, 0]), dtype=np.float64).reshape(3)
    quat = np.asarray(child.get("rot", [0, 0, 0, 1]), dtype=np.float64).reshape(4)
    scale = np.asarray(child.get("scale", [1, 1, 1]), dtype=np.float64).reshape(3)
    if not (np.isfinite(pos).all() and np.isfinite(quat).all() and np.isfinite(scale).all()) or np.linalg.norm(quat) < 1e-9:
        raise ValueError(f"child '{child.get('ref')}' has a non-finite pose or a zero quaternion")
    return pos, quaternion_matrix(quat), scale


def _posed_mesh(mesh: dict, child: dict) -> tuple[np.ndarray, np.ndarray]:
    pos, rot, scale = _pose(child)
    xyz = np.asarray(mesh["xyz"], dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(mesh["faces"], dtype=np.int64).reshape(-1, 3)
    if len(faces) and (faces.min() < 0 or faces.max() >= len(xyz)):
        raise ValueError(f"mesh '{mesh.get('uid')}' has face indices outside its {len(xyz)} vertices")
    return (xyz * scale) @ rot.T + pos, faces


def room_scene(room: dict, furniture: dict, meshes: dict, pool: ObjectPool, skips: SkipLog, where: str) -> Scene | None:
    """The room as a Scene, or None (counted in `skips`) when a filter drops it."""
    pieces, floors, walls = [], [], []
    for child in room.get("children", []):
        ref = child.get("ref")
        if ref in furniture:
            if furniture[ref].get("valid", True) is False:
                skips.add("furniture pieces", "marked invalid", where)
                continue
            pieces.append((str(furniture[ref].get("jid")), *_pose(child)))
        elif ref in meshes and meshes[ref].get("type") in ("Floor", "WallInner"):
            (floors if meshes[ref]["type"] == "Floor" else walls).append(_posed_mesh(meshes[ref], child))
    if any(((s < SCALE_RANGE[0]) | (s > SCALE_RANGE[1])).any() for *_, s in pieces):
        skips.add("rooms", f"a furniture scale outside [{SCALE_RANGE[0]:g}, {SCALE_RANGE[1]:g}]", where)
        return None
    for jid, *_ in pieces:
        if jid not in pool:
            skips.add("furniture pieces", "model not usable (no folder, unknown class or unreadable mesh)", where, jid)
    pieces = [p for p in pieces if p[0] in pool]
    if len(pieces) < MIN_FURNITURE:
        skips.add("rooms", "empty: no usable furniture" if not pieces else "only one usable furniture piece", where)
        return None
    polygons, floor_y = [], 0.0
    if floors:
        offsets = np.cumsum([0] + [len(v) for v, _ in floors[:-1]])
        vertices = np.concatenate([v for v, _ in floors])
        polygons = mesh_outline_xz(vertices, np.concatenate([f + o for (_, f), o in zip(floors, offsets)]))
        floor_y = float(vertices[:, 1].min())
    if not polygons:
        skips.add("rooms", "no Floor mesh with an outline", where)
        return None
    wall_y = np.concatenate([v[:, 1] for v, _ in walls]) if walls else np.zeros(0)
    height = float(wall_y.max() - wall_y.min()) if len(wall_y) and np.ptp(wall_y) > 0 else DEFAULT_HEIGHT
    infos = [pool[jid] for jid, *_ in pieces]
    pos = np.stack([p[1] for p in pieces])
    rots = yaw_matrix(yaw_of(np.stack([p[2] for p in pieces])))
    scales = np.stack([p[3] for p in pieces])
    centres = np.stack([m.centre for m in infos]) * scales
    return Scene(
        [m.model_id for m in infos], [m.class_id for m in infos], [m.class_name for m in infos],
        np.stack([m.size for m in infos]) * scales, np.einsum("nij,nj->ni", rots, centres) + pos, scales, rots, pos,
        FloorPlan.from_polygons(polygons, floor_y, floor_y + height),
    )


def house_rooms(path: Path, pool: ObjectPool, skips: SkipLog) -> list[tuple[str, Scene]]:
    """(room id, Scene) of every room of one house file that passes the filters."""
    try:
        house = read_json(path, "house")
        furniture = {f["uid"]: f for f in house["furniture"]}
        meshes = {m["uid"]: m for m in house["mesh"]}
        rooms = list(house["scene"]["room"])
    except (DataError, ValueError, KeyError, TypeError) as exc:
        detail = exc.problem if isinstance(exc, DataError) else f"{type(exc).__name__}: {exc}"
        skips.add("houses", "malformed house JSON", path, detail)
        return []
    out = []
    for room in rooms:
        where = f"{path} room '{room.get('instanceid') if isinstance(room, dict) else '?'}'"
        try:
            scene = room_scene(room, furniture, meshes, pool, skips, where)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            skips.add("rooms", "malformed room entry", where, str(exc))
            continue
        if scene is not None:
            out.append((f"{path.stem}_{room['instanceid']}", scene))
    return out


def read_rooms(house_root: str | os.PathLike, pool: ObjectPool, num_load_layout: int, skips: SkipLog,
               progress: bool = True) -> list[tuple[str, Scene]]:
    """Rooms of the house files under `house_root` (sorted by name), at most `num_load_layout` (-1: all)."""
    root = Path(house_root)
    if not root.is_dir():
        raise DataError(root, "3D-FRONT house folder not found")
    files = sorted(root.glob("*.json"))
    if not files:
        raise DataError(root, "no house JSON files")
    rooms: list[tuple[str, Scene]] = []
    for path in tqdm(files, desc="houses", disable=not progress):
        rooms += house_rooms(path, pool, skips)
        if 0 <= num_load_layout <= len(rooms):
            return rooms[:num_load_layout]
    if not rooms:
        raise DataError(root, "no room passed the filters (>= 2 furniture pieces with usable models, scales in "
                              "[1e-5, 5], a Floor mesh); see the warnings above")
    return rooms
