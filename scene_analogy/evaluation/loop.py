"""Evaluation: pairs with ground truth in, the matcher run on each, DESIGN §6 metrics out.

An `EvalExample` is a target scene, a reference scene, the RoI (target object indices) and, for each
RoI object, the reference object it corresponds to (None when the pair has no analogy). Point-level
ground truth (DESIGN §6): for each RoI object and its reference object, load `sample_<N>` of both
models, scale each by its own per-axis scale, Hungarian-match the two point sets in that frame
(box-centred), then pose each with its own scene's pose; the matched reference point is the ground
truth of each RoI point.

`seconds_per_pair` counts the forward map only (coarse + fine); the backward run that Bi-PCP needs
is not timed.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .errors import DataError
from .keypoints import scene_keypoints
from .match.inputs import MatchConfig, MatchScene
from .match.pipeline import AnalysisResult, find_analogy, inverse_with
from .metrics import PairRecord, score_pair, summarise
from .queries import box_frame_points, match_objects
from .samples import PointSamples
from .scene import Scene, read_eval_pair, read_triplet, scene_dirs


@dataclass
class EvalExample:
    name: str
    target: Scene
    reference: Scene
    roi: np.ndarray  # (R,) target object indices
    gt_objects: np.ndarray | None  # (R,) reference object index per RoI object; None = no analogy
    analogy_known: bool = True  # False: no ground truth, yet an analogy may exist (random pairs)


def choose_roi(idx_map: np.ndarray, centroids: np.ndarray, rng: np.random.Generator, extra=(1, 2)) -> np.ndarray:
    """A random kept object (idx_map >= 0) plus its 1-2 nearest kept objects; never a distractor."""
    kept = np.flatnonzero(idx_map >= 0)
    if len(kept) == 0:
        raise ValueError("no kept object to build a region of interest from")
    seed_obj = kept[rng.integers(len(kept))]
    count = 1 + int(rng.integers(extra[0], extra[1] + 1))
    dist = np.linalg.norm(centroids[kept, :][:, [0, 2]] - centroids[seed_obj, [0, 2]], axis=1)
    return kept[np.argsort(dist, kind="stable")[:count]]


def augment_examples(scene_root: str | os.PathLike, seed: int = 0, limit: int | None = None,
                     allow_pickle: bool = False, classes=None) -> list[EvalExample]:
    """Evaluation pairs of `<scene_root>_augment`: target = augmented `pair_pos`, reference = the
    original `pos` scene of the same folder. The RoI of pair i is drawn from a generator seeded by
    (seed, i), so it does not depend on which other pairs are evaluated."""
    root = Path(scene_root)
    aug_root = root.parent / f"{root.name}_augment"
    dirs = scene_dirs(aug_root, "test") or scene_dirs(aug_root)
    if not dirs:
        raise DataError(aug_root, "no evaluation pairs found (run the augmentation step first)")
    examples = []
    for i, d in enumerate(dirs[:limit]):
        pair = read_eval_pair(d / "scene.npz", classes, allow_pickle=allow_pickle)
        reference = read_triplet(root / d.name / "scene.npz", ("pos",), classes)["pos"]
        if pair.idx_map.size and pair.idx_map.max() >= len(reference):
            raise DataError(d / "scene.npz", f"key 'pair_pos_idx_map' names object {pair.idx_map.max()}, out of range "
                                             f"for the {len(reference)} objects of {root / d.name / 'scene.npz'}")
        roi = choose_roi(pair.idx_map, pair.scene.bbox_centroids, np.random.default_rng([seed, i]))
        examples.append(EvalExample(d.name, pair.scene, reference, roi, pair.idx_map[roi]))
    return examples


def ground_truth(example: EvalExample, samples: PointSamples) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """RoI points (M, 3), their RoI object index (M,) and ground-truth points (M, 3) or None."""
    roi_scene = example.target.subset(example.roi)
    canon_t = samples.stack(roi_scene.model_ids)
    roi_points = roi_scene.world_points(canon_t)
    owner = np.repeat(example.roi, canon_t.shape[1])
    if example.gt_objects is None:
        return roi_points.reshape(-1, 3), owner, None
    ref_scene = example.reference.subset(example.gt_objects)
    canon_r = samples.stack(ref_scene.model_ids)
    match = match_objects(box_frame_points(roi_scene, canon_t), box_frame_points(ref_scene, canon_r))
    gt = ref_scene.world_points(np.take_along_axis(canon_r, match[..., None], axis=1))
    return roi_points.reshape(-1, 3), owner, gt.reshape(-1, 3)


def match_scene(scene: Scene, samples: PointSamples) -> MatchScene:
    return MatchScene.from_scene(scene, scene_keypoints(scene, samples))


class FieldMethod:
    """Our matcher as an evaluation method: `method(target, reference, roi) -> AnalysisResult`.

    Any callable with that signature (MatchScenes in, `match.pipeline.AnalysisResult` out, maps as
    `AnalogyMap`s, `best` None for "no analogy") can be evaluated by `evaluate_method`; the
    baselines in `scene_analogy.baselines` are such callables. A method may carry `point_samples`
    (a `PointSamples`) to see the scenes through other keypoints than the evaluation's."""

    def __init__(self, local_field, global_field, cfg: MatchConfig = MatchConfig()):
        self.local_field, self.global_field, self.cfg = local_field, global_field, cfg

    def __call__(self, target: MatchScene, reference: MatchScene, roi) -> AnalysisResult:
        return find_analogy(target, reference, roi, self.local_field, self.global_field, self.cfg)


def evaluate_examples(examples: list[EvalExample], samples: PointSamples, local_field, global_field,
                      cfg: MatchConfig, maps_dir: str | os.PathLike | None = None, bidirectional: bool = True,
                      progress: bool = True, thresholds: dict | None = None) -> tuple[dict, list[PairRecord], list]:
    """Our matcher on every example (`evaluate_method` with a `FieldMethod`)."""
    return evaluate_method(examples, samples, FieldMethod(local_field, global_field, cfg), maps_dir=maps_dir,
                           bidirectional=bidirectional, progress=progress, thresholds=thresholds)


def evaluate_method(examples: list[EvalExample], samples: PointSamples, method, maps_dir: str | os.PathLike | None = None,
                    bidirectional: bool = True, progress: bool = True, thresholds: dict | None = None,
                    desc: str = "matching pairs") -> tuple[dict, list[PairRecord], list]:
    """Run `method` (see `FieldMethod`) on every example; returns (metrics dict, per-pair records,
    results). Ground truth and scoring do not depend on the method: they use `samples`.

    `thresholds`: keyword arguments of `metrics.summarise` (map / bijectivity / chamfer thresholds).
    A map is saved as `<maps_dir>/<example name>.npz`, the name made file-safe."""
    records, results = [], []
    method_samples = getattr(method, "point_samples", None) or samples
    for ex in tqdm(examples, desc=desc, disable=not progress):
        target, reference = match_scene(ex.target, method_samples), match_scene(ex.reference, method_samples)
        roi_points, owner, gt = ground_truth(ex, samples)
        start = time.perf_counter()
        result = method(target, reference, ex.roi)
        seconds = time.perf_counter() - start
        mapped = roundtrip = None
        if result.best is not None:
            mapped = result.best.apply(roi_points)
            if bidirectional:
                back = inverse_with(method, result, target, reference)
                roundtrip = None if back.best is None else back.best.apply(mapped)
            if maps_dir is not None:
                result.best.save(Path(maps_dir) / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', ex.name)}.npz")
        # Chamfer accuracy reads the evaluation's keypoints, whatever the method saw.
        scored = reference if method_samples is samples else match_scene(ex.reference, samples)
        ref_objects = scored.instance >= 0
        records.append(PairRecord(
            roi_points, gt, mapped, roundtrip, owner, dict(enumerate(ex.target.class_ids.tolist())),
            scored.points[ref_objects], scored.instance[ref_objects],
            dict(enumerate(ex.reference.class_ids.tolist())), seconds=seconds, name=ex.name,
            analogy_known=ex.analogy_known,
        ))
        results.append(result)
    return summarise(records, **(thresholds or {})), records, results


def pair_rows(examples: list[EvalExample], records: list[PairRecord], results: list) -> list[dict]:
    """Per-pair summary rows (for `pairs.json`): name, whether a map was returned, its cost, seconds,
    whether an analogy is known; with ground truth also the pair's PCP@0.25 and whether the map's
    object correspondence sends every RoI object to its true reference object."""
    rows = []
    for ex, rec, res in zip(examples, records, results):
        row = {"name": ex.name, "map": res.best is not None, "cost": None if res.best is None else float(res.best.cost),
               "seconds": rec.seconds, "analogy_known": ex.analogy_known}
        if rec.gt_points is not None:
            row["pcp@0.25"] = float(score_pair(rec, map_thresholds=(0.25,)).pcp_hits.mean())
            found = {} if res.best is None else dict(res.best.correspondence.tolist())
            row["objects_correct"] = all(found.get(int(i)) == int(j) for i, j in zip(ex.roi, ex.gt_objects))
        rows.append(row)
    return rows
