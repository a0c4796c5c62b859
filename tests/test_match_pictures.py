"""The analogy picture (vis/match_pictures.py) on a known-answer pair: written whole, the coarse
candidates only on request, free points drawn, every input shape checked with a ValueError."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from scene_analogy.fixtures.match_inputs import box_keypoint_scene, transformed_copy, true_linear
from scene_analogy.vis.match_pictures import class_colours, colour_wheel, save_analogy_png
from scene_analogy.vis.pictures import class_colour
from tests.helpers import random_scene, stub_pool

YAW, MIRROR, SCALE, OFFSET = np.pi / 2, True, 1.1, np.array([3.0, 0.0, -2.0])


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(2)
    target = box_keypoint_scene(random_scene(stub_pool(), 6, rng), 20, rng)
    reference = transformed_copy(target, YAW, MIRROR, SCALE, OFFSET)
    roi = np.array([0, 1, 2])
    roi_points = target.points[np.isin(target.instance, roi)].astype(np.float64)
    free = rng.random((40, 3)) * [6.0, 1.0, 5.0]
    move = lambda p: p @ true_linear(YAW, MIRROR, SCALE).T + OFFSET  # noqa: E731
    return {"target": target, "reference": reference, "roi": roi, "roi_points": roi_points,
            "mapped": move(roi_points), "gt_points": move(roi_points), "matched": roi,
            "candidate_boxes": rng.random((5, 3, 4, 2)) * 6 - [3.0, 5.0], "free_points": free, "free_mapped": move(free)}


def _draw(tmp_path, name: str, pair: dict, **change) -> np.ndarray:
    args = {**pair, **change}
    save_analogy_png(args.pop("target"), args.pop("reference"), args.pop("roi"), args.pop("roi_points"),
                     args.pop("mapped"), tmp_path / name, title="known pair", **args)
    assert (tmp_path / name).stat().st_size > 10_000 and not list(tmp_path.glob("*.tmp"))
    return plt.imread(tmp_path / name)


def test_candidates_only_on_request_and_free_points_drawn(tmp_path, pair):
    plain = _draw(tmp_path, "plain.png", pair, free_points=None, free_mapped=None, candidate_boxes=None)
    default = _draw(tmp_path, "default.png", pair, free_points=None, free_mapped=None)
    shown = _draw(tmp_path, "shown.png", pair, free_points=None, free_mapped=None, show_candidates=True)
    free = _draw(tmp_path, "free.png", pair)
    assert np.array_equal(plain, default)  # candidates given but not asked for: not drawn
    assert plain.shape != shown.shape or not np.array_equal(plain, shown)
    assert plain.shape != free.shape or not np.array_equal(plain, free)
    _draw(tmp_path, "free_no_map.png", pair, mapped=None, gt_points=None, matched=None, free_mapped=None)


@pytest.mark.parametrize("change, words", [
    ({"roi_points": np.zeros((10, 2))}, "roi_points must have shape (N, 3)"),
    ({"mapped": np.zeros((7, 3))}, "mapped must have one row per row of roi_points"),
    ({"gt_points": np.zeros((7, 3))}, "gt_points must have one row per row of roi_points"),
    ({"free_points": None}, "free_mapped (the images of free points) needs free_points"),
    ({"free_mapped": np.zeros((39, 3))}, "free_mapped must have one row per row of free_points"),
    ({"free_points": np.zeros((40,))}, "free_points must have shape (N, 3)"),
    ({"candidate_boxes": np.zeros((5, 3, 2))}, "candidate_boxes must have shape (..., 4, 2)"),
    ({"matched": np.array([0, 99])}, "matched must be object indices of the reference in [0, 5]"),
    ({"roi": np.array([-1])}, "roi must be object indices of the target"),
])
def test_bad_shapes_are_named(tmp_path, pair, change, words):
    with pytest.raises(ValueError) as info:
        _draw(tmp_path, "bad.png", pair, **change)
    assert words in str(info.value)
    assert not list(tmp_path.iterdir())


def test_colour_wheel_shares_colours_around_a_set():
    rng = np.random.default_rng(0)
    points = rng.random((30, 3))
    np.testing.assert_allclose(colour_wheel(points, around=points), colour_wheel(points))
    far = points.mean(0) + [10.0, 0.0, 0.0]
    np.testing.assert_allclose(colour_wheel(far[None], around=points), [[0.95, 0.0, 0.0]])  # due +x, beyond: saturated
    assert colour_wheel(np.zeros((0, 3))).shape == (0, 3)
    ids = np.arange(20)
    np.testing.assert_allclose(class_colours(ids), [class_colour(i) for i in ids])
