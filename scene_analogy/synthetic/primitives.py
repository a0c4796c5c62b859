"""Mesh primitives for the procedural furniture designs (DESIGN §10).

`Parts` accumulates closed primitive meshes (boxes, frusta, ellipsoids and rods built from them) in the
pool's canonical frame: metres, +y up, the side a person uses faces +z.

The primitives are built directly as numpy arrays rather than through `trimesh.creation`: a model is
a few dozen parts, and trimesh's per-primitive validation would make `build_pool` (which only needs
bounds) cost seconds instead of tens of milliseconds. Meshes are a union of closed parts, not
watertight as a whole, which is all surface sampling needs.
"""

from __future__ import annotations

import math

import numpy as np

# Unit-cube corners in itertools.product order (index = 4*ix + 2*iy + iz) and outward-wound faces.
_CUBE = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
_CUBE_FACES = np.array([[0, 1, 3], [0, 3, 2], [4, 7, 5], [4, 6, 7], [0, 4, 5], [0, 5, 1],
                        [2, 7, 6], [2, 3, 7], [0, 2, 6], [0, 6, 4], [1, 7, 3], [1, 5, 7]])


def rot_x(a: float) -> np.ndarray:
    """Rotation about +x by `a` radians (a < 0 tilts +y towards -z: a reclining back)."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def spokes(count: int, start: float = np.pi / 2) -> np.ndarray:
    """`count` evenly spaced angles (radians) from `start`: the directions of tripod legs, lamp arms."""
    return start + 2 * np.pi * np.arange(count) / count


class Parts:
    """Accumulates closed primitive meshes; `arrays()` concatenates them into one (V, F) pair."""

    def __init__(self) -> None:
        self._vertices: list[np.ndarray] = []
        self._faces: list[np.ndarray] = []
        self._count = 0

    def _add(self, vertices: np.ndarray, faces: np.ndarray) -> None:
        self._vertices.append(vertices)
        self._faces.append(faces + self._count)
        self._count += len(vertices)

    def box(self, size, centre, rot: np.ndarray | None = None) -> None:
        """An axis-aligned (or `rot`-rotated about its centre) box of full extents `size`."""
        corners = _CUBE * np.asarray(size, dtype=float)
        if rot is not None:
            corners = corners @ rot.T
        self._add(corners + np.asarray(centre, dtype=float), _CUBE_FACES)

    def span(self, lo, hi) -> None:
        """The axis-aligned box between corners `lo` and `hi`."""
        lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
        self.box(hi - lo, (lo + hi) / 2)

    def frustum(self, p0, p1, r0: float, r1: float | None = None, sections: int = 16) -> None:
        """A capped cone frustum (a cylinder when r1 is None) from point p0 to point p1."""
        p0, p1 = np.asarray(p0, dtype=float), np.asarray(p1, dtype=float)
        axis = (p1 - p0) / np.linalg.norm(p1 - p0)
        helper = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 1.0, 0])
        u = np.cross(helper, axis)
        u /= np.linalg.norm(u)
        v = np.cross(axis, u)  # (u, v, axis) is right-handed, so the winding below faces outwards
        t = np.linspace(0, 2 * np.pi, sections, endpoint=False)
        circle = np.cos(t)[:, None] * u + np.sin(t)[:, None] * v
        r1 = r0 if r1 is None else r1
        vertices = np.concatenate([p0 + r0 * circle, p1 + r1 * circle, [p0, p1]])
        i = np.arange(sections)
        j = (i + 1) % sections
        n = sections
        faces = np.concatenate([
            np.stack([i, j, n + j], 1), np.stack([i, n + j, n + i], 1),
            np.stack([np.full(n, 2 * n), j, i], 1), np.stack([np.full(n, 2 * n + 1), n + i, n + j], 1),
        ])
        self._add(vertices, faces)

    def cyl(self, r: float, y0: float, y1: float, x: float = 0.0, z: float = 0.0, r1: float | None = None,
            sections: int = 24) -> None:
        """A vertical cylinder (or frustum with top radius r1) standing on y0."""
        self.frustum((x, y0, z), (x, y1, z), r, r1, sections)

    def ellipsoid(self, centre, radii, sections: int = 12) -> None:
        """A latitude-longitude ellipsoid with semi-axes `radii`."""
        lat = np.linspace(0, np.pi, sections // 2 + 1)[1:-1]
        lon = np.linspace(0, 2 * np.pi, sections, endpoint=False)
        ring = np.stack([np.sin(lat)[:, None] * np.cos(lon), -np.cos(lat)[:, None] + 0 * lon,
                         np.sin(lat)[:, None] * np.sin(lon)], -1).reshape(-1, 3)
        unit = np.concatenate([[[0, -1.0, 0]], ring, [[0, 1.0, 0]]])
        rows, n = len(lat), sections
        i = np.arange(n)
        j = (i + 1) % n
        faces = [np.stack([np.zeros(n, int), 1 + i, 1 + j], 1)]
        for r in range(rows - 1):
            a, b = 1 + r * n, 1 + (r + 1) * n
            faces += [np.stack([a + i, b + i, b + j], 1), np.stack([a + i, b + j, a + j], 1)]
        top = len(unit) - 1
        faces.append(np.stack([np.full(n, top), 1 + (rows - 1) * n + j, 1 + (rows - 1) * n + i], 1))
        self._add(unit * np.asarray(radii, dtype=float) + np.asarray(centre, dtype=float), np.concatenate(faces))

    def polyline(self, points, r: float, sections: int = 8) -> None:
        """Rods along consecutive points (a bent tube: lamp arcs, rings, chair frames)."""
        for a, b in zip(points[:-1], points[1:]):
            self.frustum(a, b, r, sections=sections)

    def ring(self, centre, radius: float, r: float, segments: int = 16, plane: str = "xz") -> None:
        """A closed ring of rods around `centre` in the xz (horizontal) or xy (vertical) plane."""
        t = np.linspace(0, 2 * np.pi, segments + 1)
        a, b = radius * np.cos(t), radius * np.sin(t)
        offset = np.stack([a, 0 * t, b], 1) if plane == "xz" else np.stack([a, b, 0 * t], 1)
        self.polyline(np.asarray(centre, dtype=float) + offset, r)

    def rect_loop(self, x: float, y: float, z: float, r: float, sections: int = 8) -> None:
        """A closed horizontal rectangle of rods through (±x, y, ±z): stretchers, canopy frames."""
        self.polyline(np.array([(-x, y, -z), (x, y, -z), (x, y, z), (-x, y, z), (-x, y, -z)]), r, sections)

    def legs(self, xs, zs, y0: float, y1: float, t: float, round_legs: bool = False, taper: float = 1.0) -> None:
        """One leg at every (x, z) in xs × zs, from y0 to y1: square of side t or round of diameter t.

        Round legs taper from diameter t at the top to `taper` * t at the bottom.
        """
        for x in xs:
            for z in zs:
                if round_legs:
                    self.cyl(t / 2 * taper, y0, y1, x, z, r1=t / 2, sections=10)
                else:
                    self.box((t, y1 - y0, t), (x, (y0 + y1) / 2, z))

    def corner_legs(self, width: float, depth: float, inset: float, height: float, t: float,
                    round_legs: bool = False, taper: float = 1.0, inset_z: float | None = None) -> None:
        """Four floor-standing legs `inset` inside the corners of a width × depth footprint centred at 0.

        `inset_z` (default `inset`) is the inset along z when it differs from the one along x.
        """
        inset_z = inset if inset_z is None else inset_z
        self.legs((-width / 2 + inset, width / 2 - inset), (-depth / 2 + inset_z, depth / 2 - inset_z),
                  0, height, t, round_legs, taper)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All parts as one (vertices (V, 3) float64, faces (F, 3) int64) pair."""
        return np.concatenate(self._vertices), np.concatenate(self._faces).astype(np.int64)
