"""Context probes: the field read in the open space around the RoI objects, to rank coarse maps.

On an object's surface the field's nearest keypoints are mostly the object's own, so two chairs of
one model look alike wherever they stand. A probe a little outside an object's box sees the object
*and* its neighbours (the desk beside the chair): the context the field exists to describe. For the
best `context_probe_maps` coarse maps, each RoI object's probes are carried by that map's box map of
the object (`local.box_snap`: onto the matched reference box, in its frame) and the probe cost is the
mean descriptor distance ||f_tgt(q) - f_ref(T(q))|| over all probes, the reference descriptors read
from the field itself at the carried probes (not interpolated between keypoints). The maps are then
re-ranked by their coarse key + `context_probe_weight` x probe cost.

Probes of a box: the 8 corners and edge midpoints of its footprint grown by a margin
(`MatchConfig.context_probe_margin`), at a quarter and three quarters of its height (16 per object), in
the box frame: the same places, relative to the object, in both scenes. Off by default (weight 0): why,
and the numbers, in docs/decisions.md, "Coarse stage: context probes".
"""

from __future__ import annotations

import torch

__all__ = ["box_probes", "probe_costs"]


def box_probes(centres: torch.Tensor, sizes: torch.Tensor, rots: torch.Tensor, margin: float) -> torch.Tensor:
    """(N, 16, 3) world probes of N upright boxes (module docstring)."""
    unit = torch.tensor([[-1, -1], [0, -1], [1, -1], [1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0]],
                        dtype=centres.dtype, device=centres.device)  # (8, 2): x, z in units of the half size
    half = sizes[:, [0, 2]] / 2 + margin  # (N, 2)
    xz = unit[None] * half[:, None]  # (N, 8, 2)
    heights = torch.tensor([-0.25, 0.25], dtype=centres.dtype, device=centres.device)
    y = heights[None, :, None] * sizes[:, None, 1:2]  # (N, 2, 1)
    local = torch.cat([xz[:, None, :, :1].expand(-1, 2, -1, -1), y[:, :, None].expand(-1, -1, 8, -1),
                       xz[:, None, :, 1:].expand(-1, 2, -1, -1)], -1).reshape(len(centres), 16, 3)
    return torch.einsum("nij,nkj->nki", rots, local) + centres[:, None]


def probe_costs(f_target: torch.Tensor, f_reference: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(K,) mean over valid probes of ||f_target - f_reference||: f_target (Nr, 16, D) once, f_reference
    (K, Nr, 16, D) per map, valid (K, Nr) the RoI objects each map matched (others are not probed)."""
    dist = (f_reference - f_target[None]).norm(dim=-1).mean(-1)  # (K, Nr)
    weight = valid.to(dist.dtype)
    return (dist * weight).sum(1) / weight.sum(1).clamp_min(1)
