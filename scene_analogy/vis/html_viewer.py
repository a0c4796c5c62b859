"""A self-contained interactive HTML viewer of an analogy: one file, no network, no library.

Both scenes are drawn side by side as point clouds by a small hand-written canvas renderer (inline
JavaScript, below): drag to orbit, wheel to zoom, double-click to reset, "link views" to turn both
scenes together. The RoI keypoints in the target and their images in the reference share colours;
a selector flips between the top-k maps (cost and object correspondences in each entry). Overlays
are line drawings in either scene: what was carried through the map (a trajectory as a polyline in
the target and its image in the reference, a placed object's box as a wireframe in both). The data
are embedded as JSON. Coordinates are y-up metres (the matcher's frame).

Why not a WebGL library: the page must open offline from one file, and a canvas-2D renderer of a
few ten thousand points is fast enough, a few kilobytes, and draws in any browser (also headless
ones without a GPU).
"""

from __future__ import annotations

import html
import json
import os
import re

import numpy as np

from scene_analogy.files import atomic

__all__ = ["viewer_html", "save_viewer", "MAX_SCENE_POINTS", "BOX_EDGES"]

MAX_SCENE_POINTS = 20000  # per scene; a seeded random subset beyond that keeps the file small
# The 12 edges of a box whose 8 corners are numbered by bits: 4 = x high, 2 = y high, 1 = z high.
BOX_EDGES = np.array([[0, 1], [2, 3], [4, 5], [6, 7], [0, 2], [1, 3], [4, 6], [5, 7], [0, 4], [1, 5], [2, 6], [3, 7]])
_OVERLAY_KEYS = {"label", "target", "reference", "edges", "colour"}


def _flat(array: np.ndarray, decimals: int) -> list:
    """Rounded numbers; NaN / inf as None (JSON null, which the page skips): a bare NaN is not JSON,
    and JSON.parse would reject the whole page for one bad mapped point."""
    flat = np.round(np.asarray(array, dtype=np.float64), decimals).reshape(-1)
    return [float(v) if np.isfinite(v) else None for v in flat]


def _rgb(colours: np.ndarray) -> list:
    return np.clip(np.round(np.asarray(colours) * 255), 0, 255).astype(int).reshape(-1).tolist()


def _subset(points: np.ndarray, colours: np.ndarray, limit: int, seed: int):
    if len(points) <= limit:
        return points, colours
    keep = np.sort(np.random.default_rng(seed).choice(len(points), limit, replace=False))
    return points[keep], colours[keep]


def _overlay(k: int, overlay: dict) -> dict:
    """One overlay checked and flattened for the page (`viewer_html`)."""
    label = str(overlay.get("label", f"overlay {k + 1}"))
    unknown = set(overlay) - _OVERLAY_KEYS
    if unknown:
        raise ValueError(f"overlay {label!r}: unknown key(s) {sorted(unknown)} (expected {sorted(_OVERLAY_KEYS)})")
    sides = {}
    for side in ("target", "reference"):
        if overlay.get(side) is None:
            continue
        points = np.asarray(overlay[side], dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 3 or not len(points) or not np.isfinite(points).all():
            raise ValueError(f"overlay {label!r}: {side} must be finite points of shape (M, 3), M >= 1; "
                             f"got shape {points.shape}")
        sides[side] = points
    if not sides:
        raise ValueError(f"overlay {label!r} has neither target nor reference points")
    counts = {len(p) for p in sides.values()}
    if len(counts) > 1:
        raise ValueError(f"overlay {label!r}: target and reference must have as many points (an edge joins "
                         f"the same two in both), got {len(sides['target'])} and {len(sides['reference'])}")
    m = counts.pop()
    edges = overlay.get("edges")
    edges = np.stack([np.arange(m - 1), np.arange(1, m)], 1) if edges is None else np.asarray(edges)
    if edges.size and (edges.ndim != 2 or edges.shape[1] != 2 or edges.dtype.kind not in "iu"
                       or edges.min() < 0 or edges.max() >= m):
        raise ValueError(f"overlay {label!r}: edges must be (E, 2) point indices in [0, {m - 1}], "
                         f"got shape {edges.shape}")
    colour = np.asarray(overlay.get("colour", (0.85, 0.1, 0.5)), dtype=np.float64)
    if colour.shape != (3,):
        raise ValueError(f"overlay {label!r}: colour must be 3 numbers in [0, 1], got shape {colour.shape}")
    return {"label": label, "target": _flat(sides.get("target", np.zeros((0, 3))), 4),
            "reference": _flat(sides.get("reference", np.zeros((0, 3))), 4),
            "edges": np.asarray(edges, dtype=np.int64).reshape(-1).tolist(), "colour": _rgb(colour)}


def viewer_html(title: str, scenes: list[dict], roi_points: np.ndarray, roi_colours: np.ndarray,
                maps: list[dict], seed: int = 0, overlays: list[dict] | None = None) -> str:
    """The page. scenes: [{"name", "points" (P, 3), "colours" (P, 3) in [0, 1]}] (target first);
    maps: [{"label": str, "mapped": (R, 3) images of roi_points}], best first; overlays: [{"label",
    "target": (M, 3) and / or "reference": (M, 3), "edges": (E, 2) point indices (default: a polyline
    through the points in order; `BOX_EDGES` for box corners), "colour": RGB in [0, 1]}], drawn as
    lines in the scene(s) given; a bad shape is a ValueError naming the overlay."""
    data = {"title": title, "roi": {"points": _flat(roi_points, 4), "colours": _rgb(roi_colours)},
            "scenes": [], "maps": [{"label": m["label"], "mapped": _flat(m["mapped"], 4)} for m in maps],
            "overlays": [_overlay(k, o) for k, o in enumerate(overlays or [])]}
    for k, scene in enumerate(scenes):
        pts, cols = _subset(np.asarray(scene["points"]), np.asarray(scene["colours"]), MAX_SCENE_POINTS, seed + k)
        data["scenes"].append({"name": scene["name"], "points": _flat(pts, 3), "colours": _rgb(cols)})
    # Every "<" escaped: no "</script" can close the data block and no "<!--" can open one (file names
    # are in the data). The placeholders are filled in one pass, so text in the data is never a placeholder.
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    parts = {"__TITLE__": html.escape(title), "__DATA__": payload, "__SCRIPT__": _SCRIPT}
    return re.sub("__TITLE__|__DATA__|__SCRIPT__", lambda m: parts[m.group(0)], _PAGE)


def save_viewer(path: str | os.PathLike, *args, **kwargs) -> None:
    """Write `viewer_html(...)` atomically."""
    atomic.write_text(path, viewer_html(*args, **kwargs))


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font-family:sans-serif;margin:12px;background:#fafafa;color:#222}
.row{display:flex;gap:12px;flex-wrap:wrap}
.panel{background:#fff;border:1px solid #ccc;padding:6px}
canvas{display:block;cursor:grab;background:#fff}
#controls{margin:8px 0}
.note{font-size:12px;color:#555}
</style></head><body>
<h3>__TITLE__</h3>
<div id="controls">map: <select id="map"></select>
<label><input type="checkbox" id="link" checked> link views</label>
<span class="note">drag: orbit &middot; wheel: zoom &middot; double-click: reset</span></div>
<div id="overlays" class="note"></div>
<div class="row" id="panels"></div>
<p class="note">RoI keypoints in the target and their images in the reference share colours.</p>
<script type="application/json" id="data">__DATA__</script>
<script>__SCRIPT__</script>
</body></html>
"""

_SCRIPT = r"""
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("data").textContent);
  var W = 600, H = 480, views = [], mapIndex = 0;
  var select = document.getElementById("map"), link = document.getElementById("link");

  function bounds(p) {
    var lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    for (var i = 0; i < p.length; i += 3) for (var k = 0; k < 3; k++) {
      lo[k] = Math.min(lo[k], p[i + k]); hi[k] = Math.max(hi[k], p[i + k]);
    }
    var c = [0, 0, 0], r2 = 0;
    for (k = 0; k < 3; k++) { c[k] = p.length ? (lo[k] + hi[k]) / 2 : 0; r2 += p.length ? Math.pow(hi[k] - lo[k], 2) : 1; }
    return {centre: c, radius: Math.max(0.5 * Math.sqrt(r2), 1e-3)};  // half the box diagonal
  }

  function makeView(scene, index) {
    var panel = document.createElement("div"), canvas = document.createElement("canvas");
    panel.className = "panel";
    panel.appendChild(document.createTextNode(scene.name));
    canvas.width = W; canvas.height = H; canvas.id = "view" + index;
    panel.appendChild(canvas);
    document.getElementById("panels").appendChild(panel);
    var b = bounds(scene.points);
    var view = {scene: scene, index: index, canvas: canvas, ctx: canvas.getContext("2d"), centre: b.centre, radius: b.radius,
                yaw: 0.6, pitch: 0.8, zoom: 1.0};
    var drag = null;
    canvas.addEventListener("mousedown", function (e) { drag = [e.clientX, e.clientY]; });
    window.addEventListener("mouseup", function () { drag = null; });
    window.addEventListener("mousemove", function (e) {
      if (!drag) return;
      orbit(view, (e.clientX - drag[0]) * 0.01, (e.clientY - drag[1]) * 0.01);
      drag = [e.clientX, e.clientY];
    });
    canvas.addEventListener("wheel", function (e) {
      e.preventDefault();
      view.zoom *= Math.exp(-e.deltaY * 0.001);
      draw(view);
    }, {passive: false});
    canvas.addEventListener("dblclick", function () { each(view, function (v) { v.yaw = 0.6; v.pitch = 0.8; v.zoom = 1; }); });
    return view;
  }

  function each(view, change) {
    var targets = link.checked ? views : [view];
    targets.forEach(function (v) { change(v); draw(v); });
  }

  function orbit(view, dyaw, dpitch) {
    each(view, function (v) {
      v.yaw += dyaw;
      v.pitch = Math.max(-1.5, Math.min(1.5, v.pitch + dpitch));
    });
  }

  function project(view, p, out) {
    // Camera on a sphere around the centre, looking at it; +y is up on screen.
    var cy = Math.cos(view.yaw), sy = Math.sin(view.yaw), cp = Math.cos(view.pitch), sp = Math.sin(view.pitch);
    var dist = 3 * view.radius, f = 0.45 * Math.min(W, H) * view.zoom * dist / view.radius;
    var n = p.length / 3;
    for (var i = 0; i < n; i++) {
      var x = p[3 * i] - view.centre[0], y = p[3 * i + 1] - view.centre[1], z = p[3 * i + 2] - view.centre[2];
      if (p[3 * i] === null || p[3 * i + 1] === null || p[3 * i + 2] === null) continue;  // a non-finite point
      var xr = cy * x - sy * z, zr = sy * x + cy * z;
      // (xr, yr, back) is a proper rotation of (x, y, z): the camera sits at back = +dist (above the floor
      // for pitch > 0), so depth is dist - back; dist + back was a mirrored camera (near points small).
      var yr = cp * y - sp * zr, depth = dist - (sp * y + cp * zr);
      depth = Math.max(depth, 1e-3);
      out.push([W / 2 + f * xr / depth, H / 2 - f * yr / depth, depth, i]);
    }
    return out;
  }

  function paint(ctx, items, colours, size, outline) {
    items.sort(function (a, b) { return b[2] - a[2]; });  // far first
    for (var k = 0; k < items.length; k++) {
      var it = items[k], c = 3 * it[3];
      if (outline) { ctx.fillStyle = "#000"; ctx.fillRect(it[0] - size / 2 - 1, it[1] - size / 2 - 1, size + 2, size + 2); }
      ctx.fillStyle = "rgb(" + colours[c] + "," + colours[c + 1] + "," + colours[c + 2] + ")";
      ctx.fillRect(it[0] - size / 2, it[1] - size / 2, size, size);
    }
  }

  function rgb(c, k) { return "rgb(" + c[k] + "," + c[k + 1] + "," + c[k + 2] + ")"; }

  function drawOverlays(view) {
    var ctx = view.ctx;
    data.overlays.forEach(function (o) {
      var pts = view.index === 0 ? o.target : o.reference;
      if (!pts.length) return;
      var q = project(view, pts, []);
      ctx.strokeStyle = ctx.fillStyle = rgb(o.colour, 0);
      ctx.lineWidth = 2;
      ctx.beginPath();
      for (var e = 0; e < o.edges.length; e += 2) {
        ctx.moveTo(q[o.edges[e]][0], q[o.edges[e]][1]); ctx.lineTo(q[o.edges[e + 1]][0], q[o.edges[e + 1]][1]);
      }
      ctx.stroke();
      for (var i = 0; i < q.length; i++) ctx.fillRect(q[i][0] - 1.5, q[i][1] - 1.5, 3, 3);
    });
  }

  function draw(view) {
    var ctx = view.ctx;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, W, H);
    paint(ctx, project(view, view.scene.points, []), view.scene.colours, 2, false);
    var key = view === views[0] ? data.roi.points : (data.maps.length ? data.maps[mapIndex].mapped : []);
    paint(ctx, project(view, key, []), data.roi.colours, 5, true);
    drawOverlays(view);
    if (view !== views[0] && !data.maps.length) {
      ctx.fillStyle = "#a00"; ctx.font = "16px sans-serif"; ctx.fillText("no map", 10, 24);
    }
  }

  data.maps.forEach(function (m, i) {
    var option = document.createElement("option");
    option.value = String(i); option.textContent = m.label;
    select.appendChild(option);
  });
  data.overlays.forEach(function (o) {
    var item = document.createElement("span"), swatch = document.createElement("span");
    swatch.style.cssText = "display:inline-block;width:18px;height:3px;vertical-align:middle;margin:0 4px 0 12px;" +
      "background:" + rgb(o.colour, 0);
    item.appendChild(swatch);
    item.appendChild(document.createTextNode(o.label));
    document.getElementById("overlays").appendChild(item);
  });
  select.addEventListener("change", function () { mapIndex = Number(select.value); views.forEach(draw); });
  views = data.scenes.map(makeView);
  views.forEach(draw);
  document.viewerProject = project;  // for the page tests: where a point lands and how deep it is
  document.body.setAttribute("data-ready", "1");
})();
"""
