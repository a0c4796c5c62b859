"""PLY vertex tables: binary round trip, ascii and big-endian files written by hand, bad files."""

from __future__ import annotations

import numpy as np
import pytest

from scene_analogy.files.errors import DataError
from scene_analogy.files.ply import read_ply_vertices, write_ply


def test_binary_round_trip_keeps_names_dtypes_and_edges(tmp_path):
    rng = np.random.default_rng(0)
    columns = {"x": rng.random(7).astype(np.float32), "y": rng.random(7), "z": rng.random(7).astype(np.float32),
               "instance": np.arange(7, dtype=np.int64), "red": np.arange(7, dtype=np.uint8), "flag": np.ones(7, bool)}
    write_ply(tmp_path / "a.ply", columns, edges=np.array([[0, 1], [2, 3]]), comment="test")
    back = read_ply_vertices(tmp_path / "a.ply")
    assert list(back) == list(columns)
    for name, values in columns.items():
        np.testing.assert_array_equal(back[name], values.astype(back[name].dtype))
    assert back["instance"].dtype == np.int32 and back["y"].dtype == np.float64 and back["flag"].dtype == np.uint8


def test_ascii_with_a_leading_element_and_faces(tmp_path):
    text = ("ply\nformat ascii 1.0\ncomment made by hand\nelement camera 1\nproperty float fov\n"
            "element vertex 3\nproperty float x\nproperty float y\nproperty float z\nproperty int instance\n"
            "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
            "0.5\n0 0 0 4\n1 0 0 4\n0 1 0 9\n3 0 1 2\n")
    (tmp_path / "a.ply").write_text(text)
    back = read_ply_vertices(tmp_path / "a.ply")
    np.testing.assert_array_equal(back["instance"], [4, 4, 9])
    np.testing.assert_array_equal(back["y"], np.array([0, 0, 1], np.float32))


def test_big_endian(tmp_path):
    values = np.array([(1.5, -2.0, 3.25, 7)], dtype=[("x", ">f4"), ("y", ">f4"), ("z", ">f4"), ("label", ">i4")])
    header = ("ply\nformat binary_big_endian 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
              "property float z\nproperty int label\nend_header\n")
    (tmp_path / "b.ply").write_bytes(header.encode() + values.tobytes())
    back = read_ply_vertices(tmp_path / "b.ply")
    assert back["x"][0] == 1.5 and back["z"][0] == 3.25 and back["label"][0] == 7


@pytest.mark.parametrize("content, problem", [
    (b"", "empty"),
    (b"\x00\x01garbage", "not a PLY"),
    (b"ply\nformat binary_little_endian 1.0\nelement vertex 5\nproperty float x\nend_header\n\x00\x00", "ends after"),
    (b"ply\nformat ascii 1.0\nelement face 1\nproperty list uchar int v\nend_header\n3 0 1 2\n", "no 'vertex'"),
    (b"ply\nformat weird 1.0\nelement vertex 0\nend_header\n", "unsupported PLY format"),
])
def test_bad_files_name_the_file(tmp_path, content, problem):
    path = tmp_path / "bad.ply"
    path.write_bytes(content)
    with pytest.raises(DataError, match=problem) as info:
        read_ply_vertices(path)
    assert info.value.path == str(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_ply_vertices(tmp_path / "none.ply")


def test_mesh_faces_binary_round_trip_ascii_polygons_and_missing_faces(tmp_path):
    from scene_analogy.files.ply import read_ply_mesh

    rng = np.random.default_rng(1)
    faces = rng.integers(0, 9, (20, 3))
    write_ply(tmp_path / "m.ply", {"x": rng.random(9), "y": rng.random(9), "z": rng.random(9),
                                   "red": np.arange(9, dtype=np.uint8)}, faces=faces)
    columns, back = read_ply_mesh(tmp_path / "m.ply")
    np.testing.assert_array_equal(back, faces)
    np.testing.assert_array_equal(columns["red"], np.arange(9))
    # ascii, a quad and a triangle: the quad is fanned into two triangles
    text = ("ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
            "element face 2\nproperty list uchar int vertex_indices\nend_header\n"
            "0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3\n3 0 2 3\n")
    (tmp_path / "q.ply").write_text(text)
    np.testing.assert_array_equal(read_ply_mesh(tmp_path / "q.ply")[1], [[0, 1, 2], [0, 2, 3], [0, 2, 3]])
    # binary with mixed polygon sizes takes the record-by-record path
    header = ("ply\nformat binary_little_endian 1.0\nelement vertex 4\nproperty float x\nproperty float y\n"
              "property float z\nelement face 2\nproperty list uchar int vertex_indices\nend_header\n")
    body = np.zeros(12, "<f4").tobytes() + bytes([4]) + np.array([0, 1, 2, 3], "<i4").tobytes() \
        + bytes([3]) + np.array([3, 2, 1], "<i4").tobytes()
    (tmp_path / "p.ply").write_bytes(header.encode() + body)
    np.testing.assert_array_equal(read_ply_mesh(tmp_path / "p.ply")[1], [[0, 1, 2], [0, 2, 3], [3, 2, 1]])
    write_ply(tmp_path / "cloud.ply", {"x": np.zeros(3), "y": np.zeros(3), "z": np.zeros(3)})
    with pytest.raises(DataError, match="cloud.ply.*no faces"):
        read_ply_mesh(tmp_path / "cloud.ply")
    write_ply(tmp_path / "bad.ply", {"x": np.zeros(3), "y": np.zeros(3), "z": np.zeros(3)}, faces=[[0, 1, 5]])
    with pytest.raises(DataError, match="outside the 3 vertices"):
        read_ply_mesh(tmp_path / "bad.ply")


def test_ascii_blank_lines_header_words_and_repeated_properties(tmp_path):
    """A blank body line dropped a vertex (and shifted faces); `end_header` inside a comment cut the
    header; a property declared twice was a raw ValueError."""
    from scene_analogy.files.ply import read_ply_mesh

    text = ("ply\nformat ascii 1.0\ncomment exported before end_header was fixed\nelement vertex 4\n"
            "property float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\n"
            "end_header\n0 0 0\n\n1 0 0\n0 1 0\n0 0 1\n\n3 0 1 2\n")
    (tmp_path / "a.ply").write_text(text)
    vertices = read_ply_vertices(tmp_path / "a.ply")
    np.testing.assert_array_equal(vertices["z"], [0, 0, 0, 1])
    columns, faces = read_ply_mesh(tmp_path / "a.ply")
    assert faces.tolist() == [[0, 1, 2]]
    (tmp_path / "b.ply").write_text("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float x\n"
                                    "end_header\n1 2\n")
    with pytest.raises(DataError, match="declares property 'x' more than once"):
        read_ply_vertices(tmp_path / "b.ply")


def test_writer_refuses_what_ply_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="beyond int32"):
        write_ply(tmp_path / "a.ply", {"instance": np.array([3, 2 ** 31 + 5])})
    with pytest.raises(ValueError, match="line break"):
        write_ply(tmp_path / "a.ply", {"x": np.zeros(2, np.float32)}, comment="one\nelement vertex 5")
    write_ply(tmp_path / "a.ply", {"instance": np.array([3, 2 ** 31 - 1])})
    assert read_ply_vertices(tmp_path / "a.ply")["instance"].tolist() == [3, 2 ** 31 - 1]
    assert not (tmp_path / "b.ply").exists()
