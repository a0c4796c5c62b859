"""`python -m threed_front.main_scene_gen`: training triplets from 3D-FRONT rooms.

Reads the house files (`--scene_root`, default data/3D-FRONT), the model classes
(`--obj_model_info_path`, default `<obj_root>/model_info.json`) and the model boxes (from
`<point_sample_root>/model_boxes.json` where current, else from the meshes), splits rooms into train
and test, and writes `{train,test}_scene_<i>/scene.npz` under --save_root (`scene_analogy.scene_gen`).
Swaps prefer the same subclass when it has >= 5 models in the split (unless --ignore_subclass),
drawn among the --topk_aspect_sampling models of nearest box aspect.
"""

from __future__ import annotations

from pathlib import Path

from scene_analogy.cli.dataset_commands import run_scene_gen
from scene_analogy.data.model_samples import BOXES_FILE

from . import SPEC
from .houses import read_rooms
from .models import build_pool, find_model_root, read_model_info


def read_sources(args, skips):
    obj_root = find_model_root(args.obj_root)
    info = read_model_info(args.obj_model_info_path or obj_root / "model_info.json", skips)
    pool = build_pool(info, obj_root, Path(args.point_sample_root) / BOXES_FILE, skips, args.train_ratio, args.seed,
                      progress=not args.quiet)
    return read_rooms(args.scene_root, pool, args.num_load_layout, skips, progress=not args.quiet), pool


def main(argv=None) -> None:
    run_scene_gen(argv, "python -m threed_front.main_scene_gen", SPEC, read_sources)


if __name__ == "__main__":
    main()
