"""Batched linear assignment: many small problems (B problems of R rows x N columns) solved at once.

Algorithm: the shortest-augmenting-path Hungarian method (Kuhn-Munkres with potentials, the O(R^2 N)
form for R <= N), vectorised over the B problems. Rows are added one at a time (a loop over R <= ~10
rows, the same for every problem); each addition runs a Dijkstra-like search whose steps are a loop
over iterations, with a per-problem "still searching" mask. Nothing loops over problems. The result
is exact (not epsilon-optimal like an auction), so it equals `scipy.optimize.linear_sum_assignment`'s
optimal cost to round-off (tests/test_match_pipeline.py checks it on random rectangular problems).

Forbidden entries and rectangular shapes: every row i gets its own private "unassigned" column with
cost `unassigned_cost`. By default that cost exceeds any sum of allowed costs, so the solver first
maximises the number of assigned rows, then minimises the cost among those assignments (on a
feasible problem that is exactly scipy's answer). Forbidden entries are never chosen: they cost more
than leaving the row unassigned. With a finite `unassigned_cost` u, a row stays unassigned whenever
every allowed column would add more than u: a cost-capped assignment.
"""

from __future__ import annotations

import torch

__all__ = ["batched_assignment"]


def batched_assignment(
    cost: torch.Tensor,
    forbidden: torch.Tensor | None = None,
    unassigned_cost: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimum-cost assignment of rows to distinct columns for B problems at once.

    Args:
        cost: (B, R, N) finite costs.
        forbidden: optional (B, R, N) bool, True where row r may not take column n.
        unassigned_cost: cost of leaving a row unassigned; None = maximise the number of assigned
            rows first (see the module docstring).

    Returns:
        col (B, R) long: the column of each row, -1 when unassigned; total (B,) float64: the summed
        cost of the assigned (row, column) entries (unassigned rows add nothing).
    """
    if not isinstance(cost, torch.Tensor) or cost.dim() != 3:
        raise ValueError(f"cost must be a (B, R, N) tensor, got {getattr(cost, 'shape', type(cost))}")
    batch, rows, cols = cost.shape
    device = cost.device
    c = cost.detach().to(torch.float64)
    if not bool(torch.isfinite(c).all()):
        raise ValueError("cost must be finite (mark forbidden entries with `forbidden`)")
    allowed = torch.ones_like(c, dtype=torch.bool) if forbidden is None else ~forbidden.to(device=device, dtype=torch.bool)
    if allowed.shape != c.shape:
        raise ValueError(f"forbidden must have shape {tuple(c.shape)}, got {tuple(allowed.shape)}")
    if batch == 0 or rows == 0:
        return torch.full((batch, rows), -1, dtype=torch.long, device=device), torch.zeros(batch, dtype=torch.float64, device=device)

    scale = float(c.abs().max()) if c.numel() else 0.0
    # Dummy > any sum of R allowed costs: cardinality first. Forbidden > dummy: never chosen.
    dummy = (scale + 1.0) * (rows + 1) * 2 if unassigned_cost is None else float(unassigned_cost)
    big = (abs(dummy) + scale + 1.0) * (rows + 1) * 4
    real = torch.where(allowed, c, torch.full_like(c, big))
    eye = torch.eye(rows, dtype=torch.bool, device=device)
    dummies = torch.where(eye, torch.full((rows, rows), dummy, dtype=torch.float64, device=device),
                          torch.full((rows, rows), big * 2, dtype=torch.float64, device=device))
    full = torch.cat([real, dummies.expand(batch, rows, rows)], dim=2)  # (B, R, M)
    row_of_col = _hungarian(full)  # (B, M + 1) 1-based rows per 1-based column, 0 = free

    num_cols = full.shape[2]
    col = torch.full((batch, rows + 1), -1, dtype=torch.long, device=device)
    col_ids = torch.arange(num_cols, device=device).expand(batch, -1)
    col.scatter_(1, row_of_col[:, 1:], col_ids)  # free columns write into slot 0 (discarded)
    col = col[:, 1:]
    # Dummy columns and forbidden entries mean "unassigned".
    taken = (col >= 0) & (col < cols)
    safe = col.clamp(0, max(cols - 1, 0))
    if cols > 0:
        taken &= torch.gather(allowed, 2, safe[..., None])[..., 0]
        entry = torch.gather(c, 2, safe[..., None])[..., 0]
    else:
        entry = torch.zeros(batch, rows, dtype=torch.float64, device=device)
    col = torch.where(taken, col, torch.full_like(col, -1))
    total = torch.where(taken, entry, torch.zeros_like(entry)).sum(1)
    return col, total


def _hungarian(a: torch.Tensor) -> torch.Tensor:
    """Shortest augmenting paths with potentials on (B, n, m) float64 costs, n <= m, all finite.

    Returns p (B, m + 1): p[:, j] = 1-based row assigned to 1-based column j (0 = none); column 0 is
    the algorithm's virtual root. Indices follow the classic 1-based formulation.
    """
    batch, n, m = a.shape
    device = a.device
    inf = torch.tensor(float("inf"), dtype=torch.float64, device=device)
    # 1-based padded cost: row 0 / column 0 are never read for real entries.
    cost = torch.zeros(batch, n + 1, m + 1, dtype=torch.float64, device=device)
    cost[:, 1:, 1:] = a
    u = torch.zeros(batch, n + 1, dtype=torch.float64, device=device)
    v = torch.zeros(batch, m + 1, dtype=torch.float64, device=device)
    p = torch.zeros(batch, m + 1, dtype=torch.long, device=device)
    way = torch.zeros(batch, m + 1, dtype=torch.long, device=device)
    bidx = torch.arange(batch, device=device)
    for i in range(1, n + 1):
        p[:, 0] = i
        j0 = torch.zeros(batch, dtype=torch.long, device=device)
        minv = torch.full((batch, m + 1), float("inf"), dtype=torch.float64, device=device)
        used = torch.zeros(batch, m + 1, dtype=torch.bool, device=device)
        searching = torch.ones(batch, dtype=torch.bool, device=device)
        while bool(searching.any()):
            used[bidx[searching], j0[searching]] = True
            i0 = p[bidx, j0]  # (B,)
            reduced = cost[bidx, i0] - u[bidx, i0][:, None] - v  # (B, m + 1)
            free = ~used
            free[:, 0] = False
            better = free & (reduced < minv) & searching[:, None]
            minv = torch.where(better, reduced, minv)
            way = torch.where(better, j0[:, None].expand(-1, m + 1), way)
            masked = torch.where(free, minv, inf)
            delta, j1 = masked.min(1)
            delta = torch.where(searching, delta, torch.zeros_like(delta))
            # Potentials: rows of used columns rise, used columns fall, the frontier's slack shrinks.
            rows_used = torch.zeros(batch, n + 1, dtype=torch.float64, device=device)
            rows_used.scatter_add_(1, p, (used & searching[:, None]).to(torch.float64))
            u = u + (rows_used > 0) * delta[:, None]
            v = torch.where(used & searching[:, None], v - delta[:, None], v)
            minv = torch.where(free & searching[:, None], minv - delta[:, None], minv)
            j0 = torch.where(searching, j1, j0)
            searching = searching & (p[bidx, j0] != 0)
        # Augment along `way` back to the root, all problems in step.
        walking = torch.ones(batch, dtype=torch.bool, device=device)
        while bool(walking.any()):
            j1 = way[bidx, j0]
            p_new = p[bidx, j1]
            p[bidx[walking], j0[walking]] = p_new[walking]
            j0 = torch.where(walking, j1, j0)
            walking = walking & (j0 != 0)
    return p
