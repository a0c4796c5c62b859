"""`python -m scene_analogy.demo`: the README's main job, on the embedded synthetic data.

Generates held-out synthetic evaluation pairs when absent (a few seconds; targets turned by any yaw
unless --global_yaw grid), loads the shipped checkpoint, finds the analogy map of each pair's region of
interest (the reference at keypoints the ground truth does not use, unless --keypoints shared), prints
the DESIGN §6 metrics and the open-space ones with seconds per pair, and writes `metrics.json`, the
maps (`maps/*.npz`) and pictures (`pair_<i>.png`) under `--log_dir`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from scene_analogy.cli.boundary import user_errors
from scene_analogy.cli.flags import (add_global_yaw_flag, add_keypoints_flag, add_picture_flags, nonnegative_int,
                                     positive_int, seed)
from scene_analogy.field.checkpoint import PRETRAINED

DEFAULT_CHECKPOINT = PRETRAINED / "synthetic_default"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scene_analogy.demo", description=__doc__.splitlines()[0])
    p.add_argument("--scene_root", default="./data/synthetic_demo", help="synthetic data (generated when absent)")
    p.add_argument("--num_pairs", type=positive_int, default=20, help="evaluation pairs to match")
    p.add_argument("--log_dir", default="./log/demo/", help="metrics, maps and pictures go here")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="field checkpoint (folder or model.pth)")
    p.add_argument("--num_pictures", type=nonnegative_int, default=4, help="pairs drawn as PNG")
    add_picture_flags(p)
    p.add_argument("--seed", type=seed, default=0)
    add_keypoints_flag(p)
    add_global_yaw_flag(p, default="continuous")
    p.add_argument("--device", default="cpu")
    return p


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    with user_errors():
        from scene_analogy.evaluation.examples import augment_examples, pairs_protocol
        from scene_analogy.evaluation.loop import evaluate_examples
        from scene_analogy.evaluation.metrics import format_table, write_metrics_json
        from scene_analogy.evaluation.run import save_pair_pictures
        from scene_analogy.field.checkpoint import load_field
        from scene_analogy.match.inputs import MatchConfig
        from scene_analogy.structures.classes import THREED_FRONT
        from scene_analogy.structures.samples import PointSamples
        from scene_analogy.synthetic.dataset import ensure_eval_pairs

        root, out = Path(args.scene_root), Path(args.log_dir)
        # Fail fast, before generating data; the synthetic trees use 3D-FRONT's class table.
        field = load_field(args.checkpoint, map_location=args.device, num_classes=len(THREED_FRONT))
        ensure_eval_pairs(root, args.num_pairs, args.seed, args.global_yaw)
        samples = PointSamples(root / "point_samples", 50)
        examples = augment_examples(root, seed=args.seed, limit=args.num_pairs, classes=THREED_FRONT)
        cfg = MatchConfig(device=args.device)
        torch.manual_seed(args.seed)
        metrics, records, results = evaluate_examples(examples, samples, field, field, cfg, maps_dir=out / "maps",
                                                      keypoints=args.keypoints,
                                                      protocol=pairs_protocol("augment", root))
        save_pair_pictures(examples, records, results, samples, out, args.num_pictures,
                           show_candidates=args.show_candidates, keypoints=args.keypoints)
        write_metrics_json(out / "metrics.json", metrics)
    print(format_table(metrics))
    print(f"wrote {out / 'metrics.json'}, {min(args.num_pictures, len(examples))} pictures and the maps under {out} "
          f"({time.perf_counter() - start:.0f} s in all)")


if __name__ == "__main__":
    main()
