"""Writes the synthetic dataset in the shared layout (DESIGN §8.3):

    <save_root>/object_pool.json                    the models (class, subclass, split, box)
    <save_root>/point_samples/sample_<N>/<id>.npy   canonical surface samples
    <save_root>/{train,test}_scene_<i>/scene.npz    triplets (pos / pair_pos / neg)
    <save_root>_augment/test_scene_<i>/scene.npz    evaluation pairs of the held-out scenes
    <save_root>_augment/augment_config.json         their AugmentConfig (global_yaw grid | continuous)
    <save_root>/triplet_topdown.png                 a picture of one triplet

Every scene draws from its own generator seeded by (seed, split, index), so a scene does not
change when others are added or removed (an evaluation pair does: its distractors come from the
held-out scene with the nearest class histogram, `data.eval_pairs.write_eval_pairs`). Written into an
existing root, the new set replaces the old one: no scene or pair folder of it stays.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from scene_analogy.data import eval_pairs
from scene_analogy.data.eval_pairs import SPLIT_CODES, AugmentConfig
from scene_analogy.data.triplet_layout_changes import changes_positive
from scene_analogy.data.triplets import SwapSampler, TripletConfig, make_triplet_with_links
from scene_analogy.files import atomic
from scene_analogy.files.errors import DataError
from scene_analogy.ops.geometry import yaw_matrix
from scene_analogy.structures.classes import THREED_FRONT
from scene_analogy.structures.pool import ObjectPool
from scene_analogy.structures.samples import model_seed, surface_samples, write_samples
from scene_analogy.structures.scene import FloorPlan, Scene, remove_other_scene_dirs, scene_dirs, write_triplet
from scene_analogy.synthetic.objects import build_models
from scene_analogy.synthetic.rooms import RoomLayout, generate_room, world_boxes


@dataclass(frozen=True)
class SyntheticConfig:
    num_scenes: int = 200
    seed: int = 0
    train_ratio: float = 0.9
    sample_counts: tuple[int, ...] = (50, 100)
    mesh_num_samples: int = 10000
    triplet: TripletConfig = field(default_factory=lambda: TripletConfig(trans_noise=0.5, rot_noise_deg=90.0))
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    make_augment: bool = True
    split_by: str = "model"  # "design": test models are variants of designs never trained on (objects.py)
    split_seed: int | None = None  # which models / designs are held out (default: seed); shapes and rooms follow seed


def layout_to_scene(layout: RoomLayout, pool: ObjectPool) -> Scene:
    """A generated room as a `Scene`: boxes from the models' canonical boxes, scaled and posed."""
    centroids, sizes, yaws = world_boxes(layout, pool)
    return Scene(
        [o.model_id for o in layout.objects], [o.class_id for o in layout.objects],
        [o.class_name for o in layout.objects], sizes, centroids, np.stack([o.scale for o in layout.objects]),
        yaw_matrix(yaws), np.stack([o.trans for o in layout.objects]),
        FloorPlan.from_polygons([layout.outline], 0.0, layout.height),
    )


def scene_rng(seed: int, split: str, index: int, stage: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLIT_CODES[split], index, stage])


def write_point_samples(models, samples_root: Path, cfg: SyntheticConfig, progress: bool = True) -> None:
    for model in tqdm(models, desc="point samples", disable=not progress):
        mesh = model.mesh
        samples = surface_samples(
            mesh.vertices, mesh.faces, cfg.mesh_num_samples, list(cfg.sample_counts),
            model_seed(cfg.seed, model.info.model_id),
        )
        write_samples(samples_root, model.info.model_id, samples)


def split_counts(num_scenes: int, train_ratio: float) -> dict[str, int]:
    num_train = int(round(num_scenes * train_ratio))
    return {"train": num_train, "test": num_scenes - num_train}


def generate_dataset(save_root: str | os.PathLike, cfg: SyntheticConfig, progress: bool = True) -> dict:
    """Generate everything under `save_root` (and `<save_root>_augment`); returns a summary."""
    root = Path(save_root)
    if cfg.make_augment and changes_positive(cfg.triplet):
        # evaluation pairs are made from the positives and link back to them: changed positives would
        # give them ground truth against the wrong objects
        raise ValueError("positives with layout changes cannot make evaluation pairs: pass --no_augment")
    models = build_models(cfg.seed, split_by=cfg.split_by, split_seed=cfg.split_seed)
    pool = ObjectPool([m.info for m in models])
    root.mkdir(parents=True, exist_ok=True)
    pool.save_json(root / "object_pool.json")
    write_point_samples(models, root / "point_samples", cfg, progress)

    counts = split_counts(cfg.num_scenes, cfg.train_ratio)
    jobs = [(s, i) for s, n in counts.items() for i in range(n)]
    samplers = {s: SwapSampler(pool, s, cfg.triplet) for s in counts if counts[s]}
    anchors: dict[str, list[Scene]] = {s: [] for s in counts}
    first = None
    for split, i in tqdm(jobs, desc="triplets", disable=not progress):
        layout = generate_room(pool, split, scene_rng(cfg.seed, split, i, 0))
        triplet, links = make_triplet_with_links(
            layout_to_scene(layout, pool), pool, samplers[split], cfg.triplet, scene_rng(cfg.seed, split, i, 1)
        )
        with atomic.atomic_dir(root / f"{split}_scene_{i}") as folder:  # never a half-written scene folder
            write_triplet(folder / "scene.npz", triplet, links)
        anchors[split].append(triplet["pair_pos"])
        first = first or triplet
    remove_other_scene_dirs(root, [f"{split}_scene_{i}" for split, i in jobs])  # none of an earlier set's

    num_pairs = 0
    if cfg.make_augment and len(anchors["test"]) >= 2:
        num_pairs = write_eval_pairs(root, anchors["test"], cfg, progress)
    if first is not None:
        from scene_analogy.vis.pictures import save_triplet_topdown

        save_triplet_topdown(first, root / "triplet_topdown.png")
    return {"models": len(pool), **{f"{s}_scenes": n for s, n in counts.items()}, "eval_pairs": num_pairs}


def write_eval_pairs(root: Path, positives: list[Scene], cfg: SyntheticConfig, progress: bool) -> int:
    """Augment each held-out positive (`data.eval_pairs.write_eval_pairs`, with `cfg.augment`) into
    `<root>_augment/test_scene_<i>`; `<root>_augment/augment_config.json` records that config."""
    names = [f"test_scene_{i}" for i in range(len(positives))]
    return eval_pairs.write_eval_pairs(root.parent / f"{root.name}_augment", names, positives, cfg.augment, cfg.seed,
                                    len(THREED_FRONT), progress)


# Written into the roots `ensure_eval_pairs` makes: only those may be made again (module docstring).
DEMO_MARKER = "made_by_demo.json"


def ensure_eval_pairs(root: Path, num_pairs: int, seed: int, global_yaw: str = "grid") -> None:
    """Generate a small held-out set when the root has fewer evaluation pairs than asked for.

    Only a root that is absent or empty, or one this function made itself (`DEMO_MARKER`), is
    written; any other root (a dataset of the user's, from `python -m scene_analogy.synthetic`, 3D-FRONT
    or ARKit) with too few pairs, or pairs turned by another `global_yaw`
    (`eval_pairs.augment_protocol`), is a DataError and stays as it is."""
    aug = root.parent / f"{root.name}_augment"
    ours = (root / DEMO_MARKER).is_file()
    # sample_100 holds the disjoint keypoints of sample_50: a root without it is incomplete.
    complete = (root / "object_pool.json").is_file() and (root / "point_samples" / "sample_100").is_dir()
    have_pairs = len(scene_dirs(aug, "test")) if aug.is_dir() else 0
    if complete and have_pairs >= num_pairs:
        have = eval_pairs.augment_protocol(aug)["global_yaw"]
        if have == global_yaw:
            return
        if not ours:
            raise DataError(aug, f"evaluation pairs made with --global_yaw {have}, not {global_yaw}: pass "
                                 f"--global_yaw {have} or another --scene_root")
    elif not ours and (_holds_files(root) or _holds_files(aug)):
        if complete:
            problem = f"holds {have_pairs} evaluation pairs, fewer than the {num_pairs} asked for"
            hint = f"pass --num_pairs {have_pairs} or a new --scene_root" if have_pairs else "pass a new --scene_root"
        else:
            problem, hint = "is not a complete synthetic dataset (object_pool.json, point_samples/sample_100)", \
                "pass a new --scene_root"
        raise DataError(root, f"{problem}; the demo did not make it, so it is not overwritten: {hint}")
    if ours:  # made again from nothing: no pair or scene of the old set may stay beside the new ones
        shutil.rmtree(aug, ignore_errors=True)
        shutil.rmtree(root)
    # Only held-out scenes are needed here (training has its own data): half train keeps swaps possible.
    cfg = SyntheticConfig(num_scenes=max(2 * num_pairs, 8), seed=seed, train_ratio=0.5, sample_counts=(50,),
                          augment=AugmentConfig(global_yaw=global_yaw))
    root.mkdir(parents=True, exist_ok=True)  # marked first: an interrupted run is still ours to redo
    atomic.write_json(root / DEMO_MARKER, {"made_by": "python -m scene_analogy.demo", "seed": seed,
                                           "num_pairs": num_pairs, "global_yaw": global_yaw})
    summary = generate_dataset(root, cfg)
    print(f"generated {summary['eval_pairs']} evaluation pairs under {aug}")


def _holds_files(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())
