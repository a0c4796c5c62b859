"""Functional furniture groups for the procedural rooms, built in a group-local frame.

A group is a rigid unit (DESIGN §10): a bed with night stands, a dining table with chairs, a sofa
with a coffee table, a desk with its chair, or a single piece. `rooms.py` places each group with one
pose; this module only decides what is in a group and where each piece sits relative to the others.

Local frame conventions (the same as a model's canonical frame): +z is the group's front. Wall
groups have their back at local z = 0 and extend towards +z, so placing one against a wall means
turning local +z onto the wall's inward normal. Free-standing groups are centred on the origin.

A chair faces a point p when its canonical front (+z) turned by its yaw points at p; with
`geometry.yaw_matrix` the front of yaw t is (sin t, cos t) in (x, z), so t = atan2(dx, dz).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scene_analogy.ops.geometry import box_corners_xz, rectangles_overlap, yaw_matrix
from scene_analogy.structures.pool import ModelInfo, ObjectPool

SCALE_JITTER = (0.9, 1.1)
INNER_CLEARANCE = 0.02  # metres between pieces of one group, so the room-level check is not at a tie


class Catalog:
    """The models of one split, indexed by subclass, so picking a model is O(1)."""

    def __init__(self, pool: ObjectPool, split: str):
        self.by_subclass: dict[str, list[ModelInfo]] = {}
        for model in pool.models:
            if model.split == split:
                self.by_subclass.setdefault(model.subclass, []).append(model)

    def pick(self, subclasses: str | list[str], rng: np.random.Generator) -> ModelInfo | None:
        """A random model of a random available subclass among `subclasses`, or None if none exist."""
        names = [subclasses] if isinstance(subclasses, str) else list(subclasses)
        names = [n for n in names if self.by_subclass.get(n)]
        if not names:
            return None
        models = self.by_subclass[names[int(rng.integers(len(names)))]]
        return models[int(rng.integers(len(models)))]


def facing_yaw(dx: float, dz: float) -> float:
    """The yaw that turns a canonical front (+z) towards the direction (dx, dz)."""
    return float(np.arctan2(dx, dz))


@dataclass
class GroupTemplate:
    """Pieces of one group in its local frame: box centres (xz), per-axis scales and local yaws.

    `anchor` is "wall" (back against a wall, axis-aligned), "free" (anywhere) or "corner" (a wall
    spot at an end of the wall). `any_yaw` lets a free group turn by any angle, not only by 90°.
    """

    height: float
    anchor: str = "free"
    any_yaw: bool = False
    wants_tv: bool = False
    models: list[ModelInfo] = field(default_factory=list)
    scales: list[np.ndarray] = field(default_factory=list)
    yaws: list[float] = field(default_factory=list)
    centres: list[tuple[float, float]] = field(default_factory=list)
    hanging: list[bool] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.models)

    def sizes(self) -> np.ndarray:
        return np.stack([m.size * s for m, s in zip(self.models, self.scales)]) if self.models else np.zeros((0, 3))

    def y_ranges(self) -> np.ndarray:
        """(K, 2) world y-range of each piece: standing on the floor or hanging from the ceiling."""
        h = self.sizes()[:, 1] if self.models else np.zeros(0)
        low = np.where(np.asarray(self.hanging, bool), self.height - h, 0.0)
        return np.stack([low, low + h], -1)

    def footprints(self) -> np.ndarray:
        """(K, 4, 2) local xz footprints."""
        sizes = self.sizes()
        centres = np.zeros((len(self), 3))
        centres[:, [0, 2]] = np.asarray(self.centres, dtype=np.float64).reshape(-1, 2)
        return box_corners_xz(sizes, centres, yaw_matrix(np.asarray(self.yaws, dtype=np.float64)))

    def add(self, model: ModelInfo | None, scale: np.ndarray, yaw: float, centre: tuple[float, float],
            hanging: bool = False) -> bool:
        """Add a piece unless it is missing or would touch an earlier piece in 3D; says if it was added."""
        if model is None:
            return False
        size = model.size * scale
        box_centre = np.array([centre[0], 0.0, centre[1]])
        quad = box_corners_xz(size, box_centre, yaw_matrix(yaw))
        low = self.height - size[1] if hanging else 0.0
        if len(self):
            ranges = self.y_ranges()
            vertical = (ranges[:, 0] < low + size[1]) & (low < ranges[:, 1])
            flat = rectangles_overlap(quad[None], self.footprints(), margin=INNER_CLEARANCE)
            if (vertical & flat).any():
                return False
        self.models.append(model)
        self.scales.append(scale)
        self.yaws.append(float(yaw))
        self.centres.append((float(centre[0]), float(centre[1])))
        self.hanging.append(bool(hanging))
        return True


def jitter(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(*SCALE_JITTER, size=3)


def single(cat: Catalog, rng: np.random.Generator, height: float, subclasses, anchor: str,
           hanging: bool = False) -> GroupTemplate | None:
    """One piece on its own (a wardrobe against a wall, a plant in a corner, a pendant lamp, ...)."""
    model = cat.pick(subclasses, rng)
    if model is None:
        return None
    group = GroupTemplate(height, anchor=anchor)  # single pieces stay square to the walls
    scale = jitter(rng)
    depth = model.size[2] * scale[2]
    # Wall pieces sit with their back on local z = 0; free pieces are centred on the origin.
    group.add(model, scale, 0.0, (0.0, depth / 2 if anchor in ("wall", "corner") else 0.0), hanging)
    return group


def bed_group(cat: Catalog, rng: np.random.Generator, height: float) -> GroupTemplate | None:
    """A bed with its headboard on the wall, night stands beside the headboard, maybe a foot bench."""
    bed = cat.pick(["double_bed", "single_bed"], rng)
    if bed is None:
        return None
    group = GroupTemplate(height, anchor="wall")
    bed_scale = jitter(rng)
    bed_w, _, bed_d = bed.size * bed_scale
    group.add(bed, bed_scale, 0.0, (0.0, bed_d / 2))
    sides = [[-1, 1], [-1], [1]][int(rng.choice(3, p=[0.6, 0.2, 0.2]))]
    stand = cat.pick("nightstand", rng) if rng.random() < 0.85 else cat.pick("side_table", rng)
    stand_scale = jitter(rng)  # a matching pair: one model, one scale
    if stand is not None:
        stand_w, _, stand_d = stand.size * stand_scale
        for side in sides:
            gap = rng.uniform(0.03, 0.12)
            group.add(stand, stand_scale, 0.0, (side * (bed_w / 2 + gap + stand_w / 2), stand_d / 2))
    if rng.random() < 0.25:
        bench = cat.pick(["ottoman", "stool"], rng)
        if bench is not None:
            bench_scale = jitter(rng)
            bench_d = bench.size[2] * bench_scale[2]
            group.add(bench, bench_scale, 0.0, (0.0, bed_d + rng.uniform(0.08, 0.3) + bench_d / 2))
    return group


def living_group(cat: Catalog, rng: np.random.Generator, height: float) -> GroupTemplate | None:
    """A sofa facing a coffee table, optional armchairs at the table's ends facing it, optional side
    tables or a floor lamp at the sofa's ends. A TV stand is added later on the facing wall."""
    sofa = cat.pick(["multi_seat_sofa", "l_shaped_sofa", "loveseat"], rng)
    if sofa is None:
        return None
    group = GroupTemplate(height, anchor="wall" if rng.random() < 0.75 else "free", wants_tv=rng.random() < 0.85)
    sofa_scale = jitter(rng)
    sofa_w, _, sofa_d = sofa.size * sofa_scale
    group.add(sofa, sofa_scale, 0.0, (0.0, sofa_d / 2))
    table = cat.pick("coffee_table", rng) if rng.random() < 0.9 else None
    table_w, table_z = 1.0, sofa_d + 0.9  # a virtual table spot that armchairs gather round
    if table is not None:
        table_scale = jitter(rng)
        table_w, _, table_d = table.size * table_scale
        table_z = sofa_d + rng.uniform(0.3, 0.5) + table_d / 2
        group.add(table, table_scale, 0.0, (0.0, table_z))
    n_arm = int(rng.choice(3, p=[0.5, 0.3, 0.2]))
    arm = cat.pick("armchair", rng)
    arm_scale = jitter(rng)
    for side in [1, -1][:n_arm] if arm is not None else []:
        arm_w, _, arm_d = arm.size * arm_scale
        x = side * (table_w / 2 + rng.uniform(0.3, 0.5) + arm_d / 2)
        z = max(table_z, sofa_d + 0.15 + arm_w / 2)
        group.add(arm, arm_scale, facing_yaw(-side, 0.0), (x, z))
    for side in (-1, 1):
        roll = rng.random()
        extra = cat.pick("side_table", rng) if roll < 0.4 else cat.pick("floor_lamp", rng) if roll < 0.6 else None
        if extra is not None:
            extra_scale = jitter(rng)
            extra_w, _, extra_d = extra.size * extra_scale
            x = side * (sofa_w / 2 + rng.uniform(0.04, 0.15) + extra_w / 2)
            group.add(extra, extra_scale, 0.0, (x, extra_d / 2 + 0.05))
    return group


def dining_group(cat: Catalog, rng: np.random.Generator, height: float) -> GroupTemplate | None:
    """A dining table with 2-6 chairs facing it and maybe a pendant lamp above it.

    Tables whose footprint is nearly square are treated as round: chairs stand at even angles around
    them, each pushed out until the table's box and the chair's box are separated along the chair's
    facing axis. Long tables get chairs along both long sides, then at the ends.
    """
    table = cat.pick("dining_table", rng)
    if table is None:
        return None
    group = GroupTemplate(height, anchor="free", any_yaw=rng.random() < 0.4)
    table_scale = jitter(rng)
    table_w, table_h, table_d = table.size * table_scale
    chair = cat.pick("dining_chair", rng)
    chair_scale = jitter(rng)
    n_chairs = int(rng.integers(2, 7))
    long_along_x = table_w >= table_d
    group.add(table, table_scale, 0.0 if long_along_x else np.pi / 2, (0.0, 0.0))
    length, width = max(table_w, table_d), min(table_w, table_d)
    if chair is not None:
        chair_w, _, chair_d = chair.size * chair_scale
        if abs(table_w - table_d) < 0.15 * max(table_w, table_d):
            angles = rng.uniform(0, 2 * np.pi) * (rng.random() < 0.5) + 2 * np.pi * np.arange(n_chairs) / n_chairs
            for angle in angles:
                ux, _, uz = yaw_matrix(angle)[:, 2]  # local +z turned by angle: (sin, 0, cos)
                support = abs(ux) * length / 2 + abs(uz) * length / 2  # the table box along this direction
                radius = support + rng.uniform(0.04, 0.12) + chair_d / 2
                group.add(chair, chair_scale, facing_yaw(-ux, -uz), (radius * ux, radius * uz))
        else:
            per_side = max(1, int(1 + (length - chair_w) // (chair_w + 0.08)))
            top = min(per_side, (n_chairs + 1) // 2)
            bottom = min(per_side, n_chairs // 2)
            for count, side in ((top, 1), (bottom, -1)):
                spacing = min((length - chair_w) / max(count - 1, 1), chair_w + 0.25)
                z = side * (width / 2 + rng.uniform(0.04, 0.12) + chair_d / 2)
                for i in range(count):
                    group.add(chair, chair_scale, facing_yaw(0.0, -side), ((i - (count - 1) / 2) * spacing, z))
            for side in (1, -1)[: n_chairs - top - bottom]:
                x = side * (length / 2 + rng.uniform(0.04, 0.12) + chair_d / 2)
                group.add(chair, chair_scale, facing_yaw(-side, 0.0), (x, 0.0))
    if rng.random() < 0.6:
        lamp = cat.pick("pendant_lamp", rng)
        if lamp is not None and height - lamp.size[1] * 1.1 > table_h + 0.5:  # keep head room over the table
            group.add(lamp, jitter(rng), 0.0, (0.0, 0.0), hanging=True)
    return group


def desk_group(cat: Catalog, rng: np.random.Generator, height: float) -> GroupTemplate | None:
    """A desk against a wall with an office chair in front of it, facing it."""
    desk = cat.pick("desk", rng)
    if desk is None:
        return None
    group = GroupTemplate(height, anchor="wall")
    desk_scale = jitter(rng)
    desk_d = desk.size[2] * desk_scale[2]
    group.add(desk, desk_scale, 0.0, (0.0, desk_d / 2))
    chair = cat.pick("office_chair", rng)
    if chair is not None:
        chair_scale = jitter(rng)
        chair_d = chair.size[2] * chair_scale[2]
        x = rng.uniform(-0.1, 0.1)
        group.add(chair, chair_scale, np.pi, (x, desk_d + rng.uniform(0.05, 0.25) + chair_d / 2))
    return group
