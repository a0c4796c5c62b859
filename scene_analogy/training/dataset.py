"""Training data: triplet folders -> keypoint clouds and matched query points, in worker processes.

Each item is one triplet: the keypoints of its three scenes and a fixed cache of `num_cache_query`
matched query points (3, Q, 3), the same subset every epoch (seeded by the scene's index). The
Hungarian matching behind the queries runs in DataLoader workers, off the training step's path.
A step then draws `num_sample_query` of the cached queries, the same indices in all three scenes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from scene_analogy.data.queries import QueryConfig, triplet_queries
from scene_analogy.data.triplet_layout_changes import read_triplet_links
from scene_analogy.files.errors import DataError
from scene_analogy.structures.keypoints import pad_batch, scene_keypoints
from scene_analogy.structures.samples import PointSamples
from scene_analogy.structures.scene import PREFIXES, read_triplet, scene_dirs


class TripletDataset(Dataset):
    def __init__(
        self,
        scene_root: str | os.PathLike,
        split: str,
        point_sample_root: str | os.PathLike,
        query_cfg: QueryConfig,
        num_cache_query: int = 400,
        sample_count: int = 50,
        limit: int | None = None,
        seed: int = 0,
    ) -> None:
        self.dirs = scene_dirs(scene_root, split)[:limit]
        if not self.dirs:
            raise DataError(scene_root, f"no {split}_scene_<i> folders found")
        self.samples_root = Path(point_sample_root)
        self.sample_count = sample_count
        self.samples = PointSamples(point_sample_root, sample_count)  # fails early on a wrong folder
        self.query_cfg = query_cfg
        self.num_cache_query = num_cache_query
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dirs)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        triplet = read_triplet(self.dirs[index] / "scene.npz", PREFIXES)
        links = read_triplet_links(self.dirs[index] / "scene.npz")  # none for default triplets
        queries, _ = triplet_queries(triplet, self.samples, self.query_cfg, links)
        rng = np.random.default_rng([self.seed, index])
        keep = rng.permutation(queries.shape[1])[: self.num_cache_query]
        item = {"queries": queries[:, np.sort(keep)].astype(np.float32), "index": np.int64(index)}
        for prefix in PREFIXES:
            kp = scene_keypoints(triplet[prefix], self.samples)
            item[f"{prefix}_points"], item[f"{prefix}_labels"] = kp.points, kp.labels
        return item


def collate_triplets(items: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Pads the 3B scenes of a batch (anchor, positive, negative of each triplet, in that order).

    Queries are padded by repeating a triplet's own queries, so every row has real points; a
    triplet's query count is kept in `num_queries` so a step only draws from real ones.
    """
    clouds = [(it[f"{p}_points"], it[f"{p}_labels"]) for it in items for p in PREFIXES]
    points, labels, lengths = pad_batch(clouds)
    q = max(it["queries"].shape[1] for it in items)
    queries = torch.stack([  # (B, 3, Q, 3); short rows repeat their own queries along the query axis
        torch.as_tensor(np.take(it["queries"], np.arange(q) % it["queries"].shape[1], axis=1)) for it in items
    ])
    return {
        "points": points, "labels": labels, "lengths": lengths, "queries": queries,
        "num_queries": torch.tensor([it["queries"].shape[1] for it in items]),
        "index": torch.tensor([int(it["index"]) for it in items]),
    }


def draw_queries(batch: dict[str, torch.Tensor], count: int, generator: torch.Generator) -> torch.Tensor:
    """(3B, count, 3) queries: `count` random cached queries per triplet, same indices in its 3 scenes."""
    b = batch["queries"].shape[0]
    u = torch.rand(b, count, generator=generator)
    idx = (u * batch["num_queries"][:, None]).long()  # uniform over each triplet's real queries
    picked = torch.gather(batch["queries"], 2, idx[:, None, :, None].expand(b, 3, count, 3))
    return picked.reshape(3 * b, count, 3)
