"""Procedural furnished rooms: the layouts of the embedded default dataset (DESIGN §10, §4, §8.3).

A room is a floor outline (a rectangle or an L, 3-8 m sides, counter-clockwise in (x, z)), a height
(2.6-3.2 m, floor at y = 0) and 4-15 objects arranged in functional groups (`groups.py`). Each group
is placed as a rigid unit by rejection sampling: a batch of candidate poses is tested at once (inside
the outline, no 3D box overlap with what is already placed) and the first valid one is kept; a group
that does not fit is skipped. Rooms whose count ends outside the requested range are redrawn.

Decisions where the brief is silent:
- Two objects may share floor area only when their y-ranges are disjoint (a pendant lamp over a table).
- Objects keep `CLEARANCE` from each other and `WALL_GAP` from the walls, so the invariants hold
  with a margin rather than at a tie.
- A TV stand is placed after its sofa group, on the nearest wall the sofa faces, centred on the sofa.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scene_analogy.files.errors import DataError
from scene_analogy.ops.geometry import box_centroids, box_corners_xz, points_in_polygon, rectangles_overlap, yaw_matrix
from scene_analogy.structures.pool import ObjectPool
from scene_analogy.synthetic import groups as G

HEIGHT_RANGE = (2.6, 3.2)
CLEARANCE = 0.03
WALL_GAP = 0.02
CANDIDATES = 32  # candidate poses tested per placement attempt, in one batch
MAX_ROOM_TRIES = 60
ROOM_TYPES = ("bedroom", "living", "dining", "study", "mixed")
ROOM_TYPE_PROBS = (0.25, 0.25, 0.2, 0.15, 0.15)
ROOM_DIMS = {  # (width range, depth range) in metres, before an L-shaped cut
    "bedroom": ((3.0, 5.0), (3.2, 5.5)),
    "living": ((3.6, 7.0), (3.6, 7.5)),
    "dining": ((3.0, 6.0), (3.0, 6.0)),
    "study": ((3.0, 5.0), (3.0, 5.0)),
    "mixed": ((5.0, 8.0), (4.5, 8.0)),
}
# Fillers per room type: (subclasses, anchor, hanging, weight).
_PLANT = (["plant"], "corner", False, 3.0)
_DECOR = (["decor"], "wall", False, 1.5)
_FLOOR_LAMP = (["floor_lamp"], "corner", False, 2.0)
_STOOL = (["stool", "ottoman"], "free", False, 1.0)
_PENDANT = (["pendant_lamp"], "free", True, 1.0)
_BOOKSHELF = (["bookshelf"], "wall", False, 1.5)
_ARMCHAIR = (["armchair"], "wall", False, 1.0)
_SIDE_TABLE = (["side_table"], "wall", False, 0.7)
# At most this many objects of a subclass per room once fillers are added (fewer shelves than walls).
FILLER_CAPS = {"plant": 3, "decor": 2, "floor_lamp": 2, "stool": 2, "ottoman": 2, "pendant_lamp": 2,
               "bookshelf": 2, "armchair": 2, "side_table": 2}
FILLERS = {
    "bedroom": [_PLANT, _DECOR, _FLOOR_LAMP, _STOOL, _PENDANT, _ARMCHAIR, _BOOKSHELF],
    "living": [_PLANT, _DECOR, _FLOOR_LAMP, _STOOL, _PENDANT, _BOOKSHELF, _ARMCHAIR, _SIDE_TABLE],
    "dining": [_PLANT, _DECOR, _FLOOR_LAMP, _BOOKSHELF, _STOOL],
    "study": [_PLANT, _DECOR, _FLOOR_LAMP, _BOOKSHELF, _ARMCHAIR, _SIDE_TABLE, _PENDANT],
    "mixed": [_PLANT, _DECOR, _FLOOR_LAMP, _STOOL, _PENDANT, _BOOKSHELF, _ARMCHAIR],
}


@dataclass
class PlacedObject:
    """One object instance: world = (canonical * scale) @ yaw_matrix(yaw).T + trans."""

    model_id: str
    class_id: int
    class_name: str
    scale: np.ndarray
    yaw: float
    trans: np.ndarray


@dataclass
class RoomLayout:
    """A furnished room: floor outline (C, 2) counter-clockwise in (x, z), height, objects."""

    outline: np.ndarray
    height: float
    objects: list[PlacedObject]
    room_type: str


def world_boxes(layout: RoomLayout, pool: ObjectPool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Oriented boxes of the placed objects: centres (N, 3), sizes (N, 3), yaws (N,).

    The box centre is the canonical box centre, scaled and posed like the model's points.
    """
    if not layout.objects:
        return np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0)
    ids = [o.model_id for o in layout.objects]
    scales = np.stack([o.scale for o in layout.objects])
    yaws = np.array([o.yaw for o in layout.objects], dtype=np.float64)
    trans = np.stack([o.trans for o in layout.objects])
    centres = box_centroids(trans, yaw_matrix(yaws), pool.centres(ids) * scales)
    return centres, pool.sizes(ids) * scales, yaws


def generate_room(pool: ObjectPool, split: str, rng: np.random.Generator,
                  num_objects: tuple[int, int] = (4, 15)) -> RoomLayout:
    """A random furnished room using only models of `split`; deterministic given `rng`."""
    low, high = int(num_objects[0]), int(num_objects[1])
    if not 1 <= low <= high:
        raise ValueError(f"num_objects must be 1 <= low <= high, got {num_objects}")
    catalog = G.Catalog(pool, split)
    for _ in range(MAX_ROOM_TRIES):
        room_type = ROOM_TYPES[int(rng.choice(len(ROOM_TYPES), p=ROOM_TYPE_PROBS))]
        room = _Room(_make_outline(rng, *ROOM_DIMS[room_type]), float(rng.uniform(*HEIGHT_RANGE)), rng)
        target = int(rng.integers(low, high + 1))
        for i, build in enumerate(_core_groups(room_type, rng)):
            group = build(catalog, rng, room.height)
            # The first group defines the room; later ones only while the target is not reached.
            if group is None or (i > 0 and room.count >= target) or room.count + len(group) > high:
                continue
            if room.place(group, batches=4 if i == 0 else 1) and group.wants_tv and room.count < high:
                room.place_tv(group, catalog)
        if room.count == 0:
            continue  # the defining group did not fit: a bedroom without a bed is no bedroom
        fillers = FILLERS[room_type]
        weights = np.array([f[3] for f in fillers])
        for _ in range(4 * high):
            if room.count >= target:
                break
            subclasses, anchor, hanging, _w = fillers[int(rng.choice(len(fillers), p=weights / weights.sum()))]
            subclasses = [sub for sub in subclasses if room.subclass_counts.get(sub, 0) < FILLER_CAPS[sub]]
            group = G.single(catalog, rng, room.height, subclasses, anchor, hanging) if subclasses else None
            if group is not None:
                room.place(group)
        if low <= room.count <= high:
            return RoomLayout(room.outline, room.height, room.objects, room_type)
    raise DataError(None, f"the '{split}' object pool cannot furnish a room with {low}-{high} objects "
                          f"(too few models or subclasses in that split)")


def _core_groups(room_type: str, rng: np.random.Generator) -> list:
    """The functional groups that define a room type, most important first."""
    storage = lambda sub: (lambda cat, r, h: G.single(cat, r, h, sub, "wall"))  # noqa: E731
    if room_type == "bedroom":
        extra = [G.desk_group] if rng.random() < 0.3 else []
        wardrobe = [storage("wardrobe")] if rng.random() < 0.8 else []
        return [G.bed_group] + wardrobe + extra + [storage("bookshelf")] * (rng.random() < 0.2)
    if room_type == "living":
        return [G.living_group] + [storage("bookshelf")] * (rng.random() < 0.4)
    if room_type == "dining":
        return [G.dining_group] + [storage(["bookshelf", "wardrobe"])] * (rng.random() < 0.3)
    if room_type == "study":
        return [G.desk_group, storage("bookshelf")] + [storage("bookshelf")] * (rng.random() < 0.4)
    pairs = [[G.living_group, G.dining_group], [G.bed_group, G.desk_group], [G.living_group, G.desk_group]]
    return pairs[int(rng.integers(len(pairs)))]


def _make_outline(rng: np.random.Generator, width_range, depth_range) -> np.ndarray:
    """A rectangle or an L (one corner cut away), centred on the origin, turned by k * 90°."""
    width, depth = rng.uniform(*width_range), rng.uniform(*depth_range)
    if rng.random() < 0.4:
        cut_w = max(1.0, rng.uniform(0.25, 0.5) * width)
        cut_d = max(1.0, rng.uniform(0.25, 0.5) * depth)
        outline = np.array([[0, 0], [width, 0], [width, depth - cut_d], [width - cut_w, depth - cut_d],
                            [width - cut_w, depth], [0, depth]], dtype=np.float64)
    else:
        outline = np.array([[0, 0], [width, 0], [width, depth], [0, depth]], dtype=np.float64)
    outline -= np.array([width, depth]) / 2
    for _ in range(int(rng.integers(4))):  # a quarter turn keeps the order counter-clockwise
        outline = np.stack([-outline[:, 1], outline[:, 0]], -1)
    return outline


def footprints_inside(quads: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """Whether each convex (..., 4, 2) quad lies inside the outline polygon.

    Corners and edge midpoints must be inside, and no outline vertex may be strictly inside the quad:
    a rectangle can have all corners inside an L while wrapping its reflex corner.
    """
    mids = (quads + np.roll(quads, -1, axis=-2)) / 2
    probes = np.concatenate([quads, mids], axis=-2)
    inside = points_in_polygon(probes.reshape(-1, 2), outline).reshape(probes.shape[:-1]).all(-1)
    edges = np.roll(quads, -1, axis=-2) - quads  # (..., 4, 2), counter-clockwise
    rel = outline[:, None, :] - quads[..., None, :, :]  # (..., V, 4, 2)
    cross = edges[..., None, :, 0] * rel[..., 1] - edges[..., None, :, 1] * rel[..., 0]
    wrapped = (cross > 1e-6).all(-1).any(-1)
    return inside & ~wrapped


class _Room:
    """The room being furnished: outline, height, placed objects and their footprints / y-ranges."""

    def __init__(self, outline: np.ndarray, height: float, rng: np.random.Generator):
        self.outline, self.height, self.rng = outline, height, rng
        self.objects: list[PlacedObject] = []
        self.subclass_counts: dict[str, int] = {}
        self.quads = np.zeros((0, 4, 2))
        self.y_ranges = np.zeros((0, 2))
        starts, ends = outline, np.roll(outline, -1, axis=0)
        self.lengths = np.linalg.norm(ends - starts, axis=1)
        self.dirs = (ends - starts) / self.lengths[:, None]
        self.normals = np.stack([-self.dirs[:, 1], self.dirs[:, 0]], -1)  # inward: interior is on the left

    @property
    def count(self) -> int:
        return len(self.objects)

    def place(self, group: G.GroupTemplate, batches: int = 1) -> bool:
        """Try batches of poses for the group; keep the first valid one. Says whether it was placed."""
        for _ in range(batches):
            if group.anchor in ("wall", "corner"):
                origins, yaws = self._wall_candidates(group, np.arange(len(self.lengths)), None)
            else:
                origins, yaws = self._free_candidates(group)
            if self._commit_first_valid(group, origins, yaws):
                return True
        return False

    def place_tv(self, sofa_group: G.GroupTemplate, catalog: G.Catalog) -> bool:
        """A TV stand against the nearest wall the sofa faces, on the sofa's line of sight."""
        sofa_centre = np.asarray(sofa_group.centres[0])
        yaw = self._last_group_yaw
        front = yaw_matrix(yaw)[[0, 2], 2]  # xz of the group's local +z, turned by its yaw
        sofa_world = self._last_group_origin + _rotate2(sofa_centre, yaw)
        dist = ((self.outline - sofa_world) * front).sum(-1)
        along = ((sofa_world - self.outline) * self.dirs).sum(-1)
        facing = (self.normals @ front < -0.99) & (dist > 1.8) & (dist < 7.0) & (along > 0) & (along < self.lengths)
        if not facing.any():
            return False
        edge = int(np.argmin(np.where(facing, dist, np.inf)))
        group = G.single(catalog, self.rng, self.height, "tv_stand", "wall")
        if group is None:
            return False
        offsets = np.concatenate([[0.0], self.rng.uniform(-0.4, 0.4, CANDIDATES - 1)])
        origins, yaws = self._wall_candidates(group, np.array([edge]), along[edge] + offsets)
        return self._commit_first_valid(group, origins, yaws)

    def _wall_candidates(self, group, edges: np.ndarray, along: np.ndarray | None):
        """Poses putting the group's back on a wall, local +z along the wall's inward normal."""
        quads = group.footprints()
        x_min, x_max = quads[..., 0].min(), quads[..., 0].max()
        z_min = quads[..., 1].min()
        usable = edges[self.lengths[edges] >= x_max - x_min + 2 * WALL_GAP]
        if len(usable) == 0:
            return np.zeros((0, 2)), np.zeros(0)
        edge = usable[self.rng.choice(len(usable), CANDIDATES, p=self.lengths[usable] / self.lengths[usable].sum())]
        lo, hi = -x_min + WALL_GAP, self.lengths[edge] - x_max - WALL_GAP
        if along is not None:
            s = along
        elif group.anchor == "corner":
            s = np.where(self.rng.random(CANDIDATES) < 0.5, lo, hi)
        else:
            s = self.rng.uniform(lo, hi)
        normal = self.normals[edge]
        origins = self.outline[edge] + self.dirs[edge] * s[:, None] + normal * (WALL_GAP - z_min)
        return origins, np.arctan2(normal[:, 0], normal[:, 1])

    def _free_candidates(self, group):
        """Poses anywhere in the outline's bounding box, turned by multiples of 90° (or any angle)."""
        lo, hi = self.outline.min(0), self.outline.max(0)
        origins = self.rng.uniform(lo, hi, size=(CANDIDATES, 2))
        if group.any_yaw:
            yaws = self.rng.uniform(-np.pi, np.pi, CANDIDATES)
        else:
            yaws = self.rng.integers(0, 4, CANDIDATES) * (np.pi / 2)
        return origins, yaws

    def _commit_first_valid(self, group, origins: np.ndarray, yaws: np.ndarray) -> bool:
        """Test all candidate poses at once (T, K pieces, N placed) and keep the first valid one."""
        if len(origins) == 0:
            return False
        local_yaws = np.asarray(group.yaws)
        world_yaws = yaws[:, None] + local_yaws[None, :]  # (T, K)
        centres = origins[:, None, :] + _rotate2(np.asarray(group.centres), yaws[:, None])  # (T, K, 2)
        sizes = group.sizes()
        centres3 = np.zeros(centres.shape[:-1] + (3,))
        centres3[..., [0, 2]] = centres
        quads = box_corners_xz(np.broadcast_to(sizes, centres3.shape), centres3, yaw_matrix(world_yaws))
        valid = footprints_inside(quads, self.outline).all(-1)  # (T,)
        y_ranges = group.y_ranges()
        if self.count:
            vertical = ((y_ranges[:, None, 0] < self.y_ranges[None, :, 1])
                        & (self.y_ranges[None, :, 0] < y_ranges[:, None, 1]))  # (K, N)
            # Cheap axis-aligned pre-filter (T, K, N); the exact separating-axis test runs on its hits only.
            lo, hi = quads.min(-2), quads.max(-2)
            placed_lo, placed_hi = self.quads.min(-2), self.quads.max(-2)
            near = ((lo[:, :, None] < placed_hi[None, None] + CLEARANCE)
                    & (placed_lo[None, None] < hi[:, :, None] + CLEARANCE)).all(-1) & vertical[None]
            t, k, n = np.nonzero(near)
            hit = rectangles_overlap(quads[t, k], self.quads[n], margin=CLEARANCE)
            valid &= ~np.bincount(t[hit], minlength=len(valid)).astype(bool)
        if not valid.any():
            return False
        best = int(np.argmax(valid))
        self._last_group_origin, self._last_group_yaw = origins[best], float(yaws[best])
        for k, model in enumerate(group.models):
            scale = np.asarray(group.scales[k], dtype=np.float64)
            yaw = float(np.arctan2(np.sin(world_yaws[best, k]), np.cos(world_yaws[best, k])))
            # trans = box centre minus the posed canonical box centre; y from floor or ceiling.
            offset = yaw_matrix(yaw) @ (model.centre * scale)
            trans = np.array([centres[best, k, 0], 0.0, centres[best, k, 1]]) - offset
            hanging = group.hanging[k]
            trans[1] = self.height - model.bbox_max[1] * scale[1] if hanging else -model.bbox_min[1] * scale[1]
            self.objects.append(PlacedObject(model.model_id, model.class_id, model.class_name, scale, yaw, trans))
            self.subclass_counts[model.subclass] = self.subclass_counts.get(model.subclass, 0) + 1
        self.quads = np.concatenate([self.quads, quads[best]])
        self.y_ranges = np.concatenate([self.y_ranges, y_ranges])
        return True


def _rotate2(xz: np.ndarray, yaw) -> np.ndarray:
    """Turn (..., 2) xz vectors by yaw (broadcast against xz[..., 0]) as `yaw_matrix` turns (x, 0, z).

    Written out on the matrix's xz entries rather than as a 3-D matmul, so the products and sums are
    the ones the generator has always made (its output stays bit-identical)."""
    rot = yaw_matrix(yaw)
    x, z = xz[..., 0], xz[..., 1]
    return np.stack([rot[..., 0, 0] * x + rot[..., 0, 2] * z, rot[..., 2, 0] * x + rot[..., 2, 2] * z], -1)
