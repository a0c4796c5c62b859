"""Small valid inputs for every entry module, built once per test session (in-process, ~10-20 s).

The bad-input table (`cases.py`) corrupts copies of these, one case folder each, so a case only
pays for the file it breaks. Everything lives under one temporary folder; nothing is written into
the repository.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
OWN_PAIR = REPO / "examples" / "own_pair"


@dataclass(frozen=True)
class Workspace:
    root: Path
    checkpoint: Path  # a tiny valid field folder (model.pth + config.json), 3D-FRONT classes
    scenes: Path  # a triplet root with point_samples/, object_pool.json and <root>_augment
    tdf: Path  # a raw 3D-FRONT fixture tree: tdf/data/3D-FRONT, tdf/data/3D-FUTURE-model
    pair_file: Path  # a valid pair file (TSV) over `scenes`
    arkit: Path  # an ARKit chain: raw/ (6 scans), processed/, samples/, triplets/(_augment), checkpoint/

    @property
    def arkit_raw(self) -> Path:
        return self.arkit / "raw" / "data" / "arkit_scenes"

    @property
    def houses(self) -> Path:
        return self.tdf / "data" / "3D-FRONT"

    @property
    def models(self) -> Path:
        return self.tdf / "data" / "3D-FUTURE-model"


# The cheapest field that still runs every code path (1 layer, 16 neighbours).
TINY_FIELD = dict(num_layers=1, feedforward=32, max_neighbors=16)


def build_workspace(root: Path) -> Workspace:
    import dataclasses

    import torch

    from scene_analogy.data.eval_pairs import AugmentConfig, augment_triplet_root
    from scene_analogy.field.checkpoint import save_pretrained
    from scene_analogy.field.model import PRESETS
    from scene_analogy.fixtures.threed_front import write_tree
    from tests.helpers import stub_pool, write_tiny_triplet_root

    torch.manual_seed(0)
    checkpoint = save_pretrained(root / "checkpoint", dataclasses.replace(PRESETS["fast"], **TINY_FIELD).build())
    scenes = write_tiny_triplet_root(root / "scenes", num_train=4, num_test=3)
    stub_pool().save_json(scenes / "object_pool.json")
    augment_triplet_root(scenes, None, AugmentConfig(), seed=0, num_classes=8, progress=False)
    write_tree(root / "tdf", num_houses=2, seed=0, progress=False)
    pair_file = root / "pairs.tsv"
    pair_file.write_text("tgt\tref\ttgt_inst\tref_inst\ntest_scene_0\ttest_scene_1\t0,1\t\n")
    return Workspace(root, checkpoint, scenes, root / "tdf", pair_file, build_arkit(root / "arkit"))


def build_arkit(root: Path) -> Path:
    """The ARKit chain on a 6-scan fixture tree, run in-process with tiny counts (~4 s), and a tiny
    17-class field: raw scans -> processed/ -> samples/ -> triplets/ and triplets_augment/."""
    import dataclasses

    from arkit import SPEC, extract_point_samples, main_asset_gen, main_scene_augment, main_scene_gen
    from scene_analogy.field.checkpoint import save_pretrained
    from scene_analogy.field.model import PRESETS
    from scene_analogy.fixtures.arkit import write_tree

    write_tree(root / "raw", num_scans=6, seed=0, progress=False)
    processed = root / "processed"
    main_asset_gen.main(["--scene_root", str(root / "raw" / "data" / "arkit_scenes"), "--save_root", str(processed),
                         "--quiet"])
    extract_point_samples.main(["--obj_root", str(processed / "objects"), "--save_root", str(root / "samples"),
                                "--save_num_samples", "50", "--mesh_num_samples", "200", "--quiet"])
    main_scene_gen.main(["--scene_root", str(processed), "--obj_root", str(processed / "objects"),
                         "--point_sample_root", str(root / "samples"), "--save_root", str(root / "triplets"), "--quiet"])
    main_scene_augment.main(["--orig_scene_root", str(root / "triplets"), "--quiet"])
    field = dataclasses.replace(PRESETS["fast"], **TINY_FIELD, num_classes=len(SPEC.classes)).build()
    save_pretrained(root / "checkpoint", field)
    return root


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def npz_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
