"""Matching and evaluation over a scene root with any pair type (the body of every `main_field_match`).

Pair types (`--scene_pair_type`); scene folders are the root's `test_scene_<i>` (all folders when
it has none), at most `--scene_buffer_size` of them:
- `identical`: target and reference are the same `pos` scene; the ground truth is the identity.
- `augment`: `<root>_augment` pairs (DESIGN §6): target = the augmented positive, reference = the
  folder's `pos` scene, ground truth from `pair_pos_idx_map`.
- `manual`: the rows of a pair file (`pairs.py`); the target is the `tgt` folder's `target_prefix`
  scene (`pair_pos` for 3D-FRONT, `pos` for ARKit), the reference the `ref` folder's `pos` scene.
- `random` / `hist_match`: target = folder i's `target_prefix` scene, reference = the `pos` scene of
  a random other folder / of the folder with the nearest class histogram. There is no ground truth
  but there may well be an analogy, so these pairs are left out of PCP and scored by Bi-PCP and
  Chamfer accuracy, which need none (`metrics.PairRecord.analogy_known`).
The RoI of generated pairs is a random object plus its 1-2 nearest objects (`evaluation.choose_roi`),
drawn from a generator seeded by (seed, pair index); pass r of `--eval_reps` uses seed + r.

Outputs under the log folder: `metrics.json` (DESIGN §6 keys), `pairs.json` (per pair: name, whether
a map was found, its cost, seconds), `maps/<pair>.npz` and `pair_<i>.png` pictures.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import atomic
from .augment import class_histograms, nearest_histogram_scene
from .classes import THREED_FRONT, ClassTable
from .errors import DataError
from .evaluation import EvalExample, augment_examples, choose_roi, evaluate_examples, match_scene, pair_rows
from .scene import SCENE_FILE, read_triplet, scene_dirs

PAIR_TYPES = ("identical", "augment", "random", "manual", "hist_match")


@dataclass(frozen=True)
class PairSource:
    pair_type: str
    scene_root: str
    target_prefix: str = "pair_pos"
    pair_file: str | None = None
    buffer_size: int = -1
    allow_pickle: bool = False
    classes: ClassTable = THREED_FRONT

    def __post_init__(self) -> None:
        if self.pair_type not in PAIR_TYPES:
            raise ValueError(f"pair_type must be one of {PAIR_TYPES}, got {self.pair_type!r}")
        if self.pair_type == "manual" and not self.pair_file:
            raise DataError(None, "--scene_pair_type manual needs --scene_pair_file")


def _buffer(src: PairSource) -> list[Path]:
    dirs = scene_dirs(src.scene_root, "test") or scene_dirs(src.scene_root)
    dirs = dirs if src.buffer_size < 0 else dirs[: src.buffer_size]
    if not dirs:
        raise DataError(src.scene_root, "no {train,test}_scene_<i> folders found")
    return dirs


def load_examples(src: PairSource, seed: int) -> list[EvalExample]:
    """The evaluation examples of one pass (module docstring)."""
    if src.pair_type == "augment":
        limit = None if src.buffer_size < 0 else src.buffer_size
        return augment_examples(src.scene_root, seed=seed, limit=limit, allow_pickle=src.allow_pickle,
                                classes=src.classes)
    if src.pair_type == "manual":
        from .pairs import manual_examples

        return manual_examples(src.pair_file, src.scene_root, src.target_prefix)
    dirs = _buffer(src)
    refs = [read_triplet(d / SCENE_FILE, ("pos",))["pos"] for d in dirs]
    if src.pair_type == "identical":
        rois = [choose_roi(np.arange(len(s)), s.bbox_centroids, np.random.default_rng([seed, i])) for i, s in enumerate(refs)]
        return [EvalExample(d.name, s, s, roi, roi) for d, s, roi in zip(dirs, refs, rois)]
    if len(dirs) < 2:
        raise DataError(src.scene_root, f"--scene_pair_type {src.pair_type} needs at least two scene folders")
    hist = class_histograms(refs, len(src.classes))
    examples = []
    for i, d in enumerate(dirs):
        rng = np.random.default_rng([seed, i])
        j = nearest_histogram_scene(hist, i) if src.pair_type == "hist_match" else (i + 1 + int(rng.integers(len(dirs) - 1))) % len(dirs)
        target = refs[i] if src.target_prefix == "pos" else read_triplet(d / SCENE_FILE, (src.target_prefix,))[src.target_prefix]
        roi = choose_roi(np.arange(len(target)), target.bbox_centroids, rng)
        examples.append(EvalExample(f"{d.name}->{dirs[j].name}", target, refs[j], roi, None, analogy_known=False))
    return examples


def save_pair_pictures(examples, records, results, samples, out_dir: str | os.PathLike, count: int) -> int:
    """`pair_<i>.png` for the first `count` pairs (all when count < 0); returns how many were drawn."""
    from .vis import save_analogy_png  # matplotlib only when pictures are drawn

    chosen = list(zip(examples, records, results))
    chosen = chosen if count < 0 else chosen[:count]
    for i, (ex, rec, res) in enumerate(chosen):
        title = f"{ex.name}: cost {res.best.cost:.3f}" if res.best else f"{ex.name}: no analogy"
        save_analogy_png(match_scene(ex.target, samples), match_scene(ex.reference, samples), ex.roi, rec.roi_points,
                         rec.mapped, Path(out_dir) / f"pair_{i}.png", res.candidate_boxes, title=title,
                         gt_points=rec.gt_points)
    return len(chosen)


def run_field_match(src: PairSource, samples, local_field, global_field, cfg, log_dir: str | os.PathLike,
                    seed: int = 0, eval_reps: int = 1, thresholds: dict | None = None, num_pictures: int = 4,
                    progress: bool = True) -> dict:
    """Match every pair of `eval_reps` passes, write the outputs (module docstring); returns the metrics."""
    from .metrics import write_metrics_json

    out = Path(log_dir)
    examples, seen = [], {}
    for rep in range(eval_reps):
        for ex in load_examples(src, seed + rep):
            ex.name = ex.name if eval_reps == 1 else f"{ex.name}#rep{rep}"
            seen[ex.name] = seen.get(ex.name, 0) + 1
            ex.name = ex.name if seen[ex.name] == 1 else f"{ex.name}#{seen[ex.name]}"  # a pair file may repeat a pair
            examples.append(ex)
    torch.manual_seed(seed)
    metrics, records, results = evaluate_examples(examples, samples, local_field, global_field, cfg,
                                                  maps_dir=out / "maps", thresholds=thresholds, progress=progress)
    drawn = save_pair_pictures(examples, records, results, samples, out, num_pictures)
    atomic.write_json(out / "pairs.json", pair_rows(examples, records, results))
    write_metrics_json(out / "metrics.json", metrics)
    return {"metrics": metrics, "pictures": drawn, "pairs": len(examples), "maps": sum(r.best is not None for r in results)}
