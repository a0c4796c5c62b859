"""Semantic class tables, kept in one place.

Object class c is embedded at index c + 1 by the descriptor field; index 0 is the floor plan.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClassTable:
    """An ordered list of class names; the position is the class id."""

    name: str
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.names)

    def id_of(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"unknown {self.name} class '{name}' (known: {', '.join(self.names)})") from None

    def name_of(self, class_id: int) -> str:
        if not 0 <= int(class_id) < len(self.names):
            raise KeyError(f"unknown {self.name} class id {class_id} (must be in 0..{len(self.names) - 1})")
        return self.names[int(class_id)]


THREED_FRONT = ClassTable(
    "3D-FRONT",
    ("bed", "pier/stool", "others", "sofa", "chair", "lighting", "table", "cabinet/shelf/desk"),
)

ARKIT = ClassTable(
    "ARKitScenes",
    (
        "cabinet", "refrigerator", "shelf", "stove", "bed", "sink", "washer", "toilet", "bathtub",
        "oven", "dishwasher", "fireplace", "stool", "chair", "table", "tv_monitor", "sofa",
    ),
)

TABLES = {"threed_front": THREED_FRONT, "arkit": ARKIT}
