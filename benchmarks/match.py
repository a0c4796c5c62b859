"""Matcher speed: seconds per pair (coarse, fine, total) and how they scale with RoI and reference size.

    python benchmarks/match.py [--device cpu|cuda] [--preset fast] [--repeats 3] [--thres-study] [--profile]

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
import time
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from timing import commands_policy  # noqa: E402  (benchmarks/ is sys.path[0] when run as a script)

from scene_analogy.field.model import PRESETS  # noqa: E402
from scene_analogy.fixtures.match_inputs import (  # noqa: E402
    box_keypoint_scene, select_objects, transformed_copy, true_linear)
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


TRUE_MAP = (np.pi / 2, True, 1.1, np.array([2.0, 0.0, 1.0]))  # yaw, mirror, scale, offset of the reference


def known_answer_pair(scene: Scene, roi_objects: int, roi_points: int, ref_objects: int, seed: int = 1):
    """(target, reference, roi, roi_src) of a pair with a known answer. Target: the first 15 objects of
    `scene`, the RoI (object 0 and its nearest neighbours by box centre) first with `roi_points` points
    in all on their box faces, the others 50 each; reference: the first `ref_objects` objects (50 points
    each) moved by TRUE_MAP, so target object i is reference object roi_src[i]."""
    rng = np.random.default_rng(seed)
    first = scene.subset(np.arange(15))
    near = np.argsort(np.linalg.norm(first.bbox_centroids - first.bbox_centroids[0], axis=1), kind="stable")
    roi_src, rest = near[:roi_objects], near[roi_objects:]
    target = select_objects(box_keypoint_scene(first.subset(roi_src), max(roi_points // roi_objects, 1), rng),
                            np.arange(roi_objects), box_keypoint_scene(first.subset(rest), POINTS, rng))
    ref = transformed_copy(box_keypoint_scene(scene.subset(np.arange(ref_objects)), POINTS, rng), *TRUE_MAP)
    return target, ref, np.arange(roi_objects), roi_src


def true_pcp(result, target, roi, roi_src, threshold: float = 0.25) -> tuple[float, bool]:
    """PCP of the best-ranked map (accepted or not) against TRUE_MAP, and whether its objects are right."""
    if not result.maps:
        return 0.0, False
    amap, points = result.maps[0], target.points[np.isin(target.instance, roi)]
    truth = points @ true_linear(*TRUE_MAP[:3]).T + TRUE_MAP[3]
    pcp = float((np.linalg.norm(amap.apply(points) - truth, axis=1) < threshold).mean())
    return pcp, sorted(map(tuple, amap.correspondence.tolist())) == sorted(zip(roi.tolist(), roi_src.tolist()))


def time_pair(field, scene: Scene, roi_size: int, ref_size: int, cfg: MatchConfig, repeats: int,
              roi_points: int | None = None):
    """Median timings of `repeats` runs after a warm-up, and the known-answer PCP (key "pcp")."""
    target, ref, roi, roi_src = known_answer_pair(scene, roi_size, roi_points or roi_size * POINTS, ref_size)
    runs = []
    for _ in range(repeats + 1):
        result = find_analogy(target, ref, roi, field, field, cfg)
        runs.append(result.timings)
    runs = runs[1:]
    out = {k: statistics.median(r[k] for r in runs) for k in ("coarse", "fine", "total")}
    return {**out, "pcp": true_pcp(result, target, roi, roi_src)[0]}


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


# Where one pair's time goes: cumulative cProfile time of the matcher's parts (ms per pair). A part
# is a function; nested parts are listed under their parent, so shares do not add up to 100 %.
PROFILE_PARTS = [
    ("descriptors (field forward)", "pipeline.py", "_describe"),
    ("coarse: candidate generation", "coarse.py", "generate_candidates"),
    ("coarse: scoring (all candidates + refined)", "coarse.py", "score_maps"),
    ("coarse: suppression (footprint IoU)", "coarse.py", "footprint_iou"),
    ("coarse: refinement (Adam, incl. final scoring)", "coarse.py", "refine_maps"),
    ("coarse: object correspondence", "coarse.py", "correspond_objects"),
    ("coarse: relational term", "relations.py", "relation_mismatch"),
    ("fine: field cost (Adam on points)", "local.py", "optimise_points"),
    ("fine: one-to-one assignment", "local.py", "assign_points"),
    ("fine: box-map parts", "blend.py", "parts_displacement"),
    ("fine: bumps fit", "blend.py", "fit_bumps"),
    ("  of which IDW cost (all calls)", "idw.py", "idw_cost"),
    ("  of which neighbour search (all calls)", "neighbors.py", "knn"),
    ("  of which autograd backward", "_tensor.py", "backward"),
    ("  of which Adam steps", "optimizer.py", "wrapper"),
]


def profile_pair(field, scene: Scene, cfg: MatchConfig, repeats: int, log=print) -> dict:
    """cProfile of the headline pair (`time_pair` 3 x 15): {part: CPU ms per pair} + "total".
    CPU time, not wall time, so that a loaded machine changes the numbers less (run it with --threads 1)."""
    import cProfile
    import pstats

    target, ref, roi, _ = known_answer_pair(scene, 3, 3 * POINTS, 15)
    find_analogy(target, ref, roi, field, field, cfg)  # warm-up outside the profile
    profiler = cProfile.Profile(time.process_time)  # CPU seconds of this process: robust to other jobs
    profiler.enable()
    for _ in range(repeats):
        find_analogy(target, ref, roi, field, field, cfg)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    total = sum(ct for (f, _, name), (_, _, _, ct, _) in stats.items() if name == "find_analogy") / repeats
    out = {"total": 1000 * total}
    log(f"{'part':<50} {'CPU ms':>8} {'share':>6}")
    for label, file, func in PROFILE_PARTS:
        # Top-level calls only: recursive entries of the same function are not counted twice.
        ms = 1000 * sum(ct for (f, _, name), (_, _, _, ct, _) in stats.items()
                        if name == func and f.endswith(file)) / repeats
        out[label.strip()] = ms
        log(f"{label:<50} {ms:>8.1f} {ms / out['total']:>6.0%}")
    log(f"{'find_analogy (whole pair, profiled)':<50} {out['total']:>8.1f}")
    return out


# Issue 18's ranges: RoI points (3 objects, reference 15) and reference objects (RoI 3 x 50).
SWEEPS = {"roi": ([150, 600, 2400, 6000, 20000], 15), "ref": ([15, 30, 60, 120, 200], 150)}


def scaling(field, scene: Scene, cfg: MatchConfig, repeats: int, sweeps=SWEEPS, log=print) -> dict:
    """Seconds per pair over RoI points (reference objects fixed) and reference objects (RoI points fixed):
    {"roi" / "ref": {"sizes": [...], "fixed": n, "rows": [{coarse, fine, total, pcp}], "slopes": {...}}}."""
    results = {}
    for name, (sizes, fixed) in sweeps.items():
        log(f"\n{'RoI points' if name == 'roi' else 'ref objects':>12} {'coarse':>8} {'fine':>8} {'total':>8} {'PCP':>6}")
        rows = []
        for size in sizes:
            roi_points, ref_size = (size, fixed) if name == "roi" else (fixed, size)
            t = time_pair(field, scene, 3, ref_size, cfg, repeats, roi_points=roi_points)
            rows.append(t)
            log(f"{size:>12} {t['coarse']:>8.3f} {t['fine']:>8.3f} {t['total']:>8.3f} {t['pcp']:>6.3f}")
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
        ax.set_xlabel(f"RoI points, 3 objects (reference {sweep['fixed']} objects)" if name == "roi"
                      else f"reference objects (RoI {sweep['fixed']} points)")
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
    parser.add_argument("--profile", action="store_true", help="where the headline pair's time goes (cProfile)")
    parser.add_argument("--out", default="results/match_scaling.png")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: one per core)")
    args = parser.parse_args()
    print(commands_policy(), flush=True)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    # Only when needed: in this torch build (2.13 CPU, MKL) any explicit set_num_threads call, even
    # to the current value, breaks batched torch.linalg.lu_factor (garbage pivots), used by rbf.py.
    if torch.get_num_threads() != (args.threads or cores):
        torch.set_num_threads(args.threads or cores)
    torch.manual_seed(0)
    field = PRESETS[args.preset].build().eval().to(args.device)
    cfg = MatchConfig(device=args.device)
    if args.thres_study:
        thres_study(field, cfg)
        return
    scene = big_scene(200)
    if args.profile:
        print(f"preset {args.preset}, {args.device}, {torch.get_num_threads()} threads; headline pair, {args.repeats} runs")
        profile_pair(field, scene, cfg, args.repeats)
        return
    head = time_pair(field, scene, 3, 15, cfg, args.repeats)
    print(f"preset {args.preset}, {args.device}, {torch.get_num_threads()} threads; seconds per pair (median)")
    print(f"RoI 3 x {POINTS} vs reference 15 x {POINTS}: coarse {head['coarse']:.3f}  fine {head['fine']:.3f}  "
          f"total {head['total']:.3f}")
    results = scaling(field, scene, cfg, args.repeats)
    plot_scaling(results, args.out, f"matcher, {args.preset} preset, {args.device}")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
