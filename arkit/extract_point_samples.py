"""`python -m arkit.extract_point_samples --save_num_samples 50 100 200`: point samples of every object
asset that `arkit.main_asset_gen` cropped (listed in `<obj_root>/model_info.json`, obj_root default
data/arkit_scenes_processed/objects) into `<save_root>/sample_<N>/<id>.npy`, plus
`<save_root>/model_boxes.json` (reused by main_scene_gen)."""

from __future__ import annotations

from pathlib import Path

from scene_analogy.cli.dataset_commands import run_point_sampler
from scene_analogy.data.scans import asset_meshes

from . import ASSET_GEN_HINT, SPEC


def asset_files(args, skips):
    return Path(args.obj_root), asset_meshes(args.obj_root, SPEC.classes, ASSET_GEN_HINT)


def main(argv=None) -> None:
    run_point_sampler(argv, "python -m arkit.extract_point_samples", SPEC, asset_files)


if __name__ == "__main__":
    main()
