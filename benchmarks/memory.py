"""Matcher memory: peak resident memory (RSS) of one pair with a large RoI against many reference objects.

    python benchmarks/memory.py [--roi_points 20000] [--roi_objects 4] [--ref_objects 100] [--checkpoint DIR]

Target: the first 15 objects of a synthetic room set; the region of interest is object 0 and its
`--roi_objects - 1` nearest neighbours, with `--roi_points / --roi_objects` points each on their box
faces, the other objects 50 each. Reference: `--ref_objects` objects with 50 points each, a rotated,
mirrored, rescaled copy (x -> A x + b) whose first 15 objects are the target's, so the answer is
known: the benchmark prints the best map's PCP@0.25 against A x + b and whether it matched the
right objects. The field is the shipped `pretrained/synthetic_default` (the CPU preset). Prints the
peak RSS of the process before matching (imports, field, scenes) and after, read from the kernel's
high-water mark (`ru_maxrss`); the targets are < 4 GB and <= 60 s on the 2-core CPU. Numbers
depend on the machine's load only through time, not through memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from timing import commands_policy  # noqa: E402  (benchmarks/ is sys.path[0] when run as a script)

from benchmarks.match import big_scene, known_answer_pair, true_pcp  # noqa: E402
from scene_analogy.field.checkpoint import load_field  # noqa: E402
from scene_analogy.match.inputs import MatchConfig  # noqa: E402
from scene_analogy.match.pipeline import find_analogy  # noqa: E402

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
LIMIT_GB = 4.0


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # kB on Linux


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--roi_points", type=int, default=20000)
    p.add_argument("--roi_objects", type=int, default=4)
    p.add_argument("--ref_objects", type=int, default=100)
    p.add_argument("--checkpoint", default=os.path.join(REPO, "pretrained", "synthetic_default"))
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    print(commands_policy(), flush=True)

    torch.manual_seed(0)
    setup = time.perf_counter()
    field = load_field(args.checkpoint, map_location=args.device)
    scene = big_scene(max(args.ref_objects, 15))
    target, reference, roi, roi_src = known_answer_pair(scene, args.roi_objects, args.roi_points, args.ref_objects, 0)
    per_object = args.roi_points // args.roi_objects
    print(f"set-up {time.perf_counter() - setup:.1f} s", flush=True)
    before = peak_rss_gb()
    start = time.perf_counter()
    result = find_analogy(target, reference, roi, field, field, MatchConfig(device=args.device))
    seconds = time.perf_counter() - start
    after = peak_rss_gb()
    best = "no analogy" if result.best is None else f"best cost {result.best.cost:.3f}"
    pcp, right = true_pcp(result, target, roi, roi_src)
    best += f", top map PCP@0.25 {pcp:.3f}, objects {'right' if right else 'WRONG'}"
    print(f"RoI {args.roi_objects} objects x {per_object} points = {args.roi_objects * per_object} points; reference "
          f"{len(reference.box_centres)} objects x 50 points; {best}; {seconds:.1f} s "
          f"(coarse {result.timings.get('coarse', 0):.1f} s, fine {result.timings.get('fine', 0):.1f} s; machine shared)")
    print(f"peak RSS before matching {before:.2f} GB, after {after:.2f} GB (limit {LIMIT_GB:.0f} GB): "
          f"{'OK' if after < LIMIT_GB else 'OVER'}")


if __name__ == "__main__":
    main()
