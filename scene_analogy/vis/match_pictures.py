"""The picture of one analogy (`save_analogy_png`): target and reference from above and in 3D.

Drawn to be read at a glance. Every object is its footprint, filled in its class colour
(`pictures.class_colour`, pale) with a front tick and its keypoints; the objects that take part are
outlined bold in black and filled stronger: the RoI in the target, the objects the map matched it to
(`correspondence[:, 1]`) in the reference. The RoI keypoints and their images share colours
(`colour_wheel`) and sit on top. Optional free points (target-side points off the objects) and their
images are small and faint on the same wheel. The coarse candidates' warped RoI boxes crowd the
reference panel, so they are drawn (dashed) only with `show_candidates`. Every array is checked
first: a wrong shape is a ValueError that names the argument.
"""

from __future__ import annotations

import os

import numpy as np
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import hsv_to_rgb
from matplotlib.lines import Line2D

from scene_analogy.ops.geometry import box_corners_xz
from scene_analogy.vis.pictures import PALETTE, plt, save_figure

__all__ = ["colour_wheel", "class_colours", "save_analogy_png"]

_FACE_ALPHA, _FACE_ALPHA_BOLD = 0.18, 0.4
_FREE = dict(s=5, alpha=0.45, linewidths=0)  # free points: small and faint


def class_colours(class_ids: np.ndarray) -> np.ndarray:
    """(N, 3) RGB of `pictures.class_colour`, for an array of class ids at once."""
    ids = np.asarray(class_ids, dtype=np.int64)
    return np.asarray(PALETTE)[np.where(ids < 10, (2 * ids) % 20, (2 * ids + 1) % 20)]


def colour_wheel(points: np.ndarray, around: np.ndarray | None = None) -> np.ndarray:
    """RGB per point from its xz direction (hue) and distance (saturation) about the centre of
    `around` (default: the points themselves), so that a point and its image under a map can be
    given the same colour; points farther out than `around` reaches are fully saturated."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    around = points if around is None else np.asarray(around, dtype=np.float64).reshape(-1, 3)
    if not len(points) or not len(around):
        return np.zeros((len(points), 3))
    centre = around[:, [0, 2]].mean(0)
    reach = max(np.linalg.norm(around[:, [0, 2]] - centre, axis=1).max(), 1e-9)
    rel = points[:, [0, 2]] - centre
    hue = (np.arctan2(rel[:, 1], rel[:, 0]) / (2 * np.pi)) % 1.0
    sat = 0.35 + 0.65 * np.minimum(np.linalg.norm(rel, axis=1) / reach, 1.0)
    return hsv_to_rgb(np.stack([hue, sat, np.full_like(hue, 0.95)], 1))


def _points(name: str, value, rows: int | None = None, like: str = "") -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {array.shape}")
    if rows is not None and len(array) != rows:
        raise ValueError(f"{name} must have one row per row of {like} ({rows}), got {len(array)}")
    return array


def _indices(name: str, value, count: int, scene: str) -> np.ndarray:
    array = np.zeros(0, np.int64) if value is None else np.asarray(value).reshape(-1)
    if array.size and (array.dtype.kind not in "iu" or array.min() < 0 or array.max() >= count):
        raise ValueError(f"{name} must be object indices of the {scene} in [0, {count - 1}], got {array.tolist()}")
    return array.astype(np.int64)


def _draw_match_scene(ax, scene, title: str, highlight=None) -> None:
    """Top-down: footprints filled pale in class colour with a front tick, keypoints in class colour,
    floor-plan keypoints as black squares; objects in `highlight` outlined bold and filled stronger."""
    objects = scene.instance >= 0
    ax.scatter(scene.points[objects, 0], scene.points[objects, 2], s=3, c=class_colours(scene.labels[objects] - 1),
               alpha=0.6, linewidths=0, zorder=2)
    floor = scene.points[~objects]
    if len(floor):
        ax.scatter(floor[:, 0], floor[:, 2], s=8, marker="s", color="black", zorder=2)
    if len(scene):
        bold = np.zeros(len(scene), bool)
        bold[_indices("highlight", None if highlight is None else sorted(highlight), len(scene), "scene")] = True
        colours = class_colours(scene.class_ids)
        order = np.lexsort((bold, scene.box_centres[:, 1] + scene.box_sizes[:, 1] / 2))  # low first, bold last
        faces = np.c_[colours, np.where(bold, _FACE_ALPHA_BOLD, _FACE_ALPHA)][order]
        edges = np.where(bold[:, None], [[0.0, 0.0, 0.0, 1.0]], np.c_[colours, np.ones(len(scene))])[order]
        corners = box_corners_xz(scene.box_sizes, scene.box_centres, scene.box_rots)[order]
        ax.add_collection(PolyCollection(corners, facecolors=faces, edgecolors=edges,
                                         linewidths=np.where(bold, 2.2, 0.9)[order], zorder=1))
        front = scene.box_centres + 0.5 * scene.box_sizes[:, 2:3] * scene.box_rots[:, :, 2]
        ticks = np.stack([scene.box_centres[:, [0, 2]], front[:, [0, 2]]], 1)
        ax.add_collection(LineCollection(ticks, colors="0.25", linewidths=0.8, zorder=1))
    ax.autoscale_view()
    ax.set_aspect("equal", adjustable="datalim")
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("z (m)")


def _draw_3d(ax, scene, name: str, pts, colours, free, free_colours) -> None:
    """The keypoints in 3D (floor-plan corners as black squares), metres at equal scale on every axis."""
    objects = scene.instance >= 0
    cloud, floor = scene.points[objects], scene.points[~objects]
    ax.scatter(cloud[:, 0], cloud[:, 2], cloud[:, 1], s=2, c=class_colours(scene.labels[objects] - 1), alpha=0.4,
               linewidths=0)
    if len(floor):
        ax.scatter(floor[:, 0], floor[:, 2], floor[:, 1], s=8, marker="s", color="black", depthshade=False)
    if free is not None and len(free):
        ax.scatter(free[:, 0], free[:, 2], free[:, 1], c=free_colours, depthshade=False, **_FREE)
    if pts is not None:
        ax.scatter(pts[:, 0], pts[:, 2], pts[:, 1], s=8, c=colours, depthshade=False)
    shown = np.concatenate([scene.points] + ([pts] if pts is not None else []))
    if len(shown):
        ax.set_box_aspect(np.maximum(np.ptp(shown[:, [0, 2, 1]], 0), 0.5))  # metres look like metres
    ax.set_xlabel("x", fontsize=8, labelpad=-6)
    ax.set_ylabel("z", fontsize=8, labelpad=-6)
    ax.set_zlabel("y (up)", fontsize=8, labelpad=-6)
    ax.tick_params(labelsize=7, pad=-2)
    ax.locator_params(nbins=4)
    ax.set_title(f"{name} (3D)", fontsize=10)
    ax.view_init(elev=35, azim=-60)
    ax.invert_yaxis()  # z grows towards the viewer, as in the top-down panels


def _legend(fig, gt: bool, free: bool, candidates: bool) -> None:
    dot = dict(marker="o", linestyle="none", markersize=6)
    handles = [Line2D([], [], markerfacecolor="#e0508a", markeredgecolor="black", label="RoI keypoint / its image",
                      **dot),
               Line2D([], [], color="black", linewidth=2.2, label="RoI / matched objects (bold)")]
    if gt:
        handles.append(Line2D([], [], markerfacecolor="none", markeredgecolor="0.3", label="true image", **dot))
    if free:
        handles.append(Line2D([], [], markerfacecolor="#5080e0", markeredgecolor="none", alpha=0.4,
                              label="free point / its image", marker="o", linestyle="none", markersize=3))
    if candidates:
        handles.append(Line2D([], [], color="0.4", linestyle="--", linewidth=0.8, label="coarse candidate (RoI box)"))
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.955), ncol=len(handles), fontsize=9,
               frameon=False)


def save_analogy_png(target, reference, roi: np.ndarray, roi_points: np.ndarray, mapped: np.ndarray | None,
                     path: str | os.PathLike, candidate_boxes: np.ndarray | None = None, title: str = "",
                     gt_points: np.ndarray | None = None, matched: np.ndarray | None = None,
                     free_points: np.ndarray | None = None, free_mapped: np.ndarray | None = None,
                     show_candidates: bool = False) -> None:
    """Target and reference (`MatchScene`s) side by side, top-down and in 3D (module docstring).

    roi: the RoI's target object indices; roi_points (R, 3) and their images `mapped` (R, 3) or None
    (no map); gt_points (R, 3): the true images, hollow circles; matched: reference object indices
    the map matched (its `correspondence[:, 1]`); free_points (F, 3) and their images free_mapped
    (F, 3); candidate_boxes (..., 4, 2): xz quads of the coarse candidates, drawn only with
    show_candidates."""
    roi_points = _points("roi_points", roi_points)
    rows = len(roi_points)
    mapped = _points("mapped", mapped, rows, "roi_points")
    gt_points = _points("gt_points", gt_points, rows, "roi_points")
    free_points = _points("free_points", free_points)
    if free_mapped is not None and free_points is None:
        raise ValueError("free_mapped (the images of free points) needs free_points")
    free_mapped = _points("free_mapped", free_mapped, None if free_points is None else len(free_points), "free_points")
    roi = _indices("roi", roi, len(target), "target")
    matched = _indices("matched", matched, len(reference), "reference")
    if candidate_boxes is not None:
        candidate_boxes = np.asarray(candidate_boxes, dtype=np.float64)
        if candidate_boxes.ndim < 2 or candidate_boxes.shape[-2:] != (4, 2):
            raise ValueError(f"candidate_boxes must have shape (..., 4, 2), got {candidate_boxes.shape}")
    shown_candidates = show_candidates and candidate_boxes is not None and candidate_boxes.size > 0

    colours = colour_wheel(roi_points)
    free_colours = None if free_points is None else colour_wheel(free_points, around=roi_points)
    fig = plt.figure(figsize=(13, 11.5))
    grid = fig.add_gridspec(2, 2, height_ratios=[1.35, 1], hspace=0.18, wspace=0.2, top=0.9)
    ax_t, ax_r = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    _draw_match_scene(ax_t, target, "target: the RoI (bold) and its keypoints", highlight=set(roi.tolist()))
    _draw_match_scene(ax_r, reference, "reference: matched objects (bold), image of the RoI" if mapped is not None
                      else "reference: no analogy", highlight=set(matched.tolist()))
    if free_points is not None:
        ax_t.scatter(free_points[:, 0], free_points[:, 2], c=free_colours, zorder=3, **_FREE)
    if free_mapped is not None:
        ax_r.scatter(free_mapped[:, 0], free_mapped[:, 2], c=free_colours, zorder=3, **_FREE)
    ax_t.scatter(roi_points[:, 0], roi_points[:, 2], s=12, c=colours, edgecolors="black", linewidths=0.25, zorder=5)
    if shown_candidates:
        quads = candidate_boxes.reshape(-1, 4, 2)
        ax_r.add_collection(LineCollection(np.concatenate([quads, quads[:, :1]], 1), colors="0.4",
                                           linestyles="--", linewidths=0.6, zorder=3))
        ax_r.autoscale_view()
    if gt_points is not None:
        ax_r.scatter(gt_points[:, 0], gt_points[:, 2], s=16, facecolors="none", edgecolors="0.3", linewidths=0.4,
                     zorder=4)
    if mapped is not None:
        ax_r.scatter(mapped[:, 0], mapped[:, 2], s=12, c=colours, edgecolors="black", linewidths=0.25, zorder=5)
    for k, (scene, pts, free, name) in enumerate(((target, roi_points, free_points, "target"),
                                                  (reference, mapped, free_mapped, "reference"))):
        _draw_3d(fig.add_subplot(grid[1, k], projection="3d"), scene, name, pts, colours, free, free_colours)
    _legend(fig, gt_points is not None, free_points is not None, shown_candidates)
    fig.suptitle(title, y=0.985)
    save_figure(fig, path)
