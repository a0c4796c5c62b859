"""Triangle meshes from files: a fast Wavefront OBJ reader and a format-agnostic `load_mesh`.

`read_obj` reads what 3D-FUTURE's `raw_model.obj` files hold: `v x y z [w | r g b]`, `vt`, `vn`,
`f` with `a`, `a/b`, `a//c` or `a/b/c` corners, polygons (fanned into triangles), negative
(relative) indices, `o` / `g` / `usemtl` / `mtllib` lines (ignored). Materials and textures are not
read: only the surface matters for point samples and boxes.

Decision ("trimmed below its lowest point"): a mesh is trimmed to its faces. Vertices that no face
uses are dropped, so the lowest point, the box and the samples all describe the surface itself;
a stray unused vertex can neither stretch the box nor move the floor contact. The canonical frame is
the file's own frame (a house's `pos` / `rot` / `scale` refer to it), so nothing is re-centred.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from scene_analogy.files.errors import DataError


def read_obj(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (V, 3) float64, faces (F, 3) int64) of an OBJ file, trimmed to its faces."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(path, f"cannot read the mesh ({exc.strerror or exc})") from None
    lines = data.splitlines()
    vertex_lines = [ln[2:] for ln in lines if ln.startswith(b"v ") or ln.startswith(b"v\t")]
    face_lines = [ln[2:].split() for ln in lines if ln.startswith(b"f ") or ln.startswith(b"f\t")]
    if not vertex_lines or not face_lines:
        raise DataError(path, "not an OBJ mesh with vertices and faces")
    try:
        width = {len(v.split()) for v in vertex_lines}
        if min(width) < 3:
            raise ValueError("a vertex line has fewer than 3 coordinates")
        if len(width) == 1:  # the usual case: one split and one conversion for the whole file
            vertices = np.array(b" ".join(vertex_lines).split(), dtype=np.float64).reshape(-1, width.pop())[:, :3]
        else:  # some lines carry a w or a colour: take x y z of each
            vertices = np.array([v.split()[:3] for v in vertex_lines], dtype=np.float64)
        faces = _triangulate([[int(c.split(b"/")[0]) for c in face] for face in face_lines], len(vertices))
    except ValueError as exc:
        raise DataError(path, f"malformed OBJ ({exc})") from None
    if not np.isfinite(vertices).all():
        raise DataError(path, "the mesh has NaN or infinite vertex coordinates")
    return trim_to_faces(vertices, faces)


def _triangulate(polygons: list[list[int]], num_vertices: int) -> np.ndarray:
    """1-based (or negative, relative) OBJ corner indices -> 0-based triangles (polygons fanned)."""
    triangles = []
    for corners in polygons:
        if len(corners) < 3:
            raise ValueError(f"a face has {len(corners)} corners")
        triangles += [(corners[0], corners[k], corners[k + 1]) for k in range(1, len(corners) - 1)]
    faces = np.asarray(triangles, dtype=np.int64)
    # OBJ indices are 1-based; a negative index counts back from the end (the vertices read so far:
    # for files listing all vertices first, as 3D-FUTURE's do, that is the whole list).
    faces = np.where(faces > 0, faces - 1, faces + num_vertices)
    if faces.min() < 0 or faces.max() >= num_vertices:  # also catches the invalid index 0
        raise ValueError(f"face indices outside 1..{num_vertices}")
    return faces


def trim_to_faces(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop vertices that no face uses and renumber the faces."""
    used, inverse = np.unique(faces, return_inverse=True)
    return vertices[used], inverse.reshape(faces.shape).astype(np.int64)


def load_mesh(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and triangles of a mesh file: OBJ by `read_obj`, PLY by `ply.read_ply_mesh`, other
    formats by trimesh."""
    path = Path(path)
    if path.suffix.lower() == ".obj":
        return read_obj(path)
    if path.suffix.lower() == ".ply":
        return read_ply_triangles(path)
    mesh = load_trimesh(path)
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(getattr(mesh, "faces", np.zeros((0, 3))), dtype=np.int64).reshape(-1, 3)
    if len(faces) == 0 or not np.isfinite(vertices).all():
        raise DataError(path, "the mesh has no faces or non-finite vertices")
    return trim_to_faces(vertices, faces)


def load_trimesh(path: str | os.PathLike):
    """A mesh file of any format trimesh reads, as the trimesh object, unprocessed (vertices and faces
    as in the file). The one place a mesh file is handed to trimesh: missing, unreadable and empty
    files become DataErrors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such file")
    import trimesh  # here: most readers never need it

    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types for broken files; all mean "unreadable"
        raise DataError(path, f"cannot read the mesh ({type(exc).__name__}: {exc})") from None
    if len(getattr(mesh, "vertices", ())) == 0:
        raise DataError(path, "the mesh has no vertices")
    return mesh


def read_ply_triangles(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (V, 3) float64, faces (F, 3) int64) of a PLY mesh, trimmed to its faces."""
    from scene_analogy.files.ply import read_ply_mesh

    columns, faces = read_ply_mesh(path)
    if not {"x", "y", "z"} <= set(columns):
        raise DataError(path, "the PLY vertices have no x, y, z properties")
    vertices = np.stack([columns[k] for k in "xyz"], 1).astype(np.float64)
    if not np.isfinite(vertices).all():
        raise DataError(path, "the mesh has NaN or infinite vertex coordinates")
    return trim_to_faces(vertices, faces)


def write_obj(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray, material: str | None = None) -> None:
    """An OBJ in the shape 3D-FUTURE's files have (v, vt, vn, `f a/a/a`), written atomically.

    Texture coordinates are the xz position and normals the area-weighted face normals: enough for
    any OBJ reader; nothing here reads them back.
    """
    from scene_analogy.files import atomic

    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    tri = vertices[faces]
    face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros_like(vertices)
    np.add.at(normals, faces.reshape(-1), np.repeat(face_normals, 3, axis=0))
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    lines = [f"mtllib {material}" if material else "", "o model"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices.tolist()]
    lines += [f"vt {u:.6f} {v:.6f}" for u, v in vertices[:, [0, 2]].tolist()]
    lines += [f"vn {x:.5f} {y:.5f} {z:.5f}" for x, y, z in normals.tolist()]
    lines += ["usemtl material_0"] if material else []
    lines += ["f " + " ".join(f"{i}/{i}/{i}" for i in face) for face in (faces + 1).tolist()]
    atomic.write_text(path, "\n".join(line for line in lines if line) + "\n")
