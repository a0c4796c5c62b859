"""Tests for scene_analogy.match.rbf against scipy's RBFInterpolator and hand-checked properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.interpolate import RBFInterpolator

from scene_analogy.match.rbf import fit_thin_plate, fit_thin_plate_batched

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
]


def _data(seed: int, num_centres: int, dim: int = 3, num_points: int = 200):
    """Centres in a 2 m box, values ~ N(0, 1), query points also outside the box."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.0, 2.0, (num_centres, 3))
    values = rng.normal(size=(num_centres, dim))
    points = rng.uniform(-1.0, 3.0, (num_points, 3))
    return centres, values, points


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("num_centres", [4, 7, 40, 150])
@pytest.mark.parametrize("smoothing", [0.0, 0.5])
def test_matches_scipy(device, num_centres, smoothing):
    centres, values, points = _data(num_centres, num_centres)
    spline = fit_thin_plate(torch.tensor(centres, device=device), torch.tensor(values, device=device), smoothing)
    ours = spline(torch.tensor(points, device=device)).cpu().numpy()
    scipy_rbf = RBFInterpolator(centres, values, kernel="thin_plate_spline", degree=1, smoothing=smoothing)
    np.testing.assert_allclose(ours, scipy_rbf(points), rtol=0, atol=1e-6)


def test_interpolates_exactly_without_smoothing():
    centres, values, _ = _data(1, 60)
    spline = fit_thin_plate(torch.tensor(centres), torch.tensor(values), smoothing=0.0)
    np.testing.assert_allclose(spline(torch.tensor(centres)).numpy(), values, atol=1e-9)


def test_smoothing_does_not_interpolate():
    centres, values, _ = _data(1, 60)
    spline = fit_thin_plate(torch.tensor(centres), torch.tensor(values), smoothing=0.5)
    assert np.abs(spline(torch.tensor(centres)).numpy() - values).max() > 1e-2


@pytest.mark.parametrize("smoothing", [0.0, 0.5])
def test_reproduces_affine_function(smoothing):
    """The degree-1 tail absorbs an affine function whatever the smoothing: weights vanish."""
    centres, _, points = _data(2, 30)
    rng = np.random.default_rng(3)
    matrix, shift = rng.normal(size=(3, 2)), rng.normal(size=2)
    spline = fit_thin_plate(torch.tensor(centres), torch.tensor(centres @ matrix + shift), smoothing)
    np.testing.assert_allclose(spline(torch.tensor(points)).numpy(), points @ matrix + shift, atol=1e-9)
    np.testing.assert_allclose(spline.tail.numpy(), np.vstack([shift, matrix]), atol=1e-9)
    assert np.abs(spline.weights.numpy()).max() < 1e-9


def test_batched_equals_looped_and_shared_points():
    rng = np.random.default_rng(4)
    centres = rng.uniform(0, 2, (5, 25, 3))
    values = rng.normal(size=(5, 25, 3))
    points = rng.uniform(-1, 3, (5, 70, 3))
    batch = fit_thin_plate_batched(torch.tensor(centres), torch.tensor(values), smoothing=0.5)
    assert batch.valid.all() and len(batch) == 5
    together = batch(torch.tensor(points)).numpy()
    shared = batch(torch.tensor(points[0])).numpy()  # one (M, 3) cloud for every spline
    for b in range(5):
        single = fit_thin_plate(torch.tensor(centres[b]), torch.tensor(values[b]), smoothing=0.5)
        np.testing.assert_allclose(together[b], single(torch.tensor(points[b])).numpy(), atol=1e-10)
        np.testing.assert_allclose(shared[b], single(torch.tensor(points[0])).numpy(), atol=1e-10)
        np.testing.assert_allclose(batch[b].weights.numpy(), single.weights.numpy(), atol=1e-10)


def test_chunked_evaluation_equals_one_chunk():
    centres, values, points = _data(5, 30, num_points=101)
    spline = fit_thin_plate(torch.tensor(centres), torch.tensor(values))
    x = torch.tensor(points)
    whole = spline(x, chunk_size=1000).numpy()
    np.testing.assert_array_equal(spline(x, chunk_size=7).numpy(), whole)
    np.testing.assert_array_equal(spline(x[5:6]).numpy(), whole[5:6])  # alone == inside a cloud
    assert spline(x[:0]).shape == (0, 3)


def test_float64_solve_for_float32_inputs():
    centres, values, points = _data(6, 80)
    spline32 = fit_thin_plate(torch.tensor(centres, dtype=torch.float32), torch.tensor(values, dtype=torch.float32), 0.0)
    assert spline32.weights.dtype == torch.float64 and spline32.tail.dtype == torch.float64
    # Same float32-rounded data solved by scipy in float64: agreement far below float32 round-off
    # of the weights would be impossible with a float32 solve.
    c32, v32 = centres.astype(np.float32).astype(np.float64), values.astype(np.float32).astype(np.float64)
    reference = RBFInterpolator(c32, v32, kernel="thin_plate_spline", degree=1, smoothing=0.0)
    out = spline32(torch.tensor(points))  # float64 points -> float64 output
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), reference(points), atol=1e-8)
    assert spline32(torch.tensor(points, dtype=torch.float32)).dtype == torch.float32


def test_jacobian_matches_finite_differences():
    centres, values, points = _data(7, 30, num_points=20)
    spline = fit_thin_plate(torch.tensor(centres), torch.tensor(values), 0.5)
    x = torch.tensor(np.vstack([points, centres[:3]]))  # also exactly on centres (r = 0)
    jac = spline.jacobian(x).numpy()
    step = 1e-6
    for j in range(3):
        offset = torch.zeros(3, dtype=torch.float64)
        offset[j] = step
        numeric = (spline(x + offset) - spline(x - offset)).numpy() / (2 * step)
        np.testing.assert_allclose(jac[:, :, j], numeric, atol=1e-6)


@pytest.mark.parametrize(
    "case, smoothing, reason",
    [
        ("coplanar", 0.0, "coplanar"),
        ("coplanar", 0.5, "coplanar"),
        ("collinear", 0.0, "coplanar or collinear"),
        ("duplicate", 0.0, "coincide"),
        ("three", 0.5, "at least 4 centres"),
        ("nan", 0.5, "NaN"),
        ("near_duplicate", 0.0, "ill-conditioned"),
    ],
)
def test_degenerate_systems_raise_with_reason(case, smoothing, reason):
    rng = np.random.default_rng(8)
    centres = rng.uniform(0, 2, (20, 3))
    if case == "coplanar":  # a tilted plane, so no axis is constant
        uv = rng.uniform(0, 2, (20, 2))
        centres = uv[:, :1] * np.array([1.0, 0.3, 0.2]) + uv[:, 1:] * np.array([0.1, 0.5, -1.0])
    elif case == "collinear":
        centres = rng.uniform(0, 1, (20, 1)) * np.array([1.0, 2.0, 3.0])
    elif case == "duplicate":
        centres[5] = centres[11]
    elif case == "three":
        centres = centres[:3]
    elif case == "nan":
        centres[2, 1] = np.nan
    elif case == "near_duplicate":
        centres[5] = centres[11] + 1e-9
    values = rng.normal(size=(len(centres), 3))
    with pytest.raises(ValueError, match=reason):
        fit_thin_plate(torch.tensor(centres), torch.tensor(values), smoothing)


def test_duplicate_centres_fine_with_smoothing():
    centres, values, points = _data(9, 20)
    centres[5] = centres[11]
    spline = fit_thin_plate(torch.tensor(centres), torch.tensor(values), 0.5)
    reference = RBFInterpolator(centres, values, kernel="thin_plate_spline", degree=1, smoothing=0.5)
    np.testing.assert_allclose(spline(torch.tensor(points)).numpy(), reference(points), atol=1e-6)


def test_batched_non_strict_marks_only_bad_elements():
    rng = np.random.default_rng(10)
    centres = rng.uniform(0, 2, (3, 12, 3))
    centres[1, :, 1] = 0.7  # element 1 is flat: coplanar
    values = rng.normal(size=(3, 12, 3))
    with pytest.raises(ValueError, match=r"batch element 1\).*coplanar"):
        fit_thin_plate_batched(torch.tensor(centres), torch.tensor(values), 0.5)
    batch = fit_thin_plate_batched(torch.tensor(centres), torch.tensor(values), 0.5, strict=False)
    assert batch.valid.tolist() == [True, False, True]
    out = batch(torch.tensor(centres[0]))
    assert torch.isnan(out[1]).all() and torch.isfinite(out[[0, 2]]).all()
    single = fit_thin_plate(torch.tensor(centres[2]), torch.tensor(values[2]), 0.5)
    np.testing.assert_allclose(out[2].numpy(), single(torch.tensor(centres[0])).numpy(), atol=1e-10)


def test_global_rng_untouched():
    rng = np.random.default_rng(11)
    centres = rng.uniform(0, 2, (2, 10, 3))
    centres[0, :, 1] = 0.0
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit_thin_plate_batched(torch.tensor(centres), torch.tensor(centres), 0.5, strict=False)
    assert torch.equal(torch.rand(3), expected)


def test_batched_fit_survives_explicit_thread_setting():
    """torch 2.13 CPU returns garbage from batched LU after set_num_threads(n > 1); the fit must not."""
    import torch

    from scene_analogy.match.rbf import fit_thin_plate_batched

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        gen = torch.Generator().manual_seed(0)
        centres = torch.rand(8, 150, 3, generator=gen, dtype=torch.float64)
        values = torch.rand(8, 150, 3, generator=gen, dtype=torch.float64)
        spline = fit_thin_plate_batched(centres, values, smoothing=0.0)
        torch.testing.assert_close(spline(centres), values, atol=1e-8, rtol=0)
    finally:
        torch.set_num_threads(threads)
