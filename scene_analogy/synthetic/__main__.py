"""`python -m scene_analogy.synthetic --save_root DIR --num_scenes N --seed S [--global_yaw continuous]`: the
embedded dataset."""

from __future__ import annotations

import argparse
import time

from scene_analogy.cli.boundary import user_errors
from scene_analogy.cli.flags import add_global_yaw_flag, add_triplet_layout_flags, seed, triplet_layout_kwargs
from scene_analogy.data.eval_pairs import AugmentConfig
from scene_analogy.data.triplet_layout_changes import changes_positive
from scene_analogy.data.triplets import TripletConfig
from scene_analogy.synthetic.dataset import SyntheticConfig, generate_dataset
from scene_analogy.synthetic.objects import SPLITS_BY


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m scene_analogy.synthetic",
        description="Generate synthetic furnished rooms: point samples, training triplets and evaluation pairs.",
    )
    p.add_argument("--save_root", default="./data/synthetic_scenes", help="output folder (pairs go to <save_root>_augment)")
    p.add_argument("--num_scenes", type=int, default=200, help="number of source rooms (train + test)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--train_ratio", type=float, default=0.9)
    p.add_argument("--split_seed", type=seed, default=None,
                   help="which models / designs are held out (default: --seed); e.g. a calibration root of other "
                        "rooms and shapes (--seed 1) that holds out the designs of a --seed 0 root (--split_seed 0)")
    p.add_argument("--split_by", choices=SPLITS_BY, default="model",
                   help="held-out models: other variants of the training designs (model) or variants of designs "
                        "no training model comes from (design)")
    p.add_argument("--save_num_samples", type=int, nargs="+", default=[50, 100], help="point-sample counts per model")
    p.add_argument("--max_trans_noise", type=float, default=0.5, help="negatives: sigma of xz noise (m)")
    p.add_argument("--max_rot_noise", type=float, default=90.0, help="negatives: sigma of yaw noise (degrees)")
    p.add_argument("--no_augment", action="store_true", help="skip the evaluation pairs")
    add_global_yaw_flag(p)
    add_triplet_layout_flags(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    if args.num_scenes <= 0:
        raise SystemExit("error: --num_scenes must be positive")
    try:
        triplet = TripletConfig(trans_noise=args.max_trans_noise, rot_noise_deg=args.max_rot_noise,
                                **triplet_layout_kwargs(args))
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    if changes_positive(triplet) and not args.no_augment:
        raise SystemExit("error: evaluation pairs are made from the positives: with --pos_* flags pass --no_augment")
    cfg = SyntheticConfig(
        num_scenes=args.num_scenes, seed=args.seed, train_ratio=args.train_ratio,
        sample_counts=tuple(args.save_num_samples),
        triplet=triplet,
        augment=AugmentConfig(global_yaw=args.global_yaw), make_augment=not args.no_augment, split_by=args.split_by,
        split_seed=args.split_seed,
    )
    start = time.perf_counter()
    with user_errors():
        summary = generate_dataset(args.save_root, cfg, progress=not args.quiet)
    print(
        f"wrote {summary['models']} models, {summary['train_scenes']} train and {summary['test_scenes']} test "
        f"triplets, {summary['eval_pairs']} evaluation pairs to {args.save_root} in {time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    main()
