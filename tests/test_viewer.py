"""The HTML viewer's page (with its overlays: a carried trajectory, a placed box) and the browser
harness itself (the harness must catch a broken page)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from scene_analogy.vis.html_viewer import BOX_EDGES, MAX_SCENE_POINTS, save_viewer, viewer_html
from tests.browser import find_browser, open_page


def _page(name: str = "target", n: int = 100, overlays=None) -> str:
    rng = np.random.default_rng(0)
    scenes = [{"name": name, "points": rng.random((n, 3)), "colours": rng.random((n, 3))},
              {"name": "reference", "points": rng.random((50, 3)), "colours": rng.random((50, 3))}]
    roi = rng.random((10, 3))
    return viewer_html("t", scenes, roi, rng.random((10, 3)), [{"label": "#1", "mapped": roi + 1}], overlays=overlays)


def _data(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S).group(1))


CORNERS = (np.arange(8)[:, None] >> np.array([2, 1, 0])) & 1  # corner k: x, y, z high for bits 4, 2, 1
TRAJECTORY = np.c_[np.linspace(0, 1, 6), np.zeros(6), np.linspace(0, 0.5, 6)]
OVERLAYS = [{"label": "path.csv (map #1)", "target": TRAJECTORY, "reference": TRAJECTORY + 2},
            {"label": "placed box.obj", "target": CORNERS * 0.5, "reference": CORNERS * 0.5 + 1, "edges": BOX_EDGES,
             "colour": (0.1, 0.1, 0.1)}]


def test_data_are_embedded_and_cannot_close_the_script():
    page = _page(name="evil </script><script>alert(1)</script>", n=MAX_SCENE_POINTS + 500)
    data = _data(page)
    assert data["overlays"] == []
    assert data["scenes"][0]["name"].startswith("evil </script>")
    assert len(data["scenes"][0]["points"]) == 3 * MAX_SCENE_POINTS  # capped
    assert len(data["maps"][0]["mapped"]) == 30 and len(data["roi"]["colours"]) == 30
    assert "src=" not in page and "http" not in page.lower().replace("http-equiv", "")


def test_overlays_are_embedded():
    trajectory, box = _data(_page(overlays=OVERLAYS))["overlays"]
    assert trajectory["label"] == "path.csv (map #1)"
    np.testing.assert_allclose(np.reshape(trajectory["target"], (-1, 3)), TRAJECTORY, atol=1e-4)
    np.testing.assert_allclose(np.reshape(trajectory["reference"], (-1, 3)), TRAJECTORY + 2, atol=1e-4)
    assert np.reshape(trajectory["edges"], (-1, 2)).tolist() == [[k, k + 1] for k in range(5)]  # a polyline
    np.testing.assert_allclose(np.reshape(box["reference"], (-1, 3)), CORNERS * 0.5 + 1)
    edges = np.reshape(box["edges"], (-1, 2))
    assert len(edges) == 12 and (np.abs(CORNERS[edges[:, 0]] - CORNERS[edges[:, 1]]).sum(1) == 1).all()  # box edges
    assert box["colour"] == [26, 26, 26] and len(trajectory["colour"]) == 3
    only = _data(_page(overlays=[{"label": "x", "target": TRAJECTORY}]))["overlays"][0]
    assert only["reference"] == [] and len(only["target"]) == 18


@pytest.mark.parametrize("overlay, words", [
    ({"target": np.zeros((4, 2))}, "target must be finite points of shape (M, 3)"),
    ({"target": np.zeros((4, 3)), "reference": np.zeros((5, 3))}, "as many points"),
    ({"target": np.zeros((4, 3)), "edges": [[0, 4]]}, "edges must be (E, 2) point indices in [0, 3]"),
    ({"target": np.zeros((4, 3)), "edges": [0, 1]}, "edges must be (E, 2)"),
    ({"target": np.zeros((4, 3)), "points": np.zeros((4, 3))}, "unknown key(s) ['points']"),
    ({"label": "empty"}, "overlay 'empty' has neither target nor reference points"),
    ({"target": np.full((2, 3), np.nan)}, "finite points"),
    ({"target": np.zeros((2, 3)), "colour": (1, 0)}, "colour must be 3 numbers"),
])
def test_bad_overlays_are_named(overlay, words):
    with pytest.raises(ValueError) as info:
        _page(overlays=[overlay])
    assert words in str(info.value)


@pytest.fixture
def browser():
    path = find_browser()
    if path is None:
        pytest.skip("no Chromium-family browser installed (apt-get install chromium); the page test did not run")
    return path


def test_harness_reports_errors_and_network_requests(tmp_path, browser):
    (tmp_path / "bad.html").write_text(
        "<html><body><script>console.error('boom'); fetch('http://127.0.0.1:9/x').catch(function () {});"
        "undefinedFunction();</script></body></html>")
    page = open_page(browser, (tmp_path / "bad.html").as_uri())
    try:
        page.evaluate("1")
        problems = " | ".join(page.drain())
    finally:
        page.close()
    assert "console.error" in problems and "undefinedFunction" in problems and "network request" in problems


@pytest.mark.parametrize("overlays", [None, OVERLAYS])
def test_small_page_draws_without_errors(tmp_path, browser, overlays):
    rng = np.random.default_rng(1)
    save_viewer(tmp_path / "v.html", "t", [{"name": "a", "points": rng.random((300, 3)), "colours": np.zeros((300, 3))}] * 2,
                rng.random((5, 3)), np.ones((5, 3)) * 0.5, [], overlays=overlays)
    page = open_page(browser, (tmp_path / "v.html").as_uri())
    try:
        assert page.wait_for("document.body.getAttribute('data-ready') === '1'")
        assert page.evaluate("document.getElementById('map').options.length") == 0  # no maps: "no map" drawn
        assert page.evaluate("document.getElementById('overlays').textContent") == (
            "" if overlays is None else "path.csv (map #1)placed box.obj")  # the legend names each overlay
        assert page.drain() == []
    finally:
        page.close()


def test_names_that_look_like_markup_or_placeholders_leave_the_page_whole():
    """A file name with "__SCRIPT__" was replaced by the script (twice in the page), one with
    "<!--<script" kept the data block from closing; a NaN mapped point made the data invalid JSON."""
    rng = np.random.default_rng(0)
    names = ("t__SCRIPT__.ply", "r<!--<script>.ply")
    scenes = [{"name": n, "points": rng.random((20, 3)), "colours": rng.random((20, 3))} for n in names]
    mapped = rng.random((4, 3))
    mapped[1] = np.nan
    page = viewer_html("t __DATA__", scenes, rng.random((4, 3)), rng.random((4, 3)), [{"label": "#1", "mapped": mapped}])
    assert page.count('"use strict"') == 1 and "<!--" not in _data_block(page)
    data = _data(page)
    assert [s["name"] for s in data["scenes"]] == list(names)
    assert data["maps"][0]["mapped"][3:6] == [None, None, None] and None not in data["maps"][0]["mapped"][:3]


def _data_block(page: str) -> str:
    return re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S).group(1)


def test_the_camera_is_proper_near_points_look_larger(tmp_path, browser):
    """From above the floor (pitch > 0) a segment near the camera projects longer than the same
    segment far away, and it is nearer (smaller depth); the old camera had both backwards."""
    rng = np.random.default_rng(1)
    mapped = rng.random((5, 3))
    mapped[2] = np.nan
    save_viewer(tmp_path / "v.html", "t", [{"name": "a", "points": rng.random((300, 3)) * 2 - 1,
                                            "colours": np.zeros((300, 3))}] * 2,
                rng.random((5, 3)), np.ones((5, 3)) * 0.5, [{"label": "#1", "mapped": mapped}])
    page = open_page(browser, (tmp_path / "v.html").as_uri())
    try:
        assert page.wait_for("document.body.getAttribute('data-ready') === '1'")
        # The camera looks from +back = (sin yaw cos pitch, sin pitch, cos yaw cos pitch) direction.
        got = page.evaluate("""(function () {
          var v = {yaw: 0.6, pitch: 0.8, radius: 1, zoom: 1, centre: [0, 0, 0]};
          var b = [Math.sin(0.6) * Math.cos(0.8), Math.sin(0.8), Math.cos(0.6) * Math.cos(0.8)];
          var near = [0.5 * b[0], 0.5 * b[1], 0.5 * b[2]], far = [-0.5 * b[0], -0.5 * b[1], -0.5 * b[2]];
          var q = document.viewerProject(v, near.concat([near[0] + 0.1, near[1], near[2]],
                                                        far, [far[0] + 0.1, far[1], far[2]]), []);
          return [Math.hypot(q[1][0] - q[0][0], q[1][1] - q[0][1]), Math.hypot(q[3][0] - q[2][0], q[3][1] - q[2][1]),
                  q[0][2], q[2][2]];
        })()""")
        near_len, far_len, near_depth, far_depth = got
        assert near_len > far_len and near_depth < far_depth
        assert page.drain() == []  # the NaN mapped point is skipped, not an error
    finally:
        page.close()
