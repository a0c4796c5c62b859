"""Every speed number in one run: descriptor queries/s, seconds per pair (coarse / fine / total) and
open3d FPFH + RANSAC's on the same pair, scaling with RoI size and reference-scene size (log-log
plot with fitted slopes and each size's known-answer PCP), training steps/s.

    OMP_NUM_THREADS=1 python benchmarks/run_all.py [--repeats 3] [--device cpu] [--out results]

Reuses the single-purpose benchmarks (`field.py`: scene, queries/s, training step; `match.py`: the
pair timing, sweeps and plot) so the numbers agree with theirs. The matcher runs with the shipped
checkpoint (`--checkpoint`, default pretrained/synthetic_default); descriptor and training speeds
are per preset (they do not depend on the weights). Writes `OUT/benchmarks.json` (numbers, targets,
machine, load average before and after) and `OUT/scaling.png`. Accuracy lives elsewhere:
`python -m scene_analogy.evaluate` (README, Results).

Targets checked (printed and stored, issue 18): RoI-size and reference-size slopes of the total time
<= 1.0 (log-log fit over 150..20,000 RoI points and 15..200 reference objects; the last segment is
printed beside them), and ours within 4x of open3d's FPFH + RANSAC on the headline pair
(`classical.py`, same keypoints).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import classical as classical_bench
import field as field_bench  # benchmarks/ is sys.path[0] when run as a script
import match as match_bench
from timing import commands_policy
import torch

from scene_analogy.field.checkpoint import load_field  # noqa: E402
from scene_analogy.field.model import PRESETS  # noqa: E402
from scene_analogy.files import atomic  # noqa: E402  (match.py put the repository root on sys.path)
from scene_analogy.match.inputs import MatchConfig  # noqa: E402

DEFAULT_CHECKPOINT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pretrained", "synthetic_default")
ROI_SLOPE_MAX, REF_SLOPE_MAX, CLASSICAL_RATIO_MAX = 1.0, 1.0, 4.0


def machine() -> dict:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cores": cores, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "load_average_start": list(os.getloadavg())}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per number (median), after a warm-up")
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    parser.add_argument("--presets", default="fast,paper", help="presets for queries/s and training steps/s")
    parser.add_argument("--out", default="results")
    args = parser.parse_args(argv)
    policy = commands_policy()
    print(policy, flush=True)
    start = time.perf_counter()
    report = {"machine": {**machine(), "allocator": policy}, "command": "python benchmarks/run_all.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]

    room = field_bench.room_scene()
    for key, title, measure, digits in (
            ("descriptor_queries_per_s", f"descriptor queries/s ({field_bench.NUM_QUERIES} queries vs "
             f"{field_bench.NUM_POINTS} keypoints)", field_bench.queries_per_second, 0),
            ("training_steps_per_s", f"training steps/s (batch {field_bench.TRAIN_BATCH} triplets x "
             f"{field_bench.TRAIN_QUERIES} queries)", field_bench.training_steps_per_second, 2)):
        print(title, flush=True)
        report[key] = {}
        for name in presets:
            report[key][name] = measure(PRESETS[name], room, args.device, args.repeats)
            print(f"  {name:24s} {report[key][name]:10.{digits}f}", flush=True)

    field = load_field(args.checkpoint, map_location=args.device)
    cfg = MatchConfig(device=args.device)
    scene = match_bench.big_scene(200)
    head = match_bench.time_pair(field, scene, 3, 15, cfg, args.repeats)
    report["seconds_per_pair"] = {"roi_objects": 3, "reference_objects": 15, "points_per_object": match_bench.POINTS,
                                  "checkpoint": os.path.relpath(args.checkpoint), **head}
    print(f"seconds per pair, RoI 3 x {match_bench.POINTS} vs reference 15 x {match_bench.POINTS}: coarse "
          f"{head['coarse']:.3f}  fine {head['fine']:.3f}  total {head['total']:.3f}", flush=True)
    target, reference, roi, _ = match_bench.known_answer_pair(scene, 3, 3 * match_bench.POINTS, 15)
    classical = classical_bench.seconds_per_pair(target, reference, roi, args.repeats)
    ratio = head["total"] / classical
    report["classical"] = {"method": "open3d FPFH + RANSAC (benchmarks/classical.py)", "seconds_per_pair": classical,
                           "ours_over_classical": ratio, "ratio_max": CLASSICAL_RATIO_MAX}
    print(f"open3d FPFH + RANSAC on the same pair: {classical:.3f} s; ours / classical = {ratio:.1f} "
          f"(goal <= {CLASSICAL_RATIO_MAX:.0f}: {'met' if ratio <= CLASSICAL_RATIO_MAX else 'NOT met'})", flush=True)

    sweeps = match_bench.scaling(field, scene, cfg, args.repeats, log=lambda s: print(s, flush=True))
    png = os.path.join(args.out, "scaling.png")
    match_bench.plot_scaling(sweeps, png, f"matcher ({os.path.basename(os.path.normpath(args.checkpoint))}), "
                                          f"{args.device}, {torch.get_num_threads()} thread(s)")
    report["scaling"] = sweeps
    roi_slope, ref_slope = sweeps["roi"]["slopes"]["total"], sweeps["ref"]["slopes"]["total"]
    ref_end = sweeps["ref"]["end_slopes"]["total"]
    report["targets"] = {"roi_slope_total": roi_slope, "roi_slope_max": ROI_SLOPE_MAX, "roi_ok": roi_slope <= ROI_SLOPE_MAX,
                         "ref_slope_total": ref_slope, "ref_slope_total_last_segment": ref_end,
                         "ref_slope_max": REF_SLOPE_MAX, "ref_ok": ref_slope <= REF_SLOPE_MAX,
                         "classical_ratio": ratio, "classical_ok": ratio <= CLASSICAL_RATIO_MAX}
    report["machine"]["load_average_end"] = list(os.getloadavg())
    report["wall_seconds"] = time.perf_counter() - start
    atomic.write_json(os.path.join(args.out, "benchmarks.json"), report)
    print(f"\nRoI-size slope {roi_slope:.2f} (target <= {ROI_SLOPE_MAX}: {'met' if roi_slope <= ROI_SLOPE_MAX else 'NOT met'}); "
          f"reference-size slope {ref_slope:.2f}, last segment {ref_end:.2f} (target <= {REF_SLOPE_MAX}: "
          f"{'met' if report['targets']['ref_ok'] else 'NOT met'})")
    print(f"wrote {os.path.join(args.out, 'benchmarks.json')} and {png} ({report['wall_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
