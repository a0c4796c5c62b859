"""Own-data scene pairs with a known answer, in every input format (tests, benchmark, shipped sample).

`make_pair(cfg)`: a procedural furnished room (the synthetic pool, DESIGN §10) is the target; the
reference is the same room under x -> A x + b (A = yaw . optional x-mirror . uniform scale s) with
`num_removed` objects outside the RoI taken away and `num_added` other objects put in free floor
space first. Object models are the same in both scenes but their surface points are drawn
independently, so keypoints never coincide by construction. The RoI is a random object and its
nearest neighbours; the trajectory runs through the RoI objects' box centres at 0.5 m height,
every 5 cm, heading along the path. Ground truth of any target point x is A x + b.

`symmetric_pair()`: a dining table with one chair on each side, facing it, and a far-away sofa, and a
rotated copy: the RoI (table + both chairs) has two equally good analogies (chairs kept or swapped).

`write_scene(objects, path, fmt, up)` writes a scene as `ply` (instance + label properties),
`ply_grey` (grey-coded, no labels), `npz` or `meshes` (a folder, one `<id>_<class name>.ply` mesh per
object), in the file frame of `up`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .classes import THREED_FRONT
from .evaluation import choose_roi
from .geometry import box_corners_xz, points_in_polygon, rectangles_overlap, yaw_matrix
from .own_data import UP_ROTATIONS, write_npz_scene, write_ply_scene
from .match.synthetic_pairs import true_linear

__all__ = ["PairConfig", "SceneObjectCloud", "OwnPair", "make_pair", "symmetric_pair", "write_scene", "FORMATS"]

FORMATS = ("ply", "ply_grey", "npz", "meshes")


@functools.lru_cache(maxsize=2)
def _models(seed: int = 0) -> dict:
    from .synthetic.objects import build_models

    return {m.info.model_id: m for m in build_models(seed)}


@dataclass
class SceneObjectCloud:
    """One object of a scene: instance id, class id, its posed mesh (y-up world) and surface points."""

    instance: int
    class_id: int
    mesh: object
    points: np.ndarray


@dataclass(frozen=True)
class PairConfig:
    seed: int = 0
    yaw: float = 2.0  # radians
    mirror: bool = True
    scale: float = 1.15
    offset: tuple[float, float, float] = (4.0, 0.0, -3.0)
    num_removed: int = 2
    num_added: int = 3
    roi_size: int = 3
    points_per_object: int = 1000


@dataclass
class OwnPair:
    target: list[SceneObjectCloud]
    reference: list[SceneObjectCloud]
    roi_ids: np.ndarray
    linear: np.ndarray
    offset: np.ndarray
    same_object: dict[int, int] = field(default_factory=dict)  # target id -> reference id of kept objects
    trajectory: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    trajectory_yaw: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def truth(self, points: np.ndarray) -> np.ndarray:
        """Where target points (y-up) really go: A x + b."""
        return np.asarray(points) @ self.linear.T + self.offset

    def truth_yaw(self, yaw: np.ndarray) -> np.ndarray:
        """Headings (y-up yaw: forward (cos t, 0, -sin t)) carried by A."""
        forward = np.stack([np.cos(yaw), np.zeros_like(yaw), -np.sin(yaw)], 1) @ self.linear.T
        return np.arctan2(-forward[:, 2], forward[:, 0])

    def score(self, m, tau: float = 0.25) -> dict:
        """How well a y-up map m recovers the truth: RoI PCP@tau as DESIGN §6 defines it (with the
        reflection allowance for reflection-symmetric RoIs) and without the allowance (`roi_pcp_raw`),
        the fraction of trajectory points within tau of the truth (raw), median errors (metres) and
        the worst trajectory heading error (degrees)."""
        from .metrics import reflection_aware_errors

        roi = m.roi_points
        mapped = m.apply(roi)
        roi_err = np.linalg.norm(mapped - self.truth(roi), axis=1)
        pcp_err = reflection_aware_errors(mapped, self.truth(roi))
        path_err = np.linalg.norm(m.apply(self.trajectory) - self.truth(self.trajectory), axis=1)
        from .transfer import PointList, transfer_points

        moved = transfer_points(m, PointList(self.trajectory, self.trajectory_yaw, None, ""), "y").yaw
        heading = np.degrees(np.abs(np.angle(np.exp(1j * (moved - self.truth_yaw(self.trajectory_yaw))))))
        return {"roi_pcp": float(np.mean(pcp_err < tau)), "roi_pcp_raw": float(np.mean(roi_err < tau)),
                "trajectory_within": float(np.mean(path_err < tau)),
                "roi_median_error": float(np.median(roi_err)), "trajectory_median_error": float(np.median(path_err)),
                "heading_max_error_deg": float(heading.max())}


def _posed(model, scale, yaw, trans):
    mesh = model.mesh.copy()
    mesh.vertices = (np.asarray(mesh.vertices) * scale) @ yaw_matrix(yaw).T + trans
    return mesh


def _sampled(mesh, rng, count: int) -> np.ndarray:
    import trimesh

    return np.asarray(trimesh.sample.sample_surface(mesh, count, seed=rng)[0])


def _moved(obj: SceneObjectCloud, linear, offset, instance: int, rng, count: int) -> SceneObjectCloud:
    mesh = obj.mesh.copy()
    mesh.vertices = np.asarray(mesh.vertices) @ linear.T + offset
    return SceneObjectCloud(instance, obj.class_id, mesh, _sampled(mesh, rng, count))


def _footprint(points: np.ndarray) -> np.ndarray:
    lo, hi = points[:, [0, 2]].min(0), points[:, [0, 2]].max(0)
    return np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])


def _path_through(centres: np.ndarray, step: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """A polyline through the centres (xz, at 0.5 m), extended by 0.5 m at both ends; points and yaws."""
    xz = centres[:, [0, 2]]
    ends = [xz[0] + 0.5 * _unit(xz[0] - xz[1]), xz[-1] + 0.5 * _unit(xz[-1] - xz[-2])]
    knots = np.vstack([ends[0], xz, ends[1]])
    seg = np.diff(knots, axis=0)
    length = np.linalg.norm(seg, axis=1)
    s = np.arange(0.0, length.sum(), step)
    k = np.minimum(np.searchsorted(np.cumsum(length), s, side="right"), len(seg) - 1)
    t = (s - np.concatenate([[0.0], np.cumsum(length)[:-1]])[k]) / length[k]
    flat = knots[k] + t[:, None] * seg[k]
    points = np.stack([flat[:, 0], np.full(len(s), 0.5), flat[:, 1]], 1)
    yaw = np.arctan2(-seg[k, 1], seg[k, 0])  # y-up yaw: forward (cos t, 0, -sin t)
    return points, yaw


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def make_pair(cfg: PairConfig = PairConfig()) -> OwnPair:
    """The pair of the module docstring, deterministic for cfg.seed."""
    from .pool import ObjectPool
    from .synthetic.rooms import generate_room

    models = _models(0)
    pool = ObjectPool([m.info for m in models.values()])
    rng = np.random.default_rng([cfg.seed, 9])  # the layout: independent of the point count
    sampler = np.random.default_rng([cfg.seed, 10])
    need = cfg.roi_size + cfg.num_removed + 1
    layout = generate_room(pool, "test", rng, (max(need, 6), 12))
    n = len(layout.objects)
    ids = rng.permutation(np.arange(1, n + 1))  # instance ids 1..N, not in object order
    target = []
    for k, o in enumerate(layout.objects):
        mesh = _posed(models[o.model_id], o.scale, o.yaw, o.trans)
        target.append(SceneObjectCloud(int(ids[k]), o.class_id, mesh, _sampled(mesh, sampler, cfg.points_per_object)))
    centres = np.stack([t.mesh.bounds.mean(0) for t in target])
    roi = choose_roi(np.zeros(n, dtype=np.int64), centres, rng, extra=(cfg.roi_size - 1, cfg.roi_size - 1))
    others = np.setdiff1d(np.arange(n), roi)
    removed = rng.choice(others, cfg.num_removed, replace=False)

    # Added objects: models of other rooms, dropped at free spots of the target's floor.
    quads = np.stack([_footprint(t.mesh.vertices) for t in target])
    added, tries = [], 0
    while len(added) < cfg.num_added:
        tries += 1
        info = pool.models[int(rng.integers(len(pool)))]
        if info.class_name == "lighting" or info.split != "test":
            continue
        crowded = tries > 1000  # a full room: put them just outside it (scans often reach past a wall)
        margin = 1.5 if crowded else 0.0
        xz = rng.uniform(layout.outline.min(0) - margin, layout.outline.max(0) + margin)
        mesh = _posed(models[info.model_id], np.ones(3), rng.uniform(0, 2 * np.pi),
                      np.array([xz[0], -info.bbox_min[1], xz[1]]))
        quad = _footprint(np.asarray(mesh.vertices))
        inside = crowded or points_in_polygon(quad, layout.outline).all()
        if inside and not rectangles_overlap(quad, quads, 0.15).any():
            added.append(SceneObjectCloud(0, info.class_id, mesh, _sampled(mesh, sampler, cfg.points_per_object)))
            quads = np.concatenate([quads, quad[None]])
    linear = true_linear(cfg.yaw, cfg.mirror, 1.0) * cfg.scale
    offset = np.asarray(cfg.offset, dtype=np.float64)
    kept = [target[k] for k in range(n) if k not in set(removed.tolist())] + added
    ref_ids = rng.permutation(len(kept)) + 10
    reference = [_moved(o, linear, offset, int(i), sampler, cfg.points_per_object) for o, i in zip(kept, ref_ids)]
    path, yaw = _path_through(centres[roi])
    same = {o.instance: int(i) for o, i in zip(kept, ref_ids) if o.instance > 0}  # added objects have id 0
    return OwnPair(target, reference, np.array([target[k].instance for k in roi]), linear, offset, same, path, yaw)


def symmetric_pair(yaw: float = 0.7, offset=(2.0, 0.0, 1.0), points_per_object: int = 800, seed: int = 0) -> OwnPair:
    """A table with one chair on each side facing it, a sofa 3 m away; the reference is a rotated copy."""
    models = _models(0)
    pick = lambda sub: next(m for m in models.values() if m.info.subclass == sub and m.info.split == "test")  # noqa: E731
    table, chair, sofa = pick("dining_table"), pick("dining_chair"), pick("multi_seat_sofa")
    rng = np.random.default_rng(seed)
    gap = table.info.size[2] / 2 + 0.1 + chair.info.size[2] / 2
    placements = [(table, 0.0, (0.0, 0.0)), (chair, np.pi, (0.0, gap)), (chair, 0.0, (0.0, -gap)),
                  (sofa, np.pi / 2, (-3.5, 0.0))]
    target = []
    for k, (model, yaw_k, (x, z)) in enumerate(placements):
        trans = np.array([x, -model.info.bbox_min[1], z]) - np.r_[yaw_matrix(yaw_k) @ model.info.centre * [1, 0, 1]]
        mesh = _posed(model, np.ones(3), yaw_k, trans)
        target.append(SceneObjectCloud(k, model.info.class_id, mesh, _sampled(mesh, rng, points_per_object)))
    linear, offset = yaw_matrix(yaw), np.asarray(offset, dtype=np.float64)
    reference = [_moved(o, linear, offset, o.instance, rng, points_per_object) for o in target]
    return OwnPair(target, reference, np.array([0, 1, 2]), linear, offset, {o.instance: o.instance for o in target})


def scene_arrays(objects: list[SceneObjectCloud]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(points (P, 3) y-up, instance (P,), class ids (P,)) of a list of objects."""
    counts = [len(o.points) for o in objects]
    return (np.concatenate([o.points for o in objects]), np.repeat([o.instance for o in objects], counts),
            np.repeat([o.class_id for o in objects], counts))


def write_scene(objects: list[SceneObjectCloud], path, fmt: str, up: str = "y") -> Path:
    """Write a scene in one of FORMATS in the file frame of `up`; returns the path written."""
    to_file = UP_ROTATIONS[up]  # y-up = file @ C.T, so file = y-up @ C
    points, instance, labels = scene_arrays(objects)
    points = points @ to_file
    path = Path(path)
    if fmt == "ply":
        write_ply_scene(path, points, instance, labels)
    elif fmt == "ply_grey":
        write_ply_scene(path, points, instance, grey_levels=int(instance.max()))
    elif fmt == "npz":
        names = np.array([THREED_FRONT.names[c] for c in labels])  # names, to exercise the name mapping
        write_npz_scene(path, points, instance, names)
    elif fmt == "meshes":
        from . import atomic

        path.mkdir(parents=True, exist_ok=True)
        for o in objects:
            mesh = o.mesh.copy()
            mesh.vertices = np.asarray(mesh.vertices) @ to_file
            name = THREED_FRONT.names[o.class_id].split("/")[-1]
            with atomic.atomic_path(path / f"{o.instance}_{name}.ply", suffix=".ply") as tmp:
                mesh.export(tmp, file_type="ply")
    else:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    return path
