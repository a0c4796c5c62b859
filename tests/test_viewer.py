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
