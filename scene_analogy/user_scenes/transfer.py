"""Carry things defined in the target scene into the reference through an analogy map.

Point lists (`read_points` / `transfer_points` / `write_points`), in the files' own frame and units:
- CSV (comma-separated). With a header row: columns `x, y, z` (required), optional `yaw` or all of
  `qx, qy, qz, qw`; any other column (a timestamp, an id) is carried unchanged. Without a header:
  3 columns x y z, 4 columns x y z yaw, or 7 columns x y z qx qy qz qw. Rows all as wide as row 1.
- JSON: a list of 3 / 4 / 7 numbers per point (the same meanings), or a list of objects with
  `position` [x, y, z] and optional `yaw` or `quaternion` [x, y, z, w]; other keys are carried.
  Every point has the first one's form (as many numbers; the same orientation key): `point_files.py`.
- NPY: a number array (M, 3), (M, 4) or (M, 7), the same column meanings.
Outputs (`transferred_<name>`, `transfer_names`) keep the input's format, order, columns and keys;
only the numbers change (an integer NPY array comes back as float64).

Orientations: yaw is in radians about the scene's up axis (right-handed), the body's forward axis
being +x (so yaw 0 faces +x); a quaternion (x, y, z, w) is a body-to-world rotation. Under the map
F a body frame R at p is carried by the local Jacobian J = dF/dx(p): the forward axis goes to
J R e_x, the up axis to J R e_up orthogonalised against it, and the third axis completes a
right-handed frame, so "forward" and "up" stay meaningful under a mirrored map (the lateral axis
flips). A yaw is read back from the new forward axis.

Placements (`place_mesh`): a mesh in its object frame with a pose JSON (`position`, one of `yaw`,
`quaternion` or `matrix` (4 x 4, rotation and translation; no scale), optional `scale`: a positive
number or 3 positive numbers applied in the object frame) is moved rigidly: position F(p), orientation
carried as above, its own scale kept (a chair does not grow because the reference room is larger).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from scene_analogy.files import atomic
from scene_analogy.files.errors import DataError
from scene_analogy.files.json_files import read_json
from scene_analogy.files.mesh import load_trimesh
from scene_analogy.match.analogy_map import AnalogyMap
from scene_analogy.ops.geometry import Z_UP_TO_Y_UP, yaw_matrix
from scene_analogy.user_scenes.point_files import is_json_number, json_item

__all__ = ["map_in_frame", "PointList", "read_points", "write_points", "transfer_points", "carry_frames",
           "transfer_names", "Placement", "read_placement", "carried_pose", "placement_corners", "place_mesh", "UP_INDEX"]

UP_INDEX = {"y": 1, "z": 2}
_QUAT = ("qx", "qy", "qz", "qw")


def map_in_frame(m: AnalogyMap, into_source: np.ndarray, into_target: np.ndarray) -> AnalogyMap:
    """The map G(x) = C_t^T F(C_s x) for file frames whose points turn into F's frame by the
    rotations C_s (source) and C_t (target) (`AnalogyMap.in_frame`: rotations keep distances, so the
    spline, the object parts and the bumps keep their forms)."""
    return m.in_frame(into_source, into_target)


def _yaw_rotations(yaw: np.ndarray, up: str) -> np.ndarray:
    """Rotations (M, 3, 3) by yaw (M,) about the file's up axis: the y-up yaw, conjugated into a
    z-up file's frame (Z_UP_TO_Y_UP takes +z onto +y and is proper, so the angle keeps its sense)."""
    rots = yaw_matrix(np.asarray(yaw, dtype=np.float64))
    return rots if up == "y" else Z_UP_TO_Y_UP.T @ rots @ Z_UP_TO_Y_UP


def _yaw_of(rots: np.ndarray, up: str) -> np.ndarray:
    f = rots[:, :, 0]  # forward axis
    return np.arctan2(f[:, 1], f[:, 0]) if up == "z" else np.arctan2(-f[:, 2], f[:, 0])


def carry_frames(jacobian: np.ndarray, rots: np.ndarray, up: str) -> np.ndarray:
    """Body frames rots (M, 3, 3) carried by Jacobians (M, 3, 3) (rule in the module docstring)."""
    k = UP_INDEX[up]
    forward = np.einsum("mij,mj->mi", jacobian, rots[:, :, 0])
    upward = np.einsum("mij,mj->mi", jacobian, rots[:, :, k])
    forward /= np.linalg.norm(forward, axis=1, keepdims=True)
    upward = upward - (upward * forward).sum(1, keepdims=True) * forward
    upward /= np.linalg.norm(upward, axis=1, keepdims=True)
    out = np.zeros_like(rots, dtype=np.float64)
    out[:, :, 0], out[:, :, k] = forward, upward
    out[:, :, 3 - k] = np.cross(forward, upward) if up == "y" else np.cross(upward, forward)  # e_z = e_x x e_y; e_y = e_z x e_x
    return out


@dataclass
class PointList:
    """Positions (M, 3), optional yaw (M,) or quaternions (M, 4) (x, y, z, w), and what is needed to
    write a transformed copy in the same format: `fmt` and the parsed original (`rows`: CSV cells
    with the header first, or the JSON list; `array`: the NPY array)."""

    positions: np.ndarray
    yaw: np.ndarray | None
    quat: np.ndarray | None
    fmt: str
    rows: list | None = None
    header: bool = False
    columns: tuple[int, ...] = ()  # CSV: column of x, y, z, then yaw or qx, qy, qz, qw
    array: np.ndarray | None = None


def _layout(path, width: int) -> tuple[int, ...]:
    if width not in (3, 4, 7):
        raise DataError(path, f"a point has {width} values; expected 3 (x y z), 4 (+ yaw) or 7 (+ qx qy qz qw)")
    return tuple(range(width))


def _split(path, values: np.ndarray, columns: tuple[int, ...], what: str) -> PointList:
    if len(values) == 0:
        raise DataError(path, "the point list is empty")
    if not np.isfinite(values).all():
        raise DataError(path, f"the {what} contain NaN or inf")
    n = len(columns)
    yaw = values[:, 3] if n == 4 else None
    quat = values[:, 3:7] if n == 7 else None
    if quat is not None and (np.linalg.norm(quat, axis=1) < 1e-9).any():
        raise DataError(path, "a quaternion has zero length")
    return PointList(values[:, :3], yaw, quat, "")


def _read_csv(path, text: str) -> PointList:
    reader = csv.reader(io.StringIO(text))
    lines = [(reader.line_num, row) for row in reader if row]  # (line number in the file, cells)
    rows = [row for _, row in lines]
    if not rows:
        raise DataError(path, "the point list is empty")
    header = any(not _is_number(cell) for cell in rows[0])
    for line, row in lines[1:]:  # values are written back by row 1's layout: a row of another width is misread
        if len(row) != len(rows[0]):
            raise DataError(path, f"row {line} has {len(row)} values but {'the header' if header else 'the first row'} "
                                  f"has {len(rows[0])}; every row needs as many")
    body = rows[1:] if header else rows
    if header:
        names = [c.strip().lower() for c in rows[0]]
        wanted = ["x", "y", "z"] + (["yaw"] if "yaw" in names else list(_QUAT) if "qw" in names else [])
        missing = [w for w in wanted if w not in names]
        if missing:
            raise DataError(path, f"the CSV header lacks the column(s) {', '.join(missing)}")
        columns = tuple(names.index(w) for w in wanted)
    else:
        columns = _layout(path, len(rows[0]))
    try:
        values = np.array([[float(row[c]) for c in columns] for row in body], dtype=np.float64).reshape(-1, len(columns))
    except (ValueError, IndexError) as exc:
        raise DataError(path, f"a CSV row is not a row of numbers ({exc})") from None
    out = _split(path, values, columns, "CSV values")
    out.fmt, out.rows, out.header, out.columns = "csv", rows, header, columns
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _json_points(path, items) -> PointList:
    if not isinstance(items, list) or not items:
        raise DataError(path, "expected a non-empty JSON list of points")
    try:
        values = np.array([json_item(k, item, items[0]) for k, item in enumerate(items, 1)], dtype=np.float64)
    except ValueError as exc:
        raise DataError(path, str(exc)) from None
    out = _split(path, values, _layout(path, values.shape[1]), "JSON values")
    out.fmt, out.rows = "json", items
    return out


def transfer_names(paths) -> list[str]:
    """The base names of the --transfer files, each written to `transferred_<name>`; two files of
    one name (a/traj.csv, b/traj.csv) would write the same output, the second silently replacing
    the first, so that is refused before anything is computed."""
    seen: dict[str, Path] = {}
    for path in map(Path, paths):
        first = seen.setdefault(path.name, path)
        if first is not path:
            if first.resolve() == path.resolve():
                raise DataError(path, "is given twice to --transfer")
            raise DataError(path, f"has the same name as {first}: both would be written to transferred_{path.name}; "
                                  f"rename one of them")
    return [Path(p).name for p in paths]


def read_points(path: str | os.PathLike) -> PointList:
    """A point list from CSV, JSON or NPY (formats in the module docstring)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json", ".npy"):
        raise DataError(path, "unknown point-list format (expected .csv, .json or .npy)")
    if suffix == ".json":
        return _json_points(path, read_json(path, "point list"))
    try:
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        else:
            text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, "no such file") from None
    except (OSError, ValueError, UnicodeDecodeError, EOFError) as exc:
        raise DataError(path, f"cannot read the file ({exc})") from None
    if suffix == ".csv":
        return _read_csv(path, text)
    if array.ndim != 2 or array.shape[1] not in (3, 4, 7) or array.dtype.kind not in "iuf":
        raise DataError(path, f"NPY array has shape {array.shape} and dtype {array.dtype}; expected numbers "
                              f"of shape (M, 3), (M, 4) or (M, 7)")
    out = _split(path, array.astype(np.float64), _layout(path, array.shape[1]), "NPY values")
    out.fmt, out.array = "npy", array
    return out


def transfer_points(m: AnalogyMap, points: PointList, up: str) -> PointList:
    """The points mapped by m, orientations carried by m's Jacobian; same format and order."""
    moved = m.apply(points.positions)
    yaw = quat = None
    if points.yaw is not None or points.quat is not None:
        rots = (_yaw_rotations(points.yaw, up) if points.yaw is not None
                else Rotation.from_quat(points.quat).as_matrix())
        carried = carry_frames(m.jacobian(points.positions), rots, up)
        if points.yaw is not None:
            yaw = _yaw_of(carried, up)
        else:
            quat = Rotation.from_matrix(carried).as_quat()
            quat *= np.where((quat * points.quat).sum(1) < 0, -1.0, 1.0)[:, None]  # keep the input's sign
    return PointList(moved, yaw, quat, points.fmt, points.rows, points.header, points.columns, points.array)


def write_points(path: str | os.PathLike, points: PointList) -> None:
    """Write a (transferred) point list in its own format, atomically."""
    values = np.concatenate([points.positions] + ([points.yaw[:, None]] if points.yaw is not None else [])
                            + ([points.quat] if points.quat is not None else []), 1)
    if points.fmt == "npy":
        # A float file keeps its own float type (a float32 list stays float32, as the input chose);
        # an integer file gets float64, the precision the map is computed in: mapped points are not
        # whole numbers, and float32 would round integer coordinates beyond 2^24 (e.g. millimetres).
        kind = points.array.dtype.kind
        atomic.save_npy(path, values.astype(points.array.dtype if kind == "f" else np.float64))
    elif points.fmt == "csv":
        rows = [list(r) for r in points.rows]
        for row, new in zip(rows[1:] if points.header else rows, values):
            for column, value in zip(points.columns, new):
                row[column] = f"{value:.9g}"
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        atomic.write_text(path, buffer.getvalue())
    else:
        items = []
        for item, new in zip(points.rows, values.tolist()):
            if isinstance(item, dict):
                item = dict(item, position=new[:3])
                if "yaw" in item:
                    item["yaw"] = new[3]
                elif "quaternion" in item:
                    item["quaternion"] = new[3:7]
            else:
                item = new
            items.append(item)
        atomic.write_json(path, items)


def _read_pose(path) -> dict:
    pose = read_json(path, "pose")
    if not isinstance(pose, dict) or not ("position" in pose or "matrix" in pose):
        raise DataError(path, "a pose is a JSON object with 'position' [x, y, z] and 'yaw', 'quaternion' or 'matrix'")
    return pose


def _pose_frame(path, pose: dict, up: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rotation (3, 3), position (3,), scale (3,)) of a pose dict."""
    try:
        if "matrix" in pose:
            matrix = np.asarray(pose["matrix"], dtype=np.float64).reshape(4, 4)
            rot, position = matrix[:3, :3], matrix[:3, 3]
        else:
            position = np.asarray(pose["position"], dtype=np.float64).reshape(3)
            if "quaternion" in pose:
                rot = Rotation.from_quat(np.asarray(pose["quaternion"], dtype=np.float64).reshape(4)).as_matrix()
            else:
                rot = _yaw_rotations(np.array([float(pose.get("yaw", 0.0))]), up)[0]
        scale = pose.get("scale", 1.0)
        numbers = scale if isinstance(scale, list) else [scale]
        if len(numbers) not in (1, 3) or not all(is_json_number(v) and 0 < v < np.inf for v in numbers):
            raise DataError(path, f"'scale' must be a positive number or 3 positive numbers, got {scale!r} "
                                  "(0 collapses the mesh, a negative scale mirrors it)")
        scale = np.broadcast_to(np.asarray(numbers, dtype=np.float64), (3,)).copy()
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataError(path, f"bad pose values ({exc})") from None
    if not (np.isfinite(rot).all() and np.isfinite(position).all() and np.isfinite(scale).all()):
        raise DataError(path, "the pose contains NaN or inf")
    if abs(np.linalg.det(rot) - 1.0) > 1e-3 or not np.allclose(rot.T @ rot, np.eye(3), atol=1e-3):
        raise DataError(path, "the pose's rotation is not a proper rotation (orthonormal, det +1)")
    return rot, position, scale


@dataclass
class Placement:
    """A mesh (trimesh, object frame) placed in the target by a pose: rotation, position, scale."""

    mesh: object
    mesh_path: Path
    pose: dict
    rot: np.ndarray
    position: np.ndarray
    scale: np.ndarray


def read_placement(mesh_path, pose_path, up: str) -> Placement:
    """Read and check a mesh and its pose JSON (module docstring) before anything is computed."""
    pose = _read_pose(pose_path)
    rot, position, scale = _pose_frame(pose_path, pose, up)
    return Placement(load_trimesh(mesh_path), Path(mesh_path), pose, rot, position, scale)


def carried_pose(m: AnalogyMap, placement: Placement, up: str) -> tuple[np.ndarray, np.ndarray]:
    """(rotation (3, 3), position (3,)) of the placement carried by m: position F(p), frame by m's Jacobian."""
    new_position = m.apply(placement.position[None])[0]
    return carry_frames(m.jacobian(placement.position[None]), placement.rot[None], up)[0], new_position


def placement_corners(placement: Placement, rot: np.ndarray | None = None,
                      position: np.ndarray | None = None) -> np.ndarray:
    """(8, 3) corners of the mesh's scaled object-frame bounding box, posed by (rot, position)
    (default: the placement's own pose in the target); corner k has x, y, z high for bits 4, 2, 1."""
    bits = (np.arange(8)[:, None] >> np.array([2, 1, 0])) & 1
    local = np.asarray(placement.mesh.bounds, dtype=np.float64)[bits, np.arange(3)] * placement.scale
    rot = placement.rot if rot is None else rot
    return local @ np.asarray(rot).T + (placement.position if position is None else position)


def place_mesh(m: AnalogyMap, placement: Placement, up: str, out_dir) -> tuple[Path, Path]:
    """Move a placement from the target into the reference: writes `out_dir/placed_<mesh name>`
    (reference coordinates, same format) and `out_dir/placed_pose.json` (same keys as the input)."""
    new_rot, new_position = carried_pose(m, placement, up)
    mesh = placement.mesh.copy()
    mesh.vertices = (np.asarray(mesh.vertices) * placement.scale) @ new_rot.T + new_position
    suffix = placement.mesh_path.suffix
    mesh_out = Path(out_dir) / f"placed_{placement.mesh_path.name}"
    with atomic.atomic_path(mesh_out, suffix=suffix) as tmp:
        mesh.export(tmp, file_type=suffix.lstrip(".").lower())
    pose = dict(placement.pose)
    if "matrix" in pose:
        matrix = np.eye(4)
        matrix[:3, :3], matrix[:3, 3] = new_rot, new_position
        pose["matrix"] = matrix.tolist()
    else:
        pose["position"] = new_position.tolist()
        if "quaternion" in pose:
            pose["quaternion"] = Rotation.from_matrix(new_rot).as_quat().tolist()
        else:
            pose["yaw"] = float(_yaw_of(new_rot[None], up)[0])
    pose_out = Path(out_dir) / "placed_pose.json"
    atomic.write_json(pose_out, pose)
    return mesh_out, pose_out
