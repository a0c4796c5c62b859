"""Own-data analogies: accuracy and speed on pairs with a known answer, in every input format.

    python benchmarks/own_data.py [--seeds 10] [--formats ply ply_grey npz meshes] [--json PATH]

Pairs: `scene_analogy.own_pairs.make_pair(PairConfig(seed=s))` for s = 0..seeds-1: a procedural
room as the target; the reference is the same room rotated (2 rad), x-mirrored, scaled by 1.15 and
shifted, with two objects (outside the RoI) removed and three others added; 1,000 independent surface
points per object in each scene. Each pair is written in each format (`ply` and `ply_grey` y-up,
`npz` and `meshes` z-up, so the up-axis conversion is on the path) and read back with `load_scene`;
`ply_grey` carries no labels, so it runs the semantics-free `pretrained/no_semantic`, the others
`pretrained/synthetic_default`. Also the symmetric table-and-two-chairs pair: are both analogies
(chairs kept, chairs swapped) among the top 2?

Printed per format: mean RoI PCP@0.25 (DESIGN §6, with its reflection allowance), mean fraction of trajectory
points within 0.25 m, pairs meeting both issue-9 targets (>= 0.9 each), median heading error,
whether the top-1 object correspondence is right (and whether the right one is among the top 3
maps: a dining set has several equally plausible pairs of chairs), and median seconds to load both scenes and to
match. Single-threaded torch (the machine is shared; times are noisy).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from timing import commands_policy  # noqa: E402  (benchmarks/ is sys.path[0] when run as a script)

from scene_analogy.files import atomic  # noqa: E402
from scene_analogy.fixtures.user_scene_pairs import FORMATS, PairConfig, make_pair, symmetric_pair, write_scene  # noqa: E402
from scene_analogy.user_scenes.formats import load_scene  # noqa: E402
from scene_analogy.user_scenes.matching import find_analogy  # noqa: E402

UP = {"ply": "y", "ply_grey": "y", "npz": "z", "meshes": "z"}
SUFFIX = {"ply": ".ply", "ply_grey": ".ply", "npz": ".npz", "meshes": ""}


def run_format(pair, fmt: str, folder: str) -> dict:
    up = UP[fmt]
    paths = [write_scene(objs, os.path.join(folder, f"{name}_{fmt}{SUFFIX[fmt]}"), fmt, up)
             for name, objs in (("target", pair.target), ("reference", pair.reference))]
    start = time.perf_counter()
    target, reference = (load_scene(p, up=up) for p in paths)
    loaded = time.perf_counter()
    analogy = find_analogy(target, reference, pair.roi_ids, topk=3)
    matched = time.perf_counter()
    best = analogy.result.best
    truth = sorted([t, pair.same_object[t]] for t in pair.roi_ids.tolist())
    found = [sorted(analogy.correspondence_ids(k)) for k in range(len(analogy.result.maps))]
    row = {"load_s": loaded - start, "match_s": matched - loaded, "analogy": best is not None,
           "correct_in_top3": truth in found}
    if best is None:
        return {**row, "roi_pcp": 0.0, "roi_pcp_raw": 0.0, "trajectory_within": 0.0, "correct_objects": False,
                "heading_max_error_deg": float("nan"), "trajectory_median_error": float("nan")}
    return {**row, **pair.score(best), "correct_objects": found[0] == truth}


def symmetric_check() -> dict:
    pair = symmetric_pair()
    with tempfile.TemporaryDirectory() as folder:
        paths = [write_scene(o, os.path.join(folder, f"{n}.ply"), "ply") for n, o in (("t", pair.target), ("r", pair.reference))]
        analogy = find_analogy(load_scene(paths[0]), load_scene(paths[1]), pair.roi_ids, topk=3)
    found = [sorted(analogy.correspondence_ids(k)) for k in range(len(analogy.result.maps))]
    return {"maps": found, "costs": [m.cost for m in analogy.result.maps],
            "both_in_top2": [[0, 0], [1, 1], [2, 2]] in found[:2] and [[0, 0], [1, 2], [2, 1]] in found[:2]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    p.add_argument("--json", default=None, help="also write every row here")
    args = p.parse_args(argv)
    print(commands_policy(), flush=True)
    torch.set_num_threads(1)
    rows = {fmt: [] for fmt in args.formats}
    for seed in range(args.seeds):
        pair = make_pair(PairConfig(seed=seed))
        with tempfile.TemporaryDirectory() as folder:
            for fmt in args.formats:
                rows[fmt].append({"seed": seed, **run_format(pair, fmt, folder)})
                r = rows[fmt][-1]
                print(f"seed {seed} {fmt:8s} PCP@0.25 {r['roi_pcp']:.3f} (raw {r.get('roi_pcp_raw', 0.0):.3f})  trajectory {r['trajectory_within']:.3f}  "
                      f"heading max {r['heading_max_error_deg']:.1f} deg  objects {'ok' if r['correct_objects'] else 'WRONG'}  "
                      f"match {r['match_s']:.2f} s", flush=True)
    print(f"\n{'format':9s} {'PCP@0.25':>9s} {'traj<=.25':>9s} {'both>=.9':>9s} {'objects':>8s} {'in top3':>8s} "
          f"{'heading':>8s} {'load s':>7s} {'match s':>8s}")
    for fmt, rs in rows.items():
        both = sum(r["roi_pcp"] >= 0.9 and r["trajectory_within"] >= 0.9 for r in rs)
        print(f"{fmt:9s} {np.mean([r['roi_pcp'] for r in rs]):9.3f} {np.mean([r['trajectory_within'] for r in rs]):9.3f} "
              f"{both:>5d}/{len(rs):<3d} {sum(r['correct_objects'] for r in rs):>4d}/{len(rs):<3d} "
              f"{sum(r['correct_in_top3'] for r in rs):>4d}/{len(rs):<3d} "
              f"{statistics.median(r['heading_max_error_deg'] for r in rs):7.1f}d "
              f"{statistics.median(r['load_s'] for r in rs):7.2f} {statistics.median(r['match_s'] for r in rs):8.2f}")
    sym = symmetric_check()
    print(f"\nsymmetric table + 2 chairs: top-3 correspondences {sym['maps']}, costs "
          f"{[round(c, 3) for c in sym['costs']]}; both analogies in the top 2: {sym['both_in_top2']}")
    if args.json:
        atomic.write_json(args.json, {"rows": rows, "symmetric": sym})


if __name__ == "__main__":
    main()
