"""Thin-plate-spline interpolation in torch (the displacement d(x) of DESIGN §1 and §5.4).

Definition (identical to `scipy.interpolate.RBFInterpolator(kernel="thin_plate_spline", degree=1,
smoothing=s)`, so the tests compare against scipy):

    s(x) = sum_k w_k phi(||x - c_k||) + [1, x, y, z] @ tail,    phi(r) = r^2 log r, phi(0) = 0,

with the weights w (K, D) and the tail (4, D) solving the saddle system

    [ Phi + s I   P ] [ w    ]   [ values ]
    [ P^T         0 ] [ tail ] = [ 0      ],     Phi_ij = phi(||c_i - c_j||),  P_i = [1, c_i].

Numerics: always built and solved in float64 (r^2 log r mixes entries of very different sizes); as
scipy does, the polynomial columns use centres scaled into [-1, 1] per axis, and the tail is converted
back to raw coordinates, so the stored state is plain: `centres` (K, 3), `weights` (K, D), `tail`
(4, D). phi = 0.5 r^2 log(r^2) from exact squared distances, so a point on a centre gets phi = 0.
A system without a unique, trustworthy solution raises a ValueError that says why: fewer than 4
centres, non-finite inputs, coplanar or collinear centres (the tail is undetermined), duplicated
centres with smoothing 0, a singular LU, a condition number above `max_condition`, or a residual
above round-off. Never garbage silently.

Batching: `fit_thin_plate_batched` fits B independent splines of equal K at once (one per candidate
map); with `strict=False` a degenerate element does not stop the others: its weights and tail are NaN
and `valid[b]` is False.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

__all__ = ["ThinPlateSpline", "BatchedThinPlateSpline", "fit_thin_plate", "fit_thin_plate_batched"]

# Above this 1-norm condition number float64 solutions lose more than ~4 significant digits.
DEFAULT_MAX_CONDITION = 1e12
# Polynomial matrix [1, normalised centres] with sigma_min / sigma_max below this is rank deficient.
_RANK_TOL = 1e-9
# Relative residual of the solved system must be at round-off level.
_RESIDUAL_TOL = 1e-8
# Elements of the (B, chunk, K) kernel block evaluated at once (~32 MB in float64).
_EVAL_BLOCK = 1 << 22


# ----------------------------------------------------------------------------- kernel


def _sq_dists(points: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Exact squared distances (B, M, K) between points (B, M, 3) and centres (B, K, 3)."""
    diff = points[:, :, None, :] - centres[:, None, :, :]
    return diff.square().sum(-1)


def _phi_from_sq(sq: torch.Tensor) -> torch.Tensor:
    """phi(r) = r^2 log r = 0.5 r^2 log(r^2), with phi(0) = 0 (and finite gradients at 0)."""
    positive = sq > 0
    safe = torch.where(positive, sq, torch.ones_like(sq))
    return torch.where(positive, 0.5 * safe * torch.log(safe), torch.zeros_like(sq))


def _dphi_over_r_from_sq(sq: torch.Tensor) -> torch.Tensor:
    """phi'(r) / r = 2 log r + 1 = log(r^2) + 1; set to 0 at r = 0, where the gradient of
    phi(||x - c||) is exactly 0 (phi'(0) = 0)."""
    positive = sq > 0
    safe = torch.where(positive, sq, torch.ones_like(sq))
    return torch.where(positive, torch.log(safe) + 1.0, torch.zeros_like(sq))


def _rows_per_chunk(batch: int, num_centres: int, chunk_size: int | None) -> int:
    if chunk_size is not None:
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        return int(chunk_size)
    return max(1, _EVAL_BLOCK // max(1, batch * max(1, num_centres)))


def _evaluate(points, centres, weights, tail, chunk_size):
    """s(points) for points (B, M, 3) in float64; centres (B, K, 3), weights (B, K, D), tail (B, 4, D)."""
    batch, num_points = points.shape[:2]
    if num_points == 0:
        return points.new_zeros((batch, 0, weights.shape[-1]))
    rows = _rows_per_chunk(batch, centres.shape[1] * weights.shape[-1], chunk_size)
    parts = []
    for start in range(0, num_points, rows):
        chunk = points[:, start:start + rows]
        # Explicit sums instead of matmul: BLAS picks kernels by shape, so a matmul result for one
        # point could change in the last bit with the chunk size; this way F(p) is the same whether p
        # is evaluated alone or inside a large cloud.
        affine = tail[:, None, 0, :] + sum(chunk[..., j, None] * tail[:, None, 1 + j, :] for j in range(3))
        kernel = _phi_from_sq(_sq_dists(chunk, centres))  # (B, m, K)
        parts.append((kernel[..., None] * weights[:, None]).sum(2) + affine)
    # torch.cat keeps autograd intact when the caller differentiates through the points.
    return torch.cat(parts, dim=1)


def _jacobian(points, centres, weights, tail, chunk_size):
    """ds/dx (B, M, D, 3) in float64: sum_k w_k (log r_k^2 + 1)(x - c_k)^T + tail linear rows^T."""
    batch, num_points = points.shape[:2]
    linear = tail[:, 1:, :].transpose(1, 2)  # (B, D, 3)
    if num_points == 0:
        return points.new_zeros((batch, 0) + tuple(linear.shape[1:]))
    rows = _rows_per_chunk(batch, centres.shape[1] * 3 * weights.shape[-1], chunk_size)
    parts = []
    for start in range(0, num_points, rows):
        chunk = points[:, start:start + rows]
        diff = chunk[:, :, None, :] - centres[:, None, :, :]  # (B, m, K, 3)
        factor = _dphi_over_r_from_sq(diff.square().sum(-1))  # (B, m, K)
        parts.append(torch.einsum("bmk,bkd,bmkj->bmdj", factor, weights, diff) + linear[:, None])
    return torch.cat(parts, dim=1)


# ----------------------------------------------------------------------------- fitted splines


def _as_points(points: torch.Tensor, device: torch.device, batched: bool, batch: int) -> torch.Tensor:
    if not isinstance(points, torch.Tensor):
        raise ValueError(f"points must be a torch.Tensor, got {type(points).__name__}")
    if batched:
        if points.dim() == 2:  # one cloud shared by every spline of the batch
            points = points[None].expand(batch, -1, -1)
        if points.dim() != 3 or points.shape[0] != batch or points.shape[-1] != 3:
            raise ValueError(f"points must have shape ({batch}, M, 3) or (M, 3), got {tuple(points.shape)}")
    elif points.dim() != 2 or points.shape[-1] != 3:
        raise ValueError(f"points must have shape (M, 3), got {tuple(points.shape)}")
    if not points.is_floating_point():
        raise ValueError(f"points must be floating point, got {points.dtype}")
    return points.to(device=device, dtype=torch.float64)


@dataclass(frozen=True, eq=False)
class ThinPlateSpline:
    """A fitted thin-plate spline R^3 -> R^D: plain float64 tensors, so it can be saved anywhere.

    centres (K, 3); weights (K, D); tail (4, D) with rows [constant, x, y, z] in raw coordinates.
    K = 0 is allowed (then the spline is just the affine tail).
    """

    centres: torch.Tensor
    weights: torch.Tensor
    tail: torch.Tensor
    smoothing: float = 0.0

    def __post_init__(self):
        k = self.centres.shape[0]
        if self.centres.shape != (k, 3) or self.weights.dim() != 2 or self.weights.shape[0] != k:
            raise ValueError(
                f"centres (K, 3) and weights (K, D) disagree: {tuple(self.centres.shape)}, {tuple(self.weights.shape)}"
            )
        if self.tail.shape != (4, self.weights.shape[1]):
            raise ValueError(f"tail must have shape (4, {self.weights.shape[1]}), got {tuple(self.tail.shape)}")

    @property
    def dim(self) -> int:
        """D, the number of output channels."""
        return int(self.weights.shape[1])

    def to(self, device: torch.device | str) -> "ThinPlateSpline":
        return ThinPlateSpline(self.centres.to(device), self.weights.to(device), self.tail.to(device), self.smoothing)

    def __call__(self, points: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """Values (M, D) at points (M, 3), computed in float64 and returned in the points' dtype."""
        x = _as_points(points, self.centres.device, batched=False, batch=1)
        out = _evaluate(x[None], self.centres[None], self.weights[None], self.tail[None], chunk_size)[0]
        return out.to(device=points.device, dtype=points.dtype)

    def jacobian(self, points: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """Derivatives (M, D, 3), entry [m, d, j] = d s_d / d x_j at points[m], float64."""
        x = _as_points(points, self.centres.device, batched=False, batch=1)
        out = _jacobian(x[None], self.centres[None], self.weights[None], self.tail[None], chunk_size)[0]
        return out.to(points.device)


@dataclass(frozen=True, eq=False)
class BatchedThinPlateSpline:
    """B independent thin-plate splines of equal K: centres (B, K, 3), weights (B, K, D),
    tail (B, 4, D), valid (B,) bool (False: the element's system was degenerate; its weights and
    tail are NaN, so any use of it shows up as NaN rather than as a plausible wrong map)."""

    centres: torch.Tensor
    weights: torch.Tensor
    tail: torch.Tensor
    valid: torch.Tensor
    smoothing: float = 0.0

    def __len__(self) -> int:
        return int(self.centres.shape[0])

    def __getitem__(self, index: int) -> ThinPlateSpline:
        return ThinPlateSpline(self.centres[index], self.weights[index], self.tail[index], self.smoothing)

    def __call__(self, points: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """Values (B, M, D) at points (B, M, 3), or at one shared cloud (M, 3); points' dtype."""
        x = _as_points(points, self.centres.device, batched=True, batch=len(self))
        out = _evaluate(x, self.centres, self.weights, self.tail, chunk_size)
        return out.to(device=points.device, dtype=points.dtype)

    def jacobian(self, points: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """Derivatives (B, M, D, 3) in float64."""
        x = _as_points(points, self.centres.device, batched=True, batch=len(self))
        return _jacobian(x, self.centres, self.weights, self.tail, chunk_size).to(points.device)


# ----------------------------------------------------------------------------- fitting


def _check_fit_inputs(centres: torch.Tensor, values: torch.Tensor, smoothing: float) -> None:
    for name, tensor in (("centres", centres), ("values", values)):
        if not isinstance(tensor, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
        if not tensor.is_floating_point():
            raise ValueError(f"{name} must be floating point, got {tensor.dtype}")
    if centres.dim() != 3 or centres.shape[-1] != 3:
        raise ValueError(f"centres must have shape (B, K, 3), got {tuple(centres.shape)}")
    if values.dim() != 3 or values.shape[:2] != centres.shape[:2]:
        raise ValueError(
            f"values must have shape {tuple(centres.shape[:2])} + (D,), got {tuple(values.shape)}"
        )
    if not (float(smoothing) >= 0.0 and float(smoothing) < float("inf")):
        raise ValueError(f"smoothing must be a finite number >= 0, got {smoothing}")


def _diagnose(centres: torch.Tensor, values: torch.Tensor, smoothing: float) -> list[str | None]:
    """Geometric reasons, per batch element, why the saddle system cannot have a unique solution."""
    batch, num_centres = centres.shape[:2]
    reasons: list[str | None] = [None] * batch
    finite = torch.isfinite(centres).flatten(1).all(1) & torch.isfinite(values).flatten(1).all(1)
    if num_centres < 4:
        why = f"needs at least 4 centres for the degree-1 tail in 3D, got {num_centres}"
        return [why] * batch
    # Rank of [1, normalised centres] (scaled per axis into [-1, 1] as for the solve).
    lo, hi = centres.amin(1, keepdim=True), centres.amax(1, keepdim=True)
    scale = torch.where(hi > lo, (hi - lo) / 2, torch.ones_like(hi))
    normalised = torch.nan_to_num((centres - (hi + lo) / 2) / scale)
    poly = torch.cat([torch.ones_like(normalised[..., :1]), normalised], dim=-1)
    sv = torch.linalg.svdvals(poly)
    rank_deficient = sv[:, -1] <= _RANK_TOL * sv[:, 0]
    duplicated = torch.zeros(batch, dtype=torch.bool, device=centres.device)
    if smoothing == 0.0:
        sq = _sq_dists(centres, centres)
        sq.diagonal(dim1=1, dim2=2).fill_(float("inf"))
        duplicated = (sq == 0).flatten(1).any(1)
    for b in torch.nonzero(~finite | rank_deficient | duplicated).flatten().tolist():
        if not finite[b]:
            reasons[b] = "centres or values contain NaN or inf"
        elif rank_deficient[b]:
            reasons[b] = "the centres are coplanar or collinear, so the degree-1 tail is undetermined"
        else:
            reasons[b] = "two centres coincide and smoothing is 0 (duplicated rows); use smoothing > 0"
    return reasons


@contextlib.contextmanager
def _single_threaded_lapack(device: torch.device):
    """Batched CPU LU on one thread.

    In torch 2.13 (CPU, MKL), once `torch.set_num_threads(n > 1)` has been called, batched
    `lu_factor` / `linalg.solve` return garbage without any error (residuals ~1e15 on random 8 x 154
    x 154 systems; reproduced outside this project). One thread is correct, and these systems are
    small enough that it costs nothing measurable.
    """
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _solve(centres: torch.Tensor, values: torch.Tensor, smoothing: float, max_condition: float):
    """Solve the (K+4)x(K+4) saddle systems in float64; returns weights, raw tail, reasons."""
    batch, num_centres = centres.shape[:2]
    dim = values.shape[-1]
    reasons = _diagnose(centres, values, smoothing)
    n = num_centres + 4
    weights = torch.full((batch, num_centres, dim), float("nan"), dtype=torch.float64, device=centres.device)
    tail = torch.full((batch, 4, dim), float("nan"), dtype=torch.float64, device=centres.device)
    ok = torch.tensor([r is None for r in reasons], device=centres.device)
    if not bool(ok.any()):
        return weights, tail, reasons
    # Degenerate elements are replaced by a harmless system so one batched solve serves all; the
    # stand-in points come from a private generator so the caller's global RNG is not touched.
    stand_in = torch.randn(centres.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    c = torch.where(ok[:, None, None], centres, stand_in.to(centres.device))
    v = torch.where(ok[:, None, None], values, torch.zeros_like(values))
    lo, hi = c.amin(1, keepdim=True), c.amax(1, keepdim=True)
    shift = (hi + lo) / 2
    scale = torch.where(hi > lo, (hi - lo) / 2, torch.ones_like(hi))
    lhs = torch.zeros((batch, n, n), dtype=torch.float64, device=c.device)
    lhs[:, :num_centres, :num_centres] = _phi_from_sq(_sq_dists(c, c))
    lhs[:, :num_centres, :num_centres].diagonal(dim1=1, dim2=2).add_(smoothing)
    poly = torch.cat([torch.ones_like(c[..., :1]), (c - shift) / scale], dim=-1)
    lhs[:, :num_centres, num_centres:] = poly
    lhs[:, num_centres:, :num_centres] = poly.transpose(1, 2)
    rhs = torch.zeros((batch, n, dim), dtype=torch.float64, device=c.device)
    rhs[:, :num_centres] = v

    # Solving for [rhs | I] also yields the inverse, hence the 1-norm condition number, for the
    # cost of the one factorisation (an SVD per candidate would cost several times more).
    eye = torch.eye(n, dtype=torch.float64, device=c.device).expand(batch, n, n)
    with _single_threaded_lapack(c.device):
        lu, pivots, info = torch.linalg.lu_factor_ex(lhs)
        both = torch.linalg.lu_solve(lu, pivots, torch.cat([rhs, eye], dim=-1))
    solution, inverse = both[..., :dim], both[..., dim:]
    cond = torch.linalg.matrix_norm(lhs, ord=1) * torch.linalg.matrix_norm(inverse, ord=1)
    residual = (lhs @ solution - rhs).abs().amax((1, 2))
    size = lhs.abs().amax((1, 2)) * solution.abs().amax((1, 2)) + rhs.abs().amax((1, 2))
    rel_residual = residual / size.clamp_min(torch.finfo(torch.float64).tiny)
    for b in torch.nonzero(ok).flatten().tolist():
        if int(info[b]) != 0:
            reasons[b] = "the saddle system is exactly singular (LU found a zero pivot)"
        elif not torch.isfinite(cond[b]) or not torch.isfinite(solution[b]).all():
            reasons[b] = "the saddle system is numerically singular (non-finite solution)"
        elif cond[b] > max_condition:
            reasons[b] = (
                f"the saddle system is ill-conditioned (1-norm condition number {float(cond[b]):.2e} > "
                f"{max_condition:.0e}); nearly duplicated or nearly coplanar centres? try smoothing > 0"
            )
        elif rel_residual[b] > _RESIDUAL_TOL:
            reasons[b] = f"the solve did not converge (relative residual {float(rel_residual[b]):.1e})"
    ok = torch.tensor([r is None for r in reasons], device=c.device)
    # Tail from normalised to raw coordinates: t0 + sum_j t_j (x_j - shift_j) / scale_j.
    tail_hat = solution[:, num_centres:]
    linear = tail_hat[:, 1:] / scale.transpose(1, 2)
    constant = tail_hat[:, :1] - (shift / scale) @ tail_hat[:, 1:]
    raw_tail = torch.cat([constant, linear], dim=1)
    weights = torch.where(ok[:, None, None], solution[:, :num_centres], weights)
    tail = torch.where(ok[:, None, None], raw_tail, tail)
    return weights, tail, reasons


def fit_thin_plate_batched(
    centres: torch.Tensor,
    values: torch.Tensor,
    smoothing: float = 0.5,
    strict: bool = True,
    max_condition: float = DEFAULT_MAX_CONDITION,
) -> BatchedThinPlateSpline:
    """Fit B independent splines: centres (B, K, 3), values (B, K, D) -> BatchedThinPlateSpline.

    Solved in float64 on the centres' device. With `strict` (default) any degenerate element raises
    ValueError naming the elements and the reason; otherwise those elements are marked invalid.
    """
    _check_fit_inputs(centres, values, smoothing)
    c = centres.detach().to(torch.float64)
    v = values.detach().to(device=c.device, dtype=torch.float64)
    weights, tail, reasons = _solve(c, v, float(smoothing), float(max_condition))
    bad = [b for b, r in enumerate(reasons) if r is not None]
    if strict and bad:
        shown = ", ".join(str(b) for b in bad[:8]) + (" ..." if len(bad) > 8 else "")
        raise ValueError(f"cannot fit thin-plate spline (batch element {shown}): {reasons[bad[0]]}")
    valid = torch.tensor([r is None for r in reasons], dtype=torch.bool, device=c.device)
    return BatchedThinPlateSpline(c, weights, tail, valid, float(smoothing))


def fit_thin_plate(
    centres: torch.Tensor,
    values: torch.Tensor,
    smoothing: float = 0.5,
    max_condition: float = DEFAULT_MAX_CONDITION,
) -> ThinPlateSpline:
    """Fit one spline: centres (K, 3), values (K, D) -> ThinPlateSpline (float64, centres' device).

    Raises ValueError with the reason when the system is degenerate (see the module docstring).
    """
    if not isinstance(centres, torch.Tensor) or centres.dim() != 2:
        shape = tuple(centres.shape) if isinstance(centres, torch.Tensor) else type(centres).__name__
        raise ValueError(f"centres must be a (K, 3) torch.Tensor, got {shape}")
    if not isinstance(values, torch.Tensor) or values.dim() != 2:
        shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
        raise ValueError(f"values must be a (K, D) torch.Tensor, got {shape}")
    try:
        batch = fit_thin_plate_batched(centres[None], values[None], smoothing, True, max_condition)
    except ValueError as error:
        raise ValueError(str(error).replace(" (batch element 0)", "")) from None
    return batch[0]
