"""The HTML viewer's page and the browser harness itself (the harness must catch a broken page)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from scene_analogy.vis.html_viewer import MAX_SCENE_POINTS, save_viewer, viewer_html
from tests.browser import find_browser, open_page


def _page(name: str = "target", n: int = 100) -> str:
    rng = np.random.default_rng(0)
    scenes = [{"name": name, "points": rng.random((n, 3)), "colours": rng.random((n, 3))},
              {"name": "reference", "points": rng.random((50, 3)), "colours": rng.random((50, 3))}]
    roi = rng.random((10, 3))
    return viewer_html("t", scenes, roi, rng.random((10, 3)), [{"label": "#1", "mapped": roi + 1}])


def test_data_are_embedded_and_cannot_close_the_script():
    page = _page(name="evil </script><script>alert(1)</script>", n=MAX_SCENE_POINTS + 500)
    data = json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S).group(1))
    assert data["scenes"][0]["name"].startswith("evil </script>")
    assert len(data["scenes"][0]["points"]) == 3 * MAX_SCENE_POINTS  # capped
    assert len(data["maps"][0]["mapped"]) == 30 and len(data["roi"]["colours"]) == 30
    assert "src=" not in page and "http" not in page.lower().replace("http-equiv", "")


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


def test_small_page_draws_without_errors(tmp_path, browser):
    rng = np.random.default_rng(1)
    save_viewer(tmp_path / "v.html", "t", [{"name": "a", "points": rng.random((300, 3)), "colours": np.zeros((300, 3))}] * 2,
                rng.random((5, 3)), np.ones((5, 3)) * 0.5, [])
    page = open_page(browser, (tmp_path / "v.html").as_uri())
    try:
        assert page.wait_for("document.body.getAttribute('data-ready') === '1'")
        assert page.evaluate("document.getElementById('map').options.length") == 0  # no maps: "no map" drawn
        assert page.drain() == []
    finally:
        page.close()
