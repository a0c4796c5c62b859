"""3D-FRONT + 3D-FUTURE: readers of the datasets' own files and the `python -m threed_front.*` commands.

Raw layout (DESIGN §8.1): `data/3D-FRONT/<house>.json`, `data/3D-FUTURE-model/` (or
`data/3D-FRONT-model/`, the name the published README uses) with `model_info.json` and
`<model_id>/raw_model.obj`. Commands, in working order:

    python -m threed_front.extract_point_samples --save_num_samples 50 100 200 400
    python -m threed_front.main_scene_gen --save_root ./data/3d_front_scenes/3d_front_large_noise ...
    python -m threed_front.main_scene_augment --orig_scene_root ./data/3d_front_scenes/3d_front_large_noise
    python -m threed_front.trainer --scene_root ./data/3d_front_scenes/3d_front_large_noise ...
    python -m threed_front.main_field_match --scene_root ./data/3d_front_scenes/3d_front_large_noise ...
"""

from scene_analogy.cli.dataset_commands import DatasetSpec
from scene_analogy.structures.classes import THREED_FRONT

HOUSE_ROOT = "./data/3D-FRONT"
MODEL_ROOTS = ("./data/3D-FUTURE-model", "./data/3D-FRONT-model")  # the first that exists is used

SPEC = DatasetSpec(
    name="threed_front",
    classes=THREED_FRONT,
    target_prefix="pair_pos",
    raw_root=HOUSE_ROOT,
    point_sample_root="./data/3d_front_point_samples",
    scene_gen_root="./data/3d_front_scenes/3d_front",
    checkpoint="./pretrained/3dfront_default/model.pth",
)
