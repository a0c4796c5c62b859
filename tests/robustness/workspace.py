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

    from scene_analogy.augment import AugmentConfig, augment_triplet_root
    from scene_analogy.field import PRESETS, save_pretrained
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
    return Workspace(root, checkpoint, scenes, root / "tdf", pair_file)


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def npz_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
