"""The yaw rotations of scene_analogy/ops/geometry.py: numpy and torch agree with each other and with
scipy's rotation about +y (and, conjugated by Z_UP_TO_Y_UP, about +z)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from scene_analogy.ops.geometry import Z_UP_TO_Y_UP, yaw_matrix, yaw_of, yaw_rotation

ANGLES = np.array([-3.0, -np.pi / 2, -0.4, 0.0, 0.1, 1.0, np.pi / 2, 2.5, np.pi, 7.0])


def test_yaw_matrix_is_scipys_rotation_about_up():
    expected = Rotation.from_rotvec(ANGLES[:, None] * [0.0, 1.0, 0.0]).as_matrix()
    np.testing.assert_allclose(yaw_matrix(ANGLES), expected, atol=1e-12)
    np.testing.assert_allclose(yaw_matrix(0.3) @ [1.0, 0.0, 0.0], [np.cos(0.3), 0.0, -np.sin(0.3)], atol=1e-15)


def test_yaw_rotation_matches_yaw_matrix():
    got = yaw_rotation(torch.tensor(ANGLES, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, yaw_matrix(ANGLES), rtol=0, atol=1e-15)  # the libms may differ by an ulp
    got32 = yaw_rotation(torch.tensor(ANGLES, dtype=torch.float32))
    assert got32.dtype == torch.float32
    np.testing.assert_allclose(got32.numpy(), yaw_matrix(ANGLES.astype(np.float32)), atol=1e-6)


def test_shapes_dtypes_and_gradient():
    assert yaw_matrix(0.5).shape == (3, 3)
    assert yaw_matrix(np.zeros((2, 4))).shape == (2, 4, 3, 3)
    theta = torch.zeros(2, 4, requires_grad=True)
    rot = yaw_rotation(theta)
    assert rot.shape == (2, 4, 3, 3) and rot.dtype == torch.float32
    rot[..., 0, 2].sum().backward()  # d sin / d theta = cos(0) = 1
    np.testing.assert_allclose(theta.grad.numpy(), np.ones((2, 4)))


def test_proper_rotations_and_yaw_of_inverts():
    rots = yaw_matrix(ANGLES)
    np.testing.assert_allclose(np.linalg.det(rots), 1.0, atol=1e-12)
    np.testing.assert_allclose(rots @ np.swapaxes(rots, -1, -2), np.broadcast_to(np.eye(3), rots.shape), atol=1e-12)
    wrapped = np.angle(np.exp(1j * ANGLES))
    np.testing.assert_allclose(np.abs(np.angle(np.exp(1j * (yaw_of(rots) - wrapped)))), 0.0, atol=1e-12)


def test_z_up_yaw_is_the_conjugated_y_up_yaw():
    z_up = Z_UP_TO_Y_UP.T @ yaw_matrix(ANGLES) @ Z_UP_TO_Y_UP
    expected = Rotation.from_rotvec(ANGLES[:, None] * [0.0, 0.0, 1.0]).as_matrix()
    np.testing.assert_allclose(z_up, expected, atol=1e-12)


def test_yaw_of_a_tilted_rotation_is_its_twist_about_up():
    """3D-FRONT's `rot` may hold a tilt ("only the yaw about +y matters"): the yaw is the twist about
    +y, on either side of the tilt; row 0 alone read 0 for a 60-degree yaw tilted by 90 degrees."""
    rng = np.random.default_rng(0)
    yaws = rng.uniform(-np.pi, np.pi, 50)
    for axis in ([1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.6, 0.0, 0.8]):
        for tilt in (0.35, np.pi / 2, 2.5):
            t = Rotation.from_rotvec(tilt * np.array(axis)).as_matrix()
            for rots in (yaw_matrix(yaws) @ t, t @ yaw_matrix(yaws)):
                np.testing.assert_allclose(np.angle(np.exp(1j * (yaw_of(rots) - yaws))), 0.0, atol=1e-9)
    flipped = yaw_matrix(np.deg2rad(60.0)) @ np.diag([1.0, -1.0, -1.0])  # upside down: the +x heading
    np.testing.assert_allclose(np.rad2deg(yaw_of(flipped)), 60.0, atol=1e-9)


def test_floor_outline_welds_by_distance_not_by_grid():
    """Two quads sharing the edge x = 2.00015: a 1e-9 offset across a 1e-4 grid line made two polygons."""
    from scene_analogy.ops.geometry import mesh_outline_xz, polygon_area_xz

    faces = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    for dx in (0.0, 1e-9, -1e-9):
        edge = 2.00015
        vertices = np.array([[0, 0, 0], [edge, 0, 0], [edge, 0, 3], [0, 0, 3],
                             [edge + dx, 0, 0], [4, 0, 0], [4, 0, 3], [edge + dx, 0, 3]], dtype=np.float64)
        polygons = mesh_outline_xz(vertices, faces)
        assert len(polygons) == 1 and len(polygons[0]) == 4
        assert abs(polygon_area_xz(polygons[0])) == pytest.approx(12.0, rel=1e-6)  # the 4 x 3 m floor
