"""Tests for scene_analogy.match.analogy_map.AnalogyMap: evaluation, jacobian, file round trip."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch

from scene_analogy.files.errors import DataError
from scene_analogy.match.analogy_map import AnalogyMap
from scene_analogy.match.rbf import fit_thin_plate
from scene_analogy.ops.geometry import MIRROR_X, yaw_matrix
from tests.helpers import assert_jacobian_matches_finite_differences


def _map_with_spline(seed: int = 0) -> AnalogyMap:
    """yaw · mirror · scale, a translation, and a 40-centre displacement of ~10 cm."""
    rng = np.random.default_rng(seed)
    linear = yaw_matrix(0.7) @ MIRROR_X @ np.diag([1.2, 1.0, 0.8])
    roi = rng.uniform(0, 2, (40, 3))
    spline = fit_thin_plate(torch.tensor(roi), torch.tensor(rng.normal(scale=0.1, size=(40, 3))), 0.5)
    return AnalogyMap.from_spline(
        linear, np.array([1.0, 0.0, -2.0]), spline, cost=0.37, roi_points=roi,
        correspondence=np.array([[0, 3], [1, 5]]), meta={"method": "field", "num_rot": 8, "lr": 1e-3},
    )


def test_identity_and_pure_affine():
    points = np.random.default_rng(1).normal(size=(57, 3))
    np.testing.assert_array_equal(AnalogyMap.identity().apply(points), points)
    linear, offset = yaw_matrix(1.1) @ np.diag([2.0, 1.0, 0.5]), np.array([0.3, -1.0, 4.0])
    affine = AnalogyMap(linear, offset)
    np.testing.assert_allclose(affine.apply(points), points @ linear.T + offset, atol=1e-12)
    np.testing.assert_allclose(affine.jacobian(points), np.broadcast_to(linear, (57, 3, 3)), atol=1e-12)


def test_with_spline_equals_affine_plus_spline():
    amap = _map_with_spline()
    points = np.random.default_rng(2).uniform(-1, 3, (300, 3))
    spline = amap.spline()
    expected = points @ amap.linear.T + amap.offset + spline(torch.tensor(points)).numpy()
    np.testing.assert_allclose(amap.apply(points), expected, atol=1e-12)
    # roi points are centres: the displacement is the smoothed fit there, not zero
    assert np.abs(amap.apply(amap.roi_points) - (amap.roi_points @ amap.linear.T + amap.offset)).max() > 1e-3


def test_types_dtypes_and_chunking():
    amap = _map_with_spline()
    points = np.random.default_rng(3).uniform(-1, 3, (1001, 3))
    out_np = amap.apply(points)
    assert isinstance(out_np, np.ndarray) and out_np.dtype == np.float64
    out_t = amap.apply(torch.tensor(points, dtype=torch.float32))
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32
    np.testing.assert_allclose(out_t.numpy(), out_np, atol=1e-5)
    np.testing.assert_array_equal(amap.apply(points, chunk_size=64), out_np)
    assert amap.apply(np.zeros((0, 3))).shape == (0, 3)
    with pytest.raises(ValueError, match="shape"):
        amap.apply(np.zeros((4, 2)))


def test_jacobian_matches_finite_differences():
    amap = _map_with_spline(4)
    points = np.vstack([np.random.default_rng(5).uniform(-1, 3, (25, 3)), amap.roi_points[:3]])
    assert_jacobian_matches_finite_differences(amap, points)


def test_save_load_round_trip_bit_identical(tmp_path):
    amap = _map_with_spline(6)
    path = tmp_path / "maps" / "best.npz"
    amap.save(path)
    with np.load(path, allow_pickle=False) as data:  # plain arrays only
        assert all(data[k].dtype != object for k in data.files)
    loaded = AnalogyMap.load(path)
    points = np.random.default_rng(7).uniform(-2, 4, (500, 3))
    np.testing.assert_array_equal(loaded.apply(points), amap.apply(points))
    for name in ("linear", "offset", "centres", "weights", "tail", "roi_points", "correspondence"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(amap, name))
    assert loaded.cost == 0.37 and loaded.meta == {"method": "field", "num_rot": 8, "lr": 1e-3}
    assert loaded.correspondence.dtype == np.int64
    assert [p.name for p in path.parent.iterdir()] == ["best.npz"]  # no stray temporary file


def test_identity_round_trip_with_no_centres(tmp_path):
    AnalogyMap.identity().save(tmp_path / "id.npz")
    loaded = AnalogyMap.load(tmp_path / "id.npz")
    assert loaded.centres.shape == (0, 3)
    points = np.random.default_rng(8).normal(size=(10, 3))
    np.testing.assert_array_equal(loaded.apply(points), points)


def test_fields_are_read_only():
    amap = _map_with_spline()
    with pytest.raises(ValueError):
        amap.linear[0, 0] = 5.0
    with pytest.raises(AttributeError):
        amap.cost = 1.0


def _rewrite(path, out, change):
    """Copy the npz at `path` to `out` with `change(dict)` applied (plain np.savez)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    np.savez(out, **arrays)


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda a: a.pop("weights"), "weights"),
        (lambda a: a.__setitem__("linear", np.full((3, 3), np.nan)), "linear"),
        (lambda a: a.__setitem__("tail", np.zeros((3, 3))), "tail"),
        (lambda a: a.__setitem__("weights", np.zeros((5, 3))), "weights"),
        (lambda a: a.__setitem__("correspondence", np.zeros((2, 2), np.float64)), "correspondence"),
        (lambda a: a.__setitem__("meta_json", np.array("[1, 2]")), "meta_json"),
        (lambda a: a.__setitem__("offset", np.array([1, 2, 3], dtype=object)), "offset"),
    ],
)
def test_bad_file_raises_data_error_naming_key(tmp_path, change, key):
    good = tmp_path / "good.npz"
    _map_with_spline().save(good)
    bad = tmp_path / "bad.npz"
    _rewrite(good, bad, change)
    with pytest.raises(DataError, match=f"'{key}'") as info:
        AnalogyMap.load(bad)
    assert info.value.path == str(bad)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        AnalogyMap.load(tmp_path / "nope.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match="readable"):
        AnalogyMap.load(junk)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("other.npy", b"x")
    (tmp_path / "zip.npz").write_bytes(buffer.getvalue())
    with pytest.raises(DataError):
        AnalogyMap.load(tmp_path / "zip.npz")


def test_constructor_validation():
    with pytest.raises(ValueError, match="linear"):
        AnalogyMap(np.eye(2), np.zeros(3))
    with pytest.raises(ValueError, match="centres"):
        AnalogyMap(np.eye(3), np.zeros(3), centres=np.zeros((4, 3)), weights=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="meta"):
        AnalogyMap(np.eye(3), np.zeros(3), meta={"bad": [1, 2]})


def test_point_maps_identically_alone_or_in_a_cloud():
    amap = _map_with_spline(9)
    points = np.random.default_rng(10).uniform(-1, 3, (333, 3))
    whole = amap.apply(points)
    np.testing.assert_array_equal(amap.apply(points[17:18]), whole[17:18])
    np.testing.assert_array_equal(amap.apply(points[:5]), whole[:5])
