"""ARKitScenes (3DOD): readers of the scan meshes and box annotations and the `python -m arkit.*` commands.

Raw layout (DESIGN §8.2): `data/arkit_scenes/{train,test}/<video_id>/<video_id>_3dod_mesh.ply` (fused
RGB mesh, z up) and `<video_id>_3dod_annotation.json`. Commands, in working order (the asset
generator writes the objects that the point sampler samples):

    python -m arkit.main_asset_gen                  # data/arkit_scenes -> data/arkit_scenes_processed
    python -m arkit.extract_point_samples --save_num_samples 50 100 200
    python -m arkit.main_scene_gen --save_root ./data/arkit_large_noise/ --max_trans_noise 0.5 --max_rot_noise 90
    python -m arkit.main_scene_augment --orig_scene_root ./data/arkit_large_noise/
    python -m arkit.trainer --scene_root ./data/arkit_large_noise ...
    python -m arkit.main_field_match --scene_root ./data/arkit_large_noise ...

All logic lives in `scene_analogy` (`scan_assets`, `scan_scenes`, `commands`); this package reads
the 3DOD files (`scans.py`) and names the defaults.
"""

from scene_analogy.cli.dataset_commands import DatasetSpec
from scene_analogy.structures.classes import ARKIT

PROCESSED_ROOT = "./data/arkit_scenes_processed"
# What the later commands say when the asset generator has not run yet.
ASSET_GEN_HINT = "run `python -m arkit.main_asset_gen` first: it crops the objects out of the scans"

SPEC = DatasetSpec(
    name="arkit",
    classes=ARKIT,
    target_prefix="pos",
    raw_root=PROCESSED_ROOT,  # main_scene_gen reads the asset generator's scenes/ and objects/
    point_sample_root="./data/arkit_point_samples",
    scene_gen_root="./data/arkit_large_noise",
    checkpoint="./pretrained/arkit_default/model.pth",
    obj_root=f"{PROCESSED_ROOT}/objects",
    scan_root="./data/arkit_scenes/",
    asset_root=f"{PROCESSED_ROOT}/",
    canonical_boxes=False,  # oriented boxes fitted to scans: no front, so no bearing term
)
