"""OBJ reading and writing, mesh outlines, and the numpy farthest-point order."""

import numpy as np
import pytest
import torch

from scene_analogy.files.errors import DataError
from scene_analogy.files.mesh import load_mesh, load_trimesh, read_obj, write_obj
from scene_analogy.ops.geometry import (
    mesh_boundary_loops,
    mesh_outline_xz,
    polygon_area_xz,
    quaternion_matrix,
    yaw_matrix,
)
from scene_analogy.ops.point_sets import farthest_point_sample
from scene_analogy.structures.samples import farthest_point_order


def test_obj_corner_syntaxes_polygons_and_trimming(tmp_path):
    path = tmp_path / "m.obj"
    path.write_text("mtllib m.mtl\no x\nv 0 0 0\nv 1 0 0 1.0\nv 1 1 0\nv 0 1 0\nv 9 -5 9\nvt 0 0\nvn 0 0 1\n"
                    "usemtl a\nf 1/1/1 2/1/1 3/1/1 4/1/1\nf -4//1 -3//1 -2//1\n")
    vertices, faces = read_obj(path)
    assert vertices.shape == (4, 3) and vertices[:, 1].min() == 0.0  # the unused vertex (y = -5) is trimmed
    np.testing.assert_array_equal(faces, [[0, 1, 2], [0, 2, 3], [1, 2, 3]])  # -4 of 5 vertices is the 2nd


@pytest.mark.parametrize("text, problem", [("v 0 0 0\n", "vertices and faces"), ("v 0 0 0\nf 1 2 3\n", "outside"),
                                           ("v 0 0 x\nf 1 1 1\n", "malformed"), ("v 0 0 nan\nf 1 1 1\n", "NaN")])
def test_broken_obj_is_a_data_error(tmp_path, text, problem):
    (tmp_path / "m.obj").write_text(text)
    with pytest.raises(DataError, match=problem):
        read_obj(tmp_path / "m.obj")
    with pytest.raises(DataError, match="cannot read"):
        read_obj(tmp_path / "missing.obj")


def test_write_obj_round_trip_and_ply_through_trimesh(tmp_path):
    import trimesh

    box = trimesh.creation.box((1.0, 2.0, 3.0))
    write_obj(tmp_path / "b.obj", box.vertices, box.faces, material="b.mtl")
    vertices, faces = load_mesh(tmp_path / "b.obj")
    np.testing.assert_allclose(vertices, box.vertices, atol=1e-6)
    np.testing.assert_array_equal(faces, box.faces)
    box.export(tmp_path / "b.ply")
    vertices, faces = load_mesh(tmp_path / "b.ply")
    assert len(faces) == 12 and np.allclose(vertices.max(0), [0.5, 1.0, 1.5])


def test_load_trimesh_keeps_the_file_and_names_it_when_it_cannot(tmp_path):
    import trimesh

    trimesh.creation.box((1.0, 2.0, 3.0)).export(tmp_path / "b.stl")
    mesh = load_trimesh(tmp_path / "b.stl")
    assert len(mesh.faces) == 12 and np.allclose(mesh.bounds[1], [0.5, 1.0, 1.5])
    assert load_mesh(tmp_path / "b.stl")[1].shape == (12, 3)  # other formats: load_mesh goes through it
    (tmp_path / "broken.stl").write_bytes(b"solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0\n")
    (tmp_path / "empty.off").write_text("OFF\n0 0 0\n")
    for name, problem in [("none.glb", "no such file"), ("broken.stl", "cannot read the mesh|no vertices"),
                          ("empty.off", "cannot read the mesh|no vertices")]:
        with pytest.raises(DataError, match=problem) as info:
            load_trimesh(tmp_path / name)
        assert info.value.path == str(tmp_path / name)


def _grid(cells):
    """Unit squares at the given (i, j) cells, sharing vertices, as (vertices, faces)."""
    index, vertices, faces = {}, [], []
    def vid(x, z):
        if (x, z) not in index:
            index[(x, z)] = len(vertices)
            vertices.append([x, 0.0, z])
        return index[(x, z)]
    for i, j in cells:
        a, b, c, d = vid(i, j), vid(i + 1, j), vid(i + 1, j + 1), vid(i, j + 1)
        faces += [[a, c, b], [a, d, c]]
    return np.array(vertices), np.array(faces)


def test_floor_outline_keeps_every_loop():
    # a 4x3 block minus the cell (1, 1) (a hole), an L cut at (3, 2), and a disjoint square at x = 10
    cells = [(i, j) for i in range(4) for j in range(3) if (i, j) != (1, 1) and not (i == 3 and j == 2)] + [(10, 0)]
    vertices, faces = _grid(cells)
    faces = np.concatenate([faces, faces[:3, ::-1]])  # some faces also written the other way round
    loops = sorted(mesh_outline_xz(vertices, faces), key=lambda p: -abs(polygon_area_xz(p)))
    assert [len(p) for p in loops] == [6, 4, 4]
    assert [abs(polygon_area_xz(p)) for p in loops] == [11.0, 1.0, 1.0]
    assert len(mesh_boundary_loops(faces)) == 3


def test_quaternion_of_a_yaw_is_that_yaw():
    yaw = np.array([0.3, -2.0, 3.0])
    quat = np.stack([np.zeros(3), np.sin(yaw / 2), np.zeros(3), np.cos(yaw / 2)], -1)
    np.testing.assert_allclose(quaternion_matrix(quat * 2.0), yaw_matrix(yaw), atol=1e-12)  # normalised first


def test_numpy_fps_order_equals_the_torch_op():
    points = np.random.default_rng(0).random((3000, 3))
    points[5] = points[4]  # a duplicate must not be picked twice
    ours = farthest_point_order(points, 400)
    theirs = farthest_point_sample(torch.from_numpy(points)[None], 400)[0].numpy()
    np.testing.assert_array_equal(ours, theirs)
