"""Furniture sub-assemblies that several designs share (DESIGN §10).

Each function adds the parts of one recurring piece (a bed's frame, a sofa section, a swivel base, a
grid of drawer fronts, ...) to a `Parts` in the canonical frame: metres, +y up, front towards +z.
"""

from __future__ import annotations

import math

import numpy as np

from scene_analogy.synthetic.primitives import Parts, rot_x


def pillows(p: Parts, width: float, y: float, z: float, count: int) -> None:
    """`count` pillows side by side across `width`, resting on y, centred at depth z."""
    for k in range(count):
        x = (k + 0.5) / count * width - width / 2
        p.ellipsoid((x, y + 0.06, z), (width / count * 0.42, 0.07, 0.18))


def mattress(p: Parts, w: float, length: float, bottom: float, top: float, inset: float) -> None:
    """A mattress from `bottom` to `top` on a w x length bed centred at the origin, `inset` in from its edges."""
    p.span((-w / 2 + inset, bottom, -length / 2 + inset), (w / 2 - inset, top, length / 2 - inset))


def bed_frame(p: Parts, w: float, length: float, leg: float, mattress_height: float) -> float:
    """Legs, side frame and mattress of a bed centred at the origin; returns the mattress top."""
    p.corner_legs(w, length, 0.04, leg, 0.07)
    p.span((-w / 2, leg, -length / 2), (w / 2, leg + 0.18, length / 2))
    top = leg + 0.18 + mattress_height
    mattress(p, w, length, leg + 0.18, top, 0.03)
    return top


def block_bed_base(rng, width: tuple[float, float], height: tuple[float, float]) -> tuple[Parts, float, float, float]:
    """A single bed's solid base down to the floor, width and height drawn from the given ranges and
    length from 1.95-2.05 m: (parts, width, length, base height)."""
    p, w, length = Parts(), rng.uniform(*width), rng.uniform(1.95, 2.05)
    base = rng.uniform(*height)
    p.span((-w / 2, 0, -length / 2), (w / 2, base, length / 2))
    return p, w, length, base


def sofa_block(p: Parts, x0, x1, z0, z1, leg, seat, back, cushions, back_side=("-z",)) -> None:
    """Base, seat cushions and back cushions of a sofa section spanning x0..x1 (back) z0..z1 (front).

    `back_side` lists which edges carry a back rest: "-z" (behind) and/or "-x" (left end).
    """
    p.span((x0, leg, z0), (x1, seat - 0.12, z1))
    bt = 0.2  # back-rest thickness
    sx0 = x0 + (bt if "-x" in back_side else 0)
    sz0 = z0 + (bt if "-z" in back_side else 0)
    # Seat and back cushions share the split of the seat run (the part beside a "-x" back rest).
    bounds = [(sx0 + (x1 - sx0) * k / cushions, sx0 + (x1 - sx0) * (k + 1) / cushions) for k in range(cushions)]
    for a, b in bounds:
        p.span((a + 0.01, seat - 0.12, sz0), (b - 0.01, seat, z1))
    if "-z" in back_side:
        p.span((x0, leg, z0), (x1, back, z0 + bt))
        for a, b in bounds:
            p.box((b - a - 0.03, back - seat - 0.05, 0.14), ((a + b) / 2, (seat + back - 0.05) / 2, z0 + bt + 0.07),
                  rot_x(-0.12))
    if "-x" in back_side:
        p.span((x0, leg, z0), (x0 + bt, back, z1))


def star_base(p: Parts, radius: float, arms: int, y: float, r: float) -> None:
    """An office-chair spider base: `arms` spokes with caster balls at the ends."""
    for k in range(arms):
        a = 2 * np.pi * k / arms + np.pi / 2
        end = (radius * math.cos(a), y - 0.02, radius * math.sin(a))
        p.frustum((0, y, 0), end, r, r * 0.7, sections=6)
        p.ellipsoid((end[0], 0.025, end[2]), (0.025, 0.025, 0.025), sections=8)


def pendant_top(p: Parts, h: float, drop: float) -> None:
    """Ceiling canopy at the top of a pendant and its cord hanging down to h - drop."""
    p.cyl(0.06, h - 0.03, h, r1=0.04)
    p.cyl(0.005, h - drop, h - 0.03, sections=6)


def fronts(p: Parts, x0, x1, y0, y1, z, columns: int, rows: int, handle: str = "knob") -> None:
    """A grid of door / drawer fronts on the +z face z of a carcass, each with a knob or a bar."""
    dx, dy = (x1 - x0) / columns, (y1 - y0) / rows
    for c in range(columns):
        for r in range(rows):
            cx, cy = x0 + (c + 0.5) * dx, y0 + (r + 0.5) * dy
            p.box((dx - 0.006, dy - 0.006, 0.018), (cx, cy, z + 0.009))
            if handle == "knob":
                p.ellipsoid((cx, cy + 0.25 * dy, z + 0.025), (0.015, 0.015, 0.012), sections=8)
            else:  # vertical bar next to the door's inner edge
                hx = cx + (0.35 if c % 2 == 0 else -0.35) * dx
                p.box((0.015, min(0.3, 0.5 * dy), 0.02), (hx, cy, z + 0.028))
