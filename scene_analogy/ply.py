"""PLY vertex tables: read every vertex property of a PLY file, write named per-vertex columns.

Scans and instance-labelled clouds carry their labels as extra vertex properties (`instance`,
`label`, grey-coded `red/green/blue`), which general mesh libraries drop or hide, so this small
reader keeps them all. Formats: `ascii`, `binary_little_endian`, `binary_big_endian`. Only the
`vertex` element is returned; elements before it (rare) are skipped when they have no list
properties, and any element after it (faces, edges) is ignored. Problems raise DataError(path, ...).

`write_ply` writes binary little-endian files (optionally with an `edge` element, which point
viewers such as MeshLab and CloudCompare draw as line segments), atomically.
"""

from __future__ import annotations

import os

import numpy as np

from . import atomic
from .errors import DataError

__all__ = ["read_ply_vertices", "write_ply"]

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
    """(format, [(element name, count, [(property, dtype or None for a list)])], body offset)."""
    end = data.find(b"end_header", 0, _MAX_HEADER)
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
            elements[-1][2].append((words[4], None))
        else:
            raise DataError(path, f"PLY header line {number} is not understood: {raw.strip()!r}")
    if fmt not in _ENDIAN:
        raise DataError(path, f"unsupported PLY format {fmt!r} (expected ascii or binary_*_endian)")
    return fmt, elements, body


def read_ply_vertices(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every scalar vertex property of a PLY file as a 1-D array, by name (in file order)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise DataError(path, f"cannot read the file ({exc.strerror or exc})") from None
    if not data:
        raise DataError(path, "the file is empty")
    fmt, elements, offset = _parse_header(path, data)
    names = [name for name, _, _ in elements]
    if "vertex" not in names:
        raise DataError(path, "the PLY file has no 'vertex' element")
    skipped_rows = 0
    for name, count, props in elements[: names.index("vertex")]:
        if any(dtype is None for _, dtype in props):
            raise DataError(path, f"element '{name}' with list properties comes before 'vertex' (unsupported)")
        if fmt == "ascii":
            skipped_rows += count
        else:
            offset += count * np.dtype([(p, d) for p, d in props]).itemsize
    _, count, props = elements[names.index("vertex")]
    if any(dtype is None for _, dtype in props):
        raise DataError(path, "the 'vertex' element has a list property (unsupported)")
    dtype = np.dtype([(p, _ENDIAN[fmt] + d) for p, d in props])
    try:
        if fmt == "ascii":
            lines = data[offset:].decode("ascii").splitlines()[skipped_rows: skipped_rows + count]
            if len(lines) < count:
                raise ValueError(f"{count} vertices declared, {len(lines)} rows found")
            table = np.loadtxt(lines, dtype=np.float64, ndmin=2) if count else np.zeros((0, len(props)))
            if table.shape[1] < len(props):
                raise ValueError(f"vertex rows have {table.shape[1]} values, the header declares {len(props)}")
            return {p: table[:, k].astype(d) for k, (p, d) in enumerate(props)}
        if len(data) - offset < count * dtype.itemsize:
            raise ValueError(f"{count} vertices declared but the file ends after "
                             f"{(len(data) - offset) // max(dtype.itemsize, 1)}")
        table = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(path, f"the vertex data cannot be read ({exc})") from None
    return {p: table[p].astype(table[p].dtype.newbyteorder("=")) for p, _ in props}


def write_ply(path: str | os.PathLike, columns: dict[str, np.ndarray], edges: np.ndarray | None = None,
              comment: str = "") -> None:
    """Binary little-endian PLY: one vertex property per column (all of one length), each stored
    with its array's dtype; optional edges (E, 2) of vertex indices. Written atomically."""
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
        if array.dtype.kind == "i" and code == "i8":
            code = "i4"
        if code not in _NAMES:
            raise ValueError(f"column '{name}' has dtype {array.dtype}, which PLY cannot store")
        fields.append((name, "<" + code))
    table = np.empty(count, dtype=fields)
    for name, _ in fields:
        table[name] = arrays[name]
    header = ["ply", "format binary_little_endian 1.0"] + ([f"comment {comment}"] if comment else [])
    header += [f"element vertex {count}"] + [f"property {_NAMES[code[1:]]} {name}" for name, code in fields]
    body = table.tobytes()
    if edges is not None:
        edges = np.asarray(edges, dtype="<i4").reshape(-1, 2)
        header += [f"element edge {len(edges)}", "property int vertex1", "property int vertex2"]
        body += edges.tobytes()
    atomic.write_bytes(path, ("\n".join(header + ["end_header"]) + "\n").encode("ascii") + body)
