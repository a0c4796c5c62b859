"""Tests for the procedural room generator (scene_analogy/synthetic/rooms.py).

The invariants are checked with geometry written here independently: pairwise box overlap by
brute-force separating axes on explicit corners, containment by dense edge samples.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from scene_analogy.ops.geometry import points_in_polygon, yaw_matrix
from scene_analogy.structures.classes import THREED_FRONT
from scene_analogy.structures.pool import ModelInfo, ObjectPool
from scene_analogy.synthetic.rooms import RoomLayout, footprints_inside, generate_room, world_boxes

# subclass -> (class name, (width, height, depth) of two variants)
STUB_SIZES = {
    "double_bed": ("bed", [(1.7, 1.0, 2.1), (1.9, 1.1, 2.2)]),
    "single_bed": ("bed", [(1.0, 0.9, 2.0), (1.2, 0.8, 2.05)]),
    "stool": ("pier/stool", [(0.4, 0.45, 0.4), (0.35, 0.6, 0.35)]),
    "ottoman": ("pier/stool", [(0.6, 0.42, 0.6), (0.9, 0.45, 0.5)]),
    "plant": ("others", [(0.4, 1.0, 0.4), (0.6, 1.5, 0.6)]),
    "decor": ("others", [(0.3, 0.5, 0.3), (0.5, 0.8, 0.2)]),
    "multi_seat_sofa": ("sofa", [(2.1, 0.85, 0.9), (2.4, 0.8, 0.95)]),
    "l_shaped_sofa": ("sofa", [(2.6, 0.85, 1.7), (2.8, 0.8, 1.6)]),
    "loveseat": ("sofa", [(1.5, 0.85, 0.85), (1.4, 0.9, 0.8)]),
    "dining_chair": ("chair", [(0.45, 0.9, 0.5), (0.5, 1.0, 0.55)]),
    "armchair": ("chair", [(0.8, 0.85, 0.8), (0.9, 0.9, 0.85)]),
    "office_chair": ("chair", [(0.6, 1.1, 0.6), (0.65, 1.2, 0.65)]),
    "pendant_lamp": ("lighting", [(0.5, 0.6, 0.5), (0.3, 0.9, 0.3)]),
    "floor_lamp": ("lighting", [(0.4, 1.6, 0.4), (0.35, 1.8, 0.35)]),
    "dining_table": ("table", [(1.6, 0.75, 0.9), (1.0, 0.75, 1.0)]),
    "coffee_table": ("table", [(1.1, 0.45, 0.6), (0.9, 0.4, 0.9)]),
    "side_table": ("table", [(0.5, 0.55, 0.5), (0.45, 0.6, 0.45)]),
    "nightstand": ("cabinet/shelf/desk", [(0.5, 0.55, 0.4), (0.45, 0.6, 0.45)]),
    "wardrobe": ("cabinet/shelf/desk", [(1.2, 2.1, 0.6), (1.6, 2.2, 0.6)]),
    "bookshelf": ("cabinet/shelf/desk", [(0.9, 1.9, 0.35), (1.2, 1.8, 0.4)]),
    "desk": ("cabinet/shelf/desk", [(1.3, 0.75, 0.65), (1.1, 0.76, 0.6)]),
    "tv_stand": ("cabinet/shelf/desk", [(1.6, 0.5, 0.45), (1.8, 0.45, 0.4)]),
}


def stub_pool() -> ObjectPool:
    """Two models per subclass per split; test models are 5 % larger and off-centre in x to check
    that the generator honours the canonical box centre."""
    models = []
    for split, grow, shift in (("train", 1.0, 0.0), ("test", 1.05, 0.03)):
        for subclass, (class_name, variants) in STUB_SIZES.items():
            for i, (w, h, d) in enumerate(variants):
                w, h, d = w * grow, h * grow, d * grow
                models.append(ModelInfo(
                    f"{split}_{subclass}_{i}", THREED_FRONT.id_of(class_name), class_name, subclass, split,
                    (-w / 2 + shift, 0.0, -d / 2), (w / 2 + shift, h, d / 2)))
    return ObjectPool(models)


POOL = stub_pool()


@pytest.fixture(scope="module")
def rooms() -> list[RoomLayout]:
    rng = np.random.default_rng(1234)
    return [generate_room(POOL, "train", rng) for _ in range(100)]


def corners_xz(centre, size, yaw) -> np.ndarray:
    """Footprint corners computed from the posing rule directly: canonical corner offsets, turned."""
    half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * size[[0, 2]] / 2
    local = np.stack([half[:, 0], np.zeros(4), half[:, 1]], -1)
    return (local @ yaw_matrix(yaw).T)[:, [0, 2]] + centre[[0, 2]]


def separated(a: np.ndarray, b: np.ndarray) -> bool:
    """Brute-force separating-axis test of two convex quads (one loop per edge normal)."""
    for quad in (a, b):
        for i in range(4):
            edge = quad[(i + 1) % 4] - quad[i]
            axis = np.array([-edge[1], edge[0]])
            pa, pb = a @ axis, b @ axis
            if pa.max() <= pb.min() or pb.max() <= pa.min():
                return True
    return False


def distance_point_to_box(point, centre, size, yaw) -> float:
    local = (np.array([point[0], 0.0, point[1]]) - centre) @ yaw_matrix(yaw)
    excess = np.maximum(np.abs(local[[0, 2]]) - size[[0, 2]] / 2, 0.0)
    return float(np.linalg.norm(excess))


def ray_hits_box(origin, direction, centre, size, yaw) -> bool:
    """Whether the ray from origin (xz) along direction (xz) enters the box footprint (slab test)."""
    rot = yaw_matrix(yaw)
    o = (np.array([origin[0], 0.0, origin[1]]) - centre) @ rot
    d = np.array([direction[0], 0.0, direction[1]]) @ rot
    t_lo, t_hi = 0.0, np.inf
    for axis in (0, 2):
        half = size[axis] / 2
        if abs(d[axis]) < 1e-12:
            if abs(o[axis]) > half:
                return False
            continue
        t1, t2 = sorted(((-half - o[axis]) / d[axis], (half - o[axis]) / d[axis]))
        t_lo, t_hi = max(t_lo, t1), min(t_hi, t2)
    return t_lo <= t_hi


def boxes_by_subclass(layout, pool, subclass):
    centres, sizes, yaws = world_boxes(layout, pool)
    idx = [i for i, o in enumerate(layout.objects) if pool[o.model_id].subclass == subclass]
    return idx, centres, sizes, yaws


def edge_samples(quad: np.ndarray, n: int = 21) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (quad[:, None] * (1 - t) + np.roll(quad, -1, 0)[:, None] * t).reshape(-1, 2)


def check_shape(r: RoomLayout) -> None:
    assert 4 <= len(r.objects) <= 15
    assert 2.6 <= r.height <= 3.2
    assert len(r.outline) in (4, 6)
    x, z = r.outline[:, 0], r.outline[:, 1]
    assert 0.5 * (x @ np.roll(z, -1) - z @ np.roll(x, -1)) > 0  # counter-clockwise in (x, z)
    extent = r.outline.max(0) - r.outline.min(0)
    assert extent.min() >= 3.0 - 1e-9 and extent.max() <= 8.0 + 1e-9


def check_inside(r: RoomLayout, pool: ObjectPool) -> None:
    """Dense samples along every footprint's edges lie inside the outline."""
    for c, s, y in zip(*world_boxes(r, pool)):
        assert points_in_polygon(edge_samples(corners_xz(c, s, y)), r.outline).all()


def check_no_overlap(r: RoomLayout, pool: ObjectPool) -> None:
    centres, sizes, yaws = world_boxes(r, pool)
    quads = [corners_xz(c, s, y) for c, s, y in zip(centres, sizes, yaws)]
    y_lo, y_hi = centres[:, 1] - sizes[:, 1] / 2, centres[:, 1] + sizes[:, 1] / 2
    assert y_lo.min() >= -1e-9 and y_hi.max() <= r.height + 1e-9
    for i in range(len(quads)):
        for j in range(i + 1, len(quads)):
            if y_lo[i] < y_hi[j] and y_lo[j] < y_hi[i]:
                assert separated(quads[i], quads[j]), (r.room_type, i, j)


def check_night_stands(r: RoomLayout, pool: ObjectPool) -> int:
    """Each night stand's footprint is within 0.6 m of a bed's footprint. Returns how many were seen."""
    stands, centres, sizes, yaws = boxes_by_subclass(r, pool, "nightstand")
    beds = [i for i, o in enumerate(r.objects) if o.class_name == "bed"]
    for i in stands:
        samples = edge_samples(corners_xz(centres[i], sizes[i], yaws[i]), 11)
        gap = min(distance_point_to_box(p, centres[b], sizes[b], yaws[b]) for b in beds for p in samples)
        assert gap <= 0.6
    return len(stands)


def check_chairs(r: RoomLayout, pool: ObjectPool, chair: str, table: str) -> int:
    """Each chair stands within 0.8 m of a table, its front ray hits that table and the table centre
    is within 45 degrees of its front. Returns how many were seen."""
    chairs, centres, sizes, yaws = boxes_by_subclass(r, pool, chair)
    tables, *_ = boxes_by_subclass(r, pool, table)
    for i in chairs:
        front = np.array([np.sin(yaws[i]), np.cos(yaws[i])])
        ok = [distance_point_to_box(centres[i][[0, 2]], centres[t], sizes[t], yaws[t]) <= 0.8
              and ray_hits_box(centres[i][[0, 2]], front, centres[t], sizes[t], yaws[t])
              and np.degrees(np.arccos(np.clip(front @ _unit(centres[t] - centres[i]), -1, 1))) <= 45
              for t in tables]
        assert any(ok), (chair, r.room_type)
    return len(chairs)


def check_heights_and_walls(r: RoomLayout, pool: ObjectPool) -> int:
    """Pendants touch the ceiling, everything else stands on the floor, and beds, wardrobes, desks
    and TV stands have their backs on a wall. Returns the number of pendants."""
    centres, sizes, yaws = world_boxes(r, pool)
    n_pendants = 0
    for i, o in enumerate(r.objects):
        sub = pool[o.model_id].subclass
        if sub == "pendant_lamp":
            assert centres[i, 1] + sizes[i, 1] / 2 == pytest.approx(r.height, abs=1e-9)
            n_pendants += 1
        else:
            assert centres[i, 1] - sizes[i, 1] / 2 == pytest.approx(0.0, abs=1e-9)
        if o.class_name == "bed" or sub in ("wardrobe", "desk", "tv_stand"):
            back = centres[i][[0, 2]] - np.array([np.sin(yaws[i]), np.cos(yaws[i])]) * (sizes[i, 2] / 2 + 0.05)
            assert not points_in_polygon(back[None], r.outline)[0], sub
    return n_pendants


def test_counts_heights_and_shapes(rooms):
    for r in rooms:
        check_shape(r)
    counts = np.array([len(r.objects) for r in rooms])
    assert len(set(counts.tolist())) >= 5  # the counts vary
    assert {len(r.outline) for r in rooms} == {4, 6}  # rectangles and L-shapes both occur
    assert len({r.room_type for r in rooms}) == 5


def test_footprints_inside_outline(rooms):
    for r in rooms:
        check_inside(r, POOL)


def test_footprints_inside_catches_wrapped_reflex_corner():
    outline = np.array([[0, 0], [4, 0], [4, 2], [2, 2], [2, 4], [0, 4]], dtype=float)
    # A quad whose corners and edge midpoints are all inside the L but which covers the reflex
    # corner (2, 2): its top edge passes just above it.
    wrapping = np.array([[[0.5, 0.5], [2.6, 0.5], [2.6, 1.9], [0.5, 2.3]]])
    mids = (wrapping[0] + np.roll(wrapping[0], -1, 0)) / 2
    assert points_in_polygon(np.concatenate([wrapping[0], mids]), outline).all()
    inside_quad = np.array([[[0.5, 0.5], [1.5, 0.5], [1.5, 1.5], [0.5, 1.5]]])
    assert footprints_inside(np.concatenate([wrapping, inside_quad]), outline).tolist() == [False, True]


def test_no_two_boxes_overlap(rooms):
    for r in rooms:
        check_no_overlap(r, POOL)


def test_only_requested_split():
    rng = np.random.default_rng(7)
    for _ in range(20):
        layout = generate_room(POOL, "test", rng)
        assert all(o.model_id.startswith("test_") for o in layout.objects)
        for o in layout.objects:
            assert o.class_id == POOL[o.model_id].class_id and o.class_name == POOL[o.model_id].class_name


def test_functional_adjacency(rooms):
    assert sum(check_night_stands(r, POOL) for r in rooms) > 10
    assert sum(check_chairs(r, POOL, "dining_chair", "dining_table") for r in rooms) > 30
    assert sum(check_chairs(r, POOL, "office_chair", "desk") for r in rooms) > 5


def test_pendants_hang_from_ceiling_and_backs_on_walls(rooms):
    assert sum(check_heights_and_walls(r, POOL) for r in rooms) > 5


def test_living_rooms_have_tv_facing_sofa(rooms):
    """Most sofas face a TV stand that faces them back (the TV is optional and may not fit)."""
    n_sofas = n_tv = 0
    for r in rooms:
        centres, sizes, yaws = world_boxes(r, POOL)
        tvs, *_ = boxes_by_subclass(r, POOL, "tv_stand")
        for i, o in enumerate(r.objects):
            if o.class_name != "sofa":
                continue
            n_sofas += 1
            front = np.array([np.sin(yaws[i]), np.cos(yaws[i])])
            n_tv += any(ray_hits_box(centres[i][[0, 2]], front, centres[t], sizes[t], yaws[t])
                        and np.cos(yaws[t] - yaws[i]) < -0.99 for t in tvs)
    assert n_sofas > 10 and n_tv >= 0.6 * n_sofas


def test_world_boxes_matches_posed_corners(rooms):
    """A box centre equals the mean of the posed canonical bbox corners (independent of world_boxes)."""
    r = rooms[0]
    centres, sizes, _ = world_boxes(r, POOL)
    for i, o in enumerate(r.objects):
        m = POOL[o.model_id]
        corners = np.array([[x, y, z] for x in (m.bbox_min[0], m.bbox_max[0])
                            for y in (m.bbox_min[1], m.bbox_max[1]) for z in (m.bbox_min[2], m.bbox_max[2])])
        world = (corners * o.scale) @ yaw_matrix(o.yaw).T + o.trans
        np.testing.assert_allclose(world.mean(0), centres[i], atol=1e-9)
        np.testing.assert_allclose(sizes[i], m.size * o.scale)
        assert np.all((o.scale >= 0.9) & (o.scale <= 1.1))


def test_deterministic():
    a = generate_room(POOL, "train", np.random.default_rng(42))
    b = generate_room(POOL, "train", np.random.default_rng(42))
    assert a.room_type == b.room_type and a.height == b.height
    np.testing.assert_array_equal(a.outline, b.outline)
    assert [o.model_id for o in a.objects] == [o.model_id for o in b.objects]
    for oa, ob in zip(a.objects, b.objects):
        np.testing.assert_array_equal(oa.trans, ob.trans)
        np.testing.assert_array_equal(oa.scale, ob.scale)
        assert oa.yaw == ob.yaw


def test_speed():
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(200):
        generate_room(POOL, "train", rng)
    elapsed = time.perf_counter() - start
    print(f"200 rooms in {elapsed:.2f} s")
    assert elapsed < 10.0


def test_custom_count_range_and_poor_pool():
    rng = np.random.default_rng(3)
    for _ in range(10):
        assert 2 <= len(generate_room(POOL, "train", rng, num_objects=(2, 5)).objects) <= 5
    from scene_analogy.files.errors import DataError
    only_plants = ObjectPool([m for m in POOL.models if m.subclass == "plant"])
    with pytest.raises(DataError):
        generate_room(only_plants, "train", rng, num_objects=(8, 15))


def _unit(v):
    v = np.asarray(v)[[0, 2]]
    return v / np.linalg.norm(v)


@pytest.mark.parametrize("split_by", ["model", "design"])
def test_real_synthetic_pool(split_by):
    """The same invariants with the procedural pool of `objects.build_pool`, both splits, either split rule."""
    objects = pytest.importorskip("scene_analogy.synthetic.objects")
    pool = objects.build_pool(0, split_by=split_by)
    rng = np.random.default_rng(5)
    counts = {"nightstand": 0, "dining_chair": 0}
    for i in range(40):
        split = ("train", "test")[i % 2]
        r = generate_room(pool, split, rng)
        assert all(pool[o.model_id].split == split for o in r.objects)
        check_shape(r)
        check_inside(r, pool)
        check_no_overlap(r, pool)
        check_heights_and_walls(r, pool)
        counts["nightstand"] += check_night_stands(r, pool)
        counts["dining_chair"] += check_chairs(r, pool, "dining_chair", "dining_table")
        check_chairs(r, pool, "office_chair", "desk")
    assert min(counts.values()) > 0
