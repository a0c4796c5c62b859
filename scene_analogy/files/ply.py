"""PLY vertex tables: read every vertex property of a PLY file, write named per-vertex columns.

Scans and instance-labelled clouds carry their labels as extra vertex properties (`instance`,
`label`, grey-coded `red/green/blue`), which general mesh libraries drop or hide, so this small
reader keeps them all. Formats: `ascii`, `binary_little_endian`, `binary_big_endian`.
`read_ply_vertices` returns the `vertex` element; elements before it (rare) are skipped when they
have no list properties, and any element after it is ignored. `read_ply_mesh` also reads the `face`
element (triangles; polygons are fanned), as fused scan meshes store it (`list uchar int
vertex_indices`). Problems raise DataError(path, ...).

`write_ply` writes binary little-endian files (optionally with a `face` element, or an `edge`
element, which point viewers such as MeshLab and CloudCompare draw as line segments), atomically.
"""

from __future__ import annotations

import os
import re

import numpy as np

from scene_analogy.files import atomic
from scene_analogy.files.errors import DataError

__all__ = ["read_ply_mesh", "read_ply_vertices", "write_ply"]

_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_NAMES = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort", "i4": "int", "u4": "uint",
          "f4": "float", "f8": "double"}
_ENDIAN = {"ascii": "<", "binary_little_endian": "<", "binary_big_endian": ">"}
_MAX_HEADER = 1 << 16


def _parse_header(path, data: bytes) -> tuple[str, list, int]:
    """(format, [(element name, count, [(property, dtype, or (count dtype, item dtype) for a list)])],
    body offset)."""
    # The line `end_header` itself, not those words inside a comment.
    match = re.search(rb"(?m)^end_header[ \t\r]*$", data[:_MAX_HEADER])
    end = match.start() if match else -1
    if not data.startswith(b"ply") or end < 0:
        raise DataError(path, "not a PLY file (no 'ply' magic line or no 'end_header')")
    newline = data.find(b"\n", end)
    body = len(data) if newline < 0 else newline + 1
    fmt, elements = None, []
    for number, raw in enumerate(data[:end].decode("ascii", "replace").splitlines()[1:], start=2):
        words = raw.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format" and len(words) >= 2:
            fmt = words[1]
        elif words[0] == "element" and len(words) == 3 and words[2].isdigit():
            elements.append((words[1], int(words[2]), []))
        elif words[0] == "property" and elements and len(words) == 3 and words[1] in _TYPES:
            elements[-1][2].append((words[2], _TYPES[words[1]]))
        elif words[0] == "property" and elements and len(words) == 5 and words[1] == "list":
            if words[2] not in _TYPES or words[3] not in _TYPES:
                raise DataError(path, f"PLY header line {number} has an unknown list type: {raw.strip()!r}")
            elements[-1][2].append((words[4], (_TYPES[words[2]], _TYPES[words[3]])))
        else:
            raise DataError(path, f"PLY header line {number} is not understood: {raw.strip()!r}")
    if fmt not in _ENDIAN:
        raise DataError(path, f"unsupported PLY format {fmt!r} (expected ascii or binary_*_endian)")
    return fmt, elements, body


def _is_list(dtype) -> bool:
    return isinstance(dtype, tuple)


def _read_file(path) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise DataError(path, f"cannot read the file ({exc.strerror or exc})") from None
    if not data:
        raise DataError(path, "the file is empty")
    return data


def read_ply_vertices(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every scalar vertex property of a PLY file as a 1-D array, by name (in file order)."""
    return _read_vertices(path, _read_file(path))[0]


def _read_vertices(path, data: bytes) -> tuple[dict[str, np.ndarray], int | None]:
    """The vertex columns and, for binary files, the byte offset just after the vertex element."""
    fmt, elements, offset = _parse_header(path, data)
    names = [name for name, _, _ in elements]
    if "vertex" not in names:
        raise DataError(path, "the PLY file has no 'vertex' element")
    skipped_rows = 0
    for name, count, props in elements[: names.index("vertex")]:
        if any(_is_list(dtype) for _, dtype in props):
            raise DataError(path, f"element '{name}' with list properties comes before 'vertex' (unsupported)")
        if fmt == "ascii":
            skipped_rows += count
        else:
            offset += count * np.dtype([(p, d) for p, d in props]).itemsize
    _, count, props = elements[names.index("vertex")]
    if any(_is_list(dtype) for _, dtype in props):
        raise DataError(path, "the 'vertex' element has a list property (unsupported)")
    repeated = sorted({p for p, _ in props if [q for q, _ in props].count(p) > 1})
    if repeated:
        raise DataError(path, f"the 'vertex' element declares property '{repeated[0]}' more than once")
    dtype = np.dtype([(p, _ENDIAN[fmt] + d) for p, d in props])
    try:
        if fmt == "ascii":
            lines = _ascii_rows(data[offset:])[skipped_rows: skipped_rows + count]
            if len(lines) < count:
                raise ValueError(f"{count} vertices declared, {len(lines)} rows found")
            table = np.loadtxt(lines, dtype=np.float64, ndmin=2) if count else np.zeros((0, len(props)))
            if table.shape[1] < len(props):
                raise ValueError(f"vertex rows have {table.shape[1]} values, the header declares {len(props)}")
            return {p: table[:, k].astype(d) for k, (p, d) in enumerate(props)}, None
        if len(data) - offset < count * dtype.itemsize:
            raise ValueError(f"{count} vertices declared but the file ends after "
                             f"{(len(data) - offset) // max(dtype.itemsize, 1)}")
        table = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(path, f"the vertex data cannot be read ({exc})") from None
    columns = {p: table[p].astype(table[p].dtype.newbyteorder("=")) for p, _ in props}
    return columns, offset + count * dtype.itemsize


def read_ply_mesh(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(vertex columns as in `read_ply_vertices`, faces (F, 3) int64) of a PLY mesh.

    The `face` element must directly follow `vertex` and hold one list property (`vertex_indices`
    or `vertex_index`), possibly followed by scalar properties. All-triangle binary files, the usual
    case, are read in one vectorised pass; other files row by row. A file without faces, or with
    indices outside the vertex range, raises DataError.
    """
    data = _read_file(path)
    columns, offset = _read_vertices(path, data)
    fmt, elements, body = _parse_header(path, data)
    names = [name for name, _, _ in elements]
    if "face" not in names or elements[names.index("face")][1] == 0:
        raise DataError(path, "the PLY file has no faces (a mesh is needed, not a point cloud)")
    k = names.index("face")
    if k != names.index("vertex") + 1:
        raise DataError(path, "the 'face' element does not directly follow 'vertex' (unsupported)")
    _, count, props = elements[k]
    if not props or not _is_list(props[0][1]) or any(_is_list(d) for _, d in props[1:]):
        raise DataError(path, "the 'face' element must start with its one list property (vertex_indices)")
    try:
        if fmt == "ascii":
            faces = _ascii_faces(data[body:], sum(c for _, c, _ in elements[:k]), count)
        else:
            faces = _binary_faces(data, offset, count, props, _ENDIAN[fmt])
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(path, f"the face data cannot be read ({exc})") from None
    num_vertices = len(next(iter(columns.values()))) if columns else 0
    if len(faces) == 0:
        raise DataError(path, "the PLY file has no faces (a mesh is needed, not a point cloud)")
    if faces.min() < 0 or faces.max() >= num_vertices:
        raise DataError(path, f"face indices outside the {num_vertices} vertices")
    return columns, faces


def _fan(polygons: list[list[int]]) -> np.ndarray:
    """Triangles (F, 3) of polygons given as vertex index lists (fanned from the first corner)."""
    tris = [(p[0], p[i], p[i + 1]) for p in polygons for i in range(1, len(p) - 1)]
    return np.asarray(tris, dtype=np.int64).reshape(-1, 3)


def _ascii_rows(body: bytes) -> list[str]:
    """The body's element rows: blank lines are not rows (read as rows they would shift every element
    after them by one: a vertex lost, a vertex row read as a face)."""
    return [line for line in body.decode("ascii").splitlines() if line.strip()]


def _ascii_faces(body: bytes, skip_rows: int, count: int) -> np.ndarray:
    rows = _ascii_rows(body)[skip_rows: skip_rows + count]
    if len(rows) < count:
        raise ValueError(f"{count} faces declared, {len(rows)} rows found")
    polygons = []
    for row in rows:
        values = row.split()
        n = int(values[0])
        if len(values) < n + 1:
            raise ValueError(f"a face row lists {len(values) - 1} indices, expected {n}")
        polygons.append([int(v) for v in values[1: n + 1]])
    return _fan(polygons)


def _binary_faces(data: bytes, offset: int, count: int, props, endian: str) -> np.ndarray:
    (count_t, item_t), scalars = props[0][1], [(p, endian + d) for p, d in props[1:]]
    triangle = np.dtype([("n", endian + count_t), ("v", endian + item_t, (3,))] + scalars)
    if len(data) - offset >= count * triangle.itemsize:  # try the all-triangles layout first
        table = np.frombuffer(data, dtype=triangle, count=count, offset=offset)
        if (table["n"] == 3).all():
            return table["v"].astype(np.int64)
    head, item = np.dtype(endian + count_t), np.dtype(endian + item_t)
    tail = np.dtype(scalars).itemsize if scalars else 0
    polygons, at = [], offset
    for _ in range(count):  # mixed polygons: rare, so a plain walk over the records
        if at + head.itemsize > len(data):
            raise ValueError(f"{count} faces declared but the file ends after {len(polygons)}")
        n = int(np.frombuffer(data, dtype=head, count=1, offset=at)[0])
        at += head.itemsize
        if at + n * item.itemsize + tail > len(data):
            raise ValueError(f"{count} faces declared but the file ends after {len(polygons)}")
        polygons.append(np.frombuffer(data, dtype=item, count=n, offset=at).tolist())
        at += n * item.itemsize + tail
    return _fan(polygons)


def write_ply(path: str | os.PathLike, columns: dict[str, np.ndarray], edges: np.ndarray | None = None,
              comment: str = "", faces: np.ndarray | None = None) -> None:
    """Binary little-endian PLY: one vertex property per column (all of one length), each stored
    with its array's dtype; optional triangles (F, 3) and edges (E, 2) of vertex indices. Written
    atomically."""
    arrays = {name: np.asarray(a).reshape(-1) for name, a in columns.items()}
    counts = {len(a) for a in arrays.values()}
    if len(counts) != 1:
        raise ValueError(f"columns must have one length, got { {n: len(a) for n, a in arrays.items()} }")
    (count,) = counts
    fields = []
    for name, array in arrays.items():
        code = array.dtype.str[1:]
        if array.dtype.kind == "b":
            code = "u1"
        if array.dtype.kind == "i" and code == "i8":  # PLY has no 64-bit integers: int32, if the values fit
            if array.size and (array.min() < np.iinfo(np.int32).min or array.max() > np.iinfo(np.int32).max):
                raise ValueError(f"column '{name}' holds values beyond int32, which PLY cannot store")
            code = "i4"
        if code not in _NAMES:
            raise ValueError(f"column '{name}' has dtype {array.dtype}, which PLY cannot store")
        fields.append((name, "<" + code))
    if "\n" in comment or "\r" in comment:
        raise ValueError("a PLY comment is one header line: it cannot hold a line break")
    table = np.empty(count, dtype=fields)
    for name, _ in fields:
        table[name] = arrays[name]
    header = ["ply", "format binary_little_endian 1.0"] + ([f"comment {comment}"] if comment else [])
    header += [f"element vertex {count}"] + [f"property {_NAMES[code[1:]]} {name}" for name, code in fields]
    body = table.tobytes()
    if faces is not None:
        faces = np.asarray(faces).reshape(-1, 3)
        records = np.empty(len(faces), dtype=[("n", "u1"), ("v", "<i4", (3,))])
        records["n"], records["v"] = 3, faces
        header += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
        body += records.tobytes()
    if edges is not None:
        edges = np.asarray(edges, dtype="<i4").reshape(-1, 2)
        header += [f"element edge {len(edges)}", "property int vertex1", "property int vertex2"]
        body += edges.tobytes()
    atomic.write_bytes(path, ("\n".join(header + ["end_header"]) + "\n").encode("ascii") + body)
