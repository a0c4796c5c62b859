"""Object pools: which models exist, their class, subclass, split and canonical bounding box.

The same structure serves the synthetic pool, 3D-FUTURE and the ARKit object crops, so triplet
generation is written once. Saved as JSON (a generation cache, DESIGN §8.3; no pickle).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scene_analogy.files import atomic
from scene_analogy.files.errors import DataError
from scene_analogy.files.json_files import read_json

SPLITS = ("train", "test")


@dataclass(frozen=True)
class ModelInfo:
    """One object model in its canonical frame (+y up; the front faces +z)."""

    model_id: str
    class_id: int
    class_name: str
    subclass: str
    split: str
    bbox_min: tuple[float, float, float]
    bbox_max: tuple[float, float, float]

    @property
    def size(self) -> np.ndarray:
        return np.asarray(self.bbox_max) - np.asarray(self.bbox_min)

    @property
    def centre(self) -> np.ndarray:
        return (np.asarray(self.bbox_max) + np.asarray(self.bbox_min)) / 2.0


@dataclass
class ObjectPool:
    models: list[ModelInfo] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_id = {m.model_id: m for m in self.models}
        if len(self._by_id) != len(self.models):
            raise ValueError("duplicate model ids in pool")

    def __len__(self) -> int:
        return len(self.models)

    def __getitem__(self, model_id: str) -> ModelInfo:
        try:
            return self._by_id[model_id]
        except KeyError:
            raise DataError(None, f"model '{model_id}' is not in the object pool") from None

    def __contains__(self, model_id: str) -> bool:
        return model_id in self._by_id

    def select(self, split: str | None = None, class_id: int | None = None, subclass: str | None = None) -> list[ModelInfo]:
        return [
            m for m in self.models
            if (split is None or m.split == split)
            and (class_id is None or m.class_id == class_id)
            and (subclass is None or m.subclass == subclass)
        ]

    def sizes(self, model_ids) -> np.ndarray:
        return np.stack([self[m].size for m in model_ids]) if len(model_ids) else np.zeros((0, 3))

    def centres(self, model_ids) -> np.ndarray:
        return np.stack([self[m].centre for m in model_ids]) if len(model_ids) else np.zeros((0, 3))

    def save_json(self, path: str | os.PathLike) -> None:
        atomic.write_json(path, {"models": [m.__dict__ for m in self.models]})

    @classmethod
    def load_json(cls, path: str | os.PathLike) -> "ObjectPool":
        path = Path(path)
        data = read_json(path, "object pool", missing="object pool file not found")
        try:
            models = [
                ModelInfo(**{**row, "bbox_min": tuple(row["bbox_min"]), "bbox_max": tuple(row["bbox_max"])})
                for row in data["models"]
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(path, f"not an object pool file ({exc})") from None
        return cls(models)
