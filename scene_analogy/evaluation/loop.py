"""Evaluation: pairs with ground truth in, the matcher run on each, DESIGN §6 metrics out.

An `EvalExample` is a target scene, a reference scene, the RoI (target object indices) and, for each
RoI object, the reference object it corresponds to (None when the pair has no analogy). Point-level
ground truth (DESIGN §6): for each RoI object and its reference object, load `sample_<N>` of both
models, scale each by its own per-axis scale, Hungarian-match the two point sets in that frame
(box-centred), then pose each with its own scene's pose; the matched reference point is the ground
truth of each RoI point.

Honest inputs (`keypoints="disjoint"`, the default): the method sees the target at the ground truth's
points (they are what is scored) and every reference object at N other points of its model
(`structures.samples`); "shared" hands it the ground truth's own points (the paper's protocol). Free
points around the RoI (`free_space`, seeded by the pair's name) score the map in open space.

Ground truth never reaches a method, with one explicit exception (`method_for`): an evaluation-only
method that declares `needs_truth = True` (`baselines.oracle`) is run as `method.with_truth(example)`.

`seconds_per_pair` counts the forward map only (coarse + fine); the backward run that Bi-PCP needs
is not timed.
"""

from __future__ import annotations

import os
import re
import time
import zlib
from pathlib import Path

import numpy as np

from scene_analogy.data.queries import box_frame_points, match_objects
from scene_analogy.evaluation.examples import EvalExample
from scene_analogy.evaluation.free_space import free_ground_truth, free_points, inside_any_box
from scene_analogy.evaluation.metrics import PairRecord, score_pair, summarise
from scene_analogy.evaluation.ranks import ONE, Ranks
from scene_analogy.match.inputs import MatchConfig, MatchScene
from scene_analogy.match.pipeline import FieldMethod, inverse_with
from scene_analogy.structures.keypoints import scene_keypoints
from scene_analogy.structures.samples import KEYPOINT_MODES, PointSamples
from scene_analogy.structures.scene import Scene

FREE_SEED = 0  # free points of a pair are drawn from (FREE_SEED, crc32 of its name): the same for every method


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


def objects_right(example: EvalExample, amap) -> bool:
    """Whether the map's correspondence sends every RoI object to its ground-truth reference object."""
    found = {} if amap is None else dict(amap.correspondence.tolist())
    return all(found.get(int(i)) == int(j) for i, j in zip(example.roi, example.gt_objects))


def method_for(method, example: EvalExample):
    """What runs on `example`: `method` itself, or, only for a method declaring `needs_truth = True`
    (evaluation-only oracles), `method.with_truth(example)`. The one path by which truth reaches a method."""
    return method.with_truth(example) if getattr(method, "needs_truth", False) is True else method


def evaluate_examples(examples: list[EvalExample], samples: PointSamples, local_field, global_field,
                      cfg: MatchConfig, maps_dir: str | os.PathLike | None = None, bidirectional: bool = True,
                      progress: bool = True, thresholds: dict | None = None, keypoints: str = "disjoint",
                      protocol: dict | None = None, ranks: Ranks = ONE) -> tuple[dict, list[PairRecord], list]:
    """Our matcher on every example (`evaluate_method` with a `FieldMethod`)."""
    return evaluate_method(examples, samples, FieldMethod(local_field, global_field, cfg), maps_dir=maps_dir,
                           bidirectional=bidirectional, progress=progress, thresholds=thresholds,
                           keypoints=keypoints, protocol=protocol, ranks=ranks)


def evaluate_method(examples: list[EvalExample], samples: PointSamples, method, maps_dir: str | os.PathLike | None = None,
                    bidirectional: bool = True, progress: bool = True, thresholds: dict | None = None,
                    desc: str = "matching pairs", keypoints: str = "disjoint",
                    protocol: dict | None = None, ranks: Ranks = ONE) -> tuple[dict, list[PairRecord], list]:
    """Run `method` (see `FieldMethod`) on every example; returns (metrics dict, per-pair records,
    results). Ground truth and scoring do not depend on the method: they use `samples`; the method
    sees the reference at `keypoints` ("disjoint" or "shared", module docstring) and never the ground
    truth, unless it declares `needs_truth = True` (`method_for`).

    `thresholds`: keyword arguments of `metrics.summarise` (map / bijectivity / chamfer thresholds).
    The metrics hold `"protocol": {"keypoints": ..., **protocol}` (e.g. the pairs' `global_yaw`).
    A map is saved as `<maps_dir>/<example name>.npz`, the name made file-safe.

    `ranks` (`evaluation.ranks`, under torchrun): each rank matches its share of the examples, rank 0
    gathers them in order, saves the maps and returns; the other ranks return (None, None, None)."""
    if keypoints not in KEYPOINT_MODES:
        raise ValueError(f"keypoints must be one of {KEYPOINT_MODES}, got {keypoints!r}")
    reference_samples = samples.with_keypoints(keypoints)

    def one_pair(ex: EvalExample) -> tuple[PairRecord, object]:
        target, reference = match_scene(ex.target, samples), match_scene(ex.reference, reference_samples)
        roi_points, owner, gt = ground_truth(ex, samples)
        run = method_for(method, ex)
        start = time.perf_counter()
        result = run(target, reference, ex.roi)
        seconds = time.perf_counter() - start
        mapped = roundtrip = None
        if result.best is not None:
            mapped = result.best.apply(roi_points)
            if bidirectional:
                back = inverse_with(run, result, target, reference)
                roundtrip = None if back.best is None else back.best.apply(mapped)
        # Chamfer accuracy reads the evaluation's keypoints, whatever the method saw.
        scored = reference if reference_samples is samples else match_scene(ex.reference, samples)
        ref_objects = scored.instance >= 0
        return PairRecord(
            roi_points, gt, mapped, roundtrip, owner, dict(enumerate(ex.target.class_ids.tolist())),
            scored.points[ref_objects], scored.instance[ref_objects],
            dict(enumerate(ex.reference.class_ids.tolist())), seconds=seconds, name=ex.name,
            analogy_known=ex.analogy_known, **_open_space(ex, result.best),
        ), result

    pairs = ranks.map(one_pair, examples, desc=desc, progress=progress)
    if pairs is None:  # not rank 0: rank 0 has this rank's pairs and writes every output
        return None, None, None
    records, results = [p[0] for p in pairs], [p[1] for p in pairs]
    if maps_dir is not None:
        for ex, result in zip(examples, results):
            if result.best is not None:
                result.best.save(Path(maps_dir) / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', ex.name)}.npz")
    metrics = summarise(records, **(thresholds or {}))
    metrics["protocol"] = {"keypoints": keypoints, **(protocol or {})}
    return metrics, records, results


def _open_space(example: EvalExample, amap) -> dict:
    """The PairRecord fields of open space: free points, their ground truth and image, right objects
    (none for a pair without ground truth: there open space has no right answer)."""
    if example.gt_objects is None:
        return {}
    rng = np.random.default_rng([FREE_SEED, zlib.crc32(example.name.encode("utf-8"))])
    free, _ = free_points(example.target, example.roi, rng)
    fields = {"free_points": free, "objects_right": objects_right(example, amap)}
    fields["free_gt"], fields["free_gt_free"] = free_ground_truth(free, example.target, example.roi,
                                                                  example.reference, example.gt_objects)
    if amap is not None:
        fields["free_mapped"] = amap.apply(free)
        fields["free_mapped_inside"] = inside_any_box(fields["free_mapped"], example.reference)
    return fields


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
            row["objects_correct"] = objects_right(ex, res.best)
        rows.append(row)
    return rows
