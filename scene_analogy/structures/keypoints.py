"""Scene keypoints: what the descriptor field sees of a scene.

Every object contributes its canonical point samples, scaled and posed; the floor plan contributes
its corners at floor and ceiling height. Labels are embedding indices: 0 for the floor plan, c + 1
for object class c (DESIGN §1, §3). `instance` is the object index, -1 for the floor plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from scene_analogy.structures.samples import PointSamples
from scene_analogy.structures.scene import Scene

FLOOR_LABEL = 0


@dataclass
class Keypoints:
    points: np.ndarray  # (P, 3) float
    labels: np.ndarray  # (P,) int64 embedding index
    instance: np.ndarray  # (P,) int64 object index, -1 = floor plan

    def __len__(self) -> int:
        return len(self.points)

    def tensors(self, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.as_tensor(self.points, dtype=torch.float32, device=device),
            torch.as_tensor(self.labels, dtype=torch.long, device=device),
        )


def scene_keypoints(scene: Scene, samples: PointSamples, with_floor: bool = True) -> Keypoints:
    canonical = samples.stack(scene.model_ids)  # (N, n, 3)
    n = canonical.shape[1]
    points = [scene.world_points(canonical).reshape(-1, 3)]
    labels = [np.repeat(scene.class_ids + 1, n)]
    instance = [np.repeat(np.arange(len(scene)), n)]
    if with_floor:
        points.append(scene.floor.points)
        labels.append(np.full(len(scene.floor.points), FLOOR_LABEL))
        instance.append(np.full(len(scene.floor.points), -1))
    return Keypoints(
        np.concatenate(points).astype(np.float32), np.concatenate(labels).astype(np.int64),
        np.concatenate(instance).astype(np.int64),
    )


def pad_batch(clouds: list[tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack (points, labels) of different sizes into (B, P, 3), (B, P) and lengths (B,)."""
    lengths = torch.tensor([len(p) for p, _ in clouds], dtype=torch.long)
    size = int(lengths.max()) if len(clouds) else 0
    points = torch.zeros(len(clouds), size, 3)
    labels = torch.zeros(len(clouds), size, dtype=torch.long)
    for i, (p, l) in enumerate(clouds):  # one copy per scene, not per point
        points[i, : len(p)] = torch.as_tensor(p, dtype=torch.float32)
        labels[i, : len(l)] = torch.as_tensor(l, dtype=torch.long)
    return points, labels, lengths
