"""Tests for scene_analogy.ops.neighbors and ops.point_sets against brute-force numpy loops and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scene_analogy.ops import neighbors as nb
from scene_analogy.ops import point_sets as ps

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
]


def _cloud(rng: np.random.Generator, batch: int, num: int, device: str, dtype=torch.float64) -> torch.Tensor:
    """Points spread over a 6 m x 3 m x 6 m room."""
    pts = rng.uniform(0.0, 1.0, size=(batch, num, 3)) * np.array([6.0, 3.0, 6.0])
    return torch.tensor(pts, dtype=dtype, device=device)


def _brute_ball(query, points, k, radius=np.inf, lengths=None):
    """Reference (dist, idx, mask) by a plain loop: sort all valid distances, keep <= radius, first k."""
    q, p = query.detach().cpu().double().numpy(), points.detach().cpu().double().numpy()
    batch, num_query = q.shape[:2]
    dist = np.full((batch, num_query, k), np.inf)
    idx = np.zeros((batch, num_query, k), dtype=np.int64)
    mask = np.zeros((batch, num_query, k), dtype=bool)
    for b in range(batch):
        valid = p.shape[1] if lengths is None else int(lengths[b])
        for i in range(num_query):
            d = np.sqrt(((p[b, :valid] - q[b, i]) ** 2).sum(-1))
            order = [j for j in np.argsort(d, kind="stable") if d[j] <= radius][:k]
            dist[b, i, : len(order)] = d[order]
            idx[b, i, : len(order)] = order
            mask[b, i, : len(order)] = True
    return dist, idx, mask


def _assert_matches(result, expected, atol=1e-10):
    dist, idx, mask = (t.cpu().numpy() for t in result)
    exp_dist, exp_idx, exp_mask = expected
    np.testing.assert_array_equal(mask, exp_mask)
    np.testing.assert_array_equal(idx, exp_idx)
    np.testing.assert_allclose(dist[mask], exp_dist[exp_mask], atol=atol, rtol=0)
    assert np.all(np.isinf(dist[~mask]))


# ----------------------------------------------------------------------------- knn


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("use_lengths", [False, True])
def test_knn_matches_brute_force(device, seed, use_lengths):
    rng = np.random.default_rng(seed)
    query, points = _cloud(rng, 3, 17, device), _cloud(rng, 3, 23, device)
    lengths = torch.tensor([23, 9, 4], device=device) if use_lengths else None
    k = 6  # more than the 4 valid points of the last batch element: missing slots are exercised
    result = nb.knn(query, points, k, points_lengths=lengths, chunk_size=5)
    _assert_matches(result, _brute_ball(query, points, k, lengths=lengths))
    dist, idx, mask = result
    assert idx.dtype == torch.long and mask.dtype == torch.bool
    assert torch.all(dist[..., 1:] >= dist[..., :-1])  # ascending (inf at the end)
    if use_lengths:
        assert not mask[2, :, 4:].any() and torch.all(idx[2, :, 4:] == 0)


@pytest.mark.parametrize("device", DEVICES)
def test_knn_float32_is_exact_near_zero(device):
    """The matrix-multiply trick loses ~1e-3 near zero; our distances must stay within 1e-5."""
    rng = np.random.default_rng(3)
    points = _cloud(rng, 2, 300, device, torch.float32) + 100.0  # far from the origin on purpose
    dist, idx, _ = nb.knn(points, points, 1)
    assert torch.all(dist[..., 0] == 0.0)  # identical points: exactly zero
    assert torch.equal(idx[..., 0], torch.arange(300, device=device).expand(2, -1))
    offset = torch.tensor(rng.normal(size=(2, 300, 3)) * 1e-3, dtype=torch.float32, device=device)
    query = points + offset
    result = nb.knn(query, points, 4)
    expected = _brute_ball(query, points, 4)
    np.testing.assert_allclose(result[0].cpu().numpy(), expected[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_knn_k_larger_than_points(device):
    points = torch.tensor([[[0.0, 0, 0], [3.0, 0, 0]]], device=device)
    query = torch.tensor([[[1.0, 0, 0]]], device=device)
    dist, idx, mask = nb.knn(query, points, 4)
    assert dist[0, 0, :2].tolist() == [1.0, 2.0]
    assert idx[0, 0].tolist() == [0, 1, 0, 0]
    assert mask[0, 0].tolist() == [True, True, False, False]
    assert torch.isinf(dist[0, 0, 2:]).all()


@pytest.mark.parametrize("device", DEVICES)
def test_nearest_neighbor(device):
    rng = np.random.default_rng(4)
    a, b = _cloud(rng, 2, 11, device), _cloud(rng, 2, 13, device)
    lengths = torch.tensor([13, 5], device=device)
    dist, idx = nb.nearest_neighbor(a, b, lengths)
    exp_dist, exp_idx, _ = _brute_ball(a, b, 1, lengths=lengths)
    np.testing.assert_array_equal(idx.cpu().numpy(), exp_idx[..., 0])
    np.testing.assert_allclose(dist.cpu().numpy(), exp_dist[..., 0], atol=1e-12, rtol=0)


# ----------------------------------------------------------------------------- ball query


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("use_lengths", [False, True])
def test_ball_query_matches_brute_force(device, seed, use_lengths):
    rng = np.random.default_rng(10 + seed)
    query, points = _cloud(rng, 2, 40, device), _cloud(rng, 2, 200, device)
    lengths = torch.tensor([150, 60], device=device) if use_lengths else None
    for k in (1, 8, 100):
        result = nb.ball_query(query, points, 1.2, k, points_lengths=lengths, chunk_size=16)
        expected = _brute_ball(query, points, k, radius=1.2, lengths=lengths)
        _assert_matches(result, expected)
    # The last (k=100) case is not degenerate: some slots are filled and some are not.
    assert expected[2].any() and not expected[2].all()


@pytest.mark.parametrize("device", DEVICES)
def test_ball_query_returns_nearest_not_first_stored(device):
    # All four points lie in the ball, stored from farthest to nearest: the first two in storage
    # order (indices 0, 1) are the two farthest, so returning them would fail this test.
    points = torch.tensor([[[0.7, 0, 0], [0.0, 0.5, 0], [0, 0, 0.3], [0.1, 0, 0]]], device=device)
    query = torch.zeros(1, 1, 3, device=device)
    dist, idx, mask = nb.ball_query(query, points, radius=0.75, k=2)
    assert idx[0, 0].tolist() == [3, 2]
    torch.testing.assert_close(dist[0, 0], torch.tensor([0.1, 0.3], device=device))
    assert mask.all()


@pytest.mark.parametrize("device", DEVICES)
def test_ball_query_radius_boundary(device):
    # 0.5 and 0.25 are exact in binary, so the boundary point is at distance exactly `radius`.
    points = torch.tensor([[[0.5, 0, 0], [0, 0.5 + 1e-6, 0], [0, 0, 0.25]]], dtype=torch.float64, device=device)
    query = torch.zeros(1, 1, 3, dtype=torch.float64, device=device)
    dist, idx, mask = nb.ball_query(query, points, radius=0.5, k=3)
    assert idx[0, 0].tolist() == [2, 0, 0]
    assert mask[0, 0].tolist() == [True, True, False]
    assert dist[0, 0, :2].tolist() == [0.25, 0.5]


@pytest.mark.parametrize("device", DEVICES)
def test_ball_query_all_outside(device):
    rng = np.random.default_rng(5)
    points = _cloud(rng, 2, 30, device)
    query = points[:, :4] + 50.0  # far outside the room
    dist, idx, mask = nb.ball_query(query, points, radius=0.75, k=10)
    assert not mask.any()
    assert torch.all(idx == 0) and torch.isinf(dist).all()


@pytest.mark.parametrize("device", DEVICES)
def test_ball_query_never_returns_padding(device):
    # Padding points sit right on the query; they must be ignored.
    points = torch.zeros(1, 5, 3, device=device)
    points[0, :2] = torch.tensor([[0.2, 0, 0], [2.0, 0, 0]], device=device)
    dist, idx, mask = nb.ball_query(torch.zeros(1, 1, 3, device=device), points, 1.0, 5,
                                    points_lengths=torch.tensor([2], device=device))
    assert idx[0, 0].tolist() == [0, 0, 0, 0, 0]
    assert mask[0, 0].tolist() == [True, False, False, False, False]


# ----------------------------------------------------------------------------- chunking, gradients


@pytest.mark.parametrize("device", DEVICES)
def test_chunk_size_does_not_change_results(device, monkeypatch):
    rng = np.random.default_rng(6)
    query, points = _cloud(rng, 2, 57, device, torch.float32), _cloud(rng, 2, 80, device, torch.float32)
    lengths = torch.tensor([80, 33], device=device)
    rows = []
    real = nb._pairwise_sq_dist
    monkeypatch.setattr(nb, "_pairwise_sq_dist", lambda q, p: rows.append(q.shape[1]) or real(q, p))
    reference = nb.ball_query(query, points, 1.5, 20, points_lengths=lengths, chunk_size=4096)
    for chunk in (1, 7, 56):
        rows.clear()
        result = nb.ball_query(query, points, 1.5, 20, points_lengths=lengths, chunk_size=chunk)
        assert max(rows) <= chunk  # memory bound: never more than chunk rows of distances
        for got, want in zip(result, reference):
            assert torch.equal(got, want)


@pytest.mark.parametrize("device", DEVICES)
def test_distances_are_differentiable_and_finite_at_zero(device):
    rng = np.random.default_rng(7)
    points = _cloud(rng, 1, 20, device).requires_grad_(True)
    query = torch.cat([points[:, :3].detach(), _cloud(rng, 1, 5, device)], 1).requires_grad_(True)
    dist, idx, mask = nb.ball_query(query, points, 2.0, 6)
    with torch.no_grad():
        plain = nb.ball_query(query, points, 2.0, 6)
    for got, want in zip((dist, idx, mask), plain):  # grad path gives bit-identical results
        assert torch.equal(got, want)
    (dist[mask]).sum().backward()
    assert torch.isfinite(query.grad).all() and torch.isfinite(points.grad).all()
    # Analytic gradient of sum |q - p| over the selected pairs, zero where q == p.
    diff = (query[:, :, None] - nb.gather(points, idx)).detach()
    norm = diff.norm(dim=-1, keepdim=True)
    unit = torch.where(norm > 0, diff / norm.clamp_min(1e-300), torch.zeros_like(diff)) * mask[..., None]
    torch.testing.assert_close(query.grad, unit.sum(2))


# ----------------------------------------------------------------------------- gather


@pytest.mark.parametrize("device", DEVICES)
def test_spread_by_rank_by_hand(device):
    """Ten points on a line at distances 0..9 from query 0: k = 4 keeps ranks floor(j * 10 / 4) =
    0, 2, 5, 7. Query 1 has 3 points in its ball (<= k): all kept, in order, then padding."""
    pts = torch.tensor([[[float(i), 0.0, 0.0] for i in range(10)]], device=device)
    query = torch.tensor([[[0.0, 0.0, 0.0], [-7.0, 0.0, 0.0]]], device=device)
    dist, idx, mask = nb.spread_by_rank(*nb.ball_query(query, pts, 9.5, 10), 4)
    assert idx[0, 0].tolist() == [0, 2, 5, 7] and mask[0, 0].all()
    assert dist[0, 0].tolist() == [0.0, 2.0, 5.0, 7.0]
    assert idx[0, 1, :3].tolist() == [0, 1, 2] and mask[0, 1].tolist() == [True, True, True, False]
    with pytest.raises(ValueError, match="k must be"):
        nb.spread_by_rank(dist, idx, mask, 0)


@pytest.mark.parametrize("device", DEVICES)
def test_gather_and_masked_gather(device):
    rng = np.random.default_rng(8)
    values = torch.tensor(rng.normal(size=(2, 7, 4)), device=device)
    idx = torch.tensor(rng.integers(0, 7, size=(2, 3, 5)), device=device)
    mask = torch.tensor(rng.random((2, 3, 5)) < 0.5, device=device)
    out = nb.gather(values, idx)
    masked = nb.masked_gather(values, idx, mask, fill=-3.0)
    labels = torch.arange(14, device=device).reshape(2, 7)
    out_labels = nb.masked_gather(labels, idx, mask, fill=-1)
    assert out.shape == (2, 3, 5, 4) and out_labels.dtype == labels.dtype
    for b in range(2):
        for i in range(3):
            for j in range(5):
                picked = values[b, idx[b, i, j]]
                assert torch.equal(out[b, i, j], picked)
                want = picked if mask[b, i, j] else torch.full_like(picked, -3.0)
                assert torch.equal(masked[b, i, j], want)
                assert out_labels[b, i, j] == (labels[b, idx[b, i, j]] if mask[b, i, j] else -1)


# ----------------------------------------------------------------------------- farthest points


def _reference_fps(points: np.ndarray, n: int, start: int) -> list[int]:
    chosen = [start]
    nearest = np.full(len(points), np.inf)
    for _ in range(n - 1):
        nearest = np.minimum(nearest, ((points - points[chosen[-1]]) ** 2).sum(-1))
        chosen.append(int(np.argmax(nearest)))
    return chosen


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", [0, 1])
def test_fps_matches_reference_and_is_farthest(device, seed):
    rng = np.random.default_rng(20 + seed)
    points = _cloud(rng, 3, 60, device)
    lengths = torch.tensor([60, 25, 12], device=device)
    idx = ps.farthest_point_sample(points, 10, points_lengths=lengths)
    again = ps.farthest_point_sample(points, 10, points_lengths=lengths)
    assert torch.equal(idx, again) and idx.dtype == torch.long
    pts = points.cpu().numpy()
    for b in range(3):
        valid = int(lengths[b])
        chosen = idx[b].tolist()
        assert chosen == _reference_fps(pts[b, :valid], 10, 0)
        assert len(set(chosen)) == 10 and max(chosen) < valid
        for i in range(1, 10):  # each new point is the farthest from the already chosen set
            to_set = np.sqrt(((pts[b, :valid, None] - pts[b, chosen[:i]][None]) ** 2).sum(-1)).min(1)
            assert to_set[chosen[i]] == pytest.approx(to_set.max(), abs=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_fps_random_start_and_duplicates(device):
    rng = np.random.default_rng(9)
    points = _cloud(rng, 2, 40, device)
    lengths = torch.tensor([40, 15], device=device)
    first = ps.farthest_point_sample(points, 5, lengths, start_idx=None, generator=torch.Generator().manual_seed(1))
    second = ps.farthest_point_sample(points, 5, lengths, start_idx=None, generator=torch.Generator().manual_seed(1))
    assert torch.equal(first, second)
    starts = {tuple(ps.farthest_point_sample(points, 1, lengths, None, torch.Generator().manual_seed(s))[:, 0].tolist())
              for s in range(6)}
    assert len(starts) > 1 and all(a < 40 and b < 15 for a, b in starts)
    pts = points.cpu().numpy()
    assert first[0].tolist() == _reference_fps(pts[0], 5, int(first[0, 0]))
    # A cloud of 2 distinct positions stored 3 times each: samples stay distinct indices.
    dup = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0]] * 3], device=device)
    assert len(set(ps.farthest_point_sample(dup, 6)[0].tolist())) == 6


def test_fps_too_many_points_raises():
    points = torch.zeros(2, 10, 3)
    with pytest.raises(ValueError, match="only 4 valid"):
        ps.farthest_point_sample(points, 5, points_lengths=torch.tensor([10, 4]))
    with pytest.raises(ValueError):
        ps.farthest_point_sample(points, 11)


# ----------------------------------------------------------------------------- chamfer


@pytest.mark.parametrize("device", DEVICES)
def test_chamfer_hand_computed(device):
    a = torch.tensor([[[0.0, 0, 0], [2.0, 0, 0]]], device=device)
    b = torch.tensor([[[0.0, 0, 0]]], device=device)
    # a -> b: (0 + 2) / 2 = 1; b -> a: 0; chamfer = 0.5 * (1 + 0)
    assert ps.chamfer_distance(a, b).tolist() == [0.5]
    # squared: a -> b: (0 + 4) / 2 = 2; chamfer = 1
    assert ps.chamfer_distance(a, b, squared=True).tolist() == [1.0]
    assert ps.chamfer_distance(a, a).tolist() == [0.0]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("squared", [False, True])
def test_chamfer_matches_brute_force(device, squared):
    rng = np.random.default_rng(11)
    a, b = _cloud(rng, 3, 15, device), _cloud(rng, 3, 21, device)
    a_len, b_len = torch.tensor([15, 6, 1], device=device), torch.tensor([21, 21, 3], device=device)
    got = ps.chamfer_distance(a, b, a_len, b_len, squared=squared).cpu().numpy()
    pa, pb = a.cpu().numpy(), b.cpu().numpy()
    for i in range(3):
        x, y = pa[i, : int(a_len[i])], pb[i, : int(b_len[i])]
        d = np.sqrt(((x[:, None] - y[None]) ** 2).sum(-1))
        d = d**2 if squared else d
        assert got[i] == pytest.approx(0.5 * (d.min(1).mean() + d.min(0).mean()), abs=1e-12)


# ----------------------------------------------------------------------------- bad input


P3 = torch.zeros(2, 5, 3)


@pytest.mark.parametrize(
    "call",
    [
        lambda: nb.knn(torch.zeros(5, 3), P3, 2),  # unbatched query
        lambda: nb.knn(torch.zeros(2, 4, 3), torch.zeros(2, 5, 2), 2),  # coordinate sizes differ
        lambda: nb.knn(torch.zeros(3, 4, 3), P3, 2),  # batch sizes differ
        lambda: nb.knn(torch.zeros(2, 4, 3, dtype=torch.long), P3.long(), 2),  # not float
        lambda: nb.knn(torch.zeros(2, 4, 3), P3, 0),  # k < 1
        lambda: nb.knn(torch.zeros(2, 4, 3), P3, 2, points_lengths=torch.tensor([5])),  # lengths shape
        lambda: nb.knn(torch.zeros(2, 4, 3), P3, 2, points_lengths=torch.tensor([5, 6])),  # > P
        lambda: nb.knn(torch.zeros(2, 4, 3), P3, 2, points_lengths=torch.tensor([5.0, 1.0])),  # float
        lambda: nb.knn(torch.zeros(2, 4, 3), P3, 2, chunk_size=0),
        lambda: nb.ball_query(torch.zeros(2, 4, 3), P3, -1.0, 2),  # negative radius
        lambda: nb.ball_query(torch.zeros(2, 4), P3, 1.0, 2),
        lambda: nb.gather(torch.zeros(2, 5, 3, 1), torch.zeros(2, 4, 2, dtype=torch.long)),
        lambda: nb.gather(torch.zeros(2, 5, 3), torch.zeros(3, 4, 2, dtype=torch.long)),
        lambda: nb.gather(torch.zeros(2, 5, 3), torch.zeros(2, 4, 2)),  # float indices
        lambda: nb.masked_gather(torch.zeros(2, 5, 3), torch.zeros(2, 4, 2, dtype=torch.long),
                                 torch.ones(2, 4, 3, dtype=torch.bool)),
        lambda: ps.farthest_point_sample(torch.zeros(5, 3), 2),
        lambda: ps.farthest_point_sample(P3, 2, start_idx=5),
        lambda: ps.chamfer_distance(torch.zeros(2, 4, 3), torch.zeros(2, 5, 2)),
        lambda: ps.chamfer_distance(torch.zeros(2, 4, 3), P3, a_lengths=torch.tensor([0, 4])),  # empty
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ball_query_slab_pruning_equals_full_search(dtype):
    """One CPU cloud (B = 1, no lengths) is searched slab by slab (`_select_within`); passing full
    lengths forces the full search. Same mask and distances bit for bit, same neighbour sets."""
    gen = torch.Generator().manual_seed(4)
    points = (torch.rand(1, 900, 3, generator=gen) * torch.tensor([6.0, 2.5, 4.0])).to(dtype)
    # Queries on points, in between, outside the cloud; two exact duplicates of a point.
    query = torch.cat([points[:, :200], torch.rand(1, 200, 3, generator=gen).to(dtype) * 7 - 0.5,
                       points[:, :2]], 1)
    for radius, k in ((0.75, 32), (0.4, 8), (1.0, 100), (5.0, 16)):
        fast = nb.ball_query(query, points, radius, k)
        full = nb.ball_query(query, points, radius, k, points_lengths=torch.tensor([900]))
        assert torch.equal(fast[2], full[2]) and torch.equal(fast[0], full[0])
        for a, b, m in zip(fast[1][0], full[1][0], full[2][0]):
            assert set(a[m].tolist()) == set(b[m].tolist())
        assert (fast[1][~fast[2]] == 0).all()


def test_non_finite_queries_find_nothing_on_every_cpu_path():
    """A NaN query: no neighbour on the brute path (few pairs) and, as of now, on the k-d tree path too
    (many pairs with lengths; scipy refused it with a ValueError there)."""
    torch.manual_seed(0)
    points = torch.rand(1, 1000, 3)
    for num_query in (10, nb.TREE_MIN_PAIRS // 1000 + 1):
        query = torch.rand(1, num_query, 3)
        query[0, 3] = float("nan")
        dist, idx, mask = nb.ball_query(query, points, 0.2, 8, torch.tensor([1000]))
        assert not mask[0, 3].any() and torch.isinf(dist[0, 3]).all() and mask[0, 0].any()
        near = nb.knn(query, points, 4, torch.tensor([1000]))[0]
        assert torch.isinf(near[0, 3]).all() and torch.isfinite(near[0, 0]).all()
