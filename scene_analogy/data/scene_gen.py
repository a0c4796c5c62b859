"""Training triplets from a dataset's source scenes (the generic half of every `main_scene_gen`).

A dataset reads its rooms into `Scene`s and its models into an `ObjectPool`; this module splits the
rooms into train and test at room level, gives every model a split (swaps draw only from their own
split, so the positives of train and test triplets use disjoint models), and writes

    <save_root>/{train,test}_scene_<i>/scene.npz   triplets (prefixes pos / pair_pos / neg)
    <save_root>/object_pool.json                   the models with class, subclass, split and box
    <save_root>/sources.json                       the source room of every scene folder
    <save_root>/triplet_topdown.png                a picture of the first triplet

Decisions: `num_scenes = -1` makes one triplet per source room; a larger count cycles through the
rooms of a split (each pass draws new swaps and new noise). A dataset whose rooms come with their
own split (ARKit's train/test folders) passes `splits`, one per room, instead of the seeded
room-level split by `train_ratio`. Triplet i of a split draws from a
generator seeded by (seed, split, i), so it does not change when others are added. A split without
source rooms gets no triplets (a warning says so).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import atomic
from .augment import SPLIT_CODES
from .classes import THREED_FRONT, ClassTable
from .errors import DataError
from .pool import ObjectPool
from .scene import SCENE_FILE, Scene, write_triplet
from .triplets import SwapSampler, TripletConfig, make_triplet


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
        triplet = make_triplet(anchor, pool, samplers[split], cfg.triplet, rng)
        with atomic.atomic_dir(root / f"{split}_scene_{i}") as folder:  # never a half-written scene folder
            write_triplet(folder / SCENE_FILE, triplet)
        origin[f"{split}_scene_{i}"] = name
        first = first or triplet
    atomic.write_json(root / "sources.json", origin)
    if first is not None:
        from .vis import save_triplet_topdown  # matplotlib only when a picture is drawn

        save_triplet_topdown(first, root / "triplet_topdown.png", classes)
    return {**{f"{s}_scenes": counts[s] for s in counts}, **{f"{s}_rooms": len(idx) for s, idx in rooms.items()},
            "models": len(pool), "seconds": time.perf_counter() - start}
