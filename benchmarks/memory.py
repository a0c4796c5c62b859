"""Matcher memory: peak resident memory (RSS) of one pair with a large RoI against many reference objects.

    python benchmarks/memory.py [--roi_points 20000] [--roi_objects 4] [--ref_objects 100] [--checkpoint DIR]

Target: `--roi_objects` synthetic furniture objects with `--roi_points / --roi_objects` points each on
their box faces, all of them the region of interest; reference: `--ref_objects` objects with 50
points each, a rotated, mirrored, rescaled copy whose first objects are the RoI's (so both stages
run). The field is the shipped `pretrained/synthetic_default` (the CPU preset). Prints the peak RSS
of the process before matching (imports, field, scenes) and after, read from the kernel's
high-water mark (`ru_maxrss`); the target is < 4 GB on the CPU. Numbers depend on the machine's
load only through time, not through memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks.match import big_scene  # noqa: E402
from scene_analogy.field.checkpoint import load_field  # noqa: E402
from scene_analogy.fixtures.match_inputs import box_keypoint_scene, transformed_copy  # noqa: E402
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

    torch.manual_seed(0)
    setup = time.perf_counter()
    field = load_field(args.checkpoint, map_location=args.device)
    scene = big_scene(args.ref_objects)
    rng = np.random.default_rng(0)
    per_object = args.roi_points // args.roi_objects
    target = box_keypoint_scene(scene.subset(np.arange(args.roi_objects)), per_object, rng)
    reference = transformed_copy(box_keypoint_scene(scene.subset(np.arange(args.ref_objects)), 50, rng),
                                 np.pi / 2, True, 1.1, [2.0, 0.0, 1.0])
    roi = np.arange(args.roi_objects)
    print(f"set-up {time.perf_counter() - setup:.1f} s", flush=True)
    before = peak_rss_gb()
    start = time.perf_counter()
    result = find_analogy(target, reference, roi, field, field, MatchConfig(device=args.device))
    seconds = time.perf_counter() - start
    after = peak_rss_gb()
    best = "no analogy" if result.best is None else f"best cost {result.best.cost:.3f}"
    print(f"RoI {args.roi_objects} objects x {per_object} points = {args.roi_objects * per_object} points; reference "
          f"{len(reference.box_centres)} objects x 50 points; {best}; {seconds:.1f} s "
          f"(coarse {result.timings.get('coarse', 0):.1f} s, fine {result.timings.get('fine', 0):.1f} s; machine shared)")
    print(f"peak RSS before matching {before:.2f} GB, after {after:.2f} GB (limit {LIMIT_GB:.0f} GB): "
          f"{'OK' if after < LIMIT_GB else 'OVER'}")


if __name__ == "__main__":
    main()
