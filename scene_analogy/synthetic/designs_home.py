"""Furniture designs of classes 0-3: bed, pier/stool, others and sofa (DESIGN §10).

Each design is a function `rng -> Parts` that draws its dimensions from a seeded numpy Generator and
assembles the model from primitives (`primitives.py`) and shared sub-assemblies (`assemblies.py`).
The frame is the canonical one of the pool: metres, +y up, the side a person uses faces +z (a bed's
headboard is at -z). Designs may build anywhere; `objects.py` moves every model so its bottom is at
y = 0 and its bounding box is centred at x = z = 0. A design's function name seeds its variants, so
renaming one changes its shapes.
"""

from __future__ import annotations

import numpy as np

from scene_analogy.ops.geometry import yaw_matrix
from scene_analogy.synthetic.assemblies import bed_frame, block_bed_base, mattress, pillows, sofa_block
from scene_analogy.synthetic.primitives import Parts, rot_x, spokes


# ----------------------------------------------------------------------------------------- bed (0)
def double_platform_bed(rng) -> Parts:
    """Low platform bed on a recessed plinth, no headboard."""
    p, w, length = Parts(), rng.uniform(1.55, 1.9), rng.uniform(1.98, 2.2)
    base = rng.uniform(0.2, 0.3)
    p.span((-w / 2 + 0.1, 0, -length / 2 + 0.1), (w / 2 - 0.1, 0.09, length / 2 - 0.1))
    p.span((-w / 2, 0.09, -length / 2), (w / 2, base, length / 2))
    top = base + rng.uniform(0.18, 0.26)
    mattress(p, w, length, base, top, 0.04)
    pillows(p, w - 0.1, top, -length / 2 + 0.3, 2)
    return p


def double_panel_bed(rng) -> Parts:
    """Double bed on legs with a tall upholstered panel headboard reaching the floor."""
    p, w, length = Parts(), rng.uniform(1.5, 1.85), rng.uniform(1.95, 2.12)
    top = bed_frame(p, w, length, rng.uniform(0.12, 0.22), rng.uniform(0.2, 0.26))
    head = rng.uniform(1.0, 1.3)
    p.span((-w / 2 - 0.05, 0, -length / 2 - 0.1), (w / 2 + 0.05, head, -length / 2))
    p.frustum((-w / 2 - 0.05, head, -length / 2 - 0.05), (w / 2 + 0.05, head, -length / 2 - 0.05), 0.06)
    p.span((-w / 2 + 0.05, top, -length / 2), (w / 2 - 0.05, head - 0.1, -length / 2 + 0.06))
    pillows(p, w - 0.1, top, -length / 2 + 0.3, 2)
    return p


def four_poster_bed(rng) -> Parts:
    """Double bed with four tall posts joined by a canopy frame, low head and foot boards."""
    p, w, length = Parts(), rng.uniform(1.55, 1.9), rng.uniform(2.0, 2.18)
    top = bed_frame(p, w - 0.1, length - 0.1, rng.uniform(0.18, 0.25), 0.22)
    height, x, z = rng.uniform(1.9, 2.2), w / 2 - 0.04, length / 2 - 0.04
    p.legs((-x, x), (-z, z), 0, height, 0.08, round_legs=True)
    p.rect_loop(x, height, z, 0.03)
    p.span((-x, 0.35, -z - 0.025), (x, rng.uniform(0.9, 1.2), -z + 0.025))
    p.span((-x, 0.35, z - 0.025), (x, rng.uniform(0.55, 0.7), z + 0.025))
    pillows(p, w - 0.2, top, -length / 2 + 0.3, 2)
    return p


def spindle_single_bed(rng) -> Parts:
    """Single bed with spindle headboard and footboard between round posts."""
    p, w, length = Parts(), rng.uniform(0.95, 1.25), rng.uniform(1.98, 2.12)
    top = bed_frame(p, w - 0.08, length - 0.08, rng.uniform(0.18, 0.28), 0.2)
    x, z = w / 2 - 0.03, length / 2 - 0.03
    for zz, h in ((-z, rng.uniform(0.9, 1.1)), (z, rng.uniform(0.6, 0.75))):
        p.legs((-x, x), (zz,), 0, h + 0.05, 0.06, round_legs=True)
        p.frustum((-x, h, zz), (x, h, zz), 0.03)
        p.frustum((-x, 0.32, zz), (x, 0.32, zz), 0.025)
        for sx in np.linspace(-x, x, int(rng.integers(6, 10)))[1:-1]:
            p.frustum((sx, 0.32, zz), (sx, h, zz), 0.012, sections=6)
    pillows(p, w - 0.3, top, -length / 2 + 0.3, 1)
    return p


def upholstered_single_bed(rng) -> Parts:
    """Single sleigh bed: skirted base, thick upholstered head and foot boards with rolled tops."""
    p, w, length, base = block_bed_base(rng, (0.95, 1.3), (0.3, 0.4))
    top = base + rng.uniform(0.18, 0.25)
    mattress(p, w, length, base, top, 0.02)
    thick = rng.uniform(0.1, 0.15)
    for side, height in ((-1, rng.uniform(0.95, 1.2)), (1, top + rng.uniform(0.1, 0.2))):
        z0, z1 = sorted((side * length / 2, side * (length / 2 + thick)))
        p.span((-w / 2 - 0.04, 0, z0), (w / 2 + 0.04, height - thick / 2, z1))
        zc = (z0 + z1) / 2
        p.frustum((-w / 2 - 0.04, height - thick / 2, zc), (w / 2 + 0.04, height - thick / 2, zc), thick / 2)
    pillows(p, w - 0.3, top, -length / 2 + 0.3, 1)
    return p


def storage_single_bed(rng) -> Parts:
    """Single captain's bed: drawer base to the floor and a deep open bookcase headboard."""
    p, w, length, base = block_bed_base(rng, (0.95, 1.25), (0.35, 0.45))
    for z in np.linspace(-length / 2, length / 2, 4)[:-1] + length / 6:
        p.box((0.02, base - 0.1, length / 3 - 0.06), (w / 2 + 0.01, base / 2, z))
    top = base + 0.2
    mattress(p, w, length, base, top, 0.02)
    head, deep = rng.uniform(0.9, 1.15), rng.uniform(0.25, 0.32)
    z0 = -length / 2 - deep
    p.span((-w / 2, 0, z0), (w / 2, head, z0 + 0.02))
    for x in (-w / 2 + 0.01, 0, w / 2 - 0.01):
        p.box((0.02, head, deep), (x, head / 2, z0 + deep / 2))
    for y in (base + 0.25, head - 0.01):
        p.box((w, 0.02, deep), (0, y, z0 + deep / 2))
    pillows(p, w - 0.3, top, -length / 2 + 0.3, 1)
    return p


# ---------------------------------------------------------------------------------- pier/stool (1)
def bar_stool(rng) -> Parts:
    """Tall stool: round seat, four splayed legs and a foot ring."""
    p, seat, r = Parts(), rng.uniform(0.62, 0.8), rng.uniform(0.16, 0.2)
    p.cyl(r, seat - 0.05, seat)
    spread = rng.uniform(0.2, 0.25)
    for a in spokes(4, np.pi / 4):
        p.frustum((spread * np.cos(a), 0, spread * np.sin(a)), (0.1 * np.cos(a), seat - 0.05, 0.1 * np.sin(a)),
                  0.018, sections=8)
    ring_y = rng.uniform(0.25, 0.32)
    p.ring((0, ring_y, 0), spread - (spread - 0.1) * ring_y / seat, 0.012)
    return p


def square_stool(rng) -> Parts:
    """Low wooden stool: square top, four legs and side stretchers."""
    p, s, h = Parts(), rng.uniform(0.3, 0.4), rng.uniform(0.42, 0.5)
    p.box((s, 0.04, s), (0, h - 0.02, 0))
    x = s / 2 - 0.04
    p.legs((-x, x), (-x, x), 0, h - 0.04, 0.035)
    p.rect_loop(x, 0.15, x, 0.012, sections=6)  # side stretchers
    return p


def pedestal_stool(rng) -> Parts:
    """Round seat on a central column and a heavy disc base."""
    p, h, r = Parts(), rng.uniform(0.45, 0.8), rng.uniform(0.17, 0.2)
    p.cyl(rng.uniform(0.18, 0.22), 0, 0.03, r1=0.15)
    p.cyl(0.03, 0.03, h - 0.06)
    p.cyl(r, h - 0.07, h - 0.02)
    p.ellipsoid((0, h - 0.02, 0), (r, 0.03, r), sections=16)
    return p


def cube_ottoman(rng) -> Parts:
    """Upholstered box pouf with a cushion top on small bun feet."""
    p, w, h = Parts(), rng.uniform(0.45, 0.65), rng.uniform(0.38, 0.45)
    d = w * rng.uniform(0.8, 1.0)
    p.span((-w / 2, 0.04, -d / 2), (w / 2, h - 0.08, d / 2))
    p.span((-w / 2 - 0.01, h - 0.08, -d / 2 - 0.01), (w / 2 + 0.01, h, d / 2 + 0.01))
    for x in (-w / 2 + 0.05, w / 2 - 0.05):
        for z in (-d / 2 + 0.05, d / 2 - 0.05):
            p.ellipsoid((x, 0.03, z), (0.03, 0.03, 0.03), sections=8)
    return p


def round_ottoman(rng) -> Parts:
    """Drum pouf with a domed top."""
    p, r, h = Parts(), rng.uniform(0.22, 0.32), rng.uniform(0.35, 0.42)
    p.cyl(r * 0.85, 0, 0.03, sections=32)
    p.cyl(r, 0.03, h - 0.04, sections=32)
    p.ellipsoid((0, h - 0.04, 0), (r, 0.04, r), sections=24)
    return p


def bench_ottoman(rng) -> Parts:
    """Long upholstered bench on four slim legs with a stretcher frame."""
    p, w, d, h = Parts(), rng.uniform(1.0, 1.4), rng.uniform(0.38, 0.5), rng.uniform(0.42, 0.48)
    p.span((-w / 2, h - 0.14, -d / 2), (w / 2, h, d / 2))
    x, z = w / 2 - 0.05, d / 2 - 0.05
    p.legs((-x, x), (-z, z), 0, h - 0.14, 0.04, round_legs=True, taper=0.6)
    p.rect_loop(x, 0.12, z, 0.012)
    return p


# -------------------------------------------------------------------------------------- others (2)
def bush_plant(rng) -> Parts:
    """Tapered pot with a round cluster of foliage."""
    p, pot_h, r = Parts(), rng.uniform(0.25, 0.4), rng.uniform(0.15, 0.22)
    p.cyl(r * 0.7, 0, pot_h, r1=r)
    p.ring((0, pot_h, 0), r, 0.015)
    for _ in range(int(rng.integers(4, 7))):
        c = rng.uniform(-1, 1, 3) * (r * 0.8, 0.1, r * 0.8) + (0, pot_h + 0.22, 0)
        p.ellipsoid(c, rng.uniform(0.12, 0.22, 3), sections=10)
    return p


def potted_tree(rng) -> Parts:
    """Tall indoor tree: cylinder pot, thin trunk, foliage crown at the top."""
    p, pot_h, r, h = Parts(), rng.uniform(0.35, 0.5), rng.uniform(0.18, 0.24), rng.uniform(1.3, 1.7)
    p.cyl(r, 0, pot_h)
    p.cyl(0.025, pot_h, h - 0.2, sections=8)
    for _ in range(int(rng.integers(5, 9))):
        c = rng.uniform(-1, 1, 3) * (0.22, 0.2, 0.22) + (0, h - 0.25, 0)
        p.ellipsoid(c, rng.uniform(0.13, 0.2, 3), sections=10)
    return p


def spiky_plant(rng) -> Parts:
    """Square planter with tall blade leaves fanning out (snake plant)."""
    p, s, pot_h = Parts(), rng.uniform(0.25, 0.35), rng.uniform(0.3, 0.45)
    p.box((s, pot_h, s), (0, pot_h / 2, 0))
    count = int(rng.integers(7, 12))
    for k in range(count):
        a, tilt, length = 2 * np.pi * k / count, rng.uniform(0.05, 0.4), rng.uniform(0.4, 0.75)
        foot = np.array([0.05 * np.cos(a), pot_h, 0.05 * np.sin(a)])
        tip = foot + length * np.array([np.sin(tilt) * np.cos(a), np.cos(tilt), np.sin(tilt) * np.sin(a)])
        p.frustum(foot, tip, 0.035, 0.004, sections=4)
    return p


def floor_vase(rng) -> Parts:
    """Tall floor vase with a turned profile: foot, belly, shoulder, neck and lip."""
    p, h, belly = Parts(), rng.uniform(0.45, 0.9), rng.uniform(0.12, 0.2)
    ys = h * np.array([0, 0.05, rng.uniform(0.3, 0.45), 0.75, 0.9, 1.0])
    rs = belly * np.array([0.55, 0.6, 1.0, rng.uniform(0.45, 0.6), 0.35, rng.uniform(0.45, 0.6)])
    for k in range(len(ys) - 1):
        p.cyl(rs[k], ys[k], ys[k + 1], r1=rs[k + 1])
    return p


def plinth_sculpture(rng) -> Parts:
    """Sculpture on a plinth: square column, a ball and a vertical hoop."""
    p, s, h = Parts(), rng.uniform(0.3, 0.4), rng.uniform(0.8, 1.0)
    p.box((s, h, s), (0, h / 2, 0))
    ball = rng.uniform(0.1, 0.16)
    p.ellipsoid((0, h + ball, 0), (ball, ball, ball), sections=16)
    hoop = rng.uniform(0.18, 0.26)
    p.ring((0, h + hoop + 0.02, 0), hoop, 0.02, segments=20, plane="xy")
    return p


def folding_screen(rng) -> Parts:
    """Room-divider screen: three or four tall panels folded in a zig-zag."""
    p, count, w, h = Parts(), int(rng.integers(3, 5)), rng.uniform(0.4, 0.5), rng.uniform(1.6, 1.8)
    hinge, angle = np.zeros(3), np.deg2rad(rng.uniform(20, 35))
    for k in range(count):
        a = angle if k % 2 == 0 else -angle
        turn = yaw_matrix(a)
        direction = turn[:, 0]  # the panel's width axis: local +x turned by a
        p.box((w, h - 0.04, 0.03), hinge + direction * w / 2 + (0, h / 2 + 0.02, 0), turn)
        p.cyl(0.015, 0, h, hinge[0], hinge[2], sections=6)
        hinge = hinge + direction * w
    p.cyl(0.015, 0, h, hinge[0], hinge[2], sections=6)
    return p


def standing_mirror(rng) -> Parts:
    """Free-standing full-length mirror: framed glass on two splayed feet."""
    p, w, h, f = Parts(), rng.uniform(0.45, 0.7), rng.uniform(1.5, 1.8), rng.uniform(0.03, 0.06)
    p.span((-w / 2, 0.05, -0.01), (w / 2, h, 0.01))
    for x in (-w / 2 - f / 2, w / 2 + f / 2):
        p.box((f, h - 0.05, 0.04), (x, (h + 0.05) / 2, 0))
        p.box((0.05, 0.05, 0.45), (x, 0.025, 0))
    for y in (0.05 + f / 2, h - f / 2):
        p.box((w + 2 * f, f, 0.04), (0, y, 0))
    return p


# ---------------------------------------------------------------------------------------- sofa (3)
def modern_sofa(rng) -> Parts:
    """Low, deep three-seater on a recessed plinth: wide block arms, three seat and back cushions."""
    p, w, d, h = Parts(), rng.uniform(2.0, 2.45), rng.uniform(0.95, 1.08), rng.uniform(0.7, 0.8)
    arm, arm_h = rng.uniform(0.2, 0.3), rng.uniform(0.5, 0.58)
    p.span((-w / 2 + 0.06, 0, -d / 2 + 0.06), (w / 2 - 0.06, 0.06, d / 2 - 0.06))
    sofa_block(p, -w / 2 + arm, w / 2 - arm, -d / 2, d / 2, 0.06, 0.42, h, 3)
    for x in (-w / 2, w / 2 - arm):
        p.span((x, 0.06, -d / 2), (x + arm, arm_h, d / 2))
    return p


def chesterfield_sofa(rng) -> Parts:
    """Chesterfield: arms as high as the back with big outward rolls, one bench seat, turned feet."""
    p, w, d, h = Parts(), rng.uniform(2.0, 2.4), rng.uniform(0.85, 0.98), rng.uniform(0.72, 0.82)
    leg = rng.uniform(0.1, 0.14)
    p.corner_legs(w, d, 0.12, leg, 0.08, round_legs=True, taper=0.625, inset_z=0.1)  # turned feet
    p.span((-w / 2 + 0.05, leg, -d / 2), (w / 2 - 0.05, 0.32, d / 2))
    p.span((-w / 2 + 0.22, 0.32, -d / 2 + 0.22), (w / 2 - 0.22, 0.45, d / 2))
    p.span((-w / 2 + 0.05, leg, -d / 2), (w / 2 - 0.05, h - 0.1, -d / 2 + 0.22))
    p.frustum((-w / 2 + 0.05, h - 0.1, -d / 2 + 0.11), (w / 2 - 0.05, h - 0.1, -d / 2 + 0.11), 0.11)
    for s in (-1, 1):
        x = s * (w / 2 - 0.14)
        p.span((x - 0.09, leg, -d / 2), (x + 0.09, h - 0.14, d / 2))
        p.frustum((x + s * 0.03, h - 0.14, -d / 2), (x + s * 0.03, h - 0.14, d / 2 + 0.02), 0.14)
    return p


def chaise_sofa(rng) -> Parts:
    """L-shaped sofa with an open chaise on the right (no back on the chaise run)."""
    p, w, d, h = Parts(), rng.uniform(2.4, 3.0), rng.uniform(0.88, 0.98), rng.uniform(0.75, 0.88)
    chaise, cw, arm, leg = rng.uniform(1.5, 1.75), rng.uniform(0.75, 0.95), 0.15, rng.uniform(0.06, 0.12)
    corners = ((0, 0), (w, 0), (0, d), (w - cw, d), (w - cw, chaise), (w, chaise))  # the L's outline
    for x, z in corners:
        p.box((0.05, leg, 0.05), (min(max(x, 0.03), w - 0.03), leg / 2, min(max(z, 0.03), chaise - 0.03)))
    sofa_block(p, arm, w - cw, 0, d, leg, 0.44, h, 2)
    p.span((w - cw, leg, 0), (w - arm, 0.32, chaise))
    p.span((w - cw + 0.01, 0.32, 0.2), (w - arm - 0.01, 0.44, chaise))
    p.span((w - cw, leg, 0), (w - arm, h, 0.2))
    p.span((0, leg, 0), (arm, 0.62, d))
    p.span((w - arm, leg, 0), (w, 0.62, chaise))
    return p


def corner_sofa(rng) -> Parts:
    """L-shaped corner sectional: backs along the rear and the left return, one arm at each end."""
    p, w, d, h = Parts(), rng.uniform(2.2, 2.8), rng.uniform(0.88, 1.0), rng.uniform(0.72, 0.85)
    ret, arm, leg = rng.uniform(1.7, 2.2), rng.uniform(0.12, 0.2), rng.uniform(0.03, 0.08)
    p.legs((0.05, w - 0.05), (0.05, d - 0.05), 0, leg, 0.05)
    p.legs((0.05, d - 0.05), (ret - 0.05,), 0, leg, 0.05)
    sofa_block(p, 0, w - arm, 0, d, leg, 0.43, h, 3, back_side=("-z", "-x"))
    sofa_block(p, 0, d, d, ret - arm, leg, 0.43, h, 1, back_side=("-x",))
    p.span((w - arm, leg, 0), (w, 0.6, d))
    p.span((0, leg, ret - arm), (d, 0.6, ret))
    return p


def track_loveseat(rng) -> Parts:
    """Mid-century two-seater: tall tapered legs, tight reclined back, wooden arm rails on posts."""
    p, w, d, h = Parts(), rng.uniform(1.3, 1.7), rng.uniform(0.78, 0.9), rng.uniform(0.78, 0.88)
    leg, seat = rng.uniform(0.2, 0.28), rng.uniform(0.42, 0.46)
    x, z = w / 2 - 0.04, d / 2 - 0.05
    p.legs((-x, x), (-z, z), 0, leg, 0.045, round_legs=True, taper=0.5)
    p.span((-w / 2 + 0.08, leg, -d / 2), (w / 2 - 0.08, seat - 0.1, d / 2))
    for k in (-1, 1):
        p.span((min(0, k * (w / 2 - 0.09)) + 0.005, seat - 0.1, -d / 2 + 0.16),
               (max(0, k * (w / 2 - 0.09)) - 0.005, seat, d / 2))
    back = h - seat + 0.08
    p.box((w - 0.16, back, 0.1), (0, seat - 0.08 + back / 2, -d / 2 + 0.1), rot_x(-0.18))
    for sx in (-x, x):
        p.box((0.05, 0.03, d - 0.05), (sx, 0.62, 0.0))
        p.legs((sx,), (-z + 0.1, z - 0.05), seat - 0.1, 0.6, 0.03)
    return p


def camelback_loveseat(rng) -> Parts:
    """Skirted two-seater with low rolled arms and a humped back."""
    p, w, d, h = Parts(), rng.uniform(1.35, 1.7), rng.uniform(0.8, 0.92), rng.uniform(0.85, 1.0)
    p.span((-w / 2 + 0.1, 0, -d / 2), (w / 2 - 0.1, 0.3, d / 2))
    p.span((-w / 2 + 0.12, 0.3, -d / 2 + 0.2), (w / 2 - 0.12, 0.45, d / 2))
    p.span((-w / 2 + 0.1, 0, -d / 2), (w / 2 - 0.1, h - 0.12, -d / 2 + 0.2))
    p.ellipsoid((0, h - 0.12, -d / 2 + 0.1), (w / 2 - 0.1, 0.12, 0.1), sections=24)  # the camel hump
    for s in (-1, 1):
        p.span((s * (w / 2 - 0.1) - 0.1, 0, -d / 2), (s * (w / 2 - 0.1) + 0.1, 0.5, d / 2))
        p.frustum((s * (w / 2 - 0.08), 0.55, -d / 2), (s * (w / 2 - 0.08), 0.55, d / 2), 0.1)
    return p
