"""AnalogyMap with object parts and bumps (`match/blend.py`): what the parts do in open space, the
jacobian, frames, files (version 2 round trip, version 1 files still load) and validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scene_analogy.files.errors import DataError
from scene_analogy.match.analogy_map import AnalogyMap
from scene_analogy.match.blend import box_distance, fit_bumps, part_weights
from scene_analogy.ops.geometry import MIRROR_X, yaw_matrix
from scene_analogy.user_scenes.formats import UP_ROTATIONS
from tests.helpers import assert_jacobian_matches_finite_differences

BLEND = (0.1, 0.5, 1.5)


def _parts_map(bumps: bool = True) -> AnalogyMap:
    """Global map G: yaw 0.3 + shift. Two RoI boxes 3 m apart, box maps T_0 (a mirrored yaw) and T_1
    (a pure shift), and 20 bumps of ~3 cm on box 0's surface."""
    rng = np.random.default_rng(0)
    part_linear = np.stack([yaw_matrix(1.2) @ MIRROR_X @ np.diag([1.1, 1.0, 0.9]), np.eye(3)])
    kwargs = dict(part_linear=part_linear, part_offset=np.array([[1.0, 0.0, 2.0], [-1.0, 0.0, 0.5]]),
                  part_centres=np.array([[0.0, 0.5, 0.0], [3.0, 0.4, 0.0]]), part_sizes=np.array([[1.0, 1.0, 0.6], [0.8, 0.8, 0.8]]),
                  part_rots=np.stack([yaw_matrix(0.4), yaw_matrix(-0.2) @ MIRROR_X]), part_blend=BLEND)
    if bumps:
        kwargs.update(bump_centres=rng.uniform(-0.5, 0.5, (20, 3)) + [0, 0.5, 0],
                      bump_weights=0.03 * rng.standard_normal((20, 3)), bump_width=0.1)
    return AnalogyMap(yaw_matrix(0.3), np.array([0.5, 0.0, -1.0]), cost=0.2, roi_points=np.zeros((4, 3)),
                      correspondence=np.array([[0, 2], [1, 4]]), meta={"displacement": "parts"}, **kwargs)


def test_box_distance_by_hand():
    centres, sizes, rots = torch.zeros(1, 3, dtype=torch.float64), torch.tensor([[2.0, 1.0, 1.0]], dtype=torch.float64), \
        torch.tensor(yaw_matrix(np.pi / 2))[None]
    points = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 2.0], [1.5, 0.0, 0.0]], dtype=torch.float64)
    # turned 90 degrees: the box's long (2 m) axis lies along world z
    np.testing.assert_allclose(box_distance(points, centres, sizes, rots)[:, 0].numpy(), [0, 0, 1.0, 1.0], atol=1e-9)


def test_open_space_follows_the_nearest_box_then_the_global_map():
    amap = _parts_map(bumps=False)
    rng = np.random.default_rng(1)
    near0 = rng.uniform(-0.3, 0.3, (50, 3)) * [1, 0, 1] + [0.0, 0.5, 0.75]
    near0 = near0[box_distance(torch.tensor(near0), *(torch.tensor(a) for a in
                                                      (amap.part_centres, amap.part_sizes, amap.part_rots))).numpy()[:, 0] < 0.5]
    expected = near0 @ amap.part_linear[0].T + amap.part_offset[0]
    np.testing.assert_allclose(amap.apply(near0), expected, atol=1e-6)  # box 1 is 3 m away: its softmax share is ~0
    far = rng.uniform(-1, 1, (30, 3)) + [0.0, 0.0, 10.0]  # > outer from every box
    np.testing.assert_allclose(amap.apply(far), far @ amap.linear.T + amap.offset, atol=1e-12)
    boxes = (torch.tensor([[0.0, 0, 0], [2.0, 0, 0]]), torch.ones(2, 3), torch.eye(3).expand(2, 3, 3))
    w = part_weights(torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.3], [0.45, 0, 0], [1.0, 0.0, 1.6]]), *boxes, BLEND)
    assert torch.allclose(w[:2], torch.full((2, 2), 0.5))  # halfway between two boxes: shared, all of it
    assert float(w[2, 0]) > 0.99  # inside box 0, 1.05 m from box 1
    assert 0 < float(w[3].sum()) < 1  # between inner and outer: partly the global map


def test_point_maps_alike_alone_or_in_a_cloud_and_chunks():
    amap = _parts_map()
    points = np.random.default_rng(2).uniform(-1, 4, (333, 3))
    whole = amap.apply(points)
    np.testing.assert_array_equal(amap.apply(points[17:18]), whole[17:18])
    np.testing.assert_array_equal(amap.apply(points, chunk_size=50), whole)
    assert amap.apply(np.zeros((0, 3))).shape == (0, 3) and amap.jacobian(np.zeros((0, 3))).shape == (0, 3, 3)
    out_t = amap.apply(torch.tensor(points, dtype=torch.float32))
    assert out_t.dtype == torch.float32 and np.allclose(out_t.numpy(), whole, atol=1e-5)


def test_jacobian_matches_finite_differences():
    amap = _parts_map()
    points = np.random.default_rng(3).uniform(-1, 4, (40, 3))
    assert_jacobian_matches_finite_differences(amap, points, chunk_size=16)


def test_in_frame_is_the_conjugate():
    m, cz, cy = _parts_map(), UP_ROTATIONS["z"], UP_ROTATIONS["y"]
    x_file = np.random.default_rng(4).uniform(-1, 4, (30, 3))
    for cs, ct in ((cz, cz), (cz, cy), (cy, cz)):
        g = m.in_frame(cs, ct)
        np.testing.assert_allclose(g.apply(x_file), m.apply(x_file @ cs.T) @ ct, atol=1e-10)
        np.testing.assert_allclose(g.jacobian(x_file), ct.T @ m.jacobian(x_file @ cs.T) @ cs, atol=1e-8)


def test_save_load_round_trip_and_version_1_files(tmp_path):
    amap = _parts_map()
    amap.save(tmp_path / "parts.npz")
    loaded = AnalogyMap.load(tmp_path / "parts.npz")
    points = np.random.default_rng(5).uniform(-1, 4, (200, 3))
    np.testing.assert_array_equal(loaded.apply(points), amap.apply(points))
    assert loaded.bump_width == 0.1 and loaded.meta == amap.meta
    # A version 1 file (written before object parts existed): no part_* / bump_* keys.
    spline_only = AnalogyMap(yaw_matrix(0.3), np.ones(3), np.eye(3)[[0, 1, 2, 0]] + [[0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 1, 1]],
                             0.01 * np.ones((4, 3)), np.zeros((4, 3)))
    arrays = {k: v for k, v in spline_only.to_arrays().items() if not k.startswith(("part_", "bump_"))}
    arrays["format_version"] = np.array(1, dtype=np.int64)
    np.savez(tmp_path / "v1.npz", **arrays)
    old = AnalogyMap.load(tmp_path / "v1.npz")
    assert len(old.part_linear) == 0 and not old.has_parts
    np.testing.assert_array_equal(old.apply(points), spline_only.apply(points))
    arrays["format_version"] = np.array(3, dtype=np.int64)
    np.savez(tmp_path / "v3.npz", **arrays)
    with pytest.raises(DataError, match="format_version"):
        AnalogyMap.load(tmp_path / "v3.npz")
    bad = {k: v for k, v in amap.to_arrays().items() if k != "part_rots"}  # version 2 needs every key
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(DataError, match="'part_rots'"):
        AnalogyMap.load(tmp_path / "bad.npz")


def test_validation():
    with pytest.raises(ValueError, match="part_offset"):
        AnalogyMap(np.eye(3), np.zeros(3), part_linear=np.zeros((2, 3, 3)), part_offset=np.zeros((1, 3)))
    with pytest.raises(ValueError, match="part_blend"):
        AnalogyMap(np.eye(3), np.zeros(3), part_linear=np.zeros((1, 3, 3)), part_offset=np.zeros((1, 3)),
                   part_centres=np.zeros((1, 3)), part_sizes=np.ones((1, 3)), part_rots=np.eye(3)[None],
                   part_blend=(0.1, 1.0, 0.5))
    with pytest.raises(ValueError, match="bump_width"):
        AnalogyMap(np.eye(3), np.zeros(3), bump_centres=np.zeros((1, 3)), bump_weights=np.zeros((1, 3)))


def test_fit_bumps_interpolates_nearly():
    gen = torch.Generator().manual_seed(0)
    centres = torch.rand(2, 30, 3, generator=gen, dtype=torch.float64)
    values = 0.05 * torch.randn(2, 30, 3, generator=gen, dtype=torch.float64)
    weights, valid = fit_bumps(centres, values, 0.1)
    assert bool(valid.all())
    from scene_analogy.match.blend import bumps
    assert float((bumps(centres, centres, weights, 0.1) - values).abs().max()) < 0.01
