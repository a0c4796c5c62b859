"""Headless pictures (matplotlib, Agg backend: no display needed).

Objects are drawn by class colour from one fixed palette so the same class looks the same in every
picture; each footprint has a tick on its front side (canonical +z) so orientation is visible.
The picture of one analogy (target, reference, RoI and its image) is `match_pictures.py`.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch, Polygon  # noqa: E402

from scene_analogy.files import atomic  # noqa: E402
from scene_analogy.ops.geometry import box_corners_xz  # noqa: E402
from scene_analogy.structures.classes import THREED_FRONT, ClassTable  # noqa: E402
from scene_analogy.structures.scene import Scene  # noqa: E402

PALETTE = plt.get_cmap("tab20").colors


def class_colour(class_id: int):
    return PALETTE[(2 * int(class_id)) % 20 if class_id < 10 else (2 * int(class_id) + 1) % 20]


def draw_scene_topdown(ax, scene: Scene, title: str = "") -> None:
    """Floor outline, oriented footprints coloured by class, and a front tick per object."""
    for poly in scene.floor.polygons():
        closed = np.vstack([poly, poly[:1]])
        ax.plot(closed[:, 0], closed[:, 1], color="black", linewidth=1.5)
    if len(scene):
        corners = box_corners_xz(scene.bbox_sizes, scene.bbox_centroids, scene.rots)
        front = scene.bbox_centroids + 0.5 * scene.bbox_sizes[:, 2:3] * scene.rots[:, :, 2]
        for k in np.argsort(scene.bbox_centroids[:, 1] + scene.bbox_sizes[:, 1] / 2):  # low objects first
            colour = class_colour(scene.class_ids[k])
            ax.add_patch(Polygon(corners[k], closed=True, facecolor=colour, edgecolor="black", alpha=0.8, lw=0.6))
            centre = scene.bbox_centroids[k]
            ax.plot([centre[0], front[k, 0]], [centre[2], front[k, 2]], color="black", linewidth=0.8)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("z (m)")
    ax.set_title(title)


def class_legend(fig, classes: ClassTable, used: set[int]) -> None:
    handles = [Patch(color=class_colour(c), label=classes.names[c]) for c in sorted(used)]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8, frameon=False)


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> None:
    """Save a PNG atomically and close the figure."""
    with atomic.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def save_triplet_topdown(triplet: dict[str, Scene], path: str | os.PathLike, classes: ClassTable = THREED_FRONT) -> None:
    """Anchor, positive and negative side by side, seen from above."""
    titles = {"pos": "anchor", "pair_pos": "positive (swapped models)", "neg": "negative (pose noise)"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.4))
    used: set[int] = set()
    for ax, (prefix, title) in zip(axes, titles.items()):
        draw_scene_topdown(ax, triplet[prefix], title)
        used |= set(int(c) for c in triplet[prefix].class_ids)
    limits = np.concatenate([np.concatenate(triplet[p].floor.polygons()) for p in titles])
    pad = 0.3
    for ax in axes:
        ax.set_xlim(limits[:, 0].min() - pad, limits[:, 0].max() + pad)
        ax.set_ylim(limits[:, 1].max() + pad, limits[:, 1].min() - pad)
    class_legend(fig, classes, used)
    save_figure(fig, path)


def save_pair_topdown(pair, reference: Scene, path: str | os.PathLike, classes: ClassTable = THREED_FRONT) -> None:
    """An evaluation pair: the augmented target (distractors hatched) beside the reference."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.4))
    draw_scene_topdown(axes[0], pair.scene, "target (augmented; hatched = distractor)")
    corners = box_corners_xz(pair.scene.bbox_sizes, pair.scene.bbox_centroids, pair.scene.rots)
    for k in np.flatnonzero(pair.idx_map < 0):
        axes[0].add_patch(Polygon(corners[k], closed=True, fill=False, hatch="///", edgecolor="black", lw=0.6))
    draw_scene_topdown(axes[1], reference, "reference")
    for ax in axes:
        ax.invert_yaxis()
    class_legend(fig, classes, set(int(c) for c in np.concatenate([pair.scene.class_ids, reference.class_ids])))
    save_figure(fig, path)


def save_training_curve(history: list[dict], path: str | os.PathLike) -> None:
    """Training loss per step and held-out loss / triplet accuracy at each validation."""
    steps = np.array([h["step"] for h in history])
    loss = np.array([h["loss"] for h in history])
    val = [h for h in history if "val_loss" in h]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    window = max(1, len(loss) // 50)  # a running mean so the trend is readable
    smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
    ax_loss.plot(steps, loss, color="0.8", linewidth=0.6, label="train (per step)")
    ax_loss.plot(steps[window - 1:], smooth, color="C0", label=f"train (mean of {window})")
    if val:
        ax_loss.plot([h["step"] for h in val], [h["val_loss"] for h in val], "o-", color="C1", label="held-out")
        ax_acc.plot([h["step"] for h in val], [h["val_acc"] for h in val], "o-", color="C1", label="held-out")
    ax_acc.plot(steps[window - 1:], np.convolve([h["acc"] for h in history], np.ones(window) / window, "valid"),
                color="C0", label="train")
    ax_loss.set(xlabel="step", ylabel="InfoNCE loss", title="loss")
    ax_acc.set(xlabel="step", ylabel="triplet accuracy", title="triplet accuracy", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, path)
