"""Matcher speed: seconds per pair (coarse, fine, total) and how they scale with RoI and reference size.

    python benchmarks/match.py [--device cpu|cuda] [--preset fast] [--repeats 3] [--thres-study]

Field: an untrained `--preset` field with a fixed seed (speed does not depend on the weights).
Scenes: synthetic furnished rooms (`scene_analogy.synthetic`: build_pool, generate_room,
layout_to_scene), several concatenated when more objects are needed, 50 keypoints per object on the
faces of its box. The reference is a rotated, mirrored, rescaled copy of the first N objects, so
every run finds a real analogy and goes through both stages. Each number is the median of
`--repeats` runs after one warm-up; torch uses as many threads as there are cores (the machine is
shared, hence medians).

Prints the headline case (RoI 3 objects x 50 points vs reference 15 x 50), a sweep over RoI size
(1..8 objects, reference 15) and reference size (5..60 objects, RoI 3), and saves a log-log plot with
fitted slopes to results/match_scaling.png. `--thres-study` prints the fine costs of true pairs and
of RoIs matched into unrelated rooms (the measurement behind MatchConfig.local_valid_thres).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scene_analogy.field.model import PRESETS  # noqa: E402
from scene_analogy.fixtures.match_inputs import box_keypoint_scene, transformed_copy  # noqa: E402
from scene_analogy.match.inputs import MatchConfig  # noqa: E402
from scene_analogy.match.pipeline import find_analogy  # noqa: E402
from scene_analogy.structures.scene import Scene  # noqa: E402
from scene_analogy.synthetic.dataset import layout_to_scene  # noqa: E402
from scene_analogy.synthetic.objects import build_pool  # noqa: E402
from scene_analogy.synthetic.rooms import generate_room  # noqa: E402

POINTS = 50


def big_scene(num_objects: int, seed: int = 0) -> Scene:
    """At least `num_objects` objects: synthetic rooms side by side (each shifted 12 m along x)."""
    pool = build_pool(seed)
    rng = np.random.default_rng(seed)
    rooms, total, shift = [], 0, 0.0
    while total < num_objects:
        room = layout_to_scene(generate_room(pool, "train", rng), pool)
        rooms.append(room.transformed(np.eye(3), np.array([shift, 0.0, 0.0])))
        total += len(room)
        shift += 12.0
    return Scene.concat(rooms)


def time_pair(field, scene: Scene, roi_size: int, ref_size: int, cfg: MatchConfig, repeats: int):
    rng = np.random.default_rng(1)
    target = box_keypoint_scene(scene.subset(np.arange(max(roi_size, 15))), POINTS, rng)
    ref = transformed_copy(box_keypoint_scene(scene.subset(np.arange(ref_size)), POINTS, rng),
                           np.pi / 2, True, 1.1, [2.0, 0.0, 1.0])
    # RoI: object 0 and its nearest neighbours (box centres), as in evaluation.
    dist = np.linalg.norm(target.box_centres - target.box_centres[0], axis=1)
    roi = np.argsort(dist, kind="stable")[:roi_size]
    runs = []
    for _ in range(repeats + 1):
        runs.append(find_analogy(target, ref, roi, field, field, cfg).timings)
    runs = runs[1:]
    return {k: statistics.median(r[k] for r in runs) for k in ("coarse", "fine", "total")}


def slope(xs, ys) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def thres_study(field, cfg: MatchConfig) -> None:
    """Fine costs of true analogies vs RoIs matched into other rooms (same classes needed to map)."""
    pool = build_pool(0)
    rng = np.random.default_rng(5)
    true_costs, false_costs = [], []
    for _ in range(6):
        room = layout_to_scene(generate_room(pool, "train", rng), pool)
        other = layout_to_scene(generate_room(pool, "train", rng), pool)
        target = box_keypoint_scene(room, POINTS, rng)
        roi = np.argsort(np.linalg.norm(target.box_centres - target.box_centres[0], axis=1))[:3]
        copy = transformed_copy(box_keypoint_scene(room, POINTS, rng), 1.3, False, 1.0, [1.0, 0.0, 0.0])
        for ref, costs in ((copy, true_costs), (box_keypoint_scene(other, POINTS, rng), false_costs)):
            result = find_analogy(target, ref, roi, field, field, cfg)
            costs.append(result.maps[0].cost if result.maps else float("nan"))
    print("true pairs (re-sampled keypoints):", np.round(true_costs, 3).tolist())
    print("unrelated rooms:                  ", np.round(false_costs, 3).tolist())


SWEEPS = {"roi": ([1, 2, 3, 5, 8], 15), "ref": ([5, 10, 15, 30, 60], 3)}


def scaling(field, scene: Scene, cfg: MatchConfig, repeats: int, sweeps=SWEEPS, log=print) -> dict:
    """Seconds per pair over RoI sizes (reference fixed) and reference sizes (RoI fixed):
    {"roi" / "ref": {"sizes": [...], "fixed": n, "rows": [{coarse, fine, total}], "slopes": {...}}}."""
    results = {}
    for name, (sizes, fixed) in sweeps.items():
        log(f"\n{'RoI objects' if name == 'roi' else 'ref objects':>12} {'coarse':>8} {'fine':>8} {'total':>8}")
        rows = []
        for size in sizes:
            t = time_pair(field, scene, size if name == "roi" else fixed, fixed if name == "roi" else size,
                          cfg, repeats)
            rows.append(t)
            log(f"{size:>12} {t['coarse']:>8.3f} {t['fine']:>8.3f} {t['total']:>8.3f}")
        slopes = {k: slope(sizes, [r[k] for r in rows]) for k in ("coarse", "fine", "total")}
        # The fit over all sizes hides a curve that bends upwards: the last segment shows the trend.
        end_slopes = {k: slope(sizes[-2:], [r[k] for r in rows[-2:]]) for k in ("coarse", "fine", "total")}
        log("slopes (log-log fit): " + ", ".join(f"{k} {v:.2f}" for k, v in slopes.items())
            + "; last segment: " + ", ".join(f"{k} {v:.2f}" for k, v in end_slopes.items()))
        results[name] = {"sizes": list(sizes), "fixed": fixed, "rows": rows, "slopes": slopes,
                         "end_slopes": end_slopes}
    return results


def plot_scaling(results: dict, out: str, title: str) -> None:
    """Log-log plot of `scaling` results, fitted slopes in the legend; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (name, sweep) in zip(axes, results.items()):
        for key in ("coarse", "fine", "total"):
            ys = [r[key] for r in sweep["rows"]]
            ax.loglog(sweep["sizes"], ys, "o-", label=f"{key} (slope {sweep['slopes'][key]:.2f}, "
                                                     f"last segment {sweep['end_slopes'][key]:.2f})")
        ax.set_xlabel(f"RoI objects (reference {sweep['fixed']})" if name == "roi"
                      else f"reference objects (RoI {sweep['fixed']})")
        ax.set_ylabel("seconds per pair")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    tmp = out + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--preset", default="fast", choices=sorted(PRESETS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--thres-study", action="store_true")
    parser.add_argument("--out", default="results/match_scaling.png")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    # Only when needed: in this torch build (2.13 CPU, MKL) any explicit set_num_threads call, even
    # to the current value, breaks batched torch.linalg.lu_factor (garbage pivots), used by rbf.py.
    if torch.get_num_threads() != cores:
        torch.set_num_threads(cores)
    torch.manual_seed(0)
    field = PRESETS[args.preset].build().eval().to(args.device)
    cfg = MatchConfig(device=args.device)
    if args.thres_study:
        thres_study(field, cfg)
        return
    scene = big_scene(60)
    head = time_pair(field, scene, 3, 15, cfg, args.repeats)
    print(f"preset {args.preset}, {args.device}, {torch.get_num_threads()} threads; seconds per pair (median)")
    print(f"RoI 3 x {POINTS} vs reference 15 x {POINTS}: coarse {head['coarse']:.3f}  fine {head['fine']:.3f}  "
          f"total {head['total']:.3f}")
    results = scaling(field, scene, cfg, args.repeats)
    plot_scaling(results, args.out, f"matcher, {args.preset} preset, {args.device}")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
