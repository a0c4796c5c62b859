"""Calibrate a field's no-analogy threshold and write it beside the checkpoint (`calibration.json`).

The threshold separates "this RoI has an analogy here" from "it has none" by the best map's cost,
whose scale belongs to the field (`MatchConfig.valid_threshold`). It is measured on a calibration
set that is never scored: the evaluation pairs of a separately seeded synthetic tree. For each
pair, the best-map cost of the RoI matched into its true reference ("true") and into the next
pair's reference, another room ("other"). The threshold is the smallest multiple of `--step`
strictly above every true cost, so that no true analogy of the calibration set is rejected; the
fraction of other-room RoIs it rejects is reported (other rooms often do hold a valid analogy of
the same furniture, so not all of them should be rejected). The rule bounds only what the sample
holds: 60 pairs gave 0.6, which 300 showed to reject 2 % of true pairs (docs/decisions.md).

    python -m scene_analogy.synthetic --save_root ./data/calib_continuous --num_scenes 3000 --seed 1 --global_yaw continuous
    python scripts/calibrate_threshold.py --checkpoint pretrained/synthetic_default \
        --scene_root ./data/calib_continuous --write

A dataset's own pairs (`--dataset threed_front | arkit`: its class table, its point samples, and for
ARKit no bearing or relation term, as its commands match), from inside that dataset's data folder:
`python scripts/calibrate_threshold.py --checkpoint pretrained/arkit_default --scene_root
./data/arkit_calib --dataset arkit --write` (commands: pretrained/README.md, `arkit_default/`).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import math
import os
import sys

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scene_analogy.cli.flags import resolve_point_sample_root  # noqa: E402
from scene_analogy.evaluation.examples import augment_examples  # noqa: E402
from scene_analogy.evaluation.loop import match_scene  # noqa: E402
from scene_analogy.field.checkpoint import (
    CALIBRATION_NAME,  # noqa: E402
    load_field,  # noqa: E402
)
from scene_analogy.files import atomic  # noqa: E402
from scene_analogy.match.inputs import MatchConfig  # noqa: E402
from scene_analogy.match.pipeline import find_analogy  # noqa: E402
from scene_analogy.structures.samples import PointSamples  # noqa: E402


def best_costs(field, scene_root: str, num_pairs: int | None, keypoints: str = "disjoint",
               point_sample_root: str | None = None, spec=None) -> tuple[np.ndarray, np.ndarray]:
    """(true, other): best-map cost of each RoI in its own reference and in the next pair's one, the
    references seen at `keypoints` as in evaluation (disjoint: points the ground truth does not use).
    Point samples from `point_sample_root` (default `<scene_root>/point_samples`, the synthetic layout).
    `spec`: a dataset's `DatasetSpec` (its class table; boxes without a front turn off the bearing and
    relation terms, as its commands do); None for the synthetic trees."""
    samples = PointSamples(point_sample_root or os.path.join(scene_root, "point_samples"), 50)
    reference_samples = samples.with_keypoints(keypoints)
    examples = augment_examples(scene_root, seed=0, limit=num_pairs, classes=None if spec is None else spec.classes)
    if len(examples) < 2:
        raise SystemExit(f"error: {scene_root}: need at least 2 evaluation pairs, found {len(examples)}")
    cfg = MatchConfig(local_valid_thres=math.inf)  # every best map is kept: its cost is what is measured
    if spec is not None:
        cfg = dataclasses.replace(cfg, **MatchConfig.front_terms(spec.canonical_boxes))
    true, other = [], []
    for i, example in enumerate(tqdm(examples, desc="calibrate")):
        target = match_scene(example.target, samples)
        for reference, out in ((example.reference, true), (examples[(i + 1) % len(examples)].reference, other)):
            result = find_analogy(target, match_scene(reference, reference_samples), example.roi, field, field, cfg)
            out.append(result.maps[0].cost if result.maps else math.inf)
    return np.array(true), np.array(other)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="a checkpoint folder (model.pth + config.json)")
    p.add_argument("--scene_root", required=True, help="a synthetic tree that is never scored (its _augment pairs)")
    p.add_argument("--num_pairs", type=int, default=None, help="default: all evaluation pairs")
    p.add_argument("--point_sample_root", default=None,
                   help="the models' point samples (default: <scene_root>/point_samples where it exists, else the dataset's)")
    p.add_argument("--step", type=float, default=0.1, help="the threshold is a multiple of this")
    p.add_argument("--write", action="store_true", help=f"write <checkpoint>/{CALIBRATION_NAME}")
    p.add_argument("--keypoints", default="disjoint", choices=("disjoint", "shared"),
                   help="how the references reach the matcher, as `scene_analogy.evaluate --keypoints` (default: the honest protocol)")
    p.add_argument("--dataset", default="synthetic", choices=("synthetic", "threed_front", "arkit"),
                   help="whose evaluation pairs: class table, box frames, default point samples (`<package>.SPEC`)")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    spec = None if args.dataset == "synthetic" else importlib.import_module(args.dataset).SPEC
    field = load_field(args.checkpoint, num_classes=None if spec is None else len(spec.classes))
    point_sample_root = resolve_point_sample_root(args.point_sample_root, args.scene_root,
                                                  None if spec is None else spec.point_sample_root)
    true, other = best_costs(field, args.scene_root, args.num_pairs, args.keypoints, point_sample_root, spec)
    if not np.isfinite(true).all():
        raise SystemExit(f"error: {int((~np.isfinite(true)).sum())} true pair(s) found no map at all")
    threshold = round(math.floor(true.max() / args.step + 1) * args.step, 6)
    finite = other[np.isfinite(other)]
    record = {
        "local_valid_thres": threshold,
        "rule": f"smallest multiple of {args.step} above every true pair's best-map cost",
        "scene_root": args.scene_root, "dataset": args.dataset, "point_sample_root": point_sample_root,
        "pairs": int(len(true)), "keypoints": args.keypoints,
        "true_cost": {"median": float(np.median(true)), "p95": float(np.percentile(true, 95)), "max": float(true.max())},
        "other_room_cost": {"p10": float(np.percentile(finite, 10)), "median": float(np.median(finite))},
        "other_room_rejected": float(np.mean(other > threshold)),
    }
    for name in ("true_cost", "other_room_cost"):
        print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in record[name].items()))
    print(f"threshold {threshold}: keeps all {len(true)} true pairs, rejects {record['other_room_rejected']:.3f} "
          "of the other-room RoIs")
    for t in sorted({threshold, *np.round(np.arange(0.3, threshold + 0.25, 0.1), 2)}):
        print(f"  at {t:.2f}: keeps {np.mean(true <= t):.3f} of true, rejects {np.mean(other > t):.3f} of other-room")
    if args.write:
        path = os.path.join(args.checkpoint, CALIBRATION_NAME)
        atomic.write_json(path, record)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
