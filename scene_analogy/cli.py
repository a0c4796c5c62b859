"""Shared command-line pieces: the one-line error boundary and argparse helpers.

Entry modules parse flags and call the core inside `user_errors()`, so a problem with the user's
data ends the program with one line on stderr (exit status 2) instead of a traceback.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

from .errors import DataError


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except DataError as exc:
        one_line = " ".join(str(exc).split())  # messages quoting other libraries may span lines
        print(f"error: {one_line}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        raise SystemExit(130) from None


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {text}")
    return value


def add_trainer_flags(p, preset_default: str) -> None:
    """The published trainer flags (DESIGN §9) plus ours (`--preset`, `--steps`, `--device`, ...).

    Architecture flags default to None so that the chosen preset decides; a flag given overrides it.
    """
    p.add_argument("--scene_root", required=True, help="triplet folders {train,test}_scene_<i>")
    p.add_argument("--point_sample_root", default=None, help="default: <scene_root>/point_samples")
    p.add_argument("--log_dir", default="./log/")
    p.add_argument("--run_name", default="train")
    p.add_argument("--wandb", action="store_true", help="log to Weights & Biases (offline without credentials)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", choices=("paper", "fast"), default=preset_default)
    p.add_argument("--normalize_feats", action="store_true", help="L2-normalise descriptors (always on; kept for the published commands)")
    p.add_argument("--agg_radius", type=float, default=None, help="neighbourhood radius in metres")
    p.add_argument("--agg_radius_limit", type=int, default=None, help="at most this many nearest neighbours")
    p.add_argument("--num_cache_query", type=int, default=400)
    p.add_argument("--query_point_type", default="obj_match_points", choices=("obj_match_points", "bbox_grid"))
    p.add_argument("--query_obj_match_add_bbox", action="store_true")
    p.add_argument("--batch_size", type=int, default=4)
    p.add_argument("--epochs", type=int, default=None, help="passes over the training triplets")
    p.add_argument("--steps", type=int, default=None, help="optimiser steps (overrides --epochs)")
    p.add_argument("--learning_rate", type=float, default=1e-4)
    p.add_argument("--infonce_temp", type=float, default=0.2)
    p.add_argument("--num_sample_query", type=int, default=32)
    p.add_argument("--num_classes", type=int, default=None)
    p.add_argument("--semantics_emb_size", type=int, default=None, help="0 = semantics-free")
    p.add_argument("--distance_emb_size", type=int, default=None)
    p.add_argument("--transformer_num_layers", type=int, default=None)
    p.add_argument("--transformer_num_heads", type=int, default=None)
    p.add_argument("--transformer_feedforward", type=int, default=None)
    p.add_argument("--out_dim", type=int, default=None)
    p.add_argument("--load_feature_field", default=None, help="start from this checkpoint")
    p.add_argument("--val_every", type=int, default=100)
    p.add_argument("--val_scenes", type=int, default=32)
    p.add_argument("--num_workers", type=int, default=1)
    p.add_argument("--device", default="cpu")


FIELD_FLAGS = {  # published flag -> FieldConfig field
    "agg_radius": "radius", "agg_radius_limit": "max_neighbors", "num_classes": "num_classes",
    "semantics_emb_size": "semantics_emb_size", "distance_emb_size": "distance_emb_size",
    "transformer_num_layers": "num_layers", "transformer_num_heads": "num_heads",
    "transformer_feedforward": "feedforward", "out_dim": "out_dim",
}


def field_config_from_args(args):
    import dataclasses

    from .field import PRESETS

    overrides = {field: getattr(args, flag) for flag, field in FIELD_FLAGS.items() if getattr(args, flag) is not None}
    return dataclasses.replace(PRESETS[args.preset], **overrides)


def train_config_from_args(args, num_train_triplets: int):
    from .train import TrainConfig

    if args.steps is not None:
        steps = args.steps
    elif args.epochs is not None:
        steps = args.epochs * max(1, num_train_triplets // args.batch_size)
    else:
        steps = 100 * max(1, num_train_triplets // args.batch_size)  # the published default: 100 epochs
    return TrainConfig(
        scene_root=args.scene_root, point_sample_root=args.point_sample_root, log_dir=args.log_dir,
        run_name=args.run_name, steps=steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
        infonce_temp=args.infonce_temp, num_sample_query=args.num_sample_query, num_cache_query=args.num_cache_query,
        query_point_type=args.query_point_type, query_obj_match_add_bbox=args.query_obj_match_add_bbox,
        val_every=args.val_every, ckpt_every=args.val_every, val_scenes=args.val_scenes, seed=args.seed,
        wandb=args.wandb, device=args.device, num_workers=args.num_workers, load_feature_field=args.load_feature_field,
    )


def run_trainer(argv, prog: str, preset_default: str) -> None:
    """The whole trainer command: flags -> configs -> training, with the one-line error boundary."""
    import argparse

    from .scene import scene_dirs

    p = argparse.ArgumentParser(prog=prog, description="Train the context descriptor field on scene triplets.")
    add_trainer_flags(p, preset_default)
    args = p.parse_args(argv)
    with user_errors():
        from .train import train

        num_train = len(scene_dirs(args.scene_root, "train"))
        cfg = train_config_from_args(args, num_train)
        summary = train(cfg, field_config_from_args(args))
    acc = summary["val_acc"]
    print(f"done: {summary['steps']} steps in {summary['wall_seconds']:.0f} s, held-out triplet accuracy "
          f"{'n/a' if acc is None else f'{acc:.3f}'}; checkpoint {args.log_dir.rstrip('/')}/model.pth")
