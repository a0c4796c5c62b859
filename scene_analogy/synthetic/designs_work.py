"""Furniture designs of classes 4-7: chair, lighting, table and cabinet/shelf/desk (DESIGN §10).

Each design is a function `rng -> Parts` that draws its dimensions from a seeded numpy Generator and
assembles the model from primitives (`primitives.py`) and shared sub-assemblies (`assemblies.py`).
The frame is the canonical one of the pool: metres, +y up, the side a person uses faces +z (seat
fronts, open shelf sides). Designs may build anywhere; `objects.py` moves every model so its bottom
is at y = 0 (pendant lamps too: the room generator hangs them from the ceiling) and its bounding box
is centred at x = z = 0. A design's function name seeds its variants, so renaming one changes its shapes.
"""

from __future__ import annotations

import numpy as np

from scene_analogy.ops.geometry import yaw_matrix
from scene_analogy.synthetic.assemblies import fronts, pendant_top, sofa_block, star_base
from scene_analogy.synthetic.primitives import Parts, rot_x, spokes


# --------------------------------------------------------------------------------------- chair (4)
def slat_dining_chair(rng) -> Parts:
    """Wooden dining chair: four square legs, rear legs rising into posts with vertical slats."""
    p, w, d = Parts(), rng.uniform(0.42, 0.5), rng.uniform(0.45, 0.55)
    seat, h, t = rng.uniform(0.44, 0.48), rng.uniform(0.85, 1.0), rng.uniform(0.035, 0.045)
    x, z = w / 2 - t / 2, d / 2 - t / 2
    p.legs((-x, x), (z,), 0, seat - 0.04, t)
    p.legs((-x, x), (-z,), 0, h, t)
    p.box((w, 0.04, d), (0, seat - 0.02, 0))
    p.box((w - 2 * t, 0.08, 0.025), (0, h - 0.05, -z))
    for sx in np.linspace(-x, x, int(rng.integers(5, 8)))[1:-1]:
        p.box((0.03, h - seat - 0.1, 0.02), (sx, (seat + h - 0.1) / 2, -z))
    for sx in (-x, x):
        p.frustum((sx, 0.15, -z), (sx, 0.15, z), 0.01, sections=6)
    return p


def upholstered_dining_chair(rng) -> Parts:
    """Parsons-style chair: tapered round legs, thick seat, tall padded back with a rolled top."""
    p, w, d = Parts(), rng.uniform(0.45, 0.55), rng.uniform(0.5, 0.6)
    seat, h = rng.uniform(0.46, 0.5), rng.uniform(0.9, 1.05)
    p.corner_legs(w, d, 0.04, seat - 0.08, 0.045, round_legs=True, taper=0.55)
    p.box((w, 0.08, d), (0, seat - 0.04, 0))
    back_h = h - seat - 0.04
    p.box((w - 0.02, back_h, 0.07), (0, seat + back_h / 2 - 0.02, -d / 2 + 0.05), rot_x(-0.1))
    top_z = -d / 2 + 0.05 - np.sin(0.1) * back_h / 2
    p.frustum((-w / 2 + 0.01, h - 0.04, top_z), (w / 2 - 0.01, h - 0.04, top_z), 0.04)
    return p


def cantilever_chair(rng) -> Parts:
    """Tubular cantilever chair: floor runners curving up into the seat, no rear legs."""
    p, w, d = Parts(), rng.uniform(0.44, 0.5), rng.uniform(0.5, 0.58)
    seat, h, r = rng.uniform(0.44, 0.47), rng.uniform(0.8, 0.9), 0.012
    for x in (-w / 2 + 0.02, w / 2 - 0.02):
        p.polyline(np.array([(x, r, -d / 2 + 0.05), (x, r, d / 2), (x, 0.1, d / 2 + 0.02),
                             (x, seat - 0.03, d / 2 - 0.02), (x, seat - 0.03, -d / 2 + 0.06),
                             (x, h, -d / 2 - 0.02)]), r)
    p.box((w, 0.03, d - 0.06), (0, seat, 0.01))
    p.box((w - 0.04, 0.3, 0.02), (0, h - 0.17, -d / 2 - 0.01 + 0.08 * (0.17 / (h - seat))), rot_x(-0.25))
    return p


def club_armchair(rng) -> Parts:
    """Boxy club armchair: thick arms, deep seat cushion, short legs."""
    p, w, d, h = Parts(), rng.uniform(0.8, 0.95), rng.uniform(0.8, 0.95), rng.uniform(0.75, 0.9)
    arm, leg = rng.uniform(0.15, 0.22), rng.uniform(0.05, 0.1)
    p.corner_legs(w, d, 0.05, leg, 0.05)
    sofa_block(p, -w / 2 + arm, w / 2 - arm, -d / 2, d / 2, leg, 0.44, h, 1)
    for x in (-w / 2, w / 2 - arm):
        p.span((x, leg, -d / 2), (x + arm, rng.uniform(0.58, 0.66), d / 2))
    return p


def lounge_armchair(rng) -> Parts:
    """Open wooden lounge chair: slim frame, flat arm rails, seat and reclined back cushions."""
    p, w, d, h = Parts(), rng.uniform(0.65, 0.8), rng.uniform(0.72, 0.85), rng.uniform(0.78, 0.95)
    arm_y, t = rng.uniform(0.55, 0.62), 0.045
    x, z = w / 2 - t / 2, d / 2 - t / 2
    p.legs((-x, x), (-z + 0.06, z), 0, arm_y, t)
    for sx in (-x, x):
        p.box((0.07, 0.025, d), (sx, arm_y + 0.0125, 0))
        p.box((t, 0.05, d), (sx, 0.3, 0))
    p.box((w - 2 * t, 0.12, d - 0.1), (0, 0.36, 0.03))
    back = h - 0.32
    p.box((w - 2 * t - 0.02, back, 0.12), (0, 0.3 + back / 2, -d / 2 + 0.12), rot_x(-0.3))
    return p


def office_chair(rng, arms: bool = True) -> Parts:
    """Swivel office chair: five-star base with casters, gas column, seat, back on a spine."""
    p, w, seat = Parts(), rng.uniform(0.46, 0.54), rng.uniform(0.44, 0.52)
    h = seat + rng.uniform(0.5, 0.72) if arms else seat + rng.uniform(0.38, 0.48)
    star_base(p, rng.uniform(0.3, 0.34), 5, 0.08, 0.025)
    p.cyl(0.03, 0.08, seat - 0.08, sections=12)
    p.box((w, 0.08, w * 0.95), (0, seat - 0.04, 0))
    back = h - seat - 0.12
    p.frustum((0, seat - 0.06, -0.05), (0, seat + 0.12, -w / 2 - 0.04), 0.025, sections=8)
    if arms:
        p.box((w * 0.95, back, 0.07), (0, seat + 0.12 + back / 2, -w / 2 - 0.05), rot_x(-0.12))
        for x in (-w / 2 - 0.03, w / 2 + 0.03):
            p.box((0.03, 0.22, 0.04), (x, seat + 0.07, -0.05))
            p.box((0.06, 0.03, 0.26), (x, seat + 0.19, -0.02))
    else:
        p.ellipsoid((0, seat + 0.12 + back / 2, -w / 2 - 0.05), (w * 0.44, back / 2, 0.035), sections=16)
    return p


def task_chair(rng) -> Parts:
    """Armless task chair with a small oval back."""
    return office_chair(rng, arms=False)


# ------------------------------------------------------------------------------------ lighting (5)
def cone_pendant(rng) -> Parts:
    """Pendant with a conical metal shade."""
    p, h, r, sh = Parts(), rng.uniform(0.5, 1.0), rng.uniform(0.12, 0.25), rng.uniform(0.15, 0.3)
    pendant_top(p, h, h - sh)
    p.cyl(r, 0, sh, r1=0.04, sections=24)
    return p


def globe_pendant(rng) -> Parts:
    """Pendant with a glass globe."""
    p, h, r = Parts(), rng.uniform(0.5, 1.0), rng.uniform(0.1, 0.22)
    pendant_top(p, h, h - 2 * r)
    p.cyl(0.03, 2 * r - 0.02, 2 * r + 0.04)
    p.ellipsoid((0, r, 0), (r, r, r), sections=20)
    return p


def chandelier(rng) -> Parts:
    """Chandelier: central stem and hub with curved arms carrying candle lights and small shades."""
    p, h, r = Parts(), rng.uniform(0.55, 1.0), rng.uniform(0.25, 0.4)
    arms = int(rng.integers(5, 9))
    pendant_top(p, h, h - 0.3)
    p.cyl(0.02, 0.1, 0.3)
    p.ellipsoid((0, 0.12, 0), (0.06, 0.08, 0.06))
    for a in spokes(arms, 0.0):
        c, s = np.cos(a), np.sin(a)
        p.polyline(np.array([(0, 0.12, 0), (0.5 * r * c, 0.06, 0.5 * r * s), (r * c, 0.1, r * s)]), 0.01)
        p.cyl(0.015, 0.1, 0.2, r * c, r * s, sections=8)
        p.cyl(0.05, 0.18, 0.28, r * c, r * s, r1=0.03, sections=10)
    return p


def drum_floor_lamp(rng) -> Parts:
    """Floor lamp: disc base, straight pole and a drum shade."""
    p, h, r = Parts(), rng.uniform(1.4, 1.7), rng.uniform(0.18, 0.25)
    p.cyl(rng.uniform(0.13, 0.17), 0, 0.03)
    p.cyl(0.012, 0.03, h - 0.1, sections=8)
    p.cyl(r, h - 0.3, h, r1=r * rng.uniform(0.8, 1.0), sections=24)
    return p


def arc_floor_lamp(rng) -> Parts:
    """Arc lamp: heavy block base, a tall arching pole and a dome shade hanging over a seat."""
    p, h, reach = Parts(), rng.uniform(1.8, 2.1), rng.uniform(0.9, 1.35)
    p.box((0.3, 0.1, 0.3), (0, 0.05, 0))
    t = np.linspace(0, np.pi / 2, 10)
    arc = np.stack([reach * (1 - np.cos(t)), 0.1 + (h - 0.4) + 0.3 * np.sin(t), 0 * t], 1)
    p.polyline(np.concatenate([[[0, 0.1, 0]], arc]), 0.015)
    end = arc[-1]
    p.cyl(0.02, end[1] - 0.3, end[1], end[0], 0, sections=8)
    p.frustum((end[0], end[1] - 0.5, 0), (end[0], end[1] - 0.3, 0), rng.uniform(0.18, 0.25), 0.05, sections=24)
    return p


def tripod_floor_lamp(rng) -> Parts:
    """Tripod floor lamp: three splayed wooden legs meeting under a wide shade."""
    p, h, spread = Parts(), rng.uniform(1.4, 1.65), rng.uniform(0.3, 0.4)
    apex = h - 0.32
    for a in spokes(3):
        p.frustum((spread * np.cos(a), 0, spread * np.sin(a)), (0, apex, 0), 0.018, 0.012, sections=8)
    p.cyl(0.01, apex, h - 0.15, sections=6)
    p.cyl(rng.uniform(0.22, 0.28), apex, h, r1=rng.uniform(0.15, 0.2), sections=24)
    return p


# --------------------------------------------------------------------------------------- table (6)
def rect_dining_table(rng) -> Parts:
    """Rectangular dining table: top, apron and four square legs."""
    p, w, d, h = Parts(), rng.uniform(1.4, 2.0), rng.uniform(0.8, 1.0), rng.uniform(0.73, 0.77)
    p.box((w, 0.04, d), (0, h - 0.02, 0))
    p.box((w - 0.16, 0.1, d - 0.16), (0, h - 0.09, 0))
    t = rng.uniform(0.05, 0.08)
    p.corner_legs(w, d, 0.08, h - 0.04, t)
    return p


def round_dining_table(rng) -> Parts:
    """Round dining table on a central column with a cross foot."""
    p, r, h = Parts(), rng.uniform(0.45, 0.6), rng.uniform(0.73, 0.77)
    p.cyl(r, h - 0.04, h, sections=40)
    p.cyl(0.06, 0.05, h - 0.04, sections=12)
    for a in (0, np.pi / 2):
        p.box((0.7 * r * 2, 0.05, 0.08), (0, 0.025, 0), yaw_matrix(a))
    return p


def trestle_table(rng) -> Parts:
    """Trestle dining table: two end frames with wide feet joined by a stretcher."""
    p, w, d, h = Parts(), rng.uniform(1.6, 2.2), rng.uniform(0.8, 1.0), rng.uniform(0.73, 0.77)
    p.box((w, 0.05, d), (0, h - 0.025, 0))
    for x in (-w / 2 + 0.25, w / 2 - 0.25):
        p.box((0.08, h - 0.15, 0.12), (x, (h - 0.05) / 2 + 0.05, 0))
        p.box((0.09, 0.06, d - 0.1), (x, 0.03, 0))
        p.box((0.09, 0.05, d - 0.2), (x, h - 0.075, 0))
    p.box((w - 0.5, 0.06, 0.05), (0, 0.35, 0))
    return p


def shelf_coffee_table(rng) -> Parts:
    """Rectangular coffee table with a lower shelf."""
    p, w, d, h = Parts(), rng.uniform(1.0, 1.3), rng.uniform(0.5, 0.7), rng.uniform(0.38, 0.46)
    p.box((w, 0.04, d), (0, h - 0.02, 0))
    p.box((w - 0.04, 0.02, d - 0.04), (0, 0.12, 0))
    p.corner_legs(w, d, 0.03, h - 0.04, 0.045)
    return p


def round_coffee_table(rng) -> Parts:
    """Round coffee table: thick disc top on three splayed tapered legs."""
    p, r, h = Parts(), rng.uniform(0.4, 0.5), rng.uniform(0.35, 0.45)
    p.cyl(r, h - 0.05, h, sections=40)
    for a in spokes(3):
        c, s = np.cos(a), np.sin(a)
        p.frustum((0.85 * r * c, 0, 0.85 * r * s), (0.6 * r * c, h - 0.05, 0.6 * r * s), 0.015, 0.025, sections=8)
    return p


def tripod_side_table(rng) -> Parts:
    """Small round side table on a tripod pedestal."""
    p, r, h = Parts(), rng.uniform(0.2, 0.28), rng.uniform(0.5, 0.65)
    p.cyl(r, h - 0.03, h, sections=32)
    p.cyl(0.025, 0.12, h - 0.03, sections=10)
    for a in spokes(3):
        p.frustum((0, 0.14, 0), (0.9 * r * np.cos(a), 0.0, 0.9 * r * np.sin(a)), 0.015, sections=6)
    return p


def drawer_side_table(rng) -> Parts:
    """Square side table: drawer box under the top, slim legs and an open lower shelf."""
    p, s, h = Parts(), rng.uniform(0.4, 0.55), rng.uniform(0.5, 0.65)
    p.box((s, 0.03, s), (0, h - 0.015, 0))
    p.box((s - 0.06, 0.12, s - 0.06), (0, h - 0.09, 0))
    p.box((0.06, 0.015, 0.02), (0, h - 0.09, s / 2 - 0.02))
    p.box((s - 0.06, 0.02, s - 0.06), (0, 0.15, 0))
    p.corner_legs(s, s, 0.03, h - 0.03, 0.035)
    return p


# -------------------------------------------------------------------------- cabinet/shelf/desk (7)
def drawer_nightstand(rng) -> Parts:
    """Night stand: carcass with two or three drawers on short tapered legs."""
    p, w, d, h = Parts(), rng.uniform(0.4, 0.6), rng.uniform(0.35, 0.45), rng.uniform(0.5, 0.65)
    leg = rng.uniform(0.08, 0.15)
    p.corner_legs(w, d, 0.03, leg, 0.035, round_legs=True, taper=0.5)
    p.box((w, h - leg, d), (0, (h + leg) / 2, 0))
    fronts(p, -w / 2 + 0.02, w / 2 - 0.02, leg + 0.02, h - 0.03, d / 2, 1, int(rng.integers(2, 4)))
    return p


def open_nightstand(rng) -> Parts:
    """Night stand: one drawer under the top, an open shelf below, four slim legs."""
    p, w, d, h = Parts(), rng.uniform(0.4, 0.55), rng.uniform(0.32, 0.42), rng.uniform(0.5, 0.62)
    p.box((w, 0.03, d), (0, h - 0.015, 0))
    p.box((w - 0.04, 0.14, d - 0.04), (0, h - 0.1, 0))
    fronts(p, -w / 2 + 0.03, w / 2 - 0.03, h - 0.165, h - 0.035, d / 2 - 0.02, 1, 1)
    p.box((w - 0.04, 0.02, d - 0.04), (0, 0.15, 0))
    p.corner_legs(w, d, 0.02, h - 0.03, 0.03)
    return p


def two_door_wardrobe(rng) -> Parts:
    """Wardrobe: tall carcass on a plinth, two hinged doors with bar handles, a cornice."""
    p, w, d, h = Parts(), rng.uniform(0.9, 1.2), rng.uniform(0.55, 0.65), rng.uniform(1.9, 2.3)
    p.box((w - 0.04, 0.08, d - 0.04), (0, 0.04, 0))
    p.box((w, h - 0.14, d), (0, (h - 0.06 + 0.08) / 2, 0))
    p.box((w + 0.06, 0.06, d + 0.04), (0, h - 0.03, 0.01))
    fronts(p, -w / 2 + 0.01, w / 2 - 0.01, 0.09, h - 0.07, d / 2, 2, 1, handle="bar")
    return p


def chest_wardrobe(rng) -> Parts:
    """Wide wardrobe: three or four doors above a row of drawers, on short legs."""
    p, w, d, h = Parts(), rng.uniform(1.5, 2.2), rng.uniform(0.55, 0.65), rng.uniform(1.9, 2.3)
    doors, leg = int(rng.integers(3, 5)), 0.1
    p.corner_legs(w, d, 0.05, leg, 0.05)
    p.box((w, h - leg, d), (0, (h + leg) / 2, 0))
    fronts(p, -w / 2 + 0.01, w / 2 - 0.01, leg + 0.3, h - 0.01, d / 2, doors, 1, handle="bar")
    fronts(p, -w / 2 + 0.01, w / 2 - 0.01, leg + 0.01, leg + 0.3, d / 2, doors, 1)
    return p


def open_bookshelf(rng) -> Parts:
    """Tall open bookshelf: sides, back panel and four to six shelves with some books."""
    p, w, d, h = Parts(), rng.uniform(0.6, 1.2), rng.uniform(0.28, 0.4), rng.uniform(1.6, 2.2)
    shelves, t = int(rng.integers(4, 7)), 0.02
    p.box((w, h, t), (0, h / 2, -d / 2 + t / 2))
    for x in (-w / 2 + t / 2, w / 2 - t / 2):
        p.box((t, h, d), (x, h / 2, 0))
    for y in np.linspace(0.06, h - t / 2, shelves + 1):
        p.box((w - 2 * t, t, d), (0, y, 0))
    for y in np.linspace(0.06, h - t / 2, shelves + 1)[:-1:2]:
        n = int(rng.integers(4, 12))
        p.box((n * 0.03, 0.22, d * 0.75), (-w / 2 + t + n * 0.015 + 0.02, y + 0.12, 0))
    return p


def cube_bookshelf(rng) -> Parts:
    """Cube-grid shelf: thick frame divided into square cubbies (2-4 columns, 2-5 rows)."""
    p, cell, d = Parts(), rng.uniform(0.33, 0.38), rng.uniform(0.35, 0.4)
    columns, rows, t = int(rng.integers(2, 5)), int(rng.integers(2, 6)), 0.035
    w, h = columns * cell + t, rows * cell + t
    for x in np.linspace(-w / 2 + t / 2, w / 2 - t / 2, columns + 1):
        p.box((t, h, d), (x, h / 2, 0))
    for y in np.linspace(t / 2, h - t / 2, rows + 1):
        p.box((w, t, d), (0, y, 0))
    return p


def leg_desk(rng) -> Parts:
    """Writing desk: top on four slim metal legs with a modesty panel at the back."""
    p, w, d, h = Parts(), rng.uniform(1.0, 1.6), rng.uniform(0.5, 0.75), rng.uniform(0.72, 0.78)
    p.box((w, 0.03, d), (0, h - 0.015, 0))
    p.corner_legs(w, d, 0.04, h - 0.03, 0.035, round_legs=True)
    p.box((w - 0.1, 0.3, 0.015), (0, h - 0.2, -d / 2 + 0.05))
    return p


def pedestal_desk(rng) -> Parts:
    """Office desk: a panel leg on the left, a drawer pedestal on the right."""
    p, w, d, h = Parts(), rng.uniform(1.2, 1.7), rng.uniform(0.6, 0.8), rng.uniform(0.72, 0.78)
    ped = rng.uniform(0.38, 0.45)
    p.box((w, 0.035, d), (0, h - 0.0175, 0))
    p.box((0.03, h - 0.035, d - 0.02), (-w / 2 + 0.015, (h - 0.035) / 2, 0))
    p.box((ped, h - 0.035, d - 0.02), (w / 2 - ped / 2, (h - 0.035) / 2, 0))
    fronts(p, w / 2 - ped + 0.01, w / 2 - 0.01, 0.02, h - 0.05, d / 2 - 0.01, 1, 3)
    return p


def cabinet_tv_stand(rng) -> Parts:
    """Low media cabinet: doors at both ends, open compartments in the middle, on a plinth."""
    p, w, d, h = Parts(), rng.uniform(1.4, 2.0), rng.uniform(0.38, 0.5), rng.uniform(0.4, 0.55)
    p.box((w - 0.06, 0.05, d - 0.05), (0, 0.025, 0))
    p.box((w, 0.03, d), (0, h - 0.015, 0))
    p.box((w, 0.03, d), (0, 0.065, 0))
    p.box((w, h - 0.11, 0.02), (0, (h + 0.05) / 2, -d / 2 + 0.01))
    door = w * 0.28
    for s in (-1, 1):
        p.box((door, h - 0.11, d), (s * (w / 2 - door / 2), (h + 0.05) / 2, 0))
        fronts(p, s * (w / 2 - door / 2) - door / 2, s * (w / 2 - door / 2) + door / 2, 0.08, h - 0.03, d / 2, 1, 1)
    p.box((w - 2 * door, 0.02, d), (0, (h + 0.05) / 2, 0))
    return p


def console_tv_stand(rng) -> Parts:
    """Open media console on hairpin-like legs: two open shelves, no doors."""
    p, w, d, h = Parts(), rng.uniform(1.2, 1.8), rng.uniform(0.35, 0.45), rng.uniform(0.45, 0.6)
    leg = rng.uniform(0.15, 0.25)
    p.corner_legs(w, d, 0.05, leg, 0.03, round_legs=True)
    for y in (leg, (leg + h) / 2, h - 0.015):
        p.box((w, 0.03, d), (0, y, 0))
    for x in (-w / 2 + 0.015, 0, w / 2 - 0.015):
        p.box((0.03, h - leg, d), (x, (h + leg) / 2, 0))
    return p
