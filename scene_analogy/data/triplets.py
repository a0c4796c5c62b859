"""Training triplets (DESIGN §4): anchor, positive, negative, and a triplet root from a dataset's rooms.

- positive: same layout and boxes, every object swapped for another model of its class from the same
  split, rescaled per axis to the anchor's box (`box_scale`) or by one scalar (`optimal_scalar`);
- negative: the anchor's own objects, each moved by yaw noise ~ N(0, sigma_rot) and xz noise
  ~ N(0, sigma_t) per axis about its box centre; the floor plan is unchanged.
The file prefixes are `pos` (anchor), `pair_pos` (positive) and `neg` (negative).

`generate_triplet_root` (the generic half of every `main_scene_gen`) splits the rooms into train and
test at room level (or takes the dataset's own split), gives every model a split so that train and
test positives use disjoint models, and writes `{train,test}_scene_<i>/scene.npz`, `object_pool.json`,
`sources.json` and `triplet_topdown.png` under the save root. `num_scenes = -1` makes one triplet per
room; more cycle through a split's rooms. Triplet i of a split draws from a generator seeded by
(seed, split, i), so it does not change when others are added.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from scene_analogy.data import triplet_layout_changes as layout
from scene_analogy.data.eval_pairs import SPLIT_CODES
from scene_analogy.files import atomic
from scene_analogy.files.errors import DataError
from scene_analogy.ops.geometry import origins_from_box, yaw_matrix
from scene_analogy.structures.classes import THREED_FRONT, ClassTable
from scene_analogy.structures.pool import ModelInfo, ObjectPool
from scene_analogy.structures.scene import SCENE_FILE, Scene, write_triplet

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
    # eval-pair-like triplets (`triplet_layout_changes`); the defaults change nothing
    pos_drop_rate: float = 0.0  # probability that an object is left out of the positive
    pos_trans_noise: float = 0.0  # positive's objects: uniform xz shift bound (m)
    pos_rot_noise_deg: float = 0.0  # positive's objects: uniform yaw bound (degrees)
    pos_floor_jitter: float = 0.0  # positive's outline: edge shift bound (m)
    pos_distractors: tuple[int, int] = (0, 0)  # objects added to the positive: count range
    neg_swap_rate: float = 0.0  # per class with >= 2 objects: probability that two swap poses in the negative

    def __post_init__(self) -> None:
        if self.rescaling_method not in RESCALING_METHODS:
            raise ValueError(f"rescaling_method must be one of {RESCALING_METHODS}, got '{self.rescaling_method}'")
        for name in ("pos_drop_rate", "neg_swap_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        lo, hi = self.pos_distractors
        if not 0 <= lo <= hi:
            raise ValueError(f"pos_distractors must be a range 0 <= lo <= hi, got {self.pos_distractors}")


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
    """A default triplet (objects index-aligned in all three scenes); see `make_triplet_with_links`."""
    if layout.changes_positive(cfg) or layout.changes_negative(cfg):
        raise ValueError("this TripletConfig changes layouts: use make_triplet_with_links and keep its links")
    return make_triplet_with_links(anchor, pool, sampler, cfg, rng)[0]


def make_triplet_with_links(
    anchor: Scene, pool: ObjectPool, sampler: SwapSampler, cfg: TripletConfig, rng: np.random.Generator
) -> tuple[dict[str, Scene], dict[str, np.ndarray]]:
    """The triplet and the link arrays to write beside it (`triplet_layout_changes.LINK_KEYS`; none by
    default). The layout changes draw after the default triplet's draws, so the model swaps and the
    Gaussian moves are those of the default triplet with the same generator."""
    triplet = {
        "pos": anchor,
        "pair_pos": make_positive(anchor, pool, sampler, rng),
        "neg": make_negative(anchor, cfg, rng),
    }
    links: dict[str, np.ndarray] = {}
    if layout.changes_positive(cfg):
        def lookalikes(scene: Scene, r: np.random.Generator) -> Scene:
            return make_positive(scene, pool, sampler, r)

        triplet["pair_pos"], links["pair_pos_idx_map"] = layout.change_positive(
            triplet["pair_pos"], anchor, lookalikes, cfg, rng)
    if layout.changes_negative(cfg):
        triplet["neg"], links["neg_swapped"] = layout.swap_same_class(triplet["neg"], anchor, cfg, rng)
    return triplet, links


# -- a triplet root from a dataset's source scenes (the generic half of every main_scene_gen) --


@dataclass(frozen=True)
class SceneGenConfig:
    num_scenes: int = -1
    train_ratio: float = 0.9
    seed: int = 0
    triplet: TripletConfig = field(default_factory=TripletConfig)

    def __post_init__(self) -> None:
        if not 0.0 <= self.train_ratio <= 1.0:
            raise ValueError(f"train_ratio must lie in [0, 1], got {self.train_ratio}")


def split_count(n: int, train_ratio: float) -> int:
    """How many of n items go to train: round(ratio * n), leaving both splits at least one item
    when n >= 2 and the ratio is strictly between 0 and 1."""
    count = int(round(n * train_ratio))
    if n >= 2 and 0.0 < train_ratio < 1.0:
        count = min(max(count, 1), n - 1)
    return count


def split_rooms(names: list[str], train_ratio: float, seed: int) -> dict[str, list[int]]:
    """Room-level split: indices of `names` per split, from a seeded permutation of the sorted names."""
    order = sorted(range(len(names)), key=lambda i: names[i])
    perm = [order[i] for i in np.random.default_rng([seed, 17]).permutation(len(order))]
    num_train = split_count(len(names), train_ratio)
    return {"train": sorted(perm[:num_train], key=lambda i: names[i]),
            "test": sorted(perm[num_train:], key=lambda i: names[i])}


def model_splits(model_ids: list[str], class_ids: list[int], train_ratio: float, seed: int) -> list[str]:
    """A split per model, drawn per class so that each class with >= 2 models has models in both."""
    splits = ["train"] * len(model_ids)
    for c in sorted(set(class_ids)):
        members = sorted((i for i, k in enumerate(class_ids) if k == c), key=lambda i: model_ids[i])
        num_test = len(members) - split_count(len(members), train_ratio) if len(members) >= 2 else 0
        for j in np.random.default_rng([seed, 29, c]).permutation(len(members))[:num_test]:
            splits[members[j]] = "test"
    return splits


def generate_triplet_root(save_root: str | os.PathLike, sources: list[tuple[str, Scene]], pool: ObjectPool,
                          cfg: SceneGenConfig, classes: ClassTable = THREED_FRONT, progress: bool = True,
                          splits: list[str] | None = None) -> dict:
    """Write the triplets of `sources` ((room id, scene) pairs), split by `splits` (one per source)
    when given, else by `split_rooms`; returns a summary dict."""
    if not sources:
        raise DataError(save_root, "no source room to generate triplets from")
    start, root = time.perf_counter(), Path(save_root)
    if splits is None:
        rooms = split_rooms([name for name, _ in sources], cfg.train_ratio, cfg.seed)
    else:
        rooms = {s: sorted((i for i, k in enumerate(splits) if k == s), key=lambda i: sources[i][0])
                 for s in ("train", "test")}
    if cfg.num_scenes < 0:
        counts = {s: len(idx) for s, idx in rooms.items()}
    else:
        num_train = int(round(cfg.num_scenes * cfg.train_ratio))
        counts = {"train": num_train, "test": cfg.num_scenes - num_train}
    for split, idx in rooms.items():
        if counts[split] and not idx:
            print(f"warning: no {split} source room, so no {split} triplets (of {counts[split]} asked for)", file=sys.stderr)
            counts[split] = 0
    root.mkdir(parents=True, exist_ok=True)
    pool.save_json(root / "object_pool.json")
    jobs = [(s, i) for s in ("train", "test") for i in range(counts[s])]
    samplers = {s: SwapSampler(pool, s, cfg.triplet) for s in rooms if counts[s]}
    origin, first = {}, None
    for split, i in tqdm(jobs, desc="triplets", disable=not progress):
        name, anchor = sources[rooms[split][i % len(rooms[split])]]
        rng = np.random.default_rng([cfg.seed, SPLIT_CODES[split], i, 1])
        triplet, links = make_triplet_with_links(anchor, pool, samplers[split], cfg.triplet, rng)
        with atomic.atomic_dir(root / f"{split}_scene_{i}") as folder:  # never a half-written scene folder
            write_triplet(folder / SCENE_FILE, triplet, links)
        origin[f"{split}_scene_{i}"] = name
        first = first or triplet
    atomic.write_json(root / "sources.json", origin)
    if first is not None:
        from scene_analogy.vis.pictures import save_triplet_topdown

        save_triplet_topdown(first, root / "triplet_topdown.png", classes)
    return {**{f"{s}_scenes": counts[s] for s in counts}, **{f"{s}_rooms": len(idx) for s, idx in rooms.items()},
            "models": len(pool), "seconds": time.perf_counter() - start}
