"""`python -m arkit.main_asset_gen [--scene_root ./data/arkit_scenes/] [--save_root ./data/arkit_scenes_processed/]`:
crop every annotated box out of its scan into `objects/{train,test}/<label>_<hash>.ply` (the box's
canonical frame) and write `scenes/{train,test}/<video_id>.npz` (DESIGN §8.2; `scene_analogy.scan_assets`).
Run it before `arkit.extract_point_samples`, which samples these objects."""

from __future__ import annotations

from scene_analogy.cli.dataset_commands import run_asset_gen

from . import SPEC
from .scans import list_scans


def main(argv=None) -> None:
    run_asset_gen(argv, "python -m arkit.main_asset_gen", SPEC, list_scans)


if __name__ == "__main__":
    main()
