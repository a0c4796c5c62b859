"""Evaluation metrics of DESIGN §6: PCP, Bi-PCP and (semantic) Chamfer accuracy.

Only the top-1 map of each pair is scored. The evaluator collects one `PairRecord` per pair (plain
numpy arrays) and calls `summarise`; `format_table` and `write_metrics_json` present the result.

- PCP@tau: pooled over all RoI points of all pairs, correct when the reflection-aware error
  ||F(p) - p_gt|| < tau. No map where ground truth exists: 0; no ground truth ("no analogy"): 1 iff
  no map; analogy unknown (random pairs): left out; no pair with ground truth: NaN.
- Bi-PCP@tau: the same with ||G(F(p)) - p|| (`roundtrip` vs `roi_points`).
- Chamfer accuracy@tau, per pair then averaged: each RoI object's mapped points against the reference
  object with the nearest centroid; a hit when the mean symmetric chamfer < tau (semantic: and every
  class agrees).
- Open space: free_pcp@tau as PCP over the free points of pairs with ground truth (allowance decided
  on the RoI points); free_collision_rate over pairs with a map: free images inside a reference box
  whose ground truth is free; right_objects: pairs with ground truth whose map's correspondence
  sends every RoI object to its true reference object.
- Reflection allowance (`reflection_aware_errors`): orthogonal Procrustes without the determinant fix;
  when it is a reflection under which the mapped set is symmetric (sqrt of the squared chamfer < 0.4 m),
  each point's error is min(raw, reflected in place).

Every rule in full, where DESIGN §6 is silent: docs/decisions.md, "Metrics: rules where DESIGN §6 is
silent".
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from scene_analogy.files import atomic
from scene_analogy.ops.point_sets import chamfer_distance

__all__ = [
    "MAP_ACC_THRES", "BIJECTIVITY_ACC_THRES", "CHAMFER_ACC_THRES", "SYMMETRY_THRESH",
    "reflection_alignment", "aligned_errors", "reflection_aware_errors", "PairRecord", "point_errors", "score_pair",
    "summarise",
    "format_table",
    "write_metrics_json",
]

MAP_ACC_THRES = (0.25, 0.5, 0.75)  # --map_acc_thres, metres
BIJECTIVITY_ACC_THRES = (0.25, 0.5, 0.75)  # --bijectivity_acc_thres, metres
CHAMFER_ACC_THRES = (0.15, 0.2, 0.25)  # --chamfer_acc_thres, metres
SYMMETRY_THRESH = 0.4  # sqrt squared-chamfer below which a set counts as reflection-symmetric


def _cloud(points: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(points, dtype=np.float64))[None]


def _pair_of_sets(mapped, gt) -> tuple[np.ndarray, np.ndarray]:
    mapped = np.asarray(mapped, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if mapped.ndim != 2 or mapped.shape[-1] != 3 or mapped.shape != gt.shape:
        raise ValueError(f"mapped {mapped.shape} and gt {gt.shape} must both be (M, 3)")
    return mapped, gt


def reflection_alignment(mapped: np.ndarray, gt: np.ndarray,
                         sym_thresh: float = SYMMETRY_THRESH) -> tuple[np.ndarray, np.ndarray] | None:
    """The reflection allowance of a pair, decided on its RoI points: (rot (3, 3), centroid (3,)) such
    that a mapped point x may also be read as centroid + (x - centroid) rot, or None where it does not
    apply (the best orthogonal fit is proper, or the mapped set is not symmetric under it)."""
    mapped, gt = _pair_of_sets(mapped, gt)
    if len(mapped) < 2:
        return None
    centroid = mapped.mean(0)
    mapped_c, gt_c = mapped - centroid, gt - gt.mean(0)
    u, _, vt = np.linalg.svd(mapped_c.T @ gt_c)
    rot = u @ vt  # minimises ||mapped_c @ rot - gt_c||; no det fix, so it may be a reflection
    if np.linalg.det(rot) >= 0:
        return None
    # neighbors.chamfer_distance(squared=True) is the *mean* of the two directional means; x2 = sum.
    squared_chamfer = 2.0 * float(chamfer_distance(_cloud(mapped_c), _cloud(mapped_c @ rot), squared=True)[0])
    return (rot, centroid) if math.sqrt(squared_chamfer) < sym_thresh else None


def aligned_errors(mapped: np.ndarray, gt: np.ndarray, alignment: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Per-point errors (M,): min(raw, error of the reflected reading) under a `reflection_alignment`."""
    mapped, gt = _pair_of_sets(mapped, gt)
    raw = np.linalg.norm(mapped - gt, axis=1)
    if alignment is None:
        return raw
    rot, centroid = alignment
    return np.minimum(raw, np.linalg.norm((mapped - centroid) @ rot + centroid - gt, axis=1))


def reflection_aware_errors(mapped: np.ndarray, gt: np.ndarray, sym_thresh: float = SYMMETRY_THRESH) -> np.ndarray:
    """Per-point errors (M,) of mapped (M, 3) against gt (M, 3) with the reflection allowance
    described in the module docstring."""
    return aligned_errors(mapped, gt, reflection_alignment(mapped, gt, sym_thresh))


def _class_table(classes: Mapping[int, Any] | Sequence[Any] | np.ndarray, name: str) -> dict[int, Any]:
    """Object id -> class, from a dict or from a sequence indexed by object id."""
    if isinstance(classes, Mapping):
        items = classes.items()
    else:
        items = enumerate(np.asarray(classes).tolist())
    table = {}
    for key, value in items:
        table[int(key)] = value.item() if isinstance(value, np.generic) else value
    return table


def _points(array, name: str, rows: int | None = None) -> np.ndarray:
    out = np.asarray(array, dtype=np.float64)
    if out.ndim != 2 or out.shape[1] != 3 or (rows is not None and len(out) != rows):
        want = f"({rows}, 3)" if rows is not None else "(N, 3)"
        raise ValueError(f"{name} must have shape {want}, got {out.shape}")
    if not np.isfinite(out).all():
        raise ValueError(f"{name} contains NaN or inf")
    return out


def _flags(array, name: str, rows: int) -> np.ndarray:
    out = np.asarray(array)
    if out.shape != (rows,) or (out.size and out.dtype != bool):
        raise ValueError(f"{name} must be a bool array of shape ({rows},), got {out.dtype} {out.shape}")
    return out.astype(bool)


def _ids(array, name: str, rows: int) -> np.ndarray:
    out = np.asarray(array)
    if out.shape != (rows,) or (out.size and out.dtype.kind not in "iu"):
        raise ValueError(f"{name} must be an integer array of shape ({rows},), got {out.dtype} {out.shape}")
    return out.astype(np.int64)


@dataclass
class PairRecord:
    """What the evaluator knows about one scored pair (all numpy, M RoI points).

    roi_points (M, 3); gt_points (M, 3) or None (the pair has no analogy); mapped (M, 3) = F(p) or
    None (the method returned "no map"); roundtrip (M, 3) = G(F(p)) or None (no inverse map);
    roi_object_ids (M,) int; roi_classes: RoI object id -> class (dict, or a sequence indexed by id);
    reference_points (P, 3), reference_object_ids (P,), reference_classes (like roi_classes) for
    Chamfer accuracy; seconds: the method's time for this pair; name: optional pair label.
    Open space (`evaluation.free_space`), all None when not measured: free_points (F, 3); free_gt
    (F, 3) and free_gt_free (F,) bool (the ground truth lies outside every reference box) with ground
    truth; free_mapped (F, 3) and free_mapped_inside (F,) bool (the image lies inside some reference
    box) with a map; objects_right: every RoI object mapped to its ground-truth object (by the map's
    correspondence), with ground truth.
    """

    roi_points: np.ndarray
    gt_points: np.ndarray | None
    mapped: np.ndarray | None
    roundtrip: np.ndarray | None
    roi_object_ids: np.ndarray
    roi_classes: Mapping[int, Any] | Sequence[Any] | np.ndarray
    reference_points: np.ndarray
    reference_object_ids: np.ndarray
    reference_classes: Mapping[int, Any] | Sequence[Any] | np.ndarray
    seconds: float = 0.0
    name: str = ""
    analogy_known: bool = True  # False: no ground truth, but an analogy may exist (see the docstring)
    free_points: np.ndarray | None = None
    free_gt: np.ndarray | None = None
    free_gt_free: np.ndarray | None = None
    free_mapped: np.ndarray | None = None
    free_mapped_inside: np.ndarray | None = None
    objects_right: bool | None = None

    def __post_init__(self):
        self.roi_points = _points(self.roi_points, "roi_points")
        rows = len(self.roi_points)
        for field_name in ("gt_points", "mapped", "roundtrip"):
            value = getattr(self, field_name)
            if value is not None:
                setattr(self, field_name, _points(value, field_name, rows))
        if not self.analogy_known and self.gt_points is not None:
            raise ValueError("a pair with ground-truth points has a known analogy")
        self.roi_object_ids = _ids(self.roi_object_ids, "roi_object_ids", rows)
        self.reference_points = _points(self.reference_points, "reference_points")
        self.reference_object_ids = _ids(
            self.reference_object_ids, "reference_object_ids", len(self.reference_points)
        )
        self.roi_classes = _class_table(self.roi_classes, "roi_classes")
        self.reference_classes = _class_table(self.reference_classes, "reference_classes")
        self.seconds = float(self.seconds)
        self._check_free()
        for ids, table, name in ((self.roi_object_ids, self.roi_classes, "roi_classes"),
                                 (self.reference_object_ids, self.reference_classes, "reference_classes")):
            missing = sorted(set(np.unique(ids).tolist()) - set(table))
            if missing:
                raise ValueError(f"{name} has no class for object id(s) {missing}")

    def _check_free(self) -> None:
        if self.free_points is None:
            if any(getattr(self, n) is not None for n in ("free_gt", "free_mapped")):
                raise ValueError("free_gt / free_mapped given without free_points")
            return
        self.free_points = _points(self.free_points, "free_points")
        rows = len(self.free_points)
        for points, flags, has in (("free_gt", "free_gt_free", self.gt_points is not None),
                                   ("free_mapped", "free_mapped_inside", self.mapped is not None)):
            if (getattr(self, points) is None) != (getattr(self, flags) is None):
                raise ValueError(f"{points} and {flags} come together")
            if getattr(self, points) is None and has:
                raise ValueError(f"free_points given without {points}")
            if getattr(self, points) is not None:
                setattr(self, points, _points(getattr(self, points), points, rows))
                setattr(self, flags, _flags(getattr(self, flags), flags, rows))


@dataclass
class PairScores:
    """Per-pair results: pcp_hits (T_map, M) and bi_hits (T_bij, M) bool per point; chamfer (mean
    over RoI objects, None when not computed); semantic_match (None when not computed);
    chamfer_hits / sem_chamfer_hits (T_ch,) bool; free_hits (T_map, F') bool per free point (F' = 0
    where not scored); collisions (free images inside a reference box, free points considered);
    objects_right (None where not scored)."""

    pcp_hits: np.ndarray
    bi_hits: np.ndarray
    chamfer: float | None
    semantic_match: bool | None
    chamfer_hits: np.ndarray
    sem_chamfer_hits: np.ndarray
    free_hits: np.ndarray
    collisions: tuple[int, int] = (0, 0)
    objects_right: bool | None = None


def _pair_chamfer(record: PairRecord) -> tuple[float, bool]:
    """Mean symmetric chamfer over RoI objects to their nearest-centroid reference objects, and
    whether every RoI object's class equals its picked reference object's class."""
    if len(record.reference_points) == 0:
        raise ValueError(f"pair {record.name!r} has ground truth and a map but no reference points")
    ref_ids = np.unique(record.reference_object_ids)
    ref_centroids = np.stack([record.reference_points[record.reference_object_ids == j].mean(0) for j in ref_ids])
    chamfers, classes_agree = [], True
    # A loop over the 2-3 RoI objects of a pair; points inside an object are handled as arrays.
    for obj in np.unique(record.roi_object_ids):
        mapped = record.mapped[record.roi_object_ids == obj]
        picked = ref_ids[int(np.argmin(np.linalg.norm(ref_centroids - mapped.mean(0), axis=1)))]
        reference = record.reference_points[record.reference_object_ids == picked]
        chamfers.append(float(chamfer_distance(_cloud(mapped), _cloud(reference))[0]))
        classes_agree &= record.roi_classes[int(obj)] == record.reference_classes[int(picked)]
    return float(np.mean(chamfers)), bool(classes_agree)


def point_errors(record: PairRecord, sym_thresh: float = SYMMETRY_THRESH) -> tuple[np.ndarray, np.ndarray]:
    """The errors PCP and free-PCP threshold: (M,) over the RoI points and (F,) over the free points of a
    pair with ground truth, reflection-aware (decided on the RoI points); inf where the method returned
    no map; both empty for a pair without ground truth."""
    if record.gt_points is None:
        return np.zeros(0), np.zeros(0)
    free = 0 if record.free_points is None else len(record.free_points)
    if record.mapped is None:
        return np.full(len(record.roi_points), np.inf), np.full(free, np.inf)
    alignment = reflection_alignment(record.mapped, record.gt_points, sym_thresh)
    roi = aligned_errors(record.mapped, record.gt_points, alignment)
    return roi, (aligned_errors(record.free_mapped, record.free_gt, alignment) if free else np.zeros(0))


def score_pair(
    record: PairRecord,
    map_thresholds: Sequence[float] = MAP_ACC_THRES,
    bijectivity_thresholds: Sequence[float] = BIJECTIVITY_ACC_THRES,
    chamfer_thresholds: Sequence[float] = CHAMFER_ACC_THRES,
    sym_thresh: float = SYMMETRY_THRESH,
) -> PairScores:
    """Apply every rule of the module docstring to one pair."""
    map_t = np.asarray(map_thresholds, dtype=np.float64)[:, None]
    bij_t = np.asarray(bijectivity_thresholds, dtype=np.float64)[:, None]
    ch_t = np.asarray(chamfer_thresholds, dtype=np.float64)
    rows = len(record.roi_points)
    pcp_columns = rows if record.analogy_known else 0
    no_free = np.zeros((len(map_t), 0), bool)
    if record.analogy_known and record.gt_points is None:
        # No analogy exists: the right answer is "no map", for every metric (open space is not scored).
        correct = record.mapped is None
        return PairScores(
            np.full((len(map_t), rows), correct), np.full((len(bij_t), rows), correct), None, None,
            np.full(len(ch_t), correct), np.full(len(ch_t), correct), no_free,
        )
    has_gt = record.gt_points is not None
    free_count = 0 if record.free_points is None or not has_gt else len(record.free_points)
    if record.mapped is None:
        return PairScores(
            np.zeros((len(map_t), pcp_columns), bool), np.zeros((len(bij_t), rows), bool), None, None,
            np.zeros(len(ch_t), bool), np.zeros(len(ch_t), bool), np.zeros((len(map_t), free_count), bool),
            objects_right=False if has_gt else None,
        )
    free_hits, collisions = no_free, (0, 0)
    if not has_gt:  # analogy unknown: Bi-PCP and Chamfer accuracy need no ground truth
        pcp_hits = np.zeros((len(map_t), 0), bool)
    else:
        roi_errors, free_errors = point_errors(record, sym_thresh)
        pcp_hits = roi_errors[None] < map_t
        if free_count:
            free_hits = free_errors[None] < map_t
            considered = record.free_gt_free
            collisions = (int((record.free_mapped_inside & considered).sum()), int(considered.sum()))
    if record.roundtrip is None:
        bi_hits = np.zeros((len(bij_t), rows), bool)
    else:
        bi_hits = reflection_aware_errors(record.roundtrip, record.roi_points, sym_thresh)[None] < bij_t
    chamfer, semantic_match = _pair_chamfer(record)
    chamfer_hits = chamfer < ch_t
    return PairScores(pcp_hits, bi_hits, chamfer, semantic_match, chamfer_hits, chamfer_hits & semantic_match,
                      free_hits, collisions, record.objects_right if has_gt else None)


def _key(name: str, threshold: float) -> str:
    return f"{name}@{threshold:g}"


def summarise(
    records: Iterable[PairRecord],
    map_thresholds: Sequence[float] = MAP_ACC_THRES,
    bijectivity_thresholds: Sequence[float] = BIJECTIVITY_ACC_THRES,
    chamfer_thresholds: Sequence[float] = CHAMFER_ACC_THRES,
    sym_thresh: float = SYMMETRY_THRESH,
) -> dict[str, float | int]:
    """Metrics over all pairs, keys in this order: pcp@t..., bi_pcp@t..., chamfer_acc@t...,
    sem_chamfer_acc@t..., free_pcp@t..., free_collision_rate, right_objects, seconds_per_pair,
    num_pairs (t formatted with :g, e.g. pcp@0.25). NaN where nothing was scored (e.g. no free points)."""
    records = list(records)
    if not records:
        raise ValueError("no pairs to summarise")
    scores = [score_pair(r, map_thresholds, bijectivity_thresholds, chamfer_thresholds, sym_thresh) for r in records]
    num_points = sum(len(r.roi_points) for r in records)
    if num_points == 0:
        raise ValueError("the pairs hold no RoI points")
    pcp_hits = np.concatenate([s.pcp_hits for s in scores], axis=1)
    pcp = pcp_hits.mean(1) if pcp_hits.shape[1] else np.full(len(pcp_hits), np.nan)
    bi_pcp = np.concatenate([s.bi_hits for s in scores], axis=1).mean(1)
    chamfer_acc = np.stack([s.chamfer_hits for s in scores]).mean(0)
    sem_chamfer_acc = np.stack([s.sem_chamfer_hits for s in scores]).mean(0)
    free_hits = np.concatenate([s.free_hits for s in scores], axis=1)
    free_pcp = free_hits.mean(1) if free_hits.shape[1] else np.full(len(free_hits), np.nan)
    colliding, considered = np.sum([s.collisions for s in scores], axis=0)
    right = [s.objects_right for s in scores if s.objects_right is not None]
    results: dict[str, float | int] = {}
    for name, thresholds, values in (
        ("pcp", map_thresholds, pcp),
        ("bi_pcp", bijectivity_thresholds, bi_pcp),
        ("chamfer_acc", chamfer_thresholds, chamfer_acc),
        ("sem_chamfer_acc", chamfer_thresholds, sem_chamfer_acc),
        ("free_pcp", map_thresholds, free_pcp),
    ):
        for threshold, value in zip(thresholds, values):
            results[_key(name, threshold)] = float(value)
    results["free_collision_rate"] = float(colliding / considered) if considered else math.nan
    results["right_objects"] = float(np.mean(right)) if right else math.nan
    results["seconds_per_pair"] = float(np.mean([r.seconds for r in records]))
    results["num_pairs"] = len(records)
    return results


def format_table(results: Mapping[str, Any]) -> str:
    """An aligned two-column text table (metric, value); fractions with 4 decimals; a dict value (the
    protocol) as a line of its own below."""
    rows, notes = [], []
    for key, value in results.items():
        if isinstance(value, Mapping):
            notes.append(f"{key}: " + ", ".join(f"{k} {v}" for k, v in value.items()))
            continue
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            text = str(int(value))
        elif isinstance(value, (float, np.floating)) and math.isnan(value):
            text = "n/a"  # e.g. PCP when no pair has ground truth
        elif isinstance(value, (float, np.floating)):
            text = f"{float(value):.3f} s" if key == "seconds_per_pair" else f"{float(value):.4f}"
        else:
            text = str(value)
        rows.append((str(key), text))
    name_width = max([len("metric")] + [len(k) for k, _ in rows])
    value_width = max([len("value")] + [len(v) for _, v in rows])
    lines = [f"{'metric':<{name_width}}  {'value':>{value_width}}", f"{'-' * name_width}  {'-' * value_width}"]
    lines += [f"{k:<{name_width}}  {v:>{value_width}}" for k, v in rows]
    return "\n".join(lines + notes)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN / inf
    return value


def write_metrics_json(path: str | os.PathLike, results: Mapping[str, Any]) -> None:
    """Write the metrics as JSON atomically (whole or absent); NaN/inf become null."""
    atomic.write_json(path, _jsonable(dict(results)))
