"""`python -m threed_front.extract_point_samples`: point samples of every 3D-FUTURE model.

Reads `<obj_root>/<model_id>/raw_model.obj` (obj_root: data/3D-FUTURE-model or data/3D-FRONT-model,
whichever exists, unless --obj_root names one) and writes `<save_root>/sample_<N>/<model_id>.npy` for
each --save_num_samples N, plus `<save_root>/model_boxes.json` (the models' boxes, reused by
main_scene_gen). A mesh that fails to load is skipped with a counted warning.
"""

from __future__ import annotations

from scene_analogy.cli.dataset_commands import run_point_sampler

from . import SPEC
from .models import find_model_root, model_folders


def list_models(args, skips):
    obj_root = find_model_root(args.obj_root)
    return obj_root, model_folders(obj_root, skips)


def main(argv=None) -> None:
    run_point_sampler(argv, "python -m threed_front.extract_point_samples", SPEC, list_models)


if __name__ == "__main__":
    main()
