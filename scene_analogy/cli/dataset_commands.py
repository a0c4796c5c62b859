"""The bodies of the dataset commands (DESIGN §9), written once for every dataset.

A dataset package describes itself with a `DatasetSpec` and, where it must read its own files,
passes a reader; its `python -m` modules are then a few lines each:

    run_point_sampler(argv, prog, spec, list_models)   list_models(args, skips) -> (obj_root, [(id, rel path)])
    run_scene_gen(argv, prog, spec, read_sources)      read_sources(args, skips) -> ([(room id, Scene)], ObjectPool)
                                                       or (..., splits): one split per room, fixed by the dataset
    run_asset_gen(argv, prog, spec, list_scans)        list_scans(args, skips) -> [(where, load)], load() -> Scan
    run_scene_augment(argv, prog, spec)
    run_field_match(argv, prog, spec)
    run_trainer(argv, prog, spec.preset, spec.point_sample_root, len(spec.classes))

Every body parses the shared flags (`flags.add_*_flags`), runs inside `user_errors()` (one line,
exit 2, for a data problem), reports skipped items as counted warnings and prints what it wrote.
"""

from __future__ import annotations

import os

import argparse
import time
from dataclasses import dataclass
from typing import Callable

from scene_analogy.cli import flags
from scene_analogy.cli.boundary import user_errors
from scene_analogy.files.skips import SkipLog
from scene_analogy.structures.classes import ClassTable
from scene_analogy.structures.scene import scene_dirs


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset's commands default to (paths relative to the repository root)."""

    name: str  # e.g. "threed_front"
    classes: ClassTable
    target_prefix: str  # the scene of a pair file's tgt folder: "pair_pos" (3D-FRONT) or "pos" (ARKit)
    raw_root: str  # main_scene_gen --scene_root: the dataset's own layouts
    point_sample_root: str  # extract_point_samples --save_root; trainer / matcher look here
    scene_gen_root: str  # main_scene_gen --save_root
    checkpoint: str  # main_field_match's field when none is named
    obj_root: str | None = None  # --obj_root (None: the dataset's reader finds it)
    scan_root: str | None = None  # main_asset_gen --scene_root: raw scans (scan datasets only)
    asset_root: str | None = None  # main_asset_gen --save_root
    model_info: str | None = None  # --obj_model_info_path (None: the reader's default)
    preset: str = "fast"
    canonical_boxes: bool = True  # box rotations are the objects' own frames (front +z): the bearing term applies


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=prog, description=description)


def run_point_sampler(argv, prog: str, spec: DatasetSpec, list_models: Callable) -> None:
    from scene_analogy.data.model_samples import sample_model_files

    p = _parser(prog, "Sample points on every object model (area-weighted, then farthest-point subsets).")
    flags.add_sample_flags(p, spec.obj_root, spec.point_sample_root)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    skips = SkipLog()
    with user_errors():
        try:
            obj_root, models = list_models(args, skips)
            summary = sample_model_files(models, obj_root, args.save_root, sorted(set(args.save_num_samples)),
                                         args.mesh_num_samples, args.seed, skips, progress=not args.quiet)
        finally:
            skips.report()  # also before an error line: the skipped items may be why nothing was left
    rate = summary["sampled"] / max(summary["seconds"], 1e-9)
    print(f"sampled {summary['sampled']} models ({summary['skipped']} skipped) from {obj_root} into {args.save_root} "
          f"in {summary['seconds']:.1f} s ({rate:.1f} models/s)")


def run_scene_gen(argv, prog: str, spec: DatasetSpec, read_sources: Callable) -> None:
    from scene_analogy.data.triplets import generate_triplet_root

    p = _parser(prog, "Generate training triplets (anchor, swapped-model positive, pose-noise negative).")
    flags.add_scene_gen_flags(p, scene_root_default=spec.raw_root, save_root_default=spec.scene_gen_root,
                            point_sample_root_default=spec.point_sample_root, obj_root_default=spec.obj_root,
                            model_info_default=spec.model_info)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    skips, start = SkipLog(), time.perf_counter()
    with user_errors():
        cfg = flags.scene_gen_config_from_args(args)
        try:
            sources, pool, *splits = read_sources(args, skips)
        finally:
            skips.report()
        summary = generate_triplet_root(args.save_root, sources, pool, cfg, spec.classes, progress=not args.quiet,
                                        splits=splits[0] if splits else None)
    made = summary["train_scenes"] + summary["test_scenes"]
    print(f"wrote {summary['train_scenes']} train and {summary['test_scenes']} test triplets from "
          f"{summary['train_rooms']} + {summary['test_rooms']} rooms and {summary['models']} models to {args.save_root} "
          f"({made / max(summary['seconds'], 1e-9):.1f} triplets/s; {time.perf_counter() - start:.1f} s in all)")


def run_asset_gen(argv, prog: str, spec: DatasetSpec, list_scans: Callable) -> None:
    from tqdm import tqdm

    from scene_analogy.data.scans import AssetWriter

    p = _parser(prog, "Crop every annotated box out of its scan mesh (objects/) and write the scan scenes (scenes/).")
    flags.add_asset_gen_flags(p, spec.scan_root, spec.asset_root)
    args = p.parse_args(argv)
    skips, start = SkipLog(), time.perf_counter()
    with user_errors():
        try:
            writer = AssetWriter(args.save_root, spec.classes, args.crop_margin, skips)
            for where, load in tqdm(list_scans(args, skips), desc="scans", disable=args.quiet):
                scan = load()
                if scan is not None:
                    writer.add(scan, where)
            summary = writer.finish(args.scene_root)
        finally:
            skips.report()
    print(f"wrote {summary['objects']} object assets and {summary['train_scenes']} train + {summary['test_scenes']} "
          f"test scan scenes to {args.save_root} in {time.perf_counter() - start:.1f} s")


def run_scene_augment(argv, prog: str, spec: DatasetSpec) -> None:
    from scene_analogy.data.eval_pairs import augment_triplet_root

    p = _parser(prog, "Generate evaluation pairs with ground truth from a triplet root's held-out scenes.")
    flags.add_augment_flags(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    start = time.perf_counter()
    with user_errors():
        out, count = augment_triplet_root(args.orig_scene_root, args.save_root, flags.augment_config_from_args(args),
                                          args.seed, len(spec.classes), progress=not args.quiet)
    print(f"wrote {count} evaluation pairs to {out} in {time.perf_counter() - start:.1f} s")


def run_field_match(argv, prog: str, spec: DatasetSpec) -> None:
    from scene_analogy.evaluation.examples import PairSource
    from scene_analogy.evaluation.ranks import open_ranks
    from scene_analogy.evaluation.run import run_field_match as run

    p = _parser(prog, "Find scene analogies between scene pairs and score them (PCP, Bi-PCP, Chamfer accuracy).")
    flags.add_match_flags(p, spec.checkpoint, spec.point_sample_root)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    start = time.perf_counter()
    with user_errors(), open_ranks() as ranks:  # torchrun: the pairs split over the ranks (evaluation.ranks)
        from scene_analogy.evaluation.metrics import format_table
        from scene_analogy.field.checkpoint import load_field
        from scene_analogy.structures.samples import PointSamples
        from scene_analogy.structures.scene import scene_dirs

        scene_dirs(args.scene_root)  # a missing scene root is named before anything derived from it
        local_path = args.load_local_feature_field or args.load_global_feature_field or spec.checkpoint
        device = ranks.device(args.device)
        local_field = load_field(local_path, map_location=device, num_classes=len(spec.classes))
        global_path = args.load_global_feature_field or local_path
        global_field = local_field if global_path == local_path else load_field(global_path, map_location=device,
                                                                                num_classes=len(spec.classes))
        root = flags.resolve_point_sample_root(args.point_sample_root, args.scene_root, spec.point_sample_root)
        src = PairSource(args.scene_pair_type, args.scene_root, spec.target_prefix, args.scene_pair_file,
                         args.scene_buffer_size, args.allow_pickle, spec.classes)
        pictures = -1 if (args.vis_method or args.vis_local_match_mode) else args.num_vis
        report = run(src, PointSamples(root, args.num_query), local_field, global_field, flags.match_config_from_args(args, spec.canonical_boxes),
                     args.log_dir, args.seed, args.eval_reps, flags.thresholds_from_args(args), pictures,
                     progress=not args.quiet, keypoints=args.keypoints, ranks=ranks)
    if not ranks.main:
        return
    print(format_table(report["metrics"]))
    print(f"matched {report['pairs']} pairs ({report['maps']} with a map); wrote metrics.json, pairs.json, maps/ and "
          f"{report['pictures']} pictures "
          f"under {args.log_dir} ({time.perf_counter() - start:.0f} s in all)")


def run_trainer(argv, prog: str, preset_default: str, point_sample_root_default: str | None = None,
                num_classes_default: int | None = None) -> None:
    """The whole trainer command: flags -> configs -> training, with the one-line error boundary.
    `num_classes_default`: the dataset's class count, used unless --num_classes is given."""
    p = _parser(prog, "Train the context descriptor field on scene triplets.")
    flags.add_trainer_flags(p, preset_default, point_sample_root_default)
    args = p.parse_args(argv)
    args.point_sample_root = flags.resolve_point_sample_root(args.point_sample_root, args.scene_root, point_sample_root_default)
    if args.num_classes is None:
        args.num_classes = num_classes_default
    with user_errors():
        from scene_analogy.training.loop import train

        num_train = len(scene_dirs(args.scene_root, "train"))
        cfg = flags.train_config_from_args(args, num_train)
        summary = train(cfg, flags.field_config_from_args(args))
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun rank 0 reports the run
        return
    acc = summary["val_acc"]
    print(f"done: {summary['steps']} steps in {summary['wall_seconds']:.0f} s, held-out triplet accuracy "
          f"{'n/a' if acc is None else f'{acc:.3f}'}; checkpoint {args.log_dir.rstrip('/')}/model.pth")
