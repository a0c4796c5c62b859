"""What `python -m scene_analogy.analogy` writes for an `OwnAnalogy` (all files atomic):

- `map.npz`: the best map (`AnalogyMap`, in the files' frames: target file -> reference file);
  absent when there is no analogy. `maps/map_<k>.npz`: the k-th ranked map, k = 1..topk. Maps an
  earlier run left in the folder (`map.npz`, higher ranks) are removed.
- `roi_mapped.ply`: the RoI keypoints (`role` 0, target file frame) and their images under the best
  map (`role` 1, reference file frame; the first map when there is no analogy), the same colour per
  pair, `pair` = keypoint index, and an `edge` element joining each keypoint to its image.
- `maps.json`: inputs, checkpoint, threshold, timings and the top-k maps (rank, cost, per-object
  costs, coarse cost, mirror, inliers, object correspondences as instance ids, file).
- `analogy.png`: both scenes from above and in 3D (`vis.match_pictures.save_analogy_png`); the
  coarse candidates only with `show_candidates`.
- `analogy.html`: the interactive viewer (`vis.html_viewer`) over all top-k maps, with what
  `--transfer` / `--place` carried (`carried_overlays`): each point list as a polyline in the target
  and its image in the reference, the placed mesh's box as a wireframe in both.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from scene_analogy.files import atomic
from scene_analogy.files.ply import write_ply
from scene_analogy.match.analogy_map import AnalogyMap
from scene_analogy.user_scenes.formats import UP_ROTATIONS
from scene_analogy.user_scenes.matching import OwnAnalogy
from scene_analogy.user_scenes.transfer import Placement, PointList, carried_pose, placement_corners
from scene_analogy.vis.html_viewer import BOX_EDGES, save_viewer
from scene_analogy.vis.match_pictures import colour_wheel, save_analogy_png
from scene_analogy.vis.pictures import class_colour

__all__ = ["write_outputs", "maps_summary", "carried_overlays"]
# Overlay colours, strong against the viewer's pale scene clouds: the point lists in turn, the placed box.
TRAJECTORY_COLOURS = ((0.85, 0.05, 0.55), (0.1, 0.3, 0.9), (0.95, 0.45, 0.0), (0.0, 0.55, 0.35))
PLACED_COLOUR = (0.1, 0.1, 0.1)


def maps_summary(analogy: OwnAnalogy) -> dict:
    """The content of maps.json."""
    result = analogy.result
    maps = []
    for k, m in enumerate(result.maps):
        maps.append({
            "rank": k + 1, "cost": m.cost, "below_threshold": m.cost <= analogy.threshold,
            "object_costs": [float(c) for c in result.object_costs[k]],
            "coarse_cost": m.meta.get("coarse_cost"), "mirror": m.meta.get("mirror"),
            "num_inliers": m.meta.get("num_inliers"),
            "correspondence": analogy.correspondence_ids(k), "file": f"maps/map_{k + 1}.npz",
        })
    return {
        "target": analogy.target.path, "reference": analogy.reference.path,
        "up": {"target": analogy.target.up, "reference": analogy.reference.up},
        "roi_ids": [int(i) for i in analogy.roi_ids], "checkpoint": analogy.checkpoint,
        "class_labels_used": analogy.semantic, "threshold": analogy.threshold,
        "analogy": result.best is not None, "timings_s": {k: round(v, 4) for k, v in result.timings.items()},
        "maps": maps,
    }


def _label(analogy: OwnAnalogy, k: int) -> str:
    m = analogy.result.maps[k]
    pairs = ", ".join(f"{t}\u2192{r}" for t, r in analogy.correspondence_ids(k))
    flag = "" if m.cost <= analogy.threshold else " (above threshold)"
    return f"#{k + 1}: cost {m.cost:.3f}{flag}; objects {pairs}"


def _scene_view(name: str, scene, match, semantic: bool) -> dict:
    """A whole cloud for the viewer, pale per-object colours (by class when labels are used, else
    by object) so that the RoI keypoints stand out."""
    _, obj = np.unique(scene.instance, return_inverse=True)
    base = np.array([class_colour(c if semantic else k) for k, c in enumerate(match.class_ids)])
    return {"name": f"{name}: {scene.path}", "points": scene.points, "colours": 0.45 * base[obj] + 0.55}


def carried_overlays(analogy: OwnAnalogy, use: AnalogyMap, rank: int,
                     transfers: Sequence[tuple[str, PointList, PointList]] = (),
                     placement: Placement | None = None) -> list[dict]:
    """The viewer's overlays (y-up) of what map `use` (files' frames, ranked `rank`) carried:
    transfers: (name, PointList read, PointList transferred) per `--transfer` file; placement: `--place`."""
    into_t, into_r = UP_ROTATIONS[analogy.target.up].T, UP_ROTATIONS[analogy.reference.up].T
    overlays = []
    for k, (name, before, after) in enumerate(transfers):
        overlays.append({"label": f"{name} (map #{rank})", "target": np.asarray(before.positions) @ into_t,
                         "reference": np.asarray(after.positions) @ into_r,
                         "colour": TRAJECTORY_COLOURS[k % len(TRAJECTORY_COLOURS)]})
    if placement is not None:
        rot, position = carried_pose(use, placement, analogy.target.up)
        overlays.append({"label": f"placed {placement.mesh_path.name} (map #{rank})", "edges": BOX_EDGES,
                         "target": placement_corners(placement) @ into_t,
                         "reference": placement_corners(placement, rot, position) @ into_r, "colour": PLACED_COLOUR})
    return overlays


def write_outputs(analogy: OwnAnalogy, out_dir, show_candidates: bool = False,
                  overlays: list[dict] | None = None) -> list[Path]:
    """Write every file of the module docstring under out_dir; returns the paths written.
    show_candidates: draw the coarse candidates in analogy.png; overlays: `carried_overlays`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result, written = analogy.result, []
    for k, m in enumerate(analogy.maps):
        m.save(out / "maps" / f"map_{k + 1}.npz")
        written.append(out / "maps" / f"map_{k + 1}.npz")
    if analogy.best is not None:
        analogy.best.save(out / "map.npz")
        written.append(out / "map.npz")
    _remove_stale_maps(out, len(analogy.maps), analogy.best is not None)

    roi_y = analogy.target_match.points[np.isin(analogy.target_match.instance, analogy.roi)]
    roi_y = result.maps[0].roi_points if result.maps else roi_y
    colours = colour_wheel(roi_y)
    shown = analogy.best or (analogy.maps[0] if analogy.maps else None)
    roi_file = analogy.target.to_user(roi_y)
    parts = [roi_file] + ([shown.apply(roi_file)] if shown is not None else [])
    points = np.concatenate(parts)
    n = len(roi_file)
    rgb = np.round(np.tile(colours, (len(parts), 1)) * 255).astype(np.uint8)
    write_ply(out / "roi_mapped.ply", {
        "x": points[:, 0].astype(np.float32), "y": points[:, 1].astype(np.float32),
        "z": points[:, 2].astype(np.float32), "red": rgb[:, 0], "green": rgb[:, 1], "blue": rgb[:, 2],
        "role": np.repeat(np.arange(len(parts)), n).astype(np.uint8), "pair": np.tile(np.arange(n), len(parts)),
    }, edges=np.stack([np.arange(n), np.arange(n) + n], 1) if shown is not None else None,
        comment="role 0 = RoI keypoint (target), role 1 = its image (reference)")
    written.append(out / "roi_mapped.ply")
    atomic.write_json(out / "maps.json", maps_summary(analogy))
    written.append(out / "maps.json")

    best_y = result.best or (result.maps[0] if result.maps else None)
    title = (f"RoI {list(map(int, analogy.roi_ids))}: " +
             (f"cost {result.best.cost:.3f}" if result.best is not None else "no analogy"))
    save_analogy_png(analogy.target_match, analogy.reference_match, analogy.roi, roi_y,
                     None if best_y is None else best_y.apply(roi_y), out / "analogy.png",
                     result.candidate_boxes, title=title,
                     matched=None if best_y is None else best_y.correspondence[:, 1], show_candidates=show_candidates)
    written.append(out / "analogy.png")
    scenes = [_scene_view("target", analogy.target, analogy.target_match, analogy.semantic),
              _scene_view("reference", analogy.reference, analogy.reference_match, analogy.semantic)]
    maps = [{"label": _label(analogy, k), "mapped": m.apply(roi_y)} for k, m in enumerate(result.maps)]
    save_viewer(out / "analogy.html", f"Scene analogy: {title}", scenes, roi_y, colours, maps, overlays=overlays)
    written.append(out / "analogy.html")
    return written


def _remove_stale_maps(out: Path, num_maps: int, has_best: bool) -> None:
    """A reused folder keeps no map of an earlier run: `map.npz` without an analogy, `maps/map_<k>.npz`
    for k beyond this run's maps (read by name, so only files of this layout go)."""
    stale = [] if has_best else [out / "map.npz"]
    for path in (out / "maps").glob("map_*.npz"):
        rank = path.stem[len("map_"):]
        if rank.isdigit() and int(rank) > num_maps:
            stale.append(path)
    for path in stale:
        if path.is_file():
            path.unlink()
