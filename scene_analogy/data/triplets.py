"""Training triplets from a source scene (DESIGN §4): anchor, positive, negative.

- positive: same layout and boxes, every object swapped for another model of its class from the same
  split, rescaled per axis to the anchor's box (`box_scale`) or by one scalar (`optimal_scalar`);
- negative: the anchor's own objects, each moved by yaw noise ~ N(0, sigma_rot) and xz noise
  ~ N(0, sigma_t) per axis about its box centre; the floor plan is unchanged.

The file prefixes are `pos` (anchor), `pair_pos` (positive) and `neg` (negative).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import origins_from_box, yaw_matrix
from .pool import ModelInfo, ObjectPool
from .scene import Scene

RESCALING_METHODS = ("box_scale", "optimal_scalar")


@dataclass(frozen=True)
class TripletConfig:
    """Noise levels are standard deviations (the published flags call them max_*)."""

    trans_noise: float = 0.1  # metres, per xz axis
    rot_noise_deg: float = 22.5  # degrees of yaw
    rescaling_method: str = "box_scale"
    topk_aspect_sampling: int = 100
    ignore_subclass: bool = False
    min_subclass_models: int = 5

    def __post_init__(self) -> None:
        if self.rescaling_method not in RESCALING_METHODS:
            raise ValueError(f"rescaling_method must be one of {RESCALING_METHODS}, got '{self.rescaling_method}'")


class SwapSampler:
    """Draws replacement models: same class and split, preferring the same subclass when it has at
    least `min_subclass_models` models, from the `topk_aspect_sampling` nearest box aspects."""

    def __init__(self, pool: ObjectPool, split: str, cfg: TripletConfig) -> None:
        self.cfg = cfg
        self.groups: dict[tuple, tuple[list[ModelInfo], np.ndarray]] = {}
        for m in pool.select(split=split):
            self.groups.setdefault(("class", m.class_id), ([], None))[0].append(m)
            self.groups.setdefault(("sub", m.class_id, m.subclass), ([], None))[0].append(m)
        for key, (models, _) in self.groups.items():
            self.groups[key] = (models, np.stack([_aspect(m.size) for m in models]))

    def candidates(self, info: ModelInfo) -> tuple[list[ModelInfo], np.ndarray] | None:
        """The models to draw from, or None when the split has no model of this class."""
        sub = self.groups.get(("sub", info.class_id, info.subclass))
        if not self.cfg.ignore_subclass and sub and len(sub[0]) >= self.cfg.min_subclass_models:
            return sub
        return self.groups.get(("class", info.class_id))

    def draw(self, info: ModelInfo, box_size: np.ndarray, rng: np.random.Generator) -> ModelInfo:
        found = self.candidates(info)
        if found is None:
            return info  # no model of its class in this split (a class with one model): keep it
        models, aspects = found
        dist = np.linalg.norm(aspects - _aspect(box_size), axis=1)
        dist[[m.model_id == info.model_id for m in models]] = np.inf  # a swap must change the model
        if np.isinf(dist).all():
            return info  # the only model of its class: nothing to swap with
        order = np.argsort(dist, kind="stable")[: self.cfg.topk_aspect_sampling]
        order = order[np.isfinite(dist[order])]
        return models[int(rng.choice(order))]


def _aspect(size: np.ndarray) -> np.ndarray:
    return np.asarray(size) / max(np.linalg.norm(size), 1e-9)


def make_positive(anchor: Scene, pool: ObjectPool, sampler: SwapSampler, rng: np.random.Generator) -> Scene:
    """Swap every object for another model of its class, keeping each box's centre and rotation."""
    new = [sampler.draw(pool[m], size, rng) for m, size in zip(anchor.model_ids, anchor.bbox_sizes)]
    model_sizes = np.stack([m.size for m in new])
    if sampler.cfg.rescaling_method == "box_scale":
        scales = anchor.bbox_sizes / model_sizes
    else:  # one scalar per object minimising || s * model_size - box ||
        s = (model_sizes * anchor.bbox_sizes).sum(1) / (model_sizes**2).sum(1)
        scales = np.repeat(s[:, None], 3, axis=1)
    centres = np.stack([m.centre for m in new]) * scales
    trans = origins_from_box(anchor.bbox_centroids, anchor.rots, centres)
    return Scene(
        [m.model_id for m in new], anchor.class_ids.copy(), anchor.class_names.copy(), model_sizes * scales,
        anchor.bbox_centroids.copy(), scales, anchor.rots.copy(), trans, anchor.floor.copy(),
    )


def make_negative(anchor: Scene, cfg: TripletConfig, rng: np.random.Generator) -> Scene:
    """The anchor's objects, each turned about and moved with its box centre by Gaussian noise."""
    n = len(anchor)
    yaw_noise = np.deg2rad(cfg.rot_noise_deg) * rng.standard_normal(n)
    shift = np.zeros((n, 3))
    shift[:, [0, 2]] = cfg.trans_noise * rng.standard_normal((n, 2))
    rots = yaw_matrix(yaw_noise) @ anchor.rots
    centroids = anchor.bbox_centroids + shift
    centres = anchor.canonical_box_centres() * anchor.scales
    trans = origins_from_box(centroids, rots, centres)
    return Scene(
        anchor.model_ids.copy(), anchor.class_ids.copy(), anchor.class_names.copy(), anchor.bbox_sizes.copy(),
        centroids, anchor.scales.copy(), rots, trans, anchor.floor.copy(),
    )


def make_triplet(
    anchor: Scene, pool: ObjectPool, sampler: SwapSampler, cfg: TripletConfig, rng: np.random.Generator
) -> dict[str, Scene]:
    return {
        "pos": anchor,
        "pair_pos": make_positive(anchor, pool, sampler, rng),
        "neg": make_negative(anchor, cfg, rng),
    }
