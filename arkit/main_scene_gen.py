"""`python -m arkit.main_scene_gen --save_root ./data/arkit_large_noise/ ...`: training triplets, one per
scan scene of `arkit.main_asset_gen` (`--scene_root`, default data/arkit_scenes_processed), each in the
split of its scan; positives swap each object for another asset of its class from the same split
(ARKit has no subclasses). With --num_scenes N, round(N * --train_ratio) train triplets cycle through
the train scans and the rest through the test scans. Asset classes come from `<obj_root>/model_info.json`
(`--obj_model_info_path`), boxes from `<point_sample_root>/model_boxes.json` where current."""

from __future__ import annotations

from pathlib import Path

from scene_analogy.cli.dataset_commands import run_scene_gen
from scene_analogy.data.model_samples import BOXES_FILE
from scene_analogy.data.scans import INFO_FILE, asset_pool, read_asset_info, read_scan_scenes

from . import ASSET_GEN_HINT, SPEC


def read_scan_sources(args, skips):
    info = read_asset_info(args.obj_model_info_path or Path(args.obj_root) / INFO_FILE, SPEC.classes,
                           ASSET_GEN_HINT)
    pool = asset_pool(info, args.obj_root, Path(args.point_sample_root) / BOXES_FILE, SPEC.classes, skips,
                      progress=not args.quiet)
    sources, splits = read_scan_scenes(args.scene_root, pool, args.num_load_layout, skips, progress=not args.quiet)
    return sources, pool, splits


def main(argv=None) -> None:
    run_scene_gen(argv, "python -m arkit.main_scene_gen", SPEC, read_scan_sources)


if __name__ == "__main__":
    main()
